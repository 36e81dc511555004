"""A total outage charges the error budget: with `down:`, the minutes where `total`
returns nothing because the app cannot be scraped count as all bad at the traffic seen
before the outage, marked as estimated wherever the figure is shown.

The timeline the tests share, on real SQLite stores and the real tsdb and engine:
10 req/s with 1 failing for ten minutes, then five minutes down (no request series, `up
0`), then the app is back. The SLI is recorded every minute over a one-minute rate, so
the five minutes down are five empty `total`s: 5 × 60 s × 10 req/s = 3,000 bad requests
estimated, on top of 600 bad ones measured before the outage."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from triaged.app import Daemon, build
from triaged.cli import cli
from triaged.config import load_config, parse_config
from triaged.demo import demo_config_text
from triaged.errors import ConfigError
from triaged.incidents.postmortem import gather, render
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.slo import SLO, SLORecorder, load_slos, samples_for
from triaged.model import Labels, Severity
from triaged.promql import Engine
from triaged.simulator import Simulator
from triaged.store import Store
from triaged.store import incidents as incident_rows
from triaged.store import slo as slo_rows
from triaged.testing.clock import FakeClock
from triaged.testing.receiver import RecordingReceiver
from triaged.tsdb import Storage
from triaged.yamlfile import load_yaml_text

from .conftest import MakeIncident

DAY = 86_400.0
UP_FOR, DOWN_FOR = 600, 300  # seconds
GOOD = 'sum(rate(req_total{job="api", code!~"5.."}[1m]))'
TOTAL = 'sum(rate(req_total{job="api"}[1m]))'
DOWN = 'up{job="api"} == 0'
RULES = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        labels: {severity: P1}\n"


def _slo(down: str = DOWN) -> SLO:
    return SLO("checkout", GOOD, TOTAL, 0.99, DAY, "api", 60.0, down=down)


class App:
    """What the scrape loop would write for job "api", every 10 s."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.served = 0.0  # requests served so far (the counters carry on after the outage)

    def serving(self, start: float, seconds: int) -> None:
        for t in range(10, seconds + 1, 10):
            self.served += 10.0 * 10
            at = int((start + t) * 1000)
            self.storage.append(Labels.of(__name__="req_total", job="api", code="200"), at, self.served * 0.9)
            self.storage.append(Labels.of(__name__="req_total", job="api", code="500"), at, self.served * 0.1)
            self.storage.append(Labels.of(__name__="up", job="api"), at, 1.0)

    def down(self, start: float, seconds: int, *, up_written: bool = True) -> None:
        """Scrapes fail: only `up 0` (or, when triaged's own scrape path is broken and
        the target is gone from it, nothing at all)."""
        if up_written:
            for t in range(10, seconds + 1, 10):
                self.storage.append(Labels.of(__name__="up", job="api"), int((start + t) * 1000), 0.0)


def record(recorder: SLORecorder, start: float, seconds: int) -> None:
    for t in range(60, seconds + 1, 60):
        recorder.record(start + t)


def outage(store: Store, start: float, slo: SLO | None = None, *, up_written: bool = True) -> None:
    """Ten minutes up, five down, five up again, recorded every minute."""
    storage = Storage()
    app = App(storage)
    recorder = SLORecorder(store, Engine(storage), [slo or _slo()])
    app.serving(start, UP_FOR)
    record(recorder, start, UP_FOR)
    app.down(start + UP_FOR, DOWN_FOR, up_written=up_written)
    record(recorder, start + UP_FOR, DOWN_FOR)
    app.serving(start + UP_FOR + DOWN_FOR, 300)
    record(recorder, start + UP_FOR + DOWN_FOR, 300)


def marked(store: Store, start: float) -> list[tuple[float, float, float, bool]]:
    """(seconds from start, good, total, estimated) of every sample."""
    return [
        (t - start, round(good, 6), round(total, 6), estimated)
        for t, good, total, estimated in slo_rows.samples(store, "checkout", start, start + 2 * 3600)
    ]


def _status(store: Store, *extra: str) -> str:
    result = CliRunner().invoke(cli, ["slo", "status", "--db", store.path, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def _impact_row(store: Store, make_incident: MakeIncident, now: float) -> str:
    # The incident: first symptom when the app went down, resolved when it was back.
    inc = make_incident(service="api", detected=UP_FOR, opened=UP_FOR + 60, resolved_at=UP_FOR + DOWN_FOR)
    md = render(gather(store, inc.id, now), PostmortemPolicy(), None)
    (row,) = [line for line in md.splitlines() if line.startswith("| checkout |")]
    return row


# -- the recorder ---------------------------------------------------------------------------
def test_an_outage_with_down_is_all_bad_at_the_traffic_seen_before_it(store: Store) -> None:
    start = 1_790_000_000.0
    outage(store, start)
    samples = marked(store, start)
    during = [s for s in samples if UP_FOR < s[0] <= UP_FOR + DOWN_FOR]
    assert during == [(UP_FOR + 60.0 * m, 0.0, 10.0, True) for m in range(1, 6)]
    before = [s for s in samples if s[0] <= UP_FOR]
    assert len(before) == 10 and all(s == (s[0], 9.0, 10.0, False) for s in before)


def _outage_after(store: Store, start: float, phases: list[tuple[str, int]]) -> None:
    """Phases of ("serving" | "still" | "down", seconds), recorded every minute. "still":
    scraped (`up 1`) but its counters do not move (a hung app's last minutes)."""
    storage = Storage()
    app = App(storage)
    recorder = SLORecorder(store, Engine(storage), [_slo()])
    at = start
    for kind, seconds in phases:
        if kind == "serving":
            app.serving(at, seconds)
        elif kind == "still":
            for t in range(10, seconds + 1, 10):
                ms = int((at + t) * 1000)
                storage.append(Labels.of(__name__="req_total", job="api", code="200"), ms, app.served * 0.9)
                storage.append(Labels.of(__name__="req_total", job="api", code="500"), ms, app.served * 0.1)
                storage.append(Labels.of(__name__="up", job="api"), ms, 1.0)
        else:
            app.down(at, seconds)
        record(recorder, at, seconds)
        at += seconds


def test_a_hung_apps_last_still_minutes_do_not_make_its_outage_free(store: Store) -> None:
    """Its counters stop a few minutes before its scrapes fail: the estimate is the
    hour's average (50 minutes at 10/s, 10 still minutes), not the last minute's 0."""
    start = 1_790_000_000.0
    _outage_after(store, start, [("serving", 3000), ("still", 600), ("down", 300)])
    during = [s for s in marked(store, start) if s[3]]
    assert during and all(total == pytest.approx(10.0 * 50 / 61, rel=0.05) for _, _, total, _ in during)


def test_an_outage_after_an_hour_without_traffic_costs_nothing(store: Store) -> None:
    """A quiet night: nobody was using it, so the outage is not charged at the evening's
    traffic."""
    start = 1_790_000_000.0
    _outage_after(store, start, [("serving", 600), ("still", 3900), ("down", 300)])
    assert not [s for s in marked(store, start) if s[3]]


def test_recovery_stops_estimating(store: Store) -> None:
    start = 1_790_000_000.0
    outage(store, start)
    after = [s for s in marked(store, start) if s[0] > UP_FOR + DOWN_FOR]
    assert len(after) == 5 and not any(estimated for *_, estimated in after)
    assert all(total == 10.0 for _, _, total, _ in after)


def test_without_down_the_outage_is_still_a_gap(store: Store) -> None:
    start = 1_790_000_000.0
    outage(store, start, _slo(down=""))
    times = [s[0] for s in marked(store, start)]
    assert not [t for t in times if UP_FOR < t <= UP_FOR + DOWN_FOR]
    assert len(times) == 15


def test_down_returning_nothing_while_total_is_empty_is_a_gap(store: Store) -> None:
    """triaged's own scrape path is broken (the target dropped, no `up` written at
    all): nothing says the service is down, so nothing is charged."""
    start = 1_790_000_000.0
    outage(store, start, up_written=False)
    assert not [s for s in marked(store, start) if s[3] or UP_FOR < s[0] <= UP_FOR + DOWN_FOR]


def test_an_outage_before_any_traffic_is_a_gap(store: Store) -> None:
    start = 1_790_000_000.0
    storage = Storage()
    recorder = SLORecorder(store, Engine(storage), [_slo()])
    App(storage).down(start, DOWN_FOR)
    record(recorder, start, DOWN_FOR)
    assert marked(store, start) == []


def test_after_a_restart_the_traffic_before_the_outage_is_read_from_the_store(store: Store) -> None:
    start = 1_790_000_000.0
    before = Storage()
    App(before).serving(start, UP_FOR)
    record(SLORecorder(store, Engine(before), [_slo()]), start, UP_FOR)
    # The daemon restarts during the outage: a new tsdb that never saw a request.
    during = Storage()
    App(during).down(start + UP_FOR, DOWN_FOR)
    record(SLORecorder(store, Engine(during), [_slo()]), start + UP_FOR, DOWN_FOR)
    estimated = [s for s in marked(store, start) if s[3]]
    assert estimated == [(UP_FOR + 60.0 * m, 0.0, 10.0, True) for m in range(1, 6)]


def test_a_reloaded_slo_with_a_new_down_is_used(tmp_path: Path) -> None:
    clock = FakeClock(1_790_000_000.0)
    (tmp_path / "a.rules.yml").write_text(RULES)
    text = f"""storage: {{db: {tmp_path / "t.db"}}}
rule_files: [a.rules.yml]
slos:
  - name: checkout
    good: '{GOOD}'
    total: '{TOTAL}'
    objective: 99
"""
    daemon = build(parse_config(load_yaml_text(text, "<a>"), str(tmp_path / "a.yaml")), clock=clock)
    try:
        daemon.cycle(clock.now())
        assert daemon.lifecycle is not None
        assert [s.down for s in daemon.lifecycle.slo.slos] == [""]
        assert [s.down for s in load_slos(daemon.store)] == [""]
        with_down = text + f"    down: '{DOWN}'\n"
        assert daemon.reload(parse_config(load_yaml_text(with_down, "<b>"), str(tmp_path / "b.yaml"))).ok
        daemon.cycle(clock.advance(60))
        assert [s.down for s in daemon.lifecycle.slo.slos] == [DOWN]
        assert [s.down for s in load_slos(daemon.store)] == [DOWN], "stored with the SLO"
    finally:
        daemon.close()
        daemon.store.close()


# -- shown to people --------------------------------------------------------------------------
def test_slo_status_charges_the_outage_and_says_it_is_estimated(store: Store) -> None:
    start = time.time() - (UP_FOR + DOWN_FOR + 300) - 1  # the CLI reads the real clock
    slo_rows.upsert_slo(store, name="checkout", service="api", good=GOOD, total=TOTAL, objective=0.99,
                        window_s=DAY, interval_s=60.0, down=DOWN, now=start)  # fmt: skip
    outage(store, start)
    (data,) = json.loads(_status(store, "--json"))
    assert data["estimated_s"] == pytest.approx(DOWN_FOR)
    # 10 minutes before and 5 after at 1 bad in 10, 5 minutes down all bad.
    assert data["bad_events"] == pytest.approx(600 + 300 + 3000)
    assert data["total_events"] == pytest.approx(20 * 60 * 10)
    text = _status(store)
    assert "checkout: includes 5m of outage estimated at the traffic seen before it" in text


def test_the_report_charges_the_outage_and_says_it_is_estimated(store: Store) -> None:
    start = time.time() - (UP_FOR + DOWN_FOR + 300) - 1  # the CLI reads the real clock
    outage(store, start)
    runner = CliRunner()
    report = json.loads(runner.invoke(cli, ["report", "--since", "1d", "--db", store.path, "--json"]).output)
    (budget,) = report["error_budget"]
    assert budget["period_estimated_s"] == pytest.approx(DOWN_FOR)
    text = runner.invoke(cli, ["report", "--since", "1d", "--db", store.path]).output
    assert "checkout: includes 5m of outage estimated at the traffic seen before it" in text


def test_slo_status_without_an_outage_says_nothing_of_estimates(store: Store) -> None:
    start = time.time() - 1200
    outage(store, start, _slo(down=""))
    (data,) = json.loads(_status(store, "--json"))
    assert data["estimated_s"] == 0
    assert "estimated" not in _status(store)


def test_the_postmortem_charges_the_outage_and_says_it_is_estimated(
    store: Store, make_incident: MakeIncident
) -> None:
    from .conftest import T0

    outage(store, T0)
    row = _impact_row(store, make_incident, T0 + 3600)
    # The incident's span is the five minutes down: 3,000 bad of 3,000, all estimated.
    assert "3,000 of 3,000" in row
    assert "includes 5m of outage estimated at the traffic seen before it" in row
    assert "lower bound" not in row and "no SLI data" not in row


def test_the_postmortem_of_an_outage_without_down_is_only_a_lower_bound(
    store: Store, make_incident: MakeIncident
) -> None:
    from .conftest import T0

    outage(store, T0, _slo(down=""))
    row = _impact_row(store, make_incident, T0 + 3600)
    # Only the sample after the outage reaches back into it (at most two intervals).
    assert "estimated" not in row and "(SLI covered 1m of 5m: a lower bound)" in row


# -- config -----------------------------------------------------------------------------------
CONFIG = """\
storage: {db: t.db}
slos:
  - name: checkout
    good: sum(rate(http_requests_total{code!~"5.."}[5m]))
    total: sum(rate(http_requests_total[5m]))
    down: up{job="api"} == 0
    objective: 99.9
"""


def test_down_is_parsed_into_the_slo(tmp_path: Path) -> None:
    (tmp_path / "triaged.yaml").write_text(CONFIG)
    (slo,) = load_config(tmp_path / "triaged.yaml").lifecycle.slos
    assert slo.down == 'up{job="api"} == 0'
    (tmp_path / "triaged.yaml").write_text(CONFIG.replace('    down: up{job="api"} == 0\n', ""))
    (slo,) = load_config(tmp_path / "triaged.yaml").lifecycle.slos
    assert slo.down == ""


def test_invalid_down_promql_is_a_config_error_naming_the_slo(tmp_path: Path) -> None:
    path = tmp_path / "triaged.yaml"
    path.write_text(CONFIG.replace('up{job="api"} == 0', "up{job= == 0"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.line == 6 and "slo 'checkout': down: parse error" in str(err.value)
    (tmp_path / "a.rules.yml").write_text(RULES)
    path.write_text(path.read_text() + "rule_files: [a.rules.yml]\n")
    result = CliRunner().invoke(cli, ["check", "--config", str(path)])
    assert result.exit_code != 0
    assert "slo 'checkout': down: parse error" in result.output


def test_a_store_from_before_m009_reads_its_samples_as_measured(tmp_path: Path) -> None:
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

    from triaged.store import migrations
    from triaged.store.db import open_store

    path = tmp_path / "old.db"
    older = Migrations("triaged")
    older._migrations = [m for m in migrations.migrations._migrations if m.name != "m009_slo_down"]
    db = Database(path)
    migrations.apply(db, older)
    db.execute(
        "INSERT INTO slos (name, good, total, objective, window_s, interval_s, updated_at)"
        " VALUES ('checkout', 'g', 't', 0.99, 86400, 60, 0)"
    )
    db.execute("INSERT INTO slo_samples (slo, t, good, total) VALUES ('checkout', 60, 9, 10)")
    db.conn.commit()
    db.close()
    store = open_store(path)
    try:
        (slo,) = load_slos(store)
        assert slo.down == ""
        assert samples_for(store, slo, 120.0) == [(60.0, 9.0, 10.0, False)]
    finally:
        store.close()


# -- the demo's P0 outage, end to end ------------------------------------------------------------
@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Simulator, Daemon, FakeClock]]:
    clock = FakeClock(1_790_000_000.0)
    with Simulator(seed=3, traffic_rps=200.0, autotick=False) as sim, RecordingReceiver() as hook:
        text = demo_config_text(sim.url, tmp_path / "demo.db", hook.url)
        cfg = parse_config(load_yaml_text(text, "<demo>"), str(tmp_path / "demo.yaml"))
        daemon = build(cfg, clock=clock)
        yield sim, daemon, clock
        daemon.close()
        daemon.store.close()


def test_the_demo_outage_is_charged_to_both_slos(
    demo: tuple[Simulator, Daemon, FakeClock], tmp_path: Path
) -> None:
    from triaged.incidents.postmortem_ops import write_draft

    sim, daemon, clock = demo

    def tick(n: int) -> None:
        for _ in range(n):
            sim.advance(1.0)
            daemon.cycle(clock.advance(1.0))

    tick(15)
    sim.set_faults(down=True)
    tick(25)
    sim.reset()
    for _ in range(40):
        tick(1)
        found = incident_rows.list_incidents(daemon.store)
        if found and all(i.resolved_at for i in found):
            break
    tick(3)
    slos = {s.name: s for s in load_slos(daemon.store)}
    assert set(slos) == {"payments", "api-latency"}
    for slo in slos.values():
        estimated = [s for s in samples_for(daemon.store, slo, clock.now()) if s[3]]
        assert len(estimated) >= 10, slo.name  # the rate's 6 s run dry, then the rest of 25 s
    inc = next(i for i in incident_rows.list_incidents(daemon.store) if i.severity == Severity.P0)
    written = write_draft(daemon.store, inc.id, tmp_path / "pm", actor="alice", now=clock.now(),
                          policy=PostmortemPolicy())  # fmt: skip
    md = written.markdown.read_text()
    for name in ("payments", "api-latency"):
        (row,) = [line for line in md.splitlines() if line.startswith(f"| {name} |")]
        assert "of outage estimated at the traffic seen before it" in row, row
        assert "no SLI data" not in row
