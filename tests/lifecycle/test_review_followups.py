"""Follow-ups that kept going quiet: done items waiting for verification are reminded;
a daemon that starts after today's remind_at catches up, once; the postmortem reminder
says where a draft is and what is left; `@asha` and `asha` are one owner."""

from __future__ import annotations

import time
from datetime import UTC
from pathlib import Path

from click.testing import CliRunner

from triaged.alerts.route import Route, Router
from triaged.app import build
from triaged.cli import cli
from triaged.config import load_config
from triaged.incidents.actions import ActionStatus
from triaged.incidents.followup import FollowUp, NewItem
from triaged.incidents.lifecycle import Lifecycle
from triaged.incidents.model import Incident, IncidentStatus
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.postmortem_ops import write_draft
from triaged.incidents.reminders import ReminderPolicy, send_reminders
from triaged.messages import Event
from triaged.model import Severity
from triaged.promql import Engine
from triaged.runner import Runner
from triaged.service.host import ServiceHost
from triaged.service.sdnotify import SdNotifier
from triaged.store import Store, open_store, outbox
from triaged.store import actions as action_rows
from triaged.store import incidents as rows
from triaged.testing.clock import FakeClock
from triaged.tsdb import Storage

from .conftest import T0, MakeIncident

HOUR = 3600.0
DAY = 86_400.0
ROUTER = Router([Route("chat", events=frozenset({Event.REMINDER}))])
# T0 is 2026-09-21 14:13:20 UTC; the job runs at 09:00 UTC.
POLICY = ReminderPolicy(remind_before_s=DAY, remind_at=(9, 0), tz=UTC)


def _reminders(store: Store, incident_id: int) -> list[outbox.OutboxRow]:
    return [r for r in outbox.rows_for_incident(store, incident_id) if r.event == "reminder"]


def test_done_items_remind_whoever_verifies_after_a_day(store: Store, make_incident: MakeIncident) -> None:
    inc = make_incident(severity=Severity.P3, resolved_at=300.0, assignee="meera")
    follow = FollowUp(store)
    item = follow.add(inc.id, NewItem("Cap client retries at three attempts", "ravi", "3d", "high", "immediate"),
                      "lead", T0)  # fmt: skip
    follow.move(item.id, ActionStatus.DONE, "ravi", T0 + HOUR)
    pms = PostmortemPolicy()
    assert send_reminders(store, ROUTER, T0 + 2 * HOUR, POLICY, pms) == 0, "a day's grace to verify"
    assert send_reminders(store, ROUTER, T0 + DAY + 2 * HOUR, POLICY, pms) == 1
    (row,) = _reminders(store, inc.id)
    assert row.payload["title"] == f"[reminder] meera: verify action item #{item.id} (done 1d1h ago)"
    assert f"triaged actions verify {item.id}" in row.payload["body"]
    assert row.dedup_key.startswith(f"triaged-reminder-verify-{item.id}-")


def test_start_up_catches_up_on_todays_missed_reminders_once(
    store: Store, make_incident: MakeIncident
) -> None:
    inc = make_incident(severity=Severity.P3, resolved_at=300.0)
    FollowUp(store).add(inc.id, NewItem("Alert on batch queue age above ten minutes", "carol", "1h", "high",
                                        "monitoring"), "lead", T0)  # fmt: skip
    life = Lifecycle(store, Engine(Storage()), ROUTER, reminders=POLICY)
    tomorrow_early = T0 + DAY - 8 * HOUR  # 06:13 the next day: today's 09:00 has not come
    assert life.catch_up(tomorrow_early) == 0
    assert life.catch_up(T0) == 1, "14:13, after today's 09:00: it was missed"
    assert life.catch_up(T0 + 60) == 0, "a second start the same day adds nothing"
    assert life.remind(T0 + 5 * HOUR) == 0, "nor does the day's job"
    # The next day's job starts a new day's reminder, and a start after it does not repeat it.
    assert life.remind(T0 + DAY - 5 * HOUR - 13 * 60) == 1
    assert life.catch_up(T0 + DAY) == 0
    assert len(_reminders(store, inc.id)) == 2


def test_the_service_host_runs_the_catch_up_at_start(tmp_path: Path) -> None:
    cfg = tmp_path / "triaged.yaml"
    cfg.write_text(
        f'storage: {{db: "{tmp_path / "t.db"}"}}\nactions: {{remind_at: "00:00"}}\n'
        "notifiers:\n  - {name: chat, type: log}\nroutes:\n  - {receiver: chat, events: [reminder]}\n"
    )
    clock = FakeClock(time.time())
    daemon = build(load_config(cfg), clock=clock, sources=[], notifiers={})
    inc_store = open_store(tmp_path / "t.db")
    inc = rows.insert_incident(inc_store, Incident(
        0, "service=api", "api", "HighLatency on api", Severity.P3, IncidentStatus.RESOLVED,
        clock.t - 600, clock.t - 600, clock.t - 300, resolved_at=clock.t - 300,
    ))  # fmt: skip
    FollowUp(inc_store).add(inc.id, NewItem("Alert on batch queue age above ten minutes", "carol", "1h",
                                            "high", "monitoring"), "lead", clock.t)  # fmt: skip
    host = ServiceHost(Runner(daemon), str(cfg), sd=SdNotifier(None), environ={})
    host.start()
    try:
        deadline = time.monotonic() + 10  # ends as soon as the reminder is there
        while not _reminders(inc_store, inc.id) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        host.stop(flush_s=0)
    assert len(_reminders(inc_store, inc.id)) == 1
    inc_store.close()


def test_a_drafted_postmortem_is_reminded_with_its_path_and_what_is_left(
    store: Store, make_incident: MakeIncident, tmp_path: Path
) -> None:
    inc = make_incident(severity=Severity.P0, resolved_at=0.0)
    written = write_draft(
        store, inc.id, tmp_path / "pm", actor="erin", now=T0 + HOUR, policy=PostmortemPolicy()
    )
    assert send_reminders(store, ROUTER, T0 + 50 * HOUR, POLICY, PostmortemPolicy()) == 1
    (row,) = _reminders(store, inc.id)
    body = row.payload["body"]
    assert "Draft it" not in body and "postmortem draft" not in body
    assert f"by erin: {written.markdown}" in body
    assert f"triaged postmortem complete {inc.id}" in body


def test_at_owner_and_owner_are_one_person(store: Store, make_incident: MakeIncident) -> None:
    inc = make_incident()
    follow = FollowUp(store)
    first = follow.add(inc.id, NewItem("Raise DB_POOL_MAX to forty connections", "@asha", "7d", "high",
                                       "immediate"), "lead", T0)  # fmt: skip
    follow.add(inc.id, NewItem("Validate DB_POOL_MAX in the startup check", "asha", "7d", "high", "immediate"),
               "lead", T0)  # fmt: skip
    assert first.owner == "asha"
    assert {a.owner for a in action_rows.list_items(store)} == {"asha"}
    for who in ("asha", "@asha"):
        out = CliRunner().invoke(cli, ["actions", "list", "--owner", who, "--db", store.path, "--json"])
        assert out.exit_code == 0, out.output
        assert out.output.count('"owner": "asha"') == 2, who
