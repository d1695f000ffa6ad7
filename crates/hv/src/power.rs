//! The seams outside the hypervisor: fence agents (hard and soft) and quorum witnesses.

use std::fmt;

/// Power state as a fence agent reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerStatus {
    On,
    Off,
}

impl fmt::Display for PowerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowerStatus::On => "on",
            PowerStatus::Off => "off",
        })
    }
}

/// Powers one host off so that none of its VMs can still be running. Blocking.
pub trait Fencer: Send + Sync {
    /// Short description for logs and the console, without secrets ("demo", "fence_ipmilan").
    fn describe(&self) -> String;
    fn status(&self) -> Result<PowerStatus, String>;
    fn off(&self) -> Result<(), String>;
}

/// Restarts one host's management daemon, the host and its VMs running on (its soft fence,
/// tried when the host is alive and its libvirt refuses or fails). Blocking.
pub trait SoftFencer: Send + Sync {
    /// Short description for logs, without secrets ("soft fence ssh").
    fn describe(&self) -> String;
    fn restart(&self) -> Result<(), String>;
}

/// A quorum witness (`core::quorum`): something 3RC must reach, besides the hosts, before it
/// fences automatically (its default gateway, a quorum host). Blocking.
pub trait Witness: Send + Sync {
    /// Its name in the votes ("gateway", "tcp:quorum1:22").
    fn name(&self) -> &str;
    /// `Ok` when it answered within `timeout`; else why not.
    fn check(&self, timeout: std::time::Duration) -> Result<(), String>;
}
