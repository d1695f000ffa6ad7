//! What P2V needs of a target host (`p2v/`): its pools, networks and domain type, volumes made
//! empty or converted, and an upload stream. The defaults say the backend cannot.

use super::HvError;

/// A host as the target of a P2V conversion. Blocking, as every seam.
pub trait Target: Send {
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
