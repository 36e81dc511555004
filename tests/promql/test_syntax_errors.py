"""A PromQL syntax error says where it is and what was expected, as Prometheus says it:
the parser binding alone answers most mistakes with a bare "invalid promql query".
Every line:column below is the one `promtool check rules` (Prometheus 2.42) prints for
the same expression; the words are ours."""

from __future__ import annotations

import random
import re
from pathlib import Path

import promql_parser
import pytest

from triaged.model import Labels
from triaged.promql import Engine, ExprError, Vector
from triaged.promql.lexer import tokenize
from triaged.promql.syntax import locate_syntax_error
from triaged.rules.format import check_rule_file
from triaged.tsdb.storage import Storage, StorageLimits

_EVAL = re.compile(r"\s*eval\w*\s+(?:instant\s+at\s+\S+|range\s+from\s+\S+\s+to\s+\S+\s+step\s+\S+)\s+(.+)")


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("rate(foo[5m] offset)", '1:20: unexpected ")" in offset, expected a duration'),
        ("foo +", "1:6: unexpected end of input, expected an expression"),
        ("rate(x[5m]) > > 1", '1:15: unexpected ">", expected an expression'),
        ("foo bar", '1:5: unexpected identifier "bar"'),
        ("sum(x) by", '1:10: unexpected end of input in grouping opts, expected "("'),
        ('foo{a="b",,}', '1:11: unexpected "," in label matching, expected a label name or "}"'),
        ("x > bool", "1:9: unexpected end of input, expected an expression"),
        ("foo @ bar", '1:7: unexpected identifier "bar" in @, expected a timestamp, start() or end()'),
        ("rate(x[5m]) by (a)", '1:13: unexpected keyword "by"'),
        ("sum(rate(x[5m])) by (a) without (b)", '1:25: unexpected keyword "without"'),
        (
            "x == on(a) group_left(b) group_right y",
            '1:26: unexpected keyword "group_right", expected an expression',
        ),
        ("sum(rate(x[5m]) by (a)", '1:17: unexpected keyword "by" in aggregation, expected ")"'),
        ('x{a="b"} offset', "1:16: unexpected end of input in offset, expected a duration"),
        ('x{a="b}', "1:5: unterminated quoted string"),
        # A rule's expression often spans lines: the line counts too.
        (
            "sum by (job) (\n  rate(http_requests_total[5m] offset)\n)\n",
            '2:38: unexpected ")" in offset, expected a duration',
        ),
    ],
)
def test_a_syntax_error_names_its_line_column_and_what_was_expected(expr: str, message: str) -> None:
    with pytest.raises(ExprError) as caught:
        Engine(Storage(StorageLimits())).instant(expr, 0)
    assert f"parse error: {message} in " in str(caught.value)
    assert "invalid promql query" not in str(caught.value)


def test_rules_check_shows_the_position_in_the_expression(tmp_path: Path) -> None:
    path = tmp_path / "r.rules.yml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: Slow\n"
        "        expr: histogram_quantile(0.95, rate(x[5m])) > > 0.5\n"
        "        labels: {severity: P1}\n"
    )
    errors = [str(e) for e in check_rule_file(path)[1]]
    assert len(errors) == 1
    assert '1:41: unexpected ">", expected an expression' in errors[0]


def test_the_binding_s_own_specific_messages_are_kept() -> None:
    for expr, words in [
        ("abs(x, y)", "expected 1 argument(s) in call to 'abs', got 2"),
        ("topk(x)", "wrong number of arguments for aggregate expression"),
        ("nosuchfn(x)", "unknown function with name 'nosuchfn'"),
    ]:
        with pytest.raises(ExprError, match=re.escape(words)):
            Engine(Storage(StorageLimits())).instant(expr, 0)


def test_an_at_sign_inside_a_string_is_not_the_at_modifier() -> None:
    """`@` times are read from the text (the binding cannot hold negative ones): a
    label value containing `@ -5` must not become the selector's evaluation time."""
    st = Storage(StorageLimits(retention_ms=None))
    st.append(Labels.of(__name__="foo", a="x@ -5"), 10_000, 7)
    result = Engine(st).instant('foo{a="x@ -5"} @ 10', 60_000)
    assert isinstance(result, Vector)
    assert [s.value for s in result] == [7.0]


def test_each_at_modifier_keeps_its_own_time() -> None:
    """A duration after `@` is a time too: it must not shift the negative time of a
    later `@` onto another selector."""
    st = Storage(StorageLimits(retention_ms=None))
    st.append(Labels.of(__name__="early"), -5_000, 1)
    st.append(Labels.of(__name__="late"), 100_000, 2)
    result = Engine(st).instant("late @ 100s + on() early @ -5", 200_000)
    assert isinstance(result, Vector)
    assert [s.value for s in result] == [3.0]


def _conformance_expressions(shared: Path) -> list[str]:
    found = []
    for path in sorted((shared / "conformance" / "promql").glob("*.test")):
        for line in path.read_text().splitlines():
            match = _EVAL.match(line)
            if match:
                found.append(match.group(1).strip())
    return found


def _parses(expr: str) -> bool:
    try:
        promql_parser.parse(expr)
    except BaseException as exc:  # the Rust side panics on a few inputs
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return False
    return True


def test_no_error_is_found_in_an_expression_prometheus_accepts(shared_dir: Path) -> None:
    """The locator is never stricter than the grammar: over Prometheus' own test
    expressions it finds nothing to complain about."""
    accepted = [e for e in _conformance_expressions(shared_dir) if _parses(e)]
    assert len(accepted) > 1000
    assert [(e, locate_syntax_error(e)) for e in accepted if locate_syntax_error(e)] == []


def test_every_refused_mutation_of_a_real_expression_is_located(shared_dir: Path) -> None:
    """One token dropped, added or swapped in a real expression: whatever the binding
    refuses as a syntax error, the message says where."""
    rng = random.Random(20261128)
    expressions = _conformance_expressions(shared_dir)
    spare = ["(", ")", "[", "]", "{", "}", ",", "by", "on", "offset", "@", "5m", "1", '"x"', ">", "bool"]
    refused = 0
    for _ in range(600):
        words = [t.text for t in tokenize(rng.choice(expressions))[:-1]]
        at = rng.randrange(len(words))
        action = rng.random()
        if action < 0.4:
            del words[at]
        elif action < 0.8:
            words.insert(at, rng.choice(spare))
        else:
            words[at] = rng.choice(spare)
        mutated = " ".join(words)
        try:
            promql_parser.parse(mutated)
        except ValueError as exc:
            if str(exc) == "invalid promql query":
                refused += 1
                assert locate_syntax_error(mutated), mutated
        except BaseException as exc:  # a panic on odd durations: not a syntax error
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
    assert refused > 200


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("x @ 1e30", "1:5: timestamp out of bounds for @ modifier"),
        ("x @ -1e30", "1:6: timestamp out of bounds for @ modifier"),
        ("x[1e20]", "1:3: duration out of range"),  # the parser binding would panic
        ("x offset -1e30", "1:11: duration out of range"),
        ("x offset 300000y", "duration out of range"),
        ("x[5m:100000000y]", "duration out of range"),
    ],
)
def test_times_and_durations_beyond_prometheus_bounds_are_refused(expr: str, words: str) -> None:
    with pytest.raises(ExprError, match=re.escape(words)):
        Engine(Storage(StorageLimits())).instant(expr, 0)


def test_times_prometheus_accepts_are_read_however_far(tmp_path: Path) -> None:
    """Past year 9999 and before 1970 alike (the binding's own datetime ends at both)."""
    st = Storage(StorageLimits(retention_ms=None))
    st.append(Labels.of(__name__="x", era="far"), 10**15, 1)
    st.append(Labels.of(__name__="x", era="before"), -(9 * 10**15), 2)
    engine = Engine(st)
    for expr, value in [("x @ 1e12", 1.0), ("x @ -9e12", 2.0), ("max_over_time(x[5m] @ 1e12)", 1.0)]:
        result = engine.instant(expr, 0)
        assert isinstance(result, Vector)
        assert [s.value for s in result] == [value], expr
    assert engine.instant("x @ 9.3e15", 0) == []
    path = tmp_path / "r.rules.yml"
    path.write_text("groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up @ 1e12\n")
    assert check_rule_file(path)[1] == []
