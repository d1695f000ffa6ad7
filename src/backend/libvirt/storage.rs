//! Storage pools and volumes of a host, for placement: a VM is only placed where its disks are.

use super::errors::{self, Kind};
use crate::core::PoolObs;
use virt::connect::Connect;
use virt::error::Error;

/// Every storage pool (active or not) with its volumes, each named by path and by
/// `pool/volume`. Inactive pools are listed without volumes: their disks are not reachable.
pub(super) fn pools(conn: &Connect) -> Result<Vec<PoolObs>, Error> {
    let mut out = Vec::new();
    for pool in conn.list_all_storage_pools(0)? {
        let name = match pool.name() {
            Ok(n) => n,
            Err(e) if errors::kind(&e) == Kind::Failed => continue, // vanished meanwhile
            Err(e) => return Err(e),
        };
        let active = pool.is_active().unwrap_or(false);
        if active {
            // Volumes created since the pool started (a new disk image) appear only after a
            // refresh; a pool that cannot refresh is listed as it is.
            let _ = pool.refresh(0);
        }
        let mut volumes = Vec::new();
        if active {
            for vol in pool.list_all_volumes(0)? {
                if let Ok(path) = vol.path() {
                    volumes.push(path);
                }
                if let Ok(v) = vol.name() {
                    volumes.push(format!("{name}/{v}"));
                }
            }
        }
        volumes.sort();
        out.push(PoolObs { name, active, volumes });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
