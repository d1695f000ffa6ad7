//! Consoles attached to a running supervisor through its socket (`3rc console`), on the demo
//! cluster's test-driver hosts: the whole view once, then deltas that rebuild exactly the
//! supervisor's view through a host failure; commands answered to the console that gave them and
//! announced to the others, with the supervisor's log streamed to each; who may do what decided
//! by the supervisor from the connection's uid (a viewer's command refused, whatever its client);
//! requests too long or too slow refused; the socket's mode.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use threerc::config::Config;
use threerc::core::{ClusterView, Command, Confirmation, HostState, VmState};
use threerc::supervisor::control::client::{self, Attached};
use threerc::supervisor::control::protocol::{ToConsole, ToSupervisor};
use threerc::supervisor::control::{self, access::Role};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[path = "support/test_hosts.rs"]
#[allow(dead_code)] // the host-file builders serve other test binaries
mod test_hosts;

fn config(state: &Path, access: &str) -> Config {
    test_hosts::demo_config(state, "100ms", access)
}

/// The supervisor's log reaches this process's feed for consoles (installed once).
fn log_to_consoles() {
    use tracing_subscriber::layer::SubscriberExt;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(threerc::app::log_feed_layer()),
        );
    });
}

/// A supervisor on the demo's test-driver hosts with its socket served, every VM healthy.
struct Served {
    state: tempfile::TempDir,
    socket: std::path::PathBuf,
    cluster: Arc<threerc::backend::demo::DemoCluster>,
    handle: threerc::supervisor::SupervisorHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _server: Option<tokio::task::JoinHandle<()>>,
}

impl Served {
    /// With `access` added to the config; the state folder searchable by everyone (as `[access]`
    /// for other users needs).
    async fn start(access: &str) -> Served {
        use std::os::unix::fs::PermissionsExt;
        let state = tempfile::tempdir().unwrap();
        std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let cfg = config(state.path(), access);
        let (cluster, handle, stop) = test_hosts::run(&cfg);
        let server = threerc::app::control(&cfg, &handle).await.unwrap();
        test_hosts::until_steady(&handle).await;
        let socket = state.path().join("control.sock");
        Served { state, socket, cluster, handle, stop: Some(stop), _server: server }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn next(a: &mut Attached) -> ToConsole {
    tokio::time::timeout(Duration::from_secs(20), a.reader.next())
        .await
        .expect("a message in time")
        .expect("a good message")
        .expect("the connection open")
}

/// Read messages, applying views, until `pred` holds on one; returns it.
async fn until_msg(a: &mut Attached, what: &str, mut pred: impl FnMut(&ToConsole, &ClusterView) -> bool) -> ToConsole {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message {what}; the console's view: hosts {:?}; VMs {:#?}; alarms {:#?}",
            a.view.hosts.iter().map(|h| (&h.name, h.state)).collect::<Vec<_>>(),
            a.view.vms.iter().map(|v| (&v.name, &v.host, v.state, &v.reason)).collect::<Vec<_>>(),
            a.view.alarms.iter().map(|x| &x.message).collect::<Vec<_>>()
        );
        let msg = next(a).await;
        match &msg {
            ToConsole::Full(v) => a.view = v.clone(),
            ToConsole::Delta(d) => d.clone().apply(&mut a.view).expect("a delta that fits"),
            _ => {}
        }
        if pred(&msg, &a.view) {
            return msg;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_follows_a_host_failure_through_deltas_and_ends_with_the_supervisors_view() {
    let s = Served::start("").await;
    // Every view the supervisor publishes, by its time (a steady cluster publishes one per cycle).
    let published: Arc<Mutex<HashMap<u64, Arc<ClusterView>>>> = Arc::default();
    let mut views = s.handle.snapshots();
    let p = published.clone();
    tokio::spawn(async move {
        while views.changed().await.is_ok() {
            let v = views.borrow_and_update().clone();
            p.lock().unwrap().insert(v.at.millis(), v);
        }
    });

    let mut a = client::attach(&s.socket).await.unwrap();
    assert_eq!(a.hello.role, Role::Operator, "root is an operator");
    assert_eq!(a.view.vms.len(), 9, "the whole view first");
    let (mut fulls, mut deltas, mut rows) = (0, 0, 0);
    s.cluster.power_off("hv3").unwrap();
    until_msg(&mut a, "with web3 and cache1 recovered off hv3", |m, v| {
        match m {
            ToConsole::Full(_) => fulls += 1,
            ToConsole::Delta(d) => {
                deltas += 1;
                rows += d.rows();
            }
            _ => {}
        }
        let on = |vm: &str| v.vms.iter().find(|x| x.name == vm).and_then(|x| x.host.clone());
        v.hosts.iter().any(|h| h.name == "hv3" && h.state == HostState::Fenced)
            && ["web3", "cache1"].iter().all(|vm| on(vm).is_some_and(|h| h != "hv3"))
            && v.vms.iter().all(|x| x.state == VmState::Healthy)
    })
    .await;
    assert_eq!(fulls, 0, "the rows did not change: deltas only");
    assert!(deltas > 5 && rows < deltas * 9, "{deltas} deltas carried {rows} rows");
    // The console's view, rebuilt from deltas, is the view the supervisor published at its time.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        until_msg(&mut a, "a view", |m, _| matches!(m, ToConsole::Delta(_) | ToConsole::Full(_))).await;
        if let Some(theirs) = published.lock().unwrap().get(&a.view.at.millis()).cloned() {
            assert_eq!(a.view, *theirs, "the console's view differs from the supervisor's at {:?}", a.view.at);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no published view at the console's times");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_answered_to_its_console_announced_to_the_others_and_logged_to_all() {
    log_to_consoles();
    let s = Served::start("").await;
    let mut alice = client::attach(&s.socket).await.unwrap();
    let mut bob = client::attach(&s.socket).await.unwrap();

    // Without the consent stop needs, the supervisor refuses it, whatever the client.
    let stop_web1 = Command::Stop { vm: "web1".into() };
    let bare = ToSupervisor::Command { id: 1, command: stop_web1.clone(), confirmed: Confirmation::NotNeeded };
    alice.writer.send(&bare).await.unwrap();
    let verdict = until_msg(&mut alice, "a verdict", |m, _| matches!(m, ToConsole::Verdict { .. })).await;
    let ToConsole::Verdict { id: 1, answer: Err(why) } = verdict else { panic!("{verdict:?}") };
    assert!(why.contains("web1"), "{why}");

    let typed = Confirmation::Typed("web1".into());
    alice.writer.send(&ToSupervisor::Command { id: 2, command: stop_web1, confirmed: typed }).await.unwrap();
    let verdict = until_msg(&mut alice, "a verdict", |m, _| matches!(m, ToConsole::Verdict { .. })).await;
    assert_eq!(verdict, ToConsole::Verdict { id: 2, answer: Ok(None) });
    // Bob gets the notice (a flash) and the supervisor's log line of it, in either order.
    let (mut notice, mut logged) = (None, false);
    until_msg(&mut bob, "alice's command and its log line", |m, _| {
        match m {
            ToConsole::Notice(n) => notice = Some(n.clone()),
            ToConsole::Log(l) if l.text.contains("command stop web1 by console:") && !l.text.contains("refused") => {
                assert!(l.text.ends_with("(uid 0) (confirmed by typing web1)"), "{l:?}");
                logged = true;
            }
            _ => {}
        }
        notice.is_some() && logged
    })
    .await;
    let n = notice.unwrap();
    assert_eq!(n.command, "stop web1");
    assert!(n.origin.starts_with("console:") && n.origin.contains("(uid 0) (confirmed by typing web1)"), "{n:?}");
    until_msg(&mut bob, "web1 stopped in bob's view", |_, v| {
        v.vms.iter().any(|x| x.name == "web1" && x.state == VmState::Stopped)
    })
    .await;

    // The domain XML and a what-if come back to the console that asked.
    for _ in 0..200 {
        if s.handle.domain_xml("db1").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bob.writer.send(&ToSupervisor::DomainXml { id: 7, vm: "db1".into() }).await.unwrap();
    let xml = until_msg(&mut bob, "db1's XML", |m, _| matches!(m, ToConsole::DomainXml { .. })).await;
    assert!(matches!(&xml, ToConsole::DomainXml { id: 7, xml: Some(x) } if x.contains("<name>db1</name>")), "{xml:?}");
    bob.writer.send(&ToSupervisor::WhatIf { id: 8, question: "host hv1 down".into() }).await.unwrap();
    let report = until_msg(&mut bob, "the what-if", |m, _| matches!(m, ToConsole::WhatIf { .. })).await;
    assert!(matches!(&report, ToConsole::WhatIf { id: 8, answer: Ok(r) } if r.contains("db1")), "{report:?}");
}

/// Connect to `path` as nobody (uid and gid 65534). The kernel records the credentials of the
/// thread that connects (`SO_PEERCRED`); raw `setresuid`/`setresgid` change only the calling
/// thread's, so a thread of its own drops to nobody, connects, and hands the socket back.
fn connect_as_nobody(path: &Path) -> tokio::net::UnixStream {
    let path = path.to_path_buf();
    // SAFETY: raw syscalls with plain integer arguments (and an empty group list) on a thread
    // that does nothing else; no memory is shared with them.
    let stream = std::thread::spawn(move || unsafe {
        assert_eq!(libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()), 0);
        assert_eq!(libc::syscall(libc::SYS_setresgid, 65534, 65534, 65534), 0);
        assert_eq!(libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534), 0);
        std::os::unix::net::UnixStream::connect(&path)
    })
    .join()
    .unwrap()
    .expect("nobody reaches the socket");
    stream.set_nonblocking(true).unwrap();
    tokio::net::UnixStream::from_std(stream).unwrap()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_everything_and_its_commands_are_refused_by_the_supervisor() {
    assert!(is_root(), "this test connects as nobody, which needs root (CI runs as root)");
    let s = Served::start("\n[access]\nviewers = [\"nobody\"]\n").await;
    let socket = &s.socket;

    // A modified client: it sends the command with every consent, the supervisor still refuses.
    let mut viewer = client::attach_over(connect_as_nobody(socket)).await.unwrap();
    assert_eq!(viewer.hello.role, Role::Viewer);
    assert!(viewer.hello.origin.contains("(uid 65534)"), "{:?}", viewer.hello);
    assert_eq!(viewer.view.vms.len(), 9, "a viewer sees the whole view");
    let restart = ToSupervisor::Command {
        id: 1,
        command: Command::Restart { vm: "web1".into() },
        confirmed: Confirmation::Typed("web1".into()),
    };
    viewer.writer.send(&restart).await.unwrap();
    let verdict = until_msg(&mut viewer, "a verdict", |m, _| matches!(m, ToConsole::Verdict { .. })).await;
    let ToConsole::Verdict { answer: Err(why), .. } = verdict else { panic!("{verdict:?}") };
    assert!(why.starts_with("nobody is a viewer: viewers cannot change the cluster"), "{why}");
    let web1 = s.handle.snapshot_now(Duration::from_secs(5)).await;
    let web1 = web1.vms.iter().find(|v| v.name == "web1").unwrap();
    assert_eq!((web1.state, web1.restarts_in_window), (VmState::Healthy, 0), "nothing was done");

    // The one-shot requests of `3rc ctl`, as nobody: status yes, a command no.
    for (words, ok) in [(r#"["status"]"#, true), (r#"["restart", "web1"]"#, false)] {
        let (read, mut write) = connect_as_nobody(socket).into_split();
        let req = format!("{{\"user\": \"mallory\", \"words\": {words}, \"confirmed\": \"Answered\"}}\n");
        write.write_all(req.as_bytes()).await.unwrap();
        let mut line = String::new();
        BufReader::new(read).read_line(&mut line).await.unwrap();
        let reply: control::Reply = serde_json::from_str(&line).unwrap();
        assert_eq!(reply.ok, ok, "{words}: {line:.300}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_without_a_role_is_refused_at_once() {
    assert!(is_root(), "this test connects as nobody, which needs root (CI runs as root)");
    let s = Served::start("\n[access]\noperators = [\"root\"]\nviewers = [\"@staff\"]\n").await;
    let e = client::attach_over(connect_as_nobody(&s.socket)).await.err().unwrap();
    assert_eq!(
        format!("{e:#}"),
        "the supervisor refused: nobody (uid 65534) is neither an operator nor a viewer in the config's [access]"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_too_long_or_too_slow_are_refused_and_the_socket_has_its_mode_from_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let state = tempfile::tempdir().unwrap();
    let cfg = config(state.path(), "");
    let (_cluster, handle, stop) = test_hosts::run(&cfg);
    let mut server = control::Server::new(handle.clone(), cfg.access.clone(), "test".into());
    // Long enough for a debug build on a busy machine to read the 1 MiB the long request is
    // refused at; short enough to wait for the slow one.
    server.request_timeout = Duration::from_secs(2);
    let socket = state.path().join("control.sock");
    let _serving = control::serve(&socket, server).await.unwrap();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "no [access]: root's alone");
    let left: Vec<_> = std::fs::read_dir(state.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!left.iter().any(|n| n.to_string_lossy().starts_with(".control.sock")), "{left:?}");

    let ask = |bytes: Vec<u8>| {
        let socket = socket.clone();
        async move {
            let (read, mut write) = tokio::net::UnixStream::connect(&socket).await.unwrap().into_split();
            if !bytes.is_empty() {
                let _ = write.write_all(&bytes).await;
            }
            let mut line = String::new();
            BufReader::new(read).read_line(&mut line).await.unwrap();
            serde_json::from_str::<control::Reply>(&line).unwrap()
        }
    };
    let long = ask(vec![b'x'; 2 << 20]).await;
    assert_eq!(long.error.as_deref(), Some("bad request: a request longer than 1048576 bytes"));
    let slow = ask(Vec::new()).await;
    assert_eq!(slow.error.as_deref(), Some("no request within 2 s"));
    let _ = stop.send(());

    // With [access], other users may reach it: 0666, and the supervisor checks each of them.
    let open = Served::start("\n[access]\nviewers = [\"nobody\"]\n").await;
    let mode = std::fs::metadata(&open.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666);
    let left: Vec<_> = std::fs::read_dir(open.state.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!left.iter().any(|n| n.to_string_lossy().starts_with(".control.sock")), "{left:?}");
}
