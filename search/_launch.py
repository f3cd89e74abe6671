"""Start and supervise several ``hpsearch worker`` processes on this host."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from search._threads import WORKERS_ON_HOST_ENV, choose_threads, usable_cores
from search._worker import count_states
from search.errors import EXIT_USAGE, ConfigError

# A worker that dies this many times within a minute is not restarted again: something
# permanent (bad storage, bad data) is wrong and restarting would only spin.
_MAX_RESTARTS_PER_MINUTE = 5
USER_ERROR_EXIT = EXIT_USAGE  # a worker that exits so stopped on a config/storage error


@dataclass
class WorkerSlot:
    """One supervised worker process and the GPU it is pinned to."""

    index: int
    gpu: str | None
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)
    exit_code: int | None = None


class MpsDaemon:
    """NVIDIA MPS control daemon for this launcher's workers.

    MPS lets the processes sharing a GPU run their kernels concurrently instead of
    time-slicing it, which is what makes several small-model trials per GPU pay off.
    Pipe and log folders are private to this launcher so it never touches another user's
    daemon, and the daemon is stopped when the launcher ends.
    """

    def __init__(self, gpus: Sequence[str]) -> None:
        if not gpus:
            raise ConfigError("--mps needs --gpus: MPS shares GPUs between worker processes")
        binary = shutil.which("nvidia-cuda-mps-control")
        if binary is None:
            raise ConfigError(
                "--mps needs NVIDIA MPS, but nvidia-cuda-mps-control is not on PATH; install "
                "the NVIDIA driver utilities or run without --mps"
            )
        self.binary = binary
        folder = Path(tempfile.mkdtemp(prefix="hpsearch-mps-"))
        self.env = {
            "CUDA_MPS_PIPE_DIRECTORY": str(folder / "pipe"),
            "CUDA_MPS_LOG_DIRECTORY": str(folder / "log"),
            "CUDA_VISIBLE_DEVICES": ",".join(gpus),
        }
        for key in ("CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY"):
            Path(self.env[key]).mkdir(parents=True)

    def start(self) -> None:
        """Start the daemon (``nvidia-cuda-mps-control -d``)."""
        result = subprocess.run(
            [self.binary, "-d"], env={**os.environ, **self.env}, capture_output=True, text=True
        )
        if result.returncode != 0:
            reason = (result.stderr or result.stdout).strip().splitlines()
            raise ConfigError(
                f"could not start NVIDIA MPS: {reason[0] if reason else result.returncode}; "
                "run without --mps"
            )

    def stop(self) -> None:
        """Ask the daemon to quit once the workers are gone."""
        subprocess.run(
            [self.binary], input="quit\n", env={**os.environ, **self.env}, text=True, check=False
        )

    def worker_env(self) -> dict[str, str]:
        """Variables a worker needs to reach this daemon."""
        return {k: v for k, v in self.env.items() if k.startswith("CUDA_MPS_")}


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
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.slots = slots
        self.worker_args = worker_args
        self.study = study
        self.budget = budget
        self.echo = echo
        self.poll_seconds = poll_seconds
        self.stopping = False
        self.extra_env = extra_env or {}

    def _start(self, slot: WorkerSlot) -> None:
        env = {**os.environ, **self.extra_env}
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.gpu
        else:
            # Each torch process would otherwise start one thread per core; N processes on
            # the same cores then thrash (seen: 2 workers on 2 cores ran ~10x slower).
            threads = choose_threads(usable_cores(), len(self.slots))
            env.setdefault("OMP_NUM_THREADS", str(threads))
        env[WORKERS_ON_HOST_ENV] = str(len(self.slots))
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


def check_gpus_visible(gpus: Sequence[str]) -> None:
    """Fail before anything starts when ``--gpus`` names GPUs this host cannot see."""
    if not gpus:
        return
    import torch

    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = [g for g in gpus if int(g) >= visible]
    if missing:
        seen = f"cuda:0..cuda:{visible - 1}" if visible else "none"
        raise ConfigError(
            f"--gpus {','.join(gpus)} names GPU {missing[0]}, which is not visible (visible: "
            f"{seen}); drop --gpus to run CPU workers"
        )


def study_exists(study_name: str, backend: optuna.storages.BaseStorage) -> bool:
    """Whether ``study_name`` is already in the storage (launch removes only what it made)."""
    return study_name in {s.study_name for s in optuna.get_all_study_summaries(backend)}


def remove_if_unused(study: optuna.Study) -> bool:
    """Delete a study that has no trial at all (its workers all failed before starting)."""
    if study.get_trials(deepcopy=False):
        return False
    optuna.delete_study(study_name=study.study_name, storage=study._storage)
    return True
