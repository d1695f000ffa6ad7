//! `FaultInjector`: makes the demo lively by injecting faults at random, from a seed.
//!
//! It runs on its own std thread (not a tokio task: every injection makes blocking hypervisor
//! calls). Every `period_min..=period_max` (default 15-25 s), while enabled, it mostly crashes a
//! random running protected VM; about one time in `host_failure_one_in` (default 4) it fails a
//! whole host instead, but only when every host is on, so never more than one host is down.
//! Independently, a host found powered off (fenced) is powered back on `power_on_after` (default
//! 20 s) later, so the console shows the host rejoining with its VMs shut off. Each injection is
//! logged as a `tracing` warning with target `demo` and kept in a short history.

use super::cluster::{lock, DemoCluster, Power};
use crate::backend::rng::XorShift;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How many past injections `FaultInjector::injections` keeps.
const HISTORY: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectorConfig {
    /// Same seed, same cluster, same sequence of faults.
    pub seed: u64,
    /// Protected VMs that may be crashed (unprotected ones are left alone).
    pub vms: Vec<String>,
    pub period_min: Duration,
    pub period_max: Duration,
    /// A host failure is chosen with probability 1/n (when every host is on). 0: never.
    pub host_failure_one_in: u32,
    /// Delay between noticing a host powered off and powering it back on.
    pub power_on_after: Duration,
    /// How often the thread looks for powered-off hosts (and for `stop`).
    pub poll: Duration,
}

impl InjectorConfig {
    /// The demo defaults: a fault every 15-25 s, one in four a host failure, fenced hosts back
    /// on after 20 s.
    pub fn new(seed: u64, vms: Vec<String>) -> Self {
        InjectorConfig {
            seed,
            vms,
            period_min: Duration::from_secs(15),
            period_max: Duration::from_secs(25),
            host_failure_one_in: 4,
            power_on_after: Duration::from_secs(20),
            poll: Duration::from_millis(250),
        }
    }
}

/// One thing the injector did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Injection {
    CrashVm { host: String, vm: String },
    FailHost { host: String },
    PowerOn { host: String },
}

impl fmt::Display for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Injection::CrashVm { host, vm } => write!(f, "crashed VM {vm} on {host}"),
            Injection::FailHost { host } => {
                write!(f, "failed host {host}: connection lost, its VMs keep running")
            }
            Injection::PowerOn { host } => {
                write!(f, "powered {host} back on (its VMs stay shut off)")
            }
        }
    }
}

/// The running injector. `stop` (or dropping it) ends the thread and waits for it.
pub struct FaultInjector {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    enabled: Arc<AtomicBool>,
    history: Arc<Mutex<Vec<Injection>>>,
}

impl FaultInjector {
    /// Start the injector thread. `enabled` is shared with the console, which toggles it; while
    /// it is false no fault is injected (fenced hosts are still powered back on).
    pub fn spawn(
        cluster: Arc<DemoCluster>,
        config: InjectorConfig,
        enabled: Arc<AtomicBool>,
    ) -> std::io::Result<FaultInjector> {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let history = Arc::new(Mutex::new(Vec::new()));
        let mut core = Core {
            rng: XorShift::new(config.seed),
            cluster,
            config,
            off_since: BTreeMap::new(),
            history: Arc::clone(&history),
        };
        let flag = Arc::clone(&enabled);
        let thread = std::thread::Builder::new().name("demo-faults".into()).spawn(move || {
            let mut next = Instant::now() + core.period();
            // Sleep one poll; a message or a dropped sender (stop) ends the thread at once.
            while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(core.config.poll) {
                let now = Instant::now();
                core.power_on_fenced(now);
                if now >= next {
                    if flag.load(Ordering::Relaxed) {
                        core.inject();
                    }
                    next = now + core.period();
                }
            }
        })?;
        Ok(FaultInjector { stop: Some(stop_tx), thread: Some(thread), enabled, history })
    }

    /// The flag the console toggles.
    pub fn enabled(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.enabled)
    }

    /// What was injected so far (the last 256), oldest first.
    pub fn injections(&self) -> Vec<Injection> {
        lock(&self.history).clone()
    }

    /// Stop the thread and wait for it (at most one poll period plus a running injection).
    /// Idempotent; dropping the injector does the same. The history stays readable.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            // An error only means the thread already ended.
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!(target: "demo", "the fault injector thread panicked");
            }
        }
    }
}

impl Drop for FaultInjector {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The injector's decisions; everything random comes from `rng`, in a fixed order.
struct Core {
    rng: XorShift,
    cluster: Arc<DemoCluster>,
    config: InjectorConfig,
    /// Hosts seen powered off, and since when.
    off_since: BTreeMap<String, Instant>,
    history: Arc<Mutex<Vec<Injection>>>,
}

impl Core {
    fn period(&mut self) -> Duration {
        self.rng.between(self.config.period_min, self.config.period_max)
    }

    fn record(&self, injection: Injection) {
        tracing::warn!(target: "demo", "fault injection: {injection}");
        let mut h = lock(&self.history);
        if h.len() >= HISTORY {
            h.remove(0);
        }
        h.push(injection);
    }

    /// Power a host back on once it has been off for `power_on_after`.
    fn power_on_fenced(&mut self, now: Instant) {
        for host in self.cluster.hosts() {
            if host.power() != Power::Off {
                self.off_since.remove(&host.name);
                continue;
            }
            let since = *self.off_since.entry(host.name.clone()).or_insert(now);
            if now.duration_since(since) < self.config.power_on_after {
                continue;
            }
            self.off_since.remove(&host.name);
            match self.cluster.power_on(&host.name) {
                Ok(()) => self.record(Injection::PowerOn { host: host.name.clone() }),
                Err(e) => {
                    tracing::warn!(target: "demo", "fault injection: cannot power {} on: {e}", host.name)
                }
            }
        }
    }

    /// One fault: a host failure (1 in n, only if every host is on) or a VM crash.
    fn inject(&mut self) {
        let hosts = self.cluster.hosts();
        let all_on = hosts.iter().all(|h| h.power() == Power::On);
        let roll = self.rng.below(self.config.host_failure_one_in as usize);
        if self.config.host_failure_one_in > 0 && roll == 0 && all_on && hosts.len() > 1 {
            let host = hosts[self.rng.below(hosts.len())].name.clone();
            match self.cluster.fail_host(&host) {
                Ok(()) => self.record(Injection::FailHost { host }),
                Err(e) => {
                    tracing::warn!(target: "demo", "fault injection: cannot fail {host}: {e}")
                }
            }
            return;
        }
        // Running protected VMs on reachable hosts, in host order then name order.
        let mut candidates = Vec::new();
        for host in hosts.iter().filter(|h| h.power() == Power::On) {
            match self.cluster.running_domains(&host.name) {
                Ok(mut vms) => {
                    vms.sort();
                    vms.retain(|vm| self.config.vms.contains(vm));
                    candidates.extend(vms.into_iter().map(|vm| (host.name.clone(), vm)));
                }
                Err(e) => {
                    tracing::debug!(target: "demo", "fault injection: skipping {}: {e}", host.name)
                }
            }
        }
        if candidates.is_empty() {
            tracing::debug!(target: "demo", "fault injection: no running protected VM to crash");
            return;
        }
        let (host, vm) = candidates.swap_remove(self.rng.below(candidates.len()));
        match self.cluster.crash_vm(&host, &vm) {
            Ok(()) => self.record(Injection::CrashVm { host, vm }),
            Err(e) => {
                tracing::warn!(target: "demo", "fault injection: cannot crash {vm} on {host}: {e}")
            }
        }
    }
}
