"""``gpu_check.py --prepare``: everything the GPU machine lacks, in ``.gpu_check/`` of the checkout.

The GPU machine has Python 3.12, torch (2.11 seen) and a fixed set of packages
(``gpu_device_packages.txt``), and no network. This puts in ``.gpu_check/`` (git-ignored):

- ``wheels/``: the distributions the check imports that the machine lacks, at the versions
  installed here (pure-Python sdists such as seqeval's are built into wheels), for
  CPython 3.12 on manylinux x86-64; every requirement of every wheel is checked to be on
  the machine or among the wheels;
- ``data/imdb/``: the IMDB training reviews and a test slice, ``label,text`` as ``.csv.xz``;

then checks what the check's own imports need against both, and prints the one command to
run there and the paths to carry. The carried total is kept well under the device tool's
64 MiB (tracked files included).
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
FOLDER = ROOT / ".gpu_check"
WHEELS = FOLDER / "wheels"
DATA = FOLDER / "data" / "imdb"
DEVICE_PACKAGES = BENCH / "gpu_device_packages.txt"
# Missing on the GPU machine's image and imported by the check (search imports plotly for
# reports, storage imports sqlalchemy, objectives' taggers conllu and seqeval).
CARRIED = (
    "optuna",
    "sqlalchemy",
    "alembic",
    "colorlog",
    "mako",
    "conllu",
    "greenlet",
    "seqeval",
    "plotly",
)
# The device tool carries at most 64 MiB; stay well under it.
MAX_CARRY_MIB = 40.0
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
# What the check imports on the GPU machine; each must come from the image or a wheel.
CHECK_IMPORTS = (
    "search",
    "search.cli",
    "objectives",
    "storage",
    "throughput",
    "time_to_target",
    "gpu_check_parts",
    "seqeval.metrics",
    "conllu",
    "pytest",
)
DEVICE_ENVIRONMENT = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}
RUN_COMMAND = (
    "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade "
    "--target /tmp/site .gpu_check/wheels/*.whl && export PYTHONPATH=/tmp/site || exit; "
    "PYTHONUNBUFFERED=1 python3 bench/gpu_check.py --device cuda --data-dir .gpu_check/data "
    "--out $OUT 2>&1 | tee $OUT/gpu_check.log"
)


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def device_packages() -> set[str]:
    """Distributions on the GPU machine's image (normalized names)."""
    lines = DEVICE_PACKAGES.read_text().splitlines()
    return {normalize(line) for line in lines if line.strip() and not line.startswith("#")}


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, "pip", done.stdout, done.stderr)


def fetch_wheels(names: tuple[str, ...], folder: Path) -> list[Path]:
    """One wheel per name, at the version installed here, for the GPU machine's Python."""
    if folder.exists():
        shutil.rmtree(folder)  # one version of each: two stop the whole install there
    folder.mkdir(parents=True)
    for name in names:
        try:
            requirement = f"{name}=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            requirement = name  # not installed here (greenlet with SQLAlchemy 2.1): latest
        platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
        try:
            _pip(
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.12",
                "--implementation",
                "cp",
                *platforms,
                "-d",
                str(folder),
                requirement,
            )
        except subprocess.CalledProcessError:
            # Only an sdist (seqeval): build it; only a pure-Python wheel may travel.
            try:
                _pip(
                    "wheel", "-q", "--no-deps", "--no-binary=:all:", "-w", str(folder), requirement
                )
            except subprocess.CalledProcessError as exc:
                reason = (exc.stderr or "").strip().splitlines()
                last = reason[-1] if reason else str(exc)
                raise SystemExit(f"no wheel for {requirement}: {last}") from None
    wheels = sorted(folder.glob("*.whl"))
    impure = [w.name for w in wheels if not _fits_device(w.name)]
    if impure:
        raise SystemExit(f"wheels that cannot run on CPython 3.12 x86-64 Linux: {impure}")
    return wheels


def _fits_device(filename: str) -> bool:
    tags = filename[:-4].split("-")[-3:]
    return tags[0] in ("py3", "py2.py3", "cp312") and (tags[2] == "any" or "x86_64" in tags[2])


def wheel_requirements(wheel: Path) -> list[str]:
    """The distributions ``wheel`` needs on the GPU machine (its markers evaluated there)."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode("utf-8", errors="replace")
    needed = []
    for line in text.splitlines():
        if line.startswith("Requires-Dist:"):
            requirement = Requirement(line.split(":", 1)[1].strip())
            marker = requirement.marker
            if marker is None or marker.evaluate(DEVICE_ENVIRONMENT):
                needed.append(normalize(requirement.name))
    return needed


def wheel_name(wheel: Path) -> str:
    """The distribution a wheel file installs."""
    return normalize(wheel.name.split("-")[0])


def unmet_requirements(wheels: list[Path], on_device: set[str]) -> dict[str, list[str]]:
    """Per wheel, what it needs that neither the machine nor another wheel provides."""
    provided = on_device | {wheel_name(w) for w in wheels}
    unmet = {}
    for wheel in wheels:
        missing = sorted(set(wheel_requirements(wheel)) - provided)
        if missing:
            unmet[wheel.name] = missing
    return unmet


def required_closure(roots: list[str]) -> set[str]:
    """``roots`` and everything they require on the GPU machine, as installed here.

    Libraries import some packages only if present (optuna: boto3, redis); those are not
    requirements, so an import alone does not make a distribution needed there.
    """
    from packaging.requirements import Requirement

    needed: set[str] = set()
    todo = [normalize(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(DEVICE_ENVIRONMENT):
                todo.append(normalize(requirement.name))
    return needed


def project_requirements() -> list[str]:
    """The project's declared run-time dependencies (pyproject.toml), and pytest."""
    import tomllib
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r).name for r in project["dependencies"]] + ["pytest", "pytest-timeout"]


def imported_distributions() -> set[str]:
    """Distributions whose modules the check's imports load (read in a fresh process)."""
    code = (
        "import importlib, json, sys\n"
        f"sys.path[:0] = [{str(ROOT)!r}, {str(BENCH)!r}]\n"
        f"for name in {list(CHECK_IMPORTS)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    owners = metadata.packages_distributions()
    found = set()
    for module in modules:
        if module in sys.stdlib_module_names:
            continue
        found |= {normalize(d) for d in owners.get(module, [])}
    return found


def write_data(shared_imdb: Path, folder: Path, test_docs: int) -> list[Path]:
    """All training reviews and ``test_docs`` sampled test reviews, ``label,text``, xz.

    Kept when an earlier ``--prepare`` wrote the same slices (xz is slow to write).
    """
    import pandas as pd

    stamp = folder / "slices.json"
    wanted = {"source": str(shared_imdb), "test_docs": test_docs}
    paths = [folder / "train.csv.xz", folder / "test.csv.xz"]
    written_before = stamp.is_file() and json.loads(stamp.read_text()) == wanted
    if written_before and all(p.is_file() for p in paths):
        return paths
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    written = []
    for split in ("train", "test"):
        frame = pd.read_csv(shared_imdb / f"{split}.csv.gz")[["label", "text"]]
        if split == "test" and test_docs < len(frame):
            frame = frame.sample(n=test_docs, random_state=0)
        path = folder / f"{split}.csv.xz"
        frame.to_csv(path, index=False)
        written.append(path)
    stamp.write_text(json.dumps(wanted))
    return written


def travelling_mib() -> float:
    """MiB that travel to the GPU machine: tracked and untracked-not-ignored files, and
    ``.gpu_check/`` (carried)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    total = sum((ROOT / p).stat().st_size for p in listed if p and (ROOT / p).is_file())
    total += sum(
        p.stat().st_size for p in FOLDER.rglob("*") if p.is_file() and "out" not in p.parts
    )
    return total / 2**20


def prepare(test_docs: int) -> int:
    """Build ``.gpu_check/`` and print the command; 1 when something would be missing there."""
    from gpu_check_data import shared_datasets

    shared = shared_datasets(ROOT)
    if shared is None or not (shared / "imdb" / "train.csv.gz").is_file():
        print("error: ../shared/datasets/imdb not found beside the main checkout", file=sys.stderr)
        return 2
    on_device = device_packages()
    wheels = fetch_wheels(CARRIED, WHEELS)
    problems = []
    for wheel, missing in unmet_requirements(wheels, on_device).items():
        problems.append(f"{wheel} needs {', '.join(missing)}: neither there nor carried")
    provided = on_device | {wheel_name(w) for w in wheels} | {"hpsearch"}
    imported = imported_distributions()
    # Only what an imported dependency requires counts: the datasets library (not imported
    # by the check) needs dill, which torch merely imports when present.
    roots = [r for r in project_requirements() if normalize(r) in imported]
    needed = imported & required_closure(roots)
    lacking = sorted(needed - provided)
    if lacking:
        problems.append(f"the check imports {', '.join(lacking)}: add to CARRIED")
    data = write_data(shared / "imdb", DATA, test_docs)
    if (FOLDER / "out").exists():
        shutil.rmtree(FOLDER / "out")  # results of a smoke run here must not travel
    size = travelling_mib()
    for path in [*wheels, *data]:
        print(f"  {path.relative_to(ROOT)}  {path.stat().st_size / 2**20:.1f} MiB")
    print(f"travels in all: {size:.1f} MiB (tool limit 64 MiB, kept under {MAX_CARRY_MIB:g})")
    if size > MAX_CARRY_MIB:
        problems.append(f"{size:.1f} MiB would travel; lower --test-docs")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    print('\nOn the GPU machine (device tool `run`), carry [".gpu_check"], timeout_s 600:\n')
    print(RUN_COMMAND)
    return 0
