"""The daemon's HTTP server: /healthz, /readyz, /metrics and the JSON API.

Stdlib ``ThreadingHTTPServer`` in one thread; bound to 127.0.0.1 unless configured
otherwise. Every path except ``/healthz`` needs ``Authorization: Bearer <token>``.
Request bodies are capped, each request must arrive whole within ``http.timeout``
(one deadline, not one per read), at most :data:`MAX_CONNECTIONS` are served at once,
error bodies are fixed texts of ours (never an exception's text from a library, which
could carry a URL or a key), and the access log never sees headers.

API (JSON)::

    GET  /api/v1/incidents?status=open&limit=50
    GET  /api/v1/incidents/{id}                 incident with its alerts
    GET  /api/v1/incidents/{id}/timeline
    GET  /api/v1/incidents/{id}/action-items
    POST /api/v1/incidents/{id}/ack             {"actor": "asha", "reason": "looking"}
    POST /api/v1/incidents/{id}/resolve         {"actor": "asha", "reason": "rolled back"}
    POST /api/v1/incidents/{id}/notes           {"actor": "asha", "text": "db failover done"}
    POST /api/v1/reload                         re-read config and rules (as SIGHUP)
"""

from __future__ import annotations

import errno
import io
import json
import math
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import structlog
from prometheus_client import CONTENT_TYPE_LATEST

from triaged.incidents.human import AlreadyDoneError, HumanActions
from triaged.incidents.model import IncidentStatus, TransitionError, as_json
from triaged.log import Throttle
from triaged.model import format_value
from triaged.promql import ExprError, Matrix, Scalar, Vector
from triaged.promql.values import Value
from triaged.service.auth import BearerAuth
from triaged.store import actions as action_rows
from triaged.store import incidents as incident_rows
from triaged.store.db import Store

log = structlog.get_logger("triaged.http")

MAX_LIMIT = 500
# Connections served at once, unless `http.max_connections` says otherwise.
MAX_CONNECTIONS = 64
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
)
# The client went away mid-request or mid-response: its business, not an error of ours.
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
_INCIDENT = re.compile(r"^/api/v1/incidents/(\d{1,12})(?:/(timeline|action-items|ack|resolve|notes))?$")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Api:
    """What the handlers call; built by the service host from the running daemon."""

    store: Store
    actions: HumanActions
    auth: BearerAuth
    now: Callable[[], float]
    metrics: Callable[[], bytes]
    live: Callable[[], tuple[bool, str]]
    ready: Callable[[], tuple[bool, str]]
    reload: Callable[[], dict[str, Any]]
    evaluate: Callable[[str, float], Value] | None = None
    on_request: Callable[[int], None] = lambda _code: None
    max_body_bytes: int = 64 * 1024

    # -- reads -------------------------------------------------------------------------
    def list_incidents(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        status = query.get("status", [None])[0]
        if status is not None and status != "open" and status not in set(IncidentStatus):
            raise ApiError(400, "status must be open or an incident status")
        try:
            limit = min(MAX_LIMIT, max(1, int(query.get("limit", ["50"])[0])))
        except ValueError:
            raise ApiError(400, "limit must be an integer") from None
        found = incident_rows.list_incidents(self.store, status=status, limit=limit)
        return [as_json(i) for i in found]

    def incident(self, incident_id: int) -> dict[str, Any]:
        found = incident_rows.get_incident(self.store, incident_id)
        if found is None:
            raise ApiError(404, f"no incident #{incident_id}")
        return {**as_json(found), "alerts": incident_rows.incident_alerts(self.store, incident_id)}

    def timeline(self, incident_id: int) -> list[dict[str, Any]]:
        self.incident(incident_id)
        return incident_rows.timeline(self.store, incident_id)

    def action_items(self, incident_id: int) -> list[dict[str, Any]]:
        self.incident(incident_id)
        items = action_rows.list_items(self.store, incident_id=incident_id)
        return [{**asdict(i), "status": i.status.value} for i in items]

    def query(self, params: dict[str, list[str]]) -> dict[str, Any]:
        """Prometheus' instant-query answer shape, so existing tools can read it."""
        expr = params.get("query", [""])[0]
        if not expr or self.evaluate is None:
            raise ApiError(400, "query= is required")
        try:
            at = float(params.get("time", [str(self.now())])[0])
            result = self.evaluate(expr, at)
        except ValueError:
            raise ApiError(400, "time must be unix seconds") from None
        except ExprError as exc:
            raise ApiError(400, str(exc)) from None
        return {"status": "success", "data": query_json(result, at)}

    # -- writes ------------------------------------------------------------------------
    def act(self, incident_id: int, verb: str, body: dict[str, Any]) -> dict[str, Any]:
        actor = _text(body, "actor", required=True, limit=100)
        with structlog.contextvars.bound_contextvars(incident_id=incident_id, actor=actor):
            try:
                if verb == "notes":
                    self.actions.note(incident_id, actor, _text(body, "text", required=True), self.now())
                    log.info("api_note_added")
                    return self.incident(incident_id)
                target = IncidentStatus.ACKNOWLEDGED if verb == "ack" else IncidentStatus.RESOLVED
                force = body.get("force") is True
                moved = self.actions.move(
                    incident_id, target, actor, _text(body, "reason"), self.now(), force=force
                )
            except AlreadyDoneError as done:  # repeating a step is harmless: answer with the incident
                return as_json(done.incident)
            except LookupError:
                raise ApiError(404, f"no incident #{incident_id}") from None
            except TransitionError as exc:
                raise ApiError(409, str(exc)) from None
            log.info("api_incident_moved", to=target.value)
            return as_json(moved)


def query_json(result: Value, at: float) -> dict[str, Any]:
    if isinstance(result, Vector):
        rows = [{"metric": s.labels.as_dict(), "value": [at, format_value(s.value)]} for s in result]
        return {"resultType": "vector", "result": rows}
    if isinstance(result, Matrix):
        series = [
            {"metric": s.labels.as_dict(), "values": [[t / 1000, format_value(v)] for t, v in s.points]}
            for s in result
        ]
        return {"resultType": "matrix", "result": series}
    if isinstance(result, Scalar):
        return {"resultType": "scalar", "result": [at, format_value(result.value)]}
    return {"resultType": "string", "result": [at, result.value]}


def _text(body: dict[str, Any], key: str, *, required: bool = False, limit: int = 4000) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise ApiError(400, f"{key} must be a string")
    value = value.strip()
    if required and not value:
        raise ApiError(400, f"{key} is required")
    if len(value) > limit:
        raise ApiError(400, f"{key} is longer than {limit} characters")
    return value


class _DeadlineReader(io.RawIOBase):
    """The connection as the request parser reads it, under one deadline for the whole
    request (line, headers, body). The socket's own timeout restarts at every recv, so
    a client sending a header line every few seconds held a thread for ever."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline = math.inf

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request not received in time")
        self._sock.settimeout(None if math.isinf(remaining) else remaining)
        return self._sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    api: Api  # set on the subclass the server makes
    server_version = "triaged"
    sys_version = ""  # do not advertise the Python version
    protocol_version = "HTTP/1.1"

    # -- plumbing ----------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the plain reader: only its reference to the socket goes
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        # The clock starts when we wait for the request, so an idle keep-alive
        # connection is bounded by the same deadline. A TimeoutError from the reader
        # is handled by the stdlib: it closes the connection and the thread ends.
        self._reader.deadline = time.monotonic() + (self.timeout or math.inf)
        super().handle_one_request()

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        path = urlsplit(self.path).path
        try:
            if path == "/healthz" and method == "GET":
                ok, detail = self.api.live()
                self._send(200 if ok else 503, {"status": "ok" if ok else "unhealthy", "detail": detail})
                return
            if not self.api.auth.allows(self.headers.get("Authorization")):
                self._drain()
                self._log_unauthorized(method, path)
                raise ApiError(401, "missing or wrong bearer token")
            self._route(method, path)
        except ApiError as exc:
            self._send(exc.status, {"error": exc.message})
        except _CLIENT_GONE as exc:  # nobody is left to answer
            self.close_connection = True
            log.debug("api_client_gone", method=method, path=path, error_type=type(exc).__name__)
        # A boundary: one bad request must not kill the server thread; the body stays generic.
        except Exception as exc:
            log.error("api_error", method=method, path=path, error_type=type(exc).__name__, error=str(exc))
            self._send(500, {"error": "internal error (see the triaged log)"})

    def _log_unauthorized(self, method: str, path: str) -> None:
        server = cast(_Server, self.server)
        held = server.unauthorized.due(server.clock())
        if held is not None:
            client = self.client_address[0]
            log.warning("api_unauthorized", method=method, path=path, client=client, held_back=held)

    def _route(self, method: str, path: str) -> None:
        api = self.api
        if method == "GET" and path == "/readyz":
            ok, detail = api.ready()
            self._send(200 if ok else 503, {"status": "ready" if ok else "not ready", "detail": detail})
        elif method == "GET" and path == "/metrics":
            self._send_bytes(200, api.metrics(), CONTENT_TYPE_LATEST)
        elif method == "GET" and path == "/api/v1/query":
            self._send(200, api.query(parse_qs(urlsplit(self.path).query)))
        elif method == "GET" and path == "/api/v1/incidents":
            self._send(200, api.list_incidents(parse_qs(urlsplit(self.path).query)))
        elif method == "POST" and path == "/api/v1/reload":
            self._body()
            result = api.reload()
            self._send(200 if result.get("ok") else 422, result)
        elif (m := _INCIDENT.match(path)) is not None:
            self._incident(method, int(m.group(1)), m.group(2))
        else:
            raise ApiError(404, "no such endpoint")

    def _incident(self, method: str, incident_id: int, sub: str | None) -> None:
        reads: dict[str | None, Callable[[int], Any]] = {
            None: self.api.incident,
            "timeline": self.api.timeline,
            "action-items": self.api.action_items,
        }
        if sub in reads:
            if method != "GET":
                raise ApiError(405, "use GET")
            self._send(200, reads[sub](incident_id))
            return
        if method != "POST":
            raise ApiError(405, "use POST")
        self._send(200, self.api.act(incident_id, str(sub), self._body()))

    def _body(self) -> dict[str, Any]:
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            if self.headers.get("Transfer-Encoding"):
                raise ApiError(411, "Content-Length is required")
            return {}
        if not length_text.isdigit():
            raise ApiError(400, "bad Content-Length")
        length = int(length_text)
        if length > self.api.max_body_bytes:
            self.close_connection = True  # the unread body must not be parsed as a request
            raise ApiError(413, f"body larger than {self.api.max_body_bytes} bytes")
        try:
            raw = self.rfile.read(length) if length else b""
        except TimeoutError:
            self.close_connection = True
            raise ApiError(408, "request not received in time") from None
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "body must be JSON") from None
        except RecursionError:  # [[[[…]]]] within the size limit: the parser's stack, not ours
            raise ApiError(400, "body is nested too deeply") from None
        if not isinstance(body, dict):
            raise ApiError(400, "body must be a JSON object")
        return body

    def _drain(self) -> None:
        # An unauthenticated body is never read: drop the connection after answering.
        if self.headers.get("Content-Length") not in (None, "0"):
            self.close_connection = True

    def _send(self, status: int, data: Any) -> None:
        body = json.dumps(data, sort_keys=True, default=str).encode()
        self._send_bytes(status, body, "application/json")

    def _send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        # The request is read: writing gets the plain per-send timeout again, not
        # what was left of the read deadline.
        self.connection.settimeout(self.timeout)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="triaged"')
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.api.on_request(status)

    def log_message(self, format: str, *args: Any) -> None:
        # The stdlib access log goes to stderr unstructured; ours is in _handle and
        # log_request, without headers.
        return

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("api_request", method=self.command, path=urlsplit(self.path).path, status=code)


class _Server(ThreadingHTTPServer):
    """Admits at most ``max_connections`` at once and keeps socketserver's raw
    tracebacks off stderr."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[_Handler],
        *,
        max_connections: int,
        clock: Callable[[], float],
        on_refused: Callable[[int], None],
    ) -> None:
        self.max_connections = max_connections
        self.clock = clock
        self.on_refused = on_refused
        self.active = 0
        self.refused = Throttle()
        self.unauthorized = Throttle()
        self._slots = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._admit():
            self._refuse(request, client_address)
            return
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _admit(self) -> bool:
        with self._slots:
            if self.active >= self.max_connections:
                return False
            self.active += 1
            return True

    def _release(self) -> None:
        with self._slots:
            self.active -= 1

    def _refuse(self, request: socket.socket, client_address: Any) -> None:
        """Count, then answer 503 without waiting (this is the accept loop) and close."""
        self.on_refused(503)
        held = self.refused.due(self.clock())
        if held is not None:
            log.warning(
                "http_connections_refused",
                limit=self.max_connections,
                client=client_address[0],
                held_back=held,
            )
        try:
            request.setblocking(False)
            request.send(_BUSY)
        except OSError:
            pass  # its buffer is full or it is gone: closing is answer enough
        self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Replaces socketserver's traceback on stderr (not JSON, not ours)."""
        exc = sys.exc_info()[1]
        client = client_address[0] if client_address else ""
        if isinstance(exc, _CLIENT_GONE):
            log.debug("api_client_gone", client=client, error_type=type(exc).__name__)
            return
        error = str(exc)
        log.error("api_connection_error", client=client, error_type=type(exc).__name__, error=error)


class _Server6(_Server):
    address_family = socket.AF_INET6


class ApiServer:
    """The server thread. ``port=0`` picks a free port (tests); see :attr:`port`."""

    def __init__(
        self,
        host: str,
        port: int,
        api: Api,
        *,
        timeout_s: float = 10.0,
        max_connections: int = MAX_CONNECTIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``timeout_s``: the whole of each request must arrive within it. ``clock``
        paces the rate-limited log lines (tests step it)."""
        handler = type("Handler", (_Handler,), {"api": api, "timeout": timeout_s})
        server_class = _Server6 if ":" in host else _Server
        try:
            self._server = server_class(
                (host, port), handler, max_connections=max_connections, clock=clock, on_refused=api.on_request
            )
        except OSError as exc:
            # The bare "[Errno 98] Address already in use" names neither setting nor address.
            problem = "is already in use (another triaged?)" if exc.errno == errno.EADDRINUSE else f"({exc})"
            raise OSError(f"http.listen {host}:{port} {problem}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def active_connections(self) -> int:
        return self._server.active

    @property
    def refused_connections(self) -> int:
        return self._server.refused.total

    def start(self) -> None:
        self._thread.start()
        log.info("http_listening", host=self.host, port=self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
