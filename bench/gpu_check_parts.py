"""The parts of ``gpu_check.py``, one per process: ``python bench/gpu_check_parts.py PART ...``.

Each part writes its figures to ``--result`` (JSON) as it goes, so a part cut off at its
deadline still leaves what it measured. ``status`` is ``ok``, ``failed`` or ``skipped``
(with ``reason``); the harness adds ``timed out``. Parts reach the project through its
command line and public API where one exists (``hpsearch worker``, ``search.load_config``,
``bench/throughput.py``, ``bench/time_to_target.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

NEEDS_CUDA = "needs CUDA"
# Memory cap of the OOM part's worker: a trial with 8192 GRU units (800 MB of weights,
# as much again for gradients and twice that for Adam) cannot fit, one with 16 units does.
OOM_CAP_BYTES = 512 << 20
OOM_HUGE_HIDDEN = 8192
OOM_SMALL_HIDDEN = 16


class Result:
    """A part's figures, saved to its file after every change (atomic rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"status": "running"}

    def update(self, **values: Any) -> None:
        self.data.update(values)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        partial.replace(self.path)


# ---------------------------------------------------------------------------- tests


def cuda_test_files(tests: Path) -> list[Path]:
    """Test files with a CUDA-only test (a skip reason that says it needs CUDA or a GPU)."""
    from gpu_check_pytest import CUDA_REASON

    found = {tests / "objectives" / "test_graphs.py"}
    for path in sorted(tests.rglob("test_*.py")):
        if path.parent.name == "bench":
            continue  # this check's own tests: they quote a CUDA skip reason as sample input
        text = path.read_text(encoding="utf-8", errors="replace")
        reasons = re.findall(r"""reason\s*=\s*[rf]?["']([^"']*)""", text)
        if any(CUDA_REASON.search(reason) for reason in reasons):
            found.add(path)
    return sorted(p for p in found if p.is_file())


def read_junit(path: Path) -> list[dict[str, Any]]:
    """One record per test case of a pytest ``--junitxml`` file."""
    cases = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                outcome = {"failure": "failed", "error": "error"}.get(kind, kind)
                message = (
                    (element.get("message") or "").splitlines()[0][:300]
                    if element.get("message")
                    else ""
                )
                break
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        module = (case.get("classname") or "").replace(".", "/")
        cases.append(
            {
                "test": f"{module}.py::{case.get('name')}",
                "outcome": outcome,
                "cuda_only": properties.get("cuda_only") == "1",
                "seconds": float(case.get("time") or 0.0),
                "message": message,
            }
        )
    return cases


def part_tests(args: argparse.Namespace, result: Result) -> None:
    """The CUDA-only tests (and the rest of their files on a GPU), pass/fail per test."""
    files = cuda_test_files(ROOT / "tests")
    junit = args.workdir / "junit.xml"
    command = [sys.executable, "-m", "pytest", *map(str, files), "-q", "-p", "gpu_check_pytest"]
    command += ["-p", "no:cacheprovider", f"--junitxml={junit}"]
    if args.smoke:  # on a CPU the CUDA tests are all that is specific to this check
        command.append("--gpu-check-cuda-only")
    result.update(files=[str(f.relative_to(ROOT)) for f in files], command=" ".join(command))
    completed = subprocess.run(command, cwd=ROOT)
    if not junit.is_file():
        result.update(status="failed", reason=f"pytest exited {completed.returncode}, no report")
        return
    shutil.copy(junit, args.out_dir / "junit.xml")
    cases = read_junit(junit)
    counts = {k: sum(c["outcome"] == k for c in cases) for k in ("passed", "failed", "error")}
    counts["skipped"] = sum(c["outcome"] == "skipped" for c in cases)
    cuda = [c for c in cases if c["cuda_only"]]
    bad = [c["test"] for c in cases if c["outcome"] in ("failed", "error")]
    result.update(
        cases=cases,
        counts=counts,
        cuda_only={
            k: sum(c["outcome"] == k for c in cuda)
            for k in ("passed", "failed", "skipped", "error")
        },
        pytest_exit=completed.returncode,
        status="failed" if bad or completed.returncode not in (0, 5) else "ok",
        reason=f"failed: {', '.join(bad)}" if bad else "",
    )


# ----------------------------------------------------------------------- throughput

THROUGHPUT_FULL = {"docs": 10000, "max_length": 256, "epochs": 3, "workers": 8}
THROUGHPUT_SMOKE = {"docs": 200, "max_length": 48, "epochs": 2, "workers": 2}


def part_throughput(args: argparse.Namespace, result: Result) -> None:
    """The rows of ``bench/throughput.py``, each with its ratio to the notebook loop."""
    import throughput

    sizes = THROUGHPUT_SMOKE if args.smoke else THROUGHPUT_FULL
    params = dict(throughput.PARAMS)
    if args.smoke:
        params.update(hidden_size=32, embedding_dim=32)
    k = sizes["workers"]
    rows = [
        throughput.NOTEBOOK,
        throughput.Row("project loop"),
        throughput.Row("project loop + graphs", graphs=True),
        throughput.Row(f"project x{k}", workers=k),
        throughput.Row(f"project x{k} MPS", workers=k, mps=True),
        throughput.Row(f"project x{k} MPS + graphs", workers=k, graphs=True, mps=True),
    ]
    mps = shutil.which("nvidia-cuda-mps-control") is not None
    result.update(sizes=sizes, model=params, mps_available=mps, rows=[])
    found: list[dict[str, Any]] = []

    def report(row: Any, rate: float | None, ratio: float | None, error: str | None) -> None:
        status = "ok" if error is None else "failed"
        if error == f"RuntimeError: {NEEDS_CUDA}":
            status, error = "skipped", NEEDS_CUDA
        found.append(
            {
                "row": row.label,
                "workers": row.workers,
                "graphs": row.graphs,
                "mps": row.mps,
                "docs_per_s": None if rate is None else round(rate, 1),
                "ratio": None if ratio is None else round(ratio, 3),
                "status": status,
                "reason": error or "",
            }
        )
        print(f"[throughput] {row.label}: {rate or error}", flush=True)
        result.update(rows=found)

    throughput.measure(
        rows,
        data_path=args.data_dir / "train.csv.gz",
        docs=sizes["docs"],
        max_length=sizes["max_length"],
        epochs=sizes["epochs"],
        device=args.device,
        params=params,
        report=report,
    )
    failed = [r["row"] for r in found if r["status"] == "failed"]
    result.update(status="failed" if failed else "ok", reason=", ".join(failed))


# ------------------------------------------------------------------------------ ttt


def part_ttt(args: argparse.Namespace, result: Result) -> None:
    """Time to target: pruned TPE on IMDB with K packed workers (under MPS on a GPU)."""
    import optuna  # noqa: F401 - imported now, so a salvage after a cut is quick

    on_cuda = args.device.startswith("cuda")
    mps = on_cuda and shutil.which("nvidia-cuda-mps-control") is not None
    workers = 2 if args.smoke else 8
    json_out = args.workdir / "ttt.json"
    command = [sys.executable, str(BENCH / "time_to_target.py"), "--variants", "packed"]
    command += ["--workers", str(workers), "--minutes", f"{args.ttt_minutes:.3f}"]
    command += ["--device", args.device, "--data-dir", str(args.data_dir), "--target", "0.88"]
    command += ["--workdir", str(args.workdir / "ttt"), "--json-out", str(json_out)]
    if args.smoke:
        command += ["--docs", "150", "--epochs", "1", "--threads", "1", "--every", "10"]
    else:
        command += ["--every", "30"]
    if mps:
        command.append("--mps")
    result.update(
        workers=workers,
        mps=mps,
        minutes=args.ttt_minutes,
        command=" ".join(command),
        note="" if mps or not on_cuda else "nvidia-cuda-mps-control not found: ran without MPS",
    )
    try:
        completed = subprocess.run(command, cwd=ROOT)
    finally:
        if not json_out.is_file():
            _salvage_ttt(args.workdir / "ttt" / "packed.db", result)
    if completed.returncode != 0 or not json_out.is_file():
        result.update(status="failed", reason=f"time_to_target.py exited {completed.returncode}")
        return
    record = json.loads(json_out.read_text())[0]
    keep = (
        "best_val",
        "test_accuracy",
        "finished",
        "complete",
        "pruned",
        "failed",
        "interrupted_at_deadline",
        "epochs",
        "trials_per_hour",
        "epochs_per_hour",
        "startup_s",
        "time_to_target_s",
        "target",
        "best_trial",
        "best_params",
        "series",
        "pruner",
    )
    result.update(status="ok", **{k: record.get(k) for k in keep})


def _salvage_ttt(database: Path, result: Result) -> None:
    """What a cut (or failed) time-to-target run got done, read from its study."""
    if not database.is_file():
        return
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        trials = optuna.load_study(
            study_name="imdb-packed", storage=f"sqlite:///{database}"
        ).get_trials(deepcopy=False)
    except Exception as exc:  # noqa: BLE001 - a salvage attempt must not hide the cut
        result.update(salvage_error=f"{type(exc).__name__}: {exc}")
        return
    states = [t.state.name for t in trials]
    values = [t.value for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    result.update(
        salvaged_from=str(database),
        complete=states.count("COMPLETE"),
        pruned=states.count("PRUNED"),
        failed=states.count("FAIL"),
        best_val_so_far=max(values) if values else None,
    )


# ------------------------------------------------------------------------------ oom

OOM_CONFIG = """study = "oom"
n_trials = 1
epochs = 1
[task]
name = "classification"
data = "digits"
[pruner]
name = "nop"
[space]
cell = "gru"
num_layers = 1
bidirectional = false
hidden_size = {{type = "int", low = 8, high = {high}, log = true}}
"""


def part_oom(args: argparse.Namespace, result: Result) -> None:
    """A trial too large for a capped GPU fails with the reason; the worker runs the next."""
    if not args.device.startswith("cuda"):
        result.update(status="skipped", reason=NEEDS_CUDA)
        return
    import optuna
    import torch

    import search

    total = torch.cuda.get_device_properties(0).total_memory
    fraction = OOM_CAP_BYTES / total
    config_path = args.workdir / "oom.toml"
    config_path.write_text(OOM_CONFIG.format(high=OOM_HUGE_HIDDEN))
    storage = f"sqlite:///{args.workdir / 'oom.db'}"
    config = search.load_config(config_path, storage=storage, device=args.device)
    study = search.create_study(config)
    # Plain Optuna: the huge trial runs first, then a small one the cap leaves room for.
    study.enqueue_trial({"hidden_size": OOM_HUGE_HIDDEN})
    study.enqueue_trial({"hidden_size": OOM_SMALL_HIDDEN})
    result.update(memory_cap_bytes=OOM_CAP_BYTES, memory_fraction=fraction)
    command = [sys.executable, str(Path(__file__)), "oom-worker", "--fraction", str(fraction)]
    command += ["--", "worker", "--study", "oom", "--storage", storage, "--device", args.device]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    sys.stdout.write(completed.stdout + completed.stderr)
    trials = optuna.load_study(study_name="oom", storage=storage).get_trials(deepcopy=False)
    first = trials[0] if trials else None
    reason = str(first.user_attrs.get("fail_reason", "")) if first else ""
    failed_with_reason = bool(
        first and first.state.name == "FAIL" and reason.startswith("CUDA out of memory")
    )
    went_on = completed.returncode == 0 and any(
        t.state.name == "COMPLETE" and t.params.get("hidden_size") == OOM_SMALL_HIDDEN
        for t in trials[1:]
    )
    result.update(
        worker_exit=completed.returncode,
        trials=[[t.number, t.state.name, t.params.get("hidden_size")] for t in trials],
        fail_reason=reason,
        failed_with_reason=failed_with_reason,
        worker_went_on=went_on,
        status="ok" if failed_with_reason and went_on else "failed",
        reason="" if failed_with_reason and went_on else (completed.stderr.strip()[-300:]),
    )


def oom_worker(argv: list[str]) -> None:
    """``hpsearch worker`` in a process whose GPU memory is capped (the OOM part's worker)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--fraction", type=float, required=True)
    known, rest = parser.parse_known_args(argv)
    import torch

    torch.cuda.set_per_process_memory_fraction(known.fraction)
    from search.cli import main

    sys.argv = ["hpsearch", *[a for a in rest if a != "--"]]
    main()


# ----------------------------------------------------------------------------- main

PARTS = {"tests": part_tests, "throughput": part_throughput, "ttt": part_ttt, "oom": part_oom}


def _terminate(signum: int, _frame: Any) -> None:
    # The harness's SIGTERM at a deadline: unwind, so ``finally`` blocks (an MPS daemon's
    # stop) run before the harness kills what is left.
    raise SystemExit(f"stopped by {signal.Signals(signum).name}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "oom-worker":
        oom_worker(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=sorted(PARTS))
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--data-dir", type=Path, required=True, help="imdb train/test .csv.gz")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--ttt-minutes", type=float, default=4.0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    args.workdir.mkdir(parents=True, exist_ok=True)
    result = Result(args.result)
    result.update(status="running", device=args.device, smoke=args.smoke)
    try:
        PARTS[args.part](args, result)
    except Exception as exc:
        line = re.sub(r"\s+", " ", f"{type(exc).__name__}: {exc}")[:400]
        result.update(status="failed", reason=line)
        raise
    finally:
        if result.data.get("status") == "running":
            result.update(status="failed", reason="stopped before it finished")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
