//! One supervision cycle of the engine (judge every host and VM, decide) at demo size and at
//! 100 hosts x 2,000 VMs, in steady state and in the cycle where a host's VMs are recovered.
//! Figures, not assertions: `cargo bench --bench cycle`.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use threerc::core::*;

/// A cluster of `hosts` hosts with `vms` protected VMs spread round-robin, all running.
fn cluster(hosts: usize, vms: usize) -> (ClusterSpec, Vec<HostObservation>) {
    let host_names: Vec<String> = (0..hosts).map(|i| format!("hv{i:03}")).collect();
    let spec = ClusterSpec {
        hosts: host_names
            .iter()
            .map(|h| HostSpec {
                name: h.clone(),
                uri: format!("test:///{h}.xml"),
                fence_agent: Some("demo".into()),
                soft_fence: false,
            })
            .collect(),
        vms: (0..vms)
            .map(|i| VmSpec {
                priority: (i % 5) as i32 * 10,
                anti_affinity: (i % 10 == 0).then(|| format!("g{}", i % 7)),
                origin: threerc::core::Origin::Config,
                ..VmSpec::named(format!("vm{i:05}"))
            })
            .collect(),
        host_policy: HostPolicy::default(),
        placement: PlacementPolicy::default(),
        witnesses: Vec::new(),
    };
    let mut probes: Vec<HostProbe> = (0..hosts)
        .map(|_| HostProbe { capacity: Capacity { cpus: 64, memory_kib: 512 * 1024 * 1024 }, domains: vec![] })
        .collect();
    for i in 0..vms {
        probes[i % hosts].domains.push(DomainObs {
            name: format!("vm{i:05}"),
            state: DomState::Running,
            vcpus: 2,
            memory_kib: 2 * 1024 * 1024,
        });
    }
    let obs = host_names.into_iter().zip(probes).map(|(host, p)| HostObservation { host, result: Ok(p) }).collect();
    (spec, obs)
}

/// An engine after a few cycles, with every VM Healthy.
fn steady(hosts: usize, vms: usize) -> (Engine, Vec<HostObservation>) {
    let (spec, obs) = cluster(hosts, vms);
    let mut e = Engine::new(spec, Time::ZERO);
    for s in 1..=5 {
        e.observe(Time::from_secs(s), &obs);
    }
    (e, obs)
}

fn bench(c: &mut Criterion) {
    for (hosts, vms, label) in [(4, 10, "demo 4x10"), (100, 2000, "100x2000")] {
        let (mut e, obs) = steady(hosts, vms);
        let mut t = 6;
        c.bench_function(&format!("cycle steady {label}"), |b| {
            b.iter(|| {
                t += 1;
                black_box(e.observe(Time::from_secs(t), &obs))
            })
        });
        c.bench_function(&format!("snapshot {label}"), |b| b.iter(|| black_box(e.snapshot())));
        // The cycle in which a fenced host's VMs are placed on the others (placement-heavy).
        c.bench_function(&format!("fence outcome + recovery {label}"), |b| {
            b.iter_batched(
                || {
                    let (mut e, mut obs) = steady(hosts, vms);
                    obs[0].result = Err(threerc::core::ProbeError::no_answer("connection timed out"));
                    let mut fence = None;
                    for s in 6..=8 {
                        let out = e.observe(Time::from_secs(s), &obs);
                        fence = fence.or(out.actions.into_iter().find(|a| matches!(a.kind, ActionKind::Fence { .. })));
                    }
                    (e, fence.expect("the dead host is fenced").id)
                },
                |(mut e, id)| black_box(e.outcome(Time::from_secs(9), id, Outcome::Done)),
                BatchSize::LargeInput,
            )
        });
    }
}

/// The spare capacity check (`core::spare`: every host lost in turn, its VMs placed on the
/// others) at 1,000 hosts x 20,000 VMs, with room to spare and with hosts nearly full. The
/// engine runs it every 5 cycles and after a host changes state.
fn spare(c: &mut Criterion) {
    let mut g = c.benchmark_group("spare capacity check 1000x20000");
    g.sample_size(10);
    let (e, _) = steady(1000, 20_000);
    g.bench_function("roomy (512 GiB hosts)", |b| b.iter(|| black_box(e.spare_now(1))));
    let (spec, mut obs) = cluster(1000, 20_000);
    for o in &mut obs {
        if let Ok(p) = &mut o.result {
            // 20 VMs of 2 GiB on 48 GiB: 8 GiB free on each.
            p.capacity.memory_kib = 48 * 1024 * 1024;
        }
    }
    let mut tight = Engine::new(spec, Time::ZERO);
    for s in 1..=5 {
        tight.observe(Time::from_secs(s), &obs);
    }
    assert!(tight.spare_now(1).ok(), "each lost host's 40 GiB fit in 5 others' 8 GiB");
    g.bench_function("tight (48 GiB hosts, 8 GiB free each)", |b| b.iter(|| black_box(tight.spare_now(1))));
    g.bench_function("tight, N+2", |b| b.iter(|| black_box(tight.spare_now(2))));
    g.finish();
}

criterion_group!(benches, bench, spare);
criterion_main!(benches);
