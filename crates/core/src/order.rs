//! Start order (`after = ["db1"]`): a VM is started by 3RC only once every VM it starts after is
//! ready by that VM's own `ready` — its domain runs (`running`), its qemu guest agent answered
//! since it started (`agent`), or it passed its probes (`probes`: `Healthy`) — or once it has
//! waited `after_wait`, when it starts anyway with a note (vSphere's orchestrated restart and
//! its timeout; Pacemaker's ordering constraints).
//!
//! The gate is asked wherever 3RC would start a VM: the recovery of a fenced host's VMs (in
//! priority order, the VMs waiting in `Pending` with the reason), the ladder (a VM that stays
//! bad waits `Suspect` and climbs once the gate opens: a restart, a relocation, a reinstall),
//! and an operator's `start` (accepted, the VM `Pending` until it may start). An operator's
//! `reinstall` is refused while the gate is shut. Cycles are configuration errors.

use super::engine::{Engine, Output};
use super::event::Subject;
use super::guest::GuestAnswer;
use super::model::{DomState, GuestCheck, Readiness};
use super::state::VmState;
use super::time::human;
use super::VmSpec;
use std::collections::{BTreeMap, BTreeSet};

/// Every VM's `after`, from names of VMs and anti-affinity groups (all of a group's VMs but
/// the VM itself) into VM names. An error says which VM (its index) and what: a name that is
/// neither or both, the VM itself, or a cycle (`start order cycle: app1 -> db1 -> app1`).
pub fn resolve_after(vms: &mut [VmSpec]) -> Result<(), (usize, String)> {
    let names: BTreeSet<String> = vms.iter().map(|v| v.name.clone()).collect();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in vms.iter() {
        if let Some(g) = &v.anti_affinity {
            groups.entry(g.clone()).or_default().push(v.name.clone());
        }
    }
    for (i, v) in vms.iter_mut().enumerate() {
        let mut resolved: Vec<String> = Vec::new();
        for item in &v.after {
            let members = match (names.contains(item), groups.get(item)) {
                (true, Some(_)) => {
                    return Err((
                        i,
                        format!("VM {}: after names {item}, which is both a VM and an anti_affinity group", v.name),
                    ))
                }
                (true, None) if *item == v.name => {
                    return Err((i, format!("VM {}: after names the VM itself", v.name)))
                }
                (true, None) => vec![item.clone()],
                (false, Some(m)) => m.iter().filter(|m| **m != v.name).cloned().collect(),
                (false, None) => {
                    return Err((
                        i,
                        format!("VM {}: after names {item}, which is neither a VM nor an anti_affinity group", v.name),
                    ))
                }
            };
            for m in members {
                if !resolved.contains(&m) {
                    resolved.push(m);
                }
            }
        }
        v.after = resolved;
    }
    match find_cycle(vms) {
        Some((i, cycle)) => Err((i, format!("start order cycle: {}", cycle.join(" -> ")))),
        None => Ok(()),
    }
}

/// A cycle of `after` edges: the index of its first VM, and the names along it (the first
/// again at the end).
fn find_cycle(vms: &[VmSpec]) -> Option<(usize, Vec<String>)> {
    let index: BTreeMap<&str, usize> = vms.iter().enumerate().map(|(i, v)| (v.name.as_str(), i)).collect();
    // 1: on the current path, 2: done.
    let mut mark = vec![0u8; vms.len()];
    fn visit(
        i: usize,
        vms: &[VmSpec],
        index: &BTreeMap<&str, usize>,
        mark: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        match mark[i] {
            2 => return None,
            1 => {
                let at = path.iter().position(|p| *p == i).unwrap_or(0);
                let mut c = path[at..].to_vec();
                c.push(i);
                return Some(c);
            }
            _ => {}
        }
        mark[i] = 1;
        path.push(i);
        for d in &vms[i].after {
            if let Some(c) = index.get(d.as_str()).and_then(|&j| visit(j, vms, index, mark, path)) {
                return Some(c);
            }
        }
        path.pop();
        mark[i] = 2;
        None
    }
    (0..vms.len())
        .find_map(|i| visit(i, vms, &index, &mut mark, &mut Vec::new()))
        .map(|c| (c[0], c.iter().map(|&j| vms[j].name.clone()).collect()))
}

impl Engine {
    /// Why `name` must not be started yet, if so: the VMs it starts after that are not ready,
    /// and how long it has waited. Past its `after_wait`, `None` (with a note, once).
    pub(super) fn start_waits(&mut self, name: &str, out: &mut Output) -> Option<String> {
        let v = &self.vms[name];
        if v.spec.after.is_empty() {
            return None;
        }
        let waiting: Vec<String> =
            v.spec.after.iter().filter_map(|d| self.not_ready(d).map(|why| format!("{d} ({why})"))).collect();
        let max = v.spec.after_wait;
        let now = self.now;
        if waiting.is_empty() {
            self.vm_mut(name).order_since = None;
            return None;
        }
        let since = *self.vm_mut(name).order_since.get_or_insert(now);
        let waited = now.since(since);
        if waited < max {
            return Some(format!("starts after {}: waited {} of {}", waiting.join(", "), human(waited), human(max)));
        }
        if !self.vms[name].order_gave_up {
            self.vm_mut(name).order_gave_up = true;
            let why =
                format!("waited {} for {} (after_wait): starting without them", human(waited), waiting.join(", "));
            self.note(Subject::Vm(name.into()), why, out);
        }
        None
    }

    /// Why VM `dep` is not ready for those that start after it, if it is not.
    fn not_ready(&self, dep: &str) -> Option<String> {
        let d = self.vms.get(dep)?;
        let runs = d.action.is_none()
            && d.observed == Some(DomState::Running)
            && matches!(d.state, VmState::Healthy | VmState::Probation | VmState::Suspect);
        if !runs {
            return Some(format!("{}: not running", d.state));
        }
        match d.spec.ready {
            Readiness::Running => None,
            Readiness::Agent => {
                let answered = d.guest.results.get(&GuestCheck::Agent).is_some_and(|r| {
                    r.answer == GuestAnswer::Passed && d.guest.up_since.is_some_and(|up| r.asked >= up)
                });
                (!answered).then(|| "its guest agent has not answered since it started".to_string())
            }
            Readiness::Probes => (d.state != VmState::Healthy).then(|| format!("{}: not past its probes yet", d.state)),
        }
    }

    /// A VM 3RC would start waits for its start order: `Pending` with the reason (no alarm:
    /// waiting for another VM is the plan, not a fault).
    pub(super) fn wait_order(&mut self, name: &str, reason: String, out: &mut Output) {
        self.vm_mut(name).order_waited = true;
        if self.vms[name].state == VmState::Pending {
            self.vm_mut(name).reason = reason;
        } else {
            self.vm_transition(name, VmState::Pending, reason, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DomainObs, HostObservation, HostProbe, Time};

    fn cycle(e: &mut crate::Engine, secs: u64, running: &[&str]) -> Output {
        let doms = ["app1", "db1"]
            .iter()
            .map(|n| DomainObs {
                name: n.to_string(),
                state: if running.contains(n) { DomState::Running } else { DomState::ShutOff },
                vcpus: 1,
                memory_kib: 1024,
            })
            .collect();
        let obs = [
            HostObservation { host: "hv1".into(), result: Ok(HostProbe { domains: doms, ..Default::default() }) },
            HostObservation { host: "hv2".into(), result: Ok(HostProbe::default()) },
        ];
        e.observe(Time::from_secs(secs), &obs)
    }

    #[test]
    fn a_vm_waits_for_what_it_starts_after_then_starts_or_gives_up_after_its_wait() {
        let mut app = crate::testkit::vm("app1", "hv1");
        app.after = vec!["db1".into()];
        app.after_wait = std::time::Duration::from_secs(30);
        let mut e = crate::testkit::engine(vec![app, crate::testkit::vm("db1", "hv1")]);
        cycle(&mut e, 1, &["app1", "db1"]);
        // db1 stops (a person, say) and app1 crashes: app1's ladder waits for db1.
        cycle(&mut e, 2, &[]);
        cycle(&mut e, 3, &[]);
        let out = cycle(&mut e, 4, &[]);
        assert!(out.actions.iter().all(|a| !a.kind.to_string().contains("app1")), "{:?}", out.actions);
        let (state, _) = e.vm_state("app1").unwrap();
        assert_eq!(state, VmState::Suspect);
        assert!(e.vms["app1"].reason.contains("starts after db1 ("), "{}", e.vms["app1"].reason);
        // Past its wait it starts without db1, saying so once.
        let mut notes = Vec::new();
        let mut started = None;
        for s in 5..=40 {
            let out = cycle(&mut e, s, if started.is_some() { &["app1"] } else { &[] });
            notes.extend(out.events.iter().filter(|ev| ev.reason.contains("after_wait")).map(|ev| ev.reason.clone()));
            if started.is_none() && out.actions.iter().any(|a| a.kind.to_string().contains("app1")) {
                started = Some(s);
            }
        }
        assert_eq!(started, Some(34), "30 s after it began to wait, at its third bad probe (4 s)");
        assert_eq!(notes.len(), 1, "{notes:?}");
    }

    #[test]
    fn an_operators_start_that_waited_starts_on_the_vm_s_own_host() {
        let mut app = crate::testkit::vm("app1", "hv1");
        app.after = vec!["db1".into()];
        let mut e = crate::testkit::engine(vec![app, crate::testkit::vm("db1", "hv1")]);
        cycle(&mut e, 1, &["app1", "db1"]);
        let t = Time::from_secs;
        let cmd = |e: &mut crate::Engine, s: u64, c: crate::Command| {
            let out = e.command(t(s), "console:alice", &c).unwrap();
            for a in &out.actions {
                e.outcome(t(s), a.id, crate::Outcome::Done);
            }
            out.actions.iter().map(|a| a.kind.to_string()).collect::<Vec<_>>()
        };
        // A person stops both, then starts app1 first: accepted, it waits for db1.
        cmd(&mut e, 2, crate::Command::Stop { vm: "db1".into() });
        cmd(&mut e, 2, crate::Command::Stop { vm: "app1".into() });
        cycle(&mut e, 3, &[]);
        assert!(cmd(&mut e, 4, crate::Command::Start { vm: "app1".into() }).is_empty());
        assert_eq!(e.vm_state("app1").unwrap().0, VmState::Pending);
        let app1 = |out: &Output| -> Vec<String> {
            out.actions.iter().map(|a| a.kind.to_string()).filter(|k| k.contains("app1")).collect()
        };
        assert!(app1(&cycle(&mut e, 5, &[])).is_empty(), "db1 not running");
        assert_eq!(cmd(&mut e, 6, crate::Command::Start { vm: "db1".into() }), ["start db1 on hv1"]);
        // Started in place, as a start that did not wait (placement would find no room here:
        // these hosts report no CPUs).
        let out = cycle(&mut e, 7, &["db1"]);
        assert_eq!(app1(&out), ["start app1 on hv1"]);
        assert!(e.vms["app1"].reason.contains("its start order allows it now: starting on its host hv1"));
    }
}
