"""`slos:`, `postmortem:`, `actions:` and `evidence:` parse into typed config; mistakes
are reported with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from triaged.config import load_config
from triaged.errors import ConfigError
from triaged.model import Severity

GOOD = """\
storage: {db: t.db}
slos:
  - name: checkout
    service: api
    good: sum(rate(http_requests_total{code!~"5.."}[5m]))
    total: sum(rate(http_requests_total[5m]))
    objective: 99.9
    window: 30d
postmortem:
  due: 24h
  severities: [P0, critical, P2]
  dir: pm
actions:
  remind_before: 2d
  remind_at: "08:30"
evidence:
  before: 10m
  max_points: 500
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "triaged.yaml"
    p.write_text(text)
    return p


def test_sections_parse_into_typed_config(tmp_path: Path) -> None:
    lc = load_config(write(tmp_path, GOOD)).lifecycle
    (slo,) = lc.slos
    assert (slo.name, slo.service, slo.objective, slo.window_s, slo.interval_s) == (
        "checkout",
        "api",
        0.999,
        2_592_000.0,
        60.0,
    )
    assert lc.postmortem.due_s == 86_400 and lc.postmortem.severities == {Severity.P0, Severity.P2}
    assert lc.postmortem.dir == str(tmp_path / "pm")
    assert lc.actions.remind_before_s == 172_800 and lc.actions.remind_at == (8, 30)
    assert (lc.evidence.before_s, lc.evidence.max_points, lc.evidence.max_series, lc.evidence.step_s) == (
        600,
        500,
        20,
        None,
    )


def test_defaults_without_the_sections(tmp_path: Path) -> None:
    lc = load_config(write(tmp_path, "storage: {db: t.db}\n")).lifecycle
    assert lc.slos == () and lc.postmortem.due_s == 172_800
    assert lc.postmortem.severities == {Severity.P0, Severity.P1}


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("objective: 99.9", "objective: 100", 7, "objective must be a percentage"),
        ("total: sum(rate(http_requests_total[5m]))", "total: sum(rate(", 6, "total: parse error"),
        ('remind_at: "08:30"', 'remind_at: "8h"', 15, "remind_at must be HH:MM"),
        ("due: 24h", "due: soon", 10, "invalid duration"),
        ("max_points: 500", "max_points: -1", 18, "positive integer"),
        ("  dir: pm", "  folder: pm", 12, "unknown key 'folder' in postmortem"),
    ],
)
def test_mistakes_name_file_and_line(tmp_path: Path, old: str, new: str, line: int, message: str) -> None:
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.line == line and message in str(err.value) and str(path) in str(err.value)
