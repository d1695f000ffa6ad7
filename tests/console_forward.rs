//! The app shell between the console and a real supervisor (demo cluster on libvirt's test
//! driver): a confirmed command reaches the engine with an origin saying who confirmed it and
//! how, the journal records it, the verdict comes back for a flash, and the domain XML for the
//! VM detail comes from the inventory.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use threerc::app::console::forward;
use threerc::config::Config;
use threerc::core::{Command, VmState};
use threerc::ui::{Confirmation, Renderer, Theme, UiFeedback, UiRequest};
use tokio::sync::mpsc;

fn config(state_dir: &Path) -> Config {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let text = std::fs::read_to_string(dir.join("cluster.toml")).expect("demo config");
    let text = text.replace("interval = \"1s\"", "interval = \"100ms\"");
    let mut cfg = Config::parse(&text, &dir.join("cluster.toml")).expect("valid config");
    cfg.state_dir = Some(state_dir.to_path_buf());
    cfg
}

async fn next(rx: &mut mpsc::UnboundedReceiver<UiFeedback>) -> UiFeedback {
    tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("an answer in time").expect("open channel")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_commands_are_journaled_with_who_and_how_and_verdicts_come_back() {
    let state = tempfile::tempdir().unwrap();
    let cfg = config(state.path());
    threerc::backend::libvirt::init();
    let cluster = threerc::backend::demo::DemoCluster::from_specs(&cfg.cluster.hosts);
    let fencers = threerc::app::fencers(&cfg, Some(&cluster)).unwrap();
    let (sup, handle) = threerc::app::assemble(&cfg, Arc::from(cluster.connector()), fencers).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sup.run(async {
        let _ = stop_rx.await;
    }));
    let mut snapshots = handle.snapshots();
    let healthy = |v: &threerc::core::ClusterView| v.vm("web1").is_some_and(|v| v.state == VmState::Healthy);
    tokio::time::timeout(Duration::from_secs(20), async {
        while !healthy(&snapshots.borrow_and_update()) {
            snapshots.changed().await.unwrap();
        }
    })
    .await
    .expect("web1 healthy");

    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = UiRequest::Command {
        command: Command::Stop { vm: "web1".into() },
        confirmed: Confirmation::Typed("web1".into()),
    };
    forward(stop, &handle, "console:alice", None, &tx, None);
    assert_eq!(next(&mut rx).await, UiFeedback::Verdict { command: "stop web1".into(), refused: None, warning: None });

    // A command the engine refuses comes back with its reason.
    let bad = UiRequest::Command {
        command: Command::Migrate { vm: "db1".into(), to: "hv1".into() },
        confirmed: Confirmation::NotNeeded,
    };
    forward(bad, &handle, "console:alice", None, &tx, None);
    match next(&mut rx).await {
        UiFeedback::Verdict { command, refused: Some(why), .. } => {
            assert_eq!(command, "migrate db1 to hv1");
            assert!(why.contains("already runs on hv1"), "{why}");
        }
        other => panic!("{other:?}"),
    }

    // The domain XML comes from the inventory once it has read it.
    let mut xml = None;
    for _ in 0..100 {
        forward(UiRequest::DomainXml { vm: "db1".into() }, &handle, "console:alice", None, &tx, None);
        if let UiFeedback::DomainXml { vm, xml: Some(text) } = next(&mut rx).await {
            assert_eq!(vm, "db1");
            xml = Some(text);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(xml.expect("inventory read db1").contains("<name>db1</name>"));

    // The journal (SQLite, written by its own thread) has who confirmed what, and when.
    let journal = state.path().join("journal.db");
    let mut events = Vec::new();
    for _ in 0..100 {
        events = threerc::store::read_events(&journal).unwrap_or_default();
        if events.iter().any(|(_, _, t)| t.contains("confirmed by typing web1")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (wall, _, line) = events
        .iter()
        .find(|(_, _, t)| t.contains("command stop web1"))
        .unwrap_or_else(|| panic!("journal:\n{events:#?}"));
    assert!(line.contains("by console:alice (confirmed by typing web1)"), "{line}");
    assert!(*wall > 1.7e9, "when: {wall}");

    // The real app state driven by keys: filter to web1, `m`, the picker's first allowed host,
    // Enter: the migrate command reaches the supervisor and web1 moves.
    let mut console = Renderer::new(handle.snapshots().borrow().clone(), Theme::builtin_default());
    let sent = console.press("/web3<enter>m<enter>").unwrap();
    let [UiRequest::Command { command: Command::Migrate { vm, to }, confirmed: Confirmation::NotNeeded }] = &sent[..]
    else {
        panic!("{sent:?}");
    };
    assert_eq!(vm, "web3");
    let to = to.clone();
    for req in sent {
        forward(req, &handle, "console:alice", None, &tx, None);
    }
    let verdict = next(&mut rx).await;
    assert_eq!(verdict, UiFeedback::Verdict { command: format!("migrate web3 to {to}"), refused: None, warning: None });
    console.feedback(verdict);
    assert_eq!(console.flash(), Some(format!("migrate web3 to {to}: accepted")));
    tokio::time::timeout(Duration::from_secs(20), async {
        while snapshots.borrow_and_update().vm("web3").and_then(|v| v.host.clone()) != Some(to.clone()) {
            snapshots.changed().await.unwrap();
        }
    })
    .await
    .expect("web3 moved");

    // `r` then Esc: nothing is sent.
    assert!(console.press("r<esc>").unwrap().is_empty());

    // What if hv1 failed? Asked in command mode, simulated from the supervisor's last probes on
    // a copy of the cluster: db1 (on hv1) would go elsewhere; nothing really moves.
    let sent = console.press(":what-if host hv1 down<enter>").unwrap();
    assert_eq!(sent, vec![UiRequest::WhatIf { question: "host hv1 down".into() }]);
    for req in sent {
        forward(req, &handle, "console:alice", None, &tx, None);
    }
    let answer = tokio::time::timeout(Duration::from_secs(120), rx.recv()).await.expect("a what-if in time").unwrap();
    let UiFeedback::WhatIf { question, answer: Ok(report) } = answer else { panic!("{answer:?}") };
    assert_eq!(question, "host hv1 down");
    let db1 = report.lines().find(|l| l.trim_start().starts_with("db1 ")).unwrap_or_else(|| panic!("{report}"));
    let cols: Vec<&str> = db1.split_whitespace().collect();
    assert_eq!(cols[1], "hv1", "{report}");
    assert!(["hv2", "hv3", "hv4"].contains(&cols[2]), "db1 would go to another host: {report}");
    assert!(report.contains("host hv1 Online -> Suspect"), "{report}");
    assert_eq!(snapshots.borrow().vm("db1").and_then(|v| v.host.clone()).as_deref(), Some("hv1"), "nothing moved");

    let _ = stop_tx.send(());
    let _ = running.await;
}
