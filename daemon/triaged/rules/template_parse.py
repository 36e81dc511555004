"""Parser for Go text/template, the language of Prometheus alert templates.

:func:`parse` turns the tokens of :mod:`template_lex` into a :class:`~template_tree.Tree`:
``if``/``with``/``range`` with ``else``, ``define``/``template``/``block``, variables,
``break``/``continue``. Like Go's parser, it rejects unknown function names and
undefined variables, so ``triaged rules check`` reports them before an alert fires;
it also rejects calls whose argument count can never work.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from triaged.rules.template_lex import TemplateError, Tok, error_at, lex, number_value
from triaged.rules.template_tree import (
    Action,
    Branch,
    Break,
    Call,
    Chain,
    Command,
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


def parse(
    text: str,
    funcs: Mapping[str, tuple[int, int | None]],
    predefined: Collection[str] = (),
) -> Tree:
    """Parse ``text``. ``funcs`` maps each known function to its (min, max) argument
    count; ``predefined`` names the variables the caller defines before the text."""
    try:
        return _Parser(text, funcs, ["$", *predefined]).parse()
    except RecursionError:
        raise TemplateError("template nests too deeply") from None


class _Parser:
    def __init__(self, text: str, funcs: Mapping[str, tuple[int, int | None]], scope: list[str]) -> None:
        self.text = text
        self.toks = lex(text)
        self.i = 0
        self.funcs = funcs
        self.vars = scope
        self.ranges = 0
        self.depth = 0  # control structures we are inside; `define` only at depth 0
        self.defines: dict[str, tuple[Node, ...]] = {}

    def parse(self) -> Tree:
        nodes, end = self._list()
        if end != "eof":
            raise self.error(f"unexpected {{{{{end}}}}}")
        return Tree(tuple(nodes), self.defines)

    # -- tokens --

    def peek(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def peek_nonspace(self) -> Tok:
        if self.toks[self.i].kind == "space":
            self.i += 1
        return self.toks[self.i]

    def next_nonspace(self) -> Tok:
        self.peek_nonspace()
        return self.next()

    def expect(self, kind: str, context: str) -> Tok:
        tok = self.next_nonspace()
        if tok.kind != kind:
            raise self.unexpected(tok, context)
        return tok

    def error(self, msg: str, tok: Tok | None = None) -> TemplateError:
        return error_at(self.text, (tok or self.toks[max(self.i - 1, 0)]).pos, msg)

    def unexpected(self, tok: Tok, context: str) -> TemplateError:
        return self.error(f"unexpected {tok.value or 'EOF'!r} in {context}", tok)

    # -- lists and control structures --

    def _list(self) -> tuple[list[Node], str]:
        """Items up to ``{{end}}``, ``{{else}}`` or the end of input; says which."""
        nodes: list[Node] = []
        while True:
            tok = self.next()
            if tok.kind == "eof":
                self.i -= 1
                return nodes, "eof"
            if tok.kind == "text":
                nodes.append(Text(tok.value))
                continue
            word = self.peek_nonspace()
            if word.kind == "keyword" and word.value in ("end", "else"):
                self.next()
                if word.value == "end":
                    self.expect("right", "end")
                return nodes, word.value
            if word.kind == "keyword" and word.value != "nil":
                self.next()
                nodes.append(self._keyword(word))
            else:
                nodes.append(Action(self._pipeline("command", "right")))

    def _keyword(self, word: Tok) -> Node:
        match word.value:
            case "if" | "with":
                return self._branch(word.value)
            case "range":
                return self._range()
            case "break" | "continue":
                if not self.ranges:
                    raise self.error(f"{{{{{word.value}}}}} outside {{{{range}}}}", word)
                self.expect("right", word.value)
                return Break() if word.value == "break" else Continue()
            case "template":
                return self._template_call()
            case "block":
                call = self._template_call()
                self._define(call.name, "block")
                return call
            case "define" if not self.depth:
                self._define(self.expect("string", "define clause").value, "define")
                return Text("")
        raise self.error(f"unexpected {{{{{word.value}}}}}", word)

    def _nested(self) -> tuple[list[Node], str]:
        """:meth:`_list` inside a control structure, where ``define`` is not allowed."""
        self.depth += 1
        nodes, end = self._list()
        self.depth -= 1
        return nodes, end

    def _body(self, context: str) -> tuple[Node, ...]:
        nodes, end = self._nested()
        if end != "end":
            raise self.error(f"unexpected {'EOF' if end == 'eof' else '{{else}}'} in {context}")
        return tuple(nodes)

    def _branch(self, kind: str) -> Branch:
        mark = len(self.vars)
        pipe = self._pipeline(kind, "right")
        body, end = self._nested()
        else_: tuple[Node, ...] = ()
        if end == "else":
            nested = self.peek_nonspace()
            if nested.kind == "keyword" and nested.value == kind:
                # `{{else if …}}` is an `if` inside the else branch that shares our {{end}}.
                self.next()
                else_ = (self._branch(kind),)
            else:
                self.expect("right", "else")
                else_ = self._body(kind)
        elif end == "eof":
            raise self.error(f"unexpected EOF in {kind}")
        del self.vars[mark:]
        return Branch(kind, pipe, tuple(body), else_)

    def _range(self) -> Range:
        mark = len(self.vars)
        pipe = self._pipeline("range", "right")
        self.ranges += 1
        body, end = self._nested()
        self.ranges -= 1
        if end == "eof":
            raise self.error("unexpected EOF in range")
        else_: tuple[Node, ...] = ()
        if end == "else":
            self.expect("right", "else")
            else_ = self._body("range")
        del self.vars[mark:]
        return Range(pipe, tuple(body), else_)

    def _template_call(self) -> Call:
        name = self.expect("string", "template clause").value
        if self.peek_nonspace().kind == "right":
            self.next()
            return Call(name, None)
        return Call(name, self._pipeline("template clause", "right"))

    def _define(self, name: str, context: str) -> None:
        if context == "define":
            self.expect("right", "define clause")
        # A defined template is a template of its own: only `$` is in scope.
        outer, self.vars = self.vars, ["$"]
        body = self._body(context)
        self.vars = outer
        # As Go's parser: a name may be defined twice only if one of the bodies is
        # empty (blank text), and then the non-empty one stands.
        earlier = self.defines.get(name)
        if earlier is None or _is_empty(earlier):
            self.defines[name] = body
        elif not _is_empty(body):
            raise self.error(f'template: multiple definition of template "{name}"')

    # -- pipelines --

    def _pipeline(self, context: str, end: str) -> Pipeline:
        decl, is_assign = self._declarations(context)
        cmds: list[Command] = []
        piped = False
        while True:
            tok = self.peek_nonspace()
            if tok.kind == end and not piped:
                self.next()
                break
            if tok.kind in ("pipe", "right", "rparen", "eof", "keyword") and tok.value != "nil":
                raise self.unexpected(tok, context)
            cmd, piped = self._command(end)
            cmds.append(cmd)
        if not cmds:
            raise self.error(f"missing value for {context}")
        self._check_commands(cmds)
        return Pipeline(tuple(cmds), decl, is_assign)

    def _declarations(self, context: str) -> tuple[tuple[str, ...], bool]:
        start = self.i
        names: list[str] = []
        while self.peek_nonspace().kind == "var":
            names.append(self.next().value)
            op = self.next_nonspace()
            if op.kind in ("declare", "assign"):
                if op.kind == "declare":
                    self.vars.extend(names)
                return tuple(names), op.kind == "assign"
            if op.kind != "comma" or context != "range" or len(names) > 1:
                break
        if len(names) > 1:
            raise self.error(f"too many declarations in {context}")
        self.i = start
        return (), False

    def _command(self, end: str) -> tuple[Command, bool]:
        """One command, and whether a ``|`` follows it."""
        args: list[Operand] = []
        while True:
            self.peek_nonspace()
            args.append(self._operand())
            tok = self.peek()
            if tok.kind == "space":
                self.next()
                if self.peek().kind not in (end, "pipe"):
                    continue
                tok = self.peek()
            if tok.kind == "pipe":
                self.next()
            elif tok.kind != end:
                raise self.unexpected(tok, "operand")
            return Command(tuple(args)), tok.kind == "pipe"

    def _operand(self) -> Operand:
        node = self._term()
        names: list[str] = []
        while self.peek().kind == "field":
            names.append(self.next().value[1:])
        if not names:
            return node
        match node:
            case Field():
                return Field(node.names + tuple(names))
            case Variable():
                return Variable(node.name, node.names + tuple(names))
            case Pipeline():
                return Chain(node, tuple(names))
        raise self.error(f"unexpected . after term {names[0]!r}")

    def _term(self) -> Operand:
        tok = self.next_nonspace()
        match tok.kind:
            case "ident":
                if tok.value not in self.funcs:
                    raise self.error(f'function "{tok.value}" not defined', tok)
                return Identifier(tok.value)
            case "dot":
                return Dot()
            case "keyword" if tok.value == "nil":
                return Nil()
            case "var":
                if tok.value not in self.vars:
                    raise self.error(f'undefined variable "{tok.value}"', tok)
                return Variable(tok.value)
            case "field":
                return Field((tok.value[1:],))
            case "bool":
                return Const(tok.value == "true")
            case "number":
                return Const(number_value(tok.value))
            case "string":
                return Const(tok.value)
            case "lparen":
                return self._pipeline("parenthesized pipeline", "rparen")
        raise self.unexpected(tok, "operand")

    def _check_commands(self, cmds: list[Command]) -> None:
        for stage, cmd in enumerate(cmds):
            first = cmd.args[0]
            if stage and isinstance(first, Const | Dot | Nil):
                raise self.error(f"non executable command in pipeline stage {stage + 1}")
            if isinstance(first, Identifier):
                self._check_arity(first.name, len(cmd.args) - 1 + (1 if stage else 0))

    def _check_arity(self, name: str, count: int) -> None:
        # Go only finds a wrong argument count when the call runs. The count is known
        # here and such a call can never succeed, so report it at load time instead.
        low, high = self.funcs[name]
        if count < low or (high is not None and count > high):
            want = f"{low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
            raise self.error(f"wrong number of args for {name}: want {want} got {count}")


def _is_empty(nodes: tuple[Node, ...]) -> bool:
    """Go's IsEmptyTree: nothing but blank text (comments are gone already)."""
    return all(isinstance(node, Text) and not node.text.strip() for node in nodes)
