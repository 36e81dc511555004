from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

RULES = """\
groups:
  - name: availability
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        labels:
          severity: P0
        annotations:
          summary: "Instance {{ $labels.instance }} down"
          description: "{{ $labels.instance }} of job {{ $labels.job }} has been down for 5 minutes."
"""

WriteFiles = Callable[..., Path]


@pytest.fixture
def write_files(tmp_path: Path) -> WriteFiles:
    """Write a rule file and a test file side by side; return the test file's path."""

    def write(test: str, rules: str = RULES) -> Path:
        (tmp_path / "alerts.yml").write_text(textwrap.dedent(rules))
        path = tmp_path / "alerts.test.yml"
        path.write_text(textwrap.dedent(test))
        return path

    return write
