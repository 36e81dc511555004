"""End to end, in-process: the simulator over real HTTP, the real daemon cycle with a
fake clock. Each seed fault must raise exactly its incident, page once, and resolve."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from triaged.app import Daemon, build
from triaged.config import parse_config
from triaged.demo import STEPS, Step, demo_config_text
from triaged.incidents.model import Incident
from triaged.simulator import Simulator
from triaged.store import incidents as rows
from triaged.testing.clock import FakeClock
from triaged.testing.receiver import RecordingReceiver
from triaged.yamlfile import load_yaml_text


class World:
    def __init__(self, daemon: Daemon, sim: Simulator, hook: RecordingReceiver, clock: FakeClock) -> None:
        self.daemon, self.sim, self.hook, self.clock = daemon, sim, hook, clock

    def tick(self) -> None:
        """One second of traffic, then one daemon cycle at the new time."""
        self.sim.advance(1.0)
        self.daemon.cycle(self.clock.advance(1.0))

    def run_until(self, done: Callable[[], object], limit: int = 40) -> int:
        for seconds in range(1, limit + 1):
            self.tick()
            if done():
                return seconds
        raise AssertionError(f"condition not reached within {limit} simulated seconds")

    def incidents(self) -> list[Incident]:
        return rows.list_incidents(self.daemon.store, limit=100)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = FakeClock(1_790_000_000.0)
    with Simulator(seed=3, traffic_rps=200.0, autotick=False) as sim, RecordingReceiver() as hook:
        text = demo_config_text(sim.url, tmp_path / "e2e.db", hook.url)
        cfg = parse_config(load_yaml_text(text, "<e2e>"), str(tmp_path / "e2e.yaml"))
        daemon = build(cfg, clock=clock)
        w = World(daemon, sim, hook, clock)
        for _ in range(8):  # warm up: rates need a few scrapes
            w.tick()
        assert w.incidents() == [], "healthy traffic must not open incidents"
        yield w
        daemon.close()
        daemon.store.close()


def play(world: World, step: Step) -> Incident:
    before = {i.id for i in world.incidents()}
    for changes in step.changes:
        world.sim.set_faults(**changes)
        world.tick()
        world.tick()
    world.run_until(lambda: [i for i in world.incidents() if i.id not in before])
    opened = [i for i in world.incidents() if i.id not in before]
    assert len(opened) == 1, f"{step.name}: expected one incident, got {opened}"
    incident = opened[0]
    world.run_until(
        lambda: step.rules <= {a["alertname"] for a in rows.incident_alerts(world.daemon.store, incident.id)}
    )
    world.sim.reset()
    world.run_until(lambda: (rows.get_incident(world.daemon.store, incident.id) or incident).resolved_at)
    return rows.get_incident(world.daemon.store, incident.id) or incident


@pytest.mark.parametrize("step", STEPS, ids=[s.name for s in STEPS])
def test_each_seed_fault_raises_its_incident_pages_once_and_resolves(world: World, step: Step) -> None:
    incident = play(world, step)
    assert incident.severity is step.severity
    alerts = {a["alertname"] for a in rows.incident_alerts(world.daemon.store, incident.id)}
    assert alerts == set(step.rules)
    pages = [p for p in world.hook.payloads() if p["incidentId"] == incident.id]
    assert [p["event"] for p in pages] == ["open", "resolve"], "one page for the outage, one resolve notice"
    assert pages[0]["dedupKey"] == f"triaged-{incident.id}-open"
    assert pages[0]["title"].startswith(f"[{step.severity.name}] BharatMart")
    assert incident.resolved_at is not None and incident.status == "resolved"


def test_whole_game_day_in_sequence_opens_exactly_five_incidents(world: World) -> None:
    for step in STEPS:
        play(world, step)
    assert [i.severity.name for i in reversed(world.incidents())] == [s.severity.name for s in STEPS]
    opens = [p for p in world.hook.payloads() if p["event"] == "open"]
    assert len(opens) == len(STEPS)


def _pending(world: World, rule: str) -> bool:
    return any(r.alerts for r in world.daemon.rules.alerting_rules() if r.spec.name == rule)


@pytest.mark.parametrize("from_zero", [True, False], ids=["from-zero", "prometheus-way"])
def test_the_first_failed_payments_are_noticed_at_the_first_scrape_that_shows_them(
    tmp_path: Path, from_zero: bool
) -> None:
    """The simulator, like BharatMart, creates the failed-payments series at the first
    failure; triaged counts that series from zero, so the rule is pending one scrape
    (one second here, 15 s with the defaults) earlier than Prometheus would have it."""
    clock = FakeClock(1_790_000_000.0)
    with Simulator(seed=3, traffic_rps=200.0, autotick=False) as sim, RecordingReceiver() as hook:
        text = demo_config_text(sim.url, tmp_path / "e2e.db", hook.url)
        if not from_zero:
            target_labels = "    labels: {service: bharatmart-api}\n"
            text = text.replace(target_labels, target_labels + "    new_counters_from_zero: false\n", 1)
        cfg = parse_config(load_yaml_text(text, "<e2e>"), str(tmp_path / "e2e.yaml"))
        daemon = build(cfg, clock=clock)
        world = World(daemon, sim, hook, clock)
        try:
            sim.set_faults(payment_failure_ratio=0.0)  # a shop where no payment ever failed yet
            for _ in range(8):
                world.tick()
            assert not any(s.labels.get("status") == "failed" for s in daemon.storage), "no failure yet"
            sim.set_faults(payment_failure_ratio=0.5)
            scrapes = world.run_until(lambda: _pending(world, "PaymentFailureRateHigh"), limit=5)
        finally:
            daemon.close()
            daemon.store.close()
    assert scrapes == (1 if from_zero else 2)
