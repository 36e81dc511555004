"""Fixtures for the service tests: a config directory with a rule that fires at once,
a webhook receiver, a scrape target, a datagram socket standing in for systemd's
NOTIFY_SOCKET, and a real `triaged run` subprocess whose JSON log can be read."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from triaged.testing.receiver import RecordingReceiver

TRIAGED = str(Path(sys.executable).with_name("triaged"))
TOKEN = "test-token-5f0c1d9e8a7b6c5d4e3f2a1b"

RULES = """groups:
  - name: shop
    interval: 1s
    rules:
      - alert: ShopDown
        expr: vector(1)
        labels: {severity: P1, service: shop}
        annotations: {summary: "shop is down"}
"""

CONFIG = """storage:
  db: {db}
scrape:
  interval: 1s
  timeout: 1s
evaluation_interval: 1s
rule_files: [{rules}]
targets:
  - job: shop
    url: {target}
notifiers:
  - name: hook
    type: webhook
    url: {hook}
    timeout: 2s
outbox:
  interval: 1s
  base_backoff: {backoff}
incidents:
  group_by: [service]
http:
  listen: 127.0.0.1:{port}
  token_env: TRIAGED_API_TOKEN
  max_body_bytes: 1024
log:
  level: debug
  format: json
{extra}"""


@dataclass
class Setup:
    dir: Path
    config: Path
    rules: Path
    db: Path
    receiver: RecordingReceiver
    target: str
    values: dict[str, Any] = field(default_factory=dict)

    def write(self, *, port: int = 0, backoff: str = "2s", extra: str = "") -> Path:
        self.values = {"port": port, "backoff": backoff, "extra": extra}
        self.config.write_text(
            CONFIG.format(
                db=self.db, rules=self.rules, target=self.target, hook=self.receiver.url, **self.values
            )
        )
        return self.config


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    with RecordingReceiver() as r:
        yield r


@pytest.fixture
def setup(tmp_path: Path, receiver: RecordingReceiver, httpserver: HTTPServer) -> Setup:
    httpserver.expect_request("/metrics").respond_with_data("shop_up 1\n", content_type="text/plain")
    rules = tmp_path / "shop.rules.yml"
    rules.write_text(RULES)
    s = Setup(
        tmp_path,
        tmp_path / "triaged.yaml",
        rules,
        tmp_path / "triaged.db",
        receiver,
        httpserver.url_for("/metrics"),
    )
    s.write()
    return s


def free_port() -> int:
    """A port free right now (for configs that a second process must read)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class NotifySocket:
    """What systemd listens on: a datagram socket; abstract (``@name``) or a path."""

    def __init__(self, abstract: bool) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._dir: str | None = None
        if abstract:
            self.address = f"@triaged-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + self.address[1:])
        else:
            self._dir = tempfile.mkdtemp(prefix="trn")  # short: AF_UNIX paths max ~107 bytes
            self.address = os.path.join(self._dir, "notify")
            self.sock.bind(self.address)
        self.sock.settimeout(0.2)
        self.received: list[dict[str, str]] = []

    def poll(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, BlockingIOError):
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.received.append(fields)

    def wait_for(self, key: str, value: str | None = None, timeout: float = 15.0, after: int = 0) -> int:
        """Index of the first message at or after ``after`` with ``key`` (= ``value``)."""

        def find() -> int | None:
            self.poll()
            for i, msg in enumerate(self.received[after:], after):
                if key in msg and (value is None or msg[key] == value):
                    return i + 1  # truthy even for index 0
            return None

        return int(wait_until(find, timeout, f"{key}={value} on NOTIFY_SOCKET")) - 1

    def close(self) -> None:
        self.sock.close()
        if self._dir:
            Path(self.address).unlink(missing_ok=True)
            os.rmdir(self._dir)


class DaemonProcess:
    def __init__(self, config: Path, log_path: Path, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [TRIAGED, "run", "--config", str(config), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("event") == event]

    def wait_event(self, event: str, timeout: float = 15.0, count: int = 1) -> dict[str, Any]:
        def found() -> list[dict[str, Any]]:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log_path.read_text()}")
            hits = self.named(event)
            return hits if len(hits) >= count else []

        return list(wait_until(found, timeout, f"log event {event}"))[count - 1]

    @property
    def port(self) -> int:
        return int(self.wait_event("http_listening")["port"])

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


def daemon_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_", "TRIAGED_"))}
    env.pop("JOURNAL_STREAM", None)
    env.pop("INVOCATION_ID", None)
    env.update(
        {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "TRIAGED_API_TOKEN": TOKEN}
    )
    env.update(extra)
    return env


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(config: Path, *args: str, **env: str) -> DaemonProcess:
        d = DaemonProcess(config, tmp_path / f"daemon{len(started)}.log", daemon_env(**env), args)
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()


@pytest.fixture
def notify_socket() -> Iterator[Callable[[bool], NotifySocket]]:
    made: list[NotifySocket] = []

    def make(abstract: bool = True) -> NotifySocket:
        s = NotifySocket(abstract)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
