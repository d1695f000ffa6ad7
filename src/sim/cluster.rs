//! A scenario's cluster, as `cluster.toml` says it: hosts (size, fencing, storage pools), the
//! VMs (where they start, size, policy, guest probes, start order, host rules), unprotected
//! domains, policies, quorum witnesses and several supervisors. `scenario` turns it into the
//! `ClusterSpec` the supervisor runs with.

use serde::Deserialize;
use std::time::Duration;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostDef {
    pub name: String,
    #[serde(default = "d_cpus")]
    pub cpus: u32,
    #[serde(default = "d_host_mem")]
    pub memory_mib: u64,
    /// `false`: no fence agent, a person must confirm the host is off.
    #[serde(default = "d_true")]
    pub fence: bool,
    /// A soft fence (restart the daemon) is configured.
    #[serde(default)]
    pub soft_fence: bool,
    /// Storage pools and their volumes: `pools = { golden = ["base.qcow2"], vms = [] }`.
    /// Without any, the host cannot list storage (disks are not checked).
    #[serde(default)]
    pub pools: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmDef {
    pub name: String,
    /// Where it is defined at the start.
    pub host: String,
    #[serde(default = "d_vcpus")]
    pub vcpus: u32,
    #[serde(default = "d_vm_mem")]
    pub memory_mib: u64,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub group: Option<String>,
    /// Host rules: the hosts it must run on, and its preference tiers.
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub prefer: Vec<Vec<String>>,
    /// Running at the start (else defined and shut off).
    #[serde(default = "d_true")]
    pub running: bool,
    /// Defined on its host at the start (`false`: in the config, defined nowhere).
    #[serde(default = "d_true")]
    pub defined: bool,
    #[serde(default)]
    pub max_restart: Option<u32>,
    #[serde(default)]
    pub max_relocate: Option<u32>,
    /// A reinstall spec: the golden image as `pool/volume`; the disk made anew is
    /// `vms/NAME.qcow2`.
    #[serde(default)]
    pub golden: Option<String>,
    /// Guest probes (`[vm.guest]`); the simulated checks ignore addresses.
    #[serde(default)]
    pub guest: Option<GuestDef>,
    /// Start order: the VMs it starts after, how long it waits for them (seconds), and when it
    /// is ready for those after it (`running`, `agent`, `probes`).
    #[serde(default)]
    pub after: Vec<String>,
    pub after_wait: Option<u64>,
    pub ready: Option<String>,
}

/// A scenario VM's guest probes, durations in seconds. Absent: `GuestSpec`'s defaults.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestDef {
    #[serde(default)]
    pub agent: bool,
    #[serde(default)]
    pub watchdog: bool,
    #[serde(default)]
    pub tcp: bool,
    #[serde(default)]
    pub http: bool,
    pub agent_grace: Option<u64>,
    pub min_uptime: Option<u64>,
    pub max_restarts: Option<u32>,
    pub window: Option<u64>,
}

impl GuestDef {
    pub(super) fn spec(&self, vm: &str) -> crate::core::GuestSpec {
        let d = crate::core::GuestSpec::default();
        let secs = |v: Option<u64>, d: Duration| v.map_or(d, Duration::from_secs);
        crate::core::GuestSpec {
            agent: self.agent,
            watchdog: self.watchdog,
            tcp: self.tcp.then(|| format!("{vm}:22")),
            http: self.http.then(|| format!("http://{vm}/health")),
            agent_grace: secs(self.agent_grace, d.agent_grace),
            min_uptime: secs(self.min_uptime, d.min_uptime),
            max_restarts: self.max_restarts.unwrap_or(d.max_restarts),
            window: secs(self.window, d.window),
            timeout: d.timeout,
        }
    }
}

/// Policy knobs, durations in seconds. Absent: the defaults of `core::model`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDef {
    pub fail_threshold: Option<u32>,
    pub ok_threshold: Option<u32>,
    pub min_uptime: Option<u64>,
    pub max_restart: Option<u32>,
    pub max_relocate: Option<u32>,
    pub restart_window: Option<u64>,
    pub reinstall: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPolicyDef {
    pub fail_threshold: Option<u32>,
    pub ok_threshold: Option<u32>,
    pub fence_retry: Option<u64>,
    pub drain_retry: Option<u64>,
    pub unmanageable_fence_after: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterDef {
    #[serde(default)]
    pub seed: u64,
    /// Virtual seconds to run; default: the last command + 60.
    pub duration: Option<u64>,
    #[serde(default)]
    pub policy: PolicyDef,
    #[serde(default)]
    pub host_policy: HostPolicyDef,
    pub cpu_overcommit: Option<f64>,
    /// Spare capacity checked for this many host losses (`[placement] spare_hosts`; default
    /// here 0, not checked).
    pub spare_hosts: Option<u32>,
    #[serde(default)]
    pub spare_enforce: bool,
    pub mem_overcommit: Option<f64>,
    #[serde(rename = "host")]
    pub hosts: Vec<HostDef>,
    #[serde(rename = "vm", default)]
    pub vms: Vec<VmDef>,
    /// Domains that run on the hosts but are not protected (they take room).
    #[serde(default)]
    pub unprotected: Vec<VmDef>,
    /// Quorum witnesses (names), reachable at the start; `witness W down|up` in `commands`.
    #[serde(default)]
    pub witnesses: Vec<String>,
    /// Several supervisors (`[ha]`) by name, on an in-memory etcd; none: one, as without `[ha]`.
    #[serde(default)]
    pub supervisors: Vec<String>,
    /// What the lease store holds at the start, under the cluster's prefix: a former leader's
    /// keys (`"state/inflight/sup0-7" = "{...}"`), as when the supervisors start after it died.
    #[serde(default)]
    pub store: std::collections::BTreeMap<String, String>,
}

fn d_cpus() -> u32 {
    16
}
fn d_host_mem() -> u64 {
    32768
}
fn d_vcpus() -> u32 {
    2
}
fn d_vm_mem() -> u64 {
    4096
}
fn d_true() -> bool {
    true
}
