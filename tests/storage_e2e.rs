//! Storage awareness end to end, on libvirt test-driver hosts: a VM is recovered only on a host
//! whose storage pools hold its disks, and a VM whose disk lived on the dead host alone is
//! reported as not recoverable elsewhere and handed to a person (its policy forbids reinstall);
//! a VM whose disk no pool knows of is not held back by storage.

#[path = "support/test_hosts.rs"]
mod test_hosts;

use std::time::Duration;
use test_hosts::host;
use threerc::config::Config;
use threerc::core::{ClusterView, VmState};

fn domain(name: &str, disk: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><memory unit='GiB'>1</memory><vcpu>1</vcpu><os><type>hvm</type></os>\
         <devices><disk type='file' device='disk'><source file='{disk}'/><target dev='vda'/></disk></devices></domain>"
    )
}

fn pool(name: &str, path: &str, volumes: &[&str]) -> String {
    let sized: Vec<(&str, u64)> = volumes.iter().map(|v| (*v, 10)).collect();
    test_hosts::pool(name, path, &sized)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_are_recovered_only_where_their_disks_are() {
    let dir = tempfile::tempdir().unwrap();
    // hv1 runs web1 (disk on the shared NFS pool) and db1 (disk on hv1's local pool).
    // hv2 mounts the NFS pool; hv3 has the most room but no NFS.
    let files = [
        (
            "hv1",
            host(
                16,
                &format!(
                    "{}{}{}{}{}",
                    domain("web1", "/nfs/web1.qcow2"),
                    domain("db1", "/local/hv1/db1.qcow2"),
                    domain("cache1", "/unpooled/cache1.qcow2"),
                    pool("nfs", "/nfs", &["web1.qcow2"]),
                    pool("local", "/local/hv1", &["db1.qcow2"])
                ),
            ),
        ),
        ("hv2", host(4, &pool("nfs", "/nfs", &["web1.qcow2"]))),
        ("hv3", host(64, &pool("local", "/local/hv3", &[]))),
    ];
    let mut cfg = String::from(
        "[quorum]\nwitnesses = []\n[defaults]\ninterval = \"100ms\"\nmin_uptime = \"300ms\"\nprobe_timeout = \"2s\"\n",
    );
    for (name, xml) in &files {
        std::fs::write(dir.path().join(format!("{name}.xml")), xml).unwrap();
        cfg.push_str(&format!(
            "[[host]]\nname = \"{name}\"\nuri = \"test://{{config_dir}}/{name}.xml\"\nfence = {{ agent = \"demo\" }}\n"
        ));
    }
    cfg.push_str("[[vm]]\nname = \"web1\"\n[[vm]]\nname = \"db1\"\n[[vm]]\nname = \"cache1\"\n");
    let cfg = Config::parse(&cfg, &dir.path().join("c.toml")).unwrap();

    let (cluster, handle, stop) = test_hosts::run(&cfg);
    let until = |what: &'static str, pred: Box<dyn Fn(&ClusterView) -> bool>| test_hosts::until(&handle, what, pred);
    until("both healthy", Box::new(|v| v.vms.iter().all(|m| m.state == VmState::Healthy))).await;
    // Definitions read, storage read: then fail hv1.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while handle.inventory_len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "the definitions not read in 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.fail_host("hv1").unwrap();
    let view = until(
        "web1 healthy on hv2 and db1 handed to a person",
        Box::new(|v| {
            let w = v.vm("web1").unwrap();
            w.state == VmState::Healthy
                && w.host.as_deref() == Some("hv2")
                && v.vm("db1").unwrap().state == VmState::NeedsOperator
                && v.vm("cache1").unwrap().state == VmState::Healthy
                && v.vm("cache1").unwrap().host.as_deref() != Some("hv1")
        }),
    )
    .await;
    let web1 = view.vm("web1").unwrap();
    let why = web1.placement.as_ref().unwrap().summary();
    assert!(why.contains("not hv3: disk /nfs/web1.qcow2 is on no storage pool of this host"), "{why}");
    let db1 = view.vm("db1").unwrap();
    assert!(db1.reason.starts_with("not recoverable elsewhere"), "{}", db1.reason);
    assert!(db1.reason.contains("disk /local/hv1/db1.qcow2 is on no storage pool"), "{}", db1.reason);
    assert!(db1.reason.ends_with("reinstall not allowed by policy"), "{}", db1.reason);
    // A disk that no pool knows of cannot be judged: cache1 went where there was most room.
    assert_eq!(cluster.running_domains("hv3").unwrap(), vec!["cache1".to_string()]);
    let _ = stop.send(());
}
