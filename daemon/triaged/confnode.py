"""Typed getters over YAML nodes, shared by every config section.

Each one either returns a value of the promised type or raises a ConfigError that
names the file, line and key, so no config module repeats its own validation.
:class:`Problems` collects the errors of independent sections and list items, so
`triaged check` can report all of them in one run instead of one per run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from triaged.durations import parse_duration
from triaged.errors import ConfigError
from triaged.yamlfile import Node, Seq, load_yaml_file

T = TypeVar("T")
U = TypeVar("U")

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, env: Mapping[str, str] | None = None) -> str:
    """``${VAR}`` and ``${VAR:-default}`` in paths, so one config serves systemd
    (``$STATE_DIRECTORY``, ``$CONFIGURATION_DIRECTORY``) and a checkout. A variable
    that is unset or empty takes its default. ``env`` defaults to the process's."""
    values = os.environ if env is None else env
    return _ENV_RE.sub(lambda m: values.get(m.group(1)) or (m.group(2) or ""), text)


def unset_env(text: str, *, without_default: bool = False) -> list[str]:
    """The ``${VAR}`` names in ``text`` that :func:`expand_env` finds unset (or empty);
    with ``without_default``, only those that have no ``:-default`` (they become "")."""
    return [
        m.group(1)
        for m in _ENV_RE.finditer(text)
        if not os.environ.get(m.group(1)) and not (without_default and m.group(2) is not None)
    ]


DEFAULT_DB = "triaged.db"


@dataclass(frozen=True)
class StorageDb:
    """Where ``storage.db`` points, and how it got there (for a "no such file" hint)."""

    path: str  # ${VAR}s expanded, relative to the config file's directory
    written: str  # as written in the config
    base: Path  # the config file's directory
    unset: tuple[str, ...] = ()  # its ${VAR}s that were unset, so their default was used

    def with_env(self, **values: str) -> str:
        """Where it points with these variables set too, e.g. systemd's STATE_DIRECTORY."""
        return str(self.base / expand_env(self.written, {**os.environ, **values}))


def storage_db(doc: Node, base: Path) -> StorageDb:
    """``storage.db`` of a loaded config whose file is in ``base``. The daemon's
    config and the store-only commands both read it here, so they cannot disagree."""
    written = get_str(section(doc, "storage"), "db", DEFAULT_DB)
    return StorageDb(str(base / expand_env(written)), written, base, tuple(unset_env(written)))


def storage_warnings(doc: Node, base: Path) -> list[str]:
    """A ``${VAR}`` with no default that is unset here: the path silently loses that
    part (``${STATE_DIRECTRY}/triaged.db`` becomes ``/triaged.db``)."""
    db = storage_db(doc, base)
    problem = _unset_in(db.written)
    if problem is None:
        return []
    message = f"warning: storage.db: {problem}: the path becomes {db.path}"
    return [str(section(doc, "storage").error("db", message))]


def rule_files_warnings(doc: Node) -> list[str]:
    """As :func:`storage_warnings`, for each ``rule_files`` pattern: otherwise the only
    sign is "matches no file" (``check`` run without systemd's ``$CONFIGURATION_DIRECTORY``)."""
    found = []
    for written in str_list(doc, "rule_files"):
        problem = _unset_in(written)
        if problem is not None:
            message = f"warning: rule_files: {problem}: {written!r} becomes {expand_env(written)!r}"
            found.append(str(doc.error("rule_files", message)))
    return found


def _unset_in(written: str) -> str | None:
    """``"${A} is not set"`` for the variables without a default that are unset."""
    missing = unset_env(written, without_default=True)
    if not missing:
        return None
    names = ", ".join(f"${{{name}}}" for name in missing)
    return f"{names} {'is' if len(missing) == 1 else 'are'} not set"


def read_storage_db(path: str | Path) -> StorageDb:
    """``storage.db`` of the config file at ``path``, reading nothing else of it: the
    commands that only open the store need neither the rest nor its validity (a typo
    in a target must not lock the on-call out of ``incidents ack``), nor the import
    of the whole config machinery."""
    return storage_db(load_config_doc(path), Path(path).resolve().parent)


def load_config_doc(path: str | Path) -> Node:
    """The config file's top-level mapping (an empty file is an empty one)."""
    doc = load_yaml_file(path)
    if doc is None:
        doc = Node()
        doc.file, doc.line, doc.key_lines = str(path), 1, {}
    if not isinstance(doc, Node):
        raise ConfigError("the config must be a mapping", file=str(path), line=1)
    return doc


class Problems:
    """Errors found so far in one config file. ``attempt`` parses one independent part
    (a section, one list item, one key of an item); if it fails, the error is kept and
    ``fallback`` stands in for it, so the parts after it are still checked. A parser
    that checks its keys with ``attempt`` reports every broken key of its item."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def attempt(self, parse: Callable[[], T], fallback: T) -> T:
        try:
            return parse()
        except ConfigError as exc:
            self.errors.append(exc)
            return fallback

    def duration(self, n: Node, key: str, default: T, *, positive: bool = False) -> float | T:
        """:func:`duration`, or ``default`` when it is broken (reported)."""
        fallback: float | T = default
        return self.attempt(lambda: duration(n, key, default, positive=positive), fallback)

    def each(self, items: Iterable[U], parse: Callable[[U], T | None]) -> list[T]:
        """Parse every item of a list; the broken ones (that raised, added to these
        problems or returned None) are reported and left out."""
        out: list[T] = []
        for item in items:
            before = len(self.errors)
            try:
                parsed = parse(item)
            except ConfigError as exc:
                self.errors.append(exc)
                continue
            if parsed is not None and len(self.errors) == before:
                out.append(parsed)
        return out

    def nodes(self, doc: Node, key: str) -> list[Node]:
        """The list of mappings under ``key`` (none if it is not one: that is reported)."""
        empty: list[Node] = []
        return self.attempt(lambda: node_list(doc, key), empty)

    def labels(self, n: Node, key: str) -> dict[str, str]:
        """:func:`str_map` of label names to values; every name Prometheus would
        refuse is reported at its own line (and left in: the item is broken anyway)."""
        empty: dict[str, str] = {}
        labels = self.attempt(lambda: str_map(n, key), empty)
        value = n.get(key)
        for name in labels:
            problem = label_name_problem(name)
            if problem is not None and isinstance(value, Node):
                self.errors.append(value.error(name, f"{key}: {problem}"))
        return labels

    def only_keys(self, n: Node, allowed: set[str], where: str) -> None:
        """Every unknown key, not just the first."""
        self.errors.extend(n.error(key, _unknown(key, allowed, where)) for key in n if key not in allowed)

    def ordered(self) -> list[ConfigError]:
        """By file and line, each message once."""
        unique: dict[str, ConfigError] = {}
        for e in self.errors:
            unique.setdefault(str(e), e)
        return sorted(unique.values(), key=lambda e: (e.file or "", e.line or 0))


def empty_like(parent: Node) -> Node:
    """An empty section that reports errors at its parent's position."""
    node = Node()
    node.file, node.line, node.key_lines = parent.file, parent.line, {}
    return node


def section(doc: Node, key: str) -> Node:
    """A mapping under ``key``; an absent one reads as empty (all defaults)."""
    value = doc.get(key)
    if value is None:
        return empty_like(doc)
    if not isinstance(value, Node):
        raise doc.error(key, f"'{key}' must be a mapping")
    return value


def node_list(doc: Node, key: str) -> list[Node]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Node) for v in value):
        raise doc.error(key, f"'{key}' must be a list of mappings")
    return value


def parse_list(doc: Node, key: str, parse: Callable[[Node], T]) -> list[T]:
    return [parse(n) for n in node_list(doc, key)]


def only_keys(n: Node, allowed: set[str], where: str) -> None:
    for key in n:
        if key not in allowed:
            raise n.error(key, _unknown(key, allowed, where))


def _unknown(key: str, allowed: set[str], where: str) -> str:
    return f"unknown key {key!r} in {where} (allowed: {', '.join(sorted(allowed))})"


def get_str(n: Node, key: str, default: str) -> str:
    # A string field reads a plain scalar as written (`off`, `1.10`), as Go's yaml does.
    value = n.text(key) if key in n else default
    if value is None:
        raise n.error(key, f"'{key}' must be a string")
    return value


def req_str(n: Node, key: str) -> str:
    if key not in n or n[key] in (None, ""):
        raise n.error(None, f"missing required key '{key}'")
    return get_str(n, key, "")


def flag(n: Node, key: str, default: bool) -> bool:
    value = n.get(key, default)
    if not isinstance(value, bool):
        raise n.error(key, f"{key} must be true or false")
    return value


def positive_int(n: Node, key: str, default: int) -> int:
    value = n.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise n.error(key, f"'{key}' must be a positive integer")
    return value


def duration(n: Node, key: str, default: T, *, positive: bool = False, strict: bool = False) -> float | T:
    """A duration string (``30s``, ``5m``, ``1h30m``); see :func:`seconds_of`."""
    if key not in n:
        return default
    try:
        return seconds_of(n[key], positive=positive, strict=strict)
    except ValueError as exc:
        raise n.error(key, f"{key}: {exc}") from exc


def seconds_of(value: object, *, positive: bool = False, strict: bool = False) -> float:
    """A duration's seconds, or ValueError saying why not. As in Prometheus, a bare
    number other than ``0`` is refused: ``reopen_window: 5`` could mean seconds or
    minutes. ``positive`` also refuses zero (intervals, timeouts); ``strict`` takes
    only what Prometheus takes (see :func:`parse_duration`)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value != 0:
        raise ValueError(f"{value!r} is not a valid duration: give a unit, e.g. {value:g}s or {value:g}m")
    seconds = parse_duration(value, strict=strict)
    if positive and seconds <= 0:
        raise ValueError(f"must be longer than 0s, got {value!r}")
    return seconds


def str_list(n: Node, key: str) -> list[str]:
    value = n.get(key)
    if value is None:
        return []
    texts = [value.text(i) for i in range(len(value))] if isinstance(value, Seq) else None
    if texts is None or any(t is None for t in texts):
        raise n.error(key, f"'{key}' must be a list of strings")
    return [t for t in texts if t is not None]


_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def label_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a label name, or None. As Prometheus's config checks
    (``LabelName.IsValid``, legacy names); names starting with ``__`` are its internal
    ones (``__name__``, ``__address__``...), which a target label must not set."""
    if not _LABEL_NAME_RE.fullmatch(name):
        return f"{name!r} is not a valid label name (letters, digits and _, not starting with a digit)"
    if name.startswith("__"):
        return f"{name!r}: label names starting with __ are reserved for internal use"
    return None


def str_map(n: Node, key: str) -> dict[str, str]:
    value = n.get(key)
    if value is None:
        return {}
    texts = {str(k): value.text(k) for k in value} if isinstance(value, Node) else None
    if texts is None or any(t is None for t in texts.values()):
        raise n.error(key, f"'{key}' must be a mapping of strings")
    return {k: t for k, t in texts.items() if t is not None}
