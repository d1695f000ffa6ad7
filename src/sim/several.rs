//! Several supervisors over one simulated cluster (`supervisors = [...]` in a case's
//! `cluster.toml`): each the real, unmodified supervisor with its own journal, its own view of
//! the hosts (`SimCluster` vantage = its index) and its leadership on one in-memory lease store
//! with etcd's semantics (`ha::mem::MemStore`, the campaign of production over it). Faults kill,
//! pause or cut one from the store, from some hosts or from everything, or take the store's
//! quorum away (`scenario`'s list).
//!
//! Besides the sim's own checks (a VM active twice), the run checks after the fact, from the
//! store's history of its keys and the sim's record of every destructive call:
//! - **never two leaders acting**: every destructive call (destroy, shutdown, undefine, fence,
//!   volume delete) was made by the supervisor that held the leader key at that instant;
//! - **no fence without a majority of vantage points**: when a host is fenced, a majority of the
//!   live supervisors (those whose view the store held) fail to reach it.

use super::run::{apply, log_violations, settings, Report, SIM_WALL_START};
use super::scenario::{Case, SimCmd};
use crate::core::{ClusterView, Event, Time};
use crate::ha::mem::MemStore;
use crate::ha::Elector;
use crate::hv::clock::{Clock, TokioClock};
use crate::hv::Leadership;
use crate::ops::ExecCtx;
use crate::supervisor::{Supervisor, SupervisorHandle};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tokio::time::Instant;

/// The lease store's prefix in the simulator.
const PREFIX: &str = "/3rc/sim";
/// The leases' TTL (the default of `[ha]`).
const TTL: Duration = Duration::from_secs(2);
/// The lease store's round trip.
const ROUND_TRIP: Duration = Duration::from_millis(4);

/// Holds tasks back while closed, as a stopped process (SIGSTOP): they are not polled, and
/// time goes on.
#[derive(Default)]
struct Gate {
    closed: Mutex<(bool, Vec<Waker>)>,
}

impl Gate {
    fn set(&self, closed: bool) {
        let mut g = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = closed;
        if !closed {
            for w in g.1.drain(..) {
                w.wake();
            }
        }
    }
}

/// A future held back by a [`Gate`].
struct Gated<F: ?Sized> {
    gate: Arc<Gate>,
    inner: Pin<Box<F>>,
}

impl<F: Future + ?Sized> Future for Gated<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        {
            let mut g = self.gate.closed.lock().unwrap_or_else(|e| e.into_inner());
            if g.0 {
                g.1.push(cx.waker().clone());
                return Poll::Pending;
            }
        }
        self.inner.as_mut().poll(cx)
    }
}

/// One supervisor of several.
struct Member {
    name: String,
    ctx: ExecCtx,
    journal: std::path::PathBuf,
    gate: Arc<Gate>,
    /// Until when it is paused.
    paused_until: Option<u64>,
    live: Option<Live>,
}

/// A member while it runs.
struct Live {
    handle: SupervisorHandle,
    events: broadcast::Receiver<Event>,
    elector: Arc<Elector<MemStore>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Member {
    fn start(&mut self, case: &Case, clock: &Arc<dyn Clock>, store: &MemStore) {
        let opened = crate::store::Journal::open_unsynced(&self.journal)
            .unwrap_or_else(|e| panic!("the simulator's journal {}: {e:#}", self.journal.display()));
        let (mut sup, handle) =
            Supervisor::resume(case.spec(), self.ctx.clone(), settings(), clock.clone(), Some(opened));
        sup.set_stop_grace(Duration::ZERO);
        let gate = self.gate.clone();
        let elector = Elector::spawn_wrapped(&self.name, PREFIX, TTL, store.client(&self.name), |f| {
            Box::pin(Gated { gate, inner: f })
        });
        sup.set_leadership(elector.clone());
        // No snapshot is subscribed to (none is built each cycle): the run's final view is
        // asked for at its end.
        let events = handle.events();
        let (stop, rx) = oneshot::channel::<()>();
        let run = sup.run(async {
            let _ = rx.await;
        });
        let task = tokio::spawn(Gated { gate: self.gate.clone(), inner: Box::pin(run) });
        self.live = Some(Live { handle, events, elector, stop: Some(stop), task });
    }

    /// `kill -9`: its campaign and its loop end where they are; its lease runs out.
    fn kill(&mut self) {
        if let Some(l) = self.live.take() {
            l.elector.abandon();
            l.task.abort();
        }
        self.gate.set(false);
        self.paused_until = None;
    }

    /// Its events since the last call, as timed log lines, and with its name.
    fn drain(&mut self, lines: &mut Vec<(Time, String)>, events: &mut Vec<(Event, String)>) {
        let Some(l) = self.live.as_mut() else { return };
        loop {
            match l.events.try_recv() {
                Ok(ev) => {
                    let line = ev.to_string();
                    let (at, rest) = line.split_once(' ').unwrap_or(("", &line));
                    lines.push((ev.at, format!("{at} {}: {rest}", self.name)));
                    events.push((ev, self.name.clone()));
                }
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    lines.push((Time::ZERO, format!("{} (log lost {n} events)", self.name)))
                }
                Err(_) => break,
            }
        }
    }
}

/// Run a case with several supervisors to its end (on the caller's paused-time runtime).
pub(super) async fn run_several(case: &Case) -> Report {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::with_wall_start(SIM_WALL_START));
    let t0 = Instant::now();
    let names = case.cluster.supervisors.clone();
    let sim = super::run::world(case, clock.clone());
    sim.lock().vantages = names.len();
    let store = MemStore::new("sim", ROUND_TRIP);
    store.keep_history(&format!("{PREFIX}/"));
    preload(&store, &case.cluster.store).await;
    let folder = tempfile::Builder::new()
        .prefix("3rc-sim-")
        .tempdir()
        .unwrap_or_else(|e| panic!("a folder for the simulator's journals in {}: {e}", std::env::temp_dir().display()));
    let mut members: Vec<Member> = names
        .iter()
        .enumerate()
        .map(|(v, n)| Member {
            name: n.clone(),
            ctx: super::run::ctx_for(case, &sim, v),
            journal: folder.path().join(format!("{n}.db")),
            gate: Default::default(),
            paused_until: None,
            live: None,
        })
        .collect();
    let (mut log, mut events) = (Vec::new(), Vec::new());
    tokio::time::sleep(Duration::from_millis(500)).await;
    for m in &mut members {
        m.start(case, &clock, &store);
    }
    let mut next = 0;
    let (mut violations_seen, mut history_seen) = (0, 0);
    let mut injected = BTreeSet::new();
    for sec in 1..=case.duration() {
        tokio::time::sleep_until(t0 + Duration::from_secs(sec)).await;
        history_seen = gather(&mut members, &store, t0, history_seen, &mut log, &mut events);
        for (vm, hosts) in sim.active_placements() {
            if hosts.len() > 1 && !injected.contains(&vm) {
                sim.lock().violations.push(format!("{} {vm} active on {}", clock.now(), hosts.join(", ")));
            }
        }
        let now = clock.now();
        sim.lock().sample_failing();
        for m in members.iter_mut().filter(|m| m.paused_until.is_some_and(|t| t <= sec)) {
            m.gate.set(false);
            m.paused_until = None;
            log.push(format!("{now} sim {} runs on", m.name));
        }
        while next < case.commands.len() && case.commands[next].0 <= sec {
            let cmd = case.commands[next].1.clone();
            next += 1;
            let member = |n: &str| names.iter().position(|x| x == n);
            let line = match &cmd {
                SimCmd::Op(c) => {
                    log.push(format!("{now} sim {cmd}"));
                    // Given to the first supervisor that runs and is not paused (a standby
                    // forwards it); this loop resumes the paused ones, so it never waits on one.
                    let to = members
                        .iter()
                        .filter(|m| m.paused_until.is_none())
                        .find_map(|m| m.live.as_ref().map(|l| (m.name.clone(), l.handle.clone())));
                    match to {
                        Some((name, h)) => {
                            let wait = crate::supervisor::FORWARD_WAIT + Duration::from_secs(1);
                            match tokio::time::timeout(wait, h.command("sim:operator", c.clone())).await {
                                Ok(Ok(_)) => {}
                                Ok(Err(e)) => log.push(format!("{now} sim refused by {name}: {e}")),
                                Err(_) => log.push(format!("{now} sim no answer from {name}")),
                            }
                        }
                        None => log.push(format!("{now} sim refused: no supervisor runs")),
                    }
                    continue;
                }
                SimCmd::Kill(n)
                | SimCmd::Start(n)
                | SimCmd::Pause(n, _)
                | SimCmd::CutStore(n)
                | SimCmd::ReconnectStore(n)
                    if member(n).is_none() =>
                {
                    format!("{cmd} (no effect: no supervisor {n})")
                }
                SimCmd::Kill(n) => {
                    let v = member(n).unwrap_or_default();
                    members[v].kill();
                    // Its tasks die with it: nothing they still try reaches the cluster.
                    sim.lock().dead.insert(v);
                    cmd.to_string()
                }
                SimCmd::Start(n) => {
                    let m = &mut members[member(n).unwrap_or_default()];
                    if m.live.is_some() {
                        format!("{cmd} (no effect: it runs)")
                    } else {
                        sim.lock().dead.remove(&member(n).unwrap_or_default());
                        m.start(case, &clock, &store);
                        cmd.to_string()
                    }
                }
                SimCmd::Pause(n, secs) => {
                    let m = &mut members[member(n).unwrap_or_default()];
                    m.gate.set(true);
                    m.paused_until = Some(sec + secs);
                    cmd.to_string()
                }
                SimCmd::CutStore(n) | SimCmd::ReconnectStore(n) => {
                    store.cut(n, matches!(cmd, SimCmd::CutStore(_)));
                    cmd.to_string()
                }
                SimCmd::StoreDown | SimCmd::StoreUp => {
                    store.set_down(cmd == SimCmd::StoreDown);
                    cmd.to_string()
                }
                SimCmd::IsolateOne(n) | SimCmd::ReconnectOne(n) => {
                    store.cut(n, matches!(cmd, SimCmd::IsolateOne(_)));
                    apply(&sim, &cmd, &names)
                }
                SimCmd::RestartSupervisor | SimCmd::IsolateSupervisor | SimCmd::ReconnectSupervisor => {
                    format!("{cmd} (no effect: with several supervisors, name one)")
                }
                SimCmd::DuplicateOutside(vm, _) => {
                    injected.insert(vm.clone());
                    apply(&sim, &cmd, &names)
                }
                _ => apply(&sim, &cmd, &names),
            };
            log.push(format!("{now} sim {line}"));
        }
        violations_seen = log_violations(&sim, now, violations_seen, &mut log);
    }
    gather(&mut members, &store, t0, history_seen, &mut log, &mut events);
    // The final view: the leader's, else the first that runs.
    let leader = members.iter().position(|m| m.live.as_ref().is_some_and(|l| l.elector.leads()));
    let shown = leader.or_else(|| members.iter().position(|m| m.live.is_some() && m.paused_until.is_none()));
    let view = match shown.and_then(|i| members[i].live.as_ref()) {
        Some(l) => l.handle.snapshot_now(Duration::from_secs(5)).await.as_ref().clone(),
        None => ClusterView::default(),
    };
    for m in &mut members {
        m.gate.set(false);
        if let Some(mut l) = m.live.take() {
            if let Some(tx) = l.stop.take() {
                let _ = tx.send(());
            }
            let _ = (&mut l.task).await;
            l.elector.abandon();
        }
    }
    let history = store.history();
    let (events, origins): (Vec<Event>, Vec<String>) = events.into_iter().unzip();
    let mut report = super::run::report(&sim, log, events, view);
    report.origins = origins;
    report.violations.extend(leadership_violations(&report, &history, t0, &names));
    report
}

/// The supervisors' events and the store's changes since the last call, in the order of their
/// time, into the log; the store's new count of changes.
fn gather(
    members: &mut [Member],
    store: &MemStore,
    t0: Instant,
    seen: usize,
    log: &mut Vec<String>,
    events: &mut Vec<(Event, String)>,
) -> usize {
    let (mut lines, mut batch) = (Vec::new(), Vec::new());
    for m in members.iter_mut() {
        m.drain(&mut lines, &mut batch);
    }
    let seen = store_lines(store, t0, seen, &mut lines);
    lines.sort_by_key(|(at, _)| *at);
    log.extend(lines.into_iter().map(|(_, l)| l));
    batch.sort_by_key(|(e, _)| e.at);
    events.extend(batch);
    seen
}

/// The store's key changes since `seen`, as timed log lines (who holds the leader key, whose
/// view is there); the new count.
/// The case's `store` entries, with the mark that the store is kept (`PREFIX/shared`): written
/// before any supervisor starts.
async fn preload(store: &MemStore, entries: &BTreeMap<String, String>) {
    use crate::ha::store::{LeaseStore, Op};
    if entries.is_empty() {
        return;
    }
    let put = |key: String, value: String| Op::Put { key, value, lease: None };
    let mut ops = vec![put(format!("{PREFIX}/shared"), "1".into())];
    ops.extend(entries.iter().map(|(k, v)| put(format!("{PREFIX}/{k}"), v.clone())));
    if let Err(e) = store.client("sim").txn(vec![], ops, vec![]).await {
        panic!("the case's store entries cannot be written: {e}");
    }
}

fn store_lines(store: &MemStore, t0: Instant, seen: usize, log: &mut Vec<(Time, String)>) -> usize {
    let history = store.history();
    for (at, key, value) in &history[seen.min(history.len())..] {
        let at = Time::from_millis((*at - t0).as_millis() as u64);
        let Some(rest) = key.strip_prefix(PREFIX) else { continue };
        let line = match (rest, value) {
            ("/leader", Some(v)) => format!("{at} store: {v} holds the leader key"),
            ("/leader", None) => format!("{at} store: the leader key is gone"),
            (r, None) if r.starts_with("/views/") => {
                format!("{at} store: {}'s view is gone (its lease ended)", r.trim_start_matches("/views/"))
            }
            (r, Some(v)) if r.starts_with("/state/steps/") => {
                format!("{at} store: steps done by {}: {v}", r.trim_start_matches("/state/steps/"))
            }
            _ => continue,
        };
        log.push((at, line));
    }
    history.len()
}

/// The leadership's safety properties, checked on the record (see the module's doc).
fn leadership_violations(
    report: &Report,
    history: &[(Instant, String, Option<String>)],
    t0: Instant,
    names: &[String],
) -> Vec<String> {
    let leader_key = format!("{PREFIX}/leader");
    let views = format!("{PREFIX}/views/");
    // The keys as they were at `at` (changes at that very instant included).
    let state_at = |at: Time| {
        let mut leader = None;
        let mut live = BTreeSet::new();
        for (when, key, value) in history {
            if (*when - t0).as_millis() as u64 > at.millis() {
                break;
            }
            if *key == leader_key {
                leader = value.clone();
            } else if let Some(n) = key.strip_prefix(views.as_str()) {
                match value {
                    Some(_) => live.insert(n.to_string()),
                    None => live.remove(n),
                };
            }
        }
        (leader, live)
    };
    let mut out = Vec::new();
    // The power going off by itself after an accepted command is not an act: the command was.
    for d in report.destructive.iter().filter(|d| d.what != "fence off (slow)") {
        let by = names.get(d.by).cloned().unwrap_or_default();
        let (leader, live) = state_at(d.at);
        let what = format!("{} {}{}", d.what, d.host, d.vm.as_deref().map(|v| format!(" {v}")).unwrap_or_default());
        if leader.as_deref() != Some(by.as_str()) {
            out.push(format!(
                "{} {by} acted ({what}) while {}",
                d.at,
                leader.map_or("nobody held the leader key".to_string(), |l| format!("{l} held the leader key"))
            ));
        }
        if d.what.starts_with("fence") {
            let failing: BTreeMap<&str, bool> = live
                .iter()
                .map(|n| {
                    let v = names.iter().position(|x| x == n).unwrap_or(usize::MAX);
                    (n.as_str(), d.failing_from.contains(&v))
                })
                .collect();
            let count = failing.values().filter(|f| **f).count();
            if count * 2 <= failing.len() {
                out.push(format!(
                    "{} {by} fenced {} though only {count} of the {} live supervisors failed to reach it: {failing:?}",
                    d.at,
                    d.host,
                    failing.len()
                ));
            }
        }
    }
    out
}
