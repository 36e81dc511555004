"""Error budget arithmetic, and SLIs recorded by the daemon side for the CLI to read."""

from __future__ import annotations

import math
import time

import pytest
from click.testing import CliRunner

from triaged.cli import cli
from triaged.incidents.slo import SLO, SLORecorder, budget, incident_budget, integrate, load_slos
from triaged.model import Labels
from triaged.promql import Engine
from triaged.store import Store
from triaged.tsdb import Storage

from .conftest import T0

DAY = 86_400.0
# 99.9 % over 30 days, sampled every minute.
CHECKOUT = SLO("checkout", "good", "total", 0.999, 30 * DAY, "api", 60.0)


def steady(start: float, minutes: int, total: float, bad: float) -> list[tuple[float, float, float]]:
    return [(start + 60.0 * (i + 1), total - bad, total) for i in range(minutes)]


def test_events_are_rate_times_the_time_each_sample_covers() -> None:
    events = integrate(steady(T0, 10, total=100.0, bad=1.0), T0, T0 + 600, 60.0)
    assert events.covered_s == 600
    assert events.total == pytest.approx(60_000) and events.bad == pytest.approx(600)


def test_a_gap_in_recording_does_not_invent_traffic() -> None:
    samples = [(T0 + 60, 10.0, 10.0), (T0 + 3600, 10.0, 10.0)]  # the daemon was down for ~an hour
    assert integrate(samples, T0, T0 + 3600, 60.0).covered_s == 60 + 120


def test_full_window_budget() -> None:
    # 30 days at 100 req/s with 0.05 % errors: half the 0.1 % budget.
    samples = steady(T0, 30 * 24 * 60, total=100.0, bad=0.05)
    b = budget(CHECKOUT, samples, T0 + 30 * DAY)
    assert b.allowed_bad == pytest.approx(0.001 * 100 * 30 * DAY)
    assert b.consumed == pytest.approx(0.5) and b.remaining == pytest.approx(0.5)
    assert b.sli == pytest.approx(0.9995)


def test_partial_window_extrapolates_the_total_at_the_observed_rate() -> None:
    # One day recorded at 100 req/s: the 30-day allowance is still 0.1 % of 30 days of traffic.
    samples = steady(T0, 24 * 60, total=100.0, bad=0.0)
    assert budget(CHECKOUT, samples, T0 + DAY).allowed_bad == pytest.approx(0.001 * 100 * 30 * DAY)


def test_an_incident_consumes_its_bad_events_over_the_window_allowance() -> None:
    # 10 minutes of 20 % errors at 100 req/s = 12,000 bad requests; allowance 259,200.
    before = steady(T0, 60, total=100.0, bad=0.0)
    during = steady(T0 + 3600, 10, total=100.0, bad=20.0)
    after = steady(T0 + 4200, 60, total=100.0, bad=0.0)
    spent, whole = incident_budget(CHECKOUT, before + during + after, [(T0 + 3600, T0 + 4200)])
    assert spent.bad == pytest.approx(12_000)
    assert spent.bad / whole.allowed_bad == pytest.approx(12_000 / 259_200)


def test_a_reopened_incident_does_not_spend_the_gap_between_its_lifetimes() -> None:
    # 5 min at 20 % errors, 10 min at 5 % (resolved, still failing), 5 min at 20 % again.
    first = steady(T0, 5, total=100.0, bad=20.0)
    gap = steady(T0 + 300, 10, total=100.0, bad=5.0)
    second = steady(T0 + 900, 5, total=100.0, bad=20.0)
    spent, whole = incident_budget(CHECKOUT, first + gap + second, [(T0, T0 + 300), (T0 + 900, T0 + 1200)])
    assert spent.bad == pytest.approx(2 * 6_000), "two lifetimes of 6,000 bad requests each"
    assert whole.events.bad == pytest.approx(2 * 6_000 + 3_000)


def test_no_traffic_and_no_errors_spends_nothing() -> None:
    b = budget(CHECKOUT, [], T0)
    assert b.consumed == 0 and b.sli is None
    assert math.isinf(budget(CHECKOUT, [(T0, -1.0, 0.0)], T0).consumed) is False


def test_recorder_evaluates_the_sli_on_its_interval_and_the_cli_reads_it(store: Store) -> None:
    start = time.time() - 500  # the CLI reads the real clock: record the recent past
    storage = Storage()
    for i in range(0, 400, 10):  # counters: 10 req/s, 1 of them failing
        t_ms = int((start + i) * 1000)
        storage.append(Labels.of(__name__="req_total", code="200"), t_ms, 9.0 * i)
        storage.append(Labels.of(__name__="req_total", code="500"), t_ms, 1.0 * i)
    slo = SLO(
        "api", 'sum(rate(req_total{code!~"5.."}[1m]))', "sum(rate(req_total[1m]))", 0.99, 3600.0, "", 60.0
    )
    rec = SLORecorder(store, Engine(storage), [slo])
    written = sum(rec.record(start + t) for t in range(60, 400, 10))
    assert written == 6, "one sample per 60 s interval"
    assert load_slos(store) == [slo]
    result = CliRunner().invoke(cli, ["slo", "status", "--db", store.path, "--json"])
    assert result.exit_code == 0, result.output
    assert '"sli": 0.9' in result.output
    table = CliRunner().invoke(cli, ["slo", "status", "--db", store.path])
    assert "api" in table.output and "99 %" in table.output
