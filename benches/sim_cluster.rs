//! The simulator at scale: one supervision cycle of the real supervisor over 1,000 simulated
//! hosts x 20,000 VMs (every host probed through its inline handle, the engine's cycle, the
//! snapshot), the process's memory high-water mark, and the full simulated recovery of a host
//! carrying 200 VMs (detection, fence, placement, 200 starts, probation).
//! Prints figures; asserts nothing. `cargo bench --bench sim_cluster`.

use std::sync::Arc;
use std::time::{Duration, Instant};
use threerc::hv::clock::{Clock, TokioClock};
use threerc::sim;
use threerc::sim::scenario::parse_cluster;

#[path = "support/sim.rs"]
mod support;
use support::{case, hwm_kib, ms, percentile, thread_cpu};
use threerc::supervisor::Supervisor;

fn big_cycle(hosts: usize, cycles: usize, console: bool) {
    let before = hwm_kib();
    let c = case(hosts, 20, 262_144, 4096, "");
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    let (first, times, cpu) = rt.block_on(async {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
        let (_sim, ctx) = sim::build(&c, clock.clone());
        let settings = sim::run::settings();
        let (mut sup, handle) = Supervisor::new(c.spec(), ctx, settings, clock, None);
        // With a console attached, every cycle also builds the 20,000-VM snapshot it renders;
        // headless, nobody subscribes and no snapshot is built.
        let _watching = console.then(|| handle.snapshots());
        let t = Instant::now();
        sup.cycle().await;
        let first = t.elapsed();
        let mut times = Vec::new();
        let cpu0 = thread_cpu();
        for _ in 0..cycles {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let t = Instant::now();
            sup.cycle().await;
            times.push(t.elapsed());
        }
        (first, times, (thread_cpu() - cpu0) / cycles as u32)
    });
    let mut sorted = times.clone();
    sorted.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "{hosts} hosts x {} VMs, one supervision cycle on the sim, {} ({cycles} steady cycles after discovery):",
        hosts * 20,
        if console { "a console attached (snapshot built every cycle)" } else { "headless (no snapshot)" }
    );
    println!(
        "  first (discovery) {} | steady mean {} | min {} | p50 {} | p99 {} | max {} | CPU time per steady cycle {} (incl. the virtual 1 s sleeps' bookkeeping)",
        ms(first),
        ms(mean),
        ms(sorted[0]),
        ms(percentile(&sorted, 0.5)),
        ms(percentile(&sorted, 0.99)),
        ms(*sorted.last().unwrap()),
        ms(cpu)
    );
    println!(
        "  resident memory high-water mark: {} MiB (before building the cluster: {} MiB)",
        hwm_kib() / 1024,
        before / 1024
    );
}

fn recovery_200() {
    // hv0000 carries 200 VMs of 1 GiB; ten survivors of 64 GiB each have room for all of them.
    let mut c = case(11, 0, 65_536, 1024, "5 power off hv0000");
    let mut s = String::new();
    for i in 0..11 {
        s.push_str(&format!(
            "[[host]]\nname = \"hv{i:04}\"\ncpus = 64\nmemory_mib = {}\n",
            if i == 0 { 262_144 } else { 65_536 }
        ));
    }
    for n in 0..200 {
        s.push_str(&format!(
            "[[vm]]\nname = \"vm{n:03}\"\nhost = \"hv0000\"\nvcpus = 1\nmemory_mib = 1024\npriority = {}\n",
            n % 5
        ));
    }
    c.cluster = parse_cluster(&s).unwrap();
    c.cluster.duration = Some(30);
    let t = Instant::now();
    let r = sim::run(&c);
    let wall = t.elapsed();
    let running: usize = (0..200).filter(|n| r.truth.get(&format!("vm{n:03}")).is_some_and(|h| h.len() == 1)).count();
    let last_start = r
        .events
        .iter()
        .filter(|e| e.to_string().contains("Relocating -> Probation"))
        .map(|e| e.at)
        .max()
        .unwrap_or_default();
    println!("full simulated recovery of a host carrying 200 VMs (power off at 5.0s, 30 virtual s):");
    println!(
        "  wall time for the whole run {} | {running} of 200 running once at the end | last recovery start at {last_start} (virtual) | {} violations",
        ms(wall),
        r.violations.len()
    );
}

fn main() {
    // `cargo test --all-targets` runs bench binaries too (without `--bench`): keep that quick.
    let quick = std::env::args().all(|a| a != "--bench");
    recovery_200();
    let (hosts, cycles) = if quick { (50, 3) } else { (1000, 40) };
    big_cycle(hosts, cycles, false);
    big_cycle(hosts, cycles, true);
}
