"""Silences, maintenance windows and inhibition: muted alerts page nobody, are
recorded where an SRE will look, and nothing stays hidden once the muting ends."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from click.testing import CliRunner

from pipeline.harness import T0, MakeHarness, webhook
from triaged.alerts.silence import Silence, parse_matchers
from triaged.cli import cli
from triaged.store import incidents as rows
from triaged.store import outbox, silences
from triaged.testing.receiver import RecordingReceiver


def add_silence(
    store: object, matchers: str, start: float, hours: float, reason: str = "migration"
) -> Silence:
    return silences.add(
        store,  # type: ignore[arg-type]
        Silence(0, parse_matchers(matchers.split()), start, start + hours * 3600, "asha", reason, start),
    )


def test_an_alert_firing_under_a_silence_pages_nobody_but_is_recorded_and_pages_after_expiry(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url))
    add_silence(h.store, "service=api", T0, hours=1)
    h.metrics.set("svc_latency", "api", 2)
    h.run(1800, step=30)
    assert rows.list_incidents(h.store) == [] and receiver.payloads() == []
    (muted,) = silences.muted(h.store, since=T0, active_only=True)
    assert (muted["alertname"], muted["kind"], muted["ref"]) == ("HighLatency", "silence", "1")
    # The silence expires while the alert is still firing: now it pages, and says so.
    h.run(1830, step=30)
    (incident,) = rows.list_incidents(h.store)
    assert [p["dedupKey"] for p in receiver.payloads()] == ["triaged-1-open"]
    was = [t for t in rows.timeline(h.store, incident.id) if t["kind"] == "was_muted"]
    assert len(was) == 1 and "silence #1" in was[0]["message"]
    assert silences.muted(h.store, since=T0, active_only=True) == []
    assert len(silences.muted(h.store, since=T0)) == 1  # the episode stays visible


def test_silencing_an_open_incident_keeps_it_open_without_a_false_resolve(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url))
    h.metrics.set("svc_latency", "api", 2)
    h.run(5)
    add_silence(h.store, "alertname=HighLatency", h.clock.t, hours=1)
    h.run(120, step=5)
    (incident,) = rows.list_incidents(h.store)
    assert incident.is_open
    assert "alert_muted" in h.timeline_kinds(incident.id)
    assert [p["event"] for p in receiver.payloads()] == ["open"]


def test_silence_cli_lists_expiring_soon_and_expired_with_author_and_reason(
    make_harness: MakeHarness, tmp_path: object
) -> None:
    h = make_harness()
    db = h.store.path
    runner = CliRunner()
    # Started 25 min ago for 30 min: under a quarter of its span is left, so it is EXPIRING.
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() - 25 * 60))
    out = runner.invoke(cli, ["silence", "add", "service=api", "--start", started, "--for", "30m",
                              "--reason", "deploy", "--by", "ravi", "--db", db])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "silence #1 added" in out.output and "by ravi: deploy" in out.output
    runner.invoke(cli, ["silence", "add", "service=cart", "--for", "6h", "--reason", "migration", "--db", db])
    assert runner.invoke(cli, ["silence", "expire", "2", "--db", db]).exit_code == 0
    listed = runner.invoke(cli, ["silence", "list", "--db", db])
    lines = listed.output.splitlines()
    assert any("EXPIRING" in line and "ravi" in line and "deploy" in line for line in lines), listed.output
    assert any("expired" in line and "migration" in line for line in lines), listed.output
    # Every silence ends, names something and says why.
    assert runner.invoke(cli, ["silence", "add", "service=api", "--reason", "x", "--db", db]).exit_code != 0
    assert runner.invoke(cli, ["silence", "add", "service=~.*", "--for", "1h", "--reason", "x",
                               "--db", db]).exit_code != 0  # fmt: skip
    assert runner.invoke(cli, ["silence", "add", "service=api", "--for", "30d", "--reason", "x",
                               "--db", db]).exit_code != 0  # fmt: skip


INHIBIT = """
inhibit_rules:
  - name: down-hides-symptoms
    source_matchers: ['severity="P0"', 'alertname="ServiceDown"']
    target_matchers: ['severity=~"P1|P2"']
    equal: [service]
"""


def test_a_p0_service_down_inhibits_p1_p2_symptoms_of_the_same_service_only(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    # Grouped per rule here, so without inhibition each symptom would open its own incident.
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + INHIBIT)
    h.daemon.incidents.policy = type(h.daemon.incidents.policy)(group_by=("service", "alertname"))
    h.metrics.set("svc_down", "api", 1)
    h.run(2)
    h.metrics.set("svc_latency", "api", 5)
    h.metrics.set("svc_errors", "api", 3)
    h.metrics.set("svc_latency", "cart", 5)  # another service: not inhibited
    h.run(30, step=2)
    titles = sorted(i.title for i in rows.list_incidents(h.store))
    assert titles == ["api is down", "cart is slow"]
    down = next(i for i in rows.list_incidents(h.store) if i.title == "api is down")
    muted = [t for t in rows.timeline(h.store, down.id) if t["kind"] == "alert_muted"]
    assert sorted(t["data"]["alert"] for t in muted) == ["ErrorsRising", "HighLatency"]
    assert all("inhibited by ServiceDown" in t["message"] for t in muted)
    # The cause clears, the symptoms remain: now they page on their own.
    h.metrics.set("svc_down", "api", 0)
    h.run(4, step=2)
    titles = sorted(i.title for i in rows.list_incidents(h.store, status="open"))
    assert "api is slow" in titles


MAINTENANCE = """
maintenance:
  - name: sunday-patching
    schedule: "0 2 * * SUN"
    duration: 2h
    timezone: Asia/Kolkata
    match: {service: api}
    reason: OS patching
"""


def test_a_recurring_maintenance_window_mutes_only_inside_the_window(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    from triaged.testing.clock import FakeClock

    # Sunday 2026-03-01 02:30 IST = Saturday 21:00 UTC.
    start = datetime(2026, 2, 28, 21, 0, tzinfo=UTC).timestamp()
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + MAINTENANCE, clock=FakeClock(start))
    h.metrics.set("svc_latency", "api", 2)
    h.run(600, step=30)
    assert rows.list_incidents(h.store) == []
    (muted,) = silences.muted(h.store, since=start, active_only=True)
    assert muted["kind"] == "maintenance" and muted["ref"] == "sunday-patching"
    h.run(4740, step=60)  # 03:59 IST: still inside
    assert receiver.payloads() == []
    h.run(120, step=60)  # 04:00 IST: the window closes, the still-firing alert pages
    assert [p["event"] for p in receiver.payloads()] == ["open"]
    assert outbox.counts(h.store) == {"sent": 1}


def test_an_incident_whose_alert_a_maintenance_window_mutes_can_be_resolved_by_hand(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    """The window started while the incident was open: the daemon records the mute,
    and resolving by hand is not refused as "still firing" (the alert pages nobody
    now; if it still fires after the window, it opens a new incident then)."""
    from triaged.app import build_router
    from triaged.incidents.human import HumanActions
    from triaged.incidents.model import IncidentStatus
    from triaged.testing.clock import FakeClock

    start = datetime(2026, 2, 28, 20, 20, tzinfo=UTC).timestamp()  # Sunday 01:50 IST
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + MAINTENANCE, clock=FakeClock(start))
    h.metrics.set("svc_latency", "api", 2)
    h.run(300, step=30)
    (incident,) = rows.list_incidents(h.store)
    h.run(900, step=30)  # 02:10 IST: inside the window
    assert "alert_muted" in h.timeline_kinds(incident.id)
    human = HumanActions(h.store, build_router(h.daemon.cfg))
    resolved = human.move(incident.id, IncidentStatus.RESOLVED, "asha", "patching", h.clock.t)
    assert resolved.status is IncidentStatus.RESOLVED


def test_cron_schedule_fields_and_day_rules() -> None:
    from triaged.alerts.maintenance import CronSchedule, MaintenanceWindow

    s = CronSchedule.parse("*/15 1-3 * * MON-FRI")
    assert s.minutes == (0, 15, 30, 45) and s.hours == (1, 2, 3) and s.weekdays == frozenset({1, 2, 3, 4, 5})
    # Both day fields restricted: either matches, as in cron (the 1st, or any Sunday).
    either = CronSchedule.parse("0 0 1 * 0")
    from datetime import date

    assert either.day_matches(date(2026, 3, 1)) and either.day_matches(date(2026, 3, 8))
    assert not either.day_matches(date(2026, 3, 9))
    # February 29th opens every leap year: not refused as a date that never comes.
    assert CronSchedule.parse("0 2 29 2 *").day_matches(date(2028, 2, 29))
    # A window crossing midnight is open after midnight too.
    w = MaintenanceWindow("nightly", CronSchedule.parse("30 23 * * *"), 3600, "UTC", ())
    t = datetime(2026, 3, 2, 0, 10, tzinfo=UTC).timestamp()
    assert w.active(t) == (t - 40 * 60, t + 20 * 60)
    assert w.next_start(t) == t + 23 * 3600 + 20 * 60


def test_a_maintenance_window_on_the_night_the_clocks_change_lasts_its_duration() -> None:
    """As docs/alerting.md says: the start is wall-clock time, the duration elapsed time."""
    from zoneinfo import ZoneInfo

    from triaged.alerts.maintenance import CronSchedule, MaintenanceWindow

    berlin = ZoneInfo("Europe/Berlin")  # clocks go forward at 02:00 on 2026-03-29
    w = MaintenanceWindow("patching", CronSchedule.parse("30 1 * * SUN"), 2 * 3600, "Europe/Berlin", ())
    start = datetime(2026, 3, 29, 1, 30, tzinfo=berlin).timestamp()
    assert w.active(start + 60) == (start, start + 2 * 3600)
    assert datetime.fromtimestamp(start + 2 * 3600, berlin).strftime("%H:%M") == "04:30"
    # A start the clocks skip opens at 03:30 that night.
    skipped = MaintenanceWindow("skipped", CronSchedule.parse("30 2 * * SUN"), 3600, "Europe/Berlin", ())
    opens = skipped.next_start(start)
    assert (
        opens is not None and datetime.fromtimestamp(opens, berlin).strftime("%m-%d %H:%M") == "03-29 03:30"
    )
