//! Takeover on the real lab (root): three supervisor machines (`lab.sh sup-up`: a three-member
//! etcd, one `3rc run --headless` with `[ha]` on each, default TTL 2 s) over three hosts with
//! two VMs each. Two cases, `RUNS` fresh labs each:
//!
//! - the leader killed (`kill -9`) -> a standby leads and has run a cycle as leader (its
//!   `3rc ctl status`, served from the snapshot of its latest cycle, says it leads);
//! - the leader killed and hv1 powered off at the same moment -> hv1's VMs running elsewhere
//!   (the next leader's journal: both `Relocating -> Probation`).
//!
//! Prints figures; asserts nothing but that the takeover happened.
//! `cargo bench --bench lab_ha` (release build of `3rc`).

#[path = "../tests/lab/harness.rs"]
mod harness;

use harness::{mean_range, now_secs, HaLab, SUPERVISORS};
use std::time::{Duration, Instant};

const RUNS: usize = 5;

/// Wait for `done` (polled every 20 ms, 60 s at most): the wall clock it first held.
fn until(what: &str, mut done: impl FnMut() -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    now_secs()
}

/// The leader killed: seconds until another has cycled as leader.
fn killed() -> f64 {
    let (mut ha, l) = HaLab::up();
    std::thread::sleep(Duration::from_secs(2));
    let t0 = now_secs();
    ha.kill(l);
    let at = until("a standby leading", || {
        (1..=SUPERVISORS)
            .filter(|k| *k != l)
            .any(|k| ha.sup(k).status().is_ok_and(|s| s.contains(&format!("HA: s{k} leads"))))
    });
    at - t0
}

/// The leader killed and hv1 powered off at once: (seconds until another leads by its
/// journal, until hv1's VMs run elsewhere).
fn killed_and_host_off() -> (f64, f64) {
    let (mut ha, l) = HaLab::up();
    std::thread::sleep(Duration::from_secs(2));
    let t0 = now_secs();
    ha.kill(l);
    ha.lab.run(&["power-off", "hv1"]);
    let mut leader = 0;
    until("hv1's VMs running elsewhere", || {
        let Some(k) = (1..=SUPERVISORS).find(|k| ha.leads(*k)) else { return false };
        leader = k;
        let text = ha.sup(k).text();
        ["vm11", "vm12"].iter().all(|v| text.contains(&format!("vm {v} Relocating -> Probation")))
    });
    let truth = ha.lab.truth();
    for v in ["vm11", "vm12"] {
        let on = truth.get(v).cloned().unwrap_or_default();
        assert!(on.len() == 1 && on[0] != "hv1", "{v} on {on:?}");
    }
    let led = ha.led_at(leader, t0).expect("the next leader's line");
    let running = ["vm11", "vm12"]
        .iter()
        .map(|v| ha.sup(leader).wall_after(t0, &[&format!("vm {v} Relocating -> Probation")]).expect("started"))
        .fold(0.0, f64::max);
    (led - t0, running - t0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("lab_ha: a benchmark on real libvirt hosts (root); run it with `cargo bench --bench lab_ha`");
        return;
    }
    let (mut first, mut led, mut running) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=RUNS {
        first.push(killed());
        let (l, r) = killed_and_host_off();
        led.push(l);
        running.push(r);
        eprintln!("run {run}: {:.2} s; {l:.2} s, {r:.2} s", first[run - 1]);
    }
    println!("leader killed -> a standby has cycled as leader: {}", mean_range(&first));
    println!("leader killed + hv1 powered off -> a standby leads: {}", mean_range(&led));
    println!("leader killed + hv1 powered off -> hv1's VMs running elsewhere: {}", mean_range(&running));
}
