//! `3rc run --headless` as a systemd `Type=notify` service (`assets/3rc.service`). systemd is not
//! the init of the machines this runs on, so its sd_notify protocol is checked against a socket
//! the test listens on: `READY=1` once the control socket is up, `WATCHDOG=1` while the
//! supervision loop finishes cycles, `STOPPING=1` on SIGTERM, then a clean exit.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The service under test, stopped (SIGTERM, then waited for) even when the test fails.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the child this test started.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// A one-host config (libvirt's test driver) with a fast loop and a state folder in `dir`.
fn config(dir: &Path) -> std::path::PathBuf {
    let cfg = dir.join("3rc.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}\"\n[defaults]\ninterval = \"100ms\"\n[quorum]\nwitnesses = []\n\
             [[host]]\nname = \"hv1\"\nuri = \"test:///default\"\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    cfg
}

/// Start the service with `env` and a notify socket of the test's own.
fn start(dir: &Path, env: &[(&str, &str)]) -> (Service, UnixDatagram) {
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_3rc"));
    cmd.args(["run", "--headless", "--config"]).arg(config(dir)).env("NOTIFY_SOCKET", &path);
    cmd.env_remove("WATCHDOG_USEC").env_remove("WATCHDOG_PID");
    for (k, v) in env {
        cmd.env(k, v);
    }
    (Service(cmd.spawn().unwrap()), socket)
}

/// The notifications that arrive within `within`.
fn messages(socket: &UnixDatagram, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

/// Wait for the first notification that contains `what` (30 s at most).
fn wait_for(socket: &UnixDatagram, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if m.contains(what) {
                return m;
            }
        }
    }
    panic!("no {what:?} from the service in 30 s");
}

#[test]
fn the_service_says_ready_feeds_the_watchdog_from_its_loop_and_says_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, socket) = start(dir.path(), &[("WATCHDOG_USEC", "800000")]);
    let ready = wait_for(&socket, "READY=1");
    assert!(ready.contains("STATUS=supervising 1 hosts and 0 VMs"), "{ready}");
    assert!(dir.path().join("state/control.sock").exists(), "ready only once `3rc ctl` can reach it");
    // A period of 800 ms, checked every 200 ms: a ping at each check after a finished cycle
    // (four within a second or two; a busy machine may take longer, so up to 20 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    while got.iter().filter(|m| *m == "WATCHDOG=1").count() < 4 && Instant::now() < deadline {
        got.extend(messages(&socket, Duration::from_millis(500)));
    }
    let pings = got.iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(pings >= 4, "the loop runs, so the watchdog is fed: {got:?}");
    // SAFETY: kill(2) on the child this test started.
    unsafe { libc::kill(service.0.id() as i32, libc::SIGTERM) };
    let stopping = wait_for(&socket, "STOPPING=1");
    assert!(stopping.contains("STATUS=stopping"), "{stopping}");
    let status = service.0.wait().unwrap();
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
}

#[test]
fn a_watchdog_meant_for_another_process_is_not_fed() {
    let dir = tempfile::tempdir().unwrap();
    let (_service, socket) = start(dir.path(), &[("WATCHDOG_USEC", "800000"), ("WATCHDOG_PID", "1")]);
    wait_for(&socket, "READY=1");
    let got = messages(&socket, Duration::from_millis(1500));
    assert!(got.iter().all(|m| m != "WATCHDOG=1"), "{got:?}");
}
