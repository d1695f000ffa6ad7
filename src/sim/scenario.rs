//! A scenario: the cluster (`cluster.toml`) and a timed list of faults and operator commands
//! (`commands`), as kept in `tests/scenarios/<case>/`.
//!
//! `commands` has one line per command, `SECOND VERB ARGS...`; `#` starts a comment:
//!
//! ```text
//! 10 power off hv1          # also: power on H
//! 10 isolate hv1            # link down, VMs keep running; reconnect H
//! 10 hang hv1               # libvirtd hangs; unhang H
//! 10 storage pause hv1      # storage resume H
//! 10 crash web1
//! 10 guest hang web1        # the guest hangs, qemu runs on (until a start); guest watchdog web1:
//!                           # it hangs and its watchdog fires; guest agent-stops|agent-ok web1;
//!                           # guest port-closes|port-opens web1 (its tcp and http checks)
//! 10 fail-starts web1 2     # the next 2 starts fail; fail-starts web1 2 hv2: on hv2 only
//! 10 slow-start web1 20     # the next start times out, the VM boots 20 s later
//! 10 migrate-fails web1 paused   # or: both
//! 10 fence hv1 fails 2      # fence H hangs | fence H works | fence H lies | fence H slow N
//! 10 probe-loss hv1 30      # percent of probes lost
//! 10 flap hv1 2 5 4         # 4 times: link down 2 s, up 5 s
//! 10 boot web1              # someone starts it by hand; move-outside VM H; duplicate-outside VM H
//! 10 restart-supervisor     # a new supervisor over the same cluster and inventory
//! 10 isolate-supervisor     # 3RC's own link down: no host, no witness answers; reconnect-supervisor
//!
//! Several supervisors (`supervisors = ["sup1", "sup2", "sup3"]` in cluster.toml, on an
//! in-memory etcd):
//! 10 kill sup1              # kill -9; start sup1 (again, over its journal)
//! 10 pause sup1 5           # not scheduled for 5 s (SIGSTOP), then runs on
//! 10 cut-store sup1         # its link to etcd; reconnect-store sup1
//! 10 cut sup1 hv2           # its link to hv2 only; mend sup1 hv2
//! 10 isolate-supervisor sup1  # cut from everything, etcd too; reconnect-supervisor sup1
//! 10 store down             # etcd loses its quorum; store up
//!
//! 10 witness gw down        # a quorum witness (cluster.toml: witnesses = ["gw"]); witness W up
//! 10 delete-volume hv1 golden/base.qcow2   # someone deletes a volume outside 3RC
//! 10 op migrate web1 hv2    # operator commands: start, stop, restart, reinstall VM,
//!                           # arm [VM], disarm [VM], maintenance on|off H, confirm-off H, ack N
//! ```

use crate::core::{ClusterSpec, Command, HostPolicy, HostSpec, PlacementPolicy, Policy, VmSpec};
use std::path::Path;
use std::time::Duration;

pub use super::cluster::{ClusterDef, GuestDef, HostDef, HostPolicyDef, PolicyDef, VmDef};

/// One timed entry of `commands`.
#[derive(Clone, Debug, PartialEq)]
pub enum SimCmd {
    PowerOff(String),
    PowerOn(String),
    Isolate(String),
    Reconnect(String),
    Hang(String),
    Unhang(String),
    StoragePause(String),
    StorageResume(String),
    Crash(String),
    /// A fault of a VM's guest (`[vm.guest]` probes).
    Guest(String, GuestFault),
    /// The next N starts of the VM fail (on that host only, if one is named).
    FailStarts(String, u32, Option<String>),
    SlowStart(String, u64),
    MigrateFails(String, crate::backend::sim::MigrateFail),
    FenceFails(String, u32),
    FenceHangs(String),
    FenceWorks(String),
    /// The fence agent answers "off" whatever the power, and "done" to off.
    FenceLies(String),
    /// The host's power goes off N s after its agent accepts `off`.
    FenceSlow(String, u64),
    /// The host's libvirtd stops (connections refused, host alive); `dead`: a soft fence
    /// cannot start it; `up`: it runs again.
    Daemon(String, crate::backend::sim::world::Daemon),
    ProbeLoss(String, u32),
    /// A person starts the VM by hand where it is defined (outside 3RC).
    Boot(String),
    /// A person moves the VM to another host outside 3RC.
    MoveOutside(String, String),
    /// A person starts a second copy on another host: an injected double run.
    DuplicateOutside(String, String),
    RestartSupervisor,
    /// The supervisor's own link goes down: it reaches no host and no witness (the hosts and
    /// their VMs run on; fence devices still answer, so only quorum holds a fence back).
    IsolateSupervisor,
    ReconnectSupervisor,
    /// Several supervisors (`supervisors = [...]` in `cluster.toml`): one of them is killed
    /// (`kill -9`: its lease runs out, its journal stays) / started again over its journal.
    Kill(String),
    Start(String),
    /// One stops being scheduled for N s (SIGSTOP, a VM freeze), then runs on.
    Pause(String, u64),
    /// One's link to the lease store (etcd) goes down / comes back.
    CutStore(String),
    ReconnectStore(String),
    /// One's link to one host goes down / comes back (the others still reach it).
    CutLink(String, String),
    MendLink(String, String),
    /// One is cut from everything: hosts, fence devices, witnesses and the store.
    IsolateOne(String),
    ReconnectOne(String),
    /// The lease store loses its quorum (it answers nobody) / regains it.
    StoreDown,
    StoreUp,
    /// A quorum witness stops / starts answering.
    WitnessDown(String),
    WitnessUp(String),
    /// A person deletes a volume outside 3RC (host, pool, volume).
    DeleteVolume(String, String, String),
    Op(Command),
}

impl std::fmt::Display for SimCmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimCmd::PowerOff(h) => write!(f, "power off {h}"),
            SimCmd::PowerOn(h) => write!(f, "power on {h}"),
            SimCmd::Isolate(h) => write!(f, "isolate {h} (link down, VMs keep running)"),
            SimCmd::Reconnect(h) => write!(f, "reconnect {h}"),
            SimCmd::IsolateSupervisor => write!(f, "isolate-supervisor (3RC's own link down, hosts run on)"),
            SimCmd::ReconnectSupervisor => write!(f, "reconnect-supervisor"),
            SimCmd::Kill(n) => write!(f, "kill -9 {n}"),
            SimCmd::Start(n) => write!(f, "start {n} again (over its journal)"),
            SimCmd::Pause(n, s) => write!(f, "pause {n} for {s} s"),
            SimCmd::CutStore(n) => write!(f, "cut {n} from etcd"),
            SimCmd::ReconnectStore(n) => write!(f, "reconnect {n} to etcd"),
            SimCmd::CutLink(n, h) => write!(f, "cut {n}'s link to {h} (the others reach it)"),
            SimCmd::MendLink(n, h) => write!(f, "mend {n}'s link to {h}"),
            SimCmd::IsolateOne(n) => write!(f, "isolate {n} from everything (hosts, witnesses, fence devices, etcd)"),
            SimCmd::ReconnectOne(n) => write!(f, "reconnect {n} to everything"),
            SimCmd::StoreDown => write!(f, "etcd loses its quorum"),
            SimCmd::StoreUp => write!(f, "etcd regains its quorum"),
            SimCmd::WitnessDown(w) => write!(f, "witness {w} down"),
            SimCmd::WitnessUp(w) => write!(f, "witness {w} up"),
            SimCmd::Hang(h) => write!(f, "hang libvirtd on {h}"),
            SimCmd::Unhang(h) => write!(f, "unhang libvirtd on {h}"),
            SimCmd::StoragePause(h) => write!(f, "storage pause on {h}"),
            SimCmd::StorageResume(h) => write!(f, "storage resume on {h}"),
            SimCmd::Crash(v) => write!(f, "crash {v}"),
            SimCmd::Guest(v, g) => match g {
                GuestFault::Hang => write!(f, "the guest of {v} hangs (qemu runs on)"),
                GuestFault::Watchdog => write!(f, "the guest of {v} hangs and its watchdog fires"),
                GuestFault::AgentStops => write!(f, "the guest agent of {v} stops answering"),
                GuestFault::AgentOk => write!(f, "the guest agent of {v} answers again"),
                GuestFault::PortCloses => write!(f, "the service port of {v} closes"),
                GuestFault::PortOpens => write!(f, "the service port of {v} opens again"),
            },
            SimCmd::FailStarts(v, n, None) => write!(f, "next {n} starts of {v} fail"),
            SimCmd::FailStarts(v, n, Some(h)) => write!(f, "next {n} starts of {v} on {h} fail"),
            SimCmd::SlowStart(v, s) => write!(f, "next start of {v} is slow ({s} s)"),
            SimCmd::MigrateFails(v, crate::backend::sim::MigrateFail::PausedOnSource) => {
                write!(f, "next migration of {v} fails midway (paused on source)")
            }
            SimCmd::MigrateFails(v, crate::backend::sim::MigrateFail::DefinedOnBoth) => {
                write!(f, "next migration of {v} fails (left defined on both hosts)")
            }
            SimCmd::FenceFails(h, n) => write!(f, "fence agent of {h} fails its next {n} off command(s)"),
            SimCmd::FenceHangs(h) => write!(f, "fence agent of {h} hangs"),
            SimCmd::FenceWorks(h) => write!(f, "fence agent of {h} works"),
            SimCmd::FenceLies(h) => write!(f, "fence agent of {h} lies (says off while the host runs)"),
            SimCmd::FenceSlow(h, n) => write!(f, "fence agent of {h} is slow: the power goes off {n} s after off"),
            SimCmd::Daemon(h, crate::backend::sim::world::Daemon::Up) => write!(f, "libvirtd on {h} up"),
            SimCmd::Daemon(h, crate::backend::sim::world::Daemon::Down) => {
                write!(f, "libvirtd on {h} down (connections refused, host and VMs run on)")
            }
            SimCmd::Daemon(h, crate::backend::sim::world::Daemon::Dead) => {
                write!(f, "libvirtd on {h} dead (refused, and a soft fence cannot start it)")
            }
            SimCmd::ProbeLoss(h, p) => write!(f, "probe loss {p}% on {h}"),
            SimCmd::Boot(v) => write!(f, "someone starts {v} by hand, outside 3RC"),
            SimCmd::MoveOutside(v, h) => write!(f, "someone moves {v} to {h} outside 3RC"),
            SimCmd::DuplicateOutside(v, h) => write!(f, "someone starts a second copy of {v} on {h} outside 3RC"),
            SimCmd::RestartSupervisor => write!(f, "restart the supervisor (a new engine over the same journal)"),
            SimCmd::DeleteVolume(h, p, v) => write!(f, "someone deletes volume {p}/{v} on {h}"),
            SimCmd::Op(c) => write!(f, "operator: {c}"),
        }
    }
}

/// A fault of a guest, as its guest probes see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestFault {
    Hang,
    Watchdog,
    AgentStops,
    AgentOk,
    PortCloses,
    PortOpens,
}

/// A whole case.
#[derive(Clone, Debug)]
pub struct Case {
    pub cluster: ClusterDef,
    /// (second, command), sorted by time (stable).
    pub commands: Vec<(u64, SimCmd)>,
    /// The core's configuration, when it comes from a real config file (what-if) rather than
    /// from `cluster`'s policy knobs; host URIs are replaced by `sim://NAME`.
    pub spec: Option<ClusterSpec>,
}

impl Case {
    pub fn load(dir: &Path) -> Result<Case, String> {
        let read =
            |f: &str| std::fs::read_to_string(dir.join(f)).map_err(|e| format!("{}: {e}", dir.join(f).display()));
        let cluster =
            parse_cluster(&read("cluster.toml")?).map_err(|e| format!("{}/cluster.toml: {e}", dir.display()))?;
        let commands = match dir.join("commands").exists() {
            true => parse_commands(&read("commands")?).map_err(|e| format!("{}/commands: {e}", dir.display()))?,
            false => Vec::new(),
        };
        Ok(Case { cluster, commands, spec: None })
    }

    pub fn duration(&self) -> u64 {
        self.cluster.duration.unwrap_or_else(|| self.commands.last().map(|c| c.0).unwrap_or(0) + 60)
    }

    /// The core's view of the configuration.
    pub fn spec(&self) -> ClusterSpec {
        if let Some(spec) = &self.spec {
            let mut spec = spec.clone();
            for h in &mut spec.hosts {
                h.uri = format!("sim://{}", h.name);
            }
            return spec;
        }
        let c = &self.cluster;
        let mut policy = Policy::default();
        let p = &c.policy;
        let secs = Duration::from_secs;
        if let Some(v) = p.fail_threshold {
            policy.fail_threshold = v;
        }
        if let Some(v) = p.ok_threshold {
            policy.ok_threshold = v;
        }
        if let Some(v) = p.min_uptime {
            policy.min_uptime = secs(v);
        }
        if let Some(v) = p.max_restart {
            policy.max_restart = v;
        }
        if let Some(v) = p.max_relocate {
            policy.max_relocate = v;
        }
        if let Some(v) = p.restart_window {
            policy.restart_window = secs(v);
        }
        if let Some(v) = p.reinstall {
            policy.reinstall = v;
        }
        let mut host_policy = HostPolicy::default();
        let hp = &c.host_policy;
        if let Some(v) = hp.fail_threshold {
            host_policy.fail_threshold = v;
        }
        if let Some(v) = hp.ok_threshold {
            host_policy.ok_threshold = v;
        }
        if let Some(v) = hp.fence_retry {
            host_policy.fence_retry = secs(v);
        }
        if let Some(v) = hp.drain_retry {
            host_policy.drain_retry = secs(v);
        }
        host_policy.unmanageable_fence_after = hp.unmanageable_fence_after.map(secs);
        let mut placement = PlacementPolicy::default();
        if let Some(v) = c.cpu_overcommit {
            placement.cpu_overcommit = v;
        }
        if let Some(v) = c.mem_overcommit {
            placement.mem_overcommit = v;
        }
        // Checked only in the cases that ask (its alarm would renumber every other case's).
        placement.spare_hosts = c.spare_hosts.unwrap_or(0);
        placement.spare_enforce = c.spare_enforce;
        let mut spec = ClusterSpec {
            hosts: c
                .hosts
                .iter()
                .map(|h| HostSpec {
                    name: h.name.clone(),
                    uri: format!("sim://{}", h.name),
                    fence_agent: h.fence.then(|| "sim".to_string()),
                    soft_fence: h.soft_fence,
                })
                .collect(),
            vms: c
                .vms
                .iter()
                .map(|v| {
                    let mut policy = policy.clone();
                    if let Some(n) = v.max_restart {
                        policy.max_restart = n;
                    }
                    if let Some(n) = v.max_relocate {
                        policy.max_relocate = n;
                    }
                    VmSpec {
                        name: v.name.clone(),
                        priority: v.priority,
                        anti_affinity: v.group.clone(),
                        policy,
                        preferred_host: Some(v.host.clone()),
                        reinstall: v.golden.as_deref().map(|g| sim_reinstall(v, g)),
                        origin: crate::core::Origin::Config,
                        hosts: v.hosts.clone(),
                        prefer: v.prefer.clone(),
                        guest: v.guest.as_ref().map(|g| std::sync::Arc::new(g.spec(&v.name))),
                        after: v.after.clone(),
                        after_wait: v.after_wait.map_or(Duration::from_secs(300), Duration::from_secs),
                        ready: match v.ready.as_deref() {
                            Some("agent") => crate::core::Readiness::Agent,
                            Some("probes") => crate::core::Readiness::Probes,
                            _ => crate::core::Readiness::Running,
                        },
                    }
                })
                .collect(),
            host_policy,
            placement,
            witnesses: c.witnesses.clone(),
        };
        // Checked when the case was read (`parse_cluster`).
        if let Err((_, e)) = crate::core::order::resolve_after(&mut spec.vms) {
            tracing::warn!(target: "3rc::sim", "{e}");
        }
        spec
    }
}

/// The reinstall spec of a scenario VM: its golden image, a template the sim can define.
fn sim_reinstall(v: &VmDef, golden: &str) -> std::sync::Arc<crate::core::ReinstallSpec> {
    let (pool, volume) = golden.split_once('/').unwrap_or(("golden", golden));
    let template = format!(
        "<domain type='kvm'><name>{}</name><vcpu>{}</vcpu><memory unit='KiB'>{}</memory><devices>\
         <disk type='volume' device='disk'><source pool='vms' volume='{}.qcow2'/></disk></devices></domain>",
        v.name,
        v.vcpus,
        v.memory_mib * 1024,
        v.name
    );
    std::sync::Arc::new(crate::core::ReinstallSpec {
        golden_pool: pool.into(),
        golden_volume: volume.into(),
        mode: crate::core::DiskMode::Overlay,
        disk_pool: "vms".into(),
        disk_volume: format!("{}.qcow2", v.name),
        template_path: format!("{}.xml", v.name),
        template,
        seed: None,
    })
}

pub fn parse_cluster(text: &str) -> Result<ClusterDef, String> {
    let c: ClusterDef = toml::from_str(text).map_err(|e| e.to_string())?;
    for v in &c.vms {
        if !c.hosts.iter().any(|h| h.name == v.host) {
            return Err(format!("vm {} is on unknown host {}", v.name, v.host));
        }
    }
    let case = Case { cluster: c, commands: Vec::new(), spec: None };
    let mut vms = case.spec().vms;
    for v in &mut vms {
        v.after = case.cluster.vms.iter().find(|d| d.name == v.name).map(|d| d.after.clone()).unwrap_or_default();
    }
    crate::core::order::resolve_after(&mut vms).map_err(|(_, e)| e)?;
    Ok(case.cluster)
}

pub fn parse_commands(text: &str) -> Result<Vec<(u64, SimCmd)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let err = |m: &str| format!("line {}: {m}: {line}", i + 1);
        let at: u64 = words[0].parse().map_err(|_| err("expected a second first"))?;
        parse_one(at, &words[1..], &mut out).map_err(|m| err(&m))?;
    }
    out.sort_by_key(|c| c.0);
    Ok(out)
}

/// Parse one command (without its time): `power off hv1`, `op migrate web1 hv2`, ...
pub fn parse_one(at: u64, w: &[&str], out: &mut Vec<(u64, SimCmd)>) -> Result<(), String> {
    let s = |i: usize| w.get(i).map(|x| x.to_string()).ok_or_else(|| "missing argument".to_string());
    let n = |i: usize| -> Result<u64, String> { s(i)?.parse().map_err(|_| format!("not a number: {}", w[i])) };
    let cmd = match (w.first().copied().unwrap_or(""), w.get(1).copied().unwrap_or("")) {
        ("power", "off") => SimCmd::PowerOff(s(2)?),
        ("power", "on") => SimCmd::PowerOn(s(2)?),
        ("isolate-supervisor", "") => SimCmd::IsolateSupervisor,
        ("reconnect-supervisor", "") => SimCmd::ReconnectSupervisor,
        ("isolate-supervisor", _) => SimCmd::IsolateOne(s(1)?),
        ("reconnect-supervisor", _) => SimCmd::ReconnectOne(s(1)?),
        ("kill", _) => SimCmd::Kill(s(1)?),
        ("start", _) => SimCmd::Start(s(1)?),
        ("pause", _) => SimCmd::Pause(s(1)?, n(2)?),
        ("cut-store", _) => SimCmd::CutStore(s(1)?),
        ("reconnect-store", _) => SimCmd::ReconnectStore(s(1)?),
        ("cut", _) => SimCmd::CutLink(s(1)?, s(2)?),
        ("mend", _) => SimCmd::MendLink(s(1)?, s(2)?),
        ("store", "down") => SimCmd::StoreDown,
        ("store", "up") => SimCmd::StoreUp,
        ("witness", _) => match s(2)?.as_str() {
            "down" => SimCmd::WitnessDown(s(1)?),
            "up" => SimCmd::WitnessUp(s(1)?),
            o => return Err(format!("witness W down|up, not {o}")),
        },
        ("isolate", _) => SimCmd::Isolate(s(1)?),
        ("reconnect", _) => SimCmd::Reconnect(s(1)?),
        ("hang", _) => SimCmd::Hang(s(1)?),
        ("unhang", _) => SimCmd::Unhang(s(1)?),
        ("storage", "pause") => SimCmd::StoragePause(s(2)?),
        ("storage", "resume") => SimCmd::StorageResume(s(2)?),
        ("crash", _) => SimCmd::Crash(s(1)?),
        ("guest", _) => SimCmd::Guest(
            s(2)?,
            match w[1] {
                "hang" => GuestFault::Hang,
                "watchdog" => GuestFault::Watchdog,
                "agent-stops" => GuestFault::AgentStops,
                "agent-ok" => GuestFault::AgentOk,
                "port-closes" => GuestFault::PortCloses,
                "port-opens" => GuestFault::PortOpens,
                o => {
                    return Err(format!("guest hang|watchdog|agent-stops|agent-ok|port-closes|port-opens VM, not {o}"))
                }
            },
        ),
        ("fail-starts", _) => SimCmd::FailStarts(s(1)?, n(2)? as u32, s(3).ok()),
        ("slow-start", _) => SimCmd::SlowStart(s(1)?, n(2)?),
        ("migrate-fails", _) => SimCmd::MigrateFails(
            s(1)?,
            match s(2)?.as_str() {
                "paused" => crate::backend::sim::MigrateFail::PausedOnSource,
                "both" => crate::backend::sim::MigrateFail::DefinedOnBoth,
                o => return Err(format!("migrate-fails: paused or both, not {o}")),
            },
        ),
        ("fence", _) => match s(2)?.as_str() {
            "fails" => SimCmd::FenceFails(s(1)?, n(3)? as u32),
            "hangs" => SimCmd::FenceHangs(s(1)?),
            "works" => SimCmd::FenceWorks(s(1)?),
            "lies" => SimCmd::FenceLies(s(1)?),
            "slow" => SimCmd::FenceSlow(s(1)?, n(3)?),
            o => return Err(format!("fence: fails N, hangs, lies, slow N or works, not {o}")),
        },
        ("daemon", _) => SimCmd::Daemon(
            s(1)?,
            match s(2)?.as_str() {
                "down" => crate::backend::sim::world::Daemon::Down,
                "dead" => crate::backend::sim::world::Daemon::Dead,
                "up" => crate::backend::sim::world::Daemon::Up,
                o => return Err(format!("daemon H down|dead|up, not {o}")),
            },
        ),
        ("probe-loss", _) => SimCmd::ProbeLoss(s(1)?, n(2)? as u32),
        ("flap", _) => {
            let (h, down, up, count) = (s(1)?, n(2)?, n(3)?, n(4)?);
            let mut t = at;
            for _ in 0..count {
                out.push((t, SimCmd::Isolate(h.clone())));
                out.push((t + down, SimCmd::Reconnect(h.clone())));
                t += down + up;
            }
            return Ok(());
        }
        ("boot", _) => SimCmd::Boot(s(1)?),
        ("move-outside", _) => SimCmd::MoveOutside(s(1)?, s(2)?),
        ("duplicate-outside", _) => SimCmd::DuplicateOutside(s(1)?, s(2)?),
        ("restart-supervisor", _) => SimCmd::RestartSupervisor,
        ("delete-volume", _) => {
            let v = s(2)?;
            let (pool, vol) = v.split_once('/').ok_or_else(|| format!("delete-volume: POOL/VOLUME, not {v}"))?;
            SimCmd::DeleteVolume(s(1)?, pool.into(), vol.into())
        }
        ("op", _) => SimCmd::Op(parse_op(&w[1..])?),
        (v, _) => return Err(format!("unknown command {v}")),
    };
    out.push((at, cmd));
    Ok(())
}

/// An operator command in the scenario/what-if syntax.
pub fn parse_op(w: &[&str]) -> Result<Command, String> {
    let s = |i: usize| w.get(i).map(|x| x.to_string()).ok_or_else(|| "missing argument".to_string());
    Ok(match w.first().copied().unwrap_or("") {
        "migrate" => Command::Migrate { vm: s(1)?, to: s(2)? },
        "start" => Command::Start { vm: s(1)? },
        "stop" => Command::Stop { vm: s(1)? },
        "restart" => Command::Restart { vm: s(1)? },
        "reinstall" => Command::Reinstall { vm: s(1)? },
        "arm" => Command::Arm { vm: w.get(1).map(|x| x.to_string()) },
        "disarm" => Command::Disarm { vm: w.get(1).map(|x| x.to_string()) },
        "maintenance" => Command::Maintenance { host: s(2)?, on: s(1)? == "on" },
        "confirm-off" => Command::ConfirmHostOff { host: s(1)? },
        "ack" => Command::AckAlarm { id: s(1)?.parse().map_err(|_| "ack: alarm number".to_string())? },
        o => return Err(format!("unknown operator command {o}")),
    })
}
