//! Runs the console in front of a supervisor: forwards the console's requests (commands to the
//! supervisor, the demo's fault-injector toggle) and reports refused commands in the log pane.

use crate::supervisor::{Supervisor, SupervisorHandle};
use crate::ui::{self, UiOptions, UiRequest};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

/// Who is at the keyboard, for the journal: "console:alice".
pub fn origin() -> String {
    let user = std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "unknown".into());
    format!("console:{user}")
}

pub async fn run(
    sup: Supervisor,
    handle: SupervisorHandle,
    theme: ui::Theme,
    title: String,
    injector: Option<Arc<AtomicBool>>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let supervisor = tokio::spawn(sup.run(async {
        let _ = stop_rx.await;
    }));
    let (req_tx, mut req_rx) = mpsc::unbounded_channel::<UiRequest>();
    let (inj_tx, inj_rx) = watch::channel(injector.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)));
    let has_injector = injector.is_some();
    let origin = origin();
    let h = handle.clone();
    let forwarder = tokio::spawn(async move {
        while let Some(req) = req_rx.recv().await {
            match req {
                UiRequest::Command(cmd) => {
                    let (h, origin) = (h.clone(), origin.clone());
                    tokio::spawn(async move {
                        let shown = cmd.to_string();
                        match h.command(&origin, cmd).await {
                            Ok(()) => info!(target: "3rc::console", "{shown}: accepted"),
                            Err(e) => warn!(target: "3rc::console", "{shown}: refused: {e}"),
                        }
                    });
                }
                UiRequest::ToggleFaultInjector => {
                    if let Some(flag) = &injector {
                        let on = !flag.load(Ordering::Relaxed);
                        flag.store(on, Ordering::Relaxed);
                        let _ = inj_tx.send(on);
                        info!(target: "demo", "fault injector {}", if on { "on" } else { "off" });
                    }
                }
            }
        }
    });
    let opts = UiOptions { theme, title, injector: has_injector.then_some(inj_rx) };
    let result = ui::run(opts, handle.snapshots(), req_tx).await;
    let _ = stop_tx.send(());
    let _ = supervisor.await;
    forwarder.abort();
    result
}
