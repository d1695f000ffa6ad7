//! Hints a host pushes between probes (libvirt lifecycle events, a closed connection). A hint
//! only brings the next cycle forward; the probe decides (`supervisor/hints.rs`).

use std::fmt;

/// A domain lifecycle change, as libvirt names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainChange {
    Defined,
    Undefined,
    Started,
    Suspended,
    Resumed,
    Stopped,
    Shutdown,
    PmSuspended,
    Crashed,
    Other,
}

impl DomainChange {
    /// Whether the change can turn a probe of the domain from good to bad or back: worth
    /// looking at now rather than at the next scheduled cycle. (A paused domain counts as
    /// running, and definitions alone do not run anything.)
    pub fn worth_a_look(self) -> bool {
        matches!(self, DomainChange::Started | DomainChange::Stopped | DomainChange::Shutdown | DomainChange::Crashed)
    }
}

impl fmt::Display for DomainChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DomainChange::Defined => "defined",
            DomainChange::Undefined => "undefined",
            DomainChange::Started => "started",
            DomainChange::Suspended => "suspended",
            DomainChange::Resumed => "resumed",
            DomainChange::Stopped => "stopped",
            DomainChange::Shutdown => "shut down",
            DomainChange::PmSuspended => "suspended by the guest",
            DomainChange::Crashed => "crashed",
            DomainChange::Other => "changed",
        })
    }
}

/// What a hypervisor reports between probes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hint {
    /// A domain's lifecycle changed, with libvirt's reason ("failed", "destroyed", "booted").
    Domain { host: String, vm: String, change: DomainChange, reason: String },
    /// The connection delivering the hints closed ("keepalive timeout", "end of file").
    Closed { host: String, reason: String },
    /// A domain's watchdog device fired; `action` is what the device did ("reset", "none").
    /// Unlike the others, this one is a fact the supervisor hands to the engine (a guest probe,
    /// `core::guest`), not only a reason to look sooner.
    Watchdog { host: String, vm: String, action: String },
}

impl Hint {
    pub fn host(&self) -> &str {
        match self {
            Hint::Domain { host, .. } | Hint::Closed { host, .. } | Hint::Watchdog { host, .. } => host,
        }
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hint::Domain { host, vm, change, reason } => write!(f, "{host}: domain {vm} {change} ({reason})"),
            Hint::Closed { host, reason } => write!(f, "{host}: connection closed ({reason})"),
            Hint::Watchdog { host, vm, action } => write!(f, "{host}: domain {vm} watchdog fired (action {action})"),
        }
    }
}

/// Where one host's hints go. Sending never blocks (it is called on libvirt's event-loop
/// thread): when the channel is full the hint is dropped, and the next scheduled probe sees
/// the change anyway.
#[derive(Clone, Debug)]
pub struct HintSink {
    host: String,
    tx: tokio::sync::mpsc::Sender<Hint>,
}

impl HintSink {
    pub fn new(host: impl Into<String>, tx: tokio::sync::mpsc::Sender<Hint>) -> HintSink {
        HintSink { host: host.into(), tx }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// A domain's lifecycle changed. Returns whether the hint was queued.
    pub fn domain(&self, vm: &str, change: DomainChange, reason: &str) -> bool {
        let hint = Hint::Domain { host: self.host.clone(), vm: vm.to_string(), change, reason: reason.to_string() };
        self.tx.try_send(hint).is_ok()
    }

    /// A domain's watchdog fired. Returns whether the hint was queued.
    pub fn watchdog(&self, vm: &str, action: &str) -> bool {
        let hint = Hint::Watchdog { host: self.host.clone(), vm: vm.to_string(), action: action.to_string() };
        self.tx.try_send(hint).is_ok()
    }

    /// The connection closed. Returns whether the hint was queued.
    pub fn closed(&self, reason: &str) -> bool {
        self.tx.try_send(Hint::Closed { host: self.host.clone(), reason: reason.to_string() }).is_ok()
    }
}
