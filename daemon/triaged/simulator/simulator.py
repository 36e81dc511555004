"""The :class:`Simulator`: a running, fault-injectable BharatMart on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any

from triaged.simulator.faults import FaultError, Faults
from triaged.simulator.server import (
    HANG_LIMIT_S,
    REAL_DELAY_CAP_MS,
    Listener,
    Request,
    health_body,
    json_response,
    ready_body,
    wait_while,
)
from triaged.simulator.shop import Shop

__all__ = ["Simulator"]

_TEXT = "text/plain; version=0.0.4; charset=utf-8"
# Scrapes remembered for scrapes_since(): an hour of one scraper every 5 s.
SCRAPE_LOG_SIZE = 1024
# Express mounts the health router at /api/health, so its routes read "/" and "/ready";
# the fixture shows "/health" and "/health/ready" for the same calls via the LB path.
_REAL_ROUTES = {
    "/metrics": "/metrics",
    "/api/health": "/health",
    "/api/health/ready": "/health/ready",
}


class Simulator:
    """BharatMart stand-in: ``/metrics``, health endpoints, self-generated traffic.

    ``autotick=False`` turns off the background traffic thread; tests then call
    :meth:`advance` to generate traffic deterministically (given ``seed``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        environment: str = "staging",
        seed: int = 1,
        traffic_rps: float = 50.0,
        *,
        control_port: int = 0,
        autotick: bool = True,
        tick_interval: float = 0.1,
    ) -> None:
        self.shop = Shop(seed=seed, traffic_rps=traffic_rps)
        self._initial = Faults(environment=environment)
        self._faults = self._initial
        self._lock = threading.Lock()
        self._app = Listener(host, port, self._handle_app, "bharatmart-app")
        self._control = Listener(host, control_port, self._handle_control, "bharatmart-control")
        self._autotick = autotick
        self._tick_interval = tick_interval
        self._stopping = threading.Event()
        self._ticker: threading.Thread | None = None
        self._scrapes: deque[tuple[float, str]] = deque(maxlen=SCRAPE_LOG_SIZE)

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> Simulator:
        self._control.open()
        if not self._faults.down:
            self._app.open()
        if self._autotick and self._ticker is None:
            self._stopping.clear()
            self._ticker = threading.Thread(target=self._tick_loop, name="bharatmart-traffic", daemon=True)
            self._ticker.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        self._app.close()
        self._control.close()

    def __enter__(self) -> Simulator:
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
        """Base URL of the app (``/metrics``, ``/api/health``...)."""
        return self._app.url

    @property
    def control_url(self) -> str:
        """Base URL of the control listener, which stays up while ``down``."""
        return self._control.url

    # -- faults -------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults | None = None, /, **changes: Any) -> Faults:
        """Replace the faults (``faults``) and/or change some fields (``changes``).

        Raises :class:`FaultError` for unknown fields or bad values.
        """
        with self._lock:
            old = self._faults
            new = (faults or old).updated(changes)
            self._faults = new
            if new.startup_failure and not old.startup_failure:
                self.shop.startup_failed()
            self._apply_down(new.down)
        return new

    def reset(self) -> Faults:
        """Back to a healthy app in the initial environment."""
        return self.set_faults(self._initial)

    def advance(self, seconds: float, step: float = 0.1) -> None:
        """Generate ``seconds`` of simulated traffic now, in ``step`` increments."""
        remaining = seconds
        while remaining > 1e-9:
            dt = min(step, remaining)
            self.shop.tick(dt, self._faults)
            remaining -= dt

    def metrics_text(self) -> str:
        return self.shop.exposition(self._faults.environment)

    def scrapes_since(self, since: float, user_agent_prefix: str = "") -> list[float]:
        """Wall-clock arrival times of ``/metrics`` requests at or after ``since`` whose
        User-Agent starts with ``user_agent_prefix``: when each scraper looked, which a
        benchmark needs to split "waiting for the next scrape" from the rest."""
        with self._lock:
            seen = list(self._scrapes)
        return [t for t, agent in seen if t >= since and agent.startswith(user_agent_prefix)]

    def _apply_down(self, down: bool) -> None:
        if not (self._control.running or self._app.running):
            return  # not started: start() honours the flag
        if down:
            self._app.close()
        else:
            self._app.open()

    def _tick_loop(self) -> None:
        last = time.monotonic()
        while not self._stopping.wait(self._tick_interval):
            now = time.monotonic()
            self.shop.tick(now - last, self._faults)
            last = now

    # -- HTTP ---------------------------------------------------------------------
    def _handle_app(self, request: Request) -> tuple[int, str, bytes]:
        method, path = request.method, request.path
        if path.startswith("/control/"):
            return self._handle_control(request)
        if path == "/metrics":
            with self._lock:
                self._scrapes.append((time.time(), request.user_agent))
        started = time.monotonic()
        faults = self._faults
        if faults.latency_ms > 0:
            time.sleep(min(faults.latency_ms, REAL_DELAY_CAP_MS) / 1000.0)
        response = self._serve(method, path, faults)
        route = _REAL_ROUTES.get(path, path)
        self.shop.record(method, route, response[0], time.monotonic() - started)
        return response

    def _serve(self, method: str, path: str, faults: Faults) -> tuple[int, str, bytes]:
        if method != "GET":
            return json_response(404, {"error": "Not found"})
        if path == "/metrics":
            return 200, _TEXT, self.metrics_text().encode()
        if path in ("/api/health", "/api/health/ready"):
            if faults.health_hang:
                hung = lambda: self._faults.health_hang and not self._stopping.is_set()  # noqa: E731
                wait_while(hung, HANG_LIMIT_S)
            healthy = self._faults.healthy
            status, doc = health_body(healthy) if path == "/api/health" else ready_body(healthy)
            return json_response(status, doc)
        return json_response(404, {"error": "Not found", "path": path})

    def _handle_control(self, request: Request) -> tuple[int, str, bytes]:
        method, path, body = request.method, request.path, request.body
        if path == "/control/faults" and method == "GET":
            return json_response(200, self._faults.as_dict())
        if path == "/control/faults" and method == "POST":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise FaultError("body must be a JSON object of fault fields")
                return json_response(200, self.set_faults(**changes).as_dict())
            except json.JSONDecodeError as exc:
                return json_response(400, {"error": f"invalid JSON: {exc}"})
            except FaultError as exc:
                return json_response(400, {"error": str(exc)})
        if path == "/control/reset" and method == "POST":
            return json_response(200, self.reset().as_dict())
        return json_response(404, {"error": f"no control endpoint {method} {path}"})
