"""The IMDB files ``gpu_check.py`` trains on: found, unpacked, or (smoke only) made up.

``--prepare`` carries the reviews as ``.csv.xz`` (a third smaller than gzip, which counts
against the device tool's 64 MiB); the project reads gzip, so the check unpacks them into
its work folder first. The IMDB CSVs have a ``label`` (``pos``/``neg``) and a ``text`` column.
"""

from __future__ import annotations

import gzip
import lzma
import random
import shutil
import subprocess
from pathlib import Path

SPLITS = ("train", "test")
# Where --prepare puts the carried slices, relative to the checkout.
CARRIED = Path(".gpu_check") / "data" / "imdb"


def shared_datasets(root: Path) -> Path | None:
    """``../shared/datasets`` beside the main checkout (a worktree's main one too)."""
    candidates = [root.parent / "shared" / "datasets"]
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if common:
            candidates.append(Path(common).parent.parent / "shared" / "datasets")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return next((c for c in candidates if c.is_dir()), None)


def _split_file(folder: Path, split: str) -> Path | None:
    for suffix in (".csv.gz", ".csv.xz"):
        if (folder / f"{split}{suffix}").is_file():
            return folder / f"{split}{suffix}"
    return None


def _holds_imdb(folder: Path) -> bool:
    return all(_split_file(folder, split) for split in SPLITS)


def find_imdb(data_dir: Path | None, root: Path) -> Path | None:
    """The folder with ``train`` and ``test`` CSVs: ``data_dir`` (or its ``imdb/``) if given,
    else the carried slices, else the shared datasets; ``None`` when none has them."""
    if data_dir is not None:
        candidates = [data_dir, data_dir / "imdb"]
    else:
        shared = shared_datasets(root)
        candidates = [root / CARRIED] + ([shared / "imdb"] if shared else [])
    return next((c for c in candidates if c.is_dir() and _holds_imdb(c)), None)


def unpack_imdb(source: Path | None, dest: Path, *, smoke: bool) -> tuple[Path, str]:
    """A folder with ``train.csv.gz`` and ``test.csv.gz``, and a note saying what it holds.

    Gzip files are used in place; xz files are unpacked into ``dest``. With no ``source``
    (smoke runs only) a small made-up review set is written instead.
    """
    if source is None:
        if not smoke:
            raise ValueError("no IMDB data")
        write_made_up_reviews(dest)
        return dest, f"made-up reviews (no IMDB data found), {dest}"
    files = {split: _split_file(source, split) for split in SPLITS}
    if all(f is not None and f.name.endswith(".gz") for f in files.values()):
        return source, f"IMDB from {source}"
    dest.mkdir(parents=True, exist_ok=True)
    for split, path in files.items():
        assert path is not None
        target = dest / f"{split}.csv.gz"
        opener = lzma.open if path.name.endswith(".xz") else gzip.open
        # Level 1: the files are read once or twice, compression time is budget time.
        with opener(path, "rb") as raw, gzip.open(target, "wb", compresslevel=1) as out:
            shutil.copyfileobj(raw, out)
    return dest, f"IMDB from {source} (unpacked into {dest})"


_POSITIVE = ["great", "superb", "moving", "wonderful", "brilliant", "loved", "charming"]
_NEGATIVE = ["awful", "boring", "dull", "terrible", "waste", "worst", "bland", "tedious"]
_NEUTRAL = ["the", "a", "film", "movie", "plot", "actor", "scene", "story", "director"]
_NEUTRAL += ["music", "ending", "script", "it", "was", "and", "of", "to", "in", "but", "very"]


def write_made_up_reviews(dest: Path, n_docs: int = 400, seed: int = 0) -> None:
    """IMDB-shaped ``train.csv.gz``/``test.csv.gz``: a sentiment word or two among filler.

    Only for smoke runs where no IMDB copy is reachable (a clean CI checkout): the numbers
    mean nothing, the code paths are the real ones.
    """
    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        lines = ["label,text"]
        for i in range(n_docs):
            label = "pos" if i % 2 else "neg"
            words = rng.choices(_NEUTRAL, k=rng.randint(8, 40))
            for _ in range(rng.randint(1, 3)):
                pool = _POSITIVE if label == "pos" else _NEGATIVE
                words.insert(rng.randrange(len(words)), rng.choice(pool))
            lines.append(f"{label},{' '.join(words)}")
        with gzip.open(dest / f"{split}.csv.gz", "wt", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
