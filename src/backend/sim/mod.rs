//! A simulated cluster behind the same seams as libvirt (hypervisor, fencer, witness), for the
//! simulator above the supervisor (`crate::sim`: the scenario suite, the safety properties,
//! `3rc simulate` and the benchmarks).
//!
//! Faults: power off/on, isolation (the host runs on, unreachable), a hung libvirtd, VM crash,
//! failing and slow starts, half-finished migrations, storage pause, fence agents that fail,
//! hang, are slow or find the host already off, probe loss, flapping links. Deterministic for a
//! seed.

pub mod host;
pub mod world;

pub use host::{SimFencer, SimHost};
pub use world::{FenceMode, MigrateFail, SimCluster};
