//! One stream of view messages for every attached console: each new snapshot is diffed against
//! the one before (`core::ViewDelta`) and serialized once, whatever the number of consoles, and
//! the same bytes go to each. It runs only while a console is attached: its subscription is what
//! makes the supervisor build snapshots, and a headless supervisor builds none.
//!
//! The invariant: under the lock, `last` is the view the frames sent so far bring a console to.
//! A console that joins takes `last` (sent to it whole) and subscribes under the same lock, so
//! the next frame it gets is the delta from `last`. A console that falls more than
//! [`BACKLOG`] frames behind joins again (the whole view, then frames).

use crate::core::{ClusterView, ViewDelta};
use crate::supervisor::SupervisorHandle;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

use super::protocol::{self, FullRef, ToConsole};

/// Frames kept for consoles that read slowly (one per snapshot: 16 s at the default interval).
const BACKLOG: usize = 16;

/// A message as it goes on the wire, shared by every console.
pub type Frame = Arc<Vec<u8>>;

pub struct Feed {
    handle: SupervisorHandle,
    inner: Mutex<Inner>,
}

struct Inner {
    last: Option<Arc<ClusterView>>,
    tx: broadcast::Sender<Frame>,
    running: bool,
}

impl Feed {
    pub fn new(handle: SupervisorHandle) -> Arc<Feed> {
        let inner = Inner { last: None, tx: broadcast::channel(BACKLOG).0, running: false };
        Arc::new(Feed { handle, inner: Mutex::new(inner) })
    }

    /// Join: the view to send whole, and the frames that follow it. Starts the feed if it does
    /// not run.
    pub async fn join(self: &Arc<Self>) -> (Arc<ClusterView>, broadcast::Receiver<Frame>) {
        if let Some(joined) = self.join_running() {
            return joined;
        }
        // Subscribe first, so that every snapshot after this one is seen.
        let mut snapshots = self.handle.snapshots();
        let base = self.handle.snapshot_now(Duration::from_secs(5)).await;
        snapshots.borrow_and_update();
        let mut inner = self.lock();
        if inner.running {
            // Someone else started it meanwhile: theirs.
            let last = inner.last.clone().unwrap_or(base);
            return (last, inner.tx.subscribe());
        }
        inner.running = true;
        inner.last = Some(base.clone());
        let rx = inner.tx.subscribe();
        drop(inner);
        tokio::spawn(self.clone().run(snapshots));
        (base, rx)
    }

    fn join_running(&self) -> Option<(Arc<ClusterView>, broadcast::Receiver<Frame>)> {
        let inner = self.lock();
        match (&inner.last, inner.running) {
            (Some(last), true) => Some((last.clone(), inner.tx.subscribe())),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Each new snapshot as one frame, until no console is left.
    async fn run(self: Arc<Self>, mut snapshots: watch::Receiver<Arc<ClusterView>>) {
        while snapshots.changed().await.is_ok() {
            let new = snapshots.borrow_and_update().clone();
            // Only this task changes `last`: read it, make the frame unlocked, then send it and
            // move `last` under the lock.
            let Some(last) = self.lock().last.clone() else { break };
            if Arc::ptr_eq(&last, &new) {
                continue;
            }
            let frame = match ViewDelta::between(&last, &new) {
                Some(d) => protocol::line(&ToConsole::Delta(d)),
                None => {
                    let whole = new.clone();
                    tokio::task::spawn_blocking(move || protocol::line(&FullRef::Full(&whole)))
                        .await
                        .unwrap_or_default()
                }
            };
            let mut inner = self.lock();
            if inner.tx.receiver_count() == 0 {
                // The last console has gone: stop, and stop the supervisor's snapshots with it.
                inner.running = false;
                inner.last = None;
                return;
            }
            let _ = inner.tx.send(Arc::new(frame));
            inner.last = Some(new);
        }
        let mut inner = self.lock();
        inner.running = false;
        inner.last = None;
    }
}
