"""On-call review of the alert pipeline after rule evaluation: routing, muting,
flapping, escalation, re-pages and reopen, driven through a real daemon on a fake
clock (real SQLite file, real rule evaluation, real webhook on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.harness import Harness, MakeHarness, webhook
from pipeline.test_muting import add_silence
from triaged.incidents.human import HumanActions
from triaged.incidents.model import IncidentStatus
from triaged.incidents.oncall import OnCall
from triaged.model import Severity
from triaged.store import incidents as rows
from triaged.testing.clock import FakeClock
from triaged.testing.receiver import RecordingReceiver


def keys(r: RecordingReceiver) -> list[str]:
    return [p["dedupKey"] for p in r.payloads()]


TWO_LEVELS = """
groups:
  - name: latency
    rules:
      - alert: HighLatency
        expr: svc_latency > 1
        labels: {severity: warning}
      - alert: HighLatency
        expr: svc_latency > 5
        labels: {severity: critical}
"""


def test_a_critical_returning_while_its_warning_flaps_is_paged(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    """HighLatency at warning (P2) flaps, so its reopens stop paging; then the latency
    reaches the critical HighLatency (P0) of the same name. That reopen raises the
    incident to P0 and must page: before, it was swallowed as one more flap."""
    flap = "flap: {window: 1h, threshold: 3}\n"
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + flap, rules_text=TWO_LEVELS)
    for _ in range(4):
        h.metrics.set("svc_latency", "api", 2)
        h.run(20, step=2)
        h.metrics.set("svc_latency", "api", 0)
        h.run(20, step=2)
    assert keys(receiver)[-1] == "triaged-1-resolve-1"  # the flapping warning went quiet
    h.metrics.set("svc_latency", "api", 9)
    h.run(10, step=2)
    (incident,) = rows.list_incidents(h.store)
    assert incident.severity is Severity.P0 and incident.is_open
    assert keys(receiver)[-1] == "triaged-1-reopen-4"
    assert receiver.payloads()[-1]["title"].startswith("[P0]")
    h.metrics.set("svc_latency", "api", 0)
    h.run(20, step=2)
    assert keys(receiver)[-1] == "triaged-1-resolve-4"  # its end is told as well


@pytest.fixture
def chat() -> Iterator[RecordingReceiver]:
    with RecordingReceiver() as r:
        yield r


def pages_to_pager_rest_to_chat(pager: RecordingReceiver, chat: RecordingReceiver) -> str:
    return (
        "notifiers:\n"
        + webhook("pager", pager.url)
        + webhook("chat", chat.url)
        + "route:\n"
        + "  receiver: chat\n"
        + "  routes:\n"
        + "    - matchers: ['severity=~\"P0|P1\"']\n"
        + "      receiver: pager\n"
    )


def test_the_pager_hears_the_ack_and_resolve_after_on_call_lowers_the_severity(
    make_harness: MakeHarness, receiver: RecordingReceiver, chat: RecordingReceiver
) -> None:
    """A P1 pages the pager; on-call decides it is a P3, acks it and it resolves. The
    pager must hear the ack (or PagerDuty goes on escalating) and the resolve (or its
    alert stays open for ever), though P3 now routes to chat."""
    h = make_harness(pages_to_pager_rest_to_chat(receiver, chat))
    h.metrics.set("svc_latency", "api", 2)
    h.run(3)
    OnCall(h.store, None).set_severity(1, Severity.P3, "asha", "internal only", h.clock.t)
    HumanActions(h.store, None).move(1, IncidentStatus.ACKNOWLEDGED, "asha", "on it", h.clock.t)
    h.run(3)
    h.metrics.set("svc_latency", "api", 0)
    h.run(30, step=2)
    assert keys(receiver) == ["triaged-1-open", "triaged-1-ack", "triaged-1-resolve-0"]
    assert keys(chat) == ["triaged-1-ack", "triaged-1-resolve-0"]


def escalate_p2_to_p0_and_clear(h: Harness) -> None:
    h.metrics.set("svc_errors", "api", 1)
    h.run(3)
    h.metrics.set("svc_down", "api", 1)
    h.run(3)
    h.metrics.set("svc_errors", "api", 0)
    h.metrics.set("svc_down", "api", 0)
    h.run(30, step=2)


def test_chat_that_had_the_p2_page_hears_the_resolve_after_it_escalated_to_the_pager(
    make_harness: MakeHarness, receiver: RecordingReceiver, chat: RecordingReceiver, tmp_path: Path
) -> None:
    """The P2 opened in chat, then escalated to P0, which routes to the pager only. Chat
    must hear the resolve, or the channel shows the incident open for ever. A route
    that asks for opens and escalations only (``events:``) still gets no resolve."""
    escalate_p2_to_p0_and_clear(make_harness(pages_to_pager_rest_to_chat(receiver, chat)))
    assert keys(receiver) == ["triaged-1-escalate-P0", "triaged-1-resolve-0"]
    assert keys(chat) == ["triaged-1-open", "triaged-1-resolve-0"]

    with RecordingReceiver() as pager, RecordingReceiver() as quiet_chat:
        config = (
            "notifiers:\n"
            + webhook("pager", pager.url)
            + webhook("chat", quiet_chat.url)
            + "route:\n"
            + "  receiver: pager\n"
            + "  routes:\n"
            + "    - matchers: ['severity=~\"P2|P3\"']\n"
            + "      receiver: chat\n"
            + "      events: [open, escalate]\n"
        )
        escalate_p2_to_p0_and_clear(make_harness(config, db=tmp_path / "second.db"))
        assert keys(pager) == ["triaged-1-escalate-P0", "triaged-1-resolve-0"]
        assert keys(quiet_chat) == ["triaged-1-open"]


TEMPLATED_SEVERITY = """
groups:
  - name: latency
    rules:
      - alert: HighLatency
        expr: svc_latency > 1
        for: 30s
        labels:
          severity: '{{ if gt $value 5.0 }}critical{{ else }}warning{{ end }}'
"""


def test_a_severity_label_turning_critical_escalates_instead_of_resolving_first(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    """Latency goes from 2 s to 9 s: the alert's severity label turns critical, so it is
    a new alert that waits out its ``for: 30s`` while the warning one is gone. The
    incident is not over: the pager gets one escalation, not "[RESOLVED]" (the hold is
    10 s) and then a reopen."""
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url), rules_text=TEMPLATED_SEVERITY)
    h.metrics.set("svc_latency", "api", 2)
    h.run(40, step=2)
    h.metrics.set("svc_latency", "api", 9)
    h.run(60, step=2)
    assert keys(receiver) == ["triaged-1-open", "triaged-1-escalate-P0"]
    (incident,) = rows.list_incidents(h.store)
    assert incident.is_open and incident.reopen_count == 0
    returned = [t for t in rows.timeline(h.store, 1) if t["kind"] == "alert_returned"]
    assert [t["message"] for t in returned] == ["alerts firing again before the incident resolved"]
    # Once nothing fires or waits to fire, it resolves after the hold as before.
    h.metrics.set("svc_latency", "api", 0)
    h.run(20, step=2)
    assert keys(receiver)[-1] == "triaged-1-resolve-0"


def test_a_second_short_blip_waits_group_wait_like_the_first(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    """A P2 fires for 5 s, twice, with ``group_wait: 30s``: the first blip's open is
    cancelled, and the second, a reopen within the window, is as short. Nobody is paged:
    before, the reopen went at once, "[P2][REOPENED]" of an incident never sent, then its
    resolve. A return that lasts past the wait is paged."""
    h = make_harness(
        "notifiers:\n" + webhook("pager", receiver.url) + "route: {receiver: pager, group_wait: 30s}\n"
    )
    for _ in range(2):
        h.metrics.set("svc_errors", "api", 1)
        h.run(5)
        h.metrics.set("svc_errors", "api", 0)
        h.run(20)
    h.run(30)
    assert keys(receiver) == []
    (incident,) = rows.list_incidents(h.store)
    cancelled = [t for t in rows.timeline(h.store, incident.id) if t["kind"] == "notification_cancelled"]
    assert [t["message"] for t in cancelled][-1] == "reopen for pager not sent: resolved before it was due"
    h.metrics.set("svc_errors", "api", 1)
    h.run(25)
    assert keys(receiver) == []
    h.run(10)
    assert keys(receiver) == ["triaged-1-reopen-2"]


ODD_SUNDAYS = """
maintenance:
  - name: odd-sunday-patching
    schedule: "0 2 */2 * SUN"
    duration: 2h
    timezone: UTC
    match: {service: api}
"""


def test_a_step_day_of_month_with_a_weekday_opens_the_window_as_cron_would(
    make_harness: MakeHarness, receiver: RecordingReceiver, tmp_path: Path
) -> None:
    """``*/2`` in the day-of-month field restricts nothing for cron's either-day rule,
    so the window opens on odd-numbered Sundays only. It opened on every odd day and
    every Sunday too, muting the pages of a Tuesday night outage."""
    days = {
        datetime(2026, 3, 1, 2, 30, tzinfo=UTC): False,  # Sunday the 1st: the window is open
        datetime(2026, 3, 3, 2, 30, tzinfo=UTC): True,  # Tuesday the 3rd: odd, not a Sunday
        datetime(2026, 3, 8, 2, 30, tzinfo=UTC): True,  # Sunday the 8th: even
    }
    paged = {}
    for day in days:
        before = len(receiver.payloads())
        clock = FakeClock(day.timestamp())
        h = make_harness(
            "notifiers:\n" + webhook("pager", receiver.url) + ODD_SUNDAYS,
            db=tmp_path / f"{day.day}.db",
            clock=clock,
        )
        h.metrics.set("svc_down", "api", 1)
        h.run(5)
        paged[day] = len(receiver.payloads()) > before
    assert paged == days


def test_silencing_an_open_p0_stops_its_re_pages_until_the_silence_ends(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    """On-call silences the service during a migration instead of acking: the P0 is
    not re-paged every 5 minutes while its alert is silenced (it was, all night), and
    re-paging resumes if it is still firing, unacknowledged, when the silence ends."""
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + "repage: {P0: 5m}\n")
    h.metrics.set("svc_down", "api", 1)
    h.run(60, step=10)
    add_silence(h.store, "service=api", h.clock.t, hours=0.5)
    h.run(1790, step=10)
    assert keys(receiver) == ["triaged-1-open"]
    h.run(30, step=10)
    assert keys(receiver) == ["triaged-1-open", "triaged-1-repage-1"]


def test_alerts_joining_while_a_reopen_waits_are_in_the_reopen_page(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    """As for an open: the P2 reopen waiting out ``group_wait`` lists the P3 that joined
    during the wait, not only the alert that reopened the incident."""
    h = make_harness(
        "notifiers:\n" + webhook("pager", receiver.url) + "route: {receiver: pager, group_wait: 30s}\n"
    )
    h.metrics.set("svc_errors", "api", 1)
    h.run(5)
    h.metrics.set("svc_errors", "api", 0)
    h.run(20)
    h.metrics.set("svc_errors", "api", 1)
    h.run(5)
    h.metrics.set("svc_disk", "api", 0.95)
    h.run(40)
    (page,) = receiver.payloads()
    assert page["dedupKey"] == "triaged-1-reopen-1"
    assert [a["labels"]["alertname"] for a in page["alerts"]] == ["ErrorsRising", "DiskFilling"]


def test_setting_the_p1_re_page_keeps_the_p0_default(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    """``repage: {P1: 15m}`` changes P1 only: a P0 is still re-paged after the default
    10 minutes (``P0: 0`` is how to stop that). Before, every severity not listed lost
    its re-page, so an unacknowledged P0 paged once."""
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + "repage: {P1: 15m}\n")
    h.metrics.set("svc_down", "api", 1)
    h.run(610, step=10)
    assert keys(receiver) == ["triaged-1-open", "triaged-1-repage-1"]


def test_a_resolve_is_sent_at_once_not_after_an_escalation_waiting_out_group_interval(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    """A P3 is paged, rises to P2 (its escalation waits ``group_interval: 5m``) and is
    over a minute later. The resolve goes at once, as the docs promise, and the stale
    "[ESCALATED]" is not sent: before, both went five minutes later, escalation first."""
    h = make_harness(
        "notifiers:\n" + webhook("pager", receiver.url) + "route: {receiver: pager, group_interval: 5m}\n"
    )
    h.metrics.set("svc_disk", "api", 0.95)
    h.run(5)
    h.metrics.set("svc_errors", "api", 1)
    h.run(5)
    h.metrics.set("svc_disk", "api", 0)
    h.metrics.set("svc_errors", "api", 0)
    h.run(20)
    assert keys(receiver) == ["triaged-1-open", "triaged-1-resolve-0"]
    assert receiver.payloads()[-1]["title"].startswith("[P2][RESOLVED]")
    h.run(400, step=10)
    assert keys(receiver) == ["triaged-1-open", "triaged-1-resolve-0"]
    kinds = h.timeline_kinds(1)
    assert "notification_cancelled" in kinds


def test_an_ack_during_group_wait_goes_at_once_with_the_open_before_it(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    """On-call acks a P2 (``triaged incidents ack``) while its open waits out a 5m
    ``group_wait``: the receiver gets the open and the ack now, in that order, as
    ``route test`` promises ("an ack or resolve goes at once"). Both waited 5 minutes."""
    h = make_harness(
        "notifiers:\n" + webhook("pager", receiver.url) + "route: {receiver: pager, group_wait: 5m}\n"
    )
    h.metrics.set("svc_errors", "api", 1)
    h.run(10)
    assert keys(receiver) == []
    HumanActions(h.store, None).move(1, IncidentStatus.ACKNOWLEDGED, "asha", "on it", h.clock.t)
    h.run(5)
    assert keys(receiver) == ["triaged-1-open", "triaged-1-ack"]


def test_a_child_route_that_names_ack_gets_it_though_the_root_sends_chat_less(
    make_harness: MakeHarness, receiver: RecordingReceiver, chat: RecordingReceiver
) -> None:
    """``events:`` is inherited like the receiver: the root tells chat only of opens and
    resolves, while the pager route names ack and re-page too. The pager gets the ack
    (or PagerDuty escalates on) and its re-pages; before, the root's list filtered
    every route below it, so they went nowhere."""
    config = (
        "notifiers:\n"
        + webhook("pager", receiver.url)
        + webhook("chat", chat.url)
        + "repage: {P1: 5m}\n"
        + "route:\n"
        + "  receiver: chat\n"
        + "  events: [open, resolve]\n"
        + "  routes:\n"
        + "    - matchers: ['severity=~\"P0|P1\"']\n"
        + "      receiver: pager\n"
        + "      events: [open, escalate, repage, ack, resolve, reopen]\n"
    )
    h = make_harness(config)
    h.metrics.set("svc_latency", "api", 2)
    h.run(310, step=10)
    HumanActions(h.store, None).move(1, IncidentStatus.ACKNOWLEDGED, "asha", "on it", h.clock.t)
    h.run(5)
    assert keys(receiver) == ["triaged-1-open", "triaged-1-repage-1", "triaged-1-ack"]
    assert keys(chat) == []
