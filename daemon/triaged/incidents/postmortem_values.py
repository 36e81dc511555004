"""Values and chart of a postmortem: what each alert measured at pending, firing, its
worst and at clear, and the chart of the triggering series with the lifecycle marked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from triaged.incidents.chart import HAND_REOPEN, Chart, ChartSeries, Marker, render_svg
from triaged.incidents.evidence import point_at, series_for_alert
from triaged.incidents.model import Incident
from triaged.incidents.timing import reopened_by_hand

if TYPE_CHECKING:
    from triaged.incidents.postmortem import Facts


def alert_values(facts: Facts, alert: dict[str, Any]) -> dict[str, float | None]:
    """Value at pending, at firing, worst while active and at clear, from evidence."""
    series = series_for_alert(facts.evidence, alert["alertname"], alert["labels"])
    end = alert["resolved_at"] or facts.incident.resolved_at or facts.now
    if series is None:  # no chart data: what the incident record itself kept
        firing_value = _fired_on(facts.timeline, alert)
        return {"pending": None, "firing": firing_value, "worst": alert["peak"], "clear": None}
    points = series["points"]
    during = [v for t, v in points if alert["active_at"] - 1e-6 <= t <= end + 1e-6 and v is not None]
    firing = point_at(points, alert["fired_at"]) if alert["fired_at"] else None
    if series["op"] in ("==", "!="):
        worst = _breaching(series["op"], series["threshold"], during, firing)
        worst = alert["value"] if worst is None else worst  # stored only while it fired
    else:
        pick = min if series["op"] in ("<", "<=") else max
        worst = pick(during) if during else alert["peak"]
    return {
        "pending": point_at(points, alert["active_at"]),
        "firing": firing,
        "worst": worst,
        "clear": point_at(points, alert["resolved_at"]) if alert["resolved_at"] else None,
    }


def _fired_on(timeline: list[dict[str, Any]], alert: dict[str, Any]) -> float | None:
    """The value the alert fired on, from its "firing" timeline entry (the row's own
    ``value`` is its latest one)."""
    for entry in timeline:
        data = entry.get("data") or {}
        if (
            entry["kind"] == "alert_firing"
            and data.get("alert") == alert["alertname"]
            and data.get("labels") == alert["labels"]
            and data.get("fired_at") == alert["fired_at"]
        ):
            value = data.get("value")
            return float(value) if isinstance(value, int | float) else None
    return None


def _breaching(op: str, threshold: float | None, during: list[float], firing: float | None) -> float | None:
    """For ``==`` and ``!=`` no firing value is worse than another (``up == 0`` is 0
    whenever it fires), and the largest value seen is usually the healthy one: the worst
    is the value it fired on, else the first one that met the condition."""
    if threshold is None:
        return firing
    met = [v for v in during if (v == threshold) == (op == "==")]
    if firing is not None and firing in met:
        return firing
    return met[0] if met else None


def markers(inc: Incident) -> list[Marker]:
    """Detected once, then per lifetime: how it began (``firing`` for the page or
    alerts coming back, ``reopened by hand`` when on-call reopened it with no alert
    firing), acknowledged, mitigated and resolved."""
    pairs: list[tuple[str, float | None]] = [("detected", inc.detected_at)]
    for life in inc.lifetimes:
        pairs += [
            (HAND_REOPEN if reopened_by_hand(life) else "firing", life.started_at),
            ("acknowledged", life.acknowledged_at),
            ("mitigated", life.mitigated_at),
            ("resolved", life.resolved_at),
        ]
    return [Marker(label, at) for label, at in pairs if at is not None]


def chart_for(facts: Facts) -> Chart | None:
    inc = facts.incident
    rule = inc.rule if any(s["alertname"] == inc.rule for s in facts.evidence) else None
    chosen = [s for s in facts.evidence if rule is None or s["alertname"] == rule][:6]
    if not chosen:
        return None
    first = chosen[0]
    return Chart(
        title=f"Incident #{inc.id} [{inc.severity.name}] — {first['alertname']}"
        + (f" (fires when {first['op']} {first['threshold']:g})" if first["threshold"] is not None else ""),
        series=[ChartSeries(_series_name(s), s["points"]) for s in chosen],
        markers=markers(inc),
        threshold=first["threshold"],
    )


def _series_name(s: dict[str, Any]) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(s["labels"].items()) if k != "__name__")
    name = s["labels"].get("__name__", s["alertname"])
    return f"{name}{{{labels}}}"


def render_chart(facts: Facts) -> str | None:
    chart = chart_for(facts)
    return None if chart is None else render_svg(chart)
