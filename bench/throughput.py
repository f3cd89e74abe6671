"""Training throughput (documents/s): the old notebook loop against the project's trial loop.

Both loops train the same GRU text classifier (same model class, same sizes) on the same
IMDB reviews, so only the loop differs:

- **notebook**: how the old notebooks trained, kept here as the baseline: a Python
  ``collate_fn`` that pads every batch from lists (``DataLoader``), random batches (long
  padding), and ``loss.item()`` / accuracy ``.item()`` after every step (a host sync each).
- **project**: ``objectives``' loop: data tokenized and padded once into resident tensors,
  length-bucketed batches, losses kept on the device and read once per epoch.
- **project xK**: K such processes at once (trials packed on one device); the aggregate.

Every line prints documents/s and the ratio to the notebook loop measured in the same run.

Usage:
    python bench/throughput.py                          # CPU here, CUDA when present
    python bench/throughput.py --docs 20000 --workers 1,4,8 --device cuda
Data: ../shared/datasets/imdb/train.csv.gz (or --data PATH, a CSV with text,label columns).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "imdb" / "train.csv.gz"
PARAMS = {"cell": "gru", "hidden_size": 256, "embedding_dim": 128, "batch_size": 32, "lr": 1e-3}


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

    loader = DataLoader(rows, batch_size=PARAMS["batch_size"], shuffle=True, collate_fn=collate)
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


def project_epoch(data, device: str) -> float:
    """One epoch of the project's trial loop; returns documents/s."""
    import torch

    from objectives import build_classifier
    from objectives._training import train_epoch

    torch.manual_seed(0)
    model, optimizer_config = build_classifier(PARAMS, data)
    model.to(device)
    optimizer = optimizer_config.build(model)
    train = data.train.to(device)
    generator = torch.Generator().manual_seed(0)
    _sync(device)
    started = time.perf_counter()
    loss = train_epoch(model, train, optimizer, optimizer_config, generator)
    float(loss)  # the epoch's one host read
    _sync(device)
    return len(train) / (time.perf_counter() - started)


def _packed_worker(path: str, n_docs: int, max_length: int, device: str, out: mp.Queue) -> None:
    data = _load(Path(path), n_docs, max_length)
    out.put(project_epoch(data, device))


def packed(path: Path, n_docs: int, max_length: int, device: str, workers: int) -> float:
    """Aggregate documents/s of ``workers`` processes training at once."""
    context = mp.get_context("spawn")
    queue: mp.Queue = context.Queue()
    processes = [
        context.Process(target=_packed_worker, args=(str(path), n_docs, max_length, device, queue))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    rates = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    # Each process times only its own epoch; they overlap, so the sum is the aggregate.
    return sum(rates)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--docs", type=int, default=800)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--workers", default="1", help="packed process counts, e.g. 1,4,8")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"data {str(args.data)!r} not found; pass --data PATH (text,label CSV)")
    if args.device == "cpu":
        # Packed CPU processes would otherwise each start one thread per core and thrash.
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1))))
    data = _load(args.data, args.docs, args.max_length)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(
        f"device: {name}; {os.cpu_count()} cores; GRU-{PARAMS['hidden_size']}, batch "
        f"{PARAMS['batch_size']}, {len(data.train)} training docs, max length {args.max_length}"
    )
    notebook_epoch(data, args.device)  # warm-up (allocator, kernels)
    baseline = notebook_epoch(data, args.device)
    print(f"{'notebook loop':<22}{baseline:>10.1f} docs/s  x1.00")
    single = project_epoch(data, args.device)
    print(f"{'project loop':<22}{single:>10.1f} docs/s  x{single / baseline:.2f}")
    for workers in [int(w) for w in args.workers.split(",") if int(w) > 1]:
        rate = packed(args.data, args.docs, args.max_length, args.device, workers)
        print(f"{f'project loop x{workers}':<22}{rate:>10.1f} docs/s  x{rate / baseline:.2f}")


if __name__ == "__main__":
    main()
