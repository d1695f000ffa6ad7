//! Snapshots of the engine for people (console, `3rc status`).

use super::decisions::DecisionKey;
use super::engine::Engine;
use super::view::{ClusterView, HostView, QuorumView, VmView};

impl Engine {
    pub fn snapshot(&self) -> ClusterView {
        let now = self.now;
        let slots = self.slots(None);
        let own = (!self.peers.is_empty()).then(|| self.vantage(&self.me));
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
                    seen: own
                        .as_ref()
                        .map(|own| super::vantage::describe_seen(own, &self.peers, &h.spec.name))
                        .unwrap_or_default(),
                    history: h.history.clone(),
                    if_fails: self.if_fails(&h.spec.name),
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
                // Counted up to what recovery needs: past it the count changes nothing, and a
                // row that changed every cycle would be sent to every attached console.
                good_probes: v.good.min(v.spec.policy.ok_threshold),
                history: v.history.clone(),
                placement: v.placement.clone(),
                progress: None,
                reinstall: v.spec.reinstall.as_ref().map(|r| r.summary()),
                decided: self
                    .decided(&DecisionKey::VmStopped(v.spec.name.clone()))
                    .or_else(|| self.decided(&DecisionKey::VmDisarmed(v.spec.name.clone()))),
                guest: self.guest_lines(&v.spec.name),
            })
            .collect();
        let alarms = self.alarm_views();
        let q = self.quorum();
        let quorum = QuorumView { reachable: q.reachable, unreachable: q.unreachable, held: self.fencing_held };
        let disarmed_by = self.decided(&DecisionKey::ClusterDisarmed);
        let disarm_pending = self.disarm_pending();
        ClusterView {
            at: now,
            armed: self.armed,
            hosts,
            vms,
            alarms,
            quorum,
            disarmed_by,
            disarm_pending,
            deliveries: Vec::new(),
            ha: None,
            spare: self.spare.as_ref().map(|r| super::spare::summary(r, self.placement_policy.spare_hosts)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    /// What people and `status --json` see of a reinstall spec is its summary: never the
    /// template or the seed's scripts, which may hold secrets.
    #[test]
    fn the_view_of_a_vm_never_carries_its_template_or_seed_scripts() {
        let reinstall = ReinstallSpec {
            golden_pool: "golden".into(),
            golden_volume: "base.qcow2".into(),
            mode: DiskMode::Overlay,
            disk_pool: "vms".into(),
            disk_volume: "web1.qcow2".into(),
            template_path: "/etc/3rc/web1.xml".into(),
            template: "<domain><graphics type='vnc' passwd='TEMPLATE-SECRET'/></domain>".into(),
            seed: Some(SeedSpec {
                hostname: "web1".into(),
                ssh_authorized_keys: vec![],
                network_config: Some("wifis: {password: NETWORK-SECRET}".into()),
                first_boot: Some("echo root:SCRIPT-SECRET | chpasswd".into()),
                cdrom_bus: "sata".into(),
            }),
        };
        let vm = VmSpec {
            reinstall: Some(std::sync::Arc::new(reinstall)),
            origin: crate::Origin::Config,
            ..VmSpec::named("web1")
        };
        let spec = ClusterSpec {
            hosts: vec![],
            vms: vec![vm],
            host_policy: HostPolicy::default(),
            placement: PlacementPolicy::default(),
            witnesses: vec![],
        };
        let view = Engine::new(spec, Time::ZERO).snapshot();
        let json = serde_json::to_string(&view).unwrap();
        assert!(json.contains("cloud-init seed (hostname web1)"), "{json}");
        assert!(!json.contains("SECRET"), "{json}");
    }
}
