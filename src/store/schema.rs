//! The journal's schema and its versions. SQLite keeps the version in the database header
//! (`PRAGMA user_version`); each version has one migration, run in its own transaction with
//! the version bump, so a journal is always at one version, never between two.
//!
//! Version 0 is a journal made before versions existed (or an empty file): migration 1 makes
//! the tables of that time if they are missing, so a journal written then opens unchanged
//! (`tests/fixtures/journal-v0/journal.db`, made by that binary, proves it in every test run).
//! A journal of a version newer than this binary knows is refused, never half-read.
//!
//! To change the schema: add `migrate_to_N` (it sees a journal of version N-1 and must keep
//! every row), push it onto `MIGRATIONS`, and raise nothing else: `VERSION` follows.

use anyhow::{bail, Context};
use rusqlite::{Connection, Transaction, TransactionBehavior};

type Migration = fn(&Transaction) -> rusqlite::Result<()>;

/// Migration `i` takes a journal from version `i` to version `i + 1`.
const MIGRATIONS: &[Migration] = &[migrate_to_1, migrate_to_2, migrate_to_3, migrate_to_4, migrate_to_5, migrate_to_6];

/// The schema version this binary writes.
pub const VERSION: u32 = MIGRATIONS.len() as u32;

/// The tables as they were when versions began (3rc commit e6d4356).
fn migrate_to_1(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, started REAL NOT NULL, pid INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL, wall REAL NOT NULL, at INTEGER NOT NULL,
    subject TEXT NOT NULL, text TEXT NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS actions (
    run INTEGER NOT NULL, id INTEGER NOT NULL, text TEXT NOT NULL, decided_by TEXT NOT NULL,
    json TEXT NOT NULL, intent_wall REAL NOT NULL, outcome TEXT, outcome_wall REAL,
    PRIMARY KEY (run, id));
CREATE TABLE IF NOT EXISTS action_steps (
    run INTEGER NOT NULL, id INTEGER NOT NULL, step TEXT NOT NULL, wall REAL NOT NULL,
    PRIMARY KEY (run, id, step));
CREATE TABLE IF NOT EXISTS inventory (
    vm TEXT PRIMARY KEY, host TEXT NOT NULL, xml TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ladder (
    vm TEXT PRIMARY KEY, restarts TEXT NOT NULL, relocations TEXT NOT NULL, reinstalls TEXT NOT NULL,
    updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS protected (
    vm TEXT PRIMARY KEY, spec TEXT NOT NULL, origin TEXT NOT NULL, added REAL NOT NULL);
",
    )
}

/// Operators' decisions in force (`core::decisions`): one row per decision, its key and the
/// decision as JSON; lifting a decision deletes its row.
fn migrate_to_2(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS decisions (key TEXT PRIMARY KEY, decision TEXT NOT NULL, wall REAL NOT NULL);",
    )
}

/// A VM's mark "paused since a failed live migration", kept with its ladder windows.
fn migrate_to_3(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch("ALTER TABLE ladder ADD COLUMN paused_bad INTEGER NOT NULL DEFAULT 0;")
}

/// The alarms kept (`core::alarms`), raised or acknowledged: one row per alarm, as JSON.
fn migrate_to_4(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS alarms (id INTEGER PRIMARY KEY, alarm TEXT NOT NULL, wall REAL NOT NULL);",
    )
}

/// Notifications not delivered yet (`supervisor::alerts`): one row per notification and target,
/// deleted once it is delivered (or dropped past the target's bound).
fn migrate_to_5(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL,
            wall REAL NOT NULL, UNIQUE (target, key));",
    )
}

/// The rungs of a VM's ladder climbed because of its guest probes (`core::guest`), kept with
/// its other windows.
fn migrate_to_6(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch("ALTER TABLE ladder ADD COLUMN guest_restarts TEXT NOT NULL DEFAULT '[]';")
}

/// The version a journal is at.
pub fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Bring the journal at `conn` to `VERSION`, or refuse it. `shown` names it in errors.
/// Returns the version it was at.
pub fn prepare(conn: &mut Connection, shown: &str) -> anyhow::Result<u32> {
    let found = version(conn).with_context(|| format!("reading the schema version of journal {shown}"))?;
    if found > VERSION {
        bail!(
            "journal {shown} has schema version {found}, newer than this 3rc reads (up to {VERSION}): it was \
             written by a newer 3rc. Nothing was read or changed; run that 3rc, or move the journal away to \
             start with an empty one"
        );
    }
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .with_context(|| format!("preparing journal {shown}"))?;
    for (from, migrate) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let to = from as u32 + 1;
        // IMMEDIATE: another 3rc opening the same journal waits instead of migrating it too.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .with_context(|| format!("journal {shown}: starting the migration to schema version {to}"))?;
        if version(&tx).with_context(|| format!("reading the schema version of journal {shown}"))? >= to {
            continue; // migrated meanwhile by another 3rc
        }
        migrate(&tx).with_context(|| format!("journal {shown}: migrating to schema version {to}"))?;
        tx.pragma_update(None, "user_version", to)
            .with_context(|| format!("journal {shown}: recording schema version {to}"))?;
        tx.commit().with_context(|| format!("journal {shown}: committing schema version {to}"))?;
    }
    Ok(found)
}
