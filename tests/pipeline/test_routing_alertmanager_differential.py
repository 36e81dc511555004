"""Routing and matcher parsing, checked against Alertmanager 0.25.

Every expected outcome here was recorded from Alertmanager 0.25.0 (the Debian
package): receivers from ``amtool config routes test``, parsed matchers from
``amtool config routes`` on a route whose ``matchers:`` is the line, and refusals from
``amtool check-config``. The cases come from a differential run of random routing
trees, label sets and matcher lines against both systems; these are the ones that
differed before the fix, plus the shapes an SRE copies from an Alertmanager config.
Alertmanager is not needed to run them.

Where triaged differs on purpose, the case says what Alertmanager does and why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from triaged.alerts.inhibit import Inhibitor
from triaged.alerts.route import Router
from triaged.alerts.silence import MatcherError, alert_labels, parse_matchers
from triaged.cli import cli
from triaged.config import Config, parse_config
from triaged.errors import ConfigError
from triaged.messages import Event
from triaged.model import Labels, Severity
from triaged.rules.alerting import Alert, AlertState
from triaged.yamlfile import load_yaml_text

RECEIVERS = (
    "default", "db-pager", "db-chat", "db-dev", "pay-canary", "versioned", "regional", "utf8",
    "escaped", "ownerless", "sre",
)  # fmt: skip
NOTIFIERS = "notifiers:\n" + "".join(f"  - {{name: {r}, type: log}}\n" for r in RECEIVERS)

# The same tree was given to Alertmanager, with `receivers:` in place of `notifiers:`.
TREE = r"""
route:
  receiver: default
  routes:
    - matchers: ['{team="db", env=~"prod|staging"}']
      receiver: db-pager
      continue: true
    - matchers: ['team=db']
      receiver: db-chat
      routes:
        - matchers: ['env!~"prod.*"']
          receiver: db-dev
        - match_re: {service: '^(api|web)$'}
    - match: {team: 'payments', canary: true, shard: 0x10}
      receiver: pay-canary
    - match_re: {service: '[[:alpha:]]+-v\d'}
      receiver: versioned
    - matchers: ['region=~"eu-.*|us-(east|west)-[0-9]"', 'tier!=""']
      receiver: regional
      continue: true
    - matchers: ['owner="Zoë", note="a,b"']
      receiver: utf8
    - matchers: ['path="C:\\temp\\\"x\""']
      receiver: escaped
    - matchers: ['team=""', "service=~'.+'"]
      receiver: ownerless
    - matchers: ['a:b=""', 'team=~"(?i)SRE"']
      receiver: sre
"""


def config(text: str) -> Config:
    return parse_config(load_yaml_text(NOTIFIERS + text, "t.yaml"), "t.yaml")


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        config(text)
    return str(err.value)


@pytest.fixture(scope="module")
def router() -> Router:
    route = config(TREE).alerting.route
    assert route is not None
    return Router(route)


# -- which receivers get the alert (amtool config routes test) -----------------------------
@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"team": "db", "env": "prod"}, ["db-pager", "db-chat"]),  # continue, then the next sibling
        ({"team": "db", "env": "staging"}, ["db-pager", "db-dev"]),
        ({"team": "db", "env": "dev"}, ["db-dev"]),
        ({"team": "db", "env": "production"}, ["db-chat"]),  # the child misses: its parent takes it
        ({"team": "db", "env": "prod", "service": "api"}, ["db-pager", "db-chat"]),
        ({"team": "db", "service": "web"}, ["db-dev"]),  # env missing is env="", which !~ prod.*
        ({"team": "db"}, ["db-dev"]),
        # `match:` values are read as written: `true` and `0x10`, not `True` and `16`.
        ({"team": "payments", "canary": "true", "shard": "0x10"}, ["pay-canary"]),
        ({"team": "payments", "canary": "True", "shard": "16"}, ["default"]),
        ({"team": "payments", "canary": "true"}, ["default"]),
        ({"service": "checkout-v2"}, ["versioned"]),  # POSIX class and \d
        ({"service": "checkout-v22"}, ["default"]),  # anchored at both ends
        ({"region": "eu-west-1", "tier": "1"}, ["regional"]),
        ({"region": "us-east-1", "tier": "1"}, ["regional"]),
        ({"region": "us-north-1", "tier": "1"}, ["default"]),
        ({"region": "eu-west-1"}, ["default"]),  # tier!="" needs the label
        ({"region": "eu-west-1", "tier": "1", "owner": "Zoë", "note": "a,b"}, ["regional", "utf8"]),
        ({"owner": "Zoë", "note": "a,b"}, ["utf8"]),  # a comma inside quotes is the value's
        ({"owner": "Zoe", "note": "a,b"}, ["default"]),
        ({"owner": "Zoë", "note": "a"}, ["default"]),
        ({"path": 'C:\\temp\\"x"'}, ["escaped"]),  # \\ and \" unescaped, \t kept as written
        ({"path": "C:\\temp\\x"}, ["default"]),
        ({"service": "api"}, ["default"]),  # single quotes are part of the regex: '.+' needs them
        ({"team": "sre"}, ["sre"]),  # a:b="" matches the missing label; (?i) folds case
        ({"team": "SRE"}, ["sre"]),
        ({}, ["default"]),
    ],
)
def test_receivers_are_those_alertmanager_picks(
    router: Router, labels: dict[str, str], receivers: list[str]
) -> None:
    assert router.receivers(labels, Severity.P3, Event.OPEN) == receivers


def test_a_receiver_picked_by_two_routes_gets_one_notification() -> None:
    # Alertmanager 0.25 answers "r1,r1": two routes, two aggregation groups, two
    # notifications. triaged sends each receiver one notification per event
    # (docs/alerting.md, Routing), with the first route's timing.
    route = config(
        "route:\n  receiver: default\n  routes:\n"
        "    - {receiver: db-chat, continue: true}\n    - {receiver: db-chat}\n"
    ).alerting.route
    assert route is not None
    assert Router(route).receivers({}, Severity.P3, Event.OPEN) == ["db-chat"]


# -- matcher lines (amtool config routes on `matchers: [LINE]`) -----------------------------
@pytest.mark.parametrize(
    ("line", "matchers"),
    [
        ('{service="api", env!="dev"}', ['env!="dev"', 'service="api"']),
        ("service=api,env=prod", ['env="prod"', 'service="api"']),
        ('service="api", ', ['service="api"']),
        ('path=~"/a,/b"', ['path=~"/a,/b"']),
        ('msg="say \\"hi\\", then go"', ['msg="say \\"hi\\", then go"']),
        # One leading `{` and one trailing `}` are dropped, each on its own (triaged kept
        # `"x"}` as the value, quotes and brace included, and matched nothing).
        ('a="x"}', ['a="x"']),
        ('{a="x"', ['a="x"']),
        ("a=x\ny", ['a="x\\ny"']),  # an unquoted value may hold a newline
        ("a=a\\\\b", ['a="a\\\\b"']),  # escapes apply to unquoted values too
        ('a="a\\.b"', ['a="a\\\\.b"']),  # any other backslash is kept
        ("a=~'x'", ["a=~\"'x'\""]),  # single quotes are not quotes
        ("a!~ x|y ", ['a!~"x|y"']),
        ("a==b", ['a="=b"']),
        ('a:b="x"', ['a:b="x"']),  # a name may hold ':'
        ('a=""', ['a=""']),
        ("", []),  # no matcher at all
        ("{}", []),
        ('a = "x" ', ['a="x"']),
    ],
)
def test_matcher_lines_parse_as_alertmanager_parses_them(line: str, matchers: list[str]) -> None:
    assert sorted(str(m) for m in parse_matchers([line])) == sorted(matchers)


@pytest.mark.parametrize(
    ("line", "alertmanager", "message"),
    [
        # A double quote must be escaped unless it closes the value: triaged took the
        # text as written, quote included, and the route silently matched nothing.
        ('a="x\\"', 'matcher value contains unescaped double quote: "x\\"', "unescaped double quote"),
        ('a=b"c', 'matcher value contains unescaped double quote: b"c', "unescaped double quote"),
        ('a="prod', 'matcher value contains unescaped double quote: "prod', "unescaped double quote"),
        (
            'env="prod", team=db"',
            'matcher value contains unescaped double quote: db"',
            "unescaped double quote",
        ),
        ("a=b,,c=d", "bad matcher format:", "bad matcher format"),
        (",", "bad matcher format:", "bad matcher format"),
        ("1a=x", "bad matcher format: 1a=x", "bad matcher format"),
        ("a-b=x", "bad matcher format: a-b=x", "bad matcher format"),
        ("a~x", "bad matcher format: a~x", "bad matcher format"),
        ('a=~"(?=x)"', "error parsing regexp: invalid or unsupported Perl syntax: `(?=`", "lookahead"),
        # The first mistake in the line is the one reported, as in Alertmanager.
        ('a=~"(x",,b=c', "error parsing regexp: missing closing ): `^(?:(x)$`", "invalid regex"),
        ('a=~"x{1001}"', "error parsing regexp: invalid repeat count: `{1001}`", "repeat count"),
        ('a=~"\\\\Z"', "error parsing regexp: invalid escape sequence: `\\Z`", "\\Z"),
    ],
)
def test_matcher_lines_alertmanager_refuses_are_refused(line: str, alertmanager: str, message: str) -> None:
    with pytest.raises(MatcherError) as err:
        parse_matchers([line])
    assert message in str(err.value), f"Alertmanager: {alertmanager}; triaged: {err.value}"


@pytest.mark.parametrize(
    ("line", "alertmanager"),
    [
        (' {a="x"} ', 'bad matcher format: {a="x"}'),
        ('{a="x"} ', 'matcher value contains unescaped double quote: "x"}'),
    ],
)
def test_spaces_around_a_braced_list_are_allowed(line: str, alertmanager: str) -> None:
    # Deliberate: Alertmanager refuses these (see `alertmanager`), triaged reads the
    # list the spaces are around. Nothing Alertmanager accepts changes meaning.
    assert [str(m) for m in parse_matchers([line])] == ['a="x"']


# -- config accepted or refused (amtool check-config) ---------------------------------------
CHILD = "route:\n  receiver: default\n  routes:\n    - receiver: db-chat\n      {}\n"


@pytest.mark.parametrize(
    ("snippet", "alertmanager", "message"),
    [
        (CHILD.format("match: {a-b: x}"), 'invalid label name "a-b"', "invalid label name 'a-b'"),
        # A matcher line may name `a:b`, a `match:` key may not.
        (CHILD.format("match: {a:b: x}"), 'invalid label name "a:b"', "invalid label name 'a:b'"),
        (CHILD.format("match_re: {1a: x}"), 'invalid label name "1a"', "invalid label name '1a'"),
        (CHILD.format("match_re: {a: '(x'}"), "error parsing regexp: missing closing )", "invalid regex"),
        (CHILD.format("matchers: ['a=\"prod']"), "unescaped double quote", "unescaped double quote"),
        (CHILD.format("matchers: 'a=x'"), "cannot unmarshal !!str `a=x` into []string", "must be a list"),
        (CHILD.format("continue: 'true'"), "cannot unmarshal !!str `true` into bool", "true or false"),
        ("route:\n  receiver: default\n  match: {a: x}\n", "root route must not have any matchers",
         "root route must not have match"),
        ("route:\n  receiver: default\n  continue: true\n", "cannot have continue in root route",
         "root route cannot have continue"),
        ("route: {}\n", "root route must specify a default receiver", "root route needs a receiver"),
        ("inhibit_rules:\n  - {source_match: {a-b: x}, target_match: {b: y}}\n", 'invalid label name "a-b"',
         "invalid label name 'a-b'"),
        ("inhibit_rules:\n  - {source_matchers: ['a=x'], target_matchers: ['b=\"y']}\n",
         "unescaped double quote", "unescaped double quote"),
        ("inhibit_rules:\n  - {source_matchers: ['a=x'], target_matchers: ['b=y'], equal: ['a:b']}\n",
         '"a:b" is not a valid label name', "not a valid label name"),
    ],
)  # fmt: skip
def test_configs_alertmanager_refuses_are_refused(snippet: str, alertmanager: str, message: str) -> None:
    error = refusal(snippet)
    assert message in error, f"Alertmanager: {alertmanager}; triaged: {error}"


@pytest.mark.parametrize(
    "snippet",
    [
        # A root with matcher keys that hold no matcher takes everything: allowed.
        "route:\n  receiver: default\n  matchers: []\n",
        "route:\n  receiver: default\n  matchers: ['']\n",
        "route:\n  receiver: default\n  match: {}\n",
        "route:\n  receiver: default\n  continue: false\n",
        CHILD.format("matchers: ['{}']"),
        CHILD.format("matchers: ~"),
        CHILD.format("match: {a: ~, b: yes, c: 1.10}"),
        CHILD.format("matchers: ['a:b=\"x\"']"),
        CHILD.format("group_wait: 1h30m"),
        CHILD.format("routes: []"),
        "route:\n  receiver: default\n  routes:\n    - {}\n",
    ],
)
def test_configs_alertmanager_accepts_are_accepted(snippet: str) -> None:
    assert config(snippet).alerting.route is not None


@pytest.mark.parametrize(
    ("snippet", "alertmanager", "message"),
    [
        # Deliberate, each documented in docs/alerting.md ("Coming from Alertmanager"):
        # grouping is per incident, not per route;
        (CHILD.format("group_by: [a]"), "accepted", "incidents.group_by"),
        # a re-page under a minute would page continuously (Alertmanager accepts 30s).
        (CHILD.format("repeat_interval: 30s"), "accepted", "under 1m"),
    ],
)
def test_route_settings_triaged_refuses_on_purpose(snippet: str, alertmanager: str, message: str) -> None:
    assert message in refusal(snippet)


def test_route_settings_triaged_accepts_on_purpose() -> None:
    # Alertmanager refuses `repeat_interval: 0s` and `group_interval: 0s` ("cannot be
    # zero"); in triaged 0s turns re-paging off and both intervals default to 0.
    route = config(CHILD.format("repeat_interval: 0s\n      group_interval: 0s")).alerting.route
    assert route is not None
    assert (route.routes[0].repeat_interval_s, route.routes[0].group_interval_s) == (0, 0)


def test_match_values_are_read_as_written() -> None:
    # Alertmanager reads `match: {canary: true, shard: 0x10, ratio: 1.10, note: ~}` as
    # "true", "0x10", "1.10" and "" (missing); triaged read "True", "16", "1.1", "None".
    route = config(CHILD.format("match: {canary: true, shard: 0x10, ratio: 1.10, note: ~}")).alerting.route
    assert route is not None
    assert sorted(str(m) for m in route.routes[0].matchers) == [
        'canary="true"',
        'note=""',
        'ratio="1.10"',
        'shard="0x10"',
    ]


# -- inhibition (a real Alertmanager 0.25 fed the alerts through /api/v2/alerts) --------------
def firing(**labels: str) -> Alert:
    return Alert(labels["alertname"], Labels.of(**labels), {}, AlertState.FIRING, 0.0, 1.0, fired_at=0.0)


@pytest.mark.parametrize(
    ("rule", "alerts", "inhibited"),
    [
        # equal on a label both lack counts as equal
        ("{source_match: {a: x}, target_matchers: ['alertname=Slow'], equal: [b]}",
         [{"alertname": "Down", "a": "x"}, {"alertname": "Slow", "c": "y"}], [False, True]),
        ("{source_match: {a: x}, target_matchers: ['alertname=Slow'], equal: [b]}",
         [{"alertname": "Down", "a": "x"}, {"alertname": "Slow", "b": "y"}], [False, False]),
        # both alerts match both sides: neither mutes the other
        ("{source_matchers: ['a=~\"x|y\"'], target_matchers: ['a=~\"x|y\"']}",
         [{"alertname": "Down", "a": "x"}, {"alertname": "Slow", "a": "y"}], [False, False]),
        # a one-sided source still mutes a two-sided target
        ("{source_matchers: ['alertname=Down'], target_matchers: ['a!=\"\"']}",
         [{"alertname": "Down", "a": "x"}, {"alertname": "Slow", "a": "y"}, {"alertname": "Down", "a": "z"}],
         [False, True, False]),
        # `!~` on a missing label, `match_re` anchored
        ("{source_match_re: {a: 'x'}, target_matchers: ['b!~\"y\"'], equal: []}",
         [{"alertname": "Down", "a": "xx"}, {"alertname": "Slow"}], [False, False]),
    ],
)  # fmt: skip
def test_inhibition_mutes_what_alertmanager_mutes(
    rule: str, alerts: list[dict[str, str]], inhibited: list[bool]
) -> None:
    rules = config(f"inhibit_rules:\n  - {rule}\n").alerting.inhibit_rules
    fired = [firing(**a) for a in alerts]
    inhibitor = Inhibitor(rules, fired)
    assert [inhibitor.mute(a, alert_labels(a), 0.0) is not None for a in fired] == inhibited


# -- `triaged route test --labels` reads labels as amtool does ----------------------------------
def test_route_test_labels_keep_quoted_commas_and_escapes(tmp_path: Path) -> None:
    cfg = tmp_path / "t.yaml"
    cfg.write_text(f'storage: {{db: "{tmp_path / "t.db"}"}}\n' + NOTIFIERS + TREE)
    out = CliRunner().invoke(
        cli, ["route", "test", "--labels", 'owner=Zoë,note="a,b",severity=P3', "-c", str(cfg)]
    )
    assert out.exit_code == 0, out.output
    assert "→ utf8" in out.output, out.output
    bad = CliRunner().invoke(cli, ["route", "test", "--labels", 'note="a', "-c", str(cfg)])
    assert bad.exit_code == 2 and "unescaped double quote" in bad.output, bad.output
