//! Running a scenario: the real, unmodified supervisor (`Supervisor::run`) over a `SimCluster`,
//! on a current-thread tokio runtime with paused (virtual) time.
//!
//! Phases on the virtual clock: the sim's faults and operator commands happen on whole seconds,
//! supervision cycles on half seconds (the supervisor starts at 0.5 s). Nothing ever becomes
//! ready in the supervisor's `select!` at the same instant as something else, so its random
//! branch order cannot show, and the same case gives a byte-identical log.

use super::scenario::{Case, GuestFault, SimCmd};
use crate::backend::sim::world::{Destructive, FenceMode, SimCluster, MIB};
use crate::config::Settings;
use crate::config::Timeouts;
use crate::core::{ClusterView, Event};
use crate::hv::clock::{Clock, TokioClock};
use crate::hv::worker::HostHandle;
use crate::hv::{Fencer, MigrateTo, SoftFencer, Witness};
use crate::ops::ExecCtx;
use crate::store::inventory::Inventory;
use crate::supervisor::{Supervisor, SupervisorHandle};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};

/// What a run produced.
pub struct Report {
    /// The readable log: the core's events and the sim's own lines.
    pub log: Vec<String>,
    pub events: Vec<Event>,
    /// With several supervisors, which one sent each of `events` (empty alone).
    pub origins: Vec<String>,
    /// Ground-truth safety violations seen by the sim (a VM active on two hosts).
    pub violations: Vec<String>,
    pub destructive: Vec<Destructive>,
    /// Domain starts by VM.
    pub starts: BTreeMap<String, u32>,
    /// Where each VM is really active at the end (running, paused or other).
    pub truth: BTreeMap<String, Vec<String>>,
    /// Where each VM is really running (not paused) at the end.
    pub running: BTreeMap<String, Vec<String>>,
    pub view: ClusterView,
}

struct Running {
    handle: SupervisorHandle,
    events: broadcast::Receiver<Event>,
    /// Watching the snapshots, as a console would (the run's final view comes from here).
    view: tokio::sync::watch::Receiver<Arc<crate::core::ClusterView>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// The wall clock of every simulated run: 2026-01-01 00:00 UTC.
pub const SIM_WALL_START: u64 = 1_767_225_600_000;

/// Start the supervisor over the run's journal (a real one, reopened by every start as
/// production reopens its state_dir's: what the earlier start left is taken back).
fn start(case: &Case, ctx: &ExecCtx, clock: &Arc<dyn Clock>, journal: &std::path::Path) -> Running {
    let settings = settings();
    let opened = crate::store::Journal::open_unsynced(journal)
        .unwrap_or_else(|e| panic!("the simulator's journal {}: {e:#}", journal.display()));
    let (mut sup, handle) = Supervisor::resume(case.spec(), ctx.clone(), settings, clock.clone(), Some(opened));
    // `restart-supervisor` cuts the actions under way short, as a crash would: the harder case
    // for the next start (a stop by SIGTERM waits for them, `STOP_GRACE`).
    sup.set_stop_grace(Duration::ZERO);
    let events = handle.events();
    let view = handle.snapshots();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(sup.run(async {
        let _ = rx.await;
    }));
    Running { handle, events, view, stop: Some(stop), task }
}

/// The loop's settings on the simulator (and its benchmarks): 1 s cycles, polling (the
/// simulated hosts send watchdog events only).
pub fn settings() -> Settings {
    Settings {
        interval: Duration::from_secs(1),
        probe_timeout: Duration::from_secs(3),
        xml_reads_per_cycle: 64,
        events: true,
        fence_check: Some(Duration::from_secs(300)),
    }
}

fn drain(rx: &mut broadcast::Receiver<Event>, log: &mut Vec<String>, events: &mut Vec<Event>) {
    loop {
        match rx.try_recv() {
            Ok(ev) => {
                log.push(ev.to_string());
                events.push(ev);
            }
            Err(broadcast::error::TryRecvError::Lagged(n)) => log.push(format!("(log lost {n} events)")),
            Err(_) => break,
        }
    }
}

/// Run a case to its end on a fresh virtual-time runtime.
pub fn run(case: &Case) -> Report {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    match case.cluster.supervisors.is_empty() {
        true => rt.block_on(run_async(case)),
        false => rt.block_on(super::several::run_several(case)),
    }
}

/// Build the sim cluster and the supervisor's execution context for a case.
pub fn build(case: &Case, clock: Arc<dyn Clock>) -> (SimCluster, ExecCtx) {
    let sim = world(case, clock);
    let ctx = ctx_for(case, &sim, 0);
    (sim, ctx)
}

/// The simulated cluster of a case, as it starts.
pub fn world(case: &Case, clock: Arc<dyn Clock>) -> SimCluster {
    let sim = SimCluster::new(case.cluster.seed, clock);
    for h in &case.cluster.hosts {
        sim.add_host(&h.name, h.cpus, h.memory_mib * MIB, h.fence);
        for (pool, vols) in &h.pools {
            let _ = sim.add_pool(&h.name, pool, vols);
        }
    }
    for v in case.cluster.vms.iter().chain(&case.cluster.unprotected) {
        if !v.defined {
            continue;
        }
        // Validated by the parser: the host exists.
        let _ = sim.add_vm(&v.host, &v.name, v.vcpus, v.memory_mib * MIB, v.running);
    }
    sim
}

/// The execution context of the supervisor at `vantage` (0 alone): the hosts, fence devices
/// and witnesses as it reaches them.
pub fn ctx_for(case: &Case, sim: &SimCluster, vantage: usize) -> ExecCtx {
    let spec = case.spec();
    let hosts: BTreeMap<String, HostHandle> = spec
        .hosts
        .iter()
        .map(|h| (h.name.clone(), HostHandle::inline(h, Box::new(sim.hypervisor(vantage, &h.name)))))
        .collect();
    let fencers: BTreeMap<String, Arc<dyn Fencer>> = spec
        .hosts
        .iter()
        .filter(|h| h.fence_agent.is_some())
        .map(|h| (h.name.clone(), Arc::new(sim.fencer(vantage, &h.name)) as Arc<dyn Fencer>))
        .collect();
    let soft_fencers: BTreeMap<String, Arc<dyn SoftFencer>> = spec
        .hosts
        .iter()
        .filter(|h| h.soft_fence)
        .map(|h| (h.name.clone(), Arc::new(sim.soft_fencer(vantage, &h.name)) as Arc<dyn SoftFencer>))
        .collect();
    let migration = spec
        .hosts
        .iter()
        .map(|h| {
            let to = MigrateTo { dest_uri: h.uri.clone(), migration_uri: None, unsafe_shared_storage: false };
            (h.name.clone(), to)
        })
        .collect();
    let witnesses = spec.witnesses.iter().map(|w| Arc::new(sim.witness(vantage, w)) as Arc<dyn Witness>).collect();
    ExecCtx {
        hosts: Arc::new(hosts),
        fencers: Arc::new(fencers),
        soft_fencers: Arc::new(soft_fencers),
        witnesses: Arc::new(witnesses),
        inventory: Arc::new(Inventory::in_memory()),
        timeouts: Timeouts::default(),
        migration: Arc::new(migration),
        inline: true,
        report: None,
        reinstall_specs: crate::ops::reinstall_specs(&spec),
        journal: None,
        resumed_steps: Vec::new(),
        leadership: None,
        share_step: None,
        former_fence: None,
    }
}

async fn run_async(case: &Case) -> Report {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::with_wall_start(SIM_WALL_START));
    let t0 = tokio::time::Instant::now();
    let (sim, ctx) = build(case, clock.clone());
    // The run's journal, in a private folder removed with the run.
    let folder = tempfile::Builder::new()
        .prefix("3rc-sim-")
        .tempdir()
        .unwrap_or_else(|e| panic!("a folder for the simulator's journal in {}: {e}", std::env::temp_dir().display()));
    let journal = folder.path().join("journal.db");
    let (mut log, mut events) = (Vec::new(), Vec::new());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut sup = start(case, &ctx, &clock, &journal);
    let mut next = 0;
    let mut violations_seen = 0;
    // VMs the scenario itself ran twice (outside 3RC): not the supervisor's doing.
    let mut injected = std::collections::BTreeSet::new();
    for sec in 1..=case.duration() {
        tokio::time::sleep_until(t0 + Duration::from_secs(sec)).await;
        drain(&mut sup.events, &mut log, &mut events);
        // Every virtual step: the ground truth has no VM active twice.
        for (vm, hosts) in sim.active_placements() {
            if hosts.len() > 1 && !injected.contains(&vm) {
                sim.lock().violations.push(format!("{} {vm} active on {}", clock.now(), hosts.join(", ")));
            }
        }
        // ... and no host holds more memory than the placement policy allows.
        let limit = case.cluster.mem_overcommit.unwrap_or(1.0);
        for (h, used, cap) in sim.memory_use() {
            if used as f64 > cap as f64 * limit {
                sim.lock().violations.push(format!("{} {h} overcommitted: {used} KiB active > {cap} KiB", clock.now()));
            }
        }
        let now = clock.now();
        while next < case.commands.len() && case.commands[next].0 <= sec {
            let cmd = case.commands[next].1.clone();
            next += 1;
            if let SimCmd::Op(c) = &cmd {
                log.push(format!("{now} sim {cmd}"));
                if let Err(e) = sup.handle.command("sim:operator", c.clone()).await {
                    log.push(format!("{now} sim refused: {e}"));
                }
                drain(&mut sup.events, &mut log, &mut events);
                continue;
            }
            if cmd == SimCmd::RestartSupervisor {
                log.push(format!("{now} sim {cmd}"));
                stop(&mut sup).await;
                // Everything of the stopped run is gone (its journal closed) before the next
                // one opens the journal again.
                drop(sup);
                tokio::time::sleep(Duration::from_millis(500)).await;
                sup = start(case, &ctx, &clock, &journal);
                continue;
            }
            if let SimCmd::DuplicateOutside(vm, _) = &cmd {
                injected.insert(vm.clone());
            }
            let line = apply(&sim, &cmd, &[]);
            log.push(format!("{now} sim {line}"));
        }
        violations_seen = log_violations(&sim, now, violations_seen, &mut log);
    }
    drain(&mut sup.events, &mut log, &mut events);
    let view = (*sup.view.borrow()).as_ref().clone();
    stop(&mut sup).await;
    drop(sup);
    report(&sim, log, events, view)
}

/// The sim's safety violations since `seen`, into the log; the new count.
pub(super) fn log_violations(sim: &SimCluster, now: crate::core::Time, seen: usize, log: &mut Vec<String>) -> usize {
    let w = sim.lock();
    for v in w.violations.iter().skip(seen) {
        log.push(format!("{now} sim VIOLATION: {v}"));
    }
    w.violations.len()
}

/// What a run produced, from the world as it ends.
pub(super) fn report(sim: &SimCluster, log: Vec<String>, events: Vec<Event>, view: ClusterView) -> Report {
    let truth = sim.active_placements();
    let w = sim.lock();
    let mut running: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (h, hs) in w.hosts.iter().filter(|(_, hs)| hs.powered) {
        for (vm, d) in &hs.domains {
            if d.state == crate::core::DomState::Running {
                running.entry(vm.clone()).or_default().push(h.clone());
            }
        }
    }
    Report {
        log,
        events,
        origins: Vec::new(),
        violations: w.violations.clone(),
        destructive: w.destructive.clone(),
        starts: w.starts.clone(),
        truth,
        running,
        view,
    }
}

async fn stop(sup: &mut Running) {
    if let Some(tx) = sup.stop.take() {
        let _ = tx.send(());
    }
    let _ = (&mut sup.task).await;
}

/// Apply a sim fault; the text is the log line. `names`: the supervisors, when there are
/// several (their index is their vantage in the world).
pub(super) fn apply(sim: &SimCluster, cmd: &SimCmd, names: &[String]) -> String {
    let mut w = sim.lock();
    let mut note = String::new();
    let vantage = |n: &str| names.iter().position(|x| x == n);
    match cmd {
        SimCmd::CutLink(n, h) | SimCmd::MendLink(n, h) if vantage(n).is_none() || !w.hosts.contains_key(h) => {
            note = format!(" (no effect: no supervisor {n} or no host {h})");
        }
        SimCmd::IsolateOne(n) | SimCmd::ReconnectOne(n) if vantage(n).is_none() => {
            note = format!(" (no effect: no supervisor {n})");
        }
        SimCmd::CutLink(n, h) => {
            w.cut.insert((vantage(n).unwrap_or_default(), h.clone()));
        }
        SimCmd::MendLink(n, h) => {
            w.cut.remove(&(vantage(n).unwrap_or_default(), h.clone()));
        }
        SimCmd::IsolateOne(n) => {
            w.isolated.insert(vantage(n).unwrap_or_default());
        }
        SimCmd::ReconnectOne(n) => {
            w.isolated.remove(&vantage(n).unwrap_or_default());
        }
        SimCmd::Kill(_)
        | SimCmd::Start(_)
        | SimCmd::Pause(..)
        | SimCmd::CutStore(_)
        | SimCmd::ReconnectStore(_)
        | SimCmd::StoreDown
        | SimCmd::StoreUp => {
            note = " (no effect: there is one supervisor; several need `supervisors` in cluster.toml)".into()
        }
        SimCmd::PowerOff(h) => w.power_off(h),
        SimCmd::PowerOn(h) => w.power_on(h),
        SimCmd::Isolate(h) => set(&mut w, h, |s| s.reachable = false),
        SimCmd::Reconnect(h) => set(&mut w, h, |s| s.reachable = true),
        SimCmd::Hang(h) => set(&mut w, h, |s| s.hung = true),
        SimCmd::Unhang(h) => set(&mut w, h, |s| s.hung = false),
        SimCmd::StoragePause(h) => w.set_storage(h, true),
        SimCmd::StorageResume(h) => w.set_storage(h, false),
        SimCmd::Guest(v, g) => match g {
            GuestFault::Hang => w.faults(v).guest_hung = true,
            GuestFault::AgentStops => w.faults(v).agent_down = true,
            GuestFault::AgentOk => w.faults(v).agent_down = false,
            GuestFault::PortCloses => w.faults(v).port_closed = true,
            GuestFault::PortOpens => w.faults(v).port_closed = false,
            GuestFault::Watchdog => match w.watchdog(v) {
                Ok(h) => note = format!(" (on {h})"),
                Err(e) => note = format!(" (no effect: {e})"),
            },
        },
        SimCmd::Crash(v) => match w.crash(v) {
            Ok(h) => note = format!(" (on {h})"),
            Err(e) => note = format!(" (no effect: {e})"),
        },
        SimCmd::FailStarts(v, n, None) => w.faults(v).fail_starts = *n,
        SimCmd::FailStarts(v, n, Some(h)) => {
            w.faults(v).fail_starts_on.insert(h.clone(), *n);
        }
        SimCmd::SlowStart(v, s) => w.faults(v).slow_start = Some(Duration::from_secs(*s)),
        SimCmd::MigrateFails(v, m) => w.faults(v).migrate_fail = Some(*m),
        SimCmd::FenceFails(h, n) => set(&mut w, h, |s| s.fence = FenceMode::Fails(*n)),
        SimCmd::FenceHangs(h) => set(&mut w, h, |s| s.fence = FenceMode::Hangs),
        SimCmd::FenceWorks(h) => set(&mut w, h, |s| s.fence = FenceMode::Works),
        SimCmd::FenceLies(h) => set(&mut w, h, |s| s.fence = FenceMode::Lies),
        SimCmd::FenceSlow(h, n) => set(&mut w, h, |s| s.fence = FenceMode::Slow(*n)),
        SimCmd::Daemon(h, d) => set(&mut w, h, |s| s.daemon = *d),
        SimCmd::ProbeLoss(h, p) => set(&mut w, h, |s| s.probe_loss = *p),
        SimCmd::Boot(v) => {
            if let Err(e) = w.by_hand(v, None, false) {
                note = format!(" (no effect: {e})");
            }
        }
        SimCmd::MoveOutside(v, h) => {
            if let Err(e) = w.by_hand(v, Some(h), true) {
                note = format!(" (no effect: {e})");
            }
        }
        SimCmd::DuplicateOutside(v, h) => {
            if let Err(e) = w.by_hand(v, Some(h), false) {
                note = format!(" (no effect: {e})");
            }
        }
        SimCmd::DeleteVolume(h, p, v) => {
            if let Some(pool) = w.hosts.get_mut(h).and_then(|s| s.pools.get_mut(p)) {
                pool.remove(v);
            }
        }
        SimCmd::IsolateSupervisor => {
            w.isolated.insert(0);
        }
        SimCmd::ReconnectSupervisor => {
            w.isolated.remove(&0);
        }
        SimCmd::WitnessDown(n) => {
            w.witnesses_down.insert(n.clone());
        }
        SimCmd::WitnessUp(n) => {
            w.witnesses_down.remove(n);
        }
        SimCmd::RestartSupervisor | SimCmd::Op(_) => {}
    }
    format!("{cmd}{note}")
}

fn set(
    w: &mut crate::backend::sim::world::World,
    host: &str,
    f: impl FnOnce(&mut crate::backend::sim::world::SimHostState),
) {
    if let Some(h) = w.hosts.get_mut(host) {
        f(h);
    }
}
