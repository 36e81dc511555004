"""`triaged postmortem draft`: a blameless postmortem pre-filled from recorded evidence.

The draft follows the seed course's sections. Facts the store knows (timeline, times
to detect/acknowledge/mitigate/resolve, the rule, values at pending/firing/peak/clear,
error budget consumed) are filled in; judgement (root cause, lessons) gets prompts.
Guidance sits in HTML comments, which the blameless check skips.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from triaged.incidents import slo as slo_mod
from triaged.incidents.actions import ActionItem
from triaged.incidents.blameless import Finding, scan
from triaged.incidents.chart import Chart, ChartSeries, Marker, render_svg
from triaged.incidents.evidence import point_at, series_for_alert
from triaged.incidents.model import Incident
from triaged.incidents.postmortem_due import PostmortemPolicy, required
from triaged.incidents.timing import Durations, durations, human
from triaged.store import actions as action_rows
from triaged.store import evidence as ev_rows
from triaged.store import incidents as rows
from triaged.store.db import Store

# Timeline kinds that repeat what a later entry says better.
_QUIET = {"notification_queued"}


@dataclass
class Facts:
    incident: Incident
    times: Durations
    alerts: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    items: list[ActionItem]
    budgets: list[tuple[slo_mod.SLO, slo_mod.Events, slo_mod.Budget, slo_mod.Budget]]
    findings: list[tuple[dict[str, Any], Finding]] = field(default_factory=list)
    now: float = 0.0


def gather(store: Store, incident_id: int, now: float) -> Facts:
    inc = rows.get_incident(store, incident_id)
    if inc is None:
        raise LookupError(f"no incident #{incident_id}")
    timeline = rows.timeline(store, incident_id)
    facts = Facts(
        incident=inc,
        times=durations(inc),
        alerts=rows.incident_alerts(store, incident_id),
        timeline=timeline,
        evidence=ev_rows.series_for(store, incident_id),
        items=action_rows.list_items(store, incident_id=incident_id),
        budgets=[],
        now=now,
    )
    end = inc.resolved_at or now
    for s in slo_mod.load_slos(store):
        if slo_mod.applies_to(s, inc.service):
            samples = slo_mod.samples_for(store, s, max(now, end))
            during, at_end = slo_mod.incident_budget(s, samples, inc.detected_at, end)
            facts.budgets.append((s, during, at_end, slo_mod.budget(s, samples, now)))
    people = {e["actor"] for e in timeline} | {a.owner for a in facts.items} | {inc.assignee or ""}
    people.discard("triaged")
    for entry in timeline:
        if entry["actor"] != "triaged":  # only what people wrote
            text = " ".join([entry["message"], str(entry["data"].get("reason") or "")])
            facts.findings.extend((entry, f) for f in scan(text, people))
    return facts


def utc(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def _utc(ts: float | None) -> str:
    return "-" if ts is None else f"{utc(ts)} UTC"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _pct(v: float) -> str:
    return "∞" if v == float("inf") else f"{v * 100:.2f} %"


# -- values and chart ------------------------------------------------------------------
def alert_values(facts: Facts, alert: dict[str, Any]) -> dict[str, float | None]:
    """Value at pending, at firing, worst while active and at clear, from evidence."""
    series = series_for_alert(facts.evidence, alert["alertname"], alert["labels"])
    end = alert["resolved_at"] or facts.incident.resolved_at or facts.now
    if series is None:
        return {"pending": None, "firing": alert["value"], "worst": alert["peak"], "clear": None}
    points = series["points"]
    during = [v for t, v in points if alert["active_at"] - 1e-6 <= t <= end + 1e-6 and v is not None]
    pick = min if series["op"] in ("<", "<=") else max
    return {
        "pending": point_at(points, alert["active_at"]),
        "firing": point_at(points, alert["fired_at"]) if alert["fired_at"] else None,
        "worst": pick(during) if during else alert["peak"],
        "clear": point_at(points, alert["resolved_at"]) if alert["resolved_at"] else None,
    }


def markers(inc: Incident) -> list[Marker]:
    pairs = [
        ("detected", inc.detected_at),
        ("firing", inc.opened_at),
        ("acknowledged", inc.acknowledged_at),
        ("mitigated", inc.mitigated_at),
        ("resolved", inc.resolved_at),
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


# -- markdown --------------------------------------------------------------------------
def render(facts: Facts, policy: PostmortemPolicy, chart_file: str | None) -> str:
    out: list[str] = []
    inc = facts.incident
    out += [
        f"# Postmortem: incident #{inc.id} — {inc.title}",
        "",
        f"<!-- Drafted by triaged on {utc(facts.now)} UTC from the recorded timeline and evidence."
        " Blameless: describe systems, conditions and decisions, never a person as the cause."
        f" Edit freely, then run `triaged postmortem check {inc.id}` and"
        f" `triaged postmortem complete {inc.id}`. -->",
        "",
    ]
    out += _summary(facts, policy)
    out += _timeline(facts)
    out += _root_cause(facts)
    out += _impact(facts, chart_file)
    out += _went_well(facts)
    out += _went_badly(facts)
    out += _actions(facts)
    out += [
        "## 8. Lessons learned",
        "",
        "<!-- What do we know now that we did not before? What would we tell another team"
        " running a similar service? Which assumptions turned out wrong? -->",
        "",
        "- ",
        "",
    ]
    out += _review(facts)
    return "\n".join(out).rstrip() + "\n"


def _summary(facts: Facts, policy: PostmortemPolicy) -> list[str]:
    inc, t = facts.incident, facts.times
    due = "-"
    if required(inc, policy) and inc.resolved_at is not None:
        due = f"{utc(inc.resolved_at + policy.due_s)} UTC ({human(policy.due_s)} after resolve)"
    rows_ = [
        ("Severity", inc.severity.name),
        ("Service", inc.service or "-"),
        ("Status", str(inc.status)),
        ("Owner", inc.assignee or "-"),
        ("First symptom (alert pending)", _utc(inc.detected_at)),
        ("Opened and paged", _utc(inc.opened_at)),
        ("Acknowledged", _utc(inc.acknowledged_at)),
        ("Mitigated", _utc(inc.mitigated_at)),
        ("Resolved", _utc(inc.resolved_at)),
        ("Duration (first symptom → resolved)", human(t.total)),
        ("Time to detect", human(t.detect)),
        ("Time to acknowledge", human(t.acknowledge)),
        ("Time to mitigate", human(t.mitigate)),
        ("Time to resolve", human(t.resolve)),
        ("Postmortem due", due),
    ]
    out = ["## 1. Incident summary", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in rows_]
    out += [
        "",
        f"Detected by rule `{inc.rule}`"
        + (f" ({len(facts.alerts)} alerts grouped)" if len(facts.alerts) > 1 else "")
        + ":",
        "",
        "```promql",
        inc.expr.strip() or "(no expression recorded)",
        "```",
        "",
        "<!-- In two or three sentences: what users experienced, for how long, and how it ended. -->",
        "",
    ]
    return out


def _timeline(facts: Facts) -> list[str]:
    out = [
        "## 2. Timeline",
        "",
        "All times UTC.",
        "",
        "| Time | Event | Who | Details |",
        "|---|---|---|---|",
    ]
    for e in facts.timeline:
        if e["kind"] in _QUIET:
            continue
        text = str(e["message"]).replace("|", "\\|").replace("\n", " ")
        out.append(f"| {utc(e['at'])} | {e['kind']} | {e['actor']} | {text} |")
    return [*out, ""]


def _root_cause(facts: Facts) -> list[str]:
    t = facts.times
    return [
        "## 3. Root cause analysis",
        "",
        '<!-- Ask "why" until you reach something the organisation can change. Look for'
        " conditions, not culprits: a missing check, a risky default, an unclear runbook,"
        " an alert that fired late. -->",
        "",
        "- **What changed just before the first symptom"
        f" ({utc(facts.incident.detected_at)} UTC)?** Deploys, config, traffic, dependencies:",
        "- **Why did that make the service fail?** (five whys)",
        "  1. Why? ",
        "  2. Why? ",
        "  3. Why? ",
        f"- **Why did detection take {human(t.detect)}, and acknowledgement {human(t.acknowledge)}?**",
        "- **Contributing factors** (process, tooling, monitoring, capacity):",
        "",
    ]


def _impact(facts: Facts, chart_file: str | None) -> list[str]:
    inc = facts.incident
    out = [
        "## 4. Impact",
        "",
        f"- Service `{inc.service or '-'}` affected for {human(facts.times.total)}"
        " (first symptom to resolve).",
        "",
    ]
    if chart_file:
        out += [f"![{inc.rule} during incident #{inc.id}]({chart_file})", ""]
    out += ["| Alert | Labels | At pending | At firing | Worst | At clear |", "|---|---|---|---|---|---|"]
    for a in facts.alerts:
        v = alert_values(facts, a)
        labels = ", ".join(f"{k}={val}" for k, val in sorted(a["labels"].items()) if k not in ("alertname",))
        out.append(
            f"| {a['alertname']} | {labels} | {_num(v['pending'])} | {_num(v['firing'])}"
            f" | {_num(v['worst'])} | {_num(v['clear'])} |"
        )
    out += ["", "### Error budget", ""]
    if not facts.budgets:
        out += [
            "No SLO covers this service (add `slos:` to the config and run the daemon), so the"
            " impact cannot be stated as error budget yet.",
            "",
        ]
        return out
    out += [
        "| SLO | Objective | Window | Bad events during incident | Budget consumed by incident"
        " | Budget remaining now |",
        "|---|---|---|---|---|---|",
    ]
    for s, during, at_end, current in facts.budgets:
        share = slo_mod._ratio(during.bad, at_end.allowed_bad)
        out.append(
            f"| {s.name} | {s.objective * 100:g} % | {human(s.window_s)}"
            f" | {during.bad:.4g} of {during.total:.4g}"
            f" | {_pct(share)} | {_pct(current.remaining)} |"
        )
    return [*out, ""]


def _went_well(facts: Facts) -> list[str]:
    inc, t = facts.incident, facts.times
    out = ["## 5. What went well", ""]
    out.append(f"- Detected automatically by `{inc.rule}` {human(t.detect)} after the first symptom.")
    sent = [e for e in facts.timeline if e["kind"] == "notification_sent"]
    if sent:
        receivers = sorted({str(e["data"].get("receiver")) for e in sent})
        out.append(
            f"- Page delivered {human(sent[0]['at'] - inc.opened_at)} after opening"
            f" to {', '.join(receivers)}."
        )
    if len(facts.alerts) > 1:
        out.append(
            f"- {len(facts.alerts)} alerts were grouped into this one incident"
            " (one page, not one per symptom)."
        )
    if inc.resolved_at is not None and inc.reopen_count == 0:
        out.append("- Recovery was confirmed by the alerts clearing; the incident did not reopen.")
    return [*out, "- ", ""]


def _went_badly(facts: Facts) -> list[str]:
    inc, t = facts.incident, facts.times
    out = ["## 6. What did not go well", ""]
    if inc.acknowledged_at is None:
        out.append(
            "- No acknowledgement was recorded: what stopped the page from reaching someone able to act?"
        )
    elif t.acknowledge is not None and t.acknowledge > 300:
        out.append(f"- Acknowledgement took {human(t.acknowledge)}.")
    if inc.reopen_count:
        out.append(f"- The incident reopened {inc.reopen_count} time(s): the fix or the alert flapped.")
    for e in facts.timeline:
        if e["kind"] in ("notification_failed", "escalated", "recurrence"):
            out.append(f"- {e['message']}")
    return [*out, "- ", ""]


def _actions(facts: Facts) -> list[str]:
    inc = facts.incident
    out = [
        "## 7. Action items",
        "",
        "<!-- Specific, owned, dated, prioritised, tracked. Add them with"
        f" `triaged actions add {inc.id} --title … --owner … --due … --priority … --type …`"
        ", then add a row to the table below by hand (re-drafting needs --force, which"
        " rewrites this file; the old one is kept as .bak). -->",
        "",
    ]
    if not facts.items:
        return [*out, "None recorded yet.", ""]
    out += ["| # | Action | Owner | Due | Priority | Type | Status |", "|---|---|---|---|---|---|---|"]
    for a in facts.items:
        out.append(
            f"| {a.id} | {a.title} | {a.owner} | {utc(a.due_at)[:10]}"
            f" | {a.priority} | {a.type} | {a.status} |"
        )
    return [*out, ""]


def _review(facts: Facts) -> list[str]:
    if not facts.findings:
        return []
    out = [
        "## Blameless review",
        "",
        "<!-- Phrasing in the timeline that blames people; reword it here. -->",
        "",
    ]
    for entry, f in facts.findings:
        out.append(f'- {utc(entry["at"])} {entry["kind"]} by {entry["actor"]}: "{f.phrase}" — {f.suggestion}')
    return [*out, ""]
