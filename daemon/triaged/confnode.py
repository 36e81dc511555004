"""Typed getters over YAML nodes, shared by every config section.

Each one either returns a value of the promised type or raises a ConfigError that
names the file, line and key, so no config module repeats its own validation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TypeVar

from triaged.yamlfile import Node, parse_duration

T = TypeVar("T")

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str) -> str:
    """``${VAR}`` and ``${VAR:-default}`` in paths, so one config serves systemd
    (``$STATE_DIRECTORY``, ``$CONFIGURATION_DIRECTORY``) and a checkout."""
    return _ENV_RE.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), text)


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
            raise n.error(key, f"unknown key {key!r} in {where} (allowed: {', '.join(sorted(allowed))})")


def get_str(n: Node, key: str, default: str) -> str:
    value = n.get(key, default)
    if not isinstance(value, str):
        raise n.error(key, f"'{key}' must be a string")
    return value


def req_str(n: Node, key: str) -> str:
    if key not in n or n[key] in (None, ""):
        raise n.error(None, f"missing required key '{key}'")
    return get_str(n, key, "")


def positive_int(n: Node, key: str, default: int) -> int:
    value = n.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise n.error(key, f"'{key}' must be a positive integer")
    return value


def duration(n: Node, key: str, default: T) -> float | T:
    if key not in n:
        return default
    try:
        return parse_duration(n[key])
    except ValueError as exc:
        raise n.error(key, f"{key}: {exc}") from exc


def str_list(n: Node, key: str) -> list[str]:
    value = n.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise n.error(key, f"'{key}' must be a list of strings")
    return value


def str_map(n: Node, key: str) -> dict[str, str]:
    value = n.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str | int | float) for v in value.values()):
        raise n.error(key, f"'{key}' must be a mapping of strings")
    return {str(k): str(v) for k, v in value.items()}
