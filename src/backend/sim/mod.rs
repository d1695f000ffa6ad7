//! A simulated cluster behind the same seams as libvirt (hypervisor, fencer, clock), for the
//! scenario suite, the safety properties, `3rc simulate` and the benchmarks.
//!
//! The supervisor runs unmodified on it: `run::run` builds inline host handles
//! (`HostHandle::inline`), sim fencers, `ExecCtx { inline: true }` and drives the real
//! `Supervisor::run` on a current-thread tokio runtime with paused time. Faults: power off/on,
//! isolation (the host runs on, unreachable), a hung libvirtd, VM crash, failing and slow
//! starts, half-finished migrations, storage pause, fence agents that fail, hang or find the
//! host already off, probe loss, flapping links. Deterministic for a seed.

pub mod host;
pub mod run;
pub mod scenario;
pub mod world;

pub use host::{SimFencer, SimHost};
pub use run::{build, run, Report};
pub use scenario::{Case, SimCmd};
pub use world::{FenceMode, MigrateFail, SimCluster};
