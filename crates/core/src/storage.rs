//! VMs paused by I/O errors: a storage outage, not a VM failure.
//!
//! qemu stops a guest whose disk fails (`error_policy='stop'`, the default) and libvirt says
//! why (`paused`, reason `ioerror`: [`DomState::IoPaused`]). Restarting such a VM, or starting
//! it on another host, would not help — the same storage would fail again — and could lose the
//! writes qemu holds: the VM is `StoragePaused`, outside the ladder, and nothing is done to it.
//! A person must know at once what failed: VMs paused longer than `storage_alarm_after` raise
//! one alarm per host naming its storage, or, when they are on several hosts, one
//! `storage-outage` alarm for the cluster (the shared storage failed) instead of one per VM or
//! host. 3RC tries to resume such VMs every `storage_resume_after` (30 s), one per host at a
//! time (its answer is the others'); one that runs again has every other paused VM tried at
//! once. So a VM runs again at most ~35 s after its storage answers. A VM seen running again (resumed by 3RC or by
//! a person) is `Healthy`; the alarms end once no VM they name is paused. vSphere's VM
//! Component Protection (all paths down) and oVirt's auto-resume treat the same case.

use super::action::{ActionKind, Decider, Outcome};
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
            self.maybe_resume_paused(name, h, out);
            return;
        }
        let reason = format!(
            "paused by an I/O error on {h} (its storage failed): not restarted or moved, the same storage would \
             fail again"
        );
        let first = self.host_policy.storage_resume_after;
        let now = self.now;
        let vm = self.vm_mut(name);
        vm.bad = 0;
        vm.good = 0;
        vm.first_bad_at = None;
        vm.resume_at = first.map(|d| now.plus(d));
        self.vm_transition(name, VmState::StoragePaused, reason, out);
    }

    /// Its time come, try whether the storage answers: resume the VM (the action is done only
    /// if it still runs a moment later). Not while HA is disarmed.
    fn maybe_resume_paused(&mut self, name: &str, h: &str, out: &mut Output) {
        let v = &self.vms[name];
        if !self.armed || v.resume_at.is_none_or(|t| self.now < t) {
            return;
        }
        // One try per host at a time: its answer is the others' too.
        let trying = |o: &super::vm_fsm::VmRec| {
            o.state == VmState::StoragePaused && o.action.is_some() && o.host.as_deref() == Some(h)
        };
        if self.vms.values().any(trying) {
            return;
        }
        let why = format!(
            "paused by I/O errors for {}: trying whether its storage answers again",
            human(self.now.since(v.since))
        );
        let id = self.act(ActionKind::Resume { vm: name.to_string(), host: h.to_string() }, Decider::Policy(why), out);
        self.vm_mut(name).action = Some(id);
    }

    /// A resume tried by 3RC ended: running, the VM is `Healthy` and every other VM paused by
    /// I/O errors is tried at once (the storage is back); still failing, that host's paused VMs
    /// wait `storage_resume_after` again; where the backend cannot resume, it is left to a person.
    pub(super) fn resume_done(&mut self, name: &str, host: &str, outcome: &Outcome, out: &mut Output) {
        let now = self.now;
        match outcome {
            Outcome::Done => {
                let paused = human(now.since(self.vms[name].since));
                self.vm_mut(name).resume_at = None;
                let reason =
                    format!("resumed on {host} after {paused} paused by I/O errors: its storage answers again");
                self.vm_transition(name, VmState::Healthy, reason, out);
                for v in self.vms.values_mut().filter(|v| v.state == VmState::StoragePaused) {
                    v.resume_at = Some(now);
                }
            }
            Outcome::Unsupported(e) => {
                self.vm_mut(name).resume_at = None;
                let text = format!("3RC cannot resume {name} here ({e}): a person must, once the storage answers");
                self.note(Subject::Vm(name.into()), text, out);
            }
            Outcome::Failed(_) | Outcome::StartFailed(_) => {
                // Every VM paused on that host waits as long: its storage still fails.
                let Some(wait) = self.host_policy.storage_resume_after else { return };
                let reason = format!(
                    "paused by an I/O error on {host}: its storage still fails (a resume was tried); tried again in {}",
                    human(wait)
                );
                let on_host = |v: &&mut super::vm_fsm::VmRec| {
                    v.state == VmState::StoragePaused && v.host.as_deref() == Some(host)
                };
                for v in self.vms.values_mut().filter(on_host) {
                    v.resume_at = Some(now.plus(wait));
                    v.reason = reason.clone();
                }
            }
        }
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

    /// Once per cycle, after the VMs were judged: raise or end the storage alarms.
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
        if paused_on.is_empty() && self.alarm_stands(OUTAGE) {
            self.end_alarms(OUTAGE, "no VM is paused by I/O errors any more", out);
        }
        let hosts: Vec<String> = self
            .alarms
            .iter()
            .filter(|a| a.alarm.ended.is_none())
            .filter_map(|a| a.alarm.key.strip_prefix("storage:").map(String::from))
            .collect();
        for h in hosts {
            if !paused_on.contains_key(&h) {
                self.end_alarms(
                    &format!("storage:{h}"),
                    &format!("no VM on {h} is paused by I/O errors any more"),
                    out,
                );
            }
        }
        let count: usize = long.values().map(Vec::len).sum();
        let then = match self.host_policy.storage_resume_after {
            Some(_) => "3RC resumes them once it answers (it tries from time to time)",
            None => "Once it answers, resume them (`virsh resume`); 3RC takes them back as running",
        };
        if long.len() >= 2 && !self.alarm_stands(OUTAGE) {
            let on: Vec<String> = long.iter().map(|(h, vms)| format!("{h} ({})", vms.join(", "))).collect();
            self.raise(
                OUTAGE.to_string(),
                Subject::Cluster,
                Severity::Critical,
                format!(
                    "storage outage: {count} VMs paused by I/O errors for over {} on {} hosts: {}. The storage they \
                     share failed (the NAS or SAN, or the network to it). Nothing is restarted or moved: the same \
                     storage would fail again. {then}",
                    human(after),
                    long.len(),
                    on.join("; ")
                ),
                out,
            );
            for h in long.keys() {
                self.end_alarms(&format!("storage:{h}"), "superseded by the storage outage alarm", out);
            }
        }
        if self.alarm_stands(OUTAGE) {
            return;
        }
        for (h, vms) in long {
            self.raise(
                format!("storage:{h}"),
                Subject::Host(h.clone()),
                Severity::Critical,
                format!(
                    "storage of {h}: {} paused by I/O errors for over {}. Its storage failed (a volume, a path, the \
                     NAS or SAN). Not restarted or moved: the same storage would fail again. {then}",
                    vms.join(", "),
                    human(after)
                ),
                out,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DomainObs, EventKind, HostObservation, HostProbe, Time};

    fn engine() -> Engine {
        crate::testkit::engine(vec![crate::testkit::vm("a", "hv1"), crate::testkit::vm("b", "hv1")])
    }

    /// One cycle at `secs` with a and b in `state` on hv1.
    fn cycle(e: &mut Engine, secs: u64, state: DomState) -> Output {
        let dom = |n: &str| DomainObs { name: n.into(), state, vcpus: 1, memory_kib: 1024 };
        let obs = [
            HostObservation {
                host: "hv1".into(),
                result: Ok(HostProbe { domains: vec![dom("a"), dom("b")], ..Default::default() }),
            },
            HostObservation { host: "hv2".into(), result: Ok(HostProbe::default()) },
        ];
        e.observe(Time::from_secs(secs), &obs)
    }

    fn alarms(out: &Output) -> Vec<String> {
        out.events.iter().filter(|e| matches!(e.kind, EventKind::Alarm { .. })).map(|e| e.reason.clone()).collect()
    }

    #[test]
    fn paused_by_io_errors_one_alarm_one_resume_per_host_and_nothing_else() {
        let mut e = engine();
        cycle(&mut e, 1, DomState::Running);
        let mut actions = Vec::new();
        let mut raised = Vec::new();
        for s in 2..=40 {
            let out = cycle(&mut e, s, DomState::IoPaused);
            raised.extend(alarms(&out));
            actions.extend(out.actions);
        }
        assert_eq!(e.vms["a"].state, VmState::StoragePaused);
        assert_eq!(raised.len(), 1, "{raised:?}");
        assert!(raised[0].starts_with("storage of hv1: a, b paused by I/O errors"), "{raised:?}");
        // One resume, of one VM of the host, at 30 s: nothing restarted or moved.
        assert_eq!(actions.len(), 1, "{actions:?}");
        let a = &actions[0];
        assert_eq!(a.kind, ActionKind::Resume { vm: "a".into(), host: "hv1".into() });
        // Still failing: the host's VMs wait 30 s again.
        e.outcome(Time::from_secs(41), a.id, Outcome::Failed("paused again".into()));
        for s in 42..=70 {
            assert!(cycle(&mut e, s, DomState::IoPaused).actions.is_empty(), "a try at {s} s");
        }
        let next = cycle(&mut e, 71, DomState::IoPaused).actions;
        assert_eq!(next.len(), 1);
        // The storage answers: a runs, and b is tried at once.
        let out = e.outcome(Time::from_secs(72), next[0].id, Outcome::Done);
        assert_eq!(e.vms["a"].state, VmState::Healthy);
        let dom = |n: &str, state| DomainObs { name: n.into(), state, vcpus: 1, memory_kib: 1024 };
        let obs = [
            HostObservation {
                host: "hv1".into(),
                result: Ok(HostProbe {
                    domains: vec![dom("a", DomState::Running), dom("b", DomState::IoPaused)],
                    ..Default::default()
                }),
            },
            HostObservation { host: "hv2".into(), result: Ok(HostProbe::default()) },
        ];
        let b = e.observe(Time::from_secs(72), &obs).actions;
        assert_eq!(b.len(), 1, "{out:?}");
        assert_eq!(b[0].kind, ActionKind::Resume { vm: "b".into(), host: "hv1".into() });
        e.outcome(Time::from_secs(75), b[0].id, Outcome::Done);
        let out = cycle(&mut e, 76, DomState::Running);
        // The alarm ended, kept (numbers go on), not firing.
        assert!(out.events.iter().any(|ev| ev.reason.starts_with("alarm #1 ended")), "{:?}", out.events);
        let kept = e.alarms_kept();
        assert!(kept.iter().all(|a| a.ended.is_some() && a.ack.is_some()), "{kept:?}");
    }

    #[test]
    fn disarmed_nothing_is_resumed() {
        let mut e = engine();
        cycle(&mut e, 1, DomState::Running);
        e.armed = false;
        for s in 2..=100 {
            assert!(cycle(&mut e, s, DomState::IoPaused).actions.is_empty());
        }
        assert_eq!(e.vms["a"].state, VmState::StoragePaused);
    }
}
