"""Review of the late session-11 commits: reminders keyed by the local day in a zone
ahead of UTC, and restored vanished series under the series limit."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from triaged.alerts.route import Route, Router
from triaged.incidents.model import IncidentStatus
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.reminders import ReminderPolicy, last_slot, send_reminders
from triaged.messages import Event
from triaged.model import Labels, Severity
from triaged.store import Store
from triaged.tsdb import Storage, StorageLimits, snapshot

if TYPE_CHECKING:
    from conftest import AddIncident

SYDNEY = ZoneInfo("Australia/Sydney")
ROUTER = Router([Route("pager", events=frozenset({Event.REMINDER}))])


def test_local_day_keys_still_remind_every_day_in_a_zone_ahead_of_utc(
    store: Store, add_incident: AddIncident
) -> None:
    """09:00 in Sydney is the previous UTC day: every local day still gets its reminder
    (of a P0 resolved now, whose postmortem is long late by then)."""
    policy = ReminderPolicy(tz=SYDNEY)
    add_incident(store, IncidentStatus.RESOLVED, severity=Severity.P0)
    sent = []
    for day in (1, 2, 3):
        now = datetime(2027, 6, day, 9, 1, tzinfo=SYDNEY).timestamp()
        sent.append(
            send_reminders(store, ROUTER, now, policy, PostmortemPolicy(), slot=last_slot(now, policy))
        )
    assert sent == [1, 1, 1]


def test_a_series_that_had_vanished_before_the_restart_still_makes_room_under_the_limit(
    tmp_path: Path,
) -> None:
    """Before the restart, a series the target stopped reporting (stale) is the first
    to be evicted for a new one at the series limit. Restored, it was no candidate:
    the target's new error series was refused until the retention dropped the old one."""
    up = Labels.of({"__name__": "up", "job": "shop", "instance": "a:1"})
    old = Labels.of({"__name__": "errors_total", "job": "shop", "instance": "a:1", "code": "500"})
    new = Labels.of({"__name__": "errors_total", "job": "shop", "instance": "a:1", "code": "503"})
    before = Storage(StorageLimits(retention_ms=3_600_000, max_series=2))
    before.append_batch("scrape/shop", [(up, 1.0), (old, 3.0)], 1_000_000)
    before.append_batch("scrape/shop", [(up, 1.0)], 1_015_000)  # old vanished: stale, evictable
    path = tmp_path / "triaged.db.series"
    snapshot.save(before, path)
    after = Storage(StorageLimits(retention_ms=3_600_000, max_series=2))
    snapshot.load(after, path, now_ms=1_020_000)
    after.append_batch("scrape/shop", [(up, 1.0), (new, 1.0)], 1_030_000)
    assert after.rejected_series == 0 and after.evicted_series == 1
    assert {s.labels for s in after} == {up, new}
