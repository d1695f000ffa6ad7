//! Spare capacity, continuously (N+1): whether the loss of any one host would leave armed VMs
//! without room, known before anyone asks (vSphere's admission control, as a warning).
//!
//! Each check places, for every host in turn, the protected VMs that run there (those 3RC would
//! recover: not stopped, not disarmed) on the other hosts, highest priority first, with the real
//! placement (room, overcommit, anti-affinity, host rules, disks), each VM taking its room before
//! the next. A VM is tried on the `CANDIDATES` hosts with the most free memory (and the hosts its
//! rules name); only when none of them takes it are all hosts tried, at most `FULL_SCANS` times
//! per check, so a check stays cheap at 1,000 hosts and 20,000 VMs (`benches/cycle.rs` prints
//! its cost). With `spare_hosts = N` above 1, the N hosts holding the most protected memory are
//! also lost together. Nothing is checked while a host's state is in flux (suspect, down,
//! being fenced, rejoining) or fencing is held for quorum. When some loss leaves VMs without room, one warning alarm (`spare`)
//! names it, ended when there is room again; the console's title line and each host's detail
//! say it ("if hv2 fails: web3, db2 have no room").

use super::capacity::occupied_hosts;
use super::engine::{Engine, Output};
use super::event::{Severity, Subject};
use super::model::VmSpec;
use super::placement::{self, Request, Slot};
use super::state::{HostState, VmState};
use super::vm_fsm::VmRec;
use std::collections::{BTreeMap, HashMap};

/// Hosts tried first for each VM: those with the most free memory.
pub const CANDIDATES: usize = 16;
/// VMs per check that may be tried on every host when the first candidates cannot take them.
pub const FULL_SCANS: usize = 64;
/// Cycles between two checks (also after any host changes state).
pub const EVERY: u64 = 5;

const KEY: &str = "spare";

/// The last check: each host (or set of hosts) whose loss leaves VMs without room, with them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpareRec {
    pub short: BTreeMap<String, Vec<String>>,
    /// With `spare_hosts` N > 1: the N hosts lost together, and the VMs left without room.
    pub worst: Option<(Vec<String>, Vec<String>)>,
    /// Hosts whose loss was checked (they hold protected VMs).
    pub checked: Vec<String>,
}

impl SpareRec {
    pub fn ok(&self) -> bool {
        self.short.is_empty() && self.worst.as_ref().is_none_or(|(_, vms)| vms.is_empty())
    }
}

/// Whether a VM is one 3RC would recover if its host failed.
fn recovered(v: &VmRec) -> bool {
    !matches!(v.state, VmState::Stopped | VmState::Unmanaged | VmState::NeedsOperator | VmState::Discovering)
}

impl Engine {
    /// Check the spare capacity now and then (every `EVERY` cycles, and after a host changed
    /// state); the alarm follows the result.
    pub(super) fn spare_check(&mut self, force: bool, out: &mut Output) {
        let n = self.placement_policy.spare_hosts;
        if n == 0 {
            self.spare = None;
            if self.alarm_stands(KEY) {
                self.end_alarms(KEY, "spare capacity is not checked any more", out);
            }
            return;
        }
        self.spare_cycles += 1;
        if !force && self.spare.is_some() && !self.spare_cycles.is_multiple_of(EVERY) {
            return;
        }
        // While a host's state is in flux (a failure being judged, fenced or rejoining), or
        // fencing is held for quorum (3RC may be the one cut off: every host looks gone), the
        // picture says nothing about the cluster's spare room: the last result stands, and no
        // alarm is raised on it.
        let in_flux = self.hosts.values().any(|h| {
            matches!(
                h.state,
                HostState::Unknown | HostState::Suspect | HostState::Down | HostState::Fencing | HostState::Rejoining
            )
        });
        if in_flux || self.fencing_held {
            return;
        }
        let rec = self.spare_now(n);
        if rec.ok() {
            if self.alarm_stands(KEY) {
                self.end_alarms(KEY, "the loss of any host leaves room for its VMs again", out);
            }
        } else if !self.alarm_stands(KEY) {
            let message = spare_message(&rec);
            self.raise(KEY.into(), Subject::Cluster, Severity::Warning, message, out);
        }
        self.spare = Some(rec);
    }

    /// Place, for each host lost (and the N fullest together), its VMs on the others.
    pub fn spare_now(&self, n: u32) -> SpareRec {
        let slots = self.slots(None);
        let mut on: HashMap<&str, Vec<&VmRec>> = HashMap::new();
        for v in self.vms.values().filter(|v| recovered(v)) {
            if let Some(h) = occupied_hosts(v).next() {
                on.entry(h).or_default().push(v);
            }
        }
        let index: HashMap<&str, usize> = slots.iter().enumerate().map(|(i, s)| (s.host.as_str(), i)).collect();
        // Accepting hosts, most free memory first.
        let mut order: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].accepts.is_ok()).collect();
        let free = |s: &Slot| {
            let cap = s.capacity.map_or(0, |c| (c.memory_kib as f64 * self.placement_policy.mem_overcommit) as u64);
            cap.saturating_sub(s.used_memory_kib)
        };
        order.sort_by_key(|&i| (std::cmp::Reverse(free(&slots[i])), i));
        let mut rec = SpareRec::default();
        let mut scans = FULL_SCANS;
        for (i, s) in slots.iter().enumerate() {
            let Some(victims) = on.get(s.host.as_str()) else { continue };
            rec.checked.push(s.host.clone());
            let short = self.absorb(&slots, &order, &index, &[i], victims.clone(), &mut scans);
            if !short.is_empty() {
                rec.short.insert(s.host.clone(), short);
            }
        }
        if n > 1 {
            let mut by_mem: Vec<(u64, usize)> =
                on.iter().filter_map(|(h, vs)| Some((vs.iter().map(|v| v.memory_kib).sum(), *index.get(h)?))).collect();
            by_mem.sort_by_key(|(m, i)| (std::cmp::Reverse(*m), *i));
            let lost: Vec<usize> = by_mem.iter().take(n as usize).map(|(_, i)| *i).collect();
            if lost.len() > 1 {
                let victims: Vec<&VmRec> =
                    lost.iter().flat_map(|i| on.get(slots[*i].host.as_str()).cloned().unwrap_or_default()).collect();
                let short = self.absorb(&slots, &order, &index, &lost, victims, &mut scans);
                rec.worst = Some((lost.iter().map(|i| slots[*i].host.clone()).collect(), short));
            }
        }
        rec
    }

    /// Place `victims` (highest priority first) on the hosts not `lost`, each taking its room;
    /// the names of those no host takes.
    fn absorb(
        &self,
        slots: &[Slot],
        order: &[usize],
        index: &HashMap<&str, usize>,
        lost: &[usize],
        mut victims: Vec<&VmRec>,
        scans: &mut usize,
    ) -> Vec<String> {
        victims.sort_by(|a, b| b.spec.priority.cmp(&a.spec.priority).then(a.spec.name.cmp(&b.spec.name)));
        let mut taken: HashMap<usize, Slot> = HashMap::new();
        let mut short = Vec::new();
        for v in victims {
            let disks = self.known_disks(&v.spec.name);
            let req = Request {
                vm: &v.spec.name,
                vcpus: v.vcpus,
                memory_kib: v.memory_kib,
                anti_affinity: v.spec.anti_affinity.as_deref(),
                avoid: &[],
                disks: &disks,
                hosts: &v.spec.hosts,
                prefer: &v.spec.prefer,
            };
            let named = v.spec.hosts.iter().chain(v.spec.prefer.iter().flatten()).filter_map(|h| index.get(h.as_str()));
            // The hosts with the most free memory at the start that still have room for it.
            let room = |i: usize| {
                let s = taken.get(&i).unwrap_or(&slots[i]);
                let cap = s.capacity.map_or(0, |c| (c.memory_kib as f64 * self.placement_policy.mem_overcommit) as u64);
                cap.saturating_sub(s.used_memory_kib) >= v.memory_kib
            };
            let mut first: Vec<usize> =
                order.iter().filter(|i| !lost.contains(i) && room(**i)).take(CANDIDATES).copied().collect();
            for i in named {
                if !lost.contains(i) && !first.contains(i) {
                    first.push(*i);
                }
            }
            let view = |ids: &[usize]| -> Vec<Slot> {
                ids.iter().map(|i| taken.get(i).cloned().unwrap_or_else(|| slots[*i].clone())).collect()
            };
            let mut ids = first;
            let mut trace = placement::place(&view(&ids), &req, &self.placement_policy);
            if trace.chosen.is_none() && *scans > 0 {
                *scans -= 1;
                ids = order.iter().filter(|i| !lost.contains(i)).copied().collect();
                trace = placement::place(&view(&ids), &req, &self.placement_policy);
            }
            match trace.chosen.and_then(|h| index.get(h.as_str()).copied()) {
                Some(i) => {
                    let s = taken.entry(i).or_insert_with(|| slots[i].clone());
                    s.used_vcpus += v.vcpus;
                    s.used_memory_kib += v.memory_kib;
                    if let Some(g) = &v.spec.anti_affinity {
                        s.groups.insert(g.clone());
                    }
                }
                None => short.push(v.spec.name.clone()),
            }
        }
        short
    }

    /// With `spare_enforce`, an operator's migration of `vm` to `to` is refused when the spare
    /// capacity holds now and would not once it ran there.
    pub(super) fn spare_allows(&mut self, vm: &str, to: &str) -> Result<(), String> {
        let n = self.placement_policy.spare_hosts;
        if !self.placement_policy.spare_enforce || n == 0 || !self.spare_now(n).ok() {
            return Ok(());
        }
        let v = self.vm_mut(vm);
        let was = v.host.replace(to.to_string());
        let after = self.spare_now(n);
        self.vm_mut(vm).host = was;
        if after.ok() {
            return Ok(());
        }
        Err(format!(
            "migrating {vm} to {to} would break the spare capacity ({}), and [placement] spare_enforce is on",
            spare_message(&after).trim_start_matches("spare capacity short: ")
        ))
    }

    /// With `spare_enforce`, protecting a VM whose domain already runs on `host` is refused when
    /// it would break a spare capacity that holds now: its room is counted on its host already,
    /// but once protected it needs room elsewhere if that host fails. Its size is read off the
    /// host's last probe; a VM not running there yet cannot be checked and is protected.
    pub(super) fn spare_allows_protect(&mut self, spec: &VmSpec, host: &str) -> Result<(), String> {
        let n = self.placement_policy.spare_hosts;
        if !self.placement_policy.spare_enforce || n == 0 {
            return Ok(());
        }
        let seen = self.hosts.get(host).and_then(|h| h.last_probe.as_ref());
        let Some(d) = seen.and_then(|p| p.domains.iter().find(|d| d.name == spec.name && d.state.is_active())).cloned()
        else {
            return Ok(());
        };
        if !self.spare_now(n).ok() {
            return Ok(());
        }
        let mut rec = VmRec::new(spec.clone(), self.now);
        rec.state = VmState::Healthy;
        rec.host = Some(host.to_string());
        rec.observed = Some(d.state);
        (rec.vcpus, rec.memory_kib) = (d.vcpus, d.memory_kib);
        self.vms.insert(spec.name.clone(), rec);
        let after = self.spare_now(n);
        self.vms.remove(&spec.name);
        if after.ok() {
            return Ok(());
        }
        Err(format!(
            "protecting {} on {host} would break the spare capacity ({}), and [placement] spare_enforce is on",
            spec.name,
            spare_message(&after).trim_start_matches("spare capacity short: ")
        ))
    }

    /// For people: what the loss of `host` would leave without room, per the last check.
    pub(super) fn if_fails(&self, host: &str) -> Option<String> {
        let rec = self.spare.as_ref()?;
        if let Some(vms) = rec.short.get(host) {
            return Some(format!("if {host} fails: {} no room", have(vms)));
        }
        rec.checked.iter().any(|h| h == host).then(|| format!("if {host} fails: its VMs fit on the other hosts"))
    }
}

/// "web3 has" / "web3, db2 have" / "web3, db2 and 5 more have".
fn have(vms: &[String]) -> String {
    match vms.len() {
        1 => format!("{} has", vms[0]),
        n if n <= 4 => format!("{} have", vms.join(", ")),
        n => format!("{} and {} more have", vms[..3].join(", "), n - 3),
    }
}

/// The alarm's text: every host whose loss leaves VMs without room (the first few).
pub fn spare_message(rec: &SpareRec) -> String {
    let mut parts: Vec<String> =
        rec.short.iter().take(4).map(|(h, vms)| format!("if {h} fails, {} no room", have(vms))).collect();
    if rec.short.len() > 4 {
        parts.push(format!("and {} more hosts", rec.short.len() - 4));
    }
    if let Some((hosts, vms)) = rec.worst.as_ref().filter(|(_, vms)| !vms.is_empty()) {
        parts.push(format!("if {} fail together, {} no room", hosts.join(" and "), have(vms)));
    }
    format!("spare capacity short: {}", parts.join("; "))
}

/// The spare capacity for people: N, whether it holds, and what is short.
pub fn summary(rec: &SpareRec, n: u32) -> String {
    if rec.ok() {
        return format!("N+{n}: ok");
    }
    let lost = rec.short.len();
    match &rec.worst {
        _ if lost > 0 => {
            format!("N+{n}: SHORT ({lost} host{} would leave VMs without room)", if lost == 1 { "" } else { "s" })
        }
        Some((hosts, _)) => format!("N+{n}: SHORT (if {} fail together)", hosts.join(" and ")),
        None => format!("N+{n}: SHORT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Capacity, DomState, DomainObs, HostObservation, HostProbe, Time};

    const GIB: u64 = 1024 * 1024;

    fn observe(e: &mut Engine, secs: u64, doms: &[(&str, &str, u64)]) -> Output {
        let hosts: Vec<String> = e.hosts.keys().cloned().collect();
        let obs: Vec<HostObservation> = hosts
            .iter()
            .map(|h| HostObservation {
                host: h.to_string(),
                result: Ok(HostProbe {
                    capacity: Capacity { cpus: 16, memory_kib: 16 * GIB },
                    domains: doms
                        .iter()
                        .filter(|(_, on, _)| on == h)
                        .map(|(n, _, gib)| DomainObs {
                            name: n.to_string(),
                            state: DomState::Running,
                            vcpus: 1,
                            memory_kib: gib * GIB,
                        })
                        .collect(),
                }),
            })
            .collect();
        e.observe(Time::from_secs(secs), &obs)
    }

    #[test]
    fn each_host_lost_in_turn_and_one_alarm_while_short() {
        let mut e = crate::testkit::engine(vec![crate::testkit::vm("a", "hv1"), crate::testkit::vm("b", "hv2")]);
        e.placement_policy.spare_hosts = 1;
        let mut alarms = Vec::new();
        for s in 1..=12 {
            let out = observe(&mut e, s, &[("a", "hv1", 8), ("b", "hv2", 12)]);
            alarms.extend(out.alarms.into_iter().filter_map(|(_, a)| a).filter(|a| a.key == "spare"));
        }
        let rec = e.spare.clone().expect("checked");
        assert_eq!(rec.short.get("hv1"), Some(&vec!["a".to_string()]), "8 GiB do not fit in hv2's 4 free");
        assert_eq!(rec.short.get("hv2"), Some(&vec!["b".to_string()]));
        assert_eq!(alarms.len(), 1, "one alarm, not one per check: {alarms:?}");
        assert_eq!(e.if_fails("hv1").as_deref(), Some("if hv1 fails: a has no room"));
        assert_eq!(summary(&rec, 1), "N+1: SHORT (2 hosts would leave VMs without room)");
        // b shrinks to 4 GiB: each fits on the other; the alarm ends at the next check.
        let mut ended = false;
        for s in 13..=20 {
            let out = observe(&mut e, s, &[("a", "hv1", 8), ("b", "hv2", 4)]);
            ended |= out.alarms.iter().any(|(_, a)| a.as_ref().is_some_and(|a| a.key == "spare" && a.ended.is_some()));
        }
        assert!(ended && e.spare.as_ref().is_some_and(|r| r.ok()));
        assert_eq!(e.if_fails("hv2").as_deref(), Some("if hv2 fails: its VMs fit on the other hosts"));
        assert_eq!(summary(e.spare.as_ref().unwrap(), 1), "N+1: ok");
    }

    #[test]
    fn spare_enforce_refuses_a_protection_that_would_break_it() {
        let host =
            |n: &str| crate::HostSpec { name: n.into(), uri: "test:///x".into(), fence_agent: None, soft_fence: false };
        let spec = crate::ClusterSpec {
            hosts: vec![host("hv1"), host("hv2"), host("hv3")],
            vms: vec![crate::testkit::vm("a", "hv1"), crate::testkit::vm("b", "hv2"), crate::testkit::vm("d", "hv3")],
            host_policy: Default::default(),
            placement: crate::PlacementPolicy { spare_hosts: 1, spare_enforce: true, ..Default::default() },
            witnesses: vec![],
        };
        let mut e = Engine::new(spec, Time::ZERO);
        // hv1 full with a (2 GiB) and c (14 GiB, not protected); b and d leave 10 GiB on hv2, hv3.
        let doms: &[(&str, &str, u64)] = &[("a", "hv1", 2), ("c", "hv1", 14), ("b", "hv2", 6), ("d", "hv3", 6)];
        for s in 1..=6 {
            observe(&mut e, s, doms);
        }
        assert!(e.spare.as_ref().is_some_and(|r| r.ok()), "{:?}", e.spare);
        let protect = |name: &str| crate::Command::Protect { spec: Box::new(crate::testkit::vm(name, "hv1")) };
        let err = e.command(Time::from_secs(7), "console:alice", &protect("c")).unwrap_err();
        assert_eq!(
            err,
            "protecting c on hv1 would break the spare capacity (if hv1 fails, c has no room), and [placement] \
             spare_enforce is on"
        );
        assert!(!e.vms.contains_key("c"), "nothing changed");
        // Without spare_enforce, it is protected (and the alarm will say it is short).
        e.placement_policy.spare_enforce = false;
        e.command(Time::from_secs(8), "console:alice", &protect("c")).unwrap();
        assert!(e.vms.contains_key("c"));
    }

    #[test]
    fn many_vms_are_named_briefly() {
        let vms: Vec<String> = (1..=6).map(|i| format!("vm{i}")).collect();
        assert_eq!(have(&vms[..1]), "vm1 has");
        assert_eq!(have(&vms[..2]), "vm1, vm2 have");
        assert_eq!(have(&vms), "vm1, vm2, vm3 and 3 more have");
    }
}
