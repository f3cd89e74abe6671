"""Each shipped preset for a fixed wall-clock budget: hand-tuned baseline vs the study's best.

Not a test: with the default budget every preset searches for 15 minutes. For every preset
(``search/presets/*.toml``) on its real data (``../shared/datasets``, see its README):

1. a new study is created (its own name, in its own SQLite file of a work folder, or in
   ``--storage``), so nothing is resumed from an earlier run;
2. the preset's ``[baseline]`` runs alone first (``enqueue_baseline_trial``) and its model is
   scored on the test split at once (the study then keeps only its best few checkpoints);
3. the search goes on until the preset's trial budget is reached or the wall-clock budget
   (``--minutes``, the study's ``timeout``) is spent; the best trial is scored on test.

The budget is the product's ``timeout``: no new trial starts after it, but the trial that is
running then finishes, so ``search_s`` can exceed it by up to one trial. Data loading and
test scoring are outside it (``load_s``; ``wall_s`` is everything for that preset).

Usage, from anywhere (the project root is put on ``sys.path``):

    python bench/presets.py --minutes 15 --device cuda                 # the real run (a GPU)
    python bench/presets.py --minutes 1 --epochs 2 --max-examples 1000 --device cpu   # smoke
    python bench/presets.py --only imdb,trec --n-trials 200 --storage sqlite:///bench.db

Every preset prints one JSON line when it ends; a table of all of them follows at the end.
The tabular preset has no real CSV among the datasets: scikit-learn's bundled breast-cancer
set (569 rows, 30 numeric features, 2 classes) is written to a CSV in the work folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import random
import re
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402

import search  # noqa: E402
import storage  # noqa: E402
from objectives import Task, evaluate, model_from_checkpoint  # noqa: E402
from search._checkpoints import CheckpointStore  # noqa: E402
from search._study import load_task, resolve_device  # noqa: E402

DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets"

Layout = Literal["csv", "csv_no_header", "lines", "blocks", "sklearn"]


@dataclass(frozen=True)
class PresetData:
    """Where a preset's data lies (relative to the datasets folder) and how it is laid out.

    Attributes:
        train: Training file (the validation split is taken from it).
        test: Test file, or ``None`` when the preset holds back a share of ``train``.
        layout: What one example is, for ``--max-examples``: a CSV row (with or without a
            header), a line, or a blank-line separated block (one tagged sentence);
            ``sklearn`` names a scikit-learn bundled set that is written to a CSV.
        overrides: Config keys this data needs besides the preset's (``load_config``).
    """

    train: str
    test: str | None
    layout: Layout
    overrides: dict[str, Any] = field(default_factory=dict)


DATA: dict[str, PresetData] = {
    "imdb": PresetData("imdb/train.csv.gz", "imdb/test.csv.gz", "csv"),
    # Only the official test split is offline: 5-fold cross-validation, 20% held back for
    # test; a trial's checkpoint (scored on test) is its first fold's model.
    "ag_news": PresetData("ag_news/test.csv.gz", None, "csv_no_header", {"folds": 5}),
    "trec": PresetData("trec/train_5500.label", "trec/TREC_10.label", "lines"),
    "ner_uk": PresetData(
        "ner_uk/ner-uk-v2.0.train.iob.gz", "ner_uk/ner-uk-v2.0.test.iob.gz", "blocks"
    ),
    "conll2003": PresetData("conll2003_en/eng.train.gz", "conll2003_en/eng.testb.gz", "blocks"),
    "ud_pos": PresetData(
        "ud_english_ewt/en_ewt-ud-train.conllu.gz",
        "ud_english_ewt/en_ewt-ud-test.conllu.gz",
        "blocks",
    ),
    "tabular": PresetData("breast_cancer", None, "sklearn"),
}

_BLANK_LINES = re.compile(rb"\r?\n[ \t]*\r?\n")
_DOCSTART = b"-DOCSTART-"


def _sample(n_rows: int, keep: int, seed: int) -> list[int]:
    """``keep`` row numbers out of ``n_rows``, chosen at random, in file order."""
    return sorted(random.Random(seed).sample(range(n_rows), keep))


def cut_file(source: Path, target: Path, layout: Layout, max_examples: int, seed: int) -> Path:
    """A copy of ``source`` at ``target`` with at most ``max_examples`` random examples.

    The file name is kept (readers tell formats from it) and so is gzip compression.
    Returns ``source`` itself when it has no more examples than that.
    """
    import pandas as pd

    target.parent.mkdir(parents=True, exist_ok=True)
    if layout in ("csv", "csv_no_header"):
        header: int | None = 0 if layout == "csv" else None
        frame = pd.read_csv(source, header=header)
        if len(frame) <= max_examples:
            return source
        frame = frame.iloc[_sample(len(frame), max_examples, seed)]
        frame.to_csv(target, index=False, header=layout == "csv")  # gzip from the suffix
        return target
    opener: Any = gzip.open if source.name.endswith(".gz") else open
    with opener(source, "rb") as handle:
        raw = handle.read()
    if layout == "lines":
        records = [line for line in raw.splitlines() if line.strip()]
        separator = b"\n"
    else:
        # CoNLL-2003's `-DOCSTART-` blocks separate documents: they are not sentences.
        records = [
            block
            for block in _BLANK_LINES.split(raw.strip())
            if block.strip() and not block.startswith(_DOCSTART)
        ]
        separator = b"\n\n"
    if len(records) <= max_examples:
        return source
    kept = [records[i] for i in _sample(len(records), max_examples, seed)]
    with opener(target, "wb") as handle:
        handle.write(separator.join(kept) + b"\n")
    return target


def write_sklearn_csv(name: str, target: Path) -> Path:
    """scikit-learn's bundled set ``name`` as a CSV with a ``label`` column of class names."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.data.copy()
    frame["label"] = [str(bunch.target_names[i]) for i in bunch.target]
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(target, index=False)
    return target


def prepare_files(
    spec: PresetData, datasets: Path, folder: Path, max_examples: int | None, seed: int
) -> tuple[Path, Path | None]:
    """The preset's training and test files, cut to ``max_examples`` examples each if given."""
    if spec.layout == "sklearn":
        files: list[Path | None] = [write_sklearn_csv(spec.train, folder / f"{spec.train}.csv")]
        layout: Layout = "csv"
    else:
        files = [datasets / spec.train, datasets / spec.test if spec.test else None]
        layout = spec.layout
    for path in files:
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"{path} is missing; pass --datasets DIR")
    if max_examples is not None:
        files = [
            None if path is None else cut_file(path, folder / path.name, layout, max_examples, seed)
            for path in files
        ]
    train, test = (files + [None])[:2]
    assert train is not None
    return train, test


def score_on_test(
    task: Task, trial: FrozenTrial, checkpoints: CheckpointStore, device: str
) -> dict[str, float]:
    """Test metrics of a completed trial's saved model (as ``hpsearch best --evaluate-test``)."""
    model, info = model_from_checkpoint(checkpoints.load(trial))
    test = task.view(task.test, task.resolve(info["params"])).to(device)
    metrics = evaluate(model.to(device), test, metrics=task.new_metrics(test))
    metrics.pop("per_type_f1", None)
    return {key: float(value) for key, value in metrics.items()}


def run_preset(name: str, args: argparse.Namespace, workdir: Path, stamp: str) -> dict[str, Any]:
    """Run one preset's baseline and search; returns its result row."""
    started = time.monotonic()
    spec = DATA[name]
    train, test = prepare_files(spec, args.datasets, workdir / name, args.max_examples, args.seed)
    storage_url = args.storage or f"sqlite:///{workdir / name}.db"
    config = search.load_config(
        preset=name,
        data=str(train),
        test_data=str(test) if test else None,
        study=f"bench-{name}-{stamp}",
        storage=storage_url,
        n_trials=args.n_trials,
        epochs=args.epochs,
        timeout=args.minutes * 60,
        device=args.device,
        seed=args.seed,
        **spec.overrides,
    )
    budget = args.minutes * 60
    # Resolved once, so training and test scoring use the same GPU under `auto`.
    device = resolve_device(config.device)
    config = dataclasses.replace(config, device=device)
    task = load_task(config)  # loaded once; every run_study below reuses it
    load_seconds = time.monotonic() - started
    checkpoints = CheckpointStore(
        storage.artifact_dir_for(config.storage) / config.study, keep=config.keep_checkpoints
    )
    progress = sys.stderr.isatty()

    # The baseline alone first: scored before later trials can push its checkpoint out.
    first = search.run_study(
        dataclasses.replace(config, n_trials=1),
        progress=progress,
        data=task,
        enqueue_baseline_trial=True,
    )
    study = search.open_study(config.study, config.storage)
    baseline = next(t for t in study.trials if t.user_attrs.get("baseline"))
    baseline_test = (
        score_on_test(task, baseline, checkpoints, device)
        if baseline.state == TrialState.COMPLETE
        else None
    )
    summary, search_seconds = first, first.worker.seconds
    if budget - search_seconds > 0:  # the rest of the budget (stored as the study's timeout)
        summary = search.run_study(
            dataclasses.replace(config, timeout=budget - search_seconds),
            progress=progress,
            data=task,
        )
        search_seconds += summary.worker.seconds

    study = search.open_study(config.study, config.storage)
    metric = config.metric[0]
    best = study.best_trial if summary.counts["COMPLETE"] else None
    best_test = None
    if best is not None:
        same = best.number == baseline.number
        best_test = baseline_test if same else score_on_test(task, best, checkpoints, device)
    return {
        "preset": name,
        "task": config.task.name,
        "metric": metric,
        "n_train": len(task.train),
        "n_validation": len(task.validation),
        "n_test": len(task.test),
        "folds": config.folds,
        "epochs": config.epochs,
        "baseline_state": baseline.state.name,
        "baseline_val": baseline.value,
        "baseline_test": baseline_test[metric] if baseline_test else None,
        "best_trial": best.number if best is not None else None,
        "best_is_baseline": best is not None and best.number == baseline.number,
        "best_val": best.value if best is not None else None,
        "best_test": best_test[metric] if best_test else None,
        "complete": summary.counts["COMPLETE"],
        "pruned": summary.counts["PRUNED"],
        "failed": summary.counts["FAIL"],
        "stopped_by": summary.worker.stopped_by,
        "budget_s": budget,
        "load_s": round(load_seconds, 1),
        "search_s": round(search_seconds, 1),
        "wall_s": round(time.monotonic() - started, 1),
        "device": device,
        "study": config.study,
        "storage": storage.mask_password(config.storage),
        "baseline_test_metrics": baseline_test,
        "best_test_metrics": best_test,
        "best_params": best.params if best is not None else None,
    }


_COLUMNS = (
    ("preset", "preset", "{}"),
    ("metric", "metric", "{}"),
    ("n_train", "train", "{}"),
    ("n_test", "test", "{}"),
    ("baseline_val", "base val", "{:.4f}"),
    ("baseline_test", "base test", "{:.4f}"),
    ("best_val", "best val", "{:.4f}"),
    ("best_test", "best test", "{:.4f}"),
    ("best_trial", "best#", "{}"),
    ("complete", "done", "{}"),
    ("pruned", "pruned", "{}"),
    ("failed", "failed", "{}"),
    ("stopped_by", "stop", "{}"),
    ("search_s", "search s", "{:.0f}"),
    ("wall_s", "wall s", "{:.0f}"),
)


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of result rows (``-`` where a value is missing)."""
    cells = [[title for _, title, _ in _COLUMNS]]
    for row in rows:
        if "error" in row:
            cells.append([row["preset"], f"ERROR: {row['error']}"])
            continue
        cells.append(
            ["-" if row.get(key) is None else fmt.format(row[key]) for key, _, fmt in _COLUMNS]
        )
    full = [line for line in cells if len(line) == len(_COLUMNS)]
    widths = [max(len(line[i]) for line in full) for i in range(len(_COLUMNS))]
    lines = []
    for line in cells:
        if len(line) < len(_COLUMNS):  # an error row: one free-text cell after the name
            lines.append(f"{line[0]:<{widths[0]}}  {line[1]}")
        else:
            # Names left-aligned, numbers right-aligned.
            aligned = [
                f"{cell:<{width}}" if i < 2 else f"{cell:>{width}}"
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            ]
            lines.append("  ".join(aligned))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--datasets", type=Path, default=DEFAULT_DATASETS, help="folder of the shared datasets"
    )
    parser.add_argument(
        "--only",
        default=",".join(DATA),
        help=f"comma-separated presets to run (default: all: {','.join(DATA)})",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=15.0,
        help="wall-clock search budget per preset, baseline included (the study's timeout)",
    )
    parser.add_argument(
        "--n-trials",
        type=int,
        default=None,
        help="trial budget per preset (default: the preset's n_trials); the search stops at "
        "whichever of the two budgets is reached first",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs per trial (default: the preset's)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--max-examples",
        type=int,
        default=None,
        help="keep a random N examples (rows or sentences) of each data file, for a smoke run; "
        "the product has no such setting, so cut copies are written to the work folder",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the studies and the cuts")
    parser.add_argument(
        "--storage",
        default=None,
        help="one storage URL for every preset's study (default: a SQLite file per preset "
        "in the work folder); study names carry the start time, so nothing is resumed",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="folder for studies, checkpoints and cut data (default: a new temporary folder)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every trial (Optuna INFO)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.only.split(",") if name not in DATA]
    if unknown:
        parser.error(f"--only: unknown preset {unknown[0]!r}; accepted: {', '.join(DATA)}")
    needs_files = any(DATA[name].layout != "sklearn" for name in args.only.split(","))
    if needs_files and not args.datasets.is_dir():
        parser.error(f"--datasets: {args.datasets} is not a folder (see --help)")
    if args.minutes <= 0:
        parser.error(f"--minutes must be positive, but got {args.minutes}")
    if args.max_examples is not None and args.max_examples < 10:
        parser.error(f"--max-examples must be at least 10, but got {args.max_examples}")
    try:  # the same device for every preset: a bad one is refused before any work
        resolve_device(search.load_config(device=args.device).device)
    except search.ConfigError as exc:
        parser.error(f"--device: {exc}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.verbose:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-presets-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    print(f"# work folder: {workdir}", file=sys.stderr)
    rows = []
    for name in args.only.split(","):
        try:
            row = run_preset(name, args, workdir.resolve(), stamp)
        except Exception as exc:  # one broken preset must not cost the others' results
            if not isinstance(exc, search.USER_ERRORS):
                traceback.print_exc()
            row = {"preset": name, "error": f"{type(exc).__name__}: {exc}"}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(format_table(rows))
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
