//! Opening the journal at start, and what 3RC does with one it cannot use. A journal that
//! cannot be used never leaves the cluster without HA, and nothing in it is deleted:
//!
//! - **written by a newer 3rc**: refused, nothing read or changed (run that 3rc);
//! - **cannot be written** (read-only file or file system, full disk): everything is read back
//!   and supervision goes on; the journal's critical alarm says that nothing of this run is
//!   kept, and clears itself in the log once writes succeed again;
//! - **cannot be read** (corrupt, not a database, an I/O error, not a file): it is moved aside,
//!   kept, named with the time (`journal.db.damaged-20261205T011502Z`, with its `-wal` and
//!   `-shm`); whatever can still be read from it table by table is carried into a new journal;
//!   a critical alarm names what was lost. If the operators' decisions were lost, no protected
//!   VM found not running is started (`Recovered::decisions_unknown`): it may have been stopped
//!   on purpose. If even a new journal cannot be made, supervision goes on with the journal in
//!   memory, and the alarm says that nothing is kept.

use super::{schema, InventoryRow, Journal, LadderRow, Msg, OutboxRow, Recovered, Unfinished, Writer};
use crate::core::ActionKind;
use rusqlite::{params, Connection, ErrorCode, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use tokio::sync::mpsc as tmpsc;

/// What `open` gives: the journal, what an earlier run left, the channel of write failures.
type Opened = (Journal, Recovered, tmpsc::UnboundedReceiver<String>);

/// Why a journal could not be opened as it is.
enum Trouble {
    /// Written by a newer 3rc: never touched.
    Refused(anyhow::Error),
    /// Cannot be read: moved aside and started over.
    Damaged(anyhow::Error),
}

/// The parts of a journal read back at start, by the name a person reads in the alarm.
const PARTS: [&str; 7] = [
    "the inventory",
    "the ladder's windows",
    "the VMs protected at run time",
    "the operators' decisions",
    "the alarms",
    "the unfinished actions",
    "the undelivered notifications",
];

/// An error of SQLite that means "cannot write", where reading may still work.
fn unwritable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<rusqlite::Error>()
            .and_then(rusqlite::Error::sqlite_error_code)
            .is_some_and(|code| matches!(code, ErrorCode::ReadOnly | ErrorCode::DiskFull))
    })
}

fn no_such_table(e: &rusqlite::Error) -> bool {
    e.to_string().contains("no such table")
}

impl Journal {
    pub(super) fn open_with(path: &Path, max_pages: Option<u32>, synced: bool) -> anyhow::Result<Opened> {
        use anyhow::Context;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        match Journal::try_open(Some(path), max_pages, synced, None, false) {
            Ok(opened) => Ok(opened),
            Err(Trouble::Refused(e)) => Err(e),
            // On a full disk or a read-only folder SQLite cannot make the shared memory its
            // write-ahead log needs, even to read: again without it, before anything is moved.
            Err(Trouble::Damaged(e)) => match Journal::try_open(Some(path), max_pages, synced, None, true) {
                Ok(opened) => Ok(opened),
                Err(Trouble::Refused(e)) => Err(e),
                Err(Trouble::Damaged(_)) => Ok(Journal::start_over(path, e, synced)),
            },
        }
    }

    /// Open the journal at `path` (in memory if `None`), read it back, start this run. `carry`
    /// is written into it first (what could be read from a damaged journal). `exclusive`: in
    /// SQLite's exclusive locking mode, whose write-ahead log needs no shared-memory file
    /// (other programs cannot read the journal meanwhile).
    fn try_open(
        path: Option<&Path>,
        max_pages: Option<u32>,
        synced: bool,
        carry: Option<&Recovered>,
        exclusive: bool,
    ) -> Result<Opened, Trouble> {
        use anyhow::Context;
        let shown = path.map_or_else(|| "(in memory)".to_string(), |p| p.display().to_string());
        let damaged = |e: anyhow::Error| Trouble::Damaged(e);
        let mut conn = match path {
            Some(p) => {
                super::files::create_private(p)
                    .with_context(|| format!("creating journal {shown}"))
                    .map_err(damaged)?;
                Connection::open(p).with_context(|| format!("opening journal {shown}")).map_err(damaged)?
            }
            None => Connection::open_in_memory().context("opening a journal in memory").map_err(damaged)?,
        };
        if exclusive {
            conn.query_row("PRAGMA locking_mode = EXCLUSIVE", [], |_| Ok(()))
                .with_context(|| format!("opening journal {shown} in exclusive mode"))
                .map_err(damaged)?;
        }
        if let Some(max) = max_pages {
            conn.query_row(&format!("PRAGMA max_page_count = {max}"), [], |_| Ok(()))
                .context("capping the journal")
                .map_err(damaged)?;
        }
        let newer = schema::version(&conn).is_ok_and(|v| v > schema::VERSION);
        let mut cannot_write: Option<anyhow::Error> = None;
        let found = match schema::prepare(&mut conn, &shown) {
            Ok(found) => found,
            Err(e) if newer => return Err(Trouble::Refused(e)),
            Err(e) if unwritable(&e) => {
                cannot_write = Some(e);
                schema::version(&conn).unwrap_or(0)
            }
            Err(e) => return Err(damaged(e)),
        };
        if !synced {
            conn.execute_batch("PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;")
                .with_context(|| format!("preparing journal {shown}"))
                .map_err(damaged)?;
        }
        // A damaged page anywhere (the events too, which are not read back) makes every later
        // write fail: found now, while the journal can still be moved aside and salvaged.
        let check: String = conn
            .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
            .with_context(|| format!("checking journal {shown}"))
            .map_err(damaged)?;
        if check != "ok" {
            return Err(damaged(anyhow::anyhow!("journal {shown} is damaged: {check}")));
        }
        let (mut rec, _) =
            read_back(&conn, &shown, true).with_context(|| format!("reading journal {shown}")).map_err(damaged)?;
        rec.schema_was = found;
        if found != schema::VERSION && cannot_write.is_none() {
            tracing::info!(target: "3rc::journal", "journal {shown}: schema version {found} -> {}", schema::VERSION);
        }
        for w in &rec.warnings {
            tracing::warn!(target: "3rc::journal", "{w}");
        }
        let started = cannot_write.is_none().then(|| start_run(&mut conn, carry)).transpose();
        rec.run = match started {
            Ok(Some(run)) => run,
            Ok(None) | Err(_) => {
                if let Err(e) = started {
                    cannot_write = Some(anyhow::Error::new(e));
                }
                // Not recorded: this run's rows, if it can write later, follow the last one.
                conn.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM runs", [], |r| r.get(0)).unwrap_or(1)
            }
        };
        let (fail_tx, fail_rx) = tmpsc::unbounded_channel();
        let failing = cannot_write.is_some();
        if let Some(e) = cannot_write {
            let msg = format!(
                "journal {shown} cannot be written ({e:#}): read back in full, supervision goes on; events, \
                 intents and operators' commands of this run are not kept until it can be written"
            );
            tracing::error!(target: "3rc::journal", "{msg}");
            let _ = fail_tx.send(msg);
        }
        let w = Writer {
            conn,
            run: rec.run,
            failures: fail_tx,
            shown,
            failing,
            pending: Vec::new(),
            taken: 0,
            failed_upto: 0,
            observer: Default::default(),
        };
        let observer = w.observer.clone();
        let outbox = std::sync::Mutex::new(rec.outbox.clone());
        let path = path.map_or_else(|| PathBuf::from(":memory:"), Path::to_path_buf);
        if !synced {
            // The simulator's journal: written in the caller's thread, so that waiting for it
            // never lets the simulator's virtual time run on (a run stays the same every time).
            let inline = Some(std::sync::Mutex::new(w));
            let journal = Journal { tx: None, thread: None, inline, path, sent: Default::default(), observer, outbox };
            return Ok((journal, rec, fail_rx));
        }
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || super::writer(w, rx))
            .context("starting the journal's writer")
            .map_err(damaged)?;
        let journal = Journal {
            tx: Some(tx),
            thread: Some(thread),
            inline: None,
            path,
            sent: Default::default(),
            observer,
            outbox,
        };
        Ok((journal, rec, fail_rx))
    }

    /// The journal at `path` cannot be read: move it aside, read what can be read from it, and
    /// start a new one with that (see the module's doc).
    fn start_over(path: &Path, error: anyhow::Error, synced: bool) -> Opened {
        let stamp = crate::core::decisions::wall_stamp((super::wall() * 1000.0) as u64);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "journal.db".into());
        let aside = path.with_file_name(format!("{name}.damaged-{stamp}"));
        let shown = path.display();
        tracing::error!(target: "3rc::journal", "journal {shown} cannot be used: {error:#}");
        let moved = move_aside(path, &aside);
        let (salvaged, lost) = match &moved {
            Ok(()) => salvage(&aside),
            Err(_) => (Recovered::default(), PARTS.to_vec()),
        };
        let (opened, where_now) = match &moved {
            Ok(()) => match Journal::try_open(Some(path), None, synced, Some(&salvaged), false) {
                Ok(o) => (Some(o), format!("a new journal was started at {shown}")),
                Err(Trouble::Refused(e) | Trouble::Damaged(e)) => {
                    (None, format!("a new journal cannot be made at {shown} ({e:#})"))
                }
            },
            Err(e) => (None, format!("it cannot be moved aside ({e:#})")),
        };
        let in_memory = opened.is_none();
        let (journal, fresh, failures) = opened.unwrap_or_else(|| {
            Journal::try_open(None, None, synced, Some(&salvaged), false)
                .unwrap_or_else(|_| panic!("a journal in memory always opens"))
        });
        let mut rec = salvaged;
        rec.run = fresh.run;
        rec.schema_was = fresh.schema_was;
        let kept = PARTS.iter().filter(|p| !lost.contains(p)).copied().collect::<Vec<_>>();
        let list = |v: &[&str]| if v.is_empty() { "nothing".to_string() } else { v.join(", ") };
        let mut msg = format!("journal {shown} cannot be read ({error:#}); ");
        if moved.is_ok() {
            msg += &format!("moved aside to {} (kept: nothing is deleted); ", aside.display());
        }
        msg += &format!("{where_now}. Read back from it: {}; lost: {}.", list(&kept), list(&lost));
        if in_memory {
            msg += " Supervision goes on with the journal in memory: NOTHING of this run is kept across a restart.";
        }
        if lost.contains(&"the operators' decisions") {
            rec.decisions_unknown = true;
            msg += " The operators' decisions are unknown: protected VMs found not running are not started (start \
                    each to resume its HA); a disarmed cluster or a host in maintenance must be set again.";
        }
        if lost.contains(&"the inventory") {
            msg += " The inventory is rebuilt from what the hosts report: a VM whose host is down cannot be \
                     started elsewhere until its definition is known again.";
        }
        tracing::error!(target: "3rc::journal", "{msg}");
        rec.damaged = Some(msg);
        (journal, rec, failures)
    }
}

/// Move the journal and its `-wal` and `-shm` files to `aside` (keeping the suffixes, so that
/// SQLite reads them together there).
fn move_aside(path: &Path, aside: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    for suffix in ["-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", aside.display()));
            std::fs::rename(&from, &to).with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
        }
    }
    std::fs::rename(path, aside).with_context(|| format!("moving {} to {}", path.display(), aside.display()))
}

/// What can still be read from a damaged journal, table by table, and the parts lost.
fn salvage(aside: &Path) -> (Recovered, Vec<&'static str>) {
    let shown = aside.display().to_string();
    match Connection::open_with_flags(aside, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX) {
        Ok(conn) => read_back(&conn, &shown, false).unwrap_or_else(|_| (Recovered::default(), PARTS.to_vec())),
        Err(_) => (Recovered::default(), PARTS.to_vec()),
    }
}

/// Record this run, mark the earlier runs' unfinished actions as interrupted and write what is
/// carried over from a damaged journal, in one transaction. Returns this run's number.
fn start_run(conn: &mut Connection, carry: Option<&Recovered>) -> rusqlite::Result<i64> {
    let now = super::wall();
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE actions SET outcome = 'interrupted: 3rc stopped before it ended', outcome_wall = ?1 WHERE outcome IS NULL",
        params![now],
    )?;
    tx.execute("INSERT INTO runs (started, pid) VALUES (?1, ?2)", params![now, std::process::id()])?;
    let run = tx.last_insert_rowid();
    if let Some(c) = carry {
        let mut rows: Vec<Msg> = Vec::new();
        rows.extend(c.inventory.iter().map(|r| Msg::Inventory(r.clone(), now)));
        rows.extend(c.ladder.iter().map(|r| Msg::Ladder(r.clone(), now)));
        rows.extend(
            c.protected.iter().map(|s| Msg::Protect(s.clone(), "carried over from a damaged journal".into(), now)),
        );
        rows.extend(c.decisions.iter().map(|(k, d)| Msg::Decision(k.clone(), Some(d.clone()), now)));
        rows.extend(c.alarms.iter().map(|a| Msg::Alarm(a.id, Some(a.clone()), now)));
        rows.extend(c.outbox.iter().map(|o| Msg::Outbox(o.target.clone(), o.key.clone(), Some(o.body.clone()), now)));
        for m in &rows {
            super::write(&tx, run, m)?;
        }
    }
    tx.commit()?;
    Ok(run)
}

/// Read back what an earlier run left. `strict`: the first error fails it all (a journal that
/// opens must read whole); else each part that cannot be read is named in the second value
/// (salvaging a damaged journal). A table this journal does not have yet reads as empty.
fn read_back(conn: &Connection, shown: &str, strict: bool) -> rusqlite::Result<(Recovered, Vec<&'static str>)> {
    let mut rec = Recovered::default();
    let mut lost = Vec::new();
    let mut part = |name: &'static str, result: rusqlite::Result<()>| -> rusqlite::Result<()> {
        match result {
            Ok(()) => Ok(()),
            Err(e) if no_such_table(&e) => Ok(()),
            Err(e) if strict => Err(e),
            Err(_) => {
                lost.push(name);
                Ok(())
            }
        }
    };
    let r = read_inventory(conn, &mut rec);
    part(PARTS[0], r)?;
    let r = read_ladder(conn, shown, &mut rec);
    part(PARTS[1], r)?;
    let r = read_protected(conn, shown, &mut rec);
    part(PARTS[2], r)?;
    let r = read_decisions(conn, shown, &mut rec);
    part(PARTS[3], r)?;
    let r = read_alarms(conn, shown, &mut rec);
    part(PARTS[4], r)?;
    let r = read_actions(conn, shown, &mut rec);
    part(PARTS[5], r)?;
    let r = read_outbox(conn, &mut rec);
    part(PARTS[6], r)?;
    Ok((rec, lost))
}

fn read_inventory(conn: &Connection, rec: &mut Recovered) -> rusqlite::Result<()> {
    let mut q = conn.prepare("SELECT vm, host, xml FROM inventory ORDER BY vm")?;
    rec.inventory = q
        .query_map([], |r| Ok(InventoryRow { vm: r.get(0)?, host: r.get(1)?, xml: r.get(2)? }))?
        .collect::<Result<_, _>>()?;
    Ok(())
}

fn read_ladder(conn: &Connection, shown: &str, rec: &mut Recovered) -> rusqlite::Result<()> {
    // Before schema version 3 (a journal that could not be brought up to date) there is no mark.
    let marked: bool =
        conn.query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('ladder') WHERE name = 'paused_bad'", [], |r| {
            r.get(0)
        })?;
    let paused = if marked { "paused_bad" } else { "0" };
    // Before schema version 6, no guest probes' rungs.
    let guest: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('ladder') WHERE name = 'guest_restarts'",
        [],
        |r| r.get(0),
    )?;
    let guest = if guest { "guest_restarts" } else { "'[]'" };
    let mut q = conn
        .prepare(&format!("SELECT vm, restarts, relocations, reinstalls, {paused}, {guest} FROM ladder ORDER BY vm"))?;
    type Row = (String, String, String, String, bool, String);
    let rows: Vec<Row> = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
        .collect::<Result<_, _>>()?;
    for (vm, restarts, relocations, reinstalls, paused_is_bad, guest_restarts) in rows {
        let mut times = |what: &str, s: &str| {
            serde_json::from_str::<Vec<u64>>(s).unwrap_or_else(|e| {
                rec.warnings.push(format!(
                    "journal {shown}: the ladder's {what} of {vm} cannot be read ({e}: {s:?}); \
                     counting {vm}'s {what} from zero"
                ));
                Vec::new()
            })
        };
        let row = LadderRow {
            restarts: times("restarts", &restarts),
            relocations: times("relocations", &relocations),
            reinstalls: times("reinstalls", &reinstalls),
            paused_is_bad,
            guest_restarts: times("guest probes' restarts", &guest_restarts),
            vm,
        };
        rec.ladder.push(row);
    }
    Ok(())
}

fn read_protected(conn: &Connection, shown: &str, rec: &mut Recovered) -> rusqlite::Result<()> {
    let mut q = conn.prepare("SELECT vm, spec FROM protected ORDER BY added, vm")?;
    for row in q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (vm, spec) = row?;
        match serde_json::from_str(&spec) {
            // This table holds the VMs protected at run time, whatever their spec says.
            Ok(spec) => rec.protected.push(crate::core::VmSpec { origin: crate::core::Origin::RunTime, ..spec }),
            // Kept in the journal as it is: a person can read and fix it, or protect again.
            Err(e) => rec.warnings.push(format!(
                "journal {shown}: VM {vm} was put under HA at run time, but its spec cannot be read \
                 ({e}); {vm} is NOT protected by this run: `3rc ctl protect {vm}` protects it again"
            )),
        }
    }
    Ok(())
}

fn read_decisions(conn: &Connection, shown: &str, rec: &mut Recovered) -> rusqlite::Result<()> {
    let mut q = conn.prepare("SELECT key, decision FROM decisions ORDER BY wall, key")?;
    for row in q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (key, decision) = row?;
        match (serde_json::from_str(&key), serde_json::from_str(&decision)) {
            (Ok(k), Ok(d)) => rec.decisions.push((k, d)),
            // Kept as it is: a person can read it in the journal and decide again.
            (k, d) => rec.warnings.push(format!(
                "journal {shown}: an operator's decision cannot be read back ({}): {key} = {decision}; \
                 it is NOT in force in this run: give the command again",
                k.err().map(|e| e.to_string()).or(d.err().map(|e| e.to_string())).unwrap_or_default()
            )),
        }
    }
    Ok(())
}

fn read_alarms(conn: &Connection, shown: &str, rec: &mut Recovered) -> rusqlite::Result<()> {
    let mut q = conn.prepare("SELECT id, alarm FROM alarms ORDER BY id")?;
    for row in q.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
        let (id, alarm) = row?;
        match serde_json::from_str(&alarm) {
            Ok(a) => rec.alarms.push(a),
            Err(e) => rec.warnings.push(format!(
                "journal {shown}: alarm #{id} cannot be read back ({e}); it is not shown in this run \
                 (it stays in the journal's alarms table)"
            )),
        }
    }
    Ok(())
}

fn read_outbox(conn: &Connection, rec: &mut Recovered) -> rusqlite::Result<()> {
    let mut q = conn.prepare("SELECT target, key, body FROM outbox ORDER BY seq")?;
    for row in q.query_map([], |r| Ok(OutboxRow { target: r.get(0)?, key: r.get(1)?, body: r.get(2)? }))? {
        rec.outbox.push(row?);
    }
    Ok(())
}

fn read_actions(conn: &Connection, shown: &str, rec: &mut Recovered) -> rusqlite::Result<()> {
    let mut q = conn.prepare("SELECT text, decided_by FROM actions WHERE outcome IS NULL ORDER BY run, id")?;
    rec.interrupted = q
        .query_map([], |r| Ok(format!("{} ({})", r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut q = conn.prepare("SELECT run, id, json, decided_by FROM actions WHERE outcome IS NULL ORDER BY run, id")?;
    let rows: Vec<(i64, i64, String, String)> =
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<Result<_, _>>()?;
    let mut steps = conn.prepare("SELECT step FROM action_steps WHERE run = ?1 AND id = ?2 ORDER BY wall")?;
    for (run, id, json, decided_by) in rows {
        // It stays a note (`interrupted`) in any case; only a reinstall is resumed.
        let kind = match serde_json::from_str::<ActionKind>(&json) {
            Ok(kind) => kind,
            Err(e) => {
                rec.warnings.push(format!(
                    "journal {shown}: action #{id} of run {run} ({decided_by}) cannot be read back ({e}); \
                     it is not resumed, what the hosts report decides"
                ));
                continue;
            }
        };
        let steps = steps.query_map(params![run, id], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        rec.unfinished.push(Unfinished { kind, decided_by, steps });
    }
    Ok(())
}
