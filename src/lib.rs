//! 3RC: keeps a data center's services available by running them as VMs and supervising them
//! through libvirt. See ARCHITECTURE.md for the code map and the invariants.

// The layers below the application live in crates of their own (crates/), re-exported under
// their old paths so `crate::core::...` and `threerc::hv::...` read as before.
pub use threerc_core as core;
pub use threerc_hv as hv;

pub mod app;
pub mod backend;
pub mod config;
pub mod fence;
pub mod ha;
pub mod ops;
pub mod p2v;
pub mod sim;
pub mod store;
pub mod supervisor;
pub mod ui;

/// mimalloc instead of glibc's allocator: the supervisor builds and drops many small objects
/// each cycle (observations, snapshots), where glibc spent a third of a large cluster's cycle
/// in malloc/free and consolidation (measured with perf on the simulator at 1,000 x 20,000).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
