//! The simulator: the real supervisor, unmodified, on the simulated cluster (`backend::sim`),
//! for the scenario suite, the safety properties, `3rc simulate` and the benchmarks.
//!
//! `run::run` builds inline host handles (`HostHandle::inline`), sim fencers,
//! `ExecCtx { inline: true }` and drives the real `Supervisor::run` on a current-thread tokio
//! runtime with paused time; `scenario` reads a case (its cluster — `cluster` — and its timed commands: faults,
//! operators' commands, restarts of 3RC). It sits above the supervisor, as `app` does.

pub mod cluster;
pub mod run;
pub mod scenario;
mod several;

pub use run::{build, run, Report};
pub use scenario::{Case, SimCmd};
