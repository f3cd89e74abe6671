"""``hpsearch dashboard``: loopback by default, one-line errors, a page a browser renders."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest
from browser import chromium_or_skip, headless_chromium
from cli_helpers import hpsearch
from optuna.artifacts import upload_artifact

import storage
from search import _dashboard
from search._checkpoints import CheckpointStore
from search._dashboard import StudyFoldersArtifactStore, is_loopback

REPO = Path(__file__).resolve().parents[2]
STUDY = "dashboard-watch-digits"


@pytest.fixture
def served(monkeypatch):
    """Replace the blocking server with a recorder of its host, port and artifact store."""
    import optuna_dashboard

    calls = []
    monkeypatch.setattr(optuna_dashboard, "wsgi", lambda storage, **kw: kw)
    monkeypatch.setattr(
        _dashboard,
        "_serve",
        lambda app, host, port: calls.append({"host": host, "port": port, **app}),
    )
    return calls


@pytest.fixture
def existing_url(storage_url, study_name):
    """A storage that exists already (workers created it), on each backend."""
    optuna.create_study(study_name=study_name, storage=storage.open_storage(storage_url))
    return storage_url


def test_listens_on_loopback_by_default_without_warning(served, existing_url, capsys):
    code, _, err = hpsearch(capsys, "dashboard", "--storage", existing_url)
    assert code == 0
    (call,) = served
    assert call["host"] == "127.0.0.1" and call["port"] == 8080
    assert isinstance(call["artifact_store"], StudyFoldersArtifactStore)
    assert "warning" not in err and "http://127.0.0.1:8080/dashboard/" in err


def test_all_interfaces_only_when_asked_and_with_a_warning(served, existing_url, capsys):
    code, _, err = hpsearch(
        capsys, "dashboard", "--storage", existing_url, "--host", "0.0.0.0", "--port", "9000"
    )
    assert code == 0 and served[0]["host"] == "0.0.0.0" and served[0]["port"] == 9000
    assert (
        "warning: listening on 0.0.0.0, not loopback; optuna-dashboard has no authentication" in err
    )


def test_the_password_of_the_storage_url_is_not_printed(served, monkeypatch, capsys):
    monkeypatch.setattr(_dashboard.storage, "open_storage", lambda url: object())
    url = "postgresql+psycopg://hpsearch:s3cret@db.example:5432/hpsearch"
    code, _, err = hpsearch(capsys, "dashboard", "--storage", url)
    assert code == 0 and "s3cret" not in err and "hpsearch:***@db.example" in err


def test_a_missing_sqlite_file_is_refused_not_created(served, tmp_path, capsys):
    missing = tmp_path / "nosuch.db"
    code, _, err = hpsearch(capsys, "dashboard", "--storage", f"sqlite:///{missing}")
    assert code == 2 and not served and not missing.exists()
    assert err.startswith(f"error: no studies in sqlite:///{missing}: that file does not exist")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "error: dashboard port must be between 1 and 65535, but got port=0"),
        (
            ["--port", "70000"],
            "error: dashboard port must be between 1 and 65535, but got port=70000",
        ),
        (
            ["--host", " "],
            "error: dashboard host must be an address such as 127.0.0.1 (default) or 0.0.0.0, but got an empty string",
        ),
        (
            ["--storage", "mssql://db/x"],
            "error: storage URL 'mssql://db/x' uses unsupported database 'mssql'; accepted:",
        ),
    ],
)
def test_bad_values_are_one_line_and_exit_2(served, existing_url, capsys, args, message):
    args = ["--storage", existing_url, *args] if "--storage" not in args else args
    code, _, err = hpsearch(capsys, "dashboard", *args)
    assert code == 2 and err.startswith(message) and err.count("\n") == 1
    assert not served


def test_a_taken_port_is_one_line(existing_url, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = hpsearch(capsys, "dashboard", "--storage", existing_url, "--port", str(port))
    assert code == 2
    assert err.splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}: ")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("myhost", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_artifact_store_finds_checkpoints_in_the_study_folders(tmp_path, storage_url):
    study = optuna.create_study(study_name="s", storage=storage.open_storage(storage_url))
    trial = study.ask()
    checkpoints = CheckpointStore(tmp_path / "artifacts" / "s")
    source = tmp_path / "weights.bin"
    source.write_bytes(b"weights")
    artifact_id = upload_artifact(
        artifact_store=checkpoints.store, file_path=str(source), study_or_trial=trial
    )
    store = StudyFoldersArtifactStore(tmp_path / "artifacts")
    with store.open_reader(artifact_id) as reader:
        assert reader.read() == b"weights"
    store.write("uploaded-id", io.BytesIO(b"note"))
    assert (tmp_path / "artifacts" / "dashboard" / "uploaded-id").read_bytes() == b"note"
    store.remove(artifact_id)
    with pytest.raises(optuna.artifacts.exceptions.ArtifactNotFound):
        store.open_reader(artifact_id)


# --- a real server and a real browser -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_page(url: str, server: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"dashboard exited early: {server.communicate()[1]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.25)
    raise AssertionError(f"dashboard did not answer {url} within {timeout} s")


def _start_dashboard(storage_url: str, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "search.cli",
            "dashboard",
            "--storage",
            storage_url,
            "--port",
            str(port),
        ],
        cwd=REPO,  # this checkout's code, not an installed copy
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def running(tmp_path):
    """A dashboard process serving a one-study SQLite file, answering: (process, port)."""
    storage_url = f"sqlite:///{tmp_path / 'studies.db'}"
    optuna.create_study(study_name=STUDY, storage=storage_url)
    port = _free_port()
    server = _start_dashboard(storage_url, port)
    try:
        _wait_for_page(f"http://127.0.0.1:{port}/dashboard/", server)
        yield server, port
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def test_ctrl_c_stops_the_server_and_it_exits_0(running):
    server, _ = running
    server.send_signal(signal.SIGINT)
    _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert err.rstrip().endswith("dashboard stopped") and "Traceback" not in err


def test_sigterm_stops_the_server_while_a_response_is_being_written(running):
    """A stop that lands while a response is on the wire still stops the server.

    A client that stops reading a large response (the dashboard's 6 MB script) keeps the
    server inside the request. A KeyboardInterrupt raised there from the signal handler is
    swallowed by wsgiref's error handler and the server went on serving, so ``docker stop``
    had to kill it (seen in CI).
    """
    server, port = running
    with socket.socket() as stalled:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", port))
        stalled.sendall(
            b"GET /static/bundle.js HTTP/1.0\r\nHost: localhost\r\nAccept-Encoding: identity\r\n\r\n"
        )
        assert stalled.recv(64).startswith(b"HTTP/1.0 200")  # the response has begun
        time.sleep(1)  # the server is now blocked writing to a client that does not read
        started = time.monotonic()
        server.terminate()
        _, err = server.communicate(timeout=30)
        stopped_in = time.monotonic() - started
    assert server.returncode == 0, err
    assert "dashboard stopped" in err and "Traceback" not in err
    assert stopped_in < _dashboard.STOP_GRACE_SECONDS + 10


@pytest.mark.slow
def test_a_browser_sees_the_study_and_the_server_stops_cleanly(tmp_path):
    chromium_or_skip()
    storage_url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(study_name=STUDY, storage=storage_url, direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("lr", 1e-4, 1e-1, log=True), n_trials=5)

    port = _free_port()
    server = _start_dashboard(storage_url, port)
    url = f"http://127.0.0.1:{port}/dashboard/"
    try:
        _wait_for_page(url, server)
        dom = headless_chromium("--dump-dom", url, profile=tmp_path / "profile")
        screenshot = tmp_path / "dashboard.png"
        shot = headless_chromium(
            f"--screenshot={screenshot}",
            "--window-size=1280,900",
            url,
            profile=tmp_path / "profile",
        )
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err  # SIGTERM stops it like Ctrl-C
    assert "dashboard stopped" in err and "warning" not in err
    assert dom.returncode == 0, dom.stderr
    assert STUDY in dom.stdout  # the study list rendered, not an error page
    assert "Direction: MAXIMIZE" in dom.stdout
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr
    from PIL import Image

    with Image.open(screenshot) as image:
        assert image.size == (1280, 900)
        assert len(image.getcolors(maxcolors=1_000_000) or []) > 50  # not a blank page
