"""Silences, maintenance windows and inhibition applied to firing alerts, and recorded.

A muted alert opens no incident, escalates nothing and pages nobody, but it is never
hidden: each stretch of muting is an episode row (``triaged silence muted``), it is
written on the timeline of the incident it belongs to (or, when inhibited, of the
incident whose alert inhibits it), and an incident opened once the muting ends says
that its alerts had been muted before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from triaged.alerts.inhibit import Inhibitor, InhibitRule
from triaged.alerts.maintenance import MaintenanceMuter, MaintenanceWindow
from triaged.alerts.silence import Mute, Muter, Silencer, alert_labels
from triaged.rules.alerting import Alert
from triaged.store import incidents as rows
from triaged.store import silences
from triaged.store.db import Store

log = structlog.get_logger("triaged.incidents")

# Given a muted alert and why, the open incident whose timeline should say so.
IncidentFor = Callable[[Alert, Mute], int | None]


@dataclass(frozen=True)
class MutePolicy:
    inhibit_rules: tuple[InhibitRule, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()


class MuteStage:
    def __init__(self, store: Store, policy: MutePolicy) -> None:
        self.store = store
        self.policy = policy

    def muters(self, firing: Sequence[Alert], now: float) -> list[Muter]:
        """Human decisions first (silences, maintenance), then inhibition."""
        return [
            Silencer(silences.current(self.store, now)),
            MaintenanceMuter(self.policy.maintenance, now),
            Inhibitor(self.policy.inhibit_rules, firing),
        ]

    def evaluate(self, firing: Sequence[Alert], now: float) -> dict[str, Mute]:
        muters = self.muters(firing, now)
        found: dict[str, Mute] = {}
        for alert in firing:
            labels = alert_labels(alert)
            for muter in muters:
                mute = muter.mute(alert, labels, now)
                if mute is not None:
                    found[alert.fingerprint] = mute
                    break
        return found

    def end_unmuted(self, mutes: dict[str, Mute], now: float) -> list[str]:
        """Close the episodes of alerts that are no longer muted (cleared, or the
        silence ended). Returns their fingerprints."""
        active = silences.active_mutes(self.store)
        ended = [fp for fp, r in active.items() if _key(mutes.get(fp)) != (r["kind"], r["ref"])]
        silences.end_mutes(self.store, ended, now)
        for fp in ended:
            log.info("alert_unmuted", fingerprint=fp, alert=active[fp]["alertname"], kind=active[fp]["kind"])
        return ended

    def record(
        self, firing: Sequence[Alert], mutes: dict[str, Mute], incident_for: IncidentFor, now: float
    ) -> None:
        active = silences.active_mutes(self.store)
        for alert in firing:
            mute = mutes.get(alert.fingerprint)
            if mute is None or alert.fingerprint in active:
                continue
            incident_id = incident_for(alert, mute)
            silences.start_mute(self.store, alert, mute, incident_id, now)
            log.info("alert_muted", alert=alert.rule, kind=mute.kind, ref=mute.ref, incident_id=incident_id)
            if incident_id is not None:
                rows.add_timeline(
                    self.store,
                    incident_id,
                    now,
                    "alert_muted",
                    f"{alert.rule} {alert.labels.without('alertname')} muted: {mute.reason}",
                    data={
                        "alert": alert.rule,
                        "labels": alert.labels.as_dict(),
                        "kind": mute.kind,
                        "ref": mute.ref,
                        "until": mute.until,
                    },
                )
        silences.touch_mutes(self.store, [fp for fp in mutes if fp in active], now)

    def note_earlier_mutes(self, incident_id: int, alerts: Sequence[Alert], now: float) -> None:
        """An incident opened after a silence or window ended says its alerts had been
        firing, muted, before: the on-call sees how long the problem really is."""
        since = min((a.active_at for a in alerts), default=now)
        for episode in silences.mute_history(self.store, [a.fingerprint for a in alerts]):
            if episode["ended_at"] < since:
                continue
            rows.add_timeline(
                self.store,
                incident_id,
                now,
                "was_muted",
                f"{episode['alertname']} fired while muted ({episode['reason']})"
                f" for {episode['ended_at'] - episode['first_at']:.0f}s before this incident opened",
                data={
                    "kind": episode["kind"],
                    "ref": episode["ref"],
                    "from": episode["first_at"],
                    "to": episode["ended_at"],
                },
            )


def _key(mute: Mute | None) -> tuple[str, str] | None:
    return None if mute is None else (mute.kind, mute.ref)
