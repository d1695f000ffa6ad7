//! 3RC: keeps a data center's services available by running them as VMs and supervising them
//! through libvirt. See ARCHITECTURE.md for the code map and the invariants.

pub mod app;
pub mod backend;
pub mod config;
pub mod core;
pub mod fence;
pub mod ops;
pub mod store;
pub mod supervisor;
pub mod ui;
