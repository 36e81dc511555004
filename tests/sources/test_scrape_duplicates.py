"""A target that reports one series twice in a scrape: the first value is kept, as in
Prometheus, the second is counted in `triaged_tsdb_samples_rejected_total`, and the
log says so once when it starts (naming the series), not at every scrape."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from structlog.testing import capture_logs
from werkzeug import Response

from triaged.app import build
from triaged.config import load_config
from triaged.runner import Runner
from triaged.service.selfmetrics import SelfMetrics, ServiceStats
from triaged.testing.clock import FakeClock

DUPLICATED = 'dup{a="1"} 1\ndup{a="1"} 2\nok 1\n'


@pytest.mark.usefixtures("default_logging")  # an earlier test may have set a higher level
def test_a_duplicate_series_is_counted_and_logged_once_per_episode(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    bodies = [DUPLICATED, DUPLICATED, DUPLICATED, 'dup{a="1"} 1\nok 1\n', DUPLICATED]
    httpserver.expect_request("/metrics").respond_with_handler(lambda _: _respond(bodies))
    (tmp_path / "r.yml").write_text("groups: []\n")
    config = tmp_path / "triaged.yaml"
    config.write_text(
        f"storage: {{db: t.db}}\nrule_files: [r.yml]\nnotifiers: [{{name: log, type: log}}]\n"
        f"targets: [{{job: dupes, url: '{httpserver.url_for('/metrics')}', interval: 1s}}]\n"
    )
    clock = FakeClock(1_790_000_000.0)
    daemon = build(load_config(config), clock=clock)
    try:
        with capture_logs() as logs:
            for step in range(5):
                report = daemon.cycle(clock.now() + step)
                assert report.errors == {}, "the scrape itself succeeded: up stays 1"
        rendered = SelfMetrics(Runner(daemon), ServiceStats()).render().decode()
        kept = daemon.engine.instant("dup", int((clock.now() + 4) * 1000))
    finally:
        daemon.close()
        daemon.store.close()
    assert daemon.storage.rejected_samples == 4
    assert "triaged_tsdb_samples_rejected_total 4.0" in rendered
    warned = [e for e in logs if e["event"] == "scrape_duplicate_series"]
    instance = httpserver.url_for("/").split("//")[1].rstrip("/")
    assert [(e["source"], e["series"], e["duplicates"]) for e in warned] == [
        (f"scrape/dupes/{instance}", f'dup{{a="1",instance="{instance}",job="dupes"}}', 1)
    ] * 2  # once when it starts, again when it returns after a clean scrape
    assert [s.value for s in kept] == [1.0]  # the first value wins


def _respond(bodies: list[str]) -> Response:
    return Response(bodies.pop(0) if len(bodies) > 1 else bodies[0], content_type="text/plain")
