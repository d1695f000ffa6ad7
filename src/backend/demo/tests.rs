//! The demo cluster over real test-driver hosts: what the supervisor would see through
//! `FaultyHost`, and what is really running behind it.

use super::*;
use crate::backend::libvirt::LibvirtHost;
use crate::core::DomState;
use crate::hv::{Domains, HvError, Hypervisor};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn domain(name: &str, runstate: Option<u32>) -> String {
    let runstate = runstate.map(|s| format!("<test:runstate>{s}</test:runstate>")).unwrap_or_default();
    format!(
        "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
           <name>{name}</name><memory unit='GiB'>1</memory><vcpu>1</vcpu>
           <os><type>hvm</type></os>{runstate}</domain>"
    )
}

/// hv1: web1, db1 running, ci1 shut off; hv2: web2 and build1 (never protected) running; hv3:
/// empty.
pub(crate) fn fixture() -> (tempfile::TempDir, Arc<DemoCluster>) {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("no temp dir: {e}"),
    };
    let hosts = [
        ("hv1", vec![domain("web1", None), domain("db1", None), domain("ci1", Some(5))]),
        ("hv2", vec![domain("web2", None), domain("build1", None)]),
        ("hv3", vec![]),
    ];
    let mut list: Vec<(String, Box<dyn Hypervisor>)> = Vec::new();
    for (name, domains) in hosts {
        let path = dir.path().join(format!("{name}.xml"));
        let xml = format!(
            "<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>2</threads>
               <active>8</active><mhz>2400</mhz><model>x86_64</model></cpu>
               <memory>16777216</memory>{}</node>",
            domains.concat()
        );
        if let Err(e) = std::fs::write(&path, xml) {
            panic!("cannot write {}: {e}", path.display());
        }
        list.push((name.to_string(), Box::new(LibvirtHost::new(format!("test://{}", path.display())))));
    }
    (dir, DemoCluster::new(list))
}

fn faulty(c: &Arc<DemoCluster>, host: &str) -> FaultyHost {
    match c.hypervisor(host) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

fn states(h: &mut FaultyHost) -> Vec<(String, DomState)> {
    match h.probe() {
        Ok(p) => p.domains.into_iter().map(|d| (d.name, d.state)).collect(),
        Err(e) => panic!("probe of {} failed: {e}", h.host()),
    }
}

fn running(c: &DemoCluster, host: &str) -> Vec<String> {
    match c.running_domains(host) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_failed_host_is_unreachable_while_its_vms_keep_running() {
    let (_d, c) = fixture();
    let mut hv1 = faulty(&c, "hv1");
    assert_eq!(states(&mut hv1).len(), 3);
    assert_eq!(c.fail_host("hv1"), Ok(()));
    assert_eq!(c.power("hv1"), Ok(Power::Failed));
    assert_eq!(hv1.probe(), Err(HvError::Unreachable("connection to hv1 lost (injected)".into())));
    assert!(matches!(hv1.start("ci1"), Err(HvError::Unreachable(_))));
    assert!(matches!(hv1.destroy("web1"), Err(HvError::Unreachable(_))));
    // The split-brain trap: both VMs still run behind the failed connection.
    assert_eq!(running(&c, "hv1"), vec!["db1".to_string(), "web1".to_string()]);
    // Other hosts are unaffected.
    assert_eq!(
        states(&mut faulty(&c, "hv2")),
        vec![("build1".to_string(), DomState::Running), ("web2".to_string(), DomState::Running)]
    );
}

#[test]
fn power_off_leaves_nothing_running_and_power_on_brings_the_vms_back_shut_off() {
    let (_d, c) = fixture();
    let mut hv1 = faulty(&c, "hv1");
    assert_eq!(c.fail_host("hv1"), Ok(()));
    assert_eq!(c.power_off("hv1"), Ok(()));
    assert_eq!(c.power("hv1"), Ok(Power::Off));
    assert!(running(&c, "hv1").is_empty());
    assert!(matches!(hv1.probe(), Err(HvError::Unreachable(m)) if m.contains("powered off")));
    // Powering off twice is fine (a fence agent may be asked again).
    assert_eq!(c.power_off("hv1"), Ok(()));
    // A failed or off host cannot be failed again into something else.
    assert_eq!(c.fail_host("hv1"), Err(DemoError::HostOff("hv1".into())));

    assert_eq!(c.power_on("hv1"), Ok(()));
    assert_eq!(
        states(&mut hv1),
        vec![
            ("ci1".to_string(), DomState::ShutOff),
            ("db1".to_string(), DomState::ShutOff),
            ("web1".to_string(), DomState::ShutOff),
        ]
    );
    // Still defined: they can be started again.
    assert_eq!(hv1.start("web1"), Ok(()));
}

#[test]
fn crash_vm_kills_one_running_vm_and_explains_refusals() {
    let (_d, c) = fixture();
    let mut hv1 = faulty(&c, "hv1");
    assert_eq!(c.crash_vm("hv1", "web1"), Ok(()));
    assert_eq!(running(&c, "hv1"), vec!["db1".to_string()]);
    assert!(states(&mut hv1).contains(&("web1".to_string(), DomState::ShutOff)));
    assert_eq!(c.crash_vm("hv1", "ci1"), Err(DemoError::NotRunning { host: "hv1".into(), vm: "ci1".into() }));
    assert_eq!(c.crash_vm("hv9", "web1"), Err(DemoError::UnknownHost("hv9".into())));
    assert!(c.crash_vm("hv1", "nope").is_err());
    assert_eq!(c.power_off("hv2"), Ok(()));
    assert_eq!(c.crash_vm("hv2", "web2"), Err(DemoError::HostOff("hv2".into())));
    assert_eq!(c.crash_vm("hv1", "web1").map_err(|e| e.to_string()), Err("web1 is not running on hv1".into()));
}

#[test]
fn unknown_hosts_are_errors_not_panics() {
    let (_d, c) = fixture();
    assert!(c.hypervisor("hv9").is_err());
    assert_eq!(c.power("hv9"), Err(DemoError::UnknownHost("hv9".into())));
    assert_eq!(c.fail_host("hv9"), Err(DemoError::UnknownHost("hv9".into())));
    assert_eq!(c.power_off("hv9"), Err(DemoError::UnknownHost("hv9".into())));
    assert_eq!(c.power_on("hv9"), Err(DemoError::UnknownHost("hv9".into())));
    assert_eq!(c.host_names(), vec!["hv1", "hv2", "hv3"]);
}

fn quick(seed: u64, host_failure_one_in: u32) -> InjectorConfig {
    InjectorConfig {
        period_min: Duration::from_millis(1),
        period_max: Duration::from_millis(3),
        poll: Duration::from_millis(1),
        host_failure_one_in,
        ..InjectorConfig::new(seed, vec!["web1".into(), "db1".into(), "web2".into()])
    }
}

fn spawn(c: &Arc<DemoCluster>, config: InjectorConfig, enabled: bool) -> FaultInjector {
    match FaultInjector::spawn(Arc::clone(c), config, Arc::new(AtomicBool::new(enabled))) {
        Ok(i) => i,
        Err(e) => panic!("cannot spawn: {e}"),
    }
}

/// Wait until `done` holds (or give up after 5 s, returning false).
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Run an injector until nothing is left for it to do: a host has failed (so no other may) and
/// no protected VM runs on a reachable host.
fn run_to_the_end(seed: u64) -> (Vec<Injection>, Arc<DemoCluster>, tempfile::TempDir) {
    let (d, c) = fixture();
    let mut inj = spawn(&c, quick(seed, 4), true);
    let protected = ["web1", "db1", "web2"];
    let finished = wait_for(|| {
        let hosts = c.host_names();
        let some_failed = hosts.iter().any(|h| c.power(h) == Ok(Power::Failed));
        let nothing_to_crash = hosts
            .iter()
            .filter(|h| c.power(h) == Ok(Power::On))
            .all(|h| c.running_domains(h).is_ok_and(|vms| vms.iter().all(|vm| !protected.contains(&vm.as_str()))));
        some_failed && nothing_to_crash
    });
    // Stopping waits for an injection in flight, so the history is complete afterwards.
    inj.stop();
    assert!(finished, "injector never finished: {:?}", inj.injections());
    (inj.injections(), c, d)
}

#[test]
fn the_injector_is_deterministic_for_a_seed_and_only_touches_protected_vms() {
    let (a, cluster, _d1) = run_to_the_end(42);
    let (b, _, _d2) = run_to_the_end(42);
    assert_eq!(a, b, "same seed, same cluster: same faults");
    assert!(!a.is_empty());
    let failed_hosts = a.iter().filter(|i| matches!(i, Injection::FailHost { .. })).count();
    assert!(failed_hosts <= 1, "more than one host failed: {a:?}");
    for i in &a {
        match i {
            Injection::CrashVm { host, vm } => {
                assert_ne!(vm, "build1", "an unprotected VM was crashed");
                assert!(!running(&cluster, host).contains(vm), "{vm} still runs on {host}");
            }
            Injection::FailHost { host } => assert_eq!(cluster.power(host), Ok(Power::Failed)),
            Injection::PowerOn { .. } => panic!("nothing was fenced, nothing to power on: {a:?}"),
        }
    }
    // Nothing left to crash on reachable hosts.
    for host in cluster.host_names() {
        if cluster.power(&host) == Ok(Power::On) {
            assert!(running(&cluster, &host).iter().all(|vm| vm == "build1"));
        }
    }
}

#[test]
fn a_disabled_injector_injects_nothing() {
    let (_d, c) = fixture();
    let mut inj = spawn(&c, quick(7, 4), false);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(inj.injections(), vec![]);
    assert_eq!(running(&c, "hv1").len(), 2);
    // Enabling it through the shared flag starts the faults.
    inj.enabled().store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(wait_for(|| !inj.injections().is_empty()));
    inj.stop();
}

#[test]
fn a_fenced_host_is_powered_back_on_later_and_only_one_host_fails_at_a_time() {
    let (_d, c) = fixture();
    let mut config = quick(3, 1); // always a host failure when every host is on
    config.power_on_after = Duration::from_millis(50);
    let mut inj = spawn(&c, config, true);
    assert!(wait_for(|| !inj.injections().is_empty()));
    let Some(Injection::FailHost { host }) = inj.injections().first().cloned() else {
        panic!("expected a host failure first: {:?}", inj.injections());
    };
    // Meanwhile no second host fails: injections go to VM crashes.
    std::thread::sleep(Duration::from_millis(30));
    let failed = c.host_names().into_iter().filter(|h| c.power(h) == Ok(Power::Failed)).count();
    assert_eq!(failed, 1);
    // The supervisor fences it...
    assert_eq!(c.power_off(&host), Ok(()));
    // ...and the injector brings it back.
    assert!(wait_for(|| inj.injections().contains(&Injection::PowerOn { host: host.clone() })));
    assert_ne!(c.power(&host), Ok(Power::Off));
    inj.stop();
}
