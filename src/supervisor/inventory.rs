//! The inventory: each protected VM's last known domain XML and where it was read. A dead
//! host cannot be asked for its VMs' definitions, so 3RC keeps them to define the VMs
//! elsewhere. With a state directory the inventory survives a restart of 3RC (one file per VM,
//! written atomically).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub host: String,
    pub xml: String,
}

#[derive(Default)]
pub struct Inventory {
    entries: Mutex<BTreeMap<String, Entry>>,
    dir: Option<PathBuf>,
}

impl Inventory {
    /// An inventory kept in memory only.
    pub fn in_memory() -> Inventory {
        Inventory::default()
    }

    /// An inventory persisted under `dir` (created if missing), loaded from what is there.
    pub fn persistent(dir: &Path) -> anyhow::Result<Inventory> {
        use anyhow::Context;
        std::fs::create_dir_all(dir).with_context(|| format!("creating inventory directory {}", dir.display()))?;
        let mut entries = BTreeMap::new();
        for f in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = f?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("xml") {
                continue;
            }
            let Some(vm) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else {
                continue;
            };
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            // First line: "<!-- host: NAME -->", then the XML.
            let (host, xml) = match text.split_once('\n') {
                Some((first, rest)) if first.starts_with("<!-- host: ") => {
                    (first.trim_start_matches("<!-- host: ").trim_end_matches(" -->").to_string(), rest.to_string())
                }
                _ => (String::new(), text),
            };
            entries.insert(vm, Entry { host, xml });
        }
        Ok(Inventory { entries: Mutex::new(entries), dir: Some(dir.to_path_buf()) })
    }

    pub fn get(&self, vm: &str) -> Option<Entry> {
        self.lock().get(vm).cloned()
    }

    /// Whether the VM's definition was read on `host` (no copy of the XML made).
    pub fn is_at(&self, vm: &str, host: &str) -> bool {
        self.lock().get(vm).is_some_and(|e| e.host == host)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Store a definition. Blocking when persistent: call from a blocking context.
    pub fn put(&self, vm: &str, host: &str, xml: String) -> std::io::Result<()> {
        let entry = Entry { host: host.to_string(), xml };
        if let Some(dir) = &self.dir {
            let tmp = dir.join(format!(".{vm}.xml.tmp"));
            std::fs::write(&tmp, format!("<!-- host: {host} -->\n{}", entry.xml))?;
            std::fs::rename(&tmp, dir.join(format!("{vm}.xml")))?;
        }
        self.lock().insert(vm.to_string(), entry);
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

/// vCPUs and memory (KiB) from a libvirt domain XML: `<vcpu ...>N</vcpu>` and
/// `<memory unit='U'>N</memory>` (unit KiB when absent). `None` if either is missing.
pub fn domain_size(xml: &str) -> Option<(u32, u64)> {
    fn element<'a>(xml: &'a str, tag: &str) -> Option<(&'a str, &'a str)> {
        let start = xml.find(&format!("<{tag}"))?;
        let rest = &xml[start + tag.len() + 1..];
        let close = rest.find('>')?;
        let (attrs, body) = (&rest[..close], &rest[close + 1..]);
        let end = body.find(&format!("</{tag}>"))?;
        Some((attrs, body[..end].trim()))
    }
    let vcpus = element(xml, "vcpu")?.1.parse().ok()?;
    let (attrs, n) = element(xml, "memory")?;
    let n: u64 = n.parse().ok()?;
    let unit =
        attrs.split("unit=").nth(1).map(|u| u.trim_matches(|c| c == '\'' || c == '"' || c == ' ')).unwrap_or("KiB");
    let kib = match unit {
        "b" | "bytes" => n / 1024,
        "KiB" | "k" | "K" => n,
        "MiB" | "M" => n * 1024,
        "GiB" | "G" => n * 1024 * 1024,
        _ => return None,
    };
    Some((vcpus, kib))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_size_reads_vcpus_and_memory_in_its_unit() {
        let xml = "<domain><vcpu placement='static'>4</vcpu><memory unit='MiB'>2048</memory></domain>";
        assert_eq!(domain_size(xml), Some((4, 2048 * 1024)));
        assert_eq!(domain_size("<domain><vcpu>2</vcpu><memory>1024</memory></domain>"), Some((2, 1024)));
        assert_eq!(domain_size("<domain><vcpu>2</vcpu></domain>"), None);
    }

    #[test]
    fn persistent_inventory_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let inv = Inventory::persistent(dir.path()).unwrap();
        inv.put("web1", "hv1", "<domain><name>web1</name></domain>".into()).unwrap();
        inv.moved("web1", "hv2").unwrap();
        let again = Inventory::persistent(dir.path()).unwrap();
        assert_eq!(
            again.get("web1"),
            Some(Entry { host: "hv2".into(), xml: "<domain><name>web1</name></domain>".into() })
        );
        assert_eq!(again.len(), 1);
    }
}
