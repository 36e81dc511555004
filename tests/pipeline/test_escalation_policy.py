"""The escalation policy: nobody acknowledges the page, so the next person is paged,
once, and then hears the ack and the resolve like everyone who was paged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.harness import MakeHarness, webhook
from triaged.incidents.human import HumanActions
from triaged.incidents.model import IncidentStatus
from triaged.store import incidents as rows
from triaged.testing.receiver import RecordingReceiver

POLICY = "route: {receiver: pager}\nescalation_policy:\n  - {after: 15m, to: secondary}\n"


@pytest.fixture
def secondary() -> Iterator[RecordingReceiver]:
    with RecordingReceiver() as r:
        yield r


def _config(primary: RecordingReceiver, secondary: RecordingReceiver, policy: str = POLICY) -> str:
    return "notifiers:\n" + webhook("pager", primary.url) + webhook("secondary", secondary.url) + policy


def keys(r: RecordingReceiver) -> list[str]:
    return [p["dedupKey"] for p in r.payloads()]


def test_an_unacknowledged_p0_pages_the_secondary_once_after_15_minutes(
    make_harness: MakeHarness, receiver: RecordingReceiver, secondary: RecordingReceiver
) -> None:
    h = make_harness(_config(receiver, secondary))
    h.metrics.set("svc_down", "api", 1)
    h.run(1)
    h.run(14 * 60, step=10)
    assert secondary.payloads() == []
    h.run(2 * 60, step=10)
    (page,) = secondary.payloads()
    assert page["title"].startswith("[P0][NO ACK IN 15m]")
    assert "escalated to secondary" in page["body"]
    h.run(30 * 60, step=30)
    assert len(secondary.payloads()) == 1, "one escalation page per step, not one per sweep"
    assert "triaged-1-repage-1" in keys(receiver), "the primary is still re-paged as before"
    timeline = [e["message"] for e in rows.timeline(h.store, 1)]
    assert any("queued for secondary" in m for m in timeline)


def test_an_ack_within_the_step_pages_nobody_else(
    make_harness: MakeHarness, receiver: RecordingReceiver, secondary: RecordingReceiver
) -> None:
    h = make_harness(_config(receiver, secondary))
    h.metrics.set("svc_down", "api", 1)
    h.run(1)
    h.run(10 * 60, step=10)
    HumanActions(h.store, h.daemon.incidents.router).move(
        1, IncidentStatus.ACKNOWLEDGED, "asha", "", h.clock.t
    )
    h.run(30 * 60, step=30)
    assert secondary.payloads() == []


def test_the_secondary_hears_the_ack_and_the_resolve_of_the_page_it_got(
    make_harness: MakeHarness, receiver: RecordingReceiver, secondary: RecordingReceiver
) -> None:
    """No route names the secondary: the escalation page is its route, so it is told
    when someone acknowledges (its own pager stops) and when it is over."""
    h = make_harness(_config(receiver, secondary))
    h.metrics.set("svc_down", "api", 1)
    h.run(1)
    h.run(16 * 60, step=10)
    HumanActions(h.store, h.daemon.incidents.router).move(
        1, IncidentStatus.ACKNOWLEDGED, "bob", "", h.clock.t
    )
    h.run(10, step=5)
    h.metrics.set("svc_down", "api", 0)
    h.run(60, step=5)
    assert [p["event"] for p in secondary.payloads()] == ["repage", "ack", "resolve"]


def test_a_p2_is_not_escalated(
    make_harness: MakeHarness, receiver: RecordingReceiver, secondary: RecordingReceiver
) -> None:
    h = make_harness(_config(receiver, secondary))
    h.metrics.set("svc_errors", "api", 1)  # ErrorsRising: P2, not in the default severities
    h.run(1)
    h.run(20 * 60, step=30)
    assert receiver.payloads() and secondary.payloads() == []


def test_a_silenced_incident_waits_like_its_re_pages(
    make_harness: MakeHarness, receiver: RecordingReceiver, secondary: RecordingReceiver
) -> None:
    """On-call silenced it while they work: nobody else is woken until the silence ends."""
    from triaged.alerts.silence import Silence, parse_matchers
    from triaged.store import silences

    h = make_harness(_config(receiver, secondary))
    h.metrics.set("svc_down", "api", 1)
    h.run(1)
    h.run(5 * 60, step=10)
    silences.add(
        h.store, Silence(0, parse_matchers(["service=api"]), h.clock.t, h.clock.t + 3600, "asha", "db", 0)
    )
    h.run(30 * 60, step=30)
    assert secondary.payloads() == []
    h.run(40 * 60, step=30)  # the silence ended, still unacknowledged
    assert [p["event"] for p in secondary.payloads()] == ["repage"]


def test_a_reopened_incident_starts_the_clock_again(
    make_harness: MakeHarness, receiver: RecordingReceiver, secondary: RecordingReceiver
) -> None:
    h = make_harness(_config(receiver, secondary))
    h.metrics.set("svc_down", "api", 1)
    h.run(1)
    h.run(16 * 60, step=10)
    assert len(secondary.payloads()) == 1
    h.metrics.set("svc_down", "api", 0)
    h.run(30, step=5)  # resolved (10 s hold)
    h.metrics.set("svc_down", "api", 1)
    h.run(5 * 60, step=10)  # reopened within the reopen window; 5 min is under the step
    assert [p["event"] for p in secondary.payloads()] == ["repage", "resolve"]
    h.run(11 * 60, step=10)
    assert [p["event"] for p in secondary.payloads()] == ["repage", "resolve", "repage"]


def test_route_test_shows_who_is_paged_when_nobody_acknowledges(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from triaged.cli import cli

    cfg = tmp_path / "t.yaml"
    cfg.write_text(
        "storage: {db: t.db}\nnotifiers: [{name: pager, type: log}, {name: secondary, type: log}]\n" + POLICY
    )
    p0 = CliRunner().invoke(cli, ["route", "test", "-c", str(cfg), "--labels", "severity=P0,service=api"])
    assert "⇢ secondary  (escalation policy: if nobody acknowledges within 15m)" in p0.output
    p3 = CliRunner().invoke(cli, ["route", "test", "-c", str(cfg), "--labels", "severity=P3,service=api"])
    assert p3.exit_code == 0 and "escalation policy" not in p3.output
