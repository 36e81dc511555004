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

# Incidents read per query, and looked up per query for their pages, flaps and
# resolvers: every incident of the period is counted, whatever their number, while
# only one page of them is held (500 ids also stay under SQLite's old limit of 999
# parameters per statement).
PAGE_SIZE = 500


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
    tally = _Tally()
    for found in rows.opened_between(store, since, now, page_size=PAGE_SIZE):
        tally.add(store, found)
    items = action_rows.list_items(store, statuses=UNFINISHED)
    return Report(
        since=since,
        until=now,
        incidents=tally.incidents,
        by_severity=dict(sorted(tally.by_severity.items())),
        mttd=Stat.of(tally.detect),
        mtta=Stat.of(tally.acknowledge),
        mttm=Stat.of(tally.mitigate),
        mttr=Stat.of(tally.resolve),
        still_open=tally.still_open,
        open_unacknowledged=tally.open_unacknowledged,
        budgets=_budgets(store, since, now),
        postmortems_late=[o.incident.id for o in postmortems_owed(store, now, policy) if o.late],
        actions_open=len(items),
        actions_overdue=sum(1 for a in items if a.overdue(now)),
        actions_awaiting_verification=sum(1 for a in items if a.status is ActionStatus.DONE),
        noise=sorted(tally.by_rule.values(), key=lambda n: (-n.pages, -n.incidents, n.rule)),
        open_from_before=[i.id for i in rows.open_incidents(store) if i.opened_at < since],
    )


@dataclass
class _Tally:
    """The period's figures, added up a page of incidents at a time: exact counts, and
    the durations kept as plain floats (about 10 MB for 100,000 incidents) so the
    medians and p90s are those of every incident, not of a sample."""

    incidents: int = 0
    by_severity: Counter[str] = field(default_factory=Counter)
    detect: list[float] = field(default_factory=list)
    acknowledge: list[float] = field(default_factory=list)
    mitigate: list[float] = field(default_factory=list)
    resolve: list[float] = field(default_factory=list)
    still_open: int = 0
    open_unacknowledged: int = 0
    by_rule: dict[str, RuleNoise] = field(default_factory=dict)

    def add(self, store: Store, found: Sequence[Incident]) -> None:
        # One query each for the whole page: never one per incident.
        ids = [i.id for i in found]
        pages = report_rows.pages_by_incident(store, ids)
        returned = report_rows.timeline_counts(store, ids, ["alert_returned"])
        resolver = report_rows.resolved_by(store, ids)
        for inc in found:
            t = durations(inc)
            self.incidents += 1
            self.by_severity[inc.severity.name] += 1
            for values, value in (
                (self.detect, t.detect),
                (self.acknowledge, t.acknowledge),
                (self.mitigate, t.mitigate),
                (self.resolve, t.resolve),
            ):
                if value is not None:
                    values.append(value)
            if t.resolve is None:
                self.still_open += 1
                self.open_unacknowledged += t.acknowledge is None
            n = self.by_rule.setdefault(inc.rule or "-", RuleNoise(inc.rule or "-"))
            n.incidents += 1
            n.pages += pages.get(inc.id, 0)
            flapped, by_hand = reopens(inc)
            n.flaps += flapped + returned.get((inc.id, "alert_returned"), 0)
            n.hand_reopens += by_hand
            if (
                inc.resolved_at is not None
                and not ever_acknowledged(inc)
                and resolver.get(inc.id) == "triaged"
            ):
                n.auto_resolved_unacked += 1
            if t.acknowledge is not None:
                n.ack_times.append(t.acknowledge)


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
                # Of period_recorded_s: outage charged through the SLO's `down`, all bad
                # at the traffic seen before it (the app could not be scraped).
                "period_estimated_s": period.estimated_s,
                # One interval of slack: the newest sample covers back from its own time.
                "period_lower_bound": period.covered_s < now - since - s.interval_s,
                "consumed_in_period": in_period,
                "consumed_in_window": current.consumed if known else None,
                "remaining": current.remaining if known else None,
                "exhausted": known and current.consumed >= 1,
            }
        )
    return out


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
        for b in r.budgets:
            if b["period_estimated_s"] > 0:
                out.append(
                    f"{b['slo']}: {slo_mod.estimated_text(b['period_estimated_s'])} (its `down` expression)"
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
