//! Where a reinstall runs, and the resumption of one that a stop of 3RC cut short.
//!
//! A reinstall makes the VM's system disk anew from its golden image, so the old disks do not
//! matter for placement, but the golden image does: a host whose storage pools are known must
//! hold the golden volume and have the disk's pool. A host whose storage is not known (never
//! read, or a backend that cannot tell) is not checked, as for ordinary disks.
//!
//! Safety is the same as for any start: a reinstall runs on the VM's own host when that host
//! answers, and on another host only when the VM's host is `Fenced`.

use super::action::{ActionKind, Decider};
use super::engine::{Engine, Output};
use super::placement::{PlacementTrace, Request};
use super::state::{HostState, VmState};

/// How a refusal for the golden image begins.
pub const GOLDEN_REASON: &str = "golden image ";

impl Engine {
    /// Whether the VM may be reinstalled by policy: allowed, and a spec is configured.
    pub(super) fn reinstall_allowed(&self, name: &str) -> bool {
        let spec = &self.vms[name].spec;
        spec.policy.reinstall && spec.reinstall.is_some()
    }

    /// Judge every host for a reinstall of the VM: room and anti-affinity as for any
    /// placement, its old disks not required, the golden image and the disk's pool required.
    /// `only`: judge that host alone.
    pub(super) fn place_for_reinstall(&self, name: &str, only: Option<&str>) -> PlacementTrace {
        let vm = &self.vms[name];
        let mut slots = self.slots(Some(name));
        if let Some(only) = only {
            slots.retain(|s| s.host == only);
        }
        if let Some(spec) = &vm.spec.reinstall {
            let golden = spec.golden();
            for s in slots.iter_mut().filter(|s| s.accepts.is_ok()) {
                let Some(h) = self.hosts.get(&s.host) else { continue };
                if h.volumes.as_ref().is_some_and(|v| !v.contains(&golden)) {
                    s.accepts = Err(format!("{GOLDEN_REASON}{golden} is on no storage pool of this host"));
                } else if h.volumes.is_some() && !h.pools.iter().any(|p| p.active && p.name == spec.disk_pool) {
                    s.accepts = Err(format!("no active storage pool {} for the new disk", spec.disk_pool));
                }
            }
        }
        let req = Request {
            vm: name,
            vcpus: vm.vcpus,
            memory_kib: vm.memory_kib,
            anti_affinity: vm.spec.anti_affinity.as_deref(),
            avoid: &[],
            disks: &[],
            hosts: &vm.spec.hosts,
            prefer: &vm.spec.prefer,
        };
        super::placement::place(&slots, &req, &self.placement_policy)
    }

    /// The host for a reinstall: its own host when it answers (and can take it), else — only
    /// when its host is fenced — the best host holding the golden image.
    pub(super) fn reinstall_host(&self, name: &str) -> Result<String, String> {
        let vm = &self.vms[name];
        if vm.spec.reinstall.is_none() {
            return Err(format!("{name} has no reinstall spec ([vm.reinstall] in the config)"));
        }
        let home = vm.host.clone();
        let home_rec = home.as_deref().and_then(|h| self.hosts.get(h));
        match home_rec {
            Some(h) if h.answered && matches!(h.state, HostState::Online | HostState::Rejoining) => {
                let hn = home.unwrap_or_default();
                let trace = self.place_for_reinstall(name, Some(&hn));
                match trace.chosen {
                    Some(_) => Ok(hn),
                    None => Err(format!("cannot reinstall {name} on its host: {}", trace.summary())),
                }
            }
            Some(h) if h.state != HostState::Fenced => Err(format!(
                "cannot reinstall {name}: its host {} is {} and not fenced (it may still run there)",
                home.unwrap_or_default(),
                h.shown_state()
            )),
            _ => {
                let trace = self.place_for_reinstall(name, None);
                trace.chosen.clone().ok_or_else(|| format!("no host can reinstall {name}: {}", trace.summary()))
            }
        }
    }

    /// A reinstall of this VM was under way when 3RC stopped: finish it as soon as the VM's host
    /// answers (its steps already done are skipped by the operation). `why` says what was
    /// interrupted and who had decided it. Only before the VM was seen.
    pub fn resume_reinstall(&mut self, vm: &str, host: &str, why: String) {
        let known_host = self.hosts.contains_key(host);
        if let Some(v) = self.vms.get_mut(vm) {
            if v.state == VmState::Discovering && v.spec.reinstall.is_some() {
                if known_host {
                    v.host = Some(host.to_string());
                }
                v.resume = Some(why);
                v.resume_cause = "a stop of 3RC".into();
            }
        }
    }

    /// A new leader of several (`[ha]`) takes over a reinstall the former leader had under
    /// way: finished as a restart finishes one (`resume_reinstall`), whatever this engine has
    /// seen of the VM since, unless a person holds it or an action of this engine runs on it.
    pub fn take_over_reinstall(&mut self, vm: &str, host: &str, why: String, former: &str) {
        let known_host = self.hosts.contains_key(host);
        if let Some(v) = self.vms.get_mut(vm) {
            let held = matches!(v.state, VmState::Stopped | VmState::Unmanaged | VmState::NeedsOperator);
            if !held && v.action.is_none() && v.spec.reinstall.is_some() {
                if known_host {
                    v.host = Some(host.to_string());
                }
                v.resume = Some(why);
                v.resume_cause = format!("the loss of the leader {former}");
            }
        }
    }

    /// Start the resumed reinstall of a VM if its host answers; true if it did (or the VM
    /// must wait for its host).
    pub(super) fn maybe_resume(&mut self, name: &str, out: &mut Output) -> bool {
        let Some(why) = self.vms[name].resume.clone() else { return false };
        let home_ok = self.vms[name]
            .host
            .as_deref()
            .and_then(|h| self.hosts.get(h))
            .is_some_and(|h| h.answered && matches!(h.state, HostState::Online | HostState::Rejoining));
        if !home_ok {
            // Its host's own path (suspect, down, fenced, recovered elsewhere) takes over.
            let home_down = self.vms[name]
                .host
                .as_deref()
                .and_then(|h| self.hosts.get(h))
                .is_some_and(|h| matches!(h.state, HostState::Down | HostState::Fencing | HostState::Fenced));
            if home_down {
                self.vm_mut(name).resume = None;
            }
            return false;
        }
        self.vm_mut(name).resume = None;
        match self.reinstall_host(name) {
            Ok(host) => {
                self.start_action(
                    name,
                    VmState::Reinstalling,
                    format!("resuming the reinstall cut short by {} ({why})", self.vms[name].resume_cause),
                    ActionKind::Reinstall { vm: name.into(), host },
                    Decider::Policy(format!("resume of an interrupted reinstall ({why})")),
                    out,
                );
            }
            Err(e) => self.needs_operator(name, format!("an interrupted reinstall cannot be resumed: {e}"), out),
        }
        true
    }
}
