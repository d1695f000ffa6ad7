//! The application shell: turns a validated config into running parts (host workers, fencers,
//! inventory, journal, supervisor) and wires them to a front end (console, headless, status).
//! Thin on purpose: the logic lives in the modules it assembles.

pub mod attach;
pub mod cli;
pub mod consent;
pub mod console;
pub mod p2v;
pub mod service;
pub mod simulate;
pub mod status;

use crate::config::{Config, HostConfig};
use crate::core::HostSpec;
use crate::fence::agent::CommandAgent;
use crate::hv::clock::TokioClock;
use crate::hv::worker::HostHandle;
use crate::hv::{Connector, Fencer, Hypervisor};
use crate::ops::ExecCtx;
use crate::store::inventory::Inventory;
use crate::store::Journal;
use crate::supervisor::{Supervisor, SupervisorHandle};
use anyhow::Context;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The libvirt connector used outside the demo.
pub fn libvirt_connector() -> Arc<Connector> {
    crate::backend::libvirt::init();
    Arc::new(|spec: &HostSpec| -> Box<dyn Hypervisor> {
        Box::new(crate::backend::libvirt::LibvirtHost::new(&spec.uri))
    })
}

/// Fence agents that run as commands, for every host that names one.
pub fn command_fencers(cfg: &Config) -> BTreeMap<String, Arc<dyn Fencer>> {
    cfg.hosts
        .iter()
        .filter_map(|h: &HostConfig| {
            let f = h.fence.as_ref()?;
            let agent: Arc<dyn Fencer> = Arc::new(CommandAgent::new(&f.agent, f.options.clone(), cfg.timeouts.fence));
            Some((h.name.clone(), agent))
        })
        .collect()
}

/// The soft fences of the config's hosts, by host name.
pub fn soft_fencers(cfg: &Config) -> BTreeMap<String, Arc<dyn crate::hv::SoftFencer>> {
    cfg.hosts
        .iter()
        .filter_map(|h| {
            let sf = h.soft_fence.clone()?;
            let s: Arc<dyn crate::hv::SoftFencer> = Arc::new(crate::fence::soft::SoftFenceCommand::new(sf));
            Some((h.name.clone(), s))
        })
        .collect()
}

/// Start one worker per host.
pub fn spawn_hosts(cfg: &Config, connector: Arc<Connector>) -> anyhow::Result<BTreeMap<String, HostHandle>> {
    cfg.cluster
        .hosts
        .iter()
        .map(|h| {
            let handle = HostHandle::spawn(h, connector.clone())
                .with_context(|| format!("starting the worker for {}", h.name))?;
            Ok((h.name.clone(), handle))
        })
        .collect()
}

/// A supervisor of `3rc run`, its control socket, metrics and alerts served, and with `[ha]`
/// its leadership (given back by the caller once the supervisor has run).
pub struct Supervising {
    pub sup: Supervisor,
    pub handle: SupervisorHandle,
    pub ha: Option<Arc<crate::ha::EtcdLeadership>>,
}

impl Supervising {
    /// The supervisor of `loaded` on libvirt hosts. When `loaded` is the last good config
    /// standing in for a file that cannot be used, the supervisor raises the alarm that says
    /// so; else the file is kept as the last good config (a failure to keep it is logged:
    /// nothing else depends on it).
    pub async fn start(
        loaded: &crate::config::lastgood::Loaded,
        fencers: BTreeMap<String, Arc<dyn Fencer>>,
    ) -> anyhow::Result<Supervising> {
        let cfg = &loaded.config;
        let (mut sup, handle) = assemble(cfg, libvirt_connector(), fencers)?;
        let ha = ha(cfg, &mut sup).await?;
        // The socket is served by a task of its own for as long as the process runs.
        let _ = control(cfg, &handle).await?;
        metrics(cfg, &handle)?;
        alerts(cfg, &handle);
        // Everything started on it: now it is a good config.
        match &loaded.fallback {
            Some(f) => sup.config_fallback(f.alarm()),
            None => {
                if let Err(e) = loaded.keep() {
                    tracing::warn!(target: "3rc", "cannot keep the config as the last good one: {e}");
                }
            }
        }
        Ok(Supervising { sup, handle, ha })
    }
}

/// Build the supervisor for a config. Must be called inside a tokio runtime.
pub fn assemble(
    cfg: &Config,
    connector: Arc<Connector>,
    fencers: BTreeMap<String, Arc<dyn Fencer>>,
) -> anyhow::Result<(Supervisor, SupervisorHandle)> {
    // One journal, one supervisor: refused here, before the journal is opened, if another
    // process supervises from this state folder.
    let lock = cfg.state_dir.as_deref().map(crate::store::lock::StateLock::take).transpose()?;
    let hosts = spawn_hosts(cfg, connector)?;
    let journal = match &cfg.state_dir {
        Some(dir) => Some(Journal::open(&dir.join("journal.db"))?),
        None => None,
    };
    let migration = cfg.hosts.iter().map(|h| (h.name.clone(), h.migration.clone())).collect();
    for w in &cfg.warnings {
        tracing::warn!(target: "3rc", "{}: {w}", cfg.path.display());
    }
    let (witnesses, notes) = crate::fence::witness::from_config(&cfg.witnesses);
    for n in notes {
        tracing::info!(target: "3rc", "{n}");
    }
    let ctx = ExecCtx {
        hosts: Arc::new(hosts),
        fencers: Arc::new(fencers),
        soft_fencers: Arc::new(soft_fencers(cfg)),
        witnesses: Arc::new(witnesses),
        inventory: Arc::new(Inventory::in_memory()),
        timeouts: cfg.timeouts.clone(),
        migration: Arc::new(migration),
        inline: false,
        report: None,
        reinstall_specs: crate::ops::reinstall_specs(&cfg.cluster),
        journal: None,
        resumed_steps: Vec::new(),
        leadership: None,
        share_step: None,
        former_fence: None,
    };
    let mut cluster = cfg.cluster.clone();
    // The votes are the witnesses that can be checked (a gateway witness without a default
    // route is left out, and said so above).
    cluster.witnesses = ctx.witnesses.iter().map(|w| w.name().to_string()).collect();
    let (mut sup, handle) =
        Supervisor::resume(cluster, ctx, cfg.settings.clone(), Arc::new(TokioClock::new()), journal);
    sup.hold(lock);
    Ok((sup, handle))
}

/// Resolves when the process gets SIGINT or SIGTERM.
pub async fn terminated() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

/// The fencer for every host with an agent: "demo" is the demo cluster's built-in agent, any
/// other name a fence-agents command.
pub fn fencers(
    cfg: &Config,
    demo: Option<&Arc<crate::backend::demo::DemoCluster>>,
) -> anyhow::Result<BTreeMap<String, Arc<dyn Fencer>>> {
    for h in &cfg.hosts {
        let Some(f) = h.fence.as_ref().filter(|f| f.agent != "demo") else { continue };
        crate::fence::agent::check_program(&f.agent)
            .map_err(|e| anyhow::anyhow!("{}: host {}: fence agent {e}", cfg.path.display(), h.name))?;
    }
    for h in &cfg.hosts {
        let Some(sf) = &h.soft_fence else { continue };
        crate::fence::agent::check_program(sf.program())
            .map_err(|e| anyhow::anyhow!("{}: host {}: soft_fence command {e}", cfg.path.display(), h.name))?;
    }
    let mut out = command_fencers(cfg);
    for h in &cfg.hosts {
        let Some(f) = &h.fence else { continue };
        if f.agent != "demo" {
            continue;
        }
        let Some(cluster) = demo else {
            anyhow::bail!(
                "host {}: fence agent \"demo\" exists only in `3rc demo`; name a fence-agents program",
                h.name
            );
        };
        let agent = crate::backend::demo::DemoFencer::new(cluster.clone(), &h.name)
            .map_err(|e| anyhow::anyhow!("host {}: {e}", h.name))?;
        out.insert(h.name.clone(), Arc::new(agent));
    }
    Ok(out)
}

/// Where the program's assets are: `--assets`, else next to the source tree it was built from,
/// else `./assets`.
pub fn assets_dir(given: Option<std::path::PathBuf>) -> std::path::PathBuf {
    if let Some(d) = given {
        return d;
    }
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    if built.is_dir() {
        built
    } else {
        std::path::PathBuf::from("assets")
    }
}

/// Where themes are: next to the assets.
pub fn themes_dir(assets: &std::path::Path) -> std::path::PathBuf {
    assets.parent().map(|p| p.join("themes")).unwrap_or_else(|| "themes".into())
}

/// The log file, opened to append (created readable by its owner only, its folder made if
/// needed).
pub fn open_log(file: &std::path::Path) -> anyhow::Result<std::fs::File> {
    ensure_parent(file)?;
    crate::store::files::append_private(file).with_context(|| format!("opening log file {}", file.display()))
}

/// Headless logging: stderr and a file, filter from `RUST_LOG` (default info).
pub fn init_headless_logging(file: &std::path::Path) -> anyhow::Result<()> {
    use tracing_subscriber::prelude::*;
    let f = open_log(file)?;
    let filter = || tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::registry()
        .with(log_feed_layer())
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter()))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .with_filter(filter()),
        )
        .try_init()
        .map_err(|e| anyhow::anyhow!("logging: {e}"))
}

/// Create the folder a file goes in.
pub fn ensure_parent(file: &std::path::Path) -> anyhow::Result<()> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Serve the control socket in the state directory, if there is one: `3rc ctl`, `3rc p2v` and
/// attached consoles, with the config's `[access]`, this process's log and the what-if.
pub async fn control(cfg: &Config, handle: &SupervisorHandle) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    use crate::supervisor::control;
    match &cfg.state_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut server = control::Server::new(handle.clone(), cfg.access.clone(), cfg.path.display().to_string());
            server.logs = Some(log_feed().clone());
            let h = handle.clone();
            server.what_if = Some(std::sync::Arc::new(move |question: String| {
                let h = h.clone();
                Box::pin(async move { simulate::what_if_live(&h, question).await })
            }));
            Ok(Some(control::serve(&dir.join("control.sock"), server).await?))
        }
        None => Ok(None),
    }
}

/// Serve the Prometheus endpoint, if the config has `[metrics] listen`.
pub fn metrics(cfg: &Config, handle: &SupervisorHandle) -> anyhow::Result<()> {
    if let Some(listen) = cfg.metrics {
        let m = crate::supervisor::metrics::Metrics::start(handle);
        crate::supervisor::metrics::serve(listen, m)
            .with_context(|| format!("{}: [metrics] listen", cfg.path.display()))?;
    }
    Ok(())
}

/// One of several supervisors (`[ha]`): campaign for the leadership on etcd; the supervisor
/// decides and acts only while it leads.
/// The leadership is returned, to resign it once the supervisor has stopped
/// (`EtcdLeadership::resign`): a standby then leads at once.
pub async fn ha(
    cfg: &Config,
    sup: &mut crate::supervisor::Supervisor,
) -> anyhow::Result<Option<Arc<crate::ha::EtcdLeadership>>> {
    if let Some(ha) = &cfg.ha {
        let leadership =
            crate::ha::EtcdLeadership::start(ha).await.with_context(|| format!("{}: [ha]", cfg.path.display()))?;
        sup.set_leadership(leadership.clone());
        return Ok(Some(leadership));
    }
    Ok(None)
}

/// Page the config's `[[alert]]` targets with the alarms.
pub fn alerts(cfg: &Config, handle: &SupervisorHandle) {
    if cfg.alerts.is_empty() {
        return;
    }
    let path = std::path::absolute(&cfg.path).unwrap_or_else(|_| cfg.path.clone());
    let origin = crate::supervisor::alerts::Origin {
        cluster: path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        console: format!("3rc console --config {}", path.display()),
    };
    crate::supervisor::alerts::start(handle, cfg.alerts.clone(), origin);
}

/// The layer that copies this process's log (as `RUST_LOG` filters it, default info) to the
/// consoles attached to its supervisor.
pub fn log_feed_layer() -> impl tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync {
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    log_feed().layer().with_filter(filter)
}

/// This process's log lines, for consoles attached to its supervisor: its layer is installed
/// by both ways of logging (headless and the console's).
pub fn log_feed() -> &'static crate::supervisor::control::logs::LogFeed {
    static FEED: std::sync::OnceLock<crate::supervisor::control::logs::LogFeed> = std::sync::OnceLock::new();
    FEED.get_or_init(Default::default)
}

/// `3rc reinstall VM`: the VM must have a reinstall spec, and the consent `reinstall` needs
/// (`core::consent`: the VM's name typed on a terminal, or `--yes`), as `3rc ctl reinstall`.
pub fn confirm_reinstall(cfg: &Config, vm: &str, yes: bool) -> anyhow::Result<crate::core::Confirmation> {
    let spec = cfg.cluster.vms.iter().find(|v| v.name == vm);
    let Some(spec) = spec else {
        anyhow::bail!("{}: no [[vm]] named {vm}", cfg.path.display());
    };
    let Some(r) = &spec.reinstall else {
        anyhow::bail!("{}: VM {vm} has no [vm.reinstall] spec (golden image and template)", cfg.path.display());
    };
    let detail = [
        format!("From scratch: {}.", r.summary()),
        format!("Its disk {}/{} is deleted and made anew; everything on it is lost.", r.disk_pool, r.disk_volume),
    ];
    consent::ask(&crate::core::Command::Reinstall { vm: vm.to_string() }, yes, &detail)
}
