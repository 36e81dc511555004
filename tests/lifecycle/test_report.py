"""`triaged report` numbers on a fixture history whose answers are worked out by hand."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from triaged.cli import cli
from triaged.incidents.actions import ActionStatus
from triaged.incidents.followup import FollowUp, NewItem
from triaged.incidents.model import IncidentStatus
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.report import build_report
from triaged.model import Severity
from triaged.store import Store, outbox
from triaged.store import incidents as rows
from triaged.store import postmortems as pm_rows
from triaged.store import slo as slo_rows

from .conftest import T0, MakeIncident

DAY = 86_400.0
NOW = T0 + 10 * DAY


def page(store: Store, incident_id: int, event: str, key: str) -> None:
    for receiver in ("pager", "log"):  # two receivers, still one page
        outbox.enqueue(
            store, incident_id=incident_id, event=event, receiver=receiver, dedup_key=key, payload={}, now=T0
        )


@pytest.fixture
def history(store: Store, make_incident: MakeIncident) -> Store:
    make_incident(rule="Old", detected=-40 * DAY, opened=-40 * DAY + 5, resolved_at=-40 * DAY + 50)
    a1 = make_incident(rule="A", acknowledged_at=120.0, mitigated_at=300.0, resolved_at=600.0)
    rows.add_timeline(store, a1.id, T0 + 600, "resolved", "by hand", actor="alice")
    page(store, a1.id, "open", "k1")
    pm_rows.record_draft(store, a1.id, path="/x.md", chart_path=None, by="alice", now=T0 + DAY, findings=0)
    pm_rows.record_completed(store, a1.id, by="alice", now=T0 + DAY, findings=0)

    a2 = make_incident(
        rule="A", detected=1000, opened=1030, acknowledged_at=1330.0, resolved_at=2230.0, reopen_count=1
    )
    page(store, a2.id, "open", "k2")
    page(store, a2.id, "reopen", "k2r")
    page(store, a2.id, "ack", "k2a")  # not a page
    rows.add_timeline(store, a2.id, T0 + 1500, "alert_returned", "again")

    b1 = make_incident(rule="B", severity=Severity.P2, detected=5000, opened=5010, resolved_at=5100.0)
    rows.add_timeline(store, b1.id, T0 + 5100, "resolved", "auto-resolved")
    page(store, b1.id, "open", "k3")

    b2 = make_incident(
        rule="B", severity=Severity.P0, status=IncidentStatus.DETECTED, detected=9000, opened=9020
    )
    page(store, b2.id, "open", "k4")

    follow = FollowUp(store)

    def add(title: str) -> int:
        return follow.add(a1.id, NewItem(title, "alice", "2d", "high", "immediate"), "lead", T0).id

    add("Raise the DB pool limit and validate it at startup")  # open, overdue by NOW
    done = add("Alert on DB pool saturation above eighty percent")
    follow.move(done, ActionStatus.DONE, "alice", T0 + DAY)
    verified = add("Document the DB failover procedure in the runbook")
    follow.move(verified, ActionStatus.DONE, "alice", T0 + DAY)
    follow.move(verified, ActionStatus.VERIFIED, "bob", T0 + DAY)

    slo_rows.upsert_slo(
        store,
        name="checkout",
        service="api",
        good="g",
        total="t",
        objective=0.999,
        window_s=30 * DAY,
        interval_s=3600.0,
        now=T0,
    )
    for h in range(240):  # ten days, hourly, 100 req/s; one day of it at 1 bad req/s
        bad = 1.0 if 48 <= h < 72 else 0.0
        slo_rows.add_sample(store, "checkout", T0 + (h + 1) * 3600, 100.0 - bad, 100.0)
    return store


def test_report_numbers(history: Store) -> None:
    r = build_report(history, NOW - 30 * DAY, NOW, PostmortemPolicy())
    assert r.incidents == 4
    assert r.by_severity == {"P0": 1, "P1": 2, "P2": 1}
    assert (r.mttd.median, r.mttd.p90) == (25.0, pytest.approx(51.0))  # 60, 30, 10, 20 s
    assert (r.mtta.median, r.mtta.p90) == (180.0, pytest.approx(276.0))  # 60, 300 s
    assert (r.mttm.median, r.mttm.count) == (240.0, 1)
    assert (r.mttr.median, r.mttr.p90) == (540.0, pytest.approx(1068.0))  # 540, 1200, 90 s
    # Outstanding whatever the period: the old #1 and #3; #2 is complete, #4 is P2, #5 open.
    assert r.postmortems_late == [1, 3]
    assert (r.actions_open, r.actions_overdue, r.actions_awaiting_verification) == (2, 1, 1)
    (budget,) = r.budgets
    assert budget["consumed_in_window"] == pytest.approx(1 / 3)  # 86,400 bad of 259,200 allowed
    assert budget["remaining"] == pytest.approx(2 / 3)
    noise = {n.rule: n for n in r.noise}
    assert set(noise) == {"A", "B"}
    assert (noise["A"].incidents, noise["A"].pages, noise["A"].flaps, noise["A"].auto_resolved_unacked) == (
        2,
        3,
        2,
        0,
    )
    assert (noise["B"].incidents, noise["B"].pages, noise["B"].flaps, noise["B"].auto_resolved_unacked) == (
        2,
        2,
        0,
        1,
    )
    assert noise["A"].time_to_ack.median == 180.0 and noise["B"].time_to_ack.count == 0


def test_report_cli_table_and_json(history: Store) -> None:
    runner = CliRunner()
    data = json.loads(
        runner.invoke(cli, ["report", "--since", "10000d", "--db", history.path, "--json"]).output
    )
    assert data["incidents"] == 5 and data["actions"] == {"open": 2, "overdue": 1, "awaiting_verification": 1}
    text = runner.invoke(cli, ["report", "--since", "10000d", "--db", history.path])
    assert text.exit_code == 0, text.output
    assert (
        "time to resolve (MTTR)" in text.output
        and "checkout" in text.output
        and "Noise per rule" in text.output
    )
    bad = runner.invoke(cli, ["report", "--since", "soon", "--db", history.path])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_a_week_under_a_one_day_slo_counts_every_kept_day(store: Store) -> None:
    """A weekly report under a 1-day SLO: the samples of the whole week are kept, so the
    period's bad events are all counted, not just the last day's."""
    slo_rows.upsert_slo(store, name="quick", service="", good="g", total="t", objective=0.99,
                        window_s=DAY, interval_s=3600.0, now=T0)  # fmt: skip
    for h in range(7 * 24):  # a week, hourly, 10 req/s; day 2 at 1 bad req/s
        bad = 1.0 if 24 <= h < 48 else 0.0
        slo_rows.add_sample(store, "quick", T0 + (h + 1) * 3600, 10.0 - bad, 10.0)
    end = T0 + 7 * DAY
    (budget,) = build_report(store, end - 7 * DAY, end, PostmortemPolicy()).budgets
    # 86,400 bad events against the 8,640 a day's window allows: ten windows' worth.
    assert budget["consumed_in_period"] == pytest.approx(10.0)
    assert budget["consumed_in_window"] == pytest.approx(0.0)
