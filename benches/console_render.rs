//! Drawing one console frame with 20,000 VMs on 100 hosts (the tables draw only the visible
//! rows; filter and sort run over all of them every frame). Target: under 16 ms.
//! Figures, not assertions: `cargo bench --bench console_render`.

use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::sync::Arc;
use threerc::core::*;
use threerc::ui::{Renderer, Theme};

const GIB: u64 = 1024 * 1024;

/// `hosts` hosts and `vms` VMs in a mix of states, each with a short history.
fn cluster(hosts: usize, vms: usize) -> ClusterView {
    let states = [VmState::Healthy, VmState::Healthy, VmState::Suspect, VmState::Migrating, VmState::Probation];
    ClusterView {
        at: Time::from_secs(600),
        armed: true,
        hosts: (0..hosts)
            .map(|i| HostView {
                name: format!("hv{i:03}"),
                uri: format!("qemu+ssh://hv{i:03}/system"),
                state: if i % 17 == 0 { HostState::Suspect } else { HostState::Online },
                reason: "probes good".into(),
                since: Time::from_secs(1),
                capacity: Some(Capacity { cpus: 256, memory_kib: 1024 * GIB }),
                used_vcpus: 200,
                used_memory_kib: 800 * GIB,
                vm_count: vms / hosts,
                fence_agent: Some("fence_ipmilan".into()),
                fence_distrust: None,
                decided: None,
                last_error: None,
                seen: String::new(),
                history: Default::default(),
                if_fails: Some(format!("if hv{i:03} fails: its VMs fit on the other hosts")),
            })
            .collect(),
        vms: (0..vms)
            .map(|i| VmView {
                progress: None,
                reinstall: None,
                decided: None,
                guest: Vec::new(),
                name: format!("vm{i:05}"),
                host: Some(format!("hv{:03}", i % hosts)),
                state: states[i % states.len()],
                reason: "running, probes good".into(),
                since: Time::from_secs(500),
                priority: (i % 5) as i32,
                anti_affinity: None,
                vcpus: 2,
                memory_kib: 2 * GIB,
                observed: Some(DomState::Running),
                restarts_in_window: (i % 3) as u32,
                relocations_in_window: 0,
                max_restart: 3,
                max_relocate: 1,
                bad_probes: 0,
                good_probes: 3,
                history: std::sync::Arc::new(vec![Transition {
                    at: Time::from_secs(500),
                    from: "Discovering".into(),
                    to: "Healthy".into(),
                    reason: "found running".into(),
                }]),
                placement: None,
            })
            .collect(),
        alarms: vec![],
        quorum: Default::default(),
        disarmed_by: None,
        disarm_pending: None,
        deliveries: Vec::new(),
        ha: None,
        spare: Some("N+1: ok".into()),
    }
}

fn frame(c: &mut Criterion, name: &str, size: (u16, u16), keys: &str) {
    let view = Arc::new(cluster(100, 20_000));
    let mut r = Renderer::new(view.clone(), Theme::builtin_default());
    r.press(keys).unwrap();
    let mut terminal = Terminal::new(TestBackend::new(size.0, size.1)).unwrap();
    c.bench_function(name, |b| {
        b.iter(|| {
            // A new snapshot every frame, as when the supervisor publishes one per cycle.
            r.set_view(view.clone());
            terminal.draw(|f| r.draw(f)).unwrap();
        })
    });
}

fn benches(c: &mut Criterion) {
    frame(c, "frame 20k VMs, 80x24, overview", (80, 24), "");
    frame(c, "frame 20k VMs, 200x60, overview, last row", (200, 60), "G");
    frame(c, "frame 20k VMs, 200x60, sorted by state, filtered", (200, 60), "oo/vm1<enter>");
    frame(c, "frame 20k VMs, 200x60, host detail", (200, 60), "<tab><enter>");
}

criterion_group! {
    name = render;
    config = Criterion::default().sample_size(30);
    targets = benches
}
criterion_main!(render);
