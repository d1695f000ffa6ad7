//! Pages: the alarms, delivered to Alertmanager (API v2) so that a person is called, and resolved
//! there when they are acknowledged or cleared.
//!
//! Alertmanager wants the alerts that fire now, sent again regularly, and each one that ended
//! sent once with its end. So each target is given what is true, not a stream of changes: the
//! alarms not acknowledged (at or above the target's severity) as firing, and those it was last
//! told of that are not any more as resolved. That is sent at once when an alarm is raised or a
//! command is given (an `ack`), then every minute. A target that does not answer is tried again
//! with a backoff (1 s, doubling up to a minute) without ever holding up the supervision loop; what
//! it missed is what is true when it answers again (an alarm raised and acknowledged while it was
//! away never pages). Its failures are logged, once when they start and once when they end. The
//! URL is logged without its user and password.
//!
//! Labels route well: `alertname="ThreeRC"`, `alarm` (its kind: `fenced`, `fencefail`,
//! `operator`...), `alarm_id`, `severity`, `cluster`, and `host` or `vm`. Annotations: `summary`
//! (the alarm's message) and `console` (the command that opens the console on it).

use super::SupervisorHandle;
use crate::core::{AlarmView, Severity, Subject};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// How often what fires is sent again (Alertmanager ends an alert not heard of for its
/// `resolve_timeout`, 5 minutes by default).
const RESEND: Duration = Duration::from_secs(60);

/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(5);

pub use crate::config::AlertTarget as Target;

/// What the alerts say about where they come from.
#[derive(Clone, Debug)]
pub struct Origin {
    /// The `cluster` label.
    pub cluster: String,
    /// The command that opens the console on this cluster.
    pub console: String,
}

/// Deliver to each target from a task of its own.
pub fn start(handle: &SupervisorHandle, targets: Vec<Target>, origin: Origin) {
    for t in targets {
        info!(target: "3rc::alerts", "alarms of {} and above go to Alertmanager at {}", severity(t.min_severity), t.shown());
        tokio::spawn(deliver(handle.clone(), t, origin.clone()));
    }
}

async fn deliver(handle: SupervisorHandle, target: Target, origin: Origin) {
    let mut events = handle.events();
    // What the target was last told is firing, by alarm id.
    let mut told: BTreeMap<u64, Value> = BTreeMap::new();
    let mut due = Instant::now();
    let mut backoff = Duration::from_secs(1);
    let mut failing: Option<u32> = None;
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) if matches!(ev.kind, crate::core::EventKind::Alarm { .. } | crate::core::EventKind::Command { .. }) => {
                    // Soon, not at once: an ack and its effects come in one go.
                    due = due.min(Instant::now() + Duration::from_millis(100));
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(due) => {
                let view = handle.snapshot_now(Duration::from_secs(5)).await;
                let now = wall_ms();
                let firing: BTreeMap<u64, Value> = view
                    .alarms
                    .iter()
                    .filter(|a| !a.acked && a.severity >= target.min_severity)
                    .map(|a| (a.id, alert(a, &origin, now)))
                    .collect();
                let mut batch: Vec<Value> = firing.values().cloned().collect();
                for (id, a) in &told {
                    if !firing.contains_key(id) {
                        let mut ended = a.clone();
                        ended["endsAt"] = json!(crate::core::decisions::wall_rfc3339(now));
                        batch.push(ended);
                    }
                }
                match post(&target.url, batch).await {
                    Ok(()) => {
                        if let Some(tries) = failing.take() {
                            info!(target: "3rc::alerts", "Alertmanager at {} answers again (after {tries} failed deliveries)", target.shown());
                        }
                        told = firing;
                        backoff = Duration::from_secs(1);
                        due = Instant::now() + RESEND;
                    }
                    Err(e) => {
                        let tries = failing.map_or(1, |n| n + 1);
                        if tries == 1 {
                            warn!(target: "3rc::alerts", "Alertmanager at {}: {e}; trying again, waiting longer each time", target.shown());
                        }
                        failing = Some(tries);
                        due = Instant::now() + backoff;
                        backoff = (backoff * 2).min(RESEND);
                    }
                }
            }
        }
    }
}

/// One alarm as an Alertmanager alert.
fn alert(a: &AlarmView, origin: &Origin, now: u64) -> Value {
    let mut labels = json!({
        "alertname": "ThreeRC",
        "alarm": a.kind,
        "alarm_id": a.id.to_string(),
        "severity": severity(a.severity),
        "cluster": origin.cluster,
    });
    match &a.subject {
        Subject::Host(h) => labels["host"] = json!(h),
        Subject::Vm(v) => labels["vm"] = json!(v),
        Subject::Cluster => {}
    }
    json!({
        "labels": labels,
        "annotations": {
            "summary": a.message,
            "console": origin.console,
        },
        "startsAt": crate::core::decisions::wall_rfc3339(now.saturating_sub(a.age_ms)),
    })
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `POST {url}/api/v2/alerts`, on a blocking thread, within [`TIMEOUT`].
async fn post(url: &str, alerts: Vec<Value>) -> Result<(), String> {
    let endpoint = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
    let call = tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
        match agent.post(&endpoint).send_json(Value::Array(alerts)) {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(code, r)) => {
                Err(format!("answered {code}: {}", r.into_string().unwrap_or_default().trim()))
            }
            // The transport error names the host, never the URL's user and password.
            Err(ureq::Error::Transport(t)) => {
                Err(t.kind().to_string() + &t.message().map(|m| format!(": {m}")).unwrap_or_default())
            }
        }
    });
    call.await.map_err(|e| format!("the delivery failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        let t = |url: &str| Target { url: url.into(), min_severity: Severity::Warning }.shown();
        assert_eq!(t("http://am:secret@127.0.0.1:9093"), "http://***@127.0.0.1:9093");
        assert_eq!(t("http://127.0.0.1:9093/path@x"), "http://127.0.0.1:9093/path@x");
        assert_eq!(t("http://127.0.0.1:9093"), "http://127.0.0.1:9093");
    }

    #[test]
    fn an_alarm_becomes_an_alert_that_routes_well() {
        let a = AlarmView {
            id: 4,
            kind: "fenced".into(),
            age_ms: 2_000,
            subject: Subject::Host("hv2".into()),
            severity: Severity::Warning,
            message: "hv2 was fenced".into(),
            acked: false,
            acked_by: None,
        };
        let origin = Origin { cluster: "prod".into(), console: "3rc console --config /etc/3rc/3rc.toml".into() };
        let v = alert(&a, &origin, 1_796_392_925_120);
        assert_eq!(
            v,
            json!({
                "labels": {"alertname": "ThreeRC", "alarm": "fenced", "alarm_id": "4", "severity": "warning",
                           "cluster": "prod", "host": "hv2"},
                "annotations": {"summary": "hv2 was fenced", "console": "3rc console --config /etc/3rc/3rc.toml"},
                "startsAt": "2026-12-04T14:02:03.120Z",
            })
        );
    }
}
