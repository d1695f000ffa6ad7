//! Process-wide libvirt set-up: silence libvirt's own stderr printing and run its event loop.
//!
//! Keepalive (how a dead host is noticed within seconds) and domain events only work when an
//! event loop implementation is registered *before the first connection is opened* and something
//! runs it. We register libvirt's default implementation and run it forever on one dedicated
//! thread. libvirt's default error callback prints every error to stderr, which would tear the
//! full-screen console, so it is replaced by a no-op: errors reach the user through `HvError` and
//! `tracing` instead.

use std::sync::Once;
use std::time::Duration;

static INIT: Once = Once::new();

/// Prepare libvirt for this process. Idempotent and thread-safe: the first call does the work,
/// later calls return at once. `LibvirtHost` calls it before opening any connection, so calling
/// it explicitly at start-up is only needed to get the event loop running early.
pub fn init() {
    INIT.call_once(|| {
        virt::error::clear_error_callback();
        if let Err(e) = virt::event::event_register_default_impl() {
            // Without an event loop connections still work, but keepalive cannot be enabled:
            // a silently dead host is then only noticed when a call times out.
            tracing::error!(
                target: "libvirt",
                "cannot register libvirt's event loop (keepalive disabled): {}",
                e.message()
            );
            return;
        }
        let spawned = std::thread::Builder::new().name("libvirt-events".into()).spawn(run_forever);
        if let Err(e) = spawned {
            tracing::error!(target: "libvirt", "cannot start the libvirt event thread: {e}");
        }
    });
}

fn run_forever() {
    loop {
        if let Err(e) = virt::event::event_run_default_impl() {
            tracing::warn!(target: "libvirt", "libvirt event loop iteration failed: {}", e.message());
            // Do not spin if the loop keeps failing.
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
