"""Group ``limit:`` and ``query_offset:`` as in Prometheus, validated with file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from triaged.model import Labels, Matcher, MatchOp
from triaged.promql import Engine
from triaged.rules.format import RuleFileError, load_rule_file
from triaged.rules.manager import RuleManager
from triaged.rules.rule_tests import engine_query
from triaged.tsdb.storage import Storage, StorageLimits

T0 = 1_800_000_000.0


def load(tmp_path: Path, text: str) -> RuleManager:
    path = tmp_path / "x.rules.yml"
    path.write_text(textwrap.dedent(text))
    manager = RuleManager(10)
    manager.load(load_rule_file(path))
    return manager


def errors_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "x.rules.yml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(RuleFileError) as info:
        load_rule_file(path)
    return [str(e) for e in info.value.errors]


class World:
    """A real tsdb and engine; rules write back into it, as in the daemon."""

    def __init__(self) -> None:
        self.storage = Storage(StorageLimits(retention_ms=None))
        self.query = engine_query(Engine(self.storage))

    def record(self, key: str, samples: list[tuple[Labels, float]], now: float) -> None:
        self.storage.append_batch(f"record/{key}", samples, round(now * 1000))

    def put(self, now: float, **values: float) -> None:
        for instance, value in values.items():
            self.storage.append(Labels.of(__name__="up", instance=instance), round(now * 1000), value)

    def points(self, name: str) -> list[tuple[int, float]]:
        (series,) = self.storage.select([Matcher("__name__", MatchOp.EQ, name)], 0, round(T0 * 2000))
        return list(zip(series.timestamps, series.values, strict=True))


def health(manager: RuleManager) -> list[tuple[str, str]]:
    (group,) = manager.groups
    return [(h.health, h.last_error) for h in group.health.values()]


def test_alerting_rule_over_the_limit_fails_and_drops_all_its_alerts(tmp_path: Path) -> None:
    manager = load(
        tmp_path,
        """\
        groups:
          - name: g
            limit: 2
            rules:
              - alert: Down
                expr: up == 0
                labels: {severity: P2}
        """,
    )
    world = World()
    world.put(T0, a=0, b=0, c=1)
    alerts, _ = manager.evaluate_due(T0, world.query, world.record)
    assert len(alerts) == 2 and health(manager) == [("ok", "")]
    world.put(T0 + 10, a=0, b=0, c=0)
    alerts, _ = manager.evaluate_due(T0 + 10, world.query, world.record)
    assert alerts == []
    assert manager.alerting_rules()[0].alerts == {}
    assert health(manager) == [("err", "exceeded limit of 2 with 3 alerts")]
    world.put(T0 + 20, a=0, b=1, c=1)
    alerts, _ = manager.evaluate_due(T0 + 20, world.query, world.record)
    assert [a.labels.get("instance") for a in alerts] == ["a"]
    assert alerts[0].active_at == T0 + 20  # its old alert was dropped: a new one starts
    assert health(manager) == [("ok", "")]


def test_recording_rule_over_the_limit_fails_and_writes_nothing(tmp_path: Path) -> None:
    manager = load(
        tmp_path,
        """\
        groups:
          - name: g
            limit: 1
            rules:
              - record: instance:up
                expr: up
        """,
    )
    world = World()
    world.put(T0, a=1, b=1)
    manager.evaluate_due(T0, world.query, world.record)
    assert health(manager) == [("err", "exceeded limit of 1 with 2 series")]
    assert world.storage.select([Matcher("__name__", MatchOp.EQ, "instance:up")], 0, round(T0 * 2000)) == []


def test_query_offset_evaluates_the_past_and_writes_at_that_time(tmp_path: Path) -> None:
    manager = load(
        tmp_path,
        """\
        groups:
          - name: g
            query_offset: 1m
            rules:
              - record: up:copy
                expr: up
        """,
    )
    world = World()
    for i, v in enumerate((1.0, 2.0, 3.0)):
        world.put(T0 + 60 * i, a=v)
    manager.evaluate_due(T0 + 120, world.query, world.record)
    assert world.points("up:copy") == [(round((T0 + 60) * 1000), 2.0)]
    # Retention must reach back past the offset: 5m lookback + 1m offset.
    assert manager.max_range_ms() == 360_000


def test_query_offset_applies_to_alerts_but_timers_run_on_real_time(tmp_path: Path) -> None:
    manager = load(
        tmp_path,
        """\
        groups:
          - name: g
            query_offset: 30s
            rules:
              - alert: Down
                expr: up == 0
                for: 20s
        """,
    )
    world = World()
    world.put(T0, a=1)
    world.put(T0 + 10, a=0)
    manager.evaluate_due(T0 + 10, world.query, world.record)
    assert manager.alerting_rules()[0].alerts == {}  # at T0-20s nothing was down yet
    manager.evaluate_due(T0 + 40, world.query, world.record)
    (alert,) = manager.alerting_rules()[0].alerts.values()
    assert (alert.state.value, alert.active_at) == ("pending", T0 + 40)
    manager.evaluate_due(T0 + 60, world.query, world.record)
    assert alert.state.value == "firing"


def test_bad_limit_and_query_offset_are_located(tmp_path: Path) -> None:
    errs = errors_of(
        tmp_path,
        """\
        groups:
          - name: g
            limit: abc
            rules: []
          - name: h
            query_offset: soon
            rules: []
          - name: i
            limit: 1.5
            rules: []
        """,
    )
    path = tmp_path / "x.rules.yml"
    assert any(e.startswith(f"{path}:3:") and "limit" in e and "'abc'" in e for e in errs), errs
    assert any(e.startswith(f"{path}:6:") and "query_offset" in e for e in errs), errs
    assert any(e.startswith(f"{path}:9:") and "limit" in e for e in errs), errs
    assert len(errs) == 3


def test_limit_and_offset_parse_into_the_group(tmp_path: Path) -> None:
    path = tmp_path / "x.rules.yml"
    path.write_text("groups:\n  - name: g\n    limit: 10\n    query_offset: 2m\n    rules: []\n")
    (group,) = load_rule_file(path)
    assert (group.limit, group.query_offset_s) == (10, 120.0)
