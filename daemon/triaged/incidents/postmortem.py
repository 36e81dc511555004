"""`triaged postmortem draft`: a blameless postmortem pre-filled from recorded evidence.

The draft follows the seed course's sections. Facts the store knows (timeline, times
to detect/acknowledge/mitigate/resolve, the rule, values at pending/firing/peak/clear,
error budget consumed) are filled in; judgement (root cause, lessons) gets prompts.
Guidance sits in HTML comments, which the blameless check skips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from triaged.clock import utc_text
from triaged.incidents import slo as slo_mod
from triaged.incidents.actions import ActionItem
from triaged.incidents.blameless import Finding, scan
from triaged.incidents.model import AUTO_ACTOR, Incident
from triaged.incidents.postmortem_blocks import block
from triaged.incidents.postmortem_due import PostmortemPolicy, required
from triaged.incidents.postmortem_values import alert_values
from triaged.incidents.timing import (
    Durations,
    durations,
    ever_acknowledged,
    human,
    lifetime_origin,
    open_for,
    reopens,
    since,
)
from triaged.messages import Event
from triaged.store import actions as action_rows
from triaged.store import evidence as ev_rows
from triaged.store import incidents as rows
from triaged.store import outbox
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
    pages: list[tuple[float, str]] = field(default_factory=list)  # the open page: (delivered at, receiver)


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
        pages=_pages_delivered(store, incident_id),
    )
    end = inc.resolved_at or now
    spans = _budget_spans(inc, now)
    for s in slo_mod.load_slos(store, since=inc.opened_at):
        if slo_mod.applies_to(s, inc.service):
            # From the window that ends with the incident: drafted days later, the
            # window ending now may no longer reach back to it.
            first = min(start for start, _ in spans)
            samples = slo_mod.samples_for(store, s, max(now, end), since=first - s.window_s)
            during, at_end = slo_mod.incident_budget(s, samples, spans)
            facts.budgets.append((s, during, at_end, slo_mod.budget(s, samples, now)))
    people = {e["actor"] for e in timeline} | {a.owner for a in facts.items} | {inc.assignee or ""}
    people.discard("triaged")
    for entry in timeline:
        if entry["actor"] != "triaged":  # only what people wrote
            text = " ".join([entry["message"], str(entry["data"].get("reason") or "")])
            facts.findings.extend((entry, f) for f in scan(text, people))
    return facts


def _pages_delivered(store: Store, incident_id: int) -> list[tuple[float, str]]:
    """When and to whom the page (the open notification) was delivered. Not any
    delivery on the timeline: the resolve notice or a reminder is no page, and a page
    that failed must not read as delivered when the resolve got through."""
    return sorted(
        (r.sent_at, r.receiver)
        for r in outbox.rows_for_incident(store, incident_id)
        if r.event == Event.OPEN.value and r.status == outbox.SENT and r.sent_at is not None
    )


def utc(ts: float | None) -> str:
    return "-" if ts is None else utc_text(ts)


def _utc(ts: float | None) -> str:
    return "-" if ts is None else f"{utc(ts)} UTC"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


# Control characters (but tab) have no business in a document: shown as U+FFFD.
_CONTROLS = dict.fromkeys((*range(0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)), "\ufffd")


def cell(text: object) -> str:
    """Text people or alerts wrote, made safe inside a Markdown table row (or a list
    item): ``|`` would split the row, a newline would end it, and ``<``/``>`` would let
    raw HTML through — a ``<!--`` in a note would hide the rows after it from readers
    and from `postmortem check`, which skips comments."""
    flat = " ".join(str(text).splitlines()).translate(_CONTROLS)  # an ESC from an exporter, say
    return flat.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


# -- markdown --------------------------------------------------------------------------
def render(facts: Facts, policy: PostmortemPolicy, chart_file: str | None) -> str:
    out: list[str] = []
    inc = facts.incident
    out += [
        f"# Postmortem: incident #{inc.id} — {cell(inc.title)}",
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
        *block(
            "lessons",
            [
                "<!-- What do we know now that we did not before? What would we tell another team"
                " running a similar service? Which assumptions turned out wrong? -->",
                "",
                "- ",
            ],
        ),
        "",
    ]
    out += _review(facts)
    return "\n".join(out).rstrip() + "\n"


def _summary(facts: Facts, policy: PostmortemPolicy) -> list[str]:
    inc, t = facts.incident, facts.times
    first = inc.lifetimes[0]
    due = "-"
    if required(inc, policy) and inc.resolved_at is not None:
        due = f"{utc(inc.resolved_at + policy.due_s)} UTC ({human(policy.due_s)} after resolve)"
    gaps = (
        f" over {len(inc.lifetimes)} lifetimes, gaps between them not counted" if inc.past_lifetimes else ""
    )
    rows_ = [
        ("Severity", _severity(facts)),
        ("Service", inc.service or "-"),
        ("Status", str(inc.status)),
        ("Owner", inc.assignee or "-"),
        ("First symptom (alert pending)", _utc(inc.detected_at)),
        ("Opened and paged", _utc(inc.opened_at)),
        ("Acknowledged", _utc(first.acknowledged_at)),
        ("Mitigated", _utc(first.mitigated_at)),
        ("Reopened", f"{inc.reopen_count} time(s): see lifetimes below" if inc.reopen_count else "no"),
        ("Resolved", _utc(inc.resolved_at)),
        ("Duration (first symptom → resolved)", human(t.total) + gaps),
        ("Time to detect", human(t.detect)),
        ("Time to acknowledge", human(t.acknowledge)),
        ("Time to mitigate", human(t.mitigate)),
        ("Time to resolve", human(t.resolve)),
        ("Postmortem due", due),
    ]
    out = ["## 1. Incident summary", "", "| | |", "|---|---|"]
    out += [f"| {k} | {cell(v)} |" for k, v in rows_]
    out += _lifetimes(inc)
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
        *block(
            "summary",
            [
                "<!-- In two or three sentences: what users experienced, for how long, and how it ended. -->",
                "",
            ],
        ),
        "",
    ]
    return out


def _severity(facts: Facts) -> str:
    """The severity now, and how it got there when it changed: the incident that paged
    as P2 and was raised to P0 by hand must not read as a plain P0 (or the other way
    round: a page at P0 later lowered to P3 still woke someone)."""
    inc = facts.incident
    opened = next((e["data"].get("severity") for e in facts.timeline if e["kind"] == "opened"), None)
    how = [f"opened as {opened}"] if opened and opened != inc.severity.name else []
    if inc.severity_set_by:
        how.append(f"set by hand by {inc.severity_set_by}")
    return f"{inc.severity.name} ({'; '.join(how)})" if how else inc.severity.name


def _budget_spans(inc: Incident, now: float) -> list[tuple[float, float]]:
    """The stretches the incident's budget is counted over: its lifetimes, the first
    from the first symptom (``detected_at``), the last until resolve or ``now``."""
    spans = [(life.started_at, life.resolved_at or now) for life in inc.lifetimes]
    spans[0] = (min(inc.detected_at, spans[0][0]), spans[0][1])
    return spans


def _lifetimes(inc: Incident) -> list[str]:
    """A reopened incident, lifetime by lifetime: each was paged, acknowledged and
    resolved on its own."""
    if not inc.past_lifetimes:
        return []
    out = [
        "",
        "<!-- Reopened: time to acknowledge and to mitigate are those of the first page;"
        " time to resolve and the duration add up the lifetimes, not the healthy gaps between them. -->",
        "",
        "| Lifetime | Opened | Acknowledged | Time to acknowledge | Mitigated | Resolved | Open for |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, life in enumerate(inc.lifetimes, 1):
        how = lifetime_origin(life)
        out.append(
            f"| {n} | {utc(life.started_at)} ({how}) | {utc(life.acknowledged_at)}"
            f" | {human(since(life.started_at, life.acknowledged_at))} | {utc(life.mitigated_at)}"
            f" | {utc(life.resolved_at)} | {human(open_for(life))} |"
        )
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
        out.append(f"| {utc(e['at'])} | {cell(e['kind'])} | {cell(e['actor'])} | {cell(e['message'])} |")
    return [*out, ""]


def _root_cause(facts: Facts) -> list[str]:
    t = facts.times
    prompts = [
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
    ]
    return ["## 3. Root cause analysis", "", *block("root cause", prompts), ""]


def _impact(facts: Facts, chart_file: str | None) -> list[str]:
    inc = facts.incident
    out = [
        "## 4. Impact",
        "",
        f"- Service `{inc.service or '-'}` affected for {human(facts.times.total)}"
        " (first symptom to resolve"
        + (
            f"; {len(inc.lifetimes)} lifetimes, the healthy gaps between them not counted"
            if inc.past_lifetimes
            else ""
        )
        + ").",
        "",
    ]
    if chart_file:
        out += [f"![{inc.rule} during incident #{inc.id}]({chart_file})", ""]
    out += ["| Alert | Labels | At pending | At firing | Worst | At clear |", "|---|---|---|---|---|---|"]
    for a in facts.alerts:
        v = alert_values(facts, a)
        labels = ", ".join(f"{k}={val}" for k, val in sorted(a["labels"].items()) if k not in ("alertname",))
        out.append(
            f"| {cell(a['alertname'])} | {cell(labels)} | {_num(v['pending'])} | {_num(v['firing'])}"
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
    span_s = sum(end - start for start, end in _budget_spans(inc, facts.now))
    for s, during, at_end, current in facts.budgets:
        bad, share = _consumed(s, during, at_end, span_s)
        out.append(
            f"| {s.name} | {s.objective * 100:g} % | {human(s.window_s)}"
            f" | {bad} | {share} | {slo_mod.remaining_text(current.consumed, current.has_data)} |"
        )
    return [*out, ""]


def _consumed(
    s: slo_mod.SLO, during: slo_mod.Events, at_end: slo_mod.Budget, span_s: float
) -> tuple[str, str]:
    """The bad-events and budget cells. Samples missing over part of the incident
    (expired, or no SLI while the service was down hard) are not zero consumption:
    say there is no data, or that the figure is a lower bound. An outage charged
    through the SLO's ``down`` is said to be an estimate."""
    if during.covered_s <= 0:
        return "no SLI data for this span", "unknown"
    consumed = slo_mod.share_of_budget(during.bad, at_end.allowed_bad)
    counted = f"{slo_mod.events_text(during.bad)} of {slo_mod.events_text(during.total)}"
    if during.estimated_s > 0:
        counted += f" ({slo_mod.estimated_text(during.estimated_s)})"
    # One interval of slack: the first sample of the span covers back only to its start.
    if during.covered_s < span_s - s.interval_s:
        return (
            f"{counted} (SLI covered {human(during.covered_s)} of {human(span_s)}: a lower bound)",
            slo_mod.share_text(consumed, lower_bound=True),
        )
    return counted, slo_mod.share_text(consumed)


def _went_well(facts: Facts) -> list[str]:
    inc, t = facts.incident, facts.times
    out = ["## 5. What went well", ""]
    out.append(f"- Detected automatically by `{inc.rule}` {human(t.detect)} after the first symptom.")
    if facts.pages:
        receivers = sorted({receiver for _, receiver in facts.pages})
        out.append(
            f"- Page delivered {human(facts.pages[0][0] - inc.opened_at)} after opening"
            f" to {', '.join(receivers)}."
        )
    if len(facts.alerts) > 1:
        out.append(
            f"- {len(facts.alerts)} alerts were grouped into this one incident"
            " (one page, not one per symptom)."
        )
    if inc.resolved_at is not None and inc.reopen_count == 0 and not _firing_at_resolve(facts):
        out.append("- Recovery was confirmed by the alerts clearing; the incident did not reopen.")
    return [*out, "- ", ""]


def _firing_at_resolve(facts: Facts) -> list[str]:
    """Alerts of a resolved incident that had not cleared when it was resolved (by hand,
    with --force or while they were muted): they did not confirm the recovery, even
    if they cleared later."""
    resolved_at = facts.incident.resolved_at
    if facts.incident.is_open or resolved_at is None:
        return []
    return sorted(
        {
            str(a["alertname"])
            for a in facts.alerts
            if a["state"] != "resolved" or a["resolved_at"] is None or a["resolved_at"] > resolved_at
        }
    )


def _went_badly(facts: Facts) -> list[str]:
    inc, t = facts.incident, facts.times
    out = ["## 6. What did not go well", ""]
    if not ever_acknowledged(inc):
        out.append(
            "- No acknowledgement was recorded: what stopped the page from reaching someone able to act?"
        )
    elif t.acknowledge is None:
        out.append("- The first page was not acknowledged before the incident resolved.")
    elif t.acknowledge > 300:
        out.append(f"- Acknowledgement took {human(t.acknowledge)}.")
    flapped, by_hand = reopens(inc)
    if flapped:
        out.append(
            f"- The incident reopened {flapped} time(s) when its alerts returned:"
            " the fix or the alert flapped."
        )
    if by_hand:
        out.append(
            f"- On-call reopened it by hand {by_hand} time(s) while no alert fired"
            f" ({_hand_reasons(facts)}): what did the alerts miss?"
        )
    firing = _firing_at_resolve(facts)
    if firing:
        out.append(
            f"- It was resolved by hand while {cell(', '.join(firing))} still fired:"
            " no alert confirmed the recovery. What showed it was over?"
        )
    for e in facts.timeline:
        if e["kind"] in ("notification_failed", "escalated", "recurrence"):
            out.append(f"- {cell(e['message'])}")  # quotes action item titles: escaped too
    return [*out, "- ", ""]


def _hand_reasons(facts: Facts) -> str:
    """Who reopened the incident by hand and why, from the timeline."""
    said = [
        f"{e['actor']}: {e['data'].get('reason') or 'no reason given'}"
        for e in facts.timeline
        if e["kind"] == "detected" and e["actor"] != AUTO_ACTOR
    ]
    return cell("; ".join(said) or "see the timeline")


def _actions(facts: Facts) -> list[str]:
    inc = facts.incident
    out = [
        "## 7. Action items",
        "",
        "<!-- Specific, owned, dated, prioritised, tracked. Add them with"
        f" `triaged actions add {inc.id} --title … --owner … --due … --priority … --type …`"
        ", then add a row to the table below by hand, or re-draft with --force: it redraws"
        " this table and keeps the summary, root cause and lessons you wrote (the old file"
        " is kept as .bak). -->",
        "",
    ]
    if not facts.items:
        return [*out, "None recorded yet.", ""]
    out += ["| # | Action | Owner | Due | Priority | Type | Status |", "|---|---|---|---|---|---|---|"]
    for a in facts.items:
        out.append(
            f"| {a.id} | {cell(a.title)} | {cell(a.owner)} | {_due(a.due_at)}"
            f" | {a.priority} | {a.type} | {a.status}{', overdue' if a.overdue(facts.now) else ''} |"
        )
    return [*out, ""]


def _due(due_at: float) -> str:
    """A due date as it was set: the day for ``--due 2026-12-01`` (the end of that UTC
    day), the time too for one set to the minute. The day alone of
    ``2026-12-01T02:00+05:30`` would read 2026-11-30 with nothing to say why."""
    text = utc(due_at)
    return text[:10] if text.endswith("23:59:59") else f"{text[:16]} UTC"


def _review(facts: Facts) -> list[str]:
    if not facts.findings:
        return []
    # The findings quote the flagged text, so they go in a comment (which the check
    # skips): otherwise the draft would fail its own check until this section was
    # deleted, however well the timeline was reworded.
    out = [
        "## Blameless review",
        "",
        f"{len(facts.findings)} phrase(s) in the timeline above were flagged by the blameless review:"
        " reword them there, then delete this section. Each is listed in the comment below, with a"
        " suggestion.",
        "",
        "<!--",
    ]
    for entry, f in facts.findings:
        line = f'- {utc(entry["at"])} {entry["kind"]} by {entry["actor"]}: "{f.phrase}" — {f.suggestion}'
        out.append(line.replace("-->", "-- >"))  # quoted text must not end the comment early
    return [*out, "-->", ""]
