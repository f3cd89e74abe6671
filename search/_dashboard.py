"""optuna-dashboard over a study storage, with the trial checkpoints as its artifacts."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from optuna.artifacts import FileSystemArtifactStore
from optuna.artifacts.exceptions import ArtifactNotFound

import storage
from search.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


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


@contextlib.contextmanager
def _sigterm_stops_server() -> Iterator[None]:
    """Let SIGTERM (``docker stop``, a test's ``terminate()``) end the server like Ctrl-C.

    bottle's ``run`` returns quietly on ``KeyboardInterrupt``, so the command exits 0.
    """

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    with _sigterm_stops_server():
        try:
            optuna_dashboard.run_server(backend, host=host, port=port, artifact_store=artifacts)
        except socket.gaierror:
            raise ConfigError(
                f"dashboard host {host!r} is not a known address; use 127.0.0.1 or 0.0.0.0"
            ) from None
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
                raise ConfigError(
                    f"cannot listen on {host}:{port}: {exc.strerror}; choose another "
                    "--port or --host"
                ) from None
            raise
        except KeyboardInterrupt:
            pass
    echo("dashboard stopped")


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "StudyFoldersArtifactStore", "serve_dashboard"]
