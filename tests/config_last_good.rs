//! The real binary and a config file edited into one it cannot use (`config::lastgood`): a
//! first start refuses it as before, leaving nothing behind; once a run has started on a good
//! file, a restart on a bad one supervises on the last good config with a critical alarm, and
//! `3rc ctl` reaches it through the bad file; `3rc check` says which is which; a restart on a
//! good file ends the alarm and keeps that file. On libvirt's test driver (`test:///default`,
//! whose domain `test` runs), no daemon, no root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_3rc"))
}

#[path = "support/running.rs"]
mod running;
use running::Running;

/// `3rc run --headless` on `cfg`, once its control socket at `socket` answers.
fn start(cfg: &Path, socket: &Path) -> Running {
    Running(bin().args(["run", "--headless", "--config"]).arg(cfg).spawn().unwrap()).ready(socket)
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn check(cfg: &Path) -> Output {
    bin().args(["check", "--config"]).arg(cfg).output().unwrap()
}

/// `3rc ctl status` through `cfg` once `pred` holds on it (the first cycles take a moment).
fn status_until(cfg: &Path, what: &str, pred: impl Fn(&str) -> bool) -> Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = bin().args(["ctl", "--config"]).arg(cfg).arg("status").output().unwrap();
        if out.status.success() && pred(&text(&out)) {
            return out;
        }
        assert!(Instant::now() < deadline, "no status with {what}:\n{}", text(&out));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A config protecting `test` on one test-driver host (no spare capacity checked: one host has
/// none), its state in `state`, with `extra` after `state_dir`.
fn good(state: &Path, extra: &str) -> String {
    format!(
        "state_dir = \"{}\"\n{extra}[quorum]\nwitnesses = []\n[[host]]\nname = \"hv1\"\nuri = \"test:///default\"\n\
         [[vm]]\nname = \"test\"\n[placement]\nspare_hosts = 0\n",
        state.display()
    )
}

#[test]
fn a_config_that_cannot_be_used_leaves_the_supervisor_on_the_last_good_one_with_an_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, state): (PathBuf, PathBuf) = (dir.path().join("cluster.toml"), dir.path().join("state"));
    let (socket, copy) = (state.join("control.sock"), state.join("config.last-good.toml"));
    let bad = good(&state, "").replace("[[vm]]\nname = \"test\"", "[[vm]]\nname = \"test\"\npriority = \"high\"");

    // A first start on a bad file: refused as before (exit 2, where and what), nothing kept.
    std::fs::write(&cfg, &bad).unwrap();
    let out = bin().args(["run", "--headless", "--config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("cluster.toml:9:12: "), "{}", text(&out));
    assert!(!copy.exists(), "nothing kept from a config that was never used");

    // A run on a good file keeps it (mode 0600: a config may hold secrets).
    std::fs::write(&cfg, good(&state, "")).unwrap();
    let run = start(&cfg, &socket);
    status_until(&cfg, "test healthy", |s| s.lines().any(|l| l.starts_with("test ") && l.contains(" Healthy ")));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), good(&state, ""));
    assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);
    let out = check(&cfg);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("can be used: 1 hosts, 1 VMs"), "{}", text(&out));
    assert!(text(&out).contains("the same as the last good config"), "{}", text(&out));
    run.stop();

    // A file that parses but on which 3RC cannot start (its metrics port taken): not kept.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    std::fs::write(&cfg, good(&state, &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"))).unwrap();
    let out = bin().args(["run", "--headless", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), good(&state, ""), "kept only once started on it");

    // The file edited into a bad one, and 3RC restarted: it supervises on the copy, with a
    // critical alarm naming what is wrong with the file; `3rc ctl` reaches it through the file.
    std::fs::write(&cfg, &bad).unwrap();
    let out = check(&cfg);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("cluster.toml:9:12: "), "{}", text(&out));
    let run = start(&cfg, &socket);
    let out = status_until(&cfg, "the alarm and test healthy", |s| {
        s.contains("ALARM #") && s.lines().any(|l| l.starts_with("test ") && l.contains(" Healthy "))
    });
    let said = text(&out);
    let alarm = said.lines().find(|l| l.starts_with("ALARM #")).unwrap_or_default();
    assert!(alarm.contains("Critical"), "{said}");
    assert!(alarm.contains("cluster.toml:9:12: ") && alarm.contains("runs on the last good config"), "{said}");
    assert!(!alarm.contains("high"), "where the file is wrong, not the value it quotes: {said}");
    assert!(alarm.contains(&copy.display().to_string()), "{said}");
    assert!(said.contains("warning: ") && said.contains("stands in for it"), "ctl says so too:\n{said}");
    assert!(!said.contains("high"), "where, not the value it quotes:\n{said}");
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), good(&state, ""), "the copy is not replaced by a bad file");
    // A file whose TOML does not even parse: its state_dir line still leads to the copy.
    std::fs::write(&cfg, format!("{bad}[[host]\n")).unwrap();
    status_until(&cfg, "the alarm", |s| s.contains("ALARM #"));
    run.stop();

    // Fixed, and changed: `check` says it differs; a restart runs on it, keeps it, ends the alarm.
    let fixed = good(&state, "[defaults]\nfail_threshold = 2\n");
    std::fs::write(&cfg, &fixed).unwrap();
    let out = check(&cfg);
    assert!(out.status.success() && text(&out).contains("differs from the last good config"), "{}", text(&out));
    let run = start(&cfg, &socket);
    let out = status_until(&cfg, "the alarm ended", |s| s.contains("ACKED #"));
    let said = text(&out);
    assert!(!said.contains("ALARM #"), "{said}");
    assert!(said.contains("acknowledged by 3rc") && said.contains("runs on the last good config"), "{said}");
    assert!(!said.contains("warning: "), "{said}");
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), fixed);
    run.stop();
}
