"""What receivers hear of an incident over its whole life: every ack, escalation,
re-page and resolve goes out once — after a reopen too, after a hand-lowered severity,
and to a fallback pager that took over — and hand moves are safe to repeat."""

from __future__ import annotations

import time

from click.testing import CliRunner

from test_incidents import alert, service
from triaged.alerts.route import FallbackRule, Route, Router
from triaged.cli import cli
from triaged.incidents.human import AlreadyDoneError, HumanActions, StillFiringError
from triaged.incidents.model import Incident, IncidentStatus
from triaged.incidents.notify import Notifications
from triaged.incidents.oncall import OnCall
from triaged.incidents.page_message import build_message
from triaged.messages import Event
from triaged.model import Severity
from triaged.notifiers.base import NotifyError
from triaged.outbox.dispatcher import Dispatcher
from triaged.outbox.fallback import Fallback
from triaged.outbox.repage import Repager, stale_repage
from triaged.store import Store, outbox
from triaged.store import incidents as rows
from triaged.testing.notifier import RecordingNotifier

S = IncidentStatus


def opened(store: Store, router: Router, severity: Severity = Severity.P0) -> Incident:
    inc = rows.insert_incident(store, Incident(0, "g", "api", "db down", severity, S.DETECTED, 0, 0, 0))
    with store.atomic():
        Notifications(store, router).enqueue(inc, build_message(store, inc, Event.OPEN, None), 0)
    return inc


def events(notifier: RecordingNotifier) -> list[str]:
    return [m.event.value for m in notifier.sent]


def test_the_ack_of_a_reopened_incident_is_sent_too(store: Store) -> None:
    router = Router([Route("pager")])
    inc = opened(store, router)
    pager = RecordingNotifier("pager")
    d = Dispatcher(store, {"pager": pager})
    human = HumanActions(store, router)
    for t, target in ((10, S.ACKNOWLEDGED), (20, S.RESOLVED), (30, S.DETECTED), (40, S.ACKNOWLEDGED)):
        human.move(inc.id, target, "alice", "", t)
        d.dispatch(t)
    assert events(pager) == ["open", "ack", "resolve", "reopen", "ack"]


def test_escalating_again_after_a_hand_lowered_severity_pages_again(store: Store) -> None:
    svc = service(store)
    svc.sync([alert("Latency", "P2")], 100)
    svc.sync([alert("Latency", "P2"), alert("Errors", "P1")], 200)
    (inc,) = rows.open_incidents(store)
    svc.sync([alert("Latency", "P2")], 400)
    # Lowered once Errors had cleared: what alice saw firing was P2, so Errors coming
    # back at P1 is worse than that and escalates (a hand-set severity holds only
    # against what was firing when it was set).
    OnCall(store, svc.router).set_severity(inc.id, Severity.P2, "alice", "false alarm", 450)
    result = svc.sync([alert("Latency", "P2"), alert("Errors", "P1")], 900)  # it was real after all
    assert result.enqueued == 1
    escalations = [r.dedup_key for r in outbox.rows_for_incident(store, inc.id) if r.event == "escalate"]
    assert len(escalations) == 2 and len(set(escalations)) == 2


def test_raising_severity_by_hand_is_routed_like_an_escalation(store: Store) -> None:
    # Routed on the incident's routing labels with the timeline entry, as automatic ones are.
    router = Router([Route("pager")])
    inc = opened(store, router, Severity.P2)
    OnCall(store, router).set_severity(inc.id, Severity.P0, "alice", "customers affected", 50)
    (row,) = [r for r in outbox.rows_for_incident(store, inc.id) if r.event == "escalate"]
    assert row.receiver == "pager" and row.dedup_key == f"triaged-{inc.id}-escalate-P0"
    assert any(e["kind"] == "notification_queued" for e in rows.timeline(store, inc.id))


def test_re_pages_resume_after_a_cancelled_one_and_a_reopen(store: Store) -> None:
    router = Router([Route("pager")])
    inc = opened(store, router)
    pager = RecordingNotifier("pager")
    d = Dispatcher(store, {"pager": pager}, sweeps=[Repager(store, router).sweep],
                   veto=lambda r: stale_repage(store, r))  # fmt: skip
    d.dispatch(0)
    pager.fail_with = NotifyError("HTTP 503")
    d.dispatch(700)  # the first re-page is recorded; the pager is down
    pager.fail_with = None
    human = HumanActions(store, router)
    human.move(inc.id, S.ACKNOWLEDGED, "alice", "", 710)
    d.dispatch(800)  # that re-page is cancelled by the ack
    human.move(inc.id, S.RESOLVED, "alice", "", 900)
    human.move(inc.id, S.DETECTED, "alice", "back again", 1000)
    d.dispatch(1000)
    before = len(pager.sent)
    for t in range(1_700, 6_000, 100):
        d.dispatch(float(t))
    repages = [m.dedup_key for m in pager.sent[before:] if m.event is Event.REPAGE]
    assert len(repages) >= 3 and len(set(repages)) == len(repages)


def test_a_fallback_pager_that_took_the_page_hears_the_resolve(store: Store) -> None:
    router = Router([Route("ons")])
    inc = opened(store, router)
    ons, pd = RecordingNotifier("ons"), RecordingNotifier("pd")
    d = Dispatcher(
        store, {"ons": ons, "pd": pd}, sweeps=[Fallback(store, [FallbackRule("ons", "pd", 300)]).sweep]
    )
    ons.fail_with = NotifyError("HTTP 503")
    for t in range(0, 400, 5):
        d.dispatch(float(t))
    ons.fail_with = None  # the primary is back: it gets the open late, then the rest
    for t in range(400, 1_000, 5):
        d.dispatch(float(t))
    HumanActions(store, router).move(inc.id, S.RESOLVED, "alice", "fixed", 1_000)
    for t in range(1_000, 1_100, 5):
        d.dispatch(float(t))
    assert events(ons) == ["open", "resolve"]
    assert events(pd) == ["open", "resolve"]


def test_investigating_straight_away_acknowledges_for_receivers_too(store: Store) -> None:
    router = Router([Route("pager")])
    inc = opened(store, router)
    moved = HumanActions(store, router).move(inc.id, S.INVESTIGATING, "alice", "", 30)
    assert moved.acknowledged_at == 30
    assert [r.event for r in outbox.rows_for_incident(store, inc.id)] == ["open", "ack"]


def test_repeating_a_step_changes_nothing_and_is_not_an_error(store: Store) -> None:
    router = Router([Route("pager")])
    inc = opened(store, router)
    human = HumanActions(store, router)
    human.move(inc.id, S.INVESTIGATING, "alice", "", 30)
    timeline = rows.timeline(store, inc.id)
    try:
        human.move(inc.id, S.ACKNOWLEDGED, "bob", "", 31)  # bob acks the page a second late
        raise AssertionError("expected AlreadyDoneError")
    except AlreadyDoneError as done:
        assert done.incident.status is S.INVESTIGATING
    assert rows.timeline(store, inc.id) == timeline
    result = CliRunner().invoke(cli, ["incidents", "ack", str(inc.id), "--db", store.path])
    assert result.exit_code == 0, result.output
    assert (
        f"incident #{inc.id} is already investigating, acknowledged by alice at 1970-01-01 00:00:30 UTC"
        in result.output
    )
    assert result.output.rstrip().endswith("; nothing changed")


def test_a_hand_resolve_while_alerts_fire_is_refused_unless_silenced_or_forced(store: Store) -> None:
    svc = service(store)
    svc.sync([alert("Latency", "P1")], 100)
    (inc,) = rows.open_incidents(store)
    human = HumanActions(store, svc.router)
    try:
        human.move(inc.id, S.RESOLVED, "alice", "", 110)
        raise AssertionError("expected StillFiringError")
    except StillFiringError as exc:
        assert "still has 1 firing alert(s) (Latency)" in str(exc)
    result = CliRunner().invoke(cli, ["incidents", "resolve", str(inc.id), "--db", store.path])
    assert result.exit_code == 1 and "--force" in result.output
    result = CliRunner().invoke(cli, ["incidents", "resolve", str(inc.id), "--force", "--db", store.path])
    assert result.exit_code == 0, result.output
    assert rows.get_incident(store, inc.id).status is S.RESOLVED  # type: ignore[union-attr]


def test_a_silenced_alert_does_not_block_a_hand_resolve(store: Store) -> None:
    svc = service(store)
    svc.sync([alert("Latency", "P1")], 100)
    (inc,) = rows.open_incidents(store)
    args = ["silence", "add", "alertname=Latency", "--for", "1h", "--reason", "known", "--db", store.path]
    assert CliRunner().invoke(cli, args).exit_code == 0
    moved = HumanActions(store, svc.router).move(inc.id, S.RESOLVED, "alice", "", time.time())
    assert moved.status is S.RESOLVED


def test_a_hand_lowered_severity_holds_while_the_alerts_it_was_set_against_fire(store: Store) -> None:
    """On-call lowered a P1 while its P1 alert fired: the next evaluations keep P2 and
    page nothing; only an alert worse than what was firing then raises it again, and
    the timeline says why."""
    svc = service(store)
    svc.sync([alert("HighLatency", "P1")], 100)
    (inc,) = rows.open_incidents(store)
    OnCall(store, svc.router).set_severity(inc.id, Severity.P2, "alice", "only staging customers", 110)
    lowered = rows.timeline(store, inc.id)[-1]
    assert "kept while alerts up to P1 fire" in lowered["message"] and lowered["data"]["seen"] == "P1"
    for now in (115, 175, 235):
        assert service(store).sync([alert("HighLatency", "P1")], now).escalated == []  # a restart too
    assert (rows.get_incident(store, inc.id) or inc).severity is Severity.P2
    assert [r.event for r in outbox.rows_for_incident(store, inc.id)] == ["open"]

    worse = svc.sync([alert("HighLatency", "P1"), alert("ServiceDown", "P0")], 300)
    assert worse.escalated == [inc.id]
    after = rows.get_incident(store, inc.id)
    assert after is not None and after.severity is Severity.P0 and after.severity_set_by is None
    (entry,) = [e for e in rows.timeline(store, inc.id) if e["kind"] == "escalated"]
    assert entry["message"].startswith("severity P2 → P0 by ServiceDown: worse than P1")
    assert "when alice set P2 by hand" in entry["message"] and entry["data"]["overrides_hand"] is True
    assert [r.event for r in outbox.rows_for_incident(store, inc.id)] == ["open", "escalate"]
