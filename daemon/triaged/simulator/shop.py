"""The simulated BharatMart: its metric families and the traffic that moves them.

Traffic is generated in simulated time by :meth:`Shop.tick`, so a seeded shop
advanced by the same steps produces the same numbers (tests call ``tick`` directly;
the server's background thread calls it with wall-clock steps). The route mix and
label sets follow the real capture in ``fixtures/bharatmart/metrics-normal.txt``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from triaged.simulator.faults import Faults
from triaged.simulator.registry import Family, render

__all__ = ["APP", "DB_POOL_MAX", "Shop"]

APP = "sre-training-platform"
DB_POOL_MAX = 20
HTTP_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0)
EXTERNAL_BUCKETS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0)
PAYMENT_METHODS = ("card", "upi", "netbanking", "cod")
CHAOS_EVENT_RATIO = 0.1
# A crash-looping app restarts (and fails) about once a second.
STARTUP_FAILURE_PERIOD_S = 1.0


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    status: int
    weight: float
    uses_db: bool = True
    kind: str = ""  # "order", "payment" or "" — what a successful call creates


# Express reports the router-relative path, so the product/order/payment lists all
# show up as route="/" (see the fixture README).
ROUTES = (
    Route("GET", "/", 200, 35.0),
    Route("GET", "/:id", 200, 17.0),
    Route("POST", "/", 201, 9.0, kind="order"),
    Route("POST", "/", 201, 9.0, kind="payment"),
    Route("GET", "/health", 200, 9.5),
    Route("GET", "/health/ready", 200, 9.5),
    Route("PATCH", "/:id/status", 200, 2.0),
    Route("POST", "/", 400, 2.5, uses_db=False),
    Route("GET", "/:id", 404, 2.5),
    Route("GET", "/api/does-not-exist", 404, 1.5, uses_db=False),
    Route("GET", "/system/info", 200, 1.0, uses_db=False),
)
_WEIGHTS = [r.weight for r in ROUTES]


def _families() -> dict[str, Family]:
    fams = [
        Family("http_request_duration_seconds", "Duration of HTTP requests in seconds",
               "histogram", ("method", "route", "status_code"), HTTP_BUCKETS),
        Family("http_requests_total", "Total number of HTTP requests", "counter",
               ("method", "route", "status_code")),
        Family("orders_created_total", "Total number of orders created", "counter", ("status",)),
        Family("orders_value_total", "Total value of all orders in currency units", "counter"),
        Family("payments_processed_total", "Total number of payments processed", "counter",
               ("status", "payment_method")),
        Family("payments_value_total", "Total value of all payments in currency units",
               "counter", ("status",)),
        Family("errors_total", "Total number of errors", "counter", ("error_type", "endpoint")),
        Family("orders_success_total", "Total number of successful orders", "counter"),
        Family("orders_failed_total", "Total number of failed orders", "counter"),
        Family("chaos_events_total", "Total number of chaos engineering events", "counter"),
        Family("simulated_latency_ms", "Simulated latency injected in milliseconds", "gauge"),
        Family("service_restarts_total", "Total number of service restarts", "counter"),
        Family("external_call_latency_ms", "Latency of external calls in milliseconds",
               "histogram", ("dependency",), EXTERNAL_BUCKETS),
        Family("retry_attempts_total", "Total number of retry attempts", "counter",
               ("dependency",)),
        Family("circuit_breaker_open_total", "Total number of circuit breaker openings",
               "counter"),
        # Not in the real app: the pool gauges its postmortem asked for, and a chaos flag.
        Family("db_pool_connections_in_use", "Database pool connections in use", "gauge"),
        Family("db_pool_connections_max", "Database pool size", "gauge"),
        Family("chaos_enabled", "1 when chaos engineering is enabled", "gauge"),
    ]  # fmt: skip
    return {f.name: f for f in fams}


class Shop:
    """Metric state plus a traffic generator. All methods are thread-safe."""

    def __init__(self, *, seed: int = 1, traffic_rps: float = 50.0) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.traffic_rps = traffic_rps
        self.families = _families()
        self._carry = 0.0  # fractional requests not yet emitted
        self._since_restart = 0.0
        self._pool_ratio = 0.3
        self.families["service_restarts_total"].inc()  # the process started once
        self.families["db_pool_connections_max"].set((), DB_POOL_MAX)
        self._update_gauges(Faults())

    # -- time ---------------------------------------------------------------------
    def tick(self, dt: float, faults: Faults) -> None:
        """Advance simulated time by ``dt`` seconds of traffic under ``faults``."""
        with self._lock:
            self._carry += self.traffic_rps * dt
            count = int(self._carry)
            self._carry -= count
            for _ in range(count):
                self._simulate_request(faults)
            self._tick_crash_loop(dt, faults)
            self._update_gauges(faults)

    def startup_failed(self) -> None:
        """Count one failed start at once (called when the fault is switched on)."""
        with self._lock:
            self._count_failed_start()
            self._since_restart = 0.0

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count a real HTTP request served by the simulator (``/metrics``, health)."""
        with self._lock:
            self._count_http(method, route, status, seconds)

    def exposition(self, environment: str) -> str:
        defaults = (("app", APP), ("environment", environment))
        with self._lock:
            return render(list(self.families.values()), defaults)

    def value(self, name: str, *labels: str) -> float:
        """Current value of one counter/gauge series, for tests and the CLI."""
        with self._lock:
            return self.families[name].get(tuple(labels))

    # -- one simulated request ----------------------------------------------------
    def _simulate_request(self, faults: Faults) -> None:
        rng = self._rng
        route = rng.choices(ROUTES, weights=_WEIGHTS)[0]
        status = self._status(route, faults)
        seconds = rng.lognormvariate(-6.0, 0.5) + faults.latency_ms / 1000.0  # median ~2.5 ms
        if route.uses_db:
            self._call_database(faults)
        if route.kind == "order":
            status = self._create_order(faults, status)
        elif route.kind == "payment" and status < 500:
            self._process_payment(faults)
        if faults.chaos_enabled and rng.random() < CHAOS_EVENT_RATIO:
            self.families["chaos_events_total"].inc()
        self._count_http(route.method, route.path, status, seconds)

    def _status(self, route: Route, faults: Faults) -> int:
        if route.path == "/health" and not faults.healthy:
            return 500
        if route.path == "/health/ready" and not faults.healthy:
            return 503
        if route.uses_db and faults.db_down:
            return 500
        return route.status

    def _call_database(self, faults: Faults) -> None:
        fams = self.families
        if faults.db_down:
            fams["retry_attempts_total"].inc(("supabase",))
            if self._rng.random() < 0.05:
                fams["circuit_breaker_open_total"].inc()
            return
        # A nearly exhausted pool makes callers queue for a connection.
        contention = max(0.0, self._pool_ratio - 0.8) * 200.0
        millis = self._rng.lognormvariate(0.0, 0.4) + contention
        fams["external_call_latency_ms"].observe(("supabase",), millis)

    def _create_order(self, faults: Faults, status: int) -> int:
        fams = self.families
        if faults.db_down:
            fams["orders_failed_total"].inc()
            return 500
        fams["orders_created_total"].inc(("pending",))
        fams["orders_value_total"].inc((), float(self._rng.randint(999, 139_999)))
        fams["orders_success_total"].inc()
        return status

    def _process_payment(self, faults: Faults) -> None:
        rng = self._rng
        outcome = "failed" if rng.random() < faults.payment_failure_ratio else "completed"
        method = rng.choice(PAYMENT_METHODS)
        self.families["payments_processed_total"].inc((outcome, method))
        self.families["payments_value_total"].inc((outcome,), float(rng.randint(999, 139_999)))

    def _count_http(self, method: str, route: str, status: int, seconds: float) -> None:
        values = (method, route, str(status))
        self.families["http_requests_total"].inc(values)
        self.families["http_request_duration_seconds"].observe(values, seconds)

    # -- background state ---------------------------------------------------------
    def _tick_crash_loop(self, dt: float, faults: Faults) -> None:
        if not faults.startup_failure:
            self._since_restart = 0.0
            return
        self._since_restart += dt
        # The epsilon absorbs float drift: ten 0.1 s ticks must make one full second.
        while self._since_restart >= STARTUP_FAILURE_PERIOD_S - 1e-9:
            self._since_restart -= STARTUP_FAILURE_PERIOD_S
            self._count_failed_start()

    def _count_failed_start(self) -> None:
        self.families["errors_total"].inc(("startup_failure", "startup"))
        self.families["service_restarts_total"].inc()

    def _update_gauges(self, faults: Faults) -> None:
        fams = self.families
        if faults.db_down:
            self._pool_ratio = 0.0
        elif faults.db_pool_in_use_ratio is not None:
            self._pool_ratio = faults.db_pool_in_use_ratio
        else:
            # A bounded random walk: busy-looking but never alarming.
            step = self._rng.uniform(-0.02, 0.02)
            self._pool_ratio = min(0.4, max(0.2, self._pool_ratio + step))
        fams["db_pool_connections_in_use"].set((), float(round(self._pool_ratio * DB_POOL_MAX)))
        fams["simulated_latency_ms"].set((), faults.latency_ms)
        fams["chaos_enabled"].set((), 1.0 if faults.chaos_enabled else 0.0)
