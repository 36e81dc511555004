"""What must be true before triaged may run, checked at start and by ``triaged check``.

The seed outage was a setting missing in production that nothing validated. Settings
that YAML parsing cannot judge alone (they depend on another section, a file or the
environment) are declared here, in one table, :data:`REQUIREMENTS`; ``triaged run``
refuses to start and ``triaged check`` exits 1 while any of them fails.

``--connect`` goes further: each target and probe is polled once, each webhook's
host must accept a TCP connection (nothing is posted), and OCI credentials and
services are exercised by :func:`triaged.cloud.auth.connect_check`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

from triaged.config import Config
from triaged.errors import ConfigError
from triaged.service.auth import TokenError, load_token
from triaged.sources.base import Source

log = structlog.get_logger("triaged.preflight")

Env = Mapping[str, str]


@dataclass(frozen=True)
class Requirement:
    """One feature's required settings: ``applies`` says whether the config uses the
    feature, ``problems`` lists what is missing (empty when satisfied)."""

    feature: str
    needs: str
    applies: Callable[[Config], bool]
    problems: Callable[[Config, Env], list[str]]


def _rules(cfg: Config, _: Env) -> list[str]:
    return [] if cfg.rule_files else ["rule_files: at least one rule file is required"]


def _webhooks(cfg: Config, _: Env) -> list[str]:
    return [
        f"notifiers.{n.name}: a webhook notifier needs url"
        for n in cfg.notifiers
        if n.type == "webhook" and not n.url
    ]


def _ons(cfg: Config, _: Env) -> list[str]:
    names = [n.name for n in cfg.notifiers if n.type == "ons"]
    topics = (((cfg.oci or {}).get("notifiers") or {}).get("ons") or {}).get("topics") or {}
    if names and not topics:
        return [f"notifiers.{', '.join(names)}: type ons needs oci.notifiers.ons.topics (topic OCIDs)"]
    return []


def _pagerduty(cfg: Config, env: Env) -> list[str]:
    from triaged.notifiers.pagerduty import routing_key  # noqa: PLC0415 - only when used

    problems = []
    for n in cfg.notifiers:
        if n.type == "pagerduty":
            try:
                routing_key(n.name, n.raw, env)
            except ConfigError as exc:
                problems.append(exc.message)
    return problems


def _http_token(cfg: Config, env: Env) -> list[str]:
    try:
        load_token(cfg.http.token_file, cfg.http.token_env, env)
    except TokenError as exc:
        return [str(exc)]
    return []


def _notify_routes(cfg: Config, _: Env) -> list[str]:
    return [] if cfg.notifiers else ["notifiers: at least one notifier is required (nobody would be paged)"]


def _db_dir(cfg: Config, _: Env) -> list[str]:
    parent = os.path.dirname(os.path.abspath(cfg.db_path))
    if not os.path.isdir(parent):
        return [f"storage.db: directory {parent} does not exist (StateDirectory= under systemd)"]
    if not os.access(parent, os.W_OK):
        if os.statvfs(parent).f_flag & os.ST_RDONLY:  # no chmod or chown would help
            return [f"storage.db: directory {parent} is on a read-only file system"]
        return [f"storage.db: directory {parent} is not writable by this user"]
    return _db_files(os.path.abspath(cfg.db_path))


def _db_files(db: str) -> list[str]:
    """SQLite opens a store it may not write read-only, without a word; the daemon
    would start and then fail every cycle. Typical after a restore or a command run
    as root on the host: the file, or its -wal/-shm, owned by another user."""
    if os.path.isdir(db):
        return [f"storage.db: {db} is a directory: give the path of the store's file inside it"]
    for path in (db, f"{db}-wal", f"{db}-shm"):
        if os.path.exists(path) and not os.access(path, os.W_OK):
            owner = _owner(path)
            return [
                f"storage.db: {path} is not writable by this user (it belongs to {owner}):"
                " the daemon could not record anything; chown it to the user that runs triaged"
            ]
    return []


def _owner(path: str) -> str:
    import pwd  # noqa: PLC0415 - only for this message

    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _always(_: Config) -> bool:
    return True


def _uses(kind: str) -> Callable[[Config], bool]:
    return lambda cfg: any(n.type == kind for n in cfg.notifiers)


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("rules", "rule_files", _always, _rules),
    Requirement("paging", "at least one notifier", _always, _notify_routes),
    Requirement("storage", "a writable storage.db directory", _always, _db_dir),
    Requirement("webhook notifier", "url", _uses("webhook"), _webhooks),
    Requirement("ons notifier", "oci.notifiers.ons.topics (topic OCIDs)", _uses("ons"), _ons),
    Requirement("pagerduty notifier", "routing_key_env (or routing_key)", _uses("pagerduty"), _pagerduty),
    Requirement("http api", "http.token_file or http.token_env", lambda c: c.http.enabled, _http_token),
)


def required_problems(cfg: Config, env: Env | None = None) -> list[str]:
    """Every unmet requirement of the features ``cfg`` uses, one line each."""
    environ = os.environ if env is None else env
    problems: list[str] = []
    for req in REQUIREMENTS:
        if req.applies(cfg):
            problems.extend(f"{cfg.path}: {p}" for p in req.problems(cfg, environ))
    return problems


def oci_offline_problems(cfg: Config) -> list[str]:
    """The OCI section's own checks that need no network (key file, profile, OCIDs)."""
    if cfg.oci is None:
        return []
    from triaged.cloud.auth import preflight  # noqa: PLC0415 - the cloud package is optional
    from triaged.cloud.parse_config import parse_oci_config  # noqa: PLC0415

    try:
        oci_cfg = parse_oci_config(cfg.oci, file=cfg.path)
    except ConfigError as exc:
        return [str(exc)]
    # Prefixed with the config file, as every other problem `triaged check` prints.
    return [f"{cfg.path}: {p}" for p in preflight(oci_cfg)]


# -- --connect -------------------------------------------------------------------------
@dataclass(frozen=True)
class Reach:
    what: str
    ok: bool
    detail: str = ""


def check_sources(sources: Sequence[Source], now: float) -> list[Reach]:
    """Poll each source once. Sources never raise; a failure is their error text."""
    results = []
    for source in sources:
        collected = source.collect(now)
        results.append(Reach(source.key, collected.error is None, collected.error or ""))
    return results


def check_webhooks(cfg: Config, timeout_s: float) -> list[Reach]:
    """A TCP connect to each webhook's host and port: proves routing and firewall
    rules without sending a page."""
    results = []
    for n in cfg.notifiers:
        if n.type != "webhook":
            continue
        parts = urlsplit(n.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        what = f"notifier/{n.name} {parts.hostname}:{port}"
        try:
            with socket.create_connection((parts.hostname or "", port), timeout=timeout_s):
                results.append(Reach(what, True))
        except OSError as exc:
            results.append(Reach(what, False, exc.strerror or type(exc).__name__))
    return results


def check_oci(cfg: Config, now: float, timeout_s: float) -> list[Reach]:
    if cfg.oci is None:
        return []
    from triaged.cloud.auth import connect_check  # noqa: PLC0415 - the cloud package is optional
    from triaged.cloud.parse_config import parse_oci_config  # noqa: PLC0415

    try:
        oci_cfg = parse_oci_config(cfg.oci, file=cfg.path)
    except ConfigError as exc:
        return [Reach("oci", False, str(exc))]
    problems = connect_check(oci_cfg, now=now, timeout=timeout_s)
    return [Reach("oci", False, p) for p in problems] or [Reach("oci", True)]


def connect_checks(cfg: Config, sources: Sequence[Source], now: float, timeout_s: float = 5.0) -> list[Reach]:
    results = check_sources(sources, now) + check_webhooks(cfg, timeout_s) + check_oci(cfg, now, timeout_s)
    for r in results:
        if not r.ok:
            log.warning("preflight_unreachable", target=r.what, error=r.detail)
    return results
