//! What P2V needs of a target host: pool details, networks, the domain type the host offers,
//! volumes created, converted and deleted, and bytes written into a volume through libvirt's
//! upload stream (`virStorageVolUpload`), which works on a remote host as on a local one.
//!
//! The test driver cannot upload (libvirt answers "this function is not supported"): that
//! comes back as `HvError::Unsupported` with a message saying so.

use super::errors::{to_hv, Kind};
use std::io::Read;
use threerc_hv::xml::xml_escape;
use threerc_hv::{HvError, PoolInfo, UploadTo};
use virt::connect::Connect;
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;
use virt::stream::Stream;

/// Bytes sent per `virStreamSend` call: libvirt splits messages at 256 KiB anyway.
const CHUNK: usize = 1 << 20;

fn pool(c: &Connect, name: &str) -> Result<StoragePool, HvError> {
    let p = c.lookup_storage_pool_by_name(name).map_err(|e| match super::errors::kind(&e) {
        Kind::Unreachable => HvError::Unreachable(e.message().to_string()),
        _ => HvError::Failed(format!("no storage pool named {name}")),
    })?;
    if !p.is_active().unwrap_or(false) {
        return Err(HvError::Failed(format!("storage pool {name} is not active")));
    }
    // Volumes made since the pool started (by others) appear only after a refresh.
    let _ = p.refresh(0);
    Ok(p)
}

fn volume(p: &StoragePool, pool_name: &str, name: &str) -> Result<StorageVol, HvError> {
    p.lookup_storage_vol_by_name(name).map_err(|e| match super::errors::kind(&e) {
        Kind::Unreachable => HvError::Unreachable(e.message().to_string()),
        _ => HvError::Failed(format!("no volume {name} in pool {pool_name}")),
    })
}

pub(super) fn pool_info(c: &Connect, name: &str) -> Result<PoolInfo, HvError> {
    let p = c.lookup_storage_pool_by_name(name).map_err(|e| match super::errors::kind(&e) {
        Kind::Unreachable => HvError::Unreachable(e.message().to_string()),
        _ => HvError::Failed(format!("no storage pool named {name}")),
    })?;
    let active = p.is_active().map_err(|e| to_hv(&e, None))?;
    if active {
        let _ = p.refresh(0);
    }
    let info = p.info().map_err(|e| to_hv(&e, None))?;
    let xml = p.xml_desc(0).map_err(|e| to_hv(&e, None))?;
    Ok(PoolInfo {
        name: name.to_string(),
        kind: threerc_hv::xml::pool_type(&xml).unwrap_or_default(),
        active,
        capacity: info.capacity,
        available: info.available,
    })
}

pub(super) fn networks(c: &Connect) -> Result<Vec<String>, HvError> {
    let mut names: Vec<String> =
        c.list_all_networks(0).map_err(|e| to_hv(&e, None))?.iter().filter_map(|n| n.name().ok()).collect();
    names.sort();
    Ok(names)
}

/// `kvm` when the host's capabilities offer it for x86_64 guests, else `qemu` (TCG).
pub(super) fn domain_type(c: &Connect) -> Result<String, HvError> {
    let caps = c.capabilities().map_err(|e| to_hv(&e, None))?;
    Ok(if threerc_hv::xml::offers_kvm(&caps) { "kvm" } else { "qemu" }.to_string())
}

fn volume_xml(name: &str, capacity: u64, format: &str) -> String {
    format!(
        "<volume><name>{}</name><capacity unit='bytes'>{capacity}</capacity><target><format type='{}'/></target></volume>",
        xml_escape(name),
        xml_escape(format)
    )
}

fn path_of(v: &StorageVol) -> Result<String, HvError> {
    v.path().map_err(|e| to_hv(&e, None))
}

pub(super) fn create_empty_volume(
    c: &Connect,
    pool_name: &str,
    name: &str,
    capacity: u64,
    format: &str,
) -> Result<String, HvError> {
    let p = pool(c, pool_name)?;
    if p.lookup_storage_vol_by_name(name).is_ok() {
        return Err(HvError::Failed(format!("pool {pool_name} already holds a volume named {name}")));
    }
    let v = StorageVol::create_xml(&p, &volume_xml(name, capacity, format), 0)
        .map_err(|e| HvError::Failed(format!("creating volume {name} in pool {pool_name}: {}", e.message())))?;
    path_of(&v)
}

pub(super) fn convert_volume(
    c: &Connect,
    pool_name: &str,
    from: &str,
    name: &str,
    format: &str,
) -> Result<String, HvError> {
    let p = pool(c, pool_name)?;
    let src = volume(&p, pool_name, from)?;
    let capacity = src.info().map_err(|e| to_hv(&e, None))?.capacity;
    if p.lookup_storage_vol_by_name(name).is_ok() {
        return Err(HvError::Failed(format!("pool {pool_name} already holds a volume named {name}")));
    }
    let v = StorageVol::create_xml_from(&p, &volume_xml(name, capacity, format), &src, 0).map_err(|e| {
        HvError::Failed(format!("converting {from} to {format} volume {name} in pool {pool_name}: {}", e.message()))
    })?;
    path_of(&v)
}

pub(super) fn volumes(c: &Connect, pool_name: &str) -> Result<Vec<String>, HvError> {
    let p = pool(c, pool_name)?;
    let mut names: Vec<String> =
        p.list_all_volumes(0).map_err(|e| to_hv(&e, None))?.iter().filter_map(|v| v.name().ok()).collect();
    names.sort();
    Ok(names)
}

pub(super) fn upload(
    c: &Connect,
    to: &UploadTo,
    data: &mut dyn Read,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<u64, HvError> {
    let p = pool(c, &to.pool)?;
    let v = volume(&p, &to.pool, &to.volume)?;
    let stream = Stream::new(c, 0).map_err(|e| to_hv(&e, None))?;
    if let Err(e) = v.upload(&stream, to.offset, to.length, 0) {
        let _ = stream.abort();
        return Err(match super::errors::kind(&e) {
            Kind::Unsupported => {
                HvError::Unsupported(format!("this host cannot receive a volume upload: {}", e.message()))
            }
            _ => HvError::Failed(format!("uploading into volume {}: {}", to.volume, e.message())),
        });
    }
    let mut buf = vec![0u8; CHUNK];
    let mut sent: u64 = 0;
    let failed = |stream: Stream, msg: String| {
        let _ = stream.abort();
        Err(HvError::Failed(msg))
    };
    while sent < to.length {
        let want = usize::try_from((to.length - sent).min(CHUNK as u64)).unwrap_or(CHUNK);
        let n = match data.read(&mut buf[..want]) {
            Ok(0) => {
                return failed(
                    stream,
                    format!("the source ended after {sent} of {} bytes for volume {}", to.length, to.volume),
                )
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return failed(stream, format!("reading the source after {sent} bytes: {e}")),
        };
        let mut off = 0;
        while off < n {
            match stream.send(&buf[off..n]) {
                Ok(k) if k > 0 => off += k as usize,
                Ok(_) => return failed(stream, format!("the upload stream of {} stopped accepting data", to.volume)),
                Err(e) => {
                    let msg = format!("uploading into volume {} at byte {}: {}", to.volume, sent, e.message());
                    let _ = stream.abort();
                    return Err(match super::errors::kind(&e) {
                        Kind::Unreachable => HvError::Unreachable(msg),
                        _ => HvError::Failed(msg),
                    });
                }
            }
        }
        sent += n as u64;
        if !progress(sent) {
            let _ = stream.abort();
            return Err(HvError::Failed("cancelled".into()));
        }
    }
    stream.finish().map_err(|e| HvError::Failed(format!("finishing the upload of {}: {}", to.volume, e.message())))?;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_xml_escapes_names() {
        let x = volume_xml("a<b", 5, "raw");
        assert!(x.contains("<name>a&lt;b</name>") && x.contains(">5</capacity>") && x.contains("type='raw'"), "{x}");
    }
}
