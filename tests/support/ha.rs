//! Several supervisors on a real etcd, for the tests and the benchmark: Debian's `etcd` on
//! loopback ports of its own, supervisors of the demo cluster's test-driver hosts with `[ha]`.
// Shared by a test binary and a benchmark, each of which uses only part of it.
#![allow(dead_code)]

use crate::test_hosts;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use threerc::core::EventKind;
use threerc::hv::Leadership;

/// An etcd process, killed when dropped, and its data folder.
pub struct Etcd(Child, #[allow(dead_code)] tempfile::TempDir);

/// A folder for an etcd member's data on a tmpfs where there is one: etcd syncs every write,
/// and a sync that takes a second on a busy disk (the journals of the supervisors under test
/// sync too) would cost a lease its renewal, a failure of the test that is the disk's.
fn etcd_data() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("3rc-test-etcd")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a folder for etcd's data")
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A one-member etcd, answering on the returned client URL.
pub fn etcd() -> (Etcd, String) {
    let (client, peer) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let data = etcd_data();
    let child = Command::new("etcd")
        .args(["--name", "t", "--data-dir"])
        .arg(data.path())
        .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
        .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("t={peer_url}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd (Debian's etcd-server; .ci/deps installs it)");
    let etcd = Etcd(child, data);
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", client)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(30), "etcd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (etcd, url)
}

/// A cluster of `n` etcd members on loopback ports of their own: the members and their client
/// URLs. Raft's heartbeat and election timeout are 2.5 times etcd's defaults (250 ms, 2.5 s),
/// so that a busy test machine's pause is not taken for a lost leader and an election held.
pub fn etcd_cluster(n: usize) -> (Vec<Etcd>, Vec<String>) {
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let initial: Vec<String> =
        ports.iter().enumerate().map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}")).collect();
    let mut members = Vec::new();
    for (i, (client, peer)) in ports.iter().enumerate() {
        let (url, peer_url) = (format!("http://127.0.0.1:{client}"), format!("http://127.0.0.1:{peer}"));
        let data = etcd_data();
        let child = Command::new("etcd")
            .args(["--name", &format!("m{i}"), "--data-dir"])
            .arg(data.path())
            .args(["--heartbeat-interval", "250", "--election-timeout", "2500"])
            .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &initial.join(","), "--initial-cluster-state", "new", "--pre-vote"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd (Debian's etcd-server; .ci/deps installs it)");
        members.push(Etcd(child, data));
    }
    let urls: Vec<String> = ports.iter().map(|(c, _)| format!("http://127.0.0.1:{c}")).collect();
    let t = Instant::now();
    while !Command::new("etcdctl")
        .args(["--endpoints", &urls.join(","), "--command-timeout=1s", "endpoint", "health"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(t.elapsed() < Duration::from_secs(30), "the etcd cluster did not become healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
    (members, urls)
}

/// Whether the etcd member at `url` is the cluster's raft leader now.
pub fn etcd_leads(url: &str) -> bool {
    let out = Command::new("etcdctl").args(["--endpoints", url, "endpoint", "status", "-w", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let status = &v[0]["Status"];
    status["header"]["member_id"].as_u64().is_some_and(|id| Some(id) == status["leader"].as_u64())
}

/// One supervisor with `[ha]`, and every event it sent.
pub struct Instance {
    pub handle: threerc::supervisor::SupervisorHandle,
    pub leadership: Arc<threerc::ha::EtcdLeadership>,
    pub task: tokio::task::JoinHandle<()>,
    pub events: Arc<std::sync::Mutex<Vec<threerc::core::Event>>>,
    _state: tempfile::TempDir,
}

/// Supervisor `name` of `cluster` on etcd at `url`, cycles every `interval`.
pub async fn instance(
    name: &str,
    url: &str,
    cluster: &Arc<threerc::backend::demo::DemoCluster>,
    interval: &str,
) -> Instance {
    instance_from(name, url, cluster, interval, None).await
}

/// The same, whose links to the hosts `cuts` names are down while it names them.
pub async fn instance_from(
    name: &str,
    url: &str,
    cluster: &Arc<threerc::backend::demo::DemoCluster>,
    interval: &str,
    cuts: Option<threerc::backend::demo::Cuts>,
) -> Instance {
    let state = tempfile::tempdir().unwrap();
    let ha = format!("\n[ha]\netcd = [\"{url}\"]\nname = \"{name}\"\nttl = \"2s\"\nprefix = \"/3rc/test\"\n");
    let cfg = test_hosts::demo_config(state.path(), interval, &ha);
    let fencers = threerc::app::fencers(&cfg, Some(cluster)).unwrap();
    let (mut sup, handle) = threerc::app::assemble(&cfg, Arc::from(cluster.connector_from(cuts)), fencers).unwrap();
    let leadership = threerc::ha::EtcdLeadership::start(cfg.ha.as_ref().unwrap()).await.unwrap();
    sup.set_leadership(leadership.clone());
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (mut rx, seen) = (handle.events(), events.clone());
    tokio::spawn(async move {
        while let Ok(ev) = rx.recv().await {
            seen.lock().unwrap().push(ev);
        }
    });
    let task = tokio::spawn(sup.run(std::future::pending()));
    Instance { handle, leadership, task, events, _state: state }
}

pub fn fences(i: &Instance) -> Vec<String> {
    i.events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionDecided { action, .. } if action.starts_with("fence ") => Some(action.clone()),
            _ => None,
        })
        .collect()
}

/// etcd, the demo cluster's hosts, and two supervisors of them (sup1, sup2), every VM healthy.
pub struct Pair {
    pub _dir: tempfile::TempDir,
    pub etcd: Etcd,
    pub cluster: Arc<threerc::backend::demo::DemoCluster>,
    pub a: Instance,
    pub b: Instance,
}

pub async fn pair(interval: &str) -> Pair {
    let Trio { _dir, etcd, cluster, sups, .. } = supervisors(interval, &["sup1", "sup2"]).await;
    let [a, b]: [Instance; 2] = sups.try_into().unwrap_or_else(|_| unreachable!("two names"));
    Pair { _dir, etcd, cluster, a, b }
}

pub fn notes(i: &Instance) -> Vec<String> {
    i.events.lock().unwrap().iter().filter(|e| e.kind == EventKind::Note).map(|e| e.reason.clone()).collect()
}

/// Wait until exactly one of the two leads (20 s at most): (the leader, the standby).
pub async fn leader_of(a: Instance, b: Instance) -> (Instance, Instance) {
    let t = Instant::now();
    while a.leadership.leads() == b.leadership.leads() {
        assert!(t.elapsed() < Duration::from_secs(20), "not exactly one leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if a.leadership.leads() {
        (a, b)
    } else {
        (b, a)
    }
}

/// etcd, the demo cluster's hosts, and supervisors of them (sup1, sup2, sup3 for `trio`), each
/// with links that can be cut, every VM healthy.
pub struct Trio {
    pub _dir: tempfile::TempDir,
    pub etcd: Etcd,
    pub cluster: Arc<threerc::backend::demo::DemoCluster>,
    pub sups: Vec<Instance>,
    pub cuts: Vec<threerc::backend::demo::Cuts>,
}

pub async fn trio(interval: &str) -> Trio {
    supervisors(interval, &["sup1", "sup2", "sup3"]).await
}

/// etcd, the demo cluster's hosts, and a supervisor of them for each name.
async fn supervisors(interval: &str, names: &[&str]) -> Trio {
    let dir = tempfile::tempdir().unwrap();
    let (etcd, url) = etcd();
    threerc::backend::libvirt::init();
    let cluster = threerc::backend::demo::DemoCluster::from_specs(
        &test_hosts::demo_config(dir.path(), interval, "").cluster.hosts,
    );
    let (mut sups, mut cuts) = (Vec::new(), Vec::new());
    for name in names {
        let cut: threerc::backend::demo::Cuts = Default::default();
        sups.push(instance_from(name, &url, &cluster, interval, Some(cut.clone())).await);
        cuts.push(cut);
    }
    for i in &sups {
        test_hosts::until_steady(&i.handle).await;
    }
    Trio { _dir: dir, etcd, cluster, sups, cuts }
}

/// Wait until exactly one of `sups` leads and has cycled as leader (20 s at most): its index.
pub async fn one_leader(sups: &[Instance]) -> usize {
    let t = Instant::now();
    loop {
        let leaders: Vec<usize> = (0..sups.len()).filter(|i| sups[*i].leadership.leads()).collect();
        if let [one] = leaders[..] {
            let view = sups[one].handle.snapshot_now(Duration::from_secs(5)).await;
            if view.ha.as_ref().is_some_and(|h| h.leads) {
                return one;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(20), "not exactly one leader: {leaders:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
