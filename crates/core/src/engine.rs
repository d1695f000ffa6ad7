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
use super::model::{ClusterSpec, DomState, HostObservation, HostPolicy, PlacementPolicy, ProbeFailure};
use super::state::{HostState, VmState};
use super::time::Time;
use super::vm_fsm::{VmProbe, VmRec, VmStep};
use std::collections::{BTreeMap, HashMap};

/// What one call into the engine produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    /// Side effects to carry out, in order. Each outcome must come back through
    /// [`Engine::outcome`].
    pub actions: Vec<Action>,
    pub events: Vec<Event>,
    /// Operators' decisions recorded (`Some`) or lifted (`None`), in order: the supervisor
    /// journals them before it acknowledges the command (`core::decisions`).
    pub decisions: Vec<(super::decisions::DecisionKey, Option<super::decisions::Decision>)>,
    /// Alarms raised or acknowledged (`Some`, the alarm as it is now) or dropped (`None`), by
    /// number, in order: journaled like the decisions (`core::alarms`).
    pub alarms: Vec<(u64, Option<super::alarms::Alarm>)>,
}

pub struct Engine {
    pub(super) host_policy: HostPolicy,
    pub(super) placement_policy: PlacementPolicy,
    pub(super) hosts: BTreeMap<String, HostRec>,
    pub(super) vms: BTreeMap<String, VmRec>,
    pub(super) armed: bool,
    pub(super) next_action: ActionId,
    pub(super) inflight: BTreeMap<ActionId, Action>,
    pub(super) alarms: Vec<super::alarms::AlarmRec>,
    pub(super) next_alarm: u64,
    /// Until when an alarm raised again is taken as one an earlier run raised (`core::alarms`).
    pub(super) alarm_grace_until: Time,
    pub(super) now: Time,
    /// VMs whose restart or relocation window changed since `take_ladder_changes`.
    pub(super) ladder_dirty: std::collections::BTreeSet<String>,
    /// The witnesses (quorum votes besides the hosts), by name.
    pub(super) witnesses: BTreeMap<String, super::quorum::WitnessRec>,
    /// An automatic fence is being held for want of quorum (the alarm was raised).
    pub(super) fencing_held: bool,
    /// Operators' decisions in force (`core::decisions`).
    pub(super) decisions: BTreeMap<super::decisions::DecisionKey, super::decisions::Decision>,
    /// The wall clock (ms since the epoch) at this engine's time zero.
    pub(super) wall_origin: u64,
    /// This supervisor's name and the other live supervisors' views (`[ha]`; `vantage`).
    pub(super) me: String,
    pub(super) peers: Vec<super::vantage::Vantage>,
    /// Whether this supervisor may lead, and for how many cycles in a row the judgement has
    /// said otherwise (`vantage::standing`).
    pub(super) fit: bool,
    pub(super) fit_streak: u32,
    /// VMs not judged yet since the operators' decisions were lost with a damaged journal
    /// (`core::decisions`).
    pub(super) decisions_unknown: std::collections::BTreeSet<String>,
    /// A disarm waiting for a fence under way and its recoveries (`core::disarm`).
    pub(super) disarming: Option<super::disarm::Disarming>,
    /// TCP/HTTP guest checks fail on many VMs at once: not counted (`core::guest`).
    pub(super) guest_net_held: bool,
    /// The last spare capacity check (`core::spare`), and the cycles since the engine began.
    pub(super) spare: Option<super::spare::SpareRec>,
    pub(super) spare_cycles: u64,
}

/// Where each domain was seen this cycle, by name: every answering host that has it defined.
type Sightings<'a> = HashMap<&'a str, Vec<Sighting<'a>>>;

#[derive(Clone, Debug)]
struct Sighting<'a> {
    host: &'a str,
    state: DomState,
    vcpus: u32,
    memory_kib: u64,
}

/// Keep a VM's observation and size up to date whatever its state (the copy on its own host is
/// the one that counts). Its host. Its guest's uptime only from a host that answered: a cycle
/// its host was not judged (busy, no answer) is no sign that the VM stopped, and must not
/// wipe a watchdog that fired or restart its `min_uptime`.
fn note_sightings(now: Time, vm: &mut VmRec, found: &[Sighting], home_answered: bool) -> Option<String> {
    let home = vm.host.clone();
    let at_home = found.iter().find(|s| home.as_deref() == Some(s.host));
    vm.observed = at_home.map(|s| s.state);
    if home_answered {
        vm.guest.seen(now, vm.observed);
    }
    if let Some(s) = at_home.or(found.first()) {
        vm.vcpus = s.vcpus;
        vm.memory_kib = s.memory_kib;
    }
    home
}

/// Whether a VM is judged this cycle: not while an action is under way, not when a person
/// decides (stopped, unmanaged, needs an operator).
fn judged_now(vm: &VmRec) -> bool {
    vm.action.is_none() && !matches!(vm.state, VmState::Stopped | VmState::Unmanaged | VmState::NeedsOperator)
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
            alarm_grace_until: Time::ZERO,
            witnesses: spec
                .witnesses
                .into_iter()
                .map(|w| (w.clone(), super::quorum::WitnessRec::new(w, now)))
                .collect(),
            now,
            ladder_dirty: Default::default(),
            fencing_held: false,
            decisions: BTreeMap::new(),
            wall_origin: 0,
            me: String::new(),
            peers: Vec::new(),
            fit: true,
            fit_streak: 0,
            decisions_unknown: Default::default(),
            disarming: None,
            guest_net_held: false,
            spare: None,
            spare_cycles: 0,
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

    /// Consecutive failed probes that make a host `Down`.
    pub fn host_fail_threshold(&self) -> u32 {
        self.host_policy.fail_threshold
    }

    /// Whether the last observation of `host` was set aside as busy (alive, its listing held
    /// up) and not judged: the caller neither re-probes it nor keeps it as the host's last
    /// probe.
    pub fn held_busy(&self, host: &str) -> bool {
        self.hosts.get(host).is_some_and(|h| h.busy > 0 && h.busy < self.host_policy.fail_threshold)
    }

    pub fn host_state(&self, host: &str) -> Option<HostState> {
        self.hosts.get(host).map(|h| h.shown_state())
    }

    /// Seed a VM known from an earlier run (the journal's inventory): its last host and size,
    /// so that it can be recovered even if that host is gone. Only before it was seen.
    pub fn restore(&mut self, vm: &str, host: &str, vcpus: u32, memory_kib: u64) {
        let known_host = self.hosts.contains_key(host);
        if let Some(v) = self.vms.get_mut(vm) {
            if v.state == VmState::Discovering {
                if known_host {
                    v.host = Some(host.to_string());
                }
                if v.vcpus == 0 && v.memory_kib == 0 {
                    v.vcpus = vcpus;
                    v.memory_kib = memory_kib;
                }
            }
        }
    }

    /// The storage pools a host reaches (read every few cycles by the supervisor).
    pub fn set_storage(&mut self, host: &str, pools: Vec<super::model::PoolObs>) {
        if let Some(h) = self.hosts.get_mut(host) {
            let vols = pools.iter().filter(|p| p.active).flat_map(|p| p.volumes.iter().cloned()).collect();
            h.volumes = Some(std::sync::Arc::new(vols));
            h.pools = pools;
        }
    }

    /// A VM's disks, from its domain XML (paths or `pool/volume`).
    pub fn set_disks(&mut self, vm: &str, disks: Vec<String>) {
        if let Some(v) = self.vms.get_mut(vm) {
            v.disks = disks;
        }
    }

    /// An alarm about something outside the core (the journal cannot be written, ...).
    pub fn external_alarm(
        &mut self,
        now: Time,
        key: &str,
        subject: Subject,
        severity: Severity,
        message: String,
    ) -> Output {
        self.now = now;
        let mut out = Output::default();
        self.raise(key.to_string(), subject, severity, message, &mut out);
        out
    }

    /// End the alarms of `key` raised from outside the core (their condition is over: `why`).
    pub fn external_end_alarms(&mut self, now: Time, key: &str, why: &str) -> Output {
        self.now = now;
        let mut out = Output::default();
        self.end_alarms(key, why, &mut out);
        out
    }

    /// A note in the event log, from outside the core.
    pub fn external_note(&mut self, now: Time, subject: Subject, message: String) -> Output {
        self.now = now;
        let mut out = Output::default();
        self.note(subject, message, &mut out);
        out
    }

    /// One cycle for a one-shot view (`3rc status`) or a standby of several: states are
    /// updated, nothing is decided. Actions already under way (a former tenure's, whose tasks
    /// still run) stay in flight: their outcomes are taken in by [`Engine::outcome_readonly`].
    pub fn observe_readonly(&mut self, now: Time, observations: &[HostObservation]) {
        let _ = self.readonly(|e| e.observe(now, observations));
    }

    /// An action's outcome taken in while this engine does not decide (a standby of several,
    /// whose own action outlived its leadership): what it did is kept — a host fenced is
    /// `Fenced` — but nothing new is decided on it (no recovery: the leader's).
    pub fn outcome_readonly(&mut self, now: Time, id: ActionId, outcome: Outcome) -> Output {
        self.readonly(|e| e.outcome(now, id, outcome))
    }

    /// Run `f` disarmed, with no disarm waiting on a fence, and drop whatever it decided.
    fn readonly(&mut self, f: impl FnOnce(&mut Engine) -> Output) -> Output {
        let (armed, disarming, first) = (self.armed, self.disarming.take(), self.next_action);
        self.armed = false;
        let mut out = f(self);
        self.armed = armed;
        self.disarming = disarming;
        self.inflight.retain(|id, _| *id < first);
        out.actions.retain(|a| a.id < first);
        out.events.retain(|e| !matches!(e.kind, EventKind::ActionDecided { id, .. } if id >= first));
        out
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
        obs.dedup_by(|b, a| a.host == b.host);
        for o in &obs {
            let policy = self.host_policy.clone();
            let Some(h) = self.hosts.get_mut(&o.host) else {
                continue;
            };
            // A host that is alive but whose listing is held up is not judged for a while: a
            // second or two of a busy daemon must not make it Suspect.
            match &o.result {
                Err(e) if e.kind == ProbeFailure::Busy => {
                    h.busy = h.busy.saturating_add(1);
                    if h.busy < policy.fail_threshold {
                        let n = h.busy;
                        let reason = format!("not judged this cycle ({n} in a row): {e}");
                        self.note(Subject::Host(o.host.clone()), reason, &mut out);
                        continue;
                    }
                }
                _ => h.busy = 0,
            }
            let step = h.on_probe(now, o.result.as_ref(), &policy);
            if let Some(step) = step {
                self.host_transition(&o.host, step.to, step.reason, &mut out);
            }
        }
        let sightings = self.sightings(&obs);
        self.guest_net_hold(&mut out);
        let names: Vec<String> = self.vms.keys().cloned().collect();
        for name in &names {
            self.judge_vm(name, &sightings, &mut out);
        }
        self.storage_alarms(&mut out);
        self.host_work(&mut out);
        self.recover(&mut out);
        self.disarm_progress(&mut out);
        let hosts_changed = out.events.iter().any(|e| matches!(e.kind, EventKind::HostTransition { .. }));
        self.spare_check(hosts_changed, &mut out);
        out
    }

    /// Index every domain seen by an answering host this cycle, borrowing from the
    /// observations (not from the engine, which is mutated while the index is used).
    fn sightings<'a>(&self, obs: &[&'a HostObservation]) -> Sightings<'a> {
        let mut map = Sightings::new();
        for o in obs {
            if !self.hosts.get(&o.host).is_some_and(|h| h.answered) {
                continue;
            }
            if let Ok(p) = &o.result {
                for d in &p.domains {
                    map.entry(d.name.as_str()).or_default().push(Sighting {
                        host: o.host.as_str(),
                        state: d.state,
                        vcpus: d.vcpus,
                        memory_kib: d.memory_kib,
                    });
                }
            }
        }
        map
    }

    /// One VM's verdict this cycle: what was seen of it where, whether it is judged at all, the
    /// probe that counts (at its host, or wherever it turned up), and the state machine's step.
    fn judge_vm(&mut self, name: &str, sightings: &Sightings, out: &mut Output) {
        let found: &[Sighting] = sightings.get(name).map(|v| v.as_slice()).unwrap_or(&[]);
        let Some(vm) = self.vms.get_mut(name) else { return };
        let answered = vm.host.as_ref().and_then(|h| self.hosts.get(h)).is_some_and(|r| r.answered);
        let mut home = note_sightings(self.now, vm, found, answered);
        vm.guest.failing = false;
        if !judged_now(vm) {
            return;
        }
        let state = vm.state;
        if vm.resume.is_some() && self.maybe_resume(name, out) {
            return;
        }
        if matches!(state, VmState::Pending | VmState::AwaitingFence) {
            match self.follow_running_copy(name, found, out) {
                Some(h) => home = Some(h),
                None => return,
            }
        }
        let seen: Vec<(&str, DomState)> = found.iter().map(|s| (s.host, s.state)).collect();
        let active: Vec<&str> = seen.iter().filter(|(_, s)| s.is_active()).map(|(h, _)| *h).collect();
        if active.len() > 1 {
            self.duplicate(name, &active, out);
            return;
        }
        let unknown = seen.is_empty() && self.never_seen(name, home.as_deref());
        let probe = match home.as_deref().filter(|_| !unknown) {
            None => self.probe_without_home(name, &seen, &active, out),
            Some(h) => self.probe_at_home(name, h, &seen, &active, out),
        };
        let Some(probe) = probe else { return };
        if self.decision_lost(name, &probe, out) {
            return;
        }
        let now = self.now;
        match self.vm_mut(name).on_probe(now, &probe) {
            Some(VmStep::To(state, reason)) => self.vm_transition(name, state, reason, out),
            Some(VmStep::Escalate(reason)) if !self.backing_off(name, &reason) => {
                if self.vms[name].guest.failing {
                    self.climb_for_guest(name, reason, out)
                } else {
                    self.climb(name, reason, out)
                }
            }
            Some(VmStep::Escalate(_)) | None => {}
        }
    }

    /// A VM waiting for a host, yet seen running on one whose probes can be trusted (its fenced
    /// host came back with it autostarted, or it was started by hand), must not be recovered
    /// anywhere else: follow it and judge it there. Its new host, if so.
    fn follow_running_copy(&mut self, name: &str, found: &[Sighting], out: &mut Output) -> Option<String> {
        let h = found
            .iter()
            .find(|s| s.state.is_active() && self.hosts.get(s.host).is_some_and(|r| r.can_judge_vms()))
            .map(|s| s.host.to_string())?;
        let vm = self.vm_mut(name);
        let was = vm.state;
        vm.host = Some(h.clone());
        vm.observed = found.iter().find(|s| s.host == h).map(|s| s.state);
        self.vm_transition(
            name,
            VmState::Suspect,
            format!("found running on {h} while {was}: not started elsewhere, checking it there"),
            out,
        );
        Some(h)
    }

    /// Seen nowhere this cycle, never seen anywhere since the engine started, not known to the
    /// inventory (no size), and its configured host answers without it: nothing can start it,
    /// so it is "not defined on any host" rather than a failure that would spend the ladder.
    fn never_seen(&self, name: &str, home: Option<&str>) -> bool {
        let v = &self.vms[name];
        let home_answered = home.and_then(|h| self.hosts.get(h)).is_some_and(|r| r.answered);
        v.state == VmState::Discovering && v.vcpus == 0 && v.memory_kib == 0 && home_answered
    }

    /// The probe of a VM with no host to judge it at: found running (or not) somewhere, which
    /// becomes its host; or not defined anywhere, once every host answered. `None`: not judged.
    fn probe_without_home(
        &mut self,
        name: &str,
        seen: &[(&str, DomState)],
        active: &[&str],
        out: &mut Output,
    ) -> Option<VmProbe> {
        if let Some(h) = active.first() {
            self.vm_mut(name).host = Some(h.to_string());
            return Some(VmProbe::Good);
        }
        if let Some((h, s)) = seen.first() {
            self.vm_mut(name).host = Some(h.to_string());
            return Some(VmProbe::Bad(format!("{} on {h}", s.label())));
        }
        if self.hosts.values().all(|h| h.answered || h.state == HostState::Fenced) {
            self.vm_transition(name, VmState::NeedsOperator, "not defined on any host".into(), out);
            self.raise(
                format!("missing:{name}"),
                Subject::Vm(name.into()),
                Severity::Warning,
                format!("{name} is not defined on any host: define it, or remove it from the config"),
                out,
            );
        }
        None
    }

    /// The probe of a VM at its host `h`: waiting for a fence if the host is down, not judged
    /// if the host's answer cannot be trusted, else what the host reports (or where else the
    /// VM turned up running, which it follows). `None`: not judged.
    fn probe_at_home(
        &mut self,
        name: &str,
        h: &str,
        seen: &[(&str, DomState)],
        active: &[&str],
        out: &mut Output,
    ) -> Option<VmProbe> {
        let hrec = self.hosts.get(h)?;
        match hrec.state {
            HostState::Down | HostState::Fencing | HostState::Fenced => {
                let reason = format!("host {h} is {}: waiting for fence before any restart", hrec.state);
                self.vm_transition(name, VmState::AwaitingFence, reason, out);
                return None;
            }
            _ if !hrec.can_judge_vms() => return None,
            _ => {}
        }
        let at_home = seen.iter().find(|(sh, _)| *sh == h).map(|(_, s)| *s);
        if at_home == Some(DomState::IoPaused) {
            self.storage_paused(name, h, out);
            return None;
        }
        if self.vms[name].state == VmState::StoragePaused {
            self.storage_left(name, h, at_home, out);
        }
        if at_home == Some(DomState::Running) && self.vms[name].paused_is_bad {
            self.vm_mut(name).paused_is_bad = false;
            self.ladder_dirty.insert(name.to_string());
        }
        let guest = match at_home {
            Some(DomState::Running) => self.guest_verdict(name),
            _ => None,
        };
        self.vm_mut(name).guest.failing = guest.is_some();
        Some(if active.contains(&h) && at_home == Some(DomState::Paused) && self.vms[name].paused_is_bad {
            VmProbe::Bad(format!("paused on {h} since a failed migration"))
        } else if let Some(why) = guest {
            VmProbe::Bad(why)
        } else if active.contains(&h) {
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
            match at_home {
                Some(s) => VmProbe::Bad(s.label().to_string()),
                None => VmProbe::Bad(format!("not defined on {h}")),
            }
        })
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
        let vm = self.vm_mut(name);
        vm.action = Some(id);
        vm.order_since = None;
        vm.order_gave_up = false;
        vm.order_waited = false;
    }

    /// Start a move (Migrating or Relocating) chosen by placement: the trace is kept for "why here", the destination's
    /// room is taken until the move ends.
    pub(super) fn start_move(
        &mut self,
        name: &str,
        trace: super::placement::PlacementTrace,
        reason: String,
        kind: ActionKind,
        decided_by: Decider,
        out: &mut Output,
    ) {
        let state = if matches!(kind, ActionKind::Migrate { .. }) { VmState::Migrating } else { VmState::Relocating };
        let vm = self.vm_mut(name);
        vm.placement = Some(std::sync::Arc::new(trace));
        vm.target = kind.destination().map(str::to_string);
        self.start_action(name, state, reason, kind, decided_by, out);
    }

    /// Emit an action and remember it until its outcome arrives.
    pub(super) fn act(&mut self, kind: ActionKind, decided_by: Decider, out: &mut Output) -> ActionId {
        let id = self.next_action;
        self.next_action += 1;
        out.events.push(Event {
            at: self.now,
            subject: kind.subject(),
            kind: EventKind::ActionDecided { id, action: kind.to_string(), decided_by: decided_by.clone() },
            reason: String::new(),
        });
        let action = Action { id, kind, decided_by };
        self.inflight.insert(id, action.clone());
        out.actions.push(action);
        id
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

    pub(super) fn note(&mut self, subject: Subject, reason: String, out: &mut Output) {
        out.events.push(Event { at: self.now, subject, kind: EventKind::Note, reason });
    }
}
