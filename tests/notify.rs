//! Notifications to alert agents and webhooks, with real processes and a real HTTP receiver on
//! loopback: the supervisor on the demo cluster's test-driver hosts, a host powered off and
//! fenced.
//!
//! - An alert agent (a shell script) gets each notification in `CRM_alert_*` variables and as
//!   JSON on its standard input: the host's transition, the fence, the fenced alarm firing, and
//!   its resolution once acknowledged, under the same identity.
//! - A webhook receiver that is down while the host fails: the console shows the target
//!   failing (without its token), 3RC is restarted meanwhile, and when the receiver comes up
//!   the new run delivers everything the first one could not, in order, once each, with the
//!   URL's token and the headers configured.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use threerc::core::Command as Cmd;

#[path = "support/test_hosts.rs"]
#[allow(dead_code)] // the host-file builders serve other test binaries
mod test_hosts;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Poll `f` on a blocking thread until it gives something (`within`, then fail with `what`).
async fn wait_for<T: Send + 'static>(
    what: &'static str,
    within: Duration,
    f: impl Fn() -> Option<T> + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(t.elapsed() < within, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap()
}

/// What the agent was called with so far: (its variables, the JSON it read), in order.
fn agent_calls(dir: &Path) -> Vec<(BTreeMap<String, String>, Value)> {
    let mut calls = Vec::new();
    for n in 1.. {
        let Ok(env) = std::fs::read_to_string(dir.join(format!("{n}.env"))) else { break };
        let vars = env.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let json = std::fs::read_to_string(dir.join(format!("{n}.json"))).unwrap();
        calls.push((vars, serde_json::from_str(&json).unwrap_or_else(|e| panic!("call {n}: {e}: {json}"))));
    }
    calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_agent_gets_its_variables_and_the_ack_resolves_the_alarm() {
    let state = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let script = state.path().join("agent.sh");
    // Each call's variables and input, written under a temporary name and renamed: the test
    // never reads half a file.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nset -e\nd={}\nn=$CRM_alert_node_sequence\ncat > $d/.$n.json\nenv | grep '^CRM_alert_' > $d/.$n.env\n\
             mv $d/.$n.json $d/$n.json\nmv $d/.$n.env $d/$n.env\necho \"paged $CRM_alert_id\"\n",
            out.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cfg = test_hosts::demo_config(
        state.path(),
        "200ms",
        &format!(
            "\n[[alert]]\nagent = \"{}\"\nrecipient = \"oncall@example.com\"\nkinds = [\"alarm\", \"host\", \"action\"]\n\
             min_severity = \"info\"\ntimeout = \"10s\"\n",
            script.display()
        ),
    );
    cfg.path = state.path().join("prod.toml");
    let (cluster, handle, stop) = test_hosts::run(&cfg);
    threerc::app::alerts(&cfg, &handle);
    test_hosts::until_steady(&handle).await;

    cluster.power_off("hv3").unwrap();
    let dir = out.path().to_path_buf();
    let calls = wait_for("the fenced alarm at the agent", Duration::from_secs(60), move || {
        let calls = agent_calls(&dir);
        calls.iter().any(|(v, _)| v.get("CRM_alert_alarm").map(String::as_str) == Some("fenced")).then_some(calls)
    })
    .await;
    let find = |pred: &dyn Fn(&BTreeMap<String, String>) -> bool| {
        calls.iter().find(|(v, _)| pred(v)).unwrap_or_else(|| panic!("no such call in {calls:#?}")).clone()
    };
    let var = |v: &BTreeMap<String, String>, k: &str| v.get(&format!("CRM_alert_{k}")).cloned().unwrap_or_default();

    // The host's transition to Down: a node event.
    let (down, json) = find(&|v| var(v, "kind") == "node" && var(v, "node") == "hv3" && var(v, "task") == "Down");
    assert_eq!(var(&down, "severity"), "warning");
    assert_eq!(var(&down, "state"), "event");
    assert_eq!(json["to"], "Down");
    assert_eq!(json["id"].as_str().unwrap(), var(&down, "id"));
    // The fence: a fencing event, done.
    let (fence, _) = find(&|v| var(v, "kind") == "fencing" && var(v, "node") == "hv3");
    assert_eq!((var(&fence, "task"), var(&fence, "rc")), ("fence".to_string(), "0".to_string()), "{fence:#?}");
    assert!(var(&fence, "decided_by").starts_with("policy"), "{fence:#?}");
    // The alarm, firing.
    let (fired, json) = find(&|v| var(v, "alarm") == "fenced");
    assert_eq!(var(&fired, "kind"), "alarm");
    assert_eq!(var(&fired, "task"), "firing");
    assert_eq!(var(&fired, "node"), "hv3");
    assert_eq!(var(&fired, "recipient"), "oncall@example.com");
    assert_eq!(var(&fired, "cluster"), "prod");
    assert!(var(&fired, "console").starts_with("3rc console --config "), "{fired:#?}");
    assert!(var(&fired, "desc").contains("hv3"), "{fired:#?}");
    let epoch: u64 = var(&fired, "timestamp_epoch").parse().unwrap();
    assert_eq!(json["time_ms"].as_u64().unwrap() / 1000, epoch);
    assert!(var(&fired, "timestamp").ends_with('Z'));
    // In the order they happened, numbered.
    let seqs: Vec<u64> = calls.iter().map(|(v, _)| var(v, "node_sequence").parse().unwrap()).collect();
    assert_eq!(seqs, (1..=calls.len() as u64).collect::<Vec<_>>());
    let at = |v: &BTreeMap<String, String>| var(v, "node_sequence").parse::<u64>().unwrap();
    assert!(at(&down) < at(&fence) && at(&fence) < at(&fired), "{calls:#?}");

    // The ack resolves it: the same identity, resolved.
    let id: u64 = var(&fired, "alarm_id").parse().unwrap();
    handle.command("console:alice", Cmd::AckAlarm { id }).await.unwrap();
    let dir = out.path().to_path_buf();
    let alarm_id = var(&fired, "id");
    let resolved = wait_for("the resolution at the agent", Duration::from_secs(30), move || {
        agent_calls(&dir).into_iter().map(|(v, _)| v).find(|v| {
            v.get("CRM_alert_id") == Some(&alarm_id) && v.get("CRM_alert_state").map(String::as_str) == Some("resolved")
        })
    })
    .await;
    assert!(var(&resolved, "desc").contains("acknowledged by console:alice"), "{resolved:#?}");
    assert!(handle.snapshot_now(Duration::from_secs(5)).await.deliveries.is_empty());
    let _ = stop.send(());
}

/// One request a webhook receiver got: its URL, its `Authorization` header, its body.
type Got = (String, String, Value);

/// A webhook receiver on `port`, from a thread of its own, until the test ends.
fn receiver(port: u16, got: Arc<Mutex<Vec<Got>>>) {
    let server = tiny_http::Server::http(("127.0.0.1", port)).expect("the webhook's port");
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let auth = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.to_string())
                .unwrap_or_default();
            let json = serde_json::from_str(&body).unwrap_or(Value::Null);
            got.lock().unwrap().push((req.url().to_string(), auth, json));
            let _ = req.respond(tiny_http::Response::from_string("ok"));
        }
    });
}

/// The notifications the journal keeps for delivery (not the alarms it says were told).
fn outbox_rows(journal: &Path) -> usize {
    let conn = rusqlite::Connection::open_with_flags(journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row("SELECT COUNT(*) FROM outbox WHERE target <> 'told'", [], |r| r.get::<_, i64>(0)).unwrap() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_was_down_gets_what_it_missed_even_across_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cfg = test_hosts::demo_config(
        state.path(),
        "200ms",
        &format!(
            "\n[[alert]]\nwebhook = \"http://127.0.0.1:{port}/hook?token=s3cret\"\nheaders = {{ Authorization = \"Bearer t0ken\" }}\n\
             kinds = [\"alarm\", \"host\"]\nmin_severity = \"info\"\ntimeout = \"2s\"\n"
        ),
    );
    cfg.path = state.path().join("prod.toml");
    threerc::backend::libvirt::init();
    let cluster = threerc::backend::demo::DemoCluster::from_specs(&cfg.cluster.hosts);
    let (handle, stop, task) = test_hosts::supervise(&cfg, &cluster, |h| threerc::app::alerts(&cfg, h));
    test_hosts::until_steady(&handle).await;

    // hv3 fails while the receiver is down: the console shows the webhook failing, without its
    // token, and what waits.
    cluster.power_off("hv3").unwrap();
    let view = test_hosts::until(&handle, "the fenced alarm and the webhook failing", |v| {
        v.alarms.iter().any(|a| a.kind == "fenced") && v.deliveries.first().is_some_and(|d| d.queued >= 3)
    })
    .await;
    let failing = &view.deliveries[0];
    assert_eq!(failing.target, format!("webhook http://127.0.0.1:{port}/hook?***"));
    assert!(!format!("{view:?}").contains("s3cret") && !format!("{view:?}").contains("t0ken"));
    let fenced = view.alarms.iter().find(|a| a.kind == "fenced").unwrap().id;

    // 3RC stops before anything could be delivered: what waits is in the journal.
    let _ = stop.send(());
    task.await.unwrap();
    let journal = state.path().join("journal.db");
    let waiting = outbox_rows(&journal);
    assert!(waiting >= 3, "{waiting} notifications kept");

    // The receiver comes up; 3RC starts again and delivers what the first run could not.
    let got = Arc::new(Mutex::new(Vec::new()));
    receiver(port, got.clone());
    let (handle, stop, task) = test_hosts::supervise(&cfg, &cluster, |h| threerc::app::alerts(&cfg, h));
    let seen = got.clone();
    wait_for("the fenced alarm at the webhook", Duration::from_secs(20), move || {
        seen.lock().unwrap().iter().any(|(_, _, n)| n["alarm"] == "fenced").then_some(())
    })
    .await;
    let journal2 = journal.clone();
    wait_for("the journal's outbox emptied", Duration::from_secs(30), move || {
        (outbox_rows(&journal2) == 0).then_some(())
    })
    .await;
    let got = got.lock().unwrap().clone();
    for (url, auth, _) in &got {
        assert_eq!(url, "/hook?token=s3cret");
        assert_eq!(auth, "Bearer t0ken");
    }
    let ids: Vec<&str> = got.iter().map(|(_, _, n)| n["id"].as_str().unwrap_or("?")).collect();
    // Every notification the first run kept, once each, the first run's in the order they
    // happened; the fenced alarm fired once (the new run knows it was told).
    assert!(got.len() >= waiting, "{ids:?}");
    let firing = got.iter().filter(|(_, _, n)| n["alarm_id"] == fenced && n["status"] == "firing").count();
    assert_eq!(firing, 1, "{ids:?}");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "a notification delivered twice: {ids:?}");
    let hv3: Vec<&str> = got
        .iter()
        .filter(|(_, _, n)| n["kind"] == "host" && n["host"] == "hv3")
        .map(|(_, _, n)| n["to"].as_str().unwrap())
        .collect();
    let pos = |s: &str| hv3.iter().position(|t| *t == s).unwrap_or_else(|| panic!("no {s} in {hv3:?}"));
    assert!(pos("Suspect") < pos("Down") && pos("Down") < pos("Fenced"), "{hv3:?}");
    test_hosts::until(&handle, "the webhook no longer failing", |v| v.deliveries.is_empty()).await;
    let _ = stop.send(());
    task.await.unwrap();
}
