"""Scrape edge cases no other test pinned down (found by a mutation audit)."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from triaged.sources.exposition import ExpositionError, ExpositionParser
from triaged.sources.scrape import Scraper, ScrapeTarget

NOW = 1_800_000_000.5


def test_a_target_answering_a_3xx_status_is_down(httpserver: HTTPServer) -> None:
    """/metrics answered 304 with nothing in it: the target exported nothing, so `up`
    is 0 (ServiceDown can fire) rather than 1 with zero samples."""
    httpserver.expect_request("/metrics").respond_with_data("", status=304)
    collected = Scraper(ScrapeTarget(job="shop", url=httpserver.url_for("/metrics"))).collect(NOW)
    assert collected.error == "HTTP status 304"
    up = [v for labels, v in collected.samples if labels.name == "up"]
    assert up == [0.0]


def test_a_type_line_with_text_after_the_type_is_reported() -> None:
    """`# TYPE reqs counter total` is a typo in the exporter: the scrape says so, naming
    the line, instead of accepting it silently."""
    text = "# TYPE reqs counter total\nreqs 5\n"
    with pytest.raises(ExpositionError, match="line 1: invalid metric type"):
        ExpositionParser().parse(text)
