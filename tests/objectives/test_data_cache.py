"""Encoded data cached on disk: a hit is the same data, mapped; any change misses."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import pytest
import torch

import objectives.data._text_files as text_module
from objectives import load_classification_data, load_tagging_data
from objectives.data._cache import _entry_names, _publish
from objectives.data._text import ClassificationData
from objectives.errors import ObjectiveError

ROWS = [
    ("pos", "a good film, really good"),
    ("neg", "bad acting and a bad plot"),
    ("pos", "good fun"),
    ("neg", "awful, just awful"),
    ("pos", "fine and good"),
    ("neg", "boring bad"),
] * 5


def _table(path: Path, rows=ROWS) -> Path:
    lines = "".join(f'{label},"{text}","{text[::-1]}"\n' for label, text in rows)
    path.write_text("label,text,reversed\n" + lines)
    return path


def _splits(data: ClassificationData) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{tensor}": getattr(getattr(data, name), tensor)
        for name in ("train", "validation", "test")
        for tensor in ("inputs", "lengths", "labels", "chars")
        if getattr(getattr(data, name), tensor) is not None
    }


def assert_same_data(cached: ClassificationData, fresh: ClassificationData) -> None:
    assert type(cached) is type(fresh)
    one, other = _splits(cached), _splits(fresh)
    assert one.keys() == other.keys()
    for key in one:
        assert one[key].dtype == other[key].dtype, key
        assert torch.equal(one[key], other[key]), key
    assert cached.preprocessing() == fresh.preprocessing()
    assert cached.token_counts == fresh.token_counts


def _entries(cache: str) -> list[str]:
    """Cache entries (the dot files are their lock files)."""
    return sorted(p.name for p in Path(cache).iterdir() if not p.name.startswith("."))


def _mapped_from(folder: str) -> bool:
    maps = Path("/proc/self/maps")
    return folder in maps.read_text() if maps.exists() else True


def test_a_hit_is_the_data_a_fresh_load_gives_mapped_and_without_reading(
    tmp_path, data_cache_dir, monkeypatch
):
    path = _table(tmp_path / "reviews.csv")
    first = load_classification_data(str(path), max_length=6)
    assert len(_entries(data_cache_dir)) == 1

    def no_reading(*args, **kwargs):
        raise AssertionError("a cache hit encoded the file again")

    monkeypatch.setattr(text_module, "build_text_data", no_reading)
    hit = load_classification_data(str(path), max_length=6)
    monkeypatch.undo()
    monkeypatch.setenv("HPSEARCH_CACHE_DIR", "off")
    fresh = load_classification_data(str(path), max_length=6)
    assert_same_data(first, fresh)
    assert_same_data(hit, fresh)
    assert _mapped_from(data_cache_dir)


def test_writing_into_a_mapped_tensor_never_changes_the_cache(tmp_path):
    path = _table(tmp_path / "reviews.csv")
    data = load_classification_data(str(path))
    original = int(data.train.inputs[0, 0])
    data.train.inputs[0, 0] = 999
    assert int(load_classification_data(str(path)).train.inputs[0, 0]) == original


def test_an_edited_file_misses_and_replaces_its_older_entry(tmp_path, data_cache_dir):
    path = _table(tmp_path / "reviews.csv")
    before = load_classification_data(str(path))
    (old_entry,) = _entries(data_cache_dir)
    _table(path, [(label, text.replace("good", "great")) for label, text in ROWS])
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    after = load_classification_data(str(path))
    assert "great" in after.vocabulary and "great" not in before.vocabulary
    (new_entry,) = _entries(data_cache_dir)
    assert new_entry != old_entry


def test_a_touched_file_of_the_same_size_misses(tmp_path, data_cache_dir):
    path = _table(tmp_path / "reviews.csv")
    load_classification_data(str(path))
    # Same length, other words: only the modification time tells them apart.
    _table(path, [(label, text.replace("good", "fine")) for label, text in ROWS])
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert "good" not in load_classification_data(str(path)).vocabulary


@pytest.mark.parametrize(
    "change",
    [{"max_length": 3}, {"split": text_module.SplitSettings(seed=5)}, {"text_column": "reversed"}],
)
def test_other_settings_are_other_entries(tmp_path, data_cache_dir, monkeypatch, change):
    path = _table(tmp_path / "reviews.csv")
    load_classification_data(str(path))
    changed = load_classification_data(str(path), **change)
    assert len(_entries(data_cache_dir)) == 2
    monkeypatch.setenv("HPSEARCH_CACHE_DIR", "off")
    assert_same_data(changed, load_classification_data(str(path), **change))


def test_a_held_back_test_file_is_part_of_the_key(tmp_path, data_cache_dir):
    path = _table(tmp_path / "reviews.csv")
    test = _table(tmp_path / "test.csv", ROWS[:6])
    with_test = load_classification_data(str(path), test_data=str(test))
    assert len(with_test.test) == 6
    _table(test, ROWS[:4])
    assert len(load_classification_data(str(path), test_data=str(test)).test) == 4


def test_off_writes_nothing(tmp_path, data_cache_dir, monkeypatch):
    monkeypatch.setenv("HPSEARCH_CACHE_DIR", "off")
    load_classification_data(str(_table(tmp_path / "reviews.csv")))
    assert _entries(data_cache_dir) == []


def test_an_unwritable_cache_warns_and_still_loads(tmp_path, monkeypatch, caplog):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("HPSEARCH_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    with caplog.at_level(logging.WARNING, logger="hpsearch.data"):
        data = load_classification_data(str(_table(tmp_path / "reviews.csv")))
    assert len(data.train) > 0
    assert "cannot cache the encoded data" in caplog.text and "HPSEARCH_CACHE_DIR" in caplog.text


def test_a_damaged_entry_is_encoded_again(tmp_path, data_cache_dir, caplog):
    path = _table(tmp_path / "reviews.csv")
    fresh = load_classification_data(str(path))
    (name,) = _entries(data_cache_dir)
    (Path(data_cache_dir) / name / "meta.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="hpsearch.data"):
        again = load_classification_data(str(path))
    assert "unreadable" in caplog.text
    assert_same_data(again, fresh)


def test_a_worker_that_publishes_second_uses_the_first_entry(tmp_path, data_cache_dir):
    path = _table(tmp_path / "reviews.csv")
    data = load_classification_data(str(path))
    family, entry = _entry_names(ClassificationData, [path], {"any": 1})
    root = Path(data_cache_dir)
    first = _publish(data, root, family, entry)
    first_files = {p.name: p.stat().st_ino for p in first.iterdir()}
    second = _publish(data, root, family, entry)  # lost the race: its copy is dropped
    assert second == first
    assert {p.name: p.stat().st_ino for p in second.iterdir()} == first_files
    assert not [p for p in root.iterdir() if p.name.startswith(".partial")]


def test_workers_that_miss_together_wait_for_one_encoding(tmp_path, data_cache_dir, monkeypatch):
    import fcntl
    import threading

    path = _table(tmp_path / "reviews.csv")
    encoded = []
    original = text_module.build_text_data

    def counting(*args, **kwargs):
        encoded.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(text_module, "build_text_data", counting)
    family, entry = _entry_names(
        ClassificationData,
        [path],
        {
            "source": str(path),
            "format": "table",
            "text_column": "text",
            "label_column": "label",
            "max_length": 400,
            **dataclasses.asdict(text_module.SplitSettings()),
        },
    )
    Path(data_cache_dir).mkdir(exist_ok=True)
    with open(Path(data_cache_dir) / f".{entry}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker is encoding
        results = []
        waiting = threading.Thread(
            target=lambda: results.append(load_classification_data(str(path)))
        )
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive() and not encoded  # it waits instead of encoding too
        # The other worker publishes its entry, then lets go of the lock.
        _publish(
            original(
                *text_module._columns(text_module._read_table(path), str(path), "text", "label"),
                source=str(path),
            ),
            Path(data_cache_dir),
            family,
            entry,
        )
    waiting.join(timeout=30)
    assert results and not encoded  # it mapped the published entry
    assert _entries(data_cache_dir) == [entry]


def test_tagging_data_hit_keeps_characters_and_scheme(tmp_path, monkeypatch):
    lines = []
    for i in range(12):
        lines += [f"Kyiv B-LOC\nis O\nbig{i} O\n", "\n", f"Olena B-PER\nsmiles{i} O\n", "\n"]
    path = tmp_path / "toy.iob"
    path.write_text("".join(lines))
    first = load_tagging_data(str(path), kind="ner")
    hit = load_tagging_data(str(path), kind="ner")
    monkeypatch.setenv("HPSEARCH_CACHE_DIR", "off")
    fresh = load_tagging_data(str(path), kind="ner")
    assert fresh.train.chars is not None and hit.scheme == fresh.scheme == "IOB2"
    assert_same_data(first, fresh)
    assert_same_data(hit, fresh)


def _entry_size(cache: str, name: str) -> int:
    return sum(file.stat().st_size for file in (Path(cache) / name).iterdir())


def test_over_the_size_cap_the_least_recently_used_entries_go(
    tmp_path, data_cache_dir, monkeypatch
):
    paths = [_table(tmp_path / f"{name}.csv") for name in ("a", "b", "c")]
    load_classification_data(str(paths[0]))
    (first,) = _entries(data_cache_dir)
    # Room for two entries of this size, not three.
    monkeypatch.setenv("HPSEARCH_CACHE_MAX_GB", str(2.5 * _entry_size(data_cache_dir, first) / 1e9))
    load_classification_data(str(paths[1]))
    (second,) = set(_entries(data_cache_dir)) - {first}
    load_classification_data(str(paths[0]))  # a hit: a is now used more recently than b
    load_classification_data(str(paths[2]))
    entries = _entries(data_cache_dir)
    assert len(entries) == 2 and first in entries and second not in entries
    again = load_classification_data(str(paths[1]))  # b is encoded again when used again
    assert second in _entries(data_cache_dir)
    monkeypatch.setenv("HPSEARCH_CACHE_DIR", "off")
    assert_same_data(again, load_classification_data(str(paths[1])))


def test_an_entry_larger_than_the_cap_is_still_used(tmp_path, data_cache_dir, monkeypatch):
    monkeypatch.setenv("HPSEARCH_CACHE_MAX_GB", "1e-9")  # 1 byte
    path = _table(tmp_path / "reviews.csv")
    load_classification_data(str(path))
    load_classification_data(str(path))
    assert len(_entries(data_cache_dir)) == 1


@pytest.mark.parametrize("value", ["lots", "0", "-1", "nan", "inf"])
def test_a_bad_size_cap_is_refused(tmp_path, data_cache_dir, monkeypatch, value):
    monkeypatch.setenv("HPSEARCH_CACHE_MAX_GB", value)
    with pytest.raises(ObjectiveError, match=f"HPSEARCH_CACHE_MAX_GB='{value}' is not a size"):
        load_classification_data(str(_table(tmp_path / "reviews.csv")))
    assert _entries(data_cache_dir) == []


def test_a_bad_size_cap_stops_a_run_in_one_line_with_exit_code_2(
    tmp_path, data_cache_dir, monkeypatch, capsys
):
    from tests.search.cli_helpers import hpsearch

    monkeypatch.setenv("HPSEARCH_CACHE_MAX_GB", "lots")
    data = _table(tmp_path / "reviews.csv")
    code, _, err = hpsearch(
        capsys, "run", "--data", str(data), "--storage", f"sqlite:///{tmp_path}/s.db"
    )
    assert code == 2
    assert err.strip().splitlines() == [
        "error: HPSEARCH_CACHE_MAX_GB='lots' is not a size; give the cache's size cap in "
        "gigabytes, a number above 0 such as 20 or 0.5 (or HPSEARCH_CACHE_DIR=off for no cache)"
    ]
