"""The PromQL test-language runner and the series notation it shares with
`triaged rules test`."""

from __future__ import annotations

import math

import pytest

from triaged.model import Labels, is_stale
from triaged.promql import Engine, ExprError, Vector, expand_series_values
from triaged.promql.notation import parse_duration_ms, parse_series_labels, split_series_line
from triaged.promql.promqltest import NATIVE, Runner, almost_equal, load_series
from triaged.tsdb.storage import Storage, StorageLimits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1x3", [1, 1, 1, 1]),
        ("0+10x3", [0, 10, 20, 30]),
        ("-2+4x2", [-2, 2, 6]),
        ("5-1x2", [5, 4, 3]),
        ("1e3 2.5", [1000, 2.5]),
        ("_x3 1", [None, None, None, 1]),
        ("_ 1 _", [None, 1, None]),
    ],
)
def test_expanding_notation(text: str, expected: list[float | None]) -> None:
    assert expand_series_values(text) == expected


def test_special_values() -> None:
    stale, nan, inf, neg = expand_series_values("stale NaN Inf -Inf")
    assert stale is not None and is_stale(stale)
    assert nan is not None and math.isnan(nan) and not is_stale(nan)
    assert inf == math.inf and neg == -math.inf
    with pytest.raises(ExprError):
        expand_series_values("1+x")


def test_durations_and_series_lines() -> None:
    assert parse_duration_ms("1m30s") == 90_000
    assert parse_duration_ms("10s53ms") == 10_053
    assert parse_duration_ms("0") == 0
    assert parse_duration_ms("2h") == 7_200_000
    desc, values = split_series_line('up{job="a}b", x="1"} 1 2')
    assert (desc, values) == ('up{job="a}b", x="1"}', "1 2")
    assert parse_series_labels(desc) == Labels.of(__name__="up", job="a}b", x="1")
    assert parse_series_labels("{}") == Labels()


def test_almost_equal() -> None:
    assert almost_equal(math.nan, math.nan)
    assert almost_equal(1.0, 1.0 + 1e-9)
    assert not almost_equal(1.0, 1.001)
    assert almost_equal(0.0, 0.0)


def test_load_series_helper_feeds_the_engine() -> None:
    storage = Storage(StorageLimits(retention_ms=None))
    load_series(storage, 'load 1m\n  errors_total{job="api"} 0+1x10\n')
    result = Engine(storage).instant("increase(errors_total[5m])", 600_000)
    assert isinstance(result, Vector)
    assert result[0].value == pytest.approx(5.0)


SCRIPT = """
load 1m
  metric{a="1"} 0+1x10
  metric{a="2"} 10+10x10
  hist{a="1"} {{schema:0 sum:1 count:1}}

eval instant at 5m metric
  metric{a="1"} 5
  metric{a="2"} 60

eval instant at 5m sort_desc(metric)
  expect ordered
  metric{a="2"} 60
  metric{a="1"} 5

eval range from 0 to 2m step 1m metric{a="1"} * 2
  {a="1"} 0 2 4

eval instant at 5m metric + on() metric
  expect fail regex: found duplicate series for the match group \\{\\} on the right hand-side

eval instant at 5m metric{a="1"}
  metric{a="1"} 6

eval instant at 5m hist
  hist{a="1"} {{schema:0 sum:1 count:1}}

eval instant at 5m "text"
  expect string "text"

clear

eval instant at 5m metric
"""


def test_runner_reports_each_case() -> None:
    results = Runner().run(SCRIPT)
    assert [r.status for r in results] == ["pass", "pass", "pass", "pass", "fail", "skip", "pass", "pass"]
    assert "got 5.0, expected 6.0" in results[4].reason
    assert results[5].reason == NATIVE
