//! Recovery time on the real-libvirt lab (root): from the power-off of a host carrying 4 VMs to
//! all 4 running on the survivors, split into detection (power-off -> Down), fencing (Down ->
//! Fenced) and start (Fenced -> the last VM started), with the default settings and with the
//! fastest safe settings, each with the lab's quorum witness and without any (`witnesses = []`),
//! the two interleaved run by run so that the machine's state weighs on both alike. Prints
//! figures; asserts nothing but that recovery happened.
//! `cargo bench --bench lab_recovery` (release build of `3rc`).

#[path = "../tests/lab/harness.rs"]
mod harness;

use harness::{Lab, Supervisor};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const RUNS: usize = 5;

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// One power-off, `phase` after a whole number of seconds into the settled cluster: the runs
/// spread their power-offs evenly over one supervision interval, so the mean covers every
/// position of the fault between two cycles (detection depends on it by up to an interval).
fn one_run(extra: &str, witness: bool, phase: Duration) -> (f64, f64, f64, f64) {
    let lab = Lab::up(3, 4);
    let vms: Vec<String> = (1..=3).flat_map(|i| (1..=4).map(move |j| format!("vm{i}{j}"))).collect();
    let cfg = lab.config(&vms, extra);
    if !witness {
        let text = std::fs::read_to_string(&cfg).expect("lab config");
        let without = text.replace("witnesses = [\"ping:10.233.7.1\"]", "witnesses = []");
        assert_ne!(text, without, "the lab config names its witness");
        std::fs::write(&cfg, without).expect("lab config");
    }
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "settled", Duration::from_secs(60), |s| {
        let t = s.text();
        vms.iter().all(|v| t.contains(&format!("vm {v} Discovering -> Healthy"))) && s.inventory() >= vms.len()
    });
    std::thread::sleep(Duration::from_secs(2) + phase);
    let off = now();
    lab.run(&["power-off", "hv1"]);
    let moved = ["vm11", "vm12", "vm13", "vm14"];
    sup.wait_for(&lab, "hv1's VMs running elsewhere", Duration::from_secs(60), |s| {
        let t = s.text();
        moved.iter().all(|v| t.contains(&format!("vm {v} Relocating -> Probation")))
    });
    let truth = lab.truth();
    for v in moved {
        let hosts = truth.get(v).cloned().unwrap_or_default();
        assert!(hosts.len() == 1 && hosts[0] != "hv1", "{v} on {hosts:?}");
    }
    let down = sup.wall(&["host hv1 Suspect -> Down"]).expect("Down");
    let fenced = sup.wall(&["host hv1 Fencing -> Fenced"]).expect("Fenced");
    let started = moved
        .iter()
        .map(|v| sup.wall(&[&format!("vm {v} Relocating -> Probation")]).expect("started"))
        .fold(0.0, f64::max);
    (down - off, fenced - down, started - fenced, started - off)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "lab_recovery: a benchmark on real libvirt hosts (root); run it with `cargo bench --bench lab_recovery`"
        );
        return;
    }
    let settings = [
        ("defaults (interval 1s, probe_timeout 400ms, thresholds 3)", "", Duration::from_secs(1)),
        (
            "fastest safe (interval 250ms, probe_timeout 250ms, thresholds 3)",
            "interval = \"250ms\"\nprobe_timeout = \"250ms\"",
            Duration::from_millis(250),
        ),
    ];
    println!(
        "{:<74} {:>9} {:>9} {:>9} {:>9}",
        "settings (host with 4 VMs powered off)", "detect", "fence", "start", "total"
    );
    for (label, extra, interval) in settings {
        // Run k of each variant powers the host off at the same point of the interval; the
        // variants alternate so that a busy stretch of the machine weighs on both.
        let mut runs: [Vec<(f64, f64, f64, f64)>; 2] = [Vec::new(), Vec::new()];
        for k in 0..RUNS {
            let phase = interval * k as u32 / RUNS as u32;
            for (i, witness) in [true, false].into_iter().enumerate() {
                runs[i].push(one_run(extra, witness, phase));
            }
        }
        for (i, variant) in
            ["with quorum and the lab's witness", "with quorum, no witness (witnesses = [])"].iter().enumerate()
        {
            let r = &runs[i];
            let col = |f: fn(&(f64, f64, f64, f64)) -> f64| harness::mean_range(&r.iter().map(f).collect::<Vec<_>>());
            println!("{label}, {variant}");
            println!(
                "  mean [min-max] of {RUNS} runs: detect {}  fence {}  start {}  total {}",
                col(|r| r.0),
                col(|r| r.1),
                col(|r| r.2),
                col(|r| r.3)
            );
        }
    }
}
