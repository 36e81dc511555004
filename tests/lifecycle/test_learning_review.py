"""The morning after, as a team lead writing the postmortem reads it: an incident that
ran past midnight, a page that failed, owners typed in another case, budgets with no
data. Real SQLite stores; only the clock is chosen by hand."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from triaged.cli import cli
from triaged.cli.common import table
from triaged.incidents.followup import FollowUp, NewItem
from triaged.incidents.human import HumanActions
from triaged.incidents.model import IncidentStatus
from triaged.incidents.oncall import OnCall
from triaged.incidents.postmortem import gather, render
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.report import build_report, render_report
from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.notifiers.base import NotifyError
from triaged.outbox.dispatcher import Dispatcher
from triaged.store import Store, outbox
from triaged.store import evidence as ev_rows
from triaged.store import incidents as rows
from triaged.store import slo as slo_rows
from triaged.testing.notifier import RecordingNotifier

from .conftest import T0, MakeIncident

HOUR = 3600.0
DAY = 86_400.0
NS = "{http://www.w3.org/2000/svg}"


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


# -- an incident that ran past midnight ------------------------------------------------
def test_chart_of_an_incident_over_midnight_says_which_day_each_time_is(
    store: Store, make_incident: MakeIncident, tmp_path: Path
) -> None:
    """T0 is 2026-09-21 14:13:20 UTC: detected then, resolved 27 hours later. Times of
    day alone (14:13 … 17:13) would read as a three-hour incident."""
    inc = make_incident(rule="HighLatency", detected=0.0, opened=60.0, resolved_at=27 * HOUR)
    series = ev_rows.ensure_series(
        store, inc.id, alertname="HighLatency", expr="latency", role="value",
        labels={"service": "api"}, op=">", threshold=1.0,
    )  # fmt: skip
    with store.atomic():
        ev_rows.add_points(store, series, [(T0 + i * 900.0, 2.0) for i in range(0, 27 * 4 + 1)])

    _cli("postmortem", "draft", str(inc.id), "--out", str(tmp_path), "--by", "lead", "--db", store.path)
    svg = ET.parse(tmp_path / f"incident-{inc.id}-chart.svg").getroot()
    ticks = [t.text for t in svg.iter(f"{NS}text") if t.get("class") == "xtick"]
    assert ticks[0] == "Sep 21 14:13:20" and ticks[-1] == "Sep 22 17:13:20", ticks
    marks = {g.get("data-marker"): g.findtext(f"{NS}text") for g in svg.iter(f"{NS}g")}
    assert marks["resolved"] == "resolved Sep 22 17:13:20"

    shown = _cli("incidents", "show", str(inc.id), "--db", store.path)
    axis = shown.split("D detected")[0].rstrip().splitlines()[-1]
    assert re.fullmatch(r"\s*Sep 21 14:13:20 UTC\s+Sep 22 17:13:20 UTC", axis), axis

    # Within one UTC day the times of day are enough, as before.
    short = make_incident(rule="HighLatency", detected=DAY, opened=DAY + 60, resolved_at=DAY + 600)
    series = ev_rows.ensure_series(
        store, short.id, alertname="HighLatency", expr="latency", role="value",
        labels={"service": "api"}, op=">", threshold=1.0,
    )  # fmt: skip
    with store.atomic():
        ev_rows.add_points(store, series, [(T0 + DAY + i * 60.0, 2.0) for i in range(11)])
    shown = _cli("incidents", "show", str(short.id), "--db", store.path)
    assert re.search(r"^\s*14:13:20 UTC\s+14:23:20 UTC$", shown, re.M), shown


# -- durations read to the second --------------------------------------------------------
def test_a_rule_without_for_detects_in_0s_everywhere(
    store: Store, make_incident: MakeIncident, tmp_path: Path
) -> None:
    """No `for:`: the alert fired as it went pending, so time to detect is nothing at
    all. It reads 0s (not 0ms) in the list, the postmortem and the report; a sub-second
    difference reads as the second it rounds to, as the printed times do."""
    zero = make_incident(rule="ChaosInProduction", detected=0.0, opened=0.0, resolved_at=600.0)
    part = make_incident(rule="Slow", detected=1000.0, opened=1000.6, resolved_at=1600.0)
    listed = _cli("incidents", "list", "--db", store.path)
    rows_ = {int(line.split()[0]): line.split() for line in listed.splitlines()[1:]}
    assert rows_[zero.id][-2:] == ["0s", "10m"] and rows_[part.id][-2:] == ["1s", "9m59s"], listed

    md = render(gather(store, zero.id, T0 + DAY), PostmortemPolicy(), None)
    assert "| Time to detect | 0s |" in md
    assert "Detected automatically by `ChaosInProduction` 0s after the first symptom." in md
    assert "ms" not in re.sub(r"\w+ms\w*|ms\w+", "", md.split("## 2.")[0])

    text = render_report(build_report(store, T0 - DAY, T0 + DAY, PostmortemPolicy()), "1d", table)
    # Median 0.3 s and p90 0.54 s of 0 and 0.6 s: to the second, not 300ms and 540ms.
    assert re.search(r"time to detect \(MTTD\)\s+0s\s+1s\s+2", text), text


# -- the page that went well, or did not -------------------------------------------------
def _message(incident_id: int, event: Event) -> Message:
    return Message(
        dedup_key=f"triaged-{incident_id}-{event.value}", event=event, incident_id=incident_id,
        severity=Severity.P1, title=f"[P1] {event.value}", body="", service="api", started_at=T0,
    )  # fmt: skip


def test_a_page_that_failed_is_not_what_went_well_when_the_resolve_got_through(
    store: Store, make_incident: MakeIncident
) -> None:
    """The open page to the pager failed for good; the resolve notice, 40 minutes
    later, was delivered. The postmortem must not say the page was delivered 40m after
    opening: it never was."""
    inc = make_incident(detected=0.0, opened=60.0, resolved_at=60.0 + 40 * 60)
    pager = RecordingNotifier("pager")
    dispatcher = Dispatcher(store, {"pager": pager})
    for event, at in ((Event.OPEN, T0 + 60), (Event.RESOLVE, T0 + 60 + 40 * 60)):
        outbox.enqueue(
            store, incident_id=inc.id, event=event.value, receiver="pager",
            dedup_key=f"triaged-{inc.id}-{event.value}", payload=_message(inc.id, event).to_dict(), now=at,
        )  # fmt: skip
        pager.fail_with = NotifyError("403 Forbidden", permanent=True) if event is Event.OPEN else None
        dispatcher.dispatch(at)

    md = render(gather(store, inc.id, T0 + DAY), PostmortemPolicy(), None)
    well = md.split("## 5. What went well")[1].split("## 6.")[0]
    assert "Page delivered" not in well, well
    badly = md.split("## 6. What did not go well")[1]
    assert "- open to pager failed for good: permanent error: 403 Forbidden" in badly, badly


def test_the_page_delivered_names_its_receivers_not_the_reminders(
    store: Store, make_incident: MakeIncident
) -> None:
    inc = make_incident(detected=0.0, opened=60.0, resolved_at=600.0)
    pager, chat = RecordingNotifier("pager"), RecordingNotifier("chat")
    dispatcher = Dispatcher(store, {"pager": pager, "chat": chat})
    outbox.enqueue(
        store, incident_id=inc.id, event="open", receiver="pager", dedup_key=f"triaged-{inc.id}-open",
        payload=_message(inc.id, Event.OPEN).to_dict(), now=T0 + 60,
    )  # fmt: skip
    dispatcher.dispatch(T0 + 65)
    outbox.enqueue(
        store, incident_id=inc.id, event="reminder", receiver="chat", dedup_key="triaged-reminder-1",
        payload=_message(inc.id, Event.REMINDER).to_dict(), now=T0 + DAY,
    )  # fmt: skip
    dispatcher.dispatch(T0 + DAY)
    md = render(gather(store, inc.id, T0 + 2 * DAY), PostmortemPolicy(), None)
    assert "- Page delivered 5s after opening to pager." in md, md


# -- the report's budget table -----------------------------------------------------------
def _slo(store: Store, name: str) -> None:
    slo_rows.upsert_slo(store, name=name, service="api", good="g", total="t", objective=0.999,
                        window_s=DAY, interval_s=60.0, now=T0)  # fmt: skip


def test_report_footnote_explains_a_lower_bound_only_when_one_is_shown(store: Store) -> None:
    """An SLO with no sample says "no data" on its own; the "≥" footnote under it
    explains a sign that is not there. With a lower bound shown, it stays."""
    _slo(store, "checkout")
    text = render_report(build_report(store, T0 - 7 * DAY, T0, PostmortemPolicy()), "7d", table)
    assert "no data" in text and "≥" not in text, text

    for m in range(1, 61):  # the last hour of the week: 1 bad request a second of 100
        slo_rows.add_sample(store, "checkout", T0 - HOUR + 60 * m, 99.0, 100.0)
    text = render_report(build_report(store, T0 - 7 * DAY, T0, PostmortemPolicy()), "7d", table)
    # 3,600 bad of (1 − 0.999) × 360,000 × 24 (the day extrapolated) = 8,640 allowed.
    assert "≥ 41.67 %" in text and "≥: SLI recorded for only part of the period" in text, text


# -- owners ------------------------------------------------------------------------------
def test_an_owner_is_listed_whatever_case_it_was_typed_in(store: Store, make_incident: MakeIncident) -> None:
    """One owner, three spellings: `Asha` on one item, `@asha` on another, and the lead
    asks for `ASHA`. Each spelling lists all of her items."""
    inc = make_incident(resolved_at=600.0)
    follow = FollowUp(store)
    now = T0 + HOUR
    first = follow.add(inc.id, NewItem("Raise the DB pool limit at startup", "Asha", "7d", "high", "immediate"),
                       "lead", now)  # fmt: skip
    second = follow.add(inc.id, NewItem("Alert on DB pool saturation early", "@asha", "8d", "low", "monitoring"),
                        "lead", now)  # fmt: skip
    other = follow.add(inc.id, NewItem("Document the DB failover runbook steps", "ravi", "9d", "low", "process"),
                       "lead", now)  # fmt: skip
    for spelling in ("ASHA", "asha", "@Asha"):
        listed = _cli("actions", "list", "--owner", spelling, "--db", store.path)
        ids = [int(line.split()[0]) for line in listed.splitlines()[1:]]
        assert ids == [first.id, second.id], (spelling, listed)
    assert other.id not in ids


# -- the action items table of the postmortem --------------------------------------------
def test_postmortem_action_items_show_due_times_set_to_the_minute_and_what_is_overdue(
    store: Store, make_incident: MakeIncident
) -> None:
    """Due 2026-09-23T02:00+05:30 is 2026-09-22 20:30 UTC: the day alone (2026-09-22)
    reads as a day early to the team in India that set it. A date alone stays a date.
    Drafted again a week later, an open item past its due date says so."""
    inc = make_incident(resolved_at=600.0)
    follow = FollowUp(store)
    # What `actions add --due 2026-09-23T02:00+05:30` stores: the UTC minute.
    follow.add(inc.id, NewItem("Raise the DB pool limit at startup", "asha", "2026-09-22T20:30", "high",
                               "immediate"), "lead", T0 + 60)  # fmt: skip
    follow.add(inc.id, NewItem("Alert on DB pool saturation early", "ravi", "2026-09-25", "low", "monitoring"),
               "lead", T0 + 60)  # fmt: skip
    md = render(gather(store, inc.id, T0 + HOUR), PostmortemPolicy(), None)
    assert "| asha | 2026-09-22 20:30 UTC | high | immediate | open |" in md, md
    assert "| ravi | 2026-09-25 | low | monitoring | open |" in md, md

    later = render(gather(store, inc.id, T0 + 3 * DAY), PostmortemPolicy(), None)  # Sep 24 14:13 UTC
    assert "| asha | 2026-09-22 20:30 UTC | high | immediate | open, overdue |" in later, later
    assert "| ravi | 2026-09-25 | low | monitoring | open |" in later, later


# -- severity changed by hand --------------------------------------------------------------
def test_postmortem_says_how_the_severity_changed(store: Store, make_incident: MakeIncident) -> None:
    """Opened (and paged) as P2, raised to P0 by alice, lowered to P1 by bob: the
    summary must not read as a plain P1 incident."""
    inc = make_incident(severity=Severity.P2, status=IncidentStatus.ACKNOWLEDGED, acknowledged_at=120.0)
    rows.add_timeline(store, inc.id, T0 + 60, "opened", "P2 incident opened: HighLatency on api",
                      data={"severity": "P2", "group": "service=api"})  # fmt: skip
    on_call = OnCall(store, None)
    on_call.set_severity(inc.id, Severity.P0, "alice", "checkout down for everyone", T0 + 300)
    on_call.set_severity(inc.id, Severity.P1, "bob", "only the EU region", T0 + 900)
    HumanActions(store, None).move(inc.id, IncidentStatus.RESOLVED, "bob", "rolled back", T0 + 1800)
    md = render(gather(store, inc.id, T0 + DAY), PostmortemPolicy(), None)
    assert "| Severity | P1 (opened as P2; set by hand by bob) |" in md, md


# -- items dropped and taken up again, owners who move on -----------------------------------
def _item(store: Store, make_incident: MakeIncident, owner: str = "asha") -> int:
    inc = make_incident(resolved_at=600.0)
    new = NewItem("Raise the DB pool limit at startup", owner, "2030-01-01", "high", "immediate")
    return FollowUp(store).add(inc.id, new, "lead", T0 + 60).id


def test_a_dropped_item_can_be_taken_up_again_with_its_history(
    store: Store, make_incident: MakeIncident
) -> None:
    """Dropped as superseded, then the incident came back: the team reopens the item
    instead of adding a stranger with no history. A reopen says why, and a second one
    changes nothing."""
    item = _item(store, make_incident)
    db = ["--db", store.path]
    _cli("actions", "drop", str(item), "-m", "superseded by the pool rework", *db)
    refused = CliRunner().invoke(cli, ["actions", "reopen", str(item), *db])
    assert refused.exit_code == 2 and "reopen needs -m" in refused.output, refused.output
    assert "is now open" in _cli("actions", "reopen", str(item), "-m", "the pool rework slipped", *db)
    assert "already open; nothing changed" in _cli("actions", "reopen", str(item), "-m", "again", *db)
    listed = _cli("actions", "list", *db)
    assert f"\n{item} " in listed and "open" in listed, listed
    timeline = [e["message"] for e in rows.timeline(store, 1) if e["kind"].startswith("action_")]
    assert timeline[-1] == f"action item #{item} dropped → open: Raise the DB pool limit at startup" \
        " (the pool rework slipped)", timeline  # fmt: skip

    verified = _item(store, make_incident)
    for step in ("done", "verify"):
        _cli("actions", step, str(verified), *db)
    closed = CliRunner().invoke(cli, ["actions", "reopen", str(verified), "-m", "why", *db])
    assert closed.exit_code == 1 and "is verified: it is closed, nothing moves it now" in closed.output


def test_an_item_follows_its_owner_to_a_new_name(store: Store, make_incident: MakeIncident) -> None:
    """asha hands the item to ravi: the list by owner, the reminder and the timeline
    follow. A group is refused as an owner here as it is when adding."""
    item = _item(store, make_incident)
    db = ["--db", store.path]
    said = _cli("actions", "assign", str(item), "@ravi", "-m", "asha moved to payments", "--by", "lead", *db)
    assert said.strip() == f"action item #{item} is now owned by ravi"
    assert f"\n{item} " in _cli("actions", "list", "--owner", "Ravi", *db)
    assert "no open action items" in _cli("actions", "list", "--owner", "asha", *db)
    entry = rows.timeline(store, 1)[-1]
    assert (entry["kind"], entry["actor"]) == ("action_assigned", "lead")
    assert entry["message"] == f"action item #{item} owner asha → ravi: Raise the DB pool limit at startup" \
        " (asha moved to payments)"  # fmt: skip
    assert "already owned by ravi; nothing changed" in _cli("actions", "assign", str(item), "ravi", *db)

    group = CliRunner().invoke(cli, ["actions", "assign", str(item), "team", *db])
    assert group.exit_code == 1 and "'team' is a group, not one person" in group.output
    _cli("actions", "drop", str(item), "-m", "not needed", *db)
    dropped = CliRunner().invoke(cli, ["actions", "assign", str(item), "meera", *db])
    assert dropped.exit_code == 1 and "is dropped: only an unfinished item can change owner" in dropped.output


# -- a report over hundreds of incidents, and one that outlived the period --------------------
def test_report_names_what_is_still_open_from_before_and_stays_readable_with_hundreds(
    store: Store, make_incident: MakeIncident
) -> None:
    """`report --since 7d` on the day of a bad month: incident #1 opened 10 days ago and
    is still being mitigated, the longest-running of all; then 300 P1 incidents in the
    week, 25 of them resolved more than 48 h ago with no postmortem."""
    make_incident(status=IncidentStatus.MITIGATED, detected=-10 * DAY, opened=-10 * DAY + 60,
                  acknowledged_at=-10 * DAY + 120, mitigated_at=-9 * DAY)  # fmt: skip
    for n in range(300):
        start = -6 * DAY + n * 600.0 if n < 25 else -DAY + n * 60.0
        make_incident(rule=f"R{n % 3}", detected=start, opened=start + 30, resolved_at=start + 630)
    r = build_report(store, T0 - 7 * DAY, T0, PostmortemPolicy())
    assert r.incidents == 300 and r.still_open == 0 and r.open_from_before == [1]
    assert r.mttr.median == 600.0 and r.mttd.median == 30.0
    assert r.postmortems_late == list(range(2, 27))  # resolved by T0 − 4 d, due 2 d later

    text = render_report(r, "7d", table)
    assert "Open since before the period, not in these figures: 1 (#1)" in text, text
    late = next(line for line in text.splitlines() if line.startswith("Postmortems late"))
    assert late == "Postmortems late: 25 (" + ", ".join(f"#{i}" for i in range(2, 22)) + " and 5 more)", late


def test_an_overdue_item_can_be_given_a_new_date_that_says_why(
    store: Store, make_incident: MakeIncident
) -> None:
    """Due three days after it was added ten days ago: overdue, reminded daily. The
    owner is waiting on a vendor, so the lead moves the date (saying why) instead of
    dropping the item and adding it again."""
    inc = make_incident(resolved_at=600.0)
    ten_days_ago = time.time() - 10 * DAY
    new = NewItem("Raise the DB pool limit at startup", "asha", "3d", "high", "immediate")
    item = FollowUp(store).add(inc.id, new, "lead", ten_days_ago).id
    db = ["--db", store.path]
    assert f"\n{item} " in _cli("actions", "list", "--overdue", *db)

    unexplained = CliRunner().invoke(cli, ["actions", "due", str(item), "7d", *db])
    assert unexplained.exit_code == 2 and "due needs -m" in unexplained.output
    past = CliRunner().invoke(cli, ["actions", "due", str(item), "2020-01-01", "-m", "oops", *db])
    assert past.exit_code == 1 and "due date '2020-01-01' is in the past" in past.output

    moved = _cli("actions", "due", str(item), "2030-01-15T02:00+05:30", "-m", "waiting on the vendor", *db)
    assert moved.strip() == f"action item #{item} is now due 2030-01-14 20:30:00 UTC"
    assert f"\n{item} " not in _cli("actions", "list", "--overdue", *db)
    assert "OVERDUE" not in _cli("actions", "list", *db)
    entry = rows.timeline(store, inc.id)[-1]
    assert entry["kind"] == "action_rescheduled"
    assert entry["message"].endswith(
        "→ 2030-01-14 20:30:00 UTC: Raise the DB pool limit at startup (waiting on the vendor)"
    ), entry


# -- the terminal chart of a rule that fires low ---------------------------------------------
def test_terminal_chart_shows_the_dips_a_below_threshold_rule_fired_on(
    store: Store, make_incident: MakeIncident
) -> None:
    """`availability < 0.99`: healthy (1.0) for 20 minutes, then every other sample at
    0.5 for 20 minutes. A column holding both shows 0.5, the value the rule fired on;
    its highest (1.0) would draw a flat healthy line and `min 1`."""
    inc = make_incident(
        rule="LowAvailability", detected=20 * 60.0, opened=20 * 60.0 + 60, resolved_at=40 * 60.0
    )
    series = ev_rows.ensure_series(
        store, inc.id, alertname="LowAvailability", expr="availability", role="value",
        labels={"service": "api"}, op="<", threshold=0.99,
    )  # fmt: skip
    points = [(T0 + 15.0 * i, 1.0 if i < 80 or i % 2 else 0.5) for i in range(161)]
    with store.atomic():
        ev_rows.add_points(store, series, points)
    shown = _cli("incidents", "show", str(inc.id), "--db", store.path)
    bars, marks = shown.split("Evidence:")[1].splitlines()[1:3]
    blocks = bars.split()[0]
    assert blocks[:29] == "█" * 29 and set(blocks[31:]) == {"▁"}, bars
    assert bars.endswith("max 1") and marks.endswith("min 0.5"), (bars, marks)


def test_an_empty_filtered_list_says_which_filter_emptied_it(
    store: Store, make_incident: MakeIncident
) -> None:
    """An item open, not overdue: `--overdue` must not answer "no open action items",
    which reads as if the follow-ups were all done."""
    item = _item(store, make_incident)
    db = ["--db", store.path]
    assert _cli("actions", "list", "--overdue", *db).strip() == "no overdue action items"
    assert _cli("actions", "list", "--owner", "zed", *db).strip() == (
        "no open action items owned by zed (--all shows verified and dropped ones)"
    )
    _cli("actions", "drop", str(item), "-m", "superseded", *db)
    assert _cli("actions", "list", "--incident", "1", *db).strip() == (
        "no open action items on incident #1 (--all shows verified and dropped ones)"
    )
