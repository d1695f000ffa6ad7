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
        j.ladder(LadderRow { vm: "web1".into(), restarts: vec![1_000], ..Default::default() });
        j.ladder(LadderRow {
            vm: "web1".into(),
            restarts: vec![1_000, 2_000],
            relocations: vec![3_000],
            reinstalls: vec![4_000],
            paused_is_bad: false,
            guest_restarts: vec![5_000],
        });
        j.ladder(LadderRow { vm: "db1".into(), paused_is_bad: true, ..Default::default() });
        j.intent(&action(1)).await.unwrap(); // everything queued before it is on disk too
    }
    let (_j, rec, _fail) = Journal::open(&path).unwrap();
    assert_eq!(
        rec.ladder,
        vec![
            LadderRow { vm: "db1".into(), paused_is_bad: true, ..Default::default() },
            LadderRow {
                vm: "web1".into(),
                restarts: vec![1_000, 2_000],
                relocations: vec![3_000],
                reinstalls: vec![4_000],
                paused_is_bad: false,
                guest_restarts: vec![5_000],
            },
        ]
    );
}

#[tokio::test]
async fn a_full_journal_is_reported_and_nothing_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let (j, _rec, mut failures) = Journal::open_limited(&path, Some(24)).unwrap();
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
    // A sync says so even when the failed write was in an earlier batch than its own; one
    // that asks only about what comes after its mark does not.
    let err = j.synced(0).await.unwrap_err();
    assert!(err.contains("an earlier write of the journal failed"), "{err}");
    let mark = j.mark();
    j.synced(mark).await.unwrap();
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
        priority: 3,
        anti_affinity: Some("web".into()),
        policy: crate::core::Policy { max_restart: 1, ..Default::default() },
        origin: crate::core::Origin::RunTime,
        ..crate::core::VmSpec::named("p2v1")
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
async fn alarms_and_their_acknowledgements_are_read_back_and_a_dropped_one_is_gone() {
    use crate::core::{Alarm, Decision, Severity, Subject};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let alarm = |id: u64, ack: Option<Decision>| Alarm {
        id,
        key: format!("operator:vm{id}"),
        wall_ms: 1_000 * id,
        subject: Subject::Vm(format!("vm{id}")),
        severity: Severity::Critical,
        message: "needs a person".into(),
        ended: None,
        ack,
    };
    let acked = Some(Decision { by: "console:alice".into(), wall_ms: 9_000 });
    {
        let (j, rec, _fail) = Journal::open(&path).unwrap();
        assert!(rec.alarms.is_empty());
        j.alarm(1, Some(&alarm(1, None)));
        j.alarm(2, Some(&alarm(2, None)));
        j.alarm(3, Some(&alarm(3, None)));
        j.alarm(1, Some(&alarm(1, acked.clone())));
        j.alarm(2, None);
    }
    let (_j, rec, _fail) = Journal::open(&path).unwrap();
    assert_eq!(rec.alarms, vec![alarm(1, acked), alarm(3, None)]);
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
    j.synced(0).await.unwrap();
    // Read by another connection while the writer lives: nothing is left in its queue.
    assert_eq!(read_events(&path).unwrap().len(), 200);
    let actions = read_actions(&path).unwrap();
    assert_eq!(actions, vec![("restart web1 on hv1".into(), "policy: ladder step 1".into(), None)]);
    intent.await.unwrap();
    drop(j);
}

/// The fixture journal, copied where a test may change it.
fn fixture_v0(dir: &Path) -> PathBuf {
    let path = dir.join("journal.db");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journal-v0/journal.db"), &path).unwrap();
    path
}

fn count(path: &Path, table: &str) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

/// A journal written before the schema had versions (by the 3rc of commit e6d4356, see
/// tests/fixtures/journal-v0/make.sh) opens with everything in it: whatever the schema becomes,
/// this test keeps proving that such a journal still opens.
#[tokio::test]
async fn a_journal_from_before_schema_versions_opens_with_everything_it_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture_v0(dir.path());
    let (events, actions) = (count(&path, "events"), read_actions(&path).unwrap());
    {
        let (j, rec, _fail) = Journal::open(&path).unwrap();
        assert_eq!(rec.schema_was, 0);
        assert!(rec.warnings.is_empty(), "{:?}", rec.warnings);
        assert_eq!(rec.run, 2);
        assert_eq!(rec.inventory.len(), 10);
        assert!(rec.inventory.iter().any(|r| r.vm == "db1" && r.host == "hv1" && r.xml.contains("<name>db1</name>")));
        let protected: Vec<&str> = rec.protected.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(protected, ["ci-runner1"]);
        assert_eq!(rec.protected[0].priority, 5);
        let ladder: Vec<(&str, usize, usize)> =
            rec.ladder.iter().map(|l| (l.vm.as_str(), l.restarts.len(), l.relocations.len())).collect();
        assert_eq!(ladder, [("cache1", 2, 1), ("ci-runner1", 2, 1)]);
        j.record(&event("written by this version"));
        j.synced(0).await.unwrap();
    }
    assert_eq!(count(&path, "events"), events + 1);
    assert_eq!(read_actions(&path).unwrap(), actions, "the earlier run's actions are kept as they were");
    assert!(actions.iter().any(|(t, d, o)| t == "stop web1 on hv1" && d.starts_with("operator cli:") && o.is_some()));
    let (_j, rec, _fail) = Journal::open(&path).unwrap();
    assert_eq!((rec.schema_was, rec.run), (schema::VERSION, 3));
}

#[test]
fn a_journal_from_a_newer_3rc_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture_v0(dir.path());
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", schema::VERSION + 1).unwrap();
        conn.execute("UPDATE actions SET outcome = NULL WHERE text = 'stop web1 on hv1'", []).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = format!("{:#}", Journal::open(&path).err().expect("refused"));
    assert!(err.contains(&format!("schema version {}", schema::VERSION + 1)) && err.contains("newer"), "{err}");
    assert!(err.contains(&path.display().to_string()), "names the journal: {err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing was changed");
    assert_eq!(count(&path, "runs"), 1);
    let stop = read_actions(&path).unwrap().into_iter().find(|(t, _, _)| t == "stop web1 on hv1").unwrap();
    assert_eq!(stop.2, None, "its unfinished action was not marked interrupted");
}

#[test]
fn rows_that_cannot_be_read_back_are_named_in_warnings_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    drop(Journal::open(&path).unwrap());
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO ladder VALUES ('web1', '[1000, \"x\"]', '[]', '[]', 0, 0, '[]');
             INSERT INTO ladder VALUES ('db1', '[5]', '[]', '[]', 0, 0, '[7, \"y\"]');
             INSERT INTO protected VALUES ('p2v1', '{\"name\": 3}', 'cli:alice', 0);
             INSERT INTO actions (run, id, text, decided_by, json, intent_wall)
                 VALUES (1, 9, 'frobnicate web1', 'policy: x', '{\"Frobnicate\": {}}', 0);
             INSERT INTO alarms VALUES (4, '{\"id\": \"four\"}', 0);",
        )
        .unwrap();
    }
    let (_j, rec, _fail) = Journal::open(&path).unwrap();
    let all = rec.warnings.join("\n");
    assert_eq!(rec.warnings.len(), 5, "{all}");
    assert!(all.contains("the ladder's guest probes' restarts of db1 cannot be read"), "{all}");
    assert!(all.contains("alarm #4 cannot be read back"), "{all}");
    assert!(all.contains("the ladder's restarts of web1 cannot be read"), "{all}");
    assert!(all.contains("VM p2v1 was put under HA at run time") && all.contains("NOT protected"), "{all}");
    assert!(all.contains("action #9 of run 1 (policy: x) cannot be read back"), "{all}");
    assert!(rec.warnings.iter().all(|w| w.contains(&path.display().to_string())), "{all}");
    // What could be read is there; what could not is still in the journal for a person.
    assert!(rec.ladder.iter().any(|l| l.vm == "db1" && l.restarts == [5] && l.guest_restarts.is_empty()));
    assert!(rec.ladder.iter().any(|l| l.vm == "web1" && l.restarts.is_empty()));
    assert!(rec.protected.is_empty());
    assert_eq!(count(&path, "protected"), 1);
    assert_eq!(rec.interrupted, ["frobnicate web1 (policy: x)"]);
}

#[tokio::test]
async fn a_file_that_is_not_a_journal_is_named_moved_aside_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let text = "this is not a database, it is a text file with enough bytes in it to look like one".repeat(20);
    std::fs::write(&path, &text).unwrap();
    let (_j, rec, _fail) = Journal::open(&path).unwrap();
    let msg = rec.damaged.expect("said damaged");
    assert!(msg.contains(&path.display().to_string()) && msg.contains("not a database"), "{msg}");
    assert!(msg.contains("lost: the inventory, the ladder's windows, the VMs protected at run time, the operators' decisions, the alarms, the unfinished actions, the undelivered notifications."), "{msg}");
    assert_eq!(std::fs::read_to_string(&moved_aside(dir.path())[0]).unwrap(), text);
}

/// Overwrite the first page of `table`'s b-tree with garbage, as a bad sector would.
fn damage_table(path: &Path, table: &str) {
    let (root, page): (i64, i64) = {
        let c = Connection::open(path).unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        let root = c.query_row("SELECT rootpage FROM sqlite_master WHERE name = ?1", [table], |r| r.get(0)).unwrap();
        (root, c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap())
    };
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(((root - 1) * page) as u64)).unwrap();
    f.write_all(&vec![0xA5; page as usize]).unwrap();
}

fn moved_aside(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".damaged-"))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_journal_damaged_in_one_table_is_moved_aside_and_the_rest_carried_into_a_new_one() {
    use crate::core::{Decision, DecisionKey};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let stop = (DecisionKey::VmStopped("db1".into()), Decision { by: "console:alice".into(), wall_ms: 5 });
    {
        let (j, _rec, _fail) = Journal::open(&path).unwrap();
        j.decision(&stop.0, Some(&stop.1));
        j.inventory(InventoryRow { vm: "db1".into(), host: "hv1".into(), xml: "<domain/>".into() });
        for i in 0..50 {
            j.record(&event(&format!("e{i}")));
        }
    }
    damage_table(&path, "events");
    let before = std::fs::read(&path).unwrap();
    let (j, rec, _fail) = Journal::open(&path).unwrap();
    let msg = rec.damaged.clone().expect("said damaged");
    assert!(msg.contains("cannot be read") && msg.contains("lost: nothing"), "{msg}");
    assert!(!rec.decisions_unknown);
    assert_eq!(rec.decisions, vec![stop.clone()], "carried over");
    assert_eq!(rec.inventory.len(), 1);
    let aside = moved_aside(dir.path());
    assert_eq!(std::fs::read(&aside[0]).unwrap(), before, "kept as it was");
    // The new journal holds what was carried over, and takes this run's writes.
    j.record(&event("after"));
    drop(j);
    let (_j, again, _fail) = Journal::open(&path).unwrap();
    assert!(again.damaged.is_none());
    assert_eq!((again.decisions, again.inventory.len()), (vec![stop], 1));
    assert_eq!(read_events(&path).unwrap().len(), 1);
}

#[tokio::test]
async fn losing_the_decisions_table_says_the_decisions_are_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    {
        let (j, _rec, _fail) = Journal::open(&path).unwrap();
        let d = crate::core::Decision { by: "cli:root".into(), wall_ms: 5 };
        j.decision(&crate::core::DecisionKey::ClusterDisarmed, Some(&d));
        j.inventory(InventoryRow { vm: "db1".into(), host: "hv1".into(), xml: "<domain/>".into() });
    }
    damage_table(&path, "decisions");
    let (_j, rec, _fail) = Journal::open(&path).unwrap();
    let msg = rec.damaged.expect("said damaged");
    assert!(msg.contains("lost: the operators' decisions.") && msg.contains("decisions are unknown"), "{msg}");
    assert!(rec.decisions_unknown);
    assert_eq!(rec.inventory.len(), 1, "the rest is read back");
}

#[tokio::test]
async fn a_journal_that_cannot_be_opened_at_all_is_moved_aside_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    std::fs::create_dir(&path).unwrap(); // not a file: cannot be opened as a database
    std::fs::write(path.join("kept"), "x").unwrap();
    let (j, rec, _fail) = Journal::open(&path).unwrap();
    let msg = rec.damaged.expect("said damaged");
    assert!(msg.contains("lost: the inventory, ") && rec.decisions_unknown, "{msg}");
    j.record(&event("x"));
    drop(j);
    assert_eq!(read_events(&path).unwrap().len(), 1, "a new journal in its place");
    let aside = moved_aside(dir.path());
    assert!(aside[0].join("kept").exists(), "nothing deleted");
}

#[tokio::test]
async fn a_journal_that_cannot_be_written_at_start_is_read_back_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture_v0(dir.path());
    let pages = Connection::open(&path).unwrap().query_row("PRAGMA page_count", [], |r| r.get::<_, u32>(0)).unwrap();
    // It may not grow by a page: its migrations fail as on a full disk.
    let (j, rec, mut fail) = Journal::open_limited(&path, Some(pages)).unwrap();
    assert!(rec.damaged.is_none(), "{:?}", rec.damaged);
    assert_eq!((rec.inventory.len(), rec.ladder.len()), (10, 2), "read back in full, at the version it is");
    let msg = fail.try_recv().expect("the failure is reported at once");
    assert!(msg.contains("cannot be written") && msg.contains("supervision goes on"), "{msg}");
    drop(j);
    assert!(moved_aside(dir.path()).is_empty(), "a journal that reads is never moved");
    // With room again, the next start brings it up to date.
    let (_j, rec, _fail) = Journal::open(&path).unwrap();
    assert!(rec.schema_was < schema::VERSION && rec.inventory.len() == 10, "{}", rec.schema_was);
}

#[tokio::test]
async fn undelivered_notifications_outlive_a_restart_and_delivered_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    {
        let (j, _, _) = Journal::open(&path).unwrap();
        let times = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = times.clone();
        j.on_write(Box::new(move |d| seen.lock().unwrap().push(d)));
        j.outbox("webhook http://x/?***", "host-hv1-1-Down:event", Some("{\"id\":1}"));
        j.outbox("webhook http://x/?***", "alarm-2:firing", Some("{\"id\":2}"));
        j.outbox("agent /bin/page", "alarm-2:firing", Some("{\"id\":2}"));
        j.outbox("webhook http://x/?***", "host-hv1-1-Down:event", None);
        j.synced(0).await.unwrap();
        assert!(!times.lock().unwrap().is_empty(), "the write latency was observed");
    }
    let (j, rec, _) = Journal::open(&path).unwrap();
    let left: Vec<(String, String)> = rec.outbox.iter().map(|o| (o.target.clone(), o.key.clone())).collect();
    assert_eq!(
        left,
        [
            ("webhook http://x/?***".to_string(), "alarm-2:firing".to_string()),
            ("agent /bin/page".to_string(), "alarm-2:firing".to_string())
        ]
    );
    assert_eq!(j.outbox_left(), rec.outbox, "the journal hands them to the alerts once");
    assert!(j.outbox_left().is_empty());
}
