//! What changed between two snapshots, for consoles attached to a supervisor over its socket:
//! a console gets the whole view once, then only the rows that changed. In a steady cluster of
//! 20,000 VMs a snapshot differs from the one before in a few rows (and the alarms' ages), so
//! a refresh costs a few hundred bytes instead of megabytes.
//!
//! Rows are matched by position: a delta exists only while both snapshots hold the same hosts
//! and VMs in the same order (the engine keeps them sorted by name). A VM protected or
//! unprotected changes the rows; then there is no delta and the whole view is sent again.

use super::time::Time;
use super::view::{AlarmView, ClusterView, DeliveryView, HaView, HostView, QuorumView, VmView};
use serde::{Deserialize, Serialize};

/// A VM's row that changed. Its placement trace (a verdict per host: large on a large cluster)
/// and its history travel only when they changed; otherwise the console keeps its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmRow {
    pub i: u32,
    pub vm: VmView,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub same_placement: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub same_history: bool,
}

/// The changes that turn one snapshot into the next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewDelta {
    pub at: Time,
    pub armed: bool,
    /// The rows that changed, by position.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<(u32, HostView)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vms: Vec<VmRow>,
    /// The alarms, when they changed (their ages change with every snapshot that has any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<Vec<AlarmView>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<QuorumView>,
    pub disarmed_by: Option<String>,
    pub disarm_pending: Option<String>,
    /// The failing alert targets, when they changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<Vec<DeliveryView>>,
    /// The leadership (`[ha]`), as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<HaView>,
    /// The spare capacity line, as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spare: Option<String>,
}

impl ViewDelta {
    /// The delta from `old` to `new`; `None` when their hosts or VMs are not the same rows in
    /// the same order (send `new` whole).
    pub fn between(old: &ClusterView, new: &ClusterView) -> Option<ViewDelta> {
        // Every field named, so that a field added to the view cannot be forgotten here.
        let ClusterView { at, armed, hosts, vms, alarms, quorum, disarmed_by, disarm_pending, deliveries, ha, spare } =
            new;
        let hosts = changed_rows(&old.hosts, hosts, |h| &h.name)?;
        let vms = changed_rows(&old.vms, vms, |v| &v.name)?
            .into_iter()
            .map(|(i, mut vm)| {
                let was = &old.vms[i as usize];
                let same_placement = vm.placement.is_some()
                    && match (&was.placement, &vm.placement) {
                        (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b) || a == b,
                        _ => false,
                    };
                let same_history = std::sync::Arc::ptr_eq(&was.history, &vm.history) || was.history == vm.history;
                if same_placement {
                    vm.placement = None;
                }
                if same_history {
                    vm.history = Default::default();
                }
                VmRow { i, vm, same_placement, same_history }
            })
            .collect();
        Some(ViewDelta {
            at: *at,
            armed: *armed,
            hosts,
            vms,
            alarms: (old.alarms != *alarms).then(|| alarms.clone()),
            quorum: (old.quorum != *quorum).then(|| quorum.clone()),
            disarmed_by: disarmed_by.clone(),
            disarm_pending: disarm_pending.clone(),
            deliveries: (old.deliveries != *deliveries).then(|| deliveries.clone()),
            ha: ha.clone(),
            spare: spare.clone(),
        })
    }

    /// Apply to the view the delta was made from. A row past the end of the view means the
    /// delta was made from another view: an error, and the view is left unchanged.
    pub fn apply(self, view: &mut ClusterView) -> Result<(), String> {
        let past = |what: &str, i: u32, len: usize| format!("the delta's {what} row {i} is past the view's {len}");
        if let Some((i, _)) = self.hosts.iter().find(|(i, _)| *i as usize >= view.hosts.len()) {
            return Err(past("host", *i, view.hosts.len()));
        }
        if let Some(r) = self.vms.iter().find(|r| r.i as usize >= view.vms.len()) {
            return Err(past("VM", r.i, view.vms.len()));
        }
        for (i, h) in self.hosts {
            view.hosts[i as usize] = h;
        }
        for VmRow { i, mut vm, same_placement, same_history } in self.vms {
            let was = &mut view.vms[i as usize];
            if same_placement {
                vm.placement = was.placement.take();
            }
            if same_history {
                vm.history = std::mem::take(&mut was.history);
            }
            *was = vm;
        }
        view.at = self.at;
        view.armed = self.armed;
        if let Some(a) = self.alarms {
            view.alarms = a;
        }
        if let Some(q) = self.quorum {
            view.quorum = q;
        }
        view.disarmed_by = self.disarmed_by;
        view.disarm_pending = self.disarm_pending;
        if let Some(d) = self.deliveries {
            view.deliveries = d;
        }
        view.ha = self.ha;
        view.spare = self.spare;
        Ok(())
    }

    /// How many rows it carries.
    pub fn rows(&self) -> usize {
        self.hosts.len() + self.vms.len()
    }
}

/// The rows of `new` that differ from `old`'s at the same position; `None` when the rows are
/// not the same names in the same order.
fn changed_rows<T: Clone + PartialEq>(old: &[T], new: &[T], name: impl Fn(&T) -> &String) -> Option<Vec<(u32, T)>> {
    if old.len() != new.len() {
        return None;
    }
    let mut changed = Vec::new();
    for (i, (o, n)) in old.iter().zip(new).enumerate() {
        if name(o) != name(n) {
            return None;
        }
        if o != n {
            changed.push((i as u32, n.clone()));
        }
    }
    Some(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Severity, Subject};
    use crate::state::{HostState, VmState};

    fn host(name: &str) -> HostView {
        HostView {
            name: name.into(),
            uri: format!("qemu+ssh://{name}/system"),
            state: HostState::Online,
            reason: String::new(),
            since: Time::ZERO,
            capacity: None,
            used_vcpus: 0,
            used_memory_kib: 0,
            vm_count: 0,
            fence_agent: None,
            fence_distrust: None,
            decided: None,
            last_error: None,
            seen: String::new(),
            history: Default::default(),
            if_fails: None,
        }
    }

    fn vm(name: &str) -> VmView {
        VmView {
            name: name.into(),
            host: Some("hv1".into()),
            state: VmState::Healthy,
            reason: String::new(),
            since: Time::ZERO,
            priority: 0,
            anti_affinity: None,
            vcpus: 1,
            memory_kib: 1024,
            observed: None,
            restarts_in_window: 0,
            relocations_in_window: 0,
            max_restart: 3,
            max_relocate: 2,
            bad_probes: 0,
            good_probes: 0,
            history: Default::default(),
            placement: None,
            progress: None,
            reinstall: None,
            decided: None,
            guest: Vec::new(),
        }
    }

    fn view() -> ClusterView {
        ClusterView {
            at: Time::ZERO,
            armed: true,
            hosts: vec![host("hv1"), host("hv2")],
            vms: (0..5).map(|i| vm(&format!("vm{i}"))).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_delta_carries_only_what_changed_and_rebuilds_the_view() {
        let old = view();
        let mut new = old.clone();
        new.at = Time::from_millis(1000);
        new.vms[3].state = VmState::Suspect;
        new.vms[3].reason = "domain shut off".into();
        new.hosts[1].state = HostState::Suspect;
        new.alarms.push(AlarmView {
            id: 1,
            kind: "down".into(),
            age_ms: 0,
            subject: Subject::Host("hv2".into()),
            severity: Severity::Warning,
            message: "unreachable".into(),
            acked: false,
            acked_by: None,
        });
        new.quorum.held = true;
        new.armed = false;
        new.disarmed_by = Some("console:alice".into());
        new.disarm_pending = Some("waits for the fence of hv2".into());
        let d = ViewDelta::between(&old, &new).unwrap();
        assert_eq!(d.vms.iter().map(|r| r.i).collect::<Vec<_>>(), vec![3]);
        assert_eq!(d.hosts.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1]);
        let mut rebuilt = old.clone();
        d.apply(&mut rebuilt).unwrap();
        assert_eq!(rebuilt, new);
        // And back, clearing what was set.
        let mut again = new.clone();
        ViewDelta::between(&new, &old).unwrap().apply(&mut again).unwrap();
        assert_eq!(again, old);
    }

    #[test]
    fn a_changed_row_leaves_its_unchanged_placement_and_history_behind() {
        use crate::placement::PlacementTrace;
        let mut old = view();
        old.vms[1].placement = Some(std::sync::Arc::new(PlacementTrace {
            vm: "vm1".into(),
            chosen: Some("hv2".into()),
            candidates: vec![],
        }));
        old.vms[1].history = std::sync::Arc::new(vec![crate::view::Transition {
            at: Time::ZERO,
            from: "Discovering".into(),
            to: "Healthy".into(),
            reason: "found running".into(),
        }]);
        let mut new = old.clone();
        new.vms[1].reason = "3 good probes in a row".into();
        let d = ViewDelta::between(&old, &new).unwrap();
        let row = &d.vms[0];
        assert!(row.same_placement && row.same_history, "{row:?}");
        assert!(row.vm.placement.is_none() && row.vm.history.is_empty(), "neither travels");
        let mut rebuilt = old.clone();
        d.apply(&mut rebuilt).unwrap();
        assert_eq!(rebuilt, new);
        // A new step in its history travels.
        let mut newer = new.clone();
        let mut h = (*newer.vms[1].history).clone();
        h.push(crate::view::Transition {
            at: Time::from_millis(5),
            from: "Healthy".into(),
            to: "Suspect".into(),
            reason: "shut off".into(),
        });
        newer.vms[1].history = std::sync::Arc::new(h);
        let d = ViewDelta::between(&new, &newer).unwrap();
        assert!(d.vms[0].same_placement && !d.vms[0].same_history);
        let mut rebuilt = new.clone();
        d.apply(&mut rebuilt).unwrap();
        assert_eq!(rebuilt, newer);
    }

    #[test]
    fn an_unchanged_view_is_an_empty_delta() {
        let d = ViewDelta::between(&view(), &view()).unwrap();
        assert_eq!((d.rows(), d.alarms.is_none(), d.quorum.is_none()), (0, true, true));
    }

    #[test]
    fn other_rows_mean_the_whole_view() {
        let old = view();
        let mut added = old.clone();
        added.vms.push(vm("vm9"));
        assert!(ViewDelta::between(&old, &added).is_none());
        let mut renamed = old.clone();
        renamed.vms[0].name = "other".into();
        assert!(ViewDelta::between(&old, &renamed).is_none());
        let mut fewer_hosts = old.clone();
        fewer_hosts.hosts.pop();
        assert!(ViewDelta::between(&old, &fewer_hosts).is_none());
    }

    #[test]
    fn a_delta_from_another_view_is_refused_and_changes_nothing() {
        let old = view();
        let mut new = old.clone();
        new.vms[4].state = VmState::Pending;
        let d = ViewDelta::between(&old, &new).unwrap();
        let mut small = old.clone();
        small.vms.truncate(2);
        let before = small.clone();
        let e = d.apply(&mut small).unwrap_err();
        assert!(e.contains("VM row 4 is past the view's 2"), "{e}");
        assert_eq!(small, before);
    }
}
