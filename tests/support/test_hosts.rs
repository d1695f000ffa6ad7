//! Libvirt test-driver hosts for integration tests: host files with storage pools, and the
//! real supervisor assembled over them (demo fault injection at the backend boundary).

use std::sync::Arc;
use std::time::Duration;
use threerc::backend::demo::DemoCluster;
use threerc::config::Config;
use threerc::core::{ClusterView, VmState};
use threerc::supervisor::SupervisorHandle;

/// A `<pool type='dir'>` at `path` holding `volumes`, each `(name, GiB)`.
pub fn pool(name: &str, path: &str, volumes: &[(&str, u64)]) -> String {
    let vols: String = volumes
        .iter()
        .map(|(v, gib)| format!("<volume type='file'><name>{v}</name><capacity unit='GiB'>{gib}</capacity><target><format type='qcow2'/></target></volume>"))
        .collect();
    format!(
        "<pool type='dir'><name>{name}</name><capacity unit='GiB'>100</capacity><allocation unit='GiB'>1</allocation>\
         <available unit='GiB'>99</available><source/><target><path>{path}</path></target>{vols}</pool>"
    )
}

/// A host file: 8 CPU threads, `mem_gib` of memory, then `body` (domains and pools).
pub fn host(mem_gib: u64, body: &str) -> String {
    format!(
        "<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>2</threads><active>8</active>\
         <mhz>2400</mhz><model>x86_64</model></cpu><memory>{}</memory>{body}</node>",
        mem_gib * 1024 * 1024
    )
}

/// The supervisor of `cfg` running over its test-driver hosts; send on the sender to stop it.
pub fn run(cfg: &Config) -> (Arc<DemoCluster>, SupervisorHandle, tokio::sync::oneshot::Sender<()>) {
    threerc::backend::libvirt::init();
    let cluster = DemoCluster::from_specs(&cfg.cluster.hosts);
    let (handle, stop, _task) = supervise(cfg, &cluster, |_| {});
    (cluster, handle, stop)
}

/// The supervisor of `cfg` over an existing cluster of test-driver hosts (a restart of 3RC:
/// the hosts run on): its handle, the sender that stops it, and its task. `before_run` gets the
/// handle before the supervisor starts, to subscribe to its events without missing the first.
pub fn supervise(
    cfg: &Config,
    cluster: &Arc<DemoCluster>,
    before_run: impl FnOnce(&SupervisorHandle),
) -> (SupervisorHandle, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let fencers = threerc::app::fencers(cfg, Some(cluster)).expect("fencers");
    let (sup, handle) = threerc::app::assemble(cfg, Arc::from(cluster.connector()), fencers).expect("assemble");
    before_run(&handle);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sup.run(async {
        let _ = stopped.await;
    }));
    (handle, stop, task)
}

/// Wait until every VM is healthy and its definition is in the supervisor's inventory: the
/// steady state a test may take a host away from (a host lost before the supervisor has read a
/// VM's definition leaves it nothing to define elsewhere: that recovery fails, rightly).
#[allow(dead_code)] // for the test binaries on the demo cluster
pub async fn until_steady(handle: &SupervisorHandle) -> ClusterView {
    until(handle, "every VM healthy and in the inventory", |v| {
        v.vms.iter().all(|vm| vm.state == VmState::Healthy && handle.domain_xml(&vm.name).is_some())
    })
    .await
}

/// Wait until `pred` holds on a snapshot (20 s at most, then fail with the last one).
pub async fn until(handle: &SupervisorHandle, what: &str, pred: impl Fn(&ClusterView) -> bool) -> ClusterView {
    until_within(handle, what, Duration::from_secs(20), pred, |v| format!("{v:#?}")).await
}

/// Wait until `pred` holds on a snapshot; after `within`, fail with what `explain` says of
/// the last one.
pub async fn until_within(
    handle: &SupervisorHandle,
    what: &str,
    within: Duration,
    pred: impl Fn(&ClusterView) -> bool,
    explain: impl Fn(&ClusterView) -> String,
) -> ClusterView {
    let mut rx = handle.snapshots();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let v = rx.borrow_and_update().clone();
        if pred(&v) {
            return (*v).clone();
        }
        if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
            panic!("timed out waiting for: {what}\n{}", explain(&v));
        }
    }
}

/// The demo cluster's config with cycles every `interval` (`"100ms"`), `extra` TOML appended, and
/// its journal in `state`.
#[allow(dead_code)] // for the test binaries on the demo cluster
pub fn demo_config(state: &std::path::Path, interval: &str, extra: &str) -> Config {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let text = std::fs::read_to_string(dir.join("cluster.toml")).expect("demo config");
    let text = text.replace("interval = \"1s\"", &format!("interval = \"{interval}\"")) + extra;
    let mut cfg = Config::parse(&text, &dir.join("cluster.toml")).expect("valid config");
    cfg.state_dir = Some(state.to_path_buf());
    cfg
}
