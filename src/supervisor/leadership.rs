//! One of several supervisors (`[ha]`): the leadership's part of the loop. Only the leader
//! decides and acts; every instance publishes its view of the hosts and reads the others'
//! (`core::vantage`); the operators' decisions go to the shared store for the next leader.

use super::Supervisor;
use std::sync::Arc;
use tracing::{info, warn};

impl Supervisor {
    /// One of several supervisors (`[ha]`): it decides and acts only while `l` says it leads;
    /// meanwhile it probes and keeps its view, and refuses commands.
    pub fn set_leadership(&mut self, l: Arc<dyn crate::hv::Leadership>) {
        let _ = self.leadership.set(l);
    }

    /// Whether it leads now (always, without `[ha]`), and a line in the journal when that
    /// changes: who leads from when is the journal's story.
    pub(super) fn leads_now(&mut self) -> bool {
        let Some(l) = self.leadership.get().cloned() else { return true };
        let leads = l.leads();
        if self.leading != Some(leads) {
            let why = match (leads, self.leading) {
                (true, _) => format!("{} leads: it decides and acts", l.name()),
                (false, Some(true)) => format!(
                    "{} stops leading (its lease could not be renewed in time, or the key is gone): it decides \
                     nothing more",
                    l.name()
                ),
                (false, _) => format!(
                    "{} is a standby ({}): it probes and shows, the leader decides",
                    l.name(),
                    l.leader().map_or("no leader seen yet".to_string(), |n| format!("{n} leads"))
                ),
            };
            info!(target: "3rc::ha", "{why}");
            let out = self.engine.external_note(self.clock.now(), crate::core::Subject::Cluster, why);
            self.apply(out);
            self.leading = Some(leads);
            if leads {
                self.take_over(&l);
            }
        }
        leads
    }

    /// A leader of several (`[ha]`) writes each decision to the shared store too, so that the
    /// next leader adopts it (`sharing`, awaited before a command's answer).
    pub(super) fn share_decisions(&mut self, decisions: &[(crate::core::DecisionKey, Option<crate::core::Decision>)]) {
        let Some(l) = self.leadership.get().filter(|_| self.leading == Some(true)) else { return };
        for (key, decision) in decisions {
            let key = serde_json::to_string(key).unwrap_or_default();
            let value = decision.as_ref().map(|d| serde_json::to_string(d).unwrap_or_default());
            self.sharing.push(l.share(key, value));
        }
    }

    /// The shared writes started since the last call: awaited by a command's answer, or left
    /// to finish on their own (a failure is logged).
    pub(super) fn take_sharing(
        &mut self,
    ) -> Option<impl std::future::Future<Output = Result<(), String>> + Send + 'static> {
        if self.sharing.is_empty() {
            return None;
        }
        let writes = std::mem::take(&mut self.sharing);
        Some(async move {
            for w in writes {
                w.await.map_err(|e| format!("not kept in etcd for the next leader: {e}"))?;
            }
            Ok(())
        })
    }

    /// Just became the leader: adopt what the former leader decided (the shared store's), or,
    /// the first leader of all, seed the store with this instance's own decisions.
    pub(super) fn take_over(&mut self, l: &Arc<dyn crate::hv::Leadership>) {
        match l.take_shared() {
            Some(Some(entries)) => {
                let mut shared = Vec::new();
                for (k, v) in entries {
                    match (serde_json::from_str(&k), serde_json::from_str(&v)) {
                        (Ok(k), Ok(v)) => shared.push((k, v)),
                        _ => warn!(target: "3rc::ha", "a shared decision cannot be read ({k}); left out"),
                    }
                }
                let out = self.engine.adopt_decisions(self.clock.now(), shared);
                self.apply(out);
            }
            Some(None) => {
                let mine: Vec<_> = self.engine.decisions().map(|(k, d)| (k.clone(), Some(d.clone()))).collect();
                self.share_decisions(&mine);
            }
            None => {}
        }
        self.flush_sharing();
    }

    /// Shared writes nobody waits for (decisions the engine made on its own): left to finish,
    /// a failure logged.
    pub(super) fn flush_sharing(&mut self) {
        if let Some(w) = self.take_sharing() {
            tokio::spawn(async move {
                if let Err(e) = w.await {
                    warn!(target: "3rc::ha", "{e}");
                }
            });
        }
    }

    /// Before a cycle: the other live supervisors' views go to the engine (a fence needs a
    /// majority of them), and this one says whether it is fit to lead — not when it lacks the
    /// quorum another has: it is the one cut off, and stops leading before this cycle decides.
    pub(super) fn exchange_views(&mut self) {
        let Some(l) = self.leadership.get().cloned() else { return };
        let mut peers = Vec::new();
        for text in l.peers() {
            match serde_json::from_str::<crate::core::Vantage>(&text) {
                Ok(v) => peers.push(v),
                Err(e) => warn!(target: "3rc::ha", "another supervisor's view cannot be read ({e}); left out"),
            }
        }
        let own = self.engine.vantage(l.name());
        let fit = crate::core::vantage::fit_to_lead(&own, &peers);
        if !fit && self.fit {
            let better: Vec<&str> = peers.iter().filter(|p| p.quorum).map(|p| p.name.as_str()).collect();
            let why = format!(
                "{} reaches too few hosts and witnesses while {} reach enough: it is the one cut off, and stands \
                 aside{}",
                l.name(),
                better.join(", "),
                if self.leading == Some(true) { " (it stops leading now)" } else { "" }
            );
            warn!(target: "3rc::ha", "{why}");
            let out = self.engine.external_note(self.clock.now(), crate::core::Subject::Cluster, why);
            self.apply(out);
        } else if fit && !self.fit {
            let why = format!("{} reaches enough hosts and witnesses again: it may lead", l.name());
            let out = self.engine.external_note(self.clock.now(), crate::core::Subject::Cluster, why);
            self.apply(out);
        }
        self.fit = fit;
        l.stand(fit);
        self.engine.set_peers(l.name(), peers);
    }

    /// After a cycle: this supervisor's view of the hosts, for the others.
    pub(super) fn publish_view(&self) {
        let Some(l) = self.leadership.get() else { return };
        match serde_json::to_string(&self.engine.vantage(l.name())) {
            Ok(v) => l.publish(v),
            Err(e) => warn!(target: "3rc::ha", "this supervisor's view cannot be written: {e}"),
        }
    }
}
