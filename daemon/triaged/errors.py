"""Exceptions that cross layers, and how any exception reads in one log field."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit, urlunsplit


class ConfigError(Exception):
    """A problem in a config or rule file, located as ``file:line: message``."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message}"


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``: an exception as one log field or one
    row's last error, whatever its message spans. A failed HTTP call (requests,
    urllib3, the OCI SDK's copies of them) reads as its request and root cause,
    ``POST http://127.0.0.1:9/hook: connection refused``, not urllib3's nesting."""
    if type(exc).__module__.startswith(_HTTP_MODULES):
        return _http_failure(exc)
    text = str(exc)
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}".rstrip(": ")


_HTTP_MODULES = ("requests", "urllib3", "oci._vendor", "oci.exceptions")


def _http_failure(exc: BaseException) -> str:
    chain = list(_chain(exc))
    requests = [getattr(e, "request", None) for e in chain]
    request: Any = next((r for r in requests if _is_request(r)), None)
    where = f"{request.method} {_without_secrets(request.url)}: " if request is not None else ""
    for cause in chain:
        reason = _reason(cause)
        if reason is not None:
            return where + reason
    root = chain[-1]
    text = str(root).splitlines()[0] if str(root) else ""
    return where + f"{type(root).__name__}: {text[:200]}".rstrip(": ")


def root_cause(exc: BaseException) -> str | None:
    """The short reason a failed HTTP call gives somewhere in its chain (``TLS
    certificate not accepted: self-signed certificate``), or None if none is known."""
    return next((reason for cause in _chain(exc) if (reason := _reason(cause)) is not None), None)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps, outermost first: causes, contexts, urllib3's
    ``reason`` and exceptions passed as arguments (requests and the OCI SDK do)."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 20:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        inner = [getattr(e, "reason", None), *e.args, e.__cause__, e.__context__]
        todo.extend(i for i in inner if isinstance(i, BaseException))


def _is_request(request: object) -> bool:
    """A ``requests.PreparedRequest``, told by its shape (errors.py imports no HTTP library)."""
    return all(isinstance(getattr(request, name, None), str) for name in ("method", "url"))


def _without_secrets(url: str) -> str:
    """The URL without credentials or query string (where tokens usually travel)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


# Query parameters that usually carry a secret (?token=, ?api_key=, ?sig=, ...).
_SECRET_PARAM = re.compile(r"(?i)(token|key|secret|pass|pwd|auth|sig|credential|session|code)")


def public_url(url: str) -> str:
    """``url`` fit to show and to send on: no ``user:password@``, and the value of
    every query parameter whose name suggests a secret replaced by ``REDACTED``. The
    rest of the query stays, so two probes of one path still differ. Used wherever a
    configured URL becomes a label, a source name or a message: those reach logs,
    /metrics, the store, postmortems and the receivers (PagerDuty, chat)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    query = "&".join(_redacted(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def _redacted(pair: str) -> str:
    name, eq, _value = pair.partition("=")
    return f"{name}=REDACTED" if eq and _SECRET_PARAM.search(name) else pair


def _reason(e: BaseException) -> str | None:
    """A short root cause, or None if ``e`` is only a wrapper."""
    # Imported here: only a failed HTTP call gets this far, and it loaded them already.
    import socket  # noqa: PLC0415
    import ssl  # noqa: PLC0415
    from http.client import IncompleteRead, RemoteDisconnected  # noqa: PLC0415

    if "Timeout" in type(e).__name__ or isinstance(e, TimeoutError):  # not by MRO: see NewConnectionError
        return "timed out"
    reasons: tuple[tuple[type[BaseException], str], ...] = (
        (socket.gaierror, "name not resolved"),
        (ConnectionRefusedError, "connection refused"),
        (RemoteDisconnected, "connection closed without a response"),  # before its base class
        (ConnectionResetError, "connection reset by peer"),
        (IncompleteRead, "connection closed mid-body"),
    )
    for kind, reason in reasons:
        if isinstance(e, kind):
            return reason
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {e.verify_message}"
    if isinstance(e, ssl.SSLError):
        return f"TLS error: {e.reason or e}"
    if isinstance(e, OSError) and e.errno is not None and e.strerror:
        return e.strerror[:1].lower() + e.strerror[1:]  # "No route to host" → "no route to host"
    return None


def retry_after(value: object, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a delay (``120``) or an HTTP date
    (``Wed, 21 Oct 2026 07:28:00 GMT``, some proxies and gateways send one), counted
    from ``now``, the wall time the answer came in. None when absent or unreadable;
    never negative, never infinite."""
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    try:
        seconds: float | None = float(text)
    except ValueError:
        seconds = _seconds_until(text, now)
    return max(0.0, seconds) if seconds is not None and math.isfinite(seconds) else None


def _seconds_until(http_date: str, now: float) -> float | None:
    import email.utils  # noqa: PLC0415 - 9 ms at import, and only a throttled send needs it

    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": a date without a zone is UTC in HTTP
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - now
