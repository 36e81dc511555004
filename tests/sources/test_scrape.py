"""Scraper: labels, the always-written report series, and every failure mode."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from pytest_httpserver import HTTPServer

from triaged import __version__
from triaged.model import Labels
from triaged.sources.base import Collected
from triaged.sources.scrape import Scraper, ScrapeTarget, instance_of
from triaged.tsdb.storage import Storage

Start = Callable[[Callable[[socket.socket], None]], str]
Read = Callable[[socket.socket], None]
NOW = 1_800_000_000.5
PAYLOAD = (
    "# HELP reqs Requests\n# TYPE reqs counter\n"
    'reqs{route="/",job="app",instance="pod-1"} 5\n'
    'reqs{route="/x"} 7\n'
    "temp 21.5\n"
)


def _by_name(collected: Collected) -> dict[str, list[tuple[Labels, float]]]:
    out: dict[str, list[tuple[Labels, float]]] = {}
    for labels, value in collected.samples:
        out.setdefault(labels.name, []).append((labels, value))
    return out


def _report(collected: Collected) -> tuple[float, float, float]:
    got = _by_name(collected)
    return (
        got["up"][0][1],
        got["scrape_duration_seconds"][0][1],
        got["scrape_samples_scraped"][0][1],
    )


def _scraper(url: str, **kw: object) -> Scraper:
    return Scraper(ScrapeTarget(job="bharatmart", url=url, **kw))  # type: ignore[arg-type]


def test_successful_scrape_labels_and_report(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metrics").respond_with_data(PAYLOAD)
    url = httpserver.url_for("/metrics")
    scraper = _scraper(url, labels={"team": "shop"})
    collected = scraper.collect(NOW)
    instance = f"{httpserver.host}:{httpserver.port}"
    assert collected.error is None
    assert collected.t_ms == 1_800_000_000_500
    assert scraper.key == f"scrape/bharatmart/{instance}"
    up, duration, scraped = _report(collected)
    assert (up, scraped) == (1.0, 3.0)
    assert 0 < duration < 1
    got = _by_name(collected)
    assert got["temp"] == [
        (Labels.of(__name__="temp", job="bharatmart", instance=instance, team="shop"), 21.5)
    ]
    for labels, _ in collected.samples:
        assert labels.get("job") == "bharatmart"
        assert labels.get("instance") == instance
        assert labels.get("team") == "shop"


def test_scrape_names_itself_and_its_timeout(httpserver: HTTPServer) -> None:
    # A target's access log shows who scrapes it; an exporter may trim its work to fit.
    httpserver.expect_request(
        "/metrics",
        headers={"User-Agent": f"triaged/{__version__}", "X-Prometheus-Scrape-Timeout-Seconds": "2.5"},
    ).respond_with_data(PAYLOAD)
    collected = _scraper(httpserver.url_for("/metrics"), timeout=2.5).collect(NOW)
    assert collected.error is None


def test_scraped_job_and_instance_become_exported(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metrics").respond_with_data(PAYLOAD)
    collected = _scraper(httpserver.url_for("/metrics")).collect(NOW)
    ((labels, value),) = [s for s in _by_name(collected)["reqs"] if s[0].get("route") == "/"]
    assert value == 5
    assert labels.get("exported_job") == "app"
    assert labels.get("exported_instance") == "pod-1"
    assert labels.get("job") == "bharatmart"


def test_http_500_is_down(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metrics").respond_with_data(PAYLOAD, status=500)
    collected = _scraper(httpserver.url_for("/metrics")).collect(NOW)
    assert collected.error == "HTTP status 500"
    assert [lab.name for lab, _ in collected.samples] == [
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
    ]
    assert _report(collected)[0] == 0.0


def test_parse_error_is_down_with_the_line(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metrics").respond_with_data("ok 1\nbroken{a=} 2\n")
    collected = _scraper(httpserver.url_for("/metrics")).collect(NOW)
    assert collected.error is not None
    assert collected.error.startswith("parse error: line 2: ")
    assert _report(collected)[0] == 0.0
    assert len(collected.samples) == 3


def test_body_size_limit(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metrics").respond_with_data(PAYLOAD)
    collected = _scraper(httpserver.url_for("/metrics"), max_body_bytes=50).collect(NOW)
    assert collected.error == "body larger than 50 bytes"
    assert _report(collected)[0] == 0.0


def test_sample_limit(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metrics").respond_with_data(PAYLOAD)
    collected = _scraper(httpserver.url_for("/metrics"), max_samples=2).collect(NOW)
    assert collected.error == "sample limit exceeded: more than 2 samples"
    assert _report(collected)[0::2] == (0.0, 0.0)


def test_hung_target_times_out(raw_server: Start, read_request: Read) -> None:
    def hang(sock: socket.socket) -> None:
        read_request(sock)
        time.sleep(2)

    scraper = _scraper(raw_server(hang) + "/metrics", timeout=0.3)
    started = time.monotonic()
    collected = scraper.collect(NOW)
    assert collected.error == "timeout after 0.3s"
    up, duration, _ = _report(collected)
    assert up == 0.0
    assert 0.28 < duration < 0.6
    assert time.monotonic() - started < 0.6


def test_refused_target(refused_url: str) -> None:
    collected = _scraper(refused_url + "/metrics").collect(NOW)
    assert collected.error == "connection refused"
    assert _report(collected)[0] == 0.0


def test_repeated_scrapes_feed_storage(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metrics").respond_with_data(PAYLOAD)
    scraper = _scraper(httpserver.url_for("/metrics"))
    storage = Storage()
    for i in range(3):
        collected = scraper.collect(NOW + i)
        assert storage.append_batch(scraper.key, collected.samples, collected.t_ms) == 6


@pytest.mark.parametrize(
    ("url", "instance"),
    [
        ("http://127.0.0.1:8080/metrics", "127.0.0.1:8080"),
        ("http://example.com/metrics", "example.com:80"),
        ("https://example.com/metrics", "example.com:443"),
        ("http://[::1]:9100/metrics", "[::1]:9100"),
    ],
)
def test_instance_of(url: str, instance: str) -> None:
    assert instance_of(url) == instance


def test_targets_are_values() -> None:
    labels = {"team": "shop"}
    a = ScrapeTarget(job="j", url="http://h:1/m", labels=labels)
    labels["team"] = "changed"
    assert a == ScrapeTarget(job="j", url="http://h:1/m", labels={"team": "shop"})
    assert hash(a) == hash(ScrapeTarget(job="j", url="http://h:1/m"))
