//! Test fixtures: a hand-built cluster snapshot and a key-string parser (`"jj<tab><C-c>"`).

use crate::core::{
    AlarmView, Capacity, ClusterView, DomState, HostState, HostView, Severity, Subject, Time, VmState, VmView,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

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
        last_error: None,
        history: vec![],
    }
}

fn vm(name: &str, host: Option<&str>, state: VmState, restarts: u32, reason: &str) -> VmView {
    VmView {
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
        history: vec![],
        placement: None,
    }
}

/// 3 hosts and 10 VMs in varied states, one unacknowledged alarm and one acknowledged.
pub fn cluster() -> ClusterView {
    use HostState as H;
    use VmState as V;
    let mut hv3 = host("hv3", H::Suspect, "2 of 3 probes failed", 16, 64, (6, 24), 3);
    hv3.capacity = None;
    ClusterView {
        at: Time::from_secs(120),
        armed: true,
        hosts: vec![
            host("hv1", H::Online, "probes good", 32, 128, (12, 48), 5),
            host("hv2", H::Down, "no answer for 15 s", 32, 128, (8, 16), 2),
            hv3,
        ],
        vms: vec![
            vm("web1", Some("hv1"), V::Healthy, 0, "running, probes good"),
            vm("web2", Some("hv3"), V::Healthy, 1, "running, probes good"),
            vm("cache1", Some("hv1"), V::Restarting, 1, "crashed: restart 1 of 2"),
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
                at: Time::from_secs(100),
                subject: Subject::Vm("db1".into()),
                severity: Severity::Critical,
                message: "ladder exhausted: 2 restarts, 1 relocation".into(),
                acked: false,
            },
            AlarmView {
                id: 3,
                at: Time::from_secs(50),
                subject: Subject::Host("hv2".into()),
                severity: Severity::Warning,
                message: "old acknowledged alarm".into(),
                acked: true,
            },
        ],
    }
}

/// Parse a key string the way helix tests do: plain characters, and `<tab>`, `<up>`, `<down>`,
/// `<pgup>`, `<pgdown>`, `<home>`, `<end>`, `<enter>`, `<esc>`, `<C-x>`.
pub fn keys(seq: &str) -> Vec<KeyEvent> {
    let mut out = Vec::new();
    let mut rest = seq;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let end = rest.find('>').unwrap_or_else(|| panic!("unclosed < in {seq:?}"));
            let name = &rest[1..end];
            rest = &rest[end + 1..];
            let ev = match name {
                "tab" => KeyEvent::from(KeyCode::Tab),
                "up" => KeyEvent::from(KeyCode::Up),
                "down" => KeyEvent::from(KeyCode::Down),
                "pgup" => KeyEvent::from(KeyCode::PageUp),
                "pgdown" => KeyEvent::from(KeyCode::PageDown),
                "home" => KeyEvent::from(KeyCode::Home),
                "end" => KeyEvent::from(KeyCode::End),
                "enter" => KeyEvent::from(KeyCode::Enter),
                "esc" => KeyEvent::from(KeyCode::Esc),
                "backspace" => KeyEvent::from(KeyCode::Backspace),
                "left" => KeyEvent::from(KeyCode::Left),
                "right" => KeyEvent::from(KeyCode::Right),
                "space" => KeyEvent::from(KeyCode::Char(' ')),
                n if n.starts_with("C-") && n.len() == 3 => {
                    KeyEvent::new(KeyCode::Char(n.as_bytes()[2] as char), KeyModifiers::CONTROL)
                }
                n => panic!("unknown key <{n}> in {seq:?}"),
            };
            out.push(ev);
        } else {
            rest = &rest[c.len_utf8()..];
            let mods = if c.is_ascii_uppercase() { KeyModifiers::SHIFT } else { KeyModifiers::NONE };
            out.push(KeyEvent::new(KeyCode::Char(c), mods));
        }
    }
    out
}
