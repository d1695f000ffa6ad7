//! One of several supervisors (`[ha]`): the leadership's part of the loop. Only the leader
//! decides and acts; every instance publishes its view of the hosts and reads the others'
//! (`core::vantage`); the operators' decisions go to the shared store for the next leader.

use super::{Answer, CommandRequest, Supervisor};
use std::sync::Arc;
use tracing::{info, warn};

/// Where the shared store keeps the operators' decisions and the ladder's windows (under
/// `PREFIX/state/`).
const DECISIONS: &str = "decisions/";
const LADDERS: &str = "ladders/";
const FENCED: &str = "fenced/";
const INFLIGHT: &str = "inflight/";
const PLACEMENT: &str = "placement/";
const ALARMS: &str = "alarms/";
/// The steps a reinstall under way has finished (`NAME-ID`, as its `inflight/` entry).
const STEPS: &str = "steps/";
/// Who leads (written by each leader when it takes over): the next one names its former.
const LED_BY: &str = "led-by";

/// An action under way on the leader, as the next leader finds it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Inflight {
    kind: crate::core::ActionKind,
    decided_by: String,
    /// When it started (wall clock, ms since the epoch).
    #[serde(default)]
    started_ms: Option<u64>,
}

/// How long a standby waits for the leader's answer to a command it forwarded.
pub const FORWARD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A command a standby forwards to the leader.
#[derive(serde::Serialize, serde::Deserialize)]
struct Forwarded {
    /// Who gave it, and through which instance ("console:alice via sup2").
    origin: String,
    command: crate::core::Command,
}

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
                (false, Some(true)) if !self.fit => {
                    format!("{} stops leading: it stands aside for a better-placed supervisor", l.name())
                }
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
            let key = format!("{DECISIONS}{}", serde_json::to_string(key).unwrap_or_default());
            let value = decision.as_ref().map(|d| serde_json::to_string(d).unwrap_or_default());
            self.sharing.push(l.share(key, value));
        }
    }

    /// A leader of several writes its alarms too (raised, acknowledged, dropped), so that the
    /// next leader's alarms are these, with their numbers and acknowledgements.
    pub(super) fn share_alarms(&mut self, alarms: &[(u64, Option<crate::core::Alarm>)]) {
        let Some(l) = self.leadership.get().filter(|_| self.leading == Some(true)) else { return };
        for (id, alarm) in alarms {
            let value = alarm.as_ref().map(|a| serde_json::to_string(a).unwrap_or_default());
            self.sharing.push(l.share(format!("{ALARMS}{id}"), value));
        }
    }

    /// A leader of several writes the ladder's windows that changed too (as wall-clock times),
    /// so that the next leader's ladder goes on where this one's stands.
    pub(super) fn share_ladders(&mut self, rows: &[crate::store::LadderRow]) {
        let Some(l) = self.leadership.get().filter(|_| self.leading == Some(true)) else { return };
        for row in rows {
            let value = serde_json::to_string(row).unwrap_or_default();
            self.sharing.push(l.share(format!("{LADDERS}{}", row.vm), Some(value)));
        }
    }

    /// A leader of several keeps the hosts it fenced in the shared store until they answer
    /// again, so that the next leader does not fence them a second time.
    pub(super) fn share_fenced(&mut self, events: &[crate::core::Event]) {
        let Some(l) = self.leadership.get().filter(|_| self.leading == Some(true)).cloned() else { return };
        for ev in events {
            let (crate::core::Subject::Host(host), crate::core::EventKind::HostTransition { to, .. }) =
                (&ev.subject, &ev.kind)
            else {
                continue;
            };
            let value = match to {
                crate::core::HostState::Fenced => {
                    Some(format!("{} at {}", l.name(), crate::core::decisions::wall_text(self.clock.wall_ms())))
                }
                crate::core::HostState::Rejoining | crate::core::HostState::Online => None,
                _ => continue,
            };
            self.sharing.push(l.share(format!("{FENCED}{host}"), value));
        }
    }

    /// A leader of several keeps each action under way in the shared store until its outcome
    /// (`Some`: started, `None`: finished), so that the next leader reconciles it — and resumes
    /// a reinstall cut short — as a restart does.
    pub(super) fn share_inflight(&mut self, action: &crate::core::Action, started: bool) {
        let Some(l) = self.leadership.get().filter(|_| self.leading == Some(true)).cloned() else { return };
        let key = format!("{INFLIGHT}{}-{}", l.name(), action.id);
        let value = started.then(|| {
            let entry = Inflight {
                kind: action.kind.clone(),
                decided_by: action.decided_by.to_string(),
                started_ms: Some(self.clock.wall_ms()),
            };
            serde_json::to_string(&entry).unwrap_or_default()
        });
        self.sharing.push(l.share(key, value));
        if !started && matches!(action.kind, crate::core::ActionKind::Reinstall { .. }) {
            self.sharing.push(l.share(format!("{STEPS}{}-{}", l.name(), action.id), None));
        }
    }

    /// A leader of several keeps the steps a reinstall has finished (with those of the run it
    /// resumes) in the shared store, each before the next starts, so that the next leader
    /// resumes it where it stood, as a restart does from the journal.
    pub(super) fn step_sharer(
        &self,
        action: &crate::core::Action,
        resumed: &[String],
    ) -> Option<crate::ops::StepSharer> {
        let l = self.leadership.get().filter(|_| self.leading == Some(true)).cloned()?;
        let key = format!("{STEPS}{}-{}", l.name(), action.id);
        let done = std::sync::Mutex::new(resumed.to_vec());
        Some(Arc::new(move |step: &str| {
            let mut done = done.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // A step a resumed reinstall skips is in the list already.
            if done.iter().any(|s| s == step) {
                return Box::pin(std::future::ready(Ok(())));
            }
            done.push(step.to_string());
            l.share(key.clone(), Some(serde_json::to_string(&*done).unwrap_or_default()))
        }))
    }

    /// A leader of several keeps where each VM runs in the shared store (the changes since
    /// the last call), so that the next leader knows where a VM went that it could not see.
    pub(super) fn share_placements(&mut self) {
        let Some(l) = self.leadership.get().filter(|_| self.leading == Some(true)).cloned() else { return };
        let now: std::collections::BTreeMap<String, String> =
            self.engine.placements().map(|(v, h)| (v.to_string(), h.to_string())).collect();
        for (vm, host) in &now {
            if self.placed.get(vm) != Some(host) {
                self.sharing.push(l.share(format!("{PLACEMENT}{vm}"), Some(host.clone())));
            }
        }
        self.placed = now;
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
        // After the batch before (a later write of a key must not land before an earlier one).
        let (done, tail) = tokio::sync::oneshot::channel();
        let before = self.shared_tail.replace(tail);
        Some(async move {
            if let Some(before) = before {
                let _ = before.await;
            }
            let mut result = Ok(());
            for w in writes {
                if let Err(e) = w.await {
                    result = Err(format!("not kept in etcd for the next leader: {e}"));
                    break;
                }
            }
            let _ = done.send(());
            result
        })
    }

    /// Just became the leader: adopt what the former leader kept in the shared store (the
    /// operators' decisions, the ladder's windows, the alarms, ...), or, the first leader of
    /// all, seed the store with this instance's own.
    pub(super) fn take_over(&mut self, l: &Arc<dyn crate::hv::Leadership>) {
        // What the store holds is read afresh for this tenure.
        self.placed.clear();
        let shared = l.take_shared();
        let read = shared.is_some();
        match shared {
            Some(Some(mut entries)) => {
                let (mut shared, mut alarms, mut former) = (Vec::new(), Vec::new(), "(unknown)".to_string());
                let mut steps = std::collections::BTreeMap::new();
                // The actions under way last: they are newer than the placements they change.
                entries.sort_by_key(|(k, _)| k.starts_with(INFLIGHT));
                for (k, v) in entries {
                    if let Some(k) = k.strip_prefix(DECISIONS) {
                        match (serde_json::from_str(k), serde_json::from_str(&v)) {
                            (Ok(k), Ok(v)) => shared.push((k, v)),
                            _ => warn!(target: "3rc::ha", "a shared decision cannot be read ({k}); left out"),
                        }
                    } else if let Some(vm) = k.strip_prefix(PLACEMENT) {
                        let out =
                            self.engine.adopt_placement(self.clock.now(), vm, &v, "the former leader had it there");
                        self.apply(out);
                        self.placed.insert(vm.to_string(), v.clone());
                    } else if let Some(id) = k.strip_prefix(STEPS) {
                        // Read before the actions under way (sorted last); the former's no more.
                        self.sharing.push(l.share(k.clone(), None));
                        match serde_json::from_str::<Vec<String>>(&v) {
                            Ok(s) => {
                                steps.insert(id.to_string(), s);
                            }
                            Err(e) => warn!(target: "3rc::ha", "the shared steps {k} cannot be read ({e}); left out"),
                        }
                    } else if let Some(id) = k.strip_prefix(INFLIGHT) {
                        self.take_over_action(l, id, &v, steps.remove(id).unwrap_or_default());
                    } else if let Some(host) = k.strip_prefix(FENCED) {
                        let out = self.engine.adopt_fenced(self.clock.now(), host, &v);
                        self.apply(out);
                    } else if k == LED_BY {
                        former = v;
                    } else if k.starts_with(ALARMS) {
                        match serde_json::from_str::<crate::core::Alarm>(&v) {
                            Ok(a) => alarms.push(a),
                            Err(e) => warn!(target: "3rc::ha", "the shared alarm {k} cannot be read ({e}); left out"),
                        }
                    } else if k.starts_with(LADDERS) {
                        match serde_json::from_str::<crate::store::LadderRow>(&v) {
                            Ok(row) => {
                                super::ladder::restore_row(&mut self.engine, &row, self.clock.as_ref());
                                self.ctx.inventory.set_ladder(row);
                            }
                            Err(e) => warn!(target: "3rc::ha", "the shared windows {k} cannot be read ({e}); left out"),
                        }
                    }
                }
                let out = self.engine.adopt_decisions(self.clock.now(), shared);
                self.apply(out);
                let out = self.engine.adopt_alarms(self.clock.now(), &former, alarms);
                self.apply(out);
                self.config_alarm();
            }
            Some(None) => {
                let mine: Vec<_> = self.engine.decisions().map(|(k, d)| (k.clone(), Some(d.clone()))).collect();
                self.share_decisions(&mine);
                let alarms: Vec<_> = self.engine.alarms_kept().into_iter().map(|a| (a.id, Some(a))).collect();
                self.share_alarms(&alarms);
                let rows = self.ctx.inventory.ladders();
                self.share_ladders(&rows);
            }
            None => {}
        }
        if read {
            self.sharing.push(l.share(LED_BY.to_string(), Some(l.name().to_string())));
        }
        self.flush_sharing();
    }

    /// An action the former leader had under way (`former-ID`): said in the journal, and
    /// reconciled with what the hosts report, as after a restart; a reinstall is resumed. The
    /// entry is the former leader's no more.
    fn take_over_action(&mut self, l: &Arc<dyn crate::hv::Leadership>, id: &str, value: &str, steps: Vec<String>) {
        let (former, number) = id.rsplit_once('-').unwrap_or((id, ""));
        if former == l.name() && number.parse().is_ok_and(|n: crate::core::ActionId| self.running.contains(&n)) {
            // This instance's own, from a tenure that ended while it ran (etcd silent for a
            // moment): its task goes on and reports as any action; nothing to reconcile.
            return;
        }
        let former = former.to_string();
        let key = format!("{INFLIGHT}{id}");
        let Ok(a) = serde_json::from_str::<Inflight>(value) else {
            warn!(target: "3rc::ha", "an action the former leader had under way cannot be read ({id}); left out");
            self.sharing.push(l.share(key, None));
            return;
        };
        // A fence's entry stays while the fence may still take effect, for whoever leads next
        // (this one may not lead long enough to see it through); the others are this one's now.
        let limit = self.ctx.timeouts.fence.as_millis() as u64;
        let left = a.started_ms.map_or(0, |t| (t + limit).saturating_sub(self.clock.wall_ms()));
        let fence_running = matches!(a.kind, crate::core::ActionKind::Fence { .. }) && left > 0;
        if !fence_running {
            self.sharing.push(l.share(key, None));
        }
        let whose = if former == l.name() {
            format!("{former} had {} under way when it stopped leading", a.kind)
        } else {
            format!("the former leader {former} had {} under way", a.kind)
        };
        let msg = format!("{whose} ({}); reconciling with what the hosts report", a.decided_by);
        let out = self.engine.external_note(self.clock.now(), crate::core::Subject::Cluster, msg);
        self.apply(out);
        match &a.kind {
            crate::core::ActionKind::Reinstall { vm, host } => {
                let done = if steps.is_empty() { "none".to_string() } else { steps.join(", ") };
                let why = format!("{}; decided by {}; steps done: {done}", a.kind, a.decided_by);
                self.engine.take_over_reinstall(vm, host, why, &former);
                self.resume_steps.insert(vm.clone(), steps);
            }
            // It may have got there: unless it is seen where this engine has it, it is waited
            // for there, never started a second time.
            crate::core::ActionKind::Migrate { vm, to, .. } | crate::core::ActionKind::Relocate { vm, to, .. } => {
                let by = format!("the former leader {former} had {} under way", a.kind);
                let out = self.engine.adopt_placement(self.clock.now(), vm, to, &by);
                self.apply(out);
            }
            // Its agent may still be at work (it outlives a supervisor killed) or its device
            // slow to act: this leader's own fence of the host, if it decides one, first waits
            // for that one's time to run out, watching the power go off.
            crate::core::ActionKind::Fence { host }
                if fence_running && self.engine.host_state(host) != Some(crate::core::HostState::Fenced) =>
            {
                let wait = std::time::Duration::from_millis(left);
                let msg = format!(
                    "{former}'s fence of {host} may still take effect (its agent outlives {former}, and a device \
                         can be slow): a fence of {host} decided here watches its power for up to {} before \
                         sending a second off",
                    crate::core::time::human(wait)
                );
                let out = self.engine.external_note(self.clock.now(), crate::core::Subject::Host(host.clone()), msg);
                self.apply(out);
                let until = tokio::time::Instant::now() + wait;
                self.former_fences.insert(host.clone(), crate::ops::FormerFence { former: former.clone(), until });
            }
            _ => {}
        }
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
        self.engine.set_peers(l.name(), peers);
        let (fit, changed) = self.engine.standing();
        if changed && !fit {
            let better: Vec<&str> = self.engine.peers().iter().filter(|p| p.quorum).map(|p| p.name.as_str()).collect();
            let why = format!(
                "{} reaches too few hosts and witnesses while {} reach enough: it is the one cut off, and stands \
                 aside",
                l.name(),
                better.join(", "),
            );
            warn!(target: "3rc::ha", "{why}");
            let out = self.engine.external_note(self.clock.now(), crate::core::Subject::Cluster, why);
            self.apply(out);
        } else if changed {
            let why = format!("{} reaches enough hosts and witnesses again: it may lead", l.name());
            let out = self.engine.external_note(self.clock.now(), crate::core::Subject::Cluster, why);
            self.apply(out);
        }
        self.fit = fit;
        l.stand(fit);
    }

    /// After a cycle: this supervisor's view of the hosts, for the others.
    pub(super) fn publish_view(&self) {
        let Some(l) = self.leadership.get() else { return };
        match serde_json::to_string(&self.engine.vantage(l.name())) {
            Ok(v) => l.publish(v),
            Err(e) => warn!(target: "3rc::ha", "this supervisor's view cannot be written: {e}"),
        }
    }

    /// A standby: hand an operator's command to the leader through the store, and its answer
    /// back (the reply is taken out of `req`). False when there is no other leader to ask,
    /// nobody waits for an answer, or it was forwarded already (one hop at most).
    pub(super) fn forward(&mut self, req: &mut CommandRequest) -> bool {
        let Some(l) = self.leadership.get().cloned() else { return false };
        let Some(leader) = l.leader().filter(|n| n != l.name()) else { return false };
        if req.origin.contains(" via ") {
            return false;
        }
        let Some(reply) = req.reply.take() else { return false };
        let origin = format!("{} via {}", req.origin, l.name());
        let text = match serde_json::to_string(&Forwarded { origin, command: req.command.clone() }) {
            Ok(t) => t,
            Err(e) => {
                let _ = reply.send(Err(format!("the command cannot be forwarded: {e}")));
                return true;
            }
        };
        info!(target: "3rc::ha", "{} forwards {} by {} to the leader {leader}", l.name(), req.command, req.origin);
        tokio::spawn(async move {
            let answer = match l.forward(text, FORWARD_WAIT).await {
                Ok(a) => serde_json::from_str::<Answer>(&a)
                    .unwrap_or_else(|e| Err(format!("the answer of the leader {leader} cannot be read: {e}"))),
                Err(e) => Err(format!(
                    "forwarded to the leader {leader}: {e}; it may or may not have taken the command: look (`3rc ctl \
                     status`, the journal) before giving it again"
                )),
            };
            let _ = reply.send(answer);
        });
        true
    }

    /// The leader: the commands standbys forwarded, each carried out as if given here (the
    /// origin names the instance it came through), the answer written back once it is final
    /// (journaled, and shared for the next leader).
    pub(super) fn serve_forwarded(&mut self) {
        let Some(l) = self.leadership.get().cloned().filter(|_| self.leading == Some(true)) else { return };
        for (id, text) in l.take_requests() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            match serde_json::from_str::<Forwarded>(&text) {
                Ok(f) => self.command(CommandRequest { origin: f.origin, command: f.command, reply: Some(tx) }),
                Err(e) => {
                    let _ = tx.send(Err(format!("the leader cannot read the forwarded command: {e}")));
                }
            }
            let l = l.clone();
            tokio::spawn(async move {
                let answer: Answer = rx.await.unwrap_or_else(|_| Err("the leader stopped before answering".into()));
                let text = serde_json::to_string(&answer).unwrap_or_default();
                if let Err(e) = l.answer(id.clone(), text).await {
                    warn!(target: "3rc::ha", "the answer to the forwarded command {id} was not written: {e}");
                }
            });
        }
    }
}
