"""Error budget figures as an SRE checks them: numbers worked out by hand, on real
SQLite stores, through the same code the CLI, the postmortem and the report run.

Budget = (1 − objective) × events in the window; consumed = bad events ÷ budget;
remaining = 1 − consumed. Shown to people: never "0.00 %" for a burn that is not
zero, never a bare number past 100 % or below 0 % without "exhausted", and "no
data" rather than a perfect score when nothing was recorded."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from click.testing import CliRunner

from triaged.cli import cli
from triaged.cli.common import table
from triaged.incidents.model import IncidentStatus
from triaged.incidents.postmortem import gather, render
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.report import build_report, render_report
from triaged.incidents.slo import SLO, SLORecorder, events_text, integrate, percent, share_text
from triaged.model import Labels
from triaged.promql import Engine
from triaged.store import Store
from triaged.store import slo as slo_rows
from triaged.tsdb import Storage

from .conftest import T0, MakeIncident

DAY = 86_400.0


def _define(
    store: Store, *, objective: float = 0.999, window_s: float = DAY, interval_s: float = 60.0
) -> None:
    slo_rows.upsert_slo(store, name="checkout", service="api", good="g", total="t", objective=objective,
                        window_s=window_s, interval_s=interval_s, now=T0)  # fmt: skip


def _minutes(store: Store, start: float, minutes: int, *, total: float, bad: float) -> None:
    """One sample a minute, each covering the minute before it."""
    for m in range(1, minutes + 1):
        slo_rows.add_sample(store, "checkout", start + 60.0 * m, total - bad, total)


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def _status(store: Store, *extra: str) -> str:
    result = CliRunner().invoke(cli, ["slo", "status", "--db", store.path, *extra])
    assert result.exit_code == 0, result.output
    return result.output


STATUS_COLUMNS = (
    "SLO",
    "SERVICE",
    "OBJECTIVE",
    "WINDOW",
    "SLI (WINDOW)",
    "SLI NOW",
    "BUDGET USED",
    "REMAINING",
    "BURN 1H / 6H",
    "DATA",
)


def _status_row(store: Store) -> dict[str, str]:
    """The one row of `slo status`, cut at the header's column starts."""
    header, row = _status(store).splitlines()
    starts = [header.index(name) for name in STATUS_COLUMNS]
    ends = [*starts[1:], None]
    return {name: row[a:b].strip() for name, a, b in zip(STATUS_COLUMNS, starts, ends, strict=True)}


# -- arithmetic ---------------------------------------------------------------------------
def test_a_sample_with_more_good_than_total_does_not_cancel_bad_events() -> None:
    # Minute 1: 100 req/s, 20 failing = 1,200 bad. Minute 2: good read 110 against a
    # total of 100 (the two expressions saw different scrapes): 0 bad, not −600.
    events = integrate([(T0 + 60, 80.0, 100.0), (T0 + 120, 110.0, 100.0)], T0, T0 + 120, 60.0)
    assert events.total == 12_000.0
    assert events.bad == 1_200.0
    assert events.good == 10_800.0


def test_traffic_with_no_good_series_is_a_failing_minute_not_a_gap(store: Store) -> None:
    # A deploy where every request fails from the start: only code="500" exists, so
    # the good expression returns nothing. 10 req/s, all bad: (good 0, total 10).
    start = T0
    storage = Storage()
    for i in range(0, 130, 10):
        storage.append(Labels.of(__name__="req_total", code="500"), int((start + i) * 1000), 10.0 * i)
    slo = SLO("api", 'sum(rate(req_total{code!~"5.."}[1m]))', "sum(rate(req_total[1m]))", 0.99, DAY, "", 60.0)
    recorder = SLORecorder(store, Engine(storage), [slo])
    assert recorder.record(start + 120) == 1
    ((t, good, total, _),) = slo_rows.samples(store, "api", start, start + 200)
    assert (t, good) == (start + 120, 0.0)
    assert total == pytest.approx(10.0)


# -- shown to people ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("consumed", "shown"),
    [
        (5 / 259_200, "0.0019 %"),  # 5 bad requests of a 259,200 budget: not "0.00 %"
        (0.5, "50.00 %"),
        (0.99999, "99.99 %"),  # not rounded up to a full budget
        (1.0, "100.00 % (exhausted)"),
        (2.0833333, "208.33 % (exhausted)"),
        (float("inf"), "exhausted"),  # bad events against an allowance of zero
        (1e-12, "> 0 %"),
        (0.0, "0.00 %"),
    ],
)
def test_budget_shares_for_people(consumed: float, shown: str) -> None:
    assert share_text(consumed) == shown


@pytest.mark.parametrize(
    ("events", "shown"),
    [
        (1_234_567.4, "1,234,567"),  # not 1.235e+06
        (36_000.0, "36,000"),
        (2.5, "2.5"),
        (3.0, "3"),
        (0.004, "< 0.01"),  # a burn that is not zero does not read as none
        (0.0, "0"),
    ],
)
def test_event_counts_for_people(events: float, shown: str) -> None:
    assert events_text(events) == shown


def test_an_sli_just_short_of_perfect_is_not_shown_as_100_percent() -> None:
    assert percent(0.9999996, 3) == "99.999 %"
    assert percent(1.0, 3) == "100.000 %"


def test_slo_status_without_samples_says_no_data_not_a_full_budget(store: Store) -> None:
    _define(store)
    row = _status_row(store)
    for column in ("SLI (WINDOW)", "SLI NOW", "BUDGET USED", "REMAINING"):
        assert row[column] == "no data", column
    assert row["DATA"] == "none recorded: is the daemon running with this SLO?"
    (data,) = _strict_json(_status(store, "--json"))
    assert (data["consumed"], data["remaining"], data["sli"], data["stale"]) == (None, None, None, True)


def test_slo_status_a_small_burn_is_not_zero(store: Store) -> None:
    # 99.9 % over 30 days. The last hour at 100 req/s, 5 requests failed in it. The
    # 30-day total is extrapolated at that rate: 100 × 2,592,000 = 259,200,000, so the
    # budget is 259,200 bad requests and 5 of them is 0.00193 % used, 99.998 % left.
    _define(store, window_s=30 * DAY)
    start = time.time() - 3600  # the CLI reads the real clock
    _minutes(store, start, 60, total=100.0, bad=0.0)
    slo_rows.add_sample(store, "checkout", start + 60 * 30, 100.0 - 5 / 60, 100.0)  # 5 bad in that minute
    (data,) = _strict_json(_status(store, "--json"))
    assert data["allowed_bad_events"] == pytest.approx(259_200)
    assert data["bad_events"] == pytest.approx(5.0)
    assert data["consumed"] == pytest.approx(5 / 259_200)
    row = _status_row(store)
    assert (row["OBJECTIVE"], row["WINDOW"]) == ("99.9 %", "30d")
    assert row["SLI (WINDOW)"] == "99.999 %"  # 1 − 5 / 360,000 = 99.9986 %
    assert row["SLI NOW"] == "100.000 %"  # the newest minute had no failure
    assert row["BUDGET USED"] == "0.0019 %"
    assert row["REMAINING"] == "99.99 %"
    assert row["DATA"].startswith("1h of 30d, last ") and "STALE" not in row["DATA"]


def test_slo_status_an_overspent_budget_says_exhausted_and_stale_data_says_so(store: Store) -> None:
    # 99.9 % over one day; one hour recorded at 100 req/s with 5 % failing, ending 3 h
    # ago: 18,000 bad of a budget of 0.001 × 100 × 86,400 = 8,640, i.e. 208.33 %.
    _define(store)
    _minutes(store, time.time() - 4 * 3600, 60, total=100.0, bad=5.0)
    row = _status_row(store)
    assert (row["SLI (WINDOW)"], row["SLI NOW"]) == ("95.000 %", "95.000 %")
    assert row["BUDGET USED"] == "208.33 % (exhausted)"
    assert row["REMAINING"] == "0 % (exhausted)", "not −108.33 %"
    assert row["DATA"].startswith("1h of 1d, last 3h") and row["DATA"].endswith("ago (STALE)")
    (data,) = _strict_json(_status(store, "--json"))
    assert data["consumed"] == pytest.approx(18_000 / 8_640)
    assert data["exhausted"] is True and data["stale"] is True


def test_an_objective_of_100_percent_overspent_is_valid_json_and_says_exhausted(store: Store) -> None:
    # Stored straight (the config takes 0 < objective < 100): the budget is 0 events.
    _define(store, objective=1.0)
    _minutes(store, time.time() - 600, 10, total=10.0, bad=1.0)
    (data,) = _strict_json(_status(store, "--json"))  # no bare Infinity
    assert data["allowed_bad_events"] == 0.0
    assert (data["consumed"], data["remaining"], data["exhausted"]) == (None, None, True)
    row = _status_row(store)
    assert (row["OBJECTIVE"], row["BUDGET USED"], row["REMAINING"]) == (
        "100 %",
        "exhausted",
        "0 % (exhausted)",
    )


# -- postmortem -------------------------------------------------------------------------------
def _budget_row(store: Store, make_incident: MakeIncident, resolved: float, now: float) -> list[str]:
    inc = make_incident(service="api", resolved_at=resolved)
    md = render(gather(store, inc.id, now), PostmortemPolicy(), None)
    (row,) = [line for line in md.splitlines() if line.startswith("| checkout |")]
    return [c.strip() for c in row.strip("|").split("|")]


def test_postmortem_a_small_burn_is_not_zero(store: Store, make_incident: MakeIncident) -> None:
    # 99.9 % over 30 days at a steady 100 req/s: budget 0.001 × 100 × 2,592,000 =
    # 259,200. The 10-minute incident failed 0.5 requests a minute: 5 bad, 0.00193 %.
    _define(store, window_s=30 * DAY)
    _minutes(store, T0 - DAY, 24 * 60, total=100.0, bad=0.0)
    _minutes(store, T0, 10, total=100.0, bad=0.5 / 60)
    cells = _budget_row(store, make_incident, 600.0, T0 + 1200)
    assert cells[3] == "5 of 60,000"
    assert cells[4] == "0.0019 %"
    assert cells[5] == "99.99 %", "5 of 259,200 spent leaves 99.998 %: not rounded up to 100 %"


def test_postmortem_an_incident_over_its_budget_says_exhausted(
    store: Store, make_incident: MakeIncident
) -> None:
    # 99.9 % over one day. Two healthy hours then 30 minutes at 20 % errors, 100 req/s:
    # 36,000 bad. 9,000 s recorded at 100 req/s → 8,640,000 a day → budget 8,640.
    # 36,000 ÷ 8,640 = 416.67 %; nothing is left, not "−316.67 %".
    _define(store)
    _minutes(store, T0 - 7200, 120, total=100.0, bad=0.0)
    _minutes(store, T0, 30, total=100.0, bad=20.0)
    cells = _budget_row(store, make_incident, 1800.0, T0 + 2400)
    assert cells[3] == "36,000 of 180,000"
    assert cells[4] == "416.67 % (exhausted)"
    assert cells[5] == "0 % (exhausted)"


# -- report ------------------------------------------------------------------------------------
def test_report_counts_open_incidents_the_times_leave_out(store: Store, make_incident: MakeIncident) -> None:
    make_incident(rule="A", acknowledged_at=120.0, resolved_at=600.0)  # resolve 540 s after the page
    make_incident(rule="B", detected=1000, opened=1060, status=IncidentStatus.DETECTED)  # still paging
    r = build_report(store, T0 - DAY, T0 + 7200, PostmortemPolicy())
    assert (r.mttr.median, r.mttr.count) == (540.0, 1)
    assert (r.mtta.median, r.mtta.count) == (60.0, 1)
    assert (r.still_open, r.open_unacknowledged) == (1, 1)
    assert r.to_dict()["still_open"] == 1 and r.to_dict()["open_unacknowledged"] == 1
    text = render_report(r, "1d", table)
    assert (
        "Still open, not in time to resolve: 1 (1 not acknowledged yet, not in time to acknowledge)" in text
    )


def test_report_budget_for_a_period_longer_than_the_record_is_a_lower_bound(store: Store) -> None:
    # 99.9 % over one day; only the last hour recorded, 100 req/s, 1 % failing: 3,600
    # bad of a budget of 8,640 = 41.67 % used, 58.33 % left. A 7-day period saw only
    # that hour, so its figure is at least 41.67 %.
    now = T0 + 3600
    _define(store)
    _minutes(store, T0, 60, total=100.0, bad=1.0)
    r = build_report(store, now - 7 * DAY, now, PostmortemPolicy())
    (b,) = r.budgets
    assert b["consumed_in_window"] == pytest.approx(3_600 / 8_640)
    assert b["consumed_in_period"] == pytest.approx(3_600 / 8_640)
    assert b["period_lower_bound"] is True and b["period_recorded_s"] == 3600.0
    line = next(x for x in render_report(r, "7d", table).splitlines() if x.startswith("checkout"))
    assert line.split("  ")[0] == "checkout"
    assert "99.9 %" in line and "1d" in line and "99.000 %" in line
    assert "≥ 41.67 %" in line and "58.33 %" in line
    exact = build_report(store, now - 1800, now, PostmortemPolicy())
    assert exact.budgets[0]["period_lower_bound"] is False
    assert exact.budgets[0]["consumed_in_period"] == pytest.approx(1_800 / 8_640)


def test_report_budget_without_samples_is_no_data_and_json_has_no_infinity(store: Store) -> None:
    _define(store)
    r = build_report(store, T0 - DAY, T0, PostmortemPolicy())
    line = next(x for x in render_report(r, "1d", table).splitlines() if x.startswith("checkout"))
    assert line.count("no data") == 4 and "%  " not in line.split("1d", 1)[1]
    _strict_json(json.dumps(r.to_dict()))
    (b,) = r.to_dict()["error_budget"]
    assert (b["consumed_in_window"], b["remaining"], b["consumed_in_period"]) == (None, None, None)


def test_slo_status_shows_how_fast_the_budget_burns_over_the_last_hour_and_six_hours(store: Store) -> None:
    # 99.9 % over 30 days, 100 req/s. Five hours with 0.05 % failing, then an hour with
    # 1 % failing. Over the last hour: 1 % ÷ 0.1 % allowed = 10×. Over six hours:
    # (5 h × 0.05 + 1 h × 1) bad/s = 900 + 3,600 = 4,500 bad of 2,160,000 = 0.2083 %,
    # ÷ 0.1 % = 2.08×.
    _define(store, window_s=30 * DAY)
    start = time.time() - 6 * 3600
    _minutes(store, start, 300, total=100.0, bad=0.05)
    _minutes(store, start + 5 * 3600, 60, total=100.0, bad=1.0)
    (data,) = _strict_json(_status(store, "--json"))
    assert data["burn_rate_1h"] == pytest.approx(10.0)
    assert data["burn_rate_6h"] == pytest.approx(4_500 / 2_160_000 / 0.001)
    assert _status_row(store)["BURN 1H / 6H"] == "10.0× / 2.1×"


def test_a_burn_rate_needs_traffic_and_a_window_at_least_as_long(store: Store) -> None:
    """No traffic in the last hour is no rate ("-"), not 0×; an SLO whose window is
    shorter than six hours keeps no six hours of samples, so it shows no 6-hour rate."""
    _define(store, window_s=3 * 3600)
    _minutes(store, time.time() - 3 * 3600, 60, total=100.0, bad=1.0)  # ended 2 h ago
    (data,) = _strict_json(_status(store, "--json"))
    assert (data["burn_rate_1h"], data["burn_rate_6h"]) == (None, None)
    assert _status_row(store)["BURN 1H / 6H"] == "- / -"
