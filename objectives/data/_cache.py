"""Encoded datasets cached on disk and memory-mapped, so N workers on a host hold them once.

Tokenizing a text file costs every worker the same seconds and, worse, the same memory:
each process held its own copy of the tensors plus what the tokenizer left in the
allocator. The first worker that loads a file with given settings writes the encoded
tensors (``.npy``) and the vocabulary (JSON) under :func:`data_cache_dir`; every worker,
that one included, then maps the files copy-on-write (``np.load(mmap_mode="c")``). The pages
come from the kernel's page cache, shared by all processes that map the same file; a
process that writes into a tensor gets a private copy of that page, and the file is never
changed.

An entry is named by a digest of the files (resolved path, size, modification time in
nanoseconds), the loader settings and :data:`CACHE_VERSION`: editing a file or changing a
setting makes a new entry, and the entries of the older version of the same file and
settings are removed when it is written. Entries appear atomically (written into a
temporary folder, then renamed), so readers either find a whole entry or none; workers
that miss together take a lock file in turn, so one encodes and the others map its entry.

The cache holds at most ``$HPSEARCH_CACHE_MAX_GB`` (default 20): after an entry is written,
the least recently used others go until the rest fit (a hit marks its entry used).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from objectives.data._text import ClassificationData, SequenceSplit
from objectives.errors import ObjectiveError

logger = logging.getLogger("hpsearch.data")

CACHE_DIR_ENV = "HPSEARCH_CACHE_DIR"
"""Folder of the cache; ``off`` (or empty) turns caching off."""

CACHE_MAX_ENV = "HPSEARCH_CACHE_MAX_GB"
"""Size cap of the cache in gigabytes (10^9 bytes)."""

DEFAULT_CACHE_MAX_GB = 20.0

CACHE_VERSION = 1
"""Raised whenever an encoder's output changes, so older entries are never read."""

_SPLITS = ("train", "validation", "test")
_TENSORS = ("inputs", "lengths", "labels", "chars")
_META = "meta.json"

D = TypeVar("D", bound=ClassificationData)


def data_cache_dir() -> Path | None:
    """Where encoded datasets are cached: ``$HPSEARCH_CACHE_DIR``, by default
    ``$XDG_CACHE_HOME/hpsearch/data`` (``~/.cache/hpsearch/data``); ``None`` when off."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured is not None:
        if configured.strip().lower() in ("", "off"):
            return None
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "hpsearch" / "data"


def cache_limit_bytes() -> int:
    """``$HPSEARCH_CACHE_MAX_GB`` in bytes.

    Raises:
        ObjectiveError: The value is not a number of gigabytes above 0.
    """
    raw = os.environ.get(CACHE_MAX_ENV, "").strip()
    if not raw:
        return int(DEFAULT_CACHE_MAX_GB * 1e9)
    try:
        gigabytes = float(raw)
    except ValueError:
        gigabytes = math.nan
    if not math.isfinite(gigabytes) or gigabytes <= 0:
        raise ObjectiveError(
            f"{CACHE_MAX_ENV}={raw!r} is not a size; give the cache's size cap in gigabytes, "
            f"a number above 0 such as 20 or 0.5 (or {CACHE_DIR_ENV}=off for no cache)"
        )
    return int(gigabytes * 1e9)


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _entry_names(
    kind: type[ClassificationData], files: Sequence[Path], settings: Mapping[str, Any]
) -> tuple[str, str] | None:
    """``(family, entry)`` names: the family is the files and settings, the entry adds the
    files' sizes and times; ``None`` when a file cannot be read (the loader says why)."""
    try:
        stats = [(str(path.resolve()), path.stat()) for path in files]
    except OSError:
        return None
    identity = {
        "version": CACHE_VERSION,
        "class": f"{kind.__module__}.{kind.__qualname__}",
        "files": [path for path, _ in stats],
        "settings": dict(settings),
    }
    versions = [(stat.st_size, stat.st_mtime_ns) for _, stat in stats]
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", files[0].name)[:40]
    family = f"{readable}-{_digest(identity)[:16]}"
    return family, f"{family}-{_digest(versions)[:16]}"


def _write(data: ClassificationData, folder: Path) -> None:
    splits: dict[str, dict[str, Any]] = {}
    for name in _SPLITS:
        split: SequenceSplit = getattr(data, name)
        present = []
        for tensor_name in _TENSORS:
            tensor = getattr(split, tensor_name)
            if tensor is not None:
                np.save(folder / f"{name}.{tensor_name}.npy", tensor.numpy(force=True))
                present.append(tensor_name)
        splits[name] = {"tensors": present, "padded": split.padded}
    fields = {
        f.name: getattr(data, f.name)
        for f in dataclasses.fields(data)
        if f.init and f.name not in _SPLITS and not f.name.startswith("_")
    }
    meta = {"version": CACHE_VERSION, "splits": splits, "fields": fields}
    (folder / _META).write_text(json.dumps(meta))
    _mark_used(folder)


def _read(kind: type[D], folder: Path) -> D:
    meta = json.loads((folder / _META).read_text())
    if meta.get("version") != CACHE_VERSION:
        raise ValueError(f"cache version {meta.get('version')!r}")
    splits = {}
    for name in _SPLITS:
        described = meta["splits"][name]
        tensors = {
            tensor_name: torch.from_numpy(
                np.load(folder / f"{name}.{tensor_name}.npy", mmap_mode="c")
            )
            for tensor_name in described["tensors"]
        }
        splits[name] = SequenceSplit(**tensors, padded=described["padded"])
    return kind(
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        **meta["fields"],
    )


def _remove(folder: Path) -> None:
    # Mapped files stay readable to the processes that map them after they are unlinked.
    shutil.rmtree(folder, ignore_errors=True)


def _publish(data: ClassificationData, root: Path, family: str, entry: str) -> Path:
    """Write ``data`` as ``root/entry`` (unless another worker got there first)."""
    final = root / entry
    partial = Path(tempfile.mkdtemp(prefix=f".partial-{entry}-", dir=root))
    try:
        _write(data, partial)
        try:
            partial.rename(final)
        except OSError:
            if not (final / _META).is_file():
                raise
            # Another worker published the same entry first; theirs is identical.
    finally:
        if partial.exists():
            _remove(partial)
    for stale in root.glob(f"{family}-*"):
        if stale.name != entry:  # an older version of the same file and settings
            _remove(stale)
    for stale_lock in root.glob(f".{family}-*.lock"):
        if stale_lock.name != f".{entry}.lock":
            with contextlib.suppress(OSError):
                stale_lock.unlink()
    _evict(root, keep=entry, limit=cache_limit_bytes())
    return final


def _evict(root: Path, keep: str, limit: int) -> None:
    """Remove the least recently used entries but ``keep`` until the cache fits ``limit``."""
    entries = []
    for folder in root.iterdir():
        if folder.name.startswith(".") or not folder.is_dir():
            continue  # lock files and entries still being written
        try:
            used = (folder / _META).stat().st_mtime_ns
            size = sum(file.stat().st_size for file in folder.iterdir())
        except OSError:
            continue  # removed by another worker meanwhile
        entries.append((used, size, folder))
    total = sum(size for _, size, _ in entries)
    for _, size, folder in sorted(entries):
        if total <= limit:
            break
        if folder.name == keep:
            continue
        logger.info(
            "removed cached data %s (least recently used): the cache is over %s = %.3g GB",
            folder.name,
            CACHE_MAX_ENV,
            limit / 1e9,
        )
        _remove(folder)
        total -= size


def split_files(
    data: str | Path, test_data: str | Path | None, validation_data: str | Path | None
) -> tuple[list[Path], dict[str, str]]:
    """The files a loader reads (training, test, validation) for :func:`cached_data`, and
    the settings they add to its key.

    The validation file is named in the settings as well: one file given as the test file
    or as the validation file makes other splits, so it must be another entry.
    """
    files = [Path(data)] if test_data is None else [Path(data), Path(test_data)]
    named: dict[str, str] = {}
    if validation_data is not None:
        named["validation_data"] = str(validation_data)
        files.append(Path(validation_data))
    return files, named


def cached_data(
    kind: type[D],
    files: Sequence[str | Path],
    settings: Mapping[str, Any],
    build: Callable[[], D],
) -> D:
    """``build()``, or the same data memory-mapped from the cache when it is there.

    Args:
        kind: The class ``build`` returns (:class:`ClassificationData` or a subclass).
        files: Every file ``build`` reads; a change to any of them misses the cache.
        settings: Everything else ``build``'s output depends on (JSON-serializable).
        build: Reads and encodes the data; called on a miss, and whenever the cache cannot
            be used (off, not writable, a file missing), so its errors reach the caller.

    Returns:
        The data, with tensors mapped from the cache when caching is on.
    """
    root = data_cache_dir()
    if root is not None:
        cache_limit_bytes()  # a bad cap fails every load, not only the one that writes
    paths = [Path(file).expanduser() for file in files]
    names = _entry_names(kind, paths, settings) if root is not None and paths else None
    if root is None or names is None:
        return build()
    family, entry = names
    folder = root / entry
    hit = _read_entry(kind, folder)
    if hit is not None:
        return hit
    with _building(root, entry):
        # Workers that start together wait for the first one's entry instead of each
        # encoding (and holding the encoder's peak) at once.
        hit = _read_entry(kind, folder)
        if hit is not None:
            return hit
        return _build_and_publish(kind, build, root, family, entry)


def _read_entry(kind: type[D], folder: Path) -> D | None:
    """The entry's data, or ``None`` when it is missing or unreadable (then removed)."""
    if not (folder / _META).is_file():
        return None
    try:
        data = _read(kind, folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("cached data %s is unreadable (%s); encoding it again", folder, exc)
        _remove(folder)
        return None
    _mark_used(folder)  # the last the size cap removes
    return data


def _mark_used(folder: Path) -> None:
    """Stamp the entry as used now, to the nanosecond (a file's own times tick in
    milliseconds, so two uses in a row could tie)."""
    now = time.time_ns()
    with contextlib.suppress(OSError):
        os.utime(folder / _META, ns=(now, now))


@contextlib.contextmanager
def _building(root: Path, entry: str) -> Iterator[None]:
    """Holds an exclusive lock on ``root/.entry.lock`` (released if the process dies)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): concurrent workers may each encode
        yield
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = open(root / f".{entry}.lock", "w")  # noqa: SIM115  # held across the yield
    except OSError:
        yield  # an unwritable cache: the build below says so
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _build_and_publish(
    kind: type[D], build: Callable[[], D], root: Path, family: str, entry: str
) -> D:
    data = build()
    try:
        root.mkdir(parents=True, exist_ok=True)
        folder = _publish(data, root, family, entry)
    except OSError as exc:
        logger.warning(
            "cannot cache the encoded data in %s (%s); each worker keeps its own copy "
            "(set %s to a writable folder, or to 'off')",
            root,
            exc,
            CACHE_DIR_ENV,
        )
        return data
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        # Mapped, this worker shares the pages with the next ones and frees its own copy.
        return _read(kind, folder)
    return data
