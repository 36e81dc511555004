"""The parse tree of a Go text/template, as :mod:`template_parse` builds it.

The nodes mirror Go's ``text/template/parse``: text, actions (pipelines of commands),
``if``/``with``/``range`` with ``else``, ``template`` calls, ``break``/``continue``,
and the operands of a command. Nodes are frozen, so a parsed :class:`Tree` can be
cached and shared between renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Const:
    value: str | int | float | bool


@dataclass(frozen=True, slots=True)
class Nil:
    pass


@dataclass(frozen=True, slots=True)
class Dot:
    pass


@dataclass(frozen=True, slots=True)
class Identifier:
    name: str


@dataclass(frozen=True, slots=True)
class Field:
    """``.A.B`` on the dot."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Variable:
    """``$x`` or ``$x.A.B``."""

    name: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Chain:
    """Fields on a parenthesized pipeline: ``(query "up" | first).Labels``."""

    node: Pipeline
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Command:
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Pipeline:
    cmds: tuple[Command, ...]
    decl: tuple[str, ...] = ()
    is_assign: bool = False


@dataclass(frozen=True, slots=True)
class Action:
    pipe: Pipeline


@dataclass(frozen=True, slots=True)
class Branch:
    """``if`` or ``with``: ``else_`` may hold a nested Branch for ``else if``."""

    kind: str
    pipe: Pipeline
    body: tuple[Node, ...]
    else_: tuple[Node, ...] = ()


@dataclass(frozen=True, slots=True)
class Range:
    pipe: Pipeline
    body: tuple[Node, ...]
    else_: tuple[Node, ...] = ()


@dataclass(frozen=True, slots=True)
class Call:
    """``{{ template "name" pipeline }}``."""

    name: str
    pipe: Pipeline | None


@dataclass(frozen=True, slots=True)
class Break:
    pass


@dataclass(frozen=True, slots=True)
class Continue:
    pass


Operand = Const | Nil | Dot | Identifier | Field | Variable | Chain | Pipeline
Node = Text | Action | Branch | Range | Call | Break | Continue


@dataclass(frozen=True)
class Tree:
    """A parsed template: its top-level nodes and the templates it defines."""

    root: tuple[Node, ...]
    defines: Mapping[str, tuple[Node, ...]] = field(default_factory=dict)
