//! Alertmanager (API v2): the alarms fire there, so that a person is called, and resolve when
//! they are acknowledged or cleared.
//!
//! Alertmanager wants the alerts that fire now, sent again regularly, and each one that ended
//! sent once with its end. So it is given what is true, not a stream of changes: the alarms not
//! acknowledged (at or above the target's severity) as firing, and those it was last told of
//! that are not any more as resolved. That is sent at once when an alarm is raised or a command
//! is given (an `ack`), then every minute. What it missed while it did not answer is what is
//! true when it answers again (an alarm raised and acknowledged meanwhile never pages). The
//! first delivery of a run also resolves the acknowledged alarms, for an acknowledgement the
//! last run could not tell it of (Alertmanager pages no resolution of an alert it never paged).
//!
//! Labels route well: `alertname="ThreeRC"`, `alarm` (its kind: `fenced`, `fencefail`,
//! `operator`...), `alarm_id`, `severity`, `cluster`, and `host` or `vm`. Annotations: `summary`
//! (the alarm's message) and `console` (the command that opens the console on it).

use super::{severity_label as severity, wall_ms, Failing, Origin, Target};
use crate::config::AlertSink;
use crate::core::{AlarmView, Subject};
use crate::supervisor::SupervisorHandle;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How often what fires is sent again (Alertmanager ends an alert not heard of for its
/// `resolve_timeout`, 5 minutes by default).
const RESEND: Duration = Duration::from_secs(60);

pub(super) async fn deliver(handle: SupervisorHandle, target: Target, origin: Origin, started_ms: u64) {
    let AlertSink::Alertmanager { url } = &target.sink else { return };
    let mut events = handle.events();
    // What the target was last told is firing, by alarm id.
    let mut told: BTreeMap<u64, Value> = BTreeMap::new();
    let mut first = true;
    let mut due = Instant::now();
    let mut failing = Failing::new(&handle, target.shown());
    loop {
        tokio::select! {
            _ = handle.stopped() => return,
            ev = events.recv() => match ev {
                Ok(ev) if matches!(ev.kind, crate::core::EventKind::Alarm { .. } | crate::core::EventKind::Command { .. }) => {
                    // Soon, not at once: an ack and its effects come in one go.
                    due = due.min(Instant::now() + Duration::from_millis(100));
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(due) => {
                if !handle.leads() {
                    // A standby: the leader tells Alertmanager.
                    due = Instant::now() + Duration::from_secs(1);
                    continue;
                }
                let view = handle.snapshot_now(Duration::from_secs(5)).await;
                let now = wall_ms();
                let firing: BTreeMap<u64, Value> = view
                    .alarms
                    .iter()
                    .filter(|a| !a.acked && a.severity >= target.min_severity)
                    .map(|a| (a.id, alert(a, &origin, now)))
                    .collect();
                let mut batch: Vec<Value> = firing.values().cloned().collect();
                if first {
                    // Acknowledged before this run told it anything: ended.
                    for a in view.alarms.iter().filter(|a| a.acked && a.severity >= target.min_severity) {
                        let mut ended = alert(a, &origin, now);
                        ended["endsAt"] = json!(crate::core::decisions::wall_rfc3339(now.max(started_ms)));
                        batch.push(ended);
                    }
                }
                for (id, a) in &told {
                    if !firing.contains_key(id) {
                        let mut ended = a.clone();
                        ended["endsAt"] = json!(crate::core::decisions::wall_rfc3339(now));
                        batch.push(ended);
                    }
                }
                match post(url, batch, target.timeout).await {
                    Ok(()) => {
                        failing.ok();
                        told = firing;
                        first = false;
                        due = Instant::now() + RESEND;
                    }
                    Err(e) => due = failing.failed(e, 0, 0),
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

/// `POST {url}/api/v2/alerts`, on a blocking thread, within `timeout`.
async fn post(url: &str, alerts: Vec<Value>, timeout: Duration) -> Result<(), String> {
    let endpoint = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
    let call = tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new().timeout(timeout).build();
        super::answer(agent.post(&endpoint).send_json(Value::Array(alerts)))
    });
    call.await.map_err(|e| format!("the delivery failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alarm_becomes_an_alert_that_routes_well() {
        let (a, origin) = (super::super::tests::fenced_alarm(), super::super::tests::origin());
        let v = alert(&a, &origin, 1_796_392_925_120);
        assert_eq!(
            v,
            json!({
                "labels": {"alertname": "ThreeRC", "alarm": "fenced", "alarm_id": "4", "severity": "warning",
                           "cluster": "prod", "host": "hv2"},
                "annotations": {"summary": "hv2 was fenced", "console": "3rc console --config /etc/3rc/prod.toml"},
                "startsAt": "2026-12-04T14:02:03.120Z",
            })
        );
    }
}
