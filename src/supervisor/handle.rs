//! How the rest of the program talks to a running supervisor: commands in, snapshots and
//! events out, and what it knows that others read (the inventory, each host's last probe,
//! its liveness, the leadership).

use crate::core::{ClusterSpec, ClusterView, Command, Event, HostObservation};
use crate::store::Journal;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// An operator command on its way in, with where to send the verdict.
pub struct CommandRequest {
    pub origin: String,
    pub command: Command,
    pub reply: Option<oneshot::Sender<Answer>>,
}

/// The supervisor's answer to a command: refused (`Err`, why), or accepted — journaled
/// (`Ok(None)`), or in force but not kept across a restart because the journal cannot write
/// it (`Ok(Some(warning))`, for the person who gave it).
pub type Answer = Result<Option<String>, String>;

/// How the rest of the program talks to a running supervisor.
#[derive(Clone)]
pub struct SupervisorHandle {
    pub(super) inventory: Arc<crate::store::inventory::Inventory>,
    pub(super) spec: Arc<ClusterSpec>,
    /// Each host's last probe result, as the engine last judged it.
    pub(super) seen: Arc<Mutex<BTreeMap<String, HostObservation>>>,
    pub(super) commands: mpsc::UnboundedSender<CommandRequest>,
    pub(super) snapshots: Arc<watch::Sender<Arc<ClusterView>>>,
    pub(super) events: broadcast::Sender<Event>,
    /// Cycles the loop has finished: a liveness signal (the service's watchdog).
    pub(super) cycles_done: Arc<std::sync::atomic::AtomicU64>,
    /// How long the last cycle took, in microseconds (probes, decisions, publishing).
    pub(super) last_cycle: Arc<std::sync::atomic::AtomicU64>,
    /// Asks for a snapshot now (a console that attaches).
    pub(super) views: mpsc::UnboundedSender<oneshot::Sender<Arc<ClusterView>>>,
    /// The journal, if there is one (the undelivered notifications; its write latency).
    pub(super) journal: Option<Arc<Journal>>,
    /// How long each host's last probe took (started each cycle; not the re-probes).
    pub(super) probe_took: Arc<Mutex<BTreeMap<String, std::time::Duration>>>,
    /// The `[[alert]]` targets failing now, by target (shown in every snapshot).
    pub(super) deliveries: Arc<Mutex<BTreeMap<String, crate::core::DeliveryView>>>,
    /// The leadership among several supervisors (`[ha]`), if there are several.
    pub(super) leadership: Arc<std::sync::OnceLock<Arc<dyn crate::hv::Leadership>>>,
}

impl SupervisorHandle {
    /// The cluster as configured (and protected at run time, at start).
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// How many cycles the supervision loop has finished. It grows while the loop is alive; a
    /// loop stuck anywhere stops it (`app::service` feeds systemd's watchdog from it).
    pub fn cycles_done(&self) -> u64 {
        self.cycles_done.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How long the last finished cycle took, from its probes to its snapshot.
    pub fn last_cycle(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.last_cycle.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Send a command and wait for the engine's verdict (accepted, or refused and why).
    pub async fn command(&self, origin: &str, command: Command) -> Answer {
        let (tx, rx) = oneshot::channel();
        let req = CommandRequest { origin: origin.to_string(), command, reply: Some(tx) };
        self.commands.send(req).map_err(|_| "the supervisor has stopped".to_string())?;
        rx.await.map_err(|_| "the supervisor has stopped".to_string())?
    }

    /// Subscribe to snapshots. Snapshots are built only while someone is subscribed (a
    /// headless supervisor at scale spends nothing on views nobody reads); a new subscriber sees
    /// the last one at once and a fresh one after the next cycle.
    pub fn snapshots(&self) -> watch::Receiver<Arc<ClusterView>> {
        self.snapshots.subscribe()
    }

    /// A snapshot of the engine as it is now, built for the caller (the first frame of a
    /// console that attaches, without waiting for the next cycle). Subscribe to `snapshots`
    /// first to follow it with every later one. If the loop does not answer within `wait`, the
    /// last snapshot published.
    pub async fn snapshot_now(&self, wait: std::time::Duration) -> Arc<ClusterView> {
        let (tx, rx) = oneshot::channel();
        if self.views.send(tx).is_ok() {
            if let Ok(Ok(view)) = tokio::time::timeout(wait, rx).await {
                return view;
            }
        }
        let view = self.snapshots.borrow().clone();
        view
    }

    /// A snapshot no older than the next cycle (waits at most `wait` for it).
    pub async fn fresh_snapshot(&self, wait: std::time::Duration) -> Arc<ClusterView> {
        let mut rx = self.snapshots.subscribe();
        rx.borrow_and_update();
        let _ = tokio::time::timeout(wait, rx.changed()).await;
        let view = rx.borrow().clone();
        view
    }

    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// How many VM definitions the inventory holds (a VM can be recovered elsewhere only once
    /// its definition has been read).
    pub fn inventory_len(&self) -> usize {
        self.inventory.len()
    }

    /// The last known domain XML of a protected VM (`None` until the inventory has read it).
    pub fn domain_xml(&self, vm: &str) -> Option<String> {
        self.inventory.get(vm).map(|e| e.xml)
    }

    /// With `[ha]`: this instance's name, whether it leads, and who leads as it last saw.
    pub fn leadership(&self) -> Option<(String, bool, Option<String>)> {
        self.leadership.get().map(|l| (l.name().to_string(), l.leads(), l.leader()))
    }

    /// Whether this supervisor leads: always, without `[ha]`.
    pub fn leads(&self) -> bool {
        self.leadership.get().is_none_or(|l| l.leads())
    }

    /// Resolves once the supervisor has stopped (its loop ended): the tasks that serve it end
    /// with it.
    pub async fn stopped(&self) {
        self.commands.closed().await
    }

    /// The journal, if this supervisor has one.
    pub fn journal(&self) -> Option<Arc<Journal>> {
        self.journal.clone()
    }

    /// How long each host's last probe took.
    pub fn probe_durations(&self) -> BTreeMap<String, std::time::Duration> {
        self.probe_took.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// An `[[alert]]` target failing (`Some`) or answering again (`None`): shown in the next
    /// snapshots.
    pub fn set_delivery(&self, target: &str, failing: Option<crate::core::DeliveryView>) {
        let mut d = self.deliveries.lock().unwrap_or_else(|e| e.into_inner());
        match failing {
            Some(f) => d.insert(target.to_string(), f),
            None => d.remove(target),
        };
    }

    /// The cluster as configured and each host's last probe (what the console's what-if
    /// simulates from, without asking the hosts again).
    pub fn last_probes(&self) -> (ClusterSpec, Vec<HostObservation>) {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        ((*self.spec).clone(), seen.values().cloned().collect())
    }
}
