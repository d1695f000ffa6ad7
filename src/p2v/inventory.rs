//! The source's inventory from the standard tools' output: `lsblk -J -b`, `/proc/cpuinfo`,
//! `/proc/meminfo`, `ip -j link`, gathered by one script whose sections are marked. Pure
//! parsers, tested on captured outputs (`source_tests.rs`).

use super::source::{Disk, Inventory, Nic};
use serde::Deserialize;

#[derive(Deserialize)]
struct LsblkOut {
    blockdevices: Vec<LsblkDev>,
}

#[derive(Deserialize)]
struct LsblkDev {
    name: String,
    #[serde(default)]
    size: Option<serde_json::Value>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    serial: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    ro: Option<serde_json::Value>,
    #[serde(default)]
    mountpoint: Option<String>,
    #[serde(default)]
    children: Vec<LsblkDev>,
}

/// Older lsblk prints numbers and booleans as strings ("1024", "0").
fn json_u64(v: &Option<serde_json::Value>) -> Option<u64> {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

fn json_bool(v: &Option<serde_json::Value>) -> bool {
    match v {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::Number(n)) => n.as_u64() == Some(1),
        Some(serde_json::Value::String(s)) => s.trim() == "1" || s.trim() == "true",
        _ => false,
    }
}

fn mounts(d: &LsblkDev, out: &mut Vec<String>) {
    if let Some(m) = d.mountpoint.as_ref().filter(|m| !m.is_empty()) {
        out.push(m.clone());
    }
    for c in &d.children {
        mounts(c, out);
    }
}

/// Disks (type `disk` or `loop`, size > 0) from `lsblk -J -b -o NAME,SIZE,MODEL,SERIAL,TYPE,RO,MOUNTPOINT`.
pub fn parse_lsblk(json: &str) -> Result<Vec<Disk>, String> {
    let out: LsblkOut = serde_json::from_str(json).map_err(|e| format!("cannot read lsblk's output: {e}"))?;
    let mut disks = Vec::new();
    for d in &out.blockdevices {
        let kind = d.kind.as_deref().unwrap_or("");
        let size = json_u64(&d.size).unwrap_or(0);
        if !matches!(kind, "disk" | "loop") || size == 0 {
            continue;
        }
        let mut mounted = Vec::new();
        mounts(d, &mut mounted);
        let clean = |s: &Option<String>| s.as_ref().map(|x| x.trim().to_string()).filter(|x| !x.is_empty());
        disks.push(Disk {
            name: d.name.clone(),
            path: format!("/dev/{}", d.name),
            size,
            model: clean(&d.model),
            serial: clean(&d.serial),
            readonly: json_bool(&d.ro),
            mounted,
        });
    }
    Ok(disks)
}

/// Logical CPUs: the `processor` lines of /proc/cpuinfo.
pub fn parse_cpuinfo(text: &str) -> Option<u32> {
    let n = text.lines().filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor")).count();
    u32::try_from(n).ok().filter(|n| *n > 0)
}

/// `MemTotal` of /proc/meminfo, in KiB.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix("MemTotal:")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[derive(Deserialize)]
struct IpLink {
    ifname: String,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    link_type: Option<String>,
}

/// Ethernet interfaces with a MAC from `ip -j link` (loopback and MAC-less links left out).
pub fn parse_ip_link(json: &str) -> Result<Vec<Nic>, String> {
    let links: Vec<IpLink> =
        serde_json::from_str(json).map_err(|e| format!("cannot read `ip -j link`'s output: {e}"))?;
    Ok(links
        .into_iter()
        .filter(|l| l.link_type.as_deref() == Some("ether"))
        .filter_map(|l| {
            let mac = l.address?.to_ascii_lowercase();
            (valid_mac(&mac) && mac != "00:00:00:00:00:00").then_some(Nic { name: l.ifname, mac })
        })
        .collect())
}

pub fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Marker lines between the sections of the inventory script's output.
const SECTIONS: [&str; 5] = ["hostname", "lsblk", "cpuinfo", "meminfo", "ip"];

/// The script run at the source (one SSH round trip): each tool's output after a marker line.
pub(super) fn inventory_script() -> String {
    [
        "echo '@@3rc hostname'; uname -n",
        "echo '@@3rc lsblk'; lsblk -J -b -o NAME,SIZE,MODEL,SERIAL,TYPE,RO,MOUNTPOINT",
        "echo '@@3rc cpuinfo'; cat /proc/cpuinfo",
        "echo '@@3rc meminfo'; cat /proc/meminfo",
        "echo '@@3rc ip'; ip -j link",
    ]
    .join("; ")
}

/// The inventory from the inventory script's output.
pub fn parse_inventory(output: &str) -> Result<Inventory, String> {
    let mut sections: std::collections::BTreeMap<&str, String> = Default::default();
    let mut current: Option<&str> = None;
    for line in output.lines() {
        if let Some(name) = line.strip_prefix("@@3rc ") {
            current = SECTIONS.iter().copied().find(|s| *s == name.trim());
            continue;
        }
        if let Some(c) = current {
            let s = sections.entry(c).or_default();
            s.push_str(line);
            s.push('\n');
        }
    }
    let get = |name: &str| sections.get(name).map(String::as_str).unwrap_or("");
    if get("lsblk").trim().is_empty() {
        return Err("the source printed no disk list (is lsblk installed there?)".into());
    }
    let nics = if get("ip").trim().is_empty() { Vec::new() } else { parse_ip_link(get("ip"))? };
    Ok(Inventory {
        hostname: get("hostname").trim().to_string(),
        cpus: parse_cpuinfo(get("cpuinfo")),
        memory_kib: parse_meminfo(get("meminfo")),
        disks: parse_lsblk(get("lsblk"))?,
        nics,
    })
}
