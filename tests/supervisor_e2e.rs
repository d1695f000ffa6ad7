//! The supervisor end to end on several libvirt test-driver hosts (the demo cluster), with
//! faults injected at the backend boundary. A monitor thread reads the ground truth (what each
//! test-driver host really runs) all along and records any VM active on two hosts at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use threerc::backend::demo::DemoCluster;
use threerc::config::Config;
use threerc::core::{ClusterView, Command, Event, EventKind, HostState, VmState};
use threerc::supervisor::SupervisorHandle;

#[path = "support/test_hosts.rs"]
#[allow(dead_code)] // the host-file builders serve other test binaries
mod test_hosts;

/// The demo cluster's config with a fast loop: 100 ms cycles, 300 ms minimum uptime.
fn config() -> Config {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let text = std::fs::read_to_string(dir.join("cluster.toml")).expect("demo config");
    let text = text
        .replace("interval = \"1s\"", "interval = \"100ms\"")
        .replace("min_uptime = \"8s\"", "min_uptime = \"300ms\"");
    Config::parse(&text, &dir.join("cluster.toml")).expect("valid config")
}

/// A temporary folder with a `state` folder in it for the journal (kept while the folder is).
fn state_folder() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    (dir, state)
}

/// The demo config with a journal in `state`.
fn with_state(state: &Path) -> Config {
    let mut cfg = config();
    cfg.state_dir = Some(state.to_path_buf());
    cfg
}

struct Harness {
    cluster: Arc<DemoCluster>,
    handle: SupervisorHandle,
    /// Every event so far, taken off `rx` when read (`events`).
    seen: Mutex<Vec<Event>>,
    rx: Mutex<tokio::sync::broadcast::Receiver<Event>>,
    violations: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Harness {
    fn start() -> Harness {
        Harness::start_with(config())
    }

    fn start_with(cfg: Config) -> Harness {
        threerc::backend::libvirt::init();
        let cluster = DemoCluster::from_specs(&cfg.cluster.hosts);
        Harness::start_on(cfg, cluster)
    }

    /// A supervisor on an existing demo cluster (a restart of 3RC: the hosts run on).
    fn start_on(cfg: Config, cluster: Arc<DemoCluster>) -> Harness {
        // Subscribed before the supervisor starts: the first cycle's events are not missed.
        let mut rx = None;
        let (handle, tx, task) = test_hosts::supervise(&cfg, &cluster, |handle| rx = Some(handle.events()));
        let rx = Mutex::new(rx.expect("subscribed"));
        let violations = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, v, s) = (cluster.clone(), violations.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for h in c.host_names() {
                    for vm in c.running_domains(&h).unwrap_or_default() {
                        seen.entry(vm).or_default().push(h.clone());
                    }
                }
                for (vm, hosts) in seen {
                    if hosts.len() > 1 {
                        v.lock().unwrap().push(format!("{vm} active on {hosts:?}"));
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Harness { cluster, handle, seen: Mutex::default(), rx, violations, stop, shutdown: Some(tx), task: Some(task) }
    }

    /// Wait until `pred` holds on a snapshot; fail with the event log if it does not in time.
    async fn until(&self, what: &str, pred: impl Fn(&ClusterView) -> bool) -> ClusterView {
        test_hosts::until_within(&self.handle, what, Duration::from_secs(30), pred, |_| self.log()).await
    }

    /// Every event so far: the supervisor sends a cycle's events before its snapshot, so they
    /// include every event up to the last snapshot seen (the channel holds 4096: plenty here).
    fn events(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        let mut seen = self.seen.lock().unwrap();
        let mut rx = self.rx.lock().unwrap();
        loop {
            match rx.try_recv() {
                Ok(ev) => seen.push(ev),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => panic!("{n} events missed"),
                Err(_) => break,
            }
        }
        seen
    }

    fn log(&self) -> String {
        self.events().iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
    }

    /// What `pick` takes from each event, in order (transitions of one VM or host).
    fn path<T>(&self, pick: impl Fn(&Event) -> Option<T>) -> Vec<T> {
        self.events().iter().filter_map(pick).collect()
    }

    fn vm_path(&self, vm: &str) -> Vec<VmState> {
        self.path(|e| match (&e.subject, &e.kind) {
            (threerc::core::Subject::Vm(v), EventKind::VmTransition { to, .. }) if v == vm => Some(*to),
            _ => None,
        })
    }

    fn host_path(&self, host: &str) -> Vec<HostState> {
        self.path(|e| match (&e.subject, &e.kind) {
            (threerc::core::Subject::Host(h), EventKind::HostTransition { to, .. }) if h == host => Some(*to),
            _ => None,
        })
    }

    /// Hosts each VM really runs on (ground truth).
    fn truth(&self) -> BTreeMap<String, Vec<String>> {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for h in self.cluster.host_names() {
            for vm in self.cluster.running_domains(&h).unwrap_or_default() {
                seen.entry(vm).or_default().push(h.clone());
            }
        }
        seen
    }

    /// As `finish`, and wait until the supervisor has stopped (its state folder is free).
    async fn finish_and_wait(mut self) {
        let task = self.task.take();
        self.finish();
        if let Some(t) = task {
            t.await.expect("the supervisor task");
        }
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let v = self.violations.lock().unwrap();
        assert!(v.is_empty(), "a VM ran on two hosts: {v:?}\n{}", self.log());
    }
}

fn all_healthy(v: &ClusterView) -> bool {
    v.vms.iter().all(|vm| vm.state == VmState::Healthy)
}

impl Harness {
    /// Every VM healthy and its definition in the inventory.
    async fn settled(&self) {
        self.until("every VM healthy", all_healthy).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.handle.inventory_len() < 9 {
            assert!(tokio::time::Instant::now() < deadline, "inventory incomplete\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_vm_is_restarted_in_place() {
    let h = Harness::start();
    h.settled().await;
    h.cluster.crash_vm("hv1", "web1").unwrap();
    let view = h
        .until("web1 restarted and healthy", |v| {
            let w = v.vm("web1").unwrap();
            w.state == VmState::Healthy && w.restarts_in_window == 1
        })
        .await;
    assert_eq!(view.vm("web1").unwrap().host.as_deref(), Some("hv1"));
    let path = h.vm_path("web1");
    let tail: Vec<_> = path.iter().skip_while(|s| **s != VmState::Suspect).copied().collect();
    assert_eq!(tail, vec![VmState::Suspect, VmState::Restarting, VmState::Probation, VmState::Healthy], "{}", h.log());
    assert_eq!(h.truth()["web1"], vec!["hv1".to_string()]);
    h.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_host_is_fenced_and_its_vms_relocated_with_capacity_and_anti_affinity() {
    let h = Harness::start();
    h.settled().await;
    let on_hv1: BTreeSet<String> =
        h.truth().into_iter().filter(|(_, hs)| hs == &["hv1".to_string()]).map(|(vm, _)| vm).collect();
    assert_eq!(on_hv1, BTreeSet::from(["build1".into(), "db1".into(), "web1".into()]));
    // The connection is lost but the VMs keep running: the split-brain trap.
    h.cluster.fail_host("hv1").unwrap();
    let view = h
        .until("hv1's VMs healthy elsewhere", |v| {
            on_hv1.iter().all(|n| {
                let vm = v.vm(n).unwrap();
                vm.state == VmState::Healthy && vm.host.as_deref() != Some("hv1")
            })
        })
        .await;
    assert_eq!(
        h.host_path("hv1"),
        vec![HostState::Online, HostState::Suspect, HostState::Down, HostState::Fencing, HostState::Fenced],
        "{}",
        h.log()
    );
    for vm in &on_hv1 {
        let path = h.vm_path(vm);
        let tail: Vec<_> = path.iter().skip_while(|s| **s != VmState::AwaitingFence).copied().collect();
        assert_eq!(
            tail,
            vec![VmState::AwaitingFence, VmState::Relocating, VmState::Probation, VmState::Healthy],
            "{vm}: {}",
            h.log()
        );
    }
    // Each runs exactly once, where the supervisor says, and hosts are not over capacity.
    let truth = h.truth();
    for vm in &on_hv1 {
        assert_eq!(truth[vm].len(), 1, "{vm}: {truth:?}");
        assert_eq!(Some(truth[vm][0].as_str()), view.vm(vm).unwrap().host.as_deref());
    }
    for host in &view.hosts {
        if let Some(cap) = host.capacity {
            assert!(host.used_memory_kib <= cap.memory_kib, "{} over memory: {host:?}", host.name);
        }
    }
    // Anti-affinity: the web VMs and the db VMs each on distinct hosts.
    for group in ["web", "db"] {
        let hosts: Vec<_> = view
            .vms
            .iter()
            .filter(|v| v.anti_affinity.as_deref() == Some(group))
            .map(|v| truth[&v.name][0].clone())
            .collect();
        let distinct: BTreeSet<_> = hosts.iter().collect();
        assert_eq!(distinct.len(), hosts.len(), "group {group} shares a host: {hosts:?}");
    }
    h.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_host_that_returns_rejoins_after_its_stale_copies_are_removed() {
    let h = Harness::start();
    h.settled().await;
    h.cluster.fail_host("hv4").unwrap();
    h.until("monitor1 healthy elsewhere", |v| {
        let m = v.vm("monitor1").unwrap();
        m.state == VmState::Healthy && m.host.as_deref() != Some("hv4")
    })
    .await;
    h.cluster.power_on("hv4").unwrap();
    h.until("hv4 online", |v| v.host("hv4").unwrap().state == HostState::Online).await;
    assert_eq!(h.host_path("hv4").last(), Some(&HostState::Online));
    assert!(h.host_path("hv4").contains(&HostState::Rejoining));
    // The stale definition of monitor1 on hv4 is gone; it runs once, elsewhere.
    assert_eq!(h.truth()["monitor1"].len(), 1);
    assert!(h.log().contains("destroy and undefine stale monitor1 on hv4"), "{}", h.log());
    h.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_migration_moves_the_vm_cold_on_the_test_driver() {
    let h = Harness::start();
    h.settled().await;
    let refused = h.handle.command("test:op", Command::Migrate { vm: "web1".into(), to: "hv2".into() }).await;
    assert!(refused.unwrap_err().contains("anti-affinity group web already has a VM here"));
    h.handle.command("test:op", Command::Migrate { vm: "web1".into(), to: "hv4".into() }).await.unwrap();
    h.until("web1 healthy on hv4", |v| {
        let w = v.vm("web1").unwrap();
        w.state == VmState::Healthy && w.host.as_deref() == Some("hv4")
    })
    .await;
    assert_eq!(h.truth()["web1"], vec!["hv4".to_string()]);
    assert!(h.log().contains("migrate web1 from hv1 to hv4 (operator test:op)"), "{}", h.log());
    h.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_stop_is_never_undone() {
    let h = Harness::start();
    h.settled().await;
    h.handle.command("test:op", Command::Stop { vm: "mail1".into() }).await.unwrap();
    h.until("mail1 stopped", |v| v.vm("mail1").unwrap().state == VmState::Stopped).await;
    // Twenty more cycles: nobody restarts it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!h.truth().contains_key("mail1"));
    assert_eq!(h.vm_path("mail1").last(), Some(&VmState::Stopped));
    h.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_step_of_an_operation_under_way_is_published() {
    let h = Harness::start();
    h.settled().await;
    // A slow boot, as on real hardware, so the operation is seen half-way.
    h.cluster.set_latency(Duration::from_millis(800), Duration::ZERO);
    h.cluster.crash_vm("hv2", "mail1").unwrap();
    let view = h
        .until("mail1's restart reports its step", |v| {
            v.vm("mail1").unwrap().progress.as_ref().is_some_and(|p| p.step == "starting on hv2")
        })
        .await;
    let p = view.vm("mail1").unwrap().progress.clone().unwrap();
    assert_eq!(p.done, Some(0.6));
    let view = h.until("mail1 healthy again", |v| v.vm("mail1").unwrap().state == VmState::Healthy).await;
    assert_eq!(view.vm("mail1").unwrap().progress, None, "no step once the operation ended");
    h.finish();
}

/// `unprotect` (as Proxmox's `ha-manager remove`) takes out a VM put under HA at run time: it
/// leaves the view, is left as it is, and the next start does not protect it again. A VM of
/// the configuration file is refused with the way out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_protected_at_run_time_can_be_unprotected_and_stays_out_after_a_restart() {
    let (_dir, state) = state_folder();
    let cfg = || with_state(&state);
    let h = Harness::start_with(cfg());
    h.settled().await;
    let e = h.handle.command("cli:root", Command::Unprotect { vm: "web1".into() }).await.unwrap_err();
    assert!(e.contains("web1 was not put under HA at run time") && e.contains("[[vm]] entry is removed"), "{e}");
    let spec = cfg().protect_spec("ci-runner1", &[]).unwrap();
    h.handle.command("cli:root", Command::Protect { spec: Box::new(spec) }).await.unwrap();
    h.until("ci-runner1 protected", |v| v.vm("ci-runner1").is_some()).await;
    h.handle.command("cli:root", Command::Unprotect { vm: "ci-runner1".into() }).await.unwrap();
    let view = h.until("ci-runner1 out of HA", |v| v.vm("ci-runner1").is_none()).await;
    assert!(view.vms.iter().all(|v| v.name != "ci-runner1"));
    assert!(
        h.log().contains("vm ci-runner1 note: unprotected by cli:root: no longer watched or acted on"),
        "{}",
        h.log()
    );
    h.finish_and_wait().await;

    // The next start reads the journal back (the answer to the command came once it was there).
    let (sup, handle) = {
        let cfg = cfg();
        let cluster = DemoCluster::from_specs(&cfg.cluster.hosts);
        let fencers = threerc::app::fencers(&cfg, Some(&cluster)).expect("fencers");
        threerc::app::assemble(&cfg, Arc::from(cluster.connector()), fencers).expect("assemble")
    };
    let view = handle.snapshots().borrow().clone();
    assert!(view.vms.iter().all(|v| v.name != "ci-runner1"), "protected again after a restart");
    assert_eq!(view.vms.len(), 9);
    drop(sup);
}

/// A fence agent (a real program in the fence-agents convention) that says "off" for a host
/// that answers: its periodic status check catches it, one critical alarm, and when the host
/// then fails its VMs wait for a person instead of being recovered on a liar's word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fence_agent_that_lies_is_caught_by_its_status_check_and_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let agent = dir.path().join("fence_liar");
    // Reads its options and answers "off" (exit 2) to status, whatever the power.
    std::fs::write(&agent, "#!/bin/sh\ncat >/dev/null\nexit 2\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let text = std::fs::read_to_string(cfg_dir.join("cluster.toml"))
        .unwrap()
        .replace("interval = \"1s\"", "interval = \"100ms\"\nfence_check = \"1s\"")
        .replace("min_uptime = \"8s\"", "min_uptime = \"300ms\"")
        .replace(
            "uri = \"test://{config_dir}/hv2.xml\"\nfence = { agent = \"demo\" }",
            &format!("uri = \"test://{{config_dir}}/hv2.xml\"\nfence = {{ agent = \"{}\" }}", agent.display()),
        );
    let cfg = Config::parse(&text, &cfg_dir.join("cluster.toml")).unwrap();
    assert_eq!(cfg.hosts[1].fence.as_ref().unwrap().agent, agent.display().to_string());
    let h = Harness::start_with(cfg);
    h.settled().await;
    h.until("hv2's agent distrusted", |v| {
        v.alarms.iter().any(|a| a.message.contains("fence agent") && a.message.contains("of hv2 is not trusted"))
    })
    .await;
    h.cluster.fail_host("hv2").unwrap();
    let view = h
        .until("hv2 down, its VMs waiting for a person", |v| {
            v.host("hv2").is_some_and(|x| x.state == HostState::Down && x.reason.contains("not trusted"))
        })
        .await;
    for vm in ["db2", "web2", "mail1"] {
        assert_eq!(view.vm(vm).unwrap().state, VmState::AwaitingFence, "{}", h.log());
    }
    let fences = h.path(|e| match &e.kind {
        EventKind::ActionDecided { action, .. } if action.starts_with("fence ") => Some(action.clone()),
        _ => None,
    });
    assert!(fences.is_empty(), "a distrusted agent was used: {fences:?}\n{}", h.log());
    h.finish();
}

/// What operators decided survives a restart of 3RC: a stopped VM stays stopped (never
/// started), a disarmed VM stays disarmed, a host stays in maintenance, the cluster stays
/// disarmed; each is said in the log with who and when, and lifting one is kept too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_decisions_survive_a_restart_of_3rc() {
    let (_dir, state) = state_folder();
    let cfg = || with_state(&state);
    let h = Harness::start_with(cfg());
    h.settled().await;
    let alice = "console:alice";
    h.handle.command(alice, Command::Stop { vm: "db2".into() }).await.unwrap();
    h.until("db2 stopped", |v| v.vm("db2").unwrap().state == VmState::Stopped).await;
    h.handle.command(alice, Command::Disarm { vm: Some("web3".into()) }).await.unwrap();
    h.handle.command(alice, Command::Maintenance { host: "hv4".into(), on: true }).await.unwrap();
    h.handle.command("cli:root", Command::Disarm { vm: None }).await.unwrap();
    let view = h.until("the cluster disarmed", |v| !v.armed).await;
    assert!(view.disarmed_by.as_deref().unwrap().starts_with("disarmed by cli:root at "), "{view:?}");
    assert!(view.vm("db2").unwrap().decided.as_deref().unwrap().starts_with("stopped by console:alice at "));
    let hosts = h.cluster.clone();
    h.finish_and_wait().await;

    let h = Harness::start_on(cfg(), hosts.clone());
    let view = h
        .until("the decisions back", |v| {
            v.vm("db2").is_some_and(|x| x.state == VmState::Stopped)
                && v.vm("web3").is_some_and(|x| x.state == VmState::Unmanaged)
                && !v.armed
        })
        .await;
    assert!(view.host("hv4").unwrap().decided.as_deref().unwrap().starts_with("in maintenance by console:alice at "));
    // Said at start, before anyone could subscribe: read back from the journal.
    let journal = state.join("journal.db");
    let said =
        |line: &str| threerc::store::read_events(&journal).unwrap().iter().any(|(_, _, text)| text.contains(line));
    for line in [
        "cluster note: HA stays disarmed: disarmed by cli:root at ",
        "vm db2 Discovering -> Stopped: stays stopped: stopped by console:alice at ",
        "vm web3 Discovering -> Unmanaged: stays disarmed: disarmed by console:alice at ",
        "host hv4 note: stays in maintenance: put in maintenance by console:alice at ",
    ] {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !said(line) {
            assert!(std::time::Instant::now() < deadline, "not in the journal: {line:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // A while later: nothing started db2, and 3RC decided nothing at all (disarmed).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!h.truth().contains_key("db2"), "db2 was started\n{}", h.log());
    assert!(!h.log().contains("action #"), "{}", h.log());
    // Lifting a decision is kept too.
    h.handle.command("cli:root", Command::Arm { vm: None }).await.unwrap();
    h.handle.command(alice, Command::Start { vm: "db2".into() }).await.unwrap();
    h.until("db2 running again", |v| v.vm("db2").unwrap().state == VmState::Healthy).await;
    h.finish_and_wait().await;

    let h = Harness::start_on(cfg(), hosts);
    let view = h
        .until("every VM but web3 healthy", |v| v.vms.iter().all(|x| x.state == VmState::Healthy || x.name == "web3"))
        .await;
    assert!(view.armed && view.disarmed_by.is_none(), "{view:?}");
    assert!(view.vm("db2").unwrap().decided.is_none());
    assert_eq!(view.vm("web3").unwrap().state, VmState::Unmanaged);
    h.finish_and_wait().await;
}

/// A journal that cannot be read does not leave the cluster without HA: it is moved aside
/// (kept as it was), a new journal is started, a critical alarm says what was lost, and — the
/// operators' decisions being lost with it — a VM found not running is not started, while the
/// running ones stay supervised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_that_cannot_be_read_is_moved_aside_and_supervision_goes_on() {
    let (_dir, state) = state_folder();
    let cfg = || with_state(&state);
    let h = Harness::start_with(cfg());
    h.settled().await;
    h.handle.command("console:alice", Command::Stop { vm: "db2".into() }).await.unwrap();
    h.until("db2 stopped", |v| v.vm("db2").unwrap().state == VmState::Stopped).await;
    let hosts = h.cluster.clone();
    h.finish_and_wait().await;

    // Its header overwritten: not a database any more.
    let journal = state.join("journal.db");
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes[..16].copy_from_slice(b"scribbled over!!");
    std::fs::write(&journal, &bytes).unwrap();

    let h = Harness::start_on(cfg(), hosts.clone());
    let view = h
        .until("db2 kept stopped, the others healthy", |v| {
            v.vm("db2").is_some_and(|x| x.state == VmState::Stopped)
                && v.vms.iter().filter(|x| x.name != "db2").all(|x| x.state == VmState::Healthy)
        })
        .await;
    let alarm = view.alarms.iter().find(|a| a.severity == threerc::core::Severity::Critical).expect("a critical alarm");
    assert!(alarm.message.contains("cannot be read") && alarm.message.contains("moved aside to"), "{}", alarm.message);
    assert!(alarm.message.contains("lost: the inventory, the ladder's windows"), "{}", alarm.message);
    let db2 = view.vm("db2").unwrap();
    assert!(db2.reason.contains("journal with the operators' decisions was lost"), "{}", db2.reason);
    assert!(db2.decided.as_deref().unwrap().starts_with("stopped by 3rc (the journal"), "{:?}", db2.decided);
    // Kept byte for byte beside the new journal, named with the time.
    let aside: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("journal.db.damaged-"))
        .collect();
    let main = aside.iter().find(|p| !p.to_string_lossy().ends_with("-wal") && !p.to_string_lossy().ends_with("-shm"));
    assert_eq!(std::fs::read(main.expect("moved aside")).unwrap(), bytes);
    // The new journal keeps this run, and the inventory is rebuilt from what the hosts report.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while threerc::store::inventory_count(&journal).unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "the inventory was not rebuilt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!h.truth().contains_key("db2"), "db2 was started\n{}", h.log());
    h.finish_and_wait().await;

    // The next restart keeps db2 stopped (a decision like any other) and raises nothing new.
    let h = Harness::start_on(cfg(), hosts);
    let view = h.until("db2 stays stopped", |v| v.vm("db2").is_some_and(|x| x.state == VmState::Stopped)).await;
    assert!(view.vm("db2").unwrap().reason.contains("stays stopped: stopped by 3rc (the journal"));
    h.finish_and_wait().await;
}
