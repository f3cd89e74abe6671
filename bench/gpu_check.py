"""GPU check: every GPU claim of hpsearch, measured in one command within a hard time budget.

Prepared on a CPU machine (``--prepare``: wheels, data, the command to run), run on the GPU
machine as one command. Each part runs in its own process tree with its share of
``--budget-minutes``; a part still running at its deadline is stopped (SIGTERM, then SIGKILL
to every process it started, launcher and workers included) and recorded as timed out, and
the next part runs. Time a part leaves unused passes on to the next.

One JSON file and one Markdown table (device, torch and CUDA versions, date, every figure)
go to ``--out`` after each part, so even a run cut short leaves what it measured.

The GPU machine's torch may be older than this repository's pin (2.11 seen there). The code
paths the check runs use nothing newer: CUDA graphs (``torch.cuda.CUDAGraph``,
``torch.cuda.graph(pool=, stream=)``, ``graph_pool_handle``), capturable Adam/AdamW with a
tensor learning rate, ``torch.cuda.set_per_process_memory_fraction`` and
``torch.cuda.OutOfMemoryError`` all exist in torch 2.3 and later.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from gpu_check_data import find_imdb, unpack_imdb  # noqa: E402
from gpu_check_harness import STOP_GRACE_S, PlannedPart, run_parts  # noqa: E402

DEFAULT_BUDGET_MINUTES = 8.0
SMOKE_BUDGET_MINUTES = 1.75
# After the time-to-target search: workers finish their epoch, the best trial is scored.
TTT_RESERVE_S = 50.0
TTT_MINUTES = 4.0
TTT_RESERVE_SMOKE_S = 20.0
# Reading the device's name and versions (imports torch, starts CUDA) before the parts.
INFO_TIMEOUT_S = 60.0
USAGE_ERROR = 2


@dataclass(frozen=True)
class PartSpec:
    """One part of the check and its share of the budget (GPU run, smoke run)."""

    name: str
    share: float
    smoke_share: float
    what: str


PARTS = (
    PartSpec(
        "tests",
        0.09,
        0.25,
        "the CUDA-only tests (tests/objectives/test_graphs.py and every test whose skip "
        "reason says it needs CUDA or a GPU) and the rest of their files, pass/fail per test "
        "(pytest --junitxml)",
    ),
    PartSpec(
        "oom",
        0.05,
        0.05,
        "the OOM guard: `hpsearch worker` with GPU memory capped at 512 MiB "
        "(torch.cuda.set_per_process_memory_fraction) runs an 8192-unit GRU (must fail "
        "with 'CUDA out of memory: ...'), then a 16-unit one (must complete)",
    ),
    PartSpec(
        "throughput",
        0.24,
        0.30,
        "bench/throughput.py rows on 10,000 IMDB reviews (GRU-256, batch 32, steady-state "
        "epoch): notebook loop, project loop, + CUDA graphs, 8 packed, 8 packed + MPS, "
        "8 packed + graphs + MPS; documents/s and the ratio to the notebook loop",
    ),
    PartSpec(
        "ttt",
        0.62,
        0.40,
        "time to target: bench/time_to_target.py, IMDB preset, pruned TPE, 8 packed workers "
        "under MPS; best validation and test accuracy, trials and epochs done",
    ),
)
PART_NAMES = tuple(p.name for p in PARTS)


def part_seconds(
    budget_s: float, smoke: bool, names: Sequence[str] = PART_NAMES
) -> dict[str, float]:
    """Each of the ``names`` parts' share of the budget, in seconds (the shares of the
    parts left out are spread over the rest)."""
    weights = {p.name: p.smoke_share if smoke else p.share for p in PARTS if p.name in names}
    total = sum(weights.values())
    return {name: budget_s * weight / total for name, weight in weights.items()}


def ttt_minutes(share_s: float, smoke: bool, wanted: float = TTT_MINUTES) -> float:
    """Minutes of search for the time-to-target part: ``wanted``, or what its share allows."""
    reserve = TTT_RESERVE_SMOKE_S if smoke else TTT_RESERVE_S
    allowed = max(0.1, share_s - reserve) / 60.0
    return allowed if smoke else min(wanted, allowed)


def _help_epilog() -> str:
    seconds = part_seconds(DEFAULT_BUDGET_MINUTES * 60, smoke=False)
    smoke = part_seconds(SMOKE_BUDGET_MINUTES * 60, smoke=True)
    lines = [
        f"parts, in order (share of --budget-minutes; at the default {DEFAULT_BUDGET_MINUTES:g}):"
    ]
    for part in PARTS:
        lines.append(
            f"  {part.name:<11}{part.share:>4.0%} = {seconds[part.name]:>4.0f} s "
            f"(smoke: {smoke[part.name]:.0f} s)"
        )
        lines += textwrap.wrap(part.what, 88, initial_indent=" " * 6, subsequent_indent=" " * 6)
    search = ttt_minutes(seconds["ttt"], smoke=False)
    notes = [
        f"ttt searches for {search:.1f} min (--ttt-minutes) of its share; the rest stops the "
        "workers and scores the best trial on the test split.",
        "A part still running at its deadline gets SIGTERM, then SIGKILL with everything it "
        f"started {STOP_GRACE_S:g} s later, and is recorded as timed out; time a part leaves "
        "unused passes to the next.",
        "On a CPU (--device cpu) the MPS, graph and OOM parts report 'skipped: needs CUDA'; "
        f"--smoke runs everything at toy size in {SMOKE_BUDGET_MINUTES:g} min, and there a "
        "part that timed out does not fail the exit code.",
    ]
    for note in notes:
        lines += ["", *textwrap.wrap(note, 92)]
    lines += [
        "",
        "examples:",
        "  python bench/gpu_check.py --prepare                 # here: wheels, data, command",
        "  python bench/gpu_check.py --device cpu --smoke --out /tmp/gpu-check   # CI",
        "  python3 bench/gpu_check.py --data-dir .gpu_check/data --out $OUT   # GPU machine",
    ]
    return "\n".join(lines)


def device_info(env: dict[str, str], device: str) -> dict[str, Any]:
    """Device name, memory, torch/CUDA/Python versions, read in a child process."""
    code = (
        "import json, os, platform, sys, torch\n"
        "info = {'torch': torch.__version__, 'cuda': torch.version.cuda,\n"
        " 'python': platform.python_version(), 'cpu_cores': os.cpu_count()}\n"
        f"if {device.startswith('cuda')!r} and torch.cuda.is_available():\n"
        "    p = torch.cuda.get_device_properties(0)\n"
        "    info.update(device=p.name, memory_gib=round(p.total_memory / 2**30, 1),\n"
        "                multiprocessors=p.multi_processor_count,\n"
        "                capability=f'{p.major}.{p.minor}')\n"
        "else:\n"
        "    info.update(device='cpu')\n"
        "try:\n"
        "    import optuna; info['optuna'] = optuna.__version__\n"
        "except ImportError as exc:\n"
        "    info['optuna'] = f'missing ({exc})'\n"
        "print(json.dumps(info))\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=INFO_TIMEOUT_S,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as exc:
        return {"device": "unknown", "error": f"{type(exc).__name__}: {exc}"}


def plan(
    args: argparse.Namespace, data_dir: Path, workdir: Path, out_dir: Path, budget_s: float
) -> list[PlannedPart]:
    """The parts the arguments ask for, with their commands and shares of ``budget_s``."""
    seconds = part_seconds(budget_s, args.smoke, args.parts)
    minutes = ttt_minutes(seconds.get("ttt", 0.0), args.smoke, args.ttt_minutes)
    parts = []
    for name in args.parts:
        command = [sys.executable, str(BENCH / "gpu_check_parts.py"), name]
        command += ["--result", str(workdir / f"{name}.json"), "--device", args.device]
        command += ["--data-dir", str(data_dir), "--workdir", str(workdir / name)]
        command += ["--out-dir", str(out_dir), "--ttt-minutes", f"{minutes:.3f}"]
        parts.append(
            PlannedPart(name, command + (["--smoke"] if args.smoke else []), seconds[name])
        )
    return parts


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Arguments, checked: a bad value exits 2 with one line naming it."""
    parser = argparse.ArgumentParser(
        prog="gpu_check.py",
        description=__doc__.split("\n\n")[0],
        epilog=_help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="on the CPU machine: build "
        ".gpu_check/ (wheels for the GPU machine's Python 3.12, IMDB slices) "
        "and print the one-line command to run there",
    )
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu [cuda]")
    parser.add_argument("--smoke", action="store_true", help="every part at toy size")
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=None,
        help=f"hard wall-clock budget [{DEFAULT_BUDGET_MINUTES:g}; "
        f"{SMOKE_BUDGET_MINUTES:g} with --smoke]",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / ".gpu_check" / "out",
        help="folder for gpu_check.json, gpu_check.md and logs [.gpu_check/out]",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="IMDB train/test (.csv.gz or .csv.xz) [.gpu_check/data/imdb, "
        "else ../shared/datasets/imdb; --smoke: else made up]",
    )
    parser.add_argument(
        "--parts",
        default=",".join(PART_NAMES),
        help=f"comma-separated subset, run in this order [{','.join(PART_NAMES)}]",
    )
    parser.add_argument(
        "--ttt-minutes",
        type=float,
        default=TTT_MINUTES,
        help=f"search time of the time-to-target part [{TTT_MINUTES:g}; less if its share "
        "is smaller]",
    )
    parser.add_argument(
        "--test-docs",
        type=int,
        default=10000,
        help="--prepare: IMDB test reviews carried [10000; train: all 25,000]",
    )
    args = parser.parse_args(argv)
    if args.budget_minutes is None:
        args.budget_minutes = SMOKE_BUDGET_MINUTES if args.smoke else DEFAULT_BUDGET_MINUTES
    if not args.budget_minutes > 0:
        _fail(f"--budget-minutes must be greater than 0, but got {args.budget_minutes:g}")
    device = args.device
    if not (device in ("cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
        _fail(f"--device {device!r} is not accepted; accepted: cpu, cuda, cuda:N")
    chosen = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PART_NAMES]
    if unknown or not chosen:
        _fail(
            f"--parts {args.parts!r} is not accepted; accepted: a comma-separated subset of "
            f"{', '.join(PART_NAMES)}"
        )
    args.parts = [p for p in PART_NAMES if p in chosen]
    if not args.ttt_minutes > 0:
        _fail(f"--ttt-minutes must be greater than 0, but got {args.ttt_minutes:g}")
    if args.test_docs < 1:
        _fail(f"--test-docs must be at least 1, but got {args.test_docs}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check (or ``--prepare``); 0 when every part was ok or skipped.

    With ``--smoke`` a part that timed out does not fail the run (it is in the report).
    """
    args = parse_args(argv)
    if args.prepare:
        from gpu_check_prepare import prepare

        return prepare(test_docs=args.test_docs)
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    out_dir = args.out.resolve()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"--out {str(args.out)!r} cannot be created: {exc.strerror}")
    workdir = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    source = find_imdb(args.data_dir, ROOT)
    if source is None and args.data_dir is not None:
        _fail(f"--data-dir {str(args.data_dir)!r} holds no train and test .csv.gz/.csv.xz")
    if source is None and not args.smoke:
        _fail("no IMDB data: run --prepare first, or pass --data-dir DIR with train/test CSVs")
    data_dir, data_note = unpack_imdb(source, workdir / "imdb", smoke=args.smoke)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCH), os.environ.get("PYTHONPATH", "")]),
        "TMPDIR": str(workdir),  # MPS pipe folders land here, where the end finds them
        "PYTHONUNBUFFERED": "1",
    }
    if args.device == "cpu":
        # One thread per process: on a shared CPU more only contend (packed rows set theirs).
        env["OMP_NUM_THREADS"] = "1"
    report: dict[str, Any] = {
        "check": "hpsearch gpu_check",
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "device_asked": args.device,
        "smoke": args.smoke,
        "budget_minutes": args.budget_minutes,
        "data": data_note,
        "info": device_info(env, args.device),
    }
    # Setup (data, device info) came out of the budget: the parts share what is left.
    remaining = args.budget_minutes * 60 - (time.monotonic() - clock)
    parts = plan(args, data_dir, workdir, out_dir, remaining)
    print(
        f"[gpu_check] {report['info'].get('device')}; budget {args.budget_minutes:g} min; "
        f"parts {', '.join(args.parts)}; out {out_dir}",
        flush=True,
    )
    try:
        run_parts(parts, out_dir, workdir, report, env, remaining)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # unpacked data, studies: logs are in out
    statuses = [r["status"] for r in report["parts"].values()]
    # A toy part overrunning on a busy CI machine is reported, not fatal; a crash is.
    fine = ("ok", "skipped", "timed out") if args.smoke else ("ok", "skipped")
    return 0 if all(s in fine for s in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
