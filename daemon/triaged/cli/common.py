"""Options and helpers shared by commands."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB = "triaged.db"


def db_option(f: F) -> F:
    return click.option(
        "--db",
        "db_path",
        envvar="TRIAGED_DB",
        default=None,
        metavar="FILE",
        help=f"SQLite store [env TRIAGED_DB; default: the --config's storage.db, else {DEFAULT_DB}].",
    )(f)


def config_option(required: bool = False) -> Callable[[F], F]:
    def wrap(f: F) -> F:
        return click.option(
            "--config",
            "-c",
            "config_path",
            envvar="TRIAGED_CONFIG",
            required=required,
            type=click.Path(dir_okay=False),
            metavar="FILE",
            help="Config file (YAML) [env TRIAGED_CONFIG].",
        )(f)

    return wrap


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def resolve_db(db_path: str | None, config_path: str | None) -> str:
    if db_path:
        return db_path
    if config_path:
        from triaged.config import load_config
        from triaged.errors import ConfigError

        try:
            return load_config(config_path).db_path
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    return DEFAULT_DB


def open_db(db_path: str | None, config_path: str | None = None) -> Any:
    from triaged.store.db import StoreError, open_store

    try:
        return open_store(resolve_db(db_path, config_path), create=False)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r).rstrip() for r in [list(headers), *cells])


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def span(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return "-"
    from triaged.yamlfile import format_duration

    return format_duration(max(0.0, end - start))


def actor_default() -> str:
    return (
        os.environ.get("TRIAGED_USER") or os.environ.get("SUDO_USER") or os.environ.get("USER") or "unknown"
    )
