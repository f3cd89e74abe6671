"""Quality for a fixed budget: each corpus's preset study against a simple baseline, one process.

Not a test. For every corpus asked for (``../shared/datasets``, see its README), in one
process and on the same loaded splits:

1. the preset's study (``search.run_study`` with ``--preset``'s config, its ``[baseline]``
   and ``[[known_good]]`` trials first) runs until it has spent ``--budget`` trial-epochs
   (every epoch any trial trained counts, pruned trials' too; the trial running when the
   budget is spent is stopped there); its best trial by validation is scored on test (UD
   EWT and CoNLL-2003 are validated on their development files, as the presets advise),
   and for classification so is the ensemble of its 3 best trials (``hpsearch best
   --ensemble 3``: no more epochs, three predictions);
2. a baseline is fitted on the same splits (``bench/quality_baselines.py``): TF-IDF +
   logistic regression for classification, each word's majority tag for tagging.

It prints one JSON line per corpus, then a table: test metric, wall time and budget used of
each, and the ratios (study / baseline). Usage, from anywhere:

    nice -n 10 python bench/quality.py --corpora trec,sms_spam --budget 60
    python bench/quality.py --corpora trec --budget 12 --max-examples 500      # a quick run
    python bench/quality.py --corpora trec --seeds 0,1,2     # + mean +- std over the seeds

The study runs on the CPU with the threads ``hpsearch run`` would choose.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import optuna  # noqa: E402
import torch  # noqa: E402
from optuna.trial import TrialState  # noqa: E402
from presets import PresetData, cut_file, prepare_files, score_on_test  # noqa: E402
from quality_baselines import fit_baseline  # noqa: E402

import search  # noqa: E402
import storage  # noqa: E402
from search._checkpoints import CheckpointStore  # noqa: E402
from search._ensemble import evaluate_ensemble  # noqa: E402
from search._study import load_task  # noqa: E402
from search._worker import StopFlag  # noqa: E402

# ../shared/datasets next to the checkout; HPSEARCH_DATASETS names another place (a worktree).
DEFAULT_DATASETS = Path(os.environ.get("HPSEARCH_DATASETS", ROOT.parent / "shared" / "datasets"))
DEFAULT_BUDGET = 60
# Trials the ensemble column averages: the study's default keep_checkpoints keeps this many.
ENSEMBLE = 3


@dataclass(frozen=True)
class Corpus:
    """A corpus, the preset its study starts from, and the slice that fits a CPU.

    Attributes:
        preset: Shipped preset the study uses.
        data: Files and layout (see ``bench/presets.py``).
        max_examples: Examples kept of each file by default (``None``: all).
        validation: The corpus's development file, passed as ``validation_data`` (scores
            the trials; all of the training slice trains), or ``None``: a share of train.
    """

    preset: str
    data: PresetData
    max_examples: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    validation: str | None = None


CORPORA: dict[str, Corpus] = {
    "trec": Corpus("trec", PresetData("trec/train_5500.label", "trec/TREC_10.label", "lines")),
    # No SMS preset ships; the TREC one is the preset for short texts (max_length 64). No
    # official split: the task holds back its test fraction with the study's seed.
    "sms_spam": Corpus(
        "trec",
        PresetData("sms_spam/SMSSpamCollection", None, "lines"),
        overrides={"text_column": "1", "label_column": "0", "data_format": "table"},
    ),
    "imdb": Corpus(
        "imdb", PresetData("imdb/train.csv.gz", "imdb/test.csv.gz", "csv"), max_examples=5000
    ),
    # Only AG News's official test split is offline (7,600 rows): the task holds back its
    # test fraction of it with the study's seed, one model per trial (no folds), so the
    # numbers are not comparable with published AG News results.
    "ag_news": Corpus("ag_news", PresetData("ag_news/test.csv.gz", None, "csv_no_header")),
    "ud_ewt": Corpus(
        "ud_pos",
        PresetData(
            "ud_english_ewt/en_ewt-ud-train.conllu.gz",
            "ud_english_ewt/en_ewt-ud-test.conllu.gz",
            "blocks",
        ),
        validation="ud_english_ewt/en_ewt-ud-dev.conllu.gz",
    ),
    "conll2003": Corpus(
        "conll2003",
        PresetData("conll2003_en/eng.train.gz", "conll2003_en/eng.testb.gz", "blocks"),
        max_examples=5000,
        validation="conll2003_en/eng.testa.gz",
    ),
}


def epochs_spent(study: optuna.Study) -> int:
    """Trial-epochs trained so far: every reported epoch of every trial, any state."""
    return sum(len(t.intermediate_values) for t in study.get_trials(deepcopy=False))


class EpochBudget(StopFlag):
    """A stop flag that is set once the study has trained ``budget`` trial-epochs.

    The objective polls it at every epoch boundary, so the trial running when the budget
    is spent stops there (it is re-queued, unfinished) and no epoch beyond it is trained.
    """

    def __init__(self, study_name: str, storage_url: str, budget: int) -> None:
        super().__init__()
        self.study_name, self.storage_url, self.budget = study_name, storage_url, budget
        self._study: optuna.Study | None = None

    def spent(self) -> int:
        """Trial-epochs the study has trained (0 before it exists)."""
        if self._study is None:
            if not storage.storage_exists(self.storage_url):
                return 0
            try:
                self._study = optuna.load_study(
                    study_name=self.study_name, storage=storage.open_storage(self.storage_url)
                )
            except KeyError:
                return 0
        return epochs_spent(self._study)

    def __call__(self) -> bool:
        if not super().__call__() and self.spent() >= self.budget:
            self.set("epoch budget")
        return super().__call__()


def _ensemble(task: Any, study_name: str, storage_url: str, size: int) -> dict[str, Any] | None:
    """The study's best ``size`` trials averaged (``hpsearch best --ensemble``), scored on
    validation and test; ``None`` for taggers (no probabilities per example) or no trials."""
    if size < 1 or task.name != "classification":
        return None
    return evaluate_ensemble(study_name, storage_url, size, test=True, task=task)


def run_corpus(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The preset study and the baseline on one corpus; returns its result row."""
    corpus = CORPORA[name]
    max_examples = args.max_examples or corpus.max_examples
    train, test = prepare_files(corpus.data, args.datasets, workdir / name, max_examples, args.seed)
    validation = None
    if corpus.validation is not None:
        validation = args.datasets / corpus.validation
        if not validation.is_file():
            raise FileNotFoundError(f"{validation} is missing; pass --datasets DIR")
        if max_examples is not None:
            folder = workdir / name / "validation"
            folder.mkdir(parents=True, exist_ok=True)
            validation = cut_file(
                validation, folder / validation.name, corpus.data.layout, max_examples, args.seed
            )
    study_name = f"quality-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    storage_url = f"sqlite:///{workdir / name}.db"
    epochs = args.epochs
    config = search.load_config(
        preset=corpus.preset,
        data=str(train),
        test_data=str(test) if test else None,
        validation_data=str(validation) if validation else None,
        study=study_name,
        storage=storage_url,
        # What a user with this budget would ask for; extended below when pruning saved epochs.
        n_trials=max(1, args.budget // epochs),
        epochs=epochs,
        device="cpu",
        seed=args.seed,
        **corpus.overrides,
    )
    started = time.monotonic()
    task = load_task(config)  # once: the study and the baseline read the same splits
    load_seconds = time.monotonic() - started

    budget = EpochBudget(study_name, storage_url, args.budget)
    study_started = time.monotonic()
    summary = search.run_study(
        config, progress=False, data=task, stop=budget, enqueue_baseline_trial=True
    )
    while summary.worker.stopped_by == "budget" and (spent := budget.spent()) < args.budget:
        # Pruned trials left epochs unspent: a user would extend the trial budget.
        more = max(1, (args.budget - spent) // epochs)
        config = dataclasses.replace(config, n_trials=(config.n_trials or 0) + more)
        summary = search.run_study(
            config, progress=False, data=task, stop=budget, update_config=True
        )
    study_seconds = time.monotonic() - study_started
    study = search.open_study(study_name, storage_url)
    metric = config.metric[0]
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if complete else None
    checkpoints = CheckpointStore(storage.artifact_dir_for(storage_url) / study_name)
    study_test = score_on_test(task, best, checkpoints, "cpu")[metric] if best else None
    ensemble = _ensemble(task, study_name, storage_url, min(ENSEMBLE, len(complete)))

    baseline = fit_baseline(task, metric, threads=torch.get_num_threads())
    base_test = baseline.test[metric]
    return {
        "corpus": name,
        "preset": corpus.preset,
        "metric": metric,
        "n_train": len(task.train),
        "n_validation": len(task.validation),
        "n_test": len(task.test),
        "budget": args.budget,
        "epochs_per_trial": epochs,
        "study_test": study_test,
        "study_val": best.value if best else None,
        "study_s": round(study_seconds, 1),
        "study_epochs": epochs_spent(study),
        "trials": len(complete),
        "pruned": sum(t.state == TrialState.PRUNED for t in study.trials),
        "best_trial": best.number if best else None,
        "best_attrs": {
            k: v
            for k, v in (best.user_attrs if best else {}).items()
            if k in ("baseline", "known_good")
        },
        "best_params": best.params if best else None,
        "baseline": baseline.name,
        "baseline_test": base_test,
        "baseline_val": baseline.validation,
        "baseline_s": round(baseline.seconds, 2),
        "baseline_fits": baseline.fits,
        "ensemble_trials": ensemble and ensemble["trials"],
        "ensemble_val": ensemble and ensemble["validation"][metric],
        "ensemble_test": ensemble and ensemble["test"][metric],
        "test_ratio": study_test / base_test if study_test is not None and base_test else None,
        "time_ratio": study_seconds / baseline.seconds if baseline.seconds else None,
        "load_s": round(load_seconds, 1),
    }


_COLUMNS = (
    ("corpus", "corpus", "{}"),
    ("seed", "seed", "{}"),
    ("metric", "metric", "{}"),
    ("n_train", "train", "{}"),
    ("n_test", "test", "{}"),
    ("study_test", "study test", "{:.4f}"),
    ("ensemble_test", "ensemble test", "{:.4f}"),
    ("study_s", "study s", "{:.0f}"),
    ("study_epochs", "epochs", "{}"),
    ("trials", "done", "{}"),
    ("pruned", "pruned", "{}"),
    ("baseline", "baseline", "{}"),
    ("baseline_test", "base test", "{:.4f}"),
    ("baseline_s", "base s", "{:.1f}"),
    ("baseline_fits", "fits", "{}"),
    ("test_ratio", "test ratio", "{:.3f}"),
    ("time_ratio", "time ratio", "{:.0f}"),
)


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of result rows (``-`` where a value is missing)."""
    lines = [
        "| " + " | ".join(title for _, title, _ in _COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['corpus']} | ERROR: {row['error']} |")
            continue
        cells = ["-" if row.get(key) is None else fmt.format(row[key]) for key, _, fmt in _COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument(
        "--corpora",
        default="trec,sms_spam",
        help=f"comma-separated corpora (default: trec,sms_spam; accepted: {','.join(CORPORA)})",
    )
    parser.add_argument(
        "--budget",
        type=int,
        default=DEFAULT_BUDGET,
        help="trial-epochs the study may train per corpus (every epoch of every trial)",
    )
    parser.add_argument("--epochs", type=int, default=5, help="epochs per trial (at most)")
    parser.add_argument(
        "--max-examples",
        type=int,
        default=None,
        help="keep a random N examples of each data file (default: each corpus's own slice: "
        "imdb and conll2003 5000, the others all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the studies and the cuts")
    parser.add_argument(
        "--seeds",
        default=None,
        help="comma-separated seeds, one run of each corpus per seed, then the mean +- std "
        "of each side and of their paired difference (default: --seed alone)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="default: a new temp folder")
    args = parser.parse_args(argv)
    unknown = [name for name in args.corpora.split(",") if name not in CORPORA]
    if unknown:
        parser.error(f"--corpora: unknown corpus {unknown[0]!r}; accepted: {', '.join(CORPORA)}")
    if args.budget < 1:
        parser.error(f"--budget must be at least 1 trial-epoch, but got {args.budget}")
    if not 1 <= args.epochs <= args.budget:
        parser.error(f"--epochs must be 1..--budget ({args.budget}), but got {args.epochs}")
    if args.max_examples is not None and args.max_examples < 10:
        parser.error(f"--max-examples must be at least 10, but got {args.max_examples}")
    if not args.datasets.is_dir():
        parser.error(f"--datasets: {args.datasets} is not a folder")
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    except ValueError:
        parser.error(f"--seeds must be comma-separated whole numbers, but got {args.seeds!r}")
    return args


def format_seed_summary(rows: list[dict[str, Any]]) -> str:
    """Per corpus over its seeds: mean +- std of study and baseline test, and of the
    paired difference (same seed, same splits), with the seeds the study won; then the
    same difference on the validation split both chose on (a study ahead there and behind
    on test chose partly for luck), and the test difference of the study's ensemble of its
    best trials (``hpsearch best --ensemble``; ``-`` where a seed has none)."""
    lines = [
        "| corpus | seeds | study test | baseline test | study - baseline | study ahead "
        "| validation: study - baseline | ahead | ensemble - baseline | ensemble ahead |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for corpus in dict.fromkeys(row["corpus"] for row in rows):
        done = [r for r in rows if r["corpus"] == corpus and r.get("study_test") is not None]
        if not done:
            continue
        study = [r["study_test"] for r in done]
        base = [r["baseline_test"] for r in done]
        diff = [a - b for a, b in zip(study, base, strict=True)]
        cells = [_mean_std(study), _mean_std(base), _mean_std(diff, signed=True)]
        ahead = sum(d > 0 for d in diff)
        val_diff = [r["study_val"] - r["baseline_val"] for r in done]
        val_ahead = sum(d > 0 for d in val_diff)
        ensemble = [r["ensemble_test"] for r in done if r.get("ensemble_test") is not None]
        ensemble_cells = "- | -"
        if len(ensemble) == len(done):
            ens_diff = [e - b for e, b in zip(ensemble, base, strict=True)]
            ensemble_cells = (
                f"{_mean_std(ens_diff, signed=True)} | {sum(d > 0 for d in ens_diff)}/{len(done)}"
            )
        lines.append(
            f"| {corpus} | {len(done)} | {' | '.join(cells)} | {ahead}/{len(done)} "
            f"| {_mean_std(val_diff, signed=True)} | {val_ahead}/{len(done)} | {ensemble_cells} |"
        )
    return "\n".join(lines)


def _mean_std(values: list[float], *, signed: bool = False) -> str:
    mean = statistics.fmean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:{'+' if signed else ''}.4f} +- {spread:.4f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from search._threads import configure_threads

    configure_threads(None)  # as `hpsearch run` does
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="bench-quality-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}; {workdir}",
        file=sys.stderr,
    )
    # A missing file or a bad setting costs one corpus its row, not the others theirs.
    expected: tuple[type[Exception], ...] = (FileNotFoundError, *search.USER_ERRORS)
    rows = []
    for seed in args.seed_list:
        seeded = argparse.Namespace(**{**vars(args), "seed": seed})
        folder = workdir / f"seed{seed}" if len(args.seed_list) > 1 else workdir
        folder.mkdir(parents=True, exist_ok=True)
        for name in args.corpora.split(","):
            try:
                row = {**run_corpus(name, seeded, folder), "seed": seed}
            except expected as exc:
                row = {"corpus": name, "seed": seed, "error": f"{type(exc).__name__}: {exc}"}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(format_table(rows))
    if len(args.seed_list) > 1:
        print()
        print(format_seed_summary(rows))
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
