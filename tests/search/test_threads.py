"""Torch threads per worker: from the usable cores, the workers on the host, or --threads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from search._threads import cgroup_cpu_limit, choose_threads, decide_threads, usable_cores
from search.errors import ConfigError
from tests.search.cli_helpers import hpsearch, process_env


def test_a_cgroup_quota_caps_the_cores(tmp_path: Path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == pytest.approx(1.5)
    assert usable_cores(tmp_path) <= 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None


def test_a_v1_cgroup_quota_is_read_too(tmp_path: Path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path) == pytest.approx(1.0)
    assert usable_cores(tmp_path) == 1


@pytest.mark.parametrize(
    ("cores", "workers", "load", "expected"),
    [(8, 1, 0.0, 8), (8, 4, 0.0, 2), (2, 8, 0.0, 1), (8, 1, 6.0, 2), (2, 1, 7.0, 1)],
)
def test_each_worker_gets_its_share_of_the_idle_cores(cores, workers, load, expected):
    assert choose_threads(cores, workers, load) == expected


def test_the_flag_wins_then_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert decide_threads(2).threads == 2
    assert decide_threads().threads == 3
    monkeypatch.setenv("HPSEARCH_THREADS", "4")
    assert decide_threads().threads == 4


def test_a_bad_thread_count_is_a_usage_error(monkeypatch, capsys):
    with pytest.raises(ConfigError, match="--threads must be at least 1, but got 0"):
        decide_threads(0)
    monkeypatch.setenv("OMP_NUM_THREADS", "two")
    with pytest.raises(ConfigError, match="OMP_NUM_THREADS must be a whole number"):
        decide_threads()
    code, _, err = hpsearch(capsys, "run", "--threads", "0", "--n-trials", "1")
    assert code == 2 and "--threads must be at least 1, but got 0" in err
    assert "Traceback" not in err


def test_run_never_leaves_torchs_default(tmp_path: Path):
    """A worker on a 1-core share of the host runs torch with 1 thread, whatever its default."""
    script = (
        "import torch, os\n"
        "from search._threads import configure_threads\n"
        "print(torch.get_num_threads(), configure_threads().threads, torch.get_num_threads())\n"
    )
    env = process_env(HPSEARCH_WORKERS_ON_HOST="64")
    env.pop("OMP_NUM_THREADS")
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[1] == out[2] == "1"  # 64 workers on this host: one thread each
