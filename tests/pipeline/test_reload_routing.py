"""A reload applies receivers, routing, maintenance windows, inhibition, SLOs and the
evaluation interval at once, as Alertmanager and Prometheus apply theirs on SIGHUP,
without the restart that would empty the in-memory series every rule reads; and it
drops no page queued for a receiver it removes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from triaged.app import Reloaded
from triaged.config import parse_config
from triaged.store import outbox, silences
from triaged.testing.receiver import RecordingReceiver
from triaged.yamlfile import load_yaml_text

from .harness import BASE, Harness, MakeHarness, webhook


@pytest.fixture
def second() -> Iterator[RecordingReceiver]:
    with RecordingReceiver() as r:
        yield r


def _service(payload: dict[str, Any]) -> str:
    return str(payload["alerts"][0]["labels"]["service"])


def _reload(
    h: Harness, tmp_path: Path, extra: str, *, interval: str = "1s", resolve_hold: str = "10s"
) -> Reloaded:
    """Reload the harness's daemon with the same rules and ``extra`` config."""
    text = BASE.format(db=tmp_path / "triaged.db", rules=tmp_path / "svc.rules.yml") + extra
    text = text.replace("evaluation_interval: 1s", f"evaluation_interval: {interval}")
    text = text.replace("resolve_hold: 10s", f"resolve_hold: {resolve_hold}")
    path = str(tmp_path / "triaged.yaml")
    return h.daemon.reload(parse_config(load_yaml_text(text, path), path))


def test_pages_after_a_reload_go_where_the_new_route_says(
    make_harness: MakeHarness, receiver: RecordingReceiver, second: RecordingReceiver, tmp_path: Path
) -> None:
    h = make_harness("notifiers:\n" + webhook("ops", receiver.url) + "route: {receiver: ops}\n")
    h.run(2)
    extra = "notifiers:\n" + webhook("ops", receiver.url) + webhook("payments", second.url)
    extra += "route:\n  receiver: ops\n  routes: [{matchers: ['service=\"pay\"'], receiver: payments}]\n"
    result = _reload(h, tmp_path, extra)
    assert result.ok and result.retiring == ()
    h.metrics.set("svc_down", "pay", 1)
    h.metrics.set("svc_down", "api", 1)
    h.run(3)
    assert [_service(p) for p in second.payloads()] == ["pay"]
    assert [_service(p) for p in receiver.payloads()] == ["api"]


def test_a_removed_receiver_still_sends_the_page_queued_for_it(
    make_harness: MakeHarness, receiver: RecordingReceiver, second: RecordingReceiver, tmp_path: Path
) -> None:
    """The on-call's receiver is down when the team moves to a new one: the page it
    owed is still delivered once it is back, not dead-lettered by the reload."""
    receiver.fail_next = 1000
    h = make_harness("notifiers:\n" + webhook("old", receiver.url) + "route: {receiver: old}\n")
    h.metrics.set("svc_down", "api", 1)
    h.run(3)
    assert receiver.payloads() == [] and outbox.counts(h.store).get("pending") == 1

    result = _reload(h, tmp_path, "notifiers:\n" + webhook("new", second.url) + "route: {receiver: new}\n")
    assert result.ok and result.retiring == ("old",)
    receiver.fail_next = 0
    h.metrics.set("svc_down", "db", 1)
    h.run(120)
    assert [(p["event"], _service(p)) for p in receiver.payloads()] == [("open", "api")]
    assert [(p["event"], _service(p)) for p in second.payloads()] == [("open", "db")]
    assert "dead" not in outbox.counts(h.store)
    # Once drained, the next reload lets it go.
    assert (
        _reload(
            h, tmp_path, "notifiers:\n" + webhook("new", second.url) + "route: {receiver: new}\n"
        ).retiring
        == ()
    )
    assert set(h.daemon.dispatcher.notifiers) == {"new"}


def test_a_maintenance_window_added_by_a_reload_mutes_from_the_next_cycle(
    make_harness: MakeHarness, receiver: RecordingReceiver, tmp_path: Path
) -> None:
    hook = "notifiers:\n" + webhook("ops", receiver.url)
    h = make_harness(hook)
    h.run(2)
    window = """maintenance:
  - name: db-upgrade
    schedule: "* * * * *"
    duration: 2h
    timezone: UTC
    match: {service: api}
    reason: DB upgrade
"""
    assert _reload(h, tmp_path, hook + window).ok
    h.metrics.set("svc_down", "api", 1)
    h.run(5)
    assert receiver.payloads() == []
    (muted,) = silences.muted(h.store, since=0, active_only=True)
    assert muted["kind"] == "maintenance" and muted["ref"] == "db-upgrade"


def test_an_inhibit_rule_added_by_a_reload_mutes_the_symptom(
    make_harness: MakeHarness, receiver: RecordingReceiver, tmp_path: Path
) -> None:
    hook = "notifiers:\n" + webhook("ops", receiver.url)
    h = make_harness(hook)
    inhibit = """inhibit_rules:
  - source_matchers: ['alertname="ServiceDown"']
    target_matchers: ['alertname="HighLatency"']
    equal: [service]
"""
    assert _reload(h, tmp_path, hook + inhibit).ok
    h.metrics.set("svc_down", "api", 1)
    h.metrics.set("svc_latency", "api", 5)
    h.run(3)
    alerts = [a["labels"]["alertname"] for p in receiver.payloads() for a in p.get("alerts", [])]
    assert "HighLatency" not in alerts and "ServiceDown" in alerts


def test_a_receiver_that_cannot_be_built_fails_the_reload_and_keeps_the_routing(
    make_harness: MakeHarness, receiver: RecordingReceiver, tmp_path: Path
) -> None:
    hook = "notifiers:\n" + webhook("ops", receiver.url)
    h = make_harness(hook + "route: {receiver: ops}\n")
    broken = hook + "  - {name: pager, type: ons}\nroute: {receiver: pager}\n"
    result = _reload(h, tmp_path, broken)
    assert not result.ok and "oci.notifiers.ons.topics is not set" in str(result.errors[0])
    h.metrics.set("svc_down", "api", 1)
    h.run(3)
    assert [p["event"] for p in receiver.payloads()] == ["open"]


def test_the_heartbeat_follows_its_receivers_new_address(
    receiver: RecordingReceiver, second: RecordingReceiver, tmp_path: Path
) -> None:
    """The dead man's switch beats through the receiver as reloaded: after moving the
    webhook to a new URL, beats must not keep going to the old one."""
    from triaged.app import build
    from triaged.config import load_config
    from triaged.runner import Runner
    from triaged.service.host import ServiceHost
    from triaged.testing.clock import FakeClock

    (tmp_path / "svc.rules.yml").write_text("groups: []\n")
    path = tmp_path / "triaged.yaml"
    text = BASE.format(db=tmp_path / "triaged.db", rules=tmp_path / "svc.rules.yml")
    text += "heartbeat: {receiver: hook, interval: 1h}\nnotifiers:\n"
    path.write_text(text + webhook("hook", receiver.url))
    daemon = build(load_config(path), clock=FakeClock(1_700_000_000.0))
    host = ServiceHost(Runner(daemon), str(path), environ={})
    try:
        path.write_text(text + webhook("hook", second.url))
        assert host.reload()["ok"]
        assert host.heartbeat is not None
        assert host.heartbeat.beat(daemon.clock.now()) == "sent"
        assert receiver.payloads() == [] and [p["event"] for p in second.payloads()] == ["heartbeat"]
    finally:
        daemon.close()
        daemon.store.close()


def test_a_page_queued_for_a_removed_receiver_just_after_the_reload_is_not_dropped(
    make_harness: MakeHarness, receiver: RecordingReceiver, second: RecordingReceiver, tmp_path: Path
) -> None:
    """A sweep on the dispatch thread routes with the tree it started with: a row it
    queues for the old receiver as the reload lands must still be sent, not
    dead-lettered as 'not configured'."""
    h = make_harness("notifiers:\n" + webhook("old", receiver.url) + "route: {receiver: old}\n")
    h.metrics.set("svc_down", "api", 1)
    h.run(3)
    (sent,) = outbox.rows_for_incident(h.store, 1)
    result = _reload(h, tmp_path, "notifiers:\n" + webhook("new", second.url) + "route: {receiver: new}\n")
    assert result.ok and result.retiring == ()  # nothing queued for it when it was removed
    late = {**sent.payload, "dedup_key": "triaged-1-late"}
    assert outbox.enqueue(
        h.store,
        incident_id=1,
        event=sent.event,
        receiver="old",
        dedup_key="triaged-1-late",
        payload=late,
        now=h.clock.now(),
    )
    h.run(3)
    assert "dead" not in outbox.counts(h.store)
    assert [p["dedupKey"] for p in receiver.payloads()] == [sent.dedup_key, "triaged-1-late"]


def test_a_new_evaluation_interval_applies_to_groups_without_their_own(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness()
    h.run(2)
    assert _reload(h, tmp_path, "", interval="5s").ok
    evaluated = 0
    for _ in range(20):
        h.clock.advance(1)
        evaluated += h.daemon.cycle(h.clock.t).evaluated
    assert evaluated == 4  # every 5 s, not every second


def test_an_slo_added_by_a_reload_is_recorded_from_then_on(make_harness: MakeHarness, tmp_path: Path) -> None:
    from triaged.store import slo as slo_rows

    h = make_harness()
    h.metrics.set("svc_latency", "api", 0.2)
    h.run(2)
    slos = """slos:
  - name: api-latency
    good: count(svc_latency < 1)
    total: count(svc_latency)
    objective: 99
    window: 1d
    interval: 10s
"""
    assert _reload(h, tmp_path, slos).ok
    h.run(30)
    assert [s["name"] for s in slo_rows.list_slos(h.store)] == ["api-latency"]
    points = slo_rows.samples(h.store, "api-latency", 0, h.clock.t)
    assert len(points) >= 3 and all(good == total == 1 for _, good, total, _ in points)


def test_a_longer_resolve_hold_applies_to_open_incidents_at_once(
    make_harness: MakeHarness, receiver: RecordingReceiver, tmp_path: Path
) -> None:
    """A flapping service: the SRE lengthens `resolve_hold` and reloads; the incident open
    now waits out the new hold instead of resolving (and re-paging) on the old one."""
    from triaged.store import incidents as rows

    hook = "notifiers:\n" + webhook("ops", receiver.url)
    h = make_harness(hook)
    h.metrics.set("svc_down", "api", 1)
    h.run(3)
    assert _reload(h, tmp_path, hook, resolve_hold="40s").ok
    h.metrics.set("svc_down", "api", 0)
    h.run(20)
    assert [i.status for i in rows.list_incidents(h.store)] != ["resolved"]
    h.run(30)
    assert [p["event"] for p in receiver.payloads()] == ["open", "resolve"]


def test_an_slo_taken_out_of_the_config_is_retired_not_stale_forever(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    """Renamed from api-latency to api-speed: `slo status` lists only the new name, while
    a report or postmortem of the days before still counts the old one."""
    from click.testing import CliRunner

    from triaged.cli import cli
    from triaged.incidents import slo as slo_mod

    slo = """slos:
  - name: {name}
    good: count(svc_latency < 1)
    total: count(svc_latency)
    objective: 99
    window: 1d
    interval: 10s
"""
    h = make_harness(slo.format(name="api-latency"))
    h.metrics.set("svc_latency", "api", 0.2)
    h.run(30)
    renamed_at = h.clock.t
    assert _reload(h, tmp_path, slo.format(name="api-speed")).ok
    h.run(30)
    assert [s.name for s in slo_mod.load_slos(h.store)] == ["api-speed"]
    assert [s.name for s in slo_mod.load_slos(h.store, since=renamed_at - 60)] == ["api-latency", "api-speed"]
    status = CliRunner().invoke(cli, ["slo", "status", "--db", str(tmp_path / "triaged.db")])
    assert status.exit_code == 0, status.output
    assert "api-speed" in status.output and "api-latency" not in status.output

    assert _reload(h, tmp_path, slo.format(name="api-latency")).ok  # back again: active
    h.run(11)
    assert [s.name for s in slo_mod.load_slos(h.store)] == ["api-latency"]


def test_an_escalation_policy_added_by_a_reload_pages_the_secondary(
    make_harness: MakeHarness, receiver: RecordingReceiver, second: RecordingReceiver, tmp_path: Path
) -> None:
    hooks = (
        "notifiers:\n"
        + webhook("ops", receiver.url)
        + webhook("boss", second.url)
        + "route: {receiver: ops}\n"
    )
    h = make_harness(hooks)
    h.metrics.set("svc_down", "api", 1)
    h.run(60)
    assert _reload(h, tmp_path, hooks + "escalation_policy: [{after: 5m, to: boss}]\n").ok
    h.run(5 * 60, step=10)
    assert [p["event"] for p in second.payloads()] == ["repage"]
