//! The cluster as the core knows it: what was configured (specs, policies) and what a probe saw
//! (observations). Plain data, no behaviour beyond small helpers.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a protected VM is supervised. Every field has a default; a VM may override any of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Consecutive bad probes before the ladder is climbed.
    pub fail_threshold: u32,
    /// Consecutive good probes before Suspect/Probation is cleared.
    pub ok_threshold: u32,
    /// Time a restarted VM must stay up (on top of `ok_threshold` probes) before it is Healthy.
    pub min_uptime: Duration,
    /// Restarts in place allowed within `restart_window` before the VM is moved.
    pub max_restart: u32,
    /// Relocations to another host allowed within `restart_window` before reinstall is tried.
    pub max_relocate: u32,
    /// Each restart or relocation is forgotten this long after it happened (one by one).
    pub restart_window: Duration,
    /// Whether the ladder may reinstall the VM from its golden image.
    pub reinstall: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            fail_threshold: 3,
            ok_threshold: 3,
            min_uptime: Duration::from_secs(10),
            max_restart: 2,
            max_relocate: 1,
            restart_window: Duration::from_secs(600),
            reinstall: false,
        }
    }
}

/// Hysteresis settings for hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPolicy {
    /// Consecutive failed probes before a host is declared Down.
    pub fail_threshold: u32,
    /// Consecutive good probes before a Suspect or Rejoining host is Online again.
    pub ok_threshold: u32,
    /// Wait between two fence attempts after a failure.
    pub fence_retry: Duration,
    /// Wait before a VM whose maintenance-drain migration failed is tried again.
    pub drain_retry: Duration,
    /// How long a host may stay `Unmanageable` (alive, its daemon refusing or failing) before
    /// it is treated as `Down` and power-fenced; `None` (the default): never, a person decides.
    #[serde(default)]
    pub unmanageable_fence_after: Option<Duration>,
    /// How long VMs may stay paused by I/O errors before an alarm names their storage.
    #[serde(default = "storage_alarm_after")]
    pub storage_alarm_after: Duration,
    /// How long VMs paused by I/O errors wait between 3RC's tries to resume them (one per host
    /// at a time); `None`: never, a person resumes them.
    #[serde(default = "storage_resume_after")]
    pub storage_resume_after: Option<Duration>,
}

fn storage_alarm_after() -> Duration {
    Duration::from_secs(30)
}

fn storage_resume_after() -> Option<Duration> {
    Some(Duration::from_secs(30))
}

impl Default for HostPolicy {
    fn default() -> Self {
        HostPolicy {
            fail_threshold: 3,
            ok_threshold: 3,
            fence_retry: Duration::from_secs(10),
            drain_retry: Duration::from_secs(60),
            unmanageable_fence_after: None,
            storage_alarm_after: storage_alarm_after(),
            storage_resume_after: storage_resume_after(),
        }
    }
}

/// Cluster-wide placement settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlacementPolicy {
    /// vCPUs that may be allocated per physical CPU thread.
    pub cpu_overcommit: f64,
    /// Memory that may be allocated per byte of host memory.
    pub mem_overcommit: f64,
    /// Host losses the cluster must absorb (N+1 with 1; 0: not checked; `core::spare`).
    #[serde(default = "spare_hosts")]
    pub spare_hosts: u32,
    /// Refuse operators' migrations and protections that would break it.
    #[serde(default)]
    pub spare_enforce: bool,
}

fn spare_hosts() -> u32 {
    1
}

impl Default for PlacementPolicy {
    fn default() -> Self {
        PlacementPolicy { cpu_overcommit: 4.0, mem_overcommit: 1.0, spare_hosts: 1, spare_enforce: false }
    }
}

/// A physical host as configured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostSpec {
    pub name: String,
    pub uri: String,
    /// Whether a fence agent is configured; without one a person must confirm the host is off.
    pub fence_agent: Option<String>,
    /// Whether a soft fence (a command that restarts the host's management daemon) is
    /// configured, tried when the host is `Unmanageable`.
    #[serde(default)]
    pub soft_fence: bool,
}

/// A protected VM as configured (or added at run time by a `protect` command).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSpec {
    pub name: String,
    /// Higher is more important: placed first when capacity is short.
    pub priority: i32,
    /// VMs sharing a group never share a host.
    pub anti_affinity: Option<String>,
    pub policy: Policy,
    /// Host preferred when the VM is first started, if any.
    pub preferred_host: Option<String>,
    /// How to reinstall it from scratch (`[vm.reinstall]`), if configured.
    #[serde(default)]
    pub reinstall: Option<std::sync::Arc<ReinstallSpec>>,
    /// Where its protection comes from; decides whether `unprotect` may take it out.
    #[serde(default)]
    pub origin: Origin,
    /// The hosts it must run on (`hosts = [...]`: licences, devices); empty: any host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// The hosts it should run on, in tiers, best first (`prefer = [["hv1"], ["hv2", "hv3"]]`):
    /// placement takes a host of the best tier that can take it, then hosts of no tier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefer: Vec<Vec<String>>,
    /// How its guest is checked beyond "the domain runs" (`[vm.guest]`); `None`: not at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<std::sync::Arc<GuestSpec>>,
    /// Start order (`after = ["db1"]`): the VMs it starts after, each once it is ready by its
    /// own `ready` (`core::order`); empty: no order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// How long it waits for them at most, then starts anyway (with a note).
    #[serde(default = "after_wait")]
    pub after_wait: Duration,
    /// When the VMs that start after it may start.
    #[serde(default)]
    pub ready: Readiness,
}

fn after_wait() -> Duration {
    Duration::from_secs(300)
}

impl VmSpec {
    /// A VM of that name with every default: priority 0, no group, the default policy, no
    /// host preferred nor required, no reinstall, no guest probes, no start order; protected
    /// by the config. Build others from it: `VmSpec { priority: 5, ..VmSpec::named("db1") }`.
    pub fn named(name: impl Into<String>) -> VmSpec {
        VmSpec {
            name: name.into(),
            priority: 0,
            anti_affinity: None,
            policy: Policy::default(),
            preferred_host: None,
            reinstall: None,
            origin: Origin::default(),
            hosts: Vec::new(),
            prefer: Vec::new(),
            guest: None,
            after: Vec::new(),
            after_wait: after_wait(),
            ready: Readiness::default(),
        }
    }
}

/// When a VM counts as ready for those that start after it (`ready = ...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Readiness {
    /// Its domain runs (`"running"`, the default).
    #[default]
    Running,
    /// Its qemu guest agent answered since it started (`"agent"`; needs `[vm.guest] agent`).
    Agent,
    /// It passed its probes, guest probes included: `Healthy` (`"probes"`).
    Probes,
}

impl Readiness {
    pub fn label(self) -> &'static str {
        match self {
            Readiness::Running => "running",
            Readiness::Agent => "agent",
            Readiness::Probes => "probes",
        }
    }
}

/// A VM's guest probes (`[vm.guest]`), none on by default, each a bad probe of the VM when it
/// fails (with the hysteresis and the ladder), with vSphere's safeguards: a minimum uptime
/// before a guest probe can fail the VM, and at most `max_restarts` rungs climbed for guest
/// probes per `window` before a person is asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestSpec {
    /// Ping the qemu guest agent (`guest-ping` through libvirt).
    pub agent: bool,
    /// After each start, how long the agent may stay silent (the guest boots, then starts it).
    pub agent_grace: Duration,
    /// A watchdog device (`i6300esb`) firing counts as a failure until the VM is started again.
    pub watchdog: bool,
    /// A TCP port of the VM to connect to, from the supervisor (`address:port`).
    pub tcp: Option<String>,
    /// A URL of the VM to GET, from the supervisor: any 2xx or 3xx answer is good.
    pub http: Option<String>,
    /// How long each check may take.
    pub timeout: Duration,
    /// How long the VM must have run before a guest probe can fail it.
    pub min_uptime: Duration,
    /// Rungs of the ladder climbed because of guest probes, per `window`, before a person is
    /// asked instead.
    pub max_restarts: u32,
    pub window: Duration,
}

impl Default for GuestSpec {
    fn default() -> Self {
        GuestSpec {
            agent: false,
            agent_grace: Duration::from_secs(60),
            watchdog: false,
            tcp: None,
            http: None,
            timeout: Duration::from_secs(3),
            min_uptime: Duration::from_secs(120),
            max_restarts: 3,
            window: Duration::from_secs(3600),
        }
    }
}

impl GuestSpec {
    /// The checks the supervisor runs (the watchdog is an event, not a check).
    pub fn checks(&self) -> Vec<GuestCheck> {
        let mut c = Vec::new();
        if self.agent {
            c.push(GuestCheck::Agent);
        }
        if let Some(a) = &self.tcp {
            c.push(GuestCheck::Tcp(a.clone()));
        }
        if let Some(u) = &self.http {
            c.push(GuestCheck::Http(u.clone()));
        }
        c
    }
}

/// One check of a guest, run by the supervisor (through the host's hypervisor for the agent).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GuestCheck {
    Agent,
    Tcp(String),
    Http(String),
}

impl std::fmt::Display for GuestCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuestCheck::Agent => f.write_str("guest agent"),
            GuestCheck::Tcp(a) => write!(f, "tcp {a}"),
            GuestCheck::Http(u) => write!(f, "http {u}"),
        }
    }
}

/// Where a VM's protection comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// A `[[vm]]` entry of the configuration file: it leaves HA when the entry is removed and
    /// 3RC restarted, never by a command (the file would bring it back at the next start).
    #[default]
    Config,
    /// A `protect` command (`3rc ctl protect`, a P2V's last step), kept in the journal: the
    /// `unprotect` command takes it out.
    RunTime,
}

/// How a reinstall makes the VM's new system disk from the golden image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskMode {
    /// A qcow2 overlay whose backing store is the golden image (fast, the golden image stays
    /// shared and must not change).
    Overlay,
    /// A full copy of the golden image.
    Clone,
}

impl DiskMode {
    pub fn label(self) -> &'static str {
        match self {
            DiskMode::Overlay => "overlay",
            DiskMode::Clone => "clone",
        }
    }
}

/// A VM's reinstall spec, validated from the config: the golden image, the domain template and
/// an optional cloud-init seed. The core reads only where the golden image and the disk's pool
/// are (placement); the operation reads the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReinstallSpec {
    /// The storage pool and volume of the golden image.
    pub golden_pool: String,
    pub golden_volume: String,
    pub mode: DiskMode,
    /// The VM's system disk, as the template names it (`<source pool=.. volume=..>`): deleted
    /// and made anew from the golden image on every reinstall.
    pub disk_pool: String,
    pub disk_volume: String,
    /// The template file, for people, and its text (a domain XML).
    pub template_path: String,
    pub template: String,
    pub seed: Option<SeedSpec>,
}

impl ReinstallSpec {
    /// The golden image as `pool/volume`, the way storage observations name volumes.
    pub fn golden(&self) -> String {
        format!("{}/{}", self.golden_pool, self.golden_volume)
    }

    /// One line for people: "golden base/debian12.qcow2, overlay, disk vms/web1.qcow2, seed".
    pub fn summary(&self) -> String {
        let seed = match &self.seed {
            Some(s) => format!(", cloud-init seed (hostname {})", s.hostname),
            None => String::new(),
        };
        format!(
            "golden {}, {} as {}/{}, template {}{seed}",
            self.golden(),
            self.mode.label(),
            self.disk_pool,
            self.disk_volume,
            self.template_path
        )
    }
}

/// A cloud-init NoCloud seed: an ISO labelled `cidata` holding `meta-data`, `user-data` and
/// `network-config`, uploaded as a volume next to the disk and attached as a CD-ROM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedSpec {
    pub hostname: String,
    pub ssh_authorized_keys: Vec<String>,
    /// Network configuration (cloud-init's format, version 1 or 2), verbatim.
    pub network_config: Option<String>,
    /// A script run once at first boot, verbatim.
    pub first_boot: Option<String>,
    /// Bus of the CD-ROM that carries the seed ("sata", "ide", "scsi").
    pub cdrom_bus: String,
}

impl SeedSpec {
    /// The seed's volume name, next to the VM's disk.
    pub fn volume(vm: &str) -> String {
        format!("{vm}-seed.iso")
    }
}

/// Everything the core needs to start: hosts, VMs, and the policies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterSpec {
    pub hosts: Vec<HostSpec>,
    pub vms: Vec<VmSpec>,
    pub host_policy: HostPolicy,
    pub placement: PlacementPolicy,
    /// Quorum votes besides the hosts (`core::quorum`), by name.
    pub witnesses: Vec<String>,
}

/// Run state of a libvirt domain, reduced to what HA decisions need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DomState {
    Running,
    Paused,
    /// Paused by an I/O error on its storage (libvirt's pause reason `ioerror`: qemu stops a
    /// guest whose disk fails, with `error_policy='stop'`, the default).
    IoPaused,
    ShutOff,
    Crashed,
    /// Shutting down, suspended to memory, or a state this version does not know.
    Other,
}

impl DomState {
    pub fn is_active(self) -> bool {
        matches!(self, DomState::Running | DomState::Paused | DomState::IoPaused | DomState::Other)
    }

    pub fn label(self) -> &'static str {
        match self {
            DomState::Running => "running",
            DomState::Paused => "paused",
            DomState::IoPaused => "paused by an I/O error",
            DomState::ShutOff => "shut off",
            DomState::Crashed => "crashed",
            DomState::Other => "other",
        }
    }
}

/// One domain seen on a host by a probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainObs {
    pub name: String,
    pub state: DomState,
    pub vcpus: u32,
    pub memory_kib: u64,
}

/// A host's size as libvirt reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    /// Logical CPUs (threads).
    pub cpus: u32,
    pub memory_kib: u64,
}

/// What one probe of a host returned: its capacity and every domain defined on it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostProbe {
    pub capacity: Capacity,
    pub domains: Vec<DomainObs>,
}

/// One storage pool of a host and the volumes it holds, as libvirt reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolObs {
    pub name: String,
    pub active: bool,
    /// Each volume by its path and by `pool/volume` (how a domain XML may name it).
    pub volumes: Vec<String>,
}

/// Why a probe failed, as far as judging the host goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeFailure {
    /// No answer at all (timeout, no route, keepalive lost): the host may be dead.
    NoAnswer,
    /// The host answered and its management daemon did not work: the connection was refused
    /// (the host's kernel sent a reset) or libvirt answered with an error. The host is alive.
    DaemonFailed,
    /// The probe was held up while the daemon answered a light call on another connection:
    /// the host is alive and busy (libvirt holds a domain's lock for a second or two while it
    /// handles a qemu that died). Not judged for up to `fail_threshold - 1` rounds in a row;
    /// then it counts as a failure with an answer.
    Busy,
}

impl ProbeFailure {
    /// Whether the host answered something (so it is alive, whatever its daemon does).
    pub fn answered(self) -> bool {
        !matches!(self, ProbeFailure::NoAnswer)
    }
}

/// A failed probe: what kind of failure, and the message people read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeError {
    pub kind: ProbeFailure,
    pub message: String,
}

impl ProbeError {
    pub fn no_answer(message: impl Into<String>) -> ProbeError {
        ProbeError { kind: ProbeFailure::NoAnswer, message: message.into() }
    }

    pub fn daemon_failed(message: impl Into<String>) -> ProbeError {
        ProbeError { kind: ProbeFailure::DaemonFailed, message: message.into() }
    }

    pub fn busy(message: impl Into<String>) -> ProbeError {
        ProbeError { kind: ProbeFailure::Busy, message: message.into() }
    }
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of probing one host in one cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostObservation {
    pub host: String,
    pub result: Result<HostProbe, ProbeError>,
}
