"""The ``http:`` and ``heartbeat:`` sections: how the daemon itself is reached and how
its silence is noticed (the daemon's own API and its dead-man's switch)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from triaged.confnode import Problems, duration, expand_env, get_str, positive_int, req_str, section
from triaged.yamlfile import Node


@dataclass(frozen=True)
class HttpConfig:
    """The daemon's own HTTP server: /metrics, /healthz, /readyz and the API.
    Off unless the ``http:`` section is present; never without a token."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9467
    token_file: str = ""
    token_env: str = ""
    max_body_bytes: int = 64 * 1024
    request_timeout_s: float = 10.0
    # Connections served at once (each holds a thread); over it, a 503 at once.
    max_connections: int = 64


@dataclass(frozen=True)
class HeartbeatConfig:
    """Dead-man's switch: a heartbeat to ``receiver`` every ``interval_s`` while the loop
    is healthy, so the receiver's silence means triaged is down."""

    receiver: str
    interval_s: float = 300.0


def parse_http(doc: Node, base: Path, p: Problems) -> HttpConfig:
    """The ``http:`` section, every key checked (a broken one is added to ``p``)."""
    if "http" not in doc:
        return HttpConfig()
    n = section(doc, "http")
    p.only_keys(
        n,
        {"enabled", "listen", "token_file", "token_env", "max_body_bytes", "timeout", "max_connections"},
        "http",
    )
    host, port = p.attempt(lambda: _listen(n), ("127.0.0.1", 9467))
    token_file = p.attempt(lambda: expand_env(get_str(n, "token_file", "")), "")
    return HttpConfig(
        enabled=p.attempt(lambda: _enabled(n), True),
        host=host,
        port=port,
        token_file=str(base / token_file) if token_file else "",
        token_env=p.attempt(lambda: get_str(n, "token_env", ""), ""),
        max_body_bytes=p.attempt(lambda: positive_int(n, "max_body_bytes", 64 * 1024), 64 * 1024),
        request_timeout_s=p.duration(n, "timeout", 10.0, positive=True),
        max_connections=p.attempt(lambda: positive_int(n, "max_connections", 64), 64),
    )


def _listen(n: Node) -> tuple[str, int]:
    listen = get_str(n, "listen", "127.0.0.1:9467")
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise n.error("listen", f"http.listen must be host:port, e.g. 127.0.0.1:9467, got {listen!r}")
    return host.strip("[]"), int(port)


def _enabled(n: Node) -> bool:
    enabled = n.get("enabled", True)
    if not isinstance(enabled, bool):
        raise n.error("enabled", "http.enabled must be true or false")
    return enabled


def parse_heartbeat(
    doc: Node, receivers: set[str], p: Problems, *, pagers: Collection[str] = ()
) -> HeartbeatConfig | None:
    """The ``heartbeat:`` section, every key checked (a broken one is added to ``p``).
    ``pagers``: receivers that would page on every beat (PagerDuty), refused."""
    if "heartbeat" not in doc:
        return None
    n = section(doc, "heartbeat")
    p.only_keys(n, {"receiver", "interval"}, "heartbeat")
    return HeartbeatConfig(
        receiver=p.attempt(lambda: _heartbeat_receiver(n, receivers, pagers), ""),
        interval_s=p.attempt(lambda: _heartbeat_interval(n), 300.0),
    )


def _heartbeat_receiver(n: Node, receivers: set[str], pagers: Collection[str]) -> str:
    receiver = req_str(n, "receiver")
    if receiver not in receivers:
        raise n.error("receiver", f"heartbeat receiver {receiver!r} is not a configured notifier")
    if receiver in pagers:  # each beat would be a trigger: a page every interval
        raise n.error(
            "receiver",
            f"heartbeat receiver {receiver!r} is PagerDuty: every beat would page; send beats to a"
            " webhook of a dead-man's-switch service (e.g. healthchecks.io) or use oci.heartbeat",
        )
    return receiver


def _heartbeat_interval(n: Node) -> float:
    interval = duration(n, "interval", 300.0)
    if interval < 10:
        raise n.error("interval", "heartbeat.interval must be at least 10s")
    return interval
