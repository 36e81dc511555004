"""The bounded GET: total deadline, body cap, one-line errors."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from pytest_httpserver import HTTPServer

from triaged.sources.http import fetch, new_session

Start = Callable[[Callable[[socket.socket], None]], str]
Read = Callable[[socket.socket], None]


def test_returns_status_body_and_elapsed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data("hello", status=503)
    result = fetch(requests.Session(), httpserver.url_for("/x"), timeout=2, max_bytes=100)
    assert (result.status, result.body, result.error) == (503, b"hello", None)
    assert 0 < result.elapsed < 2


def test_body_over_the_limit_is_refused(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big").respond_with_data("x" * 1000)
    result = fetch(requests.Session(), httpserver.url_for("/big"), timeout=2, max_bytes=999)
    assert result.error == "body larger than 999 bytes"
    assert result.status == 200
    assert result.body == b""


def test_streamed_body_without_length_is_cut_at_the_limit(raw_server: Start, read_request: Read) -> None:
    def endless(sock: socket.socket) -> None:
        read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        for _ in range(200):
            sock.sendall(b"y" * 1024)

    url = raw_server(endless)
    result = fetch(requests.Session(), url, timeout=2, max_bytes=10_000)
    assert result.error == "body larger than 10000 bytes"


def test_a_trickling_body_is_cut_at_the_total_deadline(raw_server: Start, read_request: Read) -> None:
    def trickle(sock: socket.socket) -> None:
        read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            sock.sendall(b"z")
            time.sleep(0.02)

    url = raw_server(trickle)
    started = time.monotonic()
    result = fetch(requests.Session(), url, timeout=0.3, max_bytes=10_000)
    took = time.monotonic() - started
    assert result.error == "timeout after 0.3s"
    assert result.status == 200
    assert 0.28 < took < 0.6


def test_a_hung_server_times_out(raw_server: Start, read_request: Read) -> None:
    def hang(sock: socket.socket) -> None:
        read_request(sock)
        time.sleep(2)

    url = raw_server(hang)
    started = time.monotonic()
    result = fetch(requests.Session(), url, timeout=0.3, max_bytes=100)
    assert result.error == "timeout after 0.3s"
    assert result.status == 0
    assert 0.28 < time.monotonic() - started < 0.6


def test_headers_sent_byte_by_byte_are_cut_at_the_total_deadline(
    raw_server: Start, read_request: Read
) -> None:
    """Each byte resets a per-read timeout, so only the watchdog can stop this one.
    Before, the scrape never ended: no `up 0`, no alert, a worker thread held."""

    def trickle_headers(sock: socket.socket) -> None:
        read_request(sock)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
            sock.sendall(bytes([byte]))
            time.sleep(0.05)

    url = raw_server(trickle_headers)
    started = time.monotonic()
    result = fetch(new_session(), url, timeout=0.5, max_bytes=100)
    assert result.error == "timeout after 0.5s"
    assert 0.45 < time.monotonic() - started < 1.0


def test_the_deadline_holds_through_an_http_proxy(
    raw_server: Start, read_request: Read, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With $HTTP_PROXY set, requests talks to the proxy through its own pools: the
    watchdog must see those connections too. The "proxy" here trickles its answer."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    def slow_proxy(sock: socket.socket) -> None:
        read_request(sock)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
            sock.sendall(bytes([byte]))
            time.sleep(0.05)

    monkeypatch.setenv("HTTP_PROXY", raw_server(slow_proxy))
    started = time.monotonic()
    result = fetch(new_session(), "http://target.invalid/metrics", timeout=0.5, max_bytes=100)
    assert result.error == "timeout after 0.5s"
    assert time.monotonic() - started < 1.0


def test_slow_redirect_hops_share_one_deadline(httpserver: HTTPServer) -> None:
    def slow_hop(target: str) -> Callable[[object], object]:
        from werkzeug import Response

        def handler(_: object) -> Response:
            time.sleep(0.3)
            return Response(status=302, headers={"Location": target})

        return handler

    for i in range(5):
        httpserver.expect_request(f"/r{i}").respond_with_handler(slow_hop(f"/r{i + 1}"))
    httpserver.expect_request("/r5").respond_with_data("ok")
    started = time.monotonic()
    result = fetch(new_session(), httpserver.url_for("/r0"), timeout=0.8, max_bytes=100)
    assert result.error == "timeout after 0.8s"
    assert time.monotonic() - started < 1.2  # was 5 x 0.3 s: each hop had its own timeout


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose TCP handshake never completes: a listener that never accepts, its
    one-connection backlog already full, so the kernel drops further SYNs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    queued = []
    for _ in range(4):
        sock = socket.socket()
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect(("127.0.0.1", port))
        queued.append(sock)
    time.sleep(0.1)
    yield port
    for sock in [*queued, server]:
        sock.close()


def test_a_hanging_connect_late_in_the_exchange_ends_at_the_deadline(
    httpserver: HTTPServer, unanswered_port: int
) -> None:
    """A redirect 0.6 s in, to a host that never completes the handshake: the connect
    gets what is left of the 1 s, not a second full timeout of its own."""
    from werkzeug import Response

    def slow_redirect(_: object) -> Response:
        time.sleep(0.6)
        return Response(status=302, headers={"Location": f"http://127.0.0.1:{unanswered_port}/metrics"})

    httpserver.expect_request("/metrics").respond_with_handler(slow_redirect)
    started = time.monotonic()
    result = fetch(new_session(), httpserver.url_for("/metrics"), timeout=1.0, max_bytes=100)
    assert result.error == "timeout after 1s"
    assert time.monotonic() - started < 1.3  # was 1.6 s: the connect took a whole 1 s


def test_a_session_is_reused_after_a_deadline_cut(
    httpserver: HTTPServer, raw_server: Start, read_request: Read
) -> None:
    def hang(sock: socket.socket) -> None:
        read_request(sock)
        time.sleep(1.5)

    session = new_session()
    assert fetch(session, raw_server(hang), timeout=0.3, max_bytes=100).error == "timeout after 0.3s"
    httpserver.expect_request("/ok").respond_with_data("fine")
    result = fetch(session, httpserver.url_for("/ok"), timeout=1, max_bytes=100)
    assert (result.status, result.body, result.error) == (200, b"fine", None)


def test_truncate_keeps_the_start_of_a_long_body_without_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big").respond_with_data("x" * 1000)
    result = fetch(new_session(), httpserver.url_for("/big"), timeout=2, max_bytes=100, truncate=True)
    assert (result.status, result.error) == (200, None)


def test_connection_refused(refused_url: str) -> None:
    result = fetch(requests.Session(), refused_url, timeout=1, max_bytes=100)
    assert (result.status, result.error) == (0, "connection refused")


def test_closed_without_answer(raw_server: Start, read_request: Read) -> None:
    url = raw_server(read_request)  # read the request, then close the connection
    result = fetch(requests.Session(), url, timeout=1, max_bytes=100)
    assert result.status == 0
    assert result.error == "connection closed without a response"


def test_bad_url_is_an_error_not_an_exception() -> None:
    result = fetch(requests.Session(), "not a url", timeout=1, max_bytes=100)
    assert result.status == 0
    assert result.error is not None
    assert "\n" not in result.error
