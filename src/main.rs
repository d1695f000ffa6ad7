//! The `3rc` binary: parses the command line and hands over to the application shell.

use clap::Parser;
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

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::Status { config, json } => {
            let cfg = Config::load(&config)?;
            let view = app::status::probe_once(&cfg, app::libvirt_connector()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print!("{}", app::status::render(&view));
            }
            Ok(())
        }
        Cmd::Run { config, headless, theme, log_file } => {
            let cfg = Config::load(&config)?;
            let log = log_file.unwrap_or_else(|| cfg.state_dir.clone().unwrap_or_default().join("3rc.log"));
            let fencers = app::fencers(&cfg, None)?;
            if headless {
                app::init_headless_logging(&log)?;
                let (sup, _handle) = app::assemble(&cfg, app::libvirt_connector(), fencers)?;
                sup.run(app::terminated()).await;
                return Ok(());
            }
            let theme = load_theme(theme.or(cfg.console.theme.clone()), &app::assets_dir(None))?;
            app::ensure_parent(&log)?;
            threerc::ui::init_logging(Some(&log))?;
            let (sup, handle) = app::assemble(&cfg, app::libvirt_connector(), fencers)?;
            app::console::run(sup, handle, theme, format!("3RC {}", cfg.path.display()), None).await
        }
        Cmd::Simulate { case, config, what_if } => match (case, config, what_if) {
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
        },
        Cmd::Demo { assets, theme, no_faults, seed, log_file } => {
            let assets = app::assets_dir(assets);
            let cfg = Config::load(&assets.join("demo").join("cluster.toml"))?;
            let theme = load_theme(theme.or(cfg.console.theme.clone()), &assets)?;
            let log = log_file.unwrap_or_else(|| std::env::temp_dir().join("3rc-demo.log"));
            threerc::ui::init_logging(Some(&log))?;
            threerc::backend::libvirt::init();
            let cluster = threerc::backend::demo::DemoCluster::from_specs(&cfg.cluster.hosts);
            cluster.set_latency(std::time::Duration::from_millis(1500), std::time::Duration::from_secs(3));
            let fencers = app::fencers(&cfg, Some(&cluster))?;
            let connector: Arc<threerc::supervisor::seams::Connector> = Arc::from(cluster.connector());
            let (sup, handle) = app::assemble(&cfg, connector, fencers)?;
            let enabled = Arc::new(AtomicBool::new(!no_faults));
            let vms = cfg.cluster.vms.iter().map(|v| v.name.clone()).collect();
            let injector = threerc::backend::demo::FaultInjector::spawn(
                cluster.clone(),
                threerc::backend::demo::InjectorConfig::new(seed, vms),
                enabled.clone(),
            )?;
            let result = app::console::run(sup, handle, theme, "3RC demo".into(), Some(enabled)).await;
            drop(injector);
            result
        }
    }
}

fn load_theme(name: Option<String>, assets: &std::path::Path) -> anyhow::Result<threerc::ui::Theme> {
    match name {
        None => Ok(threerc::ui::Theme::builtin_default()),
        Some(n) => threerc::ui::Theme::load(&n, &app::themes_dir(assets)),
    }
}
