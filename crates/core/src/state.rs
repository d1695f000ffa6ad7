//! The states of the two state machines, with the labels people read.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a protected VM stands. See ARCHITECTURE.md for the transition diagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum VmState {
    /// Not seen yet since the supervisor started.
    Discovering,
    /// Running where expected; probes good.
    Healthy,
    /// Some bad probes, fewer than `fail_threshold`: watched, no action yet.
    Suspect,
    /// Being restarted on its own host (ladder step 1).
    Restarting,
    /// Its host is down and not yet fenced: it must not be started anywhere.
    AwaitingFence,
    /// Being started on another host (ladder step 2, or recovery after a fence).
    Relocating,
    /// Must run, but no host can take it now; retried every cycle, highest priority first.
    Pending,
    /// Being reinstalled from its golden image (ladder step 3).
    Reinstalling,
    /// Started again: must pass `ok_threshold` good probes and `min_uptime` before Healthy.
    Probation,
    /// Moving to another host at an operator's request.
    Migrating,
    /// Being started at an operator's request.
    Starting,
    /// Being stopped at an operator's request.
    Stopping,
    /// Stopped by an operator: never restarted automatically.
    Stopped,
    /// The ladder is exhausted: a person must decide.
    NeedsOperator,
    /// HA disarmed for this VM: watched, never acted on.
    Unmanaged,
    /// Paused by an I/O error on its storage (libvirt's pause reason `ioerror`): never
    /// restarted or moved — the same storage would fail again —; an alarm names the storage,
    /// and the VM is taken back as running when it runs again.
    StoragePaused,
}

impl VmState {
    pub const ALL: [VmState; 16] = [
        VmState::Discovering,
        VmState::Healthy,
        VmState::Suspect,
        VmState::Restarting,
        VmState::AwaitingFence,
        VmState::Relocating,
        VmState::Pending,
        VmState::Reinstalling,
        VmState::Probation,
        VmState::Migrating,
        VmState::Starting,
        VmState::Stopping,
        VmState::Stopped,
        VmState::NeedsOperator,
        VmState::Unmanaged,
        VmState::StoragePaused,
    ];

    pub fn label(self) -> &'static str {
        match self {
            VmState::Discovering => "Discovering",
            VmState::Healthy => "Healthy",
            VmState::Suspect => "Suspect",
            VmState::Restarting => "Restarting",
            VmState::AwaitingFence => "AwaitingFence",
            VmState::Relocating => "Relocating",
            VmState::Pending => "Pending",
            VmState::Reinstalling => "Reinstalling",
            VmState::Probation => "Probation",
            VmState::Migrating => "Migrating",
            VmState::Starting => "Starting",
            VmState::Stopping => "Stopping",
            VmState::Stopped => "Stopped",
            VmState::NeedsOperator => "NeedsOperator",
            VmState::Unmanaged => "Unmanaged",
            VmState::StoragePaused => "StoragePaused",
        }
    }

    /// True while an action decided by the core is being carried out for this VM.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            VmState::Restarting
                | VmState::Relocating
                | VmState::Reinstalling
                | VmState::Migrating
                | VmState::Starting
                | VmState::Stopping
        )
    }
}

impl fmt::Display for VmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Where a physical host stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HostState {
    /// Not probed yet since the supervisor started.
    Unknown,
    Online,
    /// Some failed probes, fewer than the threshold: receives no VMs, nothing moved yet.
    Suspect,
    /// Declared dead; its VMs wait for a fence (or a person) before they run elsewhere.
    Down,
    /// The fence agent is powering it off.
    Fencing,
    /// Confirmed off: its VMs may run elsewhere.
    Fenced,
    /// Drained for maintenance by an operator: receives no VMs.
    Maintenance,
    /// Back after a fence: must pass `ok_threshold` probes and have stale VMs cleaned first.
    Rejoining,
    /// Alive but not manageable: its kernel answers (the connection is refused) or its libvirt
    /// answers with errors, `fail_threshold` probes in a row. Not power-fenced by default; a
    /// soft fence (restart the daemon) is tried if configured.
    Unmanageable,
}

impl HostState {
    pub const ALL: [HostState; 9] = [
        HostState::Unknown,
        HostState::Online,
        HostState::Suspect,
        HostState::Down,
        HostState::Fencing,
        HostState::Fenced,
        HostState::Maintenance,
        HostState::Rejoining,
        HostState::Unmanageable,
    ];

    pub fn label(self) -> &'static str {
        match self {
            HostState::Unknown => "Unknown",
            HostState::Online => "Online",
            HostState::Suspect => "Suspect",
            HostState::Down => "Down",
            HostState::Fencing => "Fencing",
            HostState::Fenced => "Fenced",
            HostState::Maintenance => "Maintenance",
            HostState::Rejoining => "Rejoining",
            HostState::Unmanageable => "Unmanageable",
        }
    }
}

impl fmt::Display for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
