//! The `3rc` binary: parses the command line and hands over to the application shell.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use threerc::app::{self, cli::Cli, cli::Cmd};
use threerc::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("3rc-rt").build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("3rc: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("3rc: error: {e:#}");
            if e.downcast_ref::<threerc::config::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Each mode is one function below.
async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::Status { config, json } => status(config, json).await,
        Cmd::Check { config } => check(config),
        Cmd::Reinstall { config, vm, yes } => reinstall(config, vm, yes).await,
        Cmd::Ctl { config, json, yes, words } => ctl(config, json, yes, words).await,
        Cmd::Run { config, headless, theme, readonly, log_file } => {
            run_supervisor(config, headless, theme, readonly, log_file).await
        }
        Cmd::Console { config, socket, theme, readonly, log_file } => {
            console(config, socket, theme, readonly, log_file).await
        }
        Cmd::Simulate { case, config, what_if } => simulate(case, config, what_if).await,
        Cmd::Completions { shell } => completions(shell),
        Cmd::Man => man(),
        Cmd::P2v(args) => p2v(*args).await,
        Cmd::Demo { assets, theme, no_faults, seed, readonly, log_file, config } => {
            demo(assets, theme, no_faults, seed, readonly, log_file, config).await
        }
    }
}

/// `3rc status`: probe every host once and print the cluster.
async fn status(config: PathBuf, json: bool) -> anyhow::Result<()> {
    let cfg = Config::load(&config)?;
    let view = app::status::probe_once(&cfg, app::libvirt_connector()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print!("{}", app::status::render(&view));
    }
    Ok(())
}

/// `3rc check`: whether the file can be used, and whether it is what the supervisor runs on.
fn check(config: PathBuf) -> anyhow::Result<()> {
    let cfg = Config::load(&config)?;
    println!("{}: can be used: {} hosts, {} VMs", config.display(), cfg.cluster.hosts.len(), cfg.cluster.vms.len());
    for w in &cfg.warnings {
        println!("warning: {w}");
    }
    if let Some(dir) = &cfg.state_dir {
        let copy = dir.join(threerc::config::lastgood::LAST_GOOD);
        match std::fs::read_to_string(&copy) {
            Ok(kept) if kept == std::fs::read_to_string(&config)? => {
                println!("the same as the last good config 3rc ran with ({})", copy.display())
            }
            Ok(_) => {
                println!("differs from the last good config 3rc ran with ({}): restart 3rc to apply it", copy.display())
            }
            Err(_) => println!("no last good config kept yet ({})", copy.display()),
        }
    }
    Ok(())
}

/// The config of `path` for reaching a running supervisor: the file's, or the last good one
/// standing in for it (said on stderr).
fn reach(path: &std::path::Path) -> anyhow::Result<Config> {
    let loaded = threerc::config::lastgood::load_or_last_good(path)?;
    if let Some(f) = &loaded.fallback {
        eprintln!("warning: {}", f.warning());
    }
    Ok(loaded.config)
}

/// `3rc reinstall VM`: the consent reinstall needs, then the command through the control socket.
async fn reinstall(config: PathBuf, vm: String, yes: bool) -> anyhow::Result<()> {
    let cfg = Config::load(&config)?;
    let confirmed = app::confirm_reinstall(&cfg, &vm, yes)?;
    let Some(dir) = &cfg.state_dir else {
        anyhow::bail!("{}: no state_dir, so no control socket: set state_dir to reinstall", config.display());
    };
    let words = vec!["reinstall".to_string(), vm.clone()];
    let reply = threerc::supervisor::control::request(&dir.join("control.sock"), words, Some(confirmed)).await?;
    match (reply.ok, reply.error) {
        (true, _) => {
            println!("accepted: {vm} is being reinstalled (watch it with `3rc ctl -c {} status`)", config.display())
        }
        (false, e) => anyhow::bail!("refused: {}", e.unwrap_or_default()),
    }
    Ok(())
}

/// `3rc ctl`: one command (or `status`) to the running supervisor, with the consent it needs.
async fn ctl(config: PathBuf, json: bool, yes: bool, mut words: Vec<String>) -> anyhow::Result<()> {
    // `--yes` after the command's words (`3rc ctl -c F restart web1 --yes`) counts too.
    let yes = yes | words.iter().any(|w| w == "--yes");
    words.retain(|w| w != "--yes");
    let cfg = reach(&config)?;
    let Some(dir) = &cfg.state_dir else {
        anyhow::bail!("{}: no state_dir, so no control socket: set state_dir to use `3rc ctl`", config.display());
    };
    let socket = dir.join("control.sock");
    let reply = match words.split_first() {
        Some((verb, rest)) if verb == "protect" => {
            let Some((vm, settings)) = rest.split_first() else {
                anyhow::bail!("protect takes a VM and optional KEY=VALUE settings: protect web1 max_restart=1");
            };
            let spec = cfg.protect_spec(vm, settings).map_err(anyhow::Error::msg)?;
            let cmd = threerc::core::Command::Protect { spec: Box::new(spec) };
            threerc::supervisor::control::request_command(&socket, cmd).await?
        }
        Some((verb, _)) if verb == "status" => threerc::supervisor::control::request(&socket, words, None).await?,
        _ => {
            let cmd = threerc::core::Command::parse(&words.iter().map(String::as_str).collect::<Vec<_>>())
                .map_err(anyhow::Error::msg)?;
            let confirmed = app::consent::ask(&cmd, yes, &[])?;
            threerc::supervisor::control::request(&socket, words, Some(confirmed)).await?
        }
    };
    if let Some(w) = &reply.warning {
        eprintln!("warning: {w}");
    }
    match (reply.ok, reply.status, reply.error) {
        (true, Some(view), _) if json => println!("{}", serde_json::to_string_pretty(&view)?),
        (true, Some(view), _) => print!("{}", app::status::render(&view)),
        (true, None, _) => println!("accepted"),
        (false, _, e) => anyhow::bail!("refused: {}", e.unwrap_or_default()),
    }
    Ok(())
}

/// `3rc run`: the supervisor of a config, with the console or headless.
async fn run_supervisor(
    config: PathBuf,
    headless: bool,
    theme: Option<String>,
    readonly: bool,
    log_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    // A file that cannot be used, when an earlier run kept a good one: that one, and an alarm.
    let loaded = threerc::config::lastgood::load_or_last_good(&config)?;
    let cfg = &loaded.config;
    let log = log_file.unwrap_or_else(|| cfg.state_dir.clone().unwrap_or_default().join("3rc.log"));
    let fencers = app::fencers(cfg, None)?;
    if headless {
        app::init_headless_logging(&log)?;
        let notifier = app::service::Notifier::from_env()?.map(Arc::new);
        let app::Supervising { sup, handle, ha } = app::Supervising::start(&loaded, fencers).await?;
        let _watchdog = app::service::ready(&notifier, &handle, cfg.settings.interval);
        sup.run(async {
            app::terminated().await;
            app::service::stopping(&notifier);
        })
        .await;
        if let Some(l) = ha {
            l.resign().await;
        }
        return Ok(());
    }
    let theme = load_theme(theme, cfg.console.theme.as_deref(), &app::assets_dir(None))?;
    threerc::ui::init_logging(Some(app::open_log(&log)?), app::log_feed_layer())?;
    let app::Supervising { sup, handle, ha } = app::Supervising::start(&loaded, fencers).await?;
    let mut console = cfg.console.clone();
    console.readonly |= readonly;
    let source = cfg.path.display().to_string();
    let p2v = Some(app::console::P2vDriver::new(cfg.clone(), app::libvirt_connector()));
    let setup = app::console::ConsoleSetup { theme, title: format!("3RC {source}"), config: console, source, p2v };
    let result = app::console::run(sup, handle, setup, None).await;
    if let Some(l) = ha {
        l.resign().await;
    }
    result
}

/// `3rc console`: the console attached to a running supervisor.
async fn console(
    config: Option<PathBuf>,
    socket: Option<PathBuf>,
    theme: Option<String>,
    readonly: bool,
    log_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let cfg = config.as_deref().map(reach).transpose()?;
    let socket = match (&cfg, socket) {
        (_, Some(s)) => s,
        (Some(cfg), None) => app::attach::socket_of(cfg)?,
        (None, None) => anyhow::bail!("console: give --config FILE or --socket PATH"),
    };
    let console = cfg.as_ref().map(|c| c.console.clone()).unwrap_or_default();
    let theme = load_theme(theme, console.theme.as_deref(), &app::assets_dir(None))?;
    let log = log_file.unwrap_or_else(app::attach::default_log);
    threerc::ui::init_logging(Some(app::open_log(&log)?), tracing_subscriber::layer::Identity::new())?;
    let source = cfg.as_ref().map(|c| c.path.display().to_string()).unwrap_or_else(|| socket.display().to_string());
    let p2v = cfg.map(|c| app::console::P2vDriver::new(c, app::libvirt_connector()));
    let mut config = console;
    config.readonly |= readonly;
    let title = format!("3RC {source} (attached)");
    let setup = app::console::ConsoleSetup { theme, title, config, source, p2v };
    app::attach::run(socket, setup).await
}

/// `3rc completions SHELL`: the completion script, from the command line's definition.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "3rc", &mut std::io::stdout());
    Ok(())
}

/// `3rc man`: the manual page, from the command line's definition (its subcommands included).
fn man() -> anyhow::Result<()> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    // One section per subcommand, with its options, after the page's own.
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let man = clap_mangen::Man::new(sub.clone());
        std::io::Write::write_all(&mut out, format!(".SH \"3RC {}\"\n", sub.get_name().to_uppercase()).as_bytes())?;
        man.render_description_section(&mut out)?;
        man.render_options_section(&mut out)?;
    }
    Ok(())
}

/// `3rc simulate`: a scenario folder, or a what-if over a live cluster.
async fn simulate(case: Option<PathBuf>, config: Option<PathBuf>, what_if: Option<String>) -> anyhow::Result<()> {
    match (case, config, what_if) {
        (Some(dir), None, None) => {
            print!("{}", app::simulate::run_case(&dir)?);
            Ok(())
        }
        (None, Some(config), Some(question)) => {
            let cfg = Config::load(&config)?;
            let (case, notes) = app::simulate::case_from_config(&cfg, app::libvirt_connector()).await?;
            print!("{}", app::simulate::what_if(case, &question, &notes)?);
            Ok(())
        }
        _ => anyhow::bail!("simulate: give a scenario folder, or --config FILE --what-if \"host hv2 down\""),
    }
}

/// `3rc demo`: the console on the embedded demo cluster, with its fault injector.
async fn demo(
    assets: Option<PathBuf>,
    theme: Option<String>,
    no_faults: bool,
    seed: u64,
    readonly: bool,
    log_file: Option<PathBuf>,
    config: Option<PathBuf>,
) -> anyhow::Result<()> {
    let assets = app::assets_dir(assets);
    let mut cfg = Config::load(&assets.join("demo").join("cluster.toml"))?;
    if let Some(path) = config {
        // Its alerting, metrics and console; the cluster (hosts, VMs, policies) stays the demo's.
        let other = Config::load(&path)?;
        cfg.alerts = other.alerts;
        cfg.metrics = other.metrics;
        cfg.console = other.console;
    }
    let theme = load_theme(theme, cfg.console.theme.as_deref(), &assets)?;
    let log = log_file.unwrap_or_else(|| std::env::temp_dir().join("3rc-demo.log"));
    threerc::ui::init_logging(Some(app::open_log(&log)?), app::log_feed_layer())?;
    threerc::backend::libvirt::init();
    let cluster = threerc::backend::demo::DemoCluster::from_specs(&cfg.cluster.hosts);
    cluster.set_latency(std::time::Duration::from_millis(1500), std::time::Duration::from_secs(3));
    let fencers = app::fencers(&cfg, Some(&cluster))?;
    let connector: Arc<threerc::hv::Connector> = Arc::from(cluster.connector());
    let (sup, handle) = app::assemble(&cfg, connector.clone(), fencers)?;
    app::metrics(&cfg, &handle)?;
    let origin = threerc::supervisor::alerts::Origin { cluster: "demo".into(), console: "3rc demo".into() };
    threerc::supervisor::alerts::start(&handle, cfg.alerts.clone(), origin);
    let enabled = Arc::new(AtomicBool::new(!no_faults));
    let vms = cfg.cluster.vms.iter().map(|v| v.name.clone()).collect();
    let injector = threerc::backend::demo::FaultInjector::spawn(
        cluster.clone(),
        threerc::backend::demo::InjectorConfig::new(seed, vms),
        enabled.clone(),
    )?;
    let mut console = cfg.console.clone();
    console.readonly |= readonly;
    let source = cfg.path.display().to_string();
    // The demo's hosts are test-driver hosts: the wizard works up to the run, whose
    // upload they refuse with a clear error.
    let p2v = Some(app::console::P2vDriver::new(cfg.clone(), connector.clone()));
    let setup = app::console::ConsoleSetup { theme, title: "3RC demo".into(), config: console, source, p2v };
    let result = app::console::run(sup, handle, setup, Some(enabled)).await;
    drop(injector);
    result
}

async fn p2v(args: threerc::app::cli::P2vArgs) -> anyhow::Result<()> {
    let cfg = Config::load(&args.config)?;
    let answers = args.answers();
    let socket = cfg.state_dir.as_ref().map(|d| d.join("control.sock"));
    if answers.protect && args.yes && !args.dry_run {
        // Checked before anything is copied: protecting is the last step.
        let Some(socket) = &socket else {
            anyhow::bail!(
                "{}: no state_dir, so no supervisor to protect the VM: set state_dir and run `3rc run`, or pass --no-protect",
                args.config.display()
            );
        };
        threerc::supervisor::control::request(socket, vec!["status".into()], None)
            .await
            .map_err(|e| anyhow::anyhow!("protect: {e:#}; or pass --no-protect"))?;
    }
    let cancel = threerc::p2v::copy::Cancel::default();
    let on_signal = cancel.clone();
    let signals = tokio::spawn(async move {
        app::terminated().await;
        eprintln!("p2v: cancelling: removing what was made");
        on_signal.cancel();
    });
    let opts = app::p2v::Headless { yes: args.yes, dry_run: args.dry_run };
    let rt = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        let mut protect = |spec: &threerc::core::VmSpec| -> Result<(), String> {
            let socket = socket.clone().ok_or("no state_dir")?;
            let cmd = threerc::core::Command::Protect { spec: Box::new(spec.clone()) };
            let reply = rt
                .block_on(threerc::supervisor::control::request_command(&socket, cmd))
                .map_err(|e| format!("{e:#}"))?;
            if reply.ok {
                Ok(())
            } else {
                Err(format!("refused: {}", reply.error.unwrap_or_default()))
            }
        };
        app::p2v::run_headless(&cfg, answers, &opts, app::libvirt_connector(), &cancel, &mut protect)
    })
    .await?;
    signals.abort();
    result
}

fn load_theme(
    cli: Option<String>,
    config: Option<&str>,
    assets: &std::path::Path,
) -> anyhow::Result<threerc::ui::Theme> {
    let no_color = std::env::var_os("NO_COLOR");
    threerc::ui::Theme::select(cli.as_deref(), config, no_color.as_deref(), &app::themes_dir(assets))
}
