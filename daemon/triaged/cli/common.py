"""Options and helpers shared by commands."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB = "triaged.db"

# SQLite integers are 64-bit: a larger number cannot be an id, and passed to a query
# it raises OverflowError instead of "no incident #N".
MAX_ID = 2**63 - 1


class IdType(click.ParamType[int]):
    """An incident, action item or silence id: a whole number SQLite can hold."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            number = int(text) if text.isascii() and text.isdigit() else 0
        if not 1 <= number <= MAX_ID:
            self.fail(f"{value!r} is not an id (a whole number from 1 to {MAX_ID})", param, ctx)
        return number


ID = IdType()
# For --limit and the like: bounded, so SQLite can take it.
COUNT = click.IntRange(min=1, max=MAX_ID)


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
    """A time as every command prints it: in UTC and labelled so, whatever the
    server's zone, so it matches postmortems and the other team's logs."""
    from triaged.clock import utc_text

    return "-" if ts is None else f"{utc_text(ts)} UTC"


def parse_utc(text: str, option: str) -> float:
    """A time given on the command line: ``YYYY-MM-DD HH:MM`` in UTC, or with an
    explicit offset (``2026-12-01T02:00+05:30``)."""
    from datetime import UTC, datetime

    cleaned = text.strip().removesuffix("UTC").removesuffix("Z").strip()
    try:
        at = datetime.fromisoformat(cleaned)
    except ValueError:
        raise click.ClickException(
            f"{option}: expected 'YYYY-MM-DD HH:MM' (UTC) or an ISO time with an offset, got {text!r}"
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def actor_default() -> str:
    return (
        os.environ.get("TRIAGED_USER") or os.environ.get("SUDO_USER") or os.environ.get("USER") or "unknown"
    )


def api_unreachable(url: str, exc: Exception) -> str:
    """One line for a request to the daemon's HTTP API that got no answer."""
    import requests

    if isinstance(exc, requests.Timeout):
        return f"the triaged API at {url} did not answer in time"
    if not isinstance(exc, requests.ConnectionError):
        return f"the triaged API at {url}: {exc}"
    text = str(exc).lower()
    why = "cannot connect"
    for needle, short in (
        ("refused", "connection refused"),
        ("name or service not known", "unknown host"),
        ("no route to host", "no route to host"),
    ):
        if needle in text:
            why = short
            break
    return f"cannot reach the triaged API at {url}: {why} — is the daemon running with `http:` enabled?"


def router_from(config_path: str | None) -> Any:
    """With a config, acks, resolves and escalations are announced to the receivers;
    without one they are only recorded."""
    from triaged.alerts.route import Router

    if not config_path:
        return Router([])
    # The same routing the daemon uses (tree or flat list), so an ack reaches exactly
    # the receivers that got the page.
    from triaged.app import build_router
    from triaged.config import load_config
    from triaged.errors import ConfigError

    try:
        return build_router(load_config(config_path))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
