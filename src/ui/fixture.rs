//! Test fixtures of the console: a hand-built cluster snapshot, a key-string parser
//! (`"jj<tab><C-c>"`), and the console's state over them with keys fed in.

use crate::core::{
    AlarmView, Capacity, ClusterView, DomState, HostState, HostView, QuorumView, Severity, Subject, Time, VmState,
    VmView,
};
use crossterm::event::KeyEvent;

const GIB: u64 = 1024 * 1024;

fn host(name: &str, state: HostState, reason: &str, cpus: u32, mem_gib: u64, used: (u32, u64), vms: usize) -> HostView {
    HostView {
        name: name.into(),
        uri: format!("qemu+ssh://{name}/system"),
        state,
        reason: reason.into(),
        since: Time::from_secs(10),
        capacity: Some(Capacity { cpus, memory_kib: mem_gib * GIB }),
        used_vcpus: used.0,
        used_memory_kib: used.1 * GIB,
        vm_count: vms,
        fence_agent: Some("fence_ipmilan".into()),
        fence_distrust: None,
        decided: None,
        last_error: None,
        seen: String::new(),
        history: Default::default(),
        if_fails: None,
    }
}

fn vm(name: &str, host: Option<&str>, state: VmState, restarts: u32, reason: &str) -> VmView {
    VmView {
        progress: None,
        reinstall: None,
        decided: None,
        guest: Vec::new(),
        name: name.into(),
        host: host.map(Into::into),
        state,
        reason: reason.into(),
        since: Time::from_secs(20),
        priority: 0,
        anti_affinity: None,
        vcpus: 2,
        memory_kib: 4 * GIB,
        observed: Some(DomState::Running),
        restarts_in_window: restarts,
        relocations_in_window: 0,
        max_restart: 2,
        max_relocate: 1,
        bad_probes: 0,
        good_probes: 3,
        history: Default::default(),
        placement: None,
    }
}

/// 3 hosts and 10 VMs in varied states, one unacknowledged alarm and one acknowledged.
pub fn cluster() -> ClusterView {
    use HostState as H;
    use VmState as V;
    let mut hv3 = host("hv3", H::Suspect, "2 of 3 probes failed", 16, 64, (6, 24), 3);
    let mut hv2 = host("hv2", H::Down, "no answer for 15 s", 32, 128, (8, 16), 2);
    let mut hv1 = host("hv1", H::Online, "probes good", 32, 128, (12, 48), 5);
    hv1.if_fails = Some("if hv1 fails: web1, cache1 have no room".into());
    hv2.if_fails = Some("if hv2 fails: db2 has no room".into());
    hv2.fence_distrust = Some("it says hv2 is off while hv2 answers its probes".into());
    hv3.capacity = None;
    ClusterView {
        at: Time::from_secs(120),
        armed: true,
        hosts: vec![hv1, hv2, hv3],
        vms: vec![
            vm("web1", Some("hv1"), V::Healthy, 0, "running, probes good"),
            vm("web2", Some("hv3"), V::Healthy, 1, "running, probes good"),
            {
                let mut c = vm("cache1", Some("hv1"), V::Restarting, 1, "crashed: restart 1 of 2");
                c.reinstall = Some(
                    crate::core::ReinstallSpec {
                        golden_pool: "golden".into(),
                        golden_volume: "debian12.qcow2".into(),
                        mode: crate::core::DiskMode::Overlay,
                        disk_pool: "vms".into(),
                        disk_volume: "cache1.qcow2".into(),
                        template_path: "/etc/3rc/templates/cache1.xml".into(),
                        template: String::new(),
                        seed: None,
                    }
                    .summary(),
                );
                c.guest = vec![
                    "guest agent: answers".into(),
                    "tcp 10.0.0.5:22: Connection refused (os error 111)".into(),
                    "watchdog: has not fired since it started".into(),
                ];
                c
            },
            vm("mail", Some("hv3"), V::Suspect, 0, "1 bad probe"),
            vm("ci", Some("hv1"), V::Probation, 2, "started 12 s ago"),
            vm("db2", Some("hv2"), V::AwaitingFence, 0, "host hv2 down, waiting for fence"),
            vm("legacy", None, V::Stopped, 0, "stopped by operator"),
            vm("dns", Some("hv3"), V::Relocating, 2, "relocating to hv3"),
            vm("backup", Some("hv1"), V::Unmanaged, 0, "HA disarmed"),
            vm("db1", Some("hv2"), V::NeedsOperator, 2, "ladder exhausted"),
        ],
        alarms: vec![
            AlarmView {
                id: 7,
                kind: "operator".into(),
                age_ms: 20_000,
                subject: Subject::Vm("db1".into()),
                severity: Severity::Critical,
                message: "ladder exhausted: 2 restarts, 1 relocation".into(),
                acked: false,
                acked_by: None,
            },
            AlarmView {
                id: 3,
                kind: "fencefail".into(),
                age_ms: 70_000,
                subject: Subject::Host("hv2".into()),
                severity: Severity::Warning,
                message: "old acknowledged alarm".into(),
                acked: true,
                acked_by: Some("console:alice at 2026-12-04 14:02 UTC".into()),
            },
        ],
        quorum: QuorumView {
            reachable: vec!["hv1".into(), "hv3".into(), "gateway".into()],
            unreachable: vec!["hv2".into()],
            held: false,
        },
        disarmed_by: None,
        disarm_pending: None,
        deliveries: Vec::new(),
        ha: None,
        spare: Some("N+1: SHORT (1 host would leave VMs without room)".into()),
    }
}

/// Parse a key string (`"jj<tab><C-c>"`); see [`crate::ui::keys::parse`].
pub fn keys(seq: &str) -> Vec<KeyEvent> {
    crate::ui::keys::parse(seq).unwrap_or_else(|e| panic!("{e}"))
}

/// The console's state over [`cluster`]; `injector` is the demo fault injector's state (`None`
/// outside the demo).
pub fn app(injector: Option<bool>) -> crate::ui::app::App {
    crate::ui::app::App::new("3RC test", std::sync::Arc::new(cluster()), injector)
}

/// Feed a key string (`"jj<tab>k"`) and collect the requests it sends.
pub fn press(app: &mut crate::ui::app::App, seq: &str) -> Vec<crate::ui::UiRequest> {
    let now = std::time::Instant::now();
    keys(seq).into_iter().filter_map(|k| app.handle_key(k, now)).collect()
}
