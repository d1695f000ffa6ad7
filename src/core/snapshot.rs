//! Snapshots of the engine for people (console, `3rc status`).

use super::decisions::DecisionKey;
use super::engine::Engine;
use super::view::{ClusterView, HostView, QuorumView, VmView};

impl Engine {
    pub fn snapshot(&self) -> ClusterView {
        let now = self.now;
        let slots = self.slots(None);
        let hosts = self
            .hosts
            .values()
            .enumerate()
            .map(|(i, h)| {
                // `slots` lists the hosts in the same (name) order; no search per host.
                let slot = slots.get(i).filter(|s| s.host == h.spec.name);
                let running =
                    h.last_probe.iter().flat_map(|p| p.domains.iter()).filter(|d| d.state.is_active()).count();
                HostView {
                    name: h.spec.name.clone(),
                    uri: h.spec.uri.clone(),
                    state: h.shown_state(),
                    reason: h.reason.clone(),
                    since: h.since,
                    capacity: h.capacity,
                    used_vcpus: slot.map(|s| s.used_vcpus).unwrap_or(0),
                    used_memory_kib: slot.map(|s| s.used_memory_kib).unwrap_or(0),
                    vm_count: if h.answered { running } else { 0 },
                    fence_agent: h.spec.fence_agent.clone(),
                    fence_distrust: h.fence_distrust.clone(),
                    decided: self
                        .decided(&DecisionKey::Maintenance(h.spec.name.clone()))
                        .or_else(|| self.decided(&DecisionKey::ConfirmedOff(h.spec.name.clone()))),
                    last_error: h.last_error.clone(),
                    history: h.history.clone(),
                }
            })
            .collect();
        let vms = self
            .vms
            .values()
            .map(|v| VmView {
                name: v.spec.name.clone(),
                host: v.host.clone(),
                state: v.state,
                reason: v.reason.clone(),
                since: v.since,
                priority: v.spec.priority,
                anti_affinity: v.spec.anti_affinity.clone(),
                vcpus: v.vcpus,
                memory_kib: v.memory_kib,
                observed: v.observed,
                restarts_in_window: v.restarts_in_window(now),
                relocations_in_window: v.relocations_in_window(now),
                max_restart: v.spec.policy.max_restart,
                max_relocate: v.spec.policy.max_relocate,
                bad_probes: v.bad,
                good_probes: v.good,
                history: v.history.clone(),
                placement: v.placement.clone(),
                progress: None,
                reinstall: v.spec.reinstall.clone(),
                decided: self
                    .decided(&DecisionKey::VmStopped(v.spec.name.clone()))
                    .or_else(|| self.decided(&DecisionKey::VmDisarmed(v.spec.name.clone()))),
            })
            .collect();
        let alarms = self.alarm_views();
        let q = self.quorum();
        let quorum = QuorumView { reachable: q.reachable, unreachable: q.unreachable, held: self.fencing_held };
        let disarmed_by = self.decided(&DecisionKey::ClusterDisarmed);
        ClusterView { at: now, armed: self.armed, hosts, vms, alarms, quorum, disarmed_by }
    }
}
