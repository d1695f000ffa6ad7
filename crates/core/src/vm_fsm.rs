//! VM state machine with hysteresis, and the escalation ladder.
//!
//! One bad probe makes a VM `Suspect` and nothing more; `fail_threshold` consecutive bad probes
//! climb the ladder. A good probe resets the bad count, so a VM that alternates good and bad
//! never climbs. Leaving `Suspect` needs `ok_threshold` good probes in a row; leaving
//! `Probation` needs that **and** `min_uptime`, and one bad probe in `Probation` climbs at once.
//!
//! The ladder: restart in place (`max_restart` per `restart_window`) -> restart on another host
//! (`max_relocate` per window) -> reinstall (if the policy allows) -> ask a person. Each restart
//! and relocation is forgotten on its own once it is older than the window.

use super::action::ActionId;
use super::model::{DomState, VmSpec};
use super::placement::PlacementTrace;
use super::state::VmState;
use super::time::{human, Time};
use super::view::Transition;
use super::window::SlidingWindow;

#[derive(Clone, Debug)]
pub struct VmRec {
    pub spec: VmSpec,
    pub state: VmState,
    pub reason: String,
    pub since: Time,
    /// The host where the VM runs or should run.
    pub host: Option<String>,
    /// Where an action under way is moving it.
    pub target: Option<String>,
    /// Last known size (from probes; kept when its host is gone).
    pub vcpus: u32,
    pub memory_kib: u64,
    /// Its disks (paths or `pool/volume`), from its domain XML; empty if not known.
    pub disks: Vec<String>,
    /// What the last probe of its host saw; `None` when the host did not answer.
    pub observed: Option<DomState>,
    pub bad: u32,
    pub good: u32,
    pub first_bad_at: Option<Time>,
    pub restarts: SlidingWindow,
    pub relocations: SlidingWindow,
    /// Reinstalls decided by the ladder (at most one per window).
    pub reinstalls: SlidingWindow,
    /// The action under way, if any.
    pub action: Option<ActionId>,
    /// When the VM was last (re)started, for `min_uptime`.
    pub started_at: Option<Time>,
    /// No maintenance-drain migration before this time (set after one failed).
    pub drain_after: Option<Time>,
    /// A live migration failed: a paused domain is a failure until the VM is seen running
    /// again (a migration that breaks midway can leave it paused for good). Storage pauses of a
    /// running VM stay tolerated.
    pub paused_is_bad: bool,
    /// Paused by I/O errors (`StoragePaused`): when 3RC next tries to resume it.
    pub resume_at: Option<Time>,
    pub placement: Option<std::sync::Arc<PlacementTrace>>,
    /// Recent transitions, shared with snapshots (copied only when a transition happens while
    /// a snapshot still holds it).
    pub history: std::sync::Arc<Vec<Transition>>,
    /// A reinstall cut short by a stop of 3RC, to finish once its host answers (why, who).
    pub resume: Option<String>,
    /// What cut that reinstall short ("a stop of 3RC", or the loss of a leader).
    pub resume_cause: String,
    /// Starts of it that failed within its restart window, oldest first: placement tries
    /// other hosts first, and a person is told where and why (`core::retry`).
    pub failed_starts: Vec<FailedStart>,
    /// No new attempt to start it before this time (the backoff after a failed start).
    pub retry_at: Option<Time>,
    /// Its guest, as its guest probes see it (`core::guest`).
    pub guest: super::guest::GuestRec,
    /// Since when a start of it waits for its start order (`core::order`), and whether the
    /// wait ran out (said once).
    pub order_since: Option<Time>,
    pub order_gave_up: bool,
    /// It waits (or waited) `Pending` for its start order, not for room.
    pub order_waited: bool,
}

/// A start of a VM that failed: where, when, and what was said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedStart {
    pub host: String,
    pub at: Time,
    pub error: String,
}

/// What one probe says about a VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmProbe {
    Good,
    /// Bad, with what was seen ("shut off", "not defined on hv1").
    Bad(String),
}

/// A change decided by the VM state machine for one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmStep {
    To(VmState, String),
    /// Climb the ladder, for this reason.
    Escalate(String),
}

/// The next rung of the ladder for a VM that stays bad.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rung {
    /// Restart in place; the text says which restart this is ("restart 1 of 2 in 10 min").
    Restart(String),
    /// Start on another host ("relocation 1 of 1 in 10 min").
    Relocate(String),
    Reinstall(String),
    /// The ladder is exhausted.
    Exhausted(String),
}

impl VmRec {
    pub fn new(spec: VmSpec, now: Time) -> VmRec {
        VmRec {
            host: spec.preferred_host.clone(),
            spec,
            state: VmState::Discovering,
            reason: "not seen yet".into(),
            since: now,
            target: None,
            vcpus: 0,
            memory_kib: 0,
            disks: Vec::new(),
            observed: None,
            bad: 0,
            good: 0,
            first_bad_at: None,
            restarts: SlidingWindow::default(),
            relocations: SlidingWindow::default(),
            reinstalls: SlidingWindow::default(),
            action: None,
            started_at: None,
            drain_after: None,
            paused_is_bad: false,
            resume_at: None,
            placement: None,
            history: Default::default(),
            resume: None,
            resume_cause: String::new(),
            failed_starts: Vec::new(),
            retry_at: None,
            guest: Default::default(),
            order_since: None,
            order_gave_up: false,
            order_waited: false,
        }
    }

    /// Change state, recording the transition. Returns `(from, to)` if the state changed.
    pub fn set_state(&mut self, now: Time, to: VmState, reason: impl Into<String>) -> Option<(VmState, VmState)> {
        let reason = reason.into();
        let from = self.state;
        self.state = to;
        self.reason = reason.clone();
        if from == to {
            return None;
        }
        self.since = now;
        if to != VmState::Suspect {
            self.bad = 0;
            self.first_bad_at = None;
        }
        self.good = 0;
        let history = std::sync::Arc::make_mut(&mut self.history);
        history.push(Transition { at: now, from: from.label().into(), to: to.label().into(), reason });
        if history.len() > super::host_fsm::HISTORY {
            history.remove(0);
        }
        Some((from, to))
    }

    pub fn restarts_in_window(&self, now: Time) -> u32 {
        self.restarts.count(now)
    }

    pub fn relocations_in_window(&self, now: Time) -> u32 {
        self.relocations.count(now)
    }

    /// Apply one probe. States owned by an action under way, or by an operator, ignore probes.
    pub fn on_probe(&mut self, now: Time, probe: &VmProbe) -> Option<VmStep> {
        let p = &self.spec.policy;
        let (ft, ok) = (p.fail_threshold.max(1), p.ok_threshold.max(1));
        match probe {
            VmProbe::Good => {
                self.bad = 0;
                self.first_bad_at = None;
                self.good = self.good.saturating_add(1);
                match self.state {
                    VmState::Discovering => Some(VmStep::To(VmState::Healthy, "found running".into())),
                    VmState::Suspect if self.good >= ok => Some(VmStep::To(
                        VmState::Healthy,
                        format!("{} good probes in a row (threshold {ok})", self.good),
                    )),
                    VmState::Suspect => {
                        self.reason = format!("recovering: {} of {ok} good probes", self.good);
                        None
                    }
                    VmState::Probation => {
                        let up = now.since(self.started_at.unwrap_or(self.since));
                        if self.good >= ok && up >= p.min_uptime {
                            Some(VmStep::To(
                                VmState::Healthy,
                                format!(
                                    "{} good probes and up {} (thresholds {ok} probes, {})",
                                    self.good,
                                    human(up),
                                    human(p.min_uptime)
                                ),
                            ))
                        } else {
                            self.reason = format!(
                                "{} of {ok} good probes, up {} of {}",
                                self.good,
                                human(up),
                                human(p.min_uptime)
                            );
                            None
                        }
                    }
                    _ => None,
                }
            }
            VmProbe::Bad(what) => {
                self.good = 0;
                self.bad = self.bad.saturating_add(1);
                let first = *self.first_bad_at.get_or_insert(now);
                let climbed = || {
                    VmStep::Escalate(format!(
                        "{} failed probes in {} ({what}), threshold {ft}",
                        self.bad,
                        human(now.since(first))
                    ))
                };
                match self.state {
                    VmState::Healthy | VmState::Discovering | VmState::Suspect if self.bad >= ft => Some(climbed()),
                    VmState::Healthy | VmState::Discovering => Some(VmStep::To(
                        VmState::Suspect,
                        format!("{} failed probe ({what}), threshold {ft}", self.bad),
                    )),
                    VmState::Suspect => {
                        self.reason = format!("{} failed probes ({what}), threshold {ft}", self.bad);
                        None
                    }
                    VmState::Probation => Some(VmStep::Escalate(format!("failed during probation ({what})"))),
                    _ => None,
                }
            }
        }
    }

    /// The next rung for a VM that must climb. `home_online`: its host can take a restart.
    pub fn next_rung(&self, now: Time, home_online: bool) -> Rung {
        let p = &self.spec.policy;
        let window = human(p.restart_window);
        let restarts = self.restarts_in_window(now);
        let relocations = self.relocations_in_window(now);
        if home_online && restarts < p.max_restart {
            return Rung::Restart(format!("restart {} of {} in {window}", restarts + 1, p.max_restart));
        }
        if relocations < p.max_relocate {
            return Rung::Relocate(format!("relocation {} of {} in {window}", relocations + 1, p.max_relocate));
        }
        let spent = format!(
            "{restarts} of {} restarts and {relocations} of {} relocations used in {window}",
            p.max_restart, p.max_relocate
        );
        if p.reinstall && self.reinstalls.count(now) > 0 {
            // One reinstall per window: a VM that fails again on a fresh disk needs a person,
            // not a loop of reinstalls.
            Rung::Exhausted(format!("ladder exhausted: {spent}, and its reinstall in {window} did not help"))
        } else if p.reinstall {
            Rung::Reinstall(format!("reinstall from golden image ({spent})"))
        } else {
            Rung::Exhausted(format!("ladder exhausted: {spent}, reinstall not allowed by policy"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use VmState::*;

    fn rec(state: VmState) -> VmRec {
        let spec = VmSpec { origin: crate::Origin::Config, ..VmSpec::named("web1") };
        let mut r = VmRec::new(spec, Time::ZERO);
        r.state = state;
        r.host = Some("hv1".into());
        r
    }

    /// Feed probes ('+' good, '-' bad) one second apart; apply plain transitions; stop at the
    /// first escalation and return it.
    fn feed(r: &mut VmRec, probes: &str) -> (Vec<VmState>, Option<String>) {
        let mut states = vec![];
        for (i, c) in probes.chars().enumerate() {
            let now = Time::from_secs(i as u64 + 1);
            let probe = if c == '+' { VmProbe::Good } else { VmProbe::Bad("shut off".into()) };
            match r.on_probe(now, &probe) {
                Some(VmStep::To(s, why)) => {
                    r.set_state(now, s, why);
                }
                Some(VmStep::Escalate(why)) => return (states, Some(why)),
                None => {}
            }
            states.push(r.state);
        }
        (states, None)
    }

    #[test]
    fn probe_transitions_table() {
        // (start, probes, final state, escalated)
        let table: &[(VmState, &str, VmState, bool)] = &[
            (Healthy, "+", Healthy, false),
            (Healthy, "-", Suspect, false),
            (Healthy, "--", Suspect, false),
            (Healthy, "---", Suspect, true),
            (Suspect, "+", Suspect, false),
            (Suspect, "+++", Healthy, false),
            (Discovering, "+", Healthy, false),
            (Discovering, "-", Suspect, false),
            (Probation, "-", Probation, true),
            (Stopped, "----", Stopped, false),
            (Unmanaged, "----", Unmanaged, false),
            (NeedsOperator, "----++++", NeedsOperator, false),
            (Restarting, "----", Restarting, false),
            (Migrating, "----", Migrating, false),
            (AwaitingFence, "----", AwaitingFence, false),
        ];
        for (start, probes, want, esc) in table {
            let mut r = rec(*start);
            let (_, escalated) = feed(&mut r, probes);
            assert_eq!(r.state, *want, "{start:?} after {probes:?}");
            assert_eq!(escalated.is_some(), *esc, "{start:?} after {probes:?}");
        }
    }

    #[test]
    fn threshold_minus_one_bad_then_good_takes_no_action() {
        let mut r = rec(Healthy);
        let (_, esc) = feed(&mut r, "--+--+--+--+--+");
        assert_eq!(esc, None);
        assert_eq!(r.state, Suspect);
    }

    #[test]
    fn alternating_forever_takes_no_action_and_never_clears() {
        let mut r = rec(Healthy);
        let (states, esc) = feed(&mut r, &"-+".repeat(500));
        assert_eq!(esc, None);
        assert!(states.iter().all(|s| *s == Suspect));
    }

    #[test]
    fn escalation_reason_is_readable() {
        let mut r = rec(Healthy);
        let (_, esc) = feed(&mut r, "---");
        assert_eq!(esc.as_deref(), Some("3 failed probes in 2 s (shut off), threshold 3"));
    }

    #[test]
    fn probation_needs_probes_and_min_uptime() {
        let mut r = rec(Probation);
        r.started_at = Some(Time::ZERO);
        r.spec.policy.min_uptime = Duration::from_secs(10);
        // Three good probes at 1..3 s: probes met, uptime not.
        let (_, _) = feed(&mut r, "+++");
        assert_eq!(r.state, Probation);
        assert_eq!(r.reason, "3 of 3 good probes, up 3 s of 10 s");
        // At 10 s it clears.
        let step = r.on_probe(Time::from_secs(10), &VmProbe::Good);
        assert!(matches!(step, Some(VmStep::To(Healthy, _))), "{step:?}");
    }

    #[test]
    fn probation_uptime_alone_is_not_enough() {
        let mut r = rec(Probation);
        r.started_at = Some(Time::ZERO);
        assert_eq!(r.on_probe(Time::from_secs(100), &VmProbe::Good), None);
    }

    #[test]
    fn ladder_climbs_restart_relocate_then_operator() {
        let mut r = rec(Suspect);
        let now = Time::from_secs(100);
        assert_eq!(r.next_rung(now, true), Rung::Restart("restart 1 of 2 in 10 min".into()));
        r.restarts.record(now, r.spec.policy.restart_window);
        assert_eq!(r.next_rung(now, true), Rung::Restart("restart 2 of 2 in 10 min".into()));
        r.restarts.record(now, r.spec.policy.restart_window);
        assert_eq!(r.next_rung(now, true), Rung::Relocate("relocation 1 of 1 in 10 min".into()));
        r.relocations.record(now, r.spec.policy.restart_window);
        assert!(matches!(r.next_rung(now, true), Rung::Exhausted(_)));
        r.spec.policy.reinstall = true;
        assert!(matches!(r.next_rung(now, true), Rung::Reinstall(_)));
    }

    #[test]
    fn ladder_skips_restart_when_home_cannot_take_it() {
        let r = rec(Suspect);
        assert!(matches!(r.next_rung(Time::ZERO, false), Rung::Relocate(_)));
    }

    #[test]
    fn restarts_decay_one_by_one() {
        let mut r = rec(Suspect);
        r.restarts.record(Time::from_secs(0), r.spec.policy.restart_window);
        r.restarts.record(Time::from_secs(300), r.spec.policy.restart_window);
        assert_eq!(r.restarts_in_window(Time::from_secs(599)), 2);
        assert_eq!(r.restarts_in_window(Time::from_secs(600)), 1);
        assert!(matches!(r.next_rung(Time::from_secs(600), true), Rung::Restart(s) if s.starts_with("restart 2")));
        assert_eq!(r.restarts_in_window(Time::from_secs(900)), 0);
    }
}
