//! `3rc status`: probe every host once and print the cluster, as a table or JSON. Read-only:
//! nothing is decided, nothing is executed.

use crate::config::Config;
use crate::core::{time::human, ClusterView, Engine, HostObservation, Time};
use crate::hv::Connector;
use std::fmt::Write;
use std::sync::Arc;

/// Probe all hosts once and build the view.
pub async fn probe_once(cfg: &Config, connector: Arc<Connector>) -> anyhow::Result<ClusterView> {
    let hosts = super::spawn_hosts(cfg, connector)?;
    let mut observations = Vec::new();
    let timeout = cfg.settings.probe_timeout;
    let pending: Vec<_> = hosts
        .values()
        .map(|h| {
            let h = h.clone();
            tokio::spawn(async move {
                HostObservation {
                    host: h.name.clone(),
                    result: h.probe(timeout).await.map_err(crate::hv::HvError::into_probe_error),
                }
            })
        })
        .collect();
    for p in pending {
        observations.push(p.await?);
    }
    let mut engine = Engine::new(cfg.cluster.clone(), Time::ZERO);
    engine.observe_readonly(Time::ZERO, &observations);
    Ok(engine.snapshot())
}

fn gib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0 / 1024.0)
}

/// The plain-text report.
pub fn render(view: &ClusterView) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<12} {:<12} {:>9} {:>13} {:>4}  REASON", "HOST", "STATE", "VCPU", "MEM GiB", "VMS");
    for h in &view.hosts {
        let (cpus, mem) =
            h.capacity.map(|c| (c.cpus.to_string(), gib(c.memory_kib))).unwrap_or(("?".into(), "?".into()));
        let _ = writeln!(
            s,
            "{:<12} {:<12} {:>9} {:>13} {:>4}  {}",
            h.name,
            h.state.label(),
            format!("{}/{}", h.used_vcpus, cpus),
            format!("{}/{}", gib(h.used_memory_kib), mem),
            h.vm_count,
            h.last_error.as_deref().unwrap_or(&h.reason)
        );
    }
    // Several supervisors (`[ha]`): the hosts some of them cannot reach, and who sees what.
    for h in view.hosts.iter().filter(|h| h.seen.contains("unreachable")) {
        let _ = writeln!(s, "  {}: {}", h.name, h.seen);
    }
    let _ = writeln!(s);
    let _ =
        writeln!(s, "{:<14} {:<8} {:<14} {:>5} {:>8} {:>4}  REASON", "VM", "HOST", "STATE", "VCPU", "MEM MiB", "PRIO");
    for v in &view.vms {
        let _ = writeln!(
            s,
            "{:<14} {:<8} {:<14} {:>5} {:>8} {:>4}  {}",
            v.name,
            v.host.as_deref().unwrap_or("-"),
            v.state.label(),
            v.vcpus,
            v.memory_kib / 1024,
            v.priority,
            v.reason
        );
    }
    if let Some(p) = &view.disarm_pending {
        let _ = writeln!(s);
        let _ = writeln!(s, "DISARM PENDING: {p}");
    }
    // What people decided that 3RC keeps to, with who and when (kept across restarts).
    let decided: Vec<(&str, &str)> = view
        .disarmed_by
        .iter()
        .map(|d| ("cluster", d.as_str()))
        .chain(view.hosts.iter().filter_map(|h| Some((h.name.as_str(), h.decided.as_deref()?))))
        .chain(view.vms.iter().filter_map(|v| Some((v.name.as_str(), v.decided.as_deref()?))))
        .collect();
    if !decided.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "{:<14} OPERATORS' DECISIONS", "SUBJECT");
        for (subject, what) in decided {
            let _ = writeln!(s, "{subject:<14} {what}");
        }
    }
    let q = &view.quorum;
    if q.votes() > 0 {
        let _ = writeln!(s);
        let state = if q.held {
            "fencing held"
        } else if q.has() {
            "quorum"
        } else {
            "no quorum"
        };
        let _ = writeln!(
            s,
            "QUORUM {}/{} ({state}): reaches {}; not {}",
            q.reachable.len(),
            q.votes(),
            if q.reachable.is_empty() { "none".to_string() } else { q.reachable.join(", ") },
            if q.unreachable.is_empty() { "none".to_string() } else { q.unreachable.join(", ") }
        );
    }
    // Spare capacity: the hosts whose loss would leave VMs without room.
    if let Some(spare) = &view.spare {
        let _ = writeln!(s);
        let _ = writeln!(s, "SPARE CAPACITY {spare}");
        for f in view.hosts.iter().filter_map(|h| h.if_fails.as_ref()).filter(|f| f.ends_with("no room")) {
            let _ = writeln!(s, "  {f}");
        }
    }
    if let Some(ha) = &view.ha {
        let _ = writeln!(s);
        let who = match (ha.leads, &ha.leader) {
            (true, _) => "leads".to_string(),
            (false, Some(l)) => format!("is a standby ({l} leads)"),
            (false, None) => "is a standby (no leader seen)".to_string(),
        };
        let _ = writeln!(s, "HA: {} {who}", ha.name);
    }
    // Alert targets that cannot be reached: nobody may be called.
    if !view.deliveries.is_empty() {
        let _ = writeln!(s);
    }
    for d in &view.deliveries {
        let since = crate::core::decisions::wall_rfc3339(d.since_ms);
        let _ = writeln!(
            s,
            "PAGING FAILS {} (since {since}; {} waiting, {} dropped): {}",
            d.target, d.queued, d.dropped, d.error
        );
    }
    let open: Vec<_> = view.alarms.iter().filter(|a| !a.acked).collect();
    // The latest acknowledgements, with who and when (`view.alarms` has acked ones newest first).
    const ACKED_SHOWN: usize = 5;
    let acked: Vec<_> = view.alarms.iter().filter(|a| a.acked).collect();
    if !open.is_empty() || !acked.is_empty() {
        let _ = writeln!(s);
    }
    for a in open {
        let age = human(std::time::Duration::from_millis(a.age_ms));
        let _ = writeln!(s, "ALARM #{} {:?} {} ({age} ago): {}", a.id, a.severity, a.subject, a.message);
    }
    for a in acked.iter().take(ACKED_SHOWN) {
        let age = human(std::time::Duration::from_millis(a.age_ms));
        let by = a.acked_by.as_deref().unwrap_or("?");
        let _ = writeln!(
            s,
            "ACKED #{} {:?} {} ({age} ago; acknowledged by {by}): {}",
            a.id, a.severity, a.subject, a.message
        );
    }
    if acked.len() > ACKED_SHOWN {
        let _ = writeln!(s, "({} older acknowledged alarms: `A` in the console)", acked.len() - ACKED_SHOWN);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_some_supervisors_cannot_reach_is_named_with_who_sees_what() {
        let mut view = crate::ui::fixture::cluster();
        view.hosts[1].seen = "unreachable from sup1; reachable from sup2, sup3".into();
        view.hosts[2].seen = "reachable from sup1, sup2, sup3".into();
        let text = render(&view);
        let name = &view.hosts[1].name;
        assert!(text.contains(&format!("  {name}: unreachable from sup1; reachable from sup2, sup3\n")), "{text}");
        assert!(!text.contains("reachable from sup1, sup2, sup3"), "only the hosts someone cannot reach: {text}");
    }

    #[test]
    fn a_failing_alert_target_is_named_with_what_waits() {
        let view = ClusterView {
            deliveries: vec![crate::core::DeliveryView {
                target: "webhook https://hooks.example.com/3rc?***".into(),
                error: "Connection Failed: Connect error: Connection refused".into(),
                since_ms: 1_796_392_925_120,
                queued: 3,
                dropped: 0,
            }],
            ..Default::default()
        };
        let text = render(&view);
        assert!(
            text.contains(
                "PAGING FAILS webhook https://hooks.example.com/3rc?*** (since 2026-12-04T14:02:05.120Z; 3 waiting, \
                 0 dropped): Connection Failed"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_spare_capacity_names_the_hosts_whose_loss_strands_vms() {
        let text = render(&crate::ui::fixture::cluster());
        assert!(text.contains("SPARE CAPACITY N+1: SHORT (1 host would leave VMs without room)\n"), "{text}");
        assert!(text.contains("\n  if hv1 fails: web1, cache1 have no room\n"), "{text}");
    }
}
