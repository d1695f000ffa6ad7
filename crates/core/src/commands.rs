//! Operator commands: validated against the current state, refused with a reason a person can
//! act on, and turned into the same actions the policies use, decided by the operator.

use super::action::{ActionKind, Command, Decider};
use super::engine::{Engine, Output};
use super::event::{Event, EventKind, Subject};
use super::state::{HostState, VmState};
use super::time::Time;
use super::vm_fsm::VmRec;

impl Engine {
    /// Apply an operator command. `origin` says who asked ("console:alice"); it is journaled
    /// with every action the command causes. A refused command changes nothing.
    pub fn command(&mut self, now: Time, origin: &str, cmd: &Command) -> Result<Output, String> {
        self.now = now;
        let mut out = Output::default();
        let who = Decider::Operator(origin.to_string());
        let subject = match cmd {
            Command::Migrate { vm, .. }
            | Command::Start { vm }
            | Command::Stop { vm }
            | Command::Restart { vm }
            | Command::Reinstall { vm }
            | Command::Arm { vm: Some(vm) }
            | Command::Disarm { vm: Some(vm) }
            | Command::Unprotect { vm } => Subject::Vm(vm.clone()),
            Command::Protect { spec } => Subject::Vm(spec.name.clone()),
            Command::Maintenance { host, .. } | Command::ConfirmHostOff { host } => Subject::Host(host.clone()),
            Command::Arm { vm: None } | Command::Disarm { vm: None } | Command::AckAlarm { .. } => Subject::Cluster,
        };
        out.events.push(Event {
            at: now,
            subject,
            kind: EventKind::Command { origin: origin.into(), command: cmd.to_string() },
            reason: String::new(),
        });
        match cmd {
            Command::Protect { spec } => self.cmd_protect(spec, origin, now)?,
            Command::Unprotect { vm } => self.cmd_unprotect(vm, origin, &mut out)?,
            Command::Migrate { vm, to } => self.cmd_migrate(vm, to, who, &mut out)?,
            Command::Start { vm } => self.cmd_start(vm, who, &mut out)?,
            Command::Stop { vm } => self.cmd_stop(vm, who, &mut out)?,
            Command::Restart { vm } => {
                let host = self.home_answering(self.idle_vm(vm)?, "restart")?;
                let reason = format!("restart requested by {origin}");
                let kind = ActionKind::Restart { vm: vm.clone(), host };
                self.start_action(vm, VmState::Restarting, reason, kind, who, &mut out);
            }
            Command::Reinstall { vm } => {
                self.idle_vm(vm)?;
                if let Some(why) = self.start_waits(vm, &mut out) {
                    return Err(format!("{vm} {why}: reinstall it once they are ready (its start would wait)"));
                }
                let host = self.reinstall_host(vm)?;
                if self.vms[vm].host.as_deref() != Some(host.as_str()) {
                    self.vm_mut(vm).target = Some(host.clone());
                }
                let reason = format!("reinstall requested by {origin}");
                let kind = ActionKind::Reinstall { vm: vm.clone(), host };
                self.start_action(vm, VmState::Reinstalling, reason, kind, who, &mut out);
            }
            Command::Arm { vm: None } => {
                if self.armed {
                    return Err("HA is already armed".into());
                }
                self.armed = true;
                self.disarming = None;
            }
            Command::Disarm { vm: None } => {
                if !self.armed {
                    return Err("HA is already disarmed".into());
                }
                self.disarm_cluster(&mut out);
            }
            Command::Arm { vm: Some(vm) } => {
                let rec = self.vm(vm)?;
                if !matches!(rec.state, VmState::Unmanaged | VmState::NeedsOperator) {
                    return Err(format!("{vm} is already armed ({})", rec.state));
                }
                let running = rec.observed == Some(super::model::DomState::Running);
                self.ladder_dirty.insert(vm.to_string());
                let v = self.vm_mut(vm);
                v.restarts.clear();
                v.relocations.clear();
                v.reinstalls.clear();
                let (to, why) = if running {
                    (VmState::Healthy, format!("armed by {origin}: running"))
                } else {
                    (VmState::Suspect, format!("armed by {origin}: not running, checking"))
                };
                self.vm_transition(vm, to, why, &mut out);
            }
            Command::Disarm { vm: Some(vm) } => {
                let rec = self.idle_vm(vm)?;
                if rec.state == VmState::Unmanaged {
                    return Err(format!("{vm} is already disarmed"));
                }
                self.vm_transition(vm, VmState::Unmanaged, format!("disarmed by {origin}"), &mut out);
            }
            Command::Maintenance { host, on } => {
                let h = self.hosts.get(host).ok_or_else(|| format!("no host named {host}"))?;
                if h.maintenance == *on {
                    return Err(format!("{host} is {} in maintenance", if *on { "already" } else { "not" }));
                }
                let state = h.state;
                let h = self.hosts.get_mut(host).expect("checked above");
                h.maintenance = *on;
                let reason = if *on {
                    format!("maintenance by {origin}: draining by live migration")
                } else {
                    format!("maintenance ended by {origin}")
                };
                self.host_transition(host, state, reason, &mut out);
            }
            Command::ConfirmHostOff { host } => {
                let h = self.hosts.get(host).ok_or_else(|| format!("no host named {host}"))?;
                if !matches!(h.state, HostState::Down | HostState::Suspect | HostState::Fencing) || h.answered {
                    return Err(format!("{host} is {} and answers probes: it is not off", h.state));
                }
                let h = self.hosts.get_mut(host).expect("checked above");
                h.fence_action = None;
                self.host_transition(host, HostState::Fenced, format!("confirmed powered off by {origin}"), &mut out);
                self.recover_now(&mut out);
            }
            Command::AckAlarm { id } => self.ack_alarm(*id, origin, &mut out)?,
        }
        self.record_decision(origin, cmd, &mut out);
        Ok(out)
    }

    /// What an accepted command leaves in force for later (`core::decisions`).
    fn record_decision(&mut self, origin: &str, cmd: &Command, out: &mut Output) {
        use super::decisions::DecisionKey as K;
        match cmd {
            Command::Stop { vm } => self.decide(K::VmStopped(vm.clone()), Some(origin), out),
            Command::Start { vm } => self.decide(K::VmStopped(vm.clone()), None, out),
            Command::Disarm { vm: Some(vm) } => self.decide(K::VmDisarmed(vm.clone()), Some(origin), out),
            Command::Arm { vm: Some(vm) } => self.decide(K::VmDisarmed(vm.clone()), None, out),
            Command::Disarm { vm: None } => self.decide(K::ClusterDisarmed, Some(origin), out),
            Command::Arm { vm: None } => self.decide(K::ClusterDisarmed, None, out),
            Command::Maintenance { host, on } => self.decide(K::Maintenance(host.clone()), on.then_some(origin), out),
            Command::ConfirmHostOff { host } => self.decide(K::ConfirmedOff(host.clone()), Some(origin), out),
            Command::Unprotect { vm } => {
                self.decide(K::VmStopped(vm.clone()), None, out);
                self.decide(K::VmDisarmed(vm.clone()), None, out);
            }
            _ => {}
        }
    }

    /// A VM put under HA at run time starts as `Discovering`, as a configured one does: the
    /// next probes find it and judge it.
    fn cmd_protect(&mut self, spec: &super::model::VmSpec, origin: &str, now: Time) -> Result<(), String> {
        let name = &spec.name;
        if name.is_empty() {
            return Err("protect: the VM has no name".into());
        }
        if self.vms.contains_key(name) {
            return Err(format!("{name} is already protected"));
        }
        if let Some(h) = &spec.preferred_host {
            if !self.hosts.contains_key(h) {
                return Err(format!("protect {name}: no host named {h} (preferred_host)"));
            }
        }
        // Names are unique across the cluster: two domains of one name would be taken for one
        // VM running twice, and one of them destroyed.
        let defined: Vec<&str> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.last_probe.as_ref().is_some_and(|p| p.domains.iter().any(|d| &d.name == name)))
            .map(|(hn, _)| hn.as_str())
            .collect();
        if defined.len() > 1 {
            return Err(format!(
                "protect {name}: {} each have a domain named {name}; 3RC would take them for one VM running \
                 twice and destroy all but one: rename or remove all but one first",
                defined.join(" and ")
            ));
        }
        if spec.policy.fail_threshold == 0 || spec.policy.ok_threshold == 0 {
            return Err(format!("protect {name}: fail_threshold and ok_threshold must be at least 1"));
        }
        if let Some(h) = defined.first() {
            let h = h.to_string();
            self.spare_allows_protect(spec, &h)?;
        }
        let spec = super::model::VmSpec { origin: super::model::Origin::RunTime, ..spec.clone() };
        let mut rec = VmRec::new(spec, now);
        rec.reason = format!("protected by {origin}; not seen yet");
        self.vms.insert(name.clone(), rec);
        Ok(())
    }

    /// Only a VM protected at run time (one of the configuration file would come back at the
    /// next start), and only an idle one: an action under way would finish for a VM nobody
    /// watches any more. Its alarms are acknowledged; the VM itself is not touched.
    fn cmd_unprotect(&mut self, name: &str, origin: &str, out: &mut Output) -> Result<(), String> {
        if self.vm(name)?.spec.origin != super::model::Origin::RunTime {
            return Err(format!(
                "{name} was not put under HA at run time (by `3rc ctl protect` or a P2V): a VM of the \
                 configuration file leaves HA when its [[vm]] entry is removed and 3rc restarted"
            ));
        }
        let rec = self.idle_vm(name)?;
        let why = format!("unprotected by {origin}: no longer watched or acted on ({})", rec.state);
        self.vms.remove(name);
        self.ladder_dirty.remove(name);
        let subject = Subject::Vm(name.to_string());
        self.ack_subject(&subject, origin, out);
        self.note(subject, why, out);
        Ok(())
    }

    fn vm(&self, name: &str) -> Result<&VmRec, String> {
        self.vms.get(name).ok_or_else(|| format!("no protected VM named {name}"))
    }

    /// The VM, if no action is under way for it.
    fn idle_vm(&self, name: &str) -> Result<&VmRec, String> {
        let rec = self.vm(name)?;
        if rec.action.is_some() || rec.state.is_busy() {
            return Err(format!("{name} is busy: {} ({})", rec.state, rec.reason));
        }
        Ok(rec)
    }

    /// The VM's host, if it answers probes and may run it.
    fn home_answering(&self, rec: &VmRec, what: &str) -> Result<String, String> {
        let name = &rec.spec.name;
        let host = rec.host.clone().ok_or_else(|| format!("cannot {what} {name}: it has no host yet"))?;
        let h = self.hosts.get(&host).ok_or_else(|| format!("cannot {what} {name}: unknown host {host}"))?;
        if !(h.answered && matches!(h.state, HostState::Online | HostState::Rejoining)) {
            return Err(format!("cannot {what} {name}: its host {host} is {}", h.shown_state()));
        }
        Ok(host)
    }

    /// Pick a host for the VM, or say why none fits.
    fn choose(&self, vm: &str, only: Option<&str>) -> Result<String, String> {
        let trace = self.place_one(vm, &[], only);
        trace.chosen.clone().ok_or_else(|| format!("no host can take {vm}: {}", trace.summary()))
    }

    /// Where the VM is seen active by a probe this cycle, if anywhere.
    fn running_on(&self, vm: &str) -> Option<String> {
        self.hosts.iter().find_map(|(hn, h)| {
            let p = h.last_probe.as_ref().filter(|_| h.answered)?;
            p.domains.iter().any(|d| d.name == vm && d.state.is_active()).then(|| hn.clone())
        })
    }

    fn cmd_migrate(&mut self, vm: &str, to: &str, who: Decider, out: &mut Output) -> Result<(), String> {
        let rec = self.idle_vm(vm)?;
        if rec.state == VmState::Unmanaged {
            return Err(format!("{vm} is not managed (HA disarmed for it): arm it first"));
        }
        if !self.hosts.contains_key(to) {
            return Err(format!("no host named {to}"));
        }
        let from = self.home_answering(rec, "migrate").or_else(|e| {
            let h = rec.host.clone().unwrap_or_default();
            match self.hosts.get(&h) {
                Some(hr) if hr.answered && hr.maintenance => Ok(h),
                _ => Err(e),
            }
        })?;
        if from == to {
            return Err(format!("{vm} already runs on {to}"));
        }
        if self.running_on(vm).as_deref() != Some(from.as_str()) {
            return Err(format!("{vm} is not running on {from}: start it instead"));
        }
        let trace = self.place_one(vm, &[], Some(to));
        if trace.chosen.is_none() {
            return Err(format!(
                "cannot migrate {vm} to {to}: {}",
                trace.summary().trim_start_matches("no host fits; ")
            ));
        }
        self.spare_allows(vm, to)?;
        let reason = format!("migration to {to} requested by {who}");
        let kind = ActionKind::Migrate { vm: vm.into(), from, to: to.into() };
        self.start_move(vm, trace, reason, kind, who, out);
        Ok(())
    }

    fn cmd_start(&mut self, vm: &str, who: Decider, out: &mut Output) -> Result<(), String> {
        let rec = self.idle_vm(vm)?;
        if let Some(h) = self.running_on(vm) {
            return Err(format!("{vm} is already running on {h}"));
        }
        // Never start a VM whose host may still run it: the host must answer, or be fenced.
        let home = rec.host.clone();
        let home_state = home.as_deref().and_then(|h| self.hosts.get(h)).map(|h| (h.state, h.answered));
        let kind = match home_state {
            Some((HostState::Online | HostState::Rejoining, true)) if rec.observed.is_some() => {
                ActionKind::Start { vm: vm.into(), host: home.clone().unwrap_or_default() }
            }
            Some((HostState::Fenced, _)) | Some((HostState::Online | HostState::Rejoining, true)) | None => {
                let to = self.choose(vm, None)?;
                ActionKind::Relocate { vm: vm.into(), from: None, to }
            }
            Some((state, _)) => {
                return Err(format!(
                    "{vm}'s host {} is {state} and not fenced: it may still run there; confirm the host is off first",
                    home.unwrap_or_default()
                ))
            }
        };
        self.ladder_dirty.insert(vm.to_string());
        let v = self.vm_mut(vm);
        v.restarts.clear();
        v.relocations.clear();
        v.reinstalls.clear();
        if let Some(why) = self.start_waits(vm, out) {
            // Accepted: recovery starts it (wherever placement says) once it may.
            self.wait_order(vm, format!("start requested by {who}; {why}"), out);
            return Ok(());
        }
        let v = self.vm_mut(vm);
        if let ActionKind::Relocate { to, .. } = &kind {
            v.target = Some(to.clone());
        }
        let reason = format!("start requested by {who}");
        self.start_action(vm, VmState::Starting, reason, kind, who, out);
        Ok(())
    }

    fn cmd_stop(&mut self, vm: &str, who: Decider, out: &mut Output) -> Result<(), String> {
        let rec = self.idle_vm(vm)?;
        if rec.state == VmState::Stopped {
            return Err(format!("{vm} is already stopped"));
        }
        match self.running_on(vm) {
            Some(host) => {
                let reason = format!("stop requested by {who}");
                let kind = ActionKind::Stop { vm: vm.into(), host };
                self.start_action(vm, VmState::Stopping, reason, kind, who, out);
            }
            None => {
                let host_answers = rec
                    .host
                    .as_deref()
                    .and_then(|h| self.hosts.get(h))
                    .is_none_or(|h| h.answered || h.state == HostState::Fenced);
                if !host_answers {
                    return Err(format!(
                        "cannot stop {vm}: its host {} does not answer",
                        rec.host.clone().unwrap_or_default()
                    ));
                }
                self.vm_transition(vm, VmState::Stopped, format!("marked stopped by {who}: it was not running"), out);
            }
        }
        Ok(())
    }
}
