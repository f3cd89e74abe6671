"""Database outages against real worker processes and the real PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from cli_helpers import process_env
from optuna.trial import TrialState
from tcp_proxy import TcpProxy

WORKER = Path(__file__).resolve().parents[1] / "search" / "fast_worker.py"


def _postgres_running() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0


def _restart_postgres() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _finished(url: str, name: str) -> int:
    study = optuna.load_study(study_name=name, storage=url)
    return len(study.get_trials(states=(TrialState.COMPLETE,)))


@pytest.mark.skipif(
    shutil.which("pg_ctlcluster") is None or not os.path.isdir("/etc/postgresql"),
    reason="needs the local PostgreSQL cluster tools to restart the server",
)
def test_four_workers_ride_out_a_postgres_restart(postgres_url, study_name):
    optuna.create_study(study_name=study_name, storage=postgres_url)
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), postgres_url, study_name, "160", "0.05"],
            env=process_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        deadline = time.monotonic() + 120
        while _finished(postgres_url, study_name) < 40 and time.monotonic() < deadline:
            time.sleep(0.5)
        _restart_postgres()
        outputs = [w.communicate(timeout=240)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
        if not _postgres_running():
            _restart_postgres()
    assert [w.returncode for w in workers] == [0] * 4, outputs
    assert any("database error while" in out and "retry 1 in" in out for out in outputs), outputs
    trials = optuna.load_study(study_name=study_name, storage=postgres_url).trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert 160 <= len(complete) <= 164
    wrong = [
        (t.number, t.value, t.params) for t in complete if t.value != t.params["x"] * t.params["x"]
    ]
    assert not wrong
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def test_a_database_down_past_the_limit_stops_the_worker_with_a_clear_message(
    postgres_url, study_name
):
    host_port = postgres_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    proxy = TcpProxy((host, int(port)))
    url = postgres_url.replace(host_port, f"127.0.0.1:{proxy.port}")
    optuna.create_study(study_name=study_name, storage=url)
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), url, study_name, "100000", "0.01"],
        env=process_env(HPSEARCH_DB_RETRY_SECONDS="4"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _finished(postgres_url, study_name) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        proxy.cut()
        output = worker.communicate(timeout=60)[0]
    finally:
        if worker.poll() is None:
            worker.kill()
        proxy.close()
    assert worker.returncode not in (0, None)
    assert "database error while" in output
    assert "database unreachable for" in output and "HPSEARCH_DB_RETRY_SECONDS" in output


def test_every_outage_is_logged_and_retried_once_even_past_the_budget(monkeypatch, caplog):
    import sqlalchemy.exc

    from storage import StorageError
    from storage._retry import call_with_retry

    monkeypatch.setenv("HPSEARCH_DB_RETRY_SECONDS", "0")
    calls = []

    def lost_connection():
        calls.append(1)
        raise sqlalchemy.exc.OperationalError(
            "SELECT 1", {}, Exception("server closed the connection")
        )

    with (
        caplog.at_level("WARNING", logger="hpsearch.storage"),
        pytest.raises(StorageError, match="database unreachable"),
    ):
        call_with_retry(lost_connection, "reading trials")
    assert len(calls) == 2
    assert "database error while reading trials" in caplog.text and "retry 1 in" in caplog.text
