"""Reminders never page: a route takes them only when its ``events:`` names them, and
the PagerDuty notifier never turns one into a trigger on the incident's key."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from triaged.app import build_router
from triaged.cli import cli
from triaged.config import parse_config
from triaged.incidents.followup import FollowUp, NewItem
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.reminders import ReminderPolicy, send_reminders
from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.notifiers.pagerduty import PagerDutyNotifier
from triaged.store import Store, outbox
from triaged.yamlfile import load_yaml_text

from .conftest import T0, MakeIncident

HOUR = 3600.0

FLAT = """
notifiers:
  - {name: pd, type: pagerduty, routing_key: K, url: "http://127.0.0.1:1/v2/enqueue"}
  - {name: chat, type: webhook, url: "http://127.0.0.1:2/hook"}
routes:
  - {receiver: pd, severities: [P0, P1]}
  - {receiver: chat, events: [open, reminder]}
"""

TREE = """
notifiers:
  - {name: pd, type: pagerduty, routing_key: K, url: "http://127.0.0.1:1/v2/enqueue"}
  - {name: chat, type: webhook, url: "http://127.0.0.1:2/hook"}
route:
  receiver: pd
  routes:
    - matchers: ['severity=~"P0|P1"']
      receiver: pd
    - matchers: ['team="payments"']
      events: [reminder]
      routes:
        - receiver: chat
"""


def test_a_page_route_without_events_gets_no_reminders(store: Store, make_incident: MakeIncident) -> None:
    router = build_router(parse_config(load_yaml_text(FLAT, "t.yaml"), "t.yaml"))
    inc = make_incident(severity=Severity.P0, resolved_at=0.0)
    FollowUp(store).add(inc.id, NewItem("Add a readiness check for payments", "ravi", "1h", "high", "immediate"),
                        "lead", T0)  # fmt: skip
    assert router.receivers(inc.labels, Severity.P0, Event.OPEN) == ["pd", "chat"]
    assert send_reminders(store, router, T0 + 50 * HOUR, ReminderPolicy(), PostmortemPolicy()) == 2
    rows = outbox.rows_for_incident(store, inc.id)
    assert {(r.event, r.receiver) for r in rows} == {("reminder", "chat")}


def test_in_the_tree_reminders_reach_only_a_node_that_names_them() -> None:
    router = build_router(parse_config(load_yaml_text(TREE, "t.yaml"), "t.yaml"))
    # The root and the P0/P1 child have no events: they page, but never remind.
    assert router.receivers({"team": "search"}, Severity.P0, Event.REMINDER) == []
    assert router.receivers({"team": "search"}, Severity.P0, Event.OPEN) == ["pd"]
    # A child that names reminders passes them to its own children (inherited).
    assert router.receivers({"team": "payments"}, Severity.P3, Event.REMINDER) == ["chat"]
    assert router.receivers({"team": "payments"}, Severity.P3, Event.OPEN) == ["pd"]


def _reminder() -> Message:
    return Message(
        dedup_key="triaged-reminder-postmortem-5-2026-11-27",
        event=Event.REMINDER,
        incident_id=5,
        severity=Severity.P0,
        title="[reminder] postmortem of incident #5 due in 22h",
        body="The postmortem of P0 incident #5 is due in 22h",
        service="api",
        started_at=T0,
    )


def test_pagerduty_never_triggers_on_a_reminder(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_json({"status": "success"}, 202)
    pd = PagerDutyNotifier("pd", "K", url=httpserver.url_for("/v2/enqueue"))
    receipt = pd.send(_reminder())
    assert httpserver.log == [], "a reminder must not reach PagerDuty"
    assert receipt.message_id is not None and receipt.message_id.startswith("not sent")


def test_route_test_says_where_reminders_go(tmp_path: Path) -> None:
    cfg = tmp_path / "t.yaml"
    _write(cfg, FLAT)
    out = _route_reminder(cfg)
    assert "→ pd" not in out and "→ chat" in out
    assert "once a day" in out and "re-page every" not in out
    _write(cfg, FLAT.replace("events: [open, reminder]", "events: [open]"))
    assert "goes NOWHERE: reminders go only to routes that name them" in _route_reminder(cfg)
    # Named on a PagerDuty route by mistake: the output says the notifier drops them.
    _write(cfg, FLAT.replace("severities: [P0, P1]}", "severities: [P0, P1], events: [reminder]}"))
    assert "→ pd  (route root/0; NOT SENT: a PagerDuty receiver never gets reminders" in _route_reminder(cfg)


def _write(cfg: Path, text: str) -> None:
    cfg.write_text(f'storage: {{db: "{cfg.parent / "t.db"}"}}\n' + text)


def _route_reminder(cfg: Path) -> str:
    args = ["route", "test", "--labels", "severity=P0,service=x", "--event", "reminder", "-c", str(cfg)]
    return CliRunner().invoke(cli, args).output


def test_without_routes_every_notifier_but_pagerduty_gets_reminders() -> None:
    text = FLAT.split("routes:", maxsplit=1)[0]
    router = build_router(parse_config(load_yaml_text(text, "t.yaml"), "t.yaml"))
    assert router.receivers({}, Severity.P0, Event.REMINDER) == ["chat"]
    assert router.receivers({}, Severity.P0, Event.OPEN) == ["pd", "chat"]
