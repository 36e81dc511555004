"""OCI clients built one way: our retries, our timeouts, one circuit breaker each.

* ``NoneRetryStrategy`` everywhere: the outbox (ONS) and the sources' own backoff
  (Monitoring) retry, with ``now`` passed in. SDK retries would sleep up to minutes
  inside a scheduler job.
* Explicit ``(connect, read)`` timeouts instead of the SDK's 10 s / 60 s.
* A circuit breaker *per client*, named ``<prefix>-<service>``. The SDK's default
  breaker is one object shared by every client in the process, so ten Monitoring
  500s would make the next page fail locally without being sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from triaged.cloud import breakers, sdk
from triaged.cloud.auth import AuthError, Credentials, load_credentials, one_line
from triaged.cloud.config import Endpoints, OciConfig
from triaged.errors import describe
from triaged.errors import retry_after as parse_retry_after

BREAKER_PREFIX = "triaged"
BREAKER_THRESHOLD = 10
BREAKER_RECOVERY_S = 30
# After credentials fail to load, callers fail at once for this long instead of each
# waiting up to oci.auth_timeout in turn (every source and every page asks for them).
AUTH_RETRY_S = 30.0


@dataclass(frozen=True)
class Failure:
    """A failed OCI call, classified once for every caller."""

    kind: str  # throttled server timeout connection circuit_open auth forbidden not_found ...
    retryable: bool
    status: int | None = None
    code: str = ""
    request_id: str | None = None
    retry_after: float | None = None
    detail: str = ""


class UnreadableAnswerError(Exception):
    """A 2xx answer that is not OCI's JSON (a proxy's or load balancer's page, a body
    cut short). The SDK reads one as a list of empty records, which would look like
    "no data" or, for alarms, like one firing alarm named "None"."""


def readable_items(response: Any, required: str) -> list[Any]:
    """``response.data`` as a list, or :class:`UnreadableAnswerError` when the answer
    cannot be OCI's: not JSON, not an array, or a record without its ``required``
    field (which OCI always sets)."""
    data = response.data
    kind = str((getattr(response, "headers", None) or {}).get("content-type", ""))
    if (
        isinstance(data, list)
        and "json" in kind.lower()
        and all(getattr(item, required, None) is not None for item in data)
    ):
        return data
    what = f"content-type {kind}" if kind else "no content-type"
    raise UnreadableAnswerError(f"HTTP {response.status} with a body that is not OCI's JSON array ({what})")


class ClientFactory:
    """Builds (once, lazily) and caches the clients triaged uses."""

    def __init__(
        self,
        cfg: OciConfig,
        *,
        credentials: Callable[[], Credentials] | None = None,
        read_timeout: float | None = None,
        circuit_breaker: bool | None = None,
        breaker_prefix: str = BREAKER_PREFIX,
    ) -> None:
        self.cfg = cfg
        self._load = credentials or (lambda: load_credentials(cfg))
        self._creds: Credentials | None = None
        self._timeout = (cfg.timeouts.connect, read_timeout or cfg.timeouts.read)
        self._breakers = cfg.circuit_breaker if circuit_breaker is None else circuit_breaker
        self.breaker_prefix = breaker_prefix
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._auth_failed: tuple[float, AuthError] | None = None  # (retry after, monotonic; error)

    # -- clients -------------------------------------------------------------------
    def monitoring(self) -> Any:
        return self._client("monitoring", self.cfg.endpoints.monitoring)

    def ingestion(self) -> Any:
        """A MonitoringClient for ``post_metric_data``, which lives on another host."""
        return self._client("ingestion", ingestion_endpoint(self.cfg.endpoints))

    def notification(self) -> Any:
        return self._client("notification", self.cfg.endpoints.notification)

    def notification_control(self) -> Any:
        return self._client("notification-control", self.cfg.endpoints.notification)

    def credentials(self) -> Credentials:
        with self._lock:
            if self._creds is not None:
                return self._creds
            failed = self._auth_failed
            if failed is not None and time.monotonic() < failed[0]:
                raise AuthError(str(failed[1]), transient=failed[1].transient)
            try:
                self._creds = self._load()
            except AuthError as exc:
                self._auth_failed = (time.monotonic() + AUTH_RETRY_S, exc)
                raise
            return self._creds

    def breaker_name(self, service: str) -> str:
        return f"{self.breaker_prefix}-{service}"

    def _client(self, service: str, endpoint: str | None) -> Any:
        creds = self.credentials()
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._build(service, creds, endpoint)
                self._clients[service] = client
            return client

    def _build(self, service: str, creds: Credentials, endpoint: str | None) -> Any:
        oci = sdk()

        kwargs: dict[str, Any] = {
            "signer": creds.signer,
            "retry_strategy": oci.retry.NoneRetryStrategy(),
            "timeout": self._timeout,
            "circuit_breaker_strategy": self._breaker_strategy(service),
        }
        if service == "ingestion" and endpoint is None:
            endpoint = oci.regions.endpoint_for("monitoring", creds.region).replace(
                "://telemetry.", "://telemetry-ingestion."
            )
        if endpoint is not None:
            kwargs["service_endpoint"] = endpoint
        constructors: dict[str, Callable[..., Any]] = {
            "monitoring": oci.monitoring.MonitoringClient,
            "ingestion": oci.monitoring.MonitoringClient,
            "notification": oci.ons.NotificationDataPlaneClient,
            "notification-control": oci.ons.NotificationControlPlaneClient,
        }
        return constructors[service](dict(creds.config), **kwargs)

    def _breaker_strategy(self, service: str) -> Any:
        oci = sdk()

        # Passing None would bring back the SDK's shared default breaker.
        if not self._breakers:
            return oci.circuit_breaker.NoCircuitBreakerStrategy()
        return oci.circuit_breaker.CircuitBreakerStrategy(
            name=self.breaker_name(service),
            failure_threshold=BREAKER_THRESHOLD,
            recovery_timeout=BREAKER_RECOVERY_S,
        )

    # -- `triaged check --connect` -------------------------------------------------
    def connect_checks(self, now: float) -> list[tuple[str, Callable[[], object]]]:
        """Cheap, side-effect-free calls that prove credentials and IAM policy."""
        oci = sdk()

        none = oci.retry.NoneRetryStrategy()
        checks: list[tuple[str, Callable[[], object]]] = []
        queries = self.cfg.monitoring.queries
        if queries:
            q = queries[0]
            end = datetime.fromtimestamp(now, UTC)
            details = oci.monitoring.models.SummarizeMetricsDataDetails(
                namespace=q.namespace,
                query=q.query,
                start_time=end - timedelta(seconds=2 * q.resolution_seconds),
                end_time=end,
                resolution=q.resolution,
                resource_group=q.resource_group,
            )
            mon = self.monitoring
            checks.append((f"monitoring query {q.name}", lambda: mon().summarize_metrics_data(
                q.compartment_id, details, retry_strategy=none)))  # fmt: skip
        if self.cfg.alarms.enabled:
            comp = self.cfg.alarms.compartment_id
            checks.append(("alarm status", lambda: self.monitoring()
                           .list_alarms_status(comp, limit=1, retry_strategy=none)))  # fmt: skip
        if self.cfg.ons is not None:
            for topic in sorted(set(self.cfg.ons.topics.values())):
                checks.append((f"ons topic {topic}", _get_topic(self, topic, none)))
        return checks


def _get_topic(factory: ClientFactory, topic: str, retry: Any) -> Callable[[], object]:
    return lambda: factory.notification_control().get_topic(topic, retry_strategy=retry)


def reset_circuit_breakers(prefix: str = BREAKER_PREFIX) -> int:
    """Close every registered breaker whose name starts with ``prefix`` ("" = all,
    including the SDK's shared default). Breakers are process-global, so tests call
    this to keep one test's failures from opening the next test's circuit."""
    try:
        monitor = breakers().CircuitBreakerMonitor  # ships with the oci SDK
    except ImportError:
        return 0
    count = 0
    for name, breaker in list(monitor.circuit_breakers.items()):
        if str(name).startswith(prefix):
            breaker.reset()
            count += 1
    return count


# -- error classification ----------------------------------------------------------------

_PERMANENT_KINDS = {400: "bad_request", 401: "auth", 403: "forbidden", 404: "not_found"}


def classify(exc: BaseException) -> Failure:
    """Sort a failed call into retryable (429, 5xx, 409, timeouts, connection,
    open breaker) or permanent (other 4xx, auth, anything unexpected)."""
    oci = sdk()
    rex = oci._vendor.requests.exceptions
    CircuitBreakerError = breakers().CircuitBreakerError  # noqa: N806 - a class
    if isinstance(exc, oci.exceptions.ServiceError):
        return _classify_service_error(exc)
    if isinstance(exc, CircuitBreakerError):
        breaker = exc._circuit_breaker
        remaining = float(getattr(breaker, "open_remaining", BREAKER_RECOVERY_S))
        detail = f"circuit breaker {getattr(breaker, 'name', '?')} open after repeated failures"
        return Failure("circuit_open", True, retry_after=max(1.0, remaining), detail=detail)
    if isinstance(exc, rex.Timeout | rex.ConnectTimeout | rex.ReadTimeout):
        return Failure("timeout", True, detail=describe(exc))
    if isinstance(exc, rex.RequestException):
        # The SDK wraps read timeouts in oci.exceptions.RequestException too. The
        # detail is the request and its root cause (`POST …: connection refused`):
        # urllib3's own text is two nested reprs that bury the reason past any cut.
        detail = describe(exc)
        kind = "timeout" if "timed out" in detail or "timed out" in str(exc).lower() else "connection"
        return Failure(kind, True, detail=detail)
    if isinstance(exc, AuthError):
        return Failure("auth", exc.transient, detail=str(exc))
    if isinstance(exc, UnreadableAnswerError):
        # Likely a proxy or a load balancer in the way for a while: retried, with backoff.
        return Failure("unreadable", True, detail=str(exc))
    return Failure("other", False, detail=f"{type(exc).__name__}: {one_line(str(exc), 200)}")


def ingestion_endpoint(endpoints: Endpoints) -> str | None:
    """``post_metric_data`` is served only by ``telemetry-ingestion.<region>``. Without
    its own override it follows a Monitoring override: the matching ingestion host for
    a ``telemetry.`` one, else the same URL (a private endpoint, a test's fake). None:
    derived from the region when the client is built."""
    if endpoints.telemetry_ingestion is not None or endpoints.monitoring is None:
        return endpoints.telemetry_ingestion
    return endpoints.monitoring.replace("://telemetry.", "://telemetry-ingestion.", 1)


def _classify_service_error(exc: Any) -> Failure:
    status = int(exc.status)
    code = str(exc.code or "")
    request_id = exc.request_id
    headers = exc.headers or {}
    retry_after = parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"), time.time())
    # A load balancer's or proxy's error page has no code, and may have no text.
    text = one_line(exc.message or "", 200)
    detail = " ".join(part for part in (f"HTTP {status}", code, f"(opc-request-id {request_id})") if part)
    if text:
        detail = f"{detail}: {text}"
    if status == 429:
        return Failure("throttled", True, status, code, request_id, retry_after, detail)
    if status >= 500:
        return Failure("server", True, status, code, request_id, retry_after, detail)
    if status == 409:
        return Failure("conflict", True, status, code, request_id, retry_after, detail)
    kind = _PERMANENT_KINDS.get(status, "client")
    return Failure(kind, False, status, code, request_id, None, detail)


def describe_error(exc: BaseException, *, profile: str | None = None) -> str:
    """One line for an operator, with a hint for the usual causes."""
    failure = classify(exc)
    hint = ""
    if failure.kind == "auth" and failure.status == 401:
        who = profile or "the configured credentials"
        hint = f" — credentials rejected: check user, fingerprint and key_file of {who}"
    elif failure.kind in ("not_found", "forbidden"):
        hint = " — check the OCID, the region and the IAM policy for this principal"
    return one_line(failure.detail + hint)
