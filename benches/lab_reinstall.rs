//! Reinstall time on the real-libvirt lab (root): from the decision (the journaled action) to
//! the VM started again from a fresh overlay on the golden image (`Reinstalling -> Probation`),
//! and from the `3rc reinstall` command to the same point, without and with a cloud-init seed
//! (built here, uploaded through libvirt's stream). Prints figures; asserts nothing but that
//! each reinstall happened. `cargo bench --bench lab_reinstall` (release build of `3rc`).

#[path = "../tests/lab/harness.rs"]
mod harness;

use harness::{Lab, Supervisor};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const RUNS: usize = 5;

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// (decision -> running, command -> running) for each of RUNS reinstalls of vm11.
fn runs(seed: bool) -> Vec<(f64, f64)> {
    let lab = Lab::up(1, 1);
    let vms = vec!["vm11".to_string()];
    let cfg = lab.config_with(&vms, "min_uptime = \"1s\"", |vm| lab.reinstall_spec(vm, seed));
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "settled", Duration::from_secs(60), |s| {
        s.text().contains("vm vm11 Discovering -> Healthy") && s.inventory() >= 1
    });
    let mut out = Vec::new();
    for i in 1..=RUNS {
        let asked = now();
        let st = Command::new(env!("CARGO_BIN_EXE_3rc"))
            .args(["reinstall", "--yes", "--config"])
            .arg(&cfg)
            .arg("vm11")
            .output()
            .expect("3rc reinstall");
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        sup.wait_for(&lab, "reinstalled and healthy", Duration::from_secs(60), |s| {
            let t = s.text();
            t.matches("vm vm11 Reinstalling -> Probation").count() >= i
                && t.matches("vm vm11 Probation -> Healthy").count() >= i
        });
        let events = sup.events();
        let decided = events.iter().filter(|(_, _, t)| t.contains("reinstall vm11 on hv1 (operator")).nth(i - 1);
        let running = events.iter().filter(|(_, _, t)| t.contains("vm vm11 Reinstalling -> Probation")).nth(i - 1);
        let (d, r) = (decided.expect("decided").0, running.expect("running").0);
        assert_eq!(lab.truth().get("vm11"), Some(&vec!["hv1".to_string()]));
        out.push((r - d, r - asked));
    }
    out
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "lab_reinstall: a benchmark on real libvirt hosts (root); run it with `cargo bench --bench lab_reinstall`"
        );
        return;
    }
    println!("reinstall of a 64 MiB VM on a lab host (qcow2 overlay on a 64 MiB golden image), {RUNS} runs each");
    for (label, seed) in [("without a seed", false), ("with a cloud-init seed (built, uploaded, attached)", true)] {
        let r = runs(seed);
        let col = |f: fn(&(f64, f64)) -> f64| {
            let v: Vec<f64> = r.iter().map(f).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let (lo, hi) = v.iter().fold((f64::MAX, 0.0f64), |(l, h), x| (l.min(*x), h.max(*x)));
            format!("{mean:.2}s [{lo:.2}-{hi:.2}]")
        };
        println!("  {label}: decision -> running {}   command -> running {}", col(|x| x.0), col(|x| x.1));
    }
}
