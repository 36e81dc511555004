"""The journal tells an incident's story on its own: one line when the daemon opens,
escalates, reopens or resolves one, whether or not a `log` notifier is routed."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from pipeline.harness import MakeHarness


@pytest.mark.usefixtures("default_logging")
def test_each_incident_change_is_one_log_line(make_harness: MakeHarness) -> None:
    h = make_harness("")  # no notifiers at all
    with capture_logs() as logs:
        h.metrics.set("svc_errors", "api", 1)  # P2
        h.run(4, step=2)
        h.metrics.set("svc_down", "api", 1)  # P0 joins: escalated
        h.run(4, step=2)
        h.metrics.set("svc_errors", "api", 0)
        h.metrics.set("svc_down", "api", 0)
        h.run(20, step=2)  # past the 10 s resolve hold
        h.metrics.set("svc_down", "api", 1)
        h.run(4, step=2)  # back within the reopen window
    lines = [
        (e["event"], e["incident_id"], e["severity"]) for e in logs if e["event"].startswith("incident_")
    ]
    assert lines == [
        ("incident_opened", 1, "P2"),
        ("incident_escalated", 1, "P0"),
        ("incident_resolved", 1, "P0"),
        ("incident_reopened", 1, "P0"),
    ]
    assert next(e for e in logs if e["event"] == "incident_opened")["service"] == "api"
