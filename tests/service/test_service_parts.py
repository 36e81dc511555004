"""The service parts one at a time: sd_notify over a real datagram socket, the
watchdog withholding pings from a stuck loop, the dead-man's switch, tokens, redaction."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import structlog

from triaged import log as logsetup
from triaged.notifiers.webhook import WebhookNotifier
from triaged.service.auth import BearerAuth, TokenError, load_token
from triaged.service.heartbeat import DeadMansSwitch
from triaged.service.sdnotify import SdNotifier, watchdog_interval
from triaged.service.watchdog import LoopProgress, Watchdog
from triaged.testing.receiver import RecordingReceiver

from .conftest import NotifySocket


class Mono:
    """A hand-stepped monotonic clock."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("abstract", [True, False])
def test_sd_notify_messages_arrive_as_systemd_reads_them(notify_socket: Any, abstract: bool) -> None:
    sock: NotifySocket = notify_socket(abstract)
    sd = SdNotifier(sock.address)
    assert sd.ready(status="running: 2 sources")
    assert sd.watchdog()
    assert sd.reloading()
    assert sd.stopping()
    sd.close()
    sock.poll()
    assert sock.received[0] == {"READY": "1", "STATUS": "running: 2 sources"}
    assert sock.received[1] == {"WATCHDOG": "1"}
    assert sock.received[2]["RELOADING"] == "1" and sock.received[2]["MONOTONIC_USEC"].isdigit()
    assert sock.received[3] == {"STOPPING": "1"}


def test_sd_notify_outside_systemd_or_with_a_dead_socket_is_harmless(tmp_path: Path) -> None:
    assert not SdNotifier.from_env({}).ready()
    assert not SdNotifier(str(tmp_path / "gone")).ready()


def test_a_manager_that_stops_reading_never_blocks_a_notification(notify_socket: Any) -> None:
    """The socket's queue holds ten datagrams; the eleventh send used to block the
    watchdog thread for good. Now it fails at once, logged, and the caller goes on."""
    sock: NotifySocket = notify_socket(True)  # never read while we send
    notifier = SdNotifier(sock.address)
    started = time.monotonic()
    sent = [notifier.watchdog() for _ in range(50)]
    assert time.monotonic() - started < 1.0
    assert sent[0] and not sent[-1]


def test_watchdog_interval_comes_from_systemd_and_only_for_our_pid() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None


def test_a_stuck_loop_stops_the_watchdog_pings(notify_socket: Any) -> None:
    """Pings follow cycle completions: when cycles stop, so do pings; when they
    resume, so do pings."""
    sock: NotifySocket = notify_socket(True)
    clock = Mono()
    progress = LoopProgress(1.0, clock=clock)
    dog = Watchdog(SdNotifier(sock.address), progress, 10.0, stale_after_s=10.0)
    progress.cycle_started()
    progress.cycle_done()
    assert dog.tick()
    clock.t += 9.0
    assert dog.tick()
    clock.t += 2.0  # 11 s without a completed cycle: stuck
    assert not dog.tick()
    assert not dog.tick()
    sock.poll()
    assert sock.received == [{"WATCHDOG": "1"}, {"WATCHDOG": "1"}]
    progress.cycle_started()
    progress.cycle_done()
    assert dog.tick()


def test_failing_cycles_keep_the_watchdog_fed_but_not_healthz(notify_socket: Any) -> None:
    """A full disk fails every cycle, and the loop goes on and recovers by itself: a
    watchdog restart every WatchdogSec would only lose the in-memory state. /healthz
    (progress.healthy) still says the daemon is not detecting."""
    sock: NotifySocket = notify_socket(True)
    clock = Mono()
    progress = LoopProgress(1.0, clock=clock)
    dog = Watchdog(SdNotifier(sock.address), progress, 10.0, stale_after_s=10.0)
    progress.cycle_started()
    progress.cycle_done()
    for _ in range(30):  # 30 s of cycles failing with "database or disk is full"
        clock.t += 1.0
        progress.cycle_started()
        progress.cycle_failed()
        assert dog.tick(), "the loop turns: no restart"
    assert not progress.healthy(10.0) and progress.age() == pytest.approx(30.0)
    clock.t += 11.0  # and when the loop itself stops turning, the pings stop
    assert not dog.tick()


def test_loop_lag_is_how_late_a_cycle_started() -> None:
    clock = Mono()
    progress = LoopProgress(1.0, clock=clock)
    progress.cycle_started()
    clock.t += 0.5
    progress.cycle_done()
    assert progress.last_duration_s == 0.5
    clock.t += 3.0  # next start 3.5 s after the previous one: 2.5 s late
    progress.cycle_started()
    assert progress.lag_s == pytest.approx(2.5)


def test_dead_mans_switch_beats_only_while_the_loop_works() -> None:
    results: list[str] = []
    clock = Mono()
    progress = LoopProgress(1.0, clock=clock)
    progress.cycle_started()
    progress.cycle_done()
    with RecordingReceiver() as hook:
        switch = DeadMansSwitch(
            WebhookNotifier("hb", hook.url), progress, stale_after_s=60, record=results.append, host="box1"
        )
        assert switch.beat(1_700_000_000.0) == "sent"
        payload = hook.payloads()[0]
        assert payload["event"] == "heartbeat"
        assert payload["commonLabels"]["alertname"] == "TriagedHeartbeat"
        assert payload["commonLabels"]["host"] == "box1"
        hook.fail_next = 1
        assert switch.beat(1_700_000_300.0) == "failed"
        clock.t += 61
        assert switch.beat(1_700_000_600.0) == "skipped"
        assert len(hook.payloads()) == 1
    assert results == ["sent", "failed", "skipped"]


def test_token_from_file_or_env_and_constant_time_check(tmp_path: Path) -> None:
    token = "a" * 20 + "b" * 12
    f = tmp_path / "token"
    f.write_text(token + "\n")
    assert load_token(str(f), "", {}) == token
    assert load_token("", "TOK", {"TOK": token}) == token
    auth = BearerAuth(token)
    assert auth.allows(f"Bearer {token}") and auth.allows(f"bearer {token}")
    assert not auth.allows(None) and not auth.allows(token) and not auth.allows(f"Bearer {token}x")
    with pytest.raises(TokenError, match="cannot read"):
        load_token(str(tmp_path / "missing"), "", {})
    with pytest.raises(TokenError, match=r"\$TOK is not set"):
        load_token("", "TOK", {})
    with pytest.raises(TokenError, match="shorter than"):
        load_token("", "TOK", {"TOK": "short"})
    with pytest.raises(TokenError, match="set token_file or token_env"):
        load_token("", "", {})
    latin1 = tmp_path / "latin1-token"
    latin1.write_bytes(b"caf\xe9-" + b"x" * 30)
    with pytest.raises(TokenError, match=r"not UTF-8 \(at offset 3\)") as info:
        load_token(str(latin1), "", {})
    assert "caf" not in str(info.value), "the token's bytes never reach the message"


def test_a_registered_secret_never_reaches_the_log() -> None:
    out = io.StringIO()
    logsetup.configure("info", "json", stream=out)
    secret = "s3cr3t-value-0123456789"
    logsetup.register_secret(secret)
    try:
        structlog.get_logger("t").error("failed", error=f"POST https://x/?k={secret} failed", detail=[secret])
    finally:
        structlog.reset_defaults()
    line = json.loads(out.getvalue())
    assert secret not in out.getvalue()
    assert line["error"] == "POST https://x/?k=[redacted] failed"
