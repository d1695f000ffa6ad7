//! Facts read off the hosts outside the probe (domain definitions for the inventory, storage
//! pools, the autostart flag), on blocking workers, and fed into the engine by the loop.

use super::Supervisor;
use crate::core::VmState;
use crate::hv::xml;
use crate::ops;
use tracing::warn;

/// Facts read off the hosts outside the probe, on their way into the engine.
pub(super) enum Fact {
    Disks {
        vm: String,
        disks: Vec<String>,
    },
    /// Autostart was on for a protected domain and 3RC turned it off.
    AutostartOff {
        vm: String,
        host: String,
    },
    Storage {
        host: String,
        pools: Vec<crate::core::PoolObs>,
    },
    /// A fence agent's status check (`fencecheck`): `Ok(true)` power on.
    FenceStatus {
        host: String,
        result: Result<bool, String>,
    },
    /// A guest check's answer (`guest`), asked at `asked`; `None` when it could not start in
    /// time (the host's guest workers busy with other guests): not an answer of the guest.
    Guest {
        vm: String,
        check: crate::core::GuestCheck,
        asked: crate::core::Time,
        answer: Option<crate::core::guest::GuestAnswer>,
    },
}

impl Supervisor {
    pub(super) fn fact(&mut self, fact: Fact) {
        match fact {
            Fact::Disks { vm, disks } => self.engine.set_disks(&vm, disks),
            Fact::Storage { host, pools } => self.engine.set_storage(&host, pools),
            Fact::FenceStatus { host, result } => self.fence_checked(host, result),
            Fact::Guest { vm, check, asked, answer } => self.guest_answer(vm, check, asked, answer),
            Fact::AutostartOff { vm, host } => {
                let why = format!(
                    "autostart turned off on {host}: libvirt would start {vm} by itself when a fenced host boots \
                     again; where it runs is 3RC's decision"
                );
                let out = self.engine.external_note(self.clock.now(), crate::core::Subject::Vm(vm), why);
                self.apply(out);
            }
        }
    }

    /// Read every host's storage pools (placement puts a VM only where its disks are).
    pub(super) fn read_storage(&self) {
        for h in self.ctx.hosts.values() {
            if self.no_storage.lock().unwrap_or_else(|e| e.into_inner()).contains(&h.name) {
                continue;
            }
            let (ctx, host, facts, skip) =
                (self.ctx.clone(), h.name.clone(), self.facts_tx.clone(), self.no_storage.clone());
            tokio::spawn(async move {
                match ops::on(&ctx, &host, "storage", |hv| hv.storage()).await {
                    Ok(pools) => {
                        let _ = facts.send(Fact::Storage { host, pools });
                    }
                    Err(crate::hv::HvError::Unsupported(_)) => {
                        skip.lock().unwrap_or_else(|e| e.into_inner()).insert(host);
                    }
                    Err(e) => warn!(target: "3rc", "cannot read the storage pools of {host}: {e}"),
                }
            });
        }
    }

    /// Read the domain XML of protected VMs that run where the inventory does not know them.
    pub(super) fn read_inventory(&self) {
        let mut budget = self.settings.xml_reads_per_cycle;
        for (vm, state, host, answered) in self.engine.vm_placements() {
            if budget == 0 {
                break;
            }
            let Some(host) = host else { continue };
            if !answered || state.is_busy() || matches!(state, VmState::AwaitingFence | VmState::Pending) {
                continue;
            }
            if self.ctx.inventory.is_at(vm, host) {
                continue;
            }
            let mut reading = self.reading_xml.lock().unwrap_or_else(|e| e.into_inner());
            if !reading.insert(vm.to_string()) {
                continue;
            }
            budget -= 1;
            let (ctx, vm, host, reading) =
                (self.ctx.clone(), vm.to_string(), host.to_string(), self.reading_xml.clone());
            let facts = self.facts_tx.clone();
            tokio::spawn(async move {
                let name = vm.clone();
                match ops::on(&ctx, &host, "domain_xml", move |hv| hv.domain_xml(&name)).await {
                    Ok(xml) => {
                        let _ = facts.send(Fact::Disks { vm: vm.clone(), disks: xml::disks_from_xml(&xml) });
                        let (v, h) = (vm.clone(), host.clone());
                        ops::relocate::persist(&ctx, move |inv| inv.put(&v, &h, xml)).await;
                        let name = vm.clone();
                        match ops::on(&ctx, &host, "autostart", move |hv| hv.disable_autostart(&name)).await {
                            Ok(true) => {
                                let _ = facts.send(Fact::AutostartOff { vm: vm.clone(), host: host.clone() });
                            }
                            Ok(false) => {}
                            Err(e) => warn!(target: "3rc", "cannot check the autostart flag of {vm} on {host}: {e}"),
                        }
                    }
                    Err(e) => {
                        warn!(target: "3rc", "cannot read the definition of {vm} on {host}: {e}")
                    }
                }
                reading.lock().unwrap_or_else(|e| e.into_inner()).remove(&vm);
            });
        }
    }
}
