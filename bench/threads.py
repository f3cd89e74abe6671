"""Torch threads per worker: hpsearch's choice against torch's default, in the same run.

For each worker count W (``--workers``), W processes train the same GRU classifier
(``--hidden`` units, batches of 64 sequences of 64 steps) at the same time, first with
torch's default thread count (one per core: what ``hpsearch run`` used to leave), then with
the count ``search._threads`` chooses for W workers on this host, alternating ``--rounds``
times so drifting load from other jobs hits both alike. Each line gives the median seconds
per training batch of the slowest worker and the ratio default / chosen (above 1: the
choice is faster).

Usage:
    python bench/threads.py --workers 1,2 --batches 20 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _train(threads: int | None, batches: int, hidden: int) -> dict[str, float]:
    """One worker: median seconds per batch with ``threads`` (``None``: torch's default)."""
    import torch
    from torch import nn

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    encoder = nn.GRU(32, hidden, batch_first=True)
    head = nn.Linear(hidden, 6)
    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3)
    inputs = torch.randn(64, 64, 32)  # (batch, steps, features)
    labels = torch.randint(0, 6, (64,))
    times = []
    for _ in range(batches + 2):  # the first two warm the allocator and thread pool up
        started = time.perf_counter()
        _, last = encoder(inputs)  # last: (layers, batch, hidden)
        loss = nn.functional.cross_entropy(head(last[-1]), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return {"threads": torch.get_num_threads(), "batch_s": statistics.median(times[2:])}


def _run_group(workers: int, threads: int | None, args: argparse.Namespace) -> dict[str, float]:
    """W worker processes at once; the slowest one's median batch time."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    command = [sys.executable, __file__, "--child", str(threads or 0)]
    command += ["--batches", str(args.batches), "--hidden", str(args.hidden)]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in processes]
    return max(results, key=lambda r: r["batch_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(_train(args.child or None, args.batches, args.hidden)))
        return

    from search._threads import choose_threads, usable_cores

    cores = usable_cores()
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores ({cores} usable), load {load:.1f} at start; GRU-{args.hidden}")
    print(f"{'W':>3}{'default thr':>12}{'s/batch':>9}{'chosen thr':>11}{'s/batch':>9}{'ratio':>7}")
    for workers in [int(w) for w in args.workers.split(",")]:
        defaults, chosen = [], []
        for _ in range(args.rounds):
            defaults.append(_run_group(workers, None, args))
            # The choice hpsearch makes for each of W workers on this host, with this load.
            threads = choose_threads(cores, workers, os.getloadavg()[0])
            chosen.append(_run_group(workers, threads, args))
        default_s = statistics.median(r["batch_s"] for r in defaults)
        chosen_s = statistics.median(r["batch_s"] for r in chosen)
        print(
            f"{workers:>3}{defaults[0]['threads']:>12.0f}{default_s:>9.3f}"
            f"{chosen[-1]['threads']:>11.0f}{chosen_s:>9.3f}{default_s / chosen_s:>7.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
