"""`triaged check` reports every broken key of a section or list item, not only the
first one, and `--connect` says each failure once, the listen address included."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from triaged.cli import cli
from triaged.config import load_config
from triaged.service.instance import acquire

RULES = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        labels: {severity: P1}\n"


def check(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", "--config", str(config), *args])
    return result.exit_code, result.output


def write_config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "a.rules.yml").write_text(RULES)
    config = tmp_path / "triaged.yaml"
    config.write_text(f"storage: {{db: {tmp_path / 't.db'}}}\nrule_files: [a.rules.yml]\n" + text)
    return config


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "scrape:\n  interval: 15\n  timeout: 0s\n",
            [
                (4, "interval: 15 is not a valid duration: give a unit, e.g. 15s or 15m"),
                (5, "timeout: must be longer than 0s, got '0s'"),
            ],
        ),
        (
            "notifiers:\n  - {name: log, type: log}\nroutes:\n  - receiver: nobody\n    severities: [P9]\n"
            "    events: [paged]\n",
            [
                (6, "route receiver 'nobody' is not a configured notifier"),
                (7, "unknown severity 'P9': use P0-P3 or one of critical, error, warning, info"),
                (8, "unknown event 'paged': use one of open, "),  # the rest: every event
            ],
        ),
        (
            "notifiers:\n  - {name: log, type: log}\nroute:\n  receiver: log\n  routes:\n"
            "    - receiver: nobody\n      severities: [P9]\n      continue: maybe\n      group_wait: 30\n",
            [
                (8, "route receiver 'nobody' is not a configured notifier"),
                (9, "unknown severity 'P9': use P0-P3 or one of critical, error, warning, info"),
                (10, "continue must be true or false"),
                (11, "group_wait: 30 is not a valid duration: give a unit, e.g. 30s or 30m"),
            ],
        ),
        (
            # timeout is not compared with a broken interval (no "longer than the interval")
            "targets:\n  - job: a\n    url: ftp://x\n    interval: 10\n    timeout: 30s\n    max_samples: -1\n",
            [
                (5, "url must start with http:// or https://: 'ftp://x'"),
                (6, "interval: 10 is not a valid duration: give a unit, e.g. 10s or 10m"),
                (8, "'max_samples' must be a positive integer"),
            ],
        ),
        (
            "notifiers:\n  - {name: log, type: log}\nheartbeat: {receiver: nobody, interval: 1s}\n"
            "http: {listen: nowhere, enabled: maybe}\n",
            [
                (5, "heartbeat receiver 'nobody' is not a configured notifier"),
                (5, "heartbeat.interval must be at least 10s"),
                (6, "http.listen must be host:port, e.g. 127.0.0.1:9467, got 'nowhere'"),
                (6, "http.enabled must be true or false"),
            ],
        ),
        (
            "maintenance:\n  - schedule: bogus\n    duration: 5\n    timezone: Mars/Base\n",
            [
                (4, "a maintenance window needs a name"),
                (4, "schedule 'bogus' needs 5 fields: minute hour day-of-month month day-of-week"),
                (4, "a maintenance window needs matchers (what it mutes), e.g. match: {service: x}"),
                (5, "duration: 5 is not a valid duration: give a unit, e.g. 5s or 5m"),
                (6, "unknown time zone 'Mars/Base' (use an IANA name like Asia/Kolkata)"),
            ],
        ),
    ],
    ids=["scrape", "flat-route", "route-tree", "target", "heartbeat-http", "maintenance"],
)
def test_a_broken_key_does_not_hide_the_next_one_of_the_same_item(
    tmp_path: Path, text: str, expected: list[tuple[int, str]]
) -> None:
    config = write_config(tmp_path, text)
    code, out = check(config)
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == len(expected) + 1, out
    for got, (line, message) in zip(lines, expected, strict=False):
        assert got.startswith(f"{config}:{line}: {message}"), got
    assert lines[-1] == f"{len(expected)} problem(s) found"


# -- check --connect --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connect_config(tmp_path: Path, port: int) -> Path:
    (tmp_path / "token").write_text("x" * 32)
    return write_config(
        tmp_path,
        "notifiers:\n  - {name: log, type: log}\n"
        f"http: {{listen: '127.0.0.1:{port}', token_file: token}}\n",
    )


def test_connect_prints_each_failure_once(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there once closed
    config = connect_config(tmp_path, free_port())
    config.write_text(
        config.read_text() + f"targets:\n  - {{job: shop, url: 'http://127.0.0.1:{dead}/metrics'}}\n"
    )
    code, out = check(config, "--connect", "--timeout", "2")
    assert code == 1
    fails = [line for line in out.splitlines() if "scrape/shop" in line]
    assert len(fails) == 1 and fails[0].startswith("FAIL  scrape/shop/"), out
    assert "unreachable:" not in out
    assert out.splitlines()[-1] == "1 problem(s) found"


def test_connect_binds_http_listen_and_lets_go(tmp_path: Path) -> None:
    port = free_port()
    code, out = check(connect_config(tmp_path, port), "--connect")
    assert code == 0, out
    assert f"ok    http.listen 127.0.0.1:{port}" in out.splitlines()
    with socket.socket() as again:  # closed at once: the daemon can have it
        again.bind(("127.0.0.1", port))


def test_connect_reports_http_listen_already_in_use(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code, out = check(connect_config(tmp_path, port), "--connect")
    assert code == 1
    assert f"FAIL  http.listen 127.0.0.1:{port} is already in use" in out.splitlines()
    assert out.splitlines()[-1] == "1 problem(s) found"


class _Healthz(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "ok", "detail": "loop ran 1s ago"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def running_triaged() -> Iterator[int]:
    """Something on a port that answers /healthz as the daemon does."""
    server = HTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_connect_accepts_http_listen_held_by_the_running_triaged(
    tmp_path: Path, running_triaged: int
) -> None:
    config = connect_config(tmp_path, running_triaged)
    lock = acquire(load_config(config).db_path)  # the daemon on this config's store
    try:
        code, out = check(config, "--connect")
    finally:
        lock.release()
    assert code == 0, out
    assert (
        f"ok    http.listen 127.0.0.1:{running_triaged} (held by the running triaged, pid {os.getpid()})"
        in out
    )


def test_connect_refuses_http_listen_held_by_a_triaged_on_another_store(
    tmp_path: Path, running_triaged: int
) -> None:
    """A second config on the same port: the daemon would fail with `already in use`."""
    config = connect_config(tmp_path, running_triaged)
    code, out = check(config, "--connect")
    assert code == 1
    db = load_config(config).db_path
    assert (
        f"FAIL  http.listen 127.0.0.1:{running_triaged} is held by another triaged (none runs on {db})" in out
    )
