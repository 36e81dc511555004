"""`triaged query` against a one-off scrape of a real (simulated) target."""

from __future__ import annotations

import json

from click.testing import CliRunner

from triaged.cli import cli
from triaged.simulator import Simulator


def test_query_scrapes_and_evaluates_a_rate() -> None:
    with Simulator(seed=2, traffic_rps=200.0, autotick=False) as sim:
        sim.set_faults(payment_failure_ratio=0.5)
        sim.advance(5.0)  # both statuses have been counted before the first scrape
        result = CliRunner().invoke(cli, [
            "query", "sum by (status) (increase(payments_processed_total[30s])) >= 0",
            "--scrape", f"{sim.url}/metrics", "--scrapes", "2", "--every", "1s", "--json",
        ])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["metric"]["status"] for r in rows} == {"completed", "failed"}


def test_query_reports_bad_expressions_and_empty_results() -> None:
    bad = CliRunner().invoke(cli, ["query", "sum(rate(x[5m]", "--scrape", "http://127.0.0.1:9/metrics"])
    assert bad.exit_code == 1 and "parse error" in bad.output
    with Simulator(seed=2) as sim:
        empty = CliRunner().invoke(cli, ["query", "no_such_metric", "--scrape", f"{sim.url}/metrics"])
    assert empty.exit_code == 1 and "empty result" in empty.output


def test_query_needs_something_to_scrape() -> None:
    result = CliRunner().invoke(cli, ["query", "up"])
    assert result.exit_code == 2 and "nothing to query" in result.output
