//! Safety properties over random, seeded fault schedules, on the real supervisor and the
//! simulated cluster, checked against the sim's ground truth (what each host really runs):
//!
//! (a) no VM ever runs on two hosts (checked by the sim whenever a domain becomes active, and
//!     every virtual second);
//! (b) every protected VM that fits somewhere runs again within the recovery budget after the
//!     last fault;
//! (c) zero restarts or failovers under probe loss up to 30 % or network blips shorter than the
//!     hysteresis window, both with the default host window (3 failed rounds);
//! (d) no destructive action without a confirmed fence, a policy or an operator: every destroy,
//!     shutdown, undefine, fence-off and volume delete the sim saw was decided, at that instant,
//!     by a journaled action naming that VM and host (a volume delete, by a reinstall); every recovery of a VM from a dead host follows that
//!     host's `Fenced` transition.
//!
//! A schedule is a `commands` text (the scenario syntax), so a failure prints the seed and a
//! shrunk schedule that can be pasted into a `tests/scenarios/<case>/commands` file.
//! `THREERC_SEED=N cargo test --test safety` reruns one schedule of the first property.

use threerc::backend::rng::XorShift;
use threerc::backend::sim::scenario::{parse_cluster, parse_commands};
use threerc::backend::sim::{self, Case, Report};
use threerc::core::{EventKind, HostState, VmState};

const HOSTS: [&str; 4] = ["hv1", "hv2", "hv3", "hv4"];
const VMS: [&str; 8] = ["web1", "web2", "db1", "db2", "app1", "app2", "mon1", "build1"];
/// Seconds after the last fault by which every VM must run again.
const BUDGET: u64 = 60;

/// The cluster settings of the schedules that reinstall: the ladder may reinstall, every host
/// has the golden image, and every VM a reinstall spec. A VM's disk is first in its home host's
/// `vms` pool (a reinstall there deletes it and makes it anew); a disk made anew lives in the
/// pool of the host that made it, so a later loss of that host leaves the VM recoverable only
/// by another reinstall.
const REINSTALL: &str = "[policy]\nreinstall = true\n";

fn cluster(extra: &str) -> String {
    let golden = extra == REINSTALL;
    let mut s = format!("seed = 7\n{extra}\n");
    for (i, h) in HOSTS.iter().enumerate() {
        s.push_str(&format!("[[host]]\nname = \"{h}\"\n"));
        if golden {
            let own: Vec<String> = VMS.iter().skip(i).step_by(HOSTS.len()).map(|v| format!("\"{v}.qcow2\"")).collect();
            s.push_str(&format!("pools = {{ golden = [\"base.qcow2\"], vms = [{}] }}\n", own.join(", ")));
        }
    }
    for (i, v) in VMS.iter().enumerate() {
        let group = if v.starts_with("web") { "group = \"web\"\n" } else { "" };
        let spec = if golden { "golden = \"golden/base.qcow2\"\n" } else { "" };
        s.push_str(&format!(
            "[[vm]]\nname = \"{v}\"\nhost = \"{}\"\npriority = {}\n{group}{spec}",
            HOSTS[i % HOSTS.len()],
            (i * 7) % 5
        ));
    }
    s
}

/// One fault episode: its command lines and when it is over.
struct Episode {
    lines: Vec<String>,
    end: u64,
}

/// A random schedule for property (a), (b), (d): host episodes never overlap (so every VM
/// always fits on the survivors), each VM suffers at most one VM fault.
fn schedule(seed: u64) -> Vec<Episode> {
    schedule_of(seed, false)
}

/// `reinstalls`: VM episodes also include an operator's reinstall and a VM that keeps
/// crashing until the ladder reinstalls it (for the [`REINSTALL`] cluster).
fn schedule_of(seed: u64, reinstalls: bool) -> Vec<Episode> {
    let mut r = XorShift::new(seed);
    let mut out = Vec::new();
    let mut host_free_at = 3;
    let mut vms: Vec<&str> = VMS.to_vec();
    for _ in 0..r.range(1, 5) {
        let t = r.range(3, 90);
        let kind = r.below(if reinstalls { 18 } else { 15 });
        if !(6..12).contains(&kind) && kind < 15 {
            let t = t.max(host_free_at);
            let h = HOSTS[r.below(HOSTS.len())];
            let d = r.range(5, 40);
            let mut lines = match kind {
                0 => vec![format!("{t} power off {h}")],
                1 => vec![format!("{t} isolate {h}"), format!("{} reconnect {h}", t + d)],
                2 => vec![format!("{t} hang {h}"), format!("{} unhang {h}", t + d)],
                3 => vec![format!("{t} storage pause {h}"), format!("{} storage resume {h}", t + d)],
                4 => vec![
                    format!("{} fence {h} fails 1", t - 1),
                    format!("{t} isolate {h}"),
                    format!("{} reconnect {h}", t + d),
                ],
                5 => vec![format!("{t} op maintenance on {h}"), format!("{} op maintenance off {h}", t + d)],
                12 => vec![
                    format!("{t} flap {h} {} {} {}", r.range(1, 5), r.range(1, 4), r.range(2, 6)),
                    format!("{} reconnect {h}", t + d),
                ],
                13 => vec![format!("{t} probe-loss {h} {}", r.range(30, 80)), format!("{} probe-loss {h} 0", t + d)],
                // The agent hangs; a person powers the host off at the rack and confirms it.
                _ => vec![
                    format!("{} fence {h} hangs", t - 1),
                    format!("{t} isolate {h}"),
                    format!("{} power off {h}", t + d / 2),
                    format!("{} op confirm-off {h}", t + d / 2 + 1),
                    format!("{} fence {h} works", t + d),
                    format!("{} reconnect {h}", t + d),
                ],
            };
            lines.push(format!("{} power on {h}", t + d));
            out.push(Episode { lines, end: t + d });
            host_free_at = t + d + 30;
        } else if !vms.is_empty() {
            let v = vms.remove(r.below(vms.len()));
            let lines = match kind {
                6 | 7 => vec![format!("{t} crash {v}")],
                8 => vec![format!("{t} fail-starts {v} 1"), format!("{t} crash {v}")],
                9 => vec![format!("{t} slow-start {v} {}", r.range(2, 20)), format!("{t} crash {v}")],
                10 => vec![
                    format!("{t} migrate-fails {v} {}", if r.below(2) == 0 { "paused" } else { "both" }),
                    format!("{t} op migrate {v} {}", HOSTS[r.below(HOSTS.len())]),
                ],
                11 => vec![format!("{t} op migrate {v} {}", HOSTS[r.below(HOSTS.len())])],
                15 => vec![format!("{t} op reinstall {v}")],
                // Restart, relocation, then reinstall (the ladder's third step).
                _ => (0..4).map(|i| format!("{} crash {v}", t + 20 * i)).collect(),
            };
            let end = if kind == 16 || kind == 17 { t + 60 } else { t };
            out.push(Episode { lines, end });
        }
    }
    out
}

fn case_of(episodes: &[&Episode], extra: &str, tail: u64) -> Case {
    let text: Vec<String> = episodes.iter().flat_map(|e| e.lines.clone()).collect();
    let last = episodes.iter().map(|e| e.end).max().unwrap_or(0);
    let mut cluster = parse_cluster(&cluster(extra)).expect("generated cluster");
    cluster.duration = Some(last + tail);
    Case { cluster, commands: parse_commands(&text.join("\n")).expect("generated commands"), spec: None }
}

/// Properties (a), (b), (d) on one run; `Err` says which failed.
fn check(r: &Report) -> Result<(), String> {
    if !r.violations.is_empty() {
        return Err(format!("(a) a VM ran on two hosts: {:?}", r.violations));
    }
    for vm in VMS {
        let v = r.view.vm(vm).ok_or("vm missing from the view")?;
        if matches!(v.state, VmState::Stopped | VmState::Unmanaged) {
            continue;
        }
        match (r.truth.get(vm), r.running.get(vm)) {
            (Some(active), Some(running)) if active.len() == 1 && running.len() == 1 => {}
            other => {
                return Err(format!(
                    "(b) {vm} not running once {BUDGET} s after the last fault: {other:?} ({} : {})",
                    v.state, v.reason
                ))
            }
        }
    }
    check_deciders(r)
}

fn check_deciders(r: &Report) -> Result<(), String> {
    for d in &r.destructive {
        let ok = r.events.iter().any(|e| {
            let EventKind::ActionDecided { action, .. } = &e.kind else { return false };
            let names = |w: &str| action.split_whitespace().any(|x| x == w);
            e.at <= d.at
                && names(&d.host)
                && d.vm.as_deref().is_none_or(names)
                && (d.vm.is_some() || action.starts_with("fence"))
                && (d.what != "delete volume" || action.starts_with("reinstall "))
        });
        if !ok {
            return Err(format!("(d) {} {:?} on {} at {} without a decided action", d.what, d.vm, d.host, d.at));
        }
    }
    for (i, e) in r.events.iter().enumerate() {
        let EventKind::ActionDecided { action, decided_by, .. } = &e.kind else { continue };
        if decided_by.to_string().trim().is_empty() {
            return Err(format!("(d) action without a decider: {e}"));
        }
        let Some(vm) = action.strip_prefix("recover ").and_then(|s| s.split_whitespace().next()) else { continue };
        // The host it waited on, from its last AwaitingFence transition.
        let waited = r.events[..i].iter().rev().find_map(|p| match (&p.subject, &p.kind) {
            (threerc::core::Subject::Vm(v), EventKind::VmTransition { to: VmState::AwaitingFence, .. }) if v == vm => {
                p.reason.strip_prefix("host ").and_then(|s| s.split_whitespace().next()).map(String::from)
            }
            _ => None,
        });
        let Some(h) = waited else { continue };
        let fenced = r.events[..i].iter().any(|p| {
            matches!((&p.subject, &p.kind), (threerc::core::Subject::Host(x), EventKind::HostTransition { to: HostState::Fenced, .. }) if *x == h)
        });
        if !fenced {
            return Err(format!("(d) {e} before {h} was fenced"));
        }
    }
    Ok(())
}

/// Greedy shrink: drop episodes while the failure persists.
fn shrink<'a>(eps: Vec<&'a Episode>, extra: &str, tail: u64, fails: &dyn Fn(&Report) -> bool) -> Vec<&'a Episode> {
    let mut cur = eps;
    let mut i = 0;
    while i < cur.len() {
        let mut fewer = cur.clone();
        fewer.remove(i);
        if fails(&sim::run(&case_of(&fewer, extra, tail))) {
            cur = fewer;
        } else {
            i += 1;
        }
    }
    cur
}

fn show(eps: &[&Episode]) -> String {
    eps.iter().flat_map(|e| e.lines.clone()).collect::<Vec<_>>().join("\n")
}

#[test]
fn faults_never_run_a_vm_twice_and_every_vm_comes_back() {
    properties_hold(1000, false);
}

/// The same properties with reinstalls in play: operators' and the ladder's, some of them
/// followed by the loss of the host that holds the new disk.
#[test]
fn reinstalls_keep_the_properties() {
    properties_hold(300, true);
}

/// Properties (a), (b), (d) over `count` schedules. THREERC_SEED=N runs that one schedule only
/// (to reproduce a failure).
fn properties_hold(count: u64, reinstalls: bool) {
    let only: Option<u64> = std::env::var("THREERC_SEED").ok().and_then(|s| s.parse().ok());
    let extra = if reinstalls { REINSTALL } else { "" };
    let mut schedules = 0;
    // Reinstalls decided (by the ladder: true, by an operator: false), volumes deleted.
    let (mut reinstalled, mut deleted) = (std::collections::BTreeMap::<bool, usize>::new(), 0);
    for seed in 0..count {
        if only.is_some_and(|o| o != seed) {
            continue;
        }
        let eps = schedule_of(seed, reinstalls);
        let all: Vec<&Episode> = eps.iter().collect();
        let r = sim::run(&case_of(&all, extra, BUDGET));
        schedules += 1;
        for e in &r.events {
            if let EventKind::ActionDecided { action, decided_by, .. } = &e.kind {
                if action.starts_with("reinstall ") {
                    *reinstalled.entry(decided_by.to_string().starts_with("policy")).or_insert(0) += 1;
                }
            }
        }
        deleted += r.destructive.iter().filter(|d| d.what == "delete volume").count();
        if let Err(why) = check(&r) {
            let small = shrink(all, extra, BUDGET, &|r| check(r).is_err());
            let r = sim::run(&case_of(&small, extra, BUDGET));
            panic!(
                "seed {seed}: {why}\nshrunk schedule ({}):\n{}\nlog of the shrunk run:\n{}",
                check(&r).err().unwrap_or_default(),
                show(&small),
                r.log.join("\n")
            );
        }
    }
    assert_eq!(
        schedules,
        if only.is_some_and(|o| o < count) {
            1
        } else if only.is_some() {
            0
        } else {
            count
        }
    );
    if reinstalls && only.is_none() {
        eprintln!("reinstalls by the ladder / by operators: {reinstalled:?}; volumes deleted: {deleted}");
        assert!(reinstalled.get(&true).is_some_and(|n| *n > 10), "the ladder reinstalled: {reinstalled:?}");
        assert!(reinstalled.get(&false).is_some_and(|n| *n > 10), "operators reinstalled: {reinstalled:?}");
        assert!(deleted > 10, "the runs deleted {deleted} volumes: property (d) saw no reinstall's disk");
    }
}

/// Probe loss up to 30 % on every host, or short link blips: nothing is ever restarted,
/// relocated, fenced or destroyed.
#[test]
fn probe_loss_and_short_blips_cause_no_action() {
    let quiet = |r: &Report| -> Result<(), String> {
        if let Some(e) = r.events.iter().find(|e| matches!(e.kind, EventKind::ActionDecided { .. })) {
            return Err(format!("(c) an action under probe loss or a short blip: {e}"));
        }
        if !r.destructive.is_empty() || !r.starts.is_empty() {
            return Err(format!("(c) the sim saw starts {:?} or destructive calls {:?}", r.starts, r.destructive));
        }
        Ok(())
    };
    for seed in 0..300u64 {
        let mut r = XorShift::new(seed ^ 0xC0FFEE);
        let lossy = seed % 2 == 0;
        let mut eps = Vec::new();
        if lossy {
            for h in HOSTS {
                let loss = if seed % 4 == 0 { 30 } else { r.range(0, 30) };
                eps.push(Episode { lines: vec![format!("1 probe-loss {h} {loss}")], end: 1 });
            }
            eps.push(Episode { lines: vec![], end: 120 });
        } else {
            // Blips never touch each other: each ends at least 2 good probes before the next.
            let mut t = 0;
            for _ in 0..r.range(1, 6) {
                t += r.range(4, 20);
                let h = HOSTS[r.below(HOSTS.len())];
                // Shorter than the hysteresis window: at most 2 failed probes (threshold 3).
                let down = r.range(1, 2);
                let kind = if r.below(2) == 0 { "isolate" } else { "hang" };
                let back = if kind == "isolate" { "reconnect" } else { "unhang" };
                eps.push(Episode {
                    lines: vec![format!("{t} {kind} {h}"), format!("{} {back} {h}", t + down)],
                    end: t + down,
                });
                t += down;
            }
        }
        let extra = "";
        let all: Vec<&Episode> = eps.iter().collect();
        let report = sim::run(&case_of(&all, extra, 20));
        if let Err(why) = quiet(&report).and_then(|_| check(&report)) {
            let small = shrink(all, extra, 20, &|r| quiet(r).and_then(|_| check(r)).is_err());
            panic!(
                "seed {seed}: {why}\nshrunk schedule:\n{}\n{}",
                show(&small),
                sim::run(&case_of(&small, extra, 20)).log.join("\n")
            );
        }
    }
}

/// The generator really produces the faults the properties are about.
#[test]
fn schedules_cover_every_fault_kind() {
    let text: String = (0..1000u64).flat_map(schedule).flat_map(|e| e.lines).collect::<Vec<_>>().join("\n");
    let with_reinstalls: String =
        (0..300u64).flat_map(|s| schedule_of(s, true)).flat_map(|e| e.lines).collect::<Vec<_>>().join("\n");
    assert!(with_reinstalls.contains("op reinstall"), "no schedule has an operator's reinstall");
    let crash_loops = (0..300u64)
        .flat_map(|s| schedule_of(s, true))
        .filter(|e| e.lines.len() == 4 && e.lines.iter().all(|l| l.contains(" crash ")))
        .count();
    assert!(crash_loops > 0, "no schedule makes the ladder reach its reinstall step");
    for kind in [
        "power off",
        "isolate",
        "hang",
        "storage pause",
        "fence",
        "crash",
        "fail-starts",
        "slow-start",
        "migrate-fails",
        "op migrate",
        "op maintenance",
    ] {
        assert!(text.contains(kind), "no schedule has {kind}");
    }
}

/// The shrinker drops every episode the failure does not need.
#[test]
fn the_shrinker_keeps_only_what_the_failure_needs() {
    let (seed, eps) = (0..200u64)
        .map(|s| (s, schedule(s)))
        .find(|(_, e)| {
            e.len() >= 3 && e.iter().filter(|x| x.lines.iter().any(|l| l.contains("power off"))).count() == 1
        })
        .expect("a schedule with several episodes, one of them a power off");
    let all: Vec<&Episode> = eps.iter().collect();
    let fails = |r: &Report| r.log.iter().any(|l| l.contains(" sim power off "));
    let small = shrink(all, "", 10, &fails);
    assert_eq!(small.len(), 1, "seed {seed}: {}", show(&small));
    assert!(show(&small).contains("power off"), "seed {seed}: {}", show(&small));
}
