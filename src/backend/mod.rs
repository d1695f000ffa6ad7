//! Hypervisor backends behind the supervisor's seams.

pub mod demo;
/// The libvirt adapter, a crate of its own (`crates/libvirt`): the only one that links libvirt.
pub use threerc_libvirt as libvirt;
pub mod rng;
pub mod sim;
