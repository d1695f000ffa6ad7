//! Quorum before any automatic fence: is it 3RC that is cut off?
//!
//! 3RC sees every host from one vantage point, its own. When its own link, switch port or
//! certificate fails, every host looks dead at once; fencing them then would power off a
//! healthy data center. So an automatic fence needs more than half of the votes reachable now:
//! the hosts (not in maintenance; a host already fenced no longer votes, it cannot be the other
//! side of a partition) and the configured witnesses (addresses 3RC must reach, such as its
//! default gateway), each judged with the same hysteresis as a host. Without that majority the
//! fence is held: the host stays `Down`, its VMs `AwaitingFence`, and one critical alarm asks a
//! person, who can still confirm a host off. Pacemaker's partition without quorum, and oVirt's
//! "50 % of the hosts unreachable", stop fencing the same way.

use super::engine::{Engine, Output};
use super::event::{Severity, Subject};
use super::state::HostState;
use super::time::Time;

/// A witness as the engine tracks it: reachable or not, with hysteresis.
#[derive(Clone, Debug)]
pub struct WitnessRec {
    pub name: String,
    /// Whether it counts as reachable. False until its first check answers.
    pub reachable: bool,
    pub since: Time,
    /// Consecutive failed / good checks.
    pub bad: u32,
    pub good: u32,
    pub last_error: Option<String>,
    /// Whether any check has answered yet.
    pub known: bool,
}

impl WitnessRec {
    pub fn new(name: String, now: Time) -> WitnessRec {
        WitnessRec { name, reachable: false, since: now, bad: 0, good: 0, last_error: None, known: false }
    }
}

/// The votes as 3RC sees them now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Quorum {
    /// Names of the votes 3RC reaches now, hosts first, then witnesses.
    pub reachable: Vec<String>,
    /// Names of the votes it does not reach.
    pub unreachable: Vec<String>,
}

impl Quorum {
    pub fn votes(&self) -> usize {
        self.reachable.len() + self.unreachable.len()
    }

    /// More than half of the votes are reachable.
    pub fn has(&self) -> bool {
        self.reachable.len() * 2 > self.votes()
    }

    /// "4 of 5: hv1, hv3, hv4, gw" (the reachable ones).
    pub fn describe(&self) -> String {
        if self.reachable.is_empty() {
            format!("0 of {}", self.votes())
        } else {
            format!("{} of {}: {}", self.reachable.len(), self.votes(), self.reachable.join(", "))
        }
    }
}

impl Engine {
    /// This cycle's witness checks: `(name, Ok(()))` when the witness answered. Call before
    /// [`Engine::observe`]; a witness not in the list keeps its state.
    pub fn observe_witnesses(&mut self, now: Time, checks: &[(String, Result<(), String>)]) -> Output {
        self.now = now;
        let mut out = Output::default();
        let (ft, ok) = (self.host_policy.fail_threshold.max(1), self.host_policy.ok_threshold.max(1));
        for (name, result) in checks {
            let Some(w) = self.witnesses.get_mut(name) else { continue };
            let change = match result {
                Ok(()) => {
                    w.bad = 0;
                    w.good = w.good.saturating_add(1);
                    w.last_error = None;
                    let first = !w.known;
                    w.known = true;
                    (!w.reachable && (first || w.good >= ok)).then(|| {
                        if first {
                            "reachable: first check answered".to_string()
                        } else {
                            format!("reachable again: {} good checks in a row (threshold {ok})", w.good)
                        }
                    })
                }
                Err(e) => {
                    w.good = 0;
                    w.bad = w.bad.saturating_add(1);
                    w.last_error = Some(e.clone());
                    (w.reachable && w.bad >= ft)
                        .then(|| format!("unreachable: {} failed checks in a row (threshold {ft}): {e}", w.bad))
                }
            };
            if let Some(reason) = change {
                w.reachable = !w.reachable;
                w.since = now;
                let text = format!("witness {name} {reason}");
                self.note(Subject::Cluster, text, &mut out);
            }
        }
        out
    }

    /// The votes now: every host not in maintenance and not fenced (reachable when `Online`
    /// or `Rejoining` and its last probe answered, or when its last probe failed with an
    /// answer: a refused connection proves the path to it), then every witness.
    pub fn quorum(&self) -> Quorum {
        let mut q = Quorum::default();
        for (name, h) in &self.hosts {
            if h.maintenance || h.state == HostState::Fenced {
                continue;
            }
            if h.reachable() { &mut q.reachable } else { &mut q.unreachable }.push(name.clone());
        }
        for (name, w) in &self.witnesses {
            if w.reachable { &mut q.reachable } else { &mut q.unreachable }.push(name.clone());
        }
        q
    }

    /// Once per cycle: say so when a held fence is allowed again.
    pub(super) fn quorum_regained(&mut self, out: &mut Output) {
        if !self.fencing_held {
            return;
        }
        let q = self.quorum();
        if q.has() {
            self.fencing_held = false;
            self.note(Subject::Cluster, format!("quorum regained ({}): fencing allowed again", q.describe()), out);
        }
    }

    /// Whether an automatic fence may run now. Without quorum: the host's reason says why it
    /// waits and, the first time, one critical alarm for the whole cluster asks whether 3RC
    /// itself is cut off.
    pub(super) fn quorum_allows_fence(&mut self, hn: &str, out: &mut Output) -> Result<Quorum, ()> {
        let q = self.quorum();
        if q.has() {
            return Ok(q);
        }
        let reason = format!(
            "fencing held: 3RC reaches {} of {} votes ({}) — is 3RC itself cut off?",
            q.reachable.len(),
            q.votes(),
            if q.reachable.is_empty() { "none".to_string() } else { q.reachable.join(", ") }
        );
        if let Some(h) = self.hosts.get_mut(hn) {
            if h.reason != reason {
                h.reason = reason.clone();
                self.note(Subject::Host(hn.into()), reason, out);
            }
        }
        if !self.fencing_held {
            self.fencing_held = true;
            let unreachable = q.unreachable.join(", ");
            self.raise(
                "quorum".into(),
                Subject::Cluster,
                Severity::Critical,
                format!(
                    "fencing held: 3RC reaches only {} of {} votes (unreachable: {unreachable}). Either most of the \
                     cluster failed at once, or 3RC itself is cut off (its link, switch port, DNS or certificate). \
                     Nothing is fenced or moved until more than half answer; a person who knows a host is off can \
                     confirm it (F, or `3rc ctl confirm-off HOST`)",
                    q.reachable.len(),
                    q.votes()
                ),
                out,
            );
        }
        Err(())
    }
}
