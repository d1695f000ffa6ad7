//! Running as a systemd service (`Type=notify`, `assets/3rc.service`): readiness once the
//! supervisor listens on its control socket, the watchdog fed only while the supervision loop
//! finishes cycles (a loop stuck anywhere stops feeding it, and systemd restarts the service),
//! and `STOPPING=1` on the way out. The protocol is sd_notify(3): datagrams of `KEY=VALUE` lines
//! to the socket named by `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). Outside
//! systemd (no `$NOTIFY_SOCKET`) all of this does nothing.

use crate::supervisor::SupervisorHandle;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;
use tracing::{info, warn};

/// Where systemd listens for this service's notifications.
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names, if any. A variable that names no usable socket is
    /// an error that says so (a unit with `Type=notify` would otherwise time out at start).
    pub fn from_env() -> anyhow::Result<Option<Notifier>> {
        let Some(name) = std::env::var_os("NOTIFY_SOCKET") else { return Ok(None) };
        let name = name.to_string_lossy().into_owned();
        let addr = match name.strip_prefix('@') {
            Some(abstract_name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(abstract_name.as_bytes())
            }
            None if name.starts_with('/') => SocketAddr::from_pathname(&name),
            None => anyhow::bail!("NOTIFY_SOCKET={name:?}: neither a path nor @name"),
        }
        .map_err(|e| anyhow::anyhow!("NOTIFY_SOCKET={name:?}: {e}"))?;
        let socket = UnixDatagram::unbound().map_err(|e| anyhow::anyhow!("a socket for NOTIFY_SOCKET: {e}"))?;
        Ok(Some(Notifier { socket, addr }))
    }

    /// Send one notification (`READY=1`, `WATCHDOG=1`, `STATUS=...`). A lost one is logged: the
    /// service manager's own timeouts say the rest.
    pub fn send(&self, message: &str) {
        if let Err(e) = self.socket.send_to_addr(message.as_bytes(), &self.addr) {
            warn!(target: "3rc", "service manager notification {message:?} not sent: {e}");
        }
    }
}

/// The watchdog period systemd asks for (`$WATCHDOG_USEC`), if it is meant for this process
/// (`$WATCHDOG_PID` unset or ours).
pub fn watchdog_period() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_string_lossy().trim() != std::process::id().to_string() {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Tell the service manager the supervisor is up, then feed its watchdog for as long as the
/// supervision loop finishes cycles. Returns the task feeding it (drop it to stop), if any.
pub fn ready(
    notifier: &Option<std::sync::Arc<Notifier>>,
    handle: &SupervisorHandle,
    interval: Duration,
) -> Option<tokio::task::JoinHandle<()>> {
    let notifier = notifier.clone()?;
    let hosts = handle.spec().hosts.len();
    let vms = handle.spec().vms.len();
    notifier.send(&format!("READY=1\nSTATUS=supervising {hosts} hosts and {vms} VMs"));
    let period = watchdog_period()?;
    if interval * 2 > period {
        warn!(
            target: "3rc",
            "the watchdog period ({}) is less than twice the supervision interval ({}): a slow cycle will look like a stuck loop",
            crate::core::time::human(period),
            crate::core::time::human(interval)
        );
    }
    info!(target: "3rc", "feeding the service manager's watchdog ({}) from the supervision loop", crate::core::time::human(period));
    let handle = handle.clone();
    Some(feed(notifier, period, move || handle.cycles_done()))
}

/// Ping the watchdog every quarter `period` while `progress` (the cycles done) grows; once it
/// stops growing, stop pinging (and say so once it has stood still for half a period).
fn feed(
    notifier: std::sync::Arc<Notifier>,
    period: Duration,
    progress: impl Fn() -> u64 + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = progress();
        let mut since = tokio::time::Instant::now();
        let mut warned = false;
        let mut tick = tokio::time::interval(period / 4);
        loop {
            tick.tick().await;
            let now = progress();
            if now != seen {
                seen = now;
                since = tokio::time::Instant::now();
                warned = false;
                notifier.send("WATCHDOG=1");
            } else if !warned && since.elapsed() > period / 2 {
                warned = true;
                warn!(
                    target: "3rc",
                    "no supervision cycle finished in {}: not feeding the watchdog (systemd restarts a stuck loop)",
                    crate::core::time::human(since.elapsed())
                );
            }
        }
    })
}

/// Say the service is stopping (SIGTERM or Ctrl-C arrived): systemd then waits for the exit.
pub fn stopping(notifier: &Option<std::sync::Arc<Notifier>>) {
    if let Some(n) = notifier {
        n.send(
            "STOPPING=1\nSTATUS=stopping: waiting for the actions under way; any left are reconciled at the next start",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// What the service manager got so far on `socket`.
    fn received(socket: &UnixDatagram) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 512];
        while let Ok(n) = socket.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_is_fed_while_cycles_finish_and_not_once_they_stop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let manager = UnixDatagram::bind(&path).unwrap();
        manager.set_nonblocking(true).unwrap();
        let notifier = Arc::new(Notifier {
            socket: UnixDatagram::unbound().unwrap(),
            addr: SocketAddr::from_pathname(&path).unwrap(),
        });
        let cycles = Arc::new(AtomicU64::new(0));
        let c = cycles.clone();
        let feeder = feed(notifier, Duration::from_secs(4), move || c.load(Ordering::Relaxed));
        // A loop that finishes a cycle every second: pinged.
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            cycles.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let fed = received(&manager);
        assert!(fed.len() >= 5 && fed.iter().all(|m| m == "WATCHDOG=1"), "{fed:?}");
        // The loop is stuck: no cycle finishes, and no ping is sent for three periods, so the
        // service manager's watchdog fires.
        tokio::time::sleep(Duration::from_secs(12)).await;
        assert_eq!(received(&manager), Vec::<String>::new());
        // It comes back: fed again.
        cycles.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(received(&manager), vec!["WATCHDOG=1".to_string()]);
        feeder.abort();
    }
}
