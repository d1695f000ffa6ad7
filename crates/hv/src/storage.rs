//! A host's storage volumes, as reinstall uses them (`ops/reinstall`): read one, make one from
//! another (an overlay of the golden image), upload a small one (a cloud-init seed), delete one.
//! The defaults say the backend cannot.

use super::HvError;

/// A host's storage volumes. Blocking, as every seam.
pub trait Volumes: Send {
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
