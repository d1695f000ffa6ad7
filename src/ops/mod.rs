//! Carrying out the core's actions: each one a short sequence of hypervisor and fence calls,
//! logged step by step. Runs on the async side; every hypervisor call goes to the host's worker
//! thread with a timeout, every fence call to a blocking thread with a timeout.
//!
//! Architecture invariant: an operation never decides. If a step fails it stops and reports;
//! the core decides what happens next.

pub mod reinstall;
pub mod relocate;

use crate::config::Timeouts;
use crate::core::{Action, ActionKind, Outcome};
use crate::hv::worker::HostHandle;
use crate::hv::{Fencer, HvError, MigrateTo, PowerStatus};
use crate::store::inventory::Inventory;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

/// Everything an operation may use.
#[derive(Clone)]
pub struct ExecCtx {
    pub hosts: Arc<BTreeMap<String, HostHandle>>,
    pub fencers: Arc<BTreeMap<String, Arc<dyn Fencer>>>,
    /// Each host's soft fence (restart its management daemon), where configured.
    pub soft_fencers: Arc<BTreeMap<String, Arc<dyn crate::hv::SoftFencer>>>,
    /// The quorum witnesses, checked every cycle (`core::quorum`).
    pub witnesses: Arc<Vec<Arc<dyn crate::hv::Witness>>>,
    pub inventory: Arc<Inventory>,
    pub timeouts: Timeouts,
    /// How each host is reached for live migration, by host name.
    pub migration: Arc<BTreeMap<String, MigrateTo>>,
    /// Run fence agents and inventory writes in the calling task instead of on blocking
    /// threads: only for the simulator, whose agents and inventory are in memory.
    pub inline: bool,
    /// Where this action's steps are reported (set per action by the supervisor).
    pub report: Option<Reporter>,
    /// Each VM's reinstall spec, by name.
    pub reinstall_specs: Arc<BTreeMap<String, Arc<crate::core::ReinstallSpec>>>,
    /// Where finished steps are journaled (set per action by the supervisor).
    pub journal: Option<Arc<crate::store::Journal>>,
    /// Steps an earlier run finished for the action this one resumes (set per action).
    pub resumed_steps: Vec<String>,
    /// With several supervisors (`[ha]`), the leadership: a step of a long action starts only
    /// while this supervisor leads (set per action).
    pub leadership: Option<Arc<dyn crate::hv::Leadership>>,
    /// With several supervisors (`[ha]`), where each finished step goes for the next leader
    /// (set per action by a leader): resolves once the shared store holds it.
    pub share_step: Option<StepSharer>,
    /// With several supervisors (`[ha]`), a fence of the same host a former leader had under
    /// way when it died (set per action by the supervisor): this one waits for it.
    pub former_fence: Option<FormerFence>,
}

/// A fence a former leader had under way: whose, and until when it may still run (its start
/// plus the fence timeout).
#[derive(Clone, Debug)]
pub struct FormerFence {
    pub former: String,
    pub until: tokio::time::Instant,
}

/// Keeps a finished step in the shared store (`ExecCtx::share_step`).
pub type StepSharer = Arc<dyn Fn(&str) -> crate::hv::StoreFuture + Send + Sync>;

/// Reports the steps of one action to the supervisor, which shows them in the snapshots.
#[derive(Clone)]
pub struct Reporter {
    pub id: crate::core::ActionId,
    pub tx: tokio::sync::mpsc::UnboundedSender<(crate::core::ActionId, crate::core::Progress)>,
}

impl ExecCtx {
    pub fn host(&self, name: &str) -> Result<&HostHandle, String> {
        self.hosts.get(name).ok_or_else(|| format!("no host named {name}"))
    }

    /// Record that a step of this action is done, on disk before the next step runs. A
    /// journal that cannot be written is already an alarm; the operation goes on. One of
    /// several supervisors that no longer leads stops here (`Err`): the next steps are the new
    /// leader's, which resumes the action.
    pub async fn step_done(&self, step: &str) -> Result<(), String> {
        if let (Some(j), Some(r)) = (&self.journal, &self.report) {
            if let Err(e) = j.step(r.id, step).await {
                warn!(target: "3rc::ops", "#{}: step {step} not journaled: {e}", r.id);
            }
        }
        if let Some(share) = &self.share_step {
            if let Err(e) = share(step).await {
                warn!(target: "3rc::ops", "step {step} not kept in etcd for the next leader: {e}");
            }
        }
        match &self.leadership {
            Some(l) if !l.leads() => {
                Err(format!("stopped after step {step}: {} no longer leads; the new leader resumes it", l.name()))
            }
            _ => Ok(()),
        }
    }

    /// Report the step under way (and how much is done, when it can tell).
    pub fn step(&self, step: impl Into<String>, done: Option<f64>) {
        if let Some(r) = &self.report {
            let _ = r.tx.send((r.id, crate::core::Progress { step: step.into(), done }));
        }
    }
}

/// Each VM's reinstall spec by name, for `ExecCtx::reinstall_specs`.
pub fn reinstall_specs(spec: &crate::core::ClusterSpec) -> Arc<BTreeMap<String, Arc<crate::core::ReinstallSpec>>> {
    Arc::new(spec.vms.iter().filter_map(|v| Some((v.name.clone(), v.reinstall.clone()?))).collect())
}

/// How an operation failed: before starting the VM, at its final start with everything
/// before it in place (`Outcome::StartFailed`), or not at all because the host cannot do it
/// (`Outcome::Unsupported`: nothing was changed, the engine decides what instead).
pub enum Failure {
    Before(String),
    Start(String),
    Unsupported(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Before(e)
    }
}

/// Carry out one action and say how it ended.
pub async fn execute(ctx: &ExecCtx, action: &Action) -> Outcome {
    let id = action.id;
    debug!(target: "3rc::ops", "#{id} {} ({}): started", action.kind, action.decided_by);
    let result: Result<(), Failure> = match &action.kind {
        ActionKind::Start { vm, host } => start(ctx, vm, host).await.map_err(Failure::from),
        ActionKind::Restart { vm, host } => restart(ctx, vm, host).await.map_err(Failure::from),
        ActionKind::Relocate { vm, from, to } => {
            relocate::relocate(ctx, vm, from.as_deref(), to).await.map_err(Failure::from)
        }
        ActionKind::Migrate { vm, from, to } => relocate::migrate(ctx, vm, from, to).await,
        ActionKind::Stop { vm, host } => stop(ctx, vm, host).await.map_err(Failure::from),
        ActionKind::Destroy { vm, host, undefine } => destroy(ctx, vm, host, *undefine).await.map_err(Failure::from),
        ActionKind::Fence { host } => fence(ctx, host).await.map_err(Failure::from),
        ActionKind::SoftFence { host } => soft_fence(ctx, host).await.map_err(Failure::from),
        ActionKind::Reinstall { vm, host } => reinstall::reinstall(ctx, vm, host).await,
        ActionKind::Resume { vm, host } => resume(ctx, vm, host).await,
    };
    // The engine's events log the outcome; this is the operation's own trace.
    match result {
        Ok(()) => {
            debug!(target: "3rc::ops", "#{id} {} done", action.kind);
            Outcome::Done
        }
        Err(Failure::Before(e)) => {
            debug!(target: "3rc::ops", "#{id} {} failed: {e}", action.kind);
            Outcome::Failed(e)
        }
        Err(Failure::Start(e)) => {
            debug!(target: "3rc::ops", "#{id} {}: its start failed: {e}", action.kind);
            Outcome::StartFailed(e)
        }
        Err(Failure::Unsupported(e)) => {
            debug!(target: "3rc::ops", "#{id} {}: not supported here: {e}", action.kind);
            Outcome::Unsupported(e)
        }
    }
}

/// One hypervisor call on a host's worker, with the call timeout, errors as text.
pub(crate) async fn on<R, F>(ctx: &ExecCtx, host: &str, what: &str, f: F) -> Result<R, HvError>
where
    R: Send + 'static,
    F: FnOnce(&mut dyn crate::hv::Hypervisor) -> Result<R, HvError> + Send + 'static,
{
    let h = ctx.host(host).map_err(HvError::Failed)?;
    h.call(ctx.timeouts.call, what, f).await
}

async fn start(ctx: &ExecCtx, vm: &str, host: &str) -> Result<(), String> {
    let name = vm.to_string();
    match on(ctx, host, "start", move |hv| hv.start(&name)).await {
        Ok(()) => Ok(()),
        // Defined nowhere here any more (someone undefined it): define it from the inventory.
        Err(HvError::NoDomain(_)) => relocate::define_and_start(ctx, vm, host).await,
        Err(e) => Err(format!("start on {host}: {e}")),
    }
}

/// How long a resumed VM must keep running for its storage to count as answering again.
const RESUME_SETTLE: std::time::Duration = std::time::Duration::from_secs(3);

/// Resume a VM paused by I/O errors: done if it still runs `RESUME_SETTLE` later.
async fn resume(ctx: &ExecCtx, vm: &str, host: &str) -> Result<(), Failure> {
    ctx.step(format!("resuming on {host}"), Some(0.1));
    let name = vm.to_string();
    match on(ctx, host, "resume", move |hv| hv.resume(&name)).await {
        Ok(()) => {}
        Err(HvError::Unsupported(why)) => return Err(Failure::Unsupported(why)),
        Err(e) => return Err(Failure::Before(format!("resume on {host}: {e}"))),
    }
    ctx.step(format!("checking that it keeps running on {host}"), Some(0.5));
    tokio::time::sleep(RESUME_SETTLE).await;
    let probe =
        on(ctx, host, "probe", |hv| hv.probe()).await.map_err(|e| Failure::Before(format!("probe of {host}: {e}")))?;
    match probe.domains.iter().find(|d| d.name == vm).map(|d| d.state) {
        Some(crate::core::DomState::Running) => Ok(()),
        Some(crate::core::DomState::IoPaused) => {
            Err(Failure::Before("paused again by an I/O error: its storage still fails".into()))
        }
        Some(s) => Err(Failure::Before(format!("{} after the resume", s.label()))),
        None => Err(Failure::Before(format!("not defined on {host} any more"))),
    }
}

async fn restart(ctx: &ExecCtx, vm: &str, host: &str) -> Result<(), String> {
    ctx.step(format!("stopping on {host}"), Some(0.2));
    let name = vm.to_string();
    match on(ctx, host, "destroy", move |hv| hv.destroy(&name)).await {
        Ok(()) | Err(HvError::NoDomain(_)) => {}
        Err(e) => return Err(format!("destroy on {host}: {e}")),
    }
    ctx.step(format!("starting on {host}"), Some(0.6));
    start(ctx, vm, host).await
}

async fn stop(ctx: &ExecCtx, vm: &str, host: &str) -> Result<(), String> {
    ctx.step(format!("asking the guest to shut down on {host}"), Some(0.0));
    let name = vm.to_string();
    match on(ctx, host, "shutdown", move |hv| hv.shutdown(&name)).await {
        Ok(()) => {}
        Err(HvError::NoDomain(_)) => return Ok(()),
        Err(e) => {
            warn!(target: "3rc::ops", "graceful shutdown of {vm} on {host} refused ({e}); destroying")
        }
    }
    let begun = tokio::time::Instant::now();
    let deadline = begun + ctx.timeouts.stop_grace;
    while tokio::time::Instant::now() < deadline {
        let waited = begun.elapsed().as_secs_f64() / ctx.timeouts.stop_grace.as_secs_f64().max(0.001);
        ctx.step("waiting for the guest to stop (then destroy)", Some(waited.min(1.0)));
        let probe = on(ctx, host, "probe", |hv| hv.probe()).await.map_err(|e| format!("probe {host}: {e}"))?;
        let active = probe.domains.iter().any(|d| d.name == vm && d.state.is_active());
        if !active {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    info!(target: "3rc::ops", "{vm} did not shut down in {}; destroying", crate::core::time::human(ctx.timeouts.stop_grace));
    let name = vm.to_string();
    on(ctx, host, "destroy", move |hv| hv.destroy(&name)).await.map_err(|e| format!("destroy on {host}: {e}"))
}

async fn destroy(ctx: &ExecCtx, vm: &str, host: &str, undefine: bool) -> Result<(), String> {
    let name = vm.to_string();
    match on(ctx, host, "destroy", move |hv| hv.destroy(&name)).await {
        Ok(()) | Err(HvError::NoDomain(_)) => {}
        Err(e) => return Err(format!("destroy on {host}: {e}")),
    }
    if undefine {
        let name = vm.to_string();
        match on(ctx, host, "undefine", move |hv| hv.undefine(&name)).await {
            Ok(()) | Err(HvError::NoDomain(_)) => {}
            Err(e) => return Err(format!("undefine on {host}: {e}")),
        }
    }
    Ok(())
}

/// Status before off; "already off" counts as fenced; off is confirmed by a second status.
async fn fence(ctx: &ExecCtx, host: &str) -> Result<(), String> {
    let fencer = ctx.fencers.get(host).cloned().ok_or_else(|| format!("no fence agent for {host}"))?;
    let t = ctx.timeouts.fence;
    ctx.step(format!("asking {} for the power status", fencer.describe()), Some(0.1));
    let f = fencer.clone();
    let status = blocking(ctx.inline, t, "fence status", move || f.status()).await?;
    if status == PowerStatus::Off {
        info!(target: "3rc::fence", "{host} is already off ({})", fencer.describe());
        return Ok(());
    }
    if let Some(former) = &ctx.former_fence {
        // A device may still be carrying out the former leader's off (its agent outlives a
        // supervisor killed, and a slow device acts seconds after the command): a second
        // command to a device mid-operation is not sent while the first may still take effect.
        ctx.step(
            format!("waiting for the former leader {}'s fence of {host} to take effect", former.former),
            Some(0.2),
        );
        while tokio::time::Instant::now() < former.until {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let f = fencer.clone();
            if blocking(ctx.inline, t, "fence status", move || f.status()).await? == PowerStatus::Off {
                info!(target: "3rc::fence", "{host} powered off by the former leader {}'s fence ({})", former.former,
                    fencer.describe());
                return Ok(());
            }
        }
        warn!(target: "3rc::fence", "the former leader {}'s fence did not power {host} off in time: fencing it now",
            former.former);
    }
    ctx.step(format!("powering {host} off"), Some(0.4));
    let f = fencer.clone();
    blocking(ctx.inline, t, "fence off", move || f.off()).await?;
    // Some devices accept `off` before the power is off: asked again every second, up to the
    // fence timeout.
    ctx.step(format!("confirming {host} is off"), Some(0.8));
    let begun = tokio::time::Instant::now();
    loop {
        let f = fencer.clone();
        match blocking(ctx.inline, t, "fence status", move || f.status()).await? {
            PowerStatus::Off => {
                info!(target: "3rc::fence", "{host} powered off ({})", fencer.describe());
                return Ok(());
            }
            PowerStatus::On if begun.elapsed() + std::time::Duration::from_secs(1) > t => {
                return Err(format!(
                    "{} said off, but {host} still reports power on after {}",
                    fencer.describe(),
                    crate::core::time::human(begun.elapsed())
                ))
            }
            PowerStatus::On => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
    }
}

/// Run the host's soft-fence command; the next probes tell whether its daemon is back.
async fn soft_fence(ctx: &ExecCtx, host: &str) -> Result<(), String> {
    let soft = ctx.soft_fencers.get(host).cloned().ok_or_else(|| format!("no soft fence for {host}"))?;
    ctx.step(format!("restarting {host}'s management daemon ({})", soft.describe()), Some(0.2));
    // The command's own time limit kills it; this one only guards against a stuck thread.
    let limit = ctx.timeouts.fence.max(Duration::from_secs(300));
    let s = soft.clone();
    blocking(ctx.inline, limit, "restart command", move || s.restart()).await?;
    info!(target: "3rc::fence", "{host}: {} done", soft.describe());
    Ok(())
}

async fn blocking<R: Send + 'static>(
    inline: bool,
    t: Duration,
    what: &str,
    f: impl FnOnce() -> Result<R, String> + Send + 'static,
) -> Result<R, String> {
    if inline {
        return f().map_err(|e| format!("{what}: {e}"));
    }
    match tokio::time::timeout(t, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(r)) => r.map_err(|e| format!("{what}: {e}")),
        Ok(Err(e)) => Err(format!("{what}: agent thread failed: {e}")),
        Err(_) => Err(format!("{what}: no answer in {}", crate::core::time::human(t))),
    }
}
