"""Re-pages until acknowledged, resolve notices, and flapping alerts."""

from __future__ import annotations

from pipeline.harness import MakeHarness, webhook
from triaged.incidents.human import HumanActions
from triaged.incidents.model import IncidentStatus
from triaged.store import incidents as rows
from triaged.store import outbox
from triaged.testing.receiver import RecordingReceiver


def events(r: RecordingReceiver) -> list[str]:
    return [p["dedupKey"] for p in r.payloads()]


def test_an_unacknowledged_p0_is_repaged_until_acked_then_resolve_is_sent(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + "repage: {P0: 5m, P1: 15m}\n")
    h.metrics.set("svc_down", "api", 1)
    h.run(1)
    h.run(600, step=10)
    assert events(receiver) == ["triaged-1-open", "triaged-1-repage-1", "triaged-1-repage-2"]
    assert receiver.payloads()[1]["title"].startswith("[P0][RE-PAGE 1]")
    HumanActions(h.store, h.daemon.incidents.router).move(
        1, IncidentStatus.ACKNOWLEDGED, "asha", "", h.clock.t
    )
    h.run(1200, step=10)
    assert events(receiver)[3:] == ["triaged-1-ack"]
    h.metrics.set("svc_down", "api", 0)
    h.run(30, step=5)
    assert events(receiver)[-1] == "triaged-1-resolve-0"


def test_a_repage_queued_before_the_ack_is_not_sent_after_it(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + "repage: {P0: 5m}\n")
    h.metrics.set("svc_down", "api", 1)
    h.run(1)
    receiver.fail_next = 10**9
    h.run(305, step=5)  # the re-page is queued but the receiver is down
    HumanActions(h.store, h.daemon.incidents.router).move(
        1, IncidentStatus.ACKNOWLEDGED, "asha", "", h.clock.t
    )
    receiver.fail_next = 0
    h.run(120, step=5)
    assert events(receiver) == ["triaged-1-open", "triaged-1-ack"]
    assert [r.status for r in outbox.rows_for_incident(h.store, 1) if r.event == "repage"] == ["cancelled"]


def test_a_flapping_alert_reopens_one_incident_and_stops_paging_once_reported(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + "flap: {window: 1h, threshold: 3}\n")
    for _ in range(5):
        h.metrics.set("svc_latency", "api", 2)
        h.run(20, step=2)
        h.metrics.set("svc_latency", "api", 0)
        h.run(20, step=2)  # cleared past the 10 s hold: resolved; it returns within the 60 s window
    (incident,) = rows.list_incidents(h.store)  # reopened each time, never a new incident
    assert incident.reopen_count == 4
    assert events(receiver) == [
        "triaged-1-open",
        "triaged-1-resolve-0",
        "triaged-1-reopen-1",
        "triaged-1-resolve-1",
    ]
    kinds = h.timeline_kinds(incident.id)
    assert kinds.count("flapping") == 1 and kinds.count("reopen_not_paged") == 3
    flapping = next(t for t in rows.timeline(h.store, incident.id) if t["kind"] == "flapping")
    assert "HighLatency is flapping" in flapping["message"]


def test_two_series_of_one_rule_returning_together_are_one_return_not_a_flap(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    """Both probes of a service fail, clear and fail again: the rule returned once, so
    the reopen is paged. Before, every series' start counted, and the second outage
    (4 starts) was taken for flapping and reopened without a page."""
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + "flap: {window: 1h, threshold: 3}\n")
    for _ in range(2):
        h.metrics.set("svc_down", "api", 1, instance="a")
        h.metrics.set("svc_down", "api", 1, instance="b")
        h.run(10, step=2)
        h.metrics.set("svc_down", "api", 0, instance="a")
        h.metrics.set("svc_down", "api", 0, instance="b")
        h.run(20, step=2)
    assert events(receiver) == [
        "triaged-1-open",
        "triaged-1-resolve-0",
        "triaged-1-reopen-1",
        "triaged-1-resolve-1",
    ]
    assert "flapping" not in h.timeline_kinds(1)


def test_another_services_outages_do_not_make_a_rule_flap(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    """`web` went down twice; `api` going down twice after it is paged both times."""
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + "flap: {window: 1h, threshold: 3}\n")
    for service in ("web", "api"):
        for _ in range(2):
            h.metrics.set("svc_down", service, 1)
            h.run(10, step=2)
            h.metrics.set("svc_down", service, 0)
            h.run(20, step=2)
    (_web, api) = sorted(rows.list_incidents(h.store), key=lambda i: i.id)
    assert "reopen_not_paged" not in h.timeline_kinds(api.id)
    assert f"triaged-{api.id}-reopen-1" in events(receiver)


def test_episode_starts_count_returns_of_the_rule() -> None:
    from triaged.alerts.flap import episode_starts

    # a and b start together, stop; a starts, b joins, a stops, b stops; a stop with
    # no start seen is not counted below zero; a series left firing by a hand resolve
    # (its incident's end, 0, with no stop) does not hide the next return.
    changes = [(5.0, -1), (10.0, 1), (10.0, 1), (20.0, -1), (20.0, -1), (30.0, 1), (35.0, 1),
               (36.0, -1), (40.0, -1), (50.0, 1), (60.0, 0), (70.0, 1)]  # fmt: skip
    assert episode_starts(changes) == [10.0, 30.0, 50.0, 70.0]
