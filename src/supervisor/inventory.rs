//! The inventory: each protected VM's last known domain XML and where it was read. A dead
//! host cannot be asked for its VMs' definitions, so 3RC keeps them to define the VMs
//! elsewhere. With a journal the inventory is written there and read back after a restart.

use crate::store::{InventoryRow, Journal, LadderRow};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub host: String,
    pub xml: String,
}

#[derive(Default)]
pub struct Inventory {
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Each VM's ladder windows (wall-clock expiry times), so the ladder outlives a restart.
    ladders: Mutex<BTreeMap<String, LadderRow>>,
    journal: Option<Arc<Journal>>,
}

impl Inventory {
    /// An inventory kept in memory only.
    pub fn in_memory() -> Inventory {
        Inventory::default()
    }

    /// An inventory written to the journal, starting from what the journal recovered.
    pub fn journaled(journal: Arc<Journal>, rows: &[InventoryRow]) -> Inventory {
        let entries = rows.iter().map(|r| (r.vm.clone(), Entry { host: r.host.clone(), xml: r.xml.clone() })).collect();
        Inventory { entries: Mutex::new(entries), ladders: Mutex::default(), journal: Some(journal) }
    }

    /// Start from the ladder windows an earlier run kept.
    pub fn with_ladders(self, rows: &[LadderRow]) -> Inventory {
        *self.ladders.lock().unwrap_or_else(|e| e.into_inner()) =
            rows.iter().map(|r| (r.vm.clone(), r.clone())).collect();
        self
    }

    /// Keep a VM's ladder windows (queued to the journal).
    pub fn set_ladder(&self, row: LadderRow) {
        if let Some(j) = &self.journal {
            j.ladder(row.clone());
        }
        self.ladders.lock().unwrap_or_else(|e| e.into_inner()).insert(row.vm.clone(), row);
    }

    /// Every VM's kept ladder windows.
    pub fn ladders(&self) -> Vec<LadderRow> {
        self.ladders.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    pub fn get(&self, vm: &str) -> Option<Entry> {
        self.lock().get(vm).cloned()
    }

    /// Whether the VM's definition was read on `host` (no copy of the XML made).
    pub fn is_at(&self, vm: &str, host: &str) -> bool {
        self.lock().get(vm).is_some_and(|e| e.host == host)
    }

    /// Every entry, by VM name.
    pub fn entries(&self) -> Vec<(String, Entry)> {
        self.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Store a definition (queued to the journal; never blocks on the disk).
    pub fn put(&self, vm: &str, host: &str, xml: String) -> std::io::Result<()> {
        if let Some(j) = &self.journal {
            j.inventory(InventoryRow { vm: vm.to_string(), host: host.to_string(), xml: xml.clone() });
        }
        self.lock().insert(vm.to_string(), Entry { host: host.to_string(), xml });
        Ok(())
    }

    /// Record that the VM now lives on `host` (same XML).
    pub fn moved(&self, vm: &str, host: &str) -> std::io::Result<()> {
        match self.get(vm) {
            Some(e) => self.put(vm, host, e.xml),
            None => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        // A panic while holding this lock cannot leave the map half-written: recover it.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// vCPUs and memory (KiB) declared by a domain XML, for VMs known only from the inventory
/// (their host is gone). Zero where the XML does not say.
pub fn size_from_xml(xml: &str) -> (u32, u64) {
    fn element<'a>(xml: &'a str, tag: &str) -> Option<(&'a str, &'a str)> {
        let start = xml.find(&format!("<{tag}"))?;
        let rest = &xml[start + tag.len() + 1..];
        if !rest.starts_with(['>', ' ']) {
            return None;
        }
        let close = rest.find('>')?;
        let attrs = &rest[..close];
        let body = &rest[close + 1..];
        let end = body.find('<')?;
        Some((attrs, body[..end].trim()))
    }
    let vcpus = element(xml, "vcpu").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let memory = element(xml, "memory")
        .and_then(|(attrs, v)| {
            let n: u64 = v.parse().ok()?;
            let unit = attrs
                .split("unit=")
                .nth(1)
                .map(|u| u.trim_matches(|c| c == '\'' || c == '"' || c == ' '))
                .unwrap_or("KiB");
            let unit = unit.split(['\'', '"']).next().unwrap_or("KiB");
            Some(match unit {
                "b" | "bytes" => n / 1024,
                "KB" => n * 1000 / 1024,
                "k" | "KiB" => n,
                "MB" => n * 1_000_000 / 1024,
                "M" | "MiB" => n * 1024,
                "GB" => n * 1_000_000_000 / 1024,
                "G" | "GiB" => n * 1024 * 1024,
                _ => n,
            })
        })
        .unwrap_or(0);
    (vcpus, memory)
}

/// The disks of a domain XML that placement must find on a host: each `<disk device='disk'>`
/// source, as a path (`file=`, `dev=`) or as `pool/volume`. CD-ROMs and floppies are left out.
/// Text made safe for an XML attribute or element (domain and volume XML written by 3RC).
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&apos;").replace('"', "&quot;")
}

pub fn disks_from_xml(xml: &str) -> Vec<String> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}="))? + name.len() + 1;
        let quote = tag[start..].chars().next()?;
        let rest = &tag[start + 1..];
        Some(rest[..rest.find(quote)?].to_string())
    };
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<disk") {
        rest = &rest[i..];
        let end = rest.find("</disk>").unwrap_or(rest.len());
        let block = &rest[..end];
        rest = rest[end.min(rest.len())..].get(1..).unwrap_or("");
        let open = &block[..block.find('>').unwrap_or(block.len())];
        if attr(open, "device").is_some_and(|d| d != "disk" && d != "lun") {
            continue;
        }
        let Some(s) = block.find("<source") else { continue };
        let source = &block[s..block[s..].find('>').map(|e| s + e).unwrap_or(block.len())];
        if let Some(p) = attr(source, "file").or_else(|| attr(source, "dev")) {
            out.push(p);
        } else if let (Some(pool), Some(vol)) = (attr(source, "pool"), attr(source, "volume")) {
            out.push(format!("{pool}/{vol}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_from_domain_xml() {
        let xml = "<domain type='kvm'><name>a</name><memory unit='KiB'>2097152</memory><currentMemory unit='KiB'>1048576</currentMemory><vcpu placement='static'>4</vcpu></domain>";
        assert_eq!(size_from_xml(xml), (4, 2097152));
        assert_eq!(size_from_xml("<domain><memory unit='GiB'>2</memory><vcpu>1</vcpu></domain>"), (1, 2097152));
        assert_eq!(size_from_xml("<domain><memory>1024</memory></domain>"), (0, 1024));
        assert_eq!(size_from_xml("not xml"), (0, 0));
    }

    #[test]
    fn disks_are_read_from_domain_xml() {
        let xml = r#"<domain><devices>
          <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/nfs/web1.qcow2'/><target dev='vda'/></disk>
          <disk type="volume" device="disk"><source pool="san" volume="web1-data"/><target dev="vdb"/></disk>
          <disk type='file' device='cdrom'><source file='/iso/debian.iso'/></disk>
          <disk type='block' device='disk'><source dev='/dev/mapper/lun7'/></disk>
        </devices></domain>"#;
        assert_eq!(disks_from_xml(xml), vec!["/nfs/web1.qcow2", "san/web1-data", "/dev/mapper/lun7"]);
        assert!(disks_from_xml("<domain/>").is_empty());
    }

    #[tokio::test]
    async fn a_journaled_inventory_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        {
            let (j, rec, _f) = Journal::open(&path).unwrap();
            let inv = Inventory::journaled(Arc::new(j), &rec.inventory);
            inv.put("web1", "hv1", "<domain/>".into()).unwrap();
            inv.moved("web1", "hv2").unwrap();
        }
        let (j, rec, _f) = Journal::open(&path).unwrap();
        let inv = Inventory::journaled(Arc::new(j), &rec.inventory);
        assert_eq!(inv.get("web1"), Some(Entry { host: "hv2".into(), xml: "<domain/>".into() }));
    }
}
