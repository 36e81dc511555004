"""An incident that reopens has lifetimes: each is paged, acknowledged and resolved on
its own. Time to acknowledge is the first page's; time to resolve and the duration add
up the lifetimes, never the healthy gap between them; show, postmortem and report agree."""

from __future__ import annotations

from click.testing import CliRunner

from triaged.alerts.route import Route, Router
from triaged.cli import cli
from triaged.incidents.human import HumanActions
from triaged.incidents.model import IncidentStatus
from triaged.incidents.postmortem import gather, render
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.report import build_report
from triaged.incidents.service import IncidentPolicy, IncidentService
from triaged.incidents.timing import durations
from triaged.store import Store
from triaged.store import incidents as rows

from .conftest import T0, latency

S = IncidentStatus


def acked_reopened_and_reacked(store: Store) -> None:
    """Paged at T0, acked after 5m, resolved at T0+15m; back 40 min later, acked 2m
    after the reopen page, resolved again 9m after reopening."""
    svc = IncidentService(
        store, Router([Route("pager")]), IncidentPolicy(resolve_hold_s=300, reopen_window_s=3600)
    )
    human = HumanActions(store, Router([Route("pager")]))
    svc.sync([latency(T0 - 60)], T0)
    human.move(1, S.ACKNOWLEDGED, "alice", "", T0 + 300)
    for t in range(600, 1000, 60):
        svc.sync([], T0 + t)
    svc.sync([latency(T0 + 3000)], T0 + 3060)
    reopened = rows.get_incident(store, 1)
    assert reopened is not None and reopened.status is S.DETECTED
    human.move(1, S.ACKNOWLEDGED, "alice", "", T0 + 3180)
    for t in range(3300, 3700, 60):
        svc.sync([], T0 + t)


def test_a_reopen_starts_an_unacknowledged_lifetime_and_keeps_the_first(store: Store) -> None:
    svc = IncidentService(store, Router([]), IncidentPolicy(resolve_hold_s=0, reopen_window_s=3600))
    svc.sync([latency(T0 - 60)], T0)
    HumanActions(store, Router([])).move(1, S.ACKNOWLEDGED, "alice", "", T0 + 300)
    svc.sync([], T0 + 600)
    svc.sync([], T0 + 601)
    svc.sync([latency(T0 + 3000)], T0 + 3060)
    inc = rows.get_incident(store, 1)
    assert inc is not None and inc.status is S.DETECTED
    assert inc.acknowledged_at is None and inc.resolved_at is None  # this lifetime: not yet
    assert (inc.reopened_at, inc.reopened_by) == (T0 + 3060, "triaged")
    (first,) = inc.past_lifetimes
    assert (first.started_at, first.acknowledged_at, first.resolved_at) == (T0, T0 + 300, T0 + 601)
    show = CliRunner().invoke(cli, ["incidents", "show", "1", "--db", store.path])
    assert show.exit_code == 0, show.output
    assert "acknowledged -   resolved -" in show.output
    assert "reopened" in show.output and "1. opened" in show.output and "open 10m1s" in show.output


def test_postmortem_and_report_measure_ack_on_the_first_page_and_skip_the_gap(store: Store) -> None:
    acked_reopened_and_reacked(store)
    inc = rows.get_incident(store, 1)
    assert inc is not None and inc.status is S.RESOLVED and inc.reopen_count == 1
    t = durations(inc)
    assert t.acknowledge == 300  # not 53 minutes: the first page was answered in 5
    assert t.resolve == 900 + 540  # 15m + 9m open, not the 40 healthy minutes between
    assert t.total == 60 + 900 + 540

    md = render(gather(store, 1, T0 + 4000), PostmortemPolicy(), None)
    assert "| Time to acknowledge | 5m |" in md and "| Time to resolve | 24m |" in md
    assert "| Duration (first symptom → resolved) | 25m over 2 lifetimes" in md
    assert "affected for 25m" in md and "Acknowledgement took" not in md
    assert "| 1 | 2026-09-21 14:13:20 (paged) | 2026-09-21 14:18:20 | 5m |" in md
    assert "| 2 | 2026-09-21 15:04:20 (alerts returned) | 2026-09-21 15:06:20 | 2m |" in md

    report = build_report(store, T0 - 86_400, T0 + 4000, PostmortemPolicy())
    assert (report.mtta.median, report.mttr.median) == (300, 1440)
    assert report.noise[0].time_to_ack.median == 300
    listed = CliRunner().invoke(cli, ["incidents", "list", "--db", store.path])
    assert "24m" in listed.output  # TTR: time open
