"""structlog, configured once: JSON lines under systemd or when piped, readable
console output on a TTY. Events are snake_case names with key-value fields."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
from collections.abc import MutableMapping
from typing import Any, TextIO, cast

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
    if fmt == "json" and writes_to_journal(out):
        renderer = _JournalPriority(renderer)
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
        # print() needs only write() and flush(), which is all _LossyStream has.
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _LossyStream(out))),
        cache_logger_on_first_use=False,
    )
    _bridge_stdlib(logging.DEBUG if level.lower() == "debug" else logging.WARNING)


# Syslog priorities by structlog level. journald reads a leading ``<N>`` on each line
# of a service's stderr as the line's priority (SyslogLevelPrefix=yes, the default)
# and strips it; without it every line is "info" and `journalctl -p err` shows none.
_PRIORITY = {"critical": 3, "exception": 3, "error": 3, "warning": 4, "warn": 4, "info": 6, "debug": 7}
_DEFAULT_PRIORITY = 6


class _LossyStream:
    """The log stream, minus its failures: a line that cannot be written (stderr
    redirected to a full disk, a pipe whose reader went away) is dropped. Raised at
    the caller, the error would abort whatever was logging: a cycle half done, the
    outbox round that just sent a page, the clean exit after SIGTERM."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        with contextlib.suppress(OSError, ValueError):  # ValueError: the stream was closed
            self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()


def writes_to_journal(stream: Any) -> bool:
    """Whether ``stream`` is the journal stream systemd connected us to: it sets
    ``JOURNAL_STREAM=<device>:<inode>`` of that stream, and it stays set in children
    whose stderr was redirected elsewhere, where a prefix would only be noise."""
    wanted = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = wanted.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False  # not a real file (a StringIO in a test): not the journal
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


class _JournalPriority:
    """Wraps the JSON renderer: each line starts with its syslog priority."""

    def __init__(self, render: Any) -> None:
        self._render = render

    def __call__(self, logger: Any, method_name: str, event: MutableMapping[str, Any]) -> str:
        priority = _PRIORITY.get(str(event.get("level", method_name)).lower(), _DEFAULT_PRIORITY)
        return f"<{priority}>{self._render(logger, method_name, event)}"


class Throttle:
    """Whether to log a repeating event now: the first time, then at most once per
    ``every_s``, with how many were held back meanwhile (``total`` counts them all).
    A client hammering the API with a wrong token, or a library repeating a warning
    every second, must not write a line each time. Shared by threads, hence the lock."""

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self.total = 0
        self._lock = threading.Lock()
        self._logged_at = -math.inf
        self._held = 0

    def due(self, now: float) -> int | None:
        """None: hold this one back. Else log it now, with the count returned (those
        held back since the last line)."""
        with self._lock:
            self.total += 1
            if now - self._logged_at < self.every_s:
                self._held += 1
                return None
            held, self._held, self._logged_at = self._held, 0, now
            return held


class _StdlibBridge(logging.Handler):
    """Libraries that log through ``logging`` (APScheduler, urllib3) come out as our
    own JSON or console lines instead of Python's bare last-resort text, and each
    message template at most once a minute: APScheduler says "skipped: maximum number
    of running instances reached" every second while a cycle overruns."""

    EVERY_S = 60.0

    def __init__(self) -> None:
        super().__init__()
        self._throttles: dict[tuple[str, str], Throttle] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = (record.name, str(record.msg))
        throttle = self._throttles.get(key)
        if throttle is None:
            if len(self._throttles) >= 1000:  # templates are few; bound it anyway
                self._throttles.clear()
            throttle = self._throttles[key] = Throttle(self.EVERY_S)
        held = throttle.due(record.created)
        if held is None:
            return
        fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
        if held:
            fields["repeated"] = held  # since this line was last written
        structlog.get_logger("triaged.lib").log(record.levelno, "library_log", **fields)


def _bridge_stdlib(level: int) -> None:
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _StdlibBridge)]
    root.addHandler(_StdlibBridge())
    root.setLevel(level)
