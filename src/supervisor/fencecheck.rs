//! Each fence agent's `status`, asked now and then while its host is online (`core::fencetrust`
//! judges the answer): every `Settings::fence_check`, the hosts spread over the period so that
//! agents (and the BMCs behind them) are not all asked at once, the first round within the
//! first minute. A check still under way is not started again.

use super::facts::Fact;
use super::Supervisor;
use crate::core::HostState;
use std::time::Duration;

/// The first round of checks is spread over at most this long after start.
const FIRST_ROUND: Duration = Duration::from_secs(60);

/// When each host's agent is next asked, and which checks are under way.
#[derive(Default)]
pub(super) struct FenceChecks {
    due: std::collections::BTreeMap<String, tokio::time::Instant>,
    running: std::collections::BTreeSet<String>,
}

impl Supervisor {
    /// Start the checks that are due (called once per cycle).
    pub(super) fn check_fences(&mut self) {
        let Some(period) = self.settings.fence_check else { return };
        let now = tokio::time::Instant::now();
        let hosts: Vec<String> = self.ctx.fencers.keys().cloned().collect();
        let n = hosts.len() as u32;
        for (i, host) in hosts.into_iter().enumerate() {
            let first = period.min(FIRST_ROUND) * (i as u32 + 1) / (n + 1);
            let due = *self.fence_checks.due.entry(host.clone()).or_insert(now + first);
            let online =
                self.engine.host_state(&host).is_some_and(|s| matches!(s, HostState::Online | HostState::Maintenance));
            if now < due || !online || self.fence_checks.running.contains(&host) {
                continue;
            }
            self.fence_checks.due.insert(host.clone(), now + period);
            let Some(fencer) = self.ctx.fencers.get(&host).cloned() else { continue };
            if self.ctx.inline {
                let result = fencer.status().map(|s| s == crate::hv::PowerStatus::On);
                self.fence_checked(host, result);
                continue;
            }
            self.fence_checks.running.insert(host.clone());
            let (facts, limit) = (self.facts_tx.clone(), self.ctx.timeouts.fence);
            tokio::spawn(async move {
                let task = tokio::task::spawn_blocking(move || fencer.status());
                let result = match tokio::time::timeout(limit + Duration::from_secs(1), task).await {
                    Ok(Ok(r)) => r.map(|s| s == crate::hv::PowerStatus::On),
                    Ok(Err(e)) => Err(format!("check failed: {e}")),
                    Err(_) => Err(format!("no answer in {}", crate::core::time::human(limit))),
                };
                let _ = facts.send(Fact::FenceStatus { host, result });
            });
        }
    }

    /// Feed one check's answer to the engine.
    pub(super) fn fence_checked(&mut self, host: String, result: Result<bool, String>) {
        self.fence_checks.running.remove(&host);
        match &result {
            Ok(on) => {
                tracing::debug!(target: "3rc::fence", "{host}: fence agent status check: power {}", if *on { "on" } else { "off" })
            }
            Err(e) => tracing::debug!(target: "3rc::fence", "{host}: fence agent status check failed: {e}"),
        }
        let out = self.engine.fence_checked(self.clock.now(), &host, result);
        self.apply(out);
    }
}
