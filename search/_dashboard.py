"""optuna-dashboard over a study storage, with the trial checkpoints as its artifacts."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from optuna.artifacts import FileSystemArtifactStore
from optuna.artifacts.exceptions import ArtifactNotFound

import storage
from search.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
STOP_GRACE_SECONDS = 5.0  # how long a stop waits for the request in progress
REQUEST_TIMEOUT_SECONDS = 60.0  # a client silent this long is dropped


class StudyFoldersArtifactStore:
    """Reads the checkpoints of every study under one artifact folder.

    Workers keep each study's checkpoints in ``<artifact dir>/<study>/`` (see
    :class:`search._checkpoints.CheckpointStore`), while optuna-dashboard takes a single
    store for the whole storage. Artifact ids are UUIDs, so this store looks an id up in
    the study folders; files uploaded from the dashboard go to ``<artifact dir>/dashboard``.

    Args:
        directory: The artifact folder of a storage, ``storage.artifact_dir_for(url)``.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _store_holding(self, artifact_id: str) -> FileSystemArtifactStore:
        if self.directory.is_dir():
            for folder in sorted(p for p in self.directory.iterdir() if p.is_dir()):
                if (folder / artifact_id).is_file():
                    return FileSystemArtifactStore(str(folder))
        raise ArtifactNotFound(f"artifact {artifact_id!r} is not in {str(self.directory)!r}")

    def open_reader(self, artifact_id: str) -> BinaryIO:
        """Open the artifact's file for reading."""
        return self._store_holding(artifact_id).open_reader(artifact_id)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        """Store a file uploaded through the dashboard."""
        uploads = self.directory / "dashboard"
        uploads.mkdir(parents=True, exist_ok=True)
        FileSystemArtifactStore(str(uploads)).write(artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        """Delete the artifact's file (the dashboard's delete button)."""
        self._store_holding(artifact_id).remove(artifact_id)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def check_bind(host: str, port: int) -> None:
    """Reject a port outside 1-65535 and an empty host, naming the value.

    Raises:
        ConfigError: ``host`` or ``port`` is not accepted.
    """
    if not 1 <= port <= 65535:
        raise ConfigError(f"dashboard port must be between 1 and 65535, but got {port=}")
    if not host.strip():
        raise ConfigError(
            "dashboard host must be an address such as 127.0.0.1 (default) or 0.0.0.0, "
            "but got an empty string"
        )


class _NoLookupHandler(WSGIRequestHandler):
    """wsgiref's handler without a reverse DNS lookup per request (as bottle's)."""

    timeout = REQUEST_TIMEOUT_SECONDS

    def address_string(self) -> str:
        return str(self.client_address[0])


def _make_server(host: str, port: int, app: Any) -> WSGIServer:
    server_class: type[WSGIServer] = WSGIServer
    if ":" in host:  # wsgiref listens on IPv4 only unless told

        class _IPv6Server(WSGIServer):
            address_family = socket.AF_INET6

        server_class = _IPv6Server
    return make_server(host, port, app, server_class, _NoLookupHandler)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (``docker stop``, a test's ``terminate()``) and Ctrl-C set ``stop``.

    The server runs in a thread and the main thread only waits, so a signal never lands
    inside a request: raised there, wsgiref's error handler would swallow it and the server
    would go on serving.
    """

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(app: Any, host: str, port: int) -> None:
    """Serve the WSGI ``app`` on ``host:port`` until SIGTERM or Ctrl-C.

    Raises:
        ConfigError: The host is not an address or the port cannot be taken.
    """
    try:
        server = _make_server(host, port, app)
    except socket.gaierror:
        raise ConfigError(
            f"dashboard host {host!r} is not a known address; use 127.0.0.1 or 0.0.0.0"
        ) from None
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port or --host"
            ) from None
        raise
    stop = threading.Event()
    serving = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
    )
    with _stop_on_signals(stop):
        serving.start()
        try:
            while not stop.wait(timeout=1.0) and serving.is_alive():
                pass
        finally:
            # shutdown() waits for the request in progress; a client that stalls it (sends
            # half a request, stops reading a response) gets a few seconds, not forever.
            closing = threading.Thread(target=server.shutdown, daemon=True)
            closing.start()
            closing.join(timeout=STOP_GRACE_SECONDS)
            server.server_close()


def serve_dashboard(
    storage_url: str,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    echo: Callable[[str], Any] = print,
) -> None:
    """Serve optuna-dashboard for the studies in ``storage_url`` until SIGTERM or Ctrl-C.

    optuna-dashboard has no authentication: on a host other than loopback anyone who can
    reach the port can read and change the studies, so ``echo`` gets a warning then.

    Args:
        storage_url: ``sqlite:///file.db`` or ``postgresql+psycopg://user@host/db``.
        host: Address to listen on; ``0.0.0.0`` only when asked for explicitly.
        port: TCP port.
        echo: Where the start-up lines go.

    Raises:
        ConfigError: Bad host or port, the port is taken, optuna-dashboard is missing, or
            the storage is a SQLite or journal file that does not exist.
        StorageError: The storage URL is bad or the database cannot be reached.
    """
    check_bind(host, port)
    try:
        import optuna_dashboard
    except ImportError:
        raise ConfigError(
            "hpsearch dashboard needs optuna-dashboard; install it with "
            "`pip install optuna-dashboard` (or the hpsearch[dashboard] extra)"
        ) from None
    shown_url = storage.mask_password(storage_url)
    if not storage.storage_exists(storage_url):
        # Opening it would create an empty database file at a mistyped path, and the
        # dashboard would then show no studies with no hint why.
        raise ConfigError(
            f"no studies in {shown_url}: that file does not exist; pass the --storage the "
            "workers use, or start a study first (hpsearch run / hpsearch create)"
        )
    backend = storage.open_storage(storage_url)
    artifacts = StudyFoldersArtifactStore(storage.artifact_dir_for(storage_url))
    if not is_loopback(host):
        echo(
            f"warning: listening on {host}, not loopback; optuna-dashboard has no "
            "authentication, so anyone who reaches this port can read and change the "
            "studies. Put it behind a reverse proxy with authentication (see README)."
        )
    shown_host = f"[{host}]" if ":" in host else host
    echo(f"optuna-dashboard for {shown_url} on http://{shown_host}:{port}/dashboard/")
    echo(f"checkpoints from {artifacts.directory}; stop with Ctrl-C")
    _serve(optuna_dashboard.wsgi(backend, artifact_store=artifacts), host, port)
    echo("dashboard stopped")


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "StudyFoldersArtifactStore", "serve_dashboard"]
