//! `FaultyHost`: the `Hypervisor` the supervisor gets in the demo. It asks the cluster for its
//! host's power state on every call and either delegates to the inner hypervisor or answers
//! `Unreachable`, exactly as a lost libvirt connection would.

use super::cluster::{lock, DemoCluster, Power};
use crate::core::HostProbe;
use crate::hv::{
    Domains, HintSink, HvError, Hypervisor, MigrateTo, PoolInfo, Target, UploadTo, VolumeInfo, VolumeSource, Volumes,
};
use std::sync::Arc;

pub struct FaultyHost {
    cluster: Arc<DemoCluster>,
    index: usize,
    /// The hosts this supervisor's links to are cut (`DemoCluster::connector_from`).
    cut: Option<super::cluster::Cuts>,
}

impl FaultyHost {
    pub(super) fn new(cluster: Arc<DemoCluster>, index: usize, cut: Option<super::cluster::Cuts>) -> Self {
        FaultyHost { cluster, index, cut }
    }

    pub fn host(&self) -> &str {
        self.cluster.hosts().get(self.index).map_or("?", |h| h.name.as_str())
    }

    fn with_inner<T>(&mut self, f: impl FnOnce(&mut dyn Hypervisor) -> Result<T, HvError>) -> Result<T, HvError> {
        let Some(h) = self.cluster.hosts().get(self.index) else {
            return Err(HvError::Unreachable(format!("demo host #{} does not exist", self.index)));
        };
        // Power is read under the hypervisor lock, so a call never runs half-way through a
        // power-off.
        if self.cut.as_ref().is_some_and(|c| lock(c).contains(&h.name)) {
            return Err(HvError::Unreachable(format!(
                "connection to {} timed out: this supervisor's link is cut (injected)",
                h.name
            )));
        }
        let mut hv = lock(&h.hv);
        match h.power() {
            Power::On => f(hv.as_mut()),
            Power::Failed => Err(HvError::Unreachable(format!("connection to {} lost (injected)", h.name))),
            Power::Off => {
                Err(HvError::Unreachable(format!("connection to {} lost: host is powered off (injected)", h.name)))
            }
        }
    }
}

impl Domains for FaultyHost {
    fn probe(&mut self) -> Result<HostProbe, HvError> {
        self.with_inner(|hv| hv.probe())
    }

    fn alive(&mut self) -> Result<(), HvError> {
        self.with_inner(|hv| hv.alive())
    }

    fn domain_xml(&mut self, vm: &str) -> Result<String, HvError> {
        self.with_inner(|hv| hv.domain_xml(vm))
    }

    fn define(&mut self, xml: &str) -> Result<(), HvError> {
        self.with_inner(|hv| hv.define(xml))
    }

    fn disable_autostart(&mut self, vm: &str) -> Result<bool, HvError> {
        self.with_inner(|hv| hv.disable_autostart(vm))
    }

    fn undefine(&mut self, vm: &str) -> Result<(), HvError> {
        self.with_inner(|hv| hv.undefine(vm))
    }

    fn start(&mut self, vm: &str) -> Result<(), HvError> {
        // The boot time is spent outside the hypervisor lock, as a real start would be.
        std::thread::sleep(self.cluster.start_latency());
        self.with_inner(|hv| hv.start(vm))
    }

    fn destroy(&mut self, vm: &str) -> Result<(), HvError> {
        self.with_inner(|hv| hv.destroy(vm))
    }

    fn shutdown(&mut self, vm: &str) -> Result<(), HvError> {
        self.with_inner(|hv| hv.shutdown(vm))
    }

    fn resume(&mut self, vm: &str) -> Result<(), HvError> {
        self.with_inner(|hv| hv.resume(vm))
    }

    fn migrate_live(&mut self, vm: &str, dest: &MigrateTo) -> Result<(), HvError> {
        self.with_inner(|hv| hv.migrate_live(vm, dest))
    }

    fn job_progress(&mut self, vm: &str) -> Result<Option<(u64, u64)>, HvError> {
        self.with_inner(|hv| hv.job_progress(vm))
    }

    fn storage(&mut self) -> Result<Vec<crate::core::PoolObs>, HvError> {
        self.with_inner(|hv| hv.storage())
    }

    /// Events come from the inner test-driver connection whatever the injected power state: a
    /// hint only brings a probe forward, and that probe still meets the fault.
    fn watch(&mut self, sink: &HintSink) -> Result<(), HvError> {
        let Some(h) = self.cluster.hosts().get(self.index) else {
            return Err(HvError::Unreachable(format!("demo host #{} does not exist", self.index)));
        };
        let mut hv = lock(&h.hv);
        hv.watch(sink)
    }
}

impl Volumes for FaultyHost {
    fn volume(&mut self, pool: &str, volume: &str) -> Result<Option<VolumeInfo>, HvError> {
        self.with_inner(|hv| hv.volume(pool, volume))
    }

    fn create_volume(&mut self, pool: &str, name: &str, from: &VolumeSource) -> Result<(), HvError> {
        self.with_inner(|hv| hv.create_volume(pool, name, from))
    }

    fn upload_volume(&mut self, pool: &str, name: &str, data: &[u8]) -> Result<(), HvError> {
        self.with_inner(|hv| hv.upload_volume(pool, name, data))
    }

    fn delete_volume(&mut self, pool: &str, volume: &str) -> Result<(), HvError> {
        self.with_inner(|hv| hv.delete_volume(pool, volume))
    }
}

impl Target for FaultyHost {
    // P2V's target calls: the console's wizard reads the demo hosts' pools and networks through
    // them (the test driver itself cannot take an upload, and says so at the copy).

    fn pool_info(&mut self, pool: &str) -> Result<PoolInfo, HvError> {
        self.with_inner(|hv| hv.pool_info(pool))
    }

    fn networks(&mut self) -> Result<Vec<String>, HvError> {
        self.with_inner(|hv| hv.networks())
    }

    fn domain_type(&mut self) -> Result<String, HvError> {
        self.with_inner(|hv| hv.domain_type())
    }

    fn create_empty_volume(&mut self, pool: &str, name: &str, capacity: u64, format: &str) -> Result<String, HvError> {
        self.with_inner(|hv| hv.create_empty_volume(pool, name, capacity, format))
    }

    fn convert_volume(&mut self, pool: &str, from: &str, name: &str, format: &str) -> Result<String, HvError> {
        self.with_inner(|hv| hv.convert_volume(pool, from, name, format))
    }

    fn volumes(&mut self, pool: &str) -> Result<Vec<String>, HvError> {
        self.with_inner(|hv| hv.volumes(pool))
    }

    fn upload(
        &mut self,
        to: &UploadTo,
        data: &mut dyn std::io::Read,
        progress: &mut dyn FnMut(u64) -> bool,
    ) -> Result<u64, HvError> {
        self.with_inner(|hv| hv.upload(to, data, progress))
    }
}
