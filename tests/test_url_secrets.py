"""Credentials in a configured URL (user:password@, ?token=) never travel on: not in a
probe's instance label (which reaches titles, pages to PagerDuty and chat, the store
and postmortems), not in a source's name (/metrics, logs), not in a failed webhook's
error (timeline, postmortem), not in `triaged check` output (CI logs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from test_webhook import MSG
from triaged.config import load_config
from triaged.errors import ConfigError, public_url
from triaged.incidents.chart import Chart, ChartSeries, Marker, render_svg
from triaged.incidents.postmortem import cell
from triaged.notifiers.base import NotifyError
from triaged.notifiers.webhook import WebhookNotifier
from triaged.sources.probe import Prober, ProbeTarget
from triaged.sources.scrape import Scraper, ScrapeTarget

SECRETS = ("PASS999", "QUERYTOK", "APIKEY1")


def test_public_url_drops_userinfo_and_secret_looking_query_values() -> None:
    url = "http://user:PASS999@127.0.0.1:9/health?token=QUERYTOK&check=db&api_key=APIKEY1"
    assert public_url(url) == "http://127.0.0.1:9/health?token=REDACTED&check=db&api_key=REDACTED"


def test_a_probes_instance_label_and_source_name_carry_no_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/health").respond_with_data("ok")
    url = httpserver.url_for("/health").replace("http://", "http://user:PASS999@") + "?token=QUERYTOK&tier=1"
    prober = Prober(ProbeTarget(job="health", url=url))
    collected = prober.collect(1_790_000_000.0)
    shown = [prober.key, *(str(labels) for labels, _ in collected.samples)]
    assert not any(s in text for s in SECRETS for text in shown)
    assert any("token=REDACTED&tier=1" in text for text in shown)
    assert collected.samples and dict(collected.samples[0][0])["instance"].endswith(
        "/health?token=REDACTED&tier=1"
    )


def test_a_scrape_targets_source_name_carries_no_query_secret() -> None:
    scraper = Scraper(ScrapeTarget(job="shop", url="http://127.0.0.1:9/metrics-x?apikey=APIKEY1"))
    assert scraper.key == "scrape/shop/127.0.0.1:9/metrics-x?apikey=REDACTED"


def test_a_failing_webhook_names_its_url_without_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("no", status=400)
    url = httpserver.url_for("/hook").replace("http://", "http://hook:PASS999@") + "?token=QUERYTOK"
    with pytest.raises(NotifyError) as info:
        WebhookNotifier("chat", url).send(MSG)
    assert "HTTP 400" in str(info.value) and not any(s in str(info.value) for s in SECRETS)


def test_check_names_a_broken_url_without_its_credentials(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "notifiers:\n  - {name: chat, type: webhook, url: 'htp://hook:PASS999@h/x?token=QUERYTOK'}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "url must start with http://" in str(info.value) and not any(s in str(info.value) for s in SECRETS)


def test_control_characters_from_an_exporter_keep_the_chart_and_the_postmortem_readable() -> None:
    import xml.etree.ElementTree as ET

    evil = "latency\x1b[2J\x07"
    svg = render_svg(Chart(evil, [ChartSeries(evil, [(0.0, 1.0), (60.0, 2.0)])], [Marker("firing", 30.0)]))
    ET.fromstring(svg)  # parses: no XML-illegal character left
    assert "\x1b" not in cell(evil) and "\x07" not in cell(evil)
