//! Lifecycle events end to end on the demo cluster (libvirt's test driver, in process): a crash
//! that libvirt reports brings the next cycle forward, and that early cycle's probe is the
//! VM's first failed one; the hysteresis then waits for the scheduled cycles as always.
//!
//! One test in this binary: it reads the supervisor's own log (tracing, captured for the whole
//! process) to tell early cycles from scheduled ones, so no other supervisor may run alongside.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use threerc::backend::demo::DemoCluster;
use threerc::config::Config;
use threerc::core::VmState;

#[path = "support/captured_log.rs"]
mod captured_log;
use captured_log::Captured;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_is_probed_when_libvirt_reports_it_not_at_the_next_scheduled_cycle() {
    let log = Captured::install("3rc=info,3rc::pace=debug,3rc::events=debug");

    // Cycles 10 s apart: an early cycle may come 2.5 s after the previous one.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let text =
        std::fs::read_to_string(dir.join("cluster.toml")).unwrap().replace("interval = \"1s\"", "interval = \"10s\"");
    let cfg = Config::parse(&text, &dir.join("cluster.toml")).unwrap();
    assert!(cfg.settings.events, "events are on by default");
    threerc::backend::libvirt::init();
    let cluster = DemoCluster::from_specs(&cfg.cluster.hosts);
    let fencers = threerc::app::fencers(&cfg, Some(&cluster)).unwrap();
    let (sup, handle) = threerc::app::assemble(&cfg, Arc::from(cluster.connector()), fencers).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sup.run(async {
        let _ = stopped.await;
    }));

    let views = handle.snapshots();
    let until = |what: &'static str, pred: fn(&threerc::core::ClusterView) -> bool| {
        let mut views = views.clone();
        let log = log.clone();
        async move {
            let wait = async {
                loop {
                    if pred(&views.borrow_and_update()) {
                        return;
                    }
                    views.changed().await.unwrap();
                }
            };
            if tokio::time::timeout(Duration::from_secs(30), wait).await.is_err() {
                panic!("timed out waiting for {what}\n{}", log.lines().join("\n"));
            }
        }
    };
    until("every VM healthy", |v| v.vms.iter().all(|vm| vm.state == VmState::Healthy)).await;

    cluster.crash_vm("hv1", "web1").unwrap();
    until("web1 seen crashed", |v| v.vm("web1").is_some_and(|w| w.state == VmState::Suspect)).await;

    let lines = log.lines();
    let text = lines.join("\n");
    let find = |from: usize, part: &str| lines.iter().skip(from).position(|l| l.contains(part)).map(|i| i + from);
    let hint =
        find(0, "hv1: domain web1 stopped (destroyed): looking now").unwrap_or_else(|| panic!("no hint\n{text}"));
    let early = find(hint, "early, after hv1: domain web1 stopped (destroyed)")
        .unwrap_or_else(|| panic!("no early cycle after the hint\n{text}"));
    let suspect = find(early, "vm web1 Healthy -> Suspect: 1 failed probe (shut off)")
        .unwrap_or_else(|| panic!("web1 not seen crashed after the early cycle\n{text}"));
    // Seen by the early cycle itself, not by a later scheduled one.
    let next_cycle = find(early + 1, "3rc::pace");
    assert!(next_cycle.is_none_or(|n| n > suspect), "{text}");
    assert!(find(0, "on schedule").is_some_and(|first| first < hint), "{text}");
    let _ = stop.send(());
}
