//! One physical host behind a libvirt connection that looks after itself: opened lazily, checked
//! before each call, dropped after a connection-level failure and reopened (once) on the next
//! call. This is what lets the supervisor treat "host unreachable" as an ordinary, repeated
//! observation rather than a broken object.
//!
//! Checked by hand against a private libvirtd 9.0 (`test+unix://` and `qemu+unix://` over its
//! socket, keepalive 2 s x 2): with the daemon frozen (SIGSTOP) the call in flight failed after
//! about 5 s with "connection closed due to keepalive timeout" (`Unreachable`, connection
//! dropped); with the daemon killed, `is_alive` was already false at the next call and the
//! reconnect answered `Unreachable` ("Failed to connect socket ..."); once the daemon was back,
//! the next call reconnected. Opening a connection to a frozen daemon blocks until it answers
//! (keepalive only starts after the open), so the supervisor's per-call timeout must cover it.

use super::errors::{self, to_hv};
use super::event_loop::init;
use super::events::Watch;
use super::ops;
use super::probe::{self, BulkSupport};
use super::upload;
use std::time::Duration;
use threerc_core::{GuestCheck, HostProbe, HostSpec};
use threerc_hv::{
    Connector, Domains, HintSink, HvError, Hypervisor, MigrateTo, PoolInfo, Target, UploadTo, VolumeInfo, VolumeSource,
    Volumes,
};
use virt::connect::Connect;

/// libvirt keepalive: after `count` unanswered probes sent every `interval_secs`, libvirt closes
/// the connection ("connection closed due to keepalive timeout"), so a frozen or cut-off host is
/// noticed in about `interval_secs * (count + 1)` seconds instead of a TCP timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    pub interval_secs: u32,
    pub count: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive { interval_secs: 2, count: 2 }
    }
}

/// An open connection and, when the host is watched, the callbacks registered on it. The
/// callbacks are deregistered before the connection is closed (see `events`).
struct Conn {
    watch: Option<Watch>,
    conn: Connect,
}

impl Drop for Conn {
    fn drop(&mut self) {
        drop(self.watch.take());
    }
}

/// A host reached through libvirt. Blocking: use it from the host's worker thread only.
pub struct LibvirtHost {
    uri: String,
    conn: Option<Conn>,
    /// Where lifecycle events and the close callback go, once `watch` was called: registered
    /// on every connection this host opens.
    hints: Option<HintSink>,
    keepalive: Option<Keepalive>,
    bulk: BulkSupport,
    /// After a failed connection attempt: no new attempt before this instant, and the error.
    backoff: Option<(std::time::Instant, std::time::Duration, HvError)>,
}

/// Reconnection backoff: after a failed attempt, no new one for 250 ms. An attempt that failed
/// slowly (at least `SLOW_ATTEMPT`: a host that does not answer, where each attempt waits for
/// TCP) doubles the wait, up to 8 s, so a dead host is not hammered and a returning one is
/// noticed within 8 s. An attempt refused at once (the host answers, its daemon is not
/// listening: a libvirtd restarting for an upgrade) keeps the wait at 250 ms, so the daemon is
/// reconnected, and its events registered again, within the next call or two after it is back.
/// (Doubling there left a daemon that was down 2 s unconnected for 4 s more, and a VM crash in
/// that time was seen only by the next probe, without its event.)
const BACKOFF_FIRST: std::time::Duration = std::time::Duration::from_millis(250);
const BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(8);
const SLOW_ATTEMPT: std::time::Duration = std::time::Duration::from_secs(1);

impl LibvirtHost {
    /// No connection is opened here: the first call opens it.
    pub fn new(uri: impl Into<String>) -> Self {
        LibvirtHost {
            uri: uri.into(),
            conn: None,
            hints: None,
            keepalive: Some(Keepalive::default()),
            bulk: BulkSupport::Unknown,
            backoff: None,
        }
    }

    /// Keepalive settings for connections opened from now on; `None` disables keepalive.
    pub fn with_keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Whether a connection is currently open (it may still turn out dead on the next call).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Whether lifecycle events or the close callback are registered on the open connection.
    pub fn is_watched(&self) -> bool {
        self.conn.as_ref().and_then(|c| c.watch.as_ref()).is_some_and(Watch::is_active)
    }

    /// Close the connection now, as a lost one is dropped (tests of re-registration).
    #[cfg(test)]
    pub(super) fn drop_connection(&mut self) {
        self.conn = None;
    }

    /// The open connection, or a freshly opened one. One attempt per call.
    fn connection(&mut self) -> Result<&Connect, HvError> {
        let conn = match self.conn.take() {
            Some(c) if matches!(c.conn.is_alive(), Ok(true)) => c,
            Some(dead) => {
                tracing::info!(target: "libvirt", "{}: connection is dead, reconnecting", self.uri);
                drop(dead);
                Conn { watch: None, conn: self.open()? }
            }
            None => Conn { watch: None, conn: self.open()? },
        };
        let conn = self.conn.insert(conn);
        if let (Some(sink), None) = (&self.hints, &conn.watch) {
            conn.watch = Some(Watch::register(&conn.conn, sink, &self.uri));
        }
        Ok(&conn.conn)
    }

    fn open(&mut self) -> Result<Connect, HvError> {
        if let Some((at, _, err)) = &self.backoff {
            let now = std::time::Instant::now();
            if now < *at {
                let wait = threerc_core::time::human(*at - now);
                // The last attempt's answer, of the same kind: a refusal stays a refusal.
                return Err(match err {
                    HvError::Refused(m) => HvError::Refused(format!("{m} (next attempt in {wait})")),
                    HvError::Unreachable(m) => HvError::Unreachable(format!("{m} (next attempt in {wait})")),
                    other => HvError::Unreachable(format!("{other} (next attempt in {wait})")),
                });
            }
        }
        let started = std::time::Instant::now();
        let result = self.try_open();
        match &result {
            Ok(_) => self.backoff = None,
            Err(e) => {
                let delay = match &self.backoff {
                    Some((_, d, _)) if started.elapsed() >= SLOW_ATTEMPT => (*d * 2).min(BACKOFF_MAX),
                    _ => BACKOFF_FIRST,
                };
                self.backoff = Some((std::time::Instant::now() + delay, delay, e.clone()));
            }
        }
        result
    }

    fn try_open(&mut self) -> Result<Connect, HvError> {
        if let Some(path) = missing_test_file(&self.uri) {
            // libxml2 (not libvirt, so not silenced by `init`) would print "I/O warning: failed
            // to load external entity" to stderr for a missing file and tear the console.
            return Err(HvError::Unreachable(format!(
                "cannot connect to {}: host file {path} does not exist",
                self.uri
            )));
        }
        init();
        let conn = Connect::open(Some(&self.uri)).map_err(|e| {
            let msg = format!("cannot connect to {}: {}", self.uri, e.message());
            match errors::kind(&e) {
                errors::Kind::Refused => HvError::Refused(msg),
                _ => HvError::Unreachable(msg),
            }
        })?;
        self.bulk = BulkSupport::Unknown;
        if let Some(ka) = self.keepalive {
            let interval = i32::try_from(ka.interval_secs).unwrap_or(i32::MAX);
            if let Err(e) = conn.set_keep_alive(interval, ka.count) {
                if self.uri.starts_with("test:") {
                    // The test driver has no keepalive (VIR_ERR_NO_SUPPORT); nothing to watch.
                    tracing::debug!(target: "libvirt", "{}: no keepalive: {}", self.uri, e.message());
                } else {
                    tracing::warn!(
                        target: "libvirt",
                        "{}: keepalive not enabled, a silent host failure will be noticed late: {}",
                        self.uri,
                        e.message()
                    );
                }
            }
        }
        tracing::debug!(target: "libvirt", "{}: connected", self.uri);
        Ok(conn)
    }

    /// Run one operation on the connection; drop the connection if the failure was its own.
    fn call<T>(&mut self, what: &str, f: impl FnOnce(&Connect) -> Result<T, HvError>) -> Result<T, HvError> {
        let result = f(self.connection()?);
        if let Err(e @ (HvError::Unreachable(_) | HvError::Refused(_))) = &result {
            let msg = e.to_string();
            tracing::info!(
                target: "libvirt",
                "{}: {what} lost the connection, will reconnect on the next call: {msg}",
                self.uri
            );
            self.conn = None;
        }
        result
    }
}

impl Domains for LibvirtHost {
    fn probe(&mut self) -> Result<HostProbe, HvError> {
        let mut bulk = self.bulk;
        let result = self.call("probe", |c| probe::probe(c, &mut bulk).map_err(|e| to_hv(&e, None)));
        self.bulk = bulk;
        result
    }

    fn alive(&mut self) -> Result<(), HvError> {
        self.call("alive", |c| c.node_info().map(|_| ()).map_err(|e| to_hv(&e, None)))
    }

    fn domain_xml(&mut self, vm: &str) -> Result<String, HvError> {
        self.call("domain_xml", |c| ops::domain_xml(c, vm))
    }

    fn define(&mut self, xml: &str) -> Result<(), HvError> {
        self.call("define", |c| ops::define(c, xml))
    }

    fn disable_autostart(&mut self, vm: &str) -> Result<bool, HvError> {
        self.call("autostart", |c| ops::disable_autostart(c, vm))
    }

    fn undefine(&mut self, vm: &str) -> Result<(), HvError> {
        self.call("undefine", |c| ops::undefine(c, vm))
    }

    fn start(&mut self, vm: &str) -> Result<(), HvError> {
        self.call("start", |c| ops::start(c, vm))
    }

    fn destroy(&mut self, vm: &str) -> Result<(), HvError> {
        self.call("destroy", |c| ops::destroy(c, vm))
    }

    fn shutdown(&mut self, vm: &str) -> Result<(), HvError> {
        self.call("shutdown", |c| ops::shutdown(c, vm))
    }

    fn resume(&mut self, vm: &str) -> Result<(), HvError> {
        self.call("resume", |c| ops::resume(c, vm))
    }

    fn guest_check(&mut self, vm: &str, check: &GuestCheck, timeout: Duration) -> Result<(), HvError> {
        match check {
            GuestCheck::Agent => self.call("guest-ping", |c| ops::guest_ping(c, vm, timeout)),
            GuestCheck::Tcp(a) => threerc_hv::guestnet::tcp(a, timeout),
            GuestCheck::Http(u) => threerc_hv::guestnet::http(u, timeout),
        }
    }

    fn migrate_live(&mut self, vm: &str, dest: &MigrateTo) -> Result<(), HvError> {
        self.call("migrate", |c| ops::migrate_live(c, vm, dest))
    }

    fn job_progress(&mut self, vm: &str) -> Result<Option<(u64, u64)>, HvError> {
        self.call("job_info", |c| {
            let dom = c.lookup_domain_by_name(vm).map_err(|e| to_hv(&e, Some(vm)))?;
            let job = dom.job_info().map_err(|e| to_hv(&e, Some(vm)))?;
            Ok(match (job.data_processed, job.data_total) {
                (Some(p), Some(t)) if t > 0 => Some((p, t)),
                _ => None,
            })
        })
    }

    fn storage(&mut self) -> Result<Vec<threerc_core::PoolObs>, HvError> {
        self.call("storage", |c| super::storage::pools(c).map_err(|e| to_hv(&e, None)))
    }

    /// Keep `sink` and register on the open connection (opened now if needed, reopened now if
    /// it died): events flow from start-up, not from the first probe, and after a close the
    /// connection comes back without waiting for the next call to find it dead. Registration
    /// failures are logged by `Watch`; polling covers them.
    fn watch(&mut self, sink: &HintSink) -> Result<(), HvError> {
        self.hints = Some(sink.clone());
        self.connection().map(|_| ())
    }
}

impl Volumes for LibvirtHost {
    fn volume(&mut self, pool: &str, volume: &str) -> Result<Option<VolumeInfo>, HvError> {
        self.call("volume", |c| super::storage::volume(c, pool, volume))
    }

    fn create_volume(&mut self, pool: &str, name: &str, from: &VolumeSource) -> Result<(), HvError> {
        self.call("create_volume", |c| super::storage::create_volume(c, pool, name, from))
    }

    fn upload_volume(&mut self, pool: &str, name: &str, data: &[u8]) -> Result<(), HvError> {
        self.call("upload_volume", |c| super::storage::upload_volume(c, pool, name, data))
    }

    fn delete_volume(&mut self, pool: &str, volume: &str) -> Result<(), HvError> {
        self.call("delete_volume", |c| super::storage::delete_volume(c, pool, volume))
    }
}

impl Target for LibvirtHost {
    fn pool_info(&mut self, pool: &str) -> Result<PoolInfo, HvError> {
        self.call("pool_info", |c| upload::pool_info(c, pool))
    }

    fn networks(&mut self) -> Result<Vec<String>, HvError> {
        self.call("networks", upload::networks)
    }

    fn domain_type(&mut self) -> Result<String, HvError> {
        self.call("capabilities", upload::domain_type)
    }

    fn create_empty_volume(&mut self, pool: &str, name: &str, capacity: u64, format: &str) -> Result<String, HvError> {
        self.call("create_empty_volume", |c| upload::create_empty_volume(c, pool, name, capacity, format))
    }

    fn convert_volume(&mut self, pool: &str, from: &str, name: &str, format: &str) -> Result<String, HvError> {
        self.call("convert_volume", |c| upload::convert_volume(c, pool, from, name, format))
    }

    fn volumes(&mut self, pool: &str) -> Result<Vec<String>, HvError> {
        self.call("volumes", |c| upload::volumes(c, pool))
    }

    fn upload(
        &mut self,
        to: &UploadTo,
        data: &mut dyn std::io::Read,
        progress: &mut dyn FnMut(u64) -> bool,
    ) -> Result<u64, HvError> {
        self.call("upload", |c| upload::upload(c, to, data, progress))
    }
}

/// For a `test:///ABSOLUTE/PATH.xml` URI whose file does not exist, that path.
fn missing_test_file(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("test://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path == "/default" || !path.starts_with('/') {
        return None;
    }
    (!std::path::Path::new(path).exists()).then_some(path)
}

/// The production connector: one `LibvirtHost` per configured host, default keepalive.
pub fn connector() -> Box<Connector> {
    Box::new(|spec: &HostSpec| Box::new(LibvirtHost::new(spec.uri.clone())) as Box<dyn Hypervisor>)
}
