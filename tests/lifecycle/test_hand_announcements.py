"""Changes made by hand from the CLI reach the receivers that got the page, through
the daemon: the simulator over real HTTP, the real daemon cycle with a fake clock, a
real webhook receiver, the CLI with only ``--db`` (as README shows it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from triaged.app import Daemon, build
from triaged.cli import cli
from triaged.config import Config, parse_config
from triaged.demo import demo_config_text
from triaged.outbox.announce import Announcer
from triaged.simulator import Simulator
from triaged.store import announcements, notify_state
from triaged.store import incidents as rows
from triaged.store import outbox as outbox_rows
from triaged.store.db import open_store
from triaged.testing.clock import FakeClock
from triaged.testing.receiver import RecordingReceiver
from triaged.yamlfile import load_yaml_text

RUNBOOK = "https://runbooks.example.com/bharatmart/payment-failures"


class World:
    def __init__(self, cfg: Config, sim: Simulator, hook: RecordingReceiver, clock: FakeClock) -> None:
        self.cfg, self.sim, self.hook, self.clock = cfg, sim, hook, clock
        self.daemon: Daemon | None = build(cfg, clock=clock)

    @property
    def d(self) -> Daemon:
        assert self.daemon is not None, "the daemon is stopped"
        return self.daemon

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.sim.advance(1.0)
            self.d.cycle(self.clock.advance(1.0))

    def until(self, check: Any, limit: int = 40) -> None:
        for _ in range(limit):
            self.tick()
            if check():
                return
        raise AssertionError("condition not reached")

    def stop(self) -> None:
        """As a kill would leave it: nothing flushed, nothing dispatched."""
        self.d.close()
        self.d.store.close()
        self.daemon = None

    def start(self) -> None:
        self.daemon = build(self.cfg, clock=self.clock)

    def sent(self, event: str) -> list[dict[str, Any]]:
        return [p for p in self.hook.payloads() if p["event"] == event]

    def cli(self, *args: str) -> str:
        result = CliRunner().invoke(cli, [*args, "--db", self.cfg.db_path, "--by", "asha"])
        assert result.exit_code == 0, result.output
        return result.output

    def paged_incident(self) -> int:
        """A P1 payment incident whose page reached the webhook."""
        self.sim.set_faults(payment_failure_ratio=0.3)
        self.until(lambda: self.sent("open"))
        (inc,) = rows.list_incidents(self.d.store)
        return inc.id


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = FakeClock(1_790_000_000.0)
    with Simulator(seed=3, traffic_rps=200.0, autotick=False) as sim, RecordingReceiver() as hook:
        text = demo_config_text(sim.url, tmp_path / "live.db", hook.url).split("\nslos:")[0]
        path = tmp_path / "triaged.yaml"
        path.write_text(text)
        w = World(parse_config(load_yaml_text(text, str(path)), str(path)), sim, hook, clock)
        w.tick(10)
        yield w
        if w.daemon is not None:
            w.stop()


def test_an_ack_typed_as_the_page_says_reaches_the_paged_receiver_once(world: World) -> None:
    inc = world.paged_incident()
    (page,) = world.sent("open")
    assert f"Acknowledge: triaged incidents ack {inc}" in page["body"]
    out = world.cli("incidents", "ack", str(inc), "-m", "on it")
    assert "the receivers that were paged" in out  # (this daemon runs in-process, without the lock)
    # The CLI routed nothing itself: no config, no router, only the intent.
    assert not [r for r in outbox_rows.rows_for_incident(world.d.store, inc) if r.event == "ack"]
    world.tick(3)
    (ack,) = world.sent("ack")
    assert ack["title"].startswith("[P1][ACK] ")
    assert "Acknowledged by asha: on it" in ack["body"]
    assert "Acknowledge:" not in ack["body"]
    assert ack["alerts"][0]["labels"]["alertname"] == "PaymentFailureRateHigh"
    assert ack["alerts"][0]["annotations"]["runbook_url"] == RUNBOOK
    world.tick(5)
    assert len(world.sent("ack")) == 1


def test_the_page_carries_the_description_and_runbook(world: World) -> None:
    world.paged_incident()
    (page,) = world.sent("open")
    assert f"Runbook: {RUNBOOK}" in page["body"]
    assert "of payments on bharatmart-api failed over 5 minutes" in page["body"]


def test_with_config_the_daemon_still_announces_it_once(world: World) -> None:
    inc = world.paged_incident()
    result = CliRunner().invoke(
        cli, ["incidents", "ack", str(inc), "--config", world.cfg.path, "--by", "asha", "-m", "mine"]
    )
    assert result.exit_code == 0, result.output
    world.tick(5)
    (ack,) = world.sent("ack")
    assert "Acknowledged by asha: mine" in ack["body"]


def test_an_ack_made_while_the_daemon_is_down_is_told_when_it_starts(world: World) -> None:
    inc = world.paged_incident()
    world.stop()
    world.cli("incidents", "ack", str(inc), "-m", "on it")
    world.start()
    world.tick()
    (ack,) = world.sent("ack")
    assert "Acknowledged by asha" in ack["body"]
    world.tick(5)
    assert len(world.sent("ack")) == 1


def test_killed_after_routing_before_sending_sends_once_after_restart(world: World) -> None:
    inc = world.paged_incident()
    world.cli("incidents", "ack", str(inc))
    router = world.d.incidents.router
    # Routed to the webhook and the log receiver (P1), as the page was; not sent yet.
    assert Announcer(world.d.store, router).sweep(world.clock.t) == 2
    world.stop()
    world.start()
    world.tick(5)
    assert len(world.sent("ack")) == 1
    (intent,) = [a for a in announcements.for_incident(world.d.store, inc) if a.event == "ack"]
    assert intent.done_at is not None and intent.queued == 2


def test_killed_while_routing_routes_again_and_sends_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The routing transaction dies after writing an outbox row: the row and the done
    mark roll back together, so the restart routes the intent again."""
    inc = world.paged_incident()
    world.cli("incidents", "ack", str(inc))

    def crash(*_args: object) -> None:
        raise OSError("killed")

    monkeypatch.setattr(notify_state, "schedule", crash)
    assert Announcer(world.d.store, world.d.incidents.router).sweep(world.clock.t) == 0
    assert not [r for r in outbox_rows.rows_for_incident(world.d.store, inc) if r.event == "ack"]
    assert [a.event for a in announcements.pending(world.d.store)] == ["ack"]
    monkeypatch.undo()
    world.stop()
    world.start()
    world.tick(5)
    assert len(world.sent("ack")) == 1


def test_a_second_daemon_racing_for_an_intent_does_not_route_it_again(world: World) -> None:
    inc = world.paged_incident()
    world.cli("incidents", "ack", str(inc))
    (stale,) = announcements.pending(world.d.store)  # what a second daemon read
    world.tick()
    other = open_store(world.cfg.db_path)
    try:
        assert Announcer(other, world.d.incidents.router)._route(stale, world.clock.t) == 0
    finally:
        other.close()
    world.tick(5)
    assert len(world.sent("ack")) == 1


def test_a_hand_escalation_is_tagged_and_tells_the_alerts(world: World) -> None:
    inc = world.paged_incident()
    world.cli("incidents", "severity", str(inc), "P0", "-m", "checkout is down")
    world.tick(3)
    (esc,) = world.sent("escalate")
    assert esc["title"].startswith("[P0][ESCALATED from P1] ")
    assert "Escalated P1 → P0 by asha: checkout is down" in esc["body"]
    assert f"Runbook: {RUNBOOK}" in esc["body"]
    assert {a["labels"]["alertname"] for a in esc["alerts"]} == {"PaymentFailureRateHigh"}
    (page,) = world.sent("open")
    assert not page["title"].startswith("[P1][ESCALATED")  # a new page is not "worse"


def test_raised_twice_before_the_daemon_routes_either_pages_twice(world: World) -> None:
    inc = world.paged_incident()
    world.stop()
    for sev in ("P0", "P1", "P0"):
        world.cli("incidents", "severity", str(inc), sev)
    world.start()
    world.tick(3)
    keys = [p["dedupKey"] for p in world.sent("escalate")]
    assert len(keys) == 2 and len(set(keys)) == 2


def test_a_resolve_notice_says_what_resolved_it_and_asks_no_ack(world: World) -> None:
    inc = world.paged_incident()
    world.sim.reset()
    world.until(lambda: world.sent("resolve"))
    (resolve,) = world.sent("resolve")
    assert resolve["title"].startswith("[P1][RESOLVED] ")
    assert "Auto-resolved: all alerts clear" in resolve["body"]
    assert "Acknowledge:" not in resolve["body"]
    assert resolve["alerts"][0]["annotations"]["runbook_url"] == RUNBOOK
    world.cli("incidents", "reopen", str(inc), "-m", "customers still see errors")
    world.tick(3)
    (reopen,) = world.sent("reopen")
    assert "Reopened by asha: customers still see errors" in reopen["body"]
    assert f"Acknowledge: triaged incidents ack {inc}" in reopen["body"]


def test_pending_intents_are_found_through_their_index(world: World) -> None:
    plan = world.d.store.query(
        "EXPLAIN QUERY PLAN SELECT * FROM announcements WHERE done_at IS NULL ORDER BY id LIMIT 100"
    )
    assert any("announcements_pending" in str(r["detail"]) for r in plan), plan
