//! The supervisor: observe -> decide -> act, at a fixed interval, as one tokio task.
//!
//! Architecture invariant: this is the only place where the core's decisions become side
//! effects. It probes every host through its worker (one bulk call per host), feeds the
//! observations to the pure engine, journals the events, and hands each action to `ops`, whose
//! outcome comes back into the engine. Operator commands arrive on a channel; snapshots and
//! events go out on channels. It never blocks: hypervisor calls run on host workers, fence
//! agents and disk writes on blocking threads, all with timeouts.

pub mod clock;
pub mod inventory;
pub mod seams;
pub mod worker;

use crate::core::{
    Action, ActionId, ClusterSpec, ClusterView, Command, Engine, Event, EventKind, HostObservation, Outcome, Output,
    Severity, VmState,
};
use crate::ops::{self, ExecCtx};
use crate::store::Journal;
use clock::Clock;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::{error, info, warn};

/// Loop settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Time between two cycles.
    pub interval: Duration,
    /// How long a host probe may take before it counts as failed.
    pub probe_timeout: Duration,
    /// Domain XML reads per cycle for the inventory (spreads the start-up cost on big clusters).
    pub xml_reads_per_cycle: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { interval: Duration::from_secs(1), probe_timeout: Duration::from_secs(3), xml_reads_per_cycle: 32 }
    }
}

/// An operator command on its way in, with where to send the verdict.
pub struct CommandRequest {
    pub origin: String,
    pub command: Command,
    pub reply: Option<oneshot::Sender<Result<(), String>>>,
}

/// How the rest of the program talks to a running supervisor.
#[derive(Clone)]
pub struct SupervisorHandle {
    inventory: Arc<inventory::Inventory>,
    commands: mpsc::UnboundedSender<CommandRequest>,
    snapshots: watch::Receiver<Arc<ClusterView>>,
    events: broadcast::Sender<Event>,
}

impl SupervisorHandle {
    /// Send a command and wait for the engine's verdict (accepted, or refused and why).
    pub async fn command(&self, origin: &str, command: Command) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        let req = CommandRequest { origin: origin.to_string(), command, reply: Some(tx) };
        self.commands.send(req).map_err(|_| "the supervisor has stopped".to_string())?;
        rx.await.map_err(|_| "the supervisor has stopped".to_string())?
    }

    pub fn snapshots(&self) -> watch::Receiver<Arc<ClusterView>> {
        self.snapshots.clone()
    }

    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// How many VM definitions the inventory holds (a VM can be recovered elsewhere only once
    /// its definition has been read).
    pub fn inventory_len(&self) -> usize {
        self.inventory.len()
    }
}

pub struct Supervisor {
    engine: Engine,
    ctx: ExecCtx,
    settings: Settings,
    clock: Arc<dyn Clock>,
    journal: Option<Journal>,
    snapshots: watch::Sender<Arc<ClusterView>>,
    events: broadcast::Sender<Event>,
    commands: mpsc::UnboundedReceiver<CommandRequest>,
    done_tx: mpsc::UnboundedSender<(ActionId, Outcome)>,
    done_rx: mpsc::UnboundedReceiver<(ActionId, Outcome)>,
    reading_xml: Arc<Mutex<HashSet<String>>>,
    cycles: u64,
}

impl Supervisor {
    pub fn new(
        spec: ClusterSpec,
        ctx: ExecCtx,
        settings: Settings,
        clock: Arc<dyn Clock>,
        journal: Option<Journal>,
    ) -> (Supervisor, SupervisorHandle) {
        let mut engine = Engine::new(spec, clock.now());
        // VMs on hosts that do not answer at start-up are known only by their inventory
        // definition: give the engine their sizes so it never places them as size zero.
        for vm in engine.vm_placements().map(|p| p.0.to_string()).collect::<Vec<_>>() {
            if let Some((vcpus, mem)) = ctx.inventory.get(&vm).and_then(|e| inventory::domain_size(&e.xml)) {
                engine.learn_size(&vm, vcpus, mem);
            }
        }
        let (snap_tx, snap_rx) = watch::channel(Arc::new(engine.snapshot()));
        let (events, _) = broadcast::channel(4096);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let handle = SupervisorHandle {
            inventory: ctx.inventory.clone(),
            commands: cmd_tx,
            snapshots: snap_rx,
            events: events.clone(),
        };
        let sup = Supervisor {
            engine,
            ctx,
            settings,
            clock,
            journal,
            snapshots: snap_tx,
            events,
            commands: cmd_rx,
            done_tx,
            done_rx,
            reading_xml: Arc::new(Mutex::new(HashSet::new())),
            cycles: 0,
        };
        (sup, handle)
    }

    /// Run until `shutdown` completes. Actions under way are left to finish on their own.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let mut ticker = tokio::time::interval(self.settings.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        info!(target: "3rc", "supervising {} hosts every {}", self.ctx.hosts.len(), crate::core::time::human(self.settings.interval));
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = ticker.tick() => self.cycle().await,
                Some((id, outcome)) = self.done_rx.recv() => self.finished(id, outcome),
                Some(req) = self.commands.recv() => self.command(req),
            }
        }
        info!(target: "3rc", "supervisor stopped after {} cycles", self.cycles);
    }

    /// One cycle: probe every host at once, decide, act, publish.
    pub async fn cycle(&mut self) {
        let timeout = self.settings.probe_timeout;
        let probes: Vec<_> = self
            .ctx
            .hosts
            .values()
            .map(|h| {
                let h = h.clone();
                tokio::spawn(async move {
                    let result = h.probe(timeout).await.map_err(|e| e.to_string());
                    HostObservation { host: h.name.clone(), result }
                })
            })
            .collect();
        let mut observations = Vec::with_capacity(probes.len());
        for p in probes {
            match p.await {
                Ok(o) => observations.push(o),
                Err(e) => error!(target: "3rc", "probe task failed: {e}"),
            }
        }
        let now = self.clock.now();
        let out = self.engine.observe(now, &observations);
        self.cycles += 1;
        self.apply(out);
        self.read_inventory();
        self.publish();
    }

    /// Feed an action's outcome to the engine.
    fn finished(&mut self, id: ActionId, outcome: Outcome) {
        let out = self.engine.outcome(self.clock.now(), id, outcome);
        self.apply(out);
        self.publish();
    }

    fn command(&mut self, req: CommandRequest) {
        let verdict = match self.engine.command(self.clock.now(), &req.origin, &req.command) {
            Ok(out) => {
                self.apply(out);
                self.publish();
                Ok(())
            }
            Err(e) => {
                warn!(target: "3rc", "command {} by {} refused: {e}", req.command, req.origin);
                Err(e)
            }
        };
        if let Some(reply) = req.reply {
            let _ = reply.send(verdict);
        }
    }

    /// Journal and log the events, then start the actions (journaled first, by their event).
    fn apply(&mut self, out: Output) {
        for ev in &out.events {
            log_event(ev);
            if let Some(j) = &self.journal {
                j.record(ev);
            }
            let _ = self.events.send(ev.clone());
        }
        for action in out.actions {
            self.spawn_action(action);
        }
    }

    fn spawn_action(&self, action: Action) {
        let ctx = self.ctx.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let outcome = ops::execute(&ctx, &action).await;
            let _ = done.send((action.id, outcome));
        });
    }

    /// Read the domain XML of protected VMs that run where the inventory does not know them.
    fn read_inventory(&self) {
        let mut budget = self.settings.xml_reads_per_cycle;
        for (vm, state, host, answered) in self.engine.vm_placements() {
            if budget == 0 {
                break;
            }
            let Some(host) = host else { continue };
            if !answered || state.is_busy() || matches!(state, VmState::AwaitingFence | VmState::Pending) {
                continue;
            }
            if self.ctx.inventory.is_at(vm, host) {
                continue;
            }
            let mut reading = self.reading_xml.lock().unwrap_or_else(|e| e.into_inner());
            if !reading.insert(vm.to_string()) {
                continue;
            }
            budget -= 1;
            let (ctx, vm, host, reading) =
                (self.ctx.clone(), vm.to_string(), host.to_string(), self.reading_xml.clone());
            tokio::spawn(async move {
                let name = vm.clone();
                match ops::on(&ctx, &host, "domain_xml", move |hv| hv.domain_xml(&name)).await {
                    Ok(xml) => {
                        let (v, h) = (vm.clone(), host.clone());
                        ops::relocate::persist(&ctx, move |inv| inv.put(&v, &h, xml)).await;
                    }
                    Err(e) => {
                        warn!(target: "3rc", "cannot read the definition of {vm} on {host}: {e}")
                    }
                }
                reading.lock().unwrap_or_else(|e| e.into_inner()).remove(&vm);
            });
        }
    }

    fn publish(&self) {
        self.snapshots.send_replace(Arc::new(self.engine.snapshot()));
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
        EventKind::ActionFinished { outcome: Outcome::Failed(_), .. } => warn!(target: "3rc", "{ev}"),
        _ => info!(target: "3rc", "{ev}"),
    }
}
