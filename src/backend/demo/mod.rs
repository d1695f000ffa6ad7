//! Demo fault injection at the backend boundary, for `3rc demo`.
//!
//! The demo runs the real supervisor against libvirt's test driver (one host file per "physical
//! host"). To make something happen, faults are injected *between* the supervisor and the
//! hypervisors, where real faults appear: `DemoCluster` keeps a power state per host and hands
//! out `FaultyHost` wrappers that answer `Unreachable` when the host is failed or off, while the
//! inner test-driver host keeps its domains running (a failed host is the split-brain trap: its
//! VMs must not be started elsewhere until it is fenced). `DemoFencer` (`fencer`) powers
//! hosts off, and `FaultInjector` picks faults at random from a seed.
//!
//! Architecture invariant: nothing here imports `virt`; the inner hypervisors are any
//! `Hypervisor`, which is also what the tests use.

mod cluster;
mod faulty;
mod fencer;
mod injector;

#[cfg(test)]
pub(crate) mod tests;

pub use cluster::{Cuts, DemoCluster, DemoError, Power, SharedHypervisor};
pub use faulty::FaultyHost;
pub use fencer::DemoFencer;
pub use injector::{FaultInjector, Injection, InjectorConfig};
