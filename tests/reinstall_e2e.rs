//! Reinstall from scratch end to end on libvirt test-driver hosts: the disk really is made anew
//! from the golden image through libvirt's storage API (checked through libvirt), the VM keeps
//! its UUID and MAC, a VM whose disk died with its host is reinstalled only where the golden
//! image is, a seed the test driver cannot take is refused with nothing changed, and a
//! reinstall cut short by a stop of 3RC is finished by the next run without redoing its steps.

#[path = "support/test_hosts.rs"]
mod test_hosts;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use test_hosts::host;
use threerc::backend::demo::DemoCluster;
use threerc::config::Config;
use threerc::core::{Action, ActionKind, ClusterView, Command, Decider, VmState};
use threerc::hv::{Domains, Hypervisor, Volumes};
use threerc::supervisor::SupervisorHandle;

const MAC: &str = "52:54:00:3c:00:01";
const UUID: &str = "3c0e0000-0000-4000-8000-0000000000a1";

fn domain(name: &str, pool: &str, vol: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>{UUID}</uuid><memory unit='GiB'>1</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os><devices><disk type='volume' device='disk'><source pool='{pool}' volume='{vol}'/>\
         <target dev='vda'/></disk><interface type='network'><mac address='{MAC}'/><source network='default'/></interface>\
         </devices></domain>"
    )
}

/// A pool at `/pools/NAME` and its volumes, each `(name, GiB)`.
fn pool(name: &str, volumes: &[(&str, u64)]) -> String {
    test_hosts::pool(name, &format!("/pools/{name}"), volumes)
}

/// hv1 running web1 on `vms/web1.qcow2` (the old disk, 10 GiB), the golden image beside it.
fn hv1_with_web1() -> String {
    host(
        8,
        &format!(
            "{}{}{}",
            domain("web1", "vms", "web1.qcow2"),
            pool("golden", &[("base.qcow2", 2)]),
            pool("vms", &[("web1.qcow2", 10)])
        ),
    )
}

const TEMPLATE: &str = "<domain type='test'><memory unit='GiB'>1</memory><vcpu>1</vcpu><os><type>hvm</type></os>\
    <devices><disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='vms' volume='web1.qcow2'/>\
    <target dev='vda'/></disk><interface type='network'><source network='default'/></interface></devices></domain>";

struct Run {
    cluster: Arc<DemoCluster>,
    handle: SupervisorHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// Hosts `(name, xml)`, the VM web1 with `vm_extra` under `[[vm]]` and `reinstall_extra`
/// under `[vm.reinstall]`; `prepare` may write into the state folder before the start.
fn start(hosts: &[(&str, String)], vm_extra: &str, reinstall_extra: &str, prepare: impl FnOnce(&Path)) -> Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("web1.xml"), TEMPLATE).unwrap();
    let mut cfg = String::from(
        "state_dir = \"state\"\n[quorum]\nwitnesses = []\n[defaults]\ninterval = \"100ms\"\nmin_uptime = \"300ms\"\nprobe_timeout = \"2s\"\n",
    );
    for (name, xml) in hosts {
        std::fs::write(dir.path().join(format!("{name}.xml")), xml).unwrap();
        cfg.push_str(&format!(
            "[[host]]\nname = \"{name}\"\nuri = \"test://{{config_dir}}/{name}.xml\"\nfence = {{ agent = \"demo\" }}\n"
        ));
    }
    let golden = if reinstall_extra.contains("clone") {
        "pool = \"vms\"\nvolume = \"gold.qcow2\""
    } else {
        "pool = \"golden\"\nvolume = \"base.qcow2\""
    };
    cfg.push_str(&format!(
        "[[vm]]\nname = \"web1\"\n{vm_extra}\n[vm.reinstall]\n{golden}\ntemplate = \"web1.xml\"\n{reinstall_extra}\n"
    ));
    let path = dir.path().join("c.toml");
    let cfg = Config::parse(&cfg, &path).unwrap();
    prepare(&dir.path().join("state"));
    let (cluster, handle, stop) = test_hosts::run(&cfg);
    Run { cluster, handle, stop: Some(stop), _dir: dir }
}

impl Run {
    async fn until(&self, what: &str, pred: impl Fn(&ClusterView) -> bool) -> ClusterView {
        test_hosts::until(&self.handle, what, pred).await
    }

    fn hv(&self, host: &str) -> impl Hypervisor {
        self.cluster.hypervisor(host).unwrap()
    }

    fn events(&self) -> Vec<String> {
        let path = self._dir.path().join("state/journal.db");
        threerc::store::read_events(&path).unwrap().into_iter().map(|(_, _, t)| t).collect()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn healthy(v: &ClusterView) -> bool {
    v.vm("web1").is_some_and(|m| m.state == VmState::Healthy)
}

const GIB: u64 = 1024 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_reinstall_makes_the_disk_anew_from_golden_and_keeps_uuid_and_mac() {
    let hv1 = hv1_with_web1();
    let run = start(&[("hv1", hv1)], "", "", |_| {});
    run.until("web1 healthy", healthy).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while run.handle.domain_xml("web1").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "web1's definition not read in 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let old = run.hv("hv1").volume("vms", "web1.qcow2").unwrap().unwrap();
    assert_eq!((old.capacity, old.backing.clone()), (10 * GIB, None));
    run.handle.command("cli:root (uid 0)", Command::Reinstall { vm: "web1".into() }).await.unwrap();
    // Acknowledged means journaled: a `kill -9` right now would leave the next run a reinstall
    // to resume, not a command it never heard of.
    let actions = threerc::store::read_actions(&run._dir.path().join("state/journal.db")).unwrap();
    assert!(
        actions.iter().any(|(what, who, _)| what == "reinstall web1 on hv1" && who == "operator cli:root (uid 0)"),
        "the intent is on disk when the command is acknowledged: {actions:?}"
    );
    run.until("web1 reinstalling", |v| v.vm("web1").unwrap().state == VmState::Reinstalling).await;
    let view = run.until("web1 healthy again", healthy).await;
    let web1 = view.vm("web1").unwrap();
    assert_eq!(web1.host.as_deref(), Some("hv1"));
    let mut hv = run.hv("hv1");
    let golden = hv.volume("golden", "base.qcow2").unwrap().unwrap();
    let disk = hv.volume("vms", "web1.qcow2").unwrap().unwrap();
    assert_eq!(disk.format.as_deref(), Some("qcow2"));
    assert_eq!(disk.backing.as_deref(), Some(golden.path.as_str()), "an overlay on the golden image");
    assert_eq!(disk.capacity, 2 * GIB, "the golden image's size, not the old disk's");
    let xml = hv.domain_xml("web1").unwrap();
    assert!(xml.contains(UUID), "UUID kept: {xml}");
    assert!(xml.contains(MAC), "MAC kept: {xml}");
    assert!(xml.contains("volume='web1.qcow2'"), "{xml}");
    let log = run.events().join("\n");
    assert!(log.contains("reinstall web1 on hv1 (operator cli:root (uid 0))"), "{log}");
    assert!(log.contains("Reinstalling -> Probation: reinstall web1 on hv1 done: running from a fresh disk"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_is_a_full_copy() {
    // The test driver clones only within one pool: the golden image sits beside the disks.
    let hv1 = host(8, &format!("{}{}", domain("web1", "vms", "web1.qcow2"), pool("vms", &[("gold.qcow2", 2)])));
    let run = start(&[("hv1", hv1)], "", "mode = \"clone\"", |_| {});
    run.until("web1 healthy", healthy).await;
    run.handle.command("console:alice", Command::Reinstall { vm: "web1".into() }).await.unwrap();
    run.until("web1 reinstalling", |v| v.vm("web1").unwrap().state == VmState::Reinstalling).await;
    run.until("web1 healthy again", healthy).await;
    let disk = run.hv("hv1").volume("vms", "web1.qcow2").unwrap().unwrap();
    assert_eq!((disk.capacity, disk.backing), (2 * GIB, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_the_test_driver_cannot_take_is_refused_before_anything_changes() {
    let hv1 = hv1_with_web1();
    let run = start(&[("hv1", hv1)], "", "[vm.reinstall.seed]\nhostname = \"web1\"", |_| {});
    run.until("web1 healthy", healthy).await;
    run.handle.command("console:alice", Command::Reinstall { vm: "web1".into() }).await.unwrap();
    let view = run.until("web1 handed to a person", |v| v.vm("web1").unwrap().state == VmState::NeedsOperator).await;
    let why = &view.vm("web1").unwrap().reason;
    assert!(why.contains("cannot take the cloud-init seed") && why.ends_with("nothing was changed"), "{why}");
    let disk = run.hv("hv1").volume("vms", "web1.qcow2").unwrap().unwrap();
    assert_eq!(disk.capacity, 10 * GIB, "the old disk is untouched");
    assert_eq!(run.cluster.running_domains("hv1").unwrap(), vec!["web1".to_string()], "still running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_whose_disk_died_with_its_host_is_reinstalled_where_the_golden_image_is() {
    // hv1 runs web1 on its local pool; hv2 has the most room but no golden image; hv3 has it.
    let hv1 = hv1_with_web1();
    let hv2 = host(64, &pool("vms", &[]));
    let hv3 = host(8, &format!("{}{}", pool("golden", &[("base.qcow2", 2)]), pool("vms", &[])));
    let run = start(&[("hv1", hv1), ("hv2", hv2), ("hv3", hv3)], "policy = { reinstall = true }", "", |_| {});
    run.until("web1 healthy", healthy).await;
    // Its definition read, every host's storage read: then hv1 dies.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while run.handle.domain_xml("web1").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "web1's definition not read in 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.cluster.fail_host("hv1").unwrap();
    let view =
        run.until("web1 healthy on hv3", |v| healthy(v) && v.vm("web1").unwrap().host.as_deref() == Some("hv3")).await;
    let log = run.events().join("\n");
    assert!(log.contains("not recoverable elsewhere"), "{log}");
    assert!(log.contains("not hv2: golden image golden/base.qcow2 is on no storage pool of this host"), "{log}");
    assert!(log.contains("reinstall web1 on hv3 (policy: ladder step 3, its disks are gone with its host)"), "{log}");
    assert_eq!(view.vm("web1").unwrap().host.as_deref(), Some("hv3"));
    let mut hv = run.hv("hv3");
    let disk = hv.volume("vms", "web1.qcow2").unwrap().unwrap();
    assert_eq!(disk.backing, Some("/pools/golden/base.qcow2".to_string()));
    let xml = hv.domain_xml("web1").unwrap();
    assert!(xml.contains(UUID) && xml.contains(MAC), "identity kept on the new host: {xml}");
    assert!(run.cluster.running_domains("hv2").unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reinstall_cut_short_by_a_stop_of_3rc_is_finished_without_redoing_its_steps() {
    // The earlier run had stopped web1 and made its new disk (3 GiB here, so that a second
    // disk step would show: the golden image is 2 GiB), then was killed before defining it.
    let hv1 = host(
        8,
        &format!(
            "{}{}{}",
            domain("web1", "vms", "web1.qcow2").replace(
                "<os>",
                "<test:runstate xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>5</test:runstate><os>"
            ),
            pool("golden", &[("base.qcow2", 2)]),
            pool("vms", &[("web1.qcow2", 3)])
        ),
    );
    let run = start(&[("hv1", hv1)], "", "", |state| {
        let state = state.to_path_buf();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        std::thread::spawn(move || {
            rt.block_on(async move {
                let (j, _, _) = threerc::store::Journal::open(&state.join("journal.db")).unwrap();
                let kind = ActionKind::Reinstall { vm: "web1".into(), host: "hv1".into() };
                let a = Action { id: 7, kind, decided_by: Decider::Operator("cli:root (uid 0)".into()) };
                j.intent(&a).await.unwrap();
                j.step(7, "stop").await.unwrap();
                j.step(7, "disk").await.unwrap();
            })
        })
        .join()
        .unwrap();
    });
    run.until("web1 healthy", healthy).await;
    let disk = run.hv("hv1").volume("vms", "web1.qcow2").unwrap().unwrap();
    assert_eq!(disk.capacity, 3 * GIB, "the disk made by the earlier run was kept, not made again");
    assert_eq!(run.cluster.running_domains("hv1").unwrap(), vec!["web1".to_string()]);
    let log = run.events().join("\n");
    assert!(
        log.contains("resume of an interrupted reinstall (operator cli:root (uid 0); steps done: stop, disk)"),
        "{log}"
    );
}
