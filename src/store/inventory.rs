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

#[cfg(test)]
mod tests {
    use super::*;

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
