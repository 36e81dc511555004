"""Runs a :class:`~triaged.runner.Runner` as a service: systemd readiness and watchdog,
the HTTP server, the dead-man's switch, reloads and the graceful stop.

``triaged run`` builds the daemon, hands the runner to :class:`ServiceHost`, and
turns signals into calls here (SIGHUP → :meth:`reload`, SIGTERM → :meth:`stop`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from triaged.config import Config, load_config
from triaged.errors import ConfigError, describe
from triaged.incidents.human import HumanActions
from triaged.log import configure as configure_logging
from triaged.service import reload_status
from triaged.service.auth import BearerAuth, TokenError, load_token
from triaged.service.heartbeat import DeadMansSwitch
from triaged.service.httpapi import Api, ApiServer
from triaged.service.preflight import required_problems
from triaged.service.sdnotify import SdNotifier, watchdog_interval
from triaged.service.selfmetrics import SelfMetrics, ServiceStats
from triaged.service.watchdog import Watchdog
from triaged.service_config import HttpConfig
from triaged.tsdb import snapshot

if TYPE_CHECKING:
    from triaged.app import CycleReport
    from triaged.runner import Runner

log = structlog.get_logger("triaged.service")

# Without a systemd watchdog, the loop counts as stuck (for /healthz and the
# heartbeat) after this long without a completed cycle.
DEFAULT_STALE_S = 120.0
# Config fields a reload applies (or that are about the file, not settings: path,
# rule_files_line, warnings); any other change waits for a restart. http: see _with_token.
_RELOADABLE = {
    *("path", "rule_files", "rule_files_line", "warnings"),
    *("targets", "probes", "notifiers", "routes", "alerting", "http", "log_level", "log_format"),
    *("evaluation_interval_s", "lifecycle", "incidents"),
}
# Config fields that are not named as in the file, by the key an SRE edited.
_FILE_KEYS = {"db_path": "storage.db", "retention_s": "storage.retention", "max_series": "storage.max_series"}


class ServiceHost:
    def __init__(
        self,
        runner: Runner,
        config_path: str,
        *,
        sd: SdNotifier | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.runner = runner
        self.config_path = config_path
        self.environ = os.environ if environ is None else environ
        self.sd = sd or SdNotifier.from_env(dict(self.environ))
        self.stats = ServiceStats()
        self.metrics = SelfMetrics(runner, self.stats)
        self.ready = False
        self._reload_lock = threading.Lock()
        cfg = runner.daemon.cfg
        self._running_cfg = cfg  # what is actually in effect, for "needs restart" warnings
        wd_timeout = watchdog_interval(dict(self.environ))
        self.stale_after_s = wd_timeout or DEFAULT_STALE_S
        self.watchdog = (
            Watchdog(self.sd, runner.progress, wd_timeout, stale_after_s=wd_timeout) if wd_timeout else None
        )
        self._chain_cycle_hook()
        self.api: Api | None = None
        self.http: ApiServer | None = None
        if cfg.http.enabled:
            self.api = self._build_api(cfg)
            self.http = ApiServer(
                cfg.http.host,
                cfg.http.port,
                self.api,
                timeout_s=cfg.http.request_timeout_s,
                max_connections=cfg.http.max_connections,
            )
        self.heartbeat = self._build_heartbeat(cfg)
        self.reload_status_file = reload_status.path_beside(pid_file_for(cfg))

    # -- wiring ------------------------------------------------------------------------
    def _chain_cycle_hook(self) -> None:
        previous = self.runner.daemon.on_cycle

        def on_cycle(report: CycleReport) -> None:
            self.stats.observe_cycle(report)
            if previous is not None:
                previous(report)

        self.runner.daemon.on_cycle = on_cycle

    def _build_api(self, cfg: Config) -> Api:
        d = self.runner.daemon
        token = load_token(cfg.http.token_file, cfg.http.token_env, self.environ)
        return Api(
            store=d.store,
            actions=HumanActions(d.store, d.incidents.router),
            auth=BearerAuth(token),
            now=d.clock.now,
            metrics=self.metrics.render,
            live=self.live,
            ready=self.readiness,
            reload=self.reload,
            evaluate=d.evaluate,
            on_request=self.stats.http_request,
            max_body_bytes=cfg.http.max_body_bytes,
        )

    def _build_heartbeat(self, cfg: Config) -> DeadMansSwitch | None:
        if cfg.heartbeat is None:
            return None
        notifier = self.runner.daemon.dispatcher.notifiers[cfg.heartbeat.receiver]
        return DeadMansSwitch(
            notifier, self.runner.progress, stale_after_s=self.stale_after_s, record=self.stats.heartbeat
        )

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start everything, then tell systemd we are ready (config, rules and store
        are loaded by the time a runner exists; the server is listening)."""
        d = self.runner.daemon
        self._restore_series()
        if self.http is not None:
            self.http.start()
        self.runner.start()
        if self.heartbeat is not None and d.cfg.heartbeat is not None:
            beat = self.heartbeat
            self.runner.scheduler.add_job(
                lambda: beat.beat(d.clock.now()),
                "interval",
                seconds=d.cfg.heartbeat.interval_s,
                id="deadman",
                next_run_time=datetime.now(UTC),  # the first beat says "up" at once
            )
        if d.lifecycle is not None:
            # The daily reminders are a cron job, which has no catch-up: a daemon down
            # at remind_at would skip the day. Run them once now if their time passed
            # today (their dedup keys make a second run that day add nothing).
            catch_up = d.lifecycle.catch_up
            self.runner.scheduler.add_job(
                lambda: catch_up(d.clock.now()), id="reminders_catch_up", next_run_time=datetime.now(UTC)
            )
        if self.watchdog is not None:
            self.watchdog.start()
        self.ready = True
        self.sd.ready(status=self._status())

    def stop(self, flush_s: float = 5.0) -> None:
        """Finish the current cycle, flush the outbox within ``flush_s``, stop."""
        self.ready = False
        self.sd.stopping(status="stopping: finishing the cycle, flushing the outbox")
        log.info("daemon_stopping", flush_s=flush_s)
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.http is not None:
            self.http.stop()
        self.runner.stop(flush_s=flush_s)
        self._save_series()
        self.sd.close()

    # -- the series across a planned restart ---------------------------------------------
    def _snapshot_path(self) -> Path | None:
        db = self.runner.daemon.cfg.db_path
        return None if db == ":memory:" else snapshot.path_for(db)

    def _restore_series(self) -> None:
        """Before the first cycle: the series the last clean stop left (once)."""
        path = self._snapshot_path()
        if path is None:
            return
        d = self.runner.daemon
        try:
            done = snapshot.load(d.storage, path, int(d.clock.now() * 1000))
        # A boundary: whatever the file holds, the daemon starts (empty, as without it).
        except (snapshot.SnapshotError, OSError, MemoryError) as exc:
            d.storage.clear()  # what was read before the bad part goes too: no half state
            log.warning("tsdb_snapshot_unreadable", error=describe(exc), action="starting with no series")
            return
        if done.skipped:
            return
        gone = d.forget_unknown_sources(d.clock.now())
        log.info(
            "tsdb_snapshot_restored",
            series=done.series,
            points=done.points,
            seconds=round(done.seconds, 2),
            **({"stale_sources": gone} if gone else {}),
        )

    def _save_series(self) -> None:
        """After the last cycle: what the next start needs for its rate() windows and
        evidence charts. A failure (a full disk) costs only that, said in one line."""
        path = self._snapshot_path()
        if path is None:
            return
        try:
            done = snapshot.save(self.runner.daemon.storage, path)
        except OSError as exc:
            log.warning("tsdb_snapshot_failed", path=str(path), error=describe(exc))
            return
        if done.skipped:
            log.info("tsdb_snapshot_skipped", reason=done.skipped)
        else:
            log.info(
                "tsdb_snapshot_written",
                series=done.series,
                points=done.points,
                seconds=round(done.seconds, 2),
            )

    def _status(self) -> str:
        d = self.runner.daemon
        rules = sum(len(g.rules) for g in d.rules.groups)
        return f"running: {len(d.sources)} sources, {rules} rules"

    # -- health ------------------------------------------------------------------------
    def live(self) -> tuple[bool, str]:
        if self.runner.daemon.store_problem is not None:
            # /healthz needs no token: say what, not where (the log line has the path).
            return False, "the store's file was deleted or replaced while open: see store_replaced in the log"
        progress = self.runner.progress
        age, failing = progress.age(), progress.failing
        if age > self.stale_after_s:
            return False, f"no cycle completed for {age:.0f}s" + (f": {failing}" if failing else "")
        if failing:
            # Still within the grace a transient failure gets (the dead man's switch
            # waits as long): healthy, but whoever looks sees what is going wrong.
            return True, f"last completed cycle {age:.1f}s ago; the latest failed: {failing}"
        return True, f"last cycle {age:.1f}s ago"

    def readiness(self) -> tuple[bool, str]:
        if not self.ready:
            return False, "starting or stopping"
        if self.runner.progress.cycles == 0:
            return False, "first cycle not completed yet"
        return self.live()

    # -- reload ------------------------------------------------------------------------
    def reload(self) -> dict[str, Any]:
        """Re-read config and rules. A broken file keeps the old rules running, is
        logged once and counted; alert state of unchanged rules is kept. The outcome
        is also left in the state dir for ``triaged reload``, which sent the signal."""
        with self._reload_lock:
            started = time.monotonic()
            self.sd.reloading()
            outcome: dict[str, Any] = {"ok": False, "errors": ["reload did not complete"]}
            try:
                outcome = self._reload(self._running_cfg)
            # A boundary: whatever a file holds, a reload must not take the daemon down.
            except Exception as exc:
                outcome = {"ok": False, "errors": [f"{self.config_path}: {describe(exc)}"]}
                log.error("reload_failed", errors=outcome["errors"], problems=1)
            finally:
                ok = bool(outcome.get("ok"))
                self.stats.reloaded(ok, self.runner.daemon.clock.now())
                self.sd.ready(status=self._status() if ok else "reload failed; previous rules still running")
                reload_status.write(self.reload_status_file, outcome, started=started)
            return outcome

    def _reload(self, old: Config) -> dict[str, Any]:
        try:
            cfg = load_config(self.config_path)
        except ConfigError as exc:  # a check that collected several problems lists each one
            problems = [str(e) for e in getattr(exc, "errors", None) or [exc]]
            log.error("reload_failed", errors=problems, problems=len(problems))
            return {"ok": False, "errors": problems}
        problems = [_in_daemon_env(p) for p in required_problems(cfg, self.environ)]
        if problems:
            log.error("reload_failed", errors=problems, problems=len(problems))
            return {"ok": False, "errors": problems}
        result = self.runner.daemon.reload(cfg)
        if not result.ok:
            return {"ok": False, "errors": [str(e) for e in result.errors]}
        self.stats.forget_sources(result.sources.removed)
        self._reload_token(cfg)
        self._reload_logging(old, cfg)
        self.runner.retick()
        self.runner.replan_reminders(cfg.lifecycle.actions.remind_at)
        changed = restart_only_changes(old, cfg)
        self._running_cfg = applied(old, cfg)
        if self.heartbeat is not None and old.heartbeat is not None:
            # Its receiver's settings may have changed: beat through the one now in use.
            notifiers = self.runner.daemon.dispatcher.notifiers
            self.heartbeat.notifier = notifiers.get(old.heartbeat.receiver, self.heartbeat.notifier)
        if changed:
            log.warning("reload_needs_restart", sections=changed)
        return {
            "ok": True,
            "rules": result.rules,
            "kept_alerts": result.kept_alerts,
            "sources": {
                "added": list(result.sources.added),
                "removed": list(result.sources.removed),
                "changed": list(result.sources.changed),
            },
            "retiring": list(result.retiring),
            "needs_restart": changed,
        }

    def _reload_logging(self, old: Config, cfg: Config) -> None:
        # `log.level: debug` for a while, without a restart that empties the series.
        if (old.log_level, old.log_format) != (cfg.log_level, cfg.log_format):
            configure_logging(cfg.log_level, cfg.log_format)
            log.info("log_reconfigured", level=cfg.log_level, format=cfg.log_format)

    def _reload_token(self, cfg: Config) -> None:
        # A rotated token takes effect on reload; a broken one keeps the old.
        if self.api is None or not cfg.http.enabled:
            return
        try:
            self.api.auth = BearerAuth(load_token(cfg.http.token_file, cfg.http.token_env, self.environ))
        except TokenError as exc:
            log.error("token_reload_failed", error=str(exc))


_UNSET = re.compile(r"\$\w+ is (?:not set or empty|empty or unset)")


def _in_daemon_env(problem: str) -> str:
    """An unset variable is unset in the daemon's environment, which it has had since
    it started, not in the shell of whoever asked for the reload."""
    if not _UNSET.search(problem):
        return problem
    return (
        f"{problem}: in the daemon's environment (pid {os.getpid()}), which a reload does not change;"
        " set it where the daemon is started (the unit's Environment= or EnvironmentFile=) and restart"
    )


def _with_token(http: HttpConfig, new: Config) -> HttpConfig:
    return dataclasses.replace(http, token_file=new.http.token_file, token_env=new.http.token_env)


def applied(old: Config, new: Config) -> Config:
    """What runs after a reload from ``old`` to ``new``: the reloadable settings of
    ``new``, the rest still ``old``'s (so the next reload names them again)."""
    taken = _RELOADABLE - {"incidents", "http"}  # only part of these is applied
    return dataclasses.replace(
        old,
        **{f.name: getattr(new, f.name) for f in dataclasses.fields(Config) if f.name in taken},
        incidents=dataclasses.replace(
            old.incidents,
            resolve_hold_s=new.incidents.resolve_hold_s,
            reopen_window_s=new.incidents.reopen_window_s,
        ),
        http=_with_token(old.http, new),
    )


def restart_only_changes(old: Config, new: Config) -> list[str]:
    """Settings that differ but only take effect after a restart, named as in the
    file (``storage.db``, ``incidents.group_by``): those outside ``_RELOADABLE``."""
    changed = []
    for f in dataclasses.fields(Config):
        before, after = getattr(old, f.name), getattr(new, f.name)
        if f.name not in _RELOADABLE and before != after:
            changed.append(_FILE_KEYS.get(f.name, f.name))
    if _with_token(old.http, new) != new.http:
        changed.append("http")
    if old.incidents.group_by != new.incidents.group_by:  # its hold and reopen window reload
        changed.append("incidents.group_by")
    return sorted(changed)


def pid_file_for(cfg: Config) -> Path:
    """Where ``triaged run`` records its pid: beside the database, in the state dir."""
    return Path(cfg.db_path).resolve().parent / "triaged.pid"
