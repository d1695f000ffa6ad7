//! The supervisor: observe -> decide -> act, at a fixed interval, as one tokio task.
//!
//! Architecture invariant: this is the only place where the core's decisions become side
//! effects. It probes every host through its worker (one bulk call per host), feeds the
//! observations to the pure engine, journals the events, and hands each action to `ops`, whose
//! outcome comes back into the engine. Operator commands arrive on a channel; snapshots and
//! events go out on channels. It never blocks: hypervisor calls run on host workers, fence
//! agents and disk writes on blocking threads, all with timeouts.

pub mod alerts;
mod commands;
pub mod control;
mod facts;
mod fencecheck;
mod guest;
mod hints;
mod ladder;
mod leadership;
pub use leadership::FORWARD_WAIT;
mod handle;
pub mod metrics;
mod resume;
use facts::Fact;
pub use handle::{Answer, CommandRequest, SupervisorHandle};
mod witnesses;

use crate::config::Settings;
use crate::core::{
    Action, ActionId, ClusterSpec, ClusterView, Engine, Event, EventKind, HostObservation, Outcome, Output, Severity,
};
use crate::hv::clock::Clock;
use crate::ops::{self, ExecCtx};
use crate::store::Journal;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::{error, info, warn};

/// How long a stop (SIGTERM) waits for the actions under way to finish (the unit's
/// `TimeoutStopSec` is longer).
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(40);

/// Cycles between two reads of each host's storage pools.
pub const STORAGE_EVERY: u64 = 30;

/// Between two cycles, a host whose probe failed is probed again every this fraction of an
/// interval (70 ms at the default 1 s: 13 tries per round). Not a round fraction of a second,
/// so that, in the simulator, no try falls on the instant of a fault or a cycle.
pub const REPROBE_GAP: f64 = 0.07;

pub struct Supervisor {
    engine: Engine,
    ctx: ExecCtx,
    settings: Settings,
    clock: Arc<dyn Clock>,
    journal: Option<Arc<Journal>>,
    /// Journal write failures, turned into alarms.
    journal_failures: Option<mpsc::UnboundedReceiver<String>>,
    snapshots: Arc<watch::Sender<Arc<ClusterView>>>,
    events: broadcast::Sender<Event>,
    commands: mpsc::UnboundedReceiver<CommandRequest>,
    done_tx: mpsc::UnboundedSender<(ActionId, Outcome)>,
    done_rx: mpsc::UnboundedReceiver<(ActionId, Outcome)>,
    reading_xml: Arc<Mutex<HashSet<String>>>,
    /// Guest checks under way, by VM and check (`guest`).
    guest_checking: HashSet<(String, crate::core::GuestCheck)>,
    progress_tx: mpsc::UnboundedSender<(ActionId, crate::core::Progress)>,
    progress_rx: mpsc::UnboundedReceiver<(ActionId, crate::core::Progress)>,
    /// The reported step of each action under way, with its VM.
    progress: BTreeMap<ActionId, (String, crate::core::Progress)>,
    facts_tx: mpsc::UnboundedSender<Fact>,
    facts_rx: mpsc::UnboundedReceiver<Fact>,
    /// Hosts whose backend cannot list storage: not asked again.
    no_storage: Arc<Mutex<HashSet<String>>>,
    /// Probes under way, by host: at most one per host.
    probes: BTreeMap<String, tokio::task::JoinHandle<Result<crate::core::HostProbe, crate::hv::HvError>>>,
    /// Each host's last probe result (shared with the handles).
    seen: Arc<Mutex<BTreeMap<String, HostObservation>>>,
    cycles: u64,
    /// `cycles`, shared with the handles once each cycle is complete.
    cycles_done: Arc<std::sync::atomic::AtomicU64>,
    /// The last cycle's duration in microseconds, shared with the handles.
    last_cycle: Arc<std::sync::atomic::AtomicU64>,
    /// Hints from the hosts (`hints`); `None` when events are off.
    hints_tx: Option<mpsc::Sender<crate::hv::Hint>>,
    hints_rx: Option<mpsc::Receiver<crate::hv::Hint>>,
    /// Steps an earlier run finished for a reinstall it left unfinished, by VM: handed to the
    /// resumed reinstall.
    resume_steps: BTreeMap<String, Vec<String>>,
    /// The fences a former leader had under way (`[ha]`), by host: its name, and until when
    /// its fence may still run; this leader's fence of that host waits for it (`ops::fence`).
    former_fences: BTreeMap<String, ops::FormerFence>,
    /// The fence agents' status checks (`fencecheck`).
    fence_checks: fencecheck::FenceChecks,
    /// The state folder's lock, held while this supervisor exists (`store::lock`).
    state_lock: Option<crate::store::lock::StateLock>,
    /// Requests for a snapshot now (`SupervisorHandle::snapshot_now`).
    views: mpsc::UnboundedReceiver<oneshot::Sender<Arc<ClusterView>>>,
    /// What an earlier run left, until `run` takes it back.
    recovered: Option<crate::store::Recovered>,
    /// Why it runs on the last good config (`config::lastgood`), until `run` raises the alarm.
    config_fallback: Option<String>,
    /// The actions running now, each until its outcome is in.
    running: std::collections::BTreeSet<ActionId>,
    /// Stopping: outcomes are taken in, nothing new is started.
    stopping: bool,
    /// How long a stop waits for the actions under way ([`STOP_GRACE`]).
    stop_grace: std::time::Duration,
    /// How long each host's last probe took (shared with the handles).
    probe_took: Arc<Mutex<BTreeMap<String, std::time::Duration>>>,
    /// The failing `[[alert]]` targets (shared with the handles).
    deliveries: Arc<Mutex<BTreeMap<String, crate::core::DeliveryView>>>,
    /// The leadership among several supervisors (`[ha]`; shared with the handles).
    leadership: Arc<std::sync::OnceLock<Arc<dyn crate::hv::Leadership>>>,
    /// Whether it led at the last cycle (`None`: no cycle yet).
    leading: Option<bool>,
    /// Whether it was fit to lead at the last cycle (`leadership::exchange_views`).
    fit: bool,
    /// Where each VM was, as last written to the shared store (`[ha]`, `share_placements`).
    placed: BTreeMap<String, String>,
    /// Decisions being written to the shared store (`[ha]`), awaited before a command's answer.
    sharing: Vec<crate::hv::StoreFuture>,
    /// Resolves when the last batch of shared writes is done: each batch waits for the one
    /// before, so that the store gets the writes in the order they were made.
    shared_tail: Option<oneshot::Receiver<()>>,
}

impl Supervisor {
    pub fn new(
        spec: ClusterSpec,
        ctx: ExecCtx,
        settings: Settings,
        clock: Arc<dyn Clock>,
        journal: Option<(Arc<Journal>, mpsc::UnboundedReceiver<String>)>,
    ) -> (Supervisor, SupervisorHandle) {
        let (journal, journal_failures) = match journal {
            Some((j, f)) => (Some(j), Some(f)),
            None => (None, None),
        };
        let shared_spec = Arc::new(spec.clone());
        let mut engine = Engine::new(spec, clock.now());
        engine.set_wall_origin(clock.wall_ms().saturating_sub(clock.now().millis()));
        // VMs known from an earlier run (the journal's inventory, or a restarted simulator's):
        // their last host, size and disks, so that one whose host does not answer at start-up
        // is still recovered, and never placed as size zero.
        for (vm, entry) in ctx.inventory.entries() {
            let (vcpus, mem) = crate::hv::xml::size_from_xml(&entry.xml);
            engine.restore(&vm, &entry.host, vcpus, mem);
            engine.set_disks(&vm, crate::hv::xml::disks_from_xml(&entry.xml));
        }
        // The ladder's windows as an earlier run left them, so a 3RC restart does not reset it.
        ladder::restore(&mut engine, &ctx.inventory, clock.as_ref());
        let snap_tx = Arc::new(watch::Sender::new(Arc::new(engine.snapshot())));
        let (events, _) = broadcast::channel(4096);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (facts_tx, facts_rx) = mpsc::unbounded_channel();
        let (progress_tx, progress_rx) = mpsc::unbounded_channel();
        let (views_tx, views_rx) = mpsc::unbounded_channel();
        let seen = Arc::new(Mutex::new(BTreeMap::new()));
        let (hints_tx, hints_rx) = match settings.events {
            true => {
                let (tx, rx) = mpsc::channel(hints::HINT_QUEUE);
                (Some(tx), Some(rx))
            }
            false => (None, None),
        };
        let handle = SupervisorHandle {
            inventory: ctx.inventory.clone(),
            spec: shared_spec,
            seen: seen.clone(),
            commands: cmd_tx,
            snapshots: snap_tx.clone(),
            events: events.clone(),
            cycles_done: Default::default(),
            last_cycle: Default::default(),
            views: views_tx,
            journal: journal.clone(),
            probe_took: Default::default(),
            deliveries: Default::default(),
            leadership: Default::default(),
        };
        let sup = Supervisor {
            engine,
            ctx,
            settings,
            clock,
            journal,
            journal_failures,
            snapshots: snap_tx,
            events,
            commands: cmd_rx,
            done_tx,
            done_rx,
            reading_xml: Arc::new(Mutex::new(HashSet::new())),
            guest_checking: HashSet::new(),
            progress_tx,
            progress_rx,
            progress: BTreeMap::new(),
            facts_tx,
            facts_rx,
            no_storage: Arc::new(Mutex::new(HashSet::new())),
            probes: BTreeMap::new(),
            seen,
            cycles: 0,
            cycles_done: handle.cycles_done.clone(),
            last_cycle: handle.last_cycle.clone(),
            hints_tx,
            hints_rx,
            resume_steps: BTreeMap::new(),
            former_fences: BTreeMap::new(),
            fence_checks: Default::default(),
            state_lock: None,
            recovered: None,
            config_fallback: None,
            views: views_rx,
            running: Default::default(),
            stopping: false,
            stop_grace: STOP_GRACE,
            probe_took: handle.probe_took.clone(),
            deliveries: handle.deliveries.clone(),
            leadership: handle.leadership.clone(),
            leading: None,
            fit: true,
            placed: BTreeMap::new(),
            sharing: Vec::new(),
            shared_tail: None,
        };
        (sup, handle)
    }

    /// How long a stop waits for the actions under way.
    pub fn set_stop_grace(&mut self, grace: std::time::Duration) {
        self.stop_grace = grace;
    }

    /// Run until `shutdown` completes, then stop: the actions under way are given
    /// [`STOP_GRACE`] to finish (their outcomes journaled, nothing new started); any still
    /// running after it are named in the journal, where their intents already are, and the
    /// next start reconciles them with what the hosts report.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let mut pace = hints::Pace::new(tokio::time::Instant::now(), self.settings.interval);
        tokio::pin!(shutdown);
        info!(target: "3rc", "supervising {} hosts every {}", self.ctx.hosts.len(), crate::core::time::human(self.settings.interval));
        if let Some(r) = self.recovered.take() {
            self.take_back(r);
        }
        self.config_alarm();
        self.watch_hosts();
        // One of several supervisors: a change of leadership is looked at every 100 ms, and
        // one that makes this one the leader starts a cycle at once (it takes over there).
        let ha = self.leadership.get().cloned();
        // Off the cycles' grid (they start on the run's start), so that in the simulator no
        // tick falls on a cycle's instant.
        let tick = std::time::Duration::from_millis(100);
        let mut ha_tick = tokio::time::interval_at(tokio::time::Instant::now() + tick / 2, tick);
        loop {
            // Biased: when two branches are ready at once they are taken in this order, the
            // same on every run (the simulator's logs are byte-identical from a seed).
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = ha_tick.tick(), if ha.is_some() => {
                    self.serve_forwarded();
                    if ha.as_ref().is_some_and(|l| l.leads() && self.leading != Some(true)) {
                        pace.start(tokio::time::Instant::now());
                        self.log_pace(Some(("taking the lead".into(), 1)));
                        self.cycle().await
                    }
                }
                _ = tokio::time::sleep_until(pace.due()) => {
                    let early = pace.start(tokio::time::Instant::now());
                    self.log_pace(early);
                    self.cycle().await
                }
                Some(hint) = recv_opt_bounded(&mut self.hints_rx) => self.hint(hint, &mut pace),
                Some((id, outcome)) = self.done_rx.recv() => self.finished(id, outcome),
                Some(req) = self.commands.recv() => self.command(req),
                Some(reply) = self.views.recv() => {
                    let view = Arc::new(self.view());
                    if self.snapshots.receiver_count() > 0 {
                        self.snapshots.send_replace(view.clone());
                    }
                    let _ = reply.send(view);
                }
                Some(fact) = self.facts_rx.recv() => self.fact(fact),
                Some((id, p)) = self.progress_rx.recv() => {
                    if let Some(entry) = self.progress.get_mut(&id) {
                        entry.1 = p;
                        self.publish();
                    }
                }
                Some(msg) = recv_opt(&mut self.journal_failures) => {
                    let out = self.engine.external_alarm(self.clock.now(), "journal", crate::core::Subject::Cluster, Severity::Critical, msg);
                    self.apply(out);
                    self.publish();
                }
            }
        }
        self.stop().await;
        info!(target: "3rc", "supervisor stopped after {} cycles", self.cycles);
    }

    /// Wait for the actions under way, taking their outcomes in; start nothing new; refuse
    /// commands. Say in the journal what is left.
    async fn stop(&mut self) {
        self.stopping = true;
        if self.running.is_empty() {
            return;
        }
        let names = |sup: &Supervisor| -> String {
            let inflight: Vec<String> = sup
                .engine
                .inflight()
                .filter(|a| sup.running.contains(&a.id))
                .map(|a| format!("#{} {}", a.id, a.kind))
                .collect();
            inflight.join("; ")
        };
        let msg = format!(
            "3rc is stopping: waiting up to {} for {} action(s) under way: {}",
            crate::core::time::human(self.stop_grace),
            self.running.len(),
            names(self)
        );
        let out = self.engine.external_note(self.clock.now(), crate::core::Subject::Cluster, msg);
        self.apply(out);
        let deadline = tokio::time::Instant::now() + self.stop_grace;
        while !self.running.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                Some((id, outcome)) = self.done_rx.recv() => self.finished(id, outcome),
                Some((id, p)) = self.progress_rx.recv() => {
                    if let Some(entry) = self.progress.get_mut(&id) {
                        entry.1 = p;
                        self.publish();
                    }
                }
                Some(req) = self.commands.recv() => {
                    if let Some(reply) = req.reply {
                        let _ = reply.send(Err("3rc is stopping: the command was not taken; give it again once it runs".into()));
                    }
                }
            }
        }
        if !self.running.is_empty() {
            let msg = format!(
                "3rc stopped with {} action(s) still under way: {}; their intents are in the journal and the next start reconciles them with what the hosts report",
                self.running.len(),
                names(self)
            );
            let out = self.engine.external_note(self.clock.now(), crate::core::Subject::Cluster, msg);
            self.apply(out);
        }
        if let Some(j) = &self.journal {
            let _ = j.synced(0).await;
        }
    }

    /// One cycle: probe every host at once, decide, act, publish.
    ///
    /// The cycle waits for the probes at most half an interval. A probe still running then is
    /// carried over to the next cycle (a host never has two probes at once) and its host is not
    /// judged this cycle; the probe itself gives up after `probe_timeout`, and that failure is
    /// what the host's state machine counts. So one hung host never stalls the loop.
    pub async fn cycle(&mut self) {
        let started = tokio::time::Instant::now();
        let timeout = self.settings.probe_timeout;
        let witnesses = self.check_witnesses();
        for h in self.ctx.hosts.values() {
            if !self.probes.contains_key(&h.name) {
                let (h, name) = (h.clone(), h.name.clone());
                let took = self.probe_took.clone();
                let task = tokio::spawn(async move {
                    let began = tokio::time::Instant::now();
                    let result = h.probe(timeout).await;
                    took.lock().unwrap_or_else(|e| e.into_inner()).insert(h.name.clone(), began.elapsed());
                    result
                });
                self.probes.insert(name, task);
            }
        }
        // Wait just past the probe timeout when that fits in half an interval, so that a hung
        // host's timed-out probe counts in this cycle rather than the next.
        let wait = (timeout + std::time::Duration::from_millis(50)).min(self.settings.interval / 2);
        let deadline = tokio::time::Instant::now() + wait;
        let mut observations = Vec::with_capacity(self.probes.len());
        let names: Vec<String> = self.probes.keys().cloned().collect();
        for name in names {
            let Some(task) = self.probes.get_mut(&name) else { continue };
            // Still running: its host is judged when it ends or times out.
            if let Ok(done) = tokio::time::timeout_at(deadline, task).await {
                self.probes.remove(&name);
                let result =
                    done.unwrap_or_else(|e| Err(crate::hv::HvError::Failed(format!("probe task failed: {e}"))));
                observations
                    .push(HostObservation { host: name, result: result.map_err(crate::hv::HvError::into_probe_error) });
            }
        }
        let now = self.clock.now();
        let checks = witnesses.await.unwrap_or_default();
        let out = self.engine.observe_witnesses(now, &checks);
        self.apply(out);
        self.exchange_views();
        let out = if self.leads_now() {
            self.engine.observe(now, &observations)
        } else {
            // A standby: states follow the probes, nothing is decided.
            self.engine.observe_readonly(now, &observations);
            Default::default()
        };
        self.cycles += 1;
        self.reprobe_failed(started, &observations);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            for obs in observations.into_iter().filter(|o| !self.engine.held_busy(&o.host)) {
                seen.insert(obs.host.clone(), obs);
            }
        }
        self.apply(out);
        self.check_fences();
        self.read_inventory();
        self.check_guests();
        if (self.cycles - 1).is_multiple_of(STORAGE_EVERY) {
            self.read_storage();
        }
        self.share_placements();
        self.flush_sharing();
        self.publish_view();
        self.publish();
        let took = started.elapsed().as_micros().min(u64::MAX as u128) as u64;
        self.last_cycle.store(took, std::sync::atomic::Ordering::Relaxed);
        self.cycles_done.store(self.cycles, std::sync::atomic::Ordering::Relaxed);
    }

    /// Hosts whose probe just failed, and `Suspect` hosts, are probed again and again until
    /// the next cycle (`HostHandle::probe_until`, every `REPROBE_GAP` of an interval, stopping
    /// at the first answer): the next cycle counts the round as failed only if none of those
    /// probes answered. Lost probes (a loss rate, a one-off timeout) then do not add up to
    /// `fail_threshold` failed rounds, and a Suspect host that answers again is Online after
    /// `ok_threshold` rounds; a host that is really gone fails every try and is declared Down
    /// at the same cycle as without them. The answer a round uses may be up to an interval old:
    /// acceptable for a host already under suspicion, whose VMs are not moved meanwhile.
    fn reprobe_failed(&mut self, started: tokio::time::Instant, observations: &[HostObservation]) {
        let gap = self.settings.interval.mul_f64(REPROBE_GAP);
        let stop_at = started + self.settings.interval - gap / 2;
        let timeout = self.settings.probe_timeout;
        let failing = |o: &&HostObservation| {
            !self.engine.held_busy(&o.host)
                && (o.result.is_err() || self.engine.host_state(&o.host) == Some(crate::core::HostState::Suspect))
        };
        for obs in observations.iter().filter(failing) {
            let Some(h) = self.ctx.hosts.get(&obs.host) else { continue };
            let h = h.clone();
            let task = tokio::spawn(async move { h.probe_until(stop_at, gap, timeout).await });
            self.probes.insert(obs.host.clone(), task);
        }
    }

    /// Feed an action's outcome to the engine.
    fn finished(&mut self, id: ActionId, outcome: Outcome) {
        self.progress.remove(&id);
        self.running.remove(&id);
        let action = self.engine.inflight().find(|a| a.id == id).cloned();
        if let Some(a) = action {
            self.share_inflight(&a, false);
        }
        let reinstalled = match self.engine.inflight().find(|a| a.id == id).map(|a| &a.kind) {
            Some(crate::core::ActionKind::Reinstall { vm, .. }) if outcome == Outcome::Done => Some(vm.clone()),
            _ => None,
        };
        if let Some(e) = reinstalled.as_deref().and_then(|vm| self.ctx.inventory.get(vm)) {
            // Its new definition (read back by the operation) names its new disks.
            self.engine.set_disks(reinstalled.as_deref().unwrap_or_default(), crate::hv::xml::disks_from_xml(&e.xml));
        }
        // A standby of several whose own action outlived its leadership: what it did is kept,
        // and the leader decides what follows.
        let out = if self.leading == Some(false) {
            self.engine.outcome_readonly(self.clock.now(), id, outcome)
        } else {
            self.engine.outcome(self.clock.now(), id, outcome)
        };
        self.apply(out);
        self.share_placements();
        self.flush_sharing();
        self.publish();
    }

    /// Journal and log the events, then start the actions (journaled first, by their event).
    fn apply(&mut self, out: Output) {
        // Queued before the actions that changed the windows are journaled.
        let ladders = ladder::keep(&mut self.engine, &self.ctx.inventory, self.clock.as_ref());
        self.share_ladders(&ladders);
        self.share_decisions(&out.decisions);
        self.share_alarms(&out.alarms);
        self.share_fenced(&out.events);
        if let Some(j) = &self.journal {
            for (key, decision) in &out.decisions {
                j.decision(key, decision.as_ref());
            }
            for (id, alarm) in &out.alarms {
                j.alarm(*id, alarm.as_ref());
            }
        }
        for ev in &out.events {
            log_event(ev);
            if let Some(j) = &self.journal {
                j.record(ev);
            }
            let _ = self.events.send(ev.clone());
        }
        if self.stopping && !out.actions.is_empty() {
            // Decided while stopping (after an outcome): not started, and no intent journaled;
            // the next start decides again from what the hosts report.
            let names: Vec<String> = out.actions.iter().map(|a| a.kind.to_string()).collect();
            let msg = format!("not started, 3rc is stopping: {}; the next start decides again", names.join("; "));
            let out = self.engine.external_note(self.clock.now(), crate::core::Subject::Cluster, msg);
            self.apply(out);
            return;
        }
        for action in out.actions {
            self.spawn_action(action);
        }
    }

    /// Run an action: its intent is on disk before it starts (if the journal cannot keep it,
    /// the journal's alarm says so and the action runs anyway: supervision goes on), its
    /// outcome is journaled after.
    fn spawn_action(&mut self, action: Action) {
        let mut ctx = self.ctx.clone();
        ctx.report = Some(ops::Reporter { id: action.id, tx: self.progress_tx.clone() });
        ctx.journal = self.journal.clone();
        ctx.leadership = self.leadership.get().cloned();
        if let crate::core::ActionKind::Reinstall { vm, .. } = &action.kind {
            ctx.resumed_steps = self.resume_steps.remove(vm).unwrap_or_default();
            ctx.share_step = self.step_sharer(&action, &ctx.resumed_steps);
        }
        if let crate::core::ActionKind::Fence { host } = &action.kind {
            ctx.former_fence = self.former_fences.remove(host).filter(|f| f.until > tokio::time::Instant::now());
        }
        if let Some(vm) = action.kind.vm() {
            let first = crate::core::Progress { step: "starting".into(), done: None };
            self.progress.insert(action.id, (vm.to_string(), first));
        }
        self.running.insert(action.id);
        self.share_inflight(&action, true);
        let done = self.done_tx.clone();
        let journal = self.journal.clone();
        // Queued now, in the order the engine decided, before anything acknowledges it.
        let intent = journal.as_ref().map(|j| j.intent(&action));
        // One of several supervisors: the store confirms that this one still leads, just
        // before the action runs.
        let confirm = self.leadership.get().map(|l| l.confirm());
        tokio::spawn(async move {
            if let Some(intent) = intent {
                if let Err(e) = intent.await {
                    warn!(target: "3rc", "intent of #{} not journaled ({e}); running it anyway", action.id);
                }
            }
            let outcome = match confirm {
                Some(c) => match c.await {
                    Ok(()) => ops::execute(&ctx, &action).await,
                    Err(e) => crate::core::Outcome::Failed(format!("not run: this supervisor's leadership: {e}")),
                },
                None => ops::execute(&ctx, &action).await,
            };
            if let Some(j) = &journal {
                j.outcome(action.id, &outcome);
            }
            let _ = done.send((action.id, outcome));
        });
    }

    /// Publish a snapshot, with the reported step of each operation under way.
    fn publish(&self) {
        if self.snapshots.receiver_count() == 0 {
            return;
        }
        self.snapshots.send_replace(Arc::new(self.view()));
    }

    /// The engine's snapshot with the reported step of each operation under way.
    fn view(&self) -> ClusterView {
        let mut view = self.engine.snapshot();
        view.deliveries = self.deliveries.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        view.ha = self.leadership.get().map(|l| crate::core::HaView {
            name: l.name().to_string(),
            leads: self.leading == Some(true) && l.leads(),
            leader: l.leader(),
        });
        if !self.progress.is_empty() {
            let by_vm: std::collections::HashMap<&str, &crate::core::Progress> =
                self.progress.values().map(|(vm, p)| (vm.as_str(), p)).collect();
            for v in view.vms.iter_mut() {
                if let Some(p) = by_vm.get(v.name.as_str()) {
                    v.progress = Some((*p).clone());
                }
            }
        }
        view
    }

    /// The engine, for tests and benchmarks that drive cycles by hand.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

fn log_event(ev: &Event) {
    match &ev.kind {
        EventKind::Alarm { severity: Severity::Critical, .. } => error!(target: "3rc", "{ev}"),
        EventKind::Alarm { .. } => warn!(target: "3rc", "{ev}"),
        EventKind::ActionFinished { outcome: Outcome::Failed(_) | Outcome::StartFailed(_), .. } => {
            warn!(target: "3rc", "{ev}")
        }
        _ => info!(target: "3rc", "{ev}"),
    }
}

/// Receive from an optional bounded channel; pending forever when there is none.
async fn recv_opt_bounded<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Receive from an optional channel; pending forever when there is none.
async fn recv_opt<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
