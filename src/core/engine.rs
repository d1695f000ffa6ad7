//! The engine: observations, action outcomes and operator commands in; actions and events out.
//!
//! One call to [`Engine::observe`] is one supervision cycle: host probes first (host state
//! machines), then each VM is judged against what its host reported (VM state machines), then
//! host-level work (fencing, stale-copy cleanup after a rejoin, maintenance drain), then the
//! recovery of VMs whose host is fenced, highest priority first.
//!
//! Safety rule enforced here: a VM is started somewhere else only when its old host answered
//! and its copy there was destroyed by the same action (ladder step 2), or when the old host is
//! `Fenced` (by an agent, or confirmed off by a person).

use super::action::{Action, ActionId, ActionKind, Decider, Outcome};
use super::event::{Event, EventKind, Severity, Subject};
use super::host_fsm::HostRec;
use super::model::{ClusterSpec, DomState, HostObservation, HostPolicy, PlacementPolicy};
use super::placement::{self, PlacementTrace, Request, Slot};
use super::state::{HostState, VmState};
use super::time::Time;
use super::vm_fsm::{Rung, VmProbe, VmRec, VmStep};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What one call into the engine produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    /// Side effects to carry out, in order. Each outcome must come back through
    /// [`Engine::outcome`].
    pub actions: Vec<Action>,
    pub events: Vec<Event>,
}

#[derive(Clone, Debug)]
pub(super) struct AlarmRec {
    pub id: u64,
    pub key: String,
    pub at: Time,
    pub subject: Subject,
    pub severity: Severity,
    pub message: String,
    pub acked: bool,
}

pub struct Engine {
    pub(super) host_policy: HostPolicy,
    pub(super) placement_policy: PlacementPolicy,
    pub(super) hosts: BTreeMap<String, HostRec>,
    pub(super) vms: BTreeMap<String, VmRec>,
    pub(super) armed: bool,
    pub(super) next_action: ActionId,
    pub(super) inflight: BTreeMap<ActionId, Action>,
    pub(super) alarms: Vec<AlarmRec>,
    pub(super) next_alarm: u64,
    pub(super) now: Time,
}

/// Where each domain was seen this cycle, by name: every answering host that has it defined.
type Sightings = HashMap<String, Vec<Sighting>>;

#[derive(Clone, Debug)]
struct Sighting {
    host: String,
    state: DomState,
    vcpus: u32,
    memory_kib: u64,
}

impl Engine {
    pub fn new(spec: ClusterSpec, now: Time) -> Engine {
        Engine {
            host_policy: spec.host_policy,
            placement_policy: spec.placement,
            hosts: spec.hosts.into_iter().map(|h| (h.name.clone(), HostRec::new(h, now))).collect(),
            vms: spec.vms.into_iter().map(|v| (v.name.clone(), VmRec::new(v, now))).collect(),
            armed: true,
            next_action: 1,
            inflight: BTreeMap::new(),
            alarms: Vec::new(),
            next_alarm: 1,
            now,
        }
    }

    pub fn is_armed(&self) -> bool {
        self.armed
    }

    /// Actions decided and not yet finished.
    pub fn inflight(&self) -> impl Iterator<Item = &Action> {
        self.inflight.values()
    }

    pub fn vm_state(&self, vm: &str) -> Option<(VmState, Option<&str>)> {
        self.vms.get(vm).map(|v| (v.state, v.host.as_deref()))
    }

    /// Every protected VM with its state and host, and whether that host answered this cycle.
    pub fn vm_placements(&self) -> impl Iterator<Item = (&str, VmState, Option<&str>, bool)> {
        self.vms.values().map(|v| {
            let answered = v.host.as_deref().and_then(|h| self.hosts.get(h)).is_some_and(|h| h.answered);
            (v.spec.name.as_str(), v.state, v.host.as_deref(), answered)
        })
    }

    pub fn host_state(&self, host: &str) -> Option<HostState> {
        self.hosts.get(host).map(|h| h.shown_state())
    }

    /// One cycle for a one-shot view (`3rc status`): states are updated, nothing is decided.
    pub fn observe_readonly(&mut self, now: Time, observations: &[HostObservation]) {
        let armed = self.armed;
        self.armed = false;
        let _ = self.observe(now, observations);
        self.armed = armed;
        self.inflight.clear();
    }

    /// One supervision cycle.
    pub fn observe(&mut self, now: Time, observations: &[HostObservation]) -> Output {
        self.now = now;
        let mut out = Output::default();
        for h in self.hosts.values_mut() {
            h.answered = false;
        }
        let mut obs: Vec<&HostObservation> = observations.iter().collect();
        obs.sort_by(|a, b| a.host.cmp(&b.host));
        for o in obs {
            let policy = self.host_policy.clone();
            let Some(h) = self.hosts.get_mut(&o.host) else {
                continue;
            };
            let step = h.on_probe(now, o.result.as_ref().map_err(|e| e.as_str()), &policy);
            if let Some(step) = step {
                self.host_transition(&o.host, step.to, step.reason, &mut out);
            }
        }
        let sightings = self.sightings();
        let names: Vec<String> = self.vms.keys().cloned().collect();
        for name in &names {
            self.judge_vm(name, &sightings, &mut out);
        }
        self.host_work(&mut out);
        self.recover(&mut out);
        out
    }

    /// Index every domain seen by an answering host this cycle. Owned, so the engine can be
    /// mutated while it is used.
    fn sightings(&self) -> Sightings {
        let mut map = Sightings::new();
        for (hn, h) in &self.hosts {
            if !h.answered {
                continue;
            }
            if let Some(p) = &h.last_probe {
                for d in &p.domains {
                    map.entry(d.name.clone()).or_default().push(Sighting {
                        host: hn.clone(),
                        state: d.state,
                        vcpus: d.vcpus,
                        memory_kib: d.memory_kib,
                    });
                }
            }
        }
        map
    }

    fn judge_vm(&mut self, name: &str, sightings: &Sightings, out: &mut Output) {
        let now = self.now;
        let found: &[Sighting] = sightings.get(name).map(|v| v.as_slice()).unwrap_or(&[]);
        let seen: Vec<(&str, DomState)> = found.iter().map(|s| (s.host.as_str(), s.state)).collect();
        let Some(vm) = self.vms.get_mut(name) else {
            return;
        };
        // Size and observation are kept up to date whatever the state; the copy on its own
        // host is the one that counts.
        let mut home = vm.host.clone();
        let at_home = found.iter().find(|s| Some(&s.host) == home.as_ref());
        vm.observed = at_home.map(|s| s.state);
        if let Some(s) = at_home.or(found.first()) {
            vm.vcpus = s.vcpus;
            vm.memory_kib = s.memory_kib;
        }
        if vm.action.is_some() || matches!(vm.state, VmState::Stopped | VmState::Unmanaged | VmState::NeedsOperator) {
            return;
        }
        if matches!(vm.state, VmState::Pending | VmState::AwaitingFence) {
            // Waiting for a host, yet seen running on one whose probes can be trusted (its
            // fenced host came back with it autostarted, or it was started by hand): it must
            // not be recovered anywhere else. Follow it and judge it there.
            let Some(h) = found
                .iter()
                .find(|s| s.state.is_active() && self.hosts.get(&s.host).is_some_and(|r| r.can_judge_vms()))
                .map(|s| s.host.clone())
            else {
                return;
            };
            let was = vm.state;
            vm.host = Some(h.clone());
            vm.observed = found.iter().find(|s| s.host == h).map(|s| s.state);
            self.vm_transition(
                name,
                VmState::Suspect,
                format!("found running on {h} while {was}: not started elsewhere, checking it there"),
                out,
            );
            home = Some(h);
        }
        let active: Vec<&str> = seen.iter().filter(|(_, s)| s.is_active()).map(|(h, _)| *h).collect();
        if active.len() > 1 {
            self.duplicate(name, &active, out);
            return;
        }
        let probe = match home.as_deref() {
            None => {
                if let Some(h) = active.first() {
                    self.vm_mut(name).host = Some(h.to_string());
                    VmProbe::Good
                } else if let Some((h, s)) = seen.first() {
                    self.vm_mut(name).host = Some(h.to_string());
                    VmProbe::Bad(format!("{} on {h}", s.label()))
                } else if self.hosts.values().all(|h| h.answered || h.state == HostState::Fenced) {
                    self.vm_transition(name, VmState::NeedsOperator, "not defined on any host".into(), out);
                    self.raise(
                        format!("missing:{name}"),
                        Subject::Vm(name.into()),
                        Severity::Warning,
                        format!("{name} is not defined on any host: define it, or remove it from the config"),
                        out,
                    );
                    return;
                } else {
                    return;
                }
            }
            Some(h) => {
                let Some(hrec) = self.hosts.get(h) else {
                    return;
                };
                match hrec.state {
                    HostState::Down | HostState::Fencing | HostState::Fenced => {
                        let reason = format!("host {h} is {}: waiting for fence before any restart", hrec.state);
                        self.vm_transition(name, VmState::AwaitingFence, reason, out);
                        return;
                    }
                    _ if !hrec.can_judge_vms() => return,
                    _ => {}
                }
                if active.contains(&h) {
                    VmProbe::Good
                } else if let Some(other) = active.first() {
                    let other = other.to_string();
                    self.note(
                        Subject::Vm(name.into()),
                        format!("found running on {other} instead of {h}: moved outside 3RC, following it"),
                        out,
                    );
                    self.vm_mut(name).host = Some(other);
                    VmProbe::Good
                } else {
                    match seen.iter().find(|(sh, _)| *sh == h) {
                        Some((_, s)) => VmProbe::Bad(s.label().to_string()),
                        None => VmProbe::Bad(format!("not defined on {h}")),
                    }
                }
            }
        };
        let step = self.vm_mut(name).on_probe(now, &probe);
        match step {
            Some(VmStep::To(state, reason)) => self.vm_transition(name, state, reason, out),
            Some(VmStep::Escalate(reason)) => self.climb(name, reason, None, out),
            None => {}
        }
    }

    /// A VM active on more than one host. A copy on a rejoining host is that host's cleanup;
    /// otherwise the copy on the VM's own host is kept and the others are destroyed, as
    /// Pacemaker's `multiple-active=stop_start` would, with a critical alarm.
    fn duplicate(&mut self, name: &str, active: &[&str], out: &mut Output) {
        let rejoining = active.iter().any(|h| self.hosts.get(*h).is_some_and(|r| r.state == HostState::Rejoining));
        if rejoining {
            return;
        }
        let home = self.vms.get(name).and_then(|v| v.host.clone());
        let keep = home.filter(|h| active.contains(&h.as_str())).unwrap_or_else(|| active[0].to_string());
        let list = active.join(", ");
        self.raise(
            format!("duplicate:{name}"),
            Subject::Vm(name.into()),
            Severity::Critical,
            format!("{name} was active on several hosts ({list}): kept the copy on {keep}, destroyed the others"),
            out,
        );
        if !self.armed {
            return;
        }
        for h in active.iter().filter(|h| **h != keep) {
            let under_way = self
                .inflight
                .values()
                .any(|a| matches!(&a.kind, ActionKind::Destroy { vm, host, .. } if vm == name && host == h));
            if under_way {
                continue;
            }
            self.act(
                ActionKind::Destroy { vm: name.into(), host: h.to_string(), undefine: false },
                Decider::Policy(format!("multiple-active: keep the copy on {keep}")),
                out,
            );
        }
    }

    /// Climb the ladder for a VM that stays bad. `avoid`: a host not to relocate to, and why.
    pub(super) fn climb(&mut self, name: &str, why: String, avoid: Option<(String, String)>, out: &mut Output) {
        let now = self.now;
        if !self.armed {
            let vm = self.vm_mut(name);
            vm.reason = format!("{why}; HA disarmed: no action");
            if vm.state != VmState::Suspect {
                self.vm_transition(name, VmState::Suspect, format!("{why}; HA disarmed: no action"), out);
            }
            return;
        }
        let home = self.vms[name].host.clone();
        let home_online = home
            .as_deref()
            .and_then(|h| self.hosts.get(h))
            .is_some_and(|h| h.state == HostState::Online && h.answered && !h.maintenance);
        let rung = self.vms[name].next_rung(now, home_online);
        let (relocate, reinstall_or_stop): (Option<String>, Option<Result<String, String>>) = match rung {
            Rung::Restart(r) => {
                let host = home.unwrap_or_default();
                let w = self.vms[name].spec.policy.restart_window;
                self.vm_mut(name).restarts.record(now, w);
                self.start_action(
                    name,
                    VmState::Restarting,
                    format!("{why}; {r}"),
                    ActionKind::Restart { vm: name.into(), host },
                    Decider::Policy(format!("ladder step 1, {r}")),
                    out,
                );
                return;
            }
            Rung::Relocate(r) => (Some(r), None),
            Rung::Reinstall(r) => (None, Some(Ok(r))),
            Rung::Exhausted(r) => (None, Some(Err(r))),
        };
        let mut why = why;
        if let Some(r) = relocate {
            // The safety rule: never start it elsewhere while its host may still run it.
            let silent_home = home
                .as_deref()
                .filter(|h| self.hosts.get(*h).is_some_and(|r| !r.answered && r.state != HostState::Fenced));
            if let Some(h) = silent_home {
                let reason =
                    format!("{why}; host {h} does not answer: not started elsewhere until it answers or is fenced");
                self.vm_transition(name, VmState::Suspect, reason, out);
                return;
            }
            let avoid_here = home.as_ref().map(|h| (h.clone(), "the VM just failed here".to_string()));
            let trace = self.place_one(name, avoid.clone().or(avoid_here), None);
            if let Some(to) = trace.chosen.clone() {
                let w = self.vms[name].spec.policy.restart_window;
                self.vm_mut(name).relocations.record(now, w);
                let from = home.filter(|h| self.hosts.get(h).is_some_and(|r| r.answered));
                let summary = trace.summary();
                self.vm_mut(name).placement = Some(trace);
                self.vm_mut(name).target = Some(to.clone());
                self.start_action(
                    name,
                    VmState::Relocating,
                    format!("{why}; {r} to {to} ({summary})"),
                    ActionKind::Relocate { vm: name.into(), from, to },
                    Decider::Policy(format!("ladder step 2, {r}")),
                    out,
                );
                return;
            }
            why = format!("{why}; no other host can take it ({})", trace.summary());
            self.vm_mut(name).placement = Some(trace);
        }
        match reinstall_or_stop {
            Some(Err(r)) => self.needs_operator(name, format!("{why}; {r}"), out),
            _ if self.vms[name].spec.policy.reinstall => {
                let host = self.vms[name].host.clone().unwrap_or_default();
                self.start_action(
                    name,
                    VmState::Reinstalling,
                    format!("{why}; reinstalling from its golden image"),
                    ActionKind::Reinstall { vm: name.into(), host },
                    Decider::Policy("ladder step 3, reinstall from golden image".into()),
                    out,
                );
            }
            _ => self.needs_operator(name, format!("{why}; ladder exhausted, reinstall not allowed by policy"), out),
        }
    }

    pub(super) fn needs_operator(&mut self, name: &str, reason: String, out: &mut Output) {
        self.vm_transition(name, VmState::NeedsOperator, reason.clone(), out);
        self.raise(format!("operator:{name}"), Subject::Vm(name.into()), Severity::Critical, reason, out);
    }

    /// Record and emit an action for a VM, moving it to the state that owns the action.
    pub(super) fn start_action(
        &mut self,
        name: &str,
        state: VmState,
        reason: String,
        kind: ActionKind,
        decided_by: Decider,
        out: &mut Output,
    ) {
        self.vm_transition(name, state, reason, out);
        let id = self.act(kind, decided_by, out);
        self.vm_mut(name).action = Some(id);
    }

    /// Emit an action and remember it until its outcome arrives.
    pub(super) fn act(&mut self, kind: ActionKind, decided_by: Decider, out: &mut Output) -> ActionId {
        let id = self.next_action;
        self.next_action += 1;
        let subject = match (&kind, kind.vm()) {
            (_, Some(vm)) => Subject::Vm(vm.into()),
            (ActionKind::Fence { host }, None) => Subject::Host(host.clone()),
            _ => Subject::Cluster,
        };
        out.events.push(Event {
            at: self.now,
            subject,
            kind: EventKind::ActionDecided { id, action: kind.to_string(), decided_by: decided_by.clone() },
            reason: String::new(),
        });
        let action = Action { id, kind, decided_by };
        self.inflight.insert(id, action.clone());
        out.actions.push(action);
        id
    }

    /// Host-level work after the VMs were judged: fence Down hosts, clean stale copies on
    /// rejoining hosts, drain hosts in maintenance.
    fn host_work(&mut self, out: &mut Output) {
        let now = self.now;
        let names: Vec<String> = self.hosts.keys().cloned().collect();
        for hn in &names {
            let h = &self.hosts[hn];
            match h.state {
                HostState::Down => self.maybe_fence(hn, out),
                HostState::Rejoining if h.answered => self.rejoin(hn, out),
                HostState::Online if h.maintenance && h.answered && self.armed => self.drain(hn, out),
                _ => {}
            }
        }
        let _ = now;
    }

    fn maybe_fence(&mut self, hn: &str, out: &mut Output) {
        let now = self.now;
        let h = &self.hosts[hn];
        if !self.armed || h.fence_action.is_some() || h.fence_retry_at.is_some_and(|t| now < t) {
            return;
        }
        let vms = self.vms.values().filter(|v| v.host.as_deref() == Some(hn)).count();
        match h.spec.fence_agent.clone() {
            Some(agent) => {
                let id = self.act(
                    ActionKind::Fence { host: hn.into() },
                    Decider::Policy("host down: fence before its VMs run elsewhere".into()),
                    out,
                );
                let h = self.hosts.get_mut(hn).expect("host exists");
                h.fence_action = Some(id);
                let reason = format!("fencing with agent {agent} before restarting its {vms} VMs elsewhere");
                self.host_transition(hn, HostState::Fencing, reason, out);
            }
            None => self.raise(
                format!("nofence:{hn}"),
                Subject::Host(hn.into()),
                Severity::Critical,
                format!("{hn} is down and has no fence agent: its {vms} VMs wait until a person confirms it is off"),
                out,
            ),
        }
    }

    /// Clean stale copies of VMs that now run elsewhere; go Online once clean and stable.
    fn rejoin(&mut self, hn: &str, out: &mut Output) {
        let stale: Vec<(String, String)> = self.hosts[hn]
            .last_probe
            .iter()
            .flat_map(|p| p.domains.iter())
            .filter_map(|d| {
                let vm = self.vms.get(&d.name)?;
                let elsewhere = vm.host.as_deref().is_some_and(|h| h != hn) && vm.target.as_deref() != Some(hn);
                elsewhere.then(|| (d.name.clone(), vm.host.clone().unwrap_or_default()))
            })
            .collect();
        for (vm, now_on) in &stale {
            if self.hosts[hn].cleanups.contains_key(vm) || !self.armed {
                continue;
            }
            let id = self.act(
                ActionKind::Destroy { vm: vm.clone(), host: hn.into(), undefine: true },
                Decider::Policy(format!("rejoin: stale copy of {vm}, which now runs on {now_on}")),
                out,
            );
            self.hosts.get_mut(hn).expect("host exists").cleanups.insert(vm.clone(), id);
        }
        let ok = self.host_policy.ok_threshold.max(1);
        let h = &self.hosts[hn];
        if stale.is_empty() && h.cleanups.is_empty() && h.good >= ok {
            let reason = format!("{} good probes (threshold {ok}) and no stale copies", h.good);
            self.host_transition(hn, HostState::Online, reason, out);
        }
    }

    /// Live-migrate every movable VM off a host in maintenance.
    fn drain(&mut self, hn: &str, out: &mut Output) {
        let movable: Vec<String> = self
            .vms
            .values()
            .filter(|v| {
                v.host.as_deref() == Some(hn)
                    && v.action.is_none()
                    && v.drain_after.is_none_or(|t| self.now >= t)
                    && matches!(v.state, VmState::Healthy | VmState::Probation | VmState::Suspect)
            })
            .map(|v| v.spec.name.clone())
            .collect();
        for name in movable {
            let trace = self.place_one(&name, Some((hn.into(), "in maintenance".into())), None);
            let Some(to) = trace.chosen.clone() else {
                let reason = format!("cannot drain from {hn}: {}", trace.summary());
                if self.vms[&name].reason != reason {
                    self.vm_mut(&name).reason = reason.clone();
                    self.note(Subject::Vm(name.clone()), reason, out);
                }
                self.vm_mut(&name).placement = Some(trace);
                continue;
            };
            let summary = trace.summary();
            self.vm_mut(&name).placement = Some(trace);
            self.vm_mut(&name).target = Some(to.clone());
            self.start_action(
                &name,
                VmState::Migrating,
                format!("draining {hn} for maintenance: to {to} ({summary})"),
                ActionKind::Migrate { vm: name.clone(), from: hn.into(), to },
                Decider::Policy(format!("maintenance drain of {hn}")),
                out,
            );
        }
    }

    /// Place VMs whose host is fenced, and VMs waiting for capacity: highest priority first,
    /// each placement reserving its room before the next is judged.
    /// Run recovery placement outside a cycle (after a fence or an operator's confirmation).
    pub(super) fn recover_now(&mut self, out: &mut Output) {
        self.recover(out)
    }

    fn recover(&mut self, out: &mut Output) {
        if !self.armed {
            return;
        }
        let mut queue: Vec<(i32, String)> = self
            .vms
            .values()
            .filter(|v| v.action.is_none())
            .filter(|v| match v.state {
                VmState::Pending => true,
                VmState::AwaitingFence => {
                    v.host.as_deref().and_then(|h| self.hosts.get(h)).is_some_and(|h| h.state == HostState::Fenced)
                }
                _ => false,
            })
            .map(|v| (v.spec.priority, v.spec.name.clone()))
            .collect();
        if queue.is_empty() {
            return;
        }
        queue.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut slots = self.slots(None);
        for (_, name) in queue {
            let trace = self.place_in(&name, &slots, None);
            let from = self.vms[&name].host.clone().unwrap_or_default();
            match trace.chosen.clone() {
                Some(to) => {
                    reserve(&mut slots, &to, &self.vms[&name]);
                    let summary = trace.summary();
                    self.vm_mut(&name).placement = Some(trace);
                    self.vm_mut(&name).target = Some(to.clone());
                    self.start_action(
                        &name,
                        VmState::Relocating,
                        format!("recovering from {from}: starting on {to} ({summary})"),
                        ActionKind::Relocate { vm: name.clone(), from: None, to },
                        Decider::Policy(format!("recovery: {from} is fenced")),
                        out,
                    );
                }
                None => {
                    let reason = format!("waiting for capacity: {}", trace.summary());
                    self.vm_mut(&name).placement = Some(trace);
                    if self.vms[&name].state == VmState::Pending {
                        self.vm_mut(&name).reason = reason;
                    } else {
                        self.vm_transition(&name, VmState::Pending, reason.clone(), out);
                        self.raise(
                            format!("pending:{name}"),
                            Subject::Vm(name.clone()),
                            Severity::Warning,
                            format!("{name} cannot run anywhere now: {reason}"),
                            out,
                        );
                    }
                }
            }
        }
    }

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
                }
            })
            .collect();
        for v in self.vms.values() {
            if Some(v.spec.name.as_str()) == exclude_vm {
                continue;
            }
            for h in occupied_hosts(v) {
                reserve(&mut slots, h, v);
            }
        }
        slots
    }

    fn place_in(&self, name: &str, slots: &[Slot], avoid: Option<(String, String)>) -> PlacementTrace {
        let vm = &self.vms[name];
        let req = Request {
            vm: name,
            vcpus: vm.vcpus,
            memory_kib: vm.memory_kib,
            anti_affinity: vm.spec.anti_affinity.as_deref(),
            avoid: avoid.as_ref().map(|(h, w)| (h.as_str(), w.as_str())),
        };
        placement::place(slots, &req, &self.placement_policy)
    }

    /// Place one VM against the current cluster (its own room not counted).
    pub(super) fn place_one(&self, name: &str, avoid: Option<(String, String)>, only: Option<&str>) -> PlacementTrace {
        let mut slots = self.slots(Some(name));
        if let Some(only) = only {
            slots.retain(|s| s.host == only);
        }
        self.place_in(name, &slots, avoid)
    }

    pub(super) fn vm_mut(&mut self, name: &str) -> &mut VmRec {
        self.vms.get_mut(name).expect("VM names come from the engine's own map")
    }

    pub(super) fn vm_transition(&mut self, name: &str, to: VmState, reason: String, out: &mut Output) {
        let now = self.now;
        if let Some((from, to)) = self.vm_mut(name).set_state(now, to, reason.clone()) {
            out.events.push(Event {
                at: now,
                subject: Subject::Vm(name.into()),
                kind: EventKind::VmTransition { from, to },
                reason,
            });
        }
    }

    /// Change a host's state and carry the consequences to its VMs.
    pub(super) fn host_transition(&mut self, hn: &str, to: HostState, reason: String, out: &mut Output) {
        let now = self.now;
        let Some(h) = self.hosts.get_mut(hn) else {
            return;
        };
        let before = h.state;
        if let Some((from, shown)) = h.set_state(now, to, reason.clone()) {
            out.events.push(Event {
                at: now,
                subject: Subject::Host(hn.into()),
                kind: EventKind::HostTransition { from, to: shown },
                reason,
            });
        }
        if to == HostState::Fenced || to == HostState::Online {
            h.fence_retry_at = None;
        }
        let on_host: Vec<String> = self
            .vms
            .values()
            .filter(|v| v.host.as_deref() == Some(hn) && v.action.is_none())
            .map(|v| v.spec.name.clone())
            .collect();
        match to {
            HostState::Down => {
                for name in on_host {
                    if matches!(self.vms[&name].state, VmState::Stopped | VmState::Unmanaged | VmState::NeedsOperator) {
                        continue;
                    }
                    self.vm_transition(
                        &name,
                        VmState::AwaitingFence,
                        format!("host {hn} is Down: waiting for fence before any restart"),
                        out,
                    );
                }
            }
            HostState::Fenced => {
                for name in on_host {
                    if matches!(
                        self.vms[&name].state,
                        VmState::Stopped | VmState::Unmanaged | VmState::NeedsOperator | VmState::AwaitingFence
                    ) {
                        continue;
                    }
                    self.vm_transition(
                        &name,
                        VmState::AwaitingFence,
                        format!("host {hn} is Fenced: to be restarted elsewhere"),
                        out,
                    );
                }
            }
            HostState::Rejoining | HostState::Online if matches!(before, HostState::Down | HostState::Fencing) => {
                // No fence happened, so none of its VMs was started elsewhere: judge them again.
                for name in on_host {
                    if self.vms[&name].state == VmState::AwaitingFence {
                        self.vm_transition(
                            &name,
                            VmState::Suspect,
                            format!("host {hn} answers again before any fence: checking the VM"),
                            out,
                        );
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn note(&mut self, subject: Subject, reason: String, out: &mut Output) {
        out.events.push(Event { at: self.now, subject, kind: EventKind::Note, reason });
    }

    /// Raise an alarm unless one with the same key is still unacknowledged.
    pub(super) fn raise(
        &mut self,
        key: String,
        subject: Subject,
        severity: Severity,
        message: String,
        out: &mut Output,
    ) {
        if self.alarms.iter().any(|a| a.key == key && !a.acked) {
            return;
        }
        let id = self.next_alarm;
        self.next_alarm += 1;
        out.events.push(Event {
            at: self.now,
            subject: subject.clone(),
            kind: EventKind::Alarm { id, severity },
            reason: message.clone(),
        });
        self.alarms.push(AlarmRec { id, key, at: self.now, subject, severity, message, acked: false });
        const KEEP: usize = 200;
        if self.alarms.len() > KEEP {
            if let Some(i) = self.alarms.iter().position(|a| a.acked) {
                self.alarms.remove(i);
            }
        }
    }

    /// The outcome of an action decided earlier.
    pub fn outcome(&mut self, now: Time, id: ActionId, outcome: Outcome) -> Output {
        self.now = now;
        let mut out = Output::default();
        let Some(action) = self.inflight.remove(&id) else {
            return out;
        };
        let subject = match (&action.kind, action.kind.vm()) {
            (_, Some(vm)) => Subject::Vm(vm.into()),
            (ActionKind::Fence { host }, None) => Subject::Host(host.clone()),
            _ => Subject::Cluster,
        };
        out.events.push(Event {
            at: now,
            subject,
            kind: EventKind::ActionFinished { id, outcome: outcome.clone() },
            reason: String::new(),
        });
        match &action.kind {
            ActionKind::Fence { host } => self.fence_done(host, id, &outcome, &mut out),
            ActionKind::Destroy { vm, host, .. } => {
                if let Some(h) = self.hosts.get_mut(host) {
                    if h.cleanups.get(vm) == Some(&id) {
                        h.cleanups.remove(vm);
                    }
                }
            }
            _ => self.vm_action_done(&action, &outcome, &mut out),
        }
        if matches!(action.kind, ActionKind::Fence { .. }) {
            self.recover(&mut out);
        }
        out
    }

    fn fence_done(&mut self, host: &str, id: ActionId, outcome: &Outcome, out: &mut Output) {
        let retry = self.host_policy.fence_retry;
        let Some(h) = self.hosts.get_mut(host) else {
            return;
        };
        if h.fence_action != Some(id) {
            // A person confirmed the host off meanwhile; this late answer changes nothing.
            return;
        }
        h.fence_action = None;
        let agent = h.spec.fence_agent.clone().unwrap_or_default();
        match outcome {
            Outcome::Done => {
                self.host_transition(host, HostState::Fenced, format!("powered off by fence agent {agent}"), out);
            }
            Outcome::Failed(e) | Outcome::NotAvailable(e) => {
                h.fence_retry_at = Some(self.now.plus(retry));
                let reason =
                    format!("fence failed: {e}; retry in {}; its VMs stay where they are", super::time::human(retry));
                self.host_transition(host, HostState::Down, reason.clone(), out);
                self.raise(
                    format!("fencefail:{host}"),
                    Subject::Host(host.into()),
                    Severity::Critical,
                    format!("fencing {host} failed: {e}"),
                    out,
                );
            }
        }
    }

    fn vm_action_done(&mut self, action: &Action, outcome: &Outcome, out: &mut Output) {
        let Some(name) = action.kind.vm() else { return };
        let Some(vm) = self.vms.get_mut(name) else {
            return;
        };
        if vm.action != Some(action.id) {
            return;
        }
        vm.action = None;
        let target = vm.target.take();
        let now = self.now;
        let name = name.to_string();
        if *outcome == Outcome::Done {
            let vm = self.vm_mut(&name);
            let reason = match &action.kind {
                ActionKind::Stop { host, .. } => {
                    self.vm_transition(
                        &name,
                        VmState::Stopped,
                        format!("stopped on {host} ({})", action.decided_by),
                        out,
                    );
                    return;
                }
                ActionKind::Relocate { to, .. } | ActionKind::Migrate { to, .. } => {
                    vm.host = Some(to.clone());
                    format!("{} done: now running on {to}", action.kind)
                }
                _ => format!("{} done", action.kind),
            };
            vm.started_at = Some(now);
            self.vm_transition(&name, VmState::Probation, reason, out);
            return;
        }
        let err = match outcome {
            Outcome::Failed(e) => format!("{} failed: {e}", action.kind),
            Outcome::NotAvailable(e) => format!("{} not available: {e}", action.kind),
            Outcome::Done => unreachable!("handled above"),
        };
        // If its host died meanwhile, the host's path (fence, then recovery) takes over.
        let home = self.vms[&name].host.clone();
        // A failed recovery from a fenced host is the VM's own failure: it climbs the ladder
        // (bounded by max_relocate) instead of being retried every cycle.
        let recovery = matches!(action.kind, ActionKind::Relocate { from: None, .. });
        if let Some(hs) = home.as_deref().and_then(|h| self.hosts.get(h)).map(|h| h.state) {
            if matches!(hs, HostState::Down | HostState::Fencing) || (hs == HostState::Fenced && !recovery) {
                let reason = format!("{err}; host {} is {hs}: waiting for fence", home.unwrap_or_default());
                self.vm_transition(&name, VmState::AwaitingFence, reason, out);
                return;
            }
        }
        let by_operator = matches!(action.decided_by, Decider::Operator(_));
        match &action.kind {
            ActionKind::Migrate { .. } => {
                let retry = self.host_policy.drain_retry;
                self.vm_mut(&name).drain_after = Some(self.now.plus(retry));
                let reason =
                    format!("{err}; checking where it runs; a drain tries again in {}", super::time::human(retry));
                self.vm_transition(&name, VmState::Suspect, reason, out)
            }
            ActionKind::Reinstall { .. } if by_operator && matches!(outcome, Outcome::NotAvailable(_)) => {
                self.vm_transition(&name, VmState::Suspect, format!("{err}; nothing was changed"), out)
            }
            ActionKind::Reinstall { .. } | ActionKind::Stop { .. } => self.needs_operator(&name, err, out),
            ActionKind::Start { .. } if by_operator => self.needs_operator(&name, err, out),
            ActionKind::Relocate { .. } => {
                let avoid = target.map(|t| (t, "starting the VM here just failed".to_string()));
                self.climb(&name, err, avoid, out)
            }
            _ => self.climb(&name, err, None, out),
        }
    }
}

/// Hosts whose room a VM takes: where it runs (unless it is stopped or waiting) and where an
/// action is moving it.
fn occupied_hosts(v: &VmRec) -> impl Iterator<Item = &str> {
    let runs_home = match v.state {
        VmState::Stopped | VmState::Pending | VmState::AwaitingFence => false,
        VmState::NeedsOperator | VmState::Unmanaged => v.observed.is_some_and(|s| s.is_active()),
        _ => true,
    };
    let home = v.host.as_deref().filter(|_| runs_home);
    let target = v.target.as_deref().filter(|t| Some(*t) != home);
    home.into_iter().chain(target)
}

fn reserve(slots: &mut [Slot], host: &str, vm: &VmRec) {
    if let Some(s) = slots.iter_mut().find(|s| s.host == host) {
        s.used_vcpus += vm.vcpus;
        s.used_memory_kib += vm.memory_kib;
        if let Some(g) = &vm.spec.anti_affinity {
            s.groups.insert(g.clone());
        }
    }
}
