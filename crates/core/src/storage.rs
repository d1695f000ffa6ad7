//! VMs paused by I/O errors: a storage outage, not a VM failure.
//!
//! qemu stops a guest whose disk fails (`error_policy='stop'`, the default) and libvirt says
//! why (`paused`, reason `ioerror`: [`DomState::IoPaused`]). Restarting such a VM, or starting
//! it on another host, would not help — the same storage would fail again — and could lose the
//! writes qemu holds: the VM is `StoragePaused`, outside the ladder, and nothing is done to it.
//! A person must know at once what failed: VMs paused longer than `storage_alarm_after` raise
//! one alarm per host naming its storage, or, when they are on several hosts, one
//! `storage-outage` alarm for the cluster (the shared storage failed) instead of one per VM or
//! host. A VM seen running again is taken back as `Healthy`; the alarms clear once no VM they
//! name is paused. vSphere's VM Component Protection (all paths down) treats the same case.

use super::engine::{Engine, Output};
use super::event::{Severity, Subject};
use super::model::DomState;
use super::state::VmState;
use super::time::human;
use std::collections::BTreeMap;

/// The cluster's alarm, when VMs are paused on several hosts.
const OUTAGE: &str = "storage-outage";

impl Engine {
    /// `name`, active at its host `h`, is paused by an I/O error there.
    pub(super) fn storage_paused(&mut self, name: &str, h: &str, out: &mut Output) {
        if self.vms[name].state == VmState::StoragePaused {
            return;
        }
        let reason = format!(
            "paused by an I/O error on {h} (its storage failed): not restarted or moved, the same storage would \
             fail again"
        );
        let vm = self.vm_mut(name);
        vm.bad = 0;
        vm.good = 0;
        vm.first_bad_at = None;
        self.vm_transition(name, VmState::StoragePaused, reason, out);
    }

    /// `name` was `StoragePaused` and its host now reports `seen`: running again, it is
    /// `Healthy`; anything else, it is judged from `Suspect` as any VM.
    pub(super) fn storage_left(&mut self, name: &str, h: &str, seen: Option<DomState>, out: &mut Output) {
        let paused = human(self.now.since(self.vms[name].since));
        let (to, reason) = match seen {
            Some(DomState::Running) => {
                (VmState::Healthy, format!("runs again on {h} after {paused} paused by I/O errors"))
            }
            other => (
                VmState::Suspect,
                format!(
                    "no longer paused by I/O errors on {h} after {paused}: {}",
                    other.map_or("not defined there".to_string(), |s| s.label().to_string())
                ),
            ),
        };
        self.vm_transition(name, to, reason, out);
    }

    /// Once per cycle, after the VMs were judged: raise or clear the storage alarms.
    pub(super) fn storage_alarms(&mut self, out: &mut Output) {
        let after = self.host_policy.storage_alarm_after;
        let mut long: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut paused_on: BTreeMap<String, usize> = BTreeMap::new();
        for (name, v) in &self.vms {
            let (VmState::StoragePaused, Some(h)) = (v.state, &v.host) else { continue };
            *paused_on.entry(h.clone()).or_default() += 1;
            if self.now.since(v.since) >= after {
                long.entry(h.clone()).or_default().push(name.clone());
            }
        }
        let standing = |e: &Engine, key: &str| e.alarms.iter().any(|a| a.alarm.key == key);
        if paused_on.is_empty() && standing(self, OUTAGE) {
            self.clear_alarms(OUTAGE, "no VM is paused by I/O errors any more", out);
        }
        let hosts: Vec<String> =
            self.alarms.iter().filter_map(|a| a.alarm.key.strip_prefix("storage:").map(String::from)).collect();
        for h in hosts {
            if !paused_on.contains_key(&h) {
                self.clear_alarms(
                    &format!("storage:{h}"),
                    &format!("no VM on {h} is paused by I/O errors any more"),
                    out,
                );
            }
        }
        let count: usize = long.values().map(Vec::len).sum();
        if long.len() >= 2 && !standing(self, OUTAGE) {
            let on: Vec<String> = long.iter().map(|(h, vms)| format!("{h} ({})", vms.join(", "))).collect();
            self.raise(
                OUTAGE.to_string(),
                Subject::Cluster,
                Severity::Critical,
                format!(
                    "storage outage: {count} VMs paused by I/O errors for over {} on {} hosts: {}. The storage they \
                     share failed (the NAS or SAN, or the network to it). Nothing is restarted or moved: the same \
                     storage would fail again. Once it answers, resume them (`virsh resume`); 3RC takes them back \
                     as running",
                    human(after),
                    long.len(),
                    on.join("; ")
                ),
                out,
            );
            for h in long.keys() {
                self.clear_alarms(&format!("storage:{h}"), "superseded by the storage outage alarm", out);
            }
        }
        if standing(self, OUTAGE) {
            return;
        }
        for (h, vms) in long {
            self.raise(
                format!("storage:{h}"),
                Subject::Host(h.clone()),
                Severity::Critical,
                format!(
                    "storage of {h}: {} paused by I/O errors for over {}. Its storage failed (a volume, a path, the \
                     NAS or SAN). Not restarted or moved: the same storage would fail again. Once it answers, \
                     resume them (`virsh resume`); 3RC takes them back as running",
                    vms.join(", "),
                    human(after)
                ),
                out,
            );
        }
    }
}
