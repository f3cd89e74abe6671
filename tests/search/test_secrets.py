"""A password in the storage URL reaches no sink: database, logs, output, report, checkpoints."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import optuna
from cli_helpers import hpsearch

import storage


def _files_holding(folder: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_the_password_is_in_no_row_log_line_output_report_or_checkpoint(
    postgres_password_db, tiny, tmp_path, monkeypatch, capsys, caplog
):
    url, password = postgres_password_db.url, postgres_password_db.password
    artifacts = tmp_path / "artifacts"
    monkeypatch.setenv("HPSEARCH_ARTIFACTS", str(artifacts))
    caplog.set_level(logging.DEBUG)
    names = ["--study", "secret", "--storage", url]

    outputs: list[str] = []

    def run(*args: str, expect: int = 0) -> str:
        code, out, err = hpsearch(capsys, *args)
        assert code == expect, err
        outputs.extend([out, err])
        return out

    run("create", "-c", "tiny.toml", *names)
    run("run", *names, "--no-progress", "--verbose")
    best = json.loads(run("best", *names, "--json"))
    assert best["number"] in (0, 1)
    run("best", *names, "--evaluate-test")
    run("status", *names, "--json")
    run("trials", *names, "--csv", "trials.csv")
    report = Path(run("report", *names, "--out", "report").strip().splitlines()[-1])
    run("best", *names, "--export", "best.toml")
    run("best", "--study", "missing", "--storage", url, expect=2)
    run("run", *names, "--epochs", "4", "--no-progress", expect=2)  # an error naming a change

    # The study really is there, and readable with the password-bearing URL.
    study = optuna.load_study(study_name="secret", storage=url)
    assert len(study.trials) == 2
    assert study.user_attrs["hpsearch_config"]["storage"] == storage.redact_url(url)

    rows = postgres_password_db.rows()
    assert {table for table, _ in rows} >= {"studies", "trials", "study_user_attributes"}
    assert [table for table, row in rows if password in repr(row)] == []
    assert password not in caplog.text and caplog.records  # logging did run
    assert [text for text in outputs if password in text] == []
    assert report.is_file()
    assert list(artifacts.rglob("*")), "the run saved no checkpoint"
    for folder in (tmp_path / "report", artifacts):
        assert _files_holding(folder, password) == []
    for name in ("trials.csv", "best.toml"):
        assert password not in (tmp_path / name).read_text()


def test_log_records_of_other_libraries_are_masked_too(postgres_password_db, caplog):
    url, password = postgres_password_db.url, postgres_password_db.password
    storage.open_storage(url)
    with caplog.at_level(logging.INFO):
        logging.getLogger("some_database_driver").info("connecting with %s", url)
    assert password not in caplog.text and "***" in caplog.text


def test_a_password_of_a_redis_url_is_masked():
    assert storage.redact_url("redis://:Pw-123@localhost:6379/0") == "redis://:***@localhost:6379/0"
    assert storage.redact_url("redis://localhost:6379/0") == "redis://localhost:6379/0"


def test_a_password_stored_by_an_older_version_is_masked_on_resume(sqlite_url, study_name):
    import search

    config = search.build_config({"study": study_name, "storage": sqlite_url, "n_trials": 1})
    study = search.create_study(config)
    old = dict(study.user_attrs["hpsearch_config"], storage="postgresql://u:Old-pw-1@h/db")
    study.set_user_attr("hpsearch_config", old)
    search.create_study(config)  # resuming it
    stored = optuna.load_study(study_name=study_name, storage=sqlite_url).user_attrs
    assert stored["hpsearch_config"]["storage"] == "postgresql://u:***@h/db"
