//! One agent's or webhook's outbox: its notifications delivered one at a time, in order. Each
//! was journaled before it came here and is removed from the journal once delivered (or
//! dropped past the target's bound); a failed delivery is tried again with a backoff and the
//! ones behind it wait.

use super::{Failing, Queued, Target};
use crate::config::AlertSink;
use crate::supervisor::SupervisorHandle;
use std::collections::VecDeque;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::warn;

pub(super) async fn drain(
    handle: SupervisorHandle,
    target: Target,
    mut incoming: mpsc::UnboundedReceiver<Queued>,
    earlier: Vec<Queued>,
) {
    let shown = target.shown();
    let journal = handle.journal();
    let mut failing = Failing::new(&handle, shown.clone());
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut dropped = 0u64;
    // Sequence numbers of this run's deliveries (`CRM_alert_node_sequence`).
    let mut seq = 0u64;
    let mut due = Instant::now();
    let push = |queue: &mut VecDeque<Queued>, q: Queued, dropped: &mut u64| {
        queue.push_back(q);
        while queue.len() > target.queue {
            let Some(gone) = queue.pop_front() else { break };
            if *dropped == 0 {
                warn!(target: "3rc::alerts", "{shown}: more than {} notifications wait; the oldest are dropped", target.queue);
            }
            *dropped += 1;
            if let Some(j) = &journal {
                j.outbox(&shown, &gone.key, None);
            }
        }
    };
    for q in earlier {
        push(&mut queue, q, &mut dropped);
    }
    loop {
        tokio::select! {
            // What waits is in the journal, for the next run.
            _ = handle.stopped() => return,
            q = incoming.recv() => match q {
                Some(q) => {
                    push(&mut queue, q, &mut dropped);
                    failing.queued(queue.len(), dropped);
                }
                None => return,
            },
            _ = tokio::time::sleep_until(due), if !queue.is_empty() => {
                let Some(front) = queue.front() else { continue };
                seq += 1;
                let result = match &target.sink {
                    AlertSink::Agent { path, recipient } => {
                        super::agent::run(path, recipient.as_deref(), &front.n, seq, target.timeout).await
                    }
                    AlertSink::Webhook { url, headers } => super::webhook::post(url, headers, &front.n, target.timeout).await,
                    AlertSink::Alertmanager { .. } => Ok(()),
                };
                match result {
                    Ok(()) => {
                        if let (Some(done), Some(j)) = (queue.pop_front(), &journal) {
                            j.outbox(&shown, &done.key, None);
                        }
                        if failing.is_failing() {
                            tracing::info!(target: "3rc::alerts", "{shown}: delivering the {} notifications that waited ({dropped} were dropped)", queue.len());
                        }
                        failing.ok();
                        dropped = 0;
                        due = Instant::now();
                    }
                    Err(e) => due = failing.failed(e, queue.len(), dropped),
                }
            }
        }
    }
}
