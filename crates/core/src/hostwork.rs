//! Host-level work after the VMs were judged: fence `Down` hosts, clean stale copies on
//! `Rejoining` hosts, drain hosts in maintenance, and recover the VMs of fenced hosts in priority
//! order.

use super::action::{ActionKind, Decider};
use super::capacity::reserve;
use super::engine::{Engine, Output};
use super::event::{Event, EventKind, Severity, Subject};
use super::state::{HostState, VmState};

impl Engine {
    /// Host-level work after the VMs were judged: fence Down hosts, clean stale copies on
    /// rejoining hosts, drain hosts in maintenance.
    pub(super) fn host_work(&mut self, out: &mut Output) {
        let now = self.now;
        self.quorum_regained(out);
        let names: Vec<String> = self.hosts.keys().cloned().collect();
        // A host down in maintenance whose alarm stands (its condition may have ended).
        let maint_down = self.alarms.iter().any(|a| a.alarm.ended.is_none() && a.alarm.key.starts_with("maintdown:"));
        for hn in &names {
            let h = &self.hosts[hn];
            match h.state {
                HostState::Down => self.maybe_fence(hn, out),
                HostState::Unmanageable => self.unmanageable(hn, out),
                HostState::Rejoining if h.answered => self.rejoin(hn, out),
                HostState::Online if h.maintenance && h.answered && self.armed => self.drain(hn, out),
                _ => {}
            }
            if maint_down && self.hosts[hn].state != HostState::Down {
                let key = format!("maintdown:{hn}");
                if self.alarm_stands(&key) {
                    let why = format!("{hn} is {} now", self.hosts[hn].state);
                    self.end_alarms(&key, &why, out);
                }
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
        // Only a host holding VMs that must run elsewhere is fenced: one drained for
        // maintenance, or whose VMs are stopped or disarmed, rejoins by itself when it answers.
        let vms =
            self.vms.values().filter(|v| v.host.as_deref() == Some(hn) && v.state == VmState::AwaitingFence).count();
        if vms == 0 {
            let reason = "down; holds no protected VM that must run elsewhere: not fenced, it rejoins when it answers";
            if self.hosts[hn].reason != reason {
                self.hosts.get_mut(hn).expect("host exists").reason = reason.to_string();
                self.raise(
                    format!("down:{hn}"),
                    Subject::Host(hn.into()),
                    Severity::Warning,
                    format!("{hn} is down; it holds no protected VM that must run elsewhere, so it is not fenced"),
                    out,
                );
            }
            return;
        }
        // A person put it in maintenance: they work on it, and a power-off under their hands
        // is theirs to decide. Its VMs wait for them (confirm-off, or maintenance off).
        if self.hosts[hn].maintenance {
            let reason = format!(
                "down while in maintenance: not fenced; its {vms} VMs wait until a person confirms it is off \
                 (confirm-off) or takes it out of maintenance"
            );
            if self.hosts[hn].reason != reason {
                self.hosts.get_mut(hn).expect("host exists").reason = reason;
                self.raise(
                    format!("maintdown:{hn}"),
                    Subject::Host(hn.into()),
                    Severity::Critical,
                    format!(
                        "{hn} is down while in maintenance, with {vms} protected VMs on it: they run again when a \
                         person confirms it is off (confirm-off) or takes it out of maintenance (then it is fenced)"
                    ),
                    out,
                );
            }
            return;
        }
        let Ok(quorum) = self.quorum_allows_fence(hn, out) else { return };
        let Ok(seen) = self.vantage_allows_fence(hn, out) else { return };
        let h = &self.hosts[hn];
        if let (Some(agent), Some(why)) = (&h.spec.fence_agent, &h.fence_distrust) {
            let reason = format!(
                "down; fence agent {agent} not trusted ({why}): its {vms} VMs wait until a person confirms it is off"
            );
            if h.reason != reason {
                self.hosts.get_mut(hn).expect("host exists").reason = reason.clone();
                self.note(Subject::Host(hn.into()), reason, out);
            }
            return;
        }
        match h.spec.fence_agent.clone() {
            Some(agent) => {
                let id = self.act(
                    ActionKind::Fence { host: hn.into() },
                    Decider::Policy(format!(
                        "host down: fence before its {vms} VMs run elsewhere; quorum {}{seen}",
                        quorum.describe()
                    )),
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

    /// A host alive but not manageable (its alarm was raised on the way in): its soft fence is
    /// tried once per episode if configured, and a power fence only when the policy allows one
    /// after `unmanageable_fence_after` (then it is `Down`, and quorum and the rest apply).
    fn unmanageable(&mut self, hn: &str, out: &mut Output) {
        if !self.armed {
            return;
        }
        let now = self.now;
        let h = &self.hosts[hn];
        let since = h.since;
        if h.spec.soft_fence && !h.soft_fence_tried && h.soft_fence_action.is_none() {
            let id = self.act(
                ActionKind::SoftFence { host: hn.into() },
                Decider::Policy("host alive but not manageable".into()),
                out,
            );
            let h = self.hosts.get_mut(hn).expect("host exists");
            h.soft_fence_action = Some(id);
            h.soft_fence_tried = true;
        }
        if let Some(after) = self.host_policy.unmanageable_fence_after {
            if now.since(since) >= after && self.hosts[hn].soft_fence_action.is_none() {
                let reason = format!(
                    "unmanageable for {} (unmanageable_fence_after {}): treated as down",
                    super::time::human(now.since(since)),
                    super::time::human(after)
                );
                self.host_transition(hn, HostState::Down, reason, out);
                self.maybe_fence(hn, out);
            }
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
        if to != HostState::Unmanageable {
            h.soft_fence_tried = false;
        }
        if matches!(to, HostState::Rejoining | HostState::Online) {
            // A host confirmed off that answers again: the confirmation is over.
            self.decide(super::decisions::DecisionKey::ConfirmedOff(hn.to_string()), None, out);
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
            HostState::Unmanageable if before != HostState::Unmanageable => {
                let vms = on_host.len();
                let policy = match self.host_policy.unmanageable_fence_after {
                    Some(after) => {
                        format!("the policy power-fences it after {} unmanageable", super::time::human(after))
                    }
                    None => {
                        "it is not power-fenced: a person decides (confirm it off with F to recover its VMs elsewhere)"
                            .to_string()
                    }
                };
                let soft = if self.hosts[hn].spec.soft_fence { "; its soft fence is tried" } else { "" };
                self.raise(
                    format!("unmanageable:{hn}"),
                    Subject::Host(hn.into()),
                    Severity::Critical,
                    format!(
                        "{hn} is alive but 3RC cannot manage it (its libvirt refuses or fails): its {vms} VMs are not supervised meanwhile{soft}; {policy}"
                    ),
                    out,
                );
            }
            HostState::Rejoining | HostState::Online
                if matches!(before, HostState::Down | HostState::Fencing | HostState::Fenced) =>
            {
                // Its VMs still waiting for it were not started elsewhere (no fence happened,
                // or recovery had not placed them yet, e.g. while HA was disarmed): judge them
                // again where they are.
                let why = if before == HostState::Fenced {
                    format!("host {hn} is back before this VM was recovered elsewhere: checking the VM")
                } else {
                    format!("host {hn} answers again before any fence: checking the VM")
                };
                for name in on_host {
                    if self.vms[&name].state == VmState::AwaitingFence {
                        self.vm_transition(&name, VmState::Suspect, why.clone(), out);
                    }
                }
            }
            _ => {}
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
            let trace = self.place_one(&name, &[(hn.into(), "in maintenance".into())], None);
            let Some(to) = trace.chosen.clone() else {
                let reason = format!("cannot drain from {hn}: {}", trace.summary());
                if self.vms[&name].reason != reason {
                    self.vm_mut(&name).reason = reason.clone();
                    self.note(Subject::Vm(name.clone()), reason, out);
                }
                self.vm_mut(&name).placement = Some(std::sync::Arc::new(trace));
                continue;
            };
            let reason = format!("draining {hn} for maintenance: to {to} ({})", trace.summary());
            self.start_move(
                &name,
                trace,
                reason,
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

    /// The host a VM that waited for its start order starts on in place: its own, when that
    /// host answers, is online and holds its domain (not one whose host failed: that is a
    /// recovery, placed anew).
    fn start_at_home(&self, name: &str) -> Option<String> {
        let v = &self.vms[name];
        let h = v.host.as_deref()?;
        let up = self
            .hosts
            .get(h)
            .is_some_and(|r| r.answered && matches!(r.state, HostState::Online | HostState::Rejoining));
        (v.order_waited && up && v.observed.is_some()).then(|| h.to_string())
    }

    pub(super) fn recover(&mut self, out: &mut Output) {
        if !self.armed && self.disarming.is_none() {
            return;
        }
        let armed = self.armed;
        let mut queue: Vec<(i32, String)> = self
            .vms
            .values()
            .filter(|v| v.action.is_none())
            // Disarmed: only the VMs of a fence the disarm waits for.
            .filter(|v| armed || v.host.as_deref().is_some_and(|h| self.recovery_goes_on(h)))
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
            if self.vms[&name].memory_kib == 0 && self.vms[&name].vcpus == 0 {
                // Never seen since the engine started and no size from the inventory: placing
                // it as size zero could overcommit a host. Wait, and say why.
                let reason =
                    "waiting: its size is unknown (not seen since 3RC started, no definition in the inventory)";
                self.wait_pending(&name, reason.to_string(), format!("{name} cannot be placed: {reason}"), out);
                continue;
            }
            if let Some(why) = self.start_waits(&name, out) {
                self.wait_order(&name, why, out);
                continue;
            }
            if let Some(home) = self.start_at_home(&name) {
                // An operator's start that waited for its start order: where it would have
                // started at once, its own host.
                reserve(&mut slots, &home, &self.vms[&name]);
                self.start_action(
                    &name,
                    VmState::Starting,
                    format!("its start order allows it now: starting on its host {home}"),
                    ActionKind::Start { vm: name.clone(), host: home },
                    Decider::Policy("start order: what it starts after is ready, or its wait ran out".into()),
                    out,
                );
                continue;
            }
            let trace = self.place_in(&name, &slots, &[]);
            let from = self.vms[&name].host.clone().unwrap_or_default();
            match trace.chosen.clone() {
                Some(to) => {
                    reserve(&mut slots, &to, &self.vms[&name]);
                    let fenced = self.hosts.get(&from).is_some_and(|h| h.state == HostState::Fenced);
                    let reason = if self.vms[&name].order_waited && !fenced {
                        format!("its start order allows it now: starting on {to} ({})", trace.summary())
                    } else {
                        format!("recovering from {from}: starting on {to} ({})", trace.summary())
                    };
                    // A VM that waited for room may find its old host back already (rejoined).
                    let rule = match self.hosts.get(&from).map(|h| h.state) {
                        Some(HostState::Fenced) => format!("recovery: {from} is fenced"),
                        _ if self.vms[&name].order_waited => {
                            "start order: what it starts after is ready, or its wait ran out".to_string()
                        }
                        Some(_) => format!("recovery: waited for room since {from} was fenced"),
                        None => "recovery: placing a VM that waited for room".to_string(),
                    };
                    self.start_move(
                        &name,
                        trace,
                        reason,
                        ActionKind::Relocate { vm: name.clone(), from: None, to },
                        Decider::Policy(rule),
                        out,
                    );
                }
                None if trace.blocked_by_storage() => {
                    // Room will not help: no surviving host reaches its disks.
                    let why = format!("not recoverable elsewhere: {}", trace.summary());
                    self.vm_mut(&name).placement = Some(std::sync::Arc::new(trace));
                    if !self.reinstall_allowed(&name) {
                        let no = if self.vms[&name].spec.policy.reinstall {
                            "no reinstall spec configured"
                        } else {
                            "reinstall not allowed by policy"
                        };
                        self.needs_operator(&name, format!("{why}; {no}"), out);
                        continue;
                    }
                    let target = self.place_for_reinstall(&name, None);
                    match target.chosen.clone() {
                        Some(host) => {
                            reserve(&mut slots, &host, &self.vms[&name]);
                            let (now, w) = (self.now, self.vms[&name].spec.policy.restart_window);
                            self.vm_mut(&name).reinstalls.record(now, w);
                            self.ladder_dirty.insert(name.clone());
                            self.vm_mut(&name).target = Some(host.clone());
                            self.start_action(
                                &name,
                                VmState::Reinstalling,
                                format!("{why}; reinstalling from its golden image on {host} ({})", target.summary()),
                                ActionKind::Reinstall { vm: name.clone(), host },
                                Decider::Policy("ladder step 3, its disks are gone with its host".into()),
                                out,
                            );
                        }
                        None => self.needs_operator(
                            &name,
                            format!("{why}; no host can reinstall it either ({})", target.summary()),
                            out,
                        ),
                    }
                }
                None => {
                    let reason = format!("waiting for capacity: {}", trace.summary());
                    self.vm_mut(&name).placement = Some(std::sync::Arc::new(trace));
                    let alarm = format!("{name} cannot run anywhere now: {reason}");
                    self.wait_pending(&name, reason, alarm, out);
                }
            }
        }
    }

    /// Keep a VM waiting in `Pending` with this reason; the first time, raise a warning.
    fn wait_pending(&mut self, name: &str, reason: String, alarm: String, out: &mut Output) {
        if self.vms[name].state == VmState::Pending {
            self.vm_mut(name).reason = reason;
        } else {
            self.vm_transition(name, VmState::Pending, reason, out);
            self.raise(format!("pending:{name}"), Subject::Vm(name.into()), Severity::Warning, alarm, out);
        }
    }
}
