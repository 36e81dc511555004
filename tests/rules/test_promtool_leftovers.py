"""Rule files and rule tests that promtool 2.42 and triaged read differently, until now:
a merge key overridden by an explicit key, custom YAML tags, ``limit: 1e3``, quoted
sample values, and series values (hex, ``stale+1x3``, ``Inf+1x2``). Each case records
promtool's verdict, taken by running promtool on the same text; promtool is not run
here."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from triaged.cli import cli
from triaged.model import is_stale
from triaged.promql import ExprError, expand_series_values
from triaged.rules.format import GroupSpec, check_rule_file
from triaged.yamlfile import load_yaml_text

WriteFiles = Callable[..., Path]  # the `write_files` fixture (conftest.py)


def check(tmp_path: Path, text: str) -> tuple[list[GroupSpec], list[str]]:
    path = tmp_path / "rules.yml"
    path.write_text(textwrap.dedent(text))
    groups, errors = check_rule_file(path)
    return groups, [str(e).removeprefix(f"{path}:") for e in errors]


def rules_of(groups: list[GroupSpec]) -> dict[str, dict[str, object]]:
    return {
        r.name: {"for": r.for_s, "keep": r.keep_firing_for_s, "labels": dict(r.labels), "expr": r.expr}
        for g in groups
        for r in g.rules
    }


def limited(limit: str) -> str:
    return (
        f"groups:\n  - name: g\n    limit: {limit}\n    rules:\n      - record: r\n        expr: vector(1)\n"
    )


# -- 1. merge keys ------------------------------------------------------------------------

MERGE_OVERRIDE = """\
groups:
  - name: g
    rules:
      - &base
        alert: A
        expr: up == 0
        for: 1m
      - <<: *base
        alert: B
        for: 5m
"""


def test_an_explicit_key_overrides_a_merged_one(tmp_path: Path) -> None:
    """promtool: SUCCESS, 2 rules found."""
    groups, errors = check(tmp_path, MERGE_OVERRIDE)
    assert errors == []
    rules = rules_of(groups)
    assert rules["A"]["for"] == 60.0
    assert rules["B"]["for"] == 300.0
    assert rules["B"]["expr"] == "up == 0"


def test_an_explicit_key_wins_even_written_before_the_merge(tmp_path: Path) -> None:
    """promtool: SUCCESS, and its rule test sees team="b" on B."""
    groups, errors = check(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              - alert: A
                expr: up == 0
                labels: &l {team: a, severity: P1}
              - alert: B
                expr: up == 0
                labels:
                  team: b
                  <<: *l
        """,
    )
    assert errors == []
    assert rules_of(groups)["B"]["labels"] == {"team": "b", "severity": "P1"}


def test_of_a_list_of_merged_mappings_the_first_wins(tmp_path: Path) -> None:
    """promtool: SUCCESS, and its rule test sees team="a" on C (both maps set it)."""
    groups, errors = check(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              - alert: A
                expr: up == 0
                labels: &a {team: a, x: "1"}
              - alert: B
                expr: up == 0
                labels: &b {team: b, y: "2"}
              - alert: C
                expr: up == 0
                labels:
                  <<: [*a, *b]
        """,
    )
    assert errors == []
    assert rules_of(groups)["C"]["labels"] == {"team": "a", "x": "1", "y": "2"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        # promtool: line 7: mapping key "for" already defined at line 6
        ("- alert: A\n  expr: up == 0\n  for: 1m\n  for: 5m\n", "7: duplicate key 'for'"),
        # promtool: line 9: mapping key "alert" already defined at line 8 (the merge is no excuse)
        (
            "- &base\n  alert: A\n  expr: up == 0\n- <<: *base\n  alert: B\n  alert: C\n",
            "9: duplicate key 'alert'",
        ),
        # promtool: line 9: mapping key "<<" already defined at line 8
        (
            "- &a\n  alert: A\n  expr: up == 0\n- &b\n  alert: B\n  expr: up == 1\n"
            "- alert: C\n  <<: *a\n  <<: *b\n",
            "12: duplicate key '<<'",
        ),
        # promtool: map merge requires map or sequence of maps as the value
        ("- alert: A\n  expr: up == 0\n  <<: 1\n", "6: invalid YAML: '<<' must merge a mapping or a list"),
    ],
)
def test_a_key_written_twice_is_still_refused(tmp_path: Path, text: str, error: str) -> None:
    rules = textwrap.indent(text, "      ")
    _, errors = check(tmp_path, f"groups:\n  - name: g\n    rules:\n{rules}")
    assert len(errors) == 1
    assert errors[0].startswith(error)


# -- 2. custom tags -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "field", "expected"),
    [
        # promtool: SUCCESS for each; Go's yaml.v3 reads a tagged scalar's text into a string.
        ("alert: A\nexpr: !foo up == 0\n", "expr", "up == 0"),
        ("alert: A\nexpr: up == 0\nlabels:\n  severity: !bar P1\n", "labels", {"severity": "P1"}),
        (
            "alert: A\nexpr: up == 0\nlabels:\n  severity: !<tag:example.com,2000:x> P2\n",
            "labels",
            {"severity": "P2"},
        ),
        ("alert: A\nexpr: up == 0\nfor: !dur 5m\n", "for", 300.0),
        ("alert: A\nexpr: up == 0\nlabels: !foo\n  severity: P3\n", "labels", {"severity": "P3"}),
    ],
)
def test_a_custom_tag_is_read_as_the_text_it_tags(
    tmp_path: Path, rule: str, field: str, expected: object
) -> None:
    rules = textwrap.indent(f"- {textwrap.indent(rule, '  ').lstrip()}", "      ")
    groups, errors = check(tmp_path, f"groups:\n  - name: g\n    rules:\n{rules}")
    assert errors == []
    assert rules_of(groups)["A"][field] == expected


@pytest.mark.parametrize(
    "text",
    [
        # promtool: SUCCESS, 1 rules found (a tag on a list or a rule mapping is ignored)
        "groups:\n  - name: g\n    rules: !foo\n      - alert: A\n        expr: up == 0\n",
        "groups:\n  - name: g\n    rules:\n      - !foo\n        alert: A\n        expr: up == 0\n",
        "groups:\n  - name: g\n    rules:\n      - !!str\n        alert: A\n        expr: up == 0\n",
        # promtool: SUCCESS; `!!float abc` stops at nothing when the field is a string
        "groups:\n  - name: g\n    rules:\n      - alert: !!float abc\n        expr: up == 0\n",
    ],
)
def test_tags_on_lists_and_mappings_do_not_stop_the_file(tmp_path: Path, text: str) -> None:
    groups, errors = check(tmp_path, text)
    assert errors == []
    assert len(groups[0].rules) == 1


def test_a_tagged_string_where_a_number_belongs_is_refused(tmp_path: Path) -> None:
    """promtool: line 3: cannot unmarshal !foo `3` into int."""
    _, errors = check(tmp_path, limited("!foo 3"))
    assert errors == ["3: limit: expected an integer, got '3'"]


# -- 3. limit: 1e3 --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "limit"), [("1e3", 1000), ("1E3", 1000), ("1.5e3", 1500), ("1e+3", 1000)])
def test_a_limit_in_exponent_form_is_a_number(tmp_path: Path, text: str, limit: int) -> None:
    """promtool: SUCCESS for each (YAML 1.2 reads them as floats, Go makes an int)."""
    groups, errors = check(tmp_path, limited(text))
    assert errors == []
    assert groups[0].limit == limit


def test_a_quoted_limit_is_still_refused(tmp_path: Path) -> None:
    """promtool: line 3: cannot unmarshal !!str `1e3` into int."""
    _, errors = check(tmp_path, limited("'1e3'"))
    assert errors == ["3: limit: expected an integer, got '1e3'"]


def test_exponent_floats_keep_their_text_for_string_fields() -> None:
    doc = load_yaml_text("a: 1e3\nb: -2.5E-1\nc: '1e3'\n", "x.yml")
    assert doc["a"] == 1000.0
    assert doc["b"] == -0.25
    assert doc.text("a") == "1e3"
    assert doc["c"] == "1e3"


# -- 4. quoted sample values in rule tests --------------------------------------------------

EXPR_TEST = """\
rule_files: [alerts.yml]
tests:
  - interval: 1m
    input_series:
      - series: 'x'
        values: '{values}'
    promql_expr_test:
      - expr: x
        eval_time: {at}
        exp_samples:
          - labels: 'x'
            value: {value}
"""


def run_test(write_files: WriteFiles, value: str, values: str = "1", at: str = "0") -> tuple[int, str]:
    path = write_files(EXPR_TEST.format(value=value, values=values, at=at))
    result = CliRunner().invoke(cli, ["rules", "test", str(path)])
    return result.exit_code, result.output


@pytest.mark.parametrize("value", ["1", "!!float 1", "!!int 1", "0x1"])
def test_a_bare_number_is_a_sample_value(write_files: WriteFiles, value: str) -> None:
    """promtool: SUCCESS for each."""
    code, out = run_test(write_files, value)
    assert (code, "SUCCESS" in out) == (0, True), out


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # promtool: line 13: cannot unmarshal !!str `1` into float64, and so on
        ("'1'", "'1'"),
        ('"1"', "'1'"),
        ("'1e3'", "'1e3'"),
        ("'.inf'", "'.inf'"),
        ("!!str 1", "'1'"),
        # promtool: cannot unmarshal !foo `1` into float64
        ("!foo 1", "'1'"),
    ],
)
def test_a_quoted_sample_value_is_refused(write_files: WriteFiles, value: str, text: str) -> None:
    code, out = run_test(write_files, value)
    assert code == 1
    assert f"alerts.test.yml:12: value {text} is a string to YAML (quoted or tagged)" in out


def test_an_exponent_sample_value_is_compared_as_a_number(write_files: WriteFiles) -> None:
    """promtool: exp 1E+03, got 1E+00 (the value is read; the test then fails)."""
    code, out = run_test(write_files, "1e3")
    assert code == 1
    assert 'exp: {__name__="x"} 1000' in out


# -- 5. series values -----------------------------------------------------------------------


def same(got: list[float | None], want: list[float | None]) -> bool:
    """Equal point by point, a NaN matching a NaN."""
    return [repr(p) for p in got] == [repr(p) for p in want]


@pytest.mark.parametrize(
    ("text", "points"),
    [
        # promtool: `0x10` is 0 then "x10", eleven zeros (x is repeat, not hex)
        ("0x10", [0.0] * 11),
        # promtool: Inf, NaN (any case) may start a stepped term
        ("Inf+1x2", [math.inf] * 3),
        ("-Inf-1x2", [-math.inf] * 3),
        ("NaN+1x2", [math.nan] * 3),
        ("INF", [math.inf]),
        ("1e3x2", [1000.0] * 3),
        ("1+.5x2", [1.0, 1.5, 2.0]),
        ("1 _x2 stale _", [1.0, None, None, math.nan, None]),
    ],
)
def test_series_values_expand_as_promtool_reads_them(text: str, points: list[float | None]) -> None:
    assert same(expand_series_values(text), points)


def test_stale_plus_a_step_is_a_staleness_marker_then_plain_nans() -> None:
    """promtool: `stale+1x3` loads; at 0 it has no sample (stale), at 1m-3m it has NaN."""
    points = expand_series_values("stale+1x3")
    assert len(points) == 4
    first, *rest = points
    assert first is not None and is_stale(first)
    assert all(p is not None and math.isnan(p) and not is_stale(p) for p in rest)
    assert len(expand_series_values("stale-1x0")) == 1


@pytest.mark.parametrize(
    "text",
    [
        "0x1A",  # promtool: bad number syntax: "1"
        "1+0x1Ax2",  # promtool: bad number syntax: "1"
        "stalex3",  # promtool: unexpected identifier "stalex3"
        "+stale",  # promtool: unexpected identifier "stale"
        "stale+1",  # promtool: unexpected end of input in series values
        "Infx3",  # promtool: unexpected identifier (Infx3 is one word to its lexer)
        "1+NaNx2",  # promtool: unexpected identifier "NaNx2"
        "stale+Infx1",  # promtool: unexpected identifier "Infx1"
        "stale+1e400x1",  # promtool: strconv.ParseFloat: parsing "1e400": value out of range
        "1_000",  # promtool: bad number syntax: "1"
    ],
)
def test_series_values_promtool_refuses_are_refused(text: str) -> None:
    with pytest.raises(ExprError, match="invalid series value"):
        expand_series_values(text)


@pytest.mark.parametrize(
    ("values", "at", "value", "outcome"),
    [
        # promtool: exp 3E+00, got NaN
        ("stale+1x3", "2m", "3", (1, 'got: {__name__="x"} NaN')),
        # promtool: exp 1E+00, got nil (the first point is a staleness marker)
        ("stale+1x3", "0", "1", (1, "got: nil")),
        # promtool: SUCCESS
        ("1 stale+1x1 3", "3m", "3", (0, "SUCCESS")),
        # promtool: exp 1E+00, got NaN (NaN may start a stepped term)
        ("NaN+1x2", "1m", "1", (1, 'got: {__name__="x"} NaN')),
        # promtool: 1:5: parse error: bad number syntax: "1"
        ("0x1A", "0", "26", (1, "series x: invalid series value '0x1A'")),
    ],
)
def test_series_values_in_a_rule_test(
    write_files: WriteFiles, values: str, at: str, value: str, outcome: tuple[int, str]
) -> None:
    code, shown = outcome
    got_code, out = run_test(write_files, value, values=values, at=at)
    assert got_code == code, out
    assert shown in out
