"""Keep passwords of storage URLs out of everything hpsearch writes or prints.

A URL such as ``postgresql+psycopg://user:s3cret@host/db`` is needed to connect, but its
password must never reach the study (optuna-dashboard shows every user attribute to anyone
who reaches it), a log line, a report, a checkpoint or a command's output. Code that shows
or stores a URL uses :func:`redact_url`; as a second line of defence :func:`mask_in_logs`
makes every log record that would still contain a known password print ``***`` instead
(SQLAlchemy and database drivers log messages hpsearch does not write itself).
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import unquote, urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MASK = "***"

_secrets: set[str] = set()
_lock = threading.Lock()
_factory_installed = False


def url_password(url: str) -> str | None:
    """The password in ``url`` (a database or Redis URL), or ``None``."""
    if url.startswith(("redis://", "rediss://")):
        password = urlsplit(url).password
        return unquote(password) if password else None
    try:
        return make_url(url).password or None  # type: ignore[return-value]
    except ArgumentError:
        return None


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (unchanged when it has none)."""
    if url.startswith(("redis://", "rediss://")):
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[1]
        return parts._replace(netloc=f"{user}:{MASK}@{host}").geturl()
    if url.startswith("journal://"):
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def redact_text(text: str) -> str:
    """``text`` with every password seen by :func:`mask_in_logs` replaced by ``***``."""
    for secret in _secrets:
        text = text.replace(secret, MASK)
    return text


def mask_in_logs(url: str) -> None:
    """Mask ``url``'s password (if any) in every log record from now on, in this process.

    Records are scrubbed when they are made (a log-record factory), so every handler —
    files, the console, pytest's capture — sees the masked text.
    """
    password = url_password(url)
    if not password:
        return
    global _factory_installed
    with _lock:
        # The URL-encoded form appears in rendered URLs, the plain one in driver messages;
        # a one- or two-character password would mask unrelated text, so it is left out.
        _secrets.update(s for s in (password, _quoted(password)) if len(s) >= 3)
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def scrubbing_factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: leave it to logging's own error path
                return record
            scrubbed = redact_text(message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
            return record

        logging.setLogRecordFactory(scrubbing_factory)
        _factory_installed = True


def _quoted(password: str) -> str:
    from urllib.parse import quote

    return quote(password, safe="")
