"""How long the CLI takes to answer ``--help`` and a usage error, against Python's own start.

Each command runs ``--repeats`` times, interleaved (so a load spike on a shared machine hits
every command alike); the table shows the median wall time and its ratio to the
``python3 -c pass`` baseline of the same run, and ``import optuna`` as a second baseline:
a CLI that imports nothing heavy answers in about the interpreter's own start-up.

    python bench/startup.py --repeats 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS: dict[str, list[str]] = {
    "python -c pass (baseline)": ["-c", "pass"],
    "import optuna": ["-c", "import optuna"],
    "import torch": ["-c", "import torch"],
    "import search": ["-c", "import search"],
    "hpsearch --help": ["-m", "search.cli", "--help"],
    "hpsearch run --help": ["-m", "search.cli", "run", "--help"],
    "hpsearch run --n-trial 3 (usage error)": ["-m", "search.cli", "run", "--n-trial", "3"],
}


def _time(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    """Time every command, print a table and one JSON line per command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (median)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():
            times[name].append(_time(command, env))
    baseline = statistics.median(times["python -c pass (baseline)"])
    optuna_time = statistics.median(times["import optuna"])
    print(f"{'command':<42} {'median s':>9} {'x pass':>7} {'x optuna':>9}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<42} {median:>9.3f} {median / baseline:>7.2f} {median / optuna_time:>9.2f}")
    for name, samples in times.items():
        median = statistics.median(samples)
        record = {"command": name, "median_s": round(median, 4), "x_pass": median / baseline}
        print(json.dumps(record))
    print(f"load average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
