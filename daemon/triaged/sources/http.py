"""A bounded HTTP GET for scrapes and probes.

``requests`` timeouts apply to each socket operation, so a target that trickles one
byte a second never times out. :func:`fetch` therefore streams the body and, before
every read, shrinks the socket timeout to what is left of a total deadline; it stops
reading past ``max_bytes``. The headers, and every redirect hop, come before any of
that: a session from :func:`new_session` lets a watchdog shut the sockets a fetch is
using when its deadline passes, so a peer answering its headers byte by byte, or a
chain of slow redirects, is cut off at ``timeout`` as well.

Every failure comes back as a one-line ``error`` string; nothing raises.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection

from triaged import __version__

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
) -> FetchResult:
    """GET ``url`` within ``timeout`` seconds in total and at most ``max_bytes`` of
    (decoded) body: a longer body is an error, or with ``truncate`` (a probe, which
    judges the status only) just cut short. Non-2xx statuses are not errors here;
    callers judge them."""
    start = time.monotonic()
    deadline = start + timeout
    status = 0
    watch = _WATCHDOG.watch(deadline)
    try:
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        with session.get(url, headers=sent, timeout=(timeout, timeout), stream=True) as resp:
            status = resp.status_code
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
        _WATCHDOG.done(watch)
    return FetchResult(status, body, time.monotonic() - start)


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


# -- the deadline watchdog --------------------------------------------------------------


def new_session() -> requests.Session:
    """A session whose connections the watchdog can cut off at a fetch's deadline."""
    session = requests.Session()
    adapter = _WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _Watch:
    """The connections one fetch has used; shut when its deadline passes."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._conns: list[HTTPConnection] = []
        self._lock = threading.Lock()

    def add(self, conn: HTTPConnection) -> None:
        with self._lock:
            self._conns.append(conn)
            fired = self.fired
        if fired:
            _shut(conn)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            conns = list(self._conns)
        for conn in conns:
            _shut(conn)


def _shut(conn: HTTPConnection) -> None:
    """Wake a thread blocked reading ``conn``: its read returns at once."""
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One thread for every fetch in the process: a heap of deadlines, not a timer
    thread per scrape."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.current = threading.local()  # the fetching thread's watch, for its connections

    def watch(self, deadline: float) -> _Watch:
        watch = _Watch(deadline)
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()
        self.current.watch = watch
        return watch

    def done(self, watch: _Watch) -> None:
        self.current.watch = None
        watch.deadline = -1.0  # finished: the heap entry is dropped when it comes up

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, watch = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if watch.deadline >= 0:
                watch.fire()


_WATCHDOG = _Watchdog()


def _register(conn: HTTPConnection) -> None:
    """Tell the calling thread's fetch, if any, that it is using ``conn``."""
    watch = getattr(_WATCHDOG.current, "watch", None)
    if isinstance(watch, _Watch):
        watch.add(conn)


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> urllib3.PoolManager:
        """Through an HTTP(S) proxy (``$HTTP_PROXY``) too; a SOCKS proxy keeps its own
        connection classes, and there only the body's deadline applies."""
        manager: urllib3.PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, urllib3.ProxyManager):
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


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
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"{type(exc).__name__}: {first}"[:300]


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
)
