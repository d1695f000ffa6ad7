//! The simulated cluster: hosts with power, links, a libvirt daemon that may hang, storage
//! that may pause, and domains; fence agents that may fail, hang or answer "already off".
//! Everything lives in one `World` behind a mutex; `SimHost` and `SimFencer` (in `host.rs`) are
//! the seams' implementations over it. Time is the supervisor's own clock (tokio's, virtual under
//! `tokio::time::pause()`), so the sim and the supervisor never disagree on "now".
//!
//! The world also keeps the ground truth the safety properties check: every time a domain
//! becomes active it verifies that no other powered host runs the same VM, and every
//! destructive call (destroy, shutdown, undefine, volume delete, fence off) is recorded with its
//! time.

use super::host::{SimFencer, SimHost};
use crate::backend::rng::XorShift;
use crate::core::{DomState, Time};
use crate::hv::clock::Clock;
use crate::hv::HvError;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const MIB: u64 = 1024;

/// One domain defined on a simulated host.
#[derive(Clone, Debug, PartialEq)]
pub struct SimDom {
    pub state: DomState,
    pub vcpus: u32,
    pub memory_kib: u64,
    /// A slow start: the domain becomes `Running` at this time.
    pub boots_at: Option<Time>,
    /// Paused by a storage fault (resumes with the storage).
    pub io_paused: bool,
}

/// How a host's fence agent behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceMode {
    Works,
    /// The next N `off` calls fail.
    Fails(u32),
    /// Every call gets no answer (an immediate error, see `SimFencer`).
    Hangs,
    /// It lies: `status` says off whatever the power, `off` says done and does nothing.
    Lies,
    /// `off` is accepted, and the power goes off this many seconds later (`status` says on
    /// until then).
    Slow(u64),
    /// A slow `off` was accepted: the power goes off at this time (and which supervisor sent it).
    OffAt(Time, usize),
}

/// How a host's management daemon behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    Up,
    /// Not running: connections are refused (the host answers); a soft fence starts it.
    Down,
    /// Not running, and a soft fence cannot start it.
    Dead,
}

/// One simulated physical host.
#[derive(Clone, Debug)]
pub struct SimHostState {
    pub powered: bool,
    /// The management link: an unreachable host keeps running its VMs (split-brain trap).
    pub reachable: bool,
    /// libvirtd hangs: every call times out.
    pub hung: bool,
    /// libvirtd not running: every connection is refused while the host runs on.
    pub daemon: Daemon,
    pub storage_paused: bool,
    /// Probes lost, in percent.
    pub probe_loss: u32,
    pub cpus: u32,
    pub memory_kib: u64,
    pub domains: BTreeMap<String, SimDom>,
    pub fence: FenceMode,
    pub has_agent: bool,
    /// Storage pools and their volumes (none: the host cannot list storage).
    pub pools: BTreeMap<String, BTreeMap<String, SimVol>>,
}

/// One volume of a simulated storage pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimVol {
    pub capacity: u64,
    /// `pool/volume` of its backing store (an overlay).
    pub backing: Option<String>,
    /// Which write made it: a volume made anew has a new number.
    pub generation: u64,
}

/// Faults attached to one VM.
#[derive(Clone, Debug, Default)]
pub struct VmFaults {
    /// The next N starts fail.
    pub fail_starts: u32,
    /// The next N starts on a host fail, by host.
    pub fail_starts_on: std::collections::BTreeMap<String, u32>,
    /// The next start does not return in time; the domain boots after this long.
    pub slow_start: Option<Duration>,
    /// The next live migration fails midway.
    pub migrate_fail: Option<MigrateFail>,
    /// Its guest hangs (kernel panic, deadlock) while qemu runs on: no guest check answers.
    /// A start or a power-off of the domain ends it.
    pub guest_hung: bool,
    /// Its qemu guest agent does not answer (until `guest agent-ok`).
    pub agent_down: bool,
    /// Its service port is closed: TCP and HTTP checks are refused (until `guest port-opens`).
    pub port_closed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrateFail {
    /// The domain is left paused on the source, nothing on the destination.
    PausedOnSource,
    /// The domain keeps running on the source and is left defined (shut off) on the destination.
    DefinedOnBoth,
}

/// How long after a host stops failing from a supervisor a fence still counts that
/// supervisor as failing to reach it (its hysteresis, and a round of the views).
pub const FAILING_LAG: std::time::Duration = std::time::Duration::from_secs(3);

/// A destructive call the supervisor made on the sim (for property (d)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destructive {
    pub at: Time,
    pub host: String,
    /// `None` for a fence.
    pub vm: Option<String>,
    pub what: &'static str,
    /// Which supervisor made it (its vantage: 0 alone).
    pub by: usize,
    /// The supervisors (vantages) from which the host fails now or failed within
    /// [`FAILING_LAG`]: off, its link or daemon down, hung, or their own link to it down.
    pub failing_from: Vec<usize>,
}

pub struct World {
    pub hosts: BTreeMap<String, SimHostState>,
    pub vm_faults: BTreeMap<String, VmFaults>,
    pub violations: Vec<String>,
    pub destructive: Vec<Destructive>,
    /// Domain starts carried out, by VM (for property (c)).
    pub starts: BTreeMap<String, u32>,
    /// Some domain has a slow start under way (lets `settle` skip the scan otherwise).
    pub(super) booting: bool,
    /// Supervisors (by vantage: 0 alone) whose own link is down: they reach no host, fence
    /// device or witness, while the hosts and their VMs run on.
    pub isolated: std::collections::BTreeSet<usize>,
    /// (supervisor, host): that supervisor's link to that host is down, nobody else's.
    pub cut: std::collections::BTreeSet<(usize, String)>,
    /// How many supervisors look at this world (1 alone).
    pub vantages: usize,
    /// Supervisors killed (`kill -9`): whatever their tasks still try does nothing.
    pub dead: std::collections::BTreeSet<usize>,
    /// (supervisor, host) -> the last sample at which the host failed from it.
    pub failing_seen: BTreeMap<(usize, String), Time>,
    /// Quorum witnesses that are down (any other name answers).
    pub witnesses_down: std::collections::BTreeSet<String>,
    /// Where each supervisor (by vantage) asked each host's events to go: the simulator sends
    /// watchdog events only (polling sees everything else).
    pub(super) sinks: BTreeMap<(usize, String), crate::hv::HintSink>,
    pub(super) rng: XorShift,
    clock: Arc<dyn Clock>,
}

/// The shared simulated cluster.
#[derive(Clone)]
pub struct SimCluster {
    world: Arc<Mutex<World>>,
}

impl SimCluster {
    pub fn new(seed: u64, clock: Arc<dyn Clock>) -> SimCluster {
        let world = World {
            hosts: BTreeMap::new(),
            vm_faults: BTreeMap::new(),
            violations: Vec::new(),
            destructive: Vec::new(),
            starts: BTreeMap::new(),
            booting: false,
            isolated: Default::default(),
            cut: Default::default(),
            vantages: 1,
            dead: Default::default(),
            failing_seen: BTreeMap::new(),
            witnesses_down: Default::default(),
            sinks: BTreeMap::new(),
            rng: XorShift::new(seed),
            clock,
        };
        SimCluster { world: Arc::new(Mutex::new(world)) }
    }

    pub fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add_host(&self, name: &str, cpus: u32, memory_kib: u64, has_agent: bool) {
        self.lock().hosts.insert(
            name.into(),
            SimHostState {
                powered: true,
                reachable: true,
                hung: false,
                daemon: Daemon::Up,
                storage_paused: false,
                probe_loss: 0,
                cpus,
                memory_kib,
                domains: BTreeMap::new(),
                fence: FenceMode::Works,
                has_agent,
                pools: BTreeMap::new(),
            },
        );
    }

    /// Define a domain on `host`, running or shut off.
    pub fn add_vm(&self, host: &str, vm: &str, vcpus: u32, memory_kib: u64, running: bool) -> Result<(), String> {
        let mut w = self.lock();
        let h = w.hosts.get_mut(host).ok_or_else(|| format!("no host {host}"))?;
        let state = if running { DomState::Running } else { DomState::ShutOff };
        h.domains.insert(vm.into(), SimDom { state, vcpus, memory_kib, boots_at: None, io_paused: false });
        Ok(())
    }

    /// Give `host` a storage pool holding `volumes` (each 10 GiB).
    pub fn add_pool(&self, host: &str, pool: &str, volumes: &[String]) -> Result<(), String> {
        let mut w = self.lock();
        let h = w.hosts.get_mut(host).ok_or_else(|| format!("no host {host}"))?;
        let vols =
            volumes.iter().map(|v| (v.clone(), SimVol { capacity: 10 << 30, backing: None, generation: 0 })).collect();
        h.pools.insert(pool.into(), vols);
        Ok(())
    }

    /// `host` as supervisor `vantage` reaches it (0 alone).
    pub fn hypervisor(&self, vantage: usize, host: &str) -> SimHost {
        SimHost { world: self.world.clone(), host: host.into(), vantage }
    }

    pub fn fencer(&self, vantage: usize, host: &str) -> SimFencer {
        SimFencer { world: self.world.clone(), host: host.into(), vantage }
    }

    pub fn soft_fencer(&self, vantage: usize, host: &str) -> super::host::SimSoftFencer {
        super::host::SimSoftFencer { world: self.world.clone(), host: host.into(), vantage }
    }

    pub fn witness(&self, vantage: usize, name: &str) -> super::host::SimWitness {
        super::host::SimWitness { world: self.world.clone(), name: name.into(), vantage }
    }

    /// Ground truth: the hosts on which each VM is active (powered hosts only).
    pub fn active_placements(&self) -> BTreeMap<String, Vec<String>> {
        let mut w = self.lock();
        w.settle();
        w.active_placements()
    }
}

impl SimCluster {
    /// Ground truth per powered host: memory of its active domains, and its size (KiB).
    pub fn memory_use(&self) -> Vec<(String, u64, u64)> {
        let w = self.lock();
        w.hosts
            .iter()
            .filter(|(_, h)| h.powered)
            .map(|(n, h)| {
                let used = h.domains.values().filter(|d| d.state.is_active()).map(|d| d.memory_kib).sum();
                (n.clone(), used, h.memory_kib)
            })
            .collect()
    }
}

impl World {
    pub fn now(&self) -> Time {
        self.clock.now()
    }

    /// Finish slow starts whose time has come.
    pub fn settle(&mut self) {
        if !self.booting {
            return;
        }
        self.booting = false;
        let now = self.now();
        let mut booted = Vec::new();
        for (hname, h) in self.hosts.iter_mut() {
            for (vm, d) in h.domains.iter_mut() {
                if d.boots_at.is_some() {
                    self.booting = true;
                }
                if d.boots_at.is_some_and(|t| t <= now) {
                    d.boots_at = None;
                    if h.powered {
                        d.state = if h.storage_paused { DomState::IoPaused } else { DomState::Running };
                        d.io_paused = h.storage_paused;
                        booted.push((vm.clone(), hname.clone()));
                    }
                }
            }
        }
        for (vm, host) in booted {
            self.check_single(&vm, &host);
        }
    }

    pub fn active_placements(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (hname, h) in &self.hosts {
            if !h.powered {
                continue;
            }
            for (vm, d) in &h.domains {
                if d.state.is_active() {
                    out.entry(vm.clone()).or_default().push(hname.clone());
                }
            }
        }
        out
    }

    /// Property (a), checked at the moment a domain becomes active on `host`.
    pub(super) fn check_single(&mut self, vm: &str, host: &str) {
        let others: Vec<String> = self
            .hosts
            .iter()
            .filter(|(n, h)| n.as_str() != host && h.powered && h.domains.get(vm).is_some_and(|d| d.state.is_active()))
            .map(|(n, _)| n.clone())
            .collect();
        if !others.is_empty() {
            let now = self.now();
            self.violations.push(format!("{now} {vm} started on {host} while active on {}", others.join(", ")));
        }
    }

    pub(super) fn record(&mut self, by: usize, host: &str, vm: Option<&str>, what: &'static str) {
        let at = self.now();
        // Failing now, or at a sample of the last few seconds: what a supervisor sees lags the
        // truth by its hysteresis and a round of the views.
        let recently =
            |v: usize| self.failing_seen.get(&(v, host.to_string())).is_some_and(|t| at.since(*t) <= FAILING_LAG);
        let failing_from = (0..self.vantages).filter(|v| self.fails_from(*v, host) || recently(*v)).collect();
        self.destructive.push(Destructive { at, host: host.into(), vm: vm.map(String::from), what, by, failing_from });
    }

    /// Whether `host` fails from supervisor `vantage` now: off, its link or daemon down, hung,
    /// or that supervisor's own link to it down.
    pub fn fails_from(&self, vantage: usize, host: &str) -> bool {
        match self.hosts.get(host) {
            Some(h) if h.powered && h.reachable && !h.hung && h.daemon == Daemon::Up => !self.reaches(vantage, host),
            _ => true,
        }
    }

    /// Note which hosts fail from which supervisor now (the simulator calls it every virtual
    /// second, before the second's faults).
    pub fn sample_failing(&mut self) {
        let now = self.now();
        let failing: Vec<(usize, String)> = (0..self.vantages)
            .flat_map(|v| self.hosts.keys().map(move |h| (v, h.clone())))
            .filter(|(v, h)| self.fails_from(*v, h))
            .collect();
        for k in failing {
            self.failing_seen.insert(k, now);
        }
    }

    /// Whether supervisor `vantage` reaches `host`'s network now (its own link, and its link to
    /// that host; the host's own link and power are the host's).
    pub fn reaches(&self, vantage: usize, host: &str) -> bool {
        !self.dead.contains(&vantage)
            && !self.isolated.contains(&vantage)
            && !self.cut.contains(&(vantage, host.to_string()))
    }

    pub fn power_off(&mut self, host: &str) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.powered = false;
            for d in h.domains.values_mut() {
                d.state = DomState::ShutOff;
                d.boots_at = None;
                d.io_paused = false;
            }
        }
    }

    /// Power on: the daemon answers again; domains stay shut off (no autostart).
    pub fn power_on(&mut self, host: &str) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.powered = true;
            h.hung = false;
            h.storage_paused = false;
        }
    }

    pub fn set_storage(&mut self, host: &str, paused: bool) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.storage_paused = paused;
            for d in h.domains.values_mut() {
                // Storage back, qemu does not resume a guest it paused (nor does libvirt):
                // someone must (`Domains::resume`).
                if paused && d.state == DomState::Running {
                    d.state = DomState::IoPaused;
                    d.io_paused = true;
                }
            }
        }
    }

    /// The guest crashes (libvirt reports `crashed`).
    pub fn crash(&mut self, vm: &str) -> Result<String, String> {
        for (hname, h) in self.hosts.iter_mut() {
            if let Some(d) = h.domains.get_mut(vm) {
                if h.powered && d.state.is_active() {
                    d.state = DomState::Crashed;
                    d.io_paused = false;
                    return Ok(hname.clone());
                }
            }
        }
        Err(format!("{vm} is not running anywhere"))
    }

    /// A person acts outside 3RC: start the VM where it is defined (`to` = None), or on `to`
    /// (defining it there), removing it from its old host when `moving`. Not checked for double
    /// runs: the scenario asked for it.
    pub fn by_hand(&mut self, vm: &str, to: Option<&str>, moving: bool) -> Result<(), String> {
        let from = self.hosts.iter().find(|(_, h)| h.domains.contains_key(vm)).map(|(n, _)| n.clone());
        let from = from.ok_or_else(|| format!("{vm} is defined nowhere"))?;
        let mut dom = self.hosts[&from].domains[vm].clone();
        let target = to.unwrap_or(&from).to_string();
        if !self.hosts.get(&target).is_some_and(|h| h.powered) {
            return Err(format!("{target} is not powered"));
        }
        if moving {
            self.hosts.get_mut(&from).map(|h| h.domains.remove(vm));
        }
        dom.state = DomState::Running;
        dom.boots_at = None;
        dom.io_paused = false;
        self.host_mut(&target).domains.insert(vm.to_string(), dom);
        Ok(())
    }

    /// A VM's guest hangs and its watchdog device fires (action `none`: the guest stays hung,
    /// 3RC decides): the event goes to every supervisor that watches the host it runs on.
    /// Where it runs.
    pub fn watchdog(&mut self, vm: &str) -> Result<String, String> {
        let host = self
            .hosts
            .iter()
            .find(|(_, h)| h.powered && h.domains.get(vm).is_some_and(|d| d.state == DomState::Running))
            .map(|(n, _)| n.clone())
            .ok_or_else(|| format!("{vm} runs nowhere"))?;
        self.faults(vm).guest_hung = true;
        for ((_, h), sink) in &self.sinks {
            if *h == host {
                sink.watchdog(vm, "none");
            }
        }
        Ok(host)
    }

    pub fn faults(&mut self, vm: &str) -> &mut VmFaults {
        self.vm_faults.entry(vm.to_string()).or_default()
    }

    pub(super) fn gate(&self, vantage: usize, host: &str) -> Result<(), HvError> {
        if self.dead.contains(&vantage) {
            return Err(HvError::Unreachable(format!("{host}: the supervisor that asked is gone")));
        }
        let h = self.hosts.get(host).ok_or_else(|| HvError::Failed(format!("no host {host}")))?;
        if !h.powered {
            return Err(HvError::Unreachable(format!("{host}: no route to host")));
        }
        if !h.reachable {
            return Err(HvError::Unreachable(format!("{host}: connection timed out (link down)")));
        }
        if self.isolated.contains(&vantage) {
            return Err(HvError::Unreachable(format!("{host}: connection timed out (3RC's own link is down)")));
        }
        if !self.reaches(vantage, host) {
            return Err(HvError::Unreachable(format!(
                "{host}: connection timed out (this supervisor's link to it is down)"
            )));
        }
        if h.daemon != Daemon::Up {
            return Err(HvError::Refused(format!("{host}: connection refused (libvirtd is not running)")));
        }
        if h.hung {
            // A hung daemon: the call never returns. The simulator answers at once with the
            // timeout the worker's call timeout would give, so the run stays deterministic
            // (inline calls have no timeout of their own).
            return Err(HvError::Timeout(format!("{host}: libvirtd did not answer (hung)")));
        }
        Ok(())
    }

    pub(super) fn host_mut(&mut self, host: &str) -> &mut SimHostState {
        self.hosts.get_mut(host).expect("gate checked the host exists")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hv::clock::TokioClock;
    use crate::hv::{Domains, Fencer, PowerStatus};

    fn two_hosts() -> SimCluster {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let clock: Arc<dyn Clock> = rt.block_on(async { Arc::new(TokioClock::new()) as Arc<dyn Clock> });
        let sim = SimCluster::new(1, clock);
        sim.add_host("hv1", 8, 8 * 1024 * MIB, true);
        sim.add_host("hv2", 8, 8 * 1024 * MIB, true);
        sim.add_vm("hv1", "web1", 2, 1024 * MIB, true).unwrap();
        sim.add_vm("hv2", "web1", 2, 1024 * MIB, false).unwrap();
        sim
    }

    #[test]
    fn starting_a_vm_that_runs_elsewhere_is_recorded_as_a_violation() {
        let sim = two_hosts();
        sim.hypervisor(0, "hv2").start("web1").unwrap();
        assert_eq!(sim.lock().violations.len(), 1, "{:?}", sim.lock().violations);
        assert_eq!(sim.active_placements()["web1"], vec!["hv1".to_string(), "hv2".to_string()]);
    }

    #[test]
    fn a_supervisor_cut_from_a_host_cannot_reach_it_while_another_can() {
        let sim = two_hosts();
        sim.lock().vantages = 2;
        sim.lock().cut.insert((1, "hv1".to_string()));
        assert!(matches!(sim.hypervisor(1, "hv1").probe(), Err(HvError::Unreachable(_))));
        assert!(sim.hypervisor(0, "hv1").probe().is_ok());
        assert!(sim.hypervisor(1, "hv2").probe().is_ok());
        // A fence records who made it and from where the host failed (only from 1).
        sim.fencer(0, "hv1").off().unwrap();
        let d = sim.lock().destructive.last().cloned().unwrap();
        assert_eq!((d.by, d.failing_from), (0, vec![1]));
        sim.lock().isolated.insert(0);
        assert!(matches!(sim.hypervisor(0, "hv2").probe(), Err(HvError::Unreachable(_))));
        assert!(sim.hypervisor(1, "hv2").probe().is_ok());
    }

    #[test]
    fn an_isolated_host_keeps_running_and_only_a_fence_stops_it() {
        let sim = two_hosts();
        sim.lock().hosts.get_mut("hv1").unwrap().reachable = false;
        assert!(matches!(sim.hypervisor(0, "hv1").probe(), Err(HvError::Unreachable(_))));
        assert_eq!(sim.active_placements()["web1"], vec!["hv1".to_string()]);
        let fencer = sim.fencer(0, "hv1");
        assert_eq!(fencer.status(), Ok(PowerStatus::On));
        fencer.off().unwrap();
        assert_eq!(fencer.status(), Ok(PowerStatus::Off));
        assert!(!sim.active_placements().contains_key("web1"));
        // An agent asked to power off a host that is already off answers with an error.
        assert_eq!(fencer.off(), Err("already off".to_string()));
        sim.hypervisor(0, "hv2").start("web1").unwrap();
        assert!(sim.lock().violations.is_empty());
    }

    #[test]
    fn a_hung_daemon_times_out_and_a_failing_vm_fails_its_next_starts() {
        let sim = two_hosts();
        sim.lock().hosts.get_mut("hv2").unwrap().hung = true;
        assert!(matches!(sim.hypervisor(0, "hv2").probe(), Err(HvError::Timeout(_))));
        sim.lock().hosts.get_mut("hv2").unwrap().hung = false;
        sim.lock().faults("web1").fail_starts = 1;
        sim.hypervisor(0, "hv1").destroy("web1").unwrap();
        assert!(sim.hypervisor(0, "hv1").start("web1").is_err());
        sim.hypervisor(0, "hv1").start("web1").unwrap();
    }
}
