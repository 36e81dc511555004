"""Shared fixtures for source tests: raw TCP servers
for behaviours pytest-httpserver cannot produce (hanging, trickling)."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator

import pytest

RawHandler = Callable[[socket.socket], None]


@pytest.fixture
def raw_server() -> Iterator[Callable[[RawHandler], str]]:
    """Start a TCP server whose connections are handed to a function; yields a
    factory returning the base URL. Handlers run in daemon threads and the server
    does not wait for them, so a handler may sleep past the test."""
    servers: list[socketserver.ThreadingTCPServer] = []

    def start(handler: RawHandler) -> str:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                # The client hanging up first is the point of these tests.
                with contextlib.suppress(OSError):
                    handler(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def refused_url() -> str:
    """A URL on a port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def read_request() -> Callable[[socket.socket], None]:
    return _read_request


def _read_request(sock: socket.socket) -> None:
    """Consume the request head so the client starts waiting for the answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return
        data += chunk
