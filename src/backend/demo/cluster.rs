//! The demo cluster: every host's power state and its inner hypervisor, shared between the
//! supervisor's `FaultyHost` wrappers, the demo fencer and the fault injector.
//!
//! Power states model what an HA supervisor must cope with:
//! - `On`: reachable, delegates to the inner hypervisor.
//! - `Failed`: the connection fails but the VMs keep running (network cut, dead daemon). The
//!   split-brain trap: starting those VMs elsewhere now would run them twice.
//! - `Off`: powered off (fenced): nothing of this host runs any more.

use super::faulty::FaultyHost;
use crate::backend::libvirt::LibvirtHost;
use crate::core::HostSpec;
use crate::hv::{Connector, HvError, Hypervisor};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The hosts one supervisor's links to are cut (its vantage point: the hosts still run, and
/// other supervisors reach them).
pub type Cuts = Arc<Mutex<std::collections::BTreeSet<String>>>;

/// A hypervisor shared by the supervisor's wrapper and the fault injection.
pub type SharedHypervisor = Arc<Mutex<Box<dyn Hypervisor>>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    On,
    /// Unreachable, but its VMs keep running.
    Failed,
    Off,
}

impl fmt::Display for Power {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Power::On => "on",
            Power::Failed => "failed (unreachable, VMs still running)",
            Power::Off => "off",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DemoError {
    #[error("no demo host named {0}")]
    UnknownHost(String),
    #[error("{0} is powered off")]
    HostOff(String),
    #[error("{vm} is not running on {host}")]
    NotRunning { host: String, vm: String },
    #[error("{host}: {source}")]
    Hypervisor { host: String, source: HvError },
}

pub(super) struct DemoHost {
    pub name: String,
    power: Mutex<Power>,
    pub hv: SharedHypervisor,
}

impl DemoHost {
    pub(super) fn power(&self) -> Power {
        *lock(&self.power)
    }

    fn set_power(&self, p: Power) {
        *lock(&self.power) = p;
    }
}

/// A poisoned lock only means another thread panicked while holding it; the data (a power state,
/// a hypervisor handle) is still usable, and the demo must not cascade that panic.
pub(super) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The demo's hosts, in configuration order. Share it as `Arc<DemoCluster>`.
pub struct DemoCluster {
    hosts: Vec<DemoHost>,
    /// Simulated boot time of a VM start, in ms (0 in tests).
    start_ms: AtomicU64,
    /// Simulated time a power-off takes at the BMC, in ms (0 in tests).
    fence_ms: AtomicU64,
}

impl DemoCluster {
    /// Hosts with their inner hypervisors; all start `On`.
    pub fn new(hosts: Vec<(String, Box<dyn Hypervisor>)>) -> Arc<Self> {
        let hosts = hosts
            .into_iter()
            .map(|(name, hv)| DemoHost { name, power: Mutex::new(Power::On), hv: Arc::new(Mutex::new(hv)) })
            .collect();
        Arc::new(DemoCluster { hosts, start_ms: AtomicU64::new(0), fence_ms: AtomicU64::new(0) })
    }

    /// One `LibvirtHost` per configured host (the demo's test-driver URIs). Connects lazily.
    pub fn from_specs(specs: &[HostSpec]) -> Arc<Self> {
        Self::new(
            specs
                .iter()
                .map(|s| (s.name.clone(), Box::new(LibvirtHost::new(s.uri.clone())) as Box<dyn Hypervisor>))
                .collect(),
        )
    }

    /// Make VM starts and fence power-offs take time, as on real hardware, so that the demo's
    /// states (Restarting, Fencing, Relocating) stay on screen long enough to be seen.
    pub fn set_latency(&self, start: Duration, fence: Duration) {
        self.start_ms.store(start.as_millis() as u64, Ordering::Relaxed);
        self.fence_ms.store(fence.as_millis() as u64, Ordering::Relaxed);
    }

    pub(crate) fn start_latency(&self) -> Duration {
        Duration::from_millis(self.start_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn fence_latency(&self) -> Duration {
        Duration::from_millis(self.fence_ms.load(Ordering::Relaxed))
    }

    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name.clone()).collect()
    }

    pub(super) fn hosts(&self) -> &[DemoHost] {
        &self.hosts
    }

    pub(super) fn index(&self, host: &str) -> Result<usize, DemoError> {
        self.hosts.iter().position(|h| h.name == host).ok_or_else(|| DemoError::UnknownHost(host.to_string()))
    }

    fn host(&self, host: &str) -> Result<&DemoHost, DemoError> {
        self.index(host).map(|i| &self.hosts[i])
    }

    pub fn power(&self, host: &str) -> Result<Power, DemoError> {
        Ok(self.host(host)?.power())
    }

    /// The `Hypervisor` the supervisor should use for `host`: faults apply to it.
    pub fn hypervisor(self: &Arc<Self>, host: &str) -> Result<FaultyHost, DemoError> {
        Ok(FaultyHost::new(Arc::clone(self), self.index(host)?, None))
    }

    /// A connector for the supervisor: `FaultyHost` for demo hosts; a host not in the demo
    /// cluster gets a plain `LibvirtHost` on its URI (with a warning), so nothing is silently lost.
    pub fn connector(self: &Arc<Self>) -> Box<Connector> {
        self.connector_from(None)
    }

    /// A connector for one of several supervisors, whose links to the hosts named in `cut` are
    /// down while that set names them.
    pub fn connector_from(self: &Arc<Self>, cut: Option<Cuts>) -> Box<Connector> {
        let cluster = Arc::clone(self);
        Box::new(move |spec: &HostSpec| match cluster.index(&spec.name) {
            Ok(i) => Box::new(FaultyHost::new(Arc::clone(&cluster), i, cut.clone())) as Box<dyn Hypervisor>,
            Err(e) => {
                tracing::warn!(target: "demo", "{e}: no fault injection for it");
                Box::new(LibvirtHost::new(spec.uri.clone()))
            }
        })
    }

    /// Names of the domains actually running on `host`, whatever its power state says about
    /// reachability (the ground truth a split-brain check needs).
    pub fn running_domains(&self, host: &str) -> Result<Vec<String>, DemoError> {
        let h = self.host(host)?;
        let mut hv = lock(&h.hv);
        active_domains(h, hv.as_mut())
    }

    /// Cut the host off: every call through its `FaultyHost` now answers `Unreachable`, while
    /// its VMs keep running. Idempotent; a powered-off host cannot fail.
    pub fn fail_host(&self, host: &str) -> Result<(), DemoError> {
        let h = self.host(host)?;
        let mut power = lock(&h.power);
        match *power {
            Power::Off => Err(DemoError::HostOff(host.to_string())),
            _ => {
                *power = Power::Failed;
                Ok(())
            }
        }
    }

    /// Kill one running VM (hard power-off through the inner hypervisor): the supervisor then
    /// sees it shut off. Allowed on a failed host too (its VMs still run); not on an off one.
    pub fn crash_vm(&self, host: &str, vm: &str) -> Result<(), DemoError> {
        let h = self.host(host)?;
        let mut hv = lock(&h.hv);
        if h.power() == Power::Off {
            return Err(DemoError::HostOff(host.to_string()));
        }
        if !active_domains(h, hv.as_mut())?.iter().any(|d| d == vm) {
            return Err(DemoError::NotRunning { host: host.to_string(), vm: vm.to_string() });
        }
        hv.destroy(vm).map_err(|source| DemoError::Hypervisor { host: host.to_string(), source })
    }

    /// Power the host off: destroy every active domain, then mark it `Off`, all under the
    /// hypervisor lock so no call slips in between. If a domain cannot be destroyed the host
    /// stays as it was and the error is returned: a fence must never claim a success that would
    /// let a VM run twice. Idempotent.
    pub fn power_off(&self, host: &str) -> Result<(), DemoError> {
        let h = self.host(host)?;
        let mut hv = lock(&h.hv);
        for vm in active_domains(h, hv.as_mut())? {
            hv.destroy(&vm).map_err(|source| DemoError::Hypervisor { host: host.to_string(), source })?;
        }
        h.set_power(Power::Off);
        Ok(())
    }

    /// Power the host back on (or, for a failed host, restore its connection). After a power
    /// off its VMs are still defined but shut off, as on a crashed host that comes back.
    /// Idempotent.
    pub fn power_on(&self, host: &str) -> Result<(), DemoError> {
        let h = self.host(host)?;
        let _hv = lock(&h.hv);
        h.set_power(Power::On);
        Ok(())
    }
}

fn active_domains(h: &DemoHost, hv: &mut dyn Hypervisor) -> Result<Vec<String>, DemoError> {
    let probe = hv.probe().map_err(|source| DemoError::Hypervisor { host: h.name.clone(), source })?;
    Ok(probe.domains.into_iter().filter(|d| d.state.is_active()).map(|d| d.name).collect())
}
