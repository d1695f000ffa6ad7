//! libvirt adapter: the only module that imports `virt`.
//!
//! Everything libvirt-specific lives here and nowhere else: the event loop that keepalive needs
//! (`event_loop`), lifecycle events and the close callback pushed to the supervisor as hints
//! (`events`), the translation of libvirt errors and states into the core's vocabulary
//! (`errors`, `states`), the bulk probe (`probe`, `bulk_stats`), the domain operations (`ops`)
//! and the per-host connection that reconnects by itself (`host`). The rest of 3RC only sees the
//! `Hypervisor` seam.
//!
//! Architecture invariant: no `virt` type leaves this module; callers get `HvError`, `HostProbe`
//! and plain strings.

mod bulk_stats;
mod errors;
mod event_loop;
mod events;
mod host;
mod ops;
mod probe;
mod states;
mod storage;
mod upload;

#[cfg(test)]
mod tests;

pub use event_loop::init;
pub use host::{connector, Keepalive, LibvirtHost};
