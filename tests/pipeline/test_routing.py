"""The routing tree: labels to receivers with `continue`, inherited timings, P0/P1
immediate, group_wait for the rest; `triaged route test`; config errors located."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.harness import MakeHarness, webhook
from triaged.alerts.route import RouteNode, Router
from triaged.alerts.silence import parse_matchers
from triaged.cli import cli
from triaged.config import parse_config
from triaged.errors import ConfigError
from triaged.messages import Event
from triaged.model import Severity
from triaged.store import incidents as rows
from triaged.testing.receiver import RecordingReceiver
from triaged.yamlfile import load_yaml_text

TREE = RouteNode(
    receiver="default",
    group_wait_s=30,
    routes=(
        RouteNode(matchers=parse_matchers(['severity=~"P0|P1"']), receiver="pager", continue_=True),
        RouteNode(
            matchers=parse_matchers(["team=payments"]),
            receiver="payments",
            group_wait_s=5,
            routes=(RouteNode(matchers=parse_matchers(["env=staging"]), receiver="payments-staging"),),
        ),
        RouteNode(
            matchers=parse_matchers(["team=search"]), events=frozenset({Event.OPEN}), receiver="search"
        ),
    ),
)


@pytest.mark.parametrize(
    ("labels", "severity", "event", "expected"),
    [
        ({"team": "payments"}, Severity.P1, Event.OPEN, ["pager", "payments"]),  # continue
        ({"team": "payments"}, Severity.P2, Event.OPEN, ["payments"]),
        ({"team": "payments", "env": "staging"}, Severity.P3, Event.OPEN, ["payments-staging"]),
        ({"team": "search"}, Severity.P3, Event.RESOLVE, ["default"]),  # event filter misses: falls back
        ({"team": "nobody"}, Severity.P3, Event.OPEN, ["default"]),
        ({"team": "nobody"}, Severity.P0, Event.OPEN, ["pager"]),
    ],
)
def test_routing_tree_picks_receivers(
    labels: dict[str, str], severity: Severity, event: Event, expected: list[str]
) -> None:
    assert Router(TREE).receivers(labels, severity, event) == expected


def test_timings_are_inherited_and_overridden() -> None:
    (d,) = Router(TREE).destinations({"team": "payments", "env": "staging"}, Severity.P3, Event.OPEN)
    assert (d.receiver, d.path, d.group_wait_s) == ("payments-staging", "root/1/0", 5)
    (d,) = Router(TREE).destinations({}, Severity.P3, Event.OPEN)
    assert (d.receiver, d.group_wait_s) == ("default", 30)


def test_p1_pages_at_once_while_p3_waits_group_wait_and_batches(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    h = make_harness(
        "notifiers:\n" + webhook("pager", receiver.url) + "route: {receiver: pager, group_wait: 60s}\n"
    )
    h.metrics.set("svc_latency", "api", 2)
    h.metrics.set("svc_disk", "search", 0.95)
    h.run(1)
    assert [p["title"] for p in receiver.payloads()] == ["[P1] api is slow"]
    h.metrics.set("svc_disk", "search", 0.97, mount="/data")  # joins during the wait
    h.run(58)
    assert len(receiver.payloads()) == 1
    h.run(2)
    second = receiver.payloads()[1]
    assert second["dedupKey"] == "triaged-2-open" and len(second["alerts"]) == 2


def test_an_incident_resolved_within_group_wait_pages_nobody(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    h = make_harness(
        "notifiers:\n" + webhook("pager", receiver.url) + "route: {receiver: pager, group_wait: 5m}\n"
    )
    h.metrics.set("svc_disk", "search", 0.95)
    h.run(20)
    h.metrics.set("svc_disk", "search", 0.5)
    h.run(400, step=10)
    assert receiver.payloads() == []
    (incident,) = rows.list_incidents(h.store)
    assert incident.resolved_at is not None
    assert "notification_cancelled" in h.timeline_kinds(incident.id)


def test_escalation_to_p1_during_group_wait_sends_open_then_escalate_in_order(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    h = make_harness(
        "notifiers:\n" + webhook("pager", receiver.url) + "route: {receiver: pager, group_wait: 5m}\n"
    )
    h.metrics.set("svc_disk", "api", 0.95)
    h.run(10)
    h.metrics.set("svc_latency", "api", 2)
    h.run(2)
    assert [p["event"] for p in receiver.payloads()] == ["open", "escalate"]


CONFIG = """
notifiers:
  - {name: pager, type: webhook, url: "http://127.0.0.1:1/hook"}
  - {name: chat, type: webhook, url: "http://127.0.0.1:2/hook"}
route:
  receiver: chat
  routes:
    - matchers: ['severity=~"P0|P1"']
      receiver: pager
      repeat_interval: 5m
inhibit_rules:
  - source_matchers: ['alertname="ServiceDown"']
    target_matchers: ['severity=~"P1|P2"']
    equal: [service]
"""


def test_route_test_shows_receivers_and_what_would_mute(tmp_path: Path) -> None:
    cfg = tmp_path / "t.yaml"
    cfg.write_text(f'storage: {{db: "{tmp_path / "t.db"}"}}\n' + CONFIG)
    out = CliRunner().invoke(
        cli, ["route", "test", "--labels", "severity=critical,service=x", "-c", str(cfg)]
    )
    assert out.exit_code == 0, out.output
    assert "→ pager" in out.output and "re-page every 5m" in out.output
    assert "nothing would mute it now" in out.output
    # With a store holding a silence for the service, the silence is shown.
    from triaged.alerts.silence import Silence
    from triaged.store import open_store, silences

    store = open_store(tmp_path / "t.db")
    import time

    silences.add(
        store, Silence(0, parse_matchers(["service=x"]), time.time(), time.time() + 600, "asha", "deploy", 0)
    )
    store.close()
    out = CliRunner().invoke(cli, ["route", "test", "--labels", "severity=P2,service=x", "-c", str(cfg)])
    assert "→ chat" in out.output and "MUTED by silence #1 by asha" in out.output


@pytest.mark.parametrize(
    ("snippet", "line", "message"),
    [
        ("route:\n  receiver: nobody\n", 4, "not a configured notifier"),
        ("route:\n  receiver: pager\n  routes:\n    - matchers: ['sev~~x']\n", 6, "bad matcher format"),
        ("maintenance:\n  - name: w\n    schedule: '0 25 * * *'\n    duration: 1h\n    match: {a: b}\n", 5,
         "out of range"),
        ("maintenance:\n  - name: w\n    schedule: '0 2 * * *'\n    duration: 1h\n    timezone: Mars/Base\n"
         "    match: {a: b}\n", 7, "unknown time zone"),
        ("maintenance:\n  - name: w\n    schedule: '0 2 30 2 *'\n    duration: 1h\n    match: {a: b}\n", 5,
         "schedule '0 2 30 2 *' never opens: no month it names has day 30"),
        ("maintenance:\n  - {name: w, schedule: '0 2 * * *', duration: 1h, match: {a: b}}\n"
         "  - {name: w, schedule: '0 3 * * *', duration: 1h, match: {a: c}}\n", 5,
         "maintenance window 'w' is already defined at line 4"),
        ("repage:\n  P0: 10s\n", 4, "under 1m"),
        ("fallback:\n  - {receiver: pager, to: ghost}\n", 4, "not a configured notifier"),
        ("routes:\n  - receiver: pager\nroute:\n  receiver: pager\n", 5, "not both"),
    ],
)  # fmt: skip
def test_config_errors_name_file_and_line(snippet: str, line: int, message: str) -> None:
    text = "notifiers:\n  - {name: pager, type: log}\n" + snippet
    with pytest.raises(ConfigError) as err:
        parse_config(load_yaml_text(text, "t.yaml"), "t.yaml")
    assert err.value.line == line and message in str(err.value), str(err.value)


def test_matchers_take_go_regex_syntax_as_promql_does() -> None:
    # An SRE copies a selector from a rule: RE2 lets `(?i)` sit mid-pattern, `re` does not.
    (matcher,) = parse_matchers(['service=~"web|(?i)api"'])
    assert [matcher.matches(v) for v in ("web", "API", "Api", "WEB", "apis")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_an_escalation_to_p0_is_not_held_behind_its_open_waiting_out_a_retry(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    """The P1 open failed (the pager was briefly down) and waits out its backoff; the
    pager is back when the incident turns P0: the open goes again at once and the
    escalation right after it, not at the end of the open's backoff."""
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url))  # retries from 2 s on
    receiver.fail_next = 1
    h.metrics.set("svc_latency", "api", 2)  # P1
    h.run(1)
    assert receiver.payloads() == []
    (row,) = h.store.query("SELECT due_at FROM outbox")
    assert row["due_at"] > h.clock.t + 1, "the open waits out its backoff"
    h.metrics.set("svc_down", "api", 1)  # P0 joins a second later
    h.run(1)
    assert [p["event"] for p in receiver.payloads()] == ["open", "escalate"]
