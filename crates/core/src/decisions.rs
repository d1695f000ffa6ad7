//! What people decided that changes what 3RC does later: a VM stopped or disarmed, the cluster
//! disarmed, a host in maintenance, a dead host confirmed off. Each decision says who took it and when (wall clock); the
//! supervisor journals every change (`Output::decisions`) before the command is acknowledged,
//! and a restarted engine gets them back (`Engine::restore_decisions`) before its first cycle,
//! so a restart of 3RC never undoes an operator.

use super::engine::{Engine, Output};
use super::event::Subject;
use super::state::VmState;
use super::time::Time;
use serde::{Deserialize, Serialize};

/// What a decision is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DecisionKey {
    /// HA disarmed for the whole cluster.
    ClusterDisarmed,
    /// The VM was stopped by a person: never started by 3RC.
    VmStopped(String),
    /// HA disarmed for the VM: watched, never acted on.
    VmDisarmed(String),
    /// The host is in maintenance: drained, receives nothing.
    Maintenance(String),
    /// A person confirmed the host powered off (its VMs may run elsewhere); lifted when the
    /// host answers again.
    ConfirmedOff(String),
}

/// Who decided, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// "console:alice", "cli:root (uid 0)".
    pub by: String,
    /// Wall-clock milliseconds since the Unix epoch.
    pub wall_ms: u64,
}

impl Decision {
    /// "console:alice at 2026-12-04 14:02 UTC".
    pub fn describe(&self) -> String {
        format!("{} at {}", self.by, wall_text(self.wall_ms))
    }
}

/// A wall-clock time for people, in UTC to the minute ("2026-12-04 14:02 UTC").
pub fn wall_text(ms: u64) -> String {
    let (year, month, day, h, m, _) = civil(ms);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02} UTC")
}

/// A wall-clock time for file names, in UTC to the second ("20261204T140205Z").
pub fn wall_stamp(ms: u64) -> String {
    let (year, month, day, h, m, s) = civil(ms);
    format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{s:02}Z")
}

/// A wall-clock time as RFC 3339, in UTC to the millisecond ("2026-12-04T14:02:05.120Z"), for
/// other programs (Alertmanager).
pub fn wall_rfc3339(ms: u64) -> String {
    let (year, month, day, h, m, s) = civil(ms);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z", ms % 1000)
}

/// Year, month, day, hour, minute, second (UTC) of a wall-clock time in ms since the epoch.
fn civil(ms: u64) -> (i64, i64, i64, u64, u64, u64) {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rest / 3600, (rest % 3600) / 60, rest % 60)
}

impl Engine {
    /// Where the engine's clock started on the wall clock (ms since the epoch), so that
    /// decisions carry a wall-clock time. The supervisor sets it once.
    pub fn set_wall_origin(&mut self, wall_ms_at_zero: u64) {
        self.wall_origin = wall_ms_at_zero;
    }

    /// The decisions in force, for the journal and for people.
    pub fn decisions(&self) -> impl Iterator<Item = (&DecisionKey, &Decision)> {
        self.decisions.iter()
    }

    /// The decision about a key, if one is in force.
    pub fn decision(&self, key: &DecisionKey) -> Option<&Decision> {
        self.decisions.get(key)
    }

    /// Record (`Some`) or lift (`None`) a decision, and say so in the output for the journal.
    pub(super) fn decide(&mut self, key: DecisionKey, by: Option<&str>, out: &mut Output) {
        let change = by.map(|by| Decision { by: by.to_string(), wall_ms: self.wall_origin + self.now.millis() });
        match &change {
            Some(d) => {
                self.decisions.insert(key.clone(), d.clone());
            }
            None => {
                if self.decisions.remove(&key).is_none() {
                    return;
                }
            }
        }
        out.decisions.push((key, change));
    }

    /// Put back the decisions an earlier run journaled, before the first cycle: each one is
    /// in force again and said in the log ("db1 stays stopped: stopped by console:alice at
    /// ..."). Decisions about VMs or hosts no longer configured are dropped, and said.
    pub fn restore_decisions(&mut self, now: Time, decisions: Vec<(DecisionKey, Decision)>) -> Output {
        self.now = now;
        let mut out = Output::default();
        for (key, d) in decisions {
            let who = d.describe();
            match &key {
                DecisionKey::ClusterDisarmed => {
                    self.armed = false;
                    self.note(Subject::Cluster, format!("HA stays disarmed: disarmed by {who}"), &mut out);
                }
                DecisionKey::VmStopped(vm) | DecisionKey::VmDisarmed(vm) if !self.vms.contains_key(vm) => {
                    let text = format!("a decision about {vm} ({key:?} by {who}) is dropped: {vm} is not protected");
                    self.note(Subject::Cluster, text, &mut out);
                    out.decisions.push((key, None));
                    continue;
                }
                DecisionKey::VmStopped(vm) => {
                    let reason = format!("stays stopped: stopped by {who}; 3RC never starts it (start it to resume)");
                    self.vm_transition(vm, VmState::Stopped, reason, &mut out);
                }
                DecisionKey::VmDisarmed(vm) => {
                    let reason = format!("stays disarmed: disarmed by {who}; watched, never acted on");
                    self.vm_transition(vm, VmState::Unmanaged, reason, &mut out);
                }
                DecisionKey::ConfirmedOff(host) if self.hosts.contains_key(host) => {
                    let reason = format!("stays confirmed off: confirmed powered off by {who}");
                    self.host_transition(host, super::state::HostState::Fenced, reason, &mut out);
                }
                DecisionKey::ConfirmedOff(host) => {
                    let text = format!("confirmation that {host} is off ({who}) is dropped: no host named {host}");
                    self.note(Subject::Cluster, text, &mut out);
                    out.decisions.push((key, None));
                    continue;
                }
                DecisionKey::Maintenance(host) => match self.hosts.get_mut(host) {
                    Some(h) => {
                        h.maintenance = true;
                        let text = format!("stays in maintenance: put in maintenance by {who}");
                        self.note(Subject::Host(host.clone()), text, &mut out);
                    }
                    None => {
                        let text = format!("maintenance of {host} by {who} is dropped: no host named {host}");
                        self.note(Subject::Cluster, text, &mut out);
                        out.decisions.push((key, None));
                        continue;
                    }
                },
            }
            self.decisions.insert(key, d);
        }
        out
    }

    /// Take over the decisions another supervisor kept (`[ha]`: the new leader adopts what the
    /// former one decided, from the shared store): each one not in force here is put in force
    /// as at a restart; each one in force here but not there was lifted there, and is lifted
    /// here — HA armed again, maintenance ended, a VM judged afresh from its next probe.
    pub fn adopt_decisions(&mut self, now: Time, shared: Vec<(DecisionKey, Decision)>) -> Output {
        self.now = now;
        let stale: Vec<DecisionKey> =
            self.decisions.keys().filter(|k| !shared.iter().any(|(s, _)| s == *k)).cloned().collect();
        let mut out = Output::default();
        for key in stale {
            let why = "lifted on the former leader".to_string();
            match &key {
                DecisionKey::ClusterDisarmed => {
                    self.armed = true;
                    self.note(Subject::Cluster, format!("HA armed again: {why}"), &mut out);
                }
                DecisionKey::Maintenance(host) => {
                    if let Some(h) = self.hosts.get_mut(host) {
                        h.maintenance = false;
                    }
                    self.note(Subject::Host(host.clone()), format!("out of maintenance: {why}"), &mut out);
                }
                DecisionKey::VmStopped(vm) | DecisionKey::VmDisarmed(vm) if self.vms.contains_key(vm) => {
                    self.vm_transition(vm, VmState::Discovering, format!("{key:?} {why}"), &mut out);
                }
                DecisionKey::VmStopped(_) | DecisionKey::VmDisarmed(_) | DecisionKey::ConfirmedOff(_) => {}
            }
            self.decide(key, None, &mut out);
        }
        let fresh: Vec<(DecisionKey, Decision)> =
            shared.into_iter().filter(|(k, d)| self.decisions.get(k) != Some(d)).collect();
        let restored = self.restore_decisions(now, fresh);
        out.events.extend(restored.events);
        out.decisions.extend(restored.decisions);
        out
    }

    /// The earlier run's decisions were lost with a damaged journal: until each protected VM
    /// is judged once, one found not running may have been stopped by a person, so it is not
    /// started (`decision_lost`).
    pub fn decisions_lost(&mut self) {
        self.decisions_unknown = self.vms.keys().cloned().collect();
    }

    /// A VM's first judgement after the decisions were lost: found not running, it is kept
    /// stopped — a decision by 3RC, journaled and shown like a person's, lifted by `start` —
    /// with a warning alarm. Returns whether that was the case.
    pub(super) fn decision_lost(&mut self, name: &str, probe: &super::vm_fsm::VmProbe, out: &mut Output) -> bool {
        if !self.decisions_unknown.remove(name) {
            return false;
        }
        let super::vm_fsm::VmProbe::Bad(what) = probe else { return false };
        if self.vms.get(name).is_none_or(|v| v.state != VmState::Discovering) {
            return false;
        }
        let by = "3rc (the journal with the operators' decisions was lost)";
        self.decide(DecisionKey::VmStopped(name.to_string()), Some(by), out);
        let why = format!(
            "found not running ({what}) after the journal with the operators' decisions was lost: it may have \
             been stopped on purpose, so 3RC does not start it; start it to resume its HA"
        );
        self.vm_transition(name, VmState::Stopped, why.clone(), out);
        let subject = Subject::Vm(name.to_string());
        self.raise(format!("decision-lost:{name}"), subject, super::event::Severity::Warning, why, out);
        true
    }

    /// The text people see for a decision in force ("stopped by console:alice at ...").
    pub(super) fn decided(&self, key: &DecisionKey) -> Option<String> {
        let what = match key {
            DecisionKey::ClusterDisarmed => "disarmed",
            DecisionKey::VmStopped(_) => "stopped",
            DecisionKey::VmDisarmed(_) => "disarmed",
            DecisionKey::Maintenance(_) => "in maintenance",
            DecisionKey::ConfirmedOff(_) => "confirmed powered off",
        };
        self.decisions.get(key).map(|d| format!("{what} by {}", d.describe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterSpec, Command, HostPolicy, HostSpec, PlacementPolicy, VmSpec};

    fn engine() -> Engine {
        let host = |n: &str| HostSpec { name: n.into(), uri: "test:///x".into(), fence_agent: None, soft_fence: false };
        let vm = VmSpec { preferred_host: Some("hv1".into()), origin: crate::Origin::Config, ..VmSpec::named("db1") };
        let spec = ClusterSpec {
            hosts: vec![host("hv1")],
            vms: vec![vm],
            host_policy: HostPolicy::default(),
            placement: PlacementPolicy::default(),
            witnesses: vec![],
        };
        let mut e = Engine::new(spec, Time::ZERO);
        e.set_wall_origin(1_796_392_920_000);
        e
    }

    #[test]
    fn commands_record_and_lift_decisions_and_a_new_engine_gets_them_back() {
        let mut e = engine();
        let out = e.command(Time::from_secs(60), "console:alice", &Command::Disarm { vm: None }).unwrap();
        let d = Decision { by: "console:alice".into(), wall_ms: 1_796_392_980_000 };
        assert_eq!(out.decisions, vec![(DecisionKey::ClusterDisarmed, Some(d.clone()))]);
        let out = e.command(Time::from_secs(61), "cli:root", &Command::Maintenance { host: "hv1".into(), on: true });
        assert_eq!(out.unwrap().decisions.len(), 1);
        let kept: Vec<(DecisionKey, Decision)> = e.decisions().map(|(k, d)| (k.clone(), d.clone())).collect();
        assert_eq!(kept.len(), 2);

        let mut fresh = engine();
        let mut with_ghost = kept.clone();
        with_ghost.push((DecisionKey::VmStopped("ghost".into()), d.clone()));
        let out = fresh.restore_decisions(Time::ZERO, with_ghost);
        assert!(!fresh.is_armed());
        assert!(fresh.hosts["hv1"].maintenance);
        let text: Vec<String> = out.events.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter().any(|t| t.contains("HA stays disarmed: disarmed by console:alice at 2026-12-04 14:03 UTC")),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.contains("ghost") && t.contains("is dropped")), "{text:?}");
        assert_eq!(out.decisions, vec![(DecisionKey::VmStopped("ghost".into()), None)], "the journal forgets it");
        // Lifting: arm, maintenance off.
        let out = fresh.command(Time::from_secs(5), "cli:root", &Command::Arm { vm: None }).unwrap();
        assert_eq!(out.decisions, vec![(DecisionKey::ClusterDisarmed, None)]);
        assert_eq!(fresh.decisions().count(), 1);
    }

    #[test]
    fn a_new_leader_adopts_the_former_leaders_decisions_and_lifts_what_it_lifted() {
        let mut e = engine();
        // Decided here earlier: the cluster disarmed.
        e.command(Time::from_secs(1), "console:alice", &Command::Disarm { vm: None }).unwrap();
        // The former leader armed it again and stopped db1.
        let d = Decision { by: "console:bob".into(), wall_ms: 1_796_392_990_000 };
        let out = e.adopt_decisions(Time::from_secs(70), vec![(DecisionKey::VmStopped("db1".into()), d.clone())]);
        assert!(e.is_armed());
        assert_eq!(e.decisions().count(), 1);
        assert_eq!(e.decision(&DecisionKey::VmStopped("db1".into())), Some(&d));
        assert_eq!(e.vms["db1"].state, VmState::Stopped);
        assert!(out.decisions.contains(&(DecisionKey::ClusterDisarmed, None)), "{:?}", out.decisions);
        let text: Vec<String> = out.events.iter().map(|e| e.to_string()).collect();
        assert!(text.iter().any(|t| t.contains("HA armed again: lifted on the former leader")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("stays stopped: stopped by console:bob")), "{text:?}");
        // The same set again changes nothing; an empty one lifts the stop.
        assert!(e
            .adopt_decisions(Time::from_secs(71), vec![(DecisionKey::VmStopped("db1".into()), d)])
            .events
            .is_empty());
        e.adopt_decisions(Time::from_secs(72), vec![]);
        assert_eq!((e.decisions().count(), e.vms["db1"].state), (0, VmState::Discovering));
    }

    #[test]
    fn wall_times_read_as_utc_dates() {
        assert_eq!(wall_text(0), "1970-01-01 00:00 UTC");
        assert_eq!(wall_text(1_796_392_920_000), "2026-12-04 14:02 UTC");
        assert_eq!(wall_text(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(wall_stamp(1_796_392_925_000), "20261204T140205Z");
        assert_eq!(wall_rfc3339(1_796_392_925_120), "2026-12-04T14:02:05.120Z");
    }
}
