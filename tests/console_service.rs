//! The service and consoles attached to it, all real processes: `3rc run --headless` on the
//! demo's test-driver hosts, and two `3rc console`s in tmux sessions of their own, one run by
//! root (an operator) and one by nobody (a viewer by the config's `[access]`). The viewer's
//! console is read-only and sees the operator's command as it happens; `3rc ctl` run by nobody
//! is refused by the supervisor. Closing a console's terminal stops nothing.
//!
//! (Test-driver hosts opened by URI give each connection a private copy of the host, so the
//! operations of this service do not reach what its probes see: the test checks commands, their
//! verdicts and announcements, not their effect on the VMs. `tests/lab_console.rs` does that on
//! real hosts.)
//!
//! Needs root (to run processes as nobody) and tmux (`.ci/deps` installs it).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "support/tmux.rs"]
mod tmux_session;
use tmux_session::Session;

/// The service, killed when the test ends.
struct Service(Child);

impl Service {
    /// `3rc run --headless --config CONFIG`.
    fn start(config: &Path) -> Service {
        let child = Command::new(bin())
            .args(["run", "--headless", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Service(child)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The demo cluster in `dir` (readable by everyone: the viewer's console reads the config), its
/// state folder searchable by everyone, with nobody as a viewer.
fn cluster(dir: &Path) -> PathBuf {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    for entry in std::fs::read_dir(&demo).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "xml") {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::create_dir(dir.join("templates")).unwrap();
    for entry in std::fs::read_dir(demo.join("templates")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.join("templates").join(p.file_name().unwrap())).unwrap();
    }
    let text = std::fs::read_to_string(demo.join("cluster.toml")).unwrap();
    // Test-driver hosts of its own; the demo's fence agent needs the demo's process: none here.
    let text: String =
        text.lines().filter(|l| !l.trim_start().starts_with("fence = ")).map(|l| format!("{l}\n")).collect();
    let config = dir.join("cluster.toml");
    std::fs::write(&config, format!("state_dir = \"state\"\n{text}\n[access]\nviewers = [\"nobody\"]\n")).unwrap();
    std::fs::create_dir(dir.join("state")).unwrap();
    for p in [dir.to_path_buf(), dir.join("state")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    config
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_3rc")
}

fn console(config: &Path, log: &Path, as_nobody: bool) -> String {
    let who = if as_nobody { "setpriv --reuid=nobody --regid=nogroup --clear-groups " } else { "" };
    format!(
        "{who}env USER={} HOME=/nonexistent TERM=xterm-256color '{}' console --config '{}' --log-file '{}'",
        if as_nobody { "nobody" } else { "alice" },
        bin(),
        config.display(),
        log.display()
    )
}

#[test]
fn an_operator_and_a_viewer_attached_to_the_service_and_a_terminal_closed_stops_nothing() {
    assert!(nix_is_root(), "this test runs a console as nobody, which needs root (CI runs as root)");
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let config = cluster(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o777)).unwrap();
    let service = Service::start(&config);
    let socket = dir.path().join("state/control.sock");
    let t = std::time::Instant::now();
    while !socket.exists() {
        assert!(t.elapsed() < Duration::from_secs(20), "the service did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }

    let alice = Session::start(120, 35, &console(&config, &logs.join("alice.log"), false));
    alice.wait_for("9 healthy", 30);
    let viewer = Session::start(120, 35, &console(&config, &logs.join("nobody.log"), true));
    let pane = viewer.wait_for("9 healthy", 30);
    assert!(pane.contains("READ-ONLY"), "a viewer's console is read-only:\n{pane}");
    // Its keys change nothing: restart is not even there.
    viewer.keys(&["r"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!viewer.pane().contains("Restart web1?"), "{}", viewer.pane());

    // The operator stops web1 (its name typed); the viewer sees it happen, announced and logged.
    alice.keys(&["/"]);
    alice.type_text("web1");
    alice.keys(&["Enter", "S"]);
    alice.wait_for("Type web1 to confirm", 5);
    alice.type_text("web1");
    alice.keys(&["Tab", "Enter"]);
    alice.wait_for("stop web1: accepted", 10);
    let pane = viewer.wait_for("stop web1 by console:alice", 10);
    assert!(pane.contains("(uid 0)"), "{pane}");
    viewer.wait_until("web1 stopped in the viewer's table", 30, |p| {
        p.lines().any(|l| l.contains("web1") && l.contains("Stopped"))
    });

    // `3rc ctl` as nobody: the supervisor refuses the command, whatever the client says.
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", bin(), "ctl", "--config"])
        .arg(&config)
        .args(["start", "web1", "--yes"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("nobody is a viewer"), "{err}");

    // Close alice's terminal (an SSH session dropping): the supervisor goes on, and says so.
    drop(alice);
    let supervisor_log = dir.path().join("state/3rc.log");
    let t = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&supervisor_log).unwrap_or_default();
        if text.contains("console detached: console:alice") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "the supervisor did not see alice go:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Still supervising: a command from `3rc ctl` is taken, and the viewer sees it announced.
    let out =
        Command::new(bin()).args(["ctl", "--config"]).arg(&config).args(["disarm", "db1", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    viewer.wait_for("disarm db1 by cli:", 10);

    // The service restarts: the console says it lost it, then attaches again by itself.
    drop(service);
    viewer.wait_for("SUPERVISOR LOST, reconnecting", 10);
    let _service = Service::start(&config);
    viewer.wait_until("attached again", 30, |p| {
        p.contains("attached again to the supervisor") && !p.contains("SUPERVISOR LOST") && p.contains("9 VMs")
    });
    // The disarm given before the restart still holds: decisions are journaled.
    viewer.keys(&["/"]);
    viewer.type_text("db1");
    viewer.keys(&["Enter", "Enter"]);
    let pane = viewer.wait_for("› vm db1", 10);
    assert!(pane.contains("disarmed by cli:"), "{pane}");
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
