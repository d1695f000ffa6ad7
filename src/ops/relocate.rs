//! Moving a VM between hosts: live migration, and cold relocation (stop on the source, define
//! from the inventory on the target, start, undefine on the source). A live migration the driver
//! cannot do (libvirt's test driver) ends as `Failure::Unsupported` with nothing changed; the
//! engine decides whether a cold relocation follows (`core::outcomes`), never this module.
//!
//! Safety: when the source is given, the copy there is destroyed *before* anything starts on
//! the target; if the source cannot be reached, the relocation stops. A relocation without a
//! source happens only after the core saw the old host fenced.

use super::{on, ExecCtx, Failure};
use crate::hv::HvError;
use tracing::warn;

pub async fn relocate(ctx: &ExecCtx, vm: &str, from: Option<&str>, to: &str) -> Result<(), String> {
    if let Some(src) = from {
        ctx.step(format!("reading the definition on {src}"), Some(0.05));
        // Keep the freshest definition before the source copy goes away.
        let name = vm.to_string();
        if let Ok(xml) = on(ctx, src, "domain_xml", move |hv| hv.domain_xml(&name)).await {
            remember(ctx, vm, src, xml).await;
        }
        ctx.step(format!("stopping on {src}"), Some(0.2));
        let name = vm.to_string();
        match on(ctx, src, "destroy", move |hv| hv.destroy(&name)).await {
            Ok(()) | Err(HvError::NoDomain(_)) => {}
            Err(e) => return Err(format!("could not stop the copy on {src}, so not starting it on {to}: {e}")),
        }
    }
    define_and_start(ctx, vm, to).await?;
    if let Some(src) = from {
        ctx.step(format!("removing the old definition on {src}"), Some(0.9));
        let name = vm.to_string();
        match on(ctx, src, "undefine", move |hv| hv.undefine(&name)).await {
            Ok(()) | Err(HvError::NoDomain(_)) => {}
            Err(e) => {
                warn!(target: "3rc::ops", "{vm} runs on {to}, but its old definition on {src} stays: {e}")
            }
        }
    }
    moved(ctx, vm, to).await;
    Ok(())
}

/// Define the VM on `host` from the inventory and start it. On a failed start the new
/// definition is removed again, so a failure leaves nothing behind on the target.
pub async fn define_and_start(ctx: &ExecCtx, vm: &str, host: &str) -> Result<(), String> {
    let entry = ctx.inventory.get(vm).ok_or_else(|| format!("no domain XML for {vm} in the inventory"))?;
    let xml = entry.xml.clone();
    ctx.step(format!("defining on {host}"), Some(0.4));
    on(ctx, host, "define", move |hv| hv.define(&xml)).await.map_err(|e| format!("define on {host}: {e}"))?;
    ctx.step(format!("starting on {host}"), Some(0.6));
    let name = vm.to_string();
    if let Err(e) = on(ctx, host, "start", move |hv| hv.start(&name)).await {
        if matches!(e, HvError::Timeout(_)) {
            // A start that did not answer in time may still go on and boot the domain later,
            // after the core has moved on to another host: make sure it does not.
            let name = vm.to_string();
            if let Err(d) = on(ctx, host, "destroy", move |hv| hv.destroy(&name)).await {
                return Err(format!("start on {host}: {e}; and the late start could not be stopped: {d}"));
            }
        }
        let name = vm.to_string();
        if entry.host != host {
            if let Err(u) = on(ctx, host, "undefine", move |hv| hv.undefine(&name)).await {
                warn!(target: "3rc::ops", "start of {vm} on {host} failed and its definition could not be removed: {u}");
            }
        }
        return Err(format!("start on {host}: {e}"));
    }
    Ok(())
}

pub async fn migrate(ctx: &ExecCtx, vm: &str, from: &str, to: &str) -> Result<(), Failure> {
    let dest = ctx.migration.get(to).cloned().ok_or_else(|| format!("no migration settings for {to}"))?;
    ctx.step(format!("live migration to {to}"), Some(0.0));
    // qemu's job statistics say how many bytes are across: poll them while the migration runs
    // (the operation pool has another connection to the source).
    let poller = {
        let (ctx, vm, from, to) = (ctx.clone(), vm.to_string(), from.to_string(), to.to_string());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                let name = vm.clone();
                if let Ok(Some((done, total))) = on(&ctx, &from, "job_info", move |hv| hv.job_progress(&name)).await {
                    let mib = |b: u64| b / (1024 * 1024);
                    let text = format!("live migration to {to}: {} of {} MiB", mib(done), mib(total));
                    ctx.step(text, Some(done as f64 / total as f64));
                }
            }
        })
    };
    let name = vm.to_string();
    let result = on(ctx, from, "migrate", move |hv| hv.migrate_live(&name, &dest)).await;
    poller.abort();
    match result {
        Ok(()) => {
            moved(ctx, vm, to).await;
            Ok(())
        }
        Err(HvError::Unsupported(why)) => Err(Failure::Unsupported(format!("live migration: {why}"))),
        Err(e) => {
            let failed = format!("live migration from {from} to {to}: {e}");
            match remove_leftover(ctx, vm, from, to).await {
                Some(note) => Err(Failure::Before(format!("{failed}; {note}"))),
                None => Err(Failure::Before(failed)),
            }
        }
    }
}

/// A live migration that fails late can leave an inactive definition on the destination next to
/// the source's. This action made it, so this action removes it: the source's stays the only
/// definition (otherwise a later look would find the VM defined on two hosts). Only when both
/// hosts answer, the source still has the VM, and the destination's copy is not active.
async fn remove_leftover(ctx: &ExecCtx, vm: &str, from: &str, to: &str) -> Option<String> {
    let state_on = |host: &str| {
        let name = vm.to_string();
        let host = host.to_string();
        async move {
            let probe = on(ctx, &host, "probe", |hv| hv.probe()).await.ok()?;
            probe.domains.iter().find(|d| d.name == name).map(|d| d.state)
        }
    };
    state_on(from).await?;
    if state_on(to).await?.is_active() {
        return None;
    }
    let name = vm.to_string();
    Some(match on(ctx, to, "undefine", move |hv| hv.undefine(&name)).await {
        Ok(()) => format!("removed the inactive copy it left on {to}"),
        Err(e) => format!("the inactive copy it left on {to} could not be removed: {e}"),
    })
}

async fn remember(ctx: &ExecCtx, vm: &str, host: &str, xml: String) {
    let (vm, host) = (vm.to_string(), host.to_string());
    persist(ctx, move |inv| inv.put(&vm, &host, xml)).await
}

async fn moved(ctx: &ExecCtx, vm: &str, host: &str) {
    let (vm, host) = (vm.to_string(), host.to_string());
    persist(ctx, move |inv| inv.moved(&vm, &host)).await
}

/// Inventory writes touch the disk: run them on a blocking thread. A failed write is logged;
/// the in-memory copy is still updated, so recovery goes on.
pub async fn persist<F>(ctx: &ExecCtx, f: F)
where
    F: FnOnce(&crate::store::inventory::Inventory) -> std::io::Result<()> + Send + 'static,
{
    let inv = ctx.inventory.clone();
    if ctx.inline {
        if let Err(e) = f(&inv) {
            warn!(target: "3rc::ops", "inventory write failed: {e}");
        }
        return;
    }
    match tokio::task::spawn_blocking(move || f(&inv)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(target: "3rc::ops", "inventory write failed: {e}"),
        Err(e) => warn!(target: "3rc::ops", "inventory write thread failed: {e}"),
    }
}
