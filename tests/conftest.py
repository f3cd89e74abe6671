"""Shared fixtures: storage backends as a parameter, and a throwaway PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

# The local server of this machine (trust auth); override to test against another one.
POSTGRES_ADMIN_URL = os.environ.get(
    "HPSEARCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def _connect_admin():
    import psycopg

    try:
        return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0]
        message = f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {reason}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must have it; .ci/run starts it)", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database created for this test session and dropped after it."""
    admin = _connect_admin()
    name = f"hpsearch_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    host_part = POSTGRES_ADMIN_URL.split("://", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql+psycopg://{host_part}/{name}"
    finally:
        admin.close()
        admin = _connect_admin()  # a test may have restarted the server meanwhile
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture(params=["sqlite", "journal", "postgresql"])
def storage_url(request, tmp_path) -> str:
    """Each backend a user can pick; PostgreSQL tests share the session's database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/studies.db"
    if request.param == "journal":
        return f"journal://{tmp_path}/studies.log"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def study_name() -> str:
    """A name no other test uses (PostgreSQL tests share one database)."""
    return f"study_{uuid.uuid4().hex[:8]}"


# Helper modules next to the tests (fast_worker.py, tcp_proxy.py) import by name.
import sys as _sys  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

for _folder in ("storage", "search"):
    _sys.path.insert(0, str(_Path(__file__).with_name(_folder)))


@pytest.fixture(params=["sqlite", "postgresql"])
def rdb_url(request, tmp_path) -> str:
    """The database backends, which support heartbeats (crash detection)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/studies.db"
    return request.getfixturevalue("postgres_url")
