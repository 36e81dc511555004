"""A reload applies `targets:` and `probes:` as Prometheus applies a changed scrape
config: new ones are scraped from the next cycle, removed ones go stale at once (their
alerts resolve), unchanged ones go on as they were; no restart, no lost alert state."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from triaged.app import Daemon, build
from triaged.config import load_config
from triaged.runner import Runner
from triaged.service.host import restart_only_changes
from triaged.store.incidents import open_incidents
from triaged.testing.clock import FakeClock

from .conftest import TRIAGED, DaemonProcess, Setup, daemon_env, free_port, wait_until

RULES = """groups:
  - name: targets
    interval: 1s
    rules:
      - alert: TargetDown
        expr: up == 0
        labels: {severity: P1}
"""


def _config(tmp_path: Path, targets: list[tuple[str, str]], probes: str = "", interval: str = "1s") -> Path:
    listed = "".join(f"  - job: {job}\n    url: {url}\n" for job, url in targets)
    path = tmp_path / "triaged.yaml"
    path.write_text(
        f"storage: {{db: {tmp_path / 't.db'}}}\n"
        f"scrape: {{interval: {interval}, timeout: 1s}}\n"
        "evaluation_interval: 1s\n"
        "rule_files: [targets.rules.yml]\n"
        f"targets:\n{listed}{probes}"
        "notifiers: [{name: log, type: log}]\n"
        "routes: [{receiver: log}]\n"
    )
    return path


@pytest.fixture
def two_targets(httpserver: HTTPServer) -> Iterator[tuple[str, str]]:
    """Two scrape targets on one loopback server: `a` answers, `b` answers too."""
    httpserver.expect_request("/a/metrics").respond_with_data("shop_up 1\n", content_type="text/plain")
    httpserver.expect_request("/b/metrics").respond_with_data("pay_up 1\n", content_type="text/plain")
    yield httpserver.url_for("/a/metrics"), httpserver.url_for("/b/metrics")


def _up(daemon: Daemon, now: float) -> dict[str, float]:
    return {labels.get("job") or "": value for labels, value in daemon.query("up", now)}


def _firing(daemon: Daemon) -> set[str]:
    return {
        a.labels.get("job")
        for r in daemon.rules.alerting_rules()
        for a in r.alerts.values()
        if not a.is_resolved
    }


def _start(tmp_path: Path, targets: list[tuple[str, str]]) -> tuple[Daemon, FakeClock]:
    (tmp_path / "targets.rules.yml").write_text(RULES)
    clock = FakeClock(1_790_000_000.0)
    return build(load_config(_config(tmp_path, targets)), clock=clock), clock


def test_a_reload_scrapes_a_new_target_and_forgets_a_removed_one_at_once(
    tmp_path: Path, two_targets: tuple[str, str]
) -> None:
    a, b = two_targets
    daemon, clock = _start(tmp_path, [("shop", a)])
    daemon.cycle(clock.now())
    assert _up(daemon, clock.now()) == {"shop": 1.0}

    result = daemon.reload(load_config(_config(tmp_path, [("pay", b)])))
    assert result.ok
    assert [k.split("/")[1] for k in result.sources.added] == ["pay"]
    assert [k.split("/")[1] for k in result.sources.removed] == ["shop"]
    clock.advance(1)
    report = daemon.cycle(clock.now())
    assert [k.split("/")[1] for k in report.scraped] == ["pay"]
    # The removed target is gone from queries now, not after five minutes of lookback.
    assert _up(daemon, clock.now()) == {"pay": 1.0}
    daemon.close()


def test_an_alert_on_a_removed_target_resolves_and_a_kept_one_stays_firing(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    """Removing a dead target from the config ends its incident; the alert of a target
    that stays (down as well) is kept as it was: not re-opened, not paged again."""
    dead_a = "http://127.0.0.1:9/a/metrics"  # port 9 (discard) refuses on loopback
    dead_b = "http://127.0.0.1:9/b/metrics"
    daemon, clock = _start(tmp_path, [("shop", dead_a), ("pay", dead_b)])
    for _ in range(3):
        daemon.cycle(clock.now())
        clock.advance(1)
    assert _firing(daemon) == {"shop", "pay"}
    open_before = {i.id for i in open_incidents(daemon.store)}

    result = daemon.reload(load_config(_config(tmp_path, [("pay", dead_b)])))
    assert result.ok and result.kept_alerts == 2 and not result.sources.added
    for _ in range(3):
        daemon.cycle(clock.now())
        clock.advance(1)
    assert _firing(daemon) == {"pay"}
    still_open = {i.id for i in open_incidents(daemon.store)}
    assert still_open <= open_before, "the kept alert must not open a new incident"
    daemon.close()


def test_an_unchanged_target_keeps_its_scraper_and_a_changed_one_is_rebuilt(
    tmp_path: Path, two_targets: tuple[str, str]
) -> None:
    a, b = two_targets
    daemon, clock = _start(tmp_path, [("shop", a), ("pay", b)])
    daemon.cycle(clock.now())
    shop, pay = daemon.sources
    (tmp_path / "slow.yaml").write_text(
        _config(tmp_path, [("shop", a)])
        .read_text()
        .replace("targets:\n", f"targets:\n  - job: pay\n    url: {b}\n    interval: 10s\n")
    )
    result = daemon.reload(load_config(tmp_path / "slow.yaml"))
    assert result.ok and [k.split("/")[1] for k in result.sources.changed] == ["pay"]
    assert daemon.sources[0] is shop or daemon.sources[1] is shop
    assert pay not in daemon.sources
    # The new interval is in effect: after this cycle, `pay` is not scraped for 10 s.
    clock.advance(1)
    daemon.cycle(clock.now())
    scraped = []
    for _ in range(5):
        clock.advance(1)
        scraped += [k.split("/")[1] for k in daemon.cycle(clock.now()).scraped]
    assert scraped.count("shop") == 5 and "pay" not in scraped
    daemon.close()


def test_a_broken_rule_file_keeps_the_old_targets_too(tmp_path: Path, two_targets: tuple[str, str]) -> None:
    """A reload is all or nothing: with a rule file that does not load, a target added in
    the same edit is not scraped either."""
    a, b = two_targets
    daemon, clock = _start(tmp_path, [("shop", a)])
    (tmp_path / "targets.rules.yml").write_text("groups: [{name: x, rules: [{alert: X, expr: 'up =='}]}]\n")
    result = daemon.reload(load_config(_config(tmp_path, [("shop", a), ("pay", b)])))
    assert not result.ok
    report = daemon.cycle(clock.now())
    assert [k.split("/")[1] for k in report.scraped] == ["shop"]
    daemon.close()


def test_editing_targets_probes_or_the_scrape_defaults_needs_no_restart(tmp_path: Path) -> None:
    (tmp_path / "targets.rules.yml").write_text(RULES)
    old = load_config(_config(tmp_path, [("shop", "http://127.0.0.1:1/metrics")]))
    probe = "probes:\n  - job: health\n    url: http://127.0.0.1:1/api/health\n"
    new = load_config(_config(tmp_path, [("pay", "http://127.0.0.1:2/metrics")], probes=probe, interval="5s"))
    assert restart_only_changes(old, new) == []


def test_triaged_reload_names_the_targets_it_added_and_removed(
    setup: Setup, start_daemon: Callable[..., DaemonProcess], httpserver: HTTPServer
) -> None:
    """Through the running service: the target edit is applied, said by `triaged
    reload`, and not reported as waiting for a restart."""
    httpserver.expect_request("/pay/metrics").respond_with_data("pay_up 1\n", content_type="text/plain")
    setup.write(port=free_port())
    d = start_daemon(setup.config)
    d.wait_event("daemon_started")
    pay = httpserver.url_for("/pay/metrics")
    setup.config.write_text(setup.config.read_text().replace(setup.target, pay))
    done = subprocess.run(
        [TRIAGED, "reload", "--config", str(setup.config)],
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("added: scrape/shop/") and line.endswith("/pay/metrics") for line in lines)
    assert any(line.startswith("removed: scrape/shop/") for line in lines)
    assert "restart" not in done.stdout
    wait_until(lambda: d.named("sources_reloaded"), what="sources_reloaded")
    assert d.stop() == 0


def test_labels_of_the_new_config_reach_the_series(tmp_path: Path, two_targets: tuple[str, str]) -> None:
    """A target whose labels were edited scrapes under the new labels; the old series
    go stale at once instead of both answering for five minutes."""
    a, _ = two_targets
    daemon, clock = _start(tmp_path, [("shop", a)])
    daemon.cycle(clock.now())
    path = _config(tmp_path, [("shop", a)])
    path.write_text(path.read_text().replace(f"url: {a}\n", f"url: {a}\n    labels: {{team: cart}}\n"))
    assert daemon.reload(load_config(path)).ok
    clock.advance(1)
    daemon.cycle(clock.now())
    series = [labels for labels, _ in daemon.query("shop_up", clock.now())]
    assert [s.get("team") for s in series] == ["cart"]
    daemon.close()


def test_a_target_scraped_more_often_than_the_tick_changes_the_tick(
    tmp_path: Path, two_targets: tuple[str, str]
) -> None:
    """A target added with `interval: 500ms` is scraped every 500 ms, not every second:
    the running scheduler's cycle follows the reload."""
    a, b = two_targets
    daemon, _ = _start(tmp_path, [("shop", a)])
    runner = Runner(daemon)
    runner.start()
    try:
        path = _config(tmp_path, [("shop", a)])
        path.write_text(
            path.read_text().replace(
                "targets:\n", f"targets:\n  - {{job: pay, url: '{b}', interval: 500ms, timeout: 400ms}}\n"
            )
        )
        assert daemon.reload(load_config(path)).ok
        runner.retick()
        job = runner.scheduler.get_job("cycle")
        assert job is not None and job.trigger.interval.total_seconds() == 0.5
    finally:
        runner.stop(flush_s=0.1)
        daemon.close()


def test_a_reload_turns_debug_logging_on_without_a_restart(
    setup: Setup, start_daemon: Callable[..., DaemonProcess]
) -> None:
    """`log.level: debug` for an investigation: the running daemon logs its API requests
    from the reload on (they are debug lines), with no restart."""
    import requests

    from .conftest import TOKEN

    setup.write(port=free_port())
    setup.config.write_text(setup.config.read_text().replace("level: debug", "level: info"))
    d = start_daemon(setup.config)
    d.wait_event("daemon_started")
    base = f"http://127.0.0.1:{d.port}"
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    setup.config.write_text(setup.config.read_text().replace("level: info", "level: debug"))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    outcome = requests.post(f"{base}/api/v1/reload", headers=auth, timeout=10).json()
    assert outcome["ok"] and outcome["needs_restart"] == []
    d.wait_event("log_reconfigured")
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    requests_logged = wait_until(lambda: d.named("api_request"), what="a debug api_request line")
    assert [e["path"] for e in requests_logged if e["path"] == "/healthz"] == ["/healthz"]
    assert d.stop() == 0


def test_a_reload_moves_the_daily_reminders_to_the_new_time(tmp_path: Path) -> None:
    """`actions.remind_at` edited from 09:00 to 18:30: the reminders job follows."""
    daemon, _ = _start(tmp_path, [])
    runner = Runner(daemon)
    runner.start()
    try:
        path = _config(tmp_path, [])
        path.write_text(path.read_text() + "actions: {remind_at: '18:30'}\n")
        assert daemon.reload(load_config(path)).ok
        runner.replan_reminders(load_config(path).lifecycle.actions.remind_at)
        job = runner.scheduler.get_job("reminders")
        assert job is not None and "hour='18', minute='30'" in str(job.trigger)
    finally:
        runner.stop(flush_s=0.1)
        daemon.close()


def test_a_removed_target_leaves_the_daemons_own_metrics(
    tmp_path: Path, two_targets: tuple[str, str]
) -> None:
    """`triaged_target_up` of a target removed while down must not read 0 forever (an
    alert on the monitor's own metrics would never resolve)."""
    from triaged.service.host import ServiceHost

    a, _ = two_targets
    dead = "http://127.0.0.1:9/metrics"
    daemon, clock = _start(tmp_path, [("shop", a), ("gone", dead)])
    host = ServiceHost(Runner(daemon), str(_config(tmp_path, [("shop", a), ("gone", dead)])), environ={})
    try:
        daemon.cycle(clock.now())
        before = host.metrics.render().decode()
        assert 'triaged_target_up{target="scrape/gone/127.0.0.1:9"} 0.0' in before
        _config(tmp_path, [("shop", a)])
        assert host.reload()["ok"]
        clock.advance(1)
        daemon.cycle(clock.now())
        after = host.metrics.render().decode()
        assert "scrape/gone/" not in after and 'triaged_target_up{target="scrape/shop/' in after
    finally:
        daemon.close()
