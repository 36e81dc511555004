"""YAML loading that remembers where each key was, so errors read ``file:line: message``.

PyYAML resolves plain scalars by YAML 1.1: ``no`` and ``off`` become booleans, ``1.10``
a float, ``0x1F`` an int. Go's yaml packages, which Prometheus decodes rule files with,
keep the text when the target field is a string. So each mapping also remembers the
original text of every plain scalar that resolved to something else, and a string
field reads it back through :meth:`Node.text`; typed config getters still see the
resolved value.

Where a rule file would read differently, Go's yaml.v3 is followed: ``1e3`` is a float
(YAML 1.2), an explicit key overrides one merged in with ``<<``, and an unknown tag
(``!foo``) leaves a scalar's text, so promtool and triaged load the same files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from triaged.errors import ConfigError


class Node(dict[str, Any]):
    """A mapping from a YAML file that knows its own line and each key's line."""

    file: str = ""
    line: int | None = None
    key_lines: dict[str, int]
    # key → source text of a plain scalar value that YAML 1.1 resolved to a non-string.
    scalar_texts: Mapping[str, str] = MappingProxyType({})

    def text(self, key: str) -> str | None:
        """The value of ``key`` as a string field reads it: a scalar's own text, so
        ``no``, ``off``, ``1.10`` and ``0x1F`` stay as written, as with Go's yaml into a
        string. None if the key is absent, null, a mapping or a list."""
        if key in self.scalar_texts:
            return self.scalar_texts[key]
        value = self.get(key)
        if value is None or isinstance(value, dict | list):
            return None
        return value if isinstance(value, str) else str(value)

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)

    def error(self, key: str | None, message: str) -> ConfigError:
        line = self.line_of(key) if key is not None else self.line
        return ConfigError(message, file=self.file, line=line)


class Seq(list[Any]):
    """A list from a YAML file that, like :class:`Node`, keeps each plain scalar's text."""

    scalar_texts: Mapping[int, str] = MappingProxyType({})

    def text(self, index: int) -> str | None:
        """Item ``index`` as a string field reads it (see :meth:`Node.text`)."""
        if index in self.scalar_texts:
            return self.scalar_texts[index]
        value = self[index]
        if value is None or isinstance(value, dict | list):
            return None
        return value if isinstance(value, str) else str(value)


_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG
# Scalar tags PyYAML's safe loader builds. Any other (`!foo`, `!!python/name`, `=`) is
# kept as its text, as Go's yaml.v3 does: promtool loads `expr: !foo up == 0`.
_SCALAR_TAGS = {_MERGE_TAG, _STR_TAG} | {
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "binary", "timestamp")
}


class _Loader(yaml.SafeLoader):
    file = ""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        node = super().compose_node(parent, index)
        if node is not None:
            node.tag = _go_tag(node)
        return node


def _go_tag(node: yaml.Node) -> str:
    """The tag Go's yaml.v3 effectively decodes ``node`` by: a mapping is a mapping
    and a list a list whatever their tag (``!!set``, ``!foo``), and an unknown scalar
    tag leaves the text as a string."""
    if isinstance(node, yaml.MappingNode):
        return yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
    if isinstance(node, yaml.SequenceNode):
        return yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG
    return node.tag if node.tag in _SCALAR_TAGS else _STR_TAG


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Node:
    explicit = Node()
    explicit.key_lines = {}
    texts: dict[str, str] = {}
    sources: list[Node] = []
    merge_line: int | None = None
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == _MERGE_TAG:
            if merge_line is not None:  # yaml.v3 refuses a second `<<` like any other key
                raise ConfigError("duplicate key '<<'", file=loader.file, line=line)
            merge_line = line
            sources = _merge_sources(loader, value_node, line)
            continue
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            # A key is always a name: `no:` or `1.10:` as written, not False or 1.1.
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key)
        if key in explicit:
            raise ConfigError(f"duplicate key {key!r}", file=loader.file, line=line)
        value = loader.construct_object(value_node, deep=True)
        explicit[key] = value
        explicit.key_lines[key] = line
        if _is_plain(value_node) and value is not None and not isinstance(value, str):
            texts[key] = value_node.value
    out = _merged(sources, explicit, texts)
    out.file = loader.file
    out.line = node.start_mark.line + 1
    if texts:
        out.scalar_texts = texts
    return out


def _merge_sources(loader: _Loader, node: yaml.Node, line: int) -> list[Node]:
    """The mappings a ``<<`` key merges: one mapping, or a list of them."""
    value = loader.construct_object(node, deep=True)
    sources = [value] if isinstance(value, Node) else value if isinstance(value, list) else None
    if sources is None or not all(isinstance(source, Node) for source in sources):
        raise ConfigError(
            "invalid YAML: '<<' must merge a mapping or a list of mappings", file=loader.file, line=line
        )
    return sources


def _merged(sources: list[Node], explicit: Node, texts: dict[str, str]) -> Node:
    """``explicit`` with the keys of merged ``sources`` it does not set itself. An
    explicit key overrides a merged one (``<<: *base`` then ``for: 5m``), and an earlier
    source wins over a later one, as YAML merge keys and Go's yaml.v3 have it; only a key
    written twice in the mapping itself is a duplicate. Merged keys come first, as PyYAML
    orders them."""
    out = Node()
    out.key_lines = {}
    for source in sources:
        for key, value in source.items():
            if key in explicit or key in out:
                continue
            out[key] = value
            out.key_lines[key] = source.line_of(key) or 0
            if key in source.scalar_texts:
                texts[key] = source.scalar_texts[key]
    out.update(explicit)
    out.key_lines.update(explicit.key_lines)
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Seq:
    out = Seq(loader.construct_object(child, deep=True) for child in node.value)
    texts = {
        i: child.value
        for i, (child, value) in enumerate(zip(node.value, out, strict=True))
        if _is_plain(child) and value is not None and not isinstance(value, str)
    }
    if texts:
        out.scalar_texts = texts
    return out


def _is_plain(node: yaml.Node) -> bool:
    """An unquoted scalar: the only kind YAML 1.1 turns into a bool, number or date."""
    return isinstance(node, yaml.ScalarNode) and node.style is None


def _lenient(construct: Any) -> Any:
    """A scalar constructor that keeps the text when an explicit tag does not fit it
    (``!!float abc``): Go's yaml.v3 then reads the text into a string field, and a
    number field refuses it by its own type check, instead of a traceback here."""

    def build(loader: _Loader, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, KeyError, AttributeError):  # int(), bool table, timestamp regex
            return node.value

    return build


for _name in ("bool", "int", "float", "timestamp"):
    _tag = f"tag:yaml.org,2002:{_name}"
    _Loader.add_constructor(_tag, _lenient(yaml.SafeLoader.yaml_constructors[_tag]))
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
# YAML 1.2, which Go's yaml.v3 follows, reads `1e3`, `1E3` and `2.5e-1` as floats;
# YAML 1.1 wants a dot and a signed exponent, so PyYAML alone leaves them strings
# (`limit: 1e3` was refused, promtool takes it). Ints and 1.1 floats match first.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def load_yaml_text(text: str, file: str) -> Any:
    try:
        loader = _Loader(text)  # checks every character before any parsing
    except yaml.reader.ReaderError as exc:
        raise _unprintable(exc, text, file) from exc
    loader.file = file
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"invalid YAML: {problem}", file=file, line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from exc
    finally:
        loader.dispose()


def load_yaml_file(path: str | Path) -> Any:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", file=str(p)) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(exc, data, str(p)) from exc
    return load_yaml_text(text, str(p))


def _not_utf8(exc: UnicodeDecodeError, data: bytes, file: str) -> ConfigError:
    """A file saved in another encoding (a cp1252 quote, a Latin-1 é): where, and what."""
    line = data.count(b"\n", 0, exc.start) + 1
    byte = data[exc.start]
    return ConfigError(
        f"not UTF-8 (byte 0x{byte:02x} at offset {exc.start}): save the file as UTF-8", file=file, line=line
    )


def _unprintable(exc: yaml.reader.ReaderError, text: str, file: str) -> ConfigError:
    """A control character YAML refuses (NUL, ESC...), located like any other mistake."""
    pos = exc.position if isinstance(exc.position, int) else 0
    offset = len(text[:pos].encode("utf-8"))
    return ConfigError(
        f"invalid YAML: control character 0x{exc.character:02x} at offset {offset} is not allowed",
        file=file,
        line=text.count("\n", 0, pos) + 1,
    )
