//! VM crash to VM running again on the real-libvirt lab (root), with libvirt's lifecycle
//! events (the default) and with polling only (`events = false`): qemu is killed, 3RC sees the
//! VM fail (first failed probe), climbs the ladder after `fail_threshold` failed probes, and
//! restarts it in place. The crash lands at a different phase of the 1 s cycle in each run.
//! Prints figures; asserts nothing but that the restart happened.
//! `cargo bench --bench lab_vm_crash` (release build of `3rc`).

#[path = "../tests/lab/harness.rs"]
mod harness;

use harness::{Lab, Supervisor};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const RUNS: usize = 8;

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Whether vm11's last transition in the journal is to Healthy.
fn healthy(sup: &Supervisor) -> bool {
    let log = sup.text();
    let last = log.lines().rfind(|l| l.contains("vm vm11 ") && l.contains(" -> "));
    last.is_some_and(|l| l.contains("-> Healthy"))
}

/// Seconds from the crash to: the first failed probe, the restart decided, the VM running.
fn runs(extra: &str) -> Vec<(f64, f64, f64)> {
    let lab = Lab::up(1, 1);
    let vms = vec!["vm11".to_string()];
    let cfg = lab.config(&vms, &format!("min_uptime = \"2s\"\nmax_restart = 1000\n{extra}"));
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "settled", Duration::from_secs(60), |s| healthy(s) && s.inventory() >= 1);
    let mut out = Vec::new();
    for k in 0..RUNS {
        sup.wait_for(&lab, "vm11 healthy", Duration::from_secs(60), healthy);
        // Spread the crash over the cycle's phase.
        std::thread::sleep(Duration::from_secs_f64(1.0 + (k as f64 * 0.37) % 1.0));
        let t0 = now();
        lab.run(&["crash-vm", "hv1", "vm11"]);
        sup.wait_for(&lab, "vm11 restarted", Duration::from_secs(60), |s| {
            s.wall_after(t0, &["vm vm11 Restarting -> Probation"]).is_some()
        });
        let at = |what: &str| sup.wall_after(t0, &[what]).map(|w| w - t0).expect(what);
        out.push((
            at("vm vm11 Healthy -> Suspect"),
            at("vm vm11 Suspect -> Restarting"),
            at("vm vm11 Restarting -> Probation"),
        ));
        assert_eq!(lab.truth().get("vm11"), Some(&vec!["hv1".to_string()]));
    }
    out
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "lab_vm_crash: a benchmark on real libvirt hosts (root); run it with `cargo bench --bench lab_vm_crash`"
        );
        return;
    }
    println!("qemu of a VM killed -> restarted in place; interval 1s, fail_threshold 3; {RUNS} runs each");
    for (label, extra) in [("events (default)", ""), ("polling only (events = false)", "events = false")] {
        let r = runs(extra);
        let col = |f: fn(&(f64, f64, f64)) -> f64| harness::mean_range(&r.iter().map(f).collect::<Vec<_>>());
        println!("{label}");
        println!(
            "  mean [min-max]: first failed probe {}  restart decided {}  running again {}",
            col(|r| r.0),
            col(|r| r.1),
            col(|r| r.2)
        );
    }
}
