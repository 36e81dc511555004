"""The daemon's HTTP server over real HTTP on 127.0.0.1: auth, limits, the incident
API and the self-metrics, against a running daemon built from a real config."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from triaged.app import build
from triaged.config import load_config
from triaged.runner import Runner
from triaged.service.host import ServiceHost
from triaged.service.sdnotify import SdNotifier

from .conftest import TOKEN, Setup, wait_until

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def host(setup: Setup) -> Iterator[ServiceHost]:
    cfg = load_config(setup.config)
    h = ServiceHost(
        Runner(build(cfg)), str(setup.config), sd=SdNotifier(None), environ={"TRIAGED_API_TOKEN": TOKEN}
    )
    h.start()
    try:
        yield h
    finally:
        h.stop(flush_s=1.0)


def url(host: ServiceHost, path: str) -> str:
    assert host.http is not None
    return f"http://127.0.0.1:{host.http.port}{path}"


def first_incident(host: ServiceHost) -> dict[str, Any]:
    def found() -> list[dict[str, Any]]:
        return list(requests.get(url(host, "/api/v1/incidents"), headers=AUTH, timeout=5).json())

    return next(iter(wait_until(found, what="an incident")))


def test_healthz_is_open_everything_else_needs_the_right_token(host: ServiceHost) -> None:
    assert requests.get(url(host, "/healthz"), timeout=5).status_code == 200
    for path in ("/readyz", "/metrics", "/api/v1/incidents", "/api/v1/incidents/1/timeline"):
        none = requests.get(url(host, path), timeout=5)
        assert none.status_code == 401, path
        assert none.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in none.text
        wrong = requests.get(url(host, path), headers={"Authorization": f"Bearer {TOKEN[:-1]}x"}, timeout=5)
        assert wrong.status_code == 401, path
        basic = requests.get(url(host, path), headers={"Authorization": f"Basic {TOKEN}"}, timeout=5)
        assert basic.status_code == 401, path
    assert requests.post(url(host, "/api/v1/reload"), timeout=5).status_code == 401
    wait_until(lambda: requests.get(url(host, "/readyz"), headers=AUTH, timeout=5).status_code == 200)
    assert requests.get(url(host, "/api/v1/incidents"), headers=AUTH, timeout=5).status_code == 200


def test_ack_note_resolve_and_read_the_timeline(host: ServiceHost) -> None:
    incident = first_incident(host)
    base = url(host, f"/api/v1/incidents/{incident['id']}")
    assert incident["status"] == "detected" and incident["severity"] == "P1"

    acked = requests.post(f"{base}/ack", headers=AUTH, json={"actor": "asha", "reason": "looking"}, timeout=5)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    noted = requests.post(
        f"{base}/notes", headers=AUTH, json={"actor": "asha", "text": "db failover"}, timeout=5
    )
    assert noted.status_code == 200
    twice = requests.post(f"{base}/ack", headers=AUTH, json={"actor": "omar"}, timeout=5)
    assert twice.status_code == 200 and twice.json()["status"] == "acknowledged"  # harmless repeat
    refused = requests.post(f"{base}/resolve", headers=AUTH, json={"actor": "asha"}, timeout=5)
    assert refused.status_code == 409 and "ShopDown" in refused.json()["error"]  # still firing
    forced = {"actor": "asha", "force": True}
    resolved = requests.post(f"{base}/resolve", headers=AUTH, json=forced, timeout=5)
    assert resolved.json()["status"] == "resolved"
    again = requests.post(f"{base}/ack", headers=AUTH, json={"actor": "asha"}, timeout=5)
    assert again.status_code == 409 and "ack is not possible now" in again.json()["error"]

    timeline = requests.get(f"{base}/timeline", headers=AUTH, timeout=5).json()
    kinds = [(e["kind"], e["actor"]) for e in timeline]
    assert ("acknowledged", "asha") in kinds and ("note", "asha") in kinds and ("resolved", "asha") in kinds
    shown = requests.get(base, headers=AUTH, timeout=5).json()
    assert shown["alerts"][0]["alertname"] == "ShopDown"
    assert requests.get(f"{base}/action-items", headers=AUTH, timeout=5).json() == []


def test_bad_requests_get_clear_errors(host: ServiceHost) -> None:
    incident = first_incident(host)
    base = url(host, f"/api/v1/incidents/{incident['id']}")
    big = requests.post(f"{base}/notes", headers=AUTH, json={"actor": "a", "text": "x" * 5000}, timeout=5)
    assert big.status_code == 413
    bad = requests.post(
        f"{base}/notes", headers={**AUTH, "Content-Type": "application/json"}, data=b"{", timeout=5
    )
    assert bad.status_code == 400 and bad.json() == {"error": "body must be JSON"}
    anonymous = requests.post(f"{base}/ack", headers=AUTH, json={"reason": "x"}, timeout=5)
    assert anonymous.status_code == 400 and anonymous.json()["error"] == "actor is required"
    assert requests.get(url(host, "/api/v1/incidents/999"), headers=AUTH, timeout=5).status_code == 404
    assert requests.get(f"{base}/ack", headers=AUTH, timeout=5).status_code == 405
    assert requests.get(url(host, "/nope"), headers=AUTH, timeout=5).status_code == 404
    listing = requests.get(url(host, "/api/v1/incidents?status=bogus"), headers=AUTH, timeout=5)
    assert listing.status_code == 400


def scrape(host: ServiceHost) -> dict[tuple[str, str], float]:
    text = requests.get(url(host, "/metrics"), headers=AUTH, timeout=5).text
    return {
        (s.name, json.dumps(s.labels, sort_keys=True)): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_self_metrics_scrape_and_parse(host: ServiceHost, setup: Setup) -> None:
    first_incident(host)
    sent = ("triaged_notifications_sent_total", json.dumps({"receiver": "hook"}))
    samples = wait_until(lambda: (m := scrape(host)).get(sent) == 1 and m, what="the page to be counted")

    def value(name: str, **labels: str) -> float:
        return float(samples[(name, json.dumps(labels, sort_keys=True))])

    target = "scrape/shop/" + setup.target.split("//")[1].split("/")[0]
    assert target in {json.loads(k)["target"] for n, k in samples if n == "triaged_scrapes_total"}
    assert value("triaged_scrape_duration_seconds", target=target) > 0
    assert value("triaged_scrape_failures_total", target=target) == 0
    assert value("triaged_rule_evaluation_duration_seconds", group="shop", rule="ShopDown") >= 0
    assert value("triaged_rule_evaluation_failures_total", group="shop", rule="ShopDown") == 0
    assert value("triaged_alerts", state="firing") == 1
    assert value("triaged_incidents_open", severity="P1") == 1
    assert value("triaged_notifications_sent_total", receiver="hook") == 1
    assert value("triaged_notifications_pending", receiver="hook") == 0
    assert value("triaged_outbox_oldest_pending_age_seconds") == 0
    assert value("triaged_loop_lag_seconds") >= 0
    assert value("triaged_loop_cycles_total") >= 1
    assert value("triaged_reloads_total", result="failure") == 0
    assert value("triaged_tsdb_counters_zeroed_total") >= 0


def test_reload_over_the_api_reports_a_broken_rule_file(host: ServiceHost, setup: Setup) -> None:
    setup.rules.write_text("groups:\n  - name: shop\n    rules:\n      - alert: X\n        expr: sum((\n")
    resp = requests.post(url(host, "/api/v1/reload"), headers=AUTH, timeout=10)
    assert resp.status_code == 422
    body = resp.json()
    assert body["ok"] is False and str(setup.rules) in body["errors"][0]
    assert host.stats.reloads["failure"] == 1


def test_query_endpoint_and_triaged_query_against_the_running_daemon(host: ServiceHost) -> None:
    from click.testing import CliRunner

    from triaged.cli import cli

    wait_until(lambda: requests.get(url(host, "/readyz"), headers=AUTH, timeout=5).status_code == 200)
    answer = requests.get(url(host, "/api/v1/query"), params={"query": "up"}, headers=AUTH, timeout=5)
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["resultType"] == "vector" and data["result"][0]["metric"]["__name__"] == "up"
    bad = requests.get(url(host, "/api/v1/query"), params={"query": "sum("}, headers=AUTH, timeout=5)
    assert bad.status_code == 400 and "parse error" in bad.json()["error"]
    base = url(host, "")
    out = CliRunner(env={"TRIAGED_API_TOKEN": TOKEN}).invoke(cli, ["query", "up", "--api", base])
    assert out.exit_code == 0, out.output
    assert 'up{instance="localhost:' in out.output
    denied = CliRunner(env={"TRIAGED_API_TOKEN": "wrong-token-0000000"}).invoke(
        cli, ["query", "up", "--api", base]
    )
    assert denied.exit_code == 1 and "HTTP 401" in denied.output


def test_http_max_connections_from_the_config_caps_the_running_server(setup: Setup) -> None:
    """`http.max_connections: 2`: a third connection, while two are held, gets 503."""
    setup.config.write_text(
        setup.config.read_text().replace("max_body_bytes: 1024", "max_body_bytes: 1024\n  max_connections: 2")
    )
    cfg = load_config(setup.config)
    assert cfg.http.max_connections == 2
    h = ServiceHost(
        Runner(build(cfg)), str(setup.config), sd=SdNotifier(None), environ={"TRIAGED_API_TOKEN": TOKEN}
    )
    assert h.http is not None
    h.http.start()
    held = [socket.create_connection(("127.0.0.1", h.http.port), timeout=5) for _ in range(2)]
    try:
        deadline = time.monotonic() + 5
        while h.http._server.active < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", h.http.port), timeout=5) as third:
            assert third.recv(64).startswith(b"HTTP/1.1 503 ")
    finally:
        for sock in held:
            sock.close()
        h.http.stop()
        h.runner.daemon.close()
        h.runner.daemon.store.close()
