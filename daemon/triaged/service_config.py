"""The ``http:`` and ``heartbeat:`` sections: how the daemon itself is reached and how
its silence is noticed (the daemon's own API and its dead-man's switch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from triaged.confnode import duration, expand_env, get_str, only_keys, positive_int, req_str, section
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


@dataclass(frozen=True)
class HeartbeatConfig:
    """Dead-man's switch: a heartbeat to ``receiver`` every ``interval_s`` while the loop
    is healthy, so the receiver's silence means triaged is down."""

    receiver: str
    interval_s: float = 300.0


def parse_http(doc: Node, base: Path) -> HttpConfig:
    if "http" not in doc:
        return HttpConfig()
    n = section(doc, "http")
    only_keys(n, {"enabled", "listen", "token_file", "token_env", "max_body_bytes", "timeout"}, "http")
    listen = get_str(n, "listen", "127.0.0.1:9467")
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise n.error("listen", f"http.listen must be host:port, e.g. 127.0.0.1:9467, got {listen!r}")
    enabled = n.get("enabled", True)
    if not isinstance(enabled, bool):
        raise n.error("enabled", "http.enabled must be true or false")
    token_file = expand_env(get_str(n, "token_file", ""))
    return HttpConfig(
        enabled=enabled,
        host=host.strip("[]"),
        port=int(port),
        token_file=str(base / token_file) if token_file else "",
        token_env=get_str(n, "token_env", ""),
        max_body_bytes=positive_int(n, "max_body_bytes", 64 * 1024),
        request_timeout_s=duration(n, "timeout", 10.0, positive=True),
    )


def parse_heartbeat(doc: Node, receivers: set[str]) -> HeartbeatConfig | None:
    if "heartbeat" not in doc:
        return None
    n = section(doc, "heartbeat")
    only_keys(n, {"receiver", "interval"}, "heartbeat")
    cfg = HeartbeatConfig(receiver=req_str(n, "receiver"), interval_s=duration(n, "interval", 300.0))
    if cfg.receiver not in receivers:
        raise n.error("receiver", f"heartbeat receiver {cfg.receiver!r} is not a configured notifier")
    if cfg.interval_s < 10:
        raise n.error("interval", "heartbeat.interval must be at least 10s")
    return cfg
