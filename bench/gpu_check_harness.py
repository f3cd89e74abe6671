"""The harness of ``gpu_check.py``: run parts in order, each cut off at its deadline.

A part is a command run in its own session. At its deadline it gets SIGTERM, and SIGKILL a
grace period later together with every process it started, found through ``/proc``, in any
session (``hpsearch launch`` starts its workers' launcher in a new one). Its result file
(JSON, written by the part as it goes) is kept and marked ``timed out``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from gpu_check_report import write_reports

ROOT = Path(__file__).resolve().parents[1]
# A stopped part gets this long between SIGTERM and SIGKILL (an MPS daemon's clean stop).
STOP_GRACE_S = 5.0


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time in clock ticks), read from /proc (Linux)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after its ')'.
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[19]))
    return table


def descendants(pid: int) -> set[tuple[int, int]]:
    """(pid, start time) of every process below ``pid``, in any session (a launcher's too)."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    found: set[tuple[int, int]] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if (child, table[child][1]) not in found:
                found.add((child, table[child][1]))
                todo.append(child)
    return found


def _signal(family: set[tuple[int, int]], signum: int) -> None:
    """Signal each process still alive as the same process (its pid not reused since)."""
    table = _processes()
    for pid, start in family:
        if table.get(pid, (0, -1))[1] == start:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def stop_tree(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM ``process`` and everything it started; SIGKILL what is left after a grace.

    Descendants are collected before the first signal (a killed parent's orphans move to
    init and could no longer be found) and again before the last; processes in other
    sessions (a launcher started with ``start_new_session``) are reached this way too.
    """
    family = descendants(process.pid)
    _signal_group(process.pid, signal.SIGTERM)
    _signal(family, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        family |= descendants(process.pid)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and any(
        _processes().get(pid, (0, -1))[1] == start for pid, start in family
    ):
        time.sleep(0.1)  # the rest stop on their own (a worker finishing its epoch)
    _signal_group(process.pid, signal.SIGKILL)
    _signal(family, signal.SIGKILL)
    process.wait()


def quit_mps_daemons(tmp: Path) -> list[str]:
    """Ask every MPS daemon a part started under ``tmp`` to quit (a cut part leaves them)."""
    stopped = []
    for pipe in sorted(tmp.glob("hpsearch-mps-*/pipe")):
        env = {**os.environ, "CUDA_MPS_PIPE_DIRECTORY": str(pipe)}
        try:
            subprocess.run(
                ["nvidia-cuda-mps-control"], input="quit\n", text=True, env=env, timeout=10
            )
            stopped.append(str(pipe))
        except (OSError, subprocess.TimeoutExpired):
            pass
    return stopped


# --------------------------------------------------------------------------- parts


@dataclass(frozen=True)
class PlannedPart:
    """A part ready to run: its command and the latest moment it may still run."""

    name: str
    command: list[str]
    share_s: float


def run_part(
    part: PlannedPart, timeout_s: float, result_path: Path, log: TextIO, env: dict[str, str]
) -> dict[str, Any]:
    """Run one part's command with a hard timeout; its result file plus status and time."""
    log.write(f"\n===== {part.name} (up to {timeout_s:.0f} s): {' '.join(part.command)}\n")
    log.flush()
    started = time.monotonic()
    process = subprocess.Popen(
        part.command,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group: nothing it starts outlives the cut
    )
    timed_out = False
    try:
        process.wait(timeout=max(0.0, timeout_s))
    except subprocess.TimeoutExpired:
        timed_out = True
        stop_tree(process)
    finally:
        if process.poll() is None:  # interrupted (Ctrl-C): nothing it started outlives us
            stop_tree(process)
        _signal_group(process.pid, signal.SIGKILL)  # strays a finished part left behind
    seconds = time.monotonic() - started
    result: dict[str, Any] = {}
    if result_path.is_file():
        try:
            result = json.loads(result_path.read_text())
        except json.JSONDecodeError:
            result = {}
    if timed_out:
        result.update(status="timed out", reason=f"cut off after {timeout_s:.0f} s")
    elif process.returncode != 0 and result.get("status") in (None, "running", "ok"):
        result.update(status="failed", reason=f"exited with {process.returncode}")
    if "status" not in result:
        result.update(status="failed", reason="it wrote no result")
    result.update(seconds=round(seconds, 1), limit_s=round(timeout_s, 1))
    return result


def run_parts(
    parts: Sequence[PlannedPart],
    out_dir: Path,
    workdir: Path,
    report: dict[str, Any],
    env: dict[str, str],
    budget_s: float,
) -> dict[str, Any]:
    """Run ``parts`` in order within ``budget_s``; reports are rewritten after each part.

    Part ``i`` may run until the sum of the shares of parts ``0..i`` has passed since the
    start, so time an early part leaves unused passes on; none runs past the budget.
    """
    started = time.monotonic()
    deadline, allowed = started + budget_s, 0.0
    report.setdefault("parts", {})
    with open(out_dir / "gpu_check-parts.log", "a", encoding="utf-8") as log:
        for part in parts:
            allowed += part.share_s
            now = time.monotonic()
            # A cut part takes up to two grace periods to stop: the last one must still end
            # by the budget's end.
            timeout_s = min(started + allowed, deadline - 2 * STOP_GRACE_S) - now
            result_path = workdir / f"{part.name}.json"
            result: dict[str, Any]
            if timeout_s < 1.0:  # earlier parts (and their stopping) used it all
                result = {"status": "timed out", "reason": "no time left in the budget"}
                result |= {"seconds": 0.0, "limit_s": 0.0}
            else:
                result = run_part(part, timeout_s, result_path, log, env)
            report["parts"][part.name] = result
            report["elapsed_s"] = round(time.monotonic() - started, 1)
            write_reports(report, out_dir)
            print(
                f"[gpu_check] {part.name}: {result['status']} in {result['seconds']} s"
                + (f" ({result['reason']})" if result.get("reason") else ""),
                flush=True,
            )
    report["mps_daemons_stopped"] = quit_mps_daemons(workdir)
    write_reports(report, out_dir)
    return report
