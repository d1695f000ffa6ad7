//! Snapshots of the cluster for people: what the console renders and `3rc status` prints.
//! Plain data, cheap to clone behind an `Arc`, with no way back into the engine.

use super::event::{Severity, Subject};
use super::model::{Capacity, DomState};
use super::placement::PlacementTrace;
use super::state::{HostState, VmState};
use super::time::Time;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// When the snapshot was taken (supervisor clock).
    pub at: Time,
    /// False when HA is disarmed cluster-wide.
    pub armed: bool,
    pub hosts: Vec<HostView>,
    pub vms: Vec<VmView>,
    /// Alarms not yet acknowledged come first.
    pub alarms: Vec<AlarmView>,
    /// The quorum votes as 3RC sees them now.
    #[serde(default)]
    pub quorum: QuorumView,
    /// Who disarmed the cluster, and when ("disarmed by console:alice at ..."), if it is.
    #[serde(default)]
    pub disarmed_by: Option<String>,
    /// A disarm that waits for a fence under way and its recoveries, and why.
    #[serde(default)]
    pub disarm_pending: Option<String>,
    /// The `[[alert]]` targets that cannot be reached now (none when every one answers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<DeliveryView>,
    /// With several supervisors (`[ha]`): this one's name, whether it leads, who leads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<HaView>,
    /// Spare capacity, as of its last check (`core::spare`): "N+1: ok", "N+1: SHORT (...)";
    /// `None` when it is not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spare: Option<String>,
}

/// This supervisor among several (`[ha]`), for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaView {
    pub name: String,
    pub leads: bool,
    /// Who leads, as this one last saw (`None`: nobody it can see).
    pub leader: Option<String>,
}

/// An `[[alert]]` target whose deliveries fail, for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// The target as it may be shown (no secret): `webhook https://hooks.example.com/3rc?***`.
    pub target: String,
    /// The last failure.
    pub error: String,
    /// Since when it fails, wall-clock milliseconds since the Unix epoch.
    pub since_ms: u64,
    /// Notifications waiting for it (an Alertmanager gets what is true when it answers: 0).
    pub queued: usize,
    /// Notifications dropped past its bound since it began to fail.
    pub dropped: u64,
}

/// The votes an automatic fence needs a majority of (`core::quorum`), for people.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumView {
    /// The votes 3RC reaches now (hosts, then witnesses).
    pub reachable: Vec<String>,
    pub unreachable: Vec<String>,
    /// Fencing is held for want of a majority (one critical alarm says so).
    pub held: bool,
}

impl QuorumView {
    pub fn votes(&self) -> usize {
        self.reachable.len() + self.unreachable.len()
    }

    /// More than half of the votes are reachable.
    pub fn has(&self) -> bool {
        self.reachable.len() * 2 > self.votes()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    pub name: String,
    pub uri: String,
    pub state: HostState,
    /// Why it is in this state.
    pub reason: String,
    pub since: Time,
    /// Last capacity seen, `None` if never probed.
    pub capacity: Option<Capacity>,
    /// vCPUs and memory allocated to the VMs placed here (protected or not).
    pub used_vcpus: u32,
    pub used_memory_kib: u64,
    /// Domains running here (protected or not).
    pub vm_count: usize,
    pub fence_agent: Option<String>,
    /// Why its fence agent is not trusted for automatic fencing, if it is not.
    #[serde(default)]
    pub fence_distrust: Option<String>,
    /// Who put it in maintenance, and when, if it is.
    #[serde(default)]
    pub decided: Option<String>,
    /// Last probe or action error.
    pub last_error: Option<String>,
    /// With several supervisors (`[ha]`), which of them reach it now: "unreachable from sup1;
    /// reachable from sup2, sup3" (empty alone).
    #[serde(default)]
    pub seen: String,
    /// Recent transitions, oldest first.
    /// Shared with the engine's record: a snapshot does not copy it (it changes only on a
    /// transition).
    pub history: std::sync::Arc<Vec<Transition>>,
    /// What its loss would do, per the last spare capacity check ("if hv2 fails: web3 has no
    /// room"); `None` when it holds no protected VM or nothing is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_fails: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmView {
    pub name: String,
    /// Where the VM runs or should run.
    pub host: Option<String>,
    pub state: VmState,
    pub reason: String,
    pub since: Time,
    pub priority: i32,
    pub anti_affinity: Option<String>,
    pub vcpus: u32,
    pub memory_kib: u64,
    /// What the last probe of its host saw, `None` if the host did not answer.
    pub observed: Option<DomState>,
    pub restarts_in_window: u32,
    pub relocations_in_window: u32,
    pub max_restart: u32,
    pub max_relocate: u32,
    /// Consecutive bad and good probes (good ones counted up to the policy's `ok_threshold`).
    pub bad_probes: u32,
    pub good_probes: u32,
    /// Recent transitions, oldest first.
    /// Shared with the engine's record: a snapshot does not copy it (it changes only on a
    /// transition).
    pub history: std::sync::Arc<Vec<Transition>>,
    /// The last placement decision for this VM ("why here, why not there").
    pub placement: Option<std::sync::Arc<PlacementTrace>>,
    /// The step of the operation under way for it, as the operation reports it.
    #[serde(default)]
    pub progress: Option<Progress>,
    /// How it is reinstalled from scratch, if it can be, in one line (`ReinstallSpec::summary`):
    /// never the template or the seed's scripts, which may hold secrets.
    #[serde(default)]
    pub reinstall: Option<String>,
    /// Who stopped or disarmed it, and when, if a person did ("stopped by console:alice at ...").
    #[serde(default)]
    pub decided: Option<String>,
    /// Each guest probe with its last result ("guest agent: answers"), if it has any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guest: Vec<String>,
}

/// Where a long operation stands: its current step, and how much is done when it can tell
/// (a live migration's bytes, a step count); `None` means it cannot measure that step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub step: String,
    pub done: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub at: Time,
    pub from: String,
    pub to: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmView {
    pub id: u64,
    /// What kind of condition raised it: `fenced`, `fencefail`, `nofence`, `down`, `operator`,
    /// `pending`, `journal`... (the part of its key before the subject).
    #[serde(default)]
    pub kind: String,
    /// How long ago it was raised (an alarm kept from an earlier run counts from then).
    pub age_ms: u64,
    pub subject: Subject,
    pub severity: Severity,
    pub message: String,
    pub acked: bool,
    /// Who acknowledged it, and when ("console:alice at 2026-12-04 14:02 UTC").
    pub acked_by: Option<String>,
}

impl ClusterView {
    pub fn host(&self, name: &str) -> Option<&HostView> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn vm(&self, name: &str) -> Option<&VmView> {
        self.vms.iter().find(|v| v.name == name)
    }
}
