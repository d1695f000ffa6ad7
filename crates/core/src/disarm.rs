//! Disarming the cluster while a fence is under way. The fence and the recoveries it exists
//! for finish (or fail) first: the host may already be off, and its VMs would otherwise stay
//! down until someone arms again. Every other new action stops at once: the cluster is
//! disarmed (`armed` is false) from the command on; only the recovery of those hosts' VMs
//! goes on, and the disarm is "pending" — said in the views — until it is done. A fence that
//! fails is not tried again (its host is not off: its VMs are still where they were).

use super::engine::{Engine, Output};
use super::event::Subject;
use super::state::{HostState, VmState};
use std::collections::BTreeSet;

/// A disarm waiting for fences and recoveries under way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disarming {
    /// The hosts being fenced, or fenced with VMs still to recover, when it was given.
    pub hosts: BTreeSet<String>,
}

impl Engine {
    /// Disarm the cluster; what is in flight for a fence finishes first.
    pub(super) fn disarm_cluster(&mut self, out: &mut Output) {
        self.armed = false;
        let hosts: BTreeSet<String> = self
            .hosts
            .iter()
            .filter(|(hn, h)| h.fence_action.is_some() || (h.state == HostState::Fenced && self.to_recover(hn)))
            .map(|(hn, _)| hn.clone())
            .collect();
        if hosts.is_empty() {
            return;
        }
        let text = format!("disarm pending: {}", Self::pending_text(&hosts));
        self.note(Subject::Cluster, text, out);
        self.disarming = Some(Disarming { hosts });
        self.disarm_progress(out);
    }

    /// Whether a fenced host still has VMs waiting for, or under, recovery.
    fn to_recover(&self, host: &str) -> bool {
        self.vms.values().any(|v| {
            v.host.as_deref() == Some(host)
                && (v.state == VmState::AwaitingFence
                    || (v.action.is_some() && matches!(v.state, VmState::Relocating | VmState::Restarting)))
        })
    }

    fn pending_text(hosts: &BTreeSet<String>) -> String {
        let list: Vec<&str> = hosts.iter().map(String::as_str).collect();
        format!("the fence of {} and the recovery of its VMs finish first", list.join(", "))
    }

    /// Whether a VM on `host` may still be recovered while the cluster is disarmed.
    pub(super) fn recovery_goes_on(&self, host: &str) -> bool {
        self.disarming.as_ref().is_some_and(|d| d.hosts.contains(host))
    }

    /// A fence the disarm waits for failed: it is not tried again (the disarm is in force).
    pub(super) fn disarm_fence_failed(&mut self, host: &str) {
        if let Some(d) = self.disarming.as_mut() {
            d.hosts.remove(host);
        }
    }

    /// The disarm takes full effect once no fence of its hosts is under way or due and none of
    /// their VMs waits for recovery on a fenced host or is being recovered.
    pub(super) fn disarm_progress(&mut self, out: &mut Output) {
        let Some(d) = &self.disarming else { return };
        let busy = d.hosts.iter().any(|hn| {
            self.hosts
                .get(hn)
                .is_some_and(|h| h.fence_action.is_some() || (h.state == HostState::Fenced && self.to_recover(hn)))
        });
        if busy {
            return;
        }
        let hosts: Vec<String> = d.hosts.iter().cloned().collect();
        self.disarming = None;
        let text = format!("disarm in effect: the fence of {} and its recoveries are over", hosts.join(", "));
        self.note(Subject::Cluster, text, out);
    }

    /// What the views, and the answer to the disarm, say while a disarm waits.
    pub fn disarm_pending(&self) -> Option<String> {
        self.disarming.as_ref().map(|d| Self::pending_text(&d.hosts))
    }
}
