//! A stop of the supervisor (SIGTERM under systemd) with an action under way, on the demo
//! cluster's test-driver hosts with slow starts: the stop waits for it and journals its outcome;
//! an action longer than the grace is named in the journal as cut short; commands given while
//! stopping are refused; nothing new is started.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use threerc::config::Config;
use threerc::core::{Command, EventKind};

#[path = "support/test_hosts.rs"]
#[allow(dead_code)] // the host-file builders serve other test binaries
mod test_hosts;

fn config(state: &Path) -> Config {
    test_hosts::demo_config(state, "100ms", "")
}

/// Restart web1 with starts taking `start` and stop the supervisor as soon as the restart runs,
/// with `grace` to wait for it. Returns the journal's events (as lines), its actions with their
/// outcomes, and how long the stop took.
async fn stop_during_a_restart(
    start: Duration,
    grace: Duration,
) -> (Vec<String>, Vec<(String, Option<String>)>, Duration) {
    let state = tempfile::tempdir().unwrap();
    let cfg = config(state.path());
    threerc::backend::libvirt::init();
    let cluster = threerc::backend::demo::DemoCluster::from_specs(&cfg.cluster.hosts);
    let fencers = threerc::app::fencers(&cfg, Some(&cluster)).unwrap();
    let (mut sup, handle) = threerc::app::assemble(&cfg, Arc::from(cluster.connector()), fencers).unwrap();
    sup.set_stop_grace(grace);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sup.run(async {
        let _ = stopped.await;
    }));
    test_hosts::until_steady(&handle).await;
    cluster.set_latency(start, Duration::ZERO);
    let mut events = handle.events();
    handle.command("test", Command::Restart { vm: "web1".into() }).await.unwrap();
    loop {
        let ev = events.recv().await.unwrap();
        // Decided, journaled and started in the same step of the loop.
        if matches!(ev.kind, EventKind::ActionDecided { .. }) {
            break;
        }
    }
    let t = Instant::now();
    let _ = stop.send(());
    // A command given while it stops is refused (one given at the same moment as the stop may
    // still be taken: wait until the supervisor says it is stopping).
    loop {
        let ev = events.recv().await.unwrap();
        if ev.to_string().contains("3rc is stopping") {
            break;
        }
    }
    let late = handle.command("test", Command::Stop { vm: "db1".into() }).await;
    assert!(late.is_err(), "{late:?}");
    task.await.unwrap();
    let took = t.elapsed();
    let db = state.path().join("journal.db");
    let lines = threerc::store::read_events(&db).unwrap().into_iter().map(|(_, _, t)| t).collect();
    let actions = threerc::store::read_actions(&db).unwrap().into_iter().map(|(a, _, o)| (a, o)).collect();
    (lines, actions, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_waits_for_the_action_under_way_and_journals_its_outcome() {
    let (lines, actions, took) = stop_during_a_restart(Duration::from_millis(1500), Duration::from_secs(20)).await;
    let text = lines.join("\n");
    assert!(took >= Duration::from_millis(1000), "the stop waited for the start: {took:?}");
    assert!(text.contains("3rc is stopping: waiting up to 20 s for 1 action(s) under way: #"), "{text}");
    assert!(!text.contains("still under way"), "{text}");
    let restart = actions.iter().find(|(a, _)| a.contains("web1")).expect("the restart journaled");
    assert!(restart.1.is_some(), "its outcome is journaled: {actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_longer_than_the_grace_is_named_as_cut_short() {
    let (lines, actions, took) = stop_during_a_restart(Duration::from_secs(5), Duration::from_millis(300)).await;
    let text = lines.join("\n");
    assert!(took < Duration::from_secs(4), "the stop did not wait past its grace: {took:?}");
    assert!(
        text.contains("3rc stopped with 1 action(s) still under way: #")
            && text.contains("the next start reconciles them with what the hosts report"),
        "{text}"
    );
    let restart = actions.iter().find(|(a, _)| a.contains("web1")).expect("the restart journaled");
    assert_eq!(restart.1, None, "no outcome: the next start finds it interrupted");
}
