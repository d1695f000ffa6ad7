//! What the supervisor asks of one host's hypervisor (`Domains`), and the whole of what a host
//! offers (`Hypervisor`: domains, volumes, P2V target), which a host's worker holds.

use super::{HintSink, HvError, Target, Volumes};
use std::time::Duration;
use threerc_core::{GuestCheck, HostProbe};

/// One physical host, as the supervisor drives it: its domains. Implementations reconnect by
/// themselves: a call on a lost connection tries to reconnect once and answers `Unreachable` if
/// it cannot.
pub trait Domains: Send {
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
    /// Resume a paused domain (libvirt: `virDomainResume`). A guest paused by an I/O error
    /// pauses again at once if its storage still fails. `Unsupported` where the backend cannot.
    fn resume(&mut self, _vm: &str) -> Result<(), HvError> {
        Err(HvError::Unsupported("resume".into()))
    }
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
    fn storage(&mut self) -> Result<Vec<threerc_core::PoolObs>, HvError> {
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
    /// Check a VM's guest (`[vm.guest]`) within `timeout`: its qemu guest agent answers
    /// `guest-ping`, a TCP port of it accepts a connection, a URL of it answers 2xx or 3xx.
    /// TCP and HTTP go from this machine (`guestnet`); the agent needs the hypervisor:
    /// `Unsupported` where the backend has none.
    fn guest_check(&mut self, _vm: &str, check: &GuestCheck, timeout: Duration) -> Result<(), HvError> {
        match check {
            GuestCheck::Agent => Err(HvError::Unsupported("the qemu guest agent".into())),
            GuestCheck::Tcp(a) => super::guestnet::tcp(a, timeout),
            GuestCheck::Http(u) => super::guestnet::http(u, timeout),
        }
    }
}

/// Everything one host offers, as its worker holds it: its domains (supervision), its volumes
/// (reinstall) and what P2V needs of a target. A backend implements the three; those it cannot
/// do answer `Unsupported` by default.
pub trait Hypervisor: Domains + Volumes + Target {}

impl<T: Domains + Volumes + Target + ?Sized> Hypervisor for T {}

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

/// Opens the hypervisor for one host. Called once per host at start-up, on the host's worker.
pub type Connector = dyn Fn(&threerc_core::HostSpec) -> Box<dyn Hypervisor> + Send + Sync;
