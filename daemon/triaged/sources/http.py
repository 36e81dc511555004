"""A bounded HTTP GET for scrapes and probes.

``requests`` timeouts apply to each socket operation, so a target that trickles one
byte a second never times out. :func:`fetch` therefore streams the body and, before
every read, shrinks the socket timeout to what is left of a total deadline; it stops
reading past ``max_bytes``. The headers, and every redirect hop, come before any of
that: a session from :func:`new_session` lets a watchdog (:mod:`triaged.httpdeadline`,
shared with the notifiers) shut the sockets a fetch is using when its deadline
passes, so a peer answering its headers byte by byte, or a chain of slow redirects,
is cut off at ``timeout`` as well.

Every failure comes back as a one-line ``error`` string; nothing raises.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

import requests
import urllib3

from triaged import __version__
from triaged.errors import public_url, root_cause
from triaged.httpdeadline import WATCHDOG, new_session

# new_session: for scrapes and probes
__all__ = ["FetchResult", "describe_error", "fetch", "new_session", "redirect_note"]

_CHUNK = 65536
# Names us in the target's access log, as Prometheus/<version> does for Prometheus.
USER_AGENT = f"triaged/{__version__}"


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one GET produced. ``status`` is 0 when no response arrived; it is kept
    when the body was cut short, so a probe can still report it."""

    status: int
    body: bytes
    elapsed: float
    error: str | None = None
    location: str | None = None  # where a redirect not followed pointed
    content_type: str = ""  # the answer's Content-Type header, as sent

    @property
    def ok(self) -> bool:
        return self.error is None


class _BodyTooLargeError(Exception):
    pass


class _DeadlineError(Exception):
    pass


def fetch(
    session: requests.Session,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    truncate: bool = False,
    follow_redirects: bool = True,
) -> FetchResult:
    """GET ``url`` within ``timeout`` seconds in total and at most ``max_bytes`` of
    (decoded) body: a longer body is an error, or with ``truncate`` (a probe, which
    judges the status only) just cut short. Non-2xx statuses are not errors here;
    callers judge them; without ``follow_redirects`` a 3xx is the answer."""
    start = time.monotonic()
    deadline = start + timeout
    status = 0
    location: str | None = None
    content_type = ""
    watch = WATCHDOG.watch(deadline)
    try:
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        with session.get(
            url, headers=sent, timeout=(timeout, timeout), stream=True, allow_redirects=follow_redirects
        ) as resp:
            status = resp.status_code
            location = resp.headers.get("Location") if resp.is_redirect else None
            content_type = resp.headers.get("Content-Type", "")
            body = _read_body(resp, deadline, max_bytes, truncate)
        if watch.fired:  # a shut socket reads as a clean end: the body is not whole
            raise _DeadlineError
    except _BodyTooLargeError:
        return FetchResult(status, b"", time.monotonic() - start, f"body larger than {max_bytes} bytes")
    except _DeadlineError:
        return FetchResult(status, b"", time.monotonic() - start, f"timeout after {timeout:g}s")
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        # The network edge: every transport failure is data for the caller.
        reason = f"timeout after {timeout:g}s" if watch.fired else describe_error(exc, timeout)
        return FetchResult(status, b"", time.monotonic() - start, reason)
    finally:
        WATCHDOG.done(watch)
    return FetchResult(status, body, time.monotonic() - start, location=location, content_type=content_type)


def redirect_note(result: FetchResult) -> str:
    """``" (redirect to …, not followed)"`` for a 3xx answer that was not followed,
    so the log line says why, without the redirect's credentials."""
    if result.location is None:
        return ""
    if not result.location:  # requests cannot follow it either
        return " (a redirect without a Location)"
    return f" (redirect to {public_url(result.location)}, not followed: follow_redirects is false)"


def _read_body(resp: requests.Response, deadline: float, max_bytes: int, truncate: bool) -> bytes:
    raw = resp.raw
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        if truncate:
            return b""
        raise _BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _DeadlineError
        _set_socket_timeout(raw, remaining)
        # read1 returns what has arrived instead of waiting for a full chunk, so the
        # deadline is checked even while a peer trickles.
        chunk = raw.read1(_CHUNK, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            if truncate:
                return b"".join(chunks)
            raise _BodyTooLargeError
        chunks.append(chunk)


def _set_socket_timeout(raw: urllib3.HTTPResponse, remaining: float) -> None:
    """Best effort: reach the live socket through urllib3's connection object."""
    conn = getattr(raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if isinstance(sock, socket.socket):
        sock.settimeout(remaining)


def describe_error(exc: BaseException, timeout: float) -> str:
    """A one-line reason an on-call engineer can read, without urllib3's nesting."""
    text = str(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return f"connect timeout after {timeout:g}s"
    if isinstance(exc, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return f"timeout after {timeout:g}s"
    if "timed out" in text.lower():
        return f"timeout after {timeout:g}s"
    for needle, reason in _KNOWN_REASONS:
        if needle in text:
            return reason
    cause = root_cause(exc)  # e.g. a TLS failure, buried in urllib3's "Max retries exceeded"
    if cause is not None:
        return cause
    first = text.splitlines()[0] if text else type(exc).__name__
    # A URL may be quoted (`No connection adapters were found for 'ftp://user:pw@host/'`,
    # `Max retries exceeded with url: /metrics?token=…`): never its credentials or tokens.
    first = _URL_IN_TEXT.sub(lambda m: public_url(m.group()), first)
    first = _PATH_IN_TEXT.sub(lambda m: m.group(1) + public_url(m.group(2)), first)
    return f"{type(exc).__name__}: {first}"[:300]


_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+")
_PATH_IN_TEXT = re.compile(r"(with url: )(\S+)")


_KNOWN_REASONS = (
    ("Connection refused", "connection refused"),
    ("Connection reset", "connection reset by peer"),
    ("Name or service not known", "host name not found"),
    ("nodename nor servname", "host name not found"),
    ("Temporary failure in name resolution", "host name not found"),
    ("No route to host", "no route to host"),
    ("RemoteDisconnected", "connection closed without a response"),
    ("IncompleteRead", "connection closed mid-body"),
    ("Network is unreachable", "network unreachable"),
    # What a peer that does not speak HTTP, or speaks it wrongly, makes urllib3 say
    # in two nested reprs:
    ("BadStatusLine", "not an HTTP answer (bad status line)"),
    ("LineTooLong", "a response header line longer than 64 KiB"),
    ("got more than 100 headers", "more than 100 response headers"),
    ("failed to decode it", "the body does not decode as its Content-Encoding says"),
)
