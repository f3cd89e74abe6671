"""Regression guard: every preset and built-in task builds the same space and baseline.

``snapshots/spaces.json`` was written from the code before tasks became objects
(``objectives/tasks/``); a change that moves where a space or default lives must not
change what a study searches or which trial its ``[baseline]`` enqueues. The ner, pos and
tabular cases name ``epochs = 15``, the default when they were written (schedules follow it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from search import load_config

SNAPSHOTS = json.loads((Path(__file__).parent / "snapshots" / "spaces.json").read_text())


@pytest.mark.parametrize("case", sorted(SNAPSHOTS))
def test_space_and_baseline_are_unchanged(case):
    expected = SNAPSHOTS[case]
    kwargs = dict(expected["kwargs"])
    config = load_config(None, preset=kwargs.pop("preset", None), **kwargs)
    assert config.to_dict()["space"] == expected["space"]
    assert config.baseline_params() == expected["baseline"]
    assert (config.metric, config.direction) == (expected["metric"], expected["direction"])
