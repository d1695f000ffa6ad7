//! The console in a real terminal: `3rc demo --no-faults` in a tmux session of its own, driven
//! with `send-keys` and read with `capture-pane`, as an on-call engineer would over SSH.
//!
//! tmux is installed by `.ci/deps`; without it this test fails (it is not skipped).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "support/tmux.rs"]
mod tmux_session;
use tmux_session::{tmux, Session};

fn demo(log: &Path, extra: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_3rc");
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    format!(
        "env USER=alice TERM=xterm-256color '{bin}' demo --no-faults --assets '{}' --log-file '{}' {extra}",
        assets.display(),
        log.display()
    )
}

fn log_path(tag: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{tag}.log"));
    (dir, path)
}

#[test]
fn operate_the_demo_cluster_at_80x24_migrate_cancel_stop_drill_down_resize_and_quit() {
    let (_dir, log) = log_path("console");
    let s = Session::start(80, 24, &demo(&log, ""));
    s.wait_for("9 healthy", 30);

    // Filter to web1: the VMs table shows it alone.
    s.keys(&["/"]);
    s.type_text("web1");
    s.keys(&["Enter"]);
    let pane = s.wait_for("VMs 1/1 /web1", 5);
    assert!(pane.contains("web1"), "{pane}");

    // Migrate with the picker: the first allowed host is highlighted; Enter sends it.
    s.keys(&["m"]);
    let pane = s.wait_for("Live-migrate web1 to", 5);
    assert!(pane.contains("no: the VM runs here"), "{pane}");
    s.keys(&["Enter"]);
    s.wait_for(": accepted", 10);
    s.wait_for("Probation", 30);

    // Restart, then Esc: nothing happens.
    s.keys(&["r"]);
    s.wait_for("Restart web1?", 5);
    s.keys(&["Escape"]);
    s.wait_for("cancelled", 5);
    assert!(!s.pane().contains("Restart web1?"));

    // Stop needs the name typed; focus starts on Cancel.
    s.keys(&["S"]);
    s.wait_for("Type web1 to confirm", 5);
    s.type_text("web1");
    s.keys(&["Tab", "Enter"]);
    s.wait_for("stop web1: accepted", 10);
    s.wait_for("Stopped", 30);

    // Drill down: Enter on the VM, its detail; Esc goes back.
    s.keys(&["Enter"]);
    let pane = s.wait_for("› vm web1", 5);
    assert!(pane.contains("Timeline"), "{pane}");
    s.keys(&["End"]);
    s.wait_for("</domain>", 5);
    s.keys(&["Escape"]);
    s.wait_for("VMs 1/1", 5);

    // `:host hv2` opens the host detail with its URI.
    s.keys(&[":"]);
    s.type_text("host hv2");
    s.keys(&["Enter"]);
    let pane = s.wait_for("› host hv2", 5);
    assert!(pane.contains("URI"), "{pane}");
    // Esc clears the filter first (still web1), then goes back.
    s.keys(&["Escape", "Escape"]);
    s.wait_for("/9 ─", 5);

    // A larger terminal: the layout follows.
    tmux(&["resize-window", "-t", &s.name, "-x", "120", "-y", "40"]);
    let pane = s.wait_until("the console to redraw at 120 columns", 5, |pane| {
        pane.lines().map(|l| l.chars().count()).max().unwrap_or(0) > 100
    });
    assert!(pane.lines().any(|l| l.starts_with("┌ Hosts") && l.chars().count() == 120), "{pane}");

    s.keys(&["q"]);
    let end = Instant::now() + Duration::from_secs(10);
    while !s.dead() {
        assert!(Instant::now() < end, "q did not quit:\n{}", s.pane());
        std::thread::sleep(Duration::from_millis(100));
    }

    // The journaled command says who confirmed it, and how.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("console:alice (confirmed by typing web1)"), "log:\n{text}");
}

#[test]
fn readonly_demo_has_no_dangerous_keys_in_the_help_and_r_does_nothing() {
    let (_dir, log) = log_path("readonly");
    let s = Session::start(80, 24, &demo(&log, "--readonly"));
    s.wait_for("READ-ONLY", 30);
    s.keys(&["r"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!s.pane().contains("Restart web1?"), "{}", s.pane());
    s.keys(&["?"]);
    let pane = s.wait_for("Help (read-only)", 5);
    for word in ["restart", "migrate", "reinstall", "maintenance"] {
        assert!(!pane.contains(word), "{word} in read-only help:\n{pane}");
    }
    s.keys(&["Escape", "q"]);
}
