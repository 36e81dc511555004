"""Alertmanager parity, as an SRE migrating from Alertmanager would test it: matcher
syntax and empty-value semantics, severity words in regexes, inhibition that never
silences both sides, the root route's checks, `match_re`, `group_by: ['...']`, and what
`triaged route test` / `triaged silence add` print. Each case names the Alertmanager
behaviour it follows (pkg/labels/parse.go, inhibit/inhibit.go, config/config.go)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.harness import MakeHarness, webhook
from triaged.alerts.inhibit import Inhibitor, InhibitRule
from triaged.alerts.pipeline import group_alerts
from triaged.alerts.route import Router
from triaged.alerts.silence import (
    MatcherError,
    Silence,
    alert_labels,
    equality_matchers,
    matches_all,
    parse_matchers,
    validate_silence_matchers,
)
from triaged.cli import cli
from triaged.config import Config, parse_config
from triaged.errors import ConfigError
from triaged.messages import Event
from triaged.model import Labels, Severity
from triaged.rules.alerting import Alert, AlertState
from triaged.store import incidents as rows
from triaged.store import open_store
from triaged.testing.receiver import RecordingReceiver
from triaged.yamlfile import load_yaml_text

NOTIFIERS = "notifiers:\n  - {name: pager, type: log}\n  - {name: chat, type: log}\n"


def config(snippet: str) -> Config:
    return parse_config(load_yaml_text(NOTIFIERS + snippet, "t.yaml"), "t.yaml")


def config_error(snippet: str) -> str:
    with pytest.raises(ConfigError) as err:
        config(snippet)
    return str(err.value)


def alert(rule: str, t: float = 0.0, **labels: str) -> Alert:
    return Alert(rule, Labels.of(alertname=rule, **labels), {}, AlertState.FIRING, t, 1.0, fired_at=t)


# -- matchers (pkg/labels/parse.go: ParseMatchers, ParseMatcher) ------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{service="api", env!="dev"}', ['service="api"', 'env!="dev"']),
        ("service=api,env=prod", ['service="api"', 'env="prod"']),
        ('service="api", ', ['service="api"']),  # a trailing comma is ignored
        ('path=~"/a,/b"', ['path=~"/a,/b"']),  # a comma inside quotes is part of the value
        ('msg="say \\"hi\\", then go"', ['msg="say \\"hi\\", then go"']),
    ],
)
def test_one_matchers_line_may_hold_several_comma_separated_matchers(text: str, expected: list[str]) -> None:
    # Alertmanager reads each `matchers:` line (and amtool argument) as a list; triaged
    # read 'service="api", env="prod"' as ONE matcher whose value never matches anything.
    assert [str(m) for m in parse_matchers([text])] == expected


def test_an_empty_matcher_between_commas_is_refused() -> None:
    with pytest.raises(MatcherError, match="empty matcher"):
        parse_matchers(['service="api",,env="prod"'])


def test_quoted_values_unescape_as_alertmanager_does() -> None:
    (m,) = parse_matchers(['path="a\\\\b\\"c\\nd"'])
    assert m.value == 'a\\b"c\nd'
    (r,) = parse_matchers(['host=~"db\\.prod"'])  # a lone escape stays a regex escape
    assert r.matches("db.prod") and not r.matches("dbxprod")


def test_match_map_values_are_literal_even_with_quotes_and_backslashes() -> None:
    (m,) = equality_matchers({"path": 'C:\\\\tmp "x"'})
    assert m.matches('C:\\\\tmp "x"')


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        ('team=""', {}, True),  # `=""` matches an alert without the label
        ('team=""', {"team": "db"}, False),
        ('team!=""', {}, False),  # `!=""` means "has the label"
        ('team!=""', {"team": "db"}, True),
        ('team=~".*"', {}, True),
        ('team=~".+"', {}, False),
        ('team!~".+"', {}, True),
        ('service=~"api"', {"service": "api-gateway"}, False),  # anchored at both ends
        ('service=~"api|web"', {"service": "web"}, True),
        ('service!~"api.*"', {"service": "apigw"}, False),
    ],
)
def test_empty_value_and_anchoring_semantics(matcher: str, labels: dict[str, str], expected: bool) -> None:
    assert matches_all(parse_matchers([matcher]), labels) is expected


@pytest.mark.parametrize(
    ("matcher", "severity", "expected"),
    [
        ('severity=~"critical|warning"', "P0", True),
        ('severity=~"critical|warning"', "P2", True),
        ('severity=~"critical|warning"', "P1", False),
        ('severity!~"critical|warning"', "P1", True),
        ('severity!~"critical|warning"', "P0", False),
        ('severity=~"(?i)CRIT.*"', "P0", True),
        ('severity=~"P0|P1"', "P1", True),
        ('severity=~".+"', None, False),
        ('severity=""', None, True),  # no severity label
        ('severity!=""', "P3", True),
    ],
)
def test_severity_words_in_a_regex_match_the_severity_they_stand_for(
    matcher: str, severity: str | None, expected: bool
) -> None:
    # Alerts' severities are normalised to P0–P3, so a regex copied from an Alertmanager
    # config (`severity=~"critical|warning"`) matched nothing at all.
    labels = {} if severity is None else {"severity": severity}
    assert matches_all(parse_matchers([matcher]), labels) is expected


def test_a_severity_regex_still_applies_to_a_severity_written_as_is() -> None:
    labels = alert_labels(alert("X", severity="critical"))  # normalised to P0
    assert matches_all(parse_matchers(['severity=~"critical"']), labels)


def test_a_silence_of_only_empty_matching_matchers_is_still_refused() -> None:
    with pytest.raises(MatcherError, match="empty label"):
        validate_silence_matchers(parse_matchers(['severity=""', 'team=~".*"']))


# -- inhibition (inhibit/inhibit.go: Mutes, inhibits) ------------------------------------
def test_two_alerts_matching_both_sides_do_not_mute_each_other() -> None:
    # source and target both match every P0/P1: Alertmanager disregards sources that also
    # match the target side when the target matches the source side. triaged muted BOTH
    # alerts (each by the other), so nobody was paged.
    rule = InhibitRule(
        "crit",
        parse_matchers(['severity=~"P0|P1"']),
        parse_matchers(['severity=~"P0|P1"']),
        ("service",),
    )
    down, slow = (
        alert("ServiceDown", service="api", severity="P0"),
        alert("HighLatency", service="api", severity="P1"),
    )
    inhibitor = Inhibitor([rule], [down, slow])
    assert inhibitor.mute(down, alert_labels(down), 0) is None
    assert inhibitor.mute(slow, alert_labels(slow), 0) is None


def test_a_one_sided_source_still_mutes_a_two_sided_target() -> None:
    rule = InhibitRule(
        "down",
        parse_matchers(['alertname="ServiceDown"']),
        parse_matchers(['severity=~"P0|P1"']),
        ("service",),
    )
    down = alert("ServiceDown", service="api", severity="P1")  # matches both sides itself
    other = alert("ServiceDown", service="api", severity="P0", instance="b")  # also both sides
    slow = alert("HighLatency", service="api", severity="P1")  # target only
    inhibitor = Inhibitor([rule], [down, other, slow])
    assert inhibitor.mute(slow, alert_labels(slow), 0) is not None
    assert inhibitor.mute(down, alert_labels(down), 0) is None  # not itself, not its twin
    assert inhibitor.would_inhibit(alert_labels(down)) == []


def test_equal_on_a_label_missing_from_both_alerts_counts_as_equal() -> None:
    rule = InhibitRule(
        "r",
        parse_matchers(["alertname=ServiceDown"]),
        parse_matchers(["alertname=HighLatency"]),
        ("cluster",),
    )
    down, slow = alert("ServiceDown", service="api"), alert("HighLatency", service="web")
    assert Inhibitor([rule], [down, slow]).mute(slow, alert_labels(slow), 0) is not None
    tagged = alert("HighLatency", cluster="eu")
    assert Inhibitor([rule], [down, tagged]).mute(tagged, alert_labels(tagged), 0) is None


def test_rules_sharing_a_name_keep_their_own_sources() -> None:
    first = InhibitRule(
        "same", parse_matchers(["alertname=ServiceDown"]), parse_matchers(["alertname=HighLatency"])
    )
    second = InhibitRule("same", parse_matchers(["alertname=Nothing"]), parse_matchers(["alertname=Other"]))
    down, slow = alert("ServiceDown"), alert("HighLatency")
    assert Inhibitor([first, second], [down, slow]).mute(slow, alert_labels(slow), 0) is not None


INHIBIT_BOTH_SIDES = """
inhibit_rules:
  - source_matchers: ['severity=~"P0|P1"']
    target_matchers: ['severity=~"P0|P1|P2"']
    equal: [service]
"""


def test_a_symmetric_inhibit_rule_still_pages_the_worst_alert(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + INHIBIT_BOTH_SIDES)
    h.daemon.incidents.policy = type(h.daemon.incidents.policy)(group_by=("service", "alertname"))
    h.metrics.set("svc_down", "api", 1)  # P0: both sides
    h.metrics.set("svc_latency", "api", 5)  # P1: both sides, same service
    h.metrics.set("svc_errors", "api", 3)  # P2: target only, muted by either
    h.run(4)
    titles = sorted(i.title for i in rows.list_incidents(h.store))
    assert titles == ["api is down", "api is slow"]
    assert {p["title"] for p in receiver.payloads()} == {"[P0] api is down", "[P1] api is slow"}


# -- routing tree config (config/config.go: Config.UnmarshalYAML, Route.UnmarshalYAML) ---
@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("route:\n  routes:\n    - {receiver: pager, match: {team: db}}\n", "root route needs a receiver"),
        ("route:\n  receiver: pager\n  matchers: ['team=db']\n", "root route must not have matchers"),
        ("route:\n  receiver: pager\n  match: {team: db}\n", "root route must not have match"),
        ("route:\n  receiver: pager\n  severities: [P0]\n", "root route must not have severities"),
        ("route:\n  receiver: pager\n  continue: true\n", "root route cannot have continue"),
        ("route:\n  receiver: pager\n  repeat_interval: 10s\n", "under 1m would page continuously"),
        ("route:\n  receiver: pager\n  group_by: [alertname]\n", "incidents.group_by"),
        ("route:\n  receiver: pager\n  routes:\n    - {receiver: chat, mute_time_intervals: [nights]}\n",
         "maintenance:"),
        ("route:\n  receiver: pager\n  routes:\n    - {receiver: chat, matchers: ['a=\"x\",,b=y']}\n",
         "empty matcher"),
        ("inhibit_rules:\n  - {source_match: {a: b}, target_match: {c: d}, equal: ['bad-name']}\n",
         "not a valid label name"),
    ],
)  # fmt: skip
def test_route_configs_alertmanager_refuses_are_refused(snippet: str, message: str) -> None:
    assert message in config_error(snippet)


def test_match_re_routes_and_inhibits_as_in_alertmanager() -> None:
    cfg = config(
        "route:\n  receiver: chat\n  routes:\n    - {receiver: pager, match_re: {service: 'api|web'}}\n"
        "inhibit_rules:\n  - {source_match_re: {alertname: 'Service.*'}, target_match_re: {alertname: 'High.*'}}\n"
    )
    assert cfg.alerting.route is not None
    router = Router(cfg.alerting.route)
    assert router.receivers({"service": "web"}, Severity.P2, Event.OPEN) == ["pager"]
    assert router.receivers({"service": "webapp"}, Severity.P2, Event.OPEN) == ["chat"]  # anchored
    (rule,) = cfg.alerting.inhibit_rules
    down, slow = alert("ServiceDown"), alert("HighLatency")
    assert Inhibitor([rule], [down, slow]).mute(slow, alert_labels(slow), 0) is not None


def test_a_route_may_turn_repaging_off_with_zero() -> None:
    cfg = config("route:\n  receiver: pager\n  repeat_interval: 0s\n")
    assert cfg.alerting.route is not None and cfg.alerting.route.repeat_interval_s == 0


# -- grouping ------------------------------------------------------------------------------
def test_group_by_dots_groups_by_every_label() -> None:
    # `group_by: ['...']` in Alertmanager: one group per label set. It was read as a label
    # named "..." that no alert has, so alerts fell back to one incident per rule.
    a = alert("HighLatency", service="api", instance="a")
    b = alert("HighLatency", service="api", instance="b")
    groups = group_alerts([a, b], ["..."])
    assert len(groups) == 2
    assert {g.labels["instance"] for g in groups.values()} == {"a", "b"}


# -- CLI -------------------------------------------------------------------------------------
ROUTE_CFG = """
route:
  receiver: chat
  group_wait: 30s
  group_interval: 5m
  routes:
    - matchers: ['severity=~"P0|P1"']
      receiver: pager
      repeat_interval: 0s
"""


def route_test(tmp_path: Path, *args: str) -> str:
    cfg = tmp_path / "t.yaml"
    cfg.write_text(f'storage: {{db: "{tmp_path / "t.db"}"}}\n' + NOTIFIERS + ROUTE_CFG)
    out = CliRunner().invoke(cli, ["route", "test", *args, "-c", str(cfg)])
    assert out.exit_code == 0, out.output
    return out.output


def test_route_test_says_re_page_off_when_the_route_turns_it_off(tmp_path: Path) -> None:
    out = route_test(tmp_path, "--labels", "severity=P0,service=api")
    assert "→ pager" in out and "first page now" in out
    assert "re-page off" in out, out  # it printed the `repage:` default, 10m


def test_route_test_shows_the_timer_that_applies_to_the_event(tmp_path: Path) -> None:
    out = route_test(tmp_path, "--labels", "severity=P3", "--event", "escalate")
    assert "→ chat" in out
    assert "sent ≥300s after the previous notification (group_interval)" in out, out
    assert "group_wait" not in out  # group_wait only delays a first page
    out = route_test(tmp_path, "--labels", "severity=P3")
    assert "first page after group_wait 30s" in out, out
    out = route_test(tmp_path, "--labels", "severity=P1", "--event", "resolve")
    assert "sent now" in out, out


def test_silence_add_reads_a_matcher_list_as_several_matchers(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    open_store(db).close()
    out = CliRunner().invoke(
        cli, ["silence", "add", '{service="api", env=~"staging|dev"}', "--for", "1h", "-m", "load test",
              "--by", "asha", "--db", str(db)],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert 'service="api",env=~"staging|dev"' in out.output


def test_silence_state_is_computed_from_start_and_end() -> None:
    s = Silence(1, parse_matchers(["service=api"]), 100.0, 200.0, "asha", "x", 50.0)
    assert [str(s.state(t)) for t in (99.0, 100.0, 199.0, 200.0)] == [
        "pending",
        "active",
        "active",
        "expired",
    ]


INHIBIT_WORDS = """
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity=~"error|warning"']
    equal: [service]
"""


def test_an_inhibit_rule_written_with_alertmanager_severity_words_mutes(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url) + INHIBIT_WORDS)
    h.daemon.incidents.policy = type(h.daemon.incidents.policy)(group_by=("service", "alertname"))
    h.metrics.set("svc_down", "api", 1)
    h.metrics.set("svc_latency", "api", 5)
    h.run(4)
    assert [i.title for i in rows.list_incidents(h.store)] == ["api is down"]


def test_repeat_interval_zero_on_a_route_means_no_re_page(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    h = make_harness(
        "notifiers:\n" + webhook("pager", receiver.url) + "route: {receiver: pager, repeat_interval: 0s}\n"
    )
    h.metrics.set("svc_down", "api", 1)
    h.run(1)
    h.run(25 * 60, step=30)  # past the P0 default of 10m, twice
    assert [p["event"] for p in receiver.payloads()] == ["open"]
