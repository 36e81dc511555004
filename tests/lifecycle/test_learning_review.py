"""The morning after, as a team lead writing the postmortem reads it: an incident that
ran past midnight, a page that failed, owners typed in another case, budgets with no
data. Real SQLite stores; only the clock is chosen by hand."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from triaged.cli import cli
from triaged.store import Store
from triaged.store import evidence as ev_rows

from .conftest import T0, MakeIncident

HOUR = 3600.0
DAY = 86_400.0
NS = "{http://www.w3.org/2000/svg}"


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


# -- an incident that ran past midnight ------------------------------------------------
def test_chart_of_an_incident_over_midnight_says_which_day_each_time_is(
    store: Store, make_incident: MakeIncident, tmp_path: Path
) -> None:
    """T0 is 2026-09-21 14:13:20 UTC: detected then, resolved 27 hours later. Times of
    day alone (14:13 … 17:13) would read as a three-hour incident."""
    inc = make_incident(rule="HighLatency", detected=0.0, opened=60.0, resolved_at=27 * HOUR)
    series = ev_rows.ensure_series(
        store, inc.id, alertname="HighLatency", expr="latency", role="value",
        labels={"service": "api"}, op=">", threshold=1.0,
    )  # fmt: skip
    with store.atomic():
        ev_rows.add_points(store, series, [(T0 + i * 900.0, 2.0) for i in range(0, 27 * 4 + 1)])

    _cli("postmortem", "draft", str(inc.id), "--out", str(tmp_path), "--by", "lead", "--db", store.path)
    svg = ET.parse(tmp_path / f"incident-{inc.id}-chart.svg").getroot()
    ticks = [t.text for t in svg.iter(f"{NS}text") if t.get("class") == "xtick"]
    assert ticks[0] == "Sep 21 14:13:20" and ticks[-1] == "Sep 22 17:13:20", ticks
    marks = {g.get("data-marker"): g.findtext(f"{NS}text") for g in svg.iter(f"{NS}g")}
    assert marks["resolved"] == "resolved Sep 22 17:13:20"

    shown = _cli("incidents", "show", str(inc.id), "--db", store.path)
    axis = shown.split("D detected")[0].rstrip().splitlines()[-1]
    assert re.fullmatch(r"\s*Sep 21 14:13:20 UTC\s+Sep 22 17:13:20 UTC", axis), axis

    # Within one UTC day the times of day are enough, as before.
    short = make_incident(rule="HighLatency", detected=DAY, opened=DAY + 60, resolved_at=DAY + 600)
    series = ev_rows.ensure_series(
        store, short.id, alertname="HighLatency", expr="latency", role="value",
        labels={"service": "api"}, op=">", threshold=1.0,
    )  # fmt: skip
    with store.atomic():
        ev_rows.add_points(store, series, [(T0 + DAY + i * 60.0, 2.0) for i in range(11)])
    shown = _cli("incidents", "show", str(short.id), "--db", store.path)
    assert re.search(r"^\s*14:13:20 UTC\s+14:23:20 UTC$", shown, re.M), shown
