"""The simulator over real HTTP on 127.0.0.1: endpoints, control API, ``down``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from triaged.simulator import Simulator, run_simulator
from triaged.sources.exposition import parse_exposition
from triaged.sources.probe import Prober, ProbeTarget
from triaged.sources.scrape import Scraper, ScrapeTarget

NOW = 1_800_000_000.0


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed=1, autotick=False) as running:
        yield running


def _scrape(sim: Simulator, timeout: float = 2.0) -> tuple[float, str | None]:
    scraper = Scraper(ScrapeTarget(job="bharatmart", url=f"{sim.url}/metrics", timeout=timeout))
    collected = scraper.collect(NOW)
    up = next(v for lab, v in collected.samples if lab.name == "up")
    return up, collected.error


def test_metrics_scrape_and_requests_are_counted(sim: Simulator) -> None:
    sim.advance(5)
    assert _scrape(sim) == (1.0, None)
    assert _scrape(sim) == (1.0, None)
    assert sim.shop.value("http_requests_total", "GET", "/metrics", "200") == 2


def test_scrapes_are_remembered_by_user_agent(sim: Simulator) -> None:
    before = time.time()
    _scrape(sim)
    requests.get(f"{sim.url}/metrics", headers={"User-Agent": "Prometheus/2.42.0"}, timeout=2)
    requests.get(f"{sim.url}/api/health", timeout=2)  # not a scrape
    after = time.time()
    (ours,) = sim.scrapes_since(before, "triaged/")
    (theirs,) = sim.scrapes_since(before, "Prometheus/")
    assert before <= ours <= theirs <= after
    assert len(sim.scrapes_since(before)) == 2
    assert sim.scrapes_since(after + 1) == []


def test_health_endpoints_follow_readiness(sim: Simulator) -> None:
    health = requests.get(f"{sim.url}/api/health", timeout=2)
    ready = requests.get(f"{sim.url}/api/health/ready", timeout=2)
    assert (health.status_code, health.json()) == (200, {"ok": True, "count": 1})
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["checks"] == {
        "database": {"status": "ok", "responseTimeMs": 2},
        "service": "ok",
    }
    assert ready.json()["timestamp"].endswith("Z")
    sim.set_faults(ready=False)
    health = requests.get(f"{sim.url}/api/health", timeout=2)
    ready = requests.get(f"{sim.url}/api/health/ready", timeout=2)
    assert (health.status_code, health.json()) == (500, {"ok": False, "count": 0})
    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert ready.json()["checks"]["database"]["status"] == "failed"
    assert requests.get(f"{sim.url}/nope", timeout=2).status_code == 404


def test_control_api(sim: Simulator) -> None:
    ctl = f"{sim.control_url}/control"
    assert requests.get(f"{ctl}/faults", timeout=2).json()["latency_ms"] == 0
    answer = requests.post(f"{ctl}/faults", json={"latency_ms": 600, "chaos_enabled": True}, timeout=2)
    assert answer.status_code == 200
    assert (answer.json()["latency_ms"], answer.json()["chaos_enabled"]) == (600, True)
    assert sim.faults.latency_ms == 600
    bad = requests.post(f"{ctl}/faults", json={"latency": 1}, timeout=2)
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("unknown fault field(s): latency; the fields are latency_ms, ")
    wrong_type = requests.post(f"{ctl}/faults", json={"ready": "no"}, timeout=2)
    assert wrong_type.status_code == 400
    assert requests.post(f"{ctl}/faults", data=b"{nope", timeout=2).status_code == 400
    assert requests.post(f"{ctl}/faults", json=[1], timeout=2).status_code == 400
    assert sim.faults.latency_ms == 600  # a rejected change changes nothing
    reset = requests.post(f"{ctl}/reset", timeout=2)
    assert (reset.status_code, reset.json()["latency_ms"]) == (200, 0)
    assert requests.get(f"{ctl}/nothing", timeout=2).status_code == 404
    # The app listener serves the control API too while it is up.
    assert requests.get(f"{sim.url}/control/faults", timeout=2).status_code == 200


def test_down_refuses_the_app_but_not_control(sim: Simulator) -> None:
    url = sim.url
    answer = requests.post(f"{sim.control_url}/control/faults", json={"down": True}, timeout=2)
    assert answer.json()["down"] is True
    assert _scrape(sim) == (0.0, "connection refused")
    probe = Prober(ProbeTarget(job="j", url=f"{url}/api/health")).collect(NOW)
    assert probe.error == "connection refused"
    assert requests.get(f"{sim.control_url}/control/faults", timeout=2).json()["down"] is True
    requests.post(f"{sim.control_url}/control/reset", timeout=2)
    assert sim.url == url  # back on the same port
    assert _scrape(sim) == (1.0, None)


def test_down_requested_through_the_app_port(sim: Simulator) -> None:
    answer = requests.post(f"{sim.url}/control/faults", json={"down": True}, timeout=2)
    assert answer.status_code == 200
    assert _scrape(sim)[1] == "connection refused"
    sim.set_faults(down=False)
    assert _scrape(sim) == (1.0, None)


def test_latency_delays_real_answers_up_to_a_cap(sim: Simulator) -> None:
    sim.set_faults(latency_ms=5000)
    started = time.monotonic()
    assert _scrape(sim, timeout=2.0) == (1.0, None)
    assert 0.69 < time.monotonic() - started < 1.5


def test_hung_health_times_the_probe_out(sim: Simulator) -> None:
    sim.set_faults(health_hang=True)
    prober = Prober(ProbeTarget(job="j", url=f"{sim.url}/api/health/ready", timeout=0.3))
    collected = prober.collect(NOW)
    assert collected.error == "timeout after 0.3s"
    assert _scrape(sim) == (1.0, None)  # /metrics stays fast, as in the real capture
    sim.set_faults(health_hang=False)
    assert prober.collect(NOW).error is None


def _slow_requests(sim: Simulator) -> float:
    samples = parse_exposition(sim.metrics_text())
    total = sum(v for lab, v in samples if lab.name == "http_request_duration_seconds_count")
    fast = sum(
        v
        for lab, v in samples
        if lab.name == "http_request_duration_seconds_bucket" and lab.get("le") == "0.5"
    )
    return total - fast


def test_background_traffic_reacts_within_a_second() -> None:
    with Simulator(seed=1, traffic_rps=100.0, tick_interval=0.05) as sim:
        time.sleep(0.2)
        assert sim.shop.value("http_requests_total", "GET", "/", "200") > 0
        assert _slow_requests(sim) == 0
        sim.set_faults(latency_ms=600)
        deadline = time.monotonic() + 1.0
        while _slow_requests(sim) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _slow_requests(sim) >= 10


def test_run_simulator_prints_urls_and_stops(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=run_simulator, kwargs={"port": 0, "stop": stop})
    thread.start()
    printed = ""
    deadline = time.monotonic() + 3
    while "Ctrl-C" not in printed and time.monotonic() < deadline:
        time.sleep(0.02)
        printed += capsys.readouterr().out
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert "/metrics" in printed
    assert "curl -X POST http://127.0.0.1:" in printed
