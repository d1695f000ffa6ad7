//! Storage pools and volumes of a host: the pools and volumes it reaches, for placement (a VM
//! is only placed where its disks are), and volume helpers (look up, create from another
//! volume, upload, delete).

use super::errors::{self, to_hv, Kind};
use threerc_core::PoolObs;
use threerc_hv::{HvError, VolumeInfo, VolumeSource};
use virt::connect::Connect;
use virt::error::{Error, ErrorNumber};
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;
use virt::stream::Stream;

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

// ---- Volumes: look up, create from another volume, upload, delete ----
//
// Generic helpers over libvirt's storage API, so that they work on a remote host as on a local
// one (and, except for upload, on the test driver): reinstall makes a VM's disk from its golden
// image with them, and anything that brings a disk to a host (a seed, a converted machine) can
// upload through them.

fn pool_named(conn: &Connect, pool: &str) -> Result<StoragePool, HvError> {
    let p = conn.lookup_storage_pool_by_name(pool).map_err(|e| match e.code().known() {
        Some(ErrorNumber::NoStoragePool) => HvError::Failed(format!("no storage pool named {pool} on this host")),
        _ => to_hv(&e, None),
    })?;
    if !p.is_active().unwrap_or(false) {
        return Err(HvError::Failed(format!("storage pool {pool} is not active")));
    }
    // A volume made outside libvirt (or by another connection) appears after a refresh.
    let _ = p.refresh(0);
    Ok(p)
}

fn vol_named(pool: &StoragePool, pool_name: &str, volume: &str) -> Result<Option<StorageVol>, HvError> {
    match pool.lookup_storage_vol_by_name(volume) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code().known() == Some(ErrorNumber::NoStorageVolume) => Ok(None),
        Err(e) => Err(HvError::Failed(format!("volume {pool_name}/{volume}: {}", e.message()))),
    }
}

fn describe(vol: &StorageVol) -> Result<VolumeInfo, Error> {
    let (format, backing) = threerc_hv::xml::volume_format_and_backing(&vol.xml_desc(0)?);
    Ok(VolumeInfo { path: vol.path()?, capacity: vol.info()?.capacity, format, backing })
}

pub(super) fn volume(conn: &Connect, pool: &str, volume: &str) -> Result<Option<VolumeInfo>, HvError> {
    let p = pool_named(conn, pool)?;
    match vol_named(&p, pool, volume)? {
        Some(v) => describe(&v).map(Some).map_err(|e| to_hv(&e, None)),
        None => Ok(None),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&apos;").replace('"', "&quot;")
}

pub(super) fn create_volume(conn: &Connect, pool: &str, name: &str, from: &VolumeSource) -> Result<(), HvError> {
    let (src_pool, src_vol) = match from {
        VolumeSource::Overlay { pool, volume } | VolumeSource::Clone { pool, volume } => (pool, volume),
    };
    let sp = pool_named(conn, src_pool)?;
    let source = vol_named(&sp, src_pool, src_vol)?
        .ok_or_else(|| HvError::Failed(format!("no volume {src_pool}/{src_vol} on this host")))?;
    let info = describe(&source).map_err(|e| to_hv(&e, None))?;
    let format = info.format.clone().unwrap_or_else(|| "raw".into());
    let target = pool_named(conn, pool)?;
    let made = match from {
        VolumeSource::Overlay { .. } => {
            let xml = format!(
                "<volume><name>{}</name><capacity unit='bytes'>{}</capacity><target><format type='qcow2'/></target>\
                 <backingStore><path>{}</path><format type='{}'/></backingStore></volume>",
                escape(name),
                info.capacity,
                escape(&info.path),
                escape(&format)
            );
            StorageVol::create_xml(&target, &xml, 0)
        }
        VolumeSource::Clone { .. } => {
            let xml = format!(
                "<volume><name>{}</name><capacity unit='bytes'>{}</capacity><target><format type='{}'/></target></volume>",
                escape(name),
                info.capacity,
                escape(&format)
            );
            StorageVol::create_xml_from(&target, &xml, &source, 0)
        }
    };
    made.map(drop)
        .map_err(|e| HvError::Failed(format!("creating {pool}/{name} from {src_pool}/{src_vol}: {}", e.message())))
}

pub(super) fn upload_volume(conn: &Connect, pool: &str, name: &str, data: &[u8]) -> Result<(), HvError> {
    let target = pool_named(conn, pool)?;
    let xml = format!(
        "<volume><name>{}</name><capacity unit='bytes'>{}</capacity><target><format type='raw'/></target></volume>",
        escape(name),
        data.len()
    );
    let vol = StorageVol::create_xml(&target, &xml, 0)
        .map_err(|e| HvError::Failed(format!("creating {pool}/{name}: {}", e.message())))?;
    let sent = (|| -> Result<(), Error> {
        let stream = Stream::new(conn, 0)?;
        if let Err(e) = vol.upload(&stream, 0, data.len() as u64, 0) {
            let _ = stream.abort();
            return Err(e);
        }
        let mut rest = data;
        while !rest.is_empty() {
            match stream.send(&rest[..rest.len().min(256 * 1024)]) {
                Ok(n) if n > 0 => rest = &rest[n as usize..],
                Ok(_) => continue,
                Err(e) => {
                    let _ = stream.abort();
                    return Err(e);
                }
            }
        }
        stream.finish()
    })();
    if let Err(e) = sent {
        // Leave nothing half-written behind.
        let _ = vol.delete(0);
        return Err(match errors::kind(&e) {
            Kind::Unsupported | Kind::Unreachable | Kind::Refused => to_hv(&e, None),
            _ => HvError::Failed(format!("uploading {pool}/{name}: {}", e.message())),
        });
    }
    Ok(())
}

pub(super) fn delete_volume(conn: &Connect, pool: &str, volume: &str) -> Result<(), HvError> {
    let p = pool_named(conn, pool)?;
    match vol_named(&p, pool, volume)? {
        Some(v) => v.delete(0).map_err(|e| HvError::Failed(format!("deleting {pool}/{volume}: {}", e.message()))),
        None => Ok(()),
    }
}
