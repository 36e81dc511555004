"""Prometheus' PromQL test language (`load`, `clear`, `eval`), so the engine can be
measured against Prometheus' own test files and `triaged rules test` can reuse the
series notation. Native histograms (`{{...}}`) are not stored by our tsdb: cases
that need them are reported as skipped, never silently passed."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from triaged.model import Labels, Matcher
from triaged.promql.engine import Engine
from triaged.promql.notation import (
    expand_series_values,
    parse_duration_ms,
    parse_number,
    parse_series_labels,
    split_series_line,
)
from triaged.promql.parse import CallNode, Node, SelectorNode, children, parse_expr
from triaged.promql.values import ExprError, Matrix, Scalar, String, Value, Vector
from triaged.tsdb.storage import Storage, StorageLimits

NATIVE = "native histograms unsupported"
NATIVE_ONLY_FUNCTIONS = frozenset(
    {"histogram_count", "histogram_sum", "histogram_avg", "histogram_stddev", "histogram_stdvar"}
)
EPSILON = 1e-6
_MIN_NORMAL = 2.2250738585072014e-308
_EVAL = re.compile(
    r"^eval(?:_(?P<variant>fail|ordered|warn|info))?\s+"
    r"(?:instant\s+at\s+(?P<at>\S+)|range\s+from\s+(?P<start>\S+)\s+to\s+(?P<end>\S+)"
    r"\s+step\s+(?P<step>\S+))\s+(?P<expr>.+)$"
)
_RANGE_VECTOR = re.compile(r"^from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)$")

Expected = tuple[Labels | None, list[float | None]]


@dataclass
class EvalCase:
    line: int
    expr: str
    at: int = 0
    start: int = 0
    end: int = 0
    step: int = 0
    is_range: bool = False
    fail: bool = False
    fail_msg: str | None = None
    fail_regex: str | None = None
    ordered: bool = False
    string: str | None = None
    range_vector: tuple[int, int, int] | None = None
    expected: list[Expected] = field(default_factory=list)
    native: bool = False


@dataclass
class Load:
    interval: int
    series: list[tuple[Labels, list[float | None]]]
    native: list[Labels]


@dataclass
class CaseResult:
    line: int
    expr: str
    status: str  # "pass", "fail" or "skip"
    reason: str = ""


Command = Load | EvalCase | None  # None is `clear`


def almost_equal(a: float, b: float, epsilon: float = EPSILON) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < epsilon * _MIN_NORMAL
    return diff / min(abs_sum, 1.7976931348623157e308) < epsilon


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Group lines into commands: a command line plus its indented body."""
    blocks: list[tuple[int, list[str]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace() and re.match(r"^(load|clear|eval)", stripped):
            blocks.append((number, [stripped]))
        elif blocks:
            blocks[-1][1].append(stripped)
    return blocks


def _load(header: str, body: list[str]) -> Load:
    parts = header.split()
    load = Load(parse_duration_ms(parts[1]), [], [])
    with_nhcb = parts[0] == "load_with_nhcb"
    seen: dict[Labels, list[float | None]] = {}
    for line in body:
        desc, values = split_series_line(line)
        labels = parse_series_labels(desc)
        if "{{" in values:
            load.native.append(labels)
            continue
        points = expand_series_values(values)
        if labels in seen:
            # A repeated series line overrides the earlier points it overlaps.
            merged = seen[labels]
            merged.extend([None] * (len(points) - len(merged)))
            for i, v in enumerate(points):
                if v is not None:
                    merged[i] = v
            continue
        seen[labels] = points
        load.series.append((labels, points))
        if with_nhcb and labels.get("le"):
            base = re.sub(r"_bucket$", "", labels.name)
            load.native.append(labels.without("le").with_(__name__=base))
    return load


def _expect(case: EvalCase, rest: str) -> None:
    kind, _, detail = rest.partition(" ")
    detail = detail.strip()
    if kind == "fail":
        case.fail = True
        if detail.startswith("msg:"):
            case.fail_msg = detail[4:].strip()
        elif detail.startswith("regex:"):
            case.fail_regex = detail[6:].strip()
    elif kind == "ordered":
        case.ordered = True
    elif kind == "string":
        case.string = detail[1:-1]
    elif kind == "range":
        m = _RANGE_VECTOR.match(detail.removeprefix("vector").strip())
        if m is None:
            raise ExprError(f"invalid expect range vector line: {rest}")
        case.range_vector = (
            parse_duration_ms(m.group(1)),
            parse_duration_ms(m.group(2)),
            parse_duration_ms(m.group(3)),
        )
    # warn/info/no_warn/no_info: annotations are not produced, so they hold trivially.


def _eval(number: int, header: str, body: list[str]) -> EvalCase:
    m = _EVAL.match(header)
    if m is None:
        raise ExprError(f"line {number}: invalid eval command {header!r}")
    case = EvalCase(number, m.group("expr").strip())
    if m.group("at") is not None:
        case.at = parse_duration_ms(m.group("at"))
    else:
        case.is_range = True
        case.start = parse_duration_ms(m.group("start"))
        case.end = parse_duration_ms(m.group("end"))
        case.step = parse_duration_ms(m.group("step"))
    variant = m.group("variant")
    case.fail = variant == "fail"
    case.ordered = variant == "ordered"
    for line in body:
        if line.startswith("expect "):
            _expect(case, line[len("expect ") :].strip())
        elif line.startswith("expected_fail_message"):
            case.fail_msg = line.partition(" ")[2].strip()
        elif line.startswith("expected_fail_regexp"):
            case.fail_regex = line.partition(" ")[2].strip()
        elif "{{" in line:
            case.native = True
        else:
            desc, values = split_series_line(line)
            if not values:
                case.expected.append((None, [parse_number(desc)]))
            else:
                case.expected.append((parse_series_labels(desc), expand_series_values(values)))
    return case


def parse_test(text: str) -> list[Command]:
    commands: list[Command] = []
    for number, (header, *body) in _blocks(text):
        if header.startswith("load"):
            commands.append(_load(header, body))
        elif header == "clear":
            commands.append(None)
        else:
            commands.append(_eval(number, header, body))
    return commands


def load_series(storage: Storage, text: str, start_ms: int = 0) -> None:
    """Load a `load <interval>` block body (series lines) into storage."""
    header, *body = text.strip().splitlines()
    load = _load(header.strip(), [line.strip() for line in body if line.strip()])
    _apply_load(storage, load, start_ms)


def _apply_load(storage: Storage, load: Load, start_ms: int = 0) -> None:
    for labels, values in load.series:
        for i, v in enumerate(values):
            if v is not None:
                storage.append(labels, start_ms + i * load.interval, v)


class Runner:
    """Runs one test file's commands in order, keeping the loaded data between them."""

    def __init__(self) -> None:
        self.storage = Storage(StorageLimits(retention_ms=None))
        self.engine = Engine(self.storage)
        self.native: list[Labels] = []

    def run(self, text: str) -> list[CaseResult]:
        results: list[CaseResult] = []
        for cmd in parse_test(text):
            if cmd is None:
                self.storage.clear()
                self.native.clear()
            elif isinstance(cmd, Load):
                _apply_load(self.storage, cmd)
                self.native.extend(cmd.native)
            else:
                results.append(self.run_case(cmd))
        return results

    def run_case(self, case: EvalCase) -> CaseResult:
        if case.native:
            return CaseResult(case.line, case.expr, "skip", NATIVE)
        result = self._run(case)
        # A query that reads native histogram series is still run: if the floats
        # alone give the expected answer it passes, otherwise it cannot be judged.
        if result.status == "fail" and self._touches_native(case):
            return CaseResult(case.line, case.expr, "skip", NATIVE)
        return result

    def _run(self, case: EvalCase) -> CaseResult:
        try:
            if case.is_range:
                result: Value = self.engine.range(case.expr, case.start, case.end, case.step)
            else:
                result = self.engine.instant(case.expr, case.at)
        except ExprError as exc:
            return _check_error(case, str(exc))
        except Exception as exc:
            return CaseResult(case.line, case.expr, "fail", f"crash: {type(exc).__name__}: {exc}")
        if case.fail:
            return CaseResult(case.line, case.expr, "fail", "expected an error, got a result")
        problem = compare(case, result)
        return CaseResult(case.line, case.expr, "fail" if problem else "pass", problem or "")

    def _touches_native(self, case: EvalCase) -> bool:
        try:
            node = parse_expr(case.expr).node
        except ExprError:
            return False
        return _uses_native(node, self.native)


def _uses_native(node: Node, native: list[Labels]) -> bool:
    if isinstance(node, CallNode) and node.name in NATIVE_ONLY_FUNCTIONS:
        return True
    if isinstance(node, SelectorNode):
        return any(_matches(group, labels) for group in node.groups for labels in native)
    return any(_uses_native(child, native) for child in children(node))


def _matches(matchers: tuple[Matcher, ...], labels: Labels) -> bool:
    return all(m.matches(labels.get(m.name)) for m in matchers)


def _check_error(case: EvalCase, message: str) -> CaseResult:
    if not case.fail:
        return CaseResult(case.line, case.expr, "fail", f"unexpected error: {message}")
    if case.fail_msg is not None and _unquote(case.fail_msg) != message:
        return CaseResult(case.line, case.expr, "fail", f"error {message!r} != {case.fail_msg!r}")
    if case.fail_regex is not None and not re.search(_unquote(case.fail_regex), message):
        return CaseResult(case.line, case.expr, "fail", f"error {message!r} !~ {case.fail_regex!r}")
    return CaseResult(case.line, case.expr, "pass")


def compare(case: EvalCase, result: Value) -> str:
    """Empty string if `result` is what the case expects, else what differs."""
    if isinstance(result, String):
        return "" if result.value == case.string else f"string {result.value!r} != {case.string!r}"
    if isinstance(result, Scalar):
        if len(case.expected) != 1 or case.expected[0][0] is not None:
            return f"got scalar {result.value}, expected {case.expected}"
        want = case.expected[0][1][0]
        ok = want is not None and almost_equal(want, result.value)
        return "" if ok else f"scalar {result.value} != {want}"
    if isinstance(result, Vector):
        return _compare_vector(case, result)
    return _compare_matrix(case, result)


def _compare_vector(case: EvalCase, result: Vector) -> str:
    if len(result) != len(case.expected):
        return f"got {len(result)} samples, expected {len(case.expected)}: {_show(result)}"
    got = {s.labels: (i, s.value) for i, s in enumerate(result)}
    for pos, (labels, values) in enumerate(case.expected):
        if labels is None or labels not in got:
            return f"missing {labels} in {_show(result)}"
        index, value = got[labels]
        want = values[0]
        if want is None or not almost_equal(want, value):
            return f"{labels}: got {value}, expected {want}"
        if case.ordered and index != pos:
            return f"{labels}: at position {index}, expected {pos}"
    return ""


def _compare_matrix(case: EvalCase, result: Matrix) -> str:
    if case.is_range:
        start, step = case.start, case.step
    elif case.range_vector is not None:
        start, step = case.range_vector[0], case.range_vector[2]
    else:
        return "got a range vector, but the case expects no range vector"
    if len(result) != len(case.expected):
        return f"got {len(result)} series, expected {len(case.expected)}: {_show(result)}"
    got = {s.labels: s.points for s in result}
    for labels, values in case.expected:
        if labels is None or labels not in got:
            return f"missing series {labels} in {_show(result)}"
        want = [(start + i * step, v) for i, v in enumerate(values) if v is not None]
        points = got[labels]
        if len(points) != len(want):
            return f"{labels}: got points {points}, expected {want}"
        for (t1, v1), (t2, v2) in zip(points, want, strict=True):
            if t1 != t2 or not almost_equal(v2, v1):
                return f"{labels}: got points {points}, expected {want}"
    return ""


def _show(value: Vector | Matrix) -> str:
    text = ", ".join(str(item) for item in value[:4])
    return f"[{text}{', …' if len(value) > 4 else ''}]"


def run_file(path: Path) -> list[CaseResult]:
    return Runner().run(path.read_text(encoding="utf-8"))


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text
