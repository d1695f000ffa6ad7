//! One worker thread per host. It owns that host's `Hypervisor` (and so its libvirt
//! connection, whose last error is per thread) and runs calls one at a time. The async side
//! sends jobs and awaits the answer with a timeout, so a hung daemon never stalls the loop.

use super::seams::{Connector, HvError, Hypervisor};
use crate::core::HostSpec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut dyn Hypervisor) + Send>;

/// A cheap, cloneable handle on a host's worker.
#[derive(Clone)]
pub struct HostHandle {
    pub name: String,
    pub uri: String,
    jobs: mpsc::Sender<Job>,
    /// Set while a probe is queued or running, so a hung host does not pile up probes.
    probing: Arc<AtomicBool>,
}

impl HostHandle {
    /// Start the worker thread; the hypervisor is opened on that thread.
    pub fn spawn(spec: &HostSpec, connector: Arc<Connector>) -> std::io::Result<HostHandle> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread_spec = spec.clone();
        std::thread::Builder::new().name(format!("host-{}", spec.name)).spawn(move || {
            let mut hv = connector(&thread_spec);
            while let Ok(job) = rx.recv() {
                job(hv.as_mut());
            }
        })?;
        Ok(HostHandle {
            name: spec.name.clone(),
            uri: spec.uri.clone(),
            jobs: tx,
            probing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Run `f` on the worker and wait at most `timeout` for its answer.
    pub async fn call<R, F>(&self, timeout: Duration, what: &str, f: F) -> Result<R, HvError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Hypervisor) -> Result<R, HvError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |hv| {
            let _ = tx.send(f(hv));
        });
        self.jobs.send(job).map_err(|_| HvError::Failed(format!("{}: worker thread is gone", self.name)))?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(HvError::Failed(format!("{}: worker dropped the call ({what})", self.name))),
            Err(_) => Err(HvError::Timeout(format!(
                "{what} on {} got no answer in {}",
                self.name,
                crate::core::time::human(timeout)
            ))),
        }
    }

    /// Probe the host, unless the previous probe has not come back yet.
    pub async fn probe(&self, timeout: Duration) -> Result<crate::core::HostProbe, HvError> {
        if self.probing.swap(true, Ordering::SeqCst) {
            return Err(HvError::Timeout(format!("previous probe of {} has not returned (hung?)", self.name)));
        }
        let flag = self.probing.clone();
        self.call(timeout, "probe", move |hv| {
            let r = hv.probe();
            flag.store(false, Ordering::SeqCst);
            r
        })
        .await
    }
}
