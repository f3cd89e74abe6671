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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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

    from objectives.data import SplitSettings
    from objectives.data._encoding import build_text_data

    frame = pd.read_csv(path)
    frame = frame.sample(n=min(n_docs, len(frame)), random_state=0)
    return build_text_data(
        frame["text"].astype(str).tolist(),
        frame["label"].astype(str).tolist(),
        split=SplitSettings(seed=0, validation_fraction=0.1, test_fraction=0.1),
        max_length=max_length,
        source=str(path),
    )


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def notebook_epoch(data, device: str, params: dict[str, Any] = PARAMS) -> float:
    """One epoch the way the old notebooks trained; returns documents/s."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pad_sequence
    from torch.utils.data import DataLoader

    from objectives import build_classifier

    torch.manual_seed(0)
    model, _ = build_classifier(params, data)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params["lr"])
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
        batch_size=params["batch_size"],
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


def project_rate(
    data,
    device: str,
    graphs: bool,
    epochs: int,
    barrier=None,
    params: dict[str, Any] = PARAMS,
) -> float:
    """Documents/s of the project's trial loop in its last of ``epochs`` epochs.

    The epochs before the last warm up kernels and, with ``graphs``, capture one CUDA graph
    per batch width, as the first epochs of a real trial do; the last is timed (steady state,
    what the remaining epochs of a 15-epoch trial run at).
    """
    import torch

    from objectives import CudaGraphSteps, build_classifier
    from objectives._training import TrainSteps, train_epoch

    torch.manual_seed(0)
    model, optimizer_config = build_classifier(params, data)
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
        float(train_epoch(steps, train, generator))
    if barrier is not None:
        barrier.wait()  # packed processes time the same stretch of wall-clock
    _sync(device)
    started = time.perf_counter()
    loss = train_epoch(steps, train, generator)
    float(loss)  # the epoch's one host read
    _sync(device)
    if isinstance(steps, CudaGraphSteps) and steps.fallback is not None:
        print(f"  (graphs fell back to eager steps: {steps.fallback})", flush=True)
    return len(train) / (time.perf_counter() - started)


def _packed_worker(options: dict, barrier, out: mp.Queue) -> None:
    data = _load(Path(options["path"]), options["docs"], options["max_length"])
    rate = project_rate(
        data, options["device"], options["graphs"], options["epochs"], barrier, options["params"]
    )
    out.put(rate)


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


@dataclass(frozen=True)
class Row:
    """One line of the table: how many processes train, with graphs, under MPS."""

    label: str
    workers: int = 1
    graphs: bool = False
    mps: bool = False
    notebook: bool = False

    @property
    def needs_cuda(self) -> bool:
        return self.graphs or self.mps


NOTEBOOK = Row("notebook loop", notebook=True)


def standard_rows(counts: Sequence[int], on_cuda: bool, mps: bool) -> list[Row]:
    """The rows ``main`` prints: both loops, then every packed count, with graphs on CUDA."""
    loops = [False, True] if on_cuda else [False]  # CUDA graphs exist on CUDA only
    rows = [NOTEBOOK] + [Row("project loop" + (" + graphs" if g else ""), graphs=g) for g in loops]
    for under_mps in [False, True] if mps else [False]:
        for graphs in loops:
            for workers in (w for w in counts if w > 1):
                label = f"project x{workers}" + (" MPS" if under_mps else "")
                label += " + graphs" if graphs else ""
                rows.append(Row(label, workers, graphs, under_mps))
    return rows


RowReport = Callable[[Row, float | None, float | None, str | None], None]


def measure(
    rows: Sequence[Row],
    *,
    data_path: Path,
    docs: int,
    max_length: int,
    epochs: int,
    device: str,
    params: dict[str, Any] = PARAMS,
    report: RowReport | None = None,
) -> float:
    """Time each row; ``report(row, docs_per_s, ratio_to_notebook, error)`` after each.

    The notebook loop is always measured first (a warm-up epoch, then the timed one): every
    ratio is to it, in this run. A row that fails (MPS missing, a capture error) reports its
    error and the next row still runs.

    Returns:
        The notebook loop's documents/s.
    """
    on_cuda = device.startswith("cuda")
    data = _load(data_path, docs, max_length)
    notebook_epoch(data, device, params)  # warm-up (allocator, kernels)
    baseline = notebook_epoch(data, device, params)
    if report is not None:
        report(NOTEBOOK, baseline, 1.0, None)
    daemon = None
    try:
        for row in rows:
            if row.notebook:
                continue
            try:
                if row.needs_cuda and not on_cuda:
                    raise RuntimeError("needs CUDA")
                if row.workers == 1:
                    rate = project_rate(data, device, row.graphs, epochs, params=params)
                else:
                    env: dict[str, str] = {}
                    if row.mps:
                        daemon = daemon or _start_mps()
                        env = daemon.worker_env()
                    if not on_cuda:
                        # Packed CPU processes would each start one thread per core and thrash.
                        threads = max(1, (os.cpu_count() or 1) // row.workers)
                        env = {**env, "OMP_NUM_THREADS": str(threads)}
                    options = {
                        "path": str(data_path),
                        "docs": docs,
                        "max_length": max_length,
                        "device": device,
                        "graphs": row.graphs,
                        "epochs": epochs,
                        "params": params,
                    }
                    rate = packed(options, row.workers, env)
            except Exception as exc:  # noqa: BLE001 - one row's failure is that row's result
                if report is not None:
                    report(row, None, None, f"{type(exc).__name__}: {exc}".splitlines()[0])
                continue
            if report is not None:
                report(row, rate, rate / baseline, None)
    finally:
        if daemon is not None:
            daemon.stop()
    return baseline


def _start_mps():
    import torch

    from search._launch import MpsDaemon

    daemon = MpsDaemon([str(torch.cuda.current_device())])
    daemon.start()
    return daemon


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
    name = torch.cuda.get_device_name() if on_cuda else "cpu"
    print(
        f"device: {name}; {os.cpu_count()} cores; torch {torch.__version__}; "
        f"GRU-{PARAMS['hidden_size']}, batch {PARAMS['batch_size']}, {args.docs} docs "
        f"(80% train), max length {args.max_length}"
    )

    def row(row: Row, rate: float | None, ratio: float | None, error: str | None) -> None:
        if error is not None:
            print(f"{row.label:<30}failed: {error}", flush=True)
        else:
            print(f"{row.label:<30}{rate:>10.1f} docs/s  x{ratio:.2f}", flush=True)

    counts = [int(w) for w in args.workers.split(",")]
    measure(
        standard_rows(counts, on_cuda, args.mps),
        data_path=args.data,
        docs=args.docs,
        max_length=args.max_length,
        epochs=args.epochs,
        device=args.device,
        report=row,
    )


if __name__ == "__main__":
    main()
