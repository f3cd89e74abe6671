"""The compose deployment, checked without a Docker engine.

The files are parsed and their facts asserted; every ``hpsearch`` command line in
docker-compose.yml is then run here, against a real PostgreSQL database, with the environment
compose would give it (interpolated from .env.example): the long-running services (workers,
dashboard) as processes, the one-shot ``study`` command in the test's process (a process
more would only add a torch import).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from cli_helpers import hpsearch_in_process
from deploy_helpers import REPO, checkout_pythonpath, hpsearch_command, tiny_study

from search._distinct import DUPLICATE_ATTR
from search._worker import BEYOND_BUDGET_REASON

COMPOSE = REPO / "docker-compose.yml"
CPU_OVERRIDE = REPO / "docker-compose.cpu.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"

_REFERENCE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}`` and ``$$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        present = name in env
        empty = not env.get(name)
        if op in (":-", ":?"):
            missing = empty
        elif op in ("-", "?"):
            missing = not present
        else:
            return env.get(name, "")
        if not missing:
            return env[name]
        if op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg

    return _REFERENCE.sub(replace, value)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose .env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


class _ComposeLoader(yaml.SafeLoader):
    """SafeLoader that also reads Compose's ``!reset`` / ``!override`` tags."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node)


_ComposeLoader.add_constructor("!reset", lambda loader, node: {"!reset": _tagged(loader, node)})
_ComposeLoader.add_constructor("!override", _tagged)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.load(COMPOSE.read_text(), Loader=_ComposeLoader)


@pytest.fixture(scope="module")
def services(compose) -> dict[str, Any]:
    return compose["services"]


def test_compose_has_the_four_services_with_their_commands(services):
    assert set(services) == {"postgres", "study", "worker", "dashboard"}
    assert services["study"]["command"] == ["create", "--config", "/config/study.toml"]
    assert services["worker"]["command"] == ["worker"]
    assert services["dashboard"]["command"][0] == "dashboard"
    for name in ("study", "worker", "dashboard"):
        assert services[name]["build"] == "."
        env = services[name]["environment"]
        assert env["HPSEARCH_STUDY"].startswith("${HPSEARCH_STUDY")
        assert env["HPSEARCH_STORAGE"].startswith("postgresql+psycopg://${POSTGRES_USER")
        assert env["HPSEARCH_ARTIFACTS"] == "/artifacts"


def test_postgres_keeps_data_on_a_named_volume_and_has_a_healthcheck(compose, services):
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]  # a named volume, not a host folder
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    # The port is published on loopback unless POSTGRES_BIND says otherwise.
    assert interpolate(postgres["ports"][0], {}) == "127.0.0.1:5432:5432"


def test_workers_wait_for_the_study_which_waits_for_postgres(services):
    assert services["study"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["study"]["restart"] == "no"
    assert any(v.endswith(":/config/study.toml:ro") for v in services["study"]["volumes"])
    for name in ("worker", "dashboard"):
        assert services[name]["depends_on"] == {
            "study": {"condition": "service_completed_successfully"}
        }


def test_workers_scale_reserve_gpus_and_restart_on_failure(services):
    worker = services["worker"]
    # --scale needs no fixed container name and no published host port.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["restart"] == "on-failure"
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert interpolate(device["count"], {}) == "all"
    assert interpolate(device["count"], {"HPSEARCH_WORKER_GPUS": "1"}) == "1"
    assert interpolate(worker["environment"]["OMP_NUM_THREADS"], {}) == "2"


def test_the_cpu_override_only_drops_the_gpu_reservation():
    override = yaml.load(CPU_OVERRIDE.read_text(), Loader=_ComposeLoader)
    worker = override["services"]["worker"]
    assert set(override["services"]) == {"worker"}
    assert worker["deploy"]["resources"]["reservations"]["devices"] == {"!reset": []}
    assert worker["environment"] == {"HPSEARCH_DEVICE": "cpu"}


def test_dashboard_is_published_on_loopback_only(services):
    dashboard = services["dashboard"]
    assert [interpolate(p, {}) for p in dashboard["ports"]] == ["127.0.0.1:8080:8080"]
    assert dashboard["command"] == ["dashboard", "--host", "0.0.0.0", "--port", "8080"]


def test_no_secret_literal_in_the_compose_files():
    env_example = read_env_file(ENV_EXAMPLE)
    for path in (COMPOSE, CPU_OVERRIDE):
        text = path.read_text()
        assert env_example["POSTGRES_PASSWORD"] not in text
        # Passwords only as ${VAR} references, and never inside a URL.
        for key, value in re.findall(
            r"^\s*([A-Z_]*(?:PASSWORD|SECRET|TOKEN)[A-Z_]*):\s*(.+)$", text, re.M
        ):
            assert re.fullmatch(r"\$\{[A-Z_]+(:?\?[^}]*)?\}", value.strip()), (key, value)
        unreferenced = _REFERENCE.sub("VAR", text)
        assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", unreferenced), "credentials in a URL"


def test_every_variable_without_a_default_is_in_env_example():
    env_example = read_env_file(ENV_EXAMPLE)
    for match in _REFERENCE.finditer(COMPOSE.read_text()):
        name = match.group("name")
        if name and match.group("op") in (None, ":?", "?"):
            assert name in env_example, name


def test_dockerfile_runs_hpsearch_as_a_non_root_user():
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert instructions[0].startswith("FROM pytorch/pytorch:") and "cuda" in instructions[0]
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["hpsearch"]' in instructions
    exposed = [
        port for line in instructions if line.startswith("EXPOSE ") for port in line.split()[1:]
    ]
    assert exposed == ["8080"]  # the dashboard; never the database
    assert any("pip install --no-cache-dir" in line and "[dev" not in line for line in instructions)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored and "*.db" in ignored


def _docker_engine_reason() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no docker binary on this machine"
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        return f"docker has no running engine: {info.stderr.strip().splitlines()[-1:]}"
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        return "docker has no compose plugin"
    return None


def test_docker_compose_config_accepts_the_files(tmp_path):
    reason = _docker_engine_reason()
    if reason:
        pytest.skip(reason)
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_EXAMPLE.read_text())
    for files in (["-f", str(COMPOSE)], ["-f", str(COMPOSE), "-f", str(CPU_OVERRIDE)]):
        result = subprocess.run(
            ["docker", "compose", "--env-file", str(env_file), *files, "config", "--quiet"],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr


# --- the compose commands, run as processes against PostgreSQL ---------------------------


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is needed in CI: {reason}")
    pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432 ({reason})")


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A throwaway database; yields its name."""
    psycopg = pytest.importorskip("psycopg")
    name = f"hpsearch_compose_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        _postgres_unavailable(str(exc).strip().splitlines()[0])
    yield name
    # A fresh connection: the server may have been restarted meanwhile.
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _service_process(
    services: dict[str, Any], name: str, values: Mapping[str, str], paths: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment compose would give ``name``, as a local process.

    ``values`` play the part of .env; ``paths`` map in-container paths to local ones.
    """
    service = services[name]
    args = [interpolate(str(arg), values) for arg in service["command"]]
    args = [paths.get(arg, arg) for arg in args]
    env = dict(os.environ)
    for key, value in service["environment"].items():
        value = interpolate(str(value), values)
        env[key] = paths.get(value, value)
    env["PYTHONPATH"] = checkout_pythonpath(env)
    return hpsearch_command(args), env


def _start(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.postgres
@pytest.mark.slow
def test_compose_commands_create_two_workers_best_and_dashboard(
    services, postgres_database, tmp_path
):
    """`docker compose up --scale worker=2`, as processes: the same commands and variables."""
    values = {
        **read_env_file(ENV_EXAMPLE),
        # What differs from a compose host: the database is this machine's test server.
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432",
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": postgres_database,
        "HPSEARCH_STUDY": "compose-digits",
        "HPSEARCH_WORKER_THREADS": "1",
    }
    (tmp_path / "study.toml").write_text(tiny_study(n_trials=4))
    port = _free_port()
    paths = {
        "/config/study.toml": str(tmp_path / "study.toml"),
        "/artifacts": str(tmp_path / "artifacts"),
        "8080": str(port),  # the dashboard's in-container port
    }
    create, create_env = _service_process(services, "study", values, paths)
    worker, worker_env = _service_process(services, "worker", values, paths)
    dashboard, dashboard_env = _service_process(services, "dashboard", values, paths)
    storage_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{postgres_database}"
    assert create_env["HPSEARCH_STORAGE"] == worker_env["HPSEARCH_STORAGE"] == storage_url
    assert worker_env["OMP_NUM_THREADS"] == "1" and worker_env["HPSEARCH_DEVICE"] == "auto"

    result = hpsearch_in_process(*create[3:], env=create_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "study 'compose-digits' is ready" in result.stdout
        and "(0 trials so far, budget 4)" in result.stdout
    )

    # Then, as compose starts them: the workers and the dashboard together; `study` runs
    # again while they work, as on a second `docker compose up` (it must be idempotent).
    workers = [_start(worker, worker_env, tmp_path) for _ in range(2)]
    server = _start(dashboard, dashboard_env, tmp_path)
    try:
        again = hpsearch_in_process(*create[3:], env=create_env, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "study 'compose-digits' is ready" in again.stdout
        for process in workers:
            # Generous: a worker's torch import alone can take minutes on a loaded machine.
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
            assert "4 of 4 trials finished" in out

        study = optuna.load_study(study_name="compose-digits", storage=storage_url)
        states = [t.state for t in study.trials]
        finished = states.count(optuna.trial.TrialState.COMPLETE) + states.count(
            optuna.trial.TrialState.PRUNED
        )
        # Failed unrun by design: drawn beyond the budget (two workers asked for the last
        # place at once; such a trial has no params, as in test_concurrency) or a repeat of a
        # tried configuration (resampled). No trial may fail while training.
        failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
        unrun = [
            t
            for t in failed
            if (t.user_attrs.get("fail_reason") == BEYOND_BUDGET_REASON and not t.params)
            or DUPLICATE_ATTR in t.user_attrs
        ]
        assert finished == 4 and failed == unrun, [t.user_attrs for t in failed]
        assert list((tmp_path / "artifacts" / "compose-digits").iterdir())  # checkpoints

        best = hpsearch_in_process("best", "--json", env=worker_env, cwd=tmp_path)
        assert best.returncode == 0, best.stderr
        record = json.loads(best.stdout)
        assert record["number"] == study.best_trial.number and record["value"] == study.best_value

        summaries = json.loads(_get_when_up(f"http://127.0.0.1:{port}/api/studies", server))
        (summary,) = summaries["study_summaries"]
        assert summary["study_name"] == "compose-digits"
    finally:
        for process in [*workers, server]:
            if process.poll() is None:
                process.terminate()
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "no authentication" in err  # it listened on 0.0.0.0, as in the container
    assert f"for {storage_url} on" in err and "dashboard stopped" in err


def _get_when_up(url: str, server: subprocess.Popen[str], timeout: float = 120) -> str:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"dashboard exited: {server.communicate()[1]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.25)
    raise AssertionError(f"dashboard did not answer {url} within {timeout} s")
