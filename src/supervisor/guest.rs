//! Guest probes (`[vm.guest]`, `core::guest`): each cycle, every check of every VM the engine
//! says is due runs on its host's guest workers (a guest that does not answer holds up no probe
//! and no operation), at most one at a time per VM and check; its answer comes back as a fact.
//! A check that waited too long behind other guests' is not an answer: asked again next cycle,
//! and counted by the engine's `guest-net` hold (`Engine::guest_unchecked`).
//! A watchdog device's event comes as a hint (`hints`).

use super::facts::Fact;
use super::Supervisor;
use crate::core::guest::GuestAnswer;
use crate::core::GuestCheck;
use crate::hv::HvError;
use tracing::debug;

impl Supervisor {
    /// Start the guest checks due this cycle.
    pub(super) fn check_guests(&mut self) {
        for due in self.engine.guest_due() {
            let Some(h) = self.ctx.hosts.get(&due.host) else { continue };
            for check in due.checks {
                if !self.guest_checking.insert((due.vm.clone(), check.clone())) {
                    continue;
                }
                let (h, facts, asked, vm) = (h.clone(), self.facts_tx.clone(), self.clock.now(), due.vm.clone());
                let timeout = due.timeout;
                tokio::spawn(async move {
                    let answer = match h.guest_check(vm.clone(), check.clone(), timeout).await {
                        Ok(()) => Some(GuestAnswer::Passed),
                        Err(HvError::Unsupported(what)) => {
                            Some(GuestAnswer::CannotCheck(format!("{what} (on {})", h.name)))
                        }
                        Err(HvError::Busy(why)) => {
                            debug!(target: "3rc", "{vm}: {why}; asked again next cycle");
                            None
                        }
                        Err(e) => Some(GuestAnswer::Failed(e.to_string())),
                    };
                    let _ = facts.send(Fact::Guest { vm, check, asked, answer });
                });
            }
        }
    }

    /// A guest check's answer, into the engine.
    pub(super) fn guest_answer(
        &mut self,
        vm: String,
        check: GuestCheck,
        asked: crate::core::Time,
        answer: Option<GuestAnswer>,
    ) {
        self.guest_checking.remove(&(vm.clone(), check.clone()));
        let Some(answer) = answer else {
            return self.engine.guest_unchecked(self.clock.now(), &vm, check, asked);
        };
        let out = self.engine.guest_result(self.clock.now(), &vm, check, asked, answer);
        self.apply(out);
    }

    /// A watchdog device fired (a hint from the host's events), into the engine.
    pub(super) fn watchdog_fired(&mut self, host: &str, vm: &str, action: &str) {
        let out = self.engine.watchdog(self.clock.now(), vm, host, action);
        self.apply(out);
    }
}
