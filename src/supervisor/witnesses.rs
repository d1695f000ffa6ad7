//! The quorum witnesses (`core::quorum`), checked every cycle beside the host probes: all at
//! once, each on a blocking thread and bounded by the probe timeout (inline in the simulator,
//! whose witnesses answer at once).

use super::Supervisor;
use crate::hv::Witness;
use std::sync::Arc;
use std::time::Duration;

/// One cycle's answers: `(witness, Ok(()) | Err(why))`.
pub type Checks = Vec<(String, Result<(), String>)>;

impl Supervisor {
    /// Start this cycle's witness checks; the answers come with the task.
    pub(super) fn check_witnesses(&self) -> tokio::task::JoinHandle<Checks> {
        let (witnesses, inline, timeout) = (self.ctx.witnesses.clone(), self.ctx.inline, self.settings.probe_timeout);
        tokio::spawn(async move { check_all(&witnesses, inline, timeout).await })
    }
}

async fn check_all(witnesses: &[Arc<dyn Witness>], inline: bool, timeout: Duration) -> Checks {
    if inline {
        return witnesses.iter().map(|w| (w.name().to_string(), w.check(timeout))).collect();
    }
    let tasks: Vec<_> = witnesses
        .iter()
        .map(|w| {
            let w = w.clone();
            let name = w.name().to_string();
            let task = tokio::task::spawn_blocking(move || w.check(timeout));
            (name, task)
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for (name, task) in tasks {
        // The check bounds itself; this only guards against one that does not.
        let r = match tokio::time::timeout(timeout + Duration::from_secs(1), task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(format!("check failed: {e}")),
            Err(_) => Err(format!("no answer in {}", crate::core::time::human(timeout))),
        };
        out.push((name, r));
    }
    out
}
