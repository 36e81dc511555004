"""structlog, configured once: JSON lines under systemd or when piped, readable
console output on a TTY. Events are snake_case names with key-value fields."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_REDACT = ("token", "secret", "password", "private_key", "authorization", "key_content")


# Known secret values (the API token, …), scrubbed from every string field, so a
# secret that reaches a log by another road (an error text, a URL) is still hidden.
_SECRETS: set[str] = set()


def register_secret(value: str) -> None:
    """Never log ``value``; short values are ignored (they would mangle normal text)."""
    if len(value) >= 8:
        _SECRETS.add(value)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _SECRETS:
            if secret in value:
                value = value.replace(secret, "[redacted]")
    elif isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    elif isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Never log secrets, whatever a caller passes by mistake."""
    for key in list(event):
        if any(word in key.lower() for word in _REDACT):
            event[key] = "[redacted]"
        elif _SECRETS:
            event[key] = _scrub(event[key])
    return event


def configure(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    out = stream or sys.stderr
    if fmt == "auto":
        under_systemd = bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))
        fmt = "console" if out.isatty() and not under_systemd else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
