"""Where studies live: storage URLs, engines, retries and heartbeats."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage._lazy import lazy_getattr
from storage.errors import StorageError

DEFAULT_STORAGE_URL = "sqlite:///hpsearch.db"
"""Where a study lives when no ``--storage`` is given: a file in the current folder."""

# The rest is imported on first use (PEP 562): optuna and SQLAlchemy cost a second, and the
# CLI needs only the default URL to render its help.
if TYPE_CHECKING:
    from storage._attrs import set_trial_user_attrs, write_trial_user_attrs
    from storage._counts import count_trial_states, count_trials_ahead
    from storage._heartbeats import (
        REQUEUED_FROM_ATTR,
        STALE_REASON_PREFIX,
        forget_heartbeat,
        requeued_attrs,
    )
    from storage._open import (
        StorageOpener,
        artifact_dir_for,
        mask_password,
        open_storage,
        parse_storage_url,
        storage_exists,
    )
    from storage._params import params_in_one_write, write_trial_params
    from storage._secrets import redact_text, redact_url

_LAZY: dict[str, str] = {
    "REQUEUED_FROM_ATTR": "storage._heartbeats",
    "requeued_attrs": "storage._heartbeats",
    "STALE_REASON_PREFIX": "storage._heartbeats",
    "StorageOpener": "storage._open",
    "artifact_dir_for": "storage._open",
    "count_trial_states": "storage._counts",
    "count_trials_ahead": "storage._counts",
    "forget_heartbeat": "storage._heartbeats",
    "storage_exists": "storage._open",
    "mask_password": "storage._open",
    "open_storage": "storage._open",
    "params_in_one_write": "storage._params",
    "parse_storage_url": "storage._open",
    "redact_text": "storage._secrets",
    "redact_url": "storage._secrets",
    "set_trial_user_attrs": "storage._attrs",
    "write_trial_params": "storage._params",
    "write_trial_user_attrs": "storage._attrs",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = [
    "DEFAULT_STORAGE_URL",
    "REQUEUED_FROM_ATTR",
    "STALE_REASON_PREFIX",
    "StorageError",
    "StorageOpener",
    "artifact_dir_for",
    "count_trial_states",
    "count_trials_ahead",
    "forget_heartbeat",
    "mask_password",
    "open_storage",
    "params_in_one_write",
    "parse_storage_url",
    "redact_text",
    "redact_url",
    "requeued_attrs",
    "set_trial_user_attrs",
    "storage_exists",
    "write_trial_params",
    "write_trial_user_attrs",
]
