"""A recorded incident, end to end: the simulator over real HTTP, the real daemon cycle
with a fake clock, then the postmortem drafted from what the daemon stored."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from triaged.app import Daemon, build
from triaged.cli import cli
from triaged.config import parse_config
from triaged.demo import demo_config_text
from triaged.incidents import slo as slo_mod
from triaged.incidents.evidence import targets_for
from triaged.incidents.model import Incident
from triaged.incidents.postmortem import utc
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.postmortem_ops import write_draft
from triaged.simulator import Simulator
from triaged.store import evidence as ev_rows
from triaged.store import incidents as rows
from triaged.testing.clock import FakeClock
from triaged.testing.receiver import RecordingReceiver
from triaged.yamlfile import load_yaml_text

SLO_YAML = """
slos:
  - name: payments
    service: bharatmart-api
    good: sum(rate(payments_processed_total{job="bharatmart", status!="failed"}[6s]))
    total: sum(rate(payments_processed_total{job="bharatmart"}[6s]))
    objective: 99.5
    window: 1h
    interval: 1s
evidence:
  before: 30s
  step: 1s
"""
SVG = "{http://www.w3.org/2000/svg}"


class World:
    def __init__(self, daemon: Daemon, sim: Simulator, clock: FakeClock) -> None:
        self.daemon, self.sim, self.clock = daemon, sim, clock

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.sim.advance(1.0)
            self.daemon.cycle(self.clock.advance(1.0))

    def until(self, check: object, limit: int = 40) -> None:
        assert callable(check)
        for _ in range(limit):
            self.tick()
            if check():
                return
        raise AssertionError("condition not reached")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path)


@pytest.fixture
def slow_reopen_world(tmp_path: Path) -> Iterator[World]:
    """Alerts that come back within 10 minutes reopen the incident (the demo: 3 s)."""
    yield from _world(tmp_path, reopen_window="10m")


def _world(tmp_path: Path, reopen_window: str = "3s") -> Iterator[World]:
    clock = FakeClock(1_790_000_000.0)
    with Simulator(seed=3, traffic_rps=200.0, autotick=False) as sim, RecordingReceiver() as hook:
        # This test's own SLO and evidence settings replace the demo's.
        demo = demo_config_text(sim.url, tmp_path / "pm.db", hook.url).split("\nslos:")[0]
        assert "reopen_window: 3s" in demo
        text = demo.replace("reopen_window: 3s", f"reopen_window: {reopen_window}") + SLO_YAML
        cfg = parse_config(load_yaml_text(text, "<pm>"), str(tmp_path / "pm.yaml"))
        daemon = build(cfg, clock=clock)
        w = World(daemon, sim, clock)
        w.tick(10)
        yield w
        daemon.close()
        daemon.store.close()


def payment_incident(world: World) -> Incident:
    store = world.daemon.store
    world.sim.set_faults(payment_failure_ratio=0.3)
    world.until(lambda: rows.list_incidents(store))
    inc = rows.list_incidents(store)[0]
    world.tick(5)
    world.sim.reset()
    world.until(lambda: (rows.get_incident(store, inc.id) or inc).resolved_at)
    world.tick(3)
    found = rows.get_incident(store, inc.id)
    assert found is not None
    return found


def test_threshold_rules_are_recorded_without_their_threshold() -> None:
    t = targets_for("X", 'up{job="a"} == 0')
    assert (t.role, t.expr, t.op, t.threshold) == ("value", 'up{job="a"}', "==", 0.0)
    t = targets_for("X", "0.5 < (foo)")
    assert (t.op, t.threshold) == (">", 0.5)
    assert targets_for("X", "a > bool 1").role == "rule"
    assert targets_for("X", "a > 0 or b > 0").role == "rule"


def test_evidence_spans_before_detection_until_after_clear(world: World) -> None:
    inc = payment_incident(world)
    series = ev_rows.series_for(world.daemon.store, inc.id)
    assert series, "the triggering series is recorded"
    s = series[0]
    assert s["alertname"] == "PaymentFailureRateHigh" and s["role"] == "value"
    assert s["threshold"] == 0.05 and s["op"] == ">"
    times = [t for t, _ in s["points"]]
    assert times[0] < inc.detected_at, "backfilled from before detection"
    assert times[-1] >= inc.resolved_at, "kept appending until the incident resolved"
    values = [v for _, v in s["points"] if v is not None]
    assert max(values) > 0.2 and min(values) < 0.05


def test_draft_is_filled_with_times_values_budget_and_chart(world: World, tmp_path: Path) -> None:
    inc = payment_incident(world)
    store = world.daemon.store
    now = world.clock.now()
    written = write_draft(store, inc.id, tmp_path / "pm", actor="alice", now=now, policy=PostmortemPolicy())
    md = written.markdown.read_text()
    for section in (
        "## 1. Incident summary",
        "## 2. Timeline",
        "## 3. Root cause analysis",
        "## 4. Impact",
        "## 5. What went well",
        "## 6. What did not go well",
        "## 7. Action items",
        "## 8. Lessons learned",
    ):
        assert section in md
    assert f"| First symptom (alert pending) | {utc(inc.detected_at)} UTC |" in md
    assert f"| Resolved | {utc(inc.resolved_at)} UTC |" in md
    assert f"| Time to detect | {_dur(inc.opened_at - inc.detected_at)} |" in md
    assert f"| Time to resolve | {_dur(inc.resolved_at - inc.opened_at)} |" in md  # type: ignore[operator]
    assert "| Postmortem due |" in md and "2d after resolve" in md
    assert "rate(payments_processed_total" in md, "the rule expression is quoted"
    row = next(line for line in md.splitlines() if line.startswith("| PaymentFailureRateHigh |"))
    pending, firing, worst, clear = (float(c) for c in row.strip("| ").split(" | ")[2:6])
    assert pending > 0.05 and firing > 0.05 and worst >= max(pending, firing) and clear < 0.05
    assert "| payments | 99.5 % | 1h |" in md, "impact is stated as error budget"
    budget_row = next(line for line in md.splitlines() if line.startswith("| payments |"))
    consumed = float(re.findall(r"([\d.]+) %", budget_row)[1])
    assert consumed > 0
    assert "alert_pending" in md and "notification_sent" in md
    assert f"![PaymentFailureRateHigh during incident #{inc.id}](incident-{inc.id}-chart.svg)" in md

    assert written.chart is not None
    root = ET.parse(written.chart).getroot()
    marks = {
        g.get("data-marker"): float(g.get("data-t", "0"))
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "marker"
    }
    assert marks["detected"] == pytest.approx(inc.detected_at, abs=1e-3)
    assert marks["resolved"] == pytest.approx(inc.resolved_at, abs=1e-3)
    assert "acknowledged" not in marks, "nobody acknowledged it"
    assert root.find(f"{SVG}line[@class='threshold']") is not None

    inc_after = rows.get_incident(store, inc.id)
    assert inc_after is not None and inc_after.status == "postmortem"


def test_reopened_incident_spends_budget_only_in_its_lifetimes(
    slow_reopen_world: World, tmp_path: Path
) -> None:
    world = slow_reopen_world
    store = world.daemon.store
    first = payment_incident(world)
    # Between the lifetimes 3 % of payments fail: under the alert's 5 %, so the incident
    # stays resolved, but those bad events are the SLO's, not this incident's.
    world.sim.set_faults(payment_failure_ratio=0.03)
    world.tick(30)
    world.sim.set_faults(payment_failure_ratio=0.3)
    world.until(lambda: (rows.get_incident(store, first.id) or first).reopen_count)
    world.tick(5)
    world.sim.reset()
    world.until(lambda: (rows.get_incident(store, first.id) or first).resolved_at)
    inc = rows.get_incident(store, first.id)
    assert inc is not None and len(inc.lifetimes) == 2
    now = world.clock.now()

    written = write_draft(store, inc.id, tmp_path / "pm", actor="alice", now=now, policy=PostmortemPolicy())
    row = next(line for line in written.markdown.read_text().splitlines() if line.startswith("| payments |"))
    bad = float(row.split(" | ")[3].split(" of ")[0])

    (slo,) = slo_mod.load_slos(store)
    samples = slo_mod.samples_for(store, slo, now)
    lives = [(inc.detected_at, inc.lifetimes[0].resolved_at), (inc.lifetimes[1].started_at, inc.resolved_at)]
    in_lifetimes = sum(slo_mod.integrate(samples, a, b, slo.interval_s).bad for a, b in lives)  # type: ignore[arg-type]
    whole = slo_mod.integrate(samples, inc.detected_at, inc.resolved_at, slo.interval_s).bad  # type: ignore[arg-type]
    gap = whole - in_lifetimes
    assert gap > 0.1 * whole, "the gap had bad events of its own"
    assert bad == pytest.approx(in_lifetimes, rel=1e-3), "the draft counts only the lifetimes"


def test_cli_show_prints_a_text_chart_and_draft_refuses_to_overwrite(world: World, tmp_path: Path) -> None:
    inc = payment_incident(world)
    db = world.daemon.store.path
    runner = CliRunner()
    shown = runner.invoke(cli, ["incidents", "show", str(inc.id), "--db", db])
    assert shown.exit_code == 0, shown.output
    assert "Evidence: {service=bharatmart-api}" in shown.output and "threshold > 0.05" in shown.output
    assert "D detected" in shown.output
    out = tmp_path / "out"
    first = runner.invoke(
        cli, ["postmortem", "draft", str(inc.id), "--db", db, "--out", str(out), "--by", "bob"]
    )
    assert first.exit_code == 0, first.output
    again = runner.invoke(cli, ["postmortem", "draft", str(inc.id), "--db", db, "--out", str(out)])
    assert again.exit_code != 0 and "--force" in again.output
    status = runner.invoke(cli, ["slo", "status", "--db", db, "--json"])
    assert status.exit_code == 0 and '"slo": "payments"' in status.output


def _dur(seconds: float) -> str:
    from triaged.durations import format_duration

    return format_duration(seconds)


def test_the_timeline_shows_pending_only_for_alerts_that_waited_for_their_for(world: World) -> None:
    """PaymentFailureRateHigh (`for: 2s`) was pending before it fired: that comes first
    on the timeline. ChaosInProduction (no `for:`) fired at once: a "pending" line at
    the same second, listed after its firing, would only confuse the reader."""
    store = world.daemon.store
    world.sim.set_faults(environment="production", chaos_enabled=True)
    world.until(lambda: rows.list_incidents(store))
    world.tick(3)
    (chaos,) = rows.list_incidents(store)
    kinds = [e["kind"] for e in rows.timeline(store, chaos.id) if e["kind"].startswith("alert_")]
    assert "alert_firing" in kinds and "alert_pending" not in kinds
    world.sim.reset()
    world.until(lambda: (rows.get_incident(store, chaos.id) or chaos).resolved_at)
    world.tick(5)

    world.sim.set_faults(payment_failure_ratio=0.3)
    world.until(lambda: len(rows.list_incidents(store)) == 2)
    world.tick(3)
    payments = rows.list_incidents(store)[0]
    assert payments.rule == "PaymentFailureRateHigh"
    kinds = [e["kind"] for e in rows.timeline(store, payments.id) if e["kind"].startswith("alert_")]
    assert kinds[:2] == ["alert_pending", "alert_firing"]
