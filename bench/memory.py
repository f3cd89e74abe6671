"""Memory of workers that load one text dataset: without the data cache, and memory-mapped.

Each worker is a fresh process that imports hpsearch (and pandas and scikit-learn, which a
loader may import), loads the data the way a worker does
(``load_classification_data``), touches every tensor page (as a training epoch does) and
then holds the data while its memory is read from ``/proc``:

- ``peak``: the process's peak RSS (``ru_maxrss``), and its growth over the RSS right after
  the imports, both as multiples of the bytes of its tensors;
- ``data``: what holding the data costs the host: the growth of the worker's private
  anonymous memory since the imports, plus its proportional share (PSS) of the cache files
  it maps. Summed over N workers that run at once, pages they share count once.

Rows, in one run: the previous encoder (``--baseline-source``, a tree of the older code,
e.g. ``git archive HEAD~3 | tar -x -C /tmp/base``) and this tree with the cache off (the
baselines), a cold cache (the first worker encodes and writes it) and a warm one (later
workers map it); then ``--workers`` workers at once without the cache, on a cold cache
(one encodes, the others wait and map) and on a warm one.

    nice -n 10 python bench/memory.py --data ../shared/datasets/imdb/train.csv.gz --workers 4
    nice -n 10 python bench/memory.py --data ../shared/datasets/conll2003_en/eng.train.gz \
        --task ner --max-length 128 --workers 4
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20


def _rollup(pid: str = "self") -> dict[str, int]:
    """A process's ``/proc/PID/smaps_rollup`` fields in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0]) * 1024
    return values


def _mapped_pss(folder: str, pid: str = "self") -> int:
    """PSS in bytes of a process's mappings of files under ``folder``."""
    total, inside = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and not head[0].endswith(":"):
            inside = len(head) == 6 and head[5].startswith(folder)
        elif inside and line.startswith("Pss:"):
            total += int(line.split()[1]) * 1024
    return total


def worker(data: str, max_length: int, task: str) -> None:
    """Load ``data`` for ``task``, report memory as one JSON line, hold it until stdin closes."""
    # What a loader may import (tables, stratified splits) counts as imports, not data.
    import pandas  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import torch

    from objectives import load_classification_data, load_tagging_data

    after_imports = _rollup()
    started = time.perf_counter()
    if task == "classification":
        loaded = load_classification_data(data, max_length=max_length)
    else:
        loaded = load_tagging_data(data, kind=task, max_length=max_length)
    seconds = time.perf_counter() - started
    tensors = [
        tensor
        for split in ("train", "validation", "test")
        for name in ("inputs", "lengths", "labels", "chars")  # chars: taggers only
        if (tensor := getattr(getattr(loaded, split), name)) is not None
    ]
    checksum = sum(int(torch.as_tensor(t).sum()) for t in tensors)  # every page, once
    record = {
        "pid": os.getpid(),
        "tensor_bytes": sum(t.numel() * t.element_size() for t in tensors),
        "rss_after_imports": after_imports["Rss"],
        "anonymous_after_imports": after_imports["Anonymous"],
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "load_s": seconds,
        "checksum": checksum,
    }
    print(json.dumps(record), flush=True)
    sys.stdin.read()  # hold the data until the parent has read every worker


def _run(n: int, args: argparse.Namespace, source: Path, cache: str) -> list[dict[str, float]]:
    """``n`` workers at once; their records once all of them hold the data."""
    env = {
        **os.environ,
        "PYTHONPATH": str(source),
        "OMP_NUM_THREADS": "1",
        "HPSEARCH_CACHE_DIR": cache,
    }
    command = [sys.executable, str(ROOT / "bench" / "memory.py"), "--worker"]
    command += ["--data", args.data, "--max-length", str(args.max_length), "--task", args.task]
    processes = [
        subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    records = []
    for process in processes:
        assert process.stdout is not None and process.stdin is not None
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"a worker failed (exit {process.wait()})")
        records.append(json.loads(line))
    # Read while every worker holds the data: shared pages split evenly between them.
    for record in records:
        pid = str(record["pid"])
        record["private_growth"] = _rollup(pid)["Anonymous"] - record["anonymous_after_imports"]
        record["cache_pss"] = _mapped_pss(cache, pid) if cache != "off" else 0
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()
        process.wait()
    return records


def _row(name: str, records: list[dict[str, float]], one_worker_data: float) -> dict[str, object]:
    tensors = records[0]["tensor_bytes"]
    data = sum(r["private_growth"] + r["cache_pss"] for r in records)
    worst = max(records, key=lambda r: r["peak_rss"])
    return {
        "case": name,
        "workers": len(records),
        "tensor_mib": tensors / MIB,
        "peak_rss_mib": worst["peak_rss"] / MIB,
        "peak_x_tensors": worst["peak_rss"] / tensors,
        "peak_growth_x_tensors": (worst["peak_rss"] - worst["rss_after_imports"]) / tensors,
        "host_data_mib": data / MIB,
        "host_data_x_one_worker_tensors": data / one_worker_data,
        "load_s": max(r["load_s"] for r in records),
        "checksums_agree": len({r["checksum"] for r in records}) == 1,
    }


def main() -> None:
    """Run every case, print a table and one JSON line per case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/datasets/imdb/train.csv.gz"))
    parser.add_argument("--max-length", type=int, default=400)
    parser.add_argument(
        "--task",
        choices=("classification", "ner", "pos"),
        default="classification",
        help="how the data is loaded (ner / pos: tagged sentences, with character ids)",
    )
    parser.add_argument("--workers", type=int, default=4, help="workers at once on the host")
    parser.add_argument("--baseline-source", type=Path, help="tree of the older code")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.data, args.max_length, args.task)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="hpsearch-memory-") as folder:
        cache = str(Path(folder) / "cache")
        cold = str(Path(folder) / "cold")  # first used by N workers at once
        cases: list[tuple[str, int, Path, str]] = []
        if args.baseline_source is not None:
            cases.append(("baseline source, no cache", 1, args.baseline_source.resolve(), "off"))
        cases += [
            ("no cache", 1, ROOT, "off"),
            ("cold cache (encodes, writes)", 1, ROOT, cache),
            ("warm cache (maps)", 1, ROOT, cache),
            (f"{args.workers} workers, no cache", args.workers, ROOT, "off"),
            (f"{args.workers} workers, cold cache", args.workers, ROOT, cold),
            (f"{args.workers} workers, warm cache", args.workers, ROOT, cache),
        ]
        one_worker_data = 0.0
        for name, n, source, cache_dir in cases:
            records = _run(n, args, source, cache_dir)
            one_worker_data = one_worker_data or records[0]["tensor_bytes"]
            rows.append(_row(name, records, one_worker_data))
            print(json.dumps(rows[-1]), flush=True)
    print(
        f"\ndata {args.data} ({args.task}), max_length {args.max_length}; "
        "ratios are to one worker's tensors"
    )
    header = (
        f"{'case':<34} {'peak MiB':>9} {'peak/t':>7} {'growth/t':>9} {'host data MiB':>14} "
        f"{'host/t':>7} {'load s':>7}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['case']:<34} {row['peak_rss_mib']:>9.0f} {row['peak_x_tensors']:>7.2f} "
            f"{row['peak_growth_x_tensors']:>9.2f} {row['host_data_mib']:>14.0f} "
            f"{row['host_data_x_one_worker_tensors']:>7.2f} {row['load_s']:>7.1f}"
        )
    print(f"tensors of one worker: {rows[0]['tensor_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
