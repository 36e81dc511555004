"""`follow_redirects` on targets and probes: followed by default, as Prometheus does;
with `false`, a 3xx is the answer and the failure says where it pointed."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from triaged.app import build_sources
from triaged.cli import cli
from triaged.config import load_config
from triaged.sources.probe import Prober, ProbeTarget
from triaged.sources.scrape import Scraper, ScrapeTarget

NOW = 1_800_000_000.0


def _moved(httpserver: HTTPServer) -> str:
    """/metrics answers 302 to /elsewhere (with credentials in it), which serves metrics."""
    target = httpserver.url_for("/elsewhere").replace("http://", "http://scraper:hunter2@")
    httpserver.expect_request("/metrics").respond_with_data("", status=302, headers={"Location": target})
    httpserver.expect_request("/elsewhere").respond_with_data("shop_up 1\n")
    return httpserver.url_for("/metrics")


def _up(scraper: Scraper) -> tuple[float, str | None]:
    collected = scraper.collect(NOW)
    values = {labels.name: value for labels, value in collected.samples}
    return values["up"], collected.error


def test_a_target_follows_a_redirect_by_default(httpserver: HTTPServer) -> None:
    assert _up(Scraper(ScrapeTarget(job="shop", url=_moved(httpserver)))) == (1.0, None)


def test_a_redirect_not_followed_fails_the_scrape_saying_where_it_pointed(httpserver: HTTPServer) -> None:
    url = _moved(httpserver)
    up, error = _up(Scraper(ScrapeTarget(job="shop", url=url, follow_redirects=False)))
    assert up == 0.0
    where = httpserver.url_for("/elsewhere")
    assert error == f"HTTP status 302 (redirect to {where}, not followed: follow_redirects is false)"
    assert "hunter2" not in error
    assert [r.path for r, _ in httpserver.log] == ["/metrics"]


def test_a_probe_not_following_judges_the_redirect_itself(httpserver: HTTPServer) -> None:
    """A login page that redirects is an answer in its own right: with
    `follow_redirects: false` and `expect_status: [300, 399]` the probe passes."""
    url = _moved(httpserver)
    passes = Prober(ProbeTarget(job="login", url=url, follow_redirects=False, expect_status=(300, 399)))
    values = {labels.name: value for labels, value in passes.collect(NOW).samples}
    assert values["probe_success"] == 1.0 and values["probe_http_status_code"] == 302
    fails = Prober(ProbeTarget(job="login", url=url, follow_redirects=False)).collect(NOW)
    assert fails.error is not None and fails.error.startswith(
        "HTTP status 302, expected 200-299 (redirect to "
    )


def test_the_config_key_reaches_targets_and_probes_and_must_be_a_boolean(tmp_path: Path) -> None:
    (tmp_path / "a.rules.yml").write_text("groups: []\n")
    config = tmp_path / "triaged.yaml"
    base = f"storage: {{db: {tmp_path / 't.db'}}}\nrule_files: [a.rules.yml]\n"
    config.write_text(
        base + "targets:\n  - {job: a, url: 'http://127.0.0.1:1/m', follow_redirects: false}\n"
        "probes:\n  - {job: h, url: 'http://127.0.0.1:1/h', follow_redirects: false}\n"
    )
    built = build_sources(load_config(config))
    assert [type(s).__name__ for s in built] == ["Scraper", "Prober"]
    assert not any(s.target.follow_redirects for s in built)  # type: ignore[attr-defined]
    config.write_text(
        base + "targets:\n  - {job: a, url: 'http://127.0.0.1:1/m', follow_redirects: no-way}\n"
    )
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code == 1
    assert f"{config}:4: follow_redirects must be true or false" in result.output
