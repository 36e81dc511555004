"""The demo's rule file is a copy of the shipped rules with shorter windows: it must not
drift. Everything but range durations `[...]` and the lengths of `for:` and
`keep_firing_for:` has to match, so the demo always shows what production would page on."""

from __future__ import annotations

import re
from pathlib import Path

from triaged.rules.format import RuleSpec, load_rule_file

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "rules" / "bharatmart.rules.yml"
DEMO = REPO / "daemon" / "triaged" / "data" / "demo.rules.yml"


def _shape(spec: RuleSpec) -> dict[str, object]:
    """What must agree between the two files, with the demo's shortened times left out."""
    expr = re.sub(r"\[[^\]]*\]", "[RANGE]", spec.expr)
    return {
        "kind": spec.kind,
        "expr": " ".join(expr.split()),
        "has_for": spec.for_s > 0,
        "has_keep_firing_for": spec.keep_firing_for_s > 0,
        "labels": dict(spec.labels),
        "annotations": dict(spec.annotations),
    }


def drift(shipped: Path, demo: Path) -> list[str]:
    """Every difference between the two rule files, one line each."""
    a = {g.name: g for g in load_rule_file(shipped)}
    b = {g.name: g for g in load_rule_file(demo)}
    problems = []
    if list(a) != list(b):
        problems.append(f"groups differ: {list(a)} vs {list(b)}")
    for name in a.keys() & b.keys():
        rules_a = [r.name for r in a[name].rules]
        rules_b = [r.name for r in b[name].rules]
        if rules_a != rules_b:
            problems.append(f"group {name}: rules differ: {rules_a} vs {rules_b}")
            continue
        for ra, rb in zip(a[name].rules, b[name].rules, strict=True):
            sa, sb = _shape(ra), _shape(rb)
            problems += [f"{name}/{ra.name}: {k}: {sa[k]!r} vs {sb[k]!r}" for k in sa if sa[k] != sb[k]]
    return problems


def test_demo_rules_stay_in_step_with_shipped_rules() -> None:
    assert drift(SHIPPED, DEMO) == []


def test_demo_really_is_shortened() -> None:
    shipped = {r.name: r for g in load_rule_file(SHIPPED) for r in g.rules}
    demo = {r.name: r for g in load_rule_file(DEMO) for r in g.rules}
    assert set(shipped) == set(demo)
    for name, rule in shipped.items():
        assert demo[name].for_s <= rule.for_s, name


def test_drift_is_detected(tmp_path: Path) -> None:
    """The check bites: a changed threshold, severity, annotation or alert name shows up."""
    text = DEMO.read_text()
    edits = {
        "threshold": (") > 0.5", ") > 0.7"),
        "severity": ("severity: P2", "severity: P3"),
        "annotation": ("is down (scrape failing)", "is down"),
        "name": ("alert: StartupFailures", "alert: StartupFailure"),
    }
    for what, (old, new) in edits.items():
        assert old in text, what
        changed = tmp_path / f"{what}.rules.yml"
        changed.write_text(text.replace(old, new, 1))
        assert drift(SHIPPED, changed), what
    # Only windows and `for:` changed: still in step.
    windows = tmp_path / "windows.rules.yml"
    windows.write_text(text.replace("[6s]", "[1m]").replace("for: 2s", "for: 30s"))
    assert drift(SHIPPED, windows) == []
