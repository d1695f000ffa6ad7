//! The seams between the supervisor and the world: one `Hypervisor` per host, one `Fencer` per
//! host, and the clock. Production plugs libvirt and fence agents in; the demo wraps libvirt's
//! test driver with fault injection; the simulator plugs in a virtual cluster.
//!
//! Every method here blocks. The supervisor calls them only from worker threads, never from an
//! async runtime thread, and puts a timeout around each call.

use crate::core::HostProbe;
use std::fmt;

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
    /// light calls) proves the host alive.
    pub fn into_probe_error(self) -> crate::core::ProbeError {
        use crate::core::ProbeError;
        match self {
            HvError::Unreachable(_) | HvError::Timeout(_) => ProbeError::no_answer(self.to_string()),
            HvError::Refused(_)
            | HvError::Busy(_)
            | HvError::Failed(_)
            | HvError::NoDomain(_)
            | HvError::Unsupported(_) => ProbeError::daemon_failed(self.to_string()),
        }
    }
}

/// Where a live migration goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateTo {
    /// The destination host's libvirt URI as the source daemon reaches it (peer-to-peer).
    pub dest_uri: String,
    /// Optional migration data URI (`tcp://ADDR`).
    pub migration_uri: Option<String>,
    /// Storage is shared but libvirt cannot tell (plain shared directory): pass `UNSAFE`.
    pub unsafe_shared_storage: bool,
}

/// One storage volume, as a host reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeInfo {
    /// Where the host keeps it (a file or device path).
    pub path: String,
    /// Its size as the guest sees it, in bytes.
    pub capacity: u64,
    /// Its format (`qcow2`, `raw`), when the host says.
    pub format: Option<String>,
    /// The path of its backing store (an overlay's base image), if any.
    pub backing: Option<String>,
}

/// How a new volume is made from an existing one (both named by pool and volume).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumeSource {
    /// A qcow2 overlay whose backing store is the source: made at once, shares the source.
    Overlay { pool: String, volume: String },
    /// A full copy of the source, in the source's format.
    Clone { pool: String, volume: String },
}

/// One physical host, as the supervisor drives it. Implementations reconnect by themselves:
/// a call on a lost connection tries to reconnect once and answers `Unreachable` if it cannot.
pub trait Hypervisor: Send {
    /// One bulk probe: the host's capacity and every domain defined on it with its state,
    /// vCPUs and memory.
    fn probe(&mut self) -> Result<HostProbe, HvError>;
    /// A light call that needs the daemon but no domain (libvirt: node info): tells a busy
    /// host from a dead one when a probe is slow.
    fn alive(&mut self) -> Result<(), HvError> {
        self.probe().map(|_| ())
    }
    /// The persistent (inactive) domain XML, for the inventory.
    fn domain_xml(&mut self, vm: &str) -> Result<String, HvError>;
    /// Define (or redefine) a persistent domain from XML.
    fn define(&mut self, xml: &str) -> Result<(), HvError>;
    /// Remove the persistent definition (the domain must not be running).
    fn undefine(&mut self, vm: &str) -> Result<(), HvError>;
    /// Start a defined domain.
    fn start(&mut self, vm: &str) -> Result<(), HvError>;
    /// Hard power-off of a domain. Succeeds if it is already off.
    fn destroy(&mut self, vm: &str) -> Result<(), HvError>;
    /// Ask the guest to shut down (ACPI); returns at once.
    fn shutdown(&mut self, vm: &str) -> Result<(), HvError>;
    /// Live-migrate to another host. `Unsupported` where the driver cannot.
    fn migrate_live(&mut self, vm: &str, dest: &MigrateTo) -> Result<(), HvError>;
    /// Turn libvirt's autostart off for a domain; `true` if it was on. A protected domain must
    /// never start by itself when a fenced host boots again (3RC decides where it runs). The
    /// default: the backend has no autostart.
    fn disable_autostart(&mut self, _vm: &str) -> Result<bool, HvError> {
        Ok(false)
    }
    /// Bytes processed and total of the job running on a domain (a live migration), if any.
    fn job_progress(&mut self, _vm: &str) -> Result<Option<(u64, u64)>, HvError> {
        Ok(None)
    }
    /// The host's storage pools and their volumes (read every few cycles, not every probe).
    /// `Unsupported` where the backend cannot tell: placement then does not check disks.
    fn storage(&mut self) -> Result<Vec<crate::core::PoolObs>, HvError> {
        Err(HvError::Unsupported("storage pools".into()))
    }
    /// From now on, push hints into `sink` when something changes on the host between probes:
    /// a domain's lifecycle changes, or the connection that delivers the hints closes. The
    /// implementation keeps `sink` and registers again on every connection it reopens. Called
    /// again after a `Hint::Closed`, it reopens the connection at once (and registers on it).
    /// Hints only make the next probe come sooner; the probe still decides. `Unsupported`
    /// where the backend has no events (the simulator, the demo): polling alone sees changes.
    fn watch(&mut self, _sink: &HintSink) -> Result<(), HvError> {
        Err(HvError::Unsupported("events".into()))
    }
    /// One volume of a pool, `None` if the pool has no such volume. An unknown pool is an error.
    fn volume(&mut self, _pool: &str, _volume: &str) -> Result<Option<VolumeInfo>, HvError> {
        Err(HvError::Unsupported("storage volumes".into()))
    }
    /// Create volume `name` in `pool` from another volume (overlay or full copy).
    fn create_volume(&mut self, _pool: &str, _name: &str, _from: &VolumeSource) -> Result<(), HvError> {
        Err(HvError::Unsupported("creating storage volumes".into()))
    }
    /// Create volume `name` in `pool` holding exactly `data` (raw), sent through the host's
    /// upload stream, so that it works on a remote host.
    fn upload_volume(&mut self, _pool: &str, _name: &str, _data: &[u8]) -> Result<(), HvError> {
        Err(HvError::Unsupported("uploading storage volumes".into()))
    }
    /// Delete a volume and its data. Succeeds if there is no such volume.
    fn delete_volume(&mut self, _pool: &str, _volume: &str) -> Result<(), HvError> {
        Err(HvError::Unsupported("deleting storage volumes".into()))
    }

    // What P2V needs of a target host (`p2v/`). The defaults say the backend cannot.

    /// One storage pool: its kind, size and free space.
    fn pool_info(&mut self, _pool: &str) -> Result<PoolInfo, HvError> {
        Err(HvError::Unsupported("storage pool details".into()))
    }
    /// Names of the host's virtual networks.
    fn networks(&mut self) -> Result<Vec<String>, HvError> {
        Err(HvError::Unsupported("network list".into()))
    }
    /// The domain type to define guests with: `kvm` where the host offers it, else `qemu`.
    fn domain_type(&mut self) -> Result<String, HvError> {
        Err(HvError::Unsupported("host capabilities".into()))
    }
    /// Create an empty volume of `capacity` bytes in `format` (`raw`, `qcow2`); its path.
    fn create_empty_volume(
        &mut self,
        _pool: &str,
        _name: &str,
        _capacity: u64,
        _format: &str,
    ) -> Result<String, HvError> {
        Err(HvError::Unsupported("volume creation".into()))
    }
    /// Create volume `name` in `format` from the contents of volume `from` of the same pool
    /// (the host converts: libvirt runs `qemu-img convert` there); its path.
    fn convert_volume(&mut self, _pool: &str, _from: &str, _name: &str, _format: &str) -> Result<String, HvError> {
        Err(HvError::Unsupported("volume conversion".into()))
    }
    /// Names of the volumes of a pool.
    fn volumes(&mut self, _pool: &str) -> Result<Vec<String>, HvError> {
        Err(HvError::Unsupported("volume list".into()))
    }
    /// Write `length` bytes read from `data` into a volume at `offset`, through libvirt's
    /// upload stream (so the host may be remote). `progress` gets the bytes sent so far after
    /// each chunk and returns false to cancel (the stream is aborted). Returns the bytes sent.
    fn upload(
        &mut self,
        _to: &UploadTo,
        _data: &mut dyn std::io::Read,
        _progress: &mut dyn FnMut(u64) -> bool,
    ) -> Result<u64, HvError> {
        Err(HvError::Unsupported("volume upload".into()))
    }
}

/// Where an upload writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadTo {
    pub pool: String,
    pub volume: String,
    pub offset: u64,
    pub length: u64,
}

/// A storage pool as P2V needs to know it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolInfo {
    pub name: String,
    /// libvirt's pool type: `dir`, `fs`, `netfs`, `logical`, `disk`, `iscsi`, `rbd`, ...
    pub kind: String,
    pub active: bool,
    pub capacity: u64,
    pub available: u64,
}

impl PoolInfo {
    /// Pools whose volumes are files can hold qcow2 images; block-backed pools hold raw ones.
    pub fn holds_files(&self) -> bool {
        matches!(self.kind.as_str(), "dir" | "fs" | "netfs" | "gluster")
    }
}

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
}

impl Hint {
    pub fn host(&self) -> &str {
        match self {
            Hint::Domain { host, .. } | Hint::Closed { host, .. } => host,
        }
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hint::Domain { host, vm, change, reason } => write!(f, "{host}: domain {vm} {change} ({reason})"),
            Hint::Closed { host, reason } => write!(f, "{host}: connection closed ({reason})"),
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

    /// The connection closed. Returns whether the hint was queued.
    pub fn closed(&self, reason: &str) -> bool {
        self.tx.try_send(Hint::Closed { host: self.host.clone(), reason: reason.to_string() }).is_ok()
    }
}

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

/// Opens the hypervisor for one host. Called once per host at start-up, on the host's worker.
pub type Connector = dyn Fn(&crate::core::HostSpec) -> Box<dyn Hypervisor> + Send + Sync;
