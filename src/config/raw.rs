//! The config file as written: serde structs that mirror the TOML, nothing validated yet.
//! Unknown keys are errors, so a typo never silently falls back to a default.

use super::duration::Dur;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub host_defaults: RawHostDefaults,
    #[serde(default)]
    pub placement: RawPlacement,
    #[serde(default)]
    pub console: RawConsole,
    #[serde(default)]
    pub quorum: RawQuorum,
    #[serde(default)]
    pub access: super::access::RawAccess,
    pub metrics: Option<RawMetrics>,
    pub ha: Option<super::ha::RawHa>,
    #[serde(default, rename = "alert")]
    pub alerts: Vec<RawAlert>,
    /// Directory for the journal and the inventory; relative paths are relative to the file.
    pub state_dir: Option<Spanned<String>>,
    #[serde(default, rename = "host")]
    pub hosts: Vec<RawHost>,
    #[serde(default, rename = "vm")]
    pub vms: Vec<RawVm>,
}

/// `[metrics]`: where Prometheus scrapes (off without it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: Spanned<String>,
}

/// `[[alert]]`: where alarms page someone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlert {
    pub alertmanager: Option<Spanned<String>>,
    pub agent: Option<Spanned<String>>,
    pub webhook: Option<Spanned<String>>,
    pub min_severity: Option<Spanned<String>>,
    pub kinds: Option<Spanned<Vec<Spanned<String>>>>,
    pub recipient: Option<String>,
    pub timeout: Option<Spanned<Dur>>,
    pub queue: Option<Spanned<usize>>,
    pub headers: Option<std::collections::BTreeMap<String, Spanned<String>>>,
}

/// `[quorum]`: the witnesses (`config::quorum`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuorum {
    pub witnesses: Option<Spanned<Vec<Spanned<String>>>>,
}

/// Supervision defaults; every policy field may be overridden per VM.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub interval: Option<Spanned<Dur>>,
    pub probe_timeout: Option<Dur>,
    /// libvirt lifecycle events and close callbacks bring the next cycle forward; false: polling only.
    pub events: Option<bool>,
    pub action_timeout: Option<Dur>,
    pub stop_grace: Option<Dur>,
    pub fence_timeout: Option<Dur>,
    /// How often each host's fence agent is asked for the host's status while the host is
    /// online ("0s": never).
    pub fence_check: Option<Dur>,
    /// Pass libvirt's UNSAFE flag to live migrations (disks on a plain shared directory).
    pub unsafe_migration: Option<bool>,
    // The policy fields, as in `RawPolicy` (serde's flatten would lose their positions).
    pub fail_threshold: Option<Spanned<u32>>,
    pub ok_threshold: Option<Spanned<u32>>,
    pub min_uptime: Option<Dur>,
    pub max_restart: Option<u32>,
    pub max_relocate: Option<u32>,
    pub restart_window: Option<Spanned<Dur>>,
    pub reinstall: Option<bool>,
}

impl RawDefaults {
    pub fn policy(&self) -> RawPolicy {
        RawPolicy {
            fail_threshold: self.fail_threshold.clone(),
            ok_threshold: self.ok_threshold.clone(),
            min_uptime: self.min_uptime,
            max_restart: self.max_restart,
            max_relocate: self.max_relocate,
            restart_window: self.restart_window.clone(),
            reinstall: self.reinstall,
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub fail_threshold: Option<Spanned<u32>>,
    pub ok_threshold: Option<Spanned<u32>>,
    pub min_uptime: Option<Dur>,
    pub max_restart: Option<u32>,
    pub max_relocate: Option<u32>,
    pub restart_window: Option<Spanned<Dur>>,
    pub reinstall: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHostDefaults {
    pub fail_threshold: Option<Spanned<u32>>,
    pub ok_threshold: Option<Spanned<u32>>,
    pub fence_retry: Option<Dur>,
    pub drain_retry: Option<Dur>,
    /// Power-fence a host that stays `Unmanageable` this long (default: never).
    pub unmanageable_fence_after: Option<Dur>,
    /// Raise the storage alarm for VMs paused by I/O errors this long (default 30 s).
    pub storage_alarm_after: Option<Dur>,
    /// First try to resume a VM paused by I/O errors after this long (default 30 s; "0s":
    /// never, a person resumes it).
    pub storage_resume_after: Option<Dur>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlacement {
    pub cpu_overcommit: Option<Spanned<f64>>,
    pub mem_overcommit: Option<Spanned<f64>>,
    /// Host losses the cluster must absorb (default 1: N+1; 0: not checked).
    pub spare_hosts: Option<Spanned<u32>>,
    /// Refuse operators' migrations and protections that would break it (default false).
    pub spare_enforce: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsole {
    pub theme: Option<String>,
    pub readonly: Option<bool>,
    /// Ring the terminal bell on a new alarm.
    pub bell: Option<bool>,
    /// Key remapping: action name -> a key or a list of keys (checked by the console's keymap).
    #[serde(default)]
    pub keys: BTreeMap<String, RawKeys>,
}

/// One key (`"m"`) or several (`["m", "F5"]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawKeys {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub name: Spanned<String>,
    pub uri: Spanned<String>,
    pub fence: Option<Spanned<RawFence>>,
    /// The command that restarts the host's management daemon, tried when the host is alive
    /// and its libvirt refuses or fails.
    pub soft_fence: Option<Spanned<RawSoftFence>>,
    /// URI the source daemon uses to reach this host for live migration (default: `uri`).
    pub migration_peer_uri: Option<String>,
    /// Migration data URI, e.g. "tcp://10.0.0.2".
    pub migration_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFence {
    /// "demo" (the demo cluster's built-in agent) or a fence-agents program.
    pub agent: Spanned<String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSoftFence {
    /// The program and its arguments (no shell).
    pub command: Spanned<Vec<String>>,
    pub timeout: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVm {
    pub name: Spanned<String>,
    #[serde(default)]
    pub priority: i32,
    pub anti_affinity: Option<String>,
    pub preferred_host: Option<Spanned<String>>,
    /// The hosts it must run on.
    pub hosts: Option<Spanned<Vec<String>>>,
    /// The hosts it should run on, in tiers, best first.
    pub prefer: Option<Spanned<Vec<Vec<String>>>>,
    #[serde(default)]
    pub policy: RawPolicy,
    /// `[vm.reinstall]`: how to reinstall it from scratch.
    pub reinstall: Option<Spanned<RawReinstall>>,
    /// `[vm.guest]`: its guest probes.
    pub guest: Option<Spanned<RawGuest>>,
    /// Start order: the VMs (or anti-affinity groups) it starts after.
    pub after: Option<Spanned<Vec<String>>>,
    /// How long it waits for them at most (default 5 min).
    pub after_wait: Option<Dur>,
    /// When it is ready for the VMs that start after it: "running", "agent" or "probes".
    pub ready: Option<Spanned<String>>,
}

/// `[vm.guest]`: guest probes, none on by default (`core::guest`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuest {
    /// Ping the qemu guest agent.
    pub agent: Option<bool>,
    /// How long the agent may stay silent after a start (default 60 s).
    pub agent_grace: Option<Dur>,
    /// Its watchdog device firing counts as a failure.
    pub watchdog: Option<bool>,
    /// `address:port` to connect to.
    pub tcp: Option<Spanned<String>>,
    /// `http://...` to GET.
    pub http: Option<Spanned<String>>,
    /// Per check (default 3 s).
    pub timeout: Option<Spanned<Dur>>,
    /// Up this long before a guest probe can fail it (default 120 s).
    pub min_uptime: Option<Dur>,
    /// Rungs climbed for guest probes per `window` before a person is asked (default 3, 1 h).
    pub max_restarts: Option<u32>,
    pub window: Option<Spanned<Dur>>,
}

/// `[vm.reinstall]`: the golden image, the domain template, how the disk is made, a seed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReinstall {
    /// The storage pool holding the golden image.
    pub pool: Spanned<String>,
    /// The golden image's volume name.
    pub volume: Spanned<String>,
    /// A domain XML file (relative to the config file).
    pub template: Spanned<String>,
    /// "overlay" (default) or "clone".
    pub mode: Option<Spanned<String>>,
    pub seed: Option<Spanned<RawSeed>>,
}

/// `[vm.reinstall.seed]`: a cloud-init NoCloud seed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSeed {
    /// Default: the VM's name.
    pub hostname: Option<Spanned<String>>,
    #[serde(default)]
    pub ssh_authorized_keys: Vec<Spanned<String>>,
    /// A file with cloud-init network configuration (version 1 or 2).
    pub network_config: Option<Spanned<String>>,
    /// A script file run once at first boot.
    pub first_boot: Option<Spanned<String>>,
    /// "sata" (default), "ide" or "scsi".
    pub cdrom_bus: Option<Spanned<String>>,
}
