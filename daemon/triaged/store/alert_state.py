"""Alert state rows: ``for`` timers and firing alerts survive a restart.

Rows are keyed by the rule's identity (:attr:`RuleSpec.key`) and carry the time the
rule last evaluated the alert, which after a restart tells how long the daemon was
down (see ``RestorePolicy``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from triaged.model import Labels
from triaged.rules.alerting import Alert, AlertState
from triaged.store.db import Store


def save(store: Store, alerts_by_rule: Iterable[tuple[str, Iterable[Alert]]]) -> None:
    """Replace the stored state with the current one, in one transaction."""
    rows: list[dict[str, Any]] = []
    for rule_key, alerts in alerts_by_rule:
        for a in alerts:
            rows.append(
                {
                    "rule_key": rule_key,
                    "fingerprint": a.fingerprint,
                    "labels": json.dumps(list(a.labels)),
                    "annotations": json.dumps(dict(a.annotations), sort_keys=True),
                    "state": a.state.value,
                    "active_at": a.active_at,
                    "fired_at": a.fired_at,
                    "resolved_at": a.resolved_at,
                    "keep_firing_since": a.keep_firing_since,
                    "value": a.value,
                    "last_eval": a.last_eval,
                }
            )
    with store.atomic() as db:
        db.execute("DELETE FROM alert_state")
        if rows:
            db.table("alert_state").insert_all(rows)


def load(store: Store) -> dict[str, list[Alert]]:
    out: dict[str, list[Alert]] = {}
    for r in store.query("SELECT * FROM alert_state"):
        labels = Labels(tuple(p) for p in json.loads(r["labels"]))
        alert = Alert(
            rule=labels.get("alertname"),
            labels=labels,
            annotations=json.loads(r["annotations"]),
            state=AlertState(r["state"]),
            active_at=r["active_at"],
            value=r["value"] if r["value"] is not None else float("nan"),
            fired_at=r["fired_at"],
            resolved_at=r["resolved_at"],
            keep_firing_since=r["keep_firing_since"],
            last_eval=r["last_eval"],
        )
        out.setdefault(r["rule_key"], []).append(alert)
    return out
