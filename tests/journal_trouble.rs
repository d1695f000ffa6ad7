//! The real binary over a journal it cannot write: a read-only journal file and a full disk,
//! each made for real in a mount namespace of the test's own (`unshare -m`: a read-only bind
//! mount of the journal, a small tmpfs filled up). 3RC reads everything back and supervises,
//! a critical alarm says the journal cannot be written, and a command is answered as in force
//! but not kept. Needs root (mounts); the namespace and its mounts go with the process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_3rc"))
}

fn root() -> bool {
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A config with one test-driver host and its state in `state`.
fn config(path: &Path, state: &Path) {
    let text = format!(
        "state_dir = \"{}\"\n[quorum]\nwitnesses = []\n[[host]]\nname = \"hv1\"\nuri = \"test:///default\"\n",
        state.display()
    );
    std::fs::write(path, text).unwrap();
}

#[path = "support/running.rs"]
mod running;
use running::Running;

fn ctl(cfg: &Path, words: &[&str]) -> Output {
    bin().args(["ctl", "--config"]).arg(cfg).args(words).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Run 1, on the real disk: the operator disarms the cluster (a decision to read back).
fn first_run(dir: &Path) -> (PathBuf, PathBuf) {
    let state = dir.join("state");
    let cfg = dir.join("cluster.toml");
    config(&cfg, &state);
    let run = Running(bin().args(["run", "--headless", "--config"]).arg(&cfg).spawn().unwrap());
    let run = run.ready(&state.join("control.sock"));
    let out = ctl(&cfg, &["--yes", "disarm"]);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", text(&out));
    run.stop();
    (state, cfg)
}

/// Run 2 in a mount namespace prepared by `setup` (shell), then checked from outside through
/// `/proc/PID/root`: the decision read back, the alarm, a command answered as not kept.
fn second_run_cannot_write(dir: &Path, state: &Path, setup: &str) {
    let cfg = dir.join("cluster.toml");
    let script = format!("set -e; {setup}; exec \"$0\" run --headless --config \"$1\"");
    let child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .arg(env!("CARGO_BIN_EXE_3rc"))
        .arg(&cfg)
        .spawn()
        .unwrap();
    // Its state folder as this test sees it, through the namespace of the supervisor.
    let seen = PathBuf::from(format!("/proc/{}/root{}", child.id(), state.display()));
    let outside = dir.join("outside.toml");
    config(&outside, &seen);
    let run = Running(child).ready(&seen.join("control.sock"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let out = ctl(&outside, &["status"]);
        let s = text(&out);
        if s.contains("cannot be written") {
            break s;
        }
        assert!(Instant::now() < deadline, "no alarm about the journal: {s}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.contains("DISARMED") || status.contains("disarmed by cli:"), "read back: {status}");
    assert!(status.contains("ALARM #") && status.contains("Critical"), "{status}");
    let out = ctl(&outside, &["arm"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("accepted") && said.contains("warning: in force now, but NOT kept"), "{said}");
    run.stop();
}

#[test]
fn a_read_only_journal_is_read_back_supervision_goes_on_and_commands_say_they_are_not_kept() {
    if !root() {
        eprintln!("skipped: needs root for a read-only bind mount");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (state, cfg) = first_run(dir.path());
    let j = state.join("journal.db");
    let setup = format!("mount --bind '{0}' '{0}'; mount -o remount,bind,ro '{0}'", j.display());
    let before = std::fs::read(&j).unwrap();
    second_run_cannot_write(dir.path(), &state, &setup);
    assert_eq!(std::fs::read(&j).unwrap(), before, "the read-only journal was changed");
    // The next run, writable again: the arm given meanwhile was not kept, as its answer said.
    let run = Running(bin().args(["run", "--headless", "--config"]).arg(&cfg).spawn().unwrap());
    let run = run.ready(&state.join("control.sock"));
    let status = text(&ctl(&cfg, &["status"]));
    assert!(status.contains("disarmed by cli:"), "{status}");
    run.stop();
}

#[test]
fn a_full_disk_under_the_journal_is_read_back_and_supervision_goes_on() {
    if !root() {
        eprintln!("skipped: needs root for a tmpfs");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (state, _cfg) = first_run(dir.path());
    let copy = dir.path().join("copy");
    // The state folder on a small tmpfs of its own, filled to the last byte.
    let setup = format!(
        "cp -a '{s}' '{c}'; mount -t tmpfs -o size=4m,mode=0700 3rc-test '{s}'; cp -a '{c}/.' '{s}/'; \
         dd if=/dev/zero of='{s}/fill' bs=4k 2>/dev/null || true",
        s = state.display(),
        c = copy.display()
    );
    second_run_cannot_write(dir.path(), &state, &setup);
}
