"""Evidence: the series an incident was detected on, copied out of the in-memory tsdb.

When an incident opens, the recorder evaluates each of its rules over a window around
detection (a range query) and stores the points in SQLite; while the incident is open
it appends a point every ``step``. For a threshold rule (``<value expr> > 0.5``) it
records the value expression and remembers the threshold, because the postmortem
wants the metric itself, not only the samples that crossed the line.

Bounded per incident: at most ``max_series`` series; a series that reaches
``max_points`` is thinned to half its resolution, so a long incident keeps its whole
span (including the value at clear) instead of stopping early.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import promql_parser as pp
import structlog

from triaged.incidents.model import Incident
from triaged.model import Labels
from triaged.promql import Engine, ExprError, Scalar, Vector
from triaged.store import evidence as ev_rows
from triaged.store import incidents as rows
from triaged.store.db import Store

log = structlog.get_logger("triaged.evidence")

_COMPARISONS = {">", "<", ">=", "<=", "==", "!="}
_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "==", "!=": "!="}
# The backfill evaluates at most this many steps, whatever the window: a long window
# gets a coarser step instead of a slow cycle.
MAX_BACKFILL_STEPS = 1000


@dataclass(frozen=True)
class EvidencePolicy:
    before_s: float = 900.0
    step_s: float = 15.0
    max_points: int = 2000
    max_series: int = 20


@dataclass(frozen=True)
class Target:
    """One expression to record for one alert rule."""

    alertname: str
    expr: str
    role: str  # "value": the rule without its threshold; "rule": the rule as written
    op: str | None = None
    threshold: float | None = None


def targets_for(alertname: str, expr: str) -> Target:
    """Split ``<value> <cmp> <number>`` (either way round, without ``bool``) into the
    value expression and its threshold; anything else is recorded as written."""
    try:
        node: Any = pp.parse(expr)
        while type(node).__name__ == "ParenExpr":
            node = node.expr
    except BaseException as exc:  # a ValueError, or a panic in the Rust binding
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return Target(alertname, expr, "rule")
    if type(node).__name__ != "BinaryExpr":
        return Target(alertname, expr, "rule")
    op = str(node.op).strip()
    bool_mod = node.modifier is not None and bool(node.modifier.return_bool)
    if op not in _COMPARISONS or bool_mod:
        return Target(alertname, expr, "rule")
    if type(node.rhs).__name__ == "NumberLiteral":
        return Target(alertname, str(node.lhs), "value", op, float(node.rhs.val))
    if type(node.lhs).__name__ == "NumberLiteral":
        return Target(alertname, str(node.rhs), "value", _FLIP[op], float(node.lhs.val))
    return Target(alertname, expr, "rule")


@functools.lru_cache(maxsize=1024)  # asked for every firing alert in every cycle
def lower_is_worse(expr: str) -> bool:
    """Whether the rule fires below its threshold (``availability < 0.99``), so that
    its worst value is its lowest."""
    return targets_for("", expr).op in ("<", "<=")


def belongs(series: Mapping[str, str], incident_labels: Mapping[str, str]) -> bool:
    """A series belongs to an incident unless a label they share disagrees."""
    return all(series[k] == v for k, v in incident_labels.items() if k in series)


class EvidenceRecorder:
    def __init__(self, store: Store, engine: Engine, policy: EvidencePolicy) -> None:
        self.store = store
        self.engine = engine
        self.policy = policy
        self._backfilled: set[tuple[int, str]] = set()
        self._failed: set[tuple[int, str]] = set()

    def record(self, now: float, *, finished: Sequence[int] = ()) -> None:
        """Backfill new rules of open incidents, append points that are due, and take a
        last sample of the incidents that just resolved (``finished``)."""
        incidents = rows.open_incidents(self.store)
        for incident_id in finished:
            inc = rows.get_incident(self.store, incident_id)
            if inc is not None:
                incidents.append(inc)
        for inc in incidents:
            self._record_incident(inc, now, force=inc.id in finished)

    def _record_incident(self, inc: Incident, now: float, *, force: bool) -> None:
        state = ev_rows.get_state(self.store, inc.id)
        due = force or state is None or now - state["last_t"] >= self.policy.step_s - 0.05
        error: str | None = state["error"] if state else None
        for target in self._targets(inc):
            key = (inc.id, target.expr)
            try:
                if key not in self._backfilled:
                    self._backfill(inc, target, now)
                    self._backfilled.add(key)
                elif due:
                    self._sample(inc, target, now)
            except (ExprError, ValueError) as exc:
                error = f"{target.alertname}: {exc}"
                if key not in self._failed:
                    log.warning("evidence_failed", incident_id=inc.id, alert=target.alertname, error=str(exc))
                    self._failed.add(key)
        if due or state is None:
            with self.store.atomic():
                ev_rows.put_state(
                    self.store,
                    inc.id,
                    started_at=state["started_at"] if state else now,
                    last_t=now,
                    step_s=self.policy.step_s,
                    error=error,
                )

    def _targets(self, inc: Incident) -> list[Target]:
        seen: dict[str, Target] = {}
        pairs = [(inc.rule, inc.expr)] + [
            (a["alertname"], a["expr"]) for a in rows.incident_alerts(self.store, inc.id)
        ]
        for name, expr in pairs:
            if expr and name not in seen:
                seen[name] = targets_for(name, expr)
        return list(seen.values())

    def _backfill(self, inc: Incident, target: Target, now: float) -> None:
        start = inc.detected_at - self.policy.before_s
        step = max(self.policy.step_s, (now - start) / MAX_BACKFILL_STEPS)
        start_ms, end_ms, step_ms = int(start * 1000), int(now * 1000), max(1, int(step * 1000))
        matrix = self.engine.range(target.expr, start_ms, end_ms, step_ms)
        with self.store.atomic():
            for series in matrix:
                points = [(t / 1000.0, _clean(v)) for t, v in series.points]
                self._store(inc, target, series.labels, points)
            self._pending_entries(inc, target)

    def _sample(self, inc: Incident, target: Target, now: float) -> None:
        result = self.engine.instant(target.expr, int(now * 1000))
        if isinstance(result, Scalar):
            found = [(Labels(), result.value)]
        elif isinstance(result, Vector):
            found = [(s.labels, s.value) for s in result]
        else:
            raise ValueError("expression returned neither a vector nor a scalar")
        with self.store.atomic():
            for labels, value in found:
                self._store(inc, target, labels, [(now, _clean(value))])

    def _store(
        self, inc: Incident, target: Target, labels: Labels, points: list[tuple[float, float | None]]
    ) -> None:
        label_map = labels.as_dict()
        if not points or not belongs(label_map, inc.labels):
            return
        series_id = ev_rows.find_series(self.store, inc.id, target.expr, label_map)
        if series_id is None:
            if ev_rows.series_count(self.store, inc.id) >= self.policy.max_series:
                return  # bounded: the first series are the ones detection was about
            series_id = ev_rows.ensure_series(
                self.store,
                inc.id,
                alertname=target.alertname,
                expr=target.expr,
                role=target.role,
                labels=label_map,
                op=target.op,
                threshold=target.threshold,
            )
        ev_rows.add_points(self.store, series_id, points)
        if ev_rows.point_count(self.store, series_id) > self.policy.max_points:
            removed = ev_rows.thin(self.store, series_id)
            log.info("evidence_thinned", incident_id=inc.id, series_id=series_id, removed=removed)

    def _pending_entries(self, inc: Incident, target: Target) -> None:
        """Put each alert's pending start on the timeline, with the value it had then:
        the incident only learns of an alert once it fires. An alert that fired at
        once (no ``for:``) was never pending: no entry, which would otherwise follow
        its own firing at the same instant."""
        done = {
            e["data"].get("fingerprint")
            for e in rows.timeline(self.store, inc.id)
            if e["kind"] == "alert_pending"
        }
        for alert in rows.incident_alerts(self.store, inc.id):
            if alert["alertname"] != target.alertname or alert["fingerprint"] in done:
                continue
            if alert["fired_at"] is not None and alert["fired_at"] <= alert["active_at"]:
                continue
            value = value_at(self.store, inc.id, target.alertname, alert["labels"], alert["active_at"])
            shown = "-" if value is None else f"{value:.4g}"
            rows.add_timeline(
                self.store,
                inc.id,
                alert["active_at"],
                "alert_pending",
                f"{alert['alertname']} pending, value {shown}",
                data={"alert": alert["alertname"], "fingerprint": alert["fingerprint"], "value": value},
            )


def _clean(v: float) -> float | None:
    return None if math.isnan(v) or math.isinf(v) else v


def series_for_alert(
    series: Sequence[dict[str, Any]], alertname: str, alert_labels: Mapping[str, str]
) -> dict[str, Any] | None:
    """The evidence series recorded for one alert: same rule, labels a subset of the
    alert's (an alert adds the rule's own labels such as severity)."""
    for s in series:
        labels: dict[str, str] = s["labels"]
        own = {k: v for k, v in labels.items() if k != "__name__"}
        if s["alertname"] == alertname and all(alert_labels.get(k) == v for k, v in own.items()):
            return s
    candidates = [s for s in series if s["alertname"] == alertname]
    return candidates[0] if len(candidates) == 1 else None


def value_at(
    store: Store, incident_id: int, alertname: str, labels: Mapping[str, str], at: float
) -> float | None:
    found = series_for_alert(ev_rows.series_for(store, incident_id), alertname, labels)
    if found is None:
        return None
    return point_at(found["points"], at)


def point_at(points: Sequence[tuple[float, float | None]], at: float) -> float | None:
    """The first value recorded at or after ``at`` (else the last before it)."""
    after = [v for t, v in points if t >= at - 1e-6 and v is not None]
    if after:
        return after[0]
    before = [v for t, v in points if t < at and v is not None]
    return before[-1] if before else None
