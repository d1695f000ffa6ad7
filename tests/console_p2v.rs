//! The console's P2V driver on the demo cluster (libvirt's test driver behind the demo's
//! fault-injecting host wrapper): the wizard's effects reach the demo hosts, a target host's
//! pools are read, and a run of a real disk image goes as far as the copy, which the test driver
//! refuses (it cannot receive an upload); the run then removes what it made, so the pool holds
//! the same volumes as before and no domain was defined.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use threerc::app::console::{forward, P2vDriver};
use threerc::config::Config;
use threerc::p2v::plan::{Answers, TargetFacts};
use threerc::p2v::source::Source;
use threerc::p2v::wizard::Effect;
use threerc::ui::{P2vFeedback, UiFeedback, UiRequest};
use tokio::sync::mpsc;

async fn p2v(rx: &mut mpsc::UnboundedReceiver<UiFeedback>) -> P2vFeedback {
    loop {
        let fb = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("an answer in time").unwrap();
        if let UiFeedback::P2v(a) = fb {
            return a;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_demo_a_p2v_run_fails_at_the_copy_and_leaves_nothing_behind() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let cfg = Config::load(&dir.join("cluster.toml")).expect("demo config");
    threerc::backend::libvirt::init();
    let cluster = threerc::backend::demo::DemoCluster::from_specs(&cfg.cluster.hosts);
    let fencers = threerc::app::fencers(&cfg, Some(&cluster)).unwrap();
    let connector: Arc<threerc::hv::Connector> = Arc::from(cluster.connector());
    let (sup, handle) = threerc::app::assemble(&cfg, connector.clone(), fencers).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sup.run(async {
        let _ = stop_rx.await;
    }));
    let driver = P2vDriver::new(cfg.clone(), connector);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let send = |e: Effect| forward(UiRequest::P2v(e), &handle, "console:alice", None, &tx, Some(&driver));

    // The "physical machine": a 4 MiB disk image.
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("pm1.img");
    std::fs::write(&image, vec![0x5au8; 4 << 20]).unwrap();
    let source = Source::parse(&format!("disk:{}", image.display())).unwrap();
    send(Effect::TestConnection(source));
    let P2vFeedback::Connected(Ok((_, inv))) = p2v(&mut rx).await else { panic!("the image is readable") };
    assert_eq!(inv.disks.len(), 1);

    send(Effect::ReadTarget("hv1".into()));
    let read = p2v(&mut rx).await;
    let P2vFeedback::Target(Ok(facts)) = read else { panic!("{read:?}") };
    assert!(!facts.pools.is_empty(), "the demo hosts' pools are read through the demo wrapper");
    let before: TargetFacts = facts.clone();

    let pool = facts.pools.iter().find(|(p, _)| p.active && p.holds_files()).map(|(p, _)| p.name.clone()).unwrap();
    let mut answers = Answers {
        source: format!("disk:{}", image.display()),
        name: "pm1".into(),
        host: "hv1".into(),
        pool,
        format: "raw".into(),
        start: true,
        protect: false,
        ..Answers::default()
    };
    answers.defaults_from(&inv);
    let plan = answers.build(&inv, &facts, &cfg).unwrap_or_else(|e| panic!("{e}"));
    send(Effect::Run(Box::new(plan)));
    let finished = loop {
        if let P2vFeedback::Finished(r) = p2v(&mut rx).await {
            break r;
        }
    };
    let why = finished.expect_err("the test driver cannot take an upload");
    assert!(why.contains("upload"), "{why}");
    assert!(why.contains("nothing was left behind"), "{why}");

    send(Effect::ReadTarget("hv1".into()));
    let P2vFeedback::Target(Ok(after)) = p2v(&mut rx).await else { panic!() };
    assert_eq!(after.pools, before.pools, "the same volumes as before");
    assert!(!after.domains.contains(&"pm1".to_string()), "{:?}", after.domains);

    let _ = stop_tx.send(());
    let _ = running.await;
}
