//! A supervisor over the journal an earlier run left, as production starts it and as the
//! simulator restarts it: the inventory and the ladder's windows go to the engine, the VMs
//! protected at run time join the config's, and the operators' decisions and the unfinished
//! actions are taken back before the first cycle.

use super::{Supervisor, SupervisorHandle};
use crate::config::Settings;
use crate::core::{ClusterSpec, Severity, Subject};
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

impl Supervisor {
    /// Keep the state folder's lock for as long as this supervisor lives.
    pub fn hold(&mut self, lock: Option<crate::store::lock::StateLock>) {
        self.state_lock = lock;
    }

    /// What an earlier run left in the journal, taken back when `run` starts (so that whoever
    /// subscribed to the events by then sees the lines that say so).
    pub fn restore(&mut self, recovered: &crate::store::Recovered) {
        self.recovered = Some(recovered.clone());
    }

    /// Take over from an earlier run: say which of its actions were cut short (the engine was
    /// seeded from the inventory in `new`). What libvirt reports on the first probes then
    /// decides, as for any VM: nothing is replayed blindly. The exception is a reinstall cut
    /// short: its VM may be left without a disk or a definition, so it is resumed (once its
    /// host answers), skipping the steps the journal says are done.
    pub(super) fn take_back(&mut self, recovered: crate::store::Recovered) {
        let now = self.clock.now();
        for w in &recovered.warnings {
            let out = self.engine.external_note(now, Subject::Cluster, w.clone());
            self.apply(out);
        }
        for a in &recovered.interrupted {
            let msg = format!("interrupted by a stop of 3rc: {a}; reconciling with what the hosts report");
            let out = self.engine.external_note(now, Subject::Cluster, msg);
            self.apply(out);
        }
        let out = self.engine.restore_alarms(now, recovered.alarms.clone());
        self.apply(out);
        if let Some(msg) = &recovered.damaged {
            let out =
                self.engine.external_alarm(now, "journal-damaged", Subject::Cluster, Severity::Critical, msg.clone());
            self.apply(out);
        }
        if recovered.decisions_unknown {
            self.engine.decisions_lost();
        }
        let out = self.engine.restore_decisions(now, recovered.decisions.clone());
        self.apply(out);
        for u in &recovered.unfinished {
            if let crate::core::ActionKind::Reinstall { vm, host } = &u.kind {
                let done = if u.steps.is_empty() { "none".to_string() } else { u.steps.join(", ") };
                let why = format!("{}; steps done: {done}", u.decided_by);
                self.engine.resume_reinstall(vm, host, why);
                self.resume_steps.insert(vm.clone(), u.steps.clone());
            }
        }
        self.publish();
    }

    /// This supervisor runs on the last good config because the file cannot be used
    /// (`config::lastgood`): `why`, for the alarm raised when `run` starts.
    pub fn config_fallback(&mut self, why: String) {
        self.config_fallback = Some(why);
    }

    /// The config alarm: raised when running on the last good config, else ended (a run on a
    /// config it can use ends the alarm an earlier run raised). At the start of `run`, and again
    /// when it takes the lead (`[ha]`: the alarms become the shared ones, each instance's own
    /// config alarm keyed by its name).
    pub(super) fn config_alarm(&mut self) {
        let now = self.clock.now();
        let key = match self.leadership.get() {
            Some(l) => format!("{CONFIG_ALARM}:{}", l.name()),
            None => CONFIG_ALARM.to_string(),
        };
        let out = match &self.config_fallback {
            Some(why) => self.engine.external_alarm(now, &key, Subject::Cluster, Severity::Critical, why.clone()),
            None => self.engine.external_end_alarms(now, &key, "3rc started on a config it can use"),
        };
        self.apply(out);
    }
}

/// The alarm key of a config file that cannot be used.
const CONFIG_ALARM: &str = "config";
