//! Starts that fail. Whoever decided a start — the ladder, a recovery from a fenced host, an
//! operator — a start that fails goes through the same ladder as a VM that fails while running:
//! the VM is `Suspect`, the next attempt comes after a backoff (5 s, doubling per failed start
//! in its restart window, at most 2 min), and then the ladder's next rung decides — restart in
//! place while `max_restart` allows, then relocation, preferring hosts where no start of it
//! failed within the window ("not hv2: start failed there 12 s ago"), then reinstall or a
//! person, whose alarm lists every failed attempt.
//!
//! When a start fails, the host it was started on becomes the VM's host (a relocation or a
//! recovery moved it there), so the restart policy's retries happen there — which is what a
//! VM with a single candidate host needs. A recovery from a fenced host is not the VM's
//! failure: it spends no relocation.

use super::engine::{Engine, Output};
use super::state::VmState;
use super::time::{human, Duration};
use super::vm_fsm::FailedStart;

/// The first wait after a failed start; it doubles with each further failed start in the
/// window, up to `MAX_BACKOFF`.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);
pub const MAX_BACKOFF: Duration = Duration::from_secs(120);

/// The wait before the next attempt after the `n`th failed start in the window (n >= 1).
pub fn backoff(n: usize) -> Duration {
    let doublings = n.saturating_sub(1).min(10) as u32;
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

impl Engine {
    /// A start of `name` on `host` failed.
    pub(super) fn start_failed(&mut self, name: &str, host: &str, err: String, out: &mut Output) {
        let now = self.now;
        let window = self.vms[name].spec.policy.restart_window;
        let vm = self.vm_mut(name);
        vm.failed_starts.retain(|f| now < f.at.plus(window));
        vm.failed_starts.push(FailedStart { host: host.to_string(), at: now, error: err.clone() });
        // It lives where it was last started (a relocation or recovery moved it there; if it
        // still runs on its old host, the next probe finds it and follows it).
        vm.host = Some(host.to_string());
        let n = vm.failed_starts.len();
        let wait = backoff(n);
        vm.retry_at = Some(now.plus(wait));
        let reason =
            format!("{err}; {n} failed start(s) in {}; next attempt in {} at the earliest", human(window), human(wait));
        if !self.armed {
            self.vm_transition(name, VmState::Suspect, format!("{reason}; HA disarmed: no action"), out);
            return;
        }
        self.vm_transition(name, VmState::Suspect, reason, out);
    }

    /// Whether the VM must still wait before its next attempt (it stays `Suspect`, and its
    /// reason says until when).
    pub(super) fn backing_off(&mut self, name: &str, why: &str) -> bool {
        let now = self.now;
        let Some(at) = self.vms[name].retry_at else { return false };
        if now >= at {
            self.vm_mut(name).retry_at = None;
            return false;
        }
        self.vm_mut(name).reason =
            format!("{why}; next attempt in {} (backoff after a failed start)", human(at.since(now)));
        true
    }

    /// The hosts where a start of the VM failed within its window, each with the reason
    /// placement shows ("start failed there 12 s ago").
    pub(super) fn tried_hosts(&self, name: &str) -> Vec<(String, String)> {
        let v = &self.vms[name];
        let window = v.spec.policy.restart_window;
        let mut out: Vec<(String, String)> = Vec::new();
        for f in v.failed_starts.iter().rev().filter(|f| self.now < f.at.plus(window)) {
            if !out.iter().any(|(h, _)| *h == f.host) {
                out.push((f.host.clone(), format!("start failed there {} ago", human(self.now.since(f.at)))));
            }
        }
        out
    }

    /// The failed starts of the VM within its window, for a person ("; attempts: ..."), or
    /// nothing.
    pub(super) fn attempts_said(&self, name: &str) -> String {
        let v = &self.vms[name];
        let window = v.spec.policy.restart_window;
        let said: Vec<String> = v
            .failed_starts
            .iter()
            .filter(|f| self.now < f.at.plus(window))
            .map(|f| format!("on {} {} ago: {}", f.host, human(self.now.since(f.at)), f.error))
            .collect();
        if said.is_empty() {
            String::new()
        } else {
            format!("; failed starts in {}: {}", human(window), said.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_bound() {
        let secs: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 120, 120]);
    }
}
