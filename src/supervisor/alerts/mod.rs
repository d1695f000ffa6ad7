//! Notifications: what a person must be told, delivered to the `[[alert]]` targets so that
//! someone is called — an Alertmanager (`alertmanager`), an alert agent (`agent`) or a webhook
//! (`webhook`).
//!
//! Every alarm is a notification that *fires* when it is raised and is *resolved* when it is
//! acknowledged or cleared; with the target's `kinds`, every host transition (`host`), VM
//! transition (`vm`) and finished action (`action`) is one too (`event`). Each has a stable
//! identity (`alarm-4` for both the firing and the resolution of alarm #4), a severity, its
//! subject, the reason, a time and the command that opens the console on it. A target gets the
//! kinds it names at or above its `min_severity`.
//!
//! An Alertmanager is told what is true (`alertmanager`): it needs the firing alarms again and
//! again, and misses nothing it cannot be told later. An agent or a webhook is told each
//! notification once, in order (`outbox`): each is journaled before it is delivered and
//! removed from the journal once delivered, so what a target did not get — it was down, 3RC
//! stopped or crashed — is delivered when it answers again, by this run or the next one, up to
//! the target's `queue` bound (the oldest go first past it).
//!
//! Delivery runs in tasks of its own, never in the supervision loop; a target that fails is
//! tried again with a backoff (1 s doubling to a minute), its failure logged when it starts and
//! when it ends, and shown in the console's title line (`ClusterView::deliveries`) while it
//! lasts. A target is only ever named as [`Target::shown`]: no user, password, token or header.

use super::SupervisorHandle;
use crate::core::{AlarmView, Decider, Event, EventKind, HostState, Outcome, Severity, Subject, VmState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

mod agent;
mod alertmanager;
mod outbox;
mod webhook;

use crate::config::AlertSink;
pub use crate::config::AlertTarget as Target;
pub use agent::environment;

/// What the alerts say about where they come from.
#[derive(Clone, Debug)]
pub struct Origin {
    /// The `cluster` label.
    pub cluster: String,
    /// The command that opens the console on this cluster.
    pub console: String,
}

/// One notification, as a webhook gets it (JSON) and an agent on its standard input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Its identity: the same for an alarm's firing and its resolution (`alarm-4`).
    pub id: String,
    /// `alarm`, `host` (a host's transition), `vm` (a VM's transition) or `action` (finished).
    pub kind: String,
    /// `firing` or `resolved` (an alarm), `event` (the others).
    pub status: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// The `cluster` label (the config file's name).
    pub cluster: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<String>,
    /// An alarm's kind (`fenced`, `fencefail`, `operator`...) and number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_id: Option<u64>,
    /// A transition's states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// An action (`fence hv1`), its outcome (`done`, `failed: ...`) and who decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// What happened and why.
    pub summary: String,
    /// When (RFC 3339, UTC) and the same in milliseconds since the Unix epoch.
    pub time: String,
    pub time_ms: u64,
    /// The command that opens the console on it.
    pub console: String,
}

impl Notification {
    /// Its key in a target's outbox: unique per notification.
    fn key(&self) -> String {
        format!("{}:{}", self.id, self.status)
    }

    fn new(kind: &str, status: &str, severity: Severity, origin: &Origin, time_ms: u64) -> Notification {
        Notification {
            id: String::new(),
            kind: kind.into(),
            status: status.into(),
            severity: severity_label(severity).into(),
            cluster: origin.cluster.clone(),
            host: None,
            vm: None,
            alarm: None,
            alarm_id: None,
            from: None,
            to: None,
            action: None,
            outcome: None,
            decided_by: None,
            summary: String::new(),
            time: crate::core::decisions::wall_rfc3339(time_ms),
            time_ms,
            console: origin.console.clone(),
        }
    }

    fn about(mut self, subject: &Subject) -> Notification {
        match subject {
            Subject::Host(h) => self.host = Some(h.clone()),
            Subject::Vm(v) => self.vm = Some(v.clone()),
            Subject::Cluster => {}
        }
        self
    }

    /// An alarm firing, or resolved (acknowledged or cleared) at `now`.
    pub fn alarm(a: &AlarmView, resolved: bool, origin: &Origin, now: u64) -> Notification {
        let (status, time) = match resolved {
            true => ("resolved", now),
            false => ("firing", now.saturating_sub(a.age_ms)),
        };
        let mut n = Notification::new("alarm", status, a.severity, origin, time).about(&a.subject);
        n.id = format!("alarm-{}", a.id);
        n.alarm = Some(a.kind.clone());
        n.alarm_id = Some(a.id);
        n.summary = match (resolved, &a.acked_by) {
            (true, Some(by)) => format!("{} (acknowledged by {by})", a.message),
            (true, None) => format!("{} (cleared)", a.message),
            (false, _) => a.message.clone(),
        };
        n
    }
}

/// How grave a host's or a VM's transition is, by the state it enters.
fn transition_severity(to_bad: bool) -> Severity {
    if to_bad {
        Severity::Warning
    } else {
        Severity::Info
    }
}

fn host_state_is_bad(s: HostState) -> bool {
    matches!(s, HostState::Down | HostState::Fencing | HostState::Fenced | HostState::Unmanageable)
}

fn vm_state_is_bad(s: VmState) -> bool {
    matches!(
        s,
        VmState::AwaitingFence
            | VmState::Pending
            | VmState::NeedsOperator
            | VmState::Restarting
            | VmState::Relocating
            | VmState::Reinstalling
    )
}

pub(crate) fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// What an HTTP target answered: any 2xx is a delivery. The error names the host at most,
/// never the URL's user, password or query.
fn answer(r: Result<ureq::Response, ureq::Error>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(ureq::Error::Status(code, r)) => {
            let body = r.into_string().unwrap_or_default();
            let body: String = body.trim().chars().take(200).collect();
            Err(format!("answered {code}: {body}"))
        }
        Err(ureq::Error::Transport(t)) => {
            let mut why = t.kind().to_string() + &t.message().map(|m| format!(": {m}")).unwrap_or_default();
            // The cause (a refused certificate, a refused connection); it names no URL.
            let mut cause = std::error::Error::source(&t);
            while let Some(c) = cause {
                why += &format!(": {c}");
                cause = c.source();
            }
            Err(why)
        }
    }
}

/// A notification for one outbox, with its key.
struct Queued {
    key: String,
    n: Notification,
}

/// The journal's outbox rows that name the alarms the agents and webhooks were told of as
/// firing (and not yet as resolved): a restart neither pages them again nor forgets to.
const TOLD: &str = "told";

/// Deliver to each target from a task of its own, and turn the supervisor's events into
/// notifications for the agents and webhooks.
pub fn start(handle: &SupervisorHandle, targets: Vec<Target>, origin: Origin) {
    let started_ms = wall_ms();
    let journal = handle.journal();
    let mut left: BTreeMap<String, Vec<Queued>> = BTreeMap::new();
    let mut told = Vec::new();
    for row in journal.as_ref().map(|j| j.outbox_left()).unwrap_or_default() {
        if row.target == TOLD {
            told.push(row.key);
            continue;
        }
        match serde_json::from_str::<Notification>(&row.body) {
            Ok(n) => left.entry(row.target).or_default().push(Queued { key: row.key, n }),
            Err(e) => {
                warn!(target: "3rc::alerts", "an undelivered notification for {} cannot be read back ({e}); dropped", row.target)
            }
        }
    }
    let mut outboxes = Vec::new();
    for t in targets {
        let kinds = t.kinds.join(", ");
        info!(target: "3rc::alerts", "{kinds} notifications of {} and above go to {}", severity_label(t.min_severity), t.shown());
        match &t.sink {
            AlertSink::Alertmanager { .. } => {
                tokio::spawn(alertmanager::deliver(handle.clone(), t, origin.clone(), started_ms));
            }
            AlertSink::Agent { .. } | AlertSink::Webhook { .. } => {
                let (tx, rx) = mpsc::unbounded_channel();
                let earlier = left.remove(&t.shown()).unwrap_or_default();
                if !earlier.is_empty() {
                    info!(target: "3rc::alerts", "{} notifications for {} were left undelivered by the last run: delivering them first", earlier.len(), t.shown());
                }
                tokio::spawn(outbox::drain(handle.clone(), t.clone(), rx, earlier));
                outboxes.push((t, tx));
            }
        }
    }
    for (target, gone) in left {
        warn!(target: "3rc::alerts", "{} undelivered notifications for {target}, which is no longer configured, are dropped", gone.len());
        if let Some(j) = &journal {
            for q in gone {
                j.outbox(&target, &q.key, None);
            }
        }
    }
    if !outboxes.is_empty() {
        tokio::spawn(produce(handle.clone(), outboxes, origin, told));
    } else if let Some(j) = &journal {
        for key in told {
            j.outbox(TOLD, &key, None);
        }
    }
}

/// Turns the supervisor's events into notifications, journals each for every target that
/// wants it, and hands it to that target's outbox.
async fn produce(
    handle: SupervisorHandle,
    outboxes: Vec<(Target, mpsc::UnboundedSender<Queued>)>,
    origin: Origin,
    told: Vec<String>,
) {
    let mut events = handle.events();
    let journal = handle.journal();
    let journal_told = |id: u64, firing: bool| {
        if let Some(j) = &journal {
            j.outbox(TOLD, &format!("alarm-{id}"), firing.then_some(""));
        }
    };
    let send = |n: Notification, severity: Severity| {
        // One of several supervisors: only the leader tells anyone.
        if !handle.leads() {
            return;
        }
        let kind = n.kind.clone();
        let key = n.key();
        let body = serde_json::to_string(&n).unwrap_or_default();
        for (t, tx) in &outboxes {
            if t.wants(&kind, severity) {
                if let Some(j) = &journal {
                    j.outbox(&t.shown(), &key, Some(&body));
                }
                let _ = tx.send(Queued { key: key.clone(), n: n.clone() });
            }
        }
    };
    // The alarms told as firing, by number, as the last run left them: once the loop answers
    // (it has taken the journal's alarms back), the first pass fires those never told (raised
    // just before a stop) and resolves those acknowledged meanwhile.
    let first = handle.snapshot_now(Duration::from_secs(60)).await;
    let mut firing: BTreeMap<u64, AlarmView> = BTreeMap::new();
    for key in told {
        let id = key.strip_prefix("alarm-").and_then(|i| i.parse::<u64>().ok());
        match id.and_then(|id| first.alarms.iter().find(|a| a.id == id)) {
            Some(a) => {
                firing.insert(a.id, a.clone());
            }
            None => {
                if let Some(j) = &journal {
                    j.outbox(TOLD, &key, None);
                }
            }
        }
    }
    let mut alarms_due = Some(Instant::now());
    let mut decided: HashMap<u64, (String, Decider)> = HashMap::new();
    loop {
        tokio::select! {
            _ = handle.stopped() => {
                // The events of the stop itself, already sent: journaled for the next run.
                while let Ok(ev) = events.try_recv() {
                    if let Some((n, severity)) = event(&ev, &mut decided, &origin) {
                        send(n, severity);
                    }
                }
                return;
            }
            ev = events.recv() => match ev {
                Ok(ev) => {
                    if matches!(ev.kind, EventKind::Alarm { .. } | EventKind::Command { .. }) {
                        // Soon, not at once: an ack and its effects come in one go.
                        alarms_due = alarms_due.or(Some(Instant::now() + Duration::from_millis(100)));
                    }
                    if let Some((n, severity)) = event(&ev, &mut decided, &origin) {
                        send(n, severity);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    warn!(target: "3rc::alerts", "{n} events were missed by the notifications (they fell behind); alarms are read again");
                    alarms_due = Some(Instant::now());
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(alarms_due.unwrap_or_else(Instant::now)), if alarms_due.is_some() => {
                alarms_due = None;
                if !handle.leads() {
                    // A standby: the alarms are the leader's to tell; looked at again once it leads.
                    alarms_due = Some(Instant::now() + Duration::from_secs(1));
                    continue;
                }
                let view = handle.snapshot_now(Duration::from_secs(5)).await;
                let now = wall_ms();
                let standing: BTreeMap<u64, &AlarmView> = view.alarms.iter().filter(|a| !a.acked).map(|a| (a.id, a)).collect();
                for (id, a) in &standing {
                    if !firing.contains_key(id) {
                        send(Notification::alarm(a, false, &origin, now), a.severity);
                        journal_told(*id, true);
                        firing.insert(*id, (*a).clone());
                    }
                }
                let ended: Vec<u64> = firing.keys().filter(|id| !standing.contains_key(id)).copied().collect();
                for id in ended {
                    let Some(was) = firing.remove(&id) else { continue };
                    // Acknowledged (who did it is in the view), or gone from the view (cleared).
                    let a = view.alarms.iter().find(|a| a.id == id).unwrap_or(&was);
                    send(Notification::alarm(a, true, &origin, now), a.severity);
                    journal_told(id, false);
                }
            }
        }
    }
}

/// A host's or a VM's transition, or a finished action, as a notification.
fn event(
    ev: &Event,
    decided: &mut HashMap<u64, (String, Decider)>,
    origin: &Origin,
) -> Option<(Notification, Severity)> {
    let now = wall_ms();
    match &ev.kind {
        EventKind::HostTransition { from, to } => {
            let severity = transition_severity(host_state_is_bad(*to));
            let mut n = Notification::new("host", "event", severity, origin, now).about(&ev.subject);
            n.id = format!("host-{}-{now}-{}", n.host.clone().unwrap_or_default(), to.label());
            n.from = Some(from.label().to_string());
            n.to = Some(to.label().to_string());
            n.summary = format!("{} {from} -> {to}: {}", ev.subject, ev.reason);
            Some((n, severity))
        }
        EventKind::VmTransition { from, to } => {
            let severity = transition_severity(vm_state_is_bad(*to));
            let mut n = Notification::new("vm", "event", severity, origin, now).about(&ev.subject);
            n.id = format!("vm-{}-{now}-{}", n.vm.clone().unwrap_or_default(), to.label());
            n.from = Some(from.label().to_string());
            n.to = Some(to.label().to_string());
            n.summary = format!("{} {from} -> {to}: {}", ev.subject, ev.reason);
            Some((n, severity))
        }
        EventKind::ActionDecided { id, action, decided_by } => {
            decided.insert(*id, (action.clone(), decided_by.clone()));
            None
        }
        EventKind::ActionFinished { id, outcome } => {
            let (action, by) = decided.remove(id)?;
            let fence = action.starts_with("fence ");
            let severity = match (outcome, fence) {
                (Outcome::Done, false) => Severity::Info,
                _ => Severity::Warning,
            };
            let outcome = match outcome {
                Outcome::Done => "done".to_string(),
                Outcome::Failed(e) | Outcome::StartFailed(e) => format!("failed: {e}"),
                Outcome::Unsupported(e) => format!("not supported here: {e}"),
            };
            let mut n = Notification::new("action", "event", severity, origin, now).about(&ev.subject);
            n.id = format!("action-{now}-{id}");
            n.summary = format!("{action} ({by}): {outcome}");
            n.action = Some(action);
            n.outcome = Some(outcome);
            n.decided_by = Some(by.to_string());
            Some((n, severity))
        }
        _ => None,
    }
}

/// A target's failures: logged when they start and when they end, shown in the console while
/// they last. Retries wait 1 s, doubling up to a minute.
struct Failing {
    shown: String,
    handle: SupervisorHandle,
    /// Since when (wall ms), how many tries failed, the last error.
    now: Option<(u64, u32, String)>,
    backoff: Duration,
}

/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl Failing {
    fn new(handle: &SupervisorHandle, shown: String) -> Failing {
        Failing { shown, handle: handle.clone(), now: None, backoff: Duration::from_secs(1) }
    }

    /// A delivery failed: when to try again.
    fn failed(&mut self, error: String, queued: usize, dropped: u64) -> Instant {
        let (since, tries) = match &self.now {
            None => {
                warn!(target: "3rc::alerts", "{}: {error}; trying again, waiting longer each time", self.shown);
                (wall_ms(), 1)
            }
            Some((since, tries, _)) => (*since, tries + 1),
        };
        let view = crate::core::DeliveryView {
            target: self.shown.clone(),
            error: error.clone(),
            since_ms: since,
            queued,
            dropped,
        };
        self.handle.set_delivery(&self.shown, Some(view));
        self.now = Some((since, tries, error));
        let at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        at
    }

    /// The queue changed while failing: shown as it is.
    fn queued(&self, queued: usize, dropped: u64) {
        if let Some((since, _, error)) = &self.now {
            let view = crate::core::DeliveryView {
                target: self.shown.clone(),
                error: error.clone(),
                since_ms: *since,
                queued,
                dropped,
            };
            self.handle.set_delivery(&self.shown, Some(view));
        }
    }

    /// A delivery succeeded.
    fn ok(&mut self) {
        if let Some((_, tries, _)) = self.now.take() {
            info!(target: "3rc::alerts", "{} answers again (after {tries} failed deliveries)", self.shown);
            self.handle.set_delivery(&self.shown, None);
        }
        self.backoff = Duration::from_secs(1);
    }

    fn is_failing(&self) -> bool {
        self.now.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn origin() -> Origin {
        Origin { cluster: "prod".into(), console: "3rc console --config /etc/3rc/prod.toml".into() }
    }

    /// Alarm #4, hv2 fenced two seconds ago, not acknowledged.
    pub(super) fn fenced_alarm() -> AlarmView {
        AlarmView {
            id: 4,
            kind: "fenced".into(),
            age_ms: 2_000,
            subject: Subject::Host("hv2".into()),
            severity: Severity::Warning,
            message: "hv2 was fenced".into(),
            acked: false,
            acked_by: None,
        }
    }

    #[test]
    fn an_alarm_fires_and_resolves_under_one_identity() {
        let mut a = fenced_alarm();
        let fired = Notification::alarm(&a, false, &origin(), 1_796_392_925_120);
        assert_eq!((fired.id.as_str(), fired.status.as_str()), ("alarm-4", "firing"));
        assert_eq!(fired.time, "2026-12-04T14:02:03.120Z");
        assert_eq!(fired.host.as_deref(), Some("hv2"));
        a.acked = true;
        a.acked_by = Some("console:alice".into());
        let ended = Notification::alarm(&a, true, &origin(), 1_796_392_935_120);
        assert_eq!((ended.id.as_str(), ended.status.as_str()), ("alarm-4", "resolved"));
        assert_eq!(ended.summary, "hv2 was fenced (acknowledged by console:alice)");
        assert_ne!(fired.key(), ended.key());
        let json = serde_json::to_value(&fired).unwrap();
        assert_eq!(json["alarm"], "fenced");
        assert!(json.get("vm").is_none(), "{json}");
    }

    #[test]
    fn a_fence_is_a_warning_and_names_who_decided_it() {
        let mut decided = HashMap::new();
        let at = crate::core::Time::ZERO;
        let host = Subject::Host("hv1".into());
        let ev = |kind| Event { at, subject: host.clone(), kind, reason: String::new() };
        let by = Decider::Policy("hv1 is Down".into());
        assert!(event(
            &ev(EventKind::ActionDecided { id: 7, action: "fence hv1".into(), decided_by: by }),
            &mut decided,
            &origin()
        )
        .is_none());
        let (n, severity) =
            event(&ev(EventKind::ActionFinished { id: 7, outcome: Outcome::Done }), &mut decided, &origin()).unwrap();
        assert_eq!(severity, Severity::Warning);
        assert_eq!(n.kind, "action");
        assert_eq!(n.summary, "fence hv1 (policy: hv1 is Down): done");
        assert_eq!(n.decided_by.as_deref(), Some("policy: hv1 is Down"));
        let (n, severity) = event(
            &ev(EventKind::HostTransition { from: HostState::Online, to: HostState::Suspect }),
            &mut decided,
            &origin(),
        )
        .unwrap();
        assert_eq!((severity, n.to.as_deref()), (Severity::Info, Some("Suspect")));
    }
}
