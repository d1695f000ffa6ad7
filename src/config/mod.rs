//! Configuration, in two stages (as ripgrep does): the file is parsed into raw serde structs
//! (`raw`), then validated into a `Config` that can build the working parts. Every error names
//! the file, line and column.
//!
//! Architecture invariant: invalid input never reaches the core.

pub mod access;
pub mod alert;
pub mod duration;
mod fencing;
mod guest;
mod ha;
pub mod lastgood;
mod order;
mod quorum;
pub mod raw;
mod reinstall;
mod rules;
pub mod secrets;
mod settings;

pub use access::{Access, Principal};
pub use alert::{AlertSink, AlertTarget};
pub use ha::HaConfig;
pub use quorum::{WitnessCheck, WitnessConfig};

use crate::core::{ClusterSpec, HostPolicy, HostSpec, PlacementPolicy, Policy, VmSpec};

use crate::hv::MigrateTo;
pub use fencing::SoftFenceConfig;
use raw::{RawConfig, RawPolicy};
pub use settings::{Settings, Timeouts};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A config error: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// How one host is fenced (`Debug` hides secrets: `secrets`).
#[derive(Clone, PartialEq, Eq)]
pub struct FenceConfig {
    pub agent: String,
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HostConfig {
    pub name: String,
    /// With `{config_dir}` expanded.
    pub uri: String,
    pub fence: Option<FenceConfig>,
    pub soft_fence: Option<SoftFenceConfig>,
    pub migration: MigrateTo,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ConsoleConfig {
    pub theme: Option<String>,
    pub readonly: bool,
    pub bell: bool,
    /// `[console.keys]`: action name -> keys, validated by the console's keymap.
    pub keys: BTreeMap<String, Vec<String>>,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub cluster: ClusterSpec,
    pub hosts: Vec<HostConfig>,
    pub settings: Settings,
    pub timeouts: Timeouts,
    pub console: ConsoleConfig,
    pub state_dir: Option<PathBuf>,
    /// The `[defaults]` VM policy, the base of every VM's policy (also of VMs protected at
    /// run time).
    pub default_policy: Policy,
    /// `[quorum]` witnesses (their names are also `cluster.witnesses`).
    pub witnesses: Vec<WitnessConfig>,
    /// `[access]`: who may use the supervisor's socket, and for what.
    pub access: Access,
    /// `[metrics] listen`: the address of the Prometheus endpoint (none: off).
    pub metrics: Option<std::net::SocketAddr>,
    /// `[[alert]]`: who is told, and how.
    pub alerts: Vec<AlertTarget>,
    /// `[ha]`: several supervisors on etcd, one leading (none: 3RC runs alone).
    pub ha: Option<HaConfig>,
    /// What is valid but worth a warning at start (e.g. too few votes for a quorum).
    pub warnings: Vec<String>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_text(path).map(|(cfg, _)| cfg)
    }

    /// As `load`, with the text it was read from.
    pub fn load_text(path: &Path) -> Result<(Config, String), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        })?;
        let mut cfg = Config::parse(&text, path)?;
        let warnings = secrets::file_warnings(&cfg);
        cfg.warnings.extend(warnings);
        Ok((cfg, text))
    }

    /// Parse and validate `text`, reporting errors against `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let at = Locator { text, file: path.display().to_string() };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().to_string();
            at.err(e.span(), msg)
        })?;
        validate(raw, &at, &config_dir(path), path)
    }
}

/// The folder of the config file, absolute: `{config_dir}` and relative paths in the file are
/// relative to it. A bare file name (`--config c.toml`) has the empty path as its parent, which
/// means the current folder, not the root.
pub(crate) fn config_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::canonicalize(&dir).or_else(|_| std::env::current_dir().map(|cwd| cwd.join(&dir))).unwrap_or(dir)
}

/// Turns byte spans into line and column.
pub(crate) struct Locator<'a> {
    text: &'a str,
    file: String,
}

impl Locator<'_> {
    pub(crate) fn err(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        let (line, column) = match span {
            Some(r) => {
                let before = &self.text[..r.start.min(self.text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
                (line, column)
            }
            None => (0, 0),
        };
        ConfigError { file: self.file.clone(), line, column, message: message.into() }
    }
}

pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn policy(base: &Policy, raw: &RawPolicy, at: &Locator) -> Result<Policy, ConfigError> {
    let mut p = base.clone();
    if let Some(v) = &raw.fail_threshold {
        if *v.get_ref() == 0 {
            return Err(at.err(Some(v.span()), "fail_threshold must be at least 1"));
        }
        p.fail_threshold = *v.get_ref();
    }
    if let Some(v) = &raw.ok_threshold {
        if *v.get_ref() == 0 {
            return Err(at.err(Some(v.span()), "ok_threshold must be at least 1"));
        }
        p.ok_threshold = *v.get_ref();
    }
    if let Some(v) = raw.min_uptime {
        p.min_uptime = v.0;
    }
    if let Some(v) = raw.max_restart {
        p.max_restart = v;
    }
    if let Some(v) = raw.max_relocate {
        p.max_relocate = v;
    }
    if let Some(v) = &raw.restart_window {
        if v.get_ref().0.is_zero() {
            return Err(at.err(Some(v.span()), "restart_window must be longer than 0"));
        }
        p.restart_window = v.get_ref().0;
    }
    if let Some(v) = raw.reinstall {
        p.reinstall = v;
    }
    Ok(p)
}

/// The validated config from its raw form: each part checked by its own function below, every
/// error naming the file, line and column of the value.
fn validate(raw: RawConfig, at: &Locator, dir: &Path, path: &Path) -> Result<Config, ConfigError> {
    if raw.hosts.is_empty() {
        return Err(at.err(None, "no [[host]] defined: at least one host is needed"));
    }
    let (settings, timeouts) = loop_settings(&raw.defaults, at)?;
    let base = policy(&Policy::default(), &raw.defaults.policy(), at)?;
    let host_policy = host_policy(&raw.host_defaults, at)?;
    let placement = placement(&raw.placement, at)?;
    let (mut host_names, mut hosts, mut host_specs) = (BTreeSet::new(), Vec::new(), Vec::new());
    for h in &raw.hosts {
        let (spec, host) = host(h, &mut host_names, &raw.defaults, dir, at)?;
        host_specs.push(spec);
        hosts.push(host);
    }
    let mut vm_names = BTreeSet::new();
    let mut vms: Vec<VmSpec> =
        raw.vms.iter().map(|v| vm(v, &mut vm_names, &host_names, &base, dir, at)).collect::<Result<_, _>>()?;
    rules::rules_fit_groups(&vms, &raw, at)?;
    order::resolve(&mut vms, &raw, at)?;
    let state_dir = raw.state_dir.as_ref().map(|s| {
        let p = PathBuf::from(s.get_ref());
        if p.is_absolute() {
            p
        } else {
            dir.join(p)
        }
    });
    let (witnesses, warnings) = quorum::witnesses(raw.quorum.witnesses.as_ref(), host_specs.len(), at)?;
    let access = access::access(&raw.access, at)?;
    let alerts = raw.alerts.iter().map(|a| alert::alert(a, at)).collect::<Result<Vec<_>, _>>()?;
    for (i, a) in alerts.iter().enumerate() {
        if alerts[..i].iter().any(|b| b.shown() == a.shown()) {
            return Err(at.err(None, format!("[[alert]]: {} is named twice (one [[alert]] per target)", a.shown())));
        }
    }
    let cluster_name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ha = raw.ha.as_ref().map(|h| ha::ha(h, &cluster_name, at)).transpose()?;
    let metrics = match &raw.metrics {
        None => None,
        Some(m) => Some(m.listen.get_ref().parse::<std::net::SocketAddr>().map_err(|e| {
            at.err(
                Some(m.listen.span()),
                format!(
                    "metrics.listen {:?}: {e} (an address and a port, like \"127.0.0.1:9633\")",
                    m.listen.get_ref()
                ),
            )
        })?),
    };
    Ok(Config {
        path: path.to_path_buf(),
        cluster: ClusterSpec {
            hosts: host_specs,
            vms,
            host_policy,
            placement,
            witnesses: witnesses.iter().map(|w| w.name.clone()).collect(),
        },
        witnesses,
        access,
        metrics,
        alerts,
        ha,
        warnings,
        hosts,
        settings,
        timeouts,
        console: console(raw.console),
        state_dir,
        default_policy: base,
    })
}

/// `[defaults]`: the loop's settings and the operations' timeouts.
fn loop_settings(d: &raw::RawDefaults, at: &Locator) -> Result<(Settings, Timeouts), ConfigError> {
    let mut settings = Settings::default();
    if let Some(i) = &d.interval {
        if i.get_ref().0 < Duration::from_millis(50) {
            return Err(at.err(Some(i.span()), "interval must be at least 50ms"));
        }
        settings.interval = i.get_ref().0;
    }
    if let Some(t) = d.probe_timeout {
        settings.probe_timeout = t.0;
    }
    if let Some(e) = d.events {
        settings.events = e;
    }
    if let Some(t) = d.fence_check {
        settings.fence_check = (!t.0.is_zero()).then_some(t.0);
    }
    let mut timeouts = Timeouts::default();
    if let Some(t) = d.action_timeout {
        timeouts.call = t.0;
    }
    if let Some(t) = d.stop_grace {
        timeouts.stop_grace = t.0;
    }
    if let Some(t) = d.fence_timeout {
        timeouts.fence = t.0;
    }
    Ok((settings, timeouts))
}

/// `[host_defaults]`: the hosts' hysteresis and fencing policy.
fn host_policy(hd: &raw::RawHostDefaults, at: &Locator) -> Result<HostPolicy, ConfigError> {
    let mut host_policy = HostPolicy::default();
    for (field, v, dst) in [
        ("fail_threshold", &hd.fail_threshold, &mut host_policy.fail_threshold),
        ("ok_threshold", &hd.ok_threshold, &mut host_policy.ok_threshold),
    ] {
        if let Some(v) = v {
            if *v.get_ref() == 0 {
                return Err(at.err(Some(v.span()), format!("host_defaults.{field} must be at least 1")));
            }
            *dst = *v.get_ref();
        }
    }
    if let Some(r) = hd.fence_retry {
        host_policy.fence_retry = r.0;
    }
    if let Some(r) = hd.drain_retry {
        host_policy.drain_retry = r.0;
    }
    host_policy.unmanageable_fence_after = hd.unmanageable_fence_after.map(|d| d.0);
    if let Some(d) = hd.storage_alarm_after {
        host_policy.storage_alarm_after = d.0;
    }
    if let Some(d) = hd.storage_resume_after {
        host_policy.storage_resume_after = Some(d.0).filter(|d| !d.is_zero());
    }
    Ok(host_policy)
}

/// `[placement]`: overcommit ratios, and the spare capacity checked (`core::spare`).
fn placement(raw: &raw::RawPlacement, at: &Locator) -> Result<PlacementPolicy, ConfigError> {
    let mut placement = PlacementPolicy::default();
    for (field, v, dst) in [
        ("cpu_overcommit", &raw.cpu_overcommit, &mut placement.cpu_overcommit),
        ("mem_overcommit", &raw.mem_overcommit, &mut placement.mem_overcommit),
    ] {
        if let Some(v) = v {
            let x = *v.get_ref();
            if !(x.is_finite() && x > 0.0 && x <= 64.0) {
                return Err(at.err(Some(v.span()), format!("placement.{field} must be between 0 and 64, got {x}")));
            }
            *dst = x;
        }
    }
    if let Some(n) = &raw.spare_hosts {
        if *n.get_ref() > 4 {
            return Err(
                at.err(Some(n.span()), format!("placement.spare_hosts must be between 0 and 4, got {}", n.get_ref()))
            );
        }
        placement.spare_hosts = *n.get_ref();
    }
    placement.spare_enforce = raw.spare_enforce.unwrap_or(false);
    Ok(placement)
}

/// One `[[host]]`, given the names of the hosts before it (its own is added): its spec for the engine and its config for the
/// operations (URI, fence agent, soft fence, migration settings).
fn host(
    h: &raw::RawHost,
    names: &mut BTreeSet<String>,
    d: &raw::RawDefaults,
    dir: &Path,
    at: &Locator,
) -> Result<(HostSpec, HostConfig), ConfigError> {
    let name = h.name.get_ref();
    if !valid_name(name) {
        return Err(
            at.err(Some(h.name.span()), format!("invalid host name {name:?}: use letters, digits, '.', '_' or '-'"))
        );
    }
    if !names.insert(name.clone()) {
        return Err(at.err(Some(h.name.span()), format!("host {name} is defined twice")));
    }
    let uri = h.uri.get_ref().replace("{config_dir}", &dir.display().to_string());
    if uri.trim().is_empty() || !uri.contains(':') {
        return Err(at.err(Some(h.uri.span()), format!("host {name}: invalid libvirt URI {uri:?}")));
    }
    let fence = match &h.fence {
        None => None,
        Some(f) => Some(fence(name, f, at)?),
    };
    let migration = MigrateTo {
        dest_uri: h.migration_peer_uri.clone().unwrap_or_else(|| uri.clone()),
        migration_uri: h.migration_uri.clone(),
        unsafe_shared_storage: d.unsafe_migration.unwrap_or(false),
    };
    let soft_fence = fencing::soft_fence(name, h.soft_fence.as_ref(), at)?;
    let spec = HostSpec {
        name: name.clone(),
        uri: uri.clone(),
        fence_agent: fence.as_ref().map(|f| f.agent.clone()),
        soft_fence: soft_fence.is_some(),
    };
    Ok((spec, HostConfig { name: name.clone(), uri, fence, soft_fence, migration }))
}

/// A host's `fence = { agent, options }`.
fn fence(name: &str, f: &toml::Spanned<raw::RawFence>, at: &Locator) -> Result<FenceConfig, ConfigError> {
    let agent = f.get_ref().agent.get_ref().trim().to_string();
    if agent.is_empty() || agent.contains(char::is_whitespace) {
        return Err(at.err(Some(f.get_ref().agent.span()), format!("host {name}: invalid fence agent {agent:?}")));
    }
    for (k, v) in &f.get_ref().options {
        if k == "action" {
            return Err(at.err(
                Some(f.span()),
                format!("host {name}: fence option \"action\" is reserved: 3RC sets it (status, off)"),
            ));
        }
        if k.contains(['=', '\n']) || v.contains('\n') {
            return Err(at.err(
                Some(f.span()),
                format!("host {name}: fence option {k:?} must be one line without '=' in its key"),
            ));
        }
    }
    Ok(FenceConfig { agent, options: f.get_ref().options.clone() })
}

/// One `[[vm]]`, given the names of the VMs before it (its own is added) and the hosts' names: its spec, with its policy over
/// `[defaults]` and its reinstall spec read and checked.
fn vm(
    v: &raw::RawVm,
    names: &mut BTreeSet<String>,
    hosts: &BTreeSet<String>,
    base: &Policy,
    dir: &Path,
    at: &Locator,
) -> Result<VmSpec, ConfigError> {
    let name = v.name.get_ref();
    if !valid_name(name) {
        return Err(
            at.err(Some(v.name.span()), format!("invalid VM name {name:?}: use letters, digits, '.', '_' or '-'"))
        );
    }
    if !names.insert(name.clone()) {
        return Err(at.err(Some(v.name.span()), format!("VM {name} is defined twice")));
    }
    if let Some(p) = &v.preferred_host {
        if !hosts.contains(p.get_ref()) {
            return Err(at.err(Some(p.span()), format!("VM {name}: preferred_host {} is not a [[host]]", p.get_ref())));
        }
    }
    let (must, prefer) = rules::host_rules(name, v, hosts, at)?;
    let policy = policy(base, &v.policy, at)?;
    let guest = match &v.guest {
        Some(g) => Some(std::sync::Arc::new(guest::spec(name, g, at)?)),
        None => None,
    };
    let ready = order::readiness(name, v, guest.as_ref().is_some_and(|g| g.agent), at)?;
    let reinstall = match &v.reinstall {
        Some(r) => Some(std::sync::Arc::new(reinstall::spec(name, r, at, dir)?)),
        None => None,
    };
    if policy.reinstall && reinstall.is_none() {
        return Err(at.err(
            Some(v.name.span()),
            format!(
                "VM {name}: policy reinstall = true, but it has no [vm.reinstall] spec (golden image and template)"
            ),
        ));
    }
    Ok(VmSpec {
        name: name.clone(),
        priority: v.priority,
        anti_affinity: v.anti_affinity.clone().filter(|g| !g.is_empty()),
        policy,
        preferred_host: v.preferred_host.as_ref().map(|p| p.get_ref().clone()),
        reinstall,
        origin: crate::core::Origin::Config,
        hosts: must,
        prefer,
        guest,
        // Names of VMs and groups here; `order::resolve` makes them VM names.
        after: v.after.as_ref().map(|a| a.get_ref().clone()).unwrap_or_default(),
        after_wait: v.after_wait.map_or(std::time::Duration::from_secs(300), |d| d.0),
        ready,
    })
}

/// `[console]`.
fn console(raw: raw::RawConsole) -> ConsoleConfig {
    ConsoleConfig {
        theme: raw.theme,
        readonly: raw.readonly.unwrap_or(false),
        bell: raw.bell.unwrap_or(false),
        keys: raw
            .keys
            .into_iter()
            .map(|(action, keys)| match keys {
                raw::RawKeys::One(k) => (action, vec![k]),
                raw::RawKeys::Many(ks) => (action, ks),
            })
            .collect(),
    }
}

impl Config {
    /// The spec of a VM put under HA at run time (`3rc ctl protect VM KEY=VALUE...`, P2V):
    /// `priority`, `anti_affinity`, `preferred_host` and the policy keys of `[defaults]`, each
    /// `key=value` (TOML values; a bare word is a string), over this config's defaults. The
    /// same checks as a `[[vm]]` of the file; an error names the key.
    pub fn protect_spec(&self, vm: &str, settings: &[String]) -> Result<VmSpec, String> {
        if !valid_name(vm) {
            return Err(format!("invalid VM name {vm:?}: use letters, digits, '.', '_' or '-'"));
        }
        let mut top = format!("name = {}\n", toml::Value::String(vm.to_string()));
        let mut policy_keys = String::new();
        for s in settings {
            let Some((key, value)) = s.split_once('=') else {
                return Err(format!("{s:?}: expected KEY=VALUE, like max_restart=1"));
            };
            let (key, value) = (key.trim(), value.trim());
            let value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
                Ok(_) => value.to_string(),
                Err(_) => toml::Value::String(value.to_string()).to_string(),
            };
            match key {
                "priority" | "anti_affinity" | "preferred_host" => top.push_str(&format!("{key} = {value}\n")),
                _ => policy_keys.push_str(&format!("{key} = {value}\n")),
            }
        }
        let text = format!("{top}[policy]\n{policy_keys}");
        let file = format!("protect {vm}");
        let raw: raw::RawVm = toml::from_str(&text).map_err(|e| format!("{file}: {}", e.message().trim()))?;
        let at = Locator { text: &text, file };
        if let Some(p) = &raw.preferred_host {
            if !self.hosts.iter().any(|h| &h.name == p.get_ref()) {
                return Err(format!("protect {vm}: preferred_host {} is not a [[host]]", p.get_ref()));
            }
        }
        let policy =
            policy(&self.default_policy, &raw.policy, &at).map_err(|e| format!("protect {vm}: {}", e.message))?;
        Ok(VmSpec {
            priority: raw.priority,
            anti_affinity: raw.anti_affinity.filter(|g| !g.is_empty()),
            policy,
            preferred_host: raw.preferred_host.map(|p| p.into_inner()),
            origin: crate::core::Origin::RunTime,
            ..VmSpec::named(vm)
        })
    }
}

#[cfg(test)]
mod tests;
