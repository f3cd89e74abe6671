"""A fresh, empty storage for one bench measurement, removed afterwards.

Shared by ``bench/parallel.py`` and ``bench/storage_overhead.py``. PostgreSQL gets a new
database on the server ``$HPSEARCH_BENCH_POSTGRES`` names (default
``postgresql://postgres@127.0.0.1:5432/test``); Redis flushes the database
``$HPSEARCH_BENCH_REDIS`` names (default ``redis://127.0.0.1:6379/14``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

KINDS = ("postgresql", "sqlite", "journal", "redis")


class FreshStorage:
    """``with FreshStorage("sqlite", folder) as url:`` a storage URL nothing has used yet.

    Args:
        kind: One of ``accepted``.
        folder: Where the SQLite and journal files go.
        accepted: The kinds the calling bench supports (named in the error otherwise).
    """

    def __init__(self, kind: str, folder: Path, accepted: Sequence[str] = KINDS) -> None:
        if kind not in accepted:
            raise SystemExit(f"unknown backend {kind!r}; accepted: {', '.join(accepted)}")
        self.kind = kind
        self.folder = folder
        self.database: str | None = None

    def __enter__(self) -> str:
        name = uuid.uuid4().hex[:8]
        if self.kind == "postgresql":
            import psycopg

            admin = os.environ.get(
                "HPSEARCH_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
            )
            self.admin = psycopg.connect(admin, autocommit=True)
            self.database = f"hpsearch_bench_{name}"
            self.admin.execute(f'CREATE DATABASE "{self.database}"')
            host = admin.split("://", 1)[1].rsplit("/", 1)[0]
            return f"postgresql+psycopg://{host}/{self.database}"
        if self.kind == "sqlite":
            return f"sqlite:///{self.folder}/{name}.db"
        if self.kind == "journal":
            return f"journal://{self.folder}/{name}.log"
        import redis

        url = os.environ.get("HPSEARCH_BENCH_REDIS", "redis://127.0.0.1:6379/14")
        redis.Redis.from_url(url).flushdb()
        return url

    def __exit__(self, *exc: object) -> None:
        if self.database is not None:
            self.admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (self.database,),
            )
            self.admin.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
            self.admin.close()
