"""A user's own task: found by reference or entry point, run by workers like a built-in one."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
from cli_helpers import hpsearch, process_env
from optuna.trial import TrialState

from objectives import ObjectiveError, task_class

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_task"


@pytest.fixture
def example(tmp_path, monkeypatch) -> Path:
    """A copy of examples/custom_task as the current folder (its module imports from it)."""
    folder = tmp_path / "custom_task"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("*.db", "hpsearch-artifacts"))
    monkeypatch.chdir(folder)
    monkeypatch.setenv("HPSEARCH_ARTIFACTS", str(tmp_path / "artifacts"))
    return folder


def test_example_runs_on_two_workers_on_postgresql_to_its_budget(example, postgres_url, capsys):
    study = f"textcnn_{uuid.uuid4().hex[:8]}"
    launch = subprocess.run(
        [sys.executable, "-m", "search.cli", "launch", "--config", "study.toml"]
        + ["--study", study, "--storage", postgres_url, "--workers", "2", "--n-trials", "4"],
        cwd=example,
        env=process_env(HPSEARCH_ARTIFACTS=str(example.parent / "artifacts")),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert launch.returncode == 0, launch.stderr[-2000:]
    trials = optuna.load_study(study_name=study, storage=postgres_url).trials
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 4
    assert TrialState.RUNNING not in states
    assert {t.user_attrs["n_parameters"] for t in trials if "n_parameters" in t.user_attrs}

    # The best TextCNN comes back from its checkpoint and labels new texts, one per line.
    reviews = example / "new.txt"
    reviews.write_text("a superb and lovely film\nboring dull and awful script\n")
    code, out, err = hpsearch(
        capsys, "predict", "--study", study, "--storage", postgres_url, "--input", str(reviews)
    )
    assert code == 0, err
    assert out.splitlines() and set(out.splitlines()) <= {"positive", "negative"}
    assert len(out.splitlines()) == 2

    # It gives class probabilities (LabelPerInput), so its best two models label as one.
    code, out, err = hpsearch(
        capsys,
        "predict",
        "--study",
        study,
        "--storage",
        postgres_url,
        "--input",
        str(reviews),
        "--ensemble",
        "2",
    )
    assert code == 0, err
    assert len(out.splitlines()) == 2 and set(out.splitlines()) <= {"positive", "negative"}


def test_an_entry_point_names_a_task(tmp_path, monkeypatch):
    # What `pip install mypkg` with [project.entry-points."hpsearch.tasks"] leaves behind.
    dist = tmp_path / "mypkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mypkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[hpsearch.tasks]\ntextcnn = text_cnn:TextCNNTask\n")
    shutil.copy(EXAMPLE / "text_cnn.py", tmp_path / "text_cnn.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert task_class("textcnn").__name__ == "TextCNNTask"


HALF_TASK = """
from objectives.tasks import Task

class HalfTask(Task):
    name = "half"
    metrics = ("accuracy",)
    parameters = {}
    checkpoint_kind = "half"

not_a_task = 3
"""


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("nothere.mod:X", "task 'nothere.mod:X': module 'nothere.mod' cannot be imported"),
        ("half:Missing", "task 'half:Missing': 'half' has no 'Missing'"),
        ("half:not_a_task", "task 'half:not_a_task' is 3, not a subclass of objectives.tasks.Task"),
        (
            "half:HalfTask",
            "task 'half:HalfTask' does not implement the task interface: it lacks "
            "build_model, default_space, load, new_metrics, predict, preprocessing, rebuild_model",
        ),
        ("texcnn", "task 'texcnn' is not known; accepted: classification, ner, pos, tabular"),
    ],
)
def test_a_bad_task_reference_is_one_line_and_exit_2(
    tmp_path, monkeypatch, capsys, reference, message
):
    (tmp_path / "half.py").write_text(HALF_TASK)
    monkeypatch.chdir(tmp_path)
    code, out, err = hpsearch(capsys, "run", "--task", reference, "--storage", "sqlite:///x.db")
    assert code == 2
    assert err.startswith(f"error: {message}") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not (tmp_path / "x.db").exists()  # rejected before storage is touched
    with pytest.raises(ObjectiveError):
        task_class(reference)
