"""Schema, one function per change. Never edit an applied migration: add a new one."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("triaged")

# Incidents in these states are "open": at most one per group key (partial unique index),
# which is what makes a crash between two writes unable to open a duplicate incident.
OPEN_STATES = ("detected", "acknowledged", "investigating", "mitigated")


@migrations()
def m001_initial(db: Database) -> None:
    open_list = ", ".join(f"'{s}'" for s in OPEN_STATES)
    db.executescript(
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
        """
    )


def apply(db: Database) -> None:
    migrations.apply(db)
