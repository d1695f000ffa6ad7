use super::*;
use crate::core::{ActionKind, Decider, EventKind, Subject, Time};

fn action(id: u64) -> Action {
    Action {
        id,
        kind: ActionKind::Restart { vm: "web1".into(), host: "hv1".into() },
        decided_by: Decider::Policy("ladder step 1".into()),
    }
}

fn event(text: &str) -> Event {
    Event { at: Time(1500), subject: Subject::Vm("web1".into()), kind: EventKind::Note, reason: text.into() }
}

#[tokio::test]
async fn what_was_written_survives_and_unfinished_actions_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    {
        let (j, rec, _fail) = Journal::open(&path).unwrap();
        assert_eq!((rec.run, rec.inventory.len(), rec.interrupted.len()), (1, 0, 0));
        j.record(&event("hello"));
        j.intent(&action(1)).await.unwrap();
        j.outcome(1, &Outcome::Done);
        j.intent(&action(2)).await.unwrap(); // never finished: 3rc "crashes" here
        j.inventory(InventoryRow { vm: "web1".into(), host: "hv2".into(), xml: "<domain/>".into() });
    }
    let (_j, rec, _fail) = Journal::open(&path).unwrap();
    assert_eq!(rec.run, 2);
    assert_eq!(rec.inventory, vec![InventoryRow { vm: "web1".into(), host: "hv2".into(), xml: "<domain/>".into() }]);
    assert_eq!(rec.interrupted, vec!["restart web1 on hv1 (policy: ladder step 1)".to_string()]);
    let events = read_events(&path).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].2, "1.5s vm web1 note: hello");
    drop(_j);
    // Reported once: the next start finds nothing interrupted.
    let (_j, rec, _fail) = Journal::open(&path).unwrap();
    assert!(rec.interrupted.is_empty());
}

#[tokio::test]
async fn ladder_windows_survive_a_restart_and_the_last_one_kept_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    {
        let (j, rec, _fail) = Journal::open(&path).unwrap();
        assert!(rec.ladder.is_empty());
        j.ladder(LadderRow { vm: "web1".into(), restarts: vec![1_000], relocations: vec![], reinstalls: vec![] });
        j.ladder(LadderRow {
            vm: "web1".into(),
            restarts: vec![1_000, 2_000],
            relocations: vec![3_000],
            reinstalls: vec![4_000],
        });
        j.ladder(LadderRow { vm: "db1".into(), restarts: vec![], relocations: vec![], reinstalls: vec![] });
        j.intent(&action(1)).await.unwrap(); // everything queued before it is on disk too
    }
    let (_j, rec, _fail) = Journal::open(&path).unwrap();
    assert_eq!(
        rec.ladder,
        vec![
            LadderRow { vm: "db1".into(), restarts: vec![], relocations: vec![], reinstalls: vec![] },
            LadderRow {
                vm: "web1".into(),
                restarts: vec![1_000, 2_000],
                relocations: vec![3_000],
                reinstalls: vec![4_000]
            },
        ]
    );
}

#[tokio::test]
async fn a_full_journal_is_reported_and_nothing_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let (j, _rec, mut failures) = Journal::open_limited(&path, Some(12)).unwrap();
    let big = "x".repeat(4000);
    let mut refused = None;
    for i in 0..100 {
        j.record(&event(&big));
        if let Err(e) = j.intent(&action(i)).await {
            refused = Some(e);
            break;
        }
    }
    let refused = refused.expect("a capped journal fills up");
    assert!(refused.contains("full"), "{refused}");
    let alarm = failures.recv().await.unwrap();
    assert!(alarm.contains("cannot be written") && alarm.contains("full"), "{alarm}");
    // The writer goes on answering (the failed batch was rolled back, so a small write may
    // fit again): supervision is never blocked by the journal.
    j.record(&event("still here"));
    let answered = tokio::time::timeout(std::time::Duration::from_secs(5), j.intent(&action(1000))).await;
    assert!(answered.is_ok(), "the journal writer stopped answering");
}

#[tokio::test]
async fn vms_protected_at_run_time_are_read_back_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let spec = crate::core::VmSpec {
        name: "p2v1".into(),
        priority: 3,
        anti_affinity: Some("web".into()),
        policy: crate::core::Policy { max_restart: 1, ..Default::default() },
        preferred_host: None,
        reinstall: None,
    };
    {
        let (j, rec, _fail) = Journal::open(&path).unwrap();
        assert!(rec.protected.is_empty());
        j.protect(&spec, "cli:alice (uid 0)");
    }
    let (_j, rec, _fail) = Journal::open(&path).unwrap();
    assert_eq!(rec.protected, vec![spec]);
}

#[tokio::test]
async fn synced_waits_for_everything_queued_before_it_while_the_journal_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let (j, _rec, _fail) = Journal::open(&path).unwrap();
    for i in 0..200 {
        j.record(&event(&format!("e{i}")));
    }
    let intent = j.intent(&action(1)); // queued, not awaited
    j.synced().await.unwrap();
    // Read by another connection while the writer lives: nothing is left in its queue.
    assert_eq!(read_events(&path).unwrap().len(), 200);
    let actions = read_actions(&path).unwrap();
    assert_eq!(actions, vec![("restart web1 on hv1".into(), "policy: ladder step 1".into(), None)]);
    intent.await.unwrap();
    drop(j);
}
