"""Alerts in, incidents out: open, join, escalate, auto-resolve, reopen.

Every change and the notifications it causes are written in one transaction (record
before you act); the outbox dispatcher sends them afterwards. Running ``sync`` twice
with the same input changes nothing the second time, which is what makes a crash
between any two steps harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from triaged.alerts.flap import FlapPolicy, FlapVerdict, episode_starts, judge
from triaged.alerts.pipeline import AlertGroup, firing, group_alerts, group_key
from triaged.alerts.route import Router
from triaged.alerts.silence import Mute
from triaged.durations import format_duration
from triaged.incidents.evidence import lower_is_worse
from triaged.incidents.hand_severity import escalation_bar, override_note
from triaged.incidents.model import Incident, IncidentStatus, draft_outdated, transition
from triaged.incidents.muting import MuteStage
from triaged.incidents.notify import Notifications
from triaged.incidents.page_message import build_message, dedup_key, json_value
from triaged.messages import Event
from triaged.model import Severity, short_value
from triaged.rules.alerting import Alert, AlertState
from triaged.store import incidents as rows
from triaged.store import notify_state
from triaged.store.db import Store

log = structlog.get_logger("triaged.incidents")


@dataclass(frozen=True)
class IncidentPolicy:
    group_by: tuple[str, ...] = ("service",)
    resolve_hold_s: float = 300.0
    reopen_window_s: float = 1800.0
    default_severity: Severity = Severity.P3


@dataclass
class SyncResult:
    opened: list[int]
    escalated: list[int]
    resolved: list[int]
    reopened: list[int]
    enqueued: int = 0


def alert_severity(alert: Alert, default: Severity) -> Severity:
    try:
        return Severity.parse(alert.labels.get("severity", default.name))
    except ValueError:
        return default


class IncidentService:
    def __init__(
        self,
        store: Store,
        router: Router,
        policy: IncidentPolicy,
        *,
        mutes: MuteStage | None = None,
        flap: FlapPolicy | None = None,
    ) -> None:
        self.store = store
        self.router = router
        self.policy = policy
        self.mutes = mutes
        self.flap = flap or FlapPolicy()
        self.notify = Notifications(store, router)

    # -- alerts → incidents ------------------------------------------------------------
    def sync(self, alerts: Sequence[Alert], now: float) -> SyncResult:
        """Muted alerts (silence, maintenance, inhibition) keep an open incident open
        but open, escalate and page nothing; they are recorded, never dropped."""
        result = SyncResult([], [], [], [])
        live = firing(list(alerts))
        groups = group_alerts(live, self.policy.group_by)
        with self.store.atomic():
            mutes = self.mutes.evaluate(live, now) if self.mutes else {}
            if self.mutes is not None:
                self.mutes.end_unmuted(mutes, now)
            open_by_key = {i.group_key: i for i in rows.open_incidents(self.store)}
            for key, group in groups.items():
                heard = AlertGroup(key, group.labels, [a for a in group.alerts if a.fingerprint not in mutes])
                incident = open_by_key.get(key)
                if incident is None:
                    if heard.alerts:
                        self._open_or_reopen(heard, now, result)
                else:
                    self._update(incident, heard, now, result)
                    self._resolve_alerts(incident, {a.fingerprint for a in group.alerts}, now)
            pending = _pending_rules(alerts, self.policy.group_by)
            for key, incident in open_by_key.items():
                if key not in groups:
                    self._clear(incident, now, result, pending.get(key, set()))
            self._record_late_clears({a.fingerprint for a in live}, now)
            if self.mutes is not None and mutes:
                self.mutes.record(live, mutes, self._incident_for(live), now)
        self._log_changes(result)  # once committed: a rolled-back change was never made
        return result

    def _log_changes(self, result: SyncResult) -> None:
        """One line per incident the daemon opened, reopened, escalated or resolved, so
        the journal tells the story without a `log` notifier routed."""
        for event, ids in (
            ("incident_opened", result.opened),
            ("incident_reopened", result.reopened),
            ("incident_escalated", result.escalated),
            ("incident_resolved", result.resolved),
        ):
            for incident_id in ids:
                inc = rows.get_incident(self.store, incident_id)
                if inc is not None:
                    log.info(
                        event,
                        incident_id=inc.id,
                        severity=inc.severity.name,
                        service=inc.service,
                        title=inc.title,
                    )

    def _incident_for(self, live: list[Alert]) -> Callable[[Alert, Mute], int | None]:
        """A muted alert is written on its own group's incident; an inhibited one on the
        incident of the alert that inhibits it, when it has none of its own."""
        open_ids = {i.group_key: i.id for i in rows.open_incidents(self.store)}
        by_fp = {a.fingerprint: a for a in live}

        def find(alert: Alert, mute: Mute) -> int | None:
            own = open_ids.get(group_key(alert, self.policy.group_by)[0])
            source = by_fp.get(mute.ref) if mute.kind == "inhibit" else None
            if own is None and source is not None:
                return open_ids.get(group_key(source, self.policy.group_by)[0])
            return own

        return find

    def _open_or_reopen(self, group: AlertGroup, now: float, result: SyncResult) -> None:
        names = {a.rule for a in group.alerts}
        since = now - self.policy.reopen_window_s
        for previous in rows.recently_resolved(self.store, group.key, since):
            seen = {r["alertname"] for r in rows.incident_alerts(self.store, previous.id)}
            if names & seen:
                was = previous.status
                transition(previous, IncidentStatus.DETECTED, now)
                worse = self._escalate_if_worse(previous, group, now, result, notify=False)
                rows.update_incident(self.store, previous)
                rows.add_timeline(
                    self.store,
                    previous.id,
                    now,
                    "reopened",
                    f"alerts returned within {self.policy.reopen_window_s:.0f}s of resolve: "
                    + ", ".join(sorted(names))
                    + draft_outdated(was, previous.id),
                )
                self._record_alerts(previous, group, now)
                # A worse severity than before is news however often the rule returns
                # (a flapping warning must not swallow the critical of the same name).
                flapping = [] if worse else [r for r in sorted(names) if self._flapping(r, group.key, now)]
                if flapping:
                    rows.add_timeline(
                        self.store,
                        previous.id,
                        now,
                        "reopen_not_paged",
                        f"reopened without a page: {', '.join(flapping)} flapping",
                        data={"rules": flapping},
                    )
                else:
                    result.enqueued += self._notify(previous, Event.REOPEN, group, now)
                result.reopened.append(previous.id)
                return
        self._open(group, now, result)

    def _open(self, group: AlertGroup, now: float, result: SyncResult) -> None:
        first = min(
            group.alerts, key=lambda a: (alert_severity(a, self.policy.default_severity), a.active_at)
        )
        severity = min(alert_severity(a, self.policy.default_severity) for a in group.alerts)
        incident = Incident(
            id=0,
            group_key=group.key,
            service=group.labels.get("service", ""),
            title=_summary(first),
            severity=severity,
            status=IncidentStatus.DETECTED,
            detected_at=min(a.active_at for a in group.alerts),
            opened_at=now,
            updated_at=now,
            rule=first.rule,
            expr=first.expr,
            labels=dict(group.labels),
        )
        rows.insert_incident(self.store, incident)
        rows.add_timeline(
            self.store,
            incident.id,
            now,
            "opened",
            f"{severity} incident opened: {incident.title}",
            data={"severity": severity.name, "group": group.key},
        )
        self._record_alerts(incident, group, now)
        if self.mutes is not None:
            self.mutes.note_earlier_mutes(incident.id, group.alerts, now)
        result.enqueued += self._notify(incident, Event.OPEN, group, now)
        result.opened.append(incident.id)

    def _update(self, incident: Incident, group: AlertGroup, now: float, result: SyncResult) -> None:
        if incident.clear_since is not None:
            incident.clear_since = None
            rows.add_timeline(
                self.store,
                incident.id,
                now,
                "alert_returned",
                "alerts firing again before the incident resolved",
            )
        if self._escalate_if_worse(incident, group, now, result, notify=True):
            result.escalated.append(incident.id)
        incident.updated_at = now
        rows.update_incident(self.store, incident)
        self._record_alerts(incident, group, now)
        if group.alerts:
            # The page this lifetime began with, if still waiting, lists them all.
            first = Event.REOPEN if incident.reopen_count else Event.OPEN
            self.notify.refresh_waiting(incident, build_message(self.store, incident, first, group), now)

    def _escalate_if_worse(
        self, incident: Incident, group: AlertGroup, now: float, result: SyncResult, *, notify: bool
    ) -> bool:
        """Raise the severity to the worst firing alert. A severity set by hand stands
        against the alerts on-call saw when setting it: only a worse one overrides it."""
        if not group.alerts:  # every alert of the group is muted
            return False
        worst = min(alert_severity(a, self.policy.default_severity) for a in group.alerts)
        if worst >= escalation_bar(incident):
            return False
        old, by_hand = incident.severity, override_note(incident)
        incident.severity = worst
        incident.severity_set_by = incident.severity_seen = None  # an automatic severity again
        culprit = next(a for a in group.alerts if alert_severity(a, self.policy.default_severity) == worst)
        incident.title = _summary(culprit)
        rows.update_incident(self.store, incident)
        rows.add_timeline(
            self.store,
            incident.id,
            now,
            "escalated",
            f"severity {old} → {worst} by {culprit.rule}" + (f": {by_hand}" if by_hand else ""),
            data={"from": old.name, "to": worst.name, "alert": culprit.rule, "overrides_hand": bool(by_hand)},
        )
        if notify:
            result.enqueued += self._notify(incident, Event.ESCALATE, group, now)
        return True

    def _record_alerts(self, incident: Incident, group: AlertGroup, now: float) -> None:
        known = {r["fingerprint"]: r for r in rows.incident_alerts(self.store, incident.id)}
        for alert in group.alerts:
            previous = known.get(alert.fingerprint)
            if previous is None or previous["state"] == "resolved":
                rows.add_timeline(
                    self.store,
                    incident.id,
                    now,
                    "alert_firing",
                    f"{alert.rule} firing (pending since {_ago(now - alert.active_at)}),"
                    f" value {short_value(alert.value)}",
                    data={
                        "alert": alert.rule,
                        "value": json_value(alert.value),
                        "labels": alert.labels.as_dict(),
                        "active_at": alert.active_at,
                        "fired_at": alert.fired_at,
                    },
                )
                self._report_flapping(incident, alert.rule, now)
            rows.upsert_incident_alert(
                self.store, incident.id, _alert_row(alert, self.policy.default_severity)
            )

    def _resolve_alerts(self, incident: Incident, still_firing: set[str], now: float) -> None:
        """Record as resolved each alert of the incident that no longer fires, even while
        others of its group do: its clear time and value belong on the record, and a
        cleared alert must not block a hand resolve. Muted alerts still fire."""
        gone = [
            r
            for r in rows.incident_alerts(self.store, incident.id)
            if r["state"] != "resolved" and r["fingerprint"] not in still_firing
        ]
        if not gone:
            return
        rows.mark_alerts_resolved(self.store, incident.id, [r["fingerprint"] for r in gone], now)
        for r in gone:
            rows.add_timeline(
                self.store,
                incident.id,
                now,
                "alert_resolved",
                f"{r['alertname']} resolved",
                data={"alert": r["alertname"], "last_value": r["value"]},
            )

    def _record_late_clears(self, still_firing: set[str], now: float) -> None:
        """An incident resolved by hand while its alerts fired stops following them;
        when one clears later, that time belongs on its record (the postmortem's impact
        ends there, not at the hand resolve). Its own timeline kind: flap counting
        reads alert_resolved and already counted the resolve as the end."""
        for r in rows.firing_on_closed(self.store):
            if r["fingerprint"] in still_firing:
                continue
            rows.mark_alerts_resolved(self.store, r["incident_id"], [r["fingerprint"]], now)
            message = f"{r['alertname']} resolved"
            if r["resolved_at"] is not None:
                message += f" {format_duration(now - r['resolved_at'])} after the incident was resolved"
            rows.add_timeline(
                self.store,
                r["incident_id"],
                now,
                "alert_resolved_late",
                message,
                data={"alert": r["alertname"], "last_value": r["value"]},
            )

    def _held_by_hand(self, incident: Incident) -> bool:
        """Reopened by hand and no alert has fired since: nothing the daemon sees can
        tell it the problem is over, so on-call resolves it. (An alert row left firing
        from before the reopen, say by a forced resolve, does not count.)"""
        if not incident.reopened_by_hand or incident.reopened_at is None:
            return False
        return not rows.has_timeline(self.store, incident.id, "alert_firing", incident.reopened_at)

    def _clear(self, incident: Incident, now: float, result: SyncResult, pending: set[str]) -> None:
        """``pending``: rules of the incident's group with an alert pending now."""
        self._resolve_alerts(incident, set(), now)
        if self._held_by_hand(incident):
            return
        if incident.clear_since is None:
            incident.clear_since = now
            rows.update_incident(self.store, incident)
            return
        if now - incident.clear_since < self.policy.resolve_hold_s:
            return
        if pending & {r["alertname"] for r in rows.incident_alerts(self.store, incident.id)}:
            # One of its rules still holds, under new labels waiting out its `for:` (a
            # templated severity went from warning to critical): not over, so no
            # "resolved" page just before the worse one.
            return
        transition(incident, IncidentStatus.RESOLVED, now)
        rows.update_incident(self.store, incident)
        rows.add_timeline(
            self.store,
            incident.id,
            now,
            "resolved",
            f"auto-resolved: all alerts clear for {self.policy.resolve_hold_s:.0f}s",
        )
        reopen_key = dedup_key(incident, Event.REOPEN)
        if incident.reopen_count and not notify_state.announced(self.store, incident.id, reopen_key):
            # The reopen was not paged (flapping): announcing its end would only add noise.
            rows.add_timeline(self.store, incident.id, now, "resolve_not_paged", "its reopen was not paged")
        else:
            result.enqueued += self._notify(incident, Event.RESOLVE, None, now)
        result.resolved.append(incident.id)

    # -- flapping ----------------------------------------------------------------------
    def _verdict(self, rule: str, group_key: str, now: float) -> FlapVerdict:
        changes = notify_state.alert_changes(self.store, rule, group_key, now - self.flap.window_s)
        return judge(episode_starts(changes), now, self.flap)

    def _flapping(self, rule: str, group_key: str, now: float) -> bool:
        return self._verdict(rule, group_key, now).flapping

    def _report_flapping(self, incident: Incident, rule: str, now: float) -> None:
        since = now - self.flap.window_s
        verdict = self._verdict(rule, incident.group_key, now)
        if not verdict.flapping or notify_state.flap_reported(self.store, incident.id, rule, since):
            return
        rows.add_timeline(
            self.store,
            incident.id,
            now,
            "flapping",
            f"rule {rule} is flapping: {verdict.text}; reopens are no longer paged",
            data={"alert": rule, "starts": verdict.starts, "window_s": verdict.window_s},
        )
        log.warning("rule_flapping", rule=rule, incident_id=incident.id, starts=verdict.starts)

    # -- notifications -----------------------------------------------------------------
    def _notify(self, incident: Incident, event: Event, group: AlertGroup | None, now: float) -> int:
        return self.notify.enqueue(incident, build_message(self.store, incident, event, group), now)


def _pending_rules(alerts: Sequence[Alert], group_by: Sequence[str]) -> dict[str, set[str]]:
    """Group key → the rules with an alert pending in that group."""
    out: dict[str, set[str]] = {}
    for alert in alerts:
        if alert.state is AlertState.PENDING:
            out.setdefault(group_key(alert, group_by)[0], set()).add(alert.rule)
    return out


def _summary(alert: Alert) -> str:
    return alert.annotations.get("summary") or f"{alert.rule} {alert.labels.without('alertname', 'severity')}"


def _alert_row(alert: Alert, default: Severity) -> dict[str, object]:
    return {
        "fingerprint": alert.fingerprint,
        "alertname": alert.rule,
        "labels": alert.labels.as_dict(),
        "annotations": dict(alert.annotations),
        "severity": alert_severity(alert, default).name,
        "state": alert.state.value,
        "expr": alert.expr,
        "active_at": alert.active_at,
        "fired_at": alert.fired_at,
        "resolved_at": None,
        "value": json_value(alert.value),
        "low": lower_is_worse(alert.expr),  # its peak is its lowest value
    }


def _ago(seconds: float) -> str:
    return f"{seconds:.0f}s ago" if seconds >= 1 else "now"
