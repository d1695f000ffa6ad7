//! `3rc p2v`: the headless P2V. The same answers as the console wizard, as arguments; without
//! `--yes` (or with `--dry-run`) it tests the connection, takes the inventory, checks the plan
//! against the target and prints both, and changes nothing. Progress goes to stderr.

use crate::config::Config;
use crate::core::HostSpec;
use crate::hv::{Connector, HvError, Hypervisor};
use crate::p2v::copy::Cancel;
use crate::p2v::plan::{Answers, TargetFacts};
use crate::p2v::run::{self, Note};
use std::sync::Arc;

/// What the command line says besides the answers.
pub struct Headless {
    pub yes: bool,
    pub dry_run: bool,
}

/// Everything the target host has that the plan is checked against.
pub fn target_facts(hv: &mut dyn Hypervisor, host: &str) -> Result<TargetFacts, String> {
    let err = |what: &'static str| move |e: HvError| format!("host {host}: {what}: {e}");
    let mut pools = Vec::new();
    for p in hv.storage().map_err(err("storage pools"))? {
        let info = hv.pool_info(&p.name).map_err(err("storage pool"))?;
        let vols = if info.active { hv.volumes(&p.name).map_err(err("volumes"))? } else { Vec::new() };
        pools.push((info, vols));
    }
    let networks = match hv.networks() {
        Ok(n) => n,
        Err(HvError::Unsupported(_)) => Vec::new(),
        Err(e) => return Err(err("networks")(e)),
    };
    let domains = hv.probe().map_err(err("domains"))?.domains.into_iter().map(|d| d.name).collect();
    let domain_type = hv.domain_type().map_err(err("capabilities"))?;
    Ok(TargetFacts { host: host.to_string(), pools, networks, domains, domain_type, others: Vec::new() })
}

/// The domains of every host of the config but `target`, each read through libvirt, or why it
/// could not be: a P2V's name must be new to the whole cluster.
pub fn other_hosts_domains(
    cfg: &Config,
    connector: &crate::hv::Connector,
    target: &str,
) -> Vec<(String, Result<Vec<String>, String>)> {
    cfg.hosts
        .iter()
        .filter(|h| h.name != target)
        .map(|h| {
            let spec = HostSpec { name: h.name.clone(), uri: h.uri.clone(), fence_agent: None, soft_fence: false };
            let names = connector(&spec).probe().map(|p| p.domains.into_iter().map(|d| d.name).collect());
            (h.name.clone(), names.map_err(|e| e.to_string()))
        })
        .collect()
}

/// The whole headless run. Blocking (ssh, libvirt): call it from a blocking thread. `protect`
/// reaches the supervisor; `cancel` is set by SIGINT.
pub fn run_headless(
    cfg: &Config,
    mut answers: Answers,
    opts: &Headless,
    connector: Arc<Connector>,
    cancel: &Cancel,
    protect: &mut dyn FnMut(&crate::core::VmSpec) -> Result<(), String>,
) -> anyhow::Result<()> {
    let source = answers.source().map_err(anyhow::Error::msg)?;
    eprintln!("p2v: testing the connection to {}", source.describe());
    let hello = source.test_connection().map_err(anyhow::Error::msg)?;
    eprintln!("p2v: {hello}");
    let inv = source.inventory().map_err(|e| anyhow::anyhow!("inventory: {e}"))?;
    answers.defaults_from(&inv);
    for l in inv.describe() {
        println!("{l}");
    }
    let Some(host) = cfg.hosts.iter().find(|h| h.name == answers.host) else {
        let known: Vec<&str> = cfg.hosts.iter().map(|h| h.name.as_str()).collect();
        anyhow::bail!("target {:?}: not a host of {} (hosts: {})", answers.host, cfg.path.display(), known.join(", "));
    };
    let spec = HostSpec { name: host.name.clone(), uri: host.uri.clone(), fence_agent: None, soft_fence: false };
    let mut hv = connector(&spec);
    let mut facts = target_facts(hv.as_mut(), &host.name).map_err(anyhow::Error::msg)?;
    facts.others = other_hosts_domains(cfg, &*connector, &host.name);
    let plan = answers.build(&inv, &facts, cfg).map_err(anyhow::Error::msg)?;
    println!("plan:");
    for l in plan.review(&inv) {
        println!("  {l}");
    }
    if opts.dry_run || !opts.yes {
        println!("nothing done: {}", if opts.dry_run { "dry run" } else { "add --yes to run this plan" });
        return Ok(());
    }
    let mut last = std::time::Instant::now() - std::time::Duration::from_secs(10);
    let mut note = |n: Note| match n {
        Note::Step(s) => eprintln!("p2v: {s}"),
        Note::Progress(p) => {
            // One line a second (and the last), so a log stays readable.
            if last.elapsed() >= std::time::Duration::from_secs(1) || p.done == p.total {
                last = std::time::Instant::now();
                eprintln!("p2v: {p}");
            }
        }
    };
    let report = run::execute(&plan, hv.as_mut(), cancel, &mut note, protect).map_err(anyhow::Error::msg)?;
    for l in report.summary(&plan) {
        println!("{l}");
    }
    Ok(())
}
