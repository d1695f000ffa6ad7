//! The answers of a P2V (what the wizard asks, what `3rc p2v` takes as arguments) and their
//! checks: each error names the field and says what is wrong. Pure: the facts about the source
//! (its inventory) and the target (pools, networks, domains) are gathered by the caller.

use super::source::{Inventory, Source};
use crate::config::Config;
use crate::core::VmSpec;
use crate::hv::PoolInfo;

/// What the person answered, as text, before any check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answers {
    /// `disk:/path` or `ssh:[user@]host[:port]`.
    pub source: String,
    pub sudo: bool,
    /// SSH private key file (empty: ssh's defaults).
    pub identity: String,
    /// Extra ssh `-o` options, e.g. `ProxyCommand=...`.
    pub ssh_options: Vec<String>,
    pub name: String,
    pub vcpus: String,
    /// `2G`, `512M`, `1048576K`.
    pub memory: String,
    /// Disk names from the inventory (`sda`), in order.
    pub disks: Vec<String>,
    /// NIC names from the inventory (`eno1`) whose MACs the VM keeps.
    pub nics: Vec<String>,
    pub host: String,
    pub pool: String,
    /// A libvirt network name, or `bridge:BRIDGE`.
    pub network: String,
    /// `auto` (qcow2 in file pools, raw in block pools), `qcow2` or `raw`.
    pub format: String,
    /// Copy while the source runs, then a final pass after `stop_command`.
    pub warm: bool,
    pub stop_command: String,
    /// Start the VM once defined.
    pub start: bool,
    /// Put it under HA (needs the supervisor's control socket).
    pub protect: bool,
    /// HA settings, `KEY=VALUE` separated by spaces (`priority=5 max_restart=1`).
    pub policy: String,
    /// virtio disks and NICs instead of SATA and e1000 (for guests known to have the drivers).
    pub virtio: bool,
    /// Where the target host writes the VM's serial console (empty: the default, in
    /// /var/log/libvirt/qemu/).
    pub serial_log: String,
    /// `auto` (or empty: `kvm` where the host offers it, else `qemu`), `kvm` or `qemu` (TCG).
    pub domain_type: String,
}

/// What the target host has, as read through libvirt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetFacts {
    pub host: String,
    /// Every pool with its volumes' names.
    pub pools: Vec<(PoolInfo, Vec<String>)>,
    pub networks: Vec<String>,
    /// Domains defined on the host.
    pub domains: Vec<String>,
    /// The domains defined on each other host of the cluster, or why they could not be read:
    /// a VM's name is unique across the cluster (two domains of one name would be taken for one
    /// VM running twice, and one destroyed).
    pub others: Vec<(String, Result<Vec<String>, String>)>,
    /// `kvm` or `qemu`.
    pub domain_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Network {
    Libvirt(String),
    Bridge(String),
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Network::Libvirt(n) => write!(f, "network {n}"),
            Network::Bridge(b) => write!(f, "bridge {b}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Raw,
    Qcow2,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
        }
    }
}

/// One disk to copy and the volume it becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskPlan {
    pub disk: super::source::Disk,
    /// The final volume's name in the pool.
    pub volume: String,
    /// Where the raw bytes land first when the final format is qcow2 (converted by the host,
    /// then deleted); `None` for raw.
    pub staging: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicPlan {
    pub name: String,
    pub mac: String,
    pub network: Network,
}

/// Checked answers: everything a run needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub source: Source,
    pub name: String,
    pub vcpus: u32,
    pub memory_kib: u64,
    pub disks: Vec<DiskPlan>,
    pub nics: Vec<NicPlan>,
    pub host: String,
    pub pool: String,
    pub format: Format,
    pub domain_type: String,
    pub warm: Option<String>,
    pub start: bool,
    pub protect: Option<VmSpec>,
    pub virtio: bool,
    /// The serial console's file on the target host.
    pub serial_log: String,
}

/// Defaults for a bare disk image, which says nothing of its machine.
pub const DEFAULT_VCPUS: u32 = 1;
pub const DEFAULT_MEMORY_KIB: u64 = 1024 * 1024;

pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `2G`, `512M`, `1536MiB`, `1048576K` (a bare number is MiB) -> KiB.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("memory {t:?}: expected a size like 2G or 512M"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "k" | "kib" | "kb" => 1,
        "" | "m" | "mib" | "mb" => 1024,
        "g" | "gib" | "gb" => 1024 * 1024,
        "t" | "tib" | "tb" => 1024 * 1024 * 1024,
        u => return Err(format!("memory {t:?}: unknown unit {u:?} (use K, M, G or T)")),
    };
    let kib = n.checked_mul(mult).ok_or_else(|| format!("memory {t:?}: too large"))?;
    if kib < 32 * 1024 {
        return Err(format!("memory {t:?}: at least 32M"));
    }
    Ok(kib)
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A volume name from the VM's and the disk's names.
fn volume_base(vm: &str, disk: &str) -> String {
    let d: String =
        disk.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' }).collect();
    format!("{vm}-{d}")
}

/// A field of the answers, as the wizard shows it and an error names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Source,
    Sudo,
    Identity,
    SshOptions,
    Name,
    Vcpus,
    Memory,
    Disks,
    Nics,
    Host,
    Pool,
    Network,
    Format,
    DomainType,
    SerialLog,
    Warm,
    StopCommand,
    Protect,
    Policy,
}

impl Field {
    /// Its name, as `3rc p2v`'s options and the wizard's labels say it.
    pub fn name(self) -> &'static str {
        match self {
            Field::Source => "source",
            Field::Sudo => "sudo",
            Field::Identity => "identity",
            Field::SshOptions => "ssh_options",
            Field::Name => "name",
            Field::Vcpus => "vcpus",
            Field::Memory => "memory",
            Field::Disks => "disks",
            Field::Nics => "nics",
            Field::Host => "host",
            Field::Pool => "pool",
            Field::Network => "network",
            Field::Format => "format",
            Field::DomainType => "domain_type",
            Field::SerialLog => "serial_log",
            Field::Warm => "warm",
            Field::StopCommand => "stop_command",
            Field::Protect => "protect",
            Field::Policy => "policy",
        }
    }

    /// This field's answer refused, with why (people read the message; it starts with the
    /// field's name).
    pub fn refuse(self, message: impl Into<String>) -> Refused {
        Refused { field: self, message: message.into() }
    }
}

/// An answer refused: the field it is about (where the wizard takes the person) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub field: Field,
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

impl PartialEq<&str> for Refused {
    fn eq(&self, other: &&str) -> bool {
        self.message == *other
    }
}

impl Answers {
    pub fn source(&self) -> Result<Source, Refused> {
        if self.source.trim().is_empty() {
            return Err(Field::Source.refuse("source: give disk:/path or ssh:[user@]host[:port]"));
        }
        let mut s = Source::parse(&self.source).map_err(|e| Field::Source.refuse(e))?;
        if let Source::Ssh(ssh) = &mut s {
            ssh.sudo = self.sudo;
            ssh.identity = Some(self.identity.trim()).filter(|i| !i.is_empty()).map(Into::into);
            ssh.options = self.ssh_options.iter().map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect();
        } else if self.sudo {
            return Err(Field::Sudo.refuse("sudo: only for an ssh source"));
        }
        Ok(s)
    }

    /// Fill what the person has not answered from the source's inventory: the name from its
    /// host name, vCPUs and memory from /proc, every writable disk, every NIC.
    pub fn defaults_from(&mut self, inv: &Inventory) {
        if self.name.is_empty() {
            let n: String = inv
                .hostname
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' })
                .collect();
            self.name = n;
        }
        if self.vcpus.is_empty() {
            self.vcpus = inv.cpus.unwrap_or(DEFAULT_VCPUS).to_string();
        }
        if self.memory.is_empty() {
            self.memory = format!("{}M", inv.memory_kib.unwrap_or(DEFAULT_MEMORY_KIB) / 1024);
        }
        if self.disks.is_empty() {
            self.disks = inv.disks.iter().filter(|d| !d.readonly).map(|d| d.name.clone()).collect();
        }
        if self.nics.is_empty() {
            self.nics = inv.nics.iter().map(|n| n.name.clone()).collect();
        }
        if self.format.is_empty() {
            self.format = "auto".into();
        }
    }

    /// The machine step: name, vCPUs, memory, disks, NICs.
    pub fn check_machine(&self, inv: &Inventory) -> Result<(u32, u64), Refused> {
        if !valid_name(&self.name) {
            return Err(
                Field::Name.refuse(format!("name {:?}: use 1 to 64 letters, digits, '.', '_' or '-'", self.name))
            );
        }
        let vcpus: u32 = self
            .vcpus
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=512).contains(n))
            .ok_or_else(|| Field::Vcpus.refuse(format!("vcpus {:?}: a number from 1 to 512", self.vcpus)))?;
        let memory = parse_memory(&self.memory).map_err(|e| Field::Memory.refuse(e))?;
        if self.disks.is_empty() {
            return Err(Field::Disks.refuse("disks: choose at least one disk to copy"));
        }
        for d in &self.disks {
            if inv.disk(d).is_none() {
                let known: Vec<&str> = inv.disks.iter().map(|d| d.name.as_str()).collect();
                return Err(
                    Field::Disks.refuse(format!("disks: the source has no disk {d:?} (it has: {})", known.join(", ")))
                );
            }
        }
        for n in &self.nics {
            if !inv.nics.iter().any(|x| &x.name == n) {
                let known: Vec<&str> = inv.nics.iter().map(|n| n.name.as_str()).collect();
                return Err(
                    Field::Nics.refuse(format!("nics: the source has no NIC {n:?} (it has: {})", known.join(", ")))
                );
            }
        }
        Ok((vcpus, memory))
    }

    fn network(&self, facts: &TargetFacts) -> Result<Option<Network>, Refused> {
        let n = self.network.trim();
        if n.is_empty() {
            return if self.nics.is_empty() {
                Ok(None)
            } else {
                Err(Field::Network
                    .refuse("network: choose the target network for the NICs (a libvirt network, or bridge:NAME)"))
            };
        }
        if let Some(b) = n.strip_prefix("bridge:") {
            if b.is_empty() || !b.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                return Err(Field::Network.refuse(format!("network {n:?}: invalid bridge name")));
            }
            return Ok(Some(Network::Bridge(b.to_string())));
        }
        if !facts.networks.iter().any(|x| x == n) {
            let known = if facts.networks.is_empty() { "none".to_string() } else { facts.networks.join(", ") };
            return Err(Field::Network.refuse(format!(
                "network {n:?}: {} has no such libvirt network (it has: {known}); or give bridge:NAME",
                facts.host
            )));
        }
        Ok(Some(Network::Libvirt(n.to_string())))
    }

    /// Everything, against the source's inventory, the target's facts and the config (its
    /// hosts, its protected VMs, its policy defaults).
    pub fn build(&self, inv: &Inventory, facts: &TargetFacts, cfg: &Config) -> Result<Plan, Refused> {
        let source = self.source()?;
        let (vcpus, memory_kib) = self.check_machine(inv)?;
        if !cfg.hosts.iter().any(|h| h.name == self.host) {
            let known: Vec<&str> = cfg.hosts.iter().map(|h| h.name.as_str()).collect();
            return Err(Field::Host.refuse(format!(
                "host {:?}: not a host of {} (hosts: {})",
                self.host,
                cfg.path.display(),
                known.join(", ")
            )));
        }
        if facts.host != self.host {
            return Err(
                Field::Host.refuse(format!("host {}: its pools and networks have not been read yet", self.host))
            );
        }
        if facts.domains.iter().any(|d| d == &self.name) {
            return Err(
                Field::Name.refuse(format!("name {:?}: {} already has a domain of that name", self.name, self.host))
            );
        }
        for (host, domains) in &facts.others {
            match domains {
                Ok(d) if d.iter().any(|d| d == &self.name) => {
                    return Err(Field::Name.refuse(format!(
                        "name {:?}: {host} already has a domain of that name (names are unique across the \
                         cluster: 3RC would take the two for one VM running twice)",
                        self.name
                    )))
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(Field::Name.refuse(format!(
                        "name {:?}: cannot check that {host} has no domain of that name ({e}); names must be \
                         unique across the cluster: try again once {host} answers",
                        self.name
                    )))
                }
            }
        }
        if cfg.cluster.vms.iter().any(|v| v.name == self.name) {
            return Err(
                Field::Name.refuse(format!("name {:?}: the config already protects a VM of that name", self.name))
            );
        }
        let Some((pool, volumes)) = facts.pools.iter().find(|(p, _)| p.name == self.pool) else {
            let known: Vec<&str> = facts.pools.iter().map(|(p, _)| p.name.as_str()).collect();
            return Err(Field::Pool.refuse(format!(
                "pool {:?}: {} has no such storage pool (it has: {})",
                self.pool,
                self.host,
                known.join(", ")
            )));
        };
        if !pool.active {
            return Err(Field::Pool.refuse(format!("pool {}: not active on {}", pool.name, self.host)));
        }
        let format = match self.format.trim() {
            "" | "auto" if pool.holds_files() => Format::Qcow2,
            "" | "auto" | "raw" => Format::Raw,
            "qcow2" if pool.holds_files() => Format::Qcow2,
            "qcow2" => {
                return Err(Field::Format.refuse(format!(
                    "format qcow2: pool {} is a {} pool, which holds raw volumes only",
                    pool.name, pool.kind
                )))
            }
            other => return Err(Field::Format.refuse(format!("format {other:?}: auto, qcow2 or raw"))),
        };
        let mut disks = Vec::new();
        let mut need = 0u64;
        for name in &self.disks {
            let disk =
                inv.disk(name).cloned().ok_or_else(|| Field::Disks.refuse(format!("disks: no disk {name:?}")))?;
            let base = volume_base(&self.name, &disk.name);
            let (volume, staging) = match format {
                Format::Raw => (format!("{base}.img"), None),
                Format::Qcow2 => (format!("{base}.qcow2"), Some(format!("{base}.p2v-staging"))),
            };
            for v in std::iter::once(&volume).chain(staging.as_ref()) {
                if volumes.iter().any(|x| x == v) {
                    return Err(Field::Name
                        .refuse(format!("name {:?}: pool {} already holds a volume {v}", self.name, pool.name)));
                }
            }
            // qcow2: the raw staging copy and the converted image (at most as large) at once.
            need += if staging.is_some() { disk.size * 2 } else { disk.size };
            disks.push(DiskPlan { disk, volume, staging });
        }
        if need > pool.available {
            return Err(Field::Pool.refuse(format!(
                "pool {}: {} free on {}, the disks need {}{}",
                pool.name,
                human_bytes(pool.available),
                self.host,
                human_bytes(need),
                if format == Format::Qcow2 { " (a raw staging copy, then the qcow2 image)" } else { "" }
            )));
        }
        let network = self.network(facts)?;
        let nics = self
            .nics
            .iter()
            .filter_map(|n| inv.nics.iter().find(|x| &x.name == n))
            .map(|n| NicPlan {
                name: n.name.clone(),
                mac: n.mac.clone(),
                network: network.clone().expect("checked: NICs need a network"),
            })
            .collect();
        let warm = if self.warm {
            let c = self.stop_command.trim();
            if c.is_empty() {
                return Err(Field::StopCommand.refuse("stop_command: warm mode needs the command that stops the source before the final pass (e.g. systemctl isolate rescue.target)"));
            }
            Some(c.to_string())
        } else {
            None
        };
        let protect = if self.protect {
            let settings: Vec<String> = self.policy.split_whitespace().map(str::to_string).collect();
            let mut spec =
                cfg.protect_spec(&self.name, &settings).map_err(|e| Field::Policy.refuse(format!("policy: {e}")))?;
            spec.preferred_host.get_or_insert_with(|| self.host.clone());
            Some(spec)
        } else {
            if !self.policy.trim().is_empty() {
                return Err(Field::Policy.refuse("policy: given, but the VM is not to be protected"));
            }
            None
        };
        let domain_type = match self.domain_type.trim() {
            "" | "auto" if facts.domain_type.is_empty() => "qemu".to_string(),
            "" | "auto" => facts.domain_type.clone(),
            "qemu" => "qemu".to_string(),
            "kvm" if facts.domain_type == "kvm" => "kvm".to_string(),
            "kvm" => {
                return Err(
                    Field::DomainType.refuse(format!("domain_type kvm: {} does not offer kvm (only qemu)", self.host))
                )
            }
            other => return Err(Field::DomainType.refuse(format!("domain_type {other:?}: auto, kvm or qemu"))),
        };
        let serial_log = match self.serial_log.trim() {
            "" => format!("/var/log/libvirt/qemu/{}-serial.log", self.name),
            p if p.starts_with('/') => p.to_string(),
            p => return Err(Field::SerialLog.refuse(format!("serial_log {p:?}: an absolute path on the target host"))),
        };
        if protect.is_some() && !self.start {
            return Err(Field::Protect.refuse("protect: a protected VM must be started (HA would start it anyway)"));
        }
        Ok(Plan {
            source,
            name: self.name.clone(),
            vcpus,
            memory_kib,
            disks,
            nics,
            host: self.host.clone(),
            pool: pool.name.clone(),
            format,
            domain_type,
            warm,
            start: self.start,
            protect,
            virtio: self.virtio,
            serial_log,
        })
    }
}

impl Plan {
    /// The plan in lines a person reviews before saying yes.
    pub fn review(&self, inv: &Inventory) -> Vec<String> {
        let mut l = vec![
            format!(
                "source      {}{}",
                self.source.describe(),
                if inv.hostname.is_empty() { String::new() } else { format!(" ({})", inv.hostname) }
            ),
            format!(
                "VM          {} on {} ({} domain), {} vCPU, {} memory",
                self.name,
                self.host,
                self.domain_type,
                self.vcpus,
                human_bytes(self.memory_kib * 1024)
            ),
        ];
        for d in &self.disks {
            let mut line = format!(
                "disk        {} {} -> pool {} volume {} ({})",
                d.disk.path,
                human_bytes(d.disk.size),
                self.pool,
                d.volume,
                self.format.as_str()
            );
            if let Some(m) = &d.disk.model {
                line.push_str(&format!(", model {m}"));
            }
            if let Some(s) = &d.disk.serial {
                line.push_str(&format!(", serial {s}"));
            }
            l.push(line);
        }
        for n in &self.nics {
            l.push(format!("nic         {} {} -> {}", n.name, n.mac, n.network));
        }
        l.push(match &self.warm {
            Some(c) => {
                format!("copy        warm: first pass while the source runs, then `{c}` and only the changed blocks")
            }
            None => "copy        cold: the source should be stopped (or its disks idle) during the copy".into(),
        });
        l.push(format!("start       {}", if self.start { "yes" } else { "no" }));
        l.push(match &self.protect {
            Some(s) => format!(
                "protect     yes: priority {}, max_restart {}, max_relocate {}, min_uptime {}",
                s.priority,
                s.policy.max_restart,
                s.policy.max_relocate,
                crate::core::time::human(s.policy.min_uptime)
            ),
            None => "protect     no".into(),
        });
        l
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
pub(crate) mod tests;
