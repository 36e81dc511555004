"""`triaged report`: how incident response went over a period, from the store alone.

Times follow :mod:`triaged.incidents.timing` (detect: first symptom → page; ack,
mitigate: page → that step in the first lifetime; resolve: time open, summed over
the lifetimes of a reopened incident). Per-rule noise counts what an on-call feels:
pages, incidents that resolved on their own before anyone acknowledged them, flaps
(reopens because alerts came back, plus alerts returning during the resolve hold),
hand reopens (on-call saw a problem no alert showed: a gap in the rules, not a
flap) and time to acknowledge.

An incident still open has no time to resolve (and maybe none to acknowledge): the
figures leave it out, so the report counts those apart rather than let the slowest
incidents vanish from the medians.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from triaged.incidents import slo as slo_mod
from triaged.incidents.actions import UNFINISHED, ActionStatus
from triaged.incidents.model import Incident
from triaged.incidents.postmortem_due import PostmortemPolicy, postmortems_owed
from triaged.incidents.timing import durations, ever_acknowledged, human, percentile, reopens
from triaged.store import actions as action_rows
from triaged.store import incidents as rows
from triaged.store import reports as report_rows
from triaged.store.db import Store

MAX_INCIDENTS = 10_000


@dataclass(frozen=True)
class Stat:
    median: float | None
    p90: float | None
    count: int

    @classmethod
    def of(cls, values: list[float]) -> Stat:
        return cls(percentile(values, 0.5), percentile(values, 0.9), len(values))


@dataclass
class RuleNoise:
    rule: str
    incidents: int = 0
    pages: int = 0
    auto_resolved_unacked: int = 0
    flaps: int = 0
    hand_reopens: int = 0
    ack_times: list[float] = field(default_factory=list)

    @property
    def time_to_ack(self) -> Stat:
        return Stat.of(self.ack_times)


@dataclass
class Report:
    since: float
    until: float
    incidents: int
    by_severity: dict[str, int]
    mttd: Stat
    mtta: Stat
    mttm: Stat
    mttr: Stat
    still_open: int  # not resolved yet: left out of time to resolve
    open_unacknowledged: int  # still open and its page not acknowledged: left out of time to acknowledge
    budgets: list[dict[str, Any]]
    postmortems_late: list[int]
    actions_open: int
    actions_overdue: int
    actions_awaiting_verification: int
    noise: list[RuleNoise]
    # Opened before the period and open still: the longest-running of all, not in the
    # period's figures, so named apart rather than left out of the report altogether.
    open_from_before: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def stat(s: Stat) -> dict[str, Any]:
            return {"median_s": s.median, "p90_s": s.p90, "count": s.count}

        return {
            "since": self.since,
            "until": self.until,
            "incidents": self.incidents,
            "by_severity": self.by_severity,
            "mttd": stat(self.mttd),
            "mtta": stat(self.mtta),
            "mttm": stat(self.mttm),
            "mttr": stat(self.mttr),
            "still_open": self.still_open,
            "open_unacknowledged": self.open_unacknowledged,
            "open_from_before": self.open_from_before,
            # JSON has no Infinity (an allowance of zero overspent): null, and
            # "exhausted" says it is not unknown.
            "error_budget": [
                {k: slo_mod.finite(v) if isinstance(v, float) else v for k, v in b.items()}
                for b in self.budgets
            ],
            "postmortems_late": self.postmortems_late,
            "actions": {
                "open": self.actions_open,
                "overdue": self.actions_overdue,
                "awaiting_verification": self.actions_awaiting_verification,
            },
            "noise": [
                {
                    "rule": n.rule,
                    "incidents": n.incidents,
                    "pages": n.pages,
                    "auto_resolved_unacked": n.auto_resolved_unacked,
                    "flaps": n.flaps,
                    "hand_reopens": n.hand_reopens,
                    "time_to_ack": stat(n.time_to_ack),
                }
                for n in self.noise
            ],
        }


def build_report(store: Store, since: float, now: float, policy: PostmortemPolicy) -> Report:
    found = [i for i in rows.list_incidents(store, limit=MAX_INCIDENTS, since=since) if i.opened_at <= now]
    times = [durations(i) for i in found]
    items = action_rows.list_items(store, statuses=UNFINISHED)
    return Report(
        since=since,
        until=now,
        incidents=len(found),
        by_severity=dict(sorted(Counter(i.severity.name for i in found).items())),
        mttd=Stat.of([t.detect for t in times if t.detect is not None]),
        mtta=Stat.of([t.acknowledge for t in times if t.acknowledge is not None]),
        mttm=Stat.of([t.mitigate for t in times if t.mitigate is not None]),
        mttr=Stat.of([t.resolve for t in times if t.resolve is not None]),
        still_open=sum(1 for t in times if t.resolve is None),
        open_unacknowledged=sum(1 for t in times if t.resolve is None and t.acknowledge is None),
        budgets=_budgets(store, since, now),
        postmortems_late=[o.incident.id for o in postmortems_owed(store, now, policy) if o.late],
        actions_open=len(items),
        actions_overdue=sum(1 for a in items if a.overdue(now)),
        actions_awaiting_verification=sum(1 for a in items if a.status is ActionStatus.DONE),
        noise=_noise(store, found),
        open_from_before=[i.id for i in rows.open_incidents(store) if i.opened_at < since],
    )


def _budgets(store: Store, since: float, now: float) -> list[dict[str, Any]]:
    """Per SLO: the budget of the window ending now, and the share of it the period's
    bad events spent. Samples are kept for one window and at least 14 days, so a
    period longer than that (or than the daemon has recorded) gives a lower bound,
    said as such."""
    out = []
    for s in slo_mod.load_slos(store, since=since):
        samples = slo_mod.samples_for(store, s, now, since=since)
        current = slo_mod.budget(s, samples, now)
        period = slo_mod.integrate(samples, since, now, s.interval_s)
        known = current.has_data
        in_period = slo_mod.share_of_budget(period.bad, current.allowed_bad) if period.covered_s > 0 else None
        out.append(
            {
                "slo": s.name,
                "objective": s.objective,
                "window_s": s.window_s,
                "sli": current.sli,
                "recorded_s": current.events.covered_s,
                "period_recorded_s": period.covered_s,
                # One interval of slack: the newest sample covers back from its own time.
                "period_lower_bound": period.covered_s < now - since - s.interval_s,
                "consumed_in_period": in_period,
                "consumed_in_window": current.consumed if known else None,
                "remaining": current.remaining if known else None,
                "exhausted": known and current.consumed >= 1,
            }
        )
    return out


def _noise(store: Store, found: list[Incident]) -> list[RuleNoise]:
    ids = [i.id for i in found]
    pages = report_rows.pages_by_incident(store, ids)
    returned = report_rows.timeline_counts(store, ids, ["alert_returned"])
    resolver = report_rows.resolved_by(store, ids)
    by_rule: dict[str, RuleNoise] = {}
    for inc in found:
        n = by_rule.setdefault(inc.rule or "-", RuleNoise(inc.rule or "-"))
        n.incidents += 1
        n.pages += pages.get(inc.id, 0)
        flapped, by_hand = reopens(inc)
        n.flaps += flapped + returned.get((inc.id, "alert_returned"), 0)
        n.hand_reopens += by_hand
        if inc.resolved_at is not None and not ever_acknowledged(inc) and resolver.get(inc.id) == "triaged":
            n.auto_resolved_unacked += 1
        ack = durations(inc).acknowledge
        if ack is not None:
            n.ack_times.append(ack)
    return sorted(by_rule.values(), key=lambda n: (-n.pages, -n.incidents, n.rule))


_BUDGET_HEADERS = (
    "SLO",
    "OBJECTIVE",
    "WINDOW",
    "SLI (WINDOW)",
    "BUDGET USED IN PERIOD",
    "USED IN WINDOW",
    "REMAINING",
)


def _budget_row(b: dict[str, Any]) -> tuple[str, ...]:
    known = b["recorded_s"] > 0
    in_period = b["consumed_in_period"]
    return (
        b["slo"],
        f"{b['objective'] * 100:g} %",
        human(b["window_s"]),
        slo_mod.sli_text(b["sli"], known),
        "no data"
        if in_period is None
        else slo_mod.share_text(in_period, lower_bound=b["period_lower_bound"]),
        slo_mod.used_text(b["consumed_in_window"], known),
        slo_mod.remaining_text(b["consumed_in_window"], known),
    )


# Incident numbers named on one line of the report: hundreds would bury the rest of it.
MAX_IDS_SHOWN = 20


def _ids(ids: Sequence[int]) -> str:
    shown = ", ".join(f"#{i}" for i in ids[:MAX_IDS_SHOWN])
    return shown + (f" and {len(ids) - MAX_IDS_SHOWN} more" if len(ids) > MAX_IDS_SHOWN else "")


def render_report(
    r: Report, label: str, table: Callable[[Sequence[str], Sequence[Sequence[Any]]], str]
) -> str:
    def stat(s: Stat) -> tuple[str, str, str]:
        return human(s.median), human(s.p90), str(s.count)

    sev = ", ".join(f"{k} {v}" for k, v in r.by_severity.items()) or "none"
    out = [f"Incidents in the last {label}: {r.incidents} ({sev})", ""]
    out.append(
        table(
            ("MEASURE", "MEDIAN", "P90", "N"),
            [
                ("time to detect (MTTD)", *stat(r.mttd)),
                ("time to acknowledge (MTTA)", *stat(r.mtta)),
                ("time to mitigate", *stat(r.mttm)),
                ("time to resolve (MTTR)", *stat(r.mttr)),
            ],
        )
    )
    if r.still_open:
        out.append(
            f"Still open, not in time to resolve: {r.still_open}"
            f" ({r.open_unacknowledged} not acknowledged yet, not in time to acknowledge)"
        )
    if r.open_from_before:
        out.append(
            f"Open since before the period, not in these figures: {len(r.open_from_before)}"
            f" ({_ids(r.open_from_before)})"
        )
    out.append("")
    if r.budgets:
        out.append(table(_BUDGET_HEADERS, [_budget_row(b) for b in r.budgets]))
        # Only under a row that shows a "≥": one with no data for the period says so itself.
        if any(b["period_lower_bound"] and b["consumed_in_period"] is not None for b in r.budgets):
            out.append(
                "≥: SLI recorded for only part of the period"
                " (samples are kept for one window, at least 14 days)"
            )
    else:
        out.append("Error budget: no SLOs recorded (add `slos:` to the config)")
    late = _ids(r.postmortems_late) or "none"
    out += [
        "",
        f"Postmortems late: {len(r.postmortems_late)} ({late})",
        f"Action items: {r.actions_open} open, {r.actions_overdue} overdue,"
        f" {r.actions_awaiting_verification} done awaiting verification",
        "",
        "Noise per rule:",
    ]
    if r.noise:
        out.append(
            table(
                ("RULE", "INCIDENTS", "PAGES", "AUTO-RESOLVED UNACKED", "FLAPS", "ACK MEDIAN", "ACK P90"),
                [
                    (n.rule, n.incidents, n.pages, n.auto_resolved_unacked, n.flaps, *stat(n.time_to_ack)[:2])
                    for n in r.noise
                ],
            )
        )
    else:
        out.append("  none")
    return "\n".join(out)
