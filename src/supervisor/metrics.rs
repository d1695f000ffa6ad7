//! Metrics for Prometheus: `[metrics] listen = "127.0.0.1:9633"` serves `GET /metrics` in the
//! OpenMetrics text format (encoded by `prometheus-client`), for dashboards and alert rules.
//!
//! Two kinds of figures. What the cluster looks like now is read off a snapshot at each scrape:
//! one series per host and per VM with its current state (value 1; the states a VM is not in
//! are left out, so 20,000 VMs make 20,000 series, not 300,000), the number of VMs in each state,
//! alarms not acknowledged by severity, the quorum's votes, the last cycle's duration, each
//! host's last probe duration, the alert targets failing now. What
//! happened since the start is counted from the supervisor's events as they come: actions by
//! kind and outcome, fences by result and their durations, alarms raised, and how long each
//! phase of a host's failure took (detection, fence, the start of each of its VMs elsewhere), and how
//! long the journal's writes took. Scrapes never touch the supervision loop beyond one snapshot.

use super::SupervisorHandle;
use crate::core::{ClusterView, Event, EventKind, Outcome, Severity, VmState};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn};

type Labels = Vec<(&'static str, String)>;

/// How long a recovery or a fence took: from seconds to ten minutes.
fn duration_buckets() -> impl Iterator<Item = f64> {
    [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0].into_iter()
}

/// The counters and histograms, fed from the events.
#[derive(Clone)]
pub struct Metrics {
    handle: SupervisorHandle,
    actions: Family<Labels, Counter>,
    fences: Family<Labels, Counter>,
    fence_seconds: Family<Labels, Histogram>,
    alarms_raised: Family<Labels, Counter>,
    recovery_seconds: Family<Labels, Histogram>,
    /// How long each write of the journal took (a batch, committed and on disk).
    journal_write_seconds: Histogram,
    under_way: Arc<Mutex<HashMap<u64, UnderWay>>>,
    /// When each phase of a recovery began (ms of the engine's clock): a host's first failed
    /// probe (`Suspect`) and its `Down`, a VM's start elsewhere (`Relocating`).
    began: Arc<Mutex<HashMap<(Phase, String), u64>>>,
}

/// An action under way: its kind and, for a fence, its host; when it was decided (ms).
struct UnderWay {
    kind: String,
    fence_of: Option<String>,
    decided: u64,
}

/// The phases of a host's failure, each with its own histogram: detection (its first failed
/// probe to `Down`), fence (`Down` to `Fenced`), start (a VM's `Relocating` to running again).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Phase {
    Detection,
    Fence,
    Start,
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::Detection => "detection",
            Phase::Fence => "fence",
            Phase::Start => "start",
        }
    }
}

impl Metrics {
    /// Start counting the supervisor's events.
    pub fn start(handle: &SupervisorHandle) -> Metrics {
        let hist = || Histogram::new(duration_buckets());
        let m = Metrics {
            handle: handle.clone(),
            actions: Family::default(),
            fences: Family::default(),
            fence_seconds: Family::new_with_constructor(hist),
            alarms_raised: Family::default(),
            recovery_seconds: Family::new_with_constructor(hist),
            journal_write_seconds: Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            under_way: Arc::default(),
            began: Arc::default(),
        };
        if let Some(j) = handle.journal() {
            let h = m.journal_write_seconds.clone();
            j.on_write(Box::new(move |took| h.observe(took.as_secs_f64())));
        }
        let mut events = handle.events();
        let me = m.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(ev) => me.count(&ev),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        warn!(target: "3rc::metrics", "{n} events were not counted (the metrics fell behind)")
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        m
    }

    fn count(&self, ev: &Event) {
        let at = ev.at.millis();
        match &ev.kind {
            EventKind::ActionDecided { id, action, .. } => {
                let kind = action.split_whitespace().next().unwrap_or("unknown").to_string();
                let host = (kind == "fence").then(|| action.split_whitespace().nth(1).unwrap_or("").to_string());
                lock(&self.under_way).insert(*id, UnderWay { kind, fence_of: host, decided: at });
            }
            EventKind::ActionFinished { id, outcome } => {
                let Some(UnderWay { kind, fence_of: host, decided }) = lock(&self.under_way).remove(id) else { return };
                let result = match outcome {
                    Outcome::Done => "done",
                    Outcome::Failed(_) => "failed",
                    Outcome::StartFailed(_) => "start_failed",
                    Outcome::Unsupported(_) => "unsupported",
                };
                self.actions.get_or_create(&vec![("kind", kind), ("outcome", result.into())]).inc();
                if let Some(host) = host {
                    let labels = vec![("host", host), ("result", result.into())];
                    self.fences.get_or_create(&labels).inc();
                    let took = at.saturating_sub(decided) as f64 / 1000.0;
                    self.fence_seconds.get_or_create(&vec![("result", result.into())]).observe(took);
                }
            }
            EventKind::Alarm { severity, .. } => {
                self.alarms_raised.get_or_create(&vec![("severity", severity_label(*severity).into())]).inc();
            }
            EventKind::HostTransition { from, to } => {
                let crate::core::Subject::Host(host) = &ev.subject else { return };
                use crate::core::HostState as H;
                match (from, to) {
                    (H::Online, H::Suspect) => self.begin(Phase::Detection, host, at),
                    (_, H::Down) => {
                        self.end(Phase::Detection, host, at);
                        self.begin(Phase::Fence, host, at);
                    }
                    (_, H::Fenced) => self.end(Phase::Fence, host, at),
                    (_, H::Online) => self.forget(host),
                    _ => {}
                }
            }
            EventKind::VmTransition { from, to } => {
                let crate::core::Subject::Vm(vm) = &ev.subject else { return };
                match (from, to) {
                    (VmState::AwaitingFence | VmState::Pending, VmState::Relocating) => {
                        self.begin(Phase::Start, vm, at)
                    }
                    (VmState::Relocating, VmState::Probation) => self.end(Phase::Start, vm, at),
                    (VmState::Relocating, _) => self.forget(vm),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn begin(&self, phase: Phase, subject: &str, at: u64) {
        lock(&self.began).insert((phase, subject.to_string()), at);
    }

    fn end(&self, phase: Phase, subject: &str, at: u64) {
        if let Some(since) = lock(&self.began).remove(&(phase, subject.to_string())) {
            let took = at.saturating_sub(since) as f64 / 1000.0;
            self.recovery_seconds.get_or_create(&vec![("phase", phase.label().into())]).observe(took);
        }
    }

    /// A host back online, or a VM whose start elsewhere ended otherwise: its phases are over.
    fn forget(&self, subject: &str) {
        lock(&self.began).retain(|(_, s), _| s != subject);
    }

    /// The page Prometheus scrapes: counters as they are, the cluster as it is now.
    pub async fn render(&self) -> Result<String, std::fmt::Error> {
        let view = self.handle.snapshot_now(Duration::from_secs(5)).await;
        let mut registry = Registry::with_prefix("threerc");
        self.now(&mut registry, &view, self.handle.last_cycle());
        registry.register("actions", "Actions finished, by kind and outcome", self.actions.clone());
        registry.register("fences", "Fences finished, by host and result", self.fences.clone());
        registry.register_with_unit(
            "fence_duration",
            "How long fences took, from the decision to the result",
            Unit::Seconds,
            self.fence_seconds.clone(),
        );
        registry.register("alarms_raised", "Alarms raised, by severity", self.alarms_raised.clone());
        registry.register_with_unit(
            "recovery_phase_duration",
            "A host failure's phases: detection (first failed probe to Down), fence (Down to Fenced), start (a VM's start elsewhere to running)",
            Unit::Seconds,
            self.recovery_seconds.clone(),
        );
        registry.register_with_unit(
            "journal_write_duration",
            "How long each write of the journal took (a batch of changes, committed and on disk)",
            Unit::Seconds,
            self.journal_write_seconds.clone(),
        );
        let mut out = String::new();
        encode(&mut out, &registry)?;
        Ok(out)
    }

    /// The figures read off the snapshot.
    fn now(&self, registry: &mut Registry, view: &ClusterView, last_cycle: Duration) {
        let hosts = Family::<Labels, Gauge>::default();
        for h in &view.hosts {
            for s in crate::core::HostState::ALL {
                let v = i64::from(h.state == s);
                hosts.get_or_create(&vec![("host", h.name.clone()), ("state", snake(s.label()))]).set(v);
            }
        }
        registry.register("host_state", "Each host's state: 1 for the state it is in (all states listed)", hosts);
        let vms = Family::<Labels, Gauge>::default();
        let by_state = Family::<Labels, Gauge>::default();
        for s in VmState::ALL {
            by_state.get_or_create(&vec![("state", snake(s.label()))]).set(0);
        }
        for v in &view.vms {
            let state = snake(v.state.label());
            let host = v.host.clone().unwrap_or_default();
            vms.get_or_create(&vec![("vm", v.name.clone()), ("host", host), ("state", state.clone())]).set(1);
            by_state.get_or_create(&vec![("state", state)]).inc();
        }
        registry.register("vm_state", "Each protected VM's state: one series, value 1, for the state it is in", vms);
        registry.register("vms", "Protected VMs in each state", by_state);
        let alarms = Family::<Labels, Gauge>::default();
        for s in [Severity::Info, Severity::Warning, Severity::Critical] {
            let n = view.alarms.iter().filter(|a| !a.acked && a.severity == s).count();
            alarms.get_or_create(&vec![("severity", severity_label(s).into())]).set(n as i64);
        }
        registry.register("alarms_active", "Alarms not acknowledged, by severity", alarms);
        let votes = Family::<Labels, Gauge>::default();
        votes.get_or_create(&vec![("reachable", "true".into())]).set(view.quorum.reachable.len() as i64);
        votes.get_or_create(&vec![("reachable", "false".into())]).set(view.quorum.unreachable.len() as i64);
        registry.register("quorum_votes", "The votes an automatic fence needs a majority of", votes);
        let held = Gauge::<i64, AtomicI64>::default();
        held.set(i64::from(view.quorum.held));
        registry.register("fencing_held", "1 while fencing is held for want of a quorum", held);
        let armed = Gauge::<i64, AtomicI64>::default();
        armed.set(i64::from(view.armed));
        registry.register("armed", "1 while HA is armed cluster-wide", armed);
        let probes = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        for (host, took) in self.handle.probe_durations() {
            probes.get_or_create(&vec![("host", host)]).set(took.as_secs_f64());
        }
        registry.register_with_unit(
            "host_probe_duration",
            "How long each host's last probe took (a timed-out probe: the probe timeout)",
            Unit::Seconds,
            probes,
        );
        let failing = Gauge::<i64, AtomicI64>::default();
        failing.set(view.deliveries.len() as i64);
        registry.register(
            "alert_targets_failing",
            "[[alert]] targets that cannot be reached now (what they miss waits, up to a bound)",
            failing,
        );
        // Several supervisors (`[ha]`): whether this one leads.
        if let Some((name, leads, _)) = self.handle.leadership() {
            let leader = Family::<Labels, Gauge>::default();
            leader.get_or_create(&vec![("name", name)]).set(i64::from(leads));
            registry.register("ha_leader", "With [ha]: 1 while this supervisor leads, 0 while it is a standby", leader);
        }
        let cycle = Gauge::<f64, AtomicU64>::default();
        cycle.set(last_cycle.as_secs_f64());
        registry.register_with_unit(
            "cycle_duration",
            "How long the last supervision cycle took (probes to snapshot)",
            Unit::Seconds,
            cycle,
        );
    }
}

use std::sync::atomic::AtomicI64;

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

/// A state's label as a label value: "AwaitingFence" -> "awaiting_fence".
fn snake(label: &str) -> String {
    let mut out = String::new();
    for (i, c) in label.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serve `GET /metrics` on `listen` from a thread of its own until the process ends.
pub fn serve(listen: std::net::SocketAddr, metrics: Metrics) -> anyhow::Result<std::net::SocketAddr> {
    let server = tiny_http::Server::http(listen).map_err(|e| anyhow::anyhow!("metrics on {listen}: {e}"))?;
    let addr = server.server_addr().to_ip().unwrap_or(listen);
    let rt = tokio::runtime::Handle::current();
    std::thread::Builder::new().name("3rc-metrics".into()).spawn(move || {
        for req in server.incoming_requests() {
            let (status, body, kind) = match (req.method(), req.url()) {
                (tiny_http::Method::Get, "/metrics") => match rt.block_on(metrics.render()) {
                    Ok(text) => (200, text, "application/openmetrics-text; version=1.0.0; charset=utf-8"),
                    Err(e) => (500, format!("encoding the metrics failed: {e}\n"), "text/plain"),
                },
                (tiny_http::Method::Get, "/") => (200, "3rc: the metrics are at /metrics\n".into(), "text/plain"),
                _ => (404, "not found: GET /metrics\n".into(), "text/plain"),
            };
            let header = tiny_http::Header::from_bytes("Content-Type", kind).expect("a valid header");
            let _ = req.respond(tiny_http::Response::from_string(body).with_status_code(status).with_header(header));
        }
    })?;
    info!(target: "3rc", "metrics on http://{addr}/metrics");
    Ok(addr)
}
