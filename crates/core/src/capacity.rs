//! Room on each host as placement sees it: capacity from the last probe, minus unprotected
//! domains running there and protected VMs placed or being moved there.

use super::engine::Engine;
use super::placement::{self, PlacementTrace, Request, Slot};
use super::state::VmState;
use super::vm_fsm::VmRec;
use std::collections::BTreeSet;

impl Engine {
    /// Placement slots for every host, with the room already taken.
    pub(super) fn slots(&self, exclude_vm: Option<&str>) -> Vec<Slot> {
        let mut slots: Vec<Slot> = self
            .hosts
            .iter()
            .map(|(hn, h)| {
                let protected_elsewhere = |n: &str| self.vms.contains_key(n);
                let (mut cpu, mut mem) = (0u32, 0u64);
                for d in h.last_probe.iter().flat_map(|p| p.domains.iter()) {
                    if d.state.is_active() && !protected_elsewhere(&d.name) {
                        cpu += d.vcpus;
                        mem += d.memory_kib;
                    }
                }
                Slot {
                    host: hn.clone(),
                    accepts: h.accepts(&self.host_policy),
                    capacity: h.capacity,
                    used_vcpus: cpu,
                    used_memory_kib: mem,
                    groups: BTreeSet::new(),
                    volumes: h.volumes.clone(),
                }
            })
            .collect();
        // Index by host name: a linear search per VM was most of a big cluster's cycle.
        let index: std::collections::HashMap<String, usize> =
            slots.iter().enumerate().map(|(i, s)| (s.host.clone(), i)).collect();
        for v in self.vms.values() {
            if Some(v.spec.name.as_str()) == exclude_vm {
                continue;
            }
            for h in occupied_hosts(v) {
                if let Some(&i) = index.get(h) {
                    reserve_in(&mut slots[i], v);
                }
            }
        }
        slots
    }

    pub(super) fn place_in(&self, name: &str, slots: &[Slot], avoid: &[(String, String)]) -> PlacementTrace {
        let vm = &self.vms[name];
        let disks = self.known_disks(name);
        let req = Request {
            vm: name,
            vcpus: vm.vcpus,
            memory_kib: vm.memory_kib,
            anti_affinity: vm.spec.anti_affinity.as_deref(),
            avoid,
            disks: &disks,
            hosts: &vm.spec.hosts,
            prefer: &vm.spec.prefer,
        };
        placement::place(slots, &req, &self.placement_policy)
    }

    /// The VM's disks that some host reports in a storage pool: for those we know where they
    /// live, and only hosts that reach them qualify. A disk no pool knows of (a site without
    /// libvirt pools) cannot be judged and is not checked.
    pub(super) fn known_disks(&self, name: &str) -> Vec<String> {
        self.vms[name]
            .disks
            .iter()
            .filter(|d| self.hosts.values().any(|h| h.volumes.as_ref().is_some_and(|v| v.contains(*d))))
            .cloned()
            .collect()
    }

    /// Place one VM against the current cluster (its own room not counted).
    pub(super) fn place_one(&self, name: &str, avoid: &[(String, String)], only: Option<&str>) -> PlacementTrace {
        let mut slots = self.slots(Some(name));
        if let Some(only) = only {
            slots.retain(|s| s.host == only);
        }
        self.place_in(name, &slots, avoid)
    }
}

/// Hosts whose room a VM takes: where it runs (unless it is stopped or waiting) and where an
/// action is moving it.
pub(super) fn occupied_hosts(v: &VmRec) -> impl Iterator<Item = &str> {
    let runs_home = match v.state {
        VmState::Stopped | VmState::Pending | VmState::AwaitingFence => false,
        VmState::NeedsOperator | VmState::Unmanaged => v.observed.is_some_and(|s| s.is_active()),
        _ => true,
    };
    let home = v.host.as_deref().filter(|_| runs_home);
    let target = v.target.as_deref().filter(|t| Some(*t) != home);
    home.into_iter().chain(target)
}

pub(super) fn reserve(slots: &mut [Slot], host: &str, vm: &VmRec) {
    if let Some(s) = slots.iter_mut().find(|s| s.host == host) {
        reserve_in(s, vm);
    }
}

fn reserve_in(s: &mut Slot, vm: &VmRec) {
    s.used_vcpus += vm.vcpus;
    s.used_memory_kib += vm.memory_kib;
    if let Some(g) = &vm.spec.anti_affinity {
        s.groups.insert(g.clone());
    }
}
