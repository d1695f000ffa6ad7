//! Pages and metrics, measured. Prints figures; asserts nothing. `cargo bench --bench alerts`.
//!
//! 1. From an alarm raised to a real Alertmanager (Debian's `prometheus-alertmanager`, on
//!    loopback) holding it: the supervisor on the demo cluster's test-driver hosts, a host
//!    powered off and fenced, the time from the alarm's event to the alert in Alertmanager's
//!    API (polled every 5 ms); each host of the demo in turn, powered on again between.
//! 2. The supervision cycle at 1,000 hosts x 20,000 VMs on the simulator (real time, 1 s
//!    cycles): with the metrics off; on, the page scraped every second (a Prometheus scrapes
//!    every 15 s by default: this is the worst case); on and not scraped (events counted
//!    only). With the page's size and its scrape time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use threerc::core::{EventKind, VmState};
use threerc::hv::clock::{Clock, TokioClock};
use threerc::sim;
use threerc::supervisor::Supervisor;

#[path = "support/sim.rs"]
mod support;
use support::{case, cycles, hwm_kib, ms, percentile};

#[path = "../tests/support/alertmanager.rs"]
mod alertmanager;
#[path = "../tests/support/test_hosts.rs"]
#[allow(dead_code)]
mod test_hosts;
use alertmanager::{alerts, free_port, get, Alertmanager};

fn summary(times: &[Duration]) -> String {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    format!("mean {} | p50 {} | max {}", ms(mean), ms(percentile(&sorted, 0.5)), ms(*sorted.last().unwrap()))
}

/// Alarm raised -> Alertmanager holds it, once per host of the demo (`samples` in all).
async fn alarm_to_alertmanager(samples: usize) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _am = Alertmanager::start(dir.path(), port);
    while !get(port, "/-/ready").contains("OK") {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = tempfile::tempdir().unwrap();
    let cfg = test_hosts::demo_config(
        state.path(),
        "200ms",
        &format!("\n[[alert]]\nalertmanager = \"http://127.0.0.1:{port}\"\n"),
    );
    let (cluster, handle, stop) = test_hosts::run(&cfg);
    threerc::app::alerts(&cfg, &handle);
    test_hosts::until(&handle, "every VM healthy", |v| v.vms.iter().all(|vm| vm.state == VmState::Healthy)).await;
    let hosts: Vec<String> = cfg.cluster.hosts.iter().map(|h| h.name.clone()).collect();
    let mut took = Vec::new();
    for i in 0..samples {
        let host = &hosts[i % hosts.len()];
        let mut events = handle.events();
        cluster.power_off(host).unwrap();
        let (id, raised) = loop {
            let ev = events.recv().await.unwrap();
            if matches!(ev.kind, EventKind::Alarm { .. }) && ev.reason.contains("powered off by fence agent") {
                let EventKind::Alarm { id, .. } = ev.kind else { unreachable!() };
                break (id, Instant::now());
            }
        };
        let label = id.to_string();
        let held = tokio::task::spawn_blocking(move || loop {
            if alerts(port).iter().any(|a| a["labels"]["alarm_id"].as_str() == Some(label.as_str())) {
                return Instant::now();
            }
            std::thread::sleep(Duration::from_millis(5));
        })
        .await
        .unwrap();
        took.push(held - raised);
        handle.command("bench", threerc::core::Command::AckAlarm { id }).await.unwrap();
        cluster.power_on(host).unwrap();
        test_hosts::until_within(
            &handle,
            "the host back and every VM healthy",
            Duration::from_secs(120),
            |v| {
                v.hosts.iter().all(|h| h.state == threerc::core::HostState::Online)
                    && v.vms.iter().all(|vm| vm.state == VmState::Healthy)
            },
            |v| format!("{:?}", v.hosts.iter().map(|h| (&h.name, h.state)).collect::<Vec<_>>()),
        )
        .await;
    }
    println!(
        "alarm raised -> Alertmanager holds it ({} fenced hosts of the demo, 200 ms cycles): {}",
        took.len(),
        summary(&took)
    );
    let _ = stop.send(());
}

/// The cycle at `hosts` x 20 VMs with the metrics off, on and scraped, on and not scraped.
async fn cycle_with_metrics(hosts: usize, window: usize) {
    let c = case(hosts, 20, 262_144, 4096, "");
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
    let (_world, ctx) = sim::build(&c, clock.clone());
    let (sup, handle) = Supervisor::new(c.spec(), ctx, sim::run::settings(), clock, None);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sup.run(async {
        let _ = stopped.await;
    }));
    cycles(&handle, 3).await; // past discovery
    println!("{hosts} hosts x {} VMs on the simulator, 1 s cycles:", hosts * 20);
    let off = cycles(&handle, window).await;

    let metrics = threerc::supervisor::metrics::Metrics::start(&handle);
    let addr = threerc::supervisor::metrics::serve("127.0.0.1:0".parse().unwrap(), metrics).unwrap();
    let scraping = Arc::new(AtomicBool::new(true));
    let scrapes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (flag, record) = (scraping.clone(), scrapes.clone());
    let scraper = std::thread::spawn(move || {
        let mut size = 0;
        while flag.load(Ordering::Relaxed) {
            let t = Instant::now();
            size = get(addr.port(), "/metrics").len();
            record.lock().unwrap().push(t.elapsed());
            std::thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
        }
        size
    });
    let on = cycles(&handle, window).await;
    scraping.store(false, Ordering::Relaxed);
    let size = scraper.join().unwrap();
    let counted = cycles(&handle, window).await;
    println!("  metrics off: cycle {}", summary(&off));
    println!("  metrics on, scraped every second: cycle {}", summary(&on));
    println!("  metrics on, not scraped (events counted only): cycle {}", summary(&counted));
    let mean = |v: &[Duration]| v.iter().sum::<Duration>().as_secs_f64() / v.len().max(1) as f64;
    println!("  scraped / off: {:+.1} %", (mean(&on) / mean(&off) - 1.0) * 100.0);
    let scraped = scrapes.lock().unwrap().clone();
    println!("  a scrape: {} ({:.1} MiB a page)", summary(&scraped), size as f64 / (1 << 20) as f64);
    println!("  resident memory high-water mark: {} MiB", hwm_kib() / 1024);
    let _ = stop.send(());
    let _ = running.await;
}

fn main() {
    // `cargo test --all-targets` runs bench binaries too (without `--bench`): keep that quick.
    let quick = std::env::args().all(|a| a != "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        alarm_to_alertmanager(if quick { 1 } else { 8 }).await;
        let (hosts, window) = if quick { (20, 2) } else { (1000, 15) };
        cycle_with_metrics(hosts, window).await;
    });
}
