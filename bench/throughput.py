"""Training throughput (documents/s): the old notebook loop against the project's trial loop.

Both loops train the same GRU text classifier (same model class, same sizes) on the same
IMDB reviews, so only the loop differs:

- **notebook**: how the old notebooks trained, kept here as the baseline: a Python
  ``collate_fn`` that pads every batch from lists (``DataLoader``), random batches (long
  padding), and ``loss.item()`` / accuracy ``.item()`` after every step (a host sync each).
- **project**: ``objectives``' loop: data tokenized and padded once into resident tensors,
  length-bucketed batches, losses kept on the device and read once per epoch.
- **project + graphs** (CUDA only): the same loop replaying one captured CUDA graph per
  batch width (``cuda_graphs`` in a study config).
- **project xK**: K such processes at once (trials packed on one device); the aggregate;
  with ``--mps`` again under an NVIDIA MPS daemon started for them.

Every line prints documents/s and the ratio to the notebook loop measured in the same run.

Usage:
    python bench/throughput.py                          # CPU here, CUDA when present
    python bench/throughput.py --docs 20000 --workers 1,4,8 --device cuda --mps
Data: ../shared/datasets/imdb/train.csv.gz (or --data PATH, a CSV with text,label columns).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "imdb" / "train.csv.gz"
PARAMS: dict[str, Any] = {
    "cell": "gru",
    "hidden_size": 256,
    "embedding_dim": 128,
    "batch_size": 32,
    "lr": 1e-3,
}


def _load(path: Path, n_docs: int, max_length: int):
    import pandas as pd

    from objectives._data import build_text_data

    frame = pd.read_csv(path).sample(n=n_docs, random_state=0)
    return build_text_data(
        frame["text"].astype(str).tolist(),
        frame["label"].astype(str).tolist(),
        seed=0,
        validation_fraction=0.1,
        test_fraction=0.1,
        max_length=max_length,
        source=str(path),
    )


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def notebook_epoch(data, device: str) -> float:
    """One epoch the way the old notebooks trained; returns documents/s."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pad_sequence
    from torch.utils.data import DataLoader

    from objectives import build_classifier

    torch.manual_seed(0)
    model, _ = build_classifier(PARAMS, data)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=PARAMS["lr"])
    loss_fn = nn.CrossEntropyLoss()
    # Lists of token ids per document, as a notebook keeps them.
    rows = [
        (data.train.inputs[i, : int(data.train.lengths[i])].tolist(), int(data.train.labels[i]))
        for i in range(len(data.train))
    ]

    def collate(batch):
        ids = [torch.tensor(tokens) for tokens, _ in batch]
        lengths = torch.tensor([len(t) for t in ids])
        labels = torch.tensor([label for _, label in batch])
        return pad_sequence(ids, batch_first=True), lengths, labels

    loader: DataLoader = DataLoader(
        rows,  # type: ignore[arg-type]  # a list is a map-style dataset
        batch_size=PARAMS["batch_size"],
        shuffle=True,
        collate_fn=collate,
    )
    model.train()
    _sync(device)
    started = time.perf_counter()
    running_loss, correct, seen = 0.0, 0, 0
    for inputs, lengths, labels in loader:
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad()
        logits = model(inputs, lengths)
        loss = loss_fn(logits, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()  # a host sync every step, as in the notebooks
        correct += (logits.argmax(-1) == labels).sum().item()
        seen += len(labels)
    _sync(device)
    return seen / (time.perf_counter() - started)


def project_rate(data, device: str, graphs: bool, epochs: int, barrier=None) -> float:
    """Documents/s of the project's trial loop in its last of ``epochs`` epochs.

    The epochs before the last warm up kernels and, with ``graphs``, capture one CUDA graph
    per batch width, as the first epochs of a real trial do; the last is timed (steady state,
    what the remaining epochs of a 15-epoch trial run at).
    """
    import torch

    from objectives import CudaGraphSteps, build_classifier
    from objectives._training import TrainSteps, train_epoch

    torch.manual_seed(0)
    model, optimizer_config = build_classifier(PARAMS, data)
    model.to(device)
    optimizer = optimizer_config.build(model, capturable=graphs)
    steps = (
        CudaGraphSteps(model, optimizer, optimizer_config)
        if graphs
        else TrainSteps(model, optimizer, optimizer_config)
    )
    train = data.train.to(device)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs - 1):
        float(train_epoch(model, train, optimizer, optimizer_config, generator, steps=steps))
    if barrier is not None:
        barrier.wait()  # packed processes time the same stretch of wall-clock
    _sync(device)
    started = time.perf_counter()
    loss = train_epoch(model, train, optimizer, optimizer_config, generator, steps=steps)
    float(loss)  # the epoch's one host read
    _sync(device)
    if isinstance(steps, CudaGraphSteps) and steps.fallback is not None:
        print(f"  (graphs fell back to eager steps: {steps.fallback})", flush=True)
    return len(train) / (time.perf_counter() - started)


def _packed_worker(options: dict, barrier, out: mp.Queue) -> None:
    data = _load(Path(options["path"]), options["docs"], options["max_length"])
    out.put(project_rate(data, options["device"], options["graphs"], options["epochs"], barrier))


def packed(options: dict, workers: int, env: dict[str, str]) -> float:
    """Aggregate documents/s of ``workers`` processes training at once (timed together)."""
    context = mp.get_context("spawn")
    queue: mp.Queue = context.Queue()
    barrier = context.Barrier(workers)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # spawned children read it at start (MPS pipe folders)
    try:
        processes = [
            context.Process(target=_packed_worker, args=(options, barrier, queue))
            for _ in range(workers)
        ]
        for process in processes:
            process.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    rates = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    # The timed epochs start together (barrier) and overlap: the sum is the aggregate.
    return sum(rates)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--docs", type=int, default=800)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3, help="project loop: last one timed")
    parser.add_argument("--workers", default="1", help="packed process counts, e.g. 1,4,8")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--mps", action="store_true", help="also run the packed rows under NVIDIA MPS"
    )
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"data {str(args.data)!r} not found; pass --data PATH (text,label CSV)")
    if args.epochs < 1:
        raise SystemExit(f"--epochs must be at least 1, but got {args.epochs}")
    on_cuda = args.device.startswith("cuda")
    if args.mps and not on_cuda:
        raise SystemExit("--mps needs --device cuda")
    data = _load(args.data, args.docs, args.max_length)
    name = torch.cuda.get_device_name() if on_cuda else "cpu"
    print(
        f"device: {name}; {os.cpu_count()} cores; torch {torch.__version__}; "
        f"GRU-{PARAMS['hidden_size']}, batch {PARAMS['batch_size']}, {len(data.train)} "
        f"training docs, max length {args.max_length}"
    )
    notebook_epoch(data, args.device)  # warm-up (allocator, kernels)
    baseline = notebook_epoch(data, args.device)

    def row(label: str, rate: float) -> None:
        print(f"{label:<30}{rate:>10.1f} docs/s  x{rate / baseline:.2f}", flush=True)

    row("notebook loop", baseline)
    loops = [False, True] if on_cuda else [False]  # CUDA graphs exist on CUDA only
    for graphs in loops:
        suffix = " + graphs" if graphs else ""
        row(f"project loop{suffix}", project_rate(data, args.device, graphs, args.epochs))
    counts = [int(w) for w in args.workers.split(",") if int(w) > 1]
    modes: list[tuple[str, dict[str, str]]] = [("", {})]
    daemon = None
    if args.mps:
        from search._launch import MpsDaemon

        daemon = MpsDaemon([str(torch.cuda.current_device())])
        daemon.start()
        modes.append((" MPS", daemon.worker_env()))
    try:
        for label, env in modes:
            for graphs in loops:
                options = {
                    "path": str(args.data),
                    "docs": args.docs,
                    "max_length": args.max_length,
                    "device": args.device,
                    "graphs": graphs,
                    "epochs": args.epochs,
                }
                for workers in counts:
                    suffix = " + graphs" if graphs else ""
                    if not on_cuda:
                        # Packed CPU processes would each start one thread per core and thrash.
                        threads = max(1, (os.cpu_count() or 1) // workers)
                        env = {**env, "OMP_NUM_THREADS": str(threads)}
                    row(f"project x{workers}{label}{suffix}", packed(options, workers, env))
    finally:
        if daemon is not None:
            daemon.stop()


if __name__ == "__main__":
    main()
