"""Start and supervise several ``hpsearch worker`` processes on this host."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import optuna

from search._worker import count_states
from search.errors import ConfigError

# A worker that dies this many times within a minute is not restarted again: something
# permanent (bad storage, bad data) is wrong and restarting would only spin.
_MAX_RESTARTS_PER_MINUTE = 5
USER_ERROR_EXIT = 2


@dataclass
class WorkerSlot:
    """One supervised worker process and the GPU it is pinned to."""

    index: int
    gpu: str | None
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)
    exit_code: int | None = None


def parse_gpus(gpus: str | None) -> list[str]:
    """``"0,1"`` -> ``["0", "1"]``; rejects anything but comma-separated GPU indices."""
    if not gpus:
        return []
    items = [g.strip() for g in gpus.split(",")]
    for item in items:
        if not item.isdigit():
            raise ConfigError(
                f"--gpus {gpus!r} is not accepted; accepted: comma-separated GPU indices like 0,1"
            )
    return items


def plan_slots(gpus: Sequence[str], workers_per_gpu: int, workers: int) -> list[WorkerSlot]:
    """One slot per worker: ``workers_per_gpu`` on each GPU, or ``workers`` CPU workers."""
    if workers_per_gpu < 1 or workers < 1:
        raise ConfigError(
            f"worker counts must be at least 1, but got {workers_per_gpu=} and {workers=}"
        )
    if gpus:
        return [
            WorkerSlot(index=i * workers_per_gpu + k, gpu=gpu)
            for i, gpu in enumerate(gpus)
            for k in range(workers_per_gpu)
        ]
    return [WorkerSlot(index=i, gpu=None) for i in range(workers)]


class Launcher:
    """Runs one ``hpsearch worker`` per slot, restarts those that crash, forwards signals.

    Args:
        slots: Planned workers.
        worker_args: Arguments after ``hpsearch worker`` (study, storage, budget, ...).
        study: The shared study, read for the combined progress line.
        budget: Study trial budget, for the progress line.
        echo: Where progress lines go.
        poll_seconds: How often to check processes and print progress.
    """

    def __init__(
        self,
        slots: list[WorkerSlot],
        worker_args: list[str],
        study: optuna.Study,
        budget: int | None,
        echo: Callable[[str], None] = print,
        poll_seconds: float = 2.0,
    ) -> None:
        self.slots = slots
        self.worker_args = worker_args
        self.study = study
        self.budget = budget
        self.echo = echo
        self.poll_seconds = poll_seconds
        self.stopping = False

    def _start(self, slot: WorkerSlot) -> None:
        env = dict(os.environ)
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.gpu
        else:
            # Each torch process would otherwise start one thread per core; N processes on
            # the same cores then thrash (seen: 2 workers on 2 cores ran ~10x slower).
            threads = max(1, (os.cpu_count() or 1) // len(self.slots))
            env.setdefault("OMP_NUM_THREADS", str(threads))
        env["HPSEARCH_WORKER_INDEX"] = str(slot.index)
        slot.process = subprocess.Popen(
            [sys.executable, "-m", "search.cli", "worker", *self.worker_args], env=env
        )
        slot.exit_code = None

    def _signal_all(self, signum: int) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                slot.process.send_signal(signum)

    def progress_line(self) -> str:
        """``finished/budget complete pruned failed running | workers alive``."""
        counts = count_states(self.study)
        finished = counts["COMPLETE"] + counts["PRUNED"]
        alive = sum(1 for s in self.slots if s.process is not None and s.process.poll() is None)
        budget = f"/{self.budget}" if self.budget else ""
        best = ""
        if counts["COMPLETE"] and len(self.study.directions) == 1:
            best = f" best={self.study.best_value:.4g}"
        return (
            f"[{self.study.study_name}] {finished}{budget} finished: {counts['COMPLETE']} complete,"
            f" {counts['PRUNED']} pruned, {counts['FAIL']} failed, {counts['RUNNING']} running;"
            f" workers alive {alive}/{len(self.slots)}{best}"
        )

    def run(self) -> int:
        """Supervise until every worker exits; returns 0 when all ended cleanly."""
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def forward(signum: int, _frame: object) -> None:
            self.stopping = True
            self._signal_all(signum)

        for sig in previous:
            signal.signal(sig, forward)
        try:
            for slot in self.slots:
                self._start(slot)
            last_line = ""
            while True:
                running = 0
                for slot in self.slots:
                    assert slot.process is not None
                    code = slot.process.poll()
                    if code is None:
                        running += 1
                        continue
                    if slot.exit_code is None:
                        slot.exit_code = code
                        if code == USER_ERROR_EXIT:
                            # A config or storage error: restarting would fail the same way.
                            self.echo(f"worker {slot.index} stopped on an error (see above)")
                        elif code != 0 and not self.stopping and self._may_restart(slot):
                            self.echo(f"worker {slot.index} exited with {code}; restarting it")
                            self._start(slot)
                            running += 1
                line = self.progress_line()
                if line != last_line:
                    self.echo(line)
                    last_line = line
                if running == 0:
                    break
                time.sleep(self.poll_seconds)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        failed = [s for s in self.slots if s.exit_code not in (0, None)]
        return 0 if not failed else 1

    def _may_restart(self, slot: WorkerSlot) -> bool:
        now = time.monotonic()
        slot.restarts = [t for t in slot.restarts if now - t < 60] + [now]
        if len(slot.restarts) > _MAX_RESTARTS_PER_MINUTE:
            self.echo(
                f"worker {slot.index} died {len(slot.restarts)} times within a minute; "
                "not restarting it (see its error above)"
            )
            return False
        return True
