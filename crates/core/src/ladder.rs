//! The escalation ladder in action: what to do with a VM that stays bad. The rung is chosen by
//! `VmRec::next_rung` (pure counting); this file turns it into an action, with placement for
//! the relocation rung and the safety rule that a VM whose host does not answer is never started
//! elsewhere. Also the ladder's windows as the supervisor carries them across restarts.

use super::action::{ActionKind, Decider};
use super::engine::{Engine, Output};
use super::event::{Severity, Subject};
use super::state::{HostState, VmState};
use super::time::Time;
use super::vm_fsm::Rung;

/// A VM's ladder windows: when each restart, relocation and reinstall leaves its window; and
/// whether its domain is paused since a live migration failed midway (a paused domain is then
/// a bad probe, where otherwise it counts as running).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LadderWindows {
    pub restarts: Vec<Time>,
    pub relocations: Vec<Time>,
    pub reinstalls: Vec<Time>,
    pub paused_is_bad: bool,
    /// Rungs climbed because of guest probes (`core::guest`), in their own window.
    pub guest_restarts: Vec<Time>,
}

impl Engine {
    /// Carry a VM's restart and relocation windows over from an earlier run: the times, on this
    /// engine's clock, at which each entry leaves its window (the supervisor converts them
    /// from the wall-clock times it kept). Without this the ladder would start afresh after
    /// every restart of 3RC, and a VM crashing in a loop would be restarted in place forever.
    pub fn restore_ladder(&mut self, vm: &str, w: LadderWindows) {
        if let Some(v) = self.vms.get_mut(vm) {
            v.restarts = super::window::SlidingWindow::from_expiries(w.restarts);
            v.relocations = super::window::SlidingWindow::from_expiries(w.relocations);
            v.reinstalls = super::window::SlidingWindow::from_expiries(w.reinstalls);
            v.paused_is_bad = w.paused_is_bad;
            v.guest.restarts = super::window::SlidingWindow::from_expiries(w.guest_restarts);
        }
    }

    /// The VMs whose restart or relocation window changed since the last call, with when each
    /// entry leaves its window (restarts, relocations), for the supervisor to keep.
    pub fn take_ladder_changes(&mut self) -> Vec<(String, LadderWindows)> {
        std::mem::take(&mut self.ladder_dirty)
            .into_iter()
            .filter_map(|vm| {
                let v = self.vms.get(&vm)?;
                let w = LadderWindows {
                    restarts: v.restarts.expiries(),
                    relocations: v.relocations.expiries(),
                    reinstalls: v.reinstalls.expiries(),
                    paused_is_bad: v.paused_is_bad,
                    guest_restarts: v.guest.restarts.expiries(),
                };
                Some((vm, w))
            })
            .collect()
    }

    /// Climb the ladder for a VM that stays bad. Relocation avoids its own host and the hosts
    /// where a start of it failed lately (`core::retry`): hosts not tried yet first.
    pub(super) fn climb(&mut self, name: &str, why: String, out: &mut Output) {
        let now = self.now;
        if !self.armed {
            let vm = self.vm_mut(name);
            vm.reason = format!("{why}; HA disarmed: no action");
            if vm.state != VmState::Suspect {
                self.vm_transition(name, VmState::Suspect, format!("{why}; HA disarmed: no action"), out);
            }
            return;
        }
        if let Some(order) = self.start_waits(name, out) {
            let reason = format!("{why}; {order}");
            self.stay_suspect(name, reason, out);
            return;
        }
        let home = self.vms[name].host.clone();
        let home_online = home
            .as_deref()
            .and_then(|h| self.hosts.get(h))
            .is_some_and(|h| h.state == HostState::Online && h.answered && !h.maintenance);
        let rung = self.vms[name].next_rung(now, home_online);
        // Its host is passing (rejoining after a partition, suspect) and restarts are left: a
        // restart there waits for it rather than moving on up the ladder.
        let home_passing = home
            .as_deref()
            .and_then(|h| self.hosts.get(h))
            .filter(|h| !h.maintenance && matches!(h.state, HostState::Rejoining | HostState::Suspect))
            .map(|h| h.state);
        if let Some(state) = home_passing.filter(|_| !matches!(rung, Rung::Restart(_))) {
            let v = &self.vms[name];
            if v.restarts_in_window(now) < v.spec.policy.max_restart {
                let h = home.clone().unwrap_or_default();
                let reason = format!("{why}; its host {h} is {state}: restarted there once it is Online");
                self.stay_suspect(name, reason, out);
                return;
            }
        }
        let (relocate, reinstall_or_stop): (Option<String>, Option<Result<String, String>>) = match rung {
            Rung::Restart(r) => {
                let host = home.unwrap_or_default();
                let w = self.vms[name].spec.policy.restart_window;
                self.vm_mut(name).restarts.record(now, w);
                self.ladder_dirty.insert(name.to_string());
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
            // Hosts where a start failed lately say so; its own host otherwise that it failed there.
            let mut avoid = self.tried_hosts(name);
            if let Some(h) = home.as_ref().filter(|h| !avoid.iter().any(|(t, _)| t == *h)) {
                avoid.push((h.clone(), "the VM just failed here".to_string()));
            }
            let mut trace = self.place_one(name, &avoid, None);
            if trace.chosen.is_none() && !self.tried_hosts(name).is_empty() {
                // No host left that was not tried: the hosts where a start failed, best first,
                // its own included (a single candidate host).
                let again = self.place_one(name, &[], None);
                if let Some(to) = again.chosen.clone().filter(|to| home.as_ref() == Some(to)) {
                    let w = self.vms[name].spec.policy.restart_window;
                    self.vm_mut(name).relocations.record(now, w);
                    self.ladder_dirty.insert(name.to_string());
                    self.vm_mut(name).placement = Some(std::sync::Arc::new(again));
                    let reason = format!("{why}; {r}: no host that was not tried can take it, so again on {to}");
                    self.start_action(
                        name,
                        VmState::Restarting,
                        reason,
                        ActionKind::Restart { vm: name.into(), host: to },
                        Decider::Policy(format!("ladder step 2, {r}, on its own host: no other host")),
                        out,
                    );
                    return;
                }
                if again.chosen.is_some() {
                    trace = again;
                }
            }
            if let Some(to) = trace.chosen.clone() {
                let w = self.vms[name].spec.policy.restart_window;
                self.vm_mut(name).relocations.record(now, w);
                self.ladder_dirty.insert(name.to_string());
                let from = home.filter(|h| self.hosts.get(h).is_some_and(|r| r.answered));
                let reason = format!("{why}; {r} to {to} ({})", trace.summary());
                self.start_move(
                    name,
                    trace,
                    reason,
                    ActionKind::Relocate { vm: name.into(), from, to },
                    Decider::Policy(format!("ladder step 2, {r}")),
                    out,
                );
                return;
            }
            // Hosts whose state is passing (rejoining after 3RC's own link came back, suspect,
            // not probed yet, down with its fence held or under way) may take VMs again, its own
            // host included: wait for them rather than give the VM up to a person. It stays
            // Suspect and climbs again at its next bad probe.
            let passing: Vec<String> = self
                .hosts
                .iter()
                .filter(|(_, r)| {
                    !r.maintenance
                        && matches!(
                            r.state,
                            HostState::Rejoining
                                | HostState::Suspect
                                | HostState::Unknown
                                | HostState::Down
                                | HostState::Fencing
                        )
                })
                .map(|(h, _)| h.clone())
                .collect();
            if !passing.is_empty() {
                let reason = format!(
                    "{why}; no other host can take it now ({}); tried again when {} {} back",
                    trace.summary(),
                    passing.join(", "),
                    if passing.len() == 1 { "is" } else { "are" }
                );
                self.vm_mut(name).placement = Some(std::sync::Arc::new(trace));
                if self.vms[name].state == VmState::Suspect {
                    if self.vms[name].reason != reason {
                        self.vm_mut(name).reason = reason.clone();
                        self.note(Subject::Vm(name.into()), reason, out);
                    }
                } else {
                    self.vm_transition(name, VmState::Suspect, reason, out);
                }
                return;
            }
            why = format!("{why}; no other host can take it ({})", trace.summary());
            self.vm_mut(name).placement = Some(std::sync::Arc::new(trace));
        }
        match reinstall_or_stop {
            Some(Err(r)) => self.needs_operator(name, format!("{why}; {r}"), out),
            _ if self.reinstall_allowed(name) => match self.reinstall_host(name) {
                Ok(host) => {
                    let w = self.vms[name].spec.policy.restart_window;
                    self.vm_mut(name).reinstalls.record(now, w);
                    self.ladder_dirty.insert(name.to_string());
                    self.start_action(
                        name,
                        VmState::Reinstalling,
                        format!("{why}; reinstalling from its golden image"),
                        ActionKind::Reinstall { vm: name.into(), host },
                        Decider::Policy("ladder step 3, reinstall from golden image".into()),
                        out,
                    )
                }
                Err(e) => self.needs_operator(name, format!("{why}; {e}"), out),
            },
            _ if self.vms[name].spec.policy.reinstall => {
                self.needs_operator(name, format!("{why}; ladder exhausted, no reinstall spec configured"), out)
            }
            _ => self.needs_operator(name, format!("{why}; ladder exhausted, reinstall not allowed by policy"), out),
        }
    }

    /// A VM that must climb waits `Suspect` for now, saying why (a transition if it was not).
    fn stay_suspect(&mut self, name: &str, reason: String, out: &mut Output) {
        if self.vms[name].state == VmState::Suspect {
            self.vm_mut(name).reason = reason;
        } else {
            self.vm_transition(name, VmState::Suspect, reason, out);
        }
    }

    pub(super) fn needs_operator(&mut self, name: &str, reason: String, out: &mut Output) {
        let reason = reason + &self.attempts_said(name);
        self.vm_transition(name, VmState::NeedsOperator, reason.clone(), out);
        self.raise(format!("operator:{name}"), Subject::Vm(name.into()), Severity::Critical, reason, out);
    }
}
