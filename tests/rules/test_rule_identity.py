"""Rule identity across reloads and restarts, as Prometheus matches rules (CopyState):
group + name + labels, duplicates in order; never the expression. Restored ``for``
timers do not count the daemon's downtime (outage tolerance 1h, grace period 10m)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from triaged.app import Daemon, build
from triaged.config import load_config
from triaged.model import Labels, Matcher, MatchOp
from triaged.rules.alerting import AlertingRule, AlertState
from triaged.testing.clock import FakeClock

T0 = 1_800_000_000.0
UP = Labels.of(__name__="up", job="api")

PAIR = """\
groups:
  - name: availability
    rules:
      - alert: ApiDown
        expr: up == 0
        for: 2m
        labels: {severity: warning}
      - alert: ApiDown
        expr: up == 0
        for: 5m
        labels: {severity: critical}
"""


class Site:
    """A config and rule file in tmp_path; daemons built from them share one db."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        (tmp_path / "t.yaml").write_text(
            "storage: {db: t.db}\nrule_files: ['*.rules.yml']\nevaluation_interval: 10s\n"
        )
        self.daemons: list[Daemon] = []

    def rules(self, text: str) -> None:
        (self.dir / "a.rules.yml").write_text(textwrap.dedent(text))

    def start(self, now: float) -> Daemon:
        daemon = build(load_config(self.dir / "t.yaml"), sources=[], clock=FakeClock(now))
        self.daemons.append(daemon)
        return daemon

    def stop(self, daemon: Daemon) -> None:
        daemon.close()
        daemon.store.close()
        self.daemons.remove(daemon)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = Site(tmp_path)
    yield s
    for daemon in list(s.daemons):
        s.stop(daemon)


def step(daemon: Daemon, now: float, up: float = 0.0, series: Labels = UP) -> None:
    daemon.storage.append(series, int(now * 1000), up)
    daemon.cycle(now)


def alerts_by_severity(daemon: Daemon) -> dict[str, list[tuple[str, str, float]]]:
    """Each rule's alerts, keyed by the rule's own severity label."""
    out: dict[str, list[tuple[str, str, float]]] = {}
    for rule in daemon.rules.alerting_rules():
        out[rule.spec.labels["severity"]] = [
            (a.labels.get("severity"), a.state.value, a.active_at) for a in rule.alerts.values()
        ]
    return out


def only_alert(rule: AlertingRule) -> tuple[AlertState, float]:
    (alert,) = rule.alerts.values()
    return alert.state, alert.active_at


def test_same_name_and_expr_with_other_labels_keep_their_own_alerts_across_a_restart(site: Site) -> None:
    site.rules(PAIR)
    daemon = site.start(T0)
    for i in range(19):  # three minutes: warning (for 2m) fires, critical (5m) pending
        step(daemon, T0 + 10 * i)
    expected = {
        "warning": [("warning", "firing", T0)],
        "critical": [("critical", "pending", T0)],
    }
    assert alerts_by_severity(daemon) == expected
    (group,) = daemon.rules.groups
    assert len(group.health) == 2  # one health entry per rule, not one shared
    site.stop(daemon)

    again = site.start(T0 + 190)
    assert alerts_by_severity(again) == expected


def test_reload_of_an_unchanged_pair_keeps_each_rules_alerts(site: Site) -> None:
    site.rules(PAIR)
    daemon = site.start(T0)
    for i in range(19):
        step(daemon, T0 + 10 * i)
    before = alerts_by_severity(daemon)
    assert daemon.reload().ok
    assert alerts_by_severity(daemon) == before
    step(daemon, T0 + 190)
    assert alerts_by_severity(daemon)["warning"] == [("warning", "firing", T0)]


def test_editing_expr_keeps_a_firing_alert_firing(site: Site) -> None:
    site.rules(PAIR)
    daemon = site.start(T0)
    for i in range(19):
        step(daemon, T0 + 10 * i)
    site.rules(PAIR.replace("up == 0", "up < 1"))
    result = daemon.reload()
    assert result.ok and result.kept_alerts == 2
    step(daemon, T0 + 190)
    warning, critical = daemon.rules.alerting_rules()
    assert warning.spec.expr == "up < 1"
    assert only_alert(warning) == (AlertState.FIRING, T0)
    assert only_alert(critical) == (AlertState.PENDING, T0)
    assert next(iter(warning.alerts.values())).expr == "up < 1"
    assert daemon.last_cycle is not None  # the incident neither resolved nor opened again
    assert (daemon.last_cycle.resolved, daemon.last_cycle.opened) == ([], [])


def test_changing_labels_is_a_new_rule(site: Site) -> None:
    site.rules(PAIR)
    daemon = site.start(T0)
    for i in range(19):
        step(daemon, T0 + 10 * i)
    site.rules(PAIR.replace("severity: warning", "severity: info"))
    daemon.reload()
    assert [len(r.alerts) for r in daemon.rules.alerting_rules()] == [0, 1]


def test_recording_rules_with_one_name_and_expr_but_other_labels_both_survive(site: Site) -> None:
    site.rules(
        """\
        groups:
          - name: rec
            rules:
              - record: x:sum
                expr: sum(x)
                labels: {env: a}
              - record: x:sum
                expr: sum(x)
                labels: {env: b}
        """
    )
    daemon = site.start(T0)
    for i in range(3):
        step(daemon, T0 + 10 * i, up=float(i), series=Labels.of(__name__="x"))
    found = daemon.storage.select([Matcher("__name__", MatchOp.EQ, "x:sum")], 0, int(T0 * 2000))
    assert sorted(s.labels.get("env") for s in found) == ["a", "b"]
    for series in found:
        assert list(series.values) == [0.0, 1.0, 2.0]
        assert not any(math.isnan(v) for v in series.values)


def test_exact_duplicates_are_matched_in_order(site: Site) -> None:
    site.rules(PAIR.replace("severity: critical", "severity: warning"))  # same name and labels
    daemon = site.start(T0)
    for i in range(19):
        step(daemon, T0 + 10 * i)
    first, second = daemon.rules.alerting_rules()
    assert first.spec.key != second.spec.key
    assert only_alert(first)[0] is AlertState.FIRING
    assert only_alert(second)[0] is AlertState.PENDING
    daemon.reload()
    first, second = daemon.rules.alerting_rules()
    assert only_alert(first)[0] is AlertState.FIRING
    assert only_alert(second)[0] is AlertState.PENDING


HOUR = """\
groups:
  - name: slow
    rules:
      - alert: Backlog
        expr: up == 0
        for: 1h
        labels: {severity: P2}
"""


def restart_after(site: Site, down_at: float, back_at: float) -> Daemon:
    """Pending from T0, evaluated until ``down_at``, restarted at ``back_at``."""
    site.rules(HOUR)
    daemon = site.start(T0)
    step(daemon, T0)
    step(daemon, down_at)
    site.stop(daemon)
    return site.start(back_at)


def backlog(daemon: Daemon) -> tuple[AlertState, float]:
    (rule,) = daemon.rules.alerting_rules()
    return only_alert(rule)


def test_an_outage_longer_than_the_tolerance_starts_the_for_timer_again(site: Site) -> None:
    daemon = restart_after(site, down_at=T0 + 600, back_at=T0 + 7200)
    step(daemon, T0 + 7200)
    assert backlog(daemon) == (AlertState.PENDING, T0 + 7200)
    step(daemon, T0 + 7200 + 3590)
    assert backlog(daemon)[0] is AlertState.PENDING
    step(daemon, T0 + 7200 + 3600)
    assert backlog(daemon)[0] is AlertState.FIRING


def test_a_short_outage_does_not_count_as_pending_time(site: Site) -> None:
    # Down from 10m to 40m: 10m of the hour were served, 50m remain from 40m.
    daemon = restart_after(site, down_at=T0 + 600, back_at=T0 + 2400)
    step(daemon, T0 + 2400)
    assert backlog(daemon) == (AlertState.PENDING, T0 + 1800)
    step(daemon, T0 + 5390)
    assert backlog(daemon)[0] is AlertState.PENDING
    step(daemon, T0 + 5400)
    assert backlog(daemon)[0] is AlertState.FIRING


def test_an_alert_about_to_fire_waits_the_grace_period_after_a_restart(site: Site) -> None:
    # Down at 55m (5m left), back at 60m: it fires 10m after the restart, not at once.
    daemon = restart_after(site, down_at=T0 + 3300, back_at=T0 + 3600)
    step(daemon, T0 + 3600)
    assert backlog(daemon) == (AlertState.PENDING, T0 + 600)
    step(daemon, T0 + 4190)
    assert backlog(daemon)[0] is AlertState.PENDING
    step(daemon, T0 + 4200)
    assert backlog(daemon)[0] is AlertState.FIRING


def test_a_firing_alert_stays_firing_after_a_restart(site: Site) -> None:
    site.rules(HOUR)
    daemon = site.start(T0)
    step(daemon, T0)
    step(daemon, T0 + 3600)
    assert backlog(daemon) == (AlertState.FIRING, T0)
    site.stop(daemon)
    again = site.start(T0 + 3 * 3600)
    step(again, T0 + 3 * 3600)
    assert backlog(again) == (AlertState.FIRING, T0)
