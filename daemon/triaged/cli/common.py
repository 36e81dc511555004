"""Options and helpers shared by commands."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from triaged.cli.printable import one_line

if TYPE_CHECKING:
    from triaged.confnode import StorageDb

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB = "triaged.db"

# SQLite integers are 64-bit: a larger number cannot be an id, and passed to a query
# it raises OverflowError instead of "no incident #N".
MAX_ID = 2**63 - 1


class IdType(click.ParamType[int]):
    """An incident, action item or silence id: a whole number SQLite can hold. Every
    output prints ids as ``#N``, so a pasted ``#N`` is taken too."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip().removeprefix("#")
            number = int(text) if text.isascii() and text.isdigit() else 0
        if not 1 <= number <= MAX_ID:
            what = _ID_OF.get((param.name if param is not None else None) or "", "an incident")
            self.fail(f"{value!r} is not {what} id: use the number, e.g. 1", param, ctx)
        return number


# What an id argument names, by its parameter (an incident by default).
_ID_OF = {"item_id": "an action item", "silence_id": "a silence"}


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


# StateDirectory=triaged in systemd/triaged.service: $STATE_DIRECTORY of the daemon.
SYSTEMD_STATE_DIRECTORY = "/var/lib/triaged"


def resolve_db(db_path: str | None, config_path: str | None) -> str:
    """``--db``/``$TRIAGED_DB``, else the config's ``storage.db``, else triaged.db."""
    if db_path:
        if config_path and db_path == os.environ.get("TRIAGED_DB"):
            _note_env_db(db_path, config_path)
        return db_path
    if config_path:
        return _config_db(config_path).path
    return DEFAULT_DB


def _note_env_db(db_path: str, config_path: str) -> None:
    """An exported $TRIAGED_DB beats --config (as a flag's variable does): say so when it
    names another store, on stderr so --json output stays clean."""
    configured = _config_db(config_path).path
    if os.path.abspath(configured) != os.path.abspath(db_path):
        click.echo(
            f"note: using $TRIAGED_DB ({db_path}), not {configured} (storage.db of --config):"
            " unset it or give --db",
            err=True,
        )


def _config_db(config_path: str) -> StorageDb:
    """``storage.db`` of the config, read alone: the rest of the config is neither
    validated nor imported, so a typo elsewhere cannot lock the on-call out of the
    store, and the command starts fast."""
    from triaged.confnode import read_storage_db
    from triaged.errors import ConfigError

    try:
        return read_storage_db(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def existing_db(db_path: str | None, config_path: str | None = None) -> str:
    """The store a command works on (as :func:`resolve_db`); when the config's
    ``storage.db`` names no file, says how that path was resolved."""
    if db_path or not config_path:
        return resolve_db(db_path, config_path)
    db = _config_db(config_path)
    if not Path(db.path).exists():
        raise click.ClickException(missing_db(config_path, db))
    return db.path


def open_db(db_path: str | None, config_path: str | None = None) -> Any:
    """Open the store for a command. Pending migrations are applied only when no
    daemon runs on it: changing the schema under a running (older) daemon would
    break its next write, so the on-call is told to restart it instead."""
    from triaged.service.instance import running
    from triaged.store.db import MigrationPendingError, StoreError, open_store

    path = existing_db(db_path, config_path)
    if os.path.isdir(path):  # SQLite would say only "unable to open database file"
        example = os.path.join(path, "triaged.db")
        raise click.ClickException(
            f"{path} is a directory: name the database file in it, e.g. --db {example}"
        )
    holder = running(path)
    try:
        return open_store(path, create=False, migrate=holder is None)
    except MigrationPendingError as exc:
        daemon = f"the running daemon (pid {holder})" if holder else "the running daemon"
        raise click.ClickException(
            f"{path} needs migration '{exc.migration}'; {daemon} is older: restart it to upgrade the store"
        ) from exc
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


def missing_db(config_path: str, db: StorageDb) -> str:
    """Why the config's ``storage.db`` names no file: how the path was resolved, and
    where the daemon under systemd keeps it when ``$STATE_DIRECTORY`` made the difference."""
    unset = f" ({', '.join('$' + name for name in db.unset)} unset)" if db.unset else ""
    text = f"{config_path}: no such database: storage.db resolved to {os.path.normpath(db.path)}{unset}"
    if "STATE_DIRECTORY" not in db.unset:
        return text + " (run the daemon first, or pass --db)"
    under_systemd = db.with_env(STATE_DIRECTORY=SYSTEMD_STATE_DIRECTORY)
    return f"{text}; the daemon under systemd uses {under_systemd}: try --db {under_systemd}"


def config_or_defaults(config_path: str | None, without: str) -> Any:
    """The parsed config, or None (the caller's defaults) when there is none or it is
    broken. A broken config gets one warning naming ``without``, what the command does
    without it, and the command goes on: someone mid-edit on the config must not lock
    the on-call out of silencing a page or writing a postmortem."""
    if not config_path:
        return None
    from triaged.config import load_config
    from triaged.errors import ConfigError

    try:
        return load_config(config_path)
    except ConfigError as exc:
        first = str(exc).splitlines()[0]
        click.echo(
            f"warning: {first}; going on without the config ({without}); `triaged check` lists every problem",
            err=True,
        )
        return None


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[one_line(str(c)) for c in row] for row in rows]  # a value cannot fake a row
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


# Who a change is recorded as without --by, in the order actor_default() tries them.
BY_DEFAULT = "$TRIAGED_USER, else $SUDO_USER, else $USER, else the login name"


def actor_default() -> str:
    for name in ("TRIAGED_USER", "SUDO_USER", "USER"):
        who = os.environ.get(name, "").strip()
        if who:
            return who
    # cron, `docker exec` and `systemd-run` may set no $USER: the account still has a name.
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid with no passwd entry (a bare container)
        return "unknown"


def by_given(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--by`` as typed, trimmed. A blank one is refused rather than recorded as a
    nameless author on the timeline (or silently replaced by $USER): a script passing
    an unset variable should hear of it."""
    if value is None:
        return None
    who = value.strip()
    if who:
        return who
    fallback = actor_default()
    if fallback == "unknown":
        raise click.BadParameter(
            "is empty: say who, e.g. --by asha ($TRIAGED_USER, $SUDO_USER and $USER are unset)"
        )
    raise click.BadParameter(f"is empty: say who, or leave --by out to be recorded as {fallback}")


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
