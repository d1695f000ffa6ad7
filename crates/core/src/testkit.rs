//! Helpers for the core's unit tests: a small cluster, built the same way everywhere.

use crate::{ClusterSpec, Engine, HostPolicy, HostSpec, PlacementPolicy, Time, VmSpec};

/// A VM with the default policy, first on `host`.
pub(crate) fn vm(name: &str, host: &str) -> VmSpec {
    VmSpec { preferred_host: Some(host.into()), ..VmSpec::named(name) }
}

/// An engine over hosts `hv1` and `hv2` (no fence agents) and these VMs, at time zero; spare
/// capacity not checked (its alarm would number the others differently).
pub(crate) fn engine(vms: Vec<VmSpec>) -> Engine {
    let host = |n: &str| HostSpec { name: n.into(), uri: "test:///x".into(), fence_agent: None, soft_fence: false };
    let spec = ClusterSpec {
        hosts: vec![host("hv1"), host("hv2")],
        vms,
        host_policy: HostPolicy::default(),
        placement: PlacementPolicy { spare_hosts: 0, ..Default::default() },
        witnesses: vec![],
    };
    Engine::new(spec, Time::ZERO)
}
