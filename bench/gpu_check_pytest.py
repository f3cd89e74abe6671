"""pytest plugin of ``gpu_check.py``: marks the CUDA-only tests (and can keep only them).

A test is CUDA-only when it carries a ``skipif`` whose reason says it needs CUDA or a GPU
(``reason="needs a CUDA GPU (run on the GPU machine)"``, as ``tests/objectives/test_graphs.py``
writes it). Each such test gets the user property ``cuda_only`` = ``1``, which pytest writes
into its ``--junitxml`` record; ``--gpu-check-cuda-only`` deselects every other test.

Loaded with ``-p gpu_check_pytest`` (``bench/`` on ``PYTHONPATH``).
"""

from __future__ import annotations

import re
from typing import Any

# The wording a CUDA-only skip reason uses; gpu_check.py finds the test files by it too.
CUDA_REASON = re.compile(r"needs (a )?(CUDA|GPU)", re.IGNORECASE)


def pytest_addoption(parser: Any) -> None:
    parser.addoption(
        "--gpu-check-cuda-only",
        action="store_true",
        help="run only the tests whose skip reason says they need CUDA or a GPU",
    )


def needs_cuda(item: Any) -> bool:
    """Whether ``item`` is skipped without a GPU (a ``skipif`` naming CUDA or a GPU)."""
    return any(
        CUDA_REASON.search(str(mark.kwargs.get("reason", "")))
        for mark in item.iter_markers(name="skipif")
    )


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    keep, drop = [], []
    for item in items:
        if needs_cuda(item):
            item.user_properties.append(("cuda_only", "1"))
            keep.append(item)
        else:
            drop.append(item)
    if config.getoption("gpu_check_cuda_only") and drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
