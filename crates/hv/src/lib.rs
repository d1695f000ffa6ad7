//! The world interface: every seam between 3RC's decisions and the machines it drives, and the
//! plumbing that calls them safely.
//!
//! - `Hypervisor` (one per host) is three seams split by use: `Domains` (what supervision asks:
//!   probe, start, stop, migrate, define, events), `Volumes` (what reinstall asks) and `Target`
//!   (what P2V asks of a target host). Production plugs libvirt in (the `threerc-libvirt` crate); the
//!   demo wraps libvirt's test driver with fault injection (`backend/demo`); the simulator plugs
//!   in a virtual cluster (`backend/sim`).
//! - `Fencer`, `SoftFencer` and `Witness` (`power`): fence agents and quorum witnesses
//!   (`fence/`).
//! - `Clock`: tokio's monotonic clock, virtual under `tokio::time::pause()`.
//! - `worker::HostHandle`: one thread per host owning its `Hypervisor`, every call bounded by a
//!   timeout.
//! - `xml`: the facts 3RC reads off libvirt's XML, and how it writes names into XML.
//!
//! Architecture invariant: every method of a seam blocks. Only host workers and blocking threads
//! call them, never an async runtime thread, and every call has a timeout.
//!
//! Architecture invariant: this module depends on `core` only.

pub mod clock;
mod error;
pub mod guestnet;
mod hints;
mod hypervisor;
mod power;
mod storage;
mod target;
pub mod worker;
pub mod xml;

pub use error::HvError;
pub use hints::{DomainChange, Hint, HintSink};
pub use hypervisor::{Connector, Domains, Hypervisor, MigrateTo};
pub use power::{Fencer, ForwardFuture, Leadership, PowerStatus, SoftFencer, StoreFuture, Witness};
pub use storage::{VolumeInfo, VolumeSource, Volumes};
pub use target::{PoolInfo, Target, UploadTo};
