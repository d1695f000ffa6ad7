//! Host state machine with hysteresis.
//!
//! One failed probe makes a host `Suspect` (it receives no VMs, nothing moves); only
//! `fail_threshold` consecutive failures make it `Down`. A `Suspect` or `Rejoining` host needs
//! `ok_threshold` consecutive good probes to be `Online` again. `Down` hosts are fenced
//! (`Fencing` -> `Fenced`) before any of their VMs may run elsewhere. Maintenance is an operator
//! flag, shown as the `Maintenance` state while the host is otherwise online.
//!
//! A failed probe that got an answer (the connection refused, libvirt answering with an error)
//! proves the host alive: `fail_threshold` failures with at least one such answer among the last
//! `fail_threshold` make it `Unmanageable`, not `Down`. Only `fail_threshold` probes in a row
//! without any answer make a host `Down`.

use super::action::ActionId;
use super::model::{Capacity, HostPolicy, HostProbe, HostSpec, ProbeError, ProbeFailure};
use super::state::HostState;
use super::time::Time;
use super::view::Transition;
use std::collections::BTreeMap;

/// How many transitions a record keeps for the console.
pub const HISTORY: usize = 16;

#[derive(Clone, Debug)]
pub struct HostRec {
    pub spec: HostSpec,
    pub state: HostState,
    pub reason: String,
    pub since: Time,
    /// Consecutive failed / good probes.
    pub bad: u32,
    pub good: u32,
    /// Consecutive failed probes that got no answer at all (the end of the run of `bad`).
    pub silent: u32,
    /// The kind of the last failed probe of the current run.
    pub last_failure: Option<ProbeFailure>,
    /// Rounds in a row whose probe was held up while the host answered (`ProbeFailure::Busy`).
    pub busy: u32,
    /// When the current run of failed probes began.
    pub first_bad_at: Option<Time>,
    pub capacity: Option<Capacity>,
    /// The last successful probe, kept for capacity accounting and stale-copy checks.
    pub last_probe: Option<HostProbe>,
    /// Whether this cycle's probe answered.
    pub answered: bool,
    pub last_error: Option<String>,
    /// Operator flag: drain and receive nothing.
    pub maintenance: bool,
    /// The fence action under way.
    pub fence_action: Option<ActionId>,
    /// The soft fence under way, and whether one was tried in this `Unmanageable` episode.
    pub soft_fence_action: Option<ActionId>,
    pub soft_fence_tried: bool,
    /// Why its fence agent is not trusted for automatic fencing (`fencetrust`), if it is not.
    pub fence_distrust: Option<String>,
    /// Earliest time of the next fence attempt after a failure.
    pub fence_retry_at: Option<Time>,
    /// The disks this host reaches (from its storage pools), once read.
    pub volumes: Option<std::sync::Arc<std::collections::BTreeSet<String>>>,
    /// Its storage pools as last read, for people.
    pub pools: Vec<crate::model::PoolObs>,
    /// Stale-copy cleanups under way while rejoining, by VM name.
    pub cleanups: BTreeMap<String, ActionId>,
    /// Recent transitions, shared with snapshots (copied only when a transition happens while
    /// a snapshot still holds it).
    pub history: std::sync::Arc<Vec<Transition>>,
}

/// A change decided by the host state machine for one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostStep {
    pub to: HostState,
    pub reason: String,
}

impl HostRec {
    pub fn new(spec: HostSpec, now: Time) -> HostRec {
        HostRec {
            spec,
            state: HostState::Unknown,
            reason: "not probed yet".into(),
            since: now,
            bad: 0,
            good: 0,
            silent: 0,
            last_failure: None,
            busy: 0,
            first_bad_at: None,
            capacity: None,
            last_probe: None,
            answered: false,
            last_error: None,
            maintenance: false,
            fence_action: None,
            soft_fence_action: None,
            soft_fence_tried: false,
            fence_distrust: None,
            fence_retry_at: None,
            volumes: None,
            pools: Vec::new(),
            cleanups: BTreeMap::new(),
            history: Default::default(),
        }
    }

    /// The state shown to people: Online with the maintenance flag reads as Maintenance.
    pub fn shown_state(&self) -> HostState {
        if self.state == HostState::Online && self.maintenance {
            HostState::Maintenance
        } else {
            self.state
        }
    }

    /// Whether new VMs may be placed here, and if not, why.
    pub fn accepts(&self, policy: &HostPolicy) -> Result<(), String> {
        match self.state {
            HostState::Online if self.maintenance => Err("in maintenance".into()),
            HostState::Online => Ok(()),
            HostState::Rejoining => Err(format!(
                "rejoining: {} of {} good probes, {} stale copies being cleaned",
                self.good,
                policy.ok_threshold,
                self.cleanups.len()
            )),
            s => Err(format!("host is {s}")),
        }
    }

    /// Whether 3RC reaches this host over the network now, for quorum: its last probe
    /// answered, or failed with an answer (the host's kernel or daemon spoke).
    pub fn reachable(&self) -> bool {
        match self.state {
            HostState::Fencing | HostState::Fenced => false,
            HostState::Online | HostState::Rejoining if self.bad == 0 => true,
            _ => self.bad > 0 && self.last_failure.is_some_and(ProbeFailure::answered),
        }
    }

    /// Whether this host's probe result can be trusted to judge its VMs this cycle.
    pub fn can_judge_vms(&self) -> bool {
        self.answered && matches!(self.state, HostState::Online | HostState::Rejoining | HostState::Maintenance)
    }

    pub fn set_state(&mut self, now: Time, to: HostState, reason: String) -> Option<(HostState, HostState)> {
        let from = self.shown_state();
        self.state = to;
        self.reason = reason.clone();
        let shown = self.shown_state();
        if from == shown {
            return None;
        }
        self.since = now;
        let history = std::sync::Arc::make_mut(&mut self.history);
        history.push(Transition { at: now, from: from.label().into(), to: shown.label().into(), reason });
        if history.len() > HISTORY {
            history.remove(0);
        }
        Some((from, shown))
    }

    /// Apply one probe result. Returns the transition to make, if any.
    pub fn on_probe(
        &mut self,
        now: Time,
        result: Result<&HostProbe, &ProbeError>,
        policy: &HostPolicy,
    ) -> Option<HostStep> {
        match result {
            Ok(probe) => {
                self.answered = true;
                self.capacity = Some(probe.capacity);
                self.last_probe = Some(probe.clone());
                self.last_error = None;
                self.bad = 0;
                self.silent = 0;
                self.last_failure = None;
                self.first_bad_at = None;
                self.good = self.good.saturating_add(1);
                self.on_good(policy)
            }
            Err(e) => {
                self.answered = false;
                self.last_error = Some(e.to_string());
                self.good = 0;
                self.bad = self.bad.saturating_add(1);
                self.silent = if e.kind.answered() { 0 } else { self.silent.saturating_add(1) };
                self.last_failure = Some(e.kind);
                let first = *self.first_bad_at.get_or_insert(now);
                self.on_bad(now, first, &e.message, policy)
            }
        }
    }

    fn on_good(&mut self, policy: &HostPolicy) -> Option<HostStep> {
        let ok = policy.ok_threshold.max(1);
        match self.state {
            HostState::Unknown => Some(HostStep { to: HostState::Online, reason: "first probe answered".into() }),
            HostState::Suspect if self.good >= ok => Some(HostStep {
                to: HostState::Online,
                reason: format!("{} good probes in a row (threshold {ok})", self.good),
            }),
            HostState::Suspect => {
                self.reason = format!("answering again: {} of {ok} good probes (threshold {ok})", self.good);
                None
            }
            // A Down host that answers before any fence was started never had its VMs moved:
            // it rejoins through the same probation as a fenced one.
            HostState::Down | HostState::Fenced => Some(HostStep {
                to: HostState::Rejoining,
                reason: format!("answers probes again (needs {ok} good probes, threshold {ok})"),
            }),
            HostState::Unmanageable => Some(HostStep {
                to: HostState::Rejoining,
                reason: format!("its daemon answers again (needs {ok} good probes, threshold {ok})"),
            }),
            HostState::Rejoining => {
                self.reason = format!("{} of {ok} good probes (threshold {ok})", self.good);
                None
            }
            HostState::Online | HostState::Maintenance | HostState::Fencing => None,
        }
    }

    fn on_bad(&mut self, now: Time, first: Time, err: &str, policy: &HostPolicy) -> Option<HostStep> {
        let ft = policy.fail_threshold.max(1);
        let took = super::time::human(now.since(first));
        // Dead only when the last `fail_threshold` probes got no answer at all; a failure run
        // with an answer in it (refused, a libvirt error) is a live host whose daemon fails.
        let verdict = if self.silent >= ft {
            let reason = if self.silent == self.bad {
                format!("{} failed probes in {took} (threshold {ft}): {err}", self.bad)
            } else {
                format!("{} probes in a row without any answer (threshold {ft}): {err}", self.silent)
            };
            HostStep { to: HostState::Down, reason }
        } else {
            HostStep {
                to: HostState::Unmanageable,
                reason: format!(
                    "alive but not manageable: {} failed probes in {took} (threshold {ft}), the host answers: {err}",
                    self.bad
                ),
            }
        };
        match self.state {
            HostState::Online | HostState::Unknown | HostState::Rejoining | HostState::Maintenance
                if self.bad >= ft =>
            {
                Some(verdict)
            }
            HostState::Online | HostState::Unknown | HostState::Rejoining | HostState::Maintenance => Some(HostStep {
                to: HostState::Suspect,
                reason: format!("{} failed probe (threshold {ft}): {err}", self.bad),
            }),
            HostState::Suspect if self.bad >= ft => Some(verdict),
            HostState::Suspect => {
                self.reason = format!("{} failed probes (threshold {ft}): {err}", self.bad);
                None
            }
            HostState::Unmanageable if verdict.to == HostState::Down => Some(verdict),
            HostState::Unmanageable => {
                self.reason = verdict.reason;
                None
            }
            HostState::Down | HostState::Fencing | HostState::Fenced => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> HostRec {
        let mut r = HostRec::new(
            HostSpec {
                name: "hv1".into(),
                uri: "test:///x".into(),
                fence_agent: Some("demo".into()),
                soft_fence: false,
            },
            Time::ZERO,
        );
        r.state = HostState::Online;
        r
    }

    fn ok() -> HostProbe {
        HostProbe::default()
    }

    /// Feed a string of probes ('+' good, '-' no answer, 'r' refused), applying each step;
    /// return the states seen.
    fn run(r: &mut HostRec, probes: &str) -> Vec<HostState> {
        let p = HostPolicy::default();
        let probe = ok();
        let silent = ProbeError::no_answer("connection timed out");
        let refused = ProbeError::daemon_failed("connection refused");
        probes
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let now = Time::from_secs(i as u64);
                let res = match c {
                    '+' => Ok(&probe),
                    'r' => Err(&refused),
                    _ => Err(&silent),
                };
                if let Some(step) = r.on_probe(now, res, &p) {
                    r.set_state(now, step.to, step.reason);
                }
                r.state
            })
            .collect()
    }

    use HostState::*;

    #[test]
    fn transitions_table() {
        // (start state, probes, expected final state)
        let table: &[(HostState, &str, HostState)] = &[
            (Online, "+++", Online),
            (Online, "-", Suspect),
            (Online, "--", Suspect),
            (Online, "---", Down),
            (Online, "--+", Suspect),
            (Online, "--+++", Online),
            (Suspect, "++", Suspect),
            (Unknown, "+", Online),
            (Unknown, "---", Down),
            (Down, "+", Rejoining),
            (Fenced, "-", Fenced),
            (Fenced, "+", Rejoining),
            (Fencing, "+-+", Fencing),
            (Rejoining, "-", Suspect),
            // An answer among the failures: alive, its daemon fails.
            (Online, "rrr", Unmanageable),
            (Online, "--r", Unmanageable),
            (Online, "r--", Unmanageable),
            (Online, "rr", Suspect),
            (Unmanageable, "rrrrrr", Unmanageable),
            (Unmanageable, "---", Down),
            (Online, "rrr---", Down),
            (Online, "rrr--r--", Unmanageable),
            (Unmanageable, "+", Rejoining),
            (Rejoining, "rrr", Unmanageable),
            (Down, "r", Down),
            (Fenced, "rrr", Fenced),
        ];
        for (start, probes, want) in table {
            let mut r = rec();
            r.state = *start;
            let got = *run(&mut r, probes).last().unwrap();
            assert_eq!(got, *want, "{start:?} after {probes:?}");
        }
    }

    #[test]
    fn threshold_minus_one_then_good_never_goes_down() {
        let mut r = rec();
        let states = run(&mut r, "--+--+--+--+");
        assert!(!states.contains(&Down), "{states:?}");
    }

    #[test]
    fn alternating_probes_never_go_down_nor_online() {
        let mut r = rec();
        let states = run(&mut r, &"-+".repeat(50));
        assert!(states.iter().all(|s| *s == Suspect), "{states:?}");
    }

    #[test]
    fn down_reason_says_how_many_in_how_long() {
        let mut r = rec();
        run(&mut r, "---");
        assert_eq!(r.reason, "3 failed probes in 2 s (threshold 3): connection timed out");
    }

    #[test]
    fn unmanageable_reason_says_the_host_answers() {
        let mut r = rec();
        run(&mut r, "-rr");
        assert_eq!(
            r.reason,
            "alive but not manageable: 3 failed probes in 2 s (threshold 3), the host answers: connection refused"
        );
        run(&mut r, "---");
        assert_eq!(r.state, Down);
        assert_eq!(r.reason, "3 probes in a row without any answer (threshold 3): connection timed out");
    }

    #[test]
    fn a_host_whose_kernel_answers_is_reachable_for_quorum() {
        let mut r = rec();
        assert!(r.reachable());
        run(&mut r, "r");
        assert!(r.reachable(), "refused: the host's kernel answered");
        run(&mut r, "-");
        assert!(!r.reachable(), "no answer");
        run(&mut r, "rr");
        assert_eq!(r.state, Unmanageable);
        assert!(r.reachable());
        r.state = Fenced;
        assert!(!r.reachable());
    }

    #[test]
    fn maintenance_is_a_flag_over_online() {
        let mut r = rec();
        r.maintenance = true;
        assert_eq!(r.shown_state(), Maintenance);
        assert!(r.accepts(&HostPolicy::default()).is_err());
        run(&mut r, "-");
        assert_eq!(r.shown_state(), Suspect);
        run(&mut r, "+++");
        assert_eq!(r.shown_state(), Maintenance);
    }
}
