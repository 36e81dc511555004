from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from triaged.incidents.model import Incident, IncidentStatus
from triaged.model import Labels, Severity
from triaged.rules.alerting import Alert, AlertState
from triaged.store import Store
from triaged.store import incidents as rows

T0 = 1_790_000_000.0

MakeIncident = Callable[..., Incident]

SUMMARY_PROMPT = "<!-- In two or three sentences: what users experienced, for how long, and how it ended. -->"


def write_summary(md: Path, text: str = "Checkout was slow for two minutes.") -> None:
    """What the team does before completing a postmortem: answer the summary prompt."""
    drafted = md.read_text(encoding="utf-8")
    assert SUMMARY_PROMPT in drafted
    md.write_text(drafted.replace(SUMMARY_PROMPT, f"{SUMMARY_PROMPT}\n{text}"), encoding="utf-8")


@pytest.fixture
def make_incident(store: Store) -> MakeIncident:
    """Insert an incident; times are offsets in seconds from T0."""

    def make(
        *,
        rule: str = "HighLatency",
        service: str = "api",
        severity: Severity = Severity.P1,
        status: IncidentStatus = IncidentStatus.RESOLVED,
        detected: float = 0.0,
        opened: float = 60.0,
        **times: Any,
    ) -> Incident:
        stamps = {
            k: (T0 + v if isinstance(v, int | float) and k.endswith("_at") else v) for k, v in times.items()
        }
        inc = Incident(
            id=0,
            group_key=f"service={service}",
            service=service,
            title=f"{rule} on {service}",
            severity=severity,
            status=status,
            detected_at=T0 + detected,
            opened_at=T0 + opened,
            updated_at=T0 + opened,
            rule=rule,
            expr=f"{rule.lower()} > 1",
            labels={"service": service},
            **stamps,
        )
        return rows.insert_incident(store, inc)

    return make


def latency(active_at: float) -> Alert:
    """A firing HighLatency alert on service api, pending since ``active_at``."""
    return Alert(
        rule="HighLatency",
        labels=Labels.of(alertname="HighLatency", severity="P1", service="api"),
        annotations={"summary": "latency on api"},
        state=AlertState.FIRING,
        active_at=active_at,
        value=1.0,
        fired_at=active_at + 60,
    )
