"""`triaged run` as systemd runs it: a real subprocess, a real NOTIFY_SOCKET, real
signals, a real webhook receiver and the daemon's own HTTP API."""

from __future__ import annotations

import signal
import socket
import subprocess
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from triaged.store import outbox
from triaged.store.db import open_store

from .conftest import RULES, TOKEN, TRIAGED, Setup, daemon_env, free_port, wait_until

SECOND_RULE = """      - alert: ShopSlow
        expr: vector(0) > 1
        labels: {severity: P2, service: shop}
"""
BROKEN_RULES = """groups:
  - name: shop
    rules:
      - alert: ShopDown
        expr: sum((
"""


def metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = requests.get(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    resp.raise_for_status()
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def opens(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in payloads if p["event"] == "open"]


def test_ready_after_store_and_rules_then_watchdog_pings_then_stopping(
    setup: Setup, start_daemon: Any, notify_socket: Any
) -> None:
    """systemd sees READY=1 only once the store and rules are loaded, then WATCHDOG=1
    pings fed by the loop, then STOPPING=1 on SIGTERM; the exit code is 0."""
    sock = notify_socket(True)  # abstract namespace: NOTIFY_SOCKET=@name
    d = start_daemon(setup.config, NOTIFY_SOCKET=sock.address, WATCHDOG_USEC="600000")
    ready = sock.wait_for("READY", "1")
    assert setup.db.exists()
    started = d.named("daemon_started")
    assert started and started[0]["rules"] == 1
    assert sock.received[ready]["STATUS"].startswith("running: 1 sources, 1 rules")
    first = sock.wait_for("WATCHDOG", "1", after=ready)
    sock.wait_for("WATCHDOG", "1", after=first + 1)
    assert d.stop() == 0
    sock.wait_for("STOPPING", "1")
    assert d.named("daemon_stopped")


def reload_cli(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRIAGED, "reload", "--config", str(setup.config), *args],
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_sighup_applies_good_rules_keeps_old_rules_on_broken_file(
    setup: Setup, start_daemon: Any, notify_socket: Any
) -> None:
    """A good reload adds a rule and keeps the firing alert (no second page); a broken
    file is rejected with one logged error and counted, and the old rules keep running."""
    setup.write(port=free_port())
    sock = notify_socket(False)
    d = start_daemon(setup.config, NOTIFY_SOCKET=sock.address)
    ready = sock.wait_for("READY", "1")
    wait_until(lambda: opens(setup.receiver.payloads()), what="the first page")
    port = d.port

    setup.rules.write_text(RULES + SECOND_RULE)
    d.signal(signal.SIGHUP)
    reloading = sock.wait_for("RELOADING", "1", after=ready + 1)
    done = sock.wait_for("READY", "1", after=reloading)
    assert sock.received[done]["STATUS"] == "running: 1 sources, 2 rules"
    loaded = d.wait_event("rules_loaded")
    assert loaded["rules"] == 2 and loaded["kept_alerts"] == 1
    m = metrics(port)
    assert m[("triaged_reloads_total", (("result", "success"),))] == 1
    assert ("triaged_rule_health", (("group", "shop"), ("rule", "ShopSlow"))) in m

    setup.rules.write_text(BROKEN_RULES)
    d.signal(signal.SIGHUP)
    again = sock.wait_for("RELOADING", "1", after=done + 1)
    after = sock.wait_for("READY", "1", after=again)
    assert "reload failed" in sock.received[after]["STATUS"]
    failed = d.named("reload_failed")
    assert len(failed) == 1
    assert str(setup.rules) in failed[0]["errors"][0]

    m = metrics(port)
    assert m[("triaged_reloads_total", (("result", "failure"),))] == 1
    assert m[("triaged_config_last_reload_successful", ())] == 0
    assert ("triaged_rule_health", (("group", "shop"), ("rule", "ShopSlow"))) in m
    assert m[("triaged_alerts", (("state", "firing"),))] == 1

    # `triaged reload --signal` takes the pid from the state dir and waits for the
    # daemon's verdict, which it prints; its exit code says it.
    signalled = reload_cli(setup, "--signal")
    assert signalled.returncode == 1 and str(setup.rules) in signalled.stderr
    assert len(d.named("reload_failed")) == 2
    # `triaged reload` through the API reports the outcome and its exit code says it.
    rejected = reload_cli(setup)
    assert rejected.returncode == 1 and str(setup.rules) in rejected.stderr
    setup.rules.write_text(RULES + SECOND_RULE)
    accepted = reload_cli(setup)
    assert accepted.returncode == 0, accepted.stderr
    assert "reloaded: 2 rules, 1 alerts kept" in accepted.stdout

    assert d.stop() == 0
    assert len(opens(setup.receiver.payloads())) == 1, "a reload must not page again"


def test_sigterm_flushes_a_pending_notification_and_exits_0(setup: Setup, start_daemon: Any) -> None:
    """A page whose first attempt failed is waiting out its backoff when SIGTERM
    arrives: the daemon delivers it before exiting, within the flush bound."""
    setup.receiver.fail_next = 1_000_000
    d = start_daemon(setup.config)
    d.wait_event("daemon_started")
    store = open_store(setup.db, create=False)
    try:

        def retrying() -> bool:
            rows = outbox.rows_for_incident(store, 1)
            return bool(rows) and rows[0].attempts >= 1 and rows[0].status == outbox.PENDING

        wait_until(retrying, what="a failed first attempt")
        setup.receiver.fail_next = 0
        d.signal(signal.SIGTERM)
        assert d.proc.wait(20) == 0
        assert [p["event"] for p in setup.receiver.payloads()] == ["open"]
        assert outbox.rows_for_incident(store, 1)[0].status == outbox.SENT
    finally:
        store.close()
    assert not d.named("outbox_not_flushed")


def test_sigterm_gives_up_flushing_after_the_bound_without_losing_the_page(
    setup: Setup, start_daemon: Any
) -> None:
    """A receiver that stays down cannot hold the stop hostage: exit 0 after the
    bound, the page still pending for the next start."""
    setup.write(backoff="200ms")
    setup.receiver.fail_next = 1_000_000
    d = start_daemon(setup.config, "--flush-timeout", "1")
    d.wait_event("daemon_started")
    store = open_store(setup.db, create=False)
    try:
        wait_until(lambda: outbox.rows_for_incident(store, 1), what="the page to be recorded")
        assert d.stop() == 0
        assert outbox.rows_for_incident(store, 1)[0].status == outbox.PENDING
    finally:
        store.close()
    assert d.named("outbox_not_flushed")[0]["pending"] == 1


def test_a_second_daemon_on_the_same_store_is_refused_and_the_first_keeps_its_pid_file(
    setup: Setup, start_daemon: Any
) -> None:
    """Someone runs `triaged run -c /etc/triaged/triaged.yaml` by hand beside systemd's
    copy: it must refuse in one line naming the running one, not fight it for the
    store and delete its pid file. After a kill -9 the next start is not refused."""
    first = start_daemon(setup.config)
    first.wait_event("daemon_started")
    second = subprocess.run(
        [TRIAGED, "run", "--config", str(setup.config)],
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1
    error = second.stderr.strip().splitlines()[-1]
    assert f"another triaged (pid {first.proc.pid}) is running on {setup.db.resolve()}" in error
    assert (setup.dir / "triaged.pid").read_text().strip() == str(first.proc.pid)
    reloaded = reload_cli(setup, "--signal")
    assert reloaded.returncode == 0, "reload still reaches the running daemon"
    assert reloaded.stdout.startswith("reloaded: 1 rules")

    first.kill()  # SIGKILL: no clean-up ran, the lock file is still there
    third = start_daemon(setup.config)
    third.wait_event("daemon_started")
    assert third.stop() == 0


def test_http_listen_in_use_names_the_setting(setup: Setup, start_daemon: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        setup.write(port=port)
        d = start_daemon(setup.config)
        assert d.proc.wait(30) == 1
    assert f"http.listen 127.0.0.1:{port} is already in use (another triaged?)" in d.log_path.read_text()


def test_a_burst_of_signals_neither_deadlocks_nor_deafens_the_daemon(setup: Setup, start_daemon: Any) -> None:
    """200 SIGHUPs back to back (a config tool in a loop): the daemon still reloads a
    changed rule file afterwards and stops on SIGTERM with exit 0. Signal handlers that
    took a lock the main thread held deadlocked it in two runs of three."""
    d = start_daemon(setup.config)
    d.wait_event("daemon_started")
    for _ in range(200):
        d.signal(signal.SIGHUP)
    setup.rules.write_text(RULES + SECOND_RULE)
    d.signal(signal.SIGHUP)
    wait_until(lambda: any(e.get("rules") == 2 for e in d.named("rules_loaded")), what="the 2-rule reload")
    assert d.stop(timeout=15) == 0
