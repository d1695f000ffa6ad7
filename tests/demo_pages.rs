//! The demo, run with the example config, pages a real Alertmanager (Debian's
//! `prometheus-alertmanager`, on loopback) when its fault injector fails a host, and the page
//! resolves when the alarm is acknowledged in the console: `3rc demo --config example.toml` in
//! a tmux session, its injector seeded so that its first fault (15 s in) fails hv3, the
//! example's Alertmanager and metrics addresses moved to free ports.
//!
//! tmux and prometheus-alertmanager are installed by `.ci/deps`; without them this test fails.

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "support/tmux.rs"]
mod tmux_session;
use tmux_session::Session;
#[path = "support/alertmanager.rs"]
mod alertmanager;
use alertmanager::{alerts, free_port, get, Alertmanager};

/// The seed whose first fault fails hv3 (`backend::demo::injector`: one draw for the period,
/// then one in four is a host failure, then the host).
const SEED: u64 = 24;

/// Alertmanager's alert for the fenced host, if it holds one.
fn fenced(port: u16) -> Option<Value> {
    alerts(port).into_iter().find(|a| a["labels"]["alarm"] == "fenced")
}

fn wait<T>(what: &str, secs: u64, f: impl Fn() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "waited {secs} s for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_demo_with_the_example_config_pages_alertmanager_and_the_ack_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let (am_port, metrics_port) = (free_port(), free_port());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/example.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    assert!(text.contains("alertmanager = \"http://127.0.0.1:9093\"") && text.contains("listen = \"127.0.0.1:9633\""));
    let text = text
        .replace("http://127.0.0.1:9093", &format!("http://127.0.0.1:{am_port}"))
        .replace("127.0.0.1:9633", &format!("127.0.0.1:{metrics_port}"));
    let config = dir.path().join("example.toml");
    std::fs::write(&config, text).unwrap();
    // What it names beside it (its reinstall templates).
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    for entry in std::fs::read_dir(example.with_file_name("templates")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.path().join("templates").join(p.file_name().unwrap())).unwrap();
    }

    let _am = Alertmanager::start(dir.path(), am_port);
    wait("Alertmanager to answer", 30, || get(am_port, "/-/ready").contains("OK").then_some(()));

    let bin = env!("CARGO_BIN_EXE_3rc");
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let s = Session::start(
        120,
        40,
        &format!(
            "env TERM=xterm-256color '{bin}' demo --seed {SEED} --assets '{}' --config '{}' --log-file '{}'",
            assets.display(),
            config.display(),
            dir.path().join("demo.log").display()
        ),
    );
    s.wait_for("9 healthy", 30);

    // The injector fails hv3 15 s in; it is fenced, and its alarm pages.
    let t = Instant::now();
    let page = wait("the fenced host's page in Alertmanager", 90, || fenced(am_port));
    eprintln!("paged {:?} after the demo was up", t.elapsed());
    let labels = &page["labels"];
    assert_eq!(labels["host"], "hv3", "{page}");
    assert_eq!((labels["cluster"].as_str(), labels["severity"].as_str()), (Some("demo"), Some("warning")));
    assert_eq!(page["status"]["state"], "active", "{page}");
    assert_eq!(page["annotations"]["console"], "3rc demo");
    let metrics = get(metrics_port, "/metrics");
    assert!(metrics.contains("threerc_fences_total{host=\"hv3\",result=\"done\"} 1"), "{metrics}");
    s.wait_for("ALARM WARNING", 10);

    // Acknowledged in the console (`a`, the newest alarm first): the page resolves.
    let id = labels["alarm_id"].as_str().unwrap().to_string();
    for _ in 0..10 {
        s.keys(&["a"]);
        std::thread::sleep(Duration::from_millis(1500));
        if fenced(am_port).is_none_or(|a| a["status"]["state"] != "active") {
            break;
        }
    }
    let last = fenced(am_port);
    assert!(last.as_ref().is_none_or(|a| a["status"]["state"] != "active"), "still active: {last:?}");
    let log = std::fs::read_to_string(dir.path().join("demo.log")).unwrap();
    assert!(log.contains(&format!("acknowledge alarm {id}")), "the ack is in the log");
}
