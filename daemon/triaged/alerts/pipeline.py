"""Firing alerts grouped into what becomes one incident each: by the `group_by`
labels, as in Alertmanager (muting happens before, in :mod:`triaged.incidents.muting`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from triaged.rules.alerting import Alert, AlertState


@dataclass(frozen=True)
class AlertGroup:
    key: str
    labels: dict[str, str]
    alerts: list[Alert] = field(default_factory=list)


# `group_by: ['...']`, as in Alertmanager: group by every label, one incident per alert.
GROUP_BY_ALL = "..."


def group_key(alert: Alert, group_by: Sequence[str]) -> tuple[str, dict[str, str]]:
    """Alerts of one service make one incident. An alert carrying none of the grouping
    labels is grouped by its rule instead, so unrelated label-less rules stay apart."""
    names = alert.labels.as_dict().keys() if GROUP_BY_ALL in group_by else group_by
    labels = {name: alert.labels.get(name) for name in names if alert.labels.get(name)}
    if not labels:
        labels = {"alertname": alert.rule}
    key = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return key, labels


def group_alerts(alerts: list[Alert], group_by: Sequence[str]) -> dict[str, AlertGroup]:
    groups: dict[str, AlertGroup] = {}
    for alert in alerts:
        key, labels = group_key(alert, group_by)
        groups.setdefault(key, AlertGroup(key, labels)).alerts.append(alert)
    return groups


def firing(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.state is AlertState.FIRING]
