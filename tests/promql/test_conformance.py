"""Prometheus' own PromQL test files, run against our engine (issue #3).

Run with `pytest -k conformance -s` to see per-file results and every skip.
"""

from __future__ import annotations

from pathlib import Path

from triaged.promql.promqltest import CaseResult, run_file

REPO = Path(__file__).resolve().parents[2]
CONFORMANCE_DIR = REPO / ".." / "shared" / "conformance" / "promql"
REQUIRED_PASS_RATE = 0.97


def summarize(results: dict[str, list[CaseResult]]) -> tuple[str, float]:
    passed = sum(r.status == "pass" for rs in results.values() for r in rs)
    failed = sum(r.status == "fail" for rs in results.values() for r in rs)
    skipped = sum(r.status == "skip" for rs in results.values() for r in rs)
    judged = passed + failed
    rate = passed / judged if judged else 0.0
    line = f"promql conformance: {passed}/{judged} cases pass ({rate * 100:.1f}%), {skipped} skipped"
    return line, rate


def test_promql_conformance() -> None:
    assert CONFORMANCE_DIR.is_dir(), (
        f"PromQL conformance files not found at {CONFORMANCE_DIR.resolve()}: "
        "the shared checkout must sit next to the repository"
    )
    files = sorted(CONFORMANCE_DIR.glob("*.test"))
    assert files, f"no *.test files in {CONFORMANCE_DIR.resolve()}"
    results = {path.name: run_file(path) for path in files}
    for name, cases in results.items():
        counts = {s: sum(r.status == s for r in cases) for s in ("pass", "fail", "skip")}
        print(f"{name}: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
        for r in cases:
            if r.status != "pass":
                print(f"  {r.status} line {r.line}: {r.expr} -- {r.reason}")
    line, rate = summarize(results)
    print(line)
    assert rate >= REQUIRED_PASS_RATE, line
