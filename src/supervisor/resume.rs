//! A supervisor over the journal an earlier run left, as production starts it and as the
//! simulator restarts it: the inventory and the ladder's windows go to the engine, the VMs
//! protected at run time join the config's, and the operators' decisions and the unfinished
//! actions are taken back before the first cycle.

use super::{Supervisor, SupervisorHandle};
use crate::config::Settings;
use crate::core::ClusterSpec;
use crate::hv::clock::Clock;
use crate::ops::ExecCtx;
use crate::store::inventory::Inventory;
use crate::store::{Journal, Recovered};
use std::sync::Arc;

/// A journal as `Journal::open` gives it: the journal, what an earlier run left, its failures.
pub type Opened = (Journal, Recovered, tokio::sync::mpsc::UnboundedReceiver<String>);

impl Supervisor {
    /// A supervisor for `spec` (the configuration's cluster) over `journal`, if any; without
    /// one the inventory lives in memory only. `ctx.inventory` is replaced by the journal's.
    pub fn resume(
        mut spec: ClusterSpec,
        mut ctx: ExecCtx,
        settings: Settings,
        clock: Arc<dyn Clock>,
        journal: Option<Opened>,
    ) -> (Supervisor, SupervisorHandle) {
        let Some((j, recovered, failures)) = journal else {
            ctx.inventory = Arc::new(Inventory::in_memory());
            return Supervisor::new(spec, ctx, settings, clock, None);
        };
        let j = Arc::new(j);
        ctx.inventory = Arc::new(Inventory::journaled(j.clone(), &recovered.inventory).with_ladders(&recovered.ladder));
        // VMs put under HA at run time by an earlier run (`protect`); the config wins for a
        // name it also lists.
        let configured: std::collections::BTreeSet<String> = spec.vms.iter().map(|v| v.name.clone()).collect();
        for p in recovered.protected.iter().filter(|p| !configured.contains(&p.name)) {
            spec.vms.push(p.clone());
        }
        let (mut sup, handle) = Supervisor::new(spec, ctx, settings, clock, Some((j, failures)));
        sup.restore(&recovered);
        (sup, handle)
    }
}
