//! Alert agents, as Pacemaker has them: an executable run once per notification, with the
//! notification in `CRM_alert_*` environment variables (Pacemaker's names where they fit, so
//! its sample agents work) and as JSON on its standard input. It has the target's `timeout`
//! (killed past it); what it prints is logged; an exit status other than 0 is a failed
//! delivery, tried again later.
//!
//! | variable | value |
//! |---|---|
//! | `CRM_alert_kind` | `alarm`, `node` (a host's transition), `resource` (a VM's), `fencing` (a fence finished), `action` (another action finished) |
//! | `CRM_alert_version` | 3RC's version |
//! | `CRM_alert_recipient` | the target's `recipient` (empty without one) |
//! | `CRM_alert_node_sequence` | this delivery's number, increasing in this run |
//! | `CRM_alert_timestamp`, `_epoch`, `_usec` | when it happened: RFC 3339 (UTC), seconds since the epoch, and the microseconds of that second |
//! | `CRM_alert_node` | the host (empty when it is about a VM or the cluster) |
//! | `CRM_alert_rsc` | the VM (empty when it is about a host or the cluster) |
//! | `CRM_alert_desc` | what happened and why |
//! | `CRM_alert_task` | an alarm: `firing` or `resolved`; a transition: the new state; an action: its kind (`fence`, `restart`...) |
//! | `CRM_alert_rc` | an action: `0` done, `1` not |
//! | `CRM_alert_id` | the notification's identity (the same for an alarm's firing and resolution) |
//! | `CRM_alert_state` | `firing`, `resolved` or `event` |
//! | `CRM_alert_severity` | `info`, `warning` or `critical` |
//! | `CRM_alert_alarm`, `CRM_alert_alarm_id` | an alarm's kind and number |
//! | `CRM_alert_from`, `CRM_alert_to` | a transition's states |
//! | `CRM_alert_action`, `CRM_alert_outcome`, `CRM_alert_decided_by` | a finished action |
//! | `CRM_alert_cluster`, `CRM_alert_console` | the cluster, and the command that opens its console |

use super::Notification;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tracing::info;

/// At most this much of what an agent prints is logged.
const OUTPUT_LOGGED: usize = 4096;

/// The environment an agent gets for `n`.
pub fn environment(n: &Notification, recipient: Option<&str>, seq: u64) -> Vec<(String, String)> {
    let kind = match (n.kind.as_str(), &n.action) {
        ("host", _) => "node",
        ("vm", _) => "resource",
        ("action", Some(a)) if a.starts_with("fence ") => "fencing",
        (k, _) => k,
    };
    let task = match n.kind.as_str() {
        "alarm" => n.status.clone(),
        "host" | "vm" => n.to.clone().unwrap_or_default(),
        _ => n.action.as_deref().and_then(|a| a.split_whitespace().next()).unwrap_or_default().to_string(),
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut env = vec![
        ("kind", kind.to_string()),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("recipient", recipient.unwrap_or_default().to_string()),
        ("node_sequence", seq.to_string()),
        ("timestamp", n.time.clone()),
        ("timestamp_epoch", (n.time_ms / 1000).to_string()),
        ("timestamp_usec", ((n.time_ms % 1000) * 1000).to_string()),
        ("node", opt(&n.host)),
        ("rsc", opt(&n.vm)),
        ("desc", n.summary.clone()),
        ("task", task),
        ("id", n.id.clone()),
        ("state", n.status.clone()),
        ("severity", n.severity.clone()),
        ("alarm", opt(&n.alarm)),
        ("alarm_id", n.alarm_id.map(|i| i.to_string()).unwrap_or_default()),
        ("from", opt(&n.from)),
        ("to", opt(&n.to)),
        ("action", opt(&n.action)),
        ("outcome", opt(&n.outcome)),
        ("decided_by", opt(&n.decided_by)),
        ("cluster", n.cluster.clone()),
        ("console", n.console.clone()),
    ];
    if n.kind == "action" {
        let rc = if n.outcome.as_deref() == Some("done") { "0" } else { "1" };
        env.push(("rc", rc.to_string()));
    }
    env.into_iter().map(|(k, v)| (format!("CRM_alert_{k}"), v)).collect()
}

/// Run the agent at `path` for `n`, within `timeout`.
pub(super) async fn run(
    path: &Path,
    recipient: Option<&str>,
    n: &Notification,
    seq: u64,
    timeout: Duration,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new(path)
        .envs(environment(n, recipient, seq))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    let body = serde_json::to_vec(n).unwrap_or_default();
    let mut stdin = child.stdin.take();
    let feed = async move {
        if let Some(s) = stdin.as_mut() {
            // An agent that does not read its input is fine: a broken pipe is ignored.
            let _ = s.write_all(&body).await;
        }
        drop(stdin);
    };
    let output = async {
        feed.await;
        child.wait_with_output().await
    };
    let out = match tokio::time::timeout(timeout, output).await {
        Err(_) => return Err(format!("did not finish within {} (killed)", crate::core::time::human(timeout))),
        Ok(Err(e)) => return Err(format!("cannot wait for it: {e}")),
        Ok(Ok(out)) => out,
    };
    let shown = path.display();
    let mut printed = String::from_utf8_lossy(&out.stdout).into_owned();
    printed.push_str(&String::from_utf8_lossy(&out.stderr));
    let mut logged = 0;
    for line in printed.lines().filter(|l| !l.trim().is_empty()) {
        if logged + line.len() > OUTPUT_LOGGED {
            info!(target: "3rc::alerts", "agent {shown}: (more output not logged)");
            break;
        }
        logged += line.len();
        info!(target: "3rc::alerts", "agent {shown}: {line}");
    }
    match out.status.success() {
        true => Ok(()),
        false => Err(format!("exited with {}", out.status)),
    }
}
