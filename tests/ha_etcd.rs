//! Two supervisors of the demo cluster's test-driver hosts on a real etcd (Debian's
//! `etcd-server`, started by the test on loopback ports of its own): one leads, the other
//! probes and shows and refuses commands; the leader dies (its campaign stops, as in a crash,
//! and its lease runs out); the standby leads within the lease's TTL and a host that fails
//! after that is fenced once, by it. Each journal tells who led when.
//!
//! `etcd-server` is installed by `.ci/deps`; without it this test fails.

use std::time::{Duration, Instant};
use threerc::core::{EventKind, HostState, VmState};
use threerc::hv::Leadership;

#[path = "support/ha.rs"]
mod ha;
#[path = "support/test_hosts.rs"]
#[allow(dead_code)] // the host-file builders serve other test binaries
mod test_hosts;
use ha::{fences, leader_of, notes, pair, Instance, Pair};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_leads_when_the_leader_dies_and_only_the_leader_fences() {
    let Pair { _dir, etcd: _etcd, cluster, a, b } = pair("200ms").await;
    // One leads; both name it.
    let (leader, standby) = leader_of(a, b).await;
    assert_eq!(standby.leadership.leader().as_deref(), Some(leader.leadership.name()));
    // Each one's view (its console, `3rc ctl status`) says who leads.
    let seen = |i: &Instance| i.handle.snapshots().borrow().ha.clone();
    test_hosts::until(&standby.handle, "the standby's view naming the leader", |v| {
        v.ha.as_ref().is_some_and(|h| !h.leads && h.leader.as_deref() == Some(leader.leadership.name()))
    })
    .await;
    test_hosts::until(&leader.handle, "the leader's view", |v| v.ha.as_ref().is_some_and(|h| h.leads)).await;
    assert_eq!(seen(&leader).map(|h| h.name), Some(leader.leadership.name().to_string()));
    // Each says so on its metrics page.
    for (i, leads) in [(&leader, 1), (&standby, 0)] {
        let m = threerc::supervisor::metrics::Metrics::start(&i.handle);
        let page = m.render().await.unwrap();
        let line = format!("threerc_ha_leader{{name=\"{}\"}} {leads}", i.leadership.name());
        assert!(page.contains(&line), "{line} not in:\n{page}");
    }
    // A command given to the standby goes to the leader, and its answer comes back: a refusal
    // of the leader's engine, then a disarm in force on the leader, saying who and through
    // which instance.
    let via = format!("cli:root via {}", standby.leadership.name());
    let refused = standby.handle.command("cli:root", threerc::core::Command::Arm { vm: None }).await;
    assert_eq!(refused, Err("HA is already armed".to_string()));
    let disarm = threerc::core::Command::Disarm { vm: Some("build1".into()) };
    assert_eq!(standby.handle.command("cli:root", disarm).await, Ok(None));
    let view = leader.handle.snapshot_now(Duration::from_secs(5)).await;
    let build1 = view.vms.iter().find(|v| v.name == "build1").unwrap();
    assert_eq!(build1.state, VmState::Unmanaged);
    assert!(build1.decided.as_deref().is_some_and(|d| d.contains(&via)), "{:?}", build1.decided);
    let arm = threerc::core::Command::Arm { vm: Some("build1".into()) };
    assert_eq!(standby.handle.command("cli:root", arm).await, Ok(None));
    let given: Vec<String> = leader
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Command { origin, command } if origin == &via => Some(command.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(given, ["disarm build1", "arm build1"], "each forwarded command carried out once, by the leader");
    assert!(standby.events.lock().unwrap().iter().all(|e| !matches!(e.kind, EventKind::Command { .. })));

    // The leader dies: the standby leads within the lease's TTL (2 s) and a little.
    leader.leadership.abandon();
    leader.task.abort();
    let t = Instant::now();
    while !standby.leadership.leads() {
        assert!(t.elapsed() < Duration::from_secs(10), "the standby did not take over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("the standby led {:?} after the leader died", t.elapsed());

    // A host fails now: fenced once, by the new leader.
    cluster.power_off("hv3").unwrap();
    test_hosts::until_within(
        &standby.handle,
        "hv3 fenced and every VM healthy again",
        Duration::from_secs(60),
        |v| {
            v.hosts.iter().any(|h| h.name == "hv3" && h.state == HostState::Fenced)
                && v.vms.iter().all(|vm| vm.state == VmState::Healthy)
        },
        |v| format!("{:?}", v.hosts.iter().map(|h| (&h.name, h.state)).collect::<Vec<_>>()),
    )
    .await;
    assert_eq!(fences(&standby), ["fence hv3"]);
    assert!(fences(&leader).is_empty(), "the dead leader fenced: {:?}", fences(&leader));
    let told = notes(&standby);
    assert!(told.iter().any(|n| n.contains("is a standby")), "{told:?}");
    assert!(told.iter().any(|n| n.ends_with("leads: it decides and acts")), "{told:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_etcd_is_gone_nobody_leads_and_nothing_is_fenced() {
    let Pair { _dir, etcd, cluster, a, b } = pair("200ms").await;
    let t = Instant::now();
    while !(a.leadership.leads() || b.leadership.leads()) {
        assert!(t.elapsed() < Duration::from_secs(10), "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // etcd is gone (as when it loses its quorum): the leader stops within its lease's TTL.
    drop(etcd);
    let t = Instant::now();
    while a.leadership.leads() || b.leadership.leads() {
        assert!(t.elapsed() < Duration::from_secs(3), "a leader still leads without etcd");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("the leader stopped {:?} after etcd went away", t.elapsed());
    // A host fails meanwhile: seen, not fenced; the other VMs run on.
    cluster.power_off("hv3").unwrap();
    test_hosts::until(&a.handle, "hv3 seen down", |v| {
        v.hosts.iter().any(|h| h.name == "hv3" && matches!(h.state, HostState::Down | HostState::Suspect))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(fences(&a).is_empty() && fences(&b).is_empty(), "{:?} {:?}", fences(&a), fences(&b));
    let view = a.handle.snapshot_now(Duration::from_secs(5)).await;
    let elsewhere = view.vms.iter().filter(|v| v.host.as_deref() != Some("hv3")).count();
    assert!(
        view.vms.iter().filter(|v| v.host.as_deref() != Some("hv3")).all(|v| v.state == VmState::Healthy),
        "{elsewhere} VMs off hv3 should run on: {:?}",
        view.vms.iter().map(|v| (&v.name, &v.host, v.state)).collect::<Vec<_>>()
    );
    let told = notes(&a).into_iter().chain(notes(&b)).collect::<Vec<_>>();
    assert!(told.iter().any(|n| n.contains("stops leading")), "{told:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_operator_decided_on_the_leader_holds_after_a_takeover() {
    let Pair { _dir, etcd: _etcd, cluster: _cluster, a, b } = pair("200ms").await;
    let (leader, standby) = leader_of(a, b).await;
    // Give it a cycle to take over (a command before that is refused, as on a standby).
    test_hosts::until(&leader.handle, "a cycle as leader", |_| true).await;
    let mut answer = leader.handle.command("console:alice", threerc::core::Command::Stop { vm: "mail1".into() }).await;
    for _ in 0..20 {
        if answer.as_ref().is_err_and(|e| e.contains("standby")) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            answer = leader.handle.command("console:alice", threerc::core::Command::Stop { vm: "mail1".into() }).await;
        }
    }
    assert_eq!(answer, Ok(None), "accepted, kept in the journal and in etcd");
    test_hosts::until(&leader.handle, "mail1 stopped", |v| {
        v.vms.iter().any(|vm| vm.name == "mail1" && vm.state == VmState::Stopped)
    })
    .await;

    // The leader dies; the standby takes over and keeps mail1 stopped, saying who stopped it.
    leader.leadership.abandon();
    leader.task.abort();
    let view = test_hosts::until_within(
        &standby.handle,
        "the standby leading with mail1 stopped by alice",
        Duration::from_secs(20),
        |v| {
            v.vms.iter().any(|vm| {
                vm.name == "mail1"
                    && vm.state == VmState::Stopped
                    && vm.decided.as_deref().is_some_and(|d| d.contains("console:alice"))
            })
        },
        |v| format!("{:?}", v.vms.iter().map(|vm| (&vm.name, vm.state, &vm.decided)).collect::<Vec<_>>()),
    )
    .await;
    assert!(standby.leadership.leads());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = standby.handle.snapshot_now(Duration::from_secs(5)).await;
    let mail1 = later.vms.iter().find(|v| v.name == "mail1").unwrap();
    assert_eq!(mail1.state, VmState::Stopped, "the new leader started what an operator stopped: {view:?}");
    let starts: Vec<String> = standby
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionDecided { action, .. } if action.contains("mail1") => Some(action.clone()),
            _ => None,
        })
        .collect();
    assert!(starts.is_empty(), "{starts:?}");
    assert!(notes(&standby).iter().any(|n| n.ends_with("leads: it decides and acts")));
}

/// An alarm raised and acknowledged on the leader is the new leader's after a takeover: the
/// same number, acknowledged by the same person, and not raised again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alarms_and_who_acknowledged_them_go_with_the_leadership() {
    let Pair { _dir, etcd: _etcd, cluster, a, b } = pair("200ms").await;
    let (leader, standby) = leader_of(a, b).await;
    test_hosts::until(&leader.handle, "a cycle as leader", |v| v.ha.as_ref().is_some_and(|h| h.leads)).await;
    cluster.power_off("hv3").unwrap();
    // Fenced by the leader (once the standby sees hv3 down too: before, the vote of the
    // supervisors holds the fence, with an alarm of its own), with the fence's alarm.
    let fenced =
        |a: &threerc::core::AlarmView| a.kind == "fenced" && a.subject == threerc::core::Subject::Host("hv3".into());
    let view = test_hosts::until_within(
        &leader.handle,
        "hv3 fenced, with its alarm",
        Duration::from_secs(60),
        |v| v.hosts.iter().any(|h| h.name == "hv3" && h.state == HostState::Fenced) && v.alarms.iter().any(fenced),
        |v| format!("{:?}", v.alarms),
    )
    .await;
    let id = view.alarms.iter().find(|a| fenced(a)).unwrap().id;
    let ack = leader.handle.command("console:alice", threerc::core::Command::AckAlarm { id }).await;
    assert_eq!(ack, Ok(None), "acknowledged, kept in the journal and in etcd");
    // With hv3 gone the demo cluster cannot absorb another host's loss: the spare capacity
    // alarm comes from whichever leads at the next check, a condition of its own, left out.
    let kept = |a: &&threerc::core::AlarmView| a.kind != "spare";
    let before: Vec<(u64, bool)> = leader
        .handle
        .snapshot_now(Duration::from_secs(5))
        .await
        .alarms
        .iter()
        .filter(kept)
        .map(|a| (a.id, a.acked))
        .collect();

    leader.leadership.abandon();
    leader.task.abort();
    let view = test_hosts::until_within(
        &standby.handle,
        "the standby leading with the former leader's alarms",
        Duration::from_secs(20),
        |v| v.ha.as_ref().is_some_and(|h| h.leads) && v.alarms.iter().any(|a| a.id == id),
        |v| format!("{:?}", v.alarms),
    )
    .await;
    let hv3 = view.alarms.iter().find(|a| a.id == id).unwrap();
    assert!(hv3.acked && hv3.acked_by.as_deref().is_some_and(|b| b.starts_with("console:alice")), "{hv3:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = standby.handle.snapshot_now(Duration::from_secs(5)).await;
    let after: Vec<(u64, bool)> = later.alarms.iter().filter(kept).map(|a| (a.id, a.acked)).collect();
    assert_eq!(after.len(), before.len(), "no alarm raised again: {before:?} then {:?}", later.alarms);
    for (id, acked) in &before {
        assert!(after.contains(&(*id, *acked)), "alarm #{id} not taken over as it was: {before:?} then {after:?}");
    }
    let paged: Vec<_> = standby
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Alarm { .. }) && !e.reason.starts_with("spare capacity"))
        .cloned()
        .collect();
    assert!(paged.is_empty(), "the new leader paged again: {paged:?}");
    let told = notes(&standby);
    assert!(told.iter().any(|n| n.contains("alarm(s) taken over from the former leader ")), "{told:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_stops_cleanly_hands_over_at_once() {
    let Pair { _dir, etcd: _etcd, cluster: _cluster, a, b } = pair("200ms").await;
    let (leader, standby) = leader_of(a, b).await;
    // A clean stop (SIGTERM to `3rc run`): the supervisor stops, then the lease is given back.
    leader.task.abort();
    let t = Instant::now();
    leader.leadership.resign().await;
    assert!(!leader.leadership.leads());
    while !standby.leadership.leads() {
        // Sooner than the TTL (2 s) a crash would take: within one campaign round (0.5 s).
        assert!(t.elapsed() < Duration::from_millis(1500), "the standby did not lead at once");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("the standby led {:?} after the leader stepped down", t.elapsed());
}

/// Every fence any of them decided.
fn all_fences(sups: &[Instance]) -> Vec<String> {
    sups.iter().flat_map(fences).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_cut_from_the_leader_alone_is_not_fenced_and_every_view_says_who_sees_what() {
    let ha::Trio { _dir, etcd: _etcd, cluster: _cluster, sups, cuts } = ha::trio("200ms").await;
    let l = ha::one_leader(&sups).await;
    let name = |i: usize| sups[i].leadership.name().to_string();
    let others: Vec<String> = (0..3).filter(|i| *i != l).map(name).collect();
    // The leader's link to hv2 fails; the others reach hv2 fine.
    cuts[l].lock().unwrap().insert("hv2".into());
    let expected = format!("unreachable from {}; reachable from {}", name(l), others.join(", "));
    // Well past the leader's hysteresis (3 rounds of 200 ms) and the fence's decision.
    let held = test_hosts::until_within(
        &sups[l].handle,
        "the leader holding hv2's fence",
        Duration::from_secs(20),
        |v| v.hosts.iter().any(|h| h.name == "hv2" && h.reason.contains("fencing held")),
        |v| format!("{:?}", v.hosts.iter().map(|h| (&h.name, h.state, &h.reason)).collect::<Vec<_>>()),
    )
    .await;
    let hv2 = held.hosts.iter().find(|h| h.name == "hv2").unwrap();
    assert_eq!(hv2.state, HostState::Down);
    assert!(hv2.seen.starts_with(&format!("unreachable from {}", name(l))), "{}", hv2.seen);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(all_fences(&sups).is_empty(), "fenced: {:?}", all_fences(&sups));
    // A standby's console shows the same, from its side (its view comes first there).
    let s = (l + 1) % 3;
    let view = sups[s].handle.snapshot_now(Duration::from_secs(5)).await;
    let seen = &view.hosts.iter().find(|h| h.name == "hv2").unwrap().seen;
    assert!(seen.contains(&format!("unreachable from {}", name(l))) && seen.contains("reachable from"), "{seen}");
    let on_leader = sups[l].handle.snapshot_now(Duration::from_secs(5)).await;
    assert_eq!(on_leader.hosts.iter().find(|h| h.name == "hv2").unwrap().seen, expected);
    assert!(on_leader.vms.iter().filter(|v| v.host.as_deref() == Some("hv2")).all(|v| v.state != VmState::Restarting));
    // The link is back: hv2 online again, nothing was fenced or moved.
    cuts[l].lock().unwrap().clear();
    test_hosts::until_within(
        &sups[l].handle,
        "hv2 online again",
        Duration::from_secs(20),
        |v| v.hosts.iter().any(|h| h.name == "hv2" && h.state == HostState::Online),
        |v| format!("{:?}", v.hosts.iter().map(|h| (&h.name, h.state)).collect::<Vec<_>>()),
    )
    .await;
    assert!(all_fences(&sups).is_empty(), "fenced: {:?}", all_fences(&sups));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_from_every_host_stands_aside_and_a_better_placed_one_leads() {
    let ha::Trio { _dir, etcd: _etcd, cluster, sups, cuts } = ha::trio("200ms").await;
    let l = ha::one_leader(&sups).await;
    let cut_off = sups[l].leadership.name().to_string();
    cuts[l].lock().unwrap().extend(cluster.host_names());
    let t = Instant::now();
    let next = loop {
        let leaders: Vec<usize> = (0..3).filter(|i| sups[*i].leadership.leads()).collect();
        assert!(leaders.len() <= 1, "two leaders: {leaders:?}");
        if let [n] = leaders[..] {
            if n != l {
                break n;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no better-placed leader: {leaders:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("{} leads {:?} after {cut_off} was cut from every host", sups[next].leadership.name(), t.elapsed());
    // It stays aside while it is cut off; nothing is fenced, every VM runs on.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!sups[l].leadership.leads());
    assert!(all_fences(&sups).is_empty(), "fenced: {:?}", all_fences(&sups));
    let view = sups[next].handle.snapshot_now(Duration::from_secs(5)).await;
    assert!(view.vms.iter().all(|v| v.state == VmState::Healthy), "{:?}", view.vms);
    let told = notes(&sups[l]);
    assert!(
        told.iter().any(|n| n.contains("it is the one cut off"))
            && told.iter().any(|n| n.contains("stops leading: it stands aside")),
        "{told:?}"
    );
    // Back: it may lead again, and stays a standby while the other leads.
    cuts[l].lock().unwrap().clear();
    test_hosts::until_within(
        &sups[l].handle,
        "the cut-off one fit again",
        Duration::from_secs(20),
        |_| notes(&sups[l]).iter().any(|n| n.contains("may lead")),
        |_| format!("{:?}", notes(&sups[l])),
    )
    .await;
    assert!(sups[next].leadership.leads());
}

/// A member of a three-member etcd goes (killed: connections to it are refused), the first in
/// every instance's list, the one each sends its requests to: the leader keeps leading,
/// without a gap — its requests move on to the next member after one failure. (A member cut
/// off silently, whose connections time out, is the lab's case: `tests/lab_ha.rs`, a standby's
/// machine isolated.) A raft follower goes: a raft leader going makes etcd elect another,
/// which is etcd's own unavailability, not this.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_member_gone_costs_the_leader_nothing() {
    let (mut members, urls) = ha::etcd_cluster(3);
    let gone = (0..3).find(|i| !ha::etcd_leads(&urls[*i])).expect("a raft follower");
    let mut endpoints = vec![urls[gone].clone()];
    endpoints.extend(urls.iter().enumerate().filter(|(i, _)| *i != gone).map(|(_, u)| u.clone()));
    let mut electors = Vec::new();
    for name in ["sup1", "sup2"] {
        let cfg = threerc::config::HaConfig {
            endpoints: endpoints.clone(),
            name: name.into(),
            ttl: Duration::from_secs(2),
            prefix: "/3rc/test".into(),
        };
        electors.push(threerc::ha::EtcdLeadership::start(&cfg).await.unwrap());
    }
    let t = Instant::now();
    let l = loop {
        if let Some(l) = (0..2).find(|i| electors[*i].leads()) {
            break l;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    drop(members.remove(gone));
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        assert!(electors[l].leads(), "the leader stopped leading {:?} after an etcd member went", t.elapsed());
        assert!(!electors[1 - l].leads(), "two leaders");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
