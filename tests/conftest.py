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


@pytest.fixture(autouse=True)
def data_cache_dir(tmp_path_factory, monkeypatch) -> str:
    """Each test's encoded-data cache (objectives.data._cache), never the user's ~/.cache;
    child processes inherit it through the environment."""
    folder = str(tmp_path_factory.mktemp("data-cache"))
    monkeypatch.setenv("HPSEARCH_CACHE_DIR", folder)
    return folder


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


class PasswordDatabase:
    """A throwaway PostgreSQL database owned by a role that has a password."""

    def __init__(self, url: str, password: str, database: str) -> None:
        self.url, self.password, self.database = url, password, database

    def rows(self) -> list[tuple[str, tuple]]:
        """Every row of every table in the database (read as the admin), as ``(table, row)``."""
        import psycopg

        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.database}"
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            tables = [
                name
                for (name,) in connection.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            ]
            return [
                (table, row)
                for table in tables
                for row in connection.execute(f'SELECT * FROM "{table}"').fetchall()
            ]


@pytest.fixture
def postgres_password_db() -> Iterator[PasswordDatabase]:
    """A database owned by a new role with a password; both are dropped after the test.

    pg_hba may trust 127.0.0.1, so the server need not check the password: what the tests
    check is that hpsearch never writes or prints it.
    """
    admin = _connect_admin()
    suffix = uuid.uuid4().hex[:10]
    role = database = f"hpsearch_pw_{suffix}"
    password = f"S3cret-{uuid.uuid4().hex[:12]}"
    admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
    admin.execute(f'CREATE DATABASE "{database}" OWNER "{role}"')
    host = POSTGRES_ADMIN_URL.split("://", 1)[1].rsplit("/", 1)[0].rsplit("@", 1)[-1]
    try:
        yield PasswordDatabase(
            f"postgresql+psycopg://{role}:{password}@{host}/{database}", password, database
        )
    finally:
        admin.close()
        admin = _connect_admin()
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


# The local MySQL/MariaDB server of this machine (root, no password).
MYSQL_ADMIN = os.environ.get("HPSEARCH_TEST_MYSQL", "root@127.0.0.1:3306")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A throwaway database on the MySQL/MariaDB server, dropped after the test."""
    pymysql = pytest.importorskip("pymysql")
    user, host_port = MYSQL_ADMIN.split("@")
    host, port = host_port.split(":")
    try:
        admin = pymysql.connect(host=host, port=int(port), user=user, connect_timeout=5)
    except pymysql.err.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"MySQL/MariaDB at {MYSQL_ADMIN} is unreachable in CI: {exc}")
        pytest.skip(f"MySQL/MariaDB at {MYSQL_ADMIN} is unreachable: {exc}")
    name = f"hpsearch_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    try:
        yield f"mysql+pymysql://{MYSQL_ADMIN}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
