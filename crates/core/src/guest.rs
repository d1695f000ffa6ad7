//! Guest probes (`[vm.guest]`): beyond "the domain runs", whether the guest does.
//!
//! The supervisor runs each VM's checks (the qemu guest agent, a TCP connect, an HTTP GET) and
//! hands each result in with [`Engine::guest_result`]; a watchdog device's event comes in with
//! [`Engine::watchdog`]. The VM's probe each cycle is then bad when its domain runs and its
//! guest fails (the last result of a check is a failure, or the watchdog fired since it
//! started): the same hysteresis and the same ladder as a domain that stopped.
//!
//! vSphere's safeguards: no guest probe fails a VM that has run less than `min_uptime` (nor
//! the agent within `agent_grace` of a start: the guest boots first), and a VM whose guest
//! probes climbed the ladder `max_restarts` times within `window` is given to a person rather
//! than restarted again. Those rungs are kept with the ladder's windows, across restarts.
//!
//! TCP and HTTP checks go from the supervisor, so they also fail when 3RC's own network to the
//! VMs fails, or a service they all need does: restarting every VM would make that worse. A
//! failing TCP/HTTP check counts only after it has failed for twice its timeout (every check
//! of that round has answered by then), and not while such checks fail for VMs on two hosts or
//! more that are half or more of the VMs with such checks: one alarm says so instead
//! (`guest-net`), ended when it clears. A check that could not run in time (the supervisor's
//! threads all held by checks that hang: [`Engine::guest_unchecked`]) counts as failing there,
//! so that an outage too wide for every check to run is still held.
//!
//! Uptime is what 3RC saw: since its domain was seen running (or 3RC started it), so a start
//! of 3RC counts as a start, and nothing is failed on a guest before `min_uptime` has passed.

use super::engine::{Engine, Output};
use super::event::{Severity, Subject};
use super::model::{DomState, GuestCheck};
use super::state::VmState;
use super::time::{human, Time};
use super::window::SlidingWindow;
use std::collections::BTreeMap;
use std::time::Duration;

/// What 3RC knows of one VM's guest.
#[derive(Clone, Debug, Default)]
pub struct GuestRec {
    /// Since when its domain runs at its host, as 3RC saw it.
    pub up_since: Option<Time>,
    /// Each check's last result.
    pub results: BTreeMap<GuestCheck, CheckResult>,
    /// The checks asked (at this time) that could not run in time since their last result (the
    /// supervisor's threads busy with other checks): not a failure of this guest, but not an
    /// answer either; the `guest-net` hold counts them (see [`Engine::guest_unchecked`]).
    pub unchecked: BTreeMap<GuestCheck, Time>,
    /// When its watchdog last fired, and what the device did.
    pub watchdog: Option<(Time, String)>,
    /// The VM's last bad probe was its guest's.
    pub failing: bool,
    /// Rungs climbed because of guest probes, each forgotten `window` later.
    pub restarts: SlidingWindow,
}

/// The last result of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    /// When the check was asked (a result asked before the VM's last start is not counted).
    pub asked: Time,
    pub answer: GuestAnswer,
    /// Since when it says so (the same kind of answer).
    pub since: Time,
}

/// What one check of a guest found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestAnswer {
    Passed,
    /// It failed, and why ("connection refused", "no answer in 3 s"): a bad probe.
    Failed(String),
    /// It cannot be checked here (a backend without a guest agent channel): not counted.
    CannotCheck(String),
}

impl GuestAnswer {
    fn kind(&self) -> u8 {
        match self {
            GuestAnswer::Passed => 0,
            GuestAnswer::Failed(_) => 1,
            GuestAnswer::CannotCheck(_) => 2,
        }
    }
}

/// A VM whose guest the supervisor should check now: where it runs, what to check, how long
/// each check may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestDue {
    pub vm: String,
    pub host: String,
    pub checks: Vec<GuestCheck>,
    pub timeout: Duration,
}

impl GuestRec {
    /// The VM was (re)started at `now` (seen running after not running, or started by 3RC).
    pub fn started(&mut self, now: Time) {
        self.up_since = Some(now);
    }

    /// What its domain looks like now at its host.
    pub fn seen(&mut self, now: Time, state: Option<DomState>) {
        match state {
            Some(DomState::Running) => {
                self.up_since.get_or_insert(now);
            }
            // Paused (a migration, a person, its storage): still up, its guest not judged.
            Some(DomState::Paused | DomState::IoPaused) => {}
            _ => self.up_since = None,
        }
    }
}

/// The alarm key of TCP/HTTP checks failing on many VMs at once.
const NET: &str = "guest-net";

impl Engine {
    /// Whether TCP/HTTP checks fail for so many VMs on several hosts at once that 3RC's own
    /// network (or a service they share) is more likely at fault than each guest: then they
    /// are not counted, and one alarm says so. Once per cycle, before the VMs are judged.
    pub(super) fn guest_net_hold(&mut self, out: &mut Output) {
        let (mut with_checks, mut failing) = (0usize, BTreeMap::<&str, Vec<&str>>::new());
        for v in self.vms.values() {
            let (Some(g), Some(host), Some(up)) = (v.spec.guest.as_ref(), v.host.as_deref(), v.guest.up_since) else {
                continue;
            };
            if (g.tcp.is_none() && g.http.is_none()) || v.observed != Some(DomState::Running) {
                continue;
            }
            with_checks += 1;
            let fails = v.guest.results.iter().any(|(c, r)| {
                !matches!(c, GuestCheck::Agent) && r.asked >= up && matches!(r.answer, GuestAnswer::Failed(_))
            }) || v.guest.unchecked.iter().any(|(c, at)| !matches!(c, GuestCheck::Agent) && *at >= up);
            if fails {
                failing.entry(host).or_default().push(v.spec.name.as_str());
            }
        }
        let n: usize = failing.values().map(Vec::len).sum();
        let hold = failing.len() >= 2 && n * 2 >= with_checks;
        if hold {
            let names: Vec<&str> = failing.values().flatten().copied().collect();
            let shown = if names.len() > 8 { format!("{}, ...", names[..8].join(", ")) } else { names.join(", ") };
            let message = format!(
                "TCP/HTTP guest checks fail (or cannot run in time) for {n} of {with_checks} VMs on {} hosts at once \
                 ({shown}): 3RC's own \
                 network to them, or a service they share, is more likely at fault than each guest; not counted \
                 while it lasts",
                failing.len()
            );
            if !self.alarm_stands(NET) {
                self.raise(NET.into(), Subject::Cluster, Severity::Warning, message, out);
            }
        } else if self.alarm_stands(NET) {
            self.end_alarms(NET, "TCP/HTTP guest checks no longer fail on several hosts at once", out);
        }
        self.guest_net_held = hold;
    }

    /// The VMs whose guests are checked this cycle: those with checks, running at a host whose
    /// answers are trusted, and judged (no action under way, not left to a person).
    pub fn guest_due(&self) -> Vec<GuestDue> {
        self.vms
            .values()
            .filter_map(|v| {
                let g = v.spec.guest.as_ref()?;
                let host = v.host.as_ref()?;
                let checks = g.checks();
                let judged = v.action.is_none()
                    && !matches!(v.state, VmState::Stopped | VmState::Unmanaged | VmState::NeedsOperator);
                let trusted = self.hosts.get(host).is_some_and(|h| h.answered && h.can_judge_vms());
                (judged && trusted && !checks.is_empty() && v.observed == Some(DomState::Running)).then(|| GuestDue {
                    vm: v.spec.name.clone(),
                    host: host.clone(),
                    checks,
                    timeout: g.timeout,
                })
            })
            .collect()
    }

    /// The result of one check of a VM's guest, asked at `asked`. A note when it changes
    /// (passing to failing or back).
    pub fn guest_result(&mut self, now: Time, vm: &str, check: GuestCheck, asked: Time, answer: GuestAnswer) -> Output {
        self.now = now;
        let mut out = Output::default();
        let Some(v) = self.vms.get_mut(vm) else { return out };
        let last = v.guest.results.get(&check);
        if last.is_some_and(|l| l.asked > asked) {
            return out;
        }
        let changed = last.map(|l| l.answer.kind()) != Some(answer.kind());
        // The first answer since the VM (re)started counts from now whatever came before.
        let restarted = last.is_some_and(|l| v.guest.up_since.is_some_and(|up| l.asked < up));
        let since = match last {
            Some(l) if !changed && !restarted => l.since,
            _ => now,
        };
        let note = match (&answer, last) {
            (_, _) if !changed => None,
            (GuestAnswer::Failed(e), _) => Some(format!("{check}: {e}")),
            (GuestAnswer::CannotCheck(e), _) => Some(format!("{check} cannot be checked here: {e}; not counted")),
            (GuestAnswer::Passed, Some(_)) => Some(format!("{check}: answers again")),
            (GuestAnswer::Passed, None) => None,
        };
        v.guest.unchecked.remove(&check);
        v.guest.results.insert(check, CheckResult { asked, answer, since });
        if let Some(n) = note {
            self.note(Subject::Vm(vm.into()), n, &mut out);
        }
        out
    }

    /// A check of a VM's guest, asked at `asked`, that could not run in time: the supervisor's
    /// threads for such checks were busy with other guests' (hung guests, or 3RC's own network
    /// down: every TCP/HTTP check hangs for its timeout). Its last result stands for the VM's
    /// probe; the `guest-net` hold counts it with the failing ones, so that a network outage
    /// too wide for every check to run still holds the checks that did run and fail.
    pub fn guest_unchecked(&mut self, now: Time, vm: &str, check: GuestCheck, asked: Time) {
        self.now = now;
        if let Some(v) = self.vms.get_mut(vm) {
            if v.guest.results.get(&check).is_none_or(|r| r.asked <= asked) {
                v.guest.unchecked.insert(check, asked);
            }
        }
    }

    /// A watchdog device of a VM fired on `host` (libvirt's watchdog event; `action`: what the
    /// device did). It counts as a failure of the guest until the VM is started again, when its
    /// `[vm.guest]` has `watchdog = true`.
    pub fn watchdog(&mut self, now: Time, vm: &str, host: &str, action: &str) -> Output {
        self.now = now;
        let mut out = Output::default();
        let Some(v) = self.vms.get_mut(vm) else { return out };
        let counted = v.spec.guest.as_ref().is_some_and(|g| g.watchdog) && v.host.as_deref() == Some(host);
        let reason = if counted {
            v.guest.watchdog = Some((now, action.to_string()));
            format!(
                "watchdog fired on {host} (device action: {action}): a failure of its guest until it is started again"
            )
        } else {
            format!("watchdog fired on {host} (device action: {action}): not counted (no watchdog probe for it here)")
        };
        self.note(Subject::Vm(vm.into()), reason, &mut out);
        out
    }

    /// Why the guest of a VM whose domain runs fails now, if it does and it counts: past
    /// `min_uptime`, a watchdog fired since it started, or a check's last result (asked since
    /// it started) is a failure (the agent's only past `agent_grace`).
    pub(super) fn guest_verdict(&self, name: &str) -> Option<String> {
        let v = &self.vms[name];
        let g = v.spec.guest.as_ref()?;
        let up = v.guest.up_since?;
        let ran = self.now.since(up);
        if ran < g.min_uptime {
            return None;
        }
        if let Some((at, action)) = v.guest.watchdog.as_ref().filter(|(at, _)| g.watchdog && *at >= up) {
            return Some(format!("watchdog fired {} ago (device action: {action})", human(self.now.since(*at))));
        }
        v.guest.results.iter().find_map(|(check, r)| {
            let counted = r.asked >= up
                && match check {
                    GuestCheck::Agent => ran >= g.agent_grace,
                    _ => !self.guest_net_held && self.now.since(r.since) >= g.timeout * 2,
                };
            let GuestAnswer::Failed(e) = &r.answer else { return None };
            if !counted {
                return None;
            }
            Some(format!("{check}: {e} (for {})", human(self.now.since(r.since))))
        })
    }

    /// Climb the ladder for a VM whose guest probes failed, unless they already climbed it
    /// `max_restarts` times within the window: then a person is asked.
    pub(super) fn climb_for_guest(&mut self, name: &str, why: String, out: &mut Output) {
        let now = self.now;
        let Some(g) = self.vms[name].spec.guest.clone() else { return self.climb(name, why, out) };
        let used = self.vms[name].guest.restarts.count(now);
        if used >= g.max_restarts && self.armed {
            let times = if used == 1 { "once".to_string() } else { format!("{used} times") };
            let reason = format!(
                "{why}; its guest probes already restarted it {times} in {} (limit {}): a person decides",
                human(g.window),
                g.max_restarts
            );
            self.vm_transition(name, VmState::NeedsOperator, reason.clone(), out);
            self.raise(format!("operator:{name}"), Subject::Vm(name.into()), Severity::Critical, reason, out);
            return;
        }
        self.climb(name, why, out);
        if self.vms[name].action.is_some() {
            self.vm_mut(name).guest.restarts.record(now, g.window);
            self.ladder_dirty.insert(name.to_string());
        }
    }

    /// Per-check lines for people: "guest agent: answers (since 12 s)", "tcp 10.0.0.5:22:
    /// connection refused (for 40 s)", "watchdog: fired 3 s ago (reset)".
    pub(super) fn guest_lines(&self, name: &str) -> Vec<String> {
        let v = &self.vms[name];
        let Some(g) = v.spec.guest.as_ref() else { return Vec::new() };
        let mut lines: Vec<String> = g
            .checks()
            .into_iter()
            .map(|c| match v.guest.results.get(&c) {
                None => format!("{c}: not checked yet"),
                Some(r) => match &r.answer {
                    GuestAnswer::Passed => format!("{c}: answers"),
                    GuestAnswer::Failed(e) => format!("{c}: {e}"),
                    GuestAnswer::CannotCheck(e) => format!("{c}: cannot be checked here ({e})"),
                },
            })
            .collect();
        if g.watchdog {
            lines.push(match &v.guest.watchdog {
                Some((at, action)) if v.guest.up_since.is_some_and(|up| *at >= up) => {
                    format!("watchdog: fired at {at} (device action: {action})")
                }
                _ => "watchdog: has not fired since it started".to_string(),
            });
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActionKind, DomainObs, GuestSpec, HostObservation, HostProbe, Outcome};
    use std::sync::Arc;

    fn engine(guest: GuestSpec) -> Engine {
        let mut vm = crate::testkit::vm("web1", "hv1");
        vm.guest = Some(Arc::new(guest));
        crate::testkit::engine(vec![vm])
    }

    fn cycle(e: &mut Engine, secs: u64) -> Output {
        let dom = DomainObs { name: "web1".into(), state: DomState::Running, vcpus: 1, memory_kib: 1024 };
        let obs = [
            HostObservation { host: "hv1".into(), result: Ok(HostProbe { domains: vec![dom], ..Default::default() }) },
            HostObservation { host: "hv2".into(), result: Ok(HostProbe::default()) },
        ];
        e.observe(Time::from_secs(secs), &obs)
    }

    fn agent_down(e: &mut Engine, secs: u64) {
        let t = Time::from_secs(secs);
        e.guest_result(t, "web1", GuestCheck::Agent, t, GuestAnswer::Failed("no answer in 3 s".into()));
    }

    #[test]
    fn the_agent_fails_a_vm_only_past_min_uptime_and_its_grace_then_climbs_the_ladder() {
        let g = GuestSpec {
            agent: true,
            min_uptime: Duration::from_secs(20),
            agent_grace: Duration::from_secs(30),
            ..Default::default()
        };
        let mut e = engine(g);
        cycle(&mut e, 1);
        assert_eq!(e.guest_due().len(), 1, "checked while it runs");
        let mut restart = None;
        for s in 2..=40 {
            agent_down(&mut e, s);
            let out = cycle(&mut e, s);
            if let Some(a) = out.actions.first() {
                restart = Some((s, a.clone()));
                break;
            }
            if s < 31 {
                assert_eq!(e.vm_state("web1").unwrap().0, VmState::Healthy, "at {s} s: within its grace");
            }
        }
        let (at, action) = restart.expect("restarted");
        assert_eq!(at, 33, "up since 1 s: grace ends at 31 s, then three bad probes");
        assert!(matches!(action.kind, ActionKind::Restart { .. }));
        assert!(e.guest_due().is_empty(), "not checked while an action is under way");
        // After the restart: the failure asked before it does not count.
        e.outcome(Time::from_secs(34), action.id, Outcome::Done);
        for s in 35..=80 {
            cycle(&mut e, s);
        }
        assert_eq!(e.vm_state("web1").unwrap().0, VmState::Healthy);
        assert_eq!(e.vms["web1"].guest.restarts.count(Time::from_secs(80)), 1);
    }

    #[test]
    fn a_watchdog_counts_only_for_its_vm_s_host_and_until_it_starts_again() {
        let g = GuestSpec { watchdog: true, min_uptime: Duration::ZERO, ..Default::default() };
        let mut e = engine(g);
        cycle(&mut e, 1);
        let out = e.watchdog(Time::from_secs(2), "web1", "hv2", "reset");
        assert!(out.events[0].reason.contains("not counted"), "{:?}", out.events);
        assert_eq!(e.guest_verdict("web1"), None);
        e.watchdog(Time::from_secs(2), "web1", "hv1", "none");
        cycle(&mut e, 3);
        assert_eq!(e.vm_state("web1").unwrap().0, VmState::Suspect);
        assert!(
            e.vms["web1"].reason.contains("watchdog fired 1 s ago (device action: none)"),
            "{}",
            e.vms["web1"].reason
        );
        e.vm_mut("web1").guest.started(Time::from_secs(4));
        e.now = Time::from_secs(4);
        assert_eq!(e.guest_verdict("web1"), None, "a start ends it");
    }

    /// Found on the lab: a busy host (not judged for a cycle) made the VM look newly started, so
    /// its watchdog no longer counted and it was back to `Healthy` without a restart.
    #[test]
    fn a_cycle_its_host_is_not_judged_keeps_a_fired_watchdog() {
        let g = GuestSpec { watchdog: true, min_uptime: Duration::from_secs(3), ..Default::default() };
        let mut e = engine(g);
        cycle(&mut e, 1);
        e.watchdog(Time::from_secs(5), "web1", "hv1", "none");
        cycle(&mut e, 5);
        let busy = [
            HostObservation { host: "hv1".into(), result: Err(crate::ProbeError::busy("no answer in 400 ms")) },
            HostObservation { host: "hv2".into(), result: Ok(HostProbe::default()) },
        ];
        e.observe(Time::from_secs(6), &busy);
        let mut restarted = false;
        for s in 7..=12 {
            restarted |= cycle(&mut e, s).actions.iter().any(|a| matches!(a.kind, ActionKind::Restart { .. }));
        }
        assert!(restarted, "{:?}: {}", e.vm_state("web1"), e.vms["web1"].reason);
    }

    #[test]
    fn an_answer_older_than_the_last_one_is_ignored() {
        let mut e = engine(GuestSpec { agent: true, ..Default::default() });
        cycle(&mut e, 1);
        let t = Time::from_secs;
        e.guest_result(t(5), "web1", GuestCheck::Agent, t(4), GuestAnswer::Passed);
        e.guest_result(t(6), "web1", GuestCheck::Agent, t(3), GuestAnswer::Failed("late".into()));
        assert_eq!(e.vms["web1"].guest.results[&GuestCheck::Agent].answer, GuestAnswer::Passed);
        let out = e.guest_result(t(7), "web1", GuestCheck::Agent, t(7), GuestAnswer::CannotCheck("no agent".into()));
        assert!(out.events[0].reason.contains("cannot be checked here: no agent; not counted"));
    }

    /// 3RC's own network out at 20,000 VMs: only the checks that got a thread ran (and failed);
    /// the others could not run in time. Those count with the failing ones for the hold: one
    /// alarm, nobody restarted. Without them, the few that ran would look like the guests'
    /// own failures, and be restarted.
    #[test]
    fn checks_that_could_not_run_in_time_count_for_the_network_hold() {
        let names = ["web1", "web2", "web3", "web4", "web5", "web6"];
        let spec = Arc::new(GuestSpec {
            tcp: Some("10.0.0.5:80".into()),
            min_uptime: Duration::ZERO,
            timeout: Duration::from_secs(3),
            ..Default::default()
        });
        let tcp = GuestCheck::Tcp("10.0.0.5:80".into());
        let run = |unchecked: bool| {
            let vms = names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let mut vm = crate::testkit::vm(n, if i < 3 { "hv1" } else { "hv2" });
                    vm.guest = Some(spec.clone());
                    vm
                })
                .collect();
            let mut e = crate::testkit::engine(vms);
            let dom = |n: &str| DomainObs { name: n.into(), state: DomState::Running, vcpus: 1, memory_kib: 1024 };
            let obs = [
                HostObservation {
                    host: "hv1".into(),
                    result: Ok(HostProbe {
                        domains: names[..3].iter().map(|n| dom(n)).collect(),
                        ..Default::default()
                    }),
                },
                HostObservation {
                    host: "hv2".into(),
                    result: Ok(HostProbe {
                        domains: names[3..].iter().map(|n| dom(n)).collect(),
                        ..Default::default()
                    }),
                },
            ];
            let t = Time::from_secs;
            e.observe(t(1), &obs);
            for n in names {
                e.guest_result(t(2), n, tcp.clone(), t(2), GuestAnswer::Passed);
            }
            let mut acted = Vec::new();
            for s in 10..=30 {
                // One check per host gets a thread and fails; the others wait, then give up.
                for (i, n) in names.iter().enumerate() {
                    if i % 3 == 0 {
                        e.guest_result(t(s), n, tcp.clone(), t(s), GuestAnswer::Failed("no answer in 3 s".into()));
                    } else if unchecked {
                        e.guest_unchecked(t(s), n, tcp.clone(), t(s));
                    }
                }
                acted.extend(e.observe(t(s), &obs).actions);
            }
            (e, acted)
        };
        let (e, acted) = run(true);
        assert!(acted.is_empty(), "{acted:?}");
        assert!(e.alarm_stands(NET));
        assert!(names.iter().all(|n| e.vm_state(n).unwrap().0 == VmState::Healthy));
        let (_, acted) = run(false);
        assert_eq!(acted.len(), 2, "the two that ran, taken for their guests' failures: {acted:?}");
    }
}
