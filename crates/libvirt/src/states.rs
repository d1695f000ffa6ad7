//! libvirt domain states reduced to the core's `DomState`.
//!
//! Both probe paths (the bulk stats call, which hands out raw integers, and the per-domain
//! fallback) go through the one table here, so a domain shows the same state whichever path saw
//! it.

use threerc_core::DomState;
use virt::sys;

/// Map libvirt's `(state, reason)` pair. A domain paused by an I/O error (qemu stops a guest
/// whose disk fails) is `IoPaused`: its storage failed, not the VM. A domain that was shut off because it crashed
/// (`VIR_DOMAIN_SHUTOFF_CRASHED`, what a killed qemu or a host that came back shows) is `Crashed`.
pub(super) fn map_state(state: i64, reason: i64) -> DomState {
    let is = |c: u32| state == i64::from(c);
    if is(sys::VIR_DOMAIN_RUNNING) || is(sys::VIR_DOMAIN_BLOCKED) {
        DomState::Running
    } else if is(sys::VIR_DOMAIN_PAUSED) {
        if reason == i64::from(sys::VIR_DOMAIN_PAUSED_IOERROR) {
            DomState::IoPaused
        } else {
            DomState::Paused
        }
    } else if is(sys::VIR_DOMAIN_SHUTOFF) {
        if reason == i64::from(sys::VIR_DOMAIN_SHUTOFF_CRASHED) {
            DomState::Crashed
        } else {
            DomState::ShutOff
        }
    } else if is(sys::VIR_DOMAIN_CRASHED) {
        DomState::Crashed
    } else {
        // NOSTATE, SHUTDOWN (in progress), PMSUSPENDED, or a state newer than this code.
        DomState::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libvirt_states_map_to_core_states() {
        let s = |st: u32, r: u32| map_state(i64::from(st), i64::from(r));
        assert_eq!(s(sys::VIR_DOMAIN_RUNNING, 0), DomState::Running);
        assert_eq!(s(sys::VIR_DOMAIN_BLOCKED, 0), DomState::Running);
        assert_eq!(s(sys::VIR_DOMAIN_PAUSED, 0), DomState::Paused);
        assert_eq!(s(sys::VIR_DOMAIN_PAUSED, sys::VIR_DOMAIN_PAUSED_IOERROR), DomState::IoPaused);
        assert_eq!(s(sys::VIR_DOMAIN_PAUSED, sys::VIR_DOMAIN_PAUSED_MIGRATION), DomState::Paused);
        assert_eq!(s(sys::VIR_DOMAIN_SHUTOFF, sys::VIR_DOMAIN_SHUTOFF_DESTROYED), DomState::ShutOff);
        assert_eq!(s(sys::VIR_DOMAIN_SHUTOFF, sys::VIR_DOMAIN_SHUTOFF_CRASHED), DomState::Crashed);
        assert_eq!(s(sys::VIR_DOMAIN_CRASHED, 0), DomState::Crashed);
        assert_eq!(s(sys::VIR_DOMAIN_SHUTDOWN, 0), DomState::Other);
        assert_eq!(s(sys::VIR_DOMAIN_PMSUSPENDED, 0), DomState::Other);
        assert_eq!(map_state(-1, -1), DomState::Other);
        assert_eq!(map_state(99, 0), DomState::Other);
    }
}
