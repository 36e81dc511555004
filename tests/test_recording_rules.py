"""Recording rules inside the daemon: each rule's output is written back as series,
and one rule's write never marks another rule's output stale."""

from __future__ import annotations

import math
from pathlib import Path

from triaged.app import build
from triaged.config import load_config
from triaged.model import Labels, Matcher, MatchOp


def test_two_recording_rules_keep_their_own_series(tmp_path: Path) -> None:
    (tmp_path / "r.rules.yml").write_text(
        "groups:\n  - name: rec\n    rules:\n"
        "      - record: job:a:sum\n        expr: sum(metric_a)\n"
        "      - record: job:b:sum\n        expr: sum(metric_b)\n"
    )
    (tmp_path / "t.yaml").write_text(
        "storage: {db: t.db}\nrule_files: ['*.rules.yml']\nevaluation_interval: 10s\n"
    )
    daemon = build(load_config(tmp_path / "t.yaml"), sources=[])
    try:
        for i, now in enumerate((1000.0, 1010.0, 1020.0)):
            daemon.storage.append(Labels.of(__name__="metric_a"), int(now * 1000), 1.0 + i)
            daemon.storage.append(Labels.of(__name__="metric_b"), int(now * 1000), 10.0 + i)
            daemon.cycle(now)
        for name, expected in (("job:a:sum", [1.0, 2.0, 3.0]), ("job:b:sum", [10.0, 11.0, 12.0])):
            (series,) = daemon.storage.select([Matcher("__name__", MatchOp.EQ, name)], 0, 2_000_000)
            assert list(series.values) == expected, name
            assert not any(math.isnan(v) for v in series.values)
    finally:
        daemon.close()
        daemon.store.close()
