//! Hypervisor backends behind the supervisor's seams.

pub mod demo;
pub mod libvirt;
pub mod rng;
pub mod sim;
