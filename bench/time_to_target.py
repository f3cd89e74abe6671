"""Time to target on IMDB: best validation and test accuracy against wall-clock time.

One run gives each variant the same wall-clock budget, one after another, each in a fresh
SQLite study. Every variant uses the ``imdb`` preset's search space and queues its hand-tuned
``[baseline]`` as the first trial:

- **plain**: one worker, no pruning (``nop`` pruner). Every ratio is taken against it.
- **pruned**: one worker with the preset's pruner (median: 5 startup trials, 2 warm-up epochs).
- **packed**: K workers on the same device (``--workers K``), with the same pruner.

Each variant runs as ``hpsearch launch``, so worker start-up and data loading count against
its budget, as they do for a user. ``--timeout`` only stops workers from starting new trials.
At the deadline this script sends SIGTERM to the launcher: each worker finishes its current
epoch, re-queues its trial and exits. Only trials that completed before the deadline count.

For each variant the script reports:

- the best validation accuracy at every checkpoint (``--every``), taken from the trials'
  ``datetime_complete``;
- when a completed trial first reached ``--target``;
- trials finished (complete and pruned) and epochs trained, per hour;
- the test accuracy of the best trial, scored once on the test split.

Ratios are to ``plain`` in the same run. It prints a table, then one JSON line per variant.

Usage:
    python bench/time_to_target.py --minutes 20 --device cuda      # the goal; runs ~1 h
    python bench/time_to_target.py --minutes 2 --docs 1500 --epochs 3 --device cpu \
        --workers 2 --threads 1 --every 30                           # smoke run, ~10 min
    python bench/time_to_target.py --variants packed --workers 8 --mps --minutes 4 \
        --device cuda --json-out ttt.json                            # one variant only

On a CPU that other jobs share, pass --threads 1: a worker given every core runs several
times slower as soon as another process competes for them.

Data: ../shared/datasets/imdb/{train,test}.csv.gz (or --data-dir DIR), read in place. With
--docs N, N reviews sampled from each file are written to the work folder and used instead.
The studies, checkpoints and launcher logs stay in the work folder (--workdir, default a new
temporary folder): ``hpsearch status --study imdb-plain --storage sqlite:///DIR/plain.db``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from search import StudyConfig

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "imdb"
# After SIGTERM a worker finishes its current epoch; an epoch of the slowest configuration on
# the full data must fit in this, or the launcher's process group is killed.
STOP_GRACE_SECONDS = 600
# With a time budget the trial count must never be what stops a study.
UNLIMITED_TRIALS = 10**6
VARIANT_NAMES = ("plain", "pruned", "packed")


@dataclass(frozen=True)
class Variant:
    """One way to spend the budget."""

    name: str
    workers: int
    pruner: dict[str, Any] | None  # None: the preset's pruner


@dataclass
class Outcome:
    """What one variant reached within its budget."""

    variant: Variant
    config: StudyConfig
    started: datetime
    budget_s: float
    trials: list[FrozenTrial]
    last_line: str
    test_accuracy: float | None = None
    ratios: dict[str, float | None] = field(default_factory=dict)

    @property
    def deadline(self) -> datetime:
        return self.started + timedelta(seconds=self.budget_s)

    def seconds(self, moment: datetime) -> float:
        return (moment - self.started).total_seconds()

    def in_budget(self, state: str) -> list[FrozenTrial]:
        """Trials in ``state`` (a ``TrialState`` name) that ended before the deadline."""
        return [
            t
            for t in self.trials
            if t.state.name == state
            and t.datetime_complete is not None
            and t.datetime_complete <= self.deadline
        ]

    @property
    def best(self) -> FrozenTrial | None:
        complete = self.in_budget("COMPLETE")
        return max(complete, key=lambda t: t.value or 0.0) if complete else None

    def best_value_at(self, seconds: float) -> float | None:
        moment = self.started + timedelta(seconds=seconds)
        values = [
            t.value
            for t in self.in_budget("COMPLETE")
            if t.datetime_complete is not None and t.datetime_complete <= moment
        ]
        return max(v for v in values if v is not None) if values else None

    def time_to(self, target: float) -> float | None:
        """Seconds from launch until a completed trial first reached ``target``."""
        reached = [
            self.seconds(t.datetime_complete)
            for t in self.in_budget("COMPLETE")
            if t.datetime_complete is not None and (t.value or 0.0) >= target
        ]
        return min(reached) if reached else None

    @property
    def finished(self) -> int:
        return len(self.in_budget("COMPLETE")) + len(self.in_budget("PRUNED"))

    @property
    def epochs(self) -> int:
        done = self.in_budget("COMPLETE") + self.in_budget("PRUNED") + self.in_budget("FAIL")
        return sum(int(t.user_attrs.get("epochs_run", 0)) for t in done)

    @property
    def interrupted(self) -> int:
        """Trials cut at the deadline (failed as ``interrupted`` and re-queued)."""
        return sum(1 for t in self.trials if t.user_attrs.get("fail_reason") == "interrupted")

    @property
    def startup_s(self) -> float | None:
        """Seconds from launch until the first trial started (imports, data, CUDA context)."""
        starts = [t.datetime_start for t in self.trials if t.datetime_start is not None]
        return self.seconds(min(starts)) if starts else None

    def per_hour(self, count: int) -> float:
        return count * 3600.0 / self.budget_s


def prepare_data(data_dir: Path, docs: int, workdir: Path) -> tuple[Path, Path]:
    """The training and test CSVs: the originals, or ``docs`` sampled rows of each."""
    train, test = data_dir / "train.csv.gz", data_dir / "test.csv.gz"
    if docs == 0:
        return train, test
    import pandas as pd

    sampled = []
    for path in (train, test):
        frame = pd.read_csv(path)
        out = workdir / f"{path.name.removesuffix('.csv.gz')}-{docs}.csv.gz"
        frame.sample(n=min(docs, len(frame)), random_state=0).to_csv(out, index=False)
        sampled.append(out)
    return sampled[0], sampled[1]


def variant_config(
    variant: Variant, args: argparse.Namespace, train: Path, test: Path, workdir: Path
) -> StudyConfig:
    """The ``imdb`` preset with this variant's pruner, budget and storage."""
    import search

    database = workdir / f"{variant.name}.db"
    if database.exists():
        raise SystemExit(f"{database} exists; each variant needs a fresh study (new --workdir)")
    return search.load_config(
        preset="imdb",
        data=str(train),
        test_data=str(test),
        study=f"imdb-{variant.name}",
        storage=f"sqlite:///{database}",
        n_trials=UNLIMITED_TRIALS,
        timeout=args.minutes * 60,
        epochs=args.epochs,
        device=args.device,
        cuda_graphs=args.cuda_graphs,
        seed=args.seed,
        # The best trial within the budget keeps its checkpoint even if every worker
        # completes a better one while stopping.
        keep_checkpoints=variant.workers + 3,
        pruner=variant.pruner,
    )


def launch_command(variant: Variant, config: StudyConfig, device: str, mps: bool) -> list[str]:
    """``hpsearch launch`` for the variant's study, pinned to the benchmark's device."""
    command = [sys.executable, "-m", "search.cli", "launch", "--study", config.study]
    command += ["--storage", config.storage, "--timeout", str(config.timeout)]
    if device.startswith("cuda"):
        gpu = device.partition(":")[2] or "0"
        command += ["--gpus", gpu, "--workers-per-gpu", str(variant.workers)]
        return command + (["--mps"] if mps and variant.workers > 1 else [])
    return command + ["--workers", str(variant.workers)]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the launcher (it passes it on); kill its process group if it hangs.

    Killed workers leave their trials RUNNING, so a hang (or a second Ctrl-C) ends the run.
    """
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise SystemExit(
            f"the launcher did not stop within {STOP_GRACE_SECONDS} s of SIGTERM; killed it"
        ) from None
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def run_variant(
    variant: Variant, config: StudyConfig, args: argparse.Namespace, workdir: Path
) -> Outcome:
    """Create the study, queue the baseline, launch the workers and stop them at the deadline."""
    import search

    search.create_study(config, enqueue_baseline=True)
    budget_s = float(config.timeout or 0)
    log_path = workdir / f"{variant.name}.log"
    # The workers must import this checkout, not another installed copy of the package.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)  # the launcher keeps a value it is given
    print(f"[{variant.name}] {variant.workers} worker(s) for {budget_s:.0f} s; log {log_path}")
    with open(log_path, "wb") as log:
        started = datetime.now()
        process = subprocess.Popen(
            launch_command(variant, config, args.device, args.mps),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so a hung launcher can be killed whole
        )
        try:
            process.wait(timeout=budget_s)
        except subprocess.TimeoutExpired:
            pass
        finally:
            _stop(process)
    lines = log_path.read_text(errors="replace").splitlines()
    progress = [line for line in lines if line.startswith(f"[{config.study}]")]
    if process.returncode != 0:
        tail = "\n".join(lines[-20:])
        raise SystemExit(f"[{variant.name}] launcher exited with {process.returncode}:\n{tail}")
    trials = search.open_study(config.study, config.storage).get_trials(deepcopy=False)
    return Outcome(variant, config, started, budget_s, trials, progress[-1] if progress else "")


def test_accuracy(config: StudyConfig, trial: FrozenTrial, data: Any, device: str) -> float:
    """Accuracy of ``trial``'s checkpoint on the test split, scored once.

    Not :func:`search.evaluate_best_on_test`: that scores the study's best trial, which may
    be one a worker completed after the deadline.
    """
    from objectives import evaluate, model_from_checkpoint
    from search._checkpoints import CheckpointStore
    from search._study import load_task
    from storage import artifact_dir_for

    store = CheckpointStore(artifact_dir_for(config.storage) / config.study)
    model, info = model_from_checkpoint(store.load(trial))
    task = load_task(config, data)
    test = task.view(task.test, task.resolve(info["params"])).to(device)
    metrics = evaluate(model.to(device), test, metrics=task.new_metrics(test))
    return float(metrics["accuracy"])


def _ratio(value: float | None, baseline: float | None) -> float | None:
    return value / baseline if value is not None and baseline else None


def add_ratios(outcomes: list[Outcome], target: float) -> None:
    """Trials/h and epochs/h as multiples of ``plain``; time to target as its speed-up."""
    plain = next((o for o in outcomes if o.variant.name == "plain"), None)
    if plain is None:
        return
    for outcome in outcomes:
        outcome.ratios = {
            "trials_per_hour": _ratio(outcome.finished, plain.finished),
            "epochs_per_hour": _ratio(outcome.epochs, plain.epochs),
            "time_to_target_speedup": _ratio(plain.time_to(target), outcome.time_to(target)),
        }


def _fmt(value: float | None, spec: str = ".4f", missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def _fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"x{value:.2f}"


def print_report(outcomes: list[Outcome], every_s: float, target: float) -> list[dict[str, Any]]:
    """The validation curve per checkpoint, one summary row per variant, then JSON lines.

    Returns:
        The JSON records, one per variant.
    """
    names = [
        o.variant.name + (f" x{o.variant.workers}" if o.variant.workers > 1 else "")
        for o in outcomes
    ]
    budget_s = max(o.budget_s for o in outcomes)
    checkpoints = [every_s * k for k in range(1, int(budget_s // every_s) + 1)]
    if not checkpoints or checkpoints[-1] < budget_s:
        checkpoints.append(budget_s)
    print("\nbest validation accuracy so far (minutes since launch; - = nothing completed yet)")
    print(f"{'min':>7}" + "".join(f"{name:>13}" for name in names))
    for seconds in checkpoints:
        row = "".join(f"{_fmt(o.best_value_at(seconds)):>13}" for o in outcomes)
        print(f"{seconds / 60:>7.1f}{row}")

    print(
        f"\n{'variant':<11}{'done':>5}{'compl':>6}{'pruned':>7}{'cut':>4}{'trials/h':>15}"
        f"{'epochs/h':>16}{'start s':>8}{f'val>={target:g} at':>16}{'best val':>9}"
        f"{'test acc':>9}  best trial"
    )
    for name, o in zip(names, outcomes, strict=True):
        best = o.best
        reached = o.time_to(target)
        speedup = o.ratios.get("time_to_target_speedup")
        reached_text = "-" if reached is None else f"{reached / 60:.1f} min {_fmt_ratio(speedup)}"
        trial_text = "-"
        if best is not None:
            params = best.params
            trial_text = (
                f"#{best.number} {params.get('cell')}-{params.get('hidden_size')} "
                f"lr={params.get('lr', 0):.2g} bs={params.get('batch_size')}"
                + (" (baseline)" if best.user_attrs.get("baseline") else "")
            )
        trials_h = f"{o.per_hour(o.finished):.1f} {_fmt_ratio(o.ratios.get('trials_per_hour'))}"
        epochs_h = f"{o.per_hour(o.epochs):.0f} {_fmt_ratio(o.ratios.get('epochs_per_hour'))}"
        best_val = best.value if best else None
        print(
            f"{name:<11}{o.finished:>5}{len(o.in_budget('COMPLETE')):>6}"
            f"{len(o.in_budget('PRUNED')):>7}{o.interrupted:>4}{trials_h:>15}{epochs_h:>16}"
            f"{_fmt(o.startup_s, '.0f'):>8}{reached_text:>16}{_fmt(best_val):>9}"
            f"{_fmt(o.test_accuracy):>9}  {trial_text}"
        )
    print()
    records = []
    for o in outcomes:
        best = o.best
        records.append(
            {
                "variant": o.variant.name,
                "workers": o.variant.workers,
                "pruner": type(o.config.build_pruner()).__name__,
                "budget_s": o.budget_s,
                "series": [[s, o.best_value_at(s)] for s in checkpoints],
                "finished": o.finished,
                "complete": len(o.in_budget("COMPLETE")),
                "pruned": len(o.in_budget("PRUNED")),
                "failed": len(o.in_budget("FAIL")),
                "interrupted_at_deadline": o.interrupted,
                "epochs": o.epochs,
                "trials_per_hour": round(o.per_hour(o.finished), 2),
                "epochs_per_hour": round(o.per_hour(o.epochs), 1),
                "startup_s": None if o.startup_s is None else round(o.startup_s, 1),
                "target": target,
                "time_to_target_s": o.time_to(target),
                "best_val": best.value if best else None,
                "best_trial": best.number if best else None,
                "best_params": best.params if best else None,
                "test_accuracy": o.test_accuracy,
                "ratios_to_plain": o.ratios,
                "storage": o.config.storage,
                "launcher": o.last_line,
            }
        )
        print(json.dumps(records[-1]))
    return records


def main() -> None:
    import optuna
    import torch

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the launcher logs say the rest
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="budget of each variant")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", type=int, default=4, help="processes of the packed variant")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--docs", type=int, default=0, help="reviews per file (0: all 25,000)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial [preset's]")
    parser.add_argument("--target", type=float, default=0.90, help="validation accuracy goal")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between checkpoints")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads per worker (OMP_NUM_THREADS) [0: the launcher's cores / workers]",
    )
    parser.add_argument("--mps", action="store_true", help="packed GPU workers under NVIDIA MPS")
    parser.add_argument(
        "--cuda-graphs", default="auto", help="auto | on | off for every variant [auto]"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="[a new temporary folder]")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANT_NAMES),
        help=f"which variants to run, in order [{','.join(VARIANT_NAMES)}]",
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in VARIANT_NAMES]
    if unknown or not chosen:
        raise SystemExit(
            f"--variants {args.variants!r} is not accepted; accepted: a comma-separated "
            f"subset of {', '.join(VARIANT_NAMES)}"
        )
    if min(args.minutes, args.every, args.workers) <= 0 or min(args.docs, args.threads) < 0:
        raise SystemExit(
            f"need --minutes, --every, --workers > 0 and --docs, --threads >= 0, but got "
            f"{args.minutes=}, {args.every=}, {args.workers=}, {args.docs=}, {args.threads=}"
        )
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device} was asked for, but no CUDA GPU is visible")
    for path in (args.data_dir / "train.csv.gz", args.data_dir / "test.csv.gz"):
        if not path.is_file():
            raise SystemExit(
                f"data {str(path)!r} not found; pass --data-dir DIR holding train.csv.gz and "
                "test.csv.gz (see ../shared/datasets/README.md)"
            )
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="hpsearch-ttt-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    train, test = prepare_data(args.data_dir, args.docs, workdir)
    every_variant = {
        "plain": Variant("plain", 1, {"name": "nop"}),
        "pruned": Variant("pruned", 1, None),
        "packed": Variant("packed", args.workers, None),
    }
    variants = [every_variant[name] for name in chosen]
    configs = [variant_config(v, args, train, test, workdir) for v in variants]
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    print(
        f"device: {name}; {os.cpu_count()} cores; {args.minutes:g} min per variant; data "
        f"{train.name} + {test.name}; target val accuracy {args.target:g}; work folder {workdir}"
    )
    threads = args.threads or "cores / workers"
    # On a shared machine other jobs' load skews every variant; the load says how much.
    print(f"threads per worker: {threads}; load average (1 min) before: {os.getloadavg()[0]:.2f}")
    outcomes = [run_variant(v, c, args, workdir) for v, c in zip(variants, configs, strict=True)]

    from search._study import load_task

    data = load_task(configs[0])  # the same files and seed for every variant: load once
    for outcome in outcomes:
        if outcome.best is not None:
            outcome.test_accuracy = test_accuracy(outcome.config, outcome.best, data, args.device)
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")
    add_ratios(outcomes, args.target)
    records = print_report(outcomes, args.every, args.target)
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(records, indent=2) + "\n")


if __name__ == "__main__":
    main()
