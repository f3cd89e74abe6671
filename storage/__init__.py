"""Where studies live: storage URLs, engines, retries and heartbeats."""

from __future__ import annotations

from storage._open import (
    DEFAULT_STORAGE_URL,
    artifact_dir_for,
    mask_password,
    open_storage,
    parse_storage_url,
)
from storage.errors import StorageError

__all__ = [
    "DEFAULT_STORAGE_URL",
    "StorageError",
    "artifact_dir_for",
    "mask_password",
    "open_storage",
    "parse_storage_url",
]
