//! `[vm.reinstall]` and `[vm.reinstall.seed]`: validated into the core's `ReinstallSpec`. The
//! template and the seed's files are read now, so that a missing file or a template that does
//! not fit the VM is an error at start-up, not at 3 a.m. during a reinstall.

use super::raw::{RawReinstall, RawSeed};
use super::{valid_name, ConfigError, Locator};
use crate::core::{DiskMode, ReinstallSpec, SeedSpec};
use crate::hv::xml::template;
use std::path::Path;
use toml::Spanned;

fn read(file: &Spanned<String>, what: &str, at: &Locator, dir: &Path) -> Result<(String, String), ConfigError> {
    let p = Path::new(file.get_ref());
    let path = if p.is_absolute() { p.to_path_buf() } else { dir.join(p) };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| at.err(Some(file.span()), format!("{what} {}: cannot read: {e}", path.display())))?;
    Ok((path.display().to_string(), text))
}

pub(super) fn spec(
    vm: &str,
    raw: &Spanned<RawReinstall>,
    at: &Locator,
    dir: &Path,
) -> Result<ReinstallSpec, ConfigError> {
    let r = raw.get_ref();
    for (key, v) in [("pool", &r.pool), ("volume", &r.volume)] {
        if !valid_name(v.get_ref()) {
            return Err(at.err(
                Some(v.span()),
                format!("VM {vm}: reinstall.{key} {:?}: use letters, digits, '.', '_' or '-'", v.get_ref()),
            ));
        }
    }
    let mode = match r.mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("overlay", _)) => DiskMode::Overlay,
        Some(("clone", _)) => DiskMode::Clone,
        Some((other, span)) => {
            return Err(
                at.err(Some(span), format!("VM {vm}: reinstall.mode {other:?}: expected \"overlay\" or \"clone\""))
            )
        }
    };
    let (template_path, text) = read(&r.template, &format!("VM {vm}: reinstall.template"), at, dir)?;
    let info = template::check(&text, vm)
        .map_err(|e| at.err(Some(r.template.span()), format!("VM {vm}: template {template_path}: {e}")))?;
    if info.disk_pool == *r.pool.get_ref() && info.disk_volume == *r.volume.get_ref() {
        return Err(at.err(
            Some(r.template.span()),
            format!(
                "VM {vm}: template {template_path}: its disk is the golden image {}/{} itself; a reinstall would delete it",
                info.disk_pool, info.disk_volume
            ),
        ));
    }
    let seed = match &r.seed {
        Some(s) => Some(seed(vm, s, at, dir)?),
        None => None,
    };
    Ok(ReinstallSpec {
        golden_pool: r.pool.get_ref().clone(),
        golden_volume: r.volume.get_ref().clone(),
        mode,
        disk_pool: info.disk_pool,
        disk_volume: info.disk_volume,
        template_path,
        template: text,
        seed,
    })
}

fn seed(vm: &str, raw: &Spanned<RawSeed>, at: &Locator, dir: &Path) -> Result<SeedSpec, ConfigError> {
    let s = raw.get_ref();
    let hostname = s.hostname.as_ref().map(|h| (h.get_ref().clone(), Some(h.span()))).unwrap_or((vm.to_string(), None));
    let ok = !hostname.0.is_empty()
        && hostname.0.len() <= 253
        && hostname
            .0
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !ok {
        return Err(at.err(
            hostname.1.or(Some(raw.span())),
            format!("VM {vm}: seed.hostname {:?} is not a valid host name", hostname.0),
        ));
    }
    let mut keys = Vec::new();
    for k in &s.ssh_authorized_keys {
        let key = k.get_ref().trim();
        if key.split_whitespace().count() < 2 || key.contains('\n') {
            return Err(at.err(Some(k.span()), format!("VM {vm}: seed.ssh_authorized_keys: {key:?} is not one SSH public key line (\"TYPE KEY [COMMENT]\")")));
        }
        keys.push(key.to_string());
    }
    let network_config = match &s.network_config {
        Some(f) => Some(read(f, &format!("VM {vm}: seed.network_config"), at, dir)?.1),
        None => None,
    };
    let first_boot = match &s.first_boot {
        Some(f) => Some(read(f, &format!("VM {vm}: seed.first_boot"), at, dir)?.1),
        None => None,
    };
    let cdrom_bus = match &s.cdrom_bus {
        None => "sata".to_string(),
        Some(b) if ["sata", "ide", "scsi"].contains(&b.get_ref().as_str()) => b.get_ref().clone(),
        Some(b) => {
            return Err(at
                .err(Some(b.span()), format!("VM {vm}: seed.cdrom_bus {:?}: expected sata, ide or scsi", b.get_ref())))
        }
    };
    Ok(SeedSpec { hostname: hostname.0, ssh_authorized_keys: keys, network_config, first_boot, cdrom_bus })
}
