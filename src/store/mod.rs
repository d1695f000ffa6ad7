//! The durable journal, in SQLite (WAL, synchronous=FULL): every event; each action's intent,
//! written and synced *before* the action runs, and its outcome after; the inventory of every
//! protected VM's domain XML. One writer thread owns the database, so the loop never waits for
//! the disk except for an intent. After a crash (`kill -9`) the next start reads back the
//! inventory and the actions that never got an outcome (`Recovered`).
//!
//! A write failure (full disk, read-only file) is reported once on the `failures` channel — the
//! supervisor turns it into an alarm — and supervision goes on.

use crate::core::{Action, ActionId, ActionKind, Event, Outcome};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc as tmpsc, oneshot};

pub mod lock;
pub mod schema;

/// One VM definition in the inventory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryRow {
    pub vm: String,
    pub host: String,
    pub xml: String,
}

/// A VM's ladder windows: when each restart and each relocation leaves its window, in
/// wall-clock milliseconds since the Unix epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LadderRow {
    pub vm: String,
    pub restarts: Vec<u64>,
    pub relocations: Vec<u64>,
    pub reinstalls: Vec<u64>,
    /// Its domain is paused since a live migration failed midway (a bad probe until it runs).
    pub paused_is_bad: bool,
}

/// What a previous run left behind.
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    /// This run's number (1 for a fresh journal).
    pub run: i64,
    pub inventory: Vec<InventoryRow>,
    /// The ladder's windows of each VM that had restarts or relocations.
    pub ladder: Vec<LadderRow>,
    /// Actions decided by an earlier run that never got an outcome, as text.
    pub interrupted: Vec<String>,
    /// The same actions in full, with the steps each had finished, for those that can be
    /// resumed (a reinstall).
    pub unfinished: Vec<Unfinished>,
    /// VMs put under HA at run time (`protect`), with their specs, oldest first.
    pub protected: Vec<crate::core::VmSpec>,
    /// Rows that could not be read back, each named (also logged as warnings at open).
    pub warnings: Vec<String>,
    /// The schema version the journal was at before this open (`schema::VERSION` now).
    pub schema_was: u32,
    /// Operators' decisions in force when the earlier run ended (`core::decisions`).
    pub decisions: Vec<(crate::core::DecisionKey, crate::core::Decision)>,
    /// The alarms kept when the earlier run ended, acknowledged or not, oldest first.
    pub alarms: Vec<crate::core::Alarm>,
}

/// An action an earlier run started and never finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfinished {
    pub kind: ActionKind,
    /// Who decided it, as journaled ("operator cli:root (uid 0)", "policy: ...").
    pub decided_by: String,
    /// The steps it had finished, in order (`Journal::step`).
    pub steps: Vec<String>,
}

enum Msg {
    Event(Event, f64),
    Intent(Action, f64, oneshot::Sender<Result<(), String>>),
    Outcome(ActionId, Outcome, f64),
    Step(ActionId, String, f64, oneshot::Sender<Result<(), String>>),
    Inventory(InventoryRow, f64),
    Ladder(LadderRow, f64),
    Protect(crate::core::VmSpec, String, f64),
    Unprotect(String),
    Decision(crate::core::DecisionKey, Option<crate::core::Decision>, f64),
    Alarm(u64, Option<crate::core::Alarm>, f64),
    /// Answered once everything sent before it is committed.
    Sync(oneshot::Sender<Result<(), String>>),
}

pub struct Journal {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Written in the caller's thread instead (`open_unsynced`).
    inline: Option<std::sync::Mutex<Writer>>,
    path: PathBuf,
}

fn wall() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Journal {
    /// Open (or create) the journal, read back what an earlier run left, and start this run.
    pub fn open(path: &Path) -> anyhow::Result<(Journal, Recovered, tmpsc::UnboundedReceiver<String>)> {
        Journal::open_limited(path, None)
    }

    /// As `open`, with the database capped at `max_pages` pages (4 KiB each): past it, writes
    /// fail exactly as on a full disk.
    pub fn open_limited(
        path: &Path,
        max_pages: Option<u32>,
    ) -> anyhow::Result<(Journal, Recovered, tmpsc::UnboundedReceiver<String>)> {
        Journal::open_with(path, max_pages, true)
    }

    /// As `open`, for the simulator: written in the caller's thread (no writer thread, whose
    /// answers would let the simulator's paused clock run on), in batches that end whenever a
    /// caller waits for the disk, and without waiting for the disk (`synchronous = OFF`, the
    /// rollback journal in memory): its restarts of 3RC happen in one process and a machine
    /// crash is not simulated, while thousands of simulated runs would otherwise wait for
    /// thousands of disk syncs.
    pub fn open_unsynced(path: &Path) -> anyhow::Result<(Journal, Recovered, tmpsc::UnboundedReceiver<String>)> {
        Journal::open_with(path, None, false)
    }

    fn open_with(
        path: &Path,
        max_pages: Option<u32>,
        synced: bool,
    ) -> anyhow::Result<(Journal, Recovered, tmpsc::UnboundedReceiver<String>)> {
        use anyhow::Context;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let shown = path.display().to_string();
        let mut conn = Connection::open(path).with_context(|| format!("opening journal {shown}"))?;
        let found = schema::prepare(&mut conn, &shown)?;
        if !synced {
            conn.execute_batch("PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;")
                .with_context(|| format!("preparing journal {shown}"))?;
        }
        if let Some(max) = max_pages {
            conn.query_row(&format!("PRAGMA max_page_count = {max}"), [], |_| Ok(()))?;
        }
        let mut rec = Recovered::default();
        {
            let mut q = conn.prepare("SELECT vm, host, xml FROM inventory ORDER BY vm")?;
            rec.inventory = q
                .query_map([], |r| Ok(InventoryRow { vm: r.get(0)?, host: r.get(1)?, xml: r.get(2)? }))?
                .collect::<Result<_, _>>()?;
            let mut q =
                conn.prepare("SELECT vm, restarts, relocations, reinstalls, paused_bad FROM ladder ORDER BY vm")?;
            let rows: Vec<(String, String, String, String, bool)> = q
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                .collect::<Result<_, _>>()?;
            for (vm, restarts, relocations, reinstalls, paused_is_bad) in rows {
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
                    vm,
                };
                rec.ladder.push(row);
            }
            let mut q = conn.prepare("SELECT vm, spec FROM protected ORDER BY added, vm")?;
            for row in q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
                let (vm, spec) = row?;
                match serde_json::from_str(&spec) {
                    Ok(spec) => rec.protected.push(spec),
                    // Kept in the journal as it is: a person can read and fix it, or protect again.
                    Err(e) => rec.warnings.push(format!(
                        "journal {shown}: VM {vm} was put under HA at run time, but its spec cannot be read \
                         ({e}); {vm} is NOT protected by this run: `3rc ctl protect {vm}` protects it again"
                    )),
                }
            }
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
            let mut q = conn.prepare("SELECT text, decided_by FROM actions WHERE outcome IS NULL ORDER BY run, id")?;
            rec.interrupted = q
                .query_map([], |r| Ok(format!("{} ({})", r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut q =
                conn.prepare("SELECT run, id, json, decided_by FROM actions WHERE outcome IS NULL ORDER BY run, id")?;
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
                let steps =
                    steps.query_map(params![run, id], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
                rec.unfinished.push(Unfinished { kind, decided_by, steps });
            }
        }
        rec.schema_was = found;
        if found != schema::VERSION {
            tracing::info!(target: "3rc::journal", "journal {shown}: schema version {found} -> {}", schema::VERSION);
        }
        for w in &rec.warnings {
            tracing::warn!(target: "3rc::journal", "{w}");
        }
        conn.execute(
            "UPDATE actions SET outcome = 'interrupted: 3rc stopped before it ended', outcome_wall = ?1 WHERE outcome IS NULL",
            params![wall()],
        )?;
        conn.execute("INSERT INTO runs (started, pid) VALUES (?1, ?2)", params![wall(), std::process::id()])?;
        rec.run = conn.last_insert_rowid();
        let (fail_tx, fail_rx) = tmpsc::unbounded_channel();
        let w = Writer { conn, run: rec.run, failures: fail_tx, shown, failing: false, pending: Vec::new() };
        if !synced {
            // The simulator's journal: written in the caller's thread, so that waiting for it
            // never lets the simulator's virtual time run on (a run stays the same every time).
            let journal =
                Journal { tx: None, thread: None, inline: Some(std::sync::Mutex::new(w)), path: path.to_path_buf() };
            return Ok((journal, rec, fail_rx));
        }
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new().name("journal".into()).spawn(move || writer(w, rx))?;
        Ok((Journal { tx: Some(tx), thread: Some(thread), inline: None, path: path.to_path_buf() }, rec, fail_rx))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn record(&self, ev: &Event) {
        self.send(Msg::Event(ev.clone(), wall()));
    }

    /// Write an action's intent; the future resolves once it is on disk. The intent is queued
    /// at the call, so a later [`Journal::synced`] also waits for it. An error means the journal
    /// could not keep it (the failure is also reported as an alarm); the caller decides what to do.
    pub fn intent(&self, action: &Action) -> impl std::future::Future<Output = Result<(), String>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Intent(action.clone(), wall(), tx));
        acked(rx)
    }

    /// Resolves once everything sent so far (events, intents, protections) is on disk: what a
    /// caller waits for before it acknowledges a command, so that an acknowledged command
    /// survives a `kill -9` that comes right after.
    pub fn synced(&self) -> impl std::future::Future<Output = Result<(), String>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Sync(tx));
        acked(rx)
    }

    /// Record that a step of an action is done, and wait until it is on disk: a resumed
    /// action skips it.
    pub async fn step(&self, id: ActionId, step: &str) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Step(id, step.to_string(), wall(), tx));
        acked(rx).await
    }

    pub fn outcome(&self, id: ActionId, outcome: &Outcome) {
        self.send(Msg::Outcome(id, outcome.clone(), wall()));
    }

    pub fn inventory(&self, row: InventoryRow) {
        self.send(Msg::Inventory(row, wall()));
    }

    /// Keep a VM's ladder windows (replacing what was kept before).
    pub fn ladder(&self, row: LadderRow) {
        self.send(Msg::Ladder(row, wall()));
    }

    /// A VM put under HA at run time, and who asked: kept across restarts.
    pub fn protect(&self, spec: &crate::core::VmSpec, origin: &str) {
        self.send(Msg::Protect(spec.clone(), origin.to_string(), wall()));
    }

    /// An operator's decision recorded (`Some`) or lifted (`None`): kept across restarts.
    pub fn decision(&self, key: &crate::core::DecisionKey, decision: Option<&crate::core::Decision>) {
        self.send(Msg::Decision(key.clone(), decision.cloned(), wall()));
    }

    /// An alarm raised or acknowledged (`Some`) or dropped (`None`): kept across restarts.
    pub fn alarm(&self, id: u64, alarm: Option<&crate::core::Alarm>) {
        self.send(Msg::Alarm(id, alarm.cloned(), wall()));
    }

    /// A VM taken out of HA (`unprotect`): the next start does not protect it again, and its
    /// ladder windows are forgotten. Who asked is in the events.
    pub fn unprotect(&self, vm: &str) {
        self.send(Msg::Unprotect(vm.to_string()));
    }

    fn send(&self, m: Msg) {
        if let Some(w) = &self.inline {
            // Gathered, and written as one transaction whenever a caller waits for the disk
            // (an intent, a step, a sync), when many are waiting, and when the journal closes.
            let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
            let waits = matches!(m, Msg::Intent(..) | Msg::Step(..) | Msg::Sync(_));
            w.pending.push(m);
            if waits || w.pending.len() >= 256 {
                w.flush();
            }
        } else if let Some(tx) = &self.tx {
            let _ = tx.send(m);
        }
    }
}

async fn acked(rx: oneshot::Receiver<Result<(), String>>) -> Result<(), String> {
    rx.await.unwrap_or_else(|_| Err("the journal writer stopped".into()))
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Some(w) = &self.inline {
            w.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write(conn: &Connection, run: i64, m: &Msg) -> rusqlite::Result<()> {
    match m {
        Msg::Event(ev, w) => {
            let json = serde_json::to_string(ev).unwrap_or_default();
            conn.execute(
                "INSERT INTO events (run, wall, at, subject, text, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![run, w, ev.at.millis() as i64, ev.subject.to_string(), ev.to_string(), json],
            )?;
        }
        Msg::Intent(a, w, _) => {
            conn.execute(
                "INSERT OR REPLACE INTO actions (run, id, text, decided_by, json, intent_wall) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    run,
                    a.id as i64,
                    a.kind.to_string(),
                    a.decided_by.to_string(),
                    serde_json::to_string(&a.kind).unwrap_or_default(),
                    w
                ],
            )?;
        }
        Msg::Outcome(id, o, w) => {
            let text = match o {
                Outcome::Done => "done".to_string(),
                Outcome::Failed(e) => format!("failed: {e}"),
                Outcome::NotAvailable(e) => format!("not available: {e}"),
            };
            conn.execute(
                "UPDATE actions SET outcome = ?1, outcome_wall = ?2 WHERE run = ?3 AND id = ?4",
                params![text, w, run, *id as i64],
            )?;
        }
        Msg::Step(id, step, w, _) => {
            conn.execute(
                "INSERT OR REPLACE INTO action_steps (run, id, step, wall) VALUES (?1, ?2, ?3, ?4)",
                params![run, *id as i64, step, w],
            )?;
        }
        Msg::Protect(spec, origin, w) => {
            conn.execute(
                "INSERT OR REPLACE INTO protected (vm, spec, origin, added) VALUES (?1, ?2, ?3, ?4)",
                params![spec.name, serde_json::to_string(spec).unwrap_or_default(), origin, w],
            )?;
        }
        Msg::Unprotect(vm) => {
            conn.execute("DELETE FROM protected WHERE vm = ?1", params![vm])?;
            conn.execute("DELETE FROM ladder WHERE vm = ?1", params![vm])?;
        }
        Msg::Decision(key, decision, w) => {
            let key = serde_json::to_string(key).unwrap_or_default();
            match decision {
                Some(d) => {
                    conn.execute(
                        "INSERT OR REPLACE INTO decisions (key, decision, wall) VALUES (?1, ?2, ?3)",
                        params![key, serde_json::to_string(d).unwrap_or_default(), w],
                    )?;
                }
                None => {
                    conn.execute("DELETE FROM decisions WHERE key = ?1", params![key])?;
                }
            }
        }
        Msg::Alarm(id, alarm, w) => match alarm {
            Some(a) => {
                conn.execute(
                    "INSERT OR REPLACE INTO alarms (id, alarm, wall) VALUES (?1, ?2, ?3)",
                    params![*id as i64, serde_json::to_string(a).unwrap_or_default(), w],
                )?;
            }
            None => {
                conn.execute("DELETE FROM alarms WHERE id = ?1", params![*id as i64])?;
            }
        },
        Msg::Inventory(r, w) => {
            conn.execute(
                "INSERT OR REPLACE INTO inventory (vm, host, xml, updated) VALUES (?1, ?2, ?3, ?4)",
                params![r.vm, r.host, r.xml, w],
            )?;
        }
        Msg::Ladder(r, w) => {
            let json = |v: &Vec<u64>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
            conn.execute(
                "INSERT OR REPLACE INTO ladder (vm, restarts, relocations, reinstalls, paused_bad, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![r.vm, json(&r.restarts), json(&r.relocations), json(&r.reinstalls), r.paused_is_bad, w],
            )?;
        }
        Msg::Sync(_) => {}
    }
    Ok(())
}

/// Writes batches of messages, each in one transaction; acknowledges intents, steps and syncs
/// once committed (synchronous=FULL: on disk); reports the first failure of a run of them.
struct Writer {
    conn: Connection,
    run: i64,
    failures: tmpsc::UnboundedSender<String>,
    shown: String,
    failing: bool,
    /// Messages gathered for the next batch (inline journals only).
    pending: Vec<Msg>,
}

impl Writer {
    fn flush(&mut self) {
        let batch = std::mem::take(&mut self.pending);
        if !batch.is_empty() {
            self.write_batch(batch);
        }
    }

    fn write_batch(&mut self, batch: Vec<Msg>) {
        let run = self.run;
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            for m in &batch {
                write(&tx, run, m)?;
            }
            tx.commit()
        })();
        match &result {
            Err(e) if !self.failing => {
                self.failing = true;
                let msg = format!(
                    "journal {} cannot be written ({e}): events and intents are not kept until it recovers",
                    self.shown
                );
                tracing::error!(target: "3rc::journal", "{msg}");
                let _ = self.failures.send(msg);
            }
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!(target: "3rc::journal", "journal {} writable again", self.shown);
            }
            _ => {}
        }
        for m in batch {
            if let Msg::Intent(_, _, ack) | Msg::Step(_, _, _, ack) | Msg::Sync(ack) = m {
                let _ = ack.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
            }
        }
    }
}

/// The writer thread: takes whatever is queued and writes it as one batch.
fn writer(mut w: Writer, rx: mpsc::Receiver<Msg>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
            if batch.len() >= 512 {
                break;
            }
        }
        w.write_batch(batch);
    }
}

/// Read the event lines of a journal (for tests, tools and `3rc journal`): (wall, at ms, text).
pub fn read_events(path: &Path) -> anyhow::Result<Vec<(f64, u64, String)>> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut q = conn.prepare("SELECT wall, at, text FROM events ORDER BY id")?;
    let rows = q.query_map([], |r| Ok((r.get::<_, f64>(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, String>(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The actions of a journal, oldest first (for tests, tools and `3rc journal`): what, who
/// decided it, and its outcome (`None` while it runs, or if 3rc stopped before it ended and
/// has not started again since).
pub fn read_actions(path: &Path) -> anyhow::Result<Vec<(String, String, Option<String>)>> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut q = conn.prepare("SELECT text, decided_by, outcome FROM actions ORDER BY run, id")?;
    let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many VM definitions the journal's inventory holds.
pub fn inventory_count(path: &Path) -> anyhow::Result<usize> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let n: Option<i64> = conn.query_row("SELECT COUNT(*) FROM inventory", [], |r| r.get(0)).optional()?;
    Ok(n.unwrap_or(0) as usize)
}

#[cfg(test)]
mod tests;
