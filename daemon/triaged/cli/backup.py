"""`triaged backup`: a consistent copy of the store, safe while the daemon runs."""

from __future__ import annotations

import click

from triaged.cli.common import config_option, db_option, existing_db


@click.command()
@click.argument("out", type=click.Path(dir_okay=False), metavar="OUT")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@db_option
@config_option()
def backup(out: str, force: bool, db_path: str | None, config_path: str | None) -> None:
    """Copy the store to OUT with SQLite's online backup, safe while the daemon runs.

    \b
    A plain `cp triaged.db` of a running daemon's store misses what is still in
    triaged.db-wal. The copy is checked (PRAGMA integrity_check) before it is
    moved into place, and is one self-contained file, mode 0600 (it holds every
    incident). OUT must not be a symbolic link. Restore: see
    docs/operations.md, "Backup, restore, upgrade".
    """
    from triaged.store.backup import backup as copy_store
    from triaged.store.db import StoreError

    source = existing_db(db_path, config_path)
    try:
        done = copy_store(source, out, force=force)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    plural = "" if done.incidents == 1 else "s"
    click.echo(f"backed up {source} to {done.path}: {done.size:,} bytes, {done.incidents} incident{plural}")
