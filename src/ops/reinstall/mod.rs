//! Reinstall from scratch: the VM's system disk is made anew from its golden image through
//! libvirt's storage API, the domain is defined again from its template keeping its name, UUID
//! and MAC addresses, and started. The engine then holds it in `Probation`.
//!
//! Steps, each reported to the console and, once done, journaled (synced) under the action:
//!
//! 1. `seed` (when the spec has one): build the cloud-init ISO here, upload it to the host as
//!    volume `VM-seed.iso` next to the disk. Before anything else, so that a host that cannot
//!    take it (the test driver cannot upload) fails the reinstall with nothing changed.
//! 2. `stop`: destroy the domain on the host (nothing to do if it is not running there).
//! 3. `disk`: check the golden image is there, delete the old system disk, create it anew as a
//!    qcow2 overlay on the golden image or as a full copy. The destructive step: it runs only
//!    inside an action decided by a policy or a person, journaled with its decider.
//! 4. `define`: render the template and define it; the new definition goes to the inventory.
//! 5. `start`.
//!
//! Resumable: after a stop of 3RC mid-way (even `kill -9`), the next run resumes the action
//! with the steps the journal says are done; those are skipped (the domain is still stopped
//! first unless it was already started), so a fresh disk is never deleted a second time and a
//! VM is never left without one.

pub mod seed;
use crate::hv::xml::template;

use super::{on, ExecCtx};
use crate::core::{DiskMode, ReinstallSpec, SeedSpec};
use crate::hv::{HvError, VolumeSource};
use template::SeedDisk;
use tracing::{info, warn};

/// Reinstall `vm` on `host`. A failure of the final start is told apart
/// (`Failure::Start`): the new disk and definition are in place, and the ladder retries the
/// start like any other failed start.
pub async fn reinstall(ctx: &ExecCtx, vm: &str, host: &str) -> Result<(), super::Failure> {
    let spec = ctx.reinstall_specs.get(vm).cloned().ok_or_else(|| format!("{vm} has no reinstall spec"))?;
    let skip = |step: &str| ctx.resumed_steps.iter().any(|s| s == step);
    if !ctx.resumed_steps.is_empty() {
        info!(target: "3rc::ops", "resuming the reinstall of {vm} on {host}: done before: {}", ctx.resumed_steps.join(", "));
    }
    let seed_disk = match &spec.seed {
        Some(seed) => {
            if skip("seed") {
                ctx.step_done("seed").await?;
            } else {
                upload_seed(ctx, vm, host, &spec, seed).await?;
            }
            Some(SeedDisk { pool: spec.disk_pool.clone(), volume: SeedSpec::volume(vm), bus: seed.cdrom_bus.clone() })
        }
        None => None,
    };
    if !skip("start") {
        ctx.step(format!("stopping {vm} on {host}"), Some(0.2));
        let name = vm.to_string();
        match on(ctx, host, "destroy", move |hv| hv.destroy(&name)).await {
            Ok(()) | Err(HvError::NoDomain(_)) => {}
            Err(e) => return Err(format!("stop on {host}: {e}; nothing was deleted").into()),
        }
    }
    ctx.step_done("stop").await?;
    if skip("disk") {
        ctx.step_done("disk").await?;
    } else {
        new_disk(ctx, host, &spec).await?;
    }
    if skip("define") {
        ctx.step_done("define").await?;
    } else {
        define(ctx, vm, host, &spec, seed_disk.as_ref()).await?;
    }
    if skip("start") {
        ctx.step_done("start").await?;
        return Ok(());
    }
    ctx.step(format!("starting {vm} on {host}"), Some(0.9));
    let name = vm.to_string();
    if let Err(e) = on(ctx, host, "start", move |hv| hv.start(&name)).await {
        if matches!(e, HvError::Timeout(_)) {
            // A late boot must not run behind the engine's back.
            let name = vm.to_string();
            let _ = on(ctx, host, "destroy", move |hv| hv.destroy(&name)).await;
        }
        return Err(super::Failure::Start(format!("start on {host}: {e} (its new disk and definition are in place)")));
    }
    ctx.step_done("start").await?;
    Ok(())
}

async fn upload_seed(ctx: &ExecCtx, vm: &str, host: &str, spec: &ReinstallSpec, seed: &SeedSpec) -> Result<(), String> {
    ctx.step("building the cloud-init seed", Some(0.05));
    let (v, s) = (vm.to_string(), seed.clone());
    let instance = format!("{vm}-{}", ctx.report.as_ref().map(|r| r.id).unwrap_or(0));
    let iso =
        super::blocking(ctx.inline, ctx.timeouts.call, "cloud-init seed", move || seed::build_iso(&v, &instance, &s))
            .await
            .map_err(|e| format!("{e}; nothing was changed"))?;
    let (pool, name) = (spec.disk_pool.clone(), SeedSpec::volume(vm));
    ctx.step(format!("uploading the seed to {host} as {pool}/{name} ({} KiB)", iso.len() / 1024), Some(0.1));
    let (p, n) = (pool.clone(), name.clone());
    on(ctx, host, "upload seed", move |hv| {
        hv.delete_volume(&p, &n)?;
        hv.upload_volume(&p, &n, &iso)
    })
    .await
    .map_err(|e| match e {
        HvError::Unsupported(why) => {
            format!("{host} cannot take the cloud-init seed ({why}: libvirt's test driver cannot upload volumes); nothing was changed")
        }
        e => format!("uploading the seed to {host} as {pool}/{name}: {e}; nothing was changed"),
    })?;
    ctx.step_done("seed").await?;
    Ok(())
}

async fn new_disk(ctx: &ExecCtx, host: &str, spec: &ReinstallSpec) -> Result<(), String> {
    let golden = spec.golden();
    let disk = format!("{}/{}", spec.disk_pool, spec.disk_volume);
    ctx.step(format!("checking the golden image {golden} on {host}"), Some(0.3));
    let (gp, gv) = (spec.golden_pool.clone(), spec.golden_volume.clone());
    match on(ctx, host, "volume", move |hv| hv.volume(&gp, &gv)).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(format!("the golden image {golden} is not on {host}; the old disk is kept")),
        Err(e) => return Err(format!("the golden image {golden} on {host}: {e}; the old disk is kept")),
    }
    ctx.step(format!("deleting the old disk {disk}"), Some(0.4));
    let (dp, dv) = (spec.disk_pool.clone(), spec.disk_volume.clone());
    on(ctx, host, "delete volume", move |hv| hv.delete_volume(&dp, &dv))
        .await
        .map_err(|e| format!("deleting the old disk {disk} on {host}: {e}"))?;
    let source = match spec.mode {
        DiskMode::Overlay => {
            VolumeSource::Overlay { pool: spec.golden_pool.clone(), volume: spec.golden_volume.clone() }
        }
        DiskMode::Clone => VolumeSource::Clone { pool: spec.golden_pool.clone(), volume: spec.golden_volume.clone() },
    };
    ctx.step(format!("creating {disk} as {} of {golden}", spec.mode.label()), Some(0.5));
    let (dp, dv) = (spec.disk_pool.clone(), spec.disk_volume.clone());
    on(ctx, host, "create volume", move |hv| hv.create_volume(&dp, &dv, &source))
        .await
        .map_err(|e| format!("creating {disk} from {golden} on {host}: {e} (the VM has no system disk now)"))?;
    ctx.step_done("disk").await?;
    Ok(())
}

async fn define(
    ctx: &ExecCtx,
    vm: &str,
    host: &str,
    spec: &ReinstallSpec,
    seed: Option<&SeedDisk>,
) -> Result<(), String> {
    ctx.step(format!("defining {vm} on {host} from {}", spec.template_path), Some(0.7));
    // Its identity: from its definition on the host if it has one there, else the inventory's.
    let name = vm.to_string();
    let known = match on(ctx, host, "domain_xml", move |hv| hv.domain_xml(&name)).await {
        Ok(xml) => Some(xml),
        Err(_) => ctx.inventory.get(vm).map(|e| e.xml),
    };
    let (uuid, macs) = match known {
        Some(xml) => template::identity(&xml)?,
        None => {
            warn!(target: "3rc::ops", "no known definition of {vm}: UUID and MACs come from the template or libvirt");
            (None, Vec::new())
        }
    };
    let xml = template::render(&spec.template, vm, uuid.as_deref(), &macs, seed)?;
    on(ctx, host, "define", move |hv| hv.define(&xml)).await.map_err(|e| format!("define on {host}: {e}"))?;
    let name = vm.to_string();
    match on(ctx, host, "domain_xml", move |hv| hv.domain_xml(&name)).await {
        Ok(xml) => {
            let (v, h) = (vm.to_string(), host.to_string());
            super::relocate::persist(ctx, move |inv| inv.put(&v, &h, xml)).await;
        }
        Err(e) => warn!(target: "3rc::ops", "{vm} defined on {host}, but its definition cannot be read back: {e}"),
    }
    ctx.step_done("define").await?;
    Ok(())
}
