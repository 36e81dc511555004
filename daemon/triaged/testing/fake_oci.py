"""A fake OCI endpoint for tests: the real ``oci`` SDK talks HTTP to 127.0.0.1.

The SDK bundles its own ``requests``, so request mocking libraries cannot intercept
it; a real server can. This one serves Monitoring (summarizeMetricsData, alarm
status, post_metric_data) and Notifications (publish, get topic), verifies request
signatures as OCI does, injects failures and delays, and records everything::

    with FakeOci() as fake:
        creds = fake.make_credentials(tmp_path)      # throwaway RSA key + config file
        fake.add_stream("oci_computeagent", "CpuUtilization", {"resourceId": "i1"},
                        [(t0, 12.5), (t0 + 60, 97.0)])
        fake.fail_next(3, 429, retry_after=2)
        ... point clients at fake.url ...
        assert fake.published[0].title == "[P1] ..."

It reads the wall clock only to check the signed ``date`` header, as OCI does.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from triaged.testing.fake_oci_api import DEFAULT_CODES, MetricStream, PublishedMessage, error, route
from triaged.testing.oci_signing import (
    FakeCredentials,
    RecordedRequest,
    fingerprint,
    generate_key,
    verify_signature,
    write_credentials,
)

__all__ = [
    "FakeCredentials",
    "FakeOci",
    "MetricStream",
    "PublishedMessage",
    "RecordedRequest",
    "fingerprint",
    "generate_key",
    "verify_signature",
    "write_credentials",
]


# -- credentials ---------------------------------------------------------------------


# -- records ---------------------------------------------------------------------------


@dataclass
class _Injection:
    remaining: int
    path_contains: str | None
    status: int | None = None
    code: str = ""
    message: str = ""
    retry_after: float | None = None
    delay: float = 0.0


# -- the server ------------------------------------------------------------------------


class FakeOci:
    """Start with :meth:`start` or ``with FakeOci() as fake``; ``url`` is the
    ``service_endpoint`` for every client (Monitoring, ingestion, ONS)."""

    def __init__(self, *, verify_signatures: bool = True, max_message_bytes: int = 65536) -> None:
        self.verify_signatures = verify_signatures
        self.max_message_bytes = max_message_bytes
        self.alarm_page_size = 1000
        self.known_topics: set[str] | None = None  # None: every topic exists
        self.requests: list[RecordedRequest] = []
        self.published: list[PublishedMessage] = []
        self.posted_metrics: list[dict[str, Any]] = []
        self.streams: list[MetricStream] = []
        self.alarms: list[dict[str, Any]] = []
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._injections: list[_Injection] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeOci:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.block_on_close = False  # hung handlers must not block stop()
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        # A short poll interval keeps stop() (and so each test's teardown) fast.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-oci", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # wake handlers sleeping in an injected delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOci:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeOci is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- set-up ----------------------------------------------------------------------
    def trust(self, key_id: str, public_key: rsa.RSAPublicKey) -> None:
        with self._lock:
            self._keys[key_id] = public_key

    def forget_keys(self) -> None:
        """Trust no key any more: every signed request gets 401 (wrong credentials)."""
        with self._lock:
            self._keys.clear()

    def make_credentials(self, directory: Path, **kwargs: Any) -> FakeCredentials:
        """Generate a key, write a config file for it and trust it."""
        creds = write_credentials(directory, **kwargs)
        self.trust(creds.key_id, creds.private_key.public_key())
        return creds

    def add_stream(
        self,
        namespace: str,
        name: str,
        dimensions: dict[str, str] | None = None,
        points: list[tuple[float, float]] | None = None,
        *,
        compartment_id: str | None = None,
        resource_group: str | None = None,
    ) -> MetricStream:
        """A metric stream; ``points`` are (epoch seconds, value)."""
        stream = MetricStream(
            namespace, name, dict(dimensions or {}), list(points or []),
            compartment_id, resource_group,
        )  # fmt: skip
        with self._lock:
            self.streams.append(stream)
        return stream

    def add_points(self, stream: MetricStream, points: list[tuple[float, float]]) -> None:
        with self._lock:
            stream.points.extend(points)

    def set_point(self, stream: MetricStream, t: float, value: float) -> None:
        """The datapoint at ``t`` (epoch seconds) now reads ``value``, as OCI's does
        once a partial bucket is complete; if there was none (an empty window whose
        data was ingested late), it appears, in time order."""
        with self._lock:
            kept = [(pt, v) for pt, v in stream.points if pt != t]
            stream.points[:] = sorted([*kept, (t, value)])

    def set_alarms(self, alarms: list[dict[str, Any]]) -> None:
        """Alarm status rows as OCI returns them (camelCase keys)."""
        with self._lock:
            self.alarms = list(alarms)

    def fail_next(
        self,
        count: int,
        status: int,
        *,
        code: str | None = None,
        message: str = "injected failure",
        retry_after: float | None = None,
        path_contains: str | None = None,
    ) -> None:
        """The next ``count`` matching requests get ``status`` instead of an answer."""
        code = code or DEFAULT_CODES.get(status, "InternalServerError")
        injection = _Injection(count, path_contains, status, code, message, retry_after)
        with self._lock:
            self._injections.append(injection)

    def delay_next(self, count: int, seconds: float, *, path_contains: str | None = None) -> None:
        """Hold the next ``count`` matching replies for ``seconds`` (stop() releases)."""
        with self._lock:
            self._injections.append(_Injection(count, path_contains, delay=seconds))

    def hang_next(self, count: int = 1, *, path_contains: str | None = None) -> None:
        self.delay_next(count, 3600.0, path_contains=path_contains)

    def calls(self, path_contains: str = "") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if path_contains in r.path]

    # -- request handling (called from handler threads) --------------------------------
    def _take_injections(self, path: str) -> tuple[float, _Injection | None]:
        delay, failure = 0.0, None
        with self._lock:
            for inj in self._injections:
                if inj.remaining <= 0 or (inj.path_contains and inj.path_contains not in path):
                    continue
                if inj.status is None and not delay:
                    delay = inj.delay
                    inj.remaining -= 1
                elif inj.status is not None and failure is None:
                    failure = inj
                    inj.remaining -= 1
            self._injections = [i for i in self._injections if i.remaining > 0]
        return delay, failure

    def _wait(self, seconds: float) -> None:
        self._release.wait(seconds)

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def _next_id(self) -> int:
        return next(self._ids)

    def _verify(self, req: RecordedRequest) -> str | None:
        """None if the signature is valid, else why not."""
        return verify_signature(req, self._keys)


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; everything is in fake.requests

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake: FakeOci = self.server.fake  # type: ignore[attr-defined]
        req = self._read()
        delay, failure = fake._take_injections(req.path)
        if delay:
            fake._wait(delay)
        if failure is not None:
            status, payload, extra = error(failure.status or 500, failure.code, failure.message)
            if failure.retry_after is not None:
                extra = {"retry-after": f"{failure.retry_after:g}"}
        elif fake.verify_signatures and (problem := fake._verify(req)):
            req.verified = False
            status, payload, extra = error(401, "NotAuthenticated", problem)
        else:
            req.verified = True if fake.verify_signatures else None
            status, payload, extra = route(fake, req)
        req.status = status
        fake._record(req)
        self._reply(status, payload, extra)

    def _read(self) -> RecordedRequest:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(min(length, 16 * 1024 * 1024)) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        # The raw query is kept because (request-target) signs it exactly as sent.
        return RecordedRequest(self.command, parts.path, parse_qs(parts.query), headers, body, parts.query)

    def _reply(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("opc-request-id", uuid.uuid4().hex.upper())
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (read timeout): that is the point of a hang test
