"""Prober against every captured BharatMart health answer, a hang and a refusal."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from triaged.model import Labels
from triaged.sources.base import Collected
from triaged.sources.probe import Prober, ProbeTarget

BHARATMART = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "bharatmart"
if not (BHARATMART / "README.md").is_file():
    raise RuntimeError(
        f"BharatMart fixtures missing: expected them in {BHARATMART}: put the project's shared/"
        " folder beside the repository, as ../shared (CI provides it there)"
    )
HEALTH = sorted(BHARATMART.glob("health-*.json"))
ANSWERED = [p for p in HEALTH if json.loads(p.read_text())["status_code"] != 0]
NOW = 1_800_000_000.0

Start = Callable[[Callable[[socket.socket], None]], str]
Read = Callable[[socket.socket], None]


def _values(collected: Collected) -> dict[str, float]:
    return {labels.name: value for labels, value in collected.samples}


def test_every_capture_is_there() -> None:
    names = {p.stem for p in HEALTH}
    for scenario in ("normal", "chaos", "dbdown", "restdown", "gatewaydown"):
        assert {f"health-{scenario}", f"health-{scenario}-ready"} <= names
    assert "health-hung-ready" in names


@pytest.mark.parametrize("path", ANSWERED, ids=lambda p: p.stem)
def test_captured_answers(httpserver: HTTPServer, path: Path) -> None:
    capture = json.loads(path.read_text())
    status = capture["status_code"]
    route = "/api/health/ready" if path.stem.endswith("-ready") else "/api/health"
    httpserver.expect_request(route).respond_with_json(capture["body"], status=status)
    url = httpserver.url_for(route)
    prober = Prober(ProbeTarget(job="bharatmart-health", url=url, labels={"tier": "api"}))
    collected = prober.collect(NOW)
    got = _values(collected)
    ok = 200 <= status <= 299
    assert got["probe_success"] == (1.0 if ok else 0.0)
    assert got["probe_http_status_code"] == status
    assert 0 < got["probe_duration_seconds"] < 1
    assert (collected.error is None) == ok
    assert prober.key == f"probe/bharatmart-health/{url}"
    expected = Labels.of(__name__="probe_success", job="bharatmart-health", instance=url, tier="api")
    assert collected.samples[0][0] == expected
    assert collected.t_ms == 1_800_000_000_000


def test_hung_endpoint_times_out_like_the_hung_capture(raw_server: Start, read_request: Read) -> None:
    capture = json.loads((BHARATMART / "health-hung-ready.json").read_text())
    assert capture["status_code"] == 0  # what the real app did: no answer at all

    def hang(sock: socket.socket) -> None:
        read_request(sock)
        time.sleep(2)

    prober = Prober(ProbeTarget(job="j", url=raw_server(hang) + "/api/health/ready", timeout=0.3))
    collected = prober.collect(NOW)
    got = _values(collected)
    assert (got["probe_success"], got["probe_http_status_code"]) == (0.0, 0.0)
    assert got["probe_duration_seconds"] == pytest.approx(0.3, abs=0.1)
    assert collected.error == "timeout after 0.3s"


def test_app_gone_is_connection_refused(refused_url: str) -> None:
    collected = Prober(ProbeTarget(job="j", url=refused_url + "/api/health")).collect(NOW)
    got = _values(collected)
    assert (got["probe_success"], got["probe_http_status_code"]) == (0.0, 0.0)
    assert collected.error == "connection refused"


def test_expected_status_range(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/h").respond_with_data("", status=503)
    url = httpserver.url_for("/h")
    assert _values(Prober(ProbeTarget(job="j", url=url)).collect(NOW))["probe_success"] == 0
    tolerant = Prober(ProbeTarget(job="j", url=url, expect_status=(200, 503)))
    assert _values(tolerant.collect(NOW))["probe_success"] == 1


def test_a_health_page_larger_than_the_limit_is_judged_by_its_status(httpserver: HTTPServer) -> None:
    """A probe needs the status only: a big 200 page is healthy, not a P0 "not ready"."""
    httpserver.expect_request("/h").respond_with_data("x" * 100)
    collected = Prober(ProbeTarget(job="j", url=httpserver.url_for("/h"), max_body_bytes=10)).collect(NOW)
    got = _values(collected)
    assert (got["probe_success"], got["probe_http_status_code"]) == (1.0, 200.0)
    assert collected.error is None


def test_an_instance_label_names_the_probe_as_a_targets_does(httpserver: HTTPServer) -> None:
    """`labels: {instance: checkout-api}` on a probe names the instance in its series
    (and so in titles and pages) instead of the URL, as on a scrape target."""
    httpserver.expect_request("/api/health").respond_with_json({"status": "ok"})
    url = httpserver.url_for("/api/health")
    prober = Prober(ProbeTarget(job="health", url=url, labels={"instance": "checkout-api"}))
    collected = prober.collect(NOW)
    assert {labels.get("instance") for labels, _ in collected.samples} == {"checkout-api"}
    assert prober.key == f"probe/health/{url}"  # still one source per URL
