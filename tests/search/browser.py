"""Headless Chromium for tests that look at what a person would see."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def chromium_or_skip() -> str:
    """The chromium binary; fails in CI (``.ci/run`` installs it), skips elsewhere."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return browser


def headless_chromium(
    *args: str, profile: Path, budget_ms: int = 10_000, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a fresh profile and no background network traffic.

    ``budget_ms`` of virtual time lets the page's scripts finish drawing first.
    """
    return subprocess.run(
        [
            chromium_or_skip(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
