"""The HTTP API against hostile or careless clients, over real sockets on 127.0.0.1:
a request trickled in forever, more connections than the cap, a JSON body nested
past the parser's stack, a flood of wrong tokens, clients hanging up mid-exchange."""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from structlog.testing import capture_logs

from triaged.incidents.human import HumanActions
from triaged.service.auth import BearerAuth
from triaged.service.httpapi import Api, ApiServer, Throttle
from triaged.store import open_store

from .conftest import TOKEN, wait_until

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Served:
    server: ApiServer
    clock: list[float]
    live: list[Callable[[], tuple[bool, str]]] = field(default_factory=list)
    on_request: list[Callable[[int], None]] = field(default_factory=list)

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.server.port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"

    def connect(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=2.0)

    def settled(self) -> None:
        """Every handler thread has ended."""
        wait_until(lambda: self.server.active_connections == 0, 5.0, "handler threads to end")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """A real ApiServer over a real store; ``live`` (for /healthz) can be swapped."""
    made: list[ApiServer] = []
    store = open_store(tmp_path / "triaged.db")

    def make(**kwargs: Any) -> Served:
        clock = [1000.0]
        served: Served
        api = Api(
            store=store,
            actions=HumanActions(store, None),
            auth=BearerAuth(TOKEN),
            now=time.time,
            metrics=lambda: b"",
            live=lambda: served.live[-1]() if served.live else (True, "ok"),
            ready=lambda: (True, "ok"),
            reload=lambda: {"ok": True},
            on_request=lambda code: [hook(code) for hook in served.on_request] and None,
        )
        server = ApiServer("127.0.0.1", 0, api, clock=lambda: clock[0], **kwargs)
        served = Served(server, clock)
        server.start()
        made.append(server)
        return served

    yield make
    for server in made:
        server.stop()
    store.close()


def reset(sock: socket.socket) -> None:
    """Close with RST, as a client killed mid-exchange does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def closed_by_server(sock: socket.socket, wait_s: float) -> bool:
    readable, _, _ = select.select([sock], [], [], wait_s)
    if not readable:
        return False
    try:
        return sock.recv(4096) == b""
    except OSError:
        return True


def read_to_end(sock: socket.socket) -> bytes:
    """All the server sends until it closes (the socket's 2 s timeout otherwise)."""
    got = b""
    with sock:
        while chunk := sock.recv(4096):
            got += chunk
    return got


# -- 1: one deadline per request, and a cap on connections --------------------------------
def test_a_client_trickling_headers_is_cut_off_at_the_request_deadline(serve: Callable[..., Served]) -> None:
    """Each header line comes well within the per-read timeout, so only a deadline for
    the whole request ends it."""
    served = serve(timeout_s=0.5)
    sock = served.connect()
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    cut = False
    while not cut and time.monotonic() - started < 2.5:
        if closed_by_server(sock, 0.1):
            cut = True
            break
        try:
            sock.sendall(b"X-Slow: 1\r\n")
        except OSError:
            cut = True
    elapsed = time.monotonic() - started
    sock.close()
    assert cut, "the server still reads a request trickled in for 2.5 s with a 0.5 s timeout"
    assert elapsed < 2.0
    served.settled()
    assert requests.get(served.url("/healthz"), timeout=5).status_code == 200


def test_connections_over_the_cap_are_refused_and_the_server_recovers(serve: Callable[..., Served]) -> None:
    served = serve(timeout_s=5.0, max_connections=3)
    idle = [served.connect() for _ in range(3)]
    try:
        wait_until(lambda: served.server.active_connections == 3, 5.0, "3 connections admitted")
        with capture_logs() as logs:
            answers = [read_to_end(served.connect()) for _ in range(2)]  # a held one times out
        assert answers == [answers[0]] * 2 and answers[0].startswith(b"HTTP/1.1 503 ")
        assert served.server.refused_connections == 2
        refused = [e for e in logs if e["event"] == "http_connections_refused"]
        assert len(refused) == 1 and refused[0]["limit"] == 3  # the second one is held back
    finally:
        for sock in idle:
            sock.close()
    served.settled()
    assert requests.get(served.url("/healthz"), timeout=5).status_code == 200


# -- 2: deep JSON ------------------------------------------------------------------------
def test_a_deeply_nested_json_body_is_a_bad_request_not_a_crash(serve: Callable[..., Served]) -> None:
    served = serve()
    body = b"[" * 50_000  # within the 64 KiB body limit
    with capture_logs() as logs:
        answer = requests.post(served.url("/api/v1/incidents/1/notes"), headers=AUTH, data=body, timeout=5)
    assert answer.status_code == 400
    assert answer.json() == {"error": "body is nested too deeply"}
    assert not [e for e in logs if e["log_level"] == "error"]


# -- 3: a flood of wrong tokens ---------------------------------------------------------
def test_unauthorized_requests_are_logged_at_most_once_a_minute(serve: Callable[..., Served]) -> None:
    served = serve()
    with capture_logs() as logs, requests.Session() as session:
        for _ in range(30):
            assert session.get(served.url("/api/v1/incidents"), timeout=5).status_code == 401
        served.clock[0] += 61.0
        assert session.get(served.url("/metrics"), timeout=5).status_code == 401
    lines = [e for e in logs if e["event"] == "api_unauthorized"]
    assert [(e["path"], e["held_back"]) for e in lines] == [("/api/v1/incidents", 0), ("/metrics", 29)]


def test_throttle_says_how_many_it_held_back() -> None:
    throttle = Throttle(every_s=60.0)
    assert throttle.due(0.0) == 0
    assert [throttle.due(t) for t in (1.0, 30.0, 59.9)] == [None, None, None]
    assert throttle.due(60.0) == 3
    assert throttle.due(61.0) is None and throttle.total == 6


# -- 4: clients hanging up ---------------------------------------------------------------
def test_a_client_hanging_up_mid_request_leaves_no_traceback(
    serve: Callable[..., Served], capfd: pytest.CaptureFixture[str]
) -> None:
    served = serve()
    with capture_logs() as logs:
        for _ in range(5):
            sock = served.connect()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers not finished
            reset(sock)
        served.settled()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err, err
    assert not [e for e in logs if e["log_level"] == "error"]


def test_a_client_hanging_up_before_the_answer_leaves_no_traceback(
    serve: Callable[..., Served], capfd: pytest.CaptureFixture[str]
) -> None:
    """The answer is written to a connection already reset: a broken pipe, quietly."""
    served = serve()
    entered, gone = threading.Event(), threading.Event()

    def slow_live() -> tuple[bool, str]:
        entered.set()
        gone.wait(5.0)
        return True, "ok"

    served.live.append(slow_live)
    with capture_logs() as logs:
        sock = served.connect()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(5.0)
        reset(sock)
        gone.set()
        served.settled()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err, err
    assert not [e for e in logs if e["log_level"] == "error"]


def test_other_connection_errors_are_one_log_line(
    serve: Callable[..., Served], capfd: pytest.CaptureFixture[str]
) -> None:
    """An error that escapes the handler (here: counting the answer fails, so even the
    500 cannot be sent) is one log line, not a traceback printed on stderr."""
    served = serve()

    def broken_count(_code: int) -> None:
        raise ValueError("counter broken")

    served.on_request.append(broken_count)
    with capture_logs() as logs:
        sock = served.connect()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        read_to_end(sock)
        served.settled()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err, err
    errors = [e for e in logs if e["event"] == "api_connection_error"]
    assert [(e["error_type"], e["error"]) for e in errors] == [("ValueError", "counter broken")]
