//! Consoles attached to a running supervisor through its socket, at 1,000 hosts x 20,000 VMs on
//! the simulator (real time, the real socket and protocol, 1 s cycles): the time from attaching
//! to the first frame drawn, the bytes per second each console receives in a steady cluster and
//! during a host failure, and the supervisor's cycle time with 0, 1 and 5 consoles attached.
//! Each console here does what `3rc console` does with what it receives: decodes it and applies
//! the deltas to its view. Prints figures; asserts nothing. `cargo bench --bench console_attach`.

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use threerc::hv::clock::{Clock, TokioClock};
use threerc::sim;
use threerc::supervisor::control::{self, client, protocol::ToConsole};
use threerc::supervisor::Supervisor;
use threerc::ui::{Renderer, Theme};

#[path = "support/sim.rs"]
mod support;
use support::{case, cycles, hwm_kib, ms, percentile};

/// A console attached for the benchmark: the bytes it has received, counted as they come.
struct Console {
    bytes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
    /// Kept open: a console that closes its side has detached.
    _writer: client::SessionWriter,
}

/// Attach, decode the whole view and draw the first frame: the time that takes, and the
/// console, which goes on reading and applying what comes.
async fn attach(socket: &std::path::Path) -> (Duration, Console) {
    let t = Instant::now();
    let a = client::attach(socket).await.expect("attach");
    let mut r = Renderer::new(Arc::new(a.view.clone()), Theme::builtin_default());
    let mut terminal = Terminal::new(TestBackend::new(160, 50)).unwrap();
    terminal.draw(|f| r.draw(f)).unwrap();
    let first = t.elapsed();
    let bytes = Arc::new(AtomicU64::new(a.reader.bytes()));
    let counted = bytes.clone();
    let (mut reader, mut view) = (a.reader, a.view);
    let task = tokio::spawn(async move {
        loop {
            let msg = match reader.next().await {
                Ok(Some(msg)) => msg,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("a console's session broke: {e:#}");
                    break;
                }
            };
            match msg {
                ToConsole::Full(v) => view = v,
                ToConsole::Delta(d) => d.apply(&mut view).expect("a delta that fits"),
                _ => {}
            }
            counted.store(reader.bytes(), Ordering::Relaxed);
        }
    });
    (first, Console { bytes, task, _writer: a.writer })
}

fn summary(times: &[Duration]) -> String {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    format!("mean {} | p50 {} | max {}", ms(mean), ms(percentile(&sorted, 0.5)), ms(*sorted.last().unwrap()))
}

/// Bytes per second each console received over `secs` seconds from now.
async fn rate(consoles: &[Console], secs: u64) -> Vec<f64> {
    let before: Vec<u64> = consoles.iter().map(|c| c.bytes.load(Ordering::Relaxed)).collect();
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let took = t.elapsed().as_secs_f64();
    consoles.iter().zip(before).map(|(c, b)| (c.bytes.load(Ordering::Relaxed) - b) as f64 / took).collect()
}

fn per_second(v: &[f64]) -> String {
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    if mean < 10_240.0 {
        format!("{mean:.0} B/s per console (mean of {})", v.len())
    } else {
        format!("{:.1} KiB/s per console (mean of {})", mean / 1024.0, v.len())
    }
}

fn main() {
    // `cargo test --all-targets` runs bench binaries too (without `--bench`): keep that quick.
    let quick = std::env::args().all(|a| a != "--bench");
    let (hosts, steady) = if quick { (20, 2) } else { (1000, 10) };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let c = case(hosts, 20, 262_144, 4096, "");
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
        let (world, ctx) = sim::build(&c, clock.clone());
        let settings = sim::run::settings();
        let (sup, handle) = Supervisor::new(c.spec(), ctx, settings, clock, None);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(sup.run(async {
            let _ = stopped.await;
        }));
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("control.sock");
        let server = control::Server::new(handle.clone(), Default::default(), "bench".into());
        let _serving = control::serve(&socket, server).await.unwrap();
        // Past discovery: every VM found.
        cycles(&handle, 3).await;
        println!(
            "{hosts} hosts x {} VMs on the simulator, 1 s cycles, consoles on the supervisor's socket:",
            hosts * 20
        );
        println!("  0 consoles: cycle {}", summary(&cycles(&handle, steady).await));

        let (first, one) = attach(&socket).await;
        let whole = one.bytes.load(Ordering::Relaxed);
        println!(
            "  attach -> first frame drawn: {} (hello and the whole view: {:.1} MiB)",
            ms(first),
            whole as f64 / (1 << 20) as f64
        );
        let mut consoles = vec![one];
        let times = cycles(&handle, steady).await;
        let r = rate(&consoles, steady as u64).await;
        println!("  1 console:  cycle {} | steady {}", summary(&times), per_second(&r));

        let mut firsts = Vec::new();
        for _ in 0..4 {
            let (f, c) = attach(&socket).await;
            firsts.push(f);
            consoles.push(c);
        }
        let times = cycles(&handle, steady).await;
        let r = rate(&consoles, steady as u64).await;
        println!(
            "  5 consoles: cycle {} | steady {} | attach -> first frame of the 4 more: {}",
            summary(&times),
            per_second(&r),
            firsts.iter().map(|f| ms(*f)).collect::<Vec<_>>().join(", ")
        );

        // A host carrying 20 VMs fails: detection, fence, 20 recoveries, probation.
        world.lock().power_off("hv0000");
        let (times, r) = tokio::join!(cycles(&handle, 15), rate(&consoles, 15));
        println!(
            "  5 consoles, hv0000 (20 VMs) powered off: cycle {} | the 15 s after {}",
            summary(&times),
            per_second(&r)
        );
        let recovered = handle.snapshot_now(Duration::from_secs(5)).await;
        let moved = recovered.vms.iter().filter(|v| v.host.as_deref().is_some_and(|h| h != "hv0000")).count();
        println!("  (VMs on a live host at the end: {moved} of {})", recovered.vms.len());
        println!("  resident memory high-water mark: {} MiB", hwm_kib() / 1024);
        for c in consoles {
            c.task.abort();
        }
        let _ = stop.send(());
        let _ = running.await;
    });
}
