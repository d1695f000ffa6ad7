//! Several supervisors on a real etcd (Debian's, one member on loopback), two supervisors of the
//! demo cluster's test-driver hosts with 1 s cycles and the default lease TTL (2 s). Prints
//! figures; asserts nothing. `cargo bench --bench ha_takeover`.
//!
//! 1. The leader dies (its campaign and its loop stop at once, as in a `kill -9`) -> the standby
//!    leads and has run its first cycle as leader (its published view says it leads).
//! 2. The leader dies and a host is powered off at the same moment -> that host's VMs run
//!    elsewhere (each placed on another host and past its start).
//! 3. The leader stops cleanly (gives its lease back) -> the standby leads.

use std::time::{Duration, Instant};
use threerc::core::VmState;
use threerc::hv::Leadership;

#[path = "../tests/support/ha.rs"]
mod ha;
#[path = "../tests/support/test_hosts.rs"]
#[allow(dead_code)]
mod test_hosts;

#[path = "support/sim.rs"]
mod support;
use support::{ms, percentile};

fn summary(times: &[Duration]) -> String {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    format!(
        "mean {} | p50 {} | max {} ({} runs)",
        ms(mean),
        ms(percentile(&sorted, 0.5)),
        ms(*sorted.last().unwrap()),
        times.len()
    )
}

/// What the pair runs on, kept for as long as the run.
struct Rest {
    _dir: tempfile::TempDir,
    _etcd: ha::Etcd,
    cluster: std::sync::Arc<threerc::backend::demo::DemoCluster>,
}

/// A pair with one leader, past its first cycles: (leader, standby, the rest).
async fn led() -> (ha::Instance, ha::Instance, Rest) {
    let ha::Pair { _dir, etcd, cluster, a, b } = ha::pair("1s").await;
    let (leader, standby) = ha::leader_of(a, b).await;
    test_hosts::until(&leader.handle, "the leader's view", |v| v.ha.as_ref().is_some_and(|h| h.leads)).await;
    (leader, standby, Rest { _dir, _etcd: etcd, cluster })
}

fn main() {
    // `cargo test --all-targets` runs bench binaries too (without `--bench`): keep that quick.
    let quick = std::env::args().all(|a| a != "--bench");
    let runs = if quick { 1 } else { 5 };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (mut first_cycle, mut vms_back, mut clean) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let (leader, standby, _rest) = led().await;
            let t = Instant::now();
            leader.leadership.abandon();
            leader.task.abort();
            test_hosts::until(&standby.handle, "the standby's first cycle as leader", |v| {
                v.ha.as_ref().is_some_and(|h| h.leads)
            })
            .await;
            first_cycle.push(t.elapsed());
        }
        println!("leader killed -> a standby leads and has run its first cycle: {}", summary(&first_cycle));

        for _ in 0..runs {
            let (leader, standby, rest) = led().await;
            let on_hv3: Vec<String> = standby
                .handle
                .snapshot_now(Duration::from_secs(5))
                .await
                .vms
                .iter()
                .filter(|v| v.host.as_deref() == Some("hv3"))
                .map(|v| v.name.clone())
                .collect();
            let t = Instant::now();
            leader.leadership.abandon();
            leader.task.abort();
            rest.cluster.power_off("hv3").unwrap();
            test_hosts::until_within(
                &standby.handle,
                "hv3's VMs running elsewhere",
                Duration::from_secs(60),
                |v| {
                    on_hv3.iter().all(|n| {
                        v.vms.iter().any(|vm| {
                            &vm.name == n
                                && vm.host.as_deref().is_some_and(|h| h != "hv3")
                                && matches!(vm.state, VmState::Probation | VmState::Healthy)
                        })
                    })
                },
                |v| format!("{:?}", v.vms.iter().map(|vm| (&vm.name, &vm.host, vm.state)).collect::<Vec<_>>()),
            )
            .await;
            vms_back.push(t.elapsed());
        }
        println!(
            "leader killed + a host (2 VMs) powered off at once -> its VMs running elsewhere: {}",
            summary(&vms_back)
        );

        for _ in 0..runs {
            let (leader, standby, _rest) = led().await;
            leader.task.abort();
            let t = Instant::now();
            leader.leadership.resign().await;
            while !standby.leadership.leads() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            clean.push(t.elapsed());
        }
        println!("leader stopped cleanly (lease given back) -> a standby leads: {}", summary(&clean));
    });
}
