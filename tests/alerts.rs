//! Pages through a real Alertmanager (Debian's `prometheus-alertmanager`, started by the test on
//! loopback): the supervisor on the demo cluster's test-driver hosts, a host powered off and
//! fenced while Alertmanager is still down; its alarm arrives once Alertmanager is up (what was
//! missed is sent when the target comes back), with labels that route; an `ack` resolves it.
//!
//! `prometheus-alertmanager` is installed by `.ci/deps`; without it this test fails.

use serde_json::Value;
use std::time::{Duration, Instant};
use threerc::core::{Command as Cmd, Severity};

#[path = "support/alertmanager.rs"]
mod alertmanager;
#[path = "support/test_hosts.rs"]
#[allow(dead_code)] // the host-file builders serve other test binaries
mod test_hosts;
use alertmanager::{alerts, free_port, Alertmanager};

fn fenced_alert(port: u16) -> Option<Value> {
    alerts(port).into_iter().find(|a| a["labels"]["alarm"] == "fenced" && a["labels"]["host"] == "hv3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_host_pages_alertmanager_once_it_is_up_and_the_ack_resolves_it() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cfg = test_hosts::demo_config(
        state.path(),
        "200ms",
        &format!("\n[[alert]]\nalertmanager = \"http://127.0.0.1:{port}\"\nmin_severity = \"warning\"\n"),
    );
    cfg.path = state.path().join("prod.toml");
    let (cluster, handle, stop) = test_hosts::run(&cfg);
    threerc::app::alerts(&cfg, &handle);
    test_hosts::until_steady(&handle).await;

    // hv3 fails and is fenced while Alertmanager is down: the page waits.
    cluster.power_off("hv3").unwrap();
    let view = test_hosts::until(&handle, "hv3's fenced alarm", |v| v.alarms.iter().any(|a| a.kind == "fenced")).await;
    let alarm = view.alarms.iter().find(|a| a.kind == "fenced").unwrap().clone();
    assert_eq!(alarm.severity, Severity::Warning);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let dir = tempfile::tempdir().unwrap();
    let _am = Alertmanager::start(dir.path(), port);
    let t = Instant::now();
    let page = tokio::task::spawn_blocking(move || loop {
        if let Some(a) = fenced_alert(port) {
            return a;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no page in Alertmanager: {:?}", alerts(port));
        std::thread::sleep(Duration::from_millis(200));
    })
    .await
    .unwrap();
    eprintln!("Alertmanager held the page {:?} after it started", t.elapsed());
    let labels = &page["labels"];
    assert_eq!(labels["alertname"], "ThreeRC");
    assert_eq!(labels["severity"], "warning");
    assert_eq!(labels["cluster"], "prod");
    assert_eq!(labels["alarm_id"], alarm.id.to_string());
    assert_eq!(page["status"]["state"], "active", "{page}");
    let console = page["annotations"]["console"].as_str().unwrap_or_default();
    assert!(console.starts_with("3rc console --config ") && console.ends_with("prod.toml"), "{page}");
    assert!(page["annotations"]["summary"].as_str().unwrap_or_default().contains("hv3"), "{page}");

    // Acknowledged in the console (or `3rc ctl ack`): the page resolves.
    handle.command("console:alice", Cmd::AckAlarm { id: alarm.id }).await.unwrap();
    let t = Instant::now();
    tokio::task::spawn_blocking(move || loop {
        match fenced_alert(port) {
            None => return,
            Some(a) if a["status"]["state"] != "active" => return,
            Some(a) => {
                assert!(t.elapsed() < Duration::from_secs(30), "still active after the ack: {a}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    })
    .await
    .unwrap();
    let _ = stop.send(());
}
