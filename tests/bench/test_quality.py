"""bench/quality.py at toy size: the study keeps to its epoch budget, the baselines score."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import quality  # noqa: E402

DATASETS = Path(os.environ.get("HPSEARCH_DATASETS", quality.DEFAULT_DATASETS))
needs = pytest.mark.skipif(
    not (DATASETS / "trec").is_dir() or not (DATASETS / "ud_english_ewt").is_dir(),
    reason=f"{DATASETS} lacks trec or ud_english_ewt (set HPSEARCH_DATASETS)",
)


@needs
def test_a_tiny_budget_is_spent_exactly_and_both_sides_are_scored(tmp_path, capsys):
    args = ["--datasets", str(DATASETS), "--corpora", "trec,ud_ewt", "--budget", "3"]
    args += ["--epochs", "2", "--max-examples", "120", "--workdir", str(tmp_path)]
    assert quality.main(args) == 0
    out = capsys.readouterr().out
    rows = [quality.json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [row["corpus"] for row in rows] == ["trec", "ud_ewt"]
    for row in rows:
        # Every epoch any trial trained counts; the trial running at the budget stops there.
        assert row["study_epochs"] == 3
        assert 0.0 <= row["study_test"] <= 1.0 and 0.0 <= row["baseline_test"] <= 1.0
        assert row["test_ratio"] == pytest.approx(row["study_test"] / row["baseline_test"])
    assert [row["baseline"] for row in rows] == ["tfidf+logreg", "majority-tag"]
    # The preset's baseline trial runs first, so a best trial exists after 2 epochs.
    assert rows[0]["best_trial"] is not None
    # The ensemble of the best (up to 3) trials: classification only, the best trial first.
    assert rows[0]["ensemble_trials"][0] == rows[0]["best_trial"]
    assert 1 <= len(rows[0]["ensemble_trials"]) <= 3 and 0.0 <= rows[0]["ensemble_test"] <= 1.0
    assert rows[1]["ensemble_test"] is None  # a tagger has no probabilities per example
    table = out.split("\n\n")[-1]
    assert table.splitlines()[0].startswith("| corpus | seed | metric |")
    assert len(table.strip().splitlines()) == 4


@needs
def test_seeds_pair_the_two_sides_per_seed_and_summarise_the_difference(tmp_path, capsys):
    args = ["--datasets", str(DATASETS), "--corpora", "trec", "--budget", "2", "--epochs", "2"]
    args += ["--max-examples", "120", "--seeds", "0,1", "--workdir", str(tmp_path)]
    assert quality.main(args) == 0
    out = capsys.readouterr().out
    rows = [quality.json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(row["corpus"], row["seed"]) for row in rows] == [("trec", 0), ("trec", 1)]
    summary = out.strip().split("\n\n")[-1].splitlines()
    assert summary[0].startswith("| corpus | seeds | study test | baseline test |")
    cells = [cell.strip() for cell in summary[2].strip("|").split("|")]
    assert cells[:2] == ["trec", "2"]
    differences = [row["study_test"] - row["baseline_test"] for row in rows]
    assert float(cells[4].split(" +- ")[0]) == pytest.approx(sum(differences) / 2, abs=1e-4)
    assert cells[5] == f"{sum(d > 0 for d in differences)}/2"
    on_validation = [row["study_val"] - row["baseline_val"] for row in rows]
    assert float(cells[6].split(" +- ")[0]) == pytest.approx(sum(on_validation) / 2, abs=1e-4)
    assert cells[7] == f"{sum(d > 0 for d in on_validation)}/2"
    ensemble = [row["ensemble_test"] - row["baseline_test"] for row in rows]
    assert float(cells[8].split(" +- ")[0]) == pytest.approx(sum(ensemble) / 2, abs=1e-4)
    assert cells[9] == f"{sum(d > 0 for d in ensemble)}/2"


def test_bad_options_are_refused(capsys):
    for args, message in [
        (["--corpora", "trec,mnist"], "unknown corpus 'mnist'"),
        (["--budget", "0"], "--budget must be at least 1 trial-epoch, but got 0"),
        (["--budget", "4", "--epochs", "5"], "--epochs must be 1..--budget (4), but got 5"),
        (["--seeds", "0,x"], "--seeds must be comma-separated whole numbers, but got '0,x'"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            quality.parse_args(["--datasets", str(BENCH), *args])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
