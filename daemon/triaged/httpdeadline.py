"""A total deadline for an HTTP exchange, shared by scrapes, probes and notifiers.

``requests`` timeouts apply to each socket operation, so a peer that answers one byte
a second never times out. A session from :func:`new_session` (or one passed through
:func:`watch_session`, as the OCI SDK's) uses connections that tell the calling
thread's :func:`deadline` about themselves; when the deadline passes, one watchdog
thread shuts their sockets, and the blocked read returns at once. That covers the
status line, the headers, every redirect hop and an HTTP(S) proxy. A shut socket reads
as a clean end, so callers check :attr:`Watch.fired` before trusting what they read.
Before a socket exists there is nothing to shut: a connect (and its TLS handshake) is
given what is left of the deadline as its timeout instead.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection

__all__ = ["WATCHDOG", "Watch", "deadline", "new_session", "watch_session"]


class Watch:
    """The connections one exchange has used; shut when its deadline passes."""

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


class Watchdog:
    """One thread for every exchange in the process: a heap of deadlines, not a timer
    thread per request."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.current = threading.local()  # the calling thread's watch, for its connections

    def watch(self, deadline: float) -> Watch:
        """Watch the calling thread's connections until ``deadline`` (monotonic)."""
        watch = Watch(deadline)
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()
        self.current.watch = watch
        return watch

    def done(self, watch: Watch) -> None:
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


WATCHDOG = Watchdog()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Watch]:
    """Cut off, ``seconds`` from now, whatever the calling thread is reading through a
    watched session. Check ``fired`` afterwards: a cut-off read may look like success."""
    watch = WATCHDOG.watch(time.monotonic() + seconds)
    try:
        yield watch
    finally:
        WATCHDOG.done(watch)


def _register(conn: HTTPConnection) -> None:
    """Tell the calling thread's watch, if any, that it is using ``conn``."""
    watch = getattr(WATCHDOG.current, "watch", None)
    if isinstance(watch, Watch):
        watch.add(conn)


# -- watched sessions ----------------------------------------------------------------


def new_session() -> requests.Session:
    """A session whose connections the watchdog can cut off at a deadline."""
    session = requests.Session()
    adapter = _WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def watch_session(session: Any) -> bool:
    """Let the watchdog cut off the connections of a session built elsewhere (the OCI
    SDK's, which bundles its own ``requests`` but uses this ``urllib3``), keeping its
    adapters' own connection classes. Idempotent. Returns False when the session does
    not have the expected shape: then only its per-read timeouts apply."""
    adapters = getattr(session, "adapters", None)
    if not isinstance(adapters, dict) or not adapters:
        return False
    covered = True
    for adapter in adapters.values():
        covered = _watch_adapter(adapter) and covered
    return covered


def _watch_adapter(adapter: Any) -> bool:
    if getattr(adapter, "_triaged_watched", False):
        return True
    manager = getattr(adapter, "poolmanager", None)
    original = getattr(adapter, "proxy_manager_for", None)
    if not isinstance(manager, urllib3.PoolManager) or not callable(original):
        return False
    _watch_pools(manager)
    manager.clear()  # pools made before this used unwatched connections
    adapter.proxy_manager_for = _watching_proxies(original)
    adapter._triaged_watched = True
    return True


def _watching_proxies(original: Callable[..., Any]) -> Callable[..., Any]:
    def proxy_manager_for(proxy: str, **proxy_kwargs: Any) -> Any:
        manager = original(proxy, **proxy_kwargs)
        if isinstance(manager, urllib3.ProxyManager):
            _watch_pools(manager)
        return manager

    return proxy_manager_for


def _watch_pools(manager: urllib3.PoolManager) -> None:
    manager.pool_classes_by_scheme = {
        scheme: watched_pool(pool) for scheme, pool in manager.pool_classes_by_scheme.items()
    }


@cache
def watched_pool(pool: type[urllib3.HTTPConnectionPool]) -> type[urllib3.HTTPConnectionPool]:
    """``pool`` with connections that register with the calling thread's watch."""
    if getattr(pool, "_triaged_watched", False):
        return pool
    attrs = {"ConnectionCls": _watched_connection(pool.ConnectionCls), "_triaged_watched": True}
    return type(f"Watched{pool.__name__}", (pool,), attrs)


@cache
def _watched_connection(conn: type[Any]) -> type[Any]:
    def connect(self: HTTPConnection) -> None:
        # No socket to shut until the handshake is done, so the connect (and TLS) get
        # only what is left of the deadline as their timeout, not a whole one of their
        # own: a redirect late in the exchange to a host that drops SYNs would double it.
        _cap_connect_timeout(self)
        conn.connect(self)

    def request(self: HTTPConnection, *args: Any, **kwargs: Any) -> None:
        _register(self)
        conn.request(self, *args, **kwargs)

    return type(f"Watched{conn.__name__}", (conn,), {"connect": connect, "request": request})


def _cap_connect_timeout(conn: HTTPConnection) -> None:
    watch = getattr(WATCHDOG.current, "watch", None)
    if not isinstance(watch, Watch) or watch.deadline < 0:
        return
    left = max(watch.deadline - time.monotonic(), 0.001)
    timeout = conn.timeout
    if not isinstance(timeout, int | float) or timeout > left:  # None or urllib3's default: none set
        conn.timeout = left


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> urllib3.PoolManager:
        """Through an HTTP(S) proxy (``$HTTP_PROXY``) too; a SOCKS proxy keeps its own
        connection classes, and there only the per-read timeouts apply."""
        manager: urllib3.PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, urllib3.ProxyManager):
            _watch_pools(manager)
        return manager
