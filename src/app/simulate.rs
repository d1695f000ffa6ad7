//! `3rc simulate`: run a scenario folder on the simulator and print its log, or answer a
//! what-if question about a configured cluster ("host hv2 down": where would every VM go, and
//! why). Both run the real supervisor on the simulated cluster (`sim`, on `backend::sim`); the what-if
//! starts from the real cluster as one read-only probe of every host sees it, or, asked from the
//! console (`w` on a host, `:what-if ...`), as the running supervisor last saw it.

use crate::config::Config;
use crate::core::{ClusterSpec, HostObservation, VmState};
use crate::hv::Connector;
use crate::sim::scenario::{parse_one, ClusterDef, HostDef, HostPolicyDef, PolicyDef, SimCmd, VmDef};
use crate::sim::{self, Case};
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

/// Run a case folder; the log, then a line per safety violation. Err if there was one.
pub fn run_case(dir: &Path) -> anyhow::Result<String> {
    let case = Case::load(dir).map_err(|e| anyhow::anyhow!(e))?;
    let report = on_own_thread(move || sim::run(&case))?;
    let mut out = report.log.join("\n") + "\n";
    if !report.violations.is_empty() {
        for v in &report.violations {
            let _ = writeln!(out, "VIOLATION: {v}");
        }
        print!("{out}");
        bail!("{} safety violation(s)", report.violations.len());
    }
    Ok(out)
}

/// The simulator builds its own virtual-time runtime: run it off the program's runtime. Its
/// supervisor logs nothing: what a simulated copy of the cluster did must never show in the
/// program's log (the console's log pane, the log file) as if it had happened; its events come
/// back in the report.
fn on_own_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> anyhow::Result<R> {
    std::thread::Builder::new()
        .name("3rc-sim".into())
        .spawn(|| tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), f))
        .context("starting the simulator thread")?
        .join()
        .map_err(|_| anyhow::anyhow!("the simulator panicked"))
}

/// Turn "host hv2 down; vm web1 crash" into sim commands at `at`.
pub fn parse_what_if(text: &str, at: u64) -> anyhow::Result<Vec<(u64, SimCmd)>> {
    let mut out = Vec::new();
    for part in text.split([';', ',']).map(str::trim).filter(|p| !p.is_empty()) {
        let w: Vec<&str> = part.split_whitespace().collect();
        let words: Vec<String> = match w.as_slice() {
            ["host", h, "down" | "off" | "dies" | "fails"] => vec!["power".into(), "off".into(), h.to_string()],
            ["host", h, "isolated" | "unreachable"] => vec!["isolate".into(), h.to_string()],
            ["host", h, "hangs" | "hung"] => vec!["hang".into(), h.to_string()],
            ["host", h, "maintenance"] => vec!["op".into(), "maintenance".into(), "on".into(), h.to_string()],
            ["vm", v, "crash" | "crashes"] => vec!["crash".into(), v.to_string()],
            _ => w.iter().map(|s| s.to_string()).collect(),
        };
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        parse_one(at, &refs, &mut out).map_err(|e| {
            anyhow::anyhow!("what-if \"{part}\": {e} (try: host H down | host H isolated | host H hangs | host H maintenance | vm V crash)")
        })?;
    }
    if out.is_empty() {
        bail!("what-if: nothing to simulate");
    }
    Ok(out)
}

/// Probe every configured host once (read-only) and describe the cluster as a sim case.
pub async fn case_from_config(cfg: &Config, connector: Arc<Connector>) -> anyhow::Result<(Case, Vec<String>)> {
    let hosts = super::spawn_hosts(cfg, connector)?;
    let timeout = cfg.settings.probe_timeout;
    let mut observations = Vec::new();
    for h in hosts.values() {
        let result = h.probe(timeout).await.map_err(crate::hv::HvError::into_probe_error);
        observations.push(HostObservation { host: h.name.clone(), result });
    }
    Ok(case_from_observations(&cfg.cluster, &observations))
}

/// The what-if asked from the console: simulated from the running supervisor's last probes
/// (not a fresh look at the hosts), on a thread of its own; the report, or why there is none.
pub async fn what_if_live(handle: &crate::supervisor::SupervisorHandle, question: String) -> Result<String, String> {
    let (spec, observations) = handle.last_probes();
    let view = handle.snapshots().borrow().clone();
    let answer = tokio::task::spawn_blocking(move || {
        let (mut case, mut notes) = case_from_observations(&spec, &observations);
        notes.insert(0, "simulated from the supervisor's last probe of each host".into());
        // What people decided stays decided in the copy: stopped VMs, disarmed VMs or cluster,
        // hosts in maintenance (told to the copy's supervisor at 1 s, before it acts).
        for (cmd, note) in decisions(&view) {
            notes.push(note);
            case.commands.push((1, SimCmd::Op(cmd)));
        }
        what_if(case, &question, &notes)
    })
    .await;
    match answer {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(e) => Err(format!("the what-if stopped: {e}")),
    }
}

/// The operators' standing decisions in a live view, as the commands that make them again.
fn decisions(view: &crate::core::ClusterView) -> Vec<(crate::core::Command, String)> {
    use crate::core::{Command, HostState};
    let mut out = Vec::new();
    if !view.armed {
        out.push((Command::Disarm { vm: None }, "HA is disarmed cluster-wide".to_string()));
    }
    for h in view.hosts.iter().filter(|h| h.state == HostState::Maintenance) {
        out.push((Command::Maintenance { host: h.name.clone(), on: true }, format!("{} is in maintenance", h.name)));
    }
    for v in &view.vms {
        let vm = v.name.clone();
        match v.state {
            VmState::Stopped => out.push((Command::Stop { vm }, format!("{} was stopped by an operator", v.name))),
            VmState::Unmanaged => out.push((Command::Disarm { vm: Some(vm) }, format!("{} is disarmed", v.name))),
            _ => {}
        }
    }
    out
}

/// The sim case for a cluster and one probe of each host; also notes for the reader.
pub fn case_from_observations(cluster: &ClusterSpec, obs: &[HostObservation]) -> (Case, Vec<String>) {
    let mut notes = Vec::new();
    let mut hosts = Vec::new();
    let mut commands = Vec::new();
    let mut seen: BTreeMap<String, (String, bool, u32, u64)> = BTreeMap::new();
    let mut unprotected = Vec::new();
    let protected: std::collections::BTreeSet<&str> = cluster.vms.iter().map(|v| v.name.as_str()).collect();
    for spec in &cluster.hosts {
        let probe = obs.iter().find(|o| o.host == spec.name).and_then(|o| o.result.as_ref().ok());
        let (cpus, mem) = probe.map(|p| (p.capacity.cpus, p.capacity.memory_kib / 1024)).unwrap_or((0, 0));
        hosts.push(HostDef {
            name: spec.name.clone(),
            cpus,
            memory_mib: mem,
            fence: spec.fence_agent.is_some(),
            soft_fence: spec.soft_fence,
            pools: Default::default(),
        });
        let Some(p) = probe else {
            notes.push(format!("{} did not answer the probe: simulated as powered off from the start", spec.name));
            commands.push((0, SimCmd::PowerOff(spec.name.clone())));
            continue;
        };
        for d in &p.domains {
            let active = d.state.is_active();
            let def = (spec.name.clone(), active, d.vcpus, d.memory_kib / 1024);
            if protected.contains(d.name.as_str()) {
                let keep = seen.get(&d.name).is_none_or(|old| !old.1 && active);
                if keep {
                    seen.insert(d.name.clone(), def);
                }
            } else if active {
                unprotected.push(vm_def(&d.name, &def));
            }
        }
    }
    let mut vms = Vec::new();
    for v in &cluster.vms {
        match seen.get(&v.name) {
            Some(def) => vms.push(vm_def(&v.name, def)),
            None => {
                notes.push(format!("{} is defined on no answering host", v.name));
                let host =
                    v.preferred_host.clone().or_else(|| hosts.first().map(|h| h.name.clone())).unwrap_or_default();
                let mut d = vm_def(&v.name, &(host, false, 0, 0));
                d.defined = false;
                vms.push(d);
            }
        }
    }
    let def = ClusterDef {
        seed: 0,
        duration: None,
        policy: PolicyDef::default(),
        host_policy: HostPolicyDef::default(),
        cpu_overcommit: None,
        spare_hosts: None,
        spare_enforce: false,
        mem_overcommit: None,
        hosts,
        vms,
        unprotected,
        // What-if is about the cluster's faults: its witnesses answer throughout.
        witnesses: cluster.witnesses.clone(),
        supervisors: Vec::new(),
        store: Default::default(),
    };
    (Case { cluster: def, commands, spec: Some(cluster.clone()) }, notes)
}

fn vm_def(name: &str, (host, running, vcpus, mem): &(String, bool, u32, u64)) -> VmDef {
    VmDef {
        name: name.to_string(),
        host: host.clone(),
        vcpus: *vcpus,
        memory_mib: *mem,
        priority: 0,
        group: None,
        hosts: Vec::new(),
        prefer: Vec::new(),
        running: *running,
        defined: true,
        max_restart: None,
        max_relocate: None,
        golden: None,
        guest: None,
        after: Vec::new(),
        after_wait: None,
        ready: None,
    }
}

/// Run the what-if on a case: the fault at 5 s, then long enough for detection, fencing,
/// recovery and probation. Returns the report as text.
pub fn what_if(mut case: Case, question: &str, notes: &[String]) -> anyhow::Result<String> {
    const AT: u64 = 5;
    case.commands.extend(parse_what_if(question, AT)?);
    case.commands.sort_by_key(|c| c.0);
    let before: BTreeMap<String, (String, bool)> =
        case.cluster.vms.iter().map(|v| (v.name.clone(), (v.host.clone(), v.running && v.defined))).collect();
    let spec = case.spec();
    let settle = spec.host_policy.fail_threshold as u64
        + spec.vms.iter().map(|v| v.policy.min_uptime.as_secs() + v.policy.ok_threshold as u64).max().unwrap_or(0)
        + 30;
    case.cluster.duration = Some(AT + settle);
    let report = on_own_thread(move || sim::run(&case))?;
    let mut s = String::new();
    let _ =
        writeln!(s, "what if: {question}  (at {AT}.0s, on the real supervisor over a simulated copy of the cluster)");
    for n in notes {
        let _ = writeln!(s, "note: {n}");
    }
    let _ = writeln!(s, "\nwhat happens:");
    let start = format!("{AT}.0s");
    let mut on = false;
    for line in &report.log {
        on = on || line.starts_with(&start);
        if on {
            let _ = writeln!(s, "  {line}");
        }
    }
    let _ = writeln!(s, "\nwhere every VM would be:");
    let _ = writeln!(s, "  {:<14} {:<10} {:<10} {:<14} WHY", "VM", "NOW ON", "THEN ON", "STATE");
    for vm in &report.view.vms {
        let (was, was_running) = before.get(&vm.name).cloned().unwrap_or_default();
        let now = report.truth.get(&vm.name).map(|h| h.join("+")).unwrap_or_else(|| "-".into());
        let why = match (&vm.placement, vm.state) {
            (Some(p), _) if now != was || vm.state == VmState::Pending => p.summary(),
            (_, VmState::Healthy) if now == was => "stays: unaffected".to_string(),
            _ => vm.reason.clone(),
        };
        let was = if was_running { was } else { format!("({was})") };
        let _ = writeln!(s, "  {:<14} {:<10} {:<10} {:<14} {why}", vm.name, was, now, vm.state.label());
    }
    if !report.violations.is_empty() {
        let _ = writeln!(s, "\nSAFETY VIOLATIONS: {:?}", report.violations);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_if_questions_become_sim_commands() {
        let cmds = parse_what_if("host hv2 down; vm web1 crash, host hv3 isolated", 5).unwrap();
        assert_eq!(
            cmds,
            vec![
                (5, SimCmd::PowerOff("hv2".into())),
                (5, SimCmd::Crash("web1".into())),
                (5, SimCmd::Isolate("hv3".into()))
            ]
        );
        assert_eq!(parse_what_if("fence hv1 fails 2", 5).unwrap(), vec![(5, SimCmd::FenceFails("hv1".into(), 2))]);
        assert!(parse_what_if("host hv1 explodes", 5).unwrap_err().to_string().contains("try: host H down"));
        assert!(parse_what_if(" ; ", 5).is_err());
    }
}
