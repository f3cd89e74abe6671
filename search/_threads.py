"""Torch threads per worker, chosen from the cores this process may really use.

Torch starts one intra-op thread per core of the machine, whatever share of it the process
gets. On a shared or cgroup-limited host that oversubscribes the cores and the threads spin
against each other: on a loaded 2-core machine one batch took 8.7 s with 2 threads and
0.93 s with 1. So every worker sets its thread count, from (first wins):

1. ``--threads N`` (or ``HPSEARCH_THREADS``);
2. ``OMP_NUM_THREADS``, when the environment sets it (compose, a batch system);
3. the cores it may use (CPU affinity, then the cgroup ``cpu.max`` quota) divided by the
   workers on this host (``HPSEARCH_WORKERS_ON_HOST``, set by ``hpsearch launch``; 1 else),
   and no more than the cores left idle by other processes (1-minute load average).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from search.errors import ConfigError

logger = logging.getLogger("hpsearch.threads")

THREADS_ENV = "HPSEARCH_THREADS"
WORKERS_ON_HOST_ENV = "HPSEARCH_WORKERS_ON_HOST"
_CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(root: Path = _CGROUP_ROOT) -> float | None:
    """CPUs the cgroup quota allows (``cpu.max`` v2, or ``cpu.cfs_*`` v1); ``None``: no quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def usable_cores(root: Path = _CGROUP_ROOT) -> int:
    """Cores this process may run on: its CPU affinity, capped by the cgroup quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def choose_threads(cores: int, workers: int, load: float = 0.0) -> int:
    """Threads for one of ``workers`` processes sharing ``cores`` with ``load`` other work.

    Each worker gets its share of the cores, and never more than the cores the load leaves
    idle: a thread that must wait for a busy core stalls the whole parallel region.
    """
    share = max(1, cores // max(1, workers))
    idle = max(1, math.floor(cores - load + 0.5))
    return max(1, min(share, idle))


@dataclass(frozen=True)
class ThreadChoice:
    """How many threads torch got, and why."""

    threads: int
    reason: str


def decide_threads(threads: int | None = None) -> ThreadChoice:
    """The thread count for this worker (see the module docstring for the order).

    Raises:
        ConfigError: ``threads`` (or ``HPSEARCH_THREADS``/``OMP_NUM_THREADS``) is not a whole
            number of at least 1.
    """
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"--threads must be at least 1, but got {threads}")
        return ThreadChoice(threads, "--threads")
    for name in (THREADS_ENV, "OMP_NUM_THREADS"):
        raw = os.environ.get(name, "").strip()
        if raw:
            if not raw.isdigit() or int(raw) < 1:
                raise ConfigError(f"{name} must be a whole number of at least 1, but got {raw!r}")
            return ThreadChoice(int(raw), name)
    raw_workers = os.environ.get(WORKERS_ON_HOST_ENV, "1").strip()
    workers = int(raw_workers) if raw_workers.isdigit() and int(raw_workers) > 0 else 1
    cores = usable_cores()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    chosen = choose_threads(cores, workers, load)
    return ThreadChoice(
        chosen, f"{cores} usable cores, {workers} workers on the host, load {load:.1f}"
    )


def configure_threads(threads: int | None = None) -> ThreadChoice:
    """Set torch's intra-op thread count for this process from :func:`decide_threads`."""
    import torch

    choice = decide_threads(threads)
    torch.set_num_threads(choice.threads)
    logger.info("torch threads: %d (%s)", choice.threads, choice.reason)
    return choice
