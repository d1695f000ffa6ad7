//! Behaviour of `LibvirtHost` against libvirt's embedded test driver (no daemon needed): each
//! test writes its own host file, so tests are independent and can run in parallel.

use super::LibvirtHost;
use std::path::PathBuf;
use threerc_core::{DomState, DomainObs};
use threerc_hv::{Domains, HvError, MigrateTo, Target, Volumes};

const GIB: u64 = 1024 * 1024;

fn domain(name: &str, vcpus: u32, mem_gib: u64, runstate: Option<u32>) -> String {
    let runstate = runstate.map(|s| format!("<test:runstate>{s}</test:runstate>")).unwrap_or_default();
    format!(
        "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
           <name>{name}</name><memory unit='GiB'>{mem_gib}</memory>
           <currentMemory unit='MiB'>512</currentMemory>
           <vcpu>{vcpus}</vcpu><os><type>hvm</type></os>{runstate}</domain>"
    )
}

/// A host file with 12 threads (1 node x 1 socket x 6 cores x 2 threads), 24 GiB and the domains.
fn host_file(dir: &tempfile::TempDir, domains: &[String]) -> PathBuf {
    let path = dir.path().join("host.xml");
    let xml = format!(
        "<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>6</cores><threads>2</threads>
           <active>12</active><mhz>2400</mhz><model>x86_64</model></cpu>
           <memory>{}</memory>{}</node>",
        24 * GIB,
        domains.concat()
    );
    if let Err(e) = std::fs::write(&path, xml) {
        panic!("cannot write test host file: {e}");
    }
    path
}

fn tmp() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("no temp dir: {e}"),
    }
}

fn host(domains: &[String]) -> (tempfile::TempDir, LibvirtHost) {
    let dir = tmp();
    let path = host_file(&dir, domains);
    (dir, LibvirtHost::new(format!("test://{}", path.display())))
}

fn standard() -> (tempfile::TempDir, LibvirtHost) {
    host(&[
        domain("web1", 2, 2, None),
        domain("db1", 4, 8, None),
        domain("batch1", 1, 1, Some(3)), // paused
        domain("ci1", 4, 4, Some(5)),    // shut off
    ])
}

fn state_of(h: &mut LibvirtHost, vm: &str) -> Option<DomState> {
    h.probe().ok()?.domains.into_iter().find(|d| d.name == vm).map(|d| d.state)
}

#[test]
fn probe_reports_capacity_and_every_domain_with_state_and_size() {
    let (_dir, mut h) = standard();
    let p = h.probe();
    let Ok(p) = p else { panic!("probe failed: {p:?}") };
    assert_eq!(p.capacity.cpus, 12);
    assert_eq!(p.capacity.memory_kib, 24 * GIB);
    let obs = |name: &str, state, vcpus, gib: u64| DomainObs { name: name.into(), state, vcpus, memory_kib: gib * GIB };
    // Sorted by name; memory is the maximum memory, not the 512 MiB balloon.
    assert_eq!(
        p.domains,
        vec![
            obs("batch1", DomState::Paused, 1, 1),
            obs("ci1", DomState::ShutOff, 4, 4),
            obs("db1", DomState::Running, 4, 8),
            obs("web1", DomState::Running, 2, 2),
        ]
    );
    // A second probe on the same connection (bulk support now known) sees the same.
    assert_eq!(h.probe().map(|q| q.domains.len()), Ok(4));
    assert!(h.is_connected());
}

#[test]
fn destroy_then_start_round_trip() {
    let (_dir, mut h) = standard();
    assert_eq!(h.destroy("web1"), Ok(()));
    assert_eq!(state_of(&mut h, "web1"), Some(DomState::ShutOff));
    assert_eq!(h.start("web1"), Ok(()));
    assert_eq!(state_of(&mut h, "web1"), Some(DomState::Running));
    // Starting a running domain is an error the supervisor sees, not a silent success.
    assert!(matches!(h.start("web1"), Err(HvError::Failed(m)) if m.contains("already running")));
}

#[test]
fn destroy_and_shutdown_of_an_off_domain_succeed() {
    let (_dir, mut h) = standard();
    assert_eq!(h.destroy("ci1"), Ok(()));
    assert_eq!(h.destroy("ci1"), Ok(()));
    assert_eq!(h.shutdown("ci1"), Ok(()));
    assert_eq!(state_of(&mut h, "ci1"), Some(DomState::ShutOff));
}

#[test]
fn shutdown_stops_a_running_domain() {
    let (_dir, mut h) = standard();
    assert_eq!(h.shutdown("db1"), Ok(()));
    assert_eq!(state_of(&mut h, "db1"), Some(DomState::ShutOff));
}

#[test]
fn define_start_destroy_undefine_round_trip() {
    let (_dir, mut h) = standard();
    let xml = domain("mail1", 2, 3, None);
    assert_eq!(h.define(&xml), Ok(()));
    // A defined domain starts shut off.
    assert_eq!(state_of(&mut h, "mail1"), Some(DomState::ShutOff));
    assert_eq!(h.start("mail1"), Ok(()));
    assert_eq!(state_of(&mut h, "mail1"), Some(DomState::Running));
    assert_eq!(h.destroy("mail1"), Ok(()));
    assert_eq!(h.undefine("mail1"), Ok(()));
    assert_eq!(state_of(&mut h, "mail1"), None);
    assert_eq!(h.undefine("mail1"), Err(HvError::NoDomain("mail1".into())));
}

#[test]
fn inactive_xml_relocates_a_domain_cold_to_another_host() {
    let (_a, mut src) = standard();
    let (_b, mut dst) = host(&[]);
    let xml = src.domain_xml("db1");
    let Ok(xml) = xml else { panic!("domain_xml failed: {xml:?}") };
    assert!(xml.contains("<name>db1</name>"));
    // Inactive XML: no runtime id of the running domain.
    assert!(!xml.contains(" id='"), "runtime XML leaked: {xml}");
    assert_eq!(src.destroy("db1"), Ok(()));
    assert_eq!(src.undefine("db1"), Ok(()));
    assert_eq!(dst.define(&xml), Ok(()));
    assert_eq!(dst.start("db1"), Ok(()));
    let moved = dst.probe().map(|p| p.domains);
    assert_eq!(
        moved,
        Ok(vec![DomainObs { name: "db1".into(), state: DomState::Running, vcpus: 4, memory_kib: 8 * GIB }])
    );
    assert_eq!(state_of(&mut src, "db1"), None);
}

#[test]
fn unknown_domains_answer_no_domain_with_the_name_asked_for() {
    let (_dir, mut h) = standard();
    let ghost = || Err::<(), _>(HvError::NoDomain("ghost".into()));
    assert_eq!(h.start("ghost"), ghost());
    assert_eq!(h.destroy("ghost"), ghost());
    assert_eq!(h.shutdown("ghost"), ghost());
    assert_eq!(h.undefine("ghost"), ghost());
    assert_eq!(h.domain_xml("ghost"), Err(HvError::NoDomain("ghost".into())));
    // Not a connection problem: the connection stays.
    assert!(h.is_connected());
}

#[test]
fn bad_xml_is_a_plain_failure() {
    let (_dir, mut h) = standard();
    assert!(matches!(h.define("<domain"), Err(HvError::Failed(_))));
    assert!(h.is_connected());
}

#[test]
fn live_migration_is_unsupported_on_the_test_driver() {
    let (_dir, mut h) = standard();
    let dest = MigrateTo {
        dest_uri: "test:///default".into(),
        migration_uri: Some("tcp://127.0.0.1".into()),
        unsafe_shared_storage: true,
    };
    let r = h.migrate_live("web1", &dest);
    assert!(matches!(r, Err(HvError::Unsupported(_))), "got {r:?}");
    assert_eq!(state_of(&mut h, "web1"), Some(DomState::Running));
}

#[test]
fn a_missing_host_file_is_unreachable_with_libvirts_reason() {
    let mut h = LibvirtHost::new("test:///nonexistent/3rc/file.xml");
    let r = h.probe();
    match r {
        Err(HvError::Unreachable(m)) => {
            assert!(m.contains("test:///nonexistent/3rc/file.xml"), "{m}");
            assert!(m.contains("does not exist"), "{m}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(!h.is_connected());
}

#[test]
fn an_unreadable_host_file_is_unreachable_with_libvirts_message() {
    let dir = tmp();
    let path = dir.path().join("host.xml");
    if let Err(e) = std::fs::write(&path, "this is not xml") {
        panic!("cannot write: {e}");
    }
    let mut h = LibvirtHost::new(format!("test://{}", path.display()));
    let r = h.probe();
    assert!(matches!(&r, Err(HvError::Unreachable(m)) if m.contains("Start tag expected")), "got {r:?}");
}

#[test]
fn a_dead_daemon_socket_is_unreachable() {
    let mut h = LibvirtHost::new("qemu+unix:///system?socket=/nonexistent/3rc/libvirt-sock");
    let r = h.start("web1");
    assert!(matches!(&r, Err(HvError::Unreachable(m)) if m.contains("/nonexistent/3rc/libvirt-sock")), "got {r:?}");
}

#[test]
fn reconnects_on_the_next_call_once_the_host_is_back() {
    let dir = tmp();
    let path = dir.path().join("host.xml");
    let mut h = LibvirtHost::new(format!("test://{}", path.display()));
    assert!(matches!(h.probe(), Err(HvError::Unreachable(_))));
    // The "host" comes back; within the backoff no new attempt is made, after it the next call
    // opens a new connection by itself.
    host_file(&dir, &[domain("web1", 2, 2, None)]);
    let r = h.probe();
    assert!(matches!(&r, Err(HvError::Unreachable(m)) if m.contains("does not exist (next attempt in")), "{r:?}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(h.probe().map(|p| p.domains.len()), Ok(1));
    assert!(h.is_connected());
}

/// A daemon that refuses at once (its host answers, the daemon is restarting) is tried again
/// every 250 ms, not after a wait that doubles: it is reconnected soon after it is back.
#[test]
fn a_refusing_daemon_is_tried_again_without_a_growing_wait() {
    let mut h = LibvirtHost::new("qemu+unix:///system?socket=/nonexistent/3rc/libvirt-sock");
    for attempt in 0..4 {
        let r = h.probe();
        assert!(
            matches!(&r, Err(HvError::Unreachable(m)) if m.contains("/nonexistent/3rc/libvirt-sock") && !m.contains("next attempt in")),
            "attempt {attempt} was not made: {r:?}"
        );
        // Within the 250 ms after a refusal, no attempt is made.
        let r = h.probe();
        assert!(matches!(&r, Err(HvError::Unreachable(m)) if m.contains("next attempt in")), "{r:?}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

// ---- Lifecycle events (the test driver emits them; its connections cannot close) ----

use threerc_hv::{DomainChange, Hint, HintSink};

fn sink() -> (tokio::sync::mpsc::Sender<Hint>, tokio::sync::mpsc::Receiver<Hint>, HintSink) {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let sink = HintSink::new("hv1", tx.clone());
    (tx, rx, sink)
}

/// The next hint, waiting up to 10 s for libvirt's event loop to deliver it.
fn next_hint(rx: &mut tokio::sync::mpsc::Receiver<Hint>) -> Hint {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match rx.try_recv() {
            Ok(h) => return h,
            Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(5)),
            Err(e) => panic!("no hint from the event loop: {e}"),
        }
    }
}

fn domain_hint(vm: &str, change: DomainChange, reason: &str) -> Hint {
    Hint::Domain { host: "hv1".into(), vm: vm.into(), change, reason: reason.into() }
}

#[test]
fn a_watched_host_reports_domain_lifecycle_changes_with_libvirts_reason() {
    let (_dir, mut h) = standard();
    let (_tx, mut rx, sink) = sink();
    assert!(!h.is_watched());
    assert_eq!(h.watch(&sink), Ok(()));
    assert!(h.is_connected() && h.is_watched(), "watch opens the connection and registers at once");
    h.destroy("web1").unwrap();
    assert_eq!(next_hint(&mut rx), domain_hint("web1", DomainChange::Stopped, "destroyed"));
    h.start("ci1").unwrap();
    assert_eq!(next_hint(&mut rx), domain_hint("ci1", DomainChange::Started, "booted"));
    assert!(DomainChange::Stopped.worth_a_look() && !DomainChange::Defined.worth_a_look());
}

#[test]
fn an_unwatched_host_registers_nothing() {
    let (_dir, mut h) = standard();
    h.probe().unwrap();
    assert!(h.is_connected() && !h.is_watched());
}

#[test]
fn a_reopened_connection_is_registered_again_and_the_old_registration_is_freed() {
    let (_dir, mut h) = standard();
    let (tx, mut rx, sink) = sink();
    h.watch(&sink).unwrap();
    drop(sink);
    // Ours, the host's copy of the sink, and the lifecycle and watchdog registrations' own copies.
    assert_eq!(tx.strong_count(), 4);

    // The connection is lost and reopened by the next call: registered on the new one, and
    // libvirt freed the old registration's data.
    h.drop_connection();
    h.probe().unwrap();
    assert!(h.is_watched());
    assert_eq!(tx.strong_count(), 4);
    // Each change arrives once, from the new connection only (a second registration would
    // deliver the stop twice before the start).
    h.destroy("web1").unwrap();
    h.start("web1").unwrap();
    assert_eq!(next_hint(&mut rx), domain_hint("web1", DomainChange::Stopped, "destroyed"));
    assert_eq!(next_hint(&mut rx), domain_hint("web1", DomainChange::Started, "booted"));

    // Dropping the host deregisters: every copy of the sink is gone.
    drop(h);
    assert_eq!(tx.strong_count(), 1);
}

#[test]
fn lifecycle_events_and_close_reasons_are_named_as_libvirt_names_them() {
    use super::events::{close_reason, lifecycle};
    assert_eq!(lifecycle(5, 5), (DomainChange::Stopped, "failed"));
    assert_eq!(lifecycle(5, 2), (DomainChange::Stopped, "crashed"));
    assert_eq!(lifecycle(6, 1), (DomainChange::Shutdown, "by the guest"));
    assert_eq!(lifecycle(8, 0), (DomainChange::Crashed, "panicked"));
    assert_eq!(lifecycle(2, 99), (DomainChange::Started, "unknown"));
    use super::events::watchdog_action;
    assert_eq!((watchdog_action(0), watchdog_action(2), watchdog_action(9)), ("none", "reset", "unknown"));
    assert_eq!(lifecycle(42, 0), (DomainChange::Other, "unknown"));
    assert_eq!(lifecycle(-1, 0), (DomainChange::Other, "unknown"));
    assert_eq!(close_reason(1), "end of file");
    assert_eq!(close_reason(2), "keepalive timeout");
    assert_eq!(close_reason(7), "unknown reason");
}

#[test]
fn the_p2v_seam_on_the_test_driver_creates_and_deletes_volumes_and_says_it_cannot_upload() {
    use threerc_hv::UploadTo;
    let pool = "<pool type='dir'><name>default</name><capacity unit='GiB'>100</capacity>\
                <allocation unit='GiB'>1</allocation><available unit='GiB'>99</available><source/>\
                <target><path>/var/lib/libvirt/images</path></target></pool>";
    let (_dir, mut h) = host(&[pool.to_string()]);
    let info = h.pool_info("default").unwrap();
    assert_eq!((info.kind.as_str(), info.active, info.capacity), ("dir", true, 100 << 30));
    assert!(info.available > 0);
    assert!(info.holds_files());
    assert_eq!(h.pool_info("nope"), Err(HvError::Failed("no storage pool named nope".into())));
    assert_eq!(h.domain_type().unwrap(), "qemu", "the test driver offers no kvm");
    let path = h.create_empty_volume("default", "p2v1-sda.img", 1 << 20, "raw").unwrap();
    assert!(path.ends_with("/p2v1-sda.img"), "{path}");
    assert_eq!(h.volumes("default").unwrap(), ["p2v1-sda.img"]);
    assert_eq!(
        h.create_empty_volume("default", "p2v1-sda.img", 1 << 20, "raw"),
        Err(HvError::Failed("pool default already holds a volume named p2v1-sda.img".into()))
    );
    let to = UploadTo { pool: "default".into(), volume: "p2v1-sda.img".into(), offset: 0, length: 4 };
    match h.upload(&to, &mut &b"abcd"[..], &mut |_| true) {
        Err(HvError::Unsupported(m)) => assert!(m.starts_with("this host cannot receive a volume upload"), "{m}"),
        other => panic!("{other:?}"),
    }
    h.delete_volume("default", "p2v1-sda.img").unwrap();
    h.delete_volume("default", "p2v1-sda.img").unwrap();
    assert!(h.volumes("default").unwrap().is_empty());
}

#[test]
fn a_guest_agent_the_driver_cannot_reach_is_unsupported_not_a_failure() {
    let (_dir, mut h) = standard();
    let r = h.guest_check("web1", &threerc_core::GuestCheck::Agent, std::time::Duration::from_secs(1));
    assert!(matches!(&r, Err(HvError::Unsupported(_))), "{r:?}");
    let r = h.guest_check("nosuchvm", &threerc_core::GuestCheck::Agent, std::time::Duration::from_secs(1));
    assert!(matches!(&r, Err(HvError::NoDomain(_))), "{r:?}");
}
