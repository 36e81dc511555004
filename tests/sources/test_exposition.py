"""The text-format parser against the real BharatMart captures and edge cases."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from triaged.model import Labels
from triaged.sources.exposition import (
    ExpositionError,
    ExpositionParser,
    SampleLimitError,
    parse_exposition,
)
from triaged.sources.scrape import Scraper, ScrapeTarget

# tests/sources/ → parents[3] is the directory holding main/ and shared/.
BHARATMART = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "bharatmart"
if not (BHARATMART / "README.md").is_file():
    raise RuntimeError(
        f"BharatMart fixtures missing: expected them in {BHARATMART}: put the project's shared/"
        " folder beside the repository, as ../shared (CI provides it there)"
    )
FIXTURES = sorted(BHARATMART.glob("metrics-*.txt"))


def bharatmart_dir() -> Path:
    return BHARATMART


def _value(samples: list[tuple[Labels, float]], name: str, **labels: str) -> float:
    hits = [v for lab, v in samples if lab.name == name and all(lab.get(k) == x for k, x in labels.items())]
    assert len(hits) == 1, f"{name} {labels}: {len(hits)} matches"
    return hits[0]


def test_every_capture_is_there() -> None:
    assert {p.name for p in FIXTURES} >= {
        "metrics-normal.txt",
        "metrics-chaos.txt",
        "metrics-dbdown.txt",
        "metrics-fresh.txt",
    }


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_agrees_with_prometheus_client_sample_by_sample(path: Path) -> None:
    text = path.read_text()
    ours = parse_exposition(text)
    theirs = [s for fam in text_string_to_metric_families(text) for s in fam.samples]
    assert len(ours) == len(theirs)
    for (labels, value), sample in zip(ours, theirs, strict=True):
        assert labels.name == sample.name
        assert labels.without_name().as_dict() == sample.labels
        assert value == sample.value or (math.isnan(value) and math.isnan(sample.value))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_bytes_and_str_give_the_same_result(path: Path) -> None:
    assert parse_exposition(path.read_bytes()) == parse_exposition(path.read_text())


def test_normal_capture_counts_and_values() -> None:
    samples = parse_exposition((bharatmart_dir() / "metrics-normal.txt").read_bytes())
    per_family = Counter(lab.name for lab, _ in samples)
    assert len(samples) == 162
    assert per_family["http_request_duration_seconds_bucket"] == 96  # 12 series x 8 buckets
    assert per_family["http_requests_total"] == 12
    assert per_family["payments_processed_total"] == 5
    assert "retry_attempts_total" not in per_family  # HELP/TYPE only, no samples
    assert sum(v for lab, v in samples if lab.name == "http_requests_total") == 455
    assert _value(samples, "http_requests_total", route="/:id", status_code="500") == 8
    assert _value(samples, "payments_processed_total", status="failed", payment_method="upi") == 1
    assert _value(samples, "external_call_latency_ms_count") == 1545
    inf = _value(
        samples,
        "http_request_duration_seconds_bucket",
        le="+Inf",
        method="GET",
        route="/health",
        status_code="200",
    )
    assert inf == 43
    for labels, _ in samples:
        assert labels.get("app") == "sre-training-platform"
        assert labels.get("environment") == "development"


def test_chaos_and_dbdown_captures() -> None:
    chaos = parse_exposition((bharatmart_dir() / "metrics-chaos.txt").read_text())
    assert _value(chaos, "simulated_latency_ms") == 600
    assert _value(chaos, "chaos_events_total") == 13
    dbdown = parse_exposition((bharatmart_dir() / "metrics-dbdown.txt").read_text())
    assert _value(dbdown, "orders_failed_total") == 11
    errors_5xx = sum(
        v for lab, v in dbdown if lab.name == "http_requests_total" and lab.get("status_code")[0] == "5"
    )
    assert errors_5xx == 95
    fresh = parse_exposition((bharatmart_dir() / "metrics-fresh.txt").read_text())
    assert len(fresh) == 7


def test_label_order_does_not_matter_and_le_first_is_fine() -> None:
    a = parse_exposition('h_bucket{le="0.5",app="x",route="/"} 1\n')
    b = parse_exposition('h_bucket{route="/",app="x",le="0.5"} 1\n')
    assert a == b
    assert a[0][0] == Labels.of(__name__="h_bucket", le="0.5", app="x", route="/")


def test_escapes_in_label_values() -> None:
    text = r'm{a="q\"uote",b="back\\slash",c="new\nline",d="curly}brace,comma"} 1' + "\n"
    ((labels, value),) = parse_exposition(text)
    assert labels.get("a") == 'q"uote'
    assert labels.get("b") == "back\\slash"
    assert labels.get("c") == "new\nline"
    assert labels.get("d") == "curly}brace,comma"
    assert value == 1


UNKNOWN_ESCAPES = [
    ("C:\\temp", "C:\\temp"),  # a Windows path: \t is not a tab
    ("C:\\Program Files\\x", "C:\\Program Files\\x"),
    ("^\\d+\\.\\d+$", "^\\d+\\.\\d+$"),  # a regex
    ("\\\\t", "\\t"),  # an escaped backslash, then t
    ('x\\q\\"y\\n', 'x\\q"y\n'),  # unknown, then known escapes
    ("end\\\\", "end\\"),
]


@pytest.mark.parametrize(("raw", "value"), UNKNOWN_ESCAPES)
def test_unknown_escapes_in_label_values_are_kept_as_written(raw: str, value: str) -> None:
    """As Prometheus' text parser: only \\\\, \\" and \\n are unescaped; any other
    backslash sequence stays as written instead of failing the whole scrape."""
    text = f'm{{a="{raw}",b="plain"}} 1\n'
    ((labels, _),) = ExpositionParser().parse(text)
    assert labels.get("a") == value
    assert labels.get("b") == "plain"
    (theirs,) = [s for fam in text_string_to_metric_families(text) for s in fam.samples]
    assert theirs.labels["a"] == value


def test_a_windows_path_label_does_not_take_the_target_down(httpserver: HTTPServer) -> None:
    """Over real HTTP: the scrape succeeds (`up 1`, no false ServiceDown) and the
    value keeps its backslash."""
    httpserver.expect_request("/metrics").respond_with_data(
        '# TYPE disk_free gauge\ndisk_free{path="C:\\temp"} 5\n', content_type="text/plain; version=0.0.4"
    )
    collected = Scraper(ScrapeTarget(job="win", url=httpserver.url_for("/metrics"))).collect(1_800_000_000.0)
    assert collected.error is None
    got = {lab.name: (lab, v) for lab, v in collected.samples}
    assert got["up"][1] == 1.0
    assert got["disk_free"][0].get("path") == "C:\\temp"
    assert got["disk_free"][1] == 5


def test_special_values_timestamps_and_whitespace() -> None:
    text = (
        "# HELP m help text with \\n escapes\r\n"
        "# TYPE m gauge\r\n"
        "\r\n"
        'm{k="inf"} +Inf\r\n'
        'm{k="neg"} -Inf 1700000000000\r\n'
        'm{k="nan"} NaN   \r\n'
        "   \n"
        "plain 3.5e2\t\n"
        "tabbed\t7\n"
        'spaced { k = "v" , } 2\n'
        'empty{k=""} 4\n'
        "# a free comment\n"
    )
    got = {str(lab): v for lab, v in parse_exposition(text)}
    assert got['m{k="inf"}'] == math.inf
    assert got['m{k="neg"}'] == -math.inf
    assert math.isnan(got['m{k="nan"}'])
    assert got["plain"] == 350.0
    assert got["tabbed"] == 7
    assert got['spaced{k="v"}'] == 2
    assert got["empty"] == 4  # an empty label value means the label is absent


MALFORMED = [
    ('m{app="x" 1\n', 1, "missing '}'"),
    ('m{app "x"} 1\n', 1, "expected '=' after label name \"app\""),
    ("m{app=x} 1\n", 1, 'expected \'"\' to start the value of label "app"'),
    ('m{app="x" env="y"} 1\n', 1, "expected ',' or '}' after the value of label \"app\""),
    ('m{app="x\\"} 1\n', 1, 'unterminated value of label "app"'),
    ('m{app="x",app="y"} 1\n', 1, 'duplicate label name "app"'),
    ('m{1bad="x"} 1\n', 1, "expected a label name"),
    ("ok 1\n1metric 2\n", 2, "invalid metric name '1metric'"),
    ("ok 1\n\nm\n", 3, "expected a value"),
    ("m one\n", 1, "invalid value 'one'"),
    ("m 1_000\n", 1, "invalid value '1_000'"),
    ("m 1 12.x\n", 1, "invalid timestamp '12.x'"),
    ("m 1 2 3\n", 1, "unexpected text after the timestamp"),
    ("# TYPE m histogramm\n", 1, "invalid metric type 'histogramm'"),
    ('{app="x"} 1\n', 1, "missing metric name"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), MALFORMED)
def test_malformed_input_names_line_and_problem(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ExpositionError) as info:
        ExpositionParser().parse(text)
    message = str(info.value)
    assert message.startswith(f"line {line}: ")
    assert fragment in message
    assert "\n" not in message


def test_invalid_utf8_is_an_exposition_error() -> None:
    with pytest.raises(ExpositionError, match="line 2: invalid UTF-8"):
        parse_exposition(b'ok 1\nm{a="\xff"} 1\n')


def test_sample_limit() -> None:
    text = "".join(f'm{{i="{i}"}} {i}\n' for i in range(10))
    assert len(parse_exposition(text, max_samples=10)) == 10
    with pytest.raises(SampleLimitError, match="line 11: more than 10 samples"):
        parse_exposition(text + "extra 1\n", max_samples=10)
    assert issubclass(SampleLimitError, ExpositionError)


def test_relabel_runs_once_per_series_and_results_are_cached() -> None:
    calls: list[Labels] = []

    def relabel(labels: Labels) -> Labels:
        calls.append(labels)
        return labels.with_(job="bm")

    parser = ExpositionParser(relabel=relabel)
    text = 'a{x="1"} 1\na{x="2"} 2\nb 3\n'
    first = parser.parse(text)
    second = parser.parse(text.replace(" 1\n", " 10\n"))
    assert len(calls) == 3
    assert [lab.get("job") for lab, _ in first] == ["bm"] * 3
    assert second[0] == (first[0][0], 10.0)
    assert second[0][0] is first[0][0]  # the same Labels object, straight from the cache


def test_cache_is_bounded() -> None:
    parser = ExpositionParser(cache_size=5)
    for round_ in range(3):
        parser.parse("".join(f'm{{r="{round_}",i="{i}"}} 1\n' for i in range(10)))
        assert len(parser._cache) <= 10


def test_collector_state_is_restored_after_parsing() -> None:
    import gc

    assert gc.isenabled()
    parse_exposition("m 1\n")
    assert gc.isenabled()
    with pytest.raises(ExpositionError):
        parse_exposition("m x\n")
    assert gc.isenabled()
    gc.disable()
    try:
        parse_exposition("m 1\n")
        assert not gc.isenabled()
    finally:
        gc.enable()
