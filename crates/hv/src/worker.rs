//! Worker threads per host, each owning a `Hypervisor` (and so a libvirt connection, whose last
//! error is per thread): one thread for probes only, so a probe never waits behind an
//! operation (a healthy host busy starting VMs must not look dead), a pair for guest agent
//! checks (`[vm.guest]`: a guest that does not answer holds up nothing else), a small pool for
//! operations, so several VMs recovered onto one host start in parallel, and one thread for
//! the liveness call that tells a busy host from a dead one, so that it never waits behind
//! either (during a live migration off a host, libvirt holds the source's bulk stats for the
//! last seconds, and the operation threads are busy with the migration and its progress). The async side sends
//! jobs and awaits the answer with a timeout, so a hung daemon never stalls the loop.
//!
//! The simulator uses the inline mode instead: its hypervisors are in memory and answer at once,
//! and calls must run inside the task so that a paused (virtual) tokio clock only moves when the
//! whole loop waits — waiting on an OS thread would let it jump and fire false timeouts.

use super::{Connector, HintSink, HvError, Hypervisor};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use threerc_core::HostSpec;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut dyn Hypervisor) + Send>;

/// Operation threads per host (each with its own connection).
pub const OPS_THREADS: usize = 2;

/// TCP and HTTP guest checks running at once, in the whole process: they run on the runtime's
/// blocking threads, which fence agents, witness checks and notifications need too; when 3RC's
/// own network fails every such check hangs for its timeout, and they must not take them all.
pub const NET_CHECKS: usize = 64;

fn net_checks() -> Arc<tokio::sync::Semaphore> {
    static PERMITS: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| Arc::new(tokio::sync::Semaphore::new(NET_CHECKS))).clone()
}

/// Guest agent threads per host (each with its own connection): one guest that does not
/// answer holds one of them for its whole timeout, and the others' checks go on.
pub const GUEST_THREADS: usize = 2;

/// How calls reach a host's hypervisor.
#[derive(Clone)]
enum Route {
    /// Dedicated OS threads (production): probes on one, operations on a pool.
    Thread { probes: mpsc::Sender<Job>, ops: mpsc::Sender<Job>, alive: mpsc::Sender<Job>, guest: mpsc::Sender<Job> },
    /// Called in the calling task, under a lock (simulator: in-memory, instant hypervisors).
    Inline(Arc<std::sync::Mutex<Box<dyn Hypervisor>>>),
}

/// A cheap, cloneable handle on a host's worker.
#[derive(Clone)]
pub struct HostHandle {
    pub name: String,
    pub uri: String,
    route: Route,
    /// Set while a probe is queued or running, so a hung host does not pile up probes.
    probing: Arc<AtomicBool>,
    /// The same for liveness calls.
    checking: Arc<AtomicBool>,
}

/// Which of a host's workers runs a call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lane {
    Probe,
    Ops,
    Alive,
    Guest,
}

impl HostHandle {
    /// Start the worker threads; each opens its own hypervisor connection on its thread.
    pub fn spawn(spec: &HostSpec, connector: Arc<Connector>) -> std::io::Result<HostHandle> {
        let (probe_tx, probe_rx) = mpsc::channel::<Job>();
        let probe_rx = Arc::new(std::sync::Mutex::new(probe_rx));
        worker(spec, &connector, "probe", probe_rx)?;
        let (ops_tx, ops_rx) = mpsc::channel::<Job>();
        let ops_rx = Arc::new(std::sync::Mutex::new(ops_rx));
        for i in 0..OPS_THREADS {
            worker(spec, &connector, &format!("ops{i}"), ops_rx.clone())?;
        }
        let (alive_tx, alive_rx) = mpsc::channel::<Job>();
        worker(spec, &connector, "alive", Arc::new(std::sync::Mutex::new(alive_rx)))?;
        let (guest_tx, guest_rx) = mpsc::channel::<Job>();
        let guest_rx = Arc::new(std::sync::Mutex::new(guest_rx));
        for i in 0..GUEST_THREADS {
            worker(spec, &connector, &format!("guest{i}"), guest_rx.clone())?;
        }
        Ok(HostHandle {
            name: spec.name.clone(),
            uri: spec.uri.clone(),
            route: Route::Thread { probes: probe_tx, ops: ops_tx, alive: alive_tx, guest: guest_tx },
            probing: Arc::new(AtomicBool::new(false)),
            checking: Arc::new(AtomicBool::new(false)),
        })
    }

    /// A handle whose calls run in the calling task (for in-memory hypervisors only: a call
    /// that blocks would block the runtime).
    pub fn inline(spec: &HostSpec, hv: Box<dyn Hypervisor>) -> HostHandle {
        HostHandle {
            name: spec.name.clone(),
            uri: spec.uri.clone(),
            route: Route::Inline(Arc::new(std::sync::Mutex::new(hv))),
            probing: Arc::new(AtomicBool::new(false)),
            checking: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether calls run in the calling task (the simulator's mode).
    pub fn is_inline(&self) -> bool {
        matches!(self.route, Route::Inline(_))
    }

    /// Run an operation's call `f` on the host's operation workers and wait at most `timeout`
    /// for its answer.
    pub async fn call<R, F>(&self, timeout: Duration, what: &str, f: F) -> Result<R, HvError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Hypervisor) -> Result<R, HvError> + Send + 'static,
    {
        self.dispatch(Lane::Ops, timeout, what, f).await
    }

    async fn dispatch<R, F>(&self, lane: Lane, timeout: Duration, what: &str, f: F) -> Result<R, HvError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Hypervisor) -> Result<R, HvError> + Send + 'static,
    {
        let jobs = match &self.route {
            Route::Inline(hv) => {
                let mut hv = hv.lock().unwrap_or_else(|e| e.into_inner());
                return f(hv.as_mut());
            }
            Route::Thread { probes, ops, alive, guest } => match lane {
                Lane::Probe => probes,
                Lane::Ops => ops,
                Lane::Alive => alive,
                Lane::Guest => guest,
            },
        };
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |hv| {
            let _ = tx.send(f(hv));
        });
        jobs.send(job).map_err(|_| HvError::Failed(format!("{}: worker thread is gone", self.name)))?;
        self.answer(rx, timeout, what).await
    }

    /// A worker's answer to a call, at most `timeout` from now.
    async fn answer<R>(
        &self,
        rx: oneshot::Receiver<Result<R, HvError>>,
        timeout: Duration,
        what: &str,
    ) -> Result<R, HvError> {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(HvError::Failed(format!("{}: worker dropped the call ({what})", self.name))),
            Err(_) => Err(HvError::Timeout(format!(
                "{what} on {} got no answer in {}",
                self.name,
                threerc_core::time::human(timeout)
            ))),
        }
    }

    /// Check a VM's guest (`Domains::guest_check`): the agent on the host's guest workers, so
    /// that a guest that does not answer never holds up a probe or an operation; TCP and HTTP
    /// from this machine on blocking threads, up to [`NET_CHECKS`] at once (the checks of one
    /// round answer within one timeout of each other: `core::guest` compares them). The check
    /// bounds itself by `timeout`; the wait here allows a second more, counted from when the
    /// check starts.
    ///
    /// A check that waits behind other guests' (hung guests hold the guest workers, or the
    /// permits for TCP and HTTP checks, for their whole timeout) is not a failure of its guest:
    /// one not started within `timeout` and a second is dropped unstarted and answers `Busy`
    /// (not checked this time).
    pub async fn guest_check(
        &self,
        vm: String,
        check: threerc_core::GuestCheck,
        timeout: Duration,
    ) -> Result<(), HvError> {
        let what = format!("{check} check of {vm}");
        let wait = timeout + Duration::from_secs(1);
        let until = tokio::time::Instant::now() + wait;
        let busy = |queue: &str| {
            HvError::Busy(format!(
                "{what} not started in {}: {queue} were busy with other checks",
                threerc_core::time::human(wait)
            ))
        };
        let (claim, waiter) = claim();
        let (tx, rx) = oneshot::channel();
        let queue = match &self.route {
            Route::Thread { .. } if check != threerc_core::GuestCheck::Agent => {
                let queue = format!("the {NET_CHECKS} threads for TCP and HTTP checks");
                let Ok(Ok(permit)) = tokio::time::timeout_at(until, net_checks().acquire_owned()).await else {
                    return Err(busy(&queue));
                };
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    if claim.take() {
                        let _ = tx.send(match &check {
                            threerc_core::GuestCheck::Http(u) => crate::guestnet::http(u, timeout),
                            threerc_core::GuestCheck::Tcp(a) => crate::guestnet::tcp(a, timeout),
                            threerc_core::GuestCheck::Agent => unreachable!("the agent goes through the hypervisor"),
                        });
                    }
                });
                queue
            }
            Route::Thread { guest, .. } => {
                let job: Job = Box::new(move |hv| {
                    if claim.take() {
                        let _ = tx.send(hv.guest_check(&vm, &check, timeout));
                    }
                });
                guest.send(job).map_err(|_| HvError::Failed(format!("{}: worker thread is gone", self.name)))?;
                format!("the guest workers of {}", self.name)
            }
            Route::Inline(_) => {
                return self.dispatch(Lane::Guest, wait, &what, move |hv| hv.guest_check(&vm, &check, timeout)).await;
            }
        };
        if !waiter.started_within(until.saturating_duration_since(tokio::time::Instant::now())).await {
            return Err(busy(&queue));
        }
        self.answer(rx, wait, &what).await
    }

    /// Probe a host whose last probe failed, again and again until one answers or `stop_at`
    /// comes: every `gap`, each try with at most `timeout`, none running past `stop_at`. The
    /// supervisor runs this between two cycles, so a host is counted as failing a round only
    /// when every probe of that round failed: a few lost probes never add up to a failover,
    /// and a dead host is declared dead no later than before.
    pub async fn probe_until(
        &self,
        stop_at: tokio::time::Instant,
        gap: Duration,
        timeout: Duration,
    ) -> Result<threerc_core::HostProbe, HvError> {
        loop {
            let left = stop_at.saturating_duration_since(tokio::time::Instant::now());
            let result = self.probe(timeout.min(left)).await;
            let next = tokio::time::Instant::now() + gap;
            // A try needs at least half a gap before `stop_at`.
            if result.is_ok() || next + gap / 2 > stop_at {
                return result;
            }
            tokio::time::sleep_until(next).await;
        }
    }

    /// Ask the host's probe connection to push hints into `sink` (see `Hypervisor::watch`);
    /// called again after the connection closed, it reconnects at once. Does not wait: the
    /// outcome is logged by the probe thread. Inline handles (the simulator) answer at once.
    pub fn watch(&self, sink: HintSink) {
        let job = move |hv: &mut dyn Hypervisor| match hv.watch(&sink) {
            Ok(()) => tracing::debug!(target: "3rc::events", "{}: watching for events", sink.host()),
            Err(HvError::Unsupported(_)) => {
                tracing::debug!(target: "3rc::events", "{}: no events from this backend; polling only", sink.host())
            }
            Err(e) => tracing::info!(
                target: "3rc::events",
                "{}: not connected for events yet ({e}); the next connection registers them",
                sink.host()
            ),
        };
        match &self.route {
            Route::Inline(hv) => job(hv.lock().unwrap_or_else(|e| e.into_inner()).as_mut()),
            Route::Thread { probes, .. } => {
                if probes.send(Box::new(job)).is_err() {
                    tracing::warn!(target: "3rc::events", "{}: probe worker is gone; no events", self.name);
                }
            }
        }
    }

    /// Probe the host, unless the previous probe has not come back yet. A probe that does not
    /// answer in time is `Busy` if the daemon answered a light call on the liveness connection
    /// meanwhile (the host is alive; its domain listing is held up), else a `Timeout`. The
    /// light call starts at three quarters of the timeout and gets the last quarter, so the
    /// whole probe still ends within `timeout`.
    pub async fn probe(&self, timeout: Duration) -> Result<threerc_core::HostProbe, HvError> {
        let quarter = timeout / 4;
        if self.probing.swap(true, Ordering::SeqCst) {
            let why = format!("previous probe of {} has not returned (hung?)", self.name);
            return Err(self.liveness(quarter, why).await);
        }
        let flag = self.probing.clone();
        let probe = self.dispatch(Lane::Probe, timeout, "probe", move |hv| {
            let r = hv.probe();
            flag.store(false, Ordering::SeqCst);
            r
        });
        if self.is_inline() {
            return probe.await;
        }
        let live = async {
            tokio::time::sleep(timeout - quarter).await;
            self.alive(quarter).await
        };
        tokio::pin!(probe, live);
        let mut alive = None;
        let result = loop {
            tokio::select! {
                r = &mut probe => break r,
                l = &mut live, if alive.is_none() => alive = Some(l.is_ok()),
            }
        };
        match result {
            // Our own timeout, with the call still running: busy or gone?
            Err(HvError::Timeout(why)) if self.probing.load(Ordering::SeqCst) => {
                let alive = match alive {
                    Some(a) => a,
                    None => live.await.is_ok(),
                };
                Err(if alive { HvError::Busy(format!("{why}; the daemon answers")) } else { HvError::Timeout(why) })
            }
            r => r,
        }
    }

    /// A probe is stuck: busy if the daemon answers a light call within `within`, else the
    /// timeout stands.
    async fn liveness(&self, within: Duration, why: String) -> HvError {
        match self.alive(within).await {
            Ok(()) => HvError::Busy(format!("{why}; the daemon answers")),
            Err(_) => HvError::Timeout(why),
        }
    }

    /// The light call on the liveness worker, at most `within`. One at a time: while one is
    /// still running (a hung daemon), the next answers "no" at once instead of queueing.
    async fn alive(&self, within: Duration) -> Result<(), HvError> {
        if self.checking.swap(true, Ordering::SeqCst) {
            return Err(HvError::Timeout(format!("the previous liveness call on {} has not returned", self.name)));
        }
        let flag = self.checking.clone();
        let r = self
            .dispatch(Lane::Alive, within, "liveness", move |hv| {
                let r = hv.alive();
                flag.store(false, Ordering::SeqCst);
                r
            })
            .await;
        // A timeout leaves the call running (it clears the flag when it returns); otherwise it
        // returned, or never ran (the worker is gone).
        if !matches!(r, Err(HvError::Timeout(_))) {
            self.checking.store(false, Ordering::SeqCst);
        }
        r
    }
}

/// A call that its caller may give up on before it starts: the side that runs it takes its
/// [`Claim`] first and runs it only if the [`Waiter`] still waits. So a call that waited too
/// long in a queue is never run late, and queues do not grow behind calls that hang.
fn claim() -> (Claim, Waiter) {
    let stage = Arc::new(std::sync::atomic::AtomicU8::new(QUEUED));
    let (started_tx, started_rx) = oneshot::channel();
    (Claim { stage: stage.clone(), started: started_tx }, Waiter { stage, started: started_rx })
}

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const GIVEN_UP: u8 = 2;

struct Claim {
    stage: Arc<std::sync::atomic::AtomicU8>,
    started: oneshot::Sender<()>,
}

impl Claim {
    /// Whether to run the call now (its caller still waits for it to start).
    fn take(self) -> bool {
        let go = self.stage.compare_exchange(QUEUED, STARTED, Ordering::SeqCst, Ordering::SeqCst).is_ok();
        if go {
            let _ = self.started.send(());
        }
        go
    }
}

struct Waiter {
    stage: Arc<std::sync::atomic::AtomicU8>,
    started: oneshot::Receiver<()>,
}

impl Waiter {
    /// Whether the call started within `wait`; if not, it never will.
    async fn started_within(mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, &mut self.started).await.is_ok() || !self.give_up()
    }

    /// Give the call up unless it started: whether it was given up.
    fn give_up(&self) -> bool {
        self.stage.compare_exchange(QUEUED, GIVEN_UP, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }
}

/// A caller that stops waiting (its task dropped) gives the call up too.
impl Drop for Waiter {
    fn drop(&mut self) {
        self.give_up();
    }
}

/// One worker thread: opens its own hypervisor, then runs jobs from the shared queue.
fn worker(
    spec: &HostSpec,
    connector: &Arc<Connector>,
    role: &str,
    jobs: Arc<std::sync::Mutex<mpsc::Receiver<Job>>>,
) -> std::io::Result<()> {
    let (spec, connector) = (spec.clone(), connector.clone());
    std::thread::Builder::new().name(format!("{}-{role}", spec.name)).spawn(move || {
        let mut hv = connector(&spec);
        loop {
            let job = {
                let rx = jobs.lock().unwrap_or_else(|e| e.into_inner());
                rx.recv()
            };
            match job {
                Ok(job) => job(hv.as_mut()),
                Err(_) => break,
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use threerc_core::{Capacity, HostProbe};

    /// A host whose domain listing and operations are held up (as on the source of a live
    /// migration near its end) while its daemon answers light calls at once; and whose guests'
    /// agents answer at once, but for those named `hung…`: they take the whole timeout and fail
    /// (as libvirt's agent command on a hung guest). Counts the checks of the others that ran.
    #[derive(Default)]
    struct HeldUp(Arc<std::sync::atomic::AtomicUsize>);

    impl crate::Volumes for HeldUp {}
    impl crate::Target for HeldUp {}

    impl crate::Domains for HeldUp {
        fn probe(&mut self) -> Result<HostProbe, HvError> {
            std::thread::sleep(Duration::from_secs(2));
            Ok(HostProbe { capacity: Capacity { cpus: 1, memory_kib: 1 }, domains: vec![] })
        }
        fn alive(&mut self) -> Result<(), HvError> {
            Ok(())
        }
        fn domain_xml(&mut self, _: &str) -> Result<String, HvError> {
            unreachable!()
        }
        fn define(&mut self, _: &str) -> Result<(), HvError> {
            unreachable!()
        }
        fn undefine(&mut self, _: &str) -> Result<(), HvError> {
            unreachable!()
        }
        fn start(&mut self, _: &str) -> Result<(), HvError> {
            std::thread::sleep(Duration::from_secs(2));
            Ok(())
        }
        fn destroy(&mut self, _: &str) -> Result<(), HvError> {
            unreachable!()
        }
        fn shutdown(&mut self, _: &str) -> Result<(), HvError> {
            unreachable!()
        }
        fn migrate_live(&mut self, _: &str, _: &crate::MigrateTo) -> Result<(), HvError> {
            unreachable!()
        }
        fn guest_check(&mut self, vm: &str, _: &threerc_core::GuestCheck, timeout: Duration) -> Result<(), HvError> {
            if vm.starts_with("hung") {
                std::thread::sleep(timeout);
                return Err(HvError::Timeout(format!("guest agent of {vm} did not answer")));
            }
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_held_up_probe_is_busy_while_every_operation_thread_is_taken() {
        let spec =
            threerc_core::HostSpec { name: "hv1".into(), uri: "fake://".into(), fence_agent: None, soft_fence: false };
        let connector: Arc<Connector> =
            Arc::new(Box::new(|_: &HostSpec| Box::new(HeldUp::default()) as Box<dyn Hypervisor>));
        let h = HostHandle::spawn(&spec, connector).unwrap();
        // Every operation thread busy (a migration and its progress polls).
        let ops: Vec<_> = (0..OPS_THREADS)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.call(Duration::from_secs(5), "start", |hv| hv.start("vm")).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = h.probe(Duration::from_millis(400)).await;
        assert!(matches!(&r, Err(HvError::Busy(why)) if why.contains("the daemon answers")), "{r:?}");
        // The probe is still held up: the next one is busy too, without a second probe call.
        let r = h.probe(Duration::from_millis(400)).await;
        assert!(matches!(&r, Err(HvError::Busy(why)) if why.contains("has not returned")), "{r:?}");
        for o in ops {
            assert!(o.await.unwrap().is_ok());
        }
    }

    /// Poll `call` once (a call's job is sent to its worker on the first poll), then spawn it.
    async fn queued<T: Send + 'static>(
        call: impl std::future::Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        let mut call = Box::pin(call);
        std::future::poll_fn(|cx| {
            assert!(std::future::Future::poll(call.as_mut(), cx).is_pending(), "the call answered at once");
            std::task::Poll::Ready(())
        })
        .await;
        tokio::spawn(call)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_agent_check_behind_hung_guests_is_not_a_failure_of_its_own_guest() {
        use threerc_core::GuestCheck::Agent;
        let spec =
            threerc_core::HostSpec { name: "hv1".into(), uri: "fake://".into(), fence_agent: None, soft_fence: false };
        let fine_checks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let n = fine_checks.clone();
        let connector: Arc<Connector> =
            Arc::new(Box::new(move |_: &HostSpec| Box::new(HeldUp(n.clone())) as Box<dyn Hypervisor>));
        let h = HostHandle::spawn(&spec, connector).unwrap();
        // A hung guest's check, queued before this returns, then left to run on.
        let hung = |i: usize, timeout: Duration| {
            let h = h.clone();
            queued(async move { h.guest_check(format!("hung{i}"), Agent, timeout).await })
        };

        // One hung guest holds one guest worker; another guest is checked meanwhile.
        let one = hung(0, Duration::from_secs(3)).await;
        assert_eq!(h.guest_check("web1".into(), Agent, Duration::from_secs(3)).await, Ok(()));
        assert!(!one.is_finished(), "web1's check waited for the hung guest's");
        assert!(matches!(one.await.unwrap(), Err(HvError::Timeout(_))));
        assert_eq!(fine_checks.load(Ordering::SeqCst), 1);

        // Four hung guests (1 s each; each starts within the 2 s it may wait) hold both workers
        // for 2 s, longer than the 1.2 s web1's check (0.2 s) may wait to start: it is not
        // checked (`Busy`), never failed, and never runs later either.
        let mut many = Vec::new();
        for i in 1..=4 {
            many.push(hung(i, Duration::from_secs(1)).await);
        }
        let r = h.guest_check("web1".into(), Agent, Duration::from_millis(200)).await;
        assert!(matches!(&r, Err(HvError::Busy(why)) if why.contains("busy with other checks")), "{r:?}");
        for m in many {
            let r = m.await.unwrap();
            assert!(matches!(r, Err(HvError::Timeout(_))), "{r:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(fine_checks.load(Ordering::SeqCst), 1, "a check given up on ran later");
    }

    /// The same for TCP and HTTP checks, which run on the runtime's blocking threads (one here):
    /// behind two HTTP checks of a server that accepts and never answers (1 s each), a TCP check
    /// (0.2 s) is not started in the 1.2 s it may wait: `Busy`, and it never connects later.
    #[test]
    fn a_tcp_check_behind_hung_http_checks_is_not_a_failure_and_never_runs_late() {
        use std::net::TcpListener;
        use threerc_core::GuestCheck::{Http, Tcp};
        let rt =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).max_blocking_threads(1).enable_all().build();
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/health", silent.local_addr().unwrap());
        std::thread::spawn(move || {
            let held: Vec<_> = silent.incoming().collect();
            drop(held);
        });
        let port = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = port.local_addr().unwrap().to_string();
        port.set_nonblocking(true).unwrap();
        let spec =
            threerc_core::HostSpec { name: "hv1".into(), uri: "fake://".into(), fence_agent: None, soft_fence: false };
        let connector: Arc<Connector> =
            Arc::new(Box::new(|_: &HostSpec| Box::new(HeldUp::default()) as Box<dyn Hypervisor>));
        rt.unwrap().block_on(async {
            let h = HostHandle::spawn(&spec, connector).unwrap();
            let timeout = Duration::from_secs(1);
            let mut many = Vec::new();
            for i in 0..2 {
                let (h, url) = (h.clone(), url.clone());
                many.push(queued(async move { h.guest_check(format!("web{i}"), Http(url), timeout).await }).await);
            }
            let r = h.guest_check("db1".into(), Tcp(addr.clone()), Duration::from_millis(200)).await;
            assert!(matches!(&r, Err(HvError::Busy(why)) if why.contains("busy with other checks")), "{r:?}");
            for m in many {
                let r = m.await.unwrap();
                assert!(matches!(r, Err(HvError::Timeout(_))), "{r:?}");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        });
        assert!(port.accept().is_err(), "a check given up on connected later");

        // With blocking threads to spare: at most NET_CHECKS such checks run at once, so that
        // fence agents, witnesses and notifications always find a blocking thread. (One test
        // with the above: the limit is the process's.)
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let connector: Arc<Connector> =
            Arc::new(Box::new(|_: &HostSpec| Box::new(HeldUp::default()) as Box<dyn Hypervisor>));
        rt.block_on(async {
            let h = HostHandle::spawn(&spec, connector).unwrap();
            let mut many = Vec::new();
            for i in 0..NET_CHECKS {
                let (h, url) = (h.clone(), url.clone());
                let check = async move { h.guest_check(format!("web{i}"), Http(url), Duration::from_secs(2)).await };
                many.push(queued(check).await);
            }
            let r = h.guest_check("db1".into(), Tcp(addr.clone()), Duration::from_millis(200)).await;
            assert!(matches!(&r, Err(HvError::Busy(why)) if why.contains("the 64 threads for TCP")), "{r:?}");
            assert_eq!(tokio::task::spawn_blocking(|| 7).await.unwrap(), 7, "a blocking thread for others");
            for m in many {
                let r = m.await.unwrap();
                assert!(matches!(r, Err(HvError::Timeout(_))), "{r:?}");
            }
        });
        assert!(port.accept().is_err(), "a check given up on connected later");
    }
}
