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
    /// The host did not answer (connection refused, closed, keepalive timeout).
    #[error("host unreachable: {0}")]
    Unreachable(String),
    /// The domain does not exist on this host.
    #[error("no domain named {0}")]
    NoDomain(String),
    /// The driver cannot do this (e.g. the test driver cannot migrate).
    #[error("not supported by this hypervisor: {0}")]
    Unsupported(String),
    /// The call did not return in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Any other libvirt error, with libvirt's message.
    #[error("{0}")]
    Failed(String),
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

/// One physical host, as the supervisor drives it. Implementations reconnect by themselves:
/// a call on a lost connection tries to reconnect once and answers `Unreachable` if it cannot.
pub trait Hypervisor: Send {
    /// One bulk probe: the host's capacity and every domain defined on it with its state,
    /// vCPUs and memory.
    fn probe(&mut self) -> Result<HostProbe, HvError>;
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
    /// Bytes processed and total of the job running on a domain (a live migration), if any.
    fn job_progress(&mut self, _vm: &str) -> Result<Option<(u64, u64)>, HvError> {
        Ok(None)
    }
    /// The host's storage pools and their volumes (read every few cycles, not every probe).
    /// `Unsupported` where the backend cannot tell: placement then does not check disks.
    fn storage(&mut self) -> Result<Vec<crate::core::PoolObs>, HvError> {
        Err(HvError::Unsupported("storage pools".into()))
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
    fn create_volume(&mut self, _pool: &str, _name: &str, _capacity: u64, _format: &str) -> Result<String, HvError> {
        Err(HvError::Unsupported("volume creation".into()))
    }
    /// Create volume `name` in `format` from the contents of volume `from` of the same pool
    /// (the host converts: libvirt runs `qemu-img convert` there); its path.
    fn convert_volume(&mut self, _pool: &str, _from: &str, _name: &str, _format: &str) -> Result<String, HvError> {
        Err(HvError::Unsupported("volume conversion".into()))
    }
    /// Delete a volume. Succeeds if it does not exist.
    fn delete_volume(&mut self, _pool: &str, _name: &str) -> Result<(), HvError> {
        Err(HvError::Unsupported("volume deletion".into()))
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

/// Opens the hypervisor for one host. Called once per host at start-up, on the host's worker.
pub type Connector = dyn Fn(&crate::core::HostSpec) -> Box<dyn Hypervisor> + Send + Sync;
