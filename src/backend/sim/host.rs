//! The seams over the simulated world: `SimHost` (a `Hypervisor`) and `SimFencer` (a `Fencer`),
//! so that the supervisor drives the simulator exactly as it drives libvirt and fence agents.

use super::world::*;
use crate::core::{Capacity, DomState, DomainObs, GuestCheck, HostProbe, PoolObs};
use crate::hv::{Domains, Fencer, HvError, MigrateTo, PowerStatus, Target, VolumeInfo, VolumeSource, Volumes};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub fn domain_xml_for(vm: &str, d: &SimDom) -> String {
    format!(
        "<domain type='kvm'><name>{vm}</name><vcpu>{}</vcpu><memory unit='KiB'>{}</memory></domain>",
        d.vcpus, d.memory_kib
    )
}

/// A definition the simulator can take: a name, vCPUs and memory.
fn parse_xml(xml: &str) -> Result<(String, u32, u64), HvError> {
    let bad = || HvError::Failed("XML error: cannot parse the domain definition".into());
    let d = crate::hv::xml::domain(xml).map_err(|_| bad())?;
    match d.name {
        Some(name) if d.vcpus > 0 && d.memory_kib > 0 => Ok((name, d.vcpus, d.memory_kib)),
        _ => Err(bad()),
    }
}

/// One simulated host behind the `Hypervisor` seam.
pub struct SimHost {
    pub(super) world: Arc<Mutex<World>>,
    pub(super) host: String,
    /// The supervisor that uses it (0 alone).
    pub(super) vantage: usize,
}

impl SimHost {
    fn w(&self) -> MutexGuard<'_, World> {
        let mut w = self.world.lock().unwrap_or_else(|e| e.into_inner());
        w.settle();
        w
    }
}

impl Domains for SimHost {
    fn probe(&mut self) -> Result<HostProbe, HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let loss = w.hosts[&self.host].probe_loss;
        if loss > 0 && (w.rng.below(100) as u32) < loss {
            return Err(HvError::Timeout(format!("{}: probe lost", self.host)));
        }
        let h = &w.hosts[&self.host];
        Ok(HostProbe {
            capacity: Capacity { cpus: h.cpus, memory_kib: h.memory_kib },
            domains: h
                .domains
                .iter()
                .map(|(n, d)| DomainObs { name: n.clone(), state: d.state, vcpus: d.vcpus, memory_kib: d.memory_kib })
                .collect(),
        })
    }

    fn domain_xml(&mut self, vm: &str) -> Result<String, HvError> {
        let w = self.w();
        w.gate(self.vantage, &self.host)?;
        let d = w.hosts[&self.host].domains.get(vm).ok_or_else(|| HvError::NoDomain(vm.into()))?;
        Ok(domain_xml_for(vm, d))
    }

    fn define(&mut self, xml: &str) -> Result<(), HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let (name, vcpus, memory_kib) = parse_xml(xml)?;
        let h = w.host_mut(&self.host);
        match h.domains.get_mut(&name) {
            Some(d) => {
                d.vcpus = vcpus;
                d.memory_kib = memory_kib;
            }
            None => {
                h.domains.insert(
                    name,
                    SimDom { state: DomState::ShutOff, vcpus, memory_kib, boots_at: None, io_paused: false },
                );
            }
        }
        Ok(())
    }

    fn undefine(&mut self, vm: &str) -> Result<(), HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let h = w.host_mut(&self.host);
        match h.domains.get(vm) {
            None => Err(HvError::NoDomain(vm.into())),
            Some(d) if d.state.is_active() || d.boots_at.is_some() => {
                Err(HvError::Failed(format!("cannot undefine {vm}: domain is running")))
            }
            Some(_) => {
                h.domains.remove(vm);
                w.record(self.vantage, &self.host.clone(), Some(vm), "undefine");
                Ok(())
            }
        }
    }

    fn start(&mut self, vm: &str) -> Result<(), HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let now = w.now();
        let storage = w.hosts[&self.host].storage_paused;
        match w.hosts[&self.host].domains.get(vm) {
            None => return Err(HvError::NoDomain(vm.into())),
            Some(d) if d.state.is_active() || d.boots_at.is_some() => {
                return Err(HvError::Failed(format!("Requested operation is not valid: {vm} is already running")))
            }
            Some(_) => {}
        }
        let f = w.faults(vm);
        let here = f.fail_starts_on.get_mut(&self.host).filter(|n| **n > 0);
        if let Some(n) = here {
            *n -= 1;
            let left = *n;
            return Err(HvError::Failed(format!(
                "internal error: process exited while connecting to monitor on {} ({left} more failures planned there)",
                self.host
            )));
        }
        if f.fail_starts > 0 {
            f.fail_starts -= 1;
            let left = f.fail_starts;
            return Err(HvError::Failed(format!(
                "internal error: qemu unexpectedly closed the monitor ({left} more failures planned)"
            )));
        }
        if let Some(delay) = f.slow_start.take() {
            let d = w.host_mut(&self.host).domains.get_mut(vm).expect("checked above");
            d.boots_at = Some(now.plus(delay));
            w.booting = true;
            // Like a hang: the call does not return in time, but the start goes on.
            return Err(HvError::Timeout(format!("start of {vm} did not return in time (still booting)")));
        }
        w.faults(vm).guest_hung = false;
        let d = w.host_mut(&self.host).domains.get_mut(vm).expect("checked above");
        d.state = if storage { DomState::IoPaused } else { DomState::Running };
        d.io_paused = storage;
        *w.starts.entry(vm.to_string()).or_default() += 1;
        w.check_single(vm, &self.host.clone());
        Ok(())
    }

    fn destroy(&mut self, vm: &str) -> Result<(), HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let host = self.host.clone();
        let d = w.host_mut(&host).domains.get_mut(vm).ok_or_else(|| HvError::NoDomain(vm.into()))?;
        let was_active = d.state.is_active() || d.boots_at.is_some();
        d.state = DomState::ShutOff;
        d.boots_at = None;
        d.io_paused = false;
        if was_active {
            w.faults(vm).guest_hung = false;
            w.record(self.vantage, &host, Some(vm), "destroy");
        }
        Ok(())
    }

    /// The simulated guest shuts down at once when asked.
    fn shutdown(&mut self, vm: &str) -> Result<(), HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let host = self.host.clone();
        let d = w.host_mut(&host).domains.get_mut(vm).ok_or_else(|| HvError::NoDomain(vm.into()))?;
        if d.state.is_active() {
            d.state = DomState::ShutOff;
            d.io_paused = false;
            w.record(self.vantage, &host, Some(vm), "shutdown");
        }
        Ok(())
    }

    fn resume(&mut self, vm: &str) -> Result<(), HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let host = self.host.clone();
        let storage = w.hosts[&host].storage_paused;
        let d = w.host_mut(&host).domains.get_mut(vm).ok_or_else(|| HvError::NoDomain(vm.into()))?;
        if !matches!(d.state, DomState::Paused | DomState::IoPaused) {
            return Err(HvError::Failed(format!("Requested operation is not valid: domain {vm} is not paused")));
        }
        // Storage still failing: qemu pauses it again at its next I/O.
        d.state = if storage { DomState::IoPaused } else { DomState::Running };
        d.io_paused = storage;
        Ok(())
    }

    fn migrate_live(&mut self, vm: &str, dest: &MigrateTo) -> Result<(), HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let to = dest.dest_uri.trim_start_matches("sim://").to_string();
        if w.gate(self.vantage, &to).is_err() {
            return Err(HvError::Failed(format!("unable to connect to the destination {to}")));
        }
        let src = self.host.clone();
        let d = match w.hosts[&src].domains.get(vm) {
            Some(d) if d.state.is_active() => d.clone(),
            Some(_) => return Err(HvError::Failed(format!("Requested operation is not valid: {vm} is not running"))),
            None => return Err(HvError::NoDomain(vm.into())),
        };
        match w.faults(vm).migrate_fail.take() {
            Some(MigrateFail::PausedOnSource) => {
                if let Some(s) = w.host_mut(&src).domains.get_mut(vm) {
                    s.state = DomState::Paused;
                }
                return Err(HvError::Failed(format!("migration of {vm} failed midway: domain paused on {src}")));
            }
            Some(MigrateFail::DefinedOnBoth) => {
                let copy = SimDom { state: DomState::ShutOff, boots_at: None, io_paused: false, ..d };
                w.host_mut(&to).domains.insert(vm.into(), copy);
                return Err(HvError::Failed(format!("migration of {vm} failed: left defined on {src} and {to}")));
            }
            None => {}
        }
        w.host_mut(&src).domains.remove(vm);
        let storage = w.hosts[&to].storage_paused;
        let state = if storage { DomState::IoPaused } else { DomState::Running };
        w.host_mut(&to).domains.insert(vm.into(), SimDom { state, io_paused: storage, boots_at: None, ..d });
        w.check_single(vm, &to);
        Ok(())
    }

    /// Guest checks answer at once (a check that would time out says so without the wait):
    /// a hung guest answers nothing, a stopped agent does not answer, a closed port refuses.
    fn guest_check(&mut self, vm: &str, check: &GuestCheck, timeout: Duration) -> Result<(), HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let running = w.hosts[&self.host].domains.get(vm).is_some_and(|d| d.state == DomState::Running);
        if !running {
            return Err(HvError::Failed(format!("{vm} is not running on {}", self.host)));
        }
        let f = w.faults(vm);
        let silent = || HvError::Timeout(format!("no answer in {}", crate::core::time::human(timeout)));
        match check {
            _ if f.guest_hung => Err(silent()),
            GuestCheck::Agent if f.agent_down => {
                Err(HvError::Failed("Guest agent is not responding: QEMU guest agent is not connected".into()))
            }
            GuestCheck::Tcp(_) | GuestCheck::Http(_) if f.port_closed => {
                Err(HvError::Failed("Connection refused (os error 111)".into()))
            }
            _ => Ok(()),
        }
    }

    /// Watchdog events only (everything else is seen by polling).
    fn watch(&mut self, sink: &crate::hv::HintSink) -> Result<(), HvError> {
        self.w().sinks.insert((self.vantage, self.host.clone()), sink.clone());
        Ok(())
    }

    fn storage(&mut self) -> Result<Vec<PoolObs>, HvError> {
        self.storage_()
    }
}

impl Volumes for SimHost {
    fn volume(&mut self, pool: &str, volume: &str) -> Result<Option<VolumeInfo>, HvError> {
        self.volume_(pool, volume)
    }

    fn create_volume(&mut self, pool: &str, name: &str, from: &VolumeSource) -> Result<(), HvError> {
        self.create_volume_(pool, name, from)
    }

    fn upload_volume(&mut self, pool: &str, name: &str, data: &[u8]) -> Result<(), HvError> {
        self.upload_volume_(pool, name, data)
    }

    fn delete_volume(&mut self, pool: &str, volume: &str) -> Result<(), HvError> {
        self.delete_volume_(pool, volume)
    }
}

impl Target for SimHost {}

impl SimHost {
    fn pool_mut<'a>(w: &'a mut World, host: &str, pool: &str) -> Result<&'a mut BTreeMap<String, SimVol>, HvError> {
        w.host_mut(host)
            .pools
            .get_mut(pool)
            .ok_or_else(|| HvError::Failed(format!("no storage pool named {pool} on this host")))
    }

    fn next_generation(w: &World) -> u64 {
        w.hosts
            .values()
            .flat_map(|h| h.pools.values())
            .flat_map(|p| p.values())
            .map(|v| v.generation)
            .max()
            .unwrap_or(0)
            + 1
    }

    fn storage_(&mut self) -> Result<Vec<PoolObs>, HvError> {
        let w = self.w();
        w.gate(self.vantage, &self.host)?;
        let h = &w.hosts[&self.host];
        if h.pools.is_empty() {
            return Err(HvError::Unsupported("storage pools".into()));
        }
        Ok(h.pools
            .iter()
            .map(|(p, vols)| {
                let mut volumes: Vec<String> =
                    vols.keys().flat_map(|v| [format!("/sim/{p}/{v}"), format!("{p}/{v}")]).collect();
                volumes.sort();
                PoolObs { name: p.clone(), active: true, volumes }
            })
            .collect())
    }

    fn volume_(&mut self, pool: &str, volume: &str) -> Result<Option<VolumeInfo>, HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let p = Self::pool_mut(&mut w, &self.host.clone(), pool)?;
        Ok(p.get(volume).map(|v| VolumeInfo {
            path: format!("/sim/{pool}/{volume}"),
            capacity: v.capacity,
            format: Some("qcow2".into()),
            backing: v.backing.as_ref().map(|b| format!("/sim/{b}")),
        }))
    }

    fn create_volume_(&mut self, pool: &str, name: &str, from: &VolumeSource) -> Result<(), HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let host = self.host.clone();
        let (sp, sv, overlay) = match from {
            VolumeSource::Overlay { pool, volume } => (pool, volume, true),
            VolumeSource::Clone { pool, volume } => (pool, volume, false),
        };
        let src = Self::pool_mut(&mut w, &host, sp)?.get(sv).cloned().ok_or_else(|| {
            HvError::Failed(format!("Storage volume not found: no storage vol with matching name '{sv}'"))
        })?;
        let generation = Self::next_generation(&w);
        let p = Self::pool_mut(&mut w, &host, pool)?;
        if p.contains_key(name) {
            return Err(HvError::Failed(format!("storage volume name '{name}' already in use")));
        }
        let backing = overlay.then(|| format!("{sp}/{sv}"));
        p.insert(name.into(), SimVol { capacity: src.capacity, backing, generation });
        Ok(())
    }

    fn upload_volume_(&mut self, pool: &str, name: &str, data: &[u8]) -> Result<(), HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let host = self.host.clone();
        let generation = Self::next_generation(&w);
        let p = Self::pool_mut(&mut w, &host, pool)?;
        if p.contains_key(name) {
            return Err(HvError::Failed(format!("storage volume name '{name}' already in use")));
        }
        p.insert(name.into(), SimVol { capacity: data.len() as u64, backing: None, generation });
        Ok(())
    }

    fn delete_volume_(&mut self, pool: &str, volume: &str) -> Result<(), HvError> {
        let mut w = self.w();
        w.gate(self.vantage, &self.host)?;
        let host = self.host.clone();
        if Self::pool_mut(&mut w, &host, pool)?.remove(volume).is_some() {
            // A scenario VM's own disk is `NAME.qcow2` (see `scenario::sim_reinstall`); any
            // other volume is recorded under its own name, which no action names.
            w.record(self.vantage, &host, Some(volume.strip_suffix(".qcow2").unwrap_or(volume)), "delete volume");
        }
        Ok(())
    }
}

/// A host's fence agent in the sim. A hang is an immediate "no answer" error: inline fence
/// calls have no timeout of their own, and the run must stay deterministic.
pub struct SimFencer {
    pub(super) world: Arc<Mutex<World>>,
    pub(super) host: String,
    pub(super) vantage: usize,
}

/// What the simulator records for an `off` sent while another supervisor's is under way.
pub const SECOND_OFF: &str = "fence off while another supervisor's off is under way";

impl Fencer for SimFencer {
    fn describe(&self) -> String {
        "sim".into()
    }

    fn status(&self) -> Result<PowerStatus, String> {
        let mut w = self.world.lock().unwrap_or_else(|e| e.into_inner());
        if w.dead.contains(&self.vantage) {
            return Err("the supervisor that asked is gone".into());
        }
        let now = w.now();
        let host = self.host.clone();
        let h = w.hosts.get_mut(&host).ok_or_else(|| format!("no host {host}"))?;
        if let FenceMode::OffAt(at, _) = h.fence {
            if now < at {
                return Ok(PowerStatus::On);
            }
            h.fence = FenceMode::Works;
            w.record(self.vantage, &host, None, "fence off (slow)");
            w.power_off(&host);
            return Ok(PowerStatus::Off);
        }
        let h = &w.hosts[&host];
        match h.fence {
            FenceMode::Hangs => Err("no answer from the fence device in 60 s (hung)".into()),
            FenceMode::Lies => Ok(PowerStatus::Off),
            _ => Ok(if h.powered { PowerStatus::On } else { PowerStatus::Off }),
        }
    }

    fn off(&self) -> Result<(), String> {
        let mut w = self.world.lock().unwrap_or_else(|e| e.into_inner());
        if w.dead.contains(&self.vantage) {
            return Err("the supervisor that asked is gone".into());
        }
        let host = self.host.clone();
        let h = w.hosts.get_mut(&host).ok_or_else(|| format!("no host {host}"))?;
        match &mut h.fence {
            FenceMode::Hangs => return Err("no answer from the fence device in 60 s (hung)".into()),
            FenceMode::Lies => return Ok(()),
            FenceMode::Fails(n) if *n > 0 => {
                *n -= 1;
                return Err("fence device refused the command (simulated failure)".into());
            }
            // Another supervisor's off still under way (its own is its fence's to wait for): a
            // second command to a device mid-operation, which the safety check counts.
            FenceMode::OffAt(_, by) if *by != self.vantage => {
                w.record(self.vantage, &host, None, SECOND_OFF);
                w.power_off(&host);
                return Ok(());
            }
            FenceMode::Slow(secs) if h.powered => {
                let secs = *secs;
                let at = w.now().plus(std::time::Duration::from_secs(secs));
                w.hosts.get_mut(&host).expect("checked above").fence = FenceMode::OffAt(at, self.vantage);
                // The act is the command; the power goes off later by itself.
                w.record(self.vantage, &host, None, "fence off (accepted)");
                return Ok(());
            }
            _ => {}
        }
        if !h.powered {
            // Some agents fail "off" on a host that is already off (CloudStack's bug class).
            return Err("already off".into());
        }
        w.record(self.vantage, &host, None, "fence off");
        w.power_off(&host);
        Ok(())
    }
}

/// A host's soft fence in the sim: restarts a daemon that is `Down` (not a `Dead` one), over
/// a link that must work.
pub struct SimSoftFencer {
    pub(super) world: Arc<Mutex<World>>,
    pub(super) host: String,
    pub(super) vantage: usize,
}

impl crate::hv::SoftFencer for SimSoftFencer {
    fn describe(&self) -> String {
        "sim soft fence".into()
    }

    fn restart(&self) -> Result<(), String> {
        let mut w = self.world.lock().unwrap_or_else(|e| e.into_inner());
        let isolated = !w.reaches(self.vantage, &self.host);
        let host = self.host.clone();
        let h = w.hosts.get_mut(&host).ok_or_else(|| format!("no host {host}"))?;
        if isolated || !h.reachable || !h.powered {
            return Err(format!("ssh: connect to host {host} port 22: Connection timed out"));
        }
        match h.daemon {
            super::world::Daemon::Dead => Err("Job for libvirtd.service failed (simulated)".into()),
            _ => {
                h.daemon = super::world::Daemon::Up;
                Ok(())
            }
        }
    }
}

/// A quorum witness of the simulated world: answers unless it is down or the supervisor's own
/// link is.
pub struct SimWitness {
    pub(super) world: Arc<Mutex<World>>,
    pub(super) name: String,
    pub(super) vantage: usize,
}

impl crate::hv::Witness for SimWitness {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, _timeout: std::time::Duration) -> Result<(), String> {
        let w = self.world.lock().unwrap_or_else(|e| e.into_inner());
        if w.isolated.contains(&self.vantage) {
            Err(format!("{}: no route (3RC's own link is down)", self.name))
        } else if w.witnesses_down.contains(&self.name) {
            Err(format!("{}: no answer", self.name))
        } else {
            Ok(())
        }
    }
}
