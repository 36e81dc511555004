"""Schema, one function per change. Never edit an applied migration: add a new one."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("triaged")

# Incidents in these states are "open": at most one per group key (partial unique index),
# which is what makes a crash between two writes unable to open a duplicate incident.
OPEN_STATES = ("detected", "acknowledged", "investigating", "mitigated")


@migrations()
def m001_initial(db: Database) -> None:
    open_list = ", ".join(f"'{s}'" for s in OPEN_STATES)
    _script(
        db,
        f"""
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            group_key TEXT NOT NULL,
            service TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL,
            severity TEXT NOT NULL,
            status TEXT NOT NULL,
            rule TEXT NOT NULL DEFAULT '',
            expr TEXT NOT NULL DEFAULT '',
            labels TEXT NOT NULL DEFAULT '{{}}',
            detected_at REAL NOT NULL,
            opened_at REAL NOT NULL,
            acknowledged_at REAL,
            investigating_at REAL,
            mitigated_at REAL,
            resolved_at REAL,
            postmortem_at REAL,
            closed_at REAL,
            clear_since REAL,
            assignee TEXT,
            reopen_count INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL
        );
        CREATE UNIQUE INDEX incidents_one_open_per_group
            ON incidents(group_key) WHERE status IN ({open_list});
        CREATE INDEX incidents_status ON incidents(status, opened_at);

        CREATE TABLE incident_alerts (
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            fingerprint TEXT NOT NULL,
            alertname TEXT NOT NULL,
            labels TEXT NOT NULL,
            annotations TEXT NOT NULL DEFAULT '{{}}',
            severity TEXT NOT NULL,
            state TEXT NOT NULL,
            expr TEXT NOT NULL DEFAULT '',
            active_at REAL NOT NULL,
            fired_at REAL,
            resolved_at REAL,
            value REAL,
            peak REAL,
            PRIMARY KEY (incident_id, fingerprint)
        );

        CREATE TABLE timeline (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL DEFAULT 'triaged',
            message TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{{}}'
        );
        CREATE INDEX timeline_incident ON timeline(incident_id, at);

        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER,
            event TEXT NOT NULL,
            receiver TEXT NOT NULL,
            dedup_key TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            created_at REAL NOT NULL,
            due_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            claimed_by TEXT,
            claimed_at REAL,
            sent_at REAL,
            message_id TEXT,
            last_error TEXT,
            UNIQUE (dedup_key, receiver)
        );
        CREATE INDEX outbox_due ON outbox(due_at) WHERE status IN ('pending', 'sending');

        CREATE TABLE alert_state (
            rule_key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            labels TEXT NOT NULL,
            annotations TEXT NOT NULL,
            state TEXT NOT NULL,
            active_at REAL NOT NULL,
            fired_at REAL,
            resolved_at REAL,
            keep_firing_since REAL,
            value REAL,
            PRIMARY KEY (rule_key, fingerprint)
        );
        """,
    )


@migrations()
def m003_lifecycle(db: Database) -> None:
    """Evidence, SLI samples, postmortems and action items (issue #6)."""
    _script(
        db,
        """
        CREATE TABLE evidence_series (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            alertname TEXT NOT NULL DEFAULT '',
            expr TEXT NOT NULL,
            role TEXT NOT NULL,
            labels TEXT NOT NULL,
            op TEXT,
            threshold REAL,
            UNIQUE (incident_id, expr, labels)
        );
        CREATE TABLE evidence_points (
            series_id INTEGER NOT NULL REFERENCES evidence_series(id),
            t REAL NOT NULL,
            v REAL,
            PRIMARY KEY (series_id, t)
        ) WITHOUT ROWID;
        CREATE TABLE evidence_state (
            incident_id INTEGER PRIMARY KEY REFERENCES incidents(id),
            started_at REAL NOT NULL,
            last_t REAL NOT NULL,
            step_s REAL NOT NULL,
            error TEXT
        );

        CREATE TABLE slos (
            name TEXT PRIMARY KEY,
            service TEXT NOT NULL DEFAULT '',
            good TEXT NOT NULL,
            total TEXT NOT NULL,
            objective REAL NOT NULL,
            window_s REAL NOT NULL,
            interval_s REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE slo_samples (
            slo TEXT NOT NULL,
            t REAL NOT NULL,
            good REAL NOT NULL,
            total REAL NOT NULL,
            PRIMARY KEY (slo, t)
        ) WITHOUT ROWID;

        CREATE TABLE postmortems (
            incident_id INTEGER PRIMARY KEY REFERENCES incidents(id),
            path TEXT NOT NULL,
            chart_path TEXT,
            drafted_at REAL NOT NULL,
            drafted_by TEXT NOT NULL,
            completed_at REAL,
            completed_by TEXT,
            findings INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE action_items (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            title TEXT NOT NULL,
            owner TEXT NOT NULL,
            due_at REAL NOT NULL,
            priority TEXT NOT NULL,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            created_by TEXT NOT NULL,
            started_at REAL,
            done_at REAL,
            verified_at REAL,
            verified_by TEXT,
            dropped_at REAL,
            note TEXT NOT NULL DEFAULT '',
            updated_at REAL NOT NULL
        );
        CREATE INDEX action_items_status ON action_items(status, due_at);
        CREATE INDEX action_items_incident ON action_items(incident_id);
        """,
    )


@migrations()
def m002_alert_pipeline(db: Database) -> None:
    """Silences, muted-alert episodes, outbox ordering and fallback (issue #5)."""
    _script(
        db,
        """
        CREATE TABLE silences (
            id INTEGER PRIMARY KEY,
            matchers TEXT NOT NULL,
            starts_at REAL NOT NULL,
            ends_at REAL NOT NULL,
            author TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at REAL NOT NULL,
            expired_by TEXT
        );
        CREATE INDEX silences_ends ON silences(ends_at);

        CREATE TABLE muted_alerts (
            id INTEGER PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            alertname TEXT NOT NULL,
            labels TEXT NOT NULL,
            kind TEXT NOT NULL,
            ref TEXT NOT NULL,
            reason TEXT NOT NULL,
            incident_id INTEGER,
            first_at REAL NOT NULL,
            last_at REAL NOT NULL,
            ended_at REAL
        );
        CREATE UNIQUE INDEX muted_alerts_one_active ON muted_alerts(fingerprint) WHERE ended_at IS NULL;
        CREATE INDEX muted_alerts_ref ON muted_alerts(kind, ref);

        ALTER TABLE outbox ADD COLUMN first_due_at REAL;
        ALTER TABLE outbox ADD COLUMN fallback_of INTEGER;
        CREATE INDEX outbox_receiver_open ON outbox(receiver, status);
        CREATE INDEX outbox_incident ON outbox(incident_id, receiver);
        """,
    )


@migrations()
def m004_alert_state_last_eval(db: Database) -> None:
    """When each alert was last evaluated, so a restart can measure the outage and
    resume ``for`` timers as Prometheus does (rules: restore after downtime)."""
    _script(db, "ALTER TABLE alert_state ADD COLUMN last_eval REAL;")


@migrations()
def m005_lifetimes_and_hand_severity(db: Database) -> None:
    """Reopens keep the earlier lifetimes (their acks and resolves) instead of
    overwriting them; a severity set by hand remembers who set it and what was firing;
    a postmortem can be waived, with a reason, when an incident is closed without one."""
    _script(
        db,
        """
        ALTER TABLE incidents ADD COLUMN reopened_at REAL;
        ALTER TABLE incidents ADD COLUMN reopened_by TEXT;
        ALTER TABLE incidents ADD COLUMN past_lifetimes TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE incidents ADD COLUMN severity_set_by TEXT;
        ALTER TABLE incidents ADD COLUMN severity_seen TEXT;

        CREATE TABLE postmortem_waivers (
            incident_id INTEGER PRIMARY KEY REFERENCES incidents(id),
            waived_at REAL NOT NULL,
            waived_by TEXT NOT NULL,
            reason TEXT NOT NULL
        );
        """,
    )


@migrations()
def m006_announcements(db: Database) -> None:
    """Announcement intents: a change made by hand from the CLI, waiting for the
    running daemon to route it to the receivers (store/announcements.py). The partial
    index keeps the daemon's per-tick look for pending ones at a few pages read."""
    _script(
        db,
        """
        CREATE TABLE announcements (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            event TEXT NOT NULL,
            severity TEXT NOT NULL,
            dedup_key TEXT NOT NULL,
            payload TEXT NOT NULL,
            on_timeline INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL,
            done_at REAL,
            queued INTEGER
        );
        CREATE INDEX announcements_pending ON announcements(id) WHERE done_at IS NULL;
        CREATE INDEX announcements_incident ON announcements(incident_id, event);
        """,
    )


@migrations()
def m007_unresolved_alerts_index(db: Database) -> None:
    """The daemon looks each tick for alerts left firing on incidents resolved by hand,
    to record when they clear; the partial index keeps that look to those few rows."""
    _script(
        db,
        """
        CREATE INDEX incident_alerts_unresolved ON incident_alerts(incident_id)
            WHERE state != 'resolved';
        """,
    )


@migrations()
def m008_slo_retired(db: Database) -> None:
    """An SLO taken out of the config is retired, not deleted: `slo status` stops
    listing it as STALE for good, while postmortems and reports of the time it was
    defined still count it."""
    _script(db, "ALTER TABLE slos ADD COLUMN retired_at REAL;")


@migrations()
def m009_slo_down(db: Database) -> None:
    """An SLO's optional `down` expression, and samples marked *estimated*: recorded
    while `total` returned nothing and `down` said the service was down, as all bad at
    the traffic seen before the outage. Older samples were all measured."""
    _script(
        db,
        """
        ALTER TABLE slos ADD COLUMN down TEXT NOT NULL DEFAULT '';
        ALTER TABLE slo_samples ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;
        """,
    )


@migrations()
def m010_receiver_holds(db: Database) -> None:
    """A receiver that answered 429 asked us to wait; kept here so a restart waits too
    instead of sending its queued pages at once into the same limit."""
    _script(
        db,
        """
        CREATE TABLE receiver_holds (
            receiver TEXT PRIMARY KEY,
            until REAL NOT NULL,
            reason TEXT NOT NULL
        );
        """,
    )


def unknown_applied(db: Database, steps: Migrations = migrations) -> list[str]:
    """Migrations recorded in the store that this code does not know, oldest first:
    a newer triaged has migrated it. Read-only."""
    known = {m.name for m in steps._migrations}
    return [m.name for m in steps.applied(db) if m.name not in known]


def apply(db: Database, steps: Migrations = migrations) -> None:
    """Apply the pending migrations, all in one transaction that holds SQLite's write
    lock from its first statement.

    Two processes can open a new or older store at once (the daemon's first start and
    an on-call's ``incidents list``): the second waits for the lock (the connection's
    busy timeout), then finds nothing pending. A migration that fails half-way (a full
    disk) rolls back whole, so the next start retries it instead of tripping over half
    a schema. sqlite-utils' own ``Migrations.apply`` cannot give either: each
    ``executescript`` commits, so its scripts run outside any transaction.
    """
    if not steps.pending(db):
        return  # the usual case, read-only: the CLI on a current store
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_MIGRATIONS_TABLE)
        conn.execute(_MIGRATIONS_INDEX)
        for migration in steps.pending(db):
            migration.fn(db)
            conn.execute(_RECORD, (steps.name, migration.name, str(datetime.now(UTC))))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already (a full disk)
            conn.execute("ROLLBACK")
        raise


# The table sqlite-utils' Migrations reads (and wrote, for stores made before this).
_MIGRATIONS_TABLE = f"""CREATE TABLE IF NOT EXISTS {Migrations.migrations_table} (
    id INTEGER PRIMARY KEY, migration_set TEXT, name TEXT, applied_at TEXT)"""
_RECORD = f"INSERT INTO {Migrations.migrations_table} (migration_set, name, applied_at) VALUES (?, ?, ?)"
_MIGRATIONS_INDEX = f"""CREATE UNIQUE INDEX IF NOT EXISTS
    idx_{Migrations.migrations_table}_migration_set_name
    ON {Migrations.migrations_table} (migration_set, name)"""


def _script(db: Database, sql: str) -> None:
    """Run ``sql`` statement by statement inside the caller's transaction (what
    ``executescript`` would not: it commits first)."""
    statement = ""
    for line in sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement.strip()[:60]!r}")
