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

pub mod files;
pub mod inventory;
pub mod lock;
mod open;
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
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LadderRow {
    pub vm: String,
    pub restarts: Vec<u64>,
    pub relocations: Vec<u64>,
    pub reinstalls: Vec<u64>,
    /// Its domain is paused since a live migration failed midway (a bad probe until it runs).
    pub paused_is_bad: bool,
    /// Rungs climbed because of guest probes (`core::guest`), in their own window.
    #[serde(default)]
    pub guest_restarts: Vec<u64>,
}

/// A notification not delivered yet to one target (`supervisor::alerts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    /// The target, as shown (`webhook https://hooks.example.com/3rc?***`).
    pub target: String,
    /// The notification's identity.
    pub key: String,
    /// The notification, as JSON.
    pub body: String,
}

/// Told how long each write of the journal took (a batch, committed and synced).
pub type WriteObserver = Box<dyn Fn(std::time::Duration) + Send + Sync>;

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
    /// Notifications not delivered when the earlier run ended, oldest first.
    pub outbox: Vec<OutboxRow>,
    /// The journal could not be read and was moved aside (`open`): what happened and what was
    /// lost, for a critical alarm.
    pub damaged: Option<String>,
    /// The operators' decisions of the earlier run were lost with it: a protected VM found not
    /// running must not be started (it may have been stopped on purpose).
    pub decisions_unknown: bool,
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
    /// A notification to deliver (`Some`), or delivered or dropped (`None`).
    Outbox(String, String, Option<String>, f64),
    /// Answered once everything sent before it is committed: an error if anything sent from
    /// the given mark on (`Journal::mark`) could not be written.
    Sync(u64, oneshot::Sender<Result<(), String>>),
}

pub struct Journal {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Written in the caller's thread instead (`open_unsynced`).
    inline: Option<std::sync::Mutex<Writer>>,
    /// Messages sent so far (`mark`).
    sent: std::sync::atomic::AtomicU64,
    path: PathBuf,
    /// Told how long each write took (`on_write`).
    observer: std::sync::Arc<std::sync::Mutex<Option<WriteObserver>>>,
    /// What the earlier run left undelivered (`outbox_left`).
    outbox: std::sync::Mutex<Vec<OutboxRow>>,
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
    /// survives a `kill -9` that comes right after. An error if anything sent from `since` on
    /// (a [`Journal::mark`] taken before the caller's writes) could not be written, even in an
    /// earlier batch.
    pub fn synced(&self, since: u64) -> impl std::future::Future<Output = Result<(), String>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Sync(since, tx));
        acked(rx)
    }

    /// How many writes were sent so far: a mark for [`Journal::synced`].
    pub fn mark(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::SeqCst)
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

    /// A notification to deliver to `target` (`Some(body)`), or delivered or dropped (`None`):
    /// what is left when 3RC stops is delivered by the next run.
    pub fn outbox(&self, target: &str, key: &str, body: Option<&str>) {
        self.send(Msg::Outbox(target.to_string(), key.to_string(), body.map(str::to_string), wall()));
    }

    /// The notifications the earlier run left undelivered, oldest first (once: taken).
    pub fn outbox_left(&self) -> Vec<OutboxRow> {
        std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Tell `f` how long each write of the journal takes from now on (a batch of changes,
    /// committed and, unless the journal is the simulator's, on disk).
    pub fn on_write(&self, f: WriteObserver) {
        *self.observer.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    /// A VM taken out of HA (`unprotect`): the next start does not protect it again, and its
    /// ladder windows are forgotten. Who asked is in the events.
    pub fn unprotect(&self, vm: &str) {
        self.send(Msg::Unprotect(vm.to_string()));
    }

    fn send(&self, m: Msg) {
        self.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(w) = &self.inline {
            // Gathered, and written as one transaction whenever a caller waits for the disk
            // (an intent, a step, a sync), when many are waiting, and when the journal closes.
            let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
            let waits = matches!(m, Msg::Intent(..) | Msg::Step(..) | Msg::Sync(..));
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
                Outcome::Failed(e) | Outcome::StartFailed(e) => format!("failed: {e}"),
                Outcome::Unsupported(e) => format!("not supported: {e}"),
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
                "INSERT OR REPLACE INTO ladder (vm, restarts, relocations, reinstalls, paused_bad, guest_restarts, updated) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    r.vm,
                    json(&r.restarts),
                    json(&r.relocations),
                    json(&r.reinstalls),
                    r.paused_is_bad,
                    json(&r.guest_restarts),
                    w
                ],
            )?;
        }
        Msg::Outbox(target, key, body, w) => match body {
            Some(b) => {
                conn.execute(
                    "INSERT OR REPLACE INTO outbox (target, key, body, wall) VALUES (?1, ?2, ?3, ?4)",
                    params![target, key, b, w],
                )?;
            }
            None => {
                conn.execute("DELETE FROM outbox WHERE target = ?1 AND key = ?2", params![target, key])?;
            }
        },
        Msg::Sync(..) => {}
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
    /// Messages taken so far, and how many had been taken when the last failed batch ended.
    taken: u64,
    failed_upto: u64,
    /// Told how long each batch took.
    observer: std::sync::Arc<std::sync::Mutex<Option<WriteObserver>>>,
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
        let started = std::time::Instant::now();
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            for m in &batch {
                write(&tx, run, m)?;
            }
            tx.commit()
        })();
        if let Some(f) = &*self.observer.lock().unwrap_or_else(|e| e.into_inner()) {
            f(started.elapsed());
        }
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
        self.taken += batch.len() as u64;
        if result.is_err() {
            self.failed_upto = self.taken;
        }
        for m in batch {
            let answer = result.as_ref().map(|_| ()).map_err(|e| e.to_string());
            match m {
                Msg::Intent(_, _, ack) | Msg::Step(_, _, _, ack) => {
                    let _ = ack.send(answer);
                }
                Msg::Sync(since, ack) => {
                    let lost = self.failed_upto > since;
                    let _ = ack.send(answer.and_then(|()| match lost {
                        true => Err("an earlier write of the journal failed".to_string()),
                        false => Ok(()),
                    }));
                }
                _ => {}
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
