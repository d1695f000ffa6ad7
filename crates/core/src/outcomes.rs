//! Outcomes of actions: what a done or failed action means for its VM or host.

use super::action::{Action, ActionId, ActionKind, Decider, Outcome};
use super::engine::{Engine, Output};
use super::event::{Event, EventKind, Severity, Subject};
use super::state::{HostState, VmState};
use super::time::Time;

impl Engine {
    /// The outcome of an action decided earlier.
    pub fn outcome(&mut self, now: Time, id: ActionId, outcome: Outcome) -> Output {
        self.now = now;
        let mut out = Output::default();
        let Some(action) = self.inflight.remove(&id) else {
            return out;
        };
        out.events.push(Event {
            at: now,
            subject: action.kind.subject(),
            kind: EventKind::ActionFinished { id, outcome: outcome.clone() },
            reason: String::new(),
        });
        match &action.kind {
            ActionKind::Fence { host } => self.fence_done(host, id, &outcome, &mut out),
            ActionKind::SoftFence { host } => self.soft_fence_done(host, id, &outcome, &mut out),
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
        self.disarm_progress(&mut out);
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
                // A person must know: a host is gone, its VMs restart elsewhere, and it stays off
                // until someone looks at it.
                let vms = match self.vms.values().filter(|v| v.host.as_deref() == Some(host)).count() {
                    1 => "its VM restarts elsewhere".to_string(),
                    n => format!("its {n} VMs restart elsewhere"),
                };
                self.raise(
                    format!("fenced:{host}"),
                    Subject::Host(host.into()),
                    Severity::Warning,
                    format!("{host} stopped answering and was powered off by fence agent {agent}; {vms}"),
                    out,
                );
            }
            Outcome::Failed(e) | Outcome::StartFailed(e) | Outcome::Unsupported(e) => {
                h.fence_retry_at = Some(self.now.plus(retry));
                self.disarm_fence_failed(host);
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

    fn soft_fence_done(&mut self, host: &str, id: ActionId, outcome: &Outcome, out: &mut Output) {
        let Some(h) = self.hosts.get_mut(host) else { return };
        if h.soft_fence_action != Some(id) {
            return;
        }
        h.soft_fence_action = None;
        match outcome {
            Outcome::Done => self.note(
                Subject::Host(host.into()),
                "soft fence done: its management daemon was restarted; waiting for it to answer".into(),
                out,
            ),
            Outcome::Failed(e) | Outcome::StartFailed(e) | Outcome::Unsupported(e) => self.raise(
                format!("softfence:{host}"),
                Subject::Host(host.into()),
                Severity::Critical,
                format!("soft fence of {host} failed: {e}; it stays unmanageable until its daemon answers"),
                out,
            ),
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
        vm.target = None;
        let now = self.now;
        let name = name.to_string();
        if let ActionKind::Resume { host, .. } = &action.kind {
            self.resume_done(&name, host, outcome, out);
            return;
        }
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
                ActionKind::Reinstall { host, .. } => {
                    vm.host = Some(host.clone());
                    format!("{} done: running from a fresh disk", action.kind)
                }
                _ => format!("{} done", action.kind),
            };
            vm.started_at = Some(now);
            vm.guest.started(now);
            self.vm_transition(&name, VmState::Probation, reason, out);
            return;
        }
        let err = match outcome {
            Outcome::Failed(e) | Outcome::StartFailed(e) => format!("{} failed: {e}", action.kind),
            Outcome::Unsupported(e) => format!("{} not supported here: {e}", action.kind),
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
        if let (ActionKind::Migrate { from, to, .. }, Outcome::Unsupported(why)) = (&action.kind, outcome) {
            if self.relocate_cold(&name, from, to, why, &action.decided_by, out) {
                return;
            }
        }
        let by_operator = matches!(action.decided_by, Decider::Operator(_));
        match &action.kind {
            ActionKind::Migrate { .. } => {
                let retry = self.host_policy.drain_retry;
                self.vm_mut(&name).drain_after = Some(self.now.plus(retry));
                self.vm_mut(&name).paused_is_bad = true;
                self.ladder_dirty.insert(name.clone());
                let draining = home.as_deref().and_then(|h| self.hosts.get(h)).is_some_and(|h| h.maintenance);
                let reason = if draining {
                    format!("{err}; checking where it runs; the drain tries again in {}", super::time::human(retry))
                } else {
                    format!("{err}; checking where it runs")
                };
                self.vm_transition(&name, VmState::Suspect, reason, out)
            }
            ActionKind::Reinstall { .. } if by_operator && matches!(outcome, Outcome::Unsupported(_)) => {
                self.vm_transition(&name, VmState::Suspect, format!("{err}; nothing was changed"), out)
            }
            // Its new disk and definition are in place: the start is retried like any other.
            ActionKind::Reinstall { host, .. } if matches!(outcome, Outcome::StartFailed(_)) => {
                self.start_failed(&name, host, err, out)
            }
            ActionKind::Reinstall { .. } | ActionKind::Stop { .. } => self.needs_operator(&name, err, out),
            // Every start that fails, whoever decided it, goes through the ladder (`core::retry`).
            ActionKind::Start { host, .. } | ActionKind::Restart { host, .. } => {
                self.start_failed(&name, host, err, out)
            }
            ActionKind::Relocate { to, .. } => self.start_failed(&name, to, err, out),
            _ => self.climb(&name, err, out),
        }
    }

    /// A live migration the host cannot do (nothing was changed: the VM still runs on `from`)
    /// becomes a cold relocation to the same destination, decided by whoever decided the
    /// migration: stopped on `from` first, then defined and started on `to` (a short outage,
    /// never two copies). Only while the destination still takes VMs; otherwise the migration
    /// failed like any other. Returns whether the relocation was started.
    fn relocate_cold(
        &mut self,
        name: &str,
        from: &str,
        to: &str,
        why: &str,
        decided_by: &Decider,
        out: &mut Output,
    ) -> bool {
        let Some(dest) = self.hosts.get(to) else { return false };
        if dest.accepts(&self.host_policy).is_err() {
            return false;
        }
        let reason = format!(
            "live migration to {to} is not supported here ({why}): relocating cold instead (stopped on {from}, then started on {to})"
        );
        let kind = ActionKind::Relocate { vm: name.to_string(), from: Some(from.to_string()), to: to.to_string() };
        self.vm_mut(name).target = Some(to.to_string());
        self.start_action(name, VmState::Relocating, reason, kind, decided_by.clone(), out);
        true
    }
}
