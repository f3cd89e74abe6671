"""A new study's space follows its data; the user's [space] wins; status shows why."""

from __future__ import annotations

import random

import optuna
import pytest

import search
from search._derived import DERIVED_ATTR
from search._report import build_report_data
from search._report_text import summary_lines

TINY = {
    "epochs": 1,
    "n_trials": 2,
    "space": {"hidden_size": 8, "embedding_dim": 8, "num_layers": 1, "batch_size": 64},
}


@pytest.fixture
def reviews(tmp_path):
    """A CSV of 120 texts of 3..20 tokens, a fifth of the tokens seen once."""
    rng = random.Random(0)
    words = ["good", "bad", "film", "plot", "actor", "great", "awful", "scene"]
    lines, unique = ["text,label"], 0
    for i in range(120):
        tokens = []
        for _ in range(rng.randint(3, 20)):
            unique += rng.random() < 0.2
            tokens.append(f"rare{unique}" if tokens and rng.random() < 0.2 else rng.choice(words))
        lines.append(f"{' '.join(tokens)},{'pos' if i % 2 else 'neg'}")
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def config_for(reviews, tmp_path, **space):
    layers = {**TINY, "space": {**TINY["space"], **space}}
    url = f"sqlite:///{tmp_path}/studies.db"
    return search.build_config(
        layers, {"study": "fitted", "storage": url, "task": {"data": reviews}}
    )


def test_a_new_study_stores_the_space_its_data_supports(reviews, tmp_path):
    config = config_for(reviews, tmp_path)
    assert config.to_dict()["space"]["max_length"]["choices"] == [64, 128, 256]  # unfitted
    search.run_study(config, progress=False)
    study = optuna.load_study(study_name="fitted", storage=config.storage)
    stored = study.user_attrs["hpsearch_config"]["space"]
    assert max(stored["max_length"]["choices"]) <= 20  # no text is longer than 20 tokens
    assert stored["min_freq"] == 1  # min_freq 2 would leave many training tokens unknown
    assert stored["lr"]["low"] > 1e-4  # 2 batches x 1 epoch: Adam's lowest rates cannot move
    derived = study.user_attrs[DERIVED_ATTR]
    assert derived["max_length"]["longest"] <= 20
    assert float(derived["min_freq"]["coverage"]["2"]) < 0.95
    for trial in study.trials:
        assert trial.params["max_length"] in stored["max_length"]["choices"]

    status = search.study_status("fitted", config.storage)
    assert any(line.startswith("max_length = [") for line in status["derived_space"])
    summary = summary_lines(study, build_report_data(study))
    fitted = [line for line in summary if line.startswith("Space fitted to the data: ")]
    assert len(fitted) == 1 and "; max_length = [" in fitted[0] and "p99" in fitted[0]
    # Running the same config again resumes the study (no "other settings" refusal).
    again = search.run_study(config_for(reviews, tmp_path), progress=False)
    assert again.counts["COMPLETE"] == 2
    reloaded = optuna.load_study(study_name="fitted", storage=config.storage)
    assert reloaded.user_attrs["hpsearch_config"]["space"] == stored


def test_the_fitted_space_keeps_the_known_good_values_so_they_still_run(reviews, tmp_path):
    layers = {**TINY, "known_good": [{"min_freq": 2, "max_length": 64}]}
    url = f"sqlite:///{tmp_path}/studies.db"
    config = search.build_config(
        layers, {"study": "kept", "storage": url, "task": {"data": reviews}}
    )
    search.run_study(config, progress=False, enqueue_baseline_trial=True)
    study = optuna.load_study(study_name="kept", storage=url)
    stored = study.user_attrs["hpsearch_config"]["space"]
    # Alone, the data fits min_freq to 1 and max_length to at most 20 (test above).
    assert stored["min_freq"] == {"type": "int", "low": 1, "high": 2}
    assert 64 in stored["max_length"]["choices"]
    known = next(t for t in study.trials if "known_good" in t.user_attrs)
    assert known.state == optuna.trial.TrialState.COMPLETE
    assert (known.params["min_freq"], known.params["max_length"]) == (2, 64)


def test_the_users_space_wins_over_the_data(reviews, tmp_path):
    config = config_for(
        reviews,
        tmp_path,
        max_length={"type": "categorical", "choices": [128, 256]},
        min_freq={"type": "int", "low": 2, "high": 3},
        lr={"type": "float", "low": 1e-4, "high": 1e-3, "log": True},
    )
    search.run_study(config, progress=False)
    study = optuna.load_study(study_name="fitted", storage=config.storage)
    stored = study.user_attrs["hpsearch_config"]["space"]
    assert stored["max_length"] == {"type": "categorical", "choices": [128, 256]}
    assert stored["min_freq"] == {"type": "int", "low": 2, "high": 3}
    assert stored["lr"]["low"] == 1e-4
    assert DERIVED_ATTR not in study.user_attrs


def test_status_command_prints_the_fitted_dimensions(reviews, tmp_path):
    from typer.testing import CliRunner

    from search.cli import app

    config = config_for(reviews, tmp_path)
    search.run_study(config, progress=False)
    result = CliRunner().invoke(app, ["status", "--study", "fitted", "--storage", config.storage])
    assert result.exit_code == 0, result.output
    assert "space fitted to the data: max_length = [" in result.output
    assert "p99" in result.output


def test_create_fits_the_space_before_workers_join(reviews, tmp_path, capsys):
    from tests.search.cli_helpers import hpsearch

    config = tmp_path / "tiny.toml"
    config.write_text(f'[task]\ndata = "{reviews}"\n')
    url = f"sqlite:///{tmp_path}/studies.db"
    code, _, err = hpsearch(
        capsys, "create", "--config", str(config), "--study", "c", "--storage", url
    )
    assert code == 0, err
    study = optuna.load_study(study_name="c", storage=url)
    assert max(study.user_attrs["hpsearch_config"]["space"]["max_length"]["choices"]) <= 20
    assert "max_length" in study.user_attrs[DERIVED_ATTR]
    # Creating it again from the same config resumes it as stored.
    code, out, err = hpsearch(
        capsys, "create", "--config", str(config), "--study", "c", "--storage", url
    )
    assert code == 0 and "is ready" in out, err


def test_slurm_submit_fits_the_space_of_the_study_it_creates(
    reviews, tmp_path, capsys, monkeypatch
):
    """The tasks join the study; the space they search was fitted once, at submission."""
    import search._slurm as slurm
    from tests.search.cli_helpers import hpsearch

    submitted = []

    def submit(array):
        submitted.append(array)
        return slurm.Submission(job_id="7", script_path=tmp_path / "workers.sbatch")

    monkeypatch.setattr(slurm, "require_slurm", lambda name="sbatch": name)
    monkeypatch.setattr(slurm, "submit", submit)
    config = tmp_path / "tiny.toml"
    config.write_text(f'[task]\ndata = "{reviews}"\n')
    slurm_url, created_url = (f"sqlite:///{tmp_path}/{name}.db" for name in ("slurm", "create"))
    code, out, err = hpsearch(
        capsys, "slurm", "submit", "--config", str(config), "--study", "c",
        "--storage", slurm_url,
    )  # fmt: skip
    assert code == 0 and "submitted array job 7" in out, err
    assert len(submitted) == 1
    code, _, err = hpsearch(
        capsys, "create", "--config", str(config), "--study", "c", "--storage", created_url
    )
    assert code == 0, err
    by_slurm, by_create = (
        optuna.load_study(study_name="c", storage=url).user_attrs
        for url in (slurm_url, created_url)
    )
    assert "max_length" in by_slurm[DERIVED_ATTR]
    assert by_slurm[DERIVED_ATTR] == by_create[DERIVED_ATTR]
    assert by_slurm["hpsearch_config"]["space"] == by_create["hpsearch_config"]["space"]
