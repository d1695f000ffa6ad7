//! Start order of the `[[vm]]`s (`after`, `ready`, `after_wait`; `core::order`), checked at
//! load: each name in `after` is a `[[vm]]` or an `anti_affinity` group (all of its VMs), never
//! the VM itself, `ready = "agent"` only with a guest agent probe, and no cycle (the error
//! names it: `start order cycle: app1 -> db1 -> app1`).

use super::{raw, ConfigError, Locator};
use crate::core::{Readiness, VmSpec};

/// `ready` of a `[[vm]]`.
pub(super) fn readiness(name: &str, v: &raw::RawVm, agent: bool, at: &Locator) -> Result<Readiness, ConfigError> {
    let Some(r) = &v.ready else { return Ok(Readiness::Running) };
    let ready = match r.get_ref().as_str() {
        "running" => Readiness::Running,
        "agent" => Readiness::Agent,
        "probes" => Readiness::Probes,
        o => {
            return Err(at
                .err(Some(r.span()), format!("VM {name}: ready {o:?}: expected \"running\", \"agent\" or \"probes\"")))
        }
    };
    if ready == Readiness::Agent && !agent {
        return Err(at.err(
            Some(r.span()),
            format!("VM {name}: ready = \"agent\" needs its guest agent probe ([vm.guest] agent = true)"),
        ));
    }
    Ok(ready)
}

/// Every VM's `after`, from names of VMs and groups into VM names, checked
/// (`core::order::resolve_after`), the error at the `after` of the VM it names.
pub(super) fn resolve(vms: &mut [VmSpec], raw: &raw::RawConfig, at: &Locator) -> Result<(), ConfigError> {
    crate::core::order::resolve_after(vms).map_err(|(i, message)| {
        let span = raw.vms.get(i).and_then(|r| r.after.as_ref().map(|a| a.span()));
        at.err(span, message)
    })
}
