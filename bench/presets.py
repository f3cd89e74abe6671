"""Run each preset for a fixed budget and print baseline vs best test metrics (needs a GPU).

Not a test: each preset trains for minutes to hours. Usage, from the project root:

    python bench/presets.py --datasets ../shared/datasets --n-trials 20 [--only imdb,trec]

For every preset the hand-tuned baseline runs first (``--enqueue-baseline``), then the
search; the baseline's and the best trial's models are scored once on the test split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import optuna

import search
from objectives import evaluate
from search._study import load_task

# Preset -> (training data, test data, extra config) relative to ../shared/datasets.
DATA = {
    "imdb": ("imdb/train.csv.gz", "imdb/test.csv.gz", {}),
    "ag_news": ("ag_news/test.csv.gz", None, {"folds": 5}),
    "trec": ("trec/train_5500.label", "trec/TREC_10.label", {}),
    "ner_uk": ("ner_uk/ner-uk-v2.0.train.iob.gz", "ner_uk/ner-uk-v2.0.test.iob.gz", {}),
    "conll2003": ("conll2003_en/eng.train.gz", "conll2003_en/eng.testb.gz", {}),
    "ud_pos": (
        "ud_english_ewt/en_ewt-ud-train.conllu.gz",
        "ud_english_ewt/en_ewt-ud-test.conllu.gz",
        {},
    ),
}


def test_score(study: optuna.Study, trial: optuna.trial.FrozenTrial, config) -> dict:
    """Test metrics of one trial's checkpoint (any trial that kept one)."""
    from objectives import model_from_checkpoint
    from search._checkpoints import CheckpointStore
    from storage import artifact_dir_for

    store = CheckpointStore(artifact_dir_for(config.storage) / config.study, keep=10**6)
    model, info = model_from_checkpoint(store.load(trial))
    task = load_task(config)
    test = task.view(task.test, task.resolve(info["params"]))
    metrics = evaluate(model.to("cpu"), test, metrics=task.new_metrics(test))
    metrics.pop("per_type_f1", None)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default="../shared/datasets")
    parser.add_argument("--n-trials", type=int, default=20)
    parser.add_argument("--storage", default="sqlite:///bench-presets.db")
    parser.add_argument("--only", default=",".join(DATA))
    args = parser.parse_args()
    root = Path(args.datasets)
    for name in args.only.split(","):
        train, test, extra = DATA[name]
        config = search.load_config(
            preset=name,
            data=str(root / train),
            test_data=str(root / test) if test else None,
            storage=args.storage,
            n_trials=args.n_trials,
            # Every trial keeps its checkpoint so the baseline can be scored too.
            keep_checkpoints=args.n_trials + 1,
            **extra,
        )
        search.run_study(config, progress=True, enqueue_baseline_trial=True)
        study = search.open_study(config.study, config.storage)
        baseline = next(t for t in study.trials if t.user_attrs.get("baseline"))
        best = study.best_trial
        row = {
            "preset": name,
            "baseline_val": baseline.value,
            "best_val": best.value,
            # A pruned baseline saved no model: its state says how far it got.
            "baseline_test": test_score(study, baseline, config)
            if baseline.state == optuna.trial.TrialState.COMPLETE
            else baseline.state.name,
            "best_test": test_score(study, best, config),
        }
        print(json.dumps(row))


if __name__ == "__main__":
    main()
