//! Several vantage points (`[ha]`): each supervisor's view of the hosts, and the vote they make
//! together before an automatic fence.
//!
//! With several supervisors, each one probes every host and publishes what it sees (a
//! [`Vantage`]) to the shared store, under its own lease: the views of the live supervisors are
//! the ones the store holds. The leader then fences a host only when **a majority of the live
//! supervisors** (itself included) see it unreachable — a host cut from the leader alone (its
//! link, its switch port, a route) is not fenced — on top of the vote of the hosts and witnesses
//! (`quorum`). A leader that lacks that quorum while another supervisor has it is the isolated
//! one: it is not fit to lead ([`fit_to_lead`]), steps down, and the better-placed one leads.

use super::engine::{Engine, Output};
use super::event::{Severity, Subject};
use super::state::{HostState, VmState};
use super::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One supervisor's view of the cluster, as it publishes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vantage {
    /// The supervisor's name.
    pub name: String,
    /// Whether it reaches more than half of the votes (hosts and witnesses) now.
    pub quorum: bool,
    /// Each host it has judged: whether it reaches it (not `Down`, `Fencing` or `Fenced` by its
    /// own probes, with their hysteresis), and since when (wall clock, ms).
    pub hosts: BTreeMap<String, Seen>,
}

/// A host as one supervisor sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub reachable: bool,
    /// Since when (wall clock, ms since the epoch).
    pub since_ms: u64,
}

/// Whether a supervisor with view `own` may lead while the live others see `peers`: not when
/// it lacks quorum and one of them has it (it is the one cut off, and a better-placed one can
/// lead). When none has quorum (most of the cluster is really gone), nobody is better placed.
pub fn fit_to_lead(own: &Vantage, peers: &[Vantage]) -> bool {
    own.quorum || !peers.iter().any(|p| p.quorum)
}

/// Which live supervisors see `host` reachable and which do not, this one first.
pub fn seen_from<'a>(own: &'a Vantage, peers: &'a [Vantage], host: &str) -> (Vec<&'a str>, Vec<&'a str>) {
    let (mut reach, mut not) = (Vec::new(), Vec::new());
    for v in std::iter::once(own).chain(peers) {
        // A view that has not judged the host yet does not see it unreachable.
        let r = v.hosts.get(host).is_none_or(|s| s.reachable);
        if r { &mut reach } else { &mut not }.push(v.name.as_str());
    }
    (reach, not)
}

/// "unreachable from sup1; reachable from sup2, sup3" (empty without other views).
pub fn describe_seen(own: &Vantage, peers: &[Vantage], host: &str) -> String {
    if peers.is_empty() {
        return String::new();
    }
    let (reach, not) = seen_from(own, peers, host);
    let mut parts = Vec::new();
    if !not.is_empty() {
        parts.push(format!("unreachable from {}", not.join(", ")));
    }
    if !reach.is_empty() {
        parts.push(format!("reachable from {}", reach.join(", ")));
    }
    parts.join("; ")
}

impl Engine {
    /// This supervisor's view, to publish (`name` is its own).
    pub fn vantage(&self, name: &str) -> Vantage {
        let hosts = self
            .hosts
            .iter()
            .map(|(n, h)| {
                // Judged with the hosts' hysteresis (a lost probe does not make a vote).
                let failed = matches!(h.state, HostState::Down | HostState::Fencing | HostState::Fenced);
                (n.clone(), Seen { reachable: !failed, since_ms: self.wall_origin + h.since.millis() })
            })
            .collect();
        Vantage { name: name.to_string(), quorum: self.quorum().has(), hosts }
    }

    /// The other live supervisors' views (`[ha]`), before a cycle; none when this one is
    /// alone (then its own view decides, as without `[ha]`).
    pub fn set_peers(&mut self, me: &str, peers: Vec<Vantage>) {
        self.me = me.to_string();
        self.peers = peers;
    }

    /// The other live supervisors' views, as last set.
    pub fn peers(&self) -> &[Vantage] {
        &self.peers
    }

    /// Once per cycle, after [`Engine::set_peers`]: whether this supervisor may lead
    /// ([`fit_to_lead`]) with the hosts' hysteresis — it stands aside after `fail_threshold`
    /// cycles in a row not fit, and may lead again after `ok_threshold` cycles fit, so that a
    /// blip of its own link does not move the leadership. `(fit, whether that changed now)`.
    pub fn standing(&mut self) -> (bool, bool) {
        let now_fit = fit_to_lead(&self.vantage(&self.me), &self.peers);
        let (fail, ok) = (self.host_policy.fail_threshold.max(1), self.host_policy.ok_threshold.max(1));
        if now_fit == self.fit {
            self.fit_streak = 0;
            return (self.fit, false);
        }
        self.fit_streak += 1;
        if self.fit_streak >= if self.fit { fail } else { ok } {
            self.fit = now_fit;
            self.fit_streak = 0;
            return (self.fit, true);
        }
        (self.fit, false)
    }

    /// Take over a host the former leader fenced (`[ha]`): if this engine has not seen it
    /// answer since, it is `Fenced` here too (its VMs are recovered, and it is not fenced a
    /// second time); one that answers rejoins as any fenced host does.
    pub fn adopt_fenced(&mut self, now: Time, host: &str, by: &str) -> Output {
        self.now = now;
        let mut out = Output::default();
        let Some(h) = self.hosts.get(host) else { return out };
        if matches!(h.state, HostState::Unknown | HostState::Suspect | HostState::Down | HostState::Unmanageable) {
            let reason = format!("fenced by the former leader ({by}); not fenced again");
            self.host_transition(host, HostState::Fenced, reason, &mut out);
        }
        out
    }

    /// Where each VM runs or should run, as this engine has it (`[ha]`: the leader shares it,
    /// so that the next leader knows where a VM went that it could not see move).
    pub fn placements(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vms.iter().filter_map(|(n, v)| Some((n.as_str(), v.host.as_deref()?)))
    }

    /// Take over where the former leader had a VM (`[ha]`): unless this engine sees the VM
    /// running where it has it, the former leader's host is its home — a VM moved to a host
    /// this supervisor cannot reach is then waited for there, never started a second time
    /// where it was.
    /// `former` says why ("the former leader had it there").
    pub fn adopt_placement(&mut self, now: Time, vm: &str, host: &str, former: &str) -> Output {
        self.now = now;
        let mut out = Output::default();
        let Some(h) = self.hosts.get(host).map(|h| h.state) else { return out };
        let Some(v) = self.vms.get_mut(vm) else { return out };
        if v.host.as_deref() == Some(host) || v.observed.is_some_and(|d| d.is_active()) || v.action.is_some() {
            return out;
        }
        let was = v.host.replace(host.to_string());
        v.bad = 0;
        v.first_bad_at = None;
        let text =
            format!("{former}: judged on {host} from now on (here it was on {})", was.as_deref().unwrap_or("no host"));
        let held = matches!(v.state, VmState::Stopped | VmState::Unmanaged | VmState::NeedsOperator);
        if matches!(h, HostState::Down | HostState::Fencing) && !held {
            let reason = format!("host {host} is {h}: waiting for fence before any restart ({text})");
            self.vm_transition(vm, VmState::AwaitingFence, reason, &mut out);
        } else if matches!(v.state, VmState::AwaitingFence | VmState::Pending) {
            // Waiting on its former home: it is checked where it is now.
            self.vm_transition(vm, VmState::Suspect, format!("{text}: checking the VM"), &mut out);
        } else {
            self.note(Subject::Vm(vm.into()), text, &mut out);
        }
        out
    }

    /// Whether a majority of the live supervisors see `hn` unreachable (always, alone). If
    /// not, the fence is held: the host's reason says who sees what, once, with a warning.
    pub(super) fn vantage_allows_fence(&mut self, hn: &str, out: &mut Output) -> Result<String, ()> {
        if self.peers.is_empty() {
            return Ok(String::new());
        }
        let own = self.vantage(&self.me.clone());
        let (reach, not) = seen_from(&own, &self.peers, hn);
        let live = reach.len() + not.len();
        let seen = describe_seen(&own, &self.peers, hn);
        if not.len() * 2 > live {
            return Ok(format!("; supervisors: {} of {live} see it unreachable", not.len()));
        }
        let reason = format!(
            "fencing held: {seen} — a majority of the {live} live supervisors must see it unreachable before it is \
             fenced"
        );
        if self.hosts.get(hn).is_some_and(|h| h.reason != reason) {
            self.hosts.get_mut(hn).expect("host exists").reason = reason.clone();
            self.note(Subject::Host(hn.into()), reason, out);
            self.raise(
                format!("vantage:{hn}"),
                Subject::Host(hn.into()),
                Severity::Warning,
                format!(
                    "{hn} is {seen}: not fenced. The path between {} and {hn} is broken (a link, a switch port, a \
                     route), not necessarily the host",
                    self.me
                ),
                out,
            );
        }
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, quorum: bool, hosts: &[(&str, bool)]) -> Vantage {
        Vantage {
            name: name.into(),
            quorum,
            hosts: hosts.iter().map(|(h, r)| (h.to_string(), Seen { reachable: *r, since_ms: 0 })).collect(),
        }
    }

    #[test]
    fn the_one_cut_off_is_not_fit_to_lead_unless_nobody_is_better_placed() {
        let cut = v("sup1", false, &[]);
        assert!(!fit_to_lead(&cut, &[v("sup2", true, &[]), v("sup3", false, &[])]));
        assert!(fit_to_lead(&cut, &[v("sup2", false, &[]), v("sup3", false, &[])]));
        assert!(fit_to_lead(&cut, &[]));
        assert!(fit_to_lead(&v("sup1", true, &[]), &[v("sup2", true, &[])]));
    }

    #[test]
    fn who_sees_what_is_said_this_one_first() {
        let own = v("sup1", true, &[("hv2", false)]);
        let peers = [v("sup2", true, &[("hv2", true)]), v("sup3", true, &[])];
        assert_eq!(describe_seen(&own, &peers, "hv2"), "unreachable from sup1; reachable from sup2, sup3");
        assert_eq!(describe_seen(&own, &[], "hv2"), "");
        let peers = [v("sup2", true, &[("hv2", false)]), v("sup3", true, &[("hv2", false)])];
        assert_eq!(describe_seen(&own, &peers, "hv2"), "unreachable from sup1, sup2, sup3");
    }
}
