"""HTTP front of the simulated BharatMart, plus its control API.

Two listeners on the same host: the *app* (``/metrics``, ``/api/health``,
``/api/health/ready``, and ``/control/`` for convenience) and a *control* listener
that only serves ``/control/``. ``down=True`` closes the app listener, so clients see
a refused connection exactly as when the real process dies, while the control
listener stays up to switch it back on.

With a latency fault, real answers are delayed by ``min(latency_ms, 700)`` ms, as the
real app delays every request; the cap keeps a 1 s scrape timeout from turning a
latency drill into a target-down drill.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

REAL_DELAY_CAP_MS = 700.0
HANG_LIMIT_S = 60.0


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    body: bytes | None
    user_agent: str = ""


# Request -> (status, content type, body bytes)
Handler = Callable[[Request], tuple[int, str, bytes]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Do not wait for hung handlers (health_hang) when closing.
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: Handler) -> None:
        self.app_handler = handler
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so closing the listener really stops
    # the app; a kept-alive connection would otherwise outlive ``down``.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._dispatch(None)

    def do_POST(self) -> None:
        declared = self.headers.get("Content-Length") or "0"
        length = int(declared) if declared.isdigit() else 0
        self._dispatch(self.rfile.read(min(length, 1 << 20)))

    def _dispatch(self, body: bytes | None) -> None:
        request = Request(self.command, urlsplit(self.path).path, body, self.headers.get("User-Agent", ""))
        status, ctype, payload = self.server.app_handler(request)
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a probe timeout); nothing to do

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every second would drown the terminal


class Listener:
    """One ThreadingHTTPServer in a background thread, restartable on the same port."""

    def __init__(self, host: str, port: int, handler: Handler, name: str) -> None:
        self.host = host
        self.port = port
        self._handler = handler
        self._name = name
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def open(self) -> None:
        if self._server is not None:
            return
        try:
            server = _Server((self.host, self.port), self._handler)
        except OSError as exc:  # which listener: the app's or the control API's
            raise OSError(exc.errno, f"{self._name} on {self.host}:{self.port}: {exc.strerror}") from exc
        self.port = server.server_address[1]  # port 0 becomes the real one, kept for reopen
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self._name,
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def json_response(status: int, body: object) -> tuple[int, str, bytes]:
    return status, "application/json; charset=utf-8", json.dumps(body).encode()


def iso_now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def health_body(healthy: bool) -> tuple[int, dict[str, Any]]:
    """``/api/health`` as the real app answers it (fixtures health-normal/dbdown)."""
    return (200, {"ok": True, "count": 1}) if healthy else (500, {"ok": False, "count": 0})


def ready_body(healthy: bool) -> tuple[int, dict[str, Any]]:
    """``/api/health/ready`` as in health-normal-ready.json / health-dbdown-ready.json."""
    if healthy:
        database: dict[str, Any] = {"status": "ok", "responseTimeMs": 2}
        return 200, {
            "status": "ready",
            "timestamp": iso_now(),
            "checks": {"database": database, "service": "ok"},
        }
    database = {"status": "failed", "error": "Database connection error. Retrying the connection."}
    return 503, {
        "status": "not ready",
        "timestamp": iso_now(),
        "checks": {"database": database, "service": "ok"},
    }


def wait_while(condition: Callable[[], bool], limit: float) -> None:
    """Block a handler thread while ``condition`` holds (a hung dependency)."""
    deadline = time.monotonic() + limit
    while condition() and time.monotonic() < deadline:
        time.sleep(0.05)
