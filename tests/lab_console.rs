//! The on-call engineer's SSH session drops in the middle of a recovery, on the lab's real
//! libvirt hosts: `3rc run --headless` supervises (the service), `3rc console` is attached in a
//! tmux session; a host is powered off and, while its recovery is under way, the console's
//! terminal is killed. Supervision goes on: the host is fenced, its VM runs once on the other
//! host, all of it journaled; a console attached again shows the outcome, and the VM's timeline.
//!
//! Needs root and the lab packages, as every lab test (THREERC_SKIP_LAB=1 leaves it out, and
//! says so).

#[path = "lab/harness.rs"]
mod harness;
#[path = "support/tmux.rs"]
mod tmux_session;

use harness::{lab_allowed, Lab, Supervisor};
use std::path::Path;
use std::time::Duration;
use tmux_session::Session;

fn console(config: &Path, log: &Path) -> String {
    format!(
        "env USER=oncall TERM=xterm-256color '{}' console --config '{}' --log-file '{}'",
        env!("CARGO_BIN_EXE_3rc"),
        config.display(),
        log.display()
    )
}

/// The console's table row of `name` in the pane (its first column), if shown.
fn row<'a>(pane: &'a str, name: &str) -> Option<&'a str> {
    pane.lines().find(|l| l.trim_start_matches('│').split_whitespace().next() == Some(name))
}

#[test]
fn lab_the_ssh_session_drops_during_a_recovery_that_finishes_and_is_seen_on_attaching_again() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(2, 1);
    let vms = vec!["vm11".to_string(), "vm21".to_string()];
    let cfg = lab.config(&vms, "min_uptime = \"2s\"");
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "both VMs healthy and in the inventory", Duration::from_secs(60), |s| {
        let text = s.text();
        vms.iter().all(|v| text.contains(&format!("vm {v} Discovering -> Healthy"))) && s.inventory() >= 2
    });
    let logs = lab.path().join("console-logs");
    std::fs::create_dir_all(&logs).unwrap();

    let first = Session::start(120, 35, &console(&cfg, &logs.join("first.log")));
    first.wait_for("2 healthy", 30);
    lab.run(&["power-off", "hv1"]);
    // The recovery is under way: hv1 is judged down (then fenced).
    first.wait_until("hv1 down or being fenced", 60, |p| {
        row(p, "hv1").is_some_and(|r| ["Down", "Fencing", "Suspect"].iter().any(|s| r.contains(s)))
    });
    // The SSH session drops: the terminal and the console in it are gone.
    drop(first);

    sup.wait_for(&lab, "hv1 fenced and vm11 running on hv2", Duration::from_secs(90), |s| {
        s.text().contains("host hv1 Fencing -> Fenced")
            && s.text().contains("vm vm11 Relocating -> Probation")
            && lab.truth().get("vm11") == Some(&vec!["hv2".to_string()])
    });
    let log = sup.log_lines().join("\n");
    assert!(log.contains("console detached: console:oncall"), "the supervisor saw the console go:\n{log}");
    let text = sup.text();
    let detached = log.lines().position(|l| l.contains("console detached")).unwrap();
    let fenced = log.lines().position(|l| l.contains("host hv1 Fencing -> Fenced")).expect(&text);
    assert!(detached < fenced, "the console was gone before the fence:\n{log}");

    // Attach again: the outcome is there, and vm11's timeline says how it got there.
    let again = Session::start(120, 35, &console(&cfg, &logs.join("again.log")));
    let pane = again.wait_until("hv1 fenced and vm11 on hv2", 30, |p| {
        row(p, "hv1").is_some_and(|r| r.contains("Fenced")) && row(p, "vm11").is_some_and(|r| r.contains("hv2"))
    });
    assert!(!pane.contains("SUPERVISOR LOST"), "{pane}");
    again.keys(&["/"]);
    again.type_text("vm11");
    again.keys(&["Enter", "Enter"]);
    let pane = again.wait_for("› vm vm11", 10);
    assert!(pane.contains("AwaitingFence") && pane.contains("Relocating"), "vm11's timeline:\n{pane}");
}
