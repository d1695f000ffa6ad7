//! How a call to a host fails.

/// Why a hypervisor call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HvError {
    /// The host did not answer (no route, connection closed, keepalive timeout).
    #[error("host unreachable: {0}")]
    Unreachable(String),
    /// The host answered, its management daemon did not: a new connection was refused (the
    /// host's kernel sent a reset). The host is alive.
    #[error("{0}")]
    Refused(String),
    /// The domain does not exist on this host.
    #[error("no domain named {0}")]
    NoDomain(String),
    /// The driver cannot do this (e.g. the test driver cannot migrate).
    #[error("not supported by this hypervisor: {0}")]
    Unsupported(String),
    /// The call did not return in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The probe did not return in time, but the daemon answered a light call on another
    /// connection: the host is alive and its domain listing is held up (libvirt holds a
    /// domain's lock for a second or two while it handles a qemu that died, for one).
    #[error("busy: {0}")]
    Busy(String),
    /// Any other libvirt error, with libvirt's message.
    #[error("{0}")]
    Failed(String),
}

impl HvError {
    /// Whether the call failed on the connection itself (drop it, reconnect on the next call).
    pub fn is_connection(&self) -> bool {
        matches!(self, HvError::Unreachable(_) | HvError::Refused(_))
    }

    /// A failed probe as the core judges it: no answer at all (timeouts, no route) may be a
    /// dead host; any answer (refused, a libvirt error, a probe held up while the daemon answers
    /// light calls) proves the host alive. A held-up probe keeps its kind (`Busy`): the engine
    /// does not judge the host on it for a while.
    pub fn into_probe_error(self) -> threerc_core::ProbeError {
        use threerc_core::ProbeError;
        match self {
            HvError::Unreachable(_) | HvError::Timeout(_) => ProbeError::no_answer(self.to_string()),
            HvError::Busy(_) => ProbeError::busy(self.to_string()),
            HvError::Refused(_) | HvError::Failed(_) | HvError::NoDomain(_) | HvError::Unsupported(_) => {
                ProbeError::daemon_failed(self.to_string())
            }
        }
    }
}
