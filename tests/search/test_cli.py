"""The ``hpsearch`` command as a user runs it: one line per error, exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from cli_helpers import hpsearch, tiny_config

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def test_run_best_status_on_the_default_storage(tiny, capsys):
    code, out, _ = hpsearch(capsys, "run", "--config", "tiny.toml", "--no-progress")
    assert code == 0, out
    assert "2 of 2 trials finished" in out and "best value" in out
    assert (tiny / "hpsearch.db").is_file()  # sqlite:///hpsearch.db in the current folder
    study = optuna.load_study(study_name="demo", storage="sqlite:///hpsearch.db")
    # The summary's parameters are for reading: name=value, floats to 4 significant digits.
    (params_line,) = [line for line in out.splitlines() if line.startswith("best params: ")]
    pairs = params_line.removeprefix("best params: ").split(", ")
    assert f"lr={study.best_params['lr']:.4g}" in pairs and all("=" in pair for pair in pairs)
    code, out, _ = hpsearch(capsys, "best", "--json")
    assert code == 0
    record = json.loads(out)
    assert record["number"] == study.best_trial.number and record["value"] == study.best_value
    assert set(record["params"]) == set(study.best_params)
    code, out, _ = hpsearch(capsys, "best", "--evaluate-test")
    assert code == 0 and "test split (360 examples): accuracy=" in out
    code, out, _ = hpsearch(capsys, "status")
    assert code == 0 and "complete 2 (budget 2)" in out
    assert "; metric: accuracy\n" in out and f"best value: {study.best_value:.6g}\n" in out


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        (
            ["--config", "c.toml"],
            {"c.toml": "n_trails = 3\n"},
            "unknown key 'n_trails' in the config; accepted:",
        ),
        (
            ["--task", "translation"],
            {},
            "task 'translation' is not known; accepted: classification",
        ),
        (
            ["--config", "c.toml"],
            {"c.toml": '[space]\ncell = {type="categorical", choices=["gru","cnn"]}\n'},
            "space.cell value 'cnn' is not accepted; accepted: rnn, gru, lstm",
        ),
        (
            ["--config", "c.toml"],
            {"c.toml": "[space]\nhidden_size = {type='int', low=64, high=8}\n"},
            "space.hidden_size: low (64) must not be greater than high (8)",
        ),
        (["--data", "empty.csv"], {"empty.csv": "text,label\n"}, "has no rows"),
        (["--data", "one.csv"], {"one.csv": "text,label\na,x\nb,x\n"}, "has only one class ('x')"),
        (
            ["--data", "r.csv", "--text-column", "review"],
            {"r.csv": "text,label\na,x\nb,y\n"},
            "column 'review' is not in 'r.csv'; available columns: text, label",
        ),
        (["--storage", "postgresql+psycopg://nobody@127.0.0.1:1/none"], {}, "cannot open storage"),
        (["--storage", "mysql+nodriver://x@y/z"], {}, "storage URL"),
        (["--storage", "not a url"], {}, "is not a valid URL"),
        (["--cuda-graphs", "maybe"], {}, "cuda_graphs 'maybe' is not accepted; accepted: auto"),
        (
            ["--format", "xml"],
            {},
            "task.format 'xml' is not accepted for task 'classification'; accepted: auto, table",
        ),
    ],
)
def test_each_bad_input_is_one_line_and_exit_2(tiny, capsys, args, files, message):
    for name, text in files.items():
        (tiny / name).write_text(text)
    code, out, err = hpsearch(capsys, "run", "--no-progress", "--n-trials", "1", *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_other_direction_is_refused_and_nothing_stored_is_lost(tiny, capsys):
    assert hpsearch(capsys, "run", "--config", "tiny.toml", "--no-progress")[0] == 0
    (tiny / "loss.toml").write_text('metric = "loss"\n' + tiny_config())
    code, _, err = hpsearch(capsys, "run", "--config", "loss.toml", "--no-progress")
    assert code == 2 and "exists with direction maximize but the config asks for minimize" in err
    assert len(optuna.load_study(study_name="demo", storage="sqlite:///hpsearch.db").trials) == 2


def test_console_script_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "search.cli",
            "best",
            "--study",
            "missing",
            "--storage",
            f"sqlite:///{tmp_path}/x.db",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: study 'missing' does not exist in sqlite:///{tmp_path}/x.db; existing studies: none"
    )


@pytest.mark.skipif(
    not (SHARED / "sms_spam").is_dir(), reason="../shared/datasets/sms_spam is absent"
)
def test_trains_on_real_text_sms_spam(tiny, capsys):
    lines = (SHARED / "sms_spam" / "SMSSpamCollection").read_text(encoding="utf-8").splitlines()
    (tiny / "sms.toml").write_text(
        "n_trials = 2\nepochs = 4\n[pruner]\nname = 'nop'\n[space]\nhidden_size = 16\n"
        "embedding_dim = 32\nbatch_size = 32\nnum_layers = 1\nlr = 0.005\nmax_length = 64\n"
    )
    (tiny / "sms.tsv").write_text(
        "label\ttext\n" + "\n".join(lines[:1500]) + "\n", encoding="utf-8"
    )
    code, out, err = hpsearch(
        capsys,
        "run",
        "--config",
        "sms.toml",
        "--study",
        "sms",
        "--data",
        "sms.tsv",
        "--epochs",
        "4",
        "--no-progress",
    )
    assert code == 0, err
    study = optuna.load_study(study_name="sms", storage="sqlite:///hpsearch.db")
    # Text data: the vocabulary cut-off is fitted to it (searched, or fixed where only one
    # cut-off keeps enough of the training tokens in the vocabulary).
    fitted = study.user_attrs["derived_space"]["min_freq"]
    assert "min_freq" in study.best_params or isinstance(fitted["space"], int), fitted
    # Spam is ~13% of messages: clearly better than always answering "ham".
    assert study.best_value > 0.9


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the CPU-only refusal")
def test_cuda_graphs_on_without_a_gpu_is_refused_before_anything_is_stored(tiny, capsys):
    code, _, err = hpsearch(capsys, "run", "--config", "tiny.toml", "--cuda-graphs", "on")
    assert code == 2
    assert err.strip() == (
        "error: cuda_graphs 'on' needs a CUDA device, but the device is 'cpu'; "
        "use cuda_graphs 'auto' (graphs where available) or 'off'"
    )
    assert optuna.get_all_study_names("sqlite:///hpsearch.db") == []


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """The URL of each database storage opened from now on (each open builds an engine)."""
    import storage._open as opening

    urls: list[str] = []

    class Counted(opening.ResilientRDBStorage):
        def __init__(self, url: str, *args, **kwargs) -> None:
            urls.append(url)
            super().__init__(url, *args, **kwargs)

    monkeypatch.setattr(opening, "ResilientRDBStorage", Counted)
    return urls


@pytest.mark.parametrize(
    "command",
    [
        ["run", "-c", "tiny.toml", "--no-progress"],
        ["worker", "--heartbeat-interval", "5", "--quiet"],
        ["create", "-c", "tiny.toml", "--n-trials", "3", "--update-config"],
        ["status"],
    ],
)
def test_a_command_on_an_existing_study_opens_its_storage_once(tiny, capsys, opened, command):
    assert hpsearch(capsys, "create", "-c", "tiny.toml")[0] == 0
    opened.clear()
    code, out, err = hpsearch(capsys, *command)
    assert code == 0, err
    assert opened == ["sqlite:///hpsearch.db"], out
    if command[0] in ("run", "worker"):
        assert "2 of 2 trials finished" in out  # it did read the study and run it to budget


def test_status_of_a_two_objective_study_prints_its_pareto_front(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'two.db'}"
    study = optuna.create_study(study_name="two", storage=url, directions=["maximize", "minimize"])
    study.add_trials(
        [
            optuna.trial.create_trial(values=values)
            for values in ([0.9, 2.0], [0.8, 1.0], [0.7, 3.0])
        ]
    )
    code, out, _ = hpsearch(capsys, "status", "--study", "two", "--storage", url)
    assert code == 0
    assert "best value: Pareto front of 2 trials: 0.9, 2; 0.8, 1\n" in out
    empty = optuna.create_study(study_name="empty", storage=url)
    assert not empty.trials
    code, out, _ = hpsearch(capsys, "status", "--study", "empty", "--storage", url)
    assert code == 0 and "best value: none yet (no completed trial)\n" in out
