"""The evaluator for parsed Go text/template trees: :func:`execute` walks a
:class:`~template_tree.Tree` and writes its text.

It follows Go's ``text/template`` execution: pipelines, variables and their scopes,
``if``/``with``/``range`` (with ``break``/``continue``), ``template`` calls, fields on
structs and maps (``missingkey=zero``), and short-circuit ``and``/``or``. Bounds on
output size, steps and nesting keep one template from stalling the rule loop.
"""

from __future__ import annotations

from collections.abc import Sequence

from triaged.rules.template_funcs import FUNCS
from triaged.rules.template_lex import INT_RANGE, TemplateError
from triaged.rules.template_tree import (
    Action,
    Branch,
    Break,
    Call,
    Chain,
    Const,
    Continue,
    Dot,
    Field,
    Identifier,
    Nil,
    Node,
    Operand,
    Pipeline,
    Range,
    Text,
    Tree,
    Variable,
)
from triaged.rules.template_values import Env, Record, go_type, go_value, map_get, printable, truth

# Bounds, so that one template cannot stall the rule loop or eat memory.
MAX_OUTPUT = 64 * 1024  # characters of rendered text
MAX_STEPS = 100_000  # range iterations and template calls
MAX_DEPTH = 50  # nested {{template}} calls


def execute(tree: Tree, env: Env, dot: object, variables: Sequence[tuple[str, object]] = ()) -> str:
    """Run ``tree`` with ``dot`` as ``.`` and ``$``, and ``variables`` defined.
    Raises :class:`TemplateError`."""
    try:
        return _Exec(tree, env, [("$", dot), *variables]).run(dot)
    except RecursionError:
        raise TemplateError("template nests too deeply") from None


class _Missing:
    """No value piped in: the first command of a pipeline."""


_MISSING = _Missing()


class _Exec:
    def __init__(self, tree: Tree, env: Env, variables: list[tuple[str, object]]) -> None:
        self.tree = tree
        self.env = env
        self.vars = variables
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.depth = 0

    def run(self, dot: object) -> str:
        self.walk(self.tree.root, dot)
        return "".join(self.out)

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise TemplateError(f"output longer than {MAX_OUTPUT} characters")
        self.out.append(text)

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateError(f"more than {MAX_STEPS} range iterations or template calls")

    # -- statements --

    def walk(self, nodes: Sequence[Node], dot: object) -> str | None:
        """Run ``nodes``; returns "break" or "continue" when one ends the walk early,
        for the enclosing ``range`` (the parser allows them nowhere else)."""
        for node in nodes:
            signal: str | None = None
            match node:
                case Text():
                    self.write(node.text)
                case Action():
                    value = self.pipeline(node.pipe, dot)
                    if not node.pipe.decl:
                        self.write(printable(value))
                case Branch():
                    signal = self.branch(node, dot)
                case Range():
                    self.range(node, dot)
                case Call():
                    self.call_template(node, dot)
                case Break():
                    signal = "break"
                case Continue():
                    signal = "continue"
            if signal:
                return signal
        return None

    def branch(self, node: Branch, dot: object) -> str | None:
        mark = len(self.vars)
        value = self.pipeline(node.pipe, dot)
        if truth(value):
            signal = self.walk(node.body, value if node.kind == "with" else dot)
        else:
            signal = self.walk(node.else_, dot)
        del self.vars[mark:]
        return signal

    def range(self, node: Range, dot: object) -> None:
        mark = len(self.vars)
        items = _iteration(self.pipeline(node.pipe, dot, declare=False), len(node.pipe.decl))
        if not items:
            self.walk(node.else_, dot)
        for key, elem in items:
            self.step()
            # With two variables, the key and the element; with one, the element.
            self.declare(node.pipe, (key, elem) if len(node.pipe.decl) == 2 else (elem,))
            signal = self.walk(node.body, elem)
            del self.vars[mark:]
            if signal == "break":
                break
        del self.vars[mark:]

    def call_template(self, node: Call, dot: object) -> None:
        body = self.tree.defines.get(node.name)
        if body is None:
            raise TemplateError(f'no such template "{node.name}"')
        value = self.pipeline(node.pipe, dot) if node.pipe else None
        self.step()
        if self.depth >= MAX_DEPTH:
            raise TemplateError(f"exceeded maximum template depth ({MAX_DEPTH})")
        saved, self.vars = self.vars, [("$", value)]
        self.depth += 1
        try:
            self.walk(body, value)
        finally:
            self.vars, self.depth = saved, self.depth - 1

    # -- expressions --

    def pipeline(self, pipe: Pipeline, dot: object, declare: bool = True) -> object:
        value: object = _MISSING
        for cmd in pipe.cmds:
            value = self.command(cmd.args, dot, value)
        if declare:
            self.declare(pipe, [value] * len(pipe.decl))
        return value

    def command(self, args: Sequence[Operand], dot: object, final: object) -> object:
        first, rest = args[0], args[1:]
        if isinstance(first, Identifier):
            return self.call(first.name, rest, dot, final)
        if isinstance(first, Nil):
            raise TemplateError("nil is not a command")
        if rest or final is not _MISSING:
            if isinstance(first, Field | Chain) or (isinstance(first, Variable) and first.names):
                names = first.names
                raise TemplateError(f"{names[-1]} is not a method but has arguments")
            raise TemplateError(f"can't give argument to non-function {_describe(first)}")
        return self.arg(first, dot)

    def arg(self, node: Operand, dot: object) -> object:
        match node:
            case Dot():
                return dot
            case Nil():
                return None
            case Const():
                if isinstance(node.value, int) and node.value not in INT_RANGE:
                    raise TemplateError(f"{node.value} overflows int")
                return node.value
            case Field():
                return _fields(dot, node.names)
            case Variable():
                return _fields(self.lookup(node.name), node.names)
            case Chain():
                return _fields(self.pipeline(node.node, dot), node.names)
            case Pipeline():
                return self.pipeline(node, dot)
            case Identifier():
                return self.call(node.name, (), dot, _MISSING)

    def call(self, name: str, args: Sequence[Operand], dot: object, final: object) -> object:
        if name in ("and", "or"):
            return self.and_or(name == "or", args, dot, final)
        values = [self.arg(a, dot) for a in args]
        if final is not _MISSING:
            values.append(final)
        fn = FUNCS[name][0]
        try:
            return fn(self.env, values)
        # TemplateError is a ValueError; others come from e.g. printf "%c" with a huge number.
        except (ValueError, OverflowError) as exc:
            raise TemplateError(f"error calling {name}: {exc}") from None

    def and_or(self, is_or: bool, args: Sequence[Operand], dot: object, final: object) -> object:
        """Go 1.18+: stop at the first argument that decides, and return it."""
        value: object = None
        for node in args:
            value = self.arg(node, dot)
            if truth(value) == is_or:
                return value
        return value if final is _MISSING else final

    # -- variables --

    def declare(self, pipe: Pipeline, values: Sequence[object]) -> None:
        """Bind ``pipe``'s variables to ``values``: ``:=`` declares, ``=`` assigns."""
        for name, value in zip(pipe.decl, values, strict=False):
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append((name, value))

    def lookup(self, name: str) -> object:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise TemplateError(f"undefined variable: {name}")

    def set_var(self, name: str, value: object) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise TemplateError(f"undefined variable: {name}")


def _describe(node: Operand) -> str:
    match node:
        case Const():
            return go_value(node.value)
        case Variable():
            return node.name
    return "."


def _fields(receiver: object, names: Sequence[str]) -> object:
    for name in names:
        receiver = _field(receiver, name)
    return receiver


def _field(receiver: object, name: str) -> object:
    if isinstance(receiver, Record):
        if name in receiver.fields:
            return receiver.fields[name]
        raise TemplateError(f"can't evaluate field {name} in type {receiver.type_name}")
    if isinstance(receiver, dict):
        return map_get(receiver, name)
    if receiver is None:
        # No data at all (`{{ template "x" }}` passes none): Go gives the zero value,
        # which prints as <no value>, at every step of a chain.
        return None
    raise TemplateError(f"can't evaluate field {name} in type {go_type(receiver)}")


def _iteration(value: object, names: int) -> list[tuple[object, object]]:
    """What ``range`` visits: map entries in key order, list elements, 0…n-1 for an int."""
    if value is None:
        return []
    if isinstance(value, dict):
        return sorted(value.items())
    if isinstance(value, list):
        return list(enumerate(value))
    if isinstance(value, int) and not isinstance(value, bool):
        if names > 1:
            raise TemplateError(f"can't use {value} to iterate over more than one variable")
        return [(i, i) for i in range(min(value, MAX_STEPS + 1))]
    raise TemplateError(f"range can't iterate over {go_value(value)}")
