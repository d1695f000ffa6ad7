//! Fence agents are trusted only once proven: while a host answers its probes, its agent's
//! `status` is asked now and then (the supervisor schedules it). An agent that says "off" for a
//! host that answers, or that fails, raises a critical alarm and is not used for automatic
//! fencing until it answers right again; a host of such an agent that goes down waits for a
//! person (as one without an agent does). Pacemaker monitors its fence devices the same way.

use super::engine::{Engine, Output};
use super::event::{Severity, Subject};
use super::state::HostState;
use super::time::Time;

impl Engine {
    /// A status check of `host`'s fence agent: `Ok(true)` when it said the power is on,
    /// `Ok(false)` off, `Err` why it failed. Judged only while the host answers its probes
    /// (an answer about a host that does not is no proof either way).
    pub fn fence_checked(&mut self, now: Time, host: &str, result: Result<bool, String>) -> Output {
        self.now = now;
        let mut out = Output::default();
        let Some(h) = self.hosts.get_mut(host) else { return out };
        let answers = h.bad == 0 && matches!(h.state, HostState::Online | HostState::Rejoining);
        if !answers {
            return out;
        }
        let agent = h.spec.fence_agent.clone().unwrap_or_default();
        match result {
            Ok(true) => {
                if h.fence_distrust.take().is_some() {
                    let text = format!(
                        "fence agent {agent} answers right again (power on, and {host} answers): trusted for \
                         automatic fencing"
                    );
                    self.note(Subject::Host(host.into()), text, &mut out);
                }
            }
            Ok(false) | Err(_) => {
                let why = match &result {
                    Err(e) => format!("its status check failed: {e}"),
                    _ => format!("it says {host} is off while {host} answers its probes"),
                };
                if h.fence_distrust.as_deref() != Some(why.as_str()) {
                    h.fence_distrust = Some(why.clone());
                    self.raise(
                        format!("fencecheck:{host}"),
                        Subject::Host(host.into()),
                        Severity::Critical,
                        format!(
                            "fence agent {agent} of {host} is not trusted: {why}. It is not used for automatic \
                             fencing until it answers right again; if {host} goes down, its VMs wait for a person"
                        ),
                        &mut out,
                    );
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterSpec, HostObservation, HostPolicy, HostProbe, HostSpec, PlacementPolicy};

    fn engine() -> Engine {
        let spec = ClusterSpec {
            hosts: vec![HostSpec {
                name: "hv1".into(),
                uri: "test:///x".into(),
                fence_agent: Some("fence_ipmilan".into()),
                soft_fence: false,
            }],
            vms: vec![],
            host_policy: HostPolicy::default(),
            placement: PlacementPolicy::default(),
            witnesses: vec![],
        };
        let mut e = Engine::new(spec, Time::ZERO);
        let ok = [HostObservation { host: "hv1".into(), result: Ok(HostProbe::default()) }];
        e.observe(Time::from_secs(1), &ok);
        e
    }

    fn alarms(out: &Output) -> usize {
        out.events.iter().filter(|e| matches!(e.kind, crate::EventKind::Alarm { .. })).count()
    }

    #[test]
    fn an_agent_that_says_off_for_a_live_host_is_distrusted_once_then_trusted_again() {
        let mut e = engine();
        let out = e.fence_checked(Time::from_secs(2), "hv1", Ok(false));
        assert_eq!(alarms(&out), 1);
        assert!(e.hosts["hv1"].fence_distrust.as_deref().unwrap().contains("says hv1 is off"));
        let again = e.fence_checked(Time::from_secs(3), "hv1", Ok(false));
        assert_eq!(alarms(&again), 0, "one alarm per distrust, not per check");
        let back = e.fence_checked(Time::from_secs(4), "hv1", Ok(true));
        assert!(e.hosts["hv1"].fence_distrust.is_none());
        assert!(back.events.iter().any(|ev| ev.reason.contains("answers right again")));
    }

    #[test]
    fn a_failing_check_distrusts_and_an_answer_about_a_silent_host_is_ignored() {
        let mut e = engine();
        e.fence_checked(Time::from_secs(2), "hv1", Err("ipmitool: timeout".into()));
        assert!(e.hosts["hv1"].fence_distrust.as_deref().unwrap().contains("ipmitool: timeout"));
        let silent =
            [HostObservation { host: "hv1".into(), result: Err(crate::ProbeError::no_answer("connection timed out")) }];
        e.observe(Time::from_secs(3), &silent);
        e.fence_checked(Time::from_secs(3), "hv1", Ok(true));
        assert!(e.hosts["hv1"].fence_distrust.is_some(), "a host that does not answer proves nothing");
    }
}
