//! Behaviour of the engine as a person on call would judge it, driven through the public API
//! against a small in-memory cluster (`support/mini_cluster.rs`) on a virtual clock with
//! one-second cycles. Every action the engine emits is carried out and its outcome fed back;
//! the harness fails a test if a VM is ever started while it still runs on another host.

mod support;

use std::time::Duration;
use support::mini_cluster::{reinstall_spec, Builder, MiniCluster};
use threerc::core::placement::Verdict;
use threerc::core::{ActionKind, Command, Decider, DomState, EventKind, HostState, Severity, Subject, Time, VmState};
use HostState as H;
use VmState as V;

const ALICE: &str = "console:alice";

/// Actions that make a VM run somewhere.
fn starts_a_vm(k: &ActionKind) -> bool {
    matches!(
        k,
        ActionKind::Start { .. }
            | ActionKind::Restart { .. }
            | ActionKind::Relocate { .. }
            | ActionKind::Migrate { .. }
            | ActionKind::Reinstall { .. }
    )
}

fn count(c: &MiniCluster, pred: impl Fn(&ActionKind) -> bool) -> usize {
    c.decided_kinds().iter().filter(|k| pred(k)).count()
}

fn alarms(c: &MiniCluster, subject: Subject, severity: Severity) -> Vec<String> {
    c.snapshot()
        .alarms
        .into_iter()
        .filter(|a| a.subject == subject && a.severity == severity)
        .map(|a| a.message)
        .collect()
}

/// Three equal hosts; web1 and web2 on hv1, db1 on hv2.
fn three_hosts() -> Builder {
    Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 8, 16384)
        .host("hv3", 8, 16384)
        .vm("web1", "hv1", 2, 2048)
        .vm("web2", "hv1", 2, 2048)
        .vm("db1", "hv2", 2, 4096)
}

// ---- 1. a crashed VM ----

#[test]
fn crashed_vm_is_restarted_in_place_then_healthy_only_after_probes_and_uptime() {
    // web1: default policy (3 probes, 10 s uptime: the uptime binds).
    // web2: 1 s uptime, so the 3 good probes bind.
    let mut c = Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 8, 16384)
        .vm("web1", "hv1", 2, 2048)
        .vm_with("web2", "hv1", 2, 2048, |s| s.policy.min_uptime = Duration::from_secs(1))
        .boot();
    assert_eq!(c.vm_state("web1"), V::Healthy);
    assert_eq!(c.vm_state("web2"), V::Healthy);

    let mark = c.mark();
    c.crash("web1");
    c.crash("web2");
    c.tick();
    assert_eq!(c.vm_state("web1"), V::Suspect, "one bad probe only makes it Suspect");
    assert_eq!(c.vm("web1").reason, "1 failed probe (crashed), threshold 3");
    c.tick();
    assert_eq!(c.vm_state("web1"), V::Suspect);
    assert_eq!(c.vm("web1").bad_probes, 2);
    assert!(c.decided_since(mark).is_empty(), "no action below the threshold");

    c.tick(); // third bad probe: ladder step 1
    let restarted_at = c.now;
    assert_eq!(
        c.decided_since(mark),
        vec![
            ActionKind::Restart { vm: "web1".into(), host: "hv1".into() },
            ActionKind::Restart { vm: "web2".into(), host: "hv1".into() },
        ]
    );
    let (_, restart, _) = &c.applied[c.applied.len() - 2];
    assert_eq!(restart.decided_by, Decider::Policy("ladder step 1, restart 1 of 2 in 10 min".into()));
    assert_eq!(c.vm_path("web1"), vec![V::Discovering, V::Healthy, V::Suspect, V::Restarting, V::Probation]);
    let restarting = c.log().into_iter().find(|l| l.contains("vm web1 Suspect -> Restarting")).unwrap();
    assert!(
        restarting.ends_with("3 failed probes in 2 s (crashed), threshold 3; restart 1 of 2 in 10 min"),
        "{restarting}"
    );
    assert_eq!(c.vm("web1").restarts_in_window, 1);
    assert_eq!(c.running_on("web1"), vec!["hv1"]);

    c.run(2);
    assert_eq!(c.vm_state("web2"), V::Probation, "2 good probes are not enough");
    c.tick();
    assert_eq!(c.vm_state("web2"), V::Healthy, "3 good probes and 1 s up");
    assert_eq!(c.vm_state("web1"), V::Probation, "3 good probes but only 3 s up");
    assert_eq!(c.vm("web1").reason, "3 of 3 good probes, up 3 s of 10 s");

    c.run_until(20, "web1 healthy", |c| c.vm_state("web1") == V::Healthy);
    assert_eq!(c.now, restarted_at.plus(Duration::from_secs(10)), "healthy at min_uptime");
    assert_eq!(count(&c, starts_a_vm), 2, "one restart each, nothing else");
    assert_eq!(c.vm_host("web1").as_deref(), Some("hv1"));
}

// ---- 2. hysteresis ----

#[test]
fn bad_probes_below_the_threshold_then_a_good_one_never_act() {
    let mut c = three_hosts().boot();
    for _ in 0..20 {
        c.crash("web1");
        c.run(2); // fail_threshold - 1 bad probes
        c.revive("web1", "hv1");
        c.tick(); // one good probe
    }
    assert!(c.decided_kinds().is_empty(), "{:?}", c.decided_kinds());
    assert_eq!(c.vm_state("web1"), V::Suspect, "one good probe does not clear it either");
    c.run(2);
    assert_eq!(c.vm_state("web1"), V::Healthy, "3 good probes in a row clear it");
}

#[test]
fn a_vm_alternating_good_and_bad_for_500_cycles_is_never_acted_on() {
    let mut c = three_hosts().boot();
    for i in 0..500 {
        if i % 2 == 0 {
            c.crash("web1");
        } else {
            c.revive("web1", "hv1");
        }
        c.tick();
        assert_eq!(c.vm_state("web1"), V::Suspect, "cycle {i}");
    }
    assert!(c.decided_kinds().is_empty(), "{:?}", c.decided_kinds());
}

#[test]
fn a_host_connection_blip_shorter_than_the_threshold_fences_nothing() {
    let mut c = three_hosts().boot();
    for _ in 0..10 {
        c.cut("hv1");
        c.run(2); // host fail_threshold - 1
        assert_eq!(c.host_state("hv1"), H::Suspect);
        assert_eq!(c.vm_state("web1"), V::Healthy, "a Suspect host does not judge its VMs");
        c.reconnect("hv1");
        c.run(3);
        assert_eq!(c.host_state("hv1"), H::Online);
    }
    assert!(c.decided_kinds().is_empty(), "{:?}", c.decided_kinds());
    assert!(!c.vm_path("web1").contains(&V::AwaitingFence));
    assert!(!c.host_path("hv1").contains(&H::Down));
}

/// The busy-host rule is the engine's: a host whose listing is held up while its daemon
/// answers is not judged for `fail_threshold - 1` rounds (its VMs neither); then the held-up
/// probes count as failures with an answer (`Unmanageable`, never `Down`, never fenced).
#[test]
fn a_busy_host_is_not_judged_for_a_while_then_counts_as_alive_and_failing() {
    let mut c = three_hosts().boot();
    for _ in 0..10 {
        c.hosts.get_mut("hv1").unwrap().held_up = true;
        c.run(2); // host fail_threshold - 1
        assert_eq!(c.host_state("hv1"), H::Online, "two busy rounds are not judged");
        assert!(c.engine.held_busy("hv1"));
        c.hosts.get_mut("hv1").unwrap().held_up = false;
        c.tick();
        assert!(!c.engine.held_busy("hv1"), "an answer resets the count");
    }
    assert!(c.host_path("hv1").iter().all(|s| *s == H::Online || *s == H::Unknown), "{:?}", c.host_path("hv1"));
    let skipped = c.log().iter().filter(|l| l.contains("not judged this cycle")).count();
    assert_eq!(skipped, 20, "each skipped round is said in the log");

    c.hosts.get_mut("hv1").unwrap().held_up = true;
    c.run(3);
    assert!(!c.engine.held_busy("hv1"), "the third busy round in a row is judged");
    assert_eq!(c.host_state("hv1"), H::Suspect);
    c.run(6);
    assert_eq!(c.host_state("hv1"), H::Unmanageable, "busy is an answer: alive, not Down");
    assert!(c.decided_kinds().iter().all(|k| !matches!(k, ActionKind::Fence { .. })), "{:?}", c.decided_kinds());
}

// ---- 3. a host cut off: fence first, then recover ----

#[test]
fn a_cut_off_host_is_fenced_before_its_vms_run_elsewhere() {
    let mut c = three_hosts().boot();
    c.hold = Some(|k| matches!(k, ActionKind::Fence { .. }));
    c.cut("hv1"); // its VMs keep running: starting them elsewhere now would be split brain
    c.run(2);
    assert_eq!(c.host_state("hv1"), H::Suspect);
    assert_eq!(c.vm_state("web1"), V::Healthy);
    assert!(c.decided_kinds().is_empty());

    c.tick();
    assert_eq!(c.host_state("hv1"), H::Fencing);
    assert_eq!(c.decided_kinds(), vec![ActionKind::Fence { host: "hv1".into() }]);
    for vm in ["web1", "web2"] {
        assert_eq!(c.vm_state(vm), V::AwaitingFence);
        assert_eq!(c.vm(vm).reason, "host hv1 is Down: waiting for fence before any restart");
    }
    // The fence agent takes its time: nothing starts anywhere meanwhile.
    c.run_checked(30, |c| {
        assert_eq!(c.host_state("hv1"), H::Fencing);
        assert_eq!(c.vm_state("web1"), V::AwaitingFence);
        assert_eq!(c.vm_state("web2"), V::AwaitingFence);
        assert_eq!(count(c, starts_a_vm), 0);
        assert_eq!(c.running_on("web1"), vec!["hv1"], "still running behind the cut");
    });

    c.release(); // the fence agent answers: hv1 is off
    assert_eq!(c.host_state("hv1"), H::Fenced);
    assert_eq!(c.vm_state("web1"), V::Probation);
    assert_eq!(c.vm_state("web2"), V::Probation);
    let relocations: Vec<_> = c.decided.iter().filter(|(_, a)| matches!(a.kind, ActionKind::Relocate { .. })).collect();
    assert_eq!(relocations.len(), 2);
    for (_, a) in &relocations {
        assert!(matches!(&a.kind, ActionKind::Relocate { from: None, to, .. } if to != "hv1"));
        assert_eq!(a.decided_by, Decider::Policy("recovery: hv1 is fenced".into()));
    }
    // web1 took hv3 (most room); web2 was judged with web1's room already taken there.
    let score = |vm: &str| {
        let t = c.vm(vm).placement.unwrap();
        t.candidates
            .iter()
            .find_map(|k| match (&k.host[..], &k.verdict) {
                ("hv3", Verdict::Chosen { score }) => Some(*score),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{vm}: {}", t.summary()))
    };
    assert!(score("web2") < score("web1"), "the first placement reserved its room");

    c.run_until(20, "both healthy", |c| c.vm_state("web1") == V::Healthy && c.vm_state("web2") == V::Healthy);
    c.run(30);
    assert_eq!(c.host_path("hv1"), vec![H::Unknown, H::Online, H::Suspect, H::Down, H::Fencing, H::Fenced]);
    for vm in ["web1", "web2"] {
        assert_eq!(
            c.vm_path(vm),
            vec![V::Discovering, V::Healthy, V::AwaitingFence, V::Relocating, V::Probation, V::Healthy]
        );
        assert_eq!(c.running_on(vm), vec![c.vm_host(vm).unwrap()]);
    }
    assert_eq!(count(&c, |k| matches!(k, ActionKind::Fence { .. })), 1);
    assert_eq!(count(&c, starts_a_vm), 2);
    assert_eq!(c.vm_state("db1"), V::Healthy);
}

// ---- 4. fence failure ----

#[test]
fn a_failed_fence_moves_nothing_alarms_and_is_retried() {
    let mut c = three_hosts().boot();
    c.fail_next_fences("hv1", 1);
    c.cut("hv1");
    c.run(3);
    let failed_at = c.now;
    assert_eq!(c.host_state("hv1"), H::Down, "back to Down after the failed fence");
    assert_eq!(
        c.host("hv1").reason,
        "fence failed: fence agent ipmi: timed out talking to the BMC; retry in 10 s; its VMs stay where they are"
    );
    assert_eq!(
        alarms(&c, Subject::Host("hv1".into()), Severity::Critical),
        vec!["fencing hv1 failed: fence agent ipmi: timed out talking to the BMC"]
    );
    assert_eq!(c.vm_state("web1"), V::AwaitingFence);

    // Until the retry: no second fence, no relocation.
    while c.now < failed_at.plus(Duration::from_secs(9)) {
        c.tick();
        assert_eq!(count(&c, |k| matches!(k, ActionKind::Fence { .. })), 1, "at {}", c.now);
        assert_eq!(count(&c, starts_a_vm), 0);
        assert_eq!(c.vm_state("web1"), V::AwaitingFence);
        assert_eq!(c.vm_state("web2"), V::AwaitingFence);
    }
    c.tick();
    assert_eq!(c.now, failed_at.plus(Duration::from_secs(10)));
    let fences: Vec<Time> =
        c.decided.iter().filter(|(_, a)| matches!(a.kind, ActionKind::Fence { .. })).map(|(t, _)| *t).collect();
    assert_eq!(fences, vec![failed_at, failed_at.plus(Duration::from_secs(10))]);
    assert_eq!(c.host_state("hv1"), H::Fenced, "the retry succeeded");
    assert_eq!(c.vm_state("web1"), V::Probation);
    assert_eq!(c.vm_state("web2"), V::Probation);
    c.run_until(20, "recovered", |c| c.vm_state("web1") == V::Healthy && c.vm_state("web2") == V::Healthy);
    assert_eq!(count(&c, starts_a_vm), 2);
}

// ---- 5. no fence agent: a person decides ----

#[test]
fn a_host_without_fence_agent_waits_for_a_person_to_confirm_it_is_off() {
    let mut c = Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 8, 16384)
        .host_without_fence("hv3", 8, 16384)
        .vm("web3", "hv3", 2, 2048)
        .boot();
    c.power_off("hv3");
    c.run(3);
    assert_eq!(c.host_state("hv3"), H::Down);
    assert_eq!(
        alarms(&c, Subject::Host("hv3".into()), Severity::Critical),
        vec!["hv3 is down and has no fence agent: its 1 VMs wait until a person confirms it is off"]
    );
    c.run(60);
    assert!(c.decided_kinds().is_empty(), "{:?}", c.decided_kinds());
    assert_eq!(c.vm_state("web3"), V::AwaitingFence);
    assert_eq!(c.host_state("hv3"), H::Down);
    assert_eq!(alarms(&c, Subject::Host("hv3".into()), Severity::Critical).len(), 1, "raised once, not every cycle");

    // A host that answers probes cannot be confirmed off.
    let before = c.snapshot();
    assert_eq!(
        c.command(ALICE, Command::ConfirmHostOff { host: "hv2".into() }),
        Err("hv2 is Online and answers probes: it is not off".into())
    );
    assert_eq!(c.snapshot(), before, "a refused command changes nothing");

    c.command(ALICE, Command::ConfirmHostOff { host: "hv3".into() }).unwrap();
    assert_eq!(c.host_state("hv3"), H::Fenced);
    assert_eq!(c.host("hv3").reason, "confirmed powered off by console:alice");
    assert_eq!(c.vm_state("web3"), V::Probation);
    assert!(matches!(c.vm_host("web3").as_deref(), Some("hv1" | "hv2")));
    c.run_until(20, "web3 healthy", |c| c.vm_state("web3") == V::Healthy);
    assert_eq!(count(&c, starts_a_vm), 1);
}

// ---- 6. anti-affinity ----

#[test]
fn vms_of_one_anti_affinity_group_never_share_a_host_after_a_failure() {
    // hv2 has by far the most room, so only the group rule keeps db1 off it.
    let db = |s: &mut threerc::core::VmSpec| s.anti_affinity = Some("db".into());
    let mut c = Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 16, 65536)
        .host("hv3", 8, 8192)
        .vm_with("db1", "hv1", 2, 2048, db)
        .vm_with("db2", "hv2", 2, 2048, db)
        .vm("web1", "hv1", 2, 2048)
        .boot();
    let group_apart = |c: &MiniCluster| {
        let a = c.running_on("db1");
        let b = c.running_on("db2");
        assert!(a.iter().all(|h| !b.contains(h)), "db1 on {a:?} and db2 on {b:?} at {}", c.now);
        if c.vm_state("db1") != V::AwaitingFence {
            assert_ne!(c.vm_host("db1"), c.vm_host("db2"), "engine's view at {}", c.now);
        }
    };
    c.power_off("hv1");
    c.run_checked(60, group_apart);
    assert_eq!(c.vm_host("db1").as_deref(), Some("hv3"));
    assert_eq!(c.vm_host("web1").as_deref(), Some("hv2"), "most room wins without a group");
    assert_eq!(c.vm_state("db1"), V::Healthy);
    let trace = c.vm("db1").placement.unwrap();
    assert!(trace.summary().contains("not hv2: anti-affinity group db already has a VM here"), "{}", trace.summary());
}

// ---- 7. capacity shortage ----

#[test]
fn when_capacity_is_short_the_higher_priority_vm_goes_first_and_the_other_waits() {
    // "alpha" sorts first by name but has the lower priority.
    let mut c = Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 8, 8192)
        .vm_with("alpha", "hv1", 2, 4096, |s| s.priority = 1)
        .vm_with("zulu", "hv1", 2, 4096, |s| s.priority = 10)
        .unprotected("batch", "hv2", 2, 3072)
        .boot();
    c.power_off("hv1");
    c.run(3); // Down, fenced, recovered
    assert_eq!(c.host_state("hv1"), H::Fenced);
    assert_eq!(c.vm_state("zulu"), V::Probation);
    assert_eq!(c.vm_host("zulu").as_deref(), Some("hv2"));
    assert_eq!(c.vm_state("alpha"), V::Pending);
    let reason = c.vm("alpha").reason;
    assert!(reason.starts_with("waiting for capacity: no host fits"), "{reason}");
    assert!(reason.contains("not hv1: host is Fenced"), "{reason}");
    assert!(
        reason.contains("not hv2: not enough memory: 7168 MiB used + 4096 MiB needed > 8192 MiB allowed"),
        "{reason}"
    );
    let warnings = alarms(&c, Subject::Vm("alpha".into()), Severity::Warning);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("alpha cannot run anywhere now: waiting for capacity"));

    c.run(20);
    assert_eq!(c.vm_state("alpha"), V::Pending, "still no room");
    assert_eq!(count(&c, |k| k.vm() == Some("alpha")), 0);

    // hv1 comes back: once Online (not while rejoining) alpha is placed there.
    c.power_on("hv1");
    let mut alpha_placed_at = None;
    for _ in 0..10 {
        c.tick();
        if alpha_placed_at.is_none() && count(&c, |k| k.vm() == Some("alpha")) > 0 {
            alpha_placed_at = Some(c.now);
            assert_eq!(c.host_state("hv1"), H::Online, "placed only once hv1 is Online");
        }
        if c.host_state("hv1") == H::Rejoining {
            assert_eq!(c.vm_state("alpha"), V::Pending);
        }
    }
    assert!(alpha_placed_at.is_some(), "alpha was never placed");
    assert_eq!(c.vm_host("alpha").as_deref(), Some("hv1"));
    assert_eq!(c.running_on("alpha"), vec!["hv1"]);
    assert!(matches!(c.vm_state("alpha"), V::Probation | V::Healthy));
    assert_eq!(c.running_on("zulu"), vec!["hv2"]);
}

// ---- 8. the escalation ladder ----

/// A VM that crashes after every start, until the ladder gives up.
fn climb_the_ladder(reinstall: bool) -> MiniCluster {
    let mut c = Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 8, 16384)
        .vm_with("web1", "hv1", 2, 2048, |s| {
            s.policy.reinstall = reinstall;
            s.reinstall = Some(reinstall_spec("web1"));
        })
        .boot();
    c.make_flaky("web1");
    c.run(3); // Suspect, Suspect, restart 1
    c.run(1); // fails in probation: restart 2
    c.run(1); // fails in probation: relocation 1
    c.run(1); // fails in probation on hv2: ladder exhausted
    let steps: Vec<(ActionKind, Decider)> =
        c.decided.iter().map(|(_, a)| (a.kind.clone(), a.decided_by.clone())).collect();
    let mut want = vec![
        (
            ActionKind::Restart { vm: "web1".into(), host: "hv1".into() },
            Decider::Policy("ladder step 1, restart 1 of 2 in 10 min".into()),
        ),
        (
            ActionKind::Restart { vm: "web1".into(), host: "hv1".into() },
            Decider::Policy("ladder step 1, restart 2 of 2 in 10 min".into()),
        ),
        (
            ActionKind::Relocate { vm: "web1".into(), from: Some("hv1".into()), to: "hv2".into() },
            Decider::Policy("ladder step 2, relocation 1 of 1 in 10 min".into()),
        ),
    ];
    if reinstall {
        want.push((
            ActionKind::Reinstall { vm: "web1".into(), host: "hv2".into() },
            Decider::Policy("ladder step 3, reinstall from golden image".into()),
        ));
    }
    assert_eq!(steps, want);
    c
}

#[test]
fn the_ladder_restarts_twice_relocates_once_then_asks_a_person() {
    let mut c = climb_the_ladder(false);
    assert_eq!(
        c.vm_path("web1"),
        vec![
            V::Discovering,
            V::Healthy,
            V::Suspect,
            V::Restarting,
            V::Probation,
            V::Restarting,
            V::Probation,
            V::Relocating,
            V::Probation,
            V::NeedsOperator
        ]
    );
    let v = c.vm("web1");
    assert_eq!(v.host.as_deref(), Some("hv2"));
    assert_eq!(
        v.reason,
        "failed during probation (crashed); ladder exhausted: 2 of 2 restarts and 1 of 1 relocations used in 10 min, reinstall not allowed by policy"
    );
    assert_eq!(alarms(&c, Subject::Vm("web1".into()), Severity::Critical), vec![v.reason.clone()]);
    assert!(c.running_on("web1").is_empty());
    assert!(!c.hosts["hv1"].domains.contains_key("web1"), "undefined on the host it left");
    // A person's problem now: nothing more happens on its own.
    let mark = c.mark();
    c.run(30);
    assert!(c.decided_since(mark).is_empty());
    assert_eq!(c.vm_state("web1"), V::NeedsOperator);
}

#[test]
fn the_ladder_reinstalls_once_when_allowed_then_asks_a_person() {
    let mut c = climb_the_ladder(true);
    // The reinstall ran on its host; the flaky VM fails again on its fresh disk: a second
    // reinstall in the same window would not help, so a person is asked.
    c.run(3);
    let path = c.vm_path("web1");
    assert_eq!(path[path.len() - 3..], [V::Reinstalling, V::Probation, V::NeedsOperator]);
    let reason = c.vm("web1").reason;
    assert!(reason.ends_with("and its reinstall in 10 min did not help"), "{reason}");
    assert_eq!(alarms(&c, Subject::Vm("web1".into()), Severity::Critical), vec![reason]);
    assert_eq!(c.decided.iter().filter(|(_, a)| matches!(a.kind, ActionKind::Reinstall { .. })).count(), 1);
}

#[test]
fn reinstall_without_a_spec_asks_a_person() {
    let mut c = Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 8, 16384)
        .vm_with("web1", "hv1", 2, 2048, |s| s.policy.reinstall = true)
        .boot();
    c.make_flaky("web1");
    c.run(6);
    assert_eq!(c.vm_state("web1"), V::NeedsOperator);
    assert!(c.vm("web1").reason.ends_with("no reinstall spec configured"), "{}", c.vm("web1").reason);
    assert!(c.decided.iter().all(|(_, a)| !matches!(a.kind, ActionKind::Reinstall { .. })));
}

#[test]
fn restarts_and_relocations_are_forgotten_one_by_one_after_the_window() {
    let mut c = climb_the_ladder(false);
    let restarts: Vec<Time> =
        c.decided.iter().filter(|(_, a)| matches!(a.kind, ActionKind::Restart { .. })).map(|(t, _)| *t).collect();
    let relocated =
        c.decided.iter().find(|(_, a)| matches!(a.kind, ActionKind::Relocate { .. })).map(|(t, _)| *t).unwrap();
    let window = Duration::from_secs(600);
    let counts = |c: &MiniCluster| {
        let v = c.vm("web1");
        (v.restarts_in_window, v.relocations_in_window)
    };
    assert_eq!(counts(&c), (2, 1));
    c.run_until(700, "one window after the first restart", |c| {
        c.now == restarts[0].plus(window).plus(Duration::from_secs(0)) || {
            assert_eq!(counts(c), (2, 1), "at {}", c.now);
            false
        }
    });
    assert_eq!(counts(&c), (1, 1), "the first restart leaves the window alone");
    c.run_until(10, "one window after the second restart", |c| c.now == restarts[1].plus(window));
    assert_eq!(counts(&c), (0, 1));
    c.run_until(10, "one window after the relocation", |c| c.now == relocated.plus(window));
    assert_eq!(counts(&c), (0, 0));
}

/// hv1 carried three VMs of 5000 MiB and was powered off: hv2 and hv3 took one each, web3
/// waits for room (Pending).
fn hv1_fenced_with_one_vm_waiting() -> MiniCluster {
    let mut c = Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 8, 8192)
        .host("hv3", 8, 8192)
        .vm("web1", "hv1", 2, 5000)
        .vm("web2", "hv1", 2, 5000)
        .vm("web3", "hv1", 2, 5000)
        .boot();
    c.power_off("hv1");
    c.run(5);
    c
}

// ---- 9. a fenced host comes back ----

#[test]
fn a_fenced_host_rejoins_only_after_its_stale_copies_are_cleaned() {
    // Each VM needs 5000 MiB: hv2 and hv3 take one each, web3 must wait.
    let mut c = hv1_fenced_with_one_vm_waiting();
    assert_eq!(c.host_state("hv1"), H::Fenced);
    assert_eq!(c.vm_host("web1").as_deref(), Some("hv2"));
    assert_eq!(c.vm_host("web2").as_deref(), Some("hv3"));
    assert_eq!(c.vm_state("web3"), V::Pending);

    // hv1 powers back on: web1 defined but shut off, web2 even autostarted (split brain!).
    c.power_on("hv1");
    c.set_domain("hv1", "web2", DomState::Running);
    c.hold = Some(|k| matches!(k, ActionKind::Destroy { .. }));
    let mark = c.mark();
    c.tick();
    assert_eq!(c.host_state("hv1"), H::Rejoining);
    assert_eq!(
        c.decided_since(mark),
        vec![
            ActionKind::Destroy { vm: "web1".into(), host: "hv1".into(), undefine: true },
            ActionKind::Destroy { vm: "web2".into(), host: "hv1".into(), undefine: true },
        ],
        "web3's copy is its own, not stale"
    );
    assert!(
        alarms(&c, Subject::Vm("web2".into()), Severity::Critical).is_empty(),
        "a copy on a rejoining host is its cleanup, not a duplicate"
    );
    // Enough good probes, but the cleanup is not done: still Rejoining, nothing placed there.
    c.run_checked(5, |c| {
        assert_eq!(c.host_state("hv1"), H::Rejoining);
        assert_eq!(c.vm_state("web3"), V::Pending);
        assert_eq!(c.decided.len(), mark + 2, "no new action");
    });
    assert!(c.host("hv1").reason.contains("good probes"));
    let reason = c.vm("web3").reason;
    assert!(reason.contains("not hv1: rejoining"), "{reason}");
    assert_eq!(
        c.command(ALICE, Command::Migrate { vm: "web1".into(), to: "hv1".into() }).unwrap_err(),
        format!("cannot migrate web1 to hv1: not hv1: rejoining: 6 of 3 good probes, 2 stale copies being cleaned")
    );

    c.release();
    assert!(c.hosts["hv1"].domains.keys().eq(["web3"]), "stale copies undefined");
    c.tick();
    assert_eq!(c.host_state("hv1"), H::Online);
    assert_eq!(c.host("hv1").reason, "7 good probes (threshold 3) and no stale copies");
    assert_eq!(
        c.decided_since(mark + 2),
        vec![ActionKind::Relocate { vm: "web3".into(), from: None, to: "hv1".into() }]
    );
    assert_eq!(c.host_path("hv1")[c.host_path("hv1").len() - 3..], [H::Fenced, H::Rejoining, H::Online]);
    for vm in ["web1", "web2", "web3"] {
        assert_eq!(c.running_on(vm).len(), 1, "{vm}");
    }
    assert_eq!(count(&c, |k| matches!(k, ActionKind::Destroy { .. })), 2);
}

// ---- 10. operator commands ----

/// hv2 is almost full; hv3 is empty.
fn for_commands() -> MiniCluster {
    Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 8, 16384)
        .host("hv3", 8, 16384)
        .vm("web1", "hv1", 2, 2048)
        .vm("web2", "hv1", 2, 2048)
        .unprotected("filler", "hv2", 4, 15360)
        .boot()
}

#[test]
fn operator_migration_moves_the_vm_and_bad_requests_are_refused_with_a_reason() {
    let mut c = for_commands();
    let refuse = |c: &mut MiniCluster, to: &str, why: &str| {
        let before = c.snapshot();
        let mark = c.mark();
        let got = c.command(ALICE, Command::Migrate { vm: "web1".into(), to: to.into() });
        assert_eq!(got.unwrap_err(), why, "migrate to {to}");
        assert_eq!(c.snapshot(), before, "a refused command changes nothing");
        assert_eq!(c.mark(), mark);
    };
    refuse(&mut c, "hv9", "no host named hv9");
    refuse(&mut c, "hv1", "web1 already runs on hv1");
    refuse(
        &mut c,
        "hv2",
        "cannot migrate web1 to hv2: not hv2: not enough memory: 15360 MiB used + 2048 MiB needed > 16384 MiB allowed",
    );

    c.hold = Some(|k| matches!(k, ActionKind::Migrate { .. }));
    c.command(ALICE, Command::Migrate { vm: "web1".into(), to: "hv3".into() }).unwrap();
    assert_eq!(c.vm_state("web1"), V::Migrating);
    let (_, a) = c.decided.last().unwrap();
    assert_eq!(a.kind, ActionKind::Migrate { vm: "web1".into(), from: "hv1".into(), to: "hv3".into() });
    assert_eq!(a.decided_by, Decider::Operator(ALICE.into()));
    refuse(&mut c, "hv3", "web1 is busy: Migrating (migration to hv3 requested by operator console:alice)");
    c.release();
    assert_eq!(c.vm_state("web1"), V::Probation);
    assert_eq!(c.vm_host("web1").as_deref(), Some("hv3"));
    assert_eq!(c.running_on("web1"), vec!["hv3"]);
    c.run_until(20, "healthy on hv3", |c| c.vm_state("web1") == V::Healthy);
    assert_eq!(c.vm_path("web1"), vec![V::Discovering, V::Healthy, V::Migrating, V::Probation, V::Healthy]);
    assert_eq!(count(&c, starts_a_vm), 1);
}

/// The engine, not the executor, decides what follows a live migration the host cannot do: a
/// cold relocation to the same destination (stopped on the source first), decided by the same
/// operator and said in the VM's reason; and only while the destination still takes VMs.
#[test]
fn a_live_migration_the_host_cannot_do_becomes_a_cold_relocation_decided_by_the_engine() {
    let mut c = for_commands();
    c.no_live_migration = true;
    c.command(ALICE, Command::Migrate { vm: "web1".into(), to: "hv3".into() }).unwrap();
    let moves: Vec<(ActionKind, Decider)> =
        c.decided.iter().map(|(_, a)| (a.kind.clone(), a.decided_by.clone())).collect();
    assert_eq!(
        moves,
        vec![
            (
                ActionKind::Migrate { vm: "web1".into(), from: "hv1".into(), to: "hv3".into() },
                Decider::Operator(ALICE.into())
            ),
            (
                ActionKind::Relocate { vm: "web1".into(), from: Some("hv1".into()), to: "hv3".into() },
                Decider::Operator(ALICE.into())
            ),
        ]
    );
    assert!(c.log().iter().any(|l| l.contains("live migration to hv3 is not supported here (this driver cannot migrate): relocating cold instead (stopped on hv1, then started on hv3)")), "{:#?}", c.log());
    assert_eq!(c.running_on("web1"), vec!["hv3"]);
    assert_eq!(c.vm_path("web1"), vec![V::Discovering, V::Healthy, V::Migrating, V::Relocating, V::Probation]);

    // The destination went into maintenance while the migration was asked: no relocation.
    c.hold = Some(|k| matches!(k, ActionKind::Migrate { .. }));
    c.command(ALICE, Command::Migrate { vm: "web2".into(), to: "hv3".into() }).unwrap();
    c.command(ALICE, Command::Maintenance { host: "hv3".into(), on: true }).unwrap();
    let mark = c.mark();
    c.release();
    assert!(c.decided_since(mark).iter().all(|k| !matches!(k, ActionKind::Relocate { vm, .. } if vm == "web2")));
    assert_eq!(c.running_on("web2"), vec!["hv1"]);
    assert_eq!(c.vm_state("web2"), V::Suspect);
    assert!(c.vm("web2").reason.contains("not supported here"), "{}", c.vm("web2").reason);
}

#[test]
fn a_stopped_vm_is_never_restarted_until_an_operator_starts_it() {
    let mut c = for_commands();
    c.command(ALICE, Command::Stop { vm: "web1".into() }).unwrap();
    assert_eq!(c.decided_kinds(), vec![ActionKind::Stop { vm: "web1".into(), host: "hv1".into() }]);
    assert_eq!(c.vm_state("web1"), V::Stopped);
    assert_eq!(c.vm_path("web1"), vec![V::Discovering, V::Healthy, V::Stopping, V::Stopped]);
    c.run(200);
    assert_eq!(c.vm_state("web1"), V::Stopped);
    assert_eq!(c.decided.len(), 1, "shut off on purpose: never restarted");
    assert!(c.running_on("web1").is_empty());
    assert_eq!(c.command(ALICE, Command::Stop { vm: "web1".into() }), Err("web1 is already stopped".into()));

    c.command(ALICE, Command::Start { vm: "web1".into() }).unwrap();
    assert_eq!(c.decided_since(1), vec![ActionKind::Start { vm: "web1".into(), host: "hv1".into() }]);
    assert_eq!(c.vm_state("web1"), V::Probation);
    let path = c.vm_path("web1");
    assert_eq!(path[path.len() - 3..], [V::Stopped, V::Starting, V::Probation]);
    c.run_until(20, "healthy", |c| c.vm_state("web1") == V::Healthy);
    assert_eq!(c.command(ALICE, Command::Start { vm: "web1".into() }), Err("web1 is already running on hv1".into()));
}

#[test]
fn with_the_cluster_disarmed_a_crashed_vm_is_left_alone_until_rearmed() {
    let mut c = for_commands();
    c.command(ALICE, Command::Disarm { vm: None }).unwrap();
    assert!(!c.snapshot().armed);
    c.crash("web1");
    c.run(60);
    assert!(c.decided_kinds().is_empty(), "{:?}", c.decided_kinds());
    assert_eq!(c.vm_state("web1"), V::Suspect);
    let reason = c.vm("web1").reason;
    assert!(reason.ends_with("HA disarmed: no action"), "{reason}");

    c.command(ALICE, Command::Arm { vm: None }).unwrap();
    c.tick();
    assert_eq!(c.decided_kinds(), vec![ActionKind::Restart { vm: "web1".into(), host: "hv1".into() }]);
    assert_eq!(c.vm_state("web1"), V::Probation);
    assert_eq!(c.running_on("web1"), vec!["hv1"]);
}

#[test]
fn a_disarmed_vm_is_watched_but_never_acted_on() {
    let mut c = for_commands();
    c.command(ALICE, Command::Disarm { vm: Some("web1".into()) }).unwrap();
    assert_eq!(c.vm_state("web1"), V::Unmanaged);
    assert_eq!(c.vm("web1").reason, "disarmed by console:alice");
    c.crash("web1");
    c.run(60);
    assert_eq!(c.vm_state("web1"), V::Unmanaged);
    assert_eq!(c.vm("web1").observed, Some(DomState::Crashed), "still watched");
    assert!(c.decided_kinds().is_empty(), "{:?}", c.decided_kinds());
    assert_eq!(
        c.command(ALICE, Command::Migrate { vm: "web1".into(), to: "hv3".into() }),
        Err("web1 is not managed (HA disarmed for it): arm it first".into())
    );
    // Its neighbour is still protected.
    c.crash("web2");
    c.run(3);
    assert_eq!(c.decided_kinds(), vec![ActionKind::Restart { vm: "web2".into(), host: "hv1".into() }]);
}

#[test]
fn maintenance_drains_a_host_by_live_migration_and_places_nothing_there() {
    let mut c = for_commands();
    c.command(ALICE, Command::Maintenance { host: "hv1".into(), on: true }).unwrap();
    assert_eq!(c.host_state("hv1"), H::Maintenance);
    c.tick();
    let drains: Vec<_> = c.decided.iter().map(|(_, a)| a.clone()).collect();
    assert_eq!(drains.len(), 2, "{drains:?}");
    for a in &drains {
        assert!(matches!(&a.kind, ActionKind::Migrate { from, to, .. } if from == "hv1" && to == "hv3"));
        assert_eq!(a.decided_by, Decider::Policy("maintenance drain of hv1".into()));
    }
    assert!(c.hosts["hv1"].domains.is_empty());
    c.run_until(20, "drained and healthy", |c| c.vm_state("web1") == V::Healthy && c.vm_state("web2") == V::Healthy);
    assert_eq!(
        c.command(ALICE, Command::Migrate { vm: "web1".into(), to: "hv1".into() }),
        Err("cannot migrate web1 to hv1: not hv1: in maintenance".into())
    );
    // hv3 dies: its VMs may not go to hv1, and hv2 is full: they wait.
    c.power_off("hv3");
    c.run(10);
    assert_eq!(c.host_state("hv3"), H::Fenced);
    for vm in ["web1", "web2"] {
        assert_eq!(c.vm_state(vm), V::Pending);
        assert!(c.vm(vm).reason.contains("not hv1: in maintenance"));
    }
    assert!(c.hosts["hv1"].domains.is_empty(), "nothing placed on hv1");
    assert_eq!(c.host_state("hv1"), H::Maintenance);
    // Maintenance over: they come back on hv1.
    c.command(ALICE, Command::Maintenance { host: "hv1".into(), on: false }).unwrap();
    c.tick();
    assert_eq!(c.running_on("web1"), vec!["hv1"]);
    assert_eq!(c.running_on("web2"), vec!["hv1"]);
}

// ---- 11. a VM running twice ----

#[test]
fn a_vm_found_active_on_two_hosts_keeps_its_home_copy_and_the_other_is_destroyed() {
    let mut c = three_hosts().boot();
    c.set_domain("hv2", "web1", DomState::Running); // started by hand on hv2
    c.tick();
    assert_eq!(
        alarms(&c, Subject::Vm("web1".into()), Severity::Critical),
        vec!["web1 was active on several hosts (hv1, hv2): kept the copy on hv1, destroyed the others"]
    );
    assert_eq!(c.decided.len(), 1);
    let (_, a) = &c.decided[0];
    assert_eq!(a.kind, ActionKind::Destroy { vm: "web1".into(), host: "hv2".into(), undefine: false });
    assert_eq!(a.decided_by, Decider::Policy("multiple-active: keep the copy on hv1".into()));
    assert_eq!(c.running_on("web1"), vec!["hv1"]);
    c.run(20);
    assert_eq!(c.decided.len(), 1);
    assert_eq!(c.vm_state("web1"), V::Healthy);
    assert_eq!(c.vm_host("web1").as_deref(), Some("hv1"));
}

/// Regression: the destroy of a duplicate was decided again every cycle while the first one
/// was still under way.
#[test]
fn a_duplicate_is_destroyed_once_even_when_the_destroy_takes_several_cycles() {
    let mut c = three_hosts().boot();
    c.hold = Some(|k| matches!(k, ActionKind::Destroy { .. }));
    c.set_domain("hv2", "web1", DomState::Running);
    c.run(10);
    assert_eq!(c.decided_kinds(), vec![ActionKind::Destroy { vm: "web1".into(), host: "hv2".into(), undefine: false }]);
    assert_eq!(alarms(&c, Subject::Vm("web1".into()), Severity::Critical).len(), 1);
    c.release();
    c.run(5);
    assert_eq!(c.decided.len(), 1);
    assert_eq!(c.running_on("web1"), vec!["hv1"]);
}

// ---- 12. determinism ----

fn scripted_run() -> Vec<threerc::core::Event> {
    let mut c = three_hosts().boot();
    c.crash("db1");
    c.run(5);
    c.cut("hv1");
    c.run(4);
    c.command(ALICE, Command::Migrate { vm: "db1".into(), to: "hv3".into() }).ok();
    c.make_flaky("web2");
    c.run(40);
    c.power_on("hv1");
    c.run(20);
    std::mem::take(&mut c.events)
}

#[test]
fn the_same_scripted_run_gives_the_same_events() {
    let a = scripted_run();
    let b = scripted_run();
    assert!(a.len() > 30, "the script should do something: {} events", a.len());
    assert!(a.iter().any(|e| matches!(e.kind, EventKind::HostTransition { to: H::Fenced, .. })));
    assert_eq!(a, b);
}

// ---- regressions ----

/// Regression (split brain): a VM waiting for capacity after its host was fenced was started
/// on another host while the fenced host, back and rejoining, already ran it again.
#[test]
fn a_waiting_vm_found_running_on_its_returning_host_is_followed_not_started_twice() {
    let mut c = hv1_fenced_with_one_vm_waiting();
    assert_eq!(c.vm_state("web3"), V::Pending);
    c.power_on("hv1");
    c.set_domain("hv1", "web3", DomState::Running); // autostart
    c.tick();
    assert_eq!(c.host_state("hv1"), H::Rejoining);
    assert_eq!(c.vm_state("web3"), V::Suspect);
    assert!(c.log().contains(
        &"7.0s vm web3 Pending -> Suspect: found running on hv1 while Pending: not started elsewhere, checking it there"
            .to_string()
    ));
    // Room frees up on hv2: web3 must not be started there.
    c.command(ALICE, Command::Stop { vm: "web1".into() }).unwrap();
    c.run(15);
    assert_eq!(count(&c, |k| k.vm() == Some("web3")), 0, "{:?}", c.decided_kinds());
    assert_eq!(c.running_on("web3"), vec!["hv1"]);
    assert_eq!(c.vm_state("web3"), V::Healthy);
    assert_eq!(c.host_state("hv1"), H::Online);
}

/// Regression (split brain): a restart whose answer was lost because its host stopped
/// answering led the ladder to start the VM on another host, unfenced.
#[test]
fn a_vm_whose_host_stops_answering_mid_restart_waits_for_the_fence() {
    let mut c = three_hosts().boot();
    c.hold = Some(|k| matches!(k, ActionKind::Restart { .. }));
    c.crash("web1");
    c.run(3);
    assert_eq!(c.held.len(), 1);
    c.cut("hv1");
    c.tick();
    c.release_answers_lost(); // the restart happened, but its answer never came back
    assert_eq!(c.running_on("web1"), vec!["hv1"]);
    assert_eq!(c.vm_state("web1"), V::Suspect);
    // A failed start like any other: it waits where it is, and is not started elsewhere.
    assert!(c.vm("web1").reason.contains("1 failed start(s) in 10 min; next attempt in"), "{}", c.vm("web1").reason);
    assert_eq!(count(&c, |k| matches!(k, ActionKind::Relocate { .. })), 0);
    c.run_until(10, "hv1 fenced", |c| c.host_state("hv1") == H::Fenced);
    c.run_until(20, "web1 healthy elsewhere", |c| c.vm_state("web1") == V::Healthy);
    assert_ne!(c.vm_host("web1").as_deref(), Some("hv1"));
    assert_eq!(count(&c, |k| matches!(k, ActionKind::Relocate { .. })), 2, "web1 and web2");
}

#[test]
fn a_vm_whose_host_answers_again_after_a_lost_restart_answer_is_kept_there() {
    let mut c = three_hosts().boot();
    c.hold = Some(|k| matches!(k, ActionKind::Restart { .. }));
    c.crash("web1");
    c.run(3);
    c.cut("hv1");
    c.tick();
    c.release_answers_lost();
    c.reconnect("hv1");
    c.run_until(10, "web1 healthy", |c| c.vm_state("web1") == V::Healthy);
    assert_eq!(c.decided.len(), 1, "{:?}", c.decided_kinds());
    assert_eq!(c.vm_host("web1").as_deref(), Some("hv1"));
}

/// Regression: a VM waiting for capacity could not be stopped because its fenced host "does
/// not answer"; a fenced host runs nothing.
#[test]
fn an_operator_can_stop_a_vm_that_waits_for_capacity() {
    let mut c = Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 8, 8192)
        .vm("web1", "hv1", 2, 5000)
        .vm("web2", "hv1", 2, 5000)
        .boot();
    c.power_off("hv1");
    c.run(5);
    assert_eq!(c.vm_state("web2"), V::Pending);
    c.command(ALICE, Command::Stop { vm: "web2".into() }).unwrap();
    assert_eq!(c.vm_state("web2"), V::Stopped);
    assert_eq!(c.vm("web2").reason, "marked stopped by operator console:alice: it was not running");
    c.power_on("hv1");
    c.run(20);
    assert_eq!(c.vm_state("web2"), V::Stopped, "never started again on its own");
    assert!(c.running_on("web2").is_empty());
}

/// Regression (split brain): a live migration that finished although its source host died
/// before answering left the VM AwaitingFence, and the recovery after the fence started it a
/// second time while it ran on the migration's target.
#[test]
fn a_vm_that_migrated_before_its_source_host_died_is_not_started_again() {
    let mut c = three_hosts().boot();
    c.hold = Some(|k| matches!(k, ActionKind::Migrate { .. }));
    c.command(ALICE, Command::Migrate { vm: "web1".into(), to: "hv2".into() }).unwrap();
    c.cut("hv1");
    c.tick();
    c.release_answers_lost(); // the migration went through; its answer did not
    assert_eq!(c.running_on("web1"), vec!["hv2"]);
    c.run_until(10, "hv1 fenced", |c| c.host_state("hv1") == H::Fenced);
    c.run(20);
    assert_eq!(c.running_on("web1"), vec!["hv2"]);
    assert_eq!(c.vm_host("web1").as_deref(), Some("hv2"));
    assert_eq!(c.vm_state("web1"), V::Healthy);
    assert_eq!(count(&c, |k| k.vm() == Some("web1")), 1, "only the migration: {:?}", c.decided_kinds());
    assert_eq!(c.vm_state("web2"), V::Healthy, "web2 recovered after the fence");
}

// Regressions: retries that never backed off.

/// Recovery after a fence retries the same failing host every cycle, forever.
#[test]
fn a_recovery_that_fails_on_one_host_tries_another_and_does_not_retry_every_second() {
    // hv2 has the most room but cannot start anything; hv3 can.
    let mut c = Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 8, 16384)
        .host("hv3", 8, 8192)
        .vm("web1", "hv1", 2, 2048)
        .boot();
    c.fail_starts("hv2", true);
    c.power_off("hv1");
    c.run(90);
    // The recovery on hv2, the restart policy's two retries there (5 s, then 10 s of backoff),
    // then the relocation to a host not tried yet.
    let starts: Vec<ActionKind> = c
        .decided_kinds()
        .into_iter()
        .filter(|k| matches!(k, ActionKind::Relocate { .. } | ActionKind::Restart { .. }))
        .collect();
    assert_eq!(c.running_on("web1"), vec!["hv3"], "tries another host");
    assert_eq!(starts.len(), 4, "{starts:?}");
}

/// A maintenance drain whose migration fails is retried every cycle, forever.
#[test]
fn a_failing_maintenance_drain_is_not_retried_every_second() {
    let mut c = Builder::new().host("hv1", 8, 16384).host("hv2", 8, 16384).vm("web1", "hv1", 2, 2048).boot();
    c.fail_starts("hv2", true); // the destination cannot start qemu
    c.command("console:alice", Command::Maintenance { host: "hv1".into(), on: true }).unwrap();
    c.run(30);
    let migrations = c.decided_kinds().iter().filter(|k| matches!(k, ActionKind::Migrate { .. })).count();
    assert!(migrations <= 3, "{migrations} migration attempts in 30 s");
    assert_ne!(c.vm_state("web1"), VmState::Migrating);
}

/// A VM whose disk lived on its dead host alone is reinstalled only on a host whose pools hold
/// its golden image, even when another host has more room; with the golden image nowhere, a
/// person is asked.
#[test]
fn a_vm_whose_disk_died_with_its_host_is_reinstalled_only_where_the_golden_image_is() {
    use threerc::core::PoolObs;
    let pool = |name: &str, vols: &[&str]| PoolObs {
        name: name.into(),
        active: true,
        volumes: vols.iter().map(|v| format!("{name}/{v}")).collect(),
    };
    let setup = |golden_on_hv3: bool| {
        let mut c = Builder::new()
            .host("hv1", 8, 16384)
            .host("hv2", 8, 65536)
            .host("hv3", 8, 16384)
            .vm_with("web1", "hv1", 2, 2048, |s| {
                s.policy.reinstall = true;
                s.reinstall = Some(reinstall_spec("web1"));
            })
            .boot();
        c.run(2);
        c.engine.set_disks("web1", vec!["local/web1.qcow2".into()]);
        c.engine.set_storage(
            "hv1",
            vec![pool("local", &["web1.qcow2"]), pool("golden", &["base.qcow2"]), pool("vms", &[])],
        );
        c.engine.set_storage("hv2", vec![pool("vms", &[])]);
        let hv3 = if golden_on_hv3 {
            vec![pool("golden", &["base.qcow2"]), pool("vms", &[])]
        } else {
            vec![pool("vms", &[])]
        };
        c.engine.set_storage("hv3", hv3);
        c.power_off("hv1");
        c.run(8);
        c
    };
    let c = setup(true);
    let reinstalls: Vec<ActionKind> =
        c.decided_kinds().into_iter().filter(|k| matches!(k, ActionKind::Reinstall { .. })).collect();
    assert_eq!(reinstalls, vec![ActionKind::Reinstall { vm: "web1".into(), host: "hv3".into() }]);
    assert_eq!(c.running_on("web1"), vec!["hv3"]);
    let why = c.log().join("\n");
    assert!(why.contains("not hv2: golden image golden/base.qcow2 is on no storage pool of this host"), "{why}");

    let c = setup(false);
    assert!(c.decided_kinds().iter().all(|k| !matches!(k, ActionKind::Reinstall { .. })));
    assert_eq!(c.vm_state("web1"), V::NeedsOperator);
    assert!(c.vm("web1").reason.contains("no host can reinstall it either"), "{}", c.vm("web1").reason);
}

// ---- protect at run time ----

#[test]
fn a_vm_protected_at_run_time_is_judged_and_restarted_like_a_configured_one() {
    let mut c = Builder::new().host("hv1", 8, 16384).host("hv2", 8, 16384).unprotected("p2v1", "hv1", 2, 2048).boot();
    assert!(c.snapshot().vms.iter().all(|v| v.name != "p2v1"), "not protected yet");
    let spec = threerc::core::VmSpec {
        priority: 5,
        policy: threerc::core::Policy { max_restart: 1, ..Default::default() },
        origin: threerc::core::Origin::RunTime,
        ..threerc::core::VmSpec::named("p2v1")
    };
    c.command(ALICE, Command::Protect { spec: Box::new(spec.clone()) }).unwrap();
    assert_eq!(
        c.command(ALICE, Command::Protect { spec: Box::new(spec.clone()) }),
        Err("p2v1 is already protected".into())
    );
    let unknown = threerc::core::VmSpec { name: "x".into(), preferred_host: Some("hv9".into()), ..spec };
    assert_eq!(
        c.command(ALICE, Command::Protect { spec: Box::new(unknown) }),
        Err("protect x: no host named hv9 (preferred_host)".into())
    );
    assert!(c.log().iter().any(|l| l.contains("protect p2v1 (priority 5, max_restart 1")), "{:?}", c.log());
    c.tick();
    assert_eq!(c.vm_state("p2v1"), V::Healthy);
    assert_eq!(c.vm_host("p2v1").as_deref(), Some("hv1"));
    c.crash("p2v1");
    c.run_until(10, "p2v1 restarted", |c| c.vm_state("p2v1") == V::Probation);
    assert_eq!(c.running_on("p2v1"), vec!["hv1"]);
    assert!(c.log().iter().any(|l| l.contains("vm p2v1 Suspect -> Restarting") && l.contains("restart 1 of 1")));
}

/// `unprotect` is the engine's rule: only a VM protected at run time (its spec's origin), only
/// an idle one; a VM of the configuration file is refused with the way out.
#[test]
fn only_a_vm_protected_at_run_time_can_be_unprotected() {
    let mut c =
        Builder::new().host("hv1", 8, 16384).vm("web1", "hv1", 2, 2048).unprotected("p2v1", "hv1", 2, 2048).boot();
    let before = c.snapshot();
    let err = c.command(ALICE, Command::Unprotect { vm: "web1".into() }).unwrap_err();
    assert!(err.starts_with("web1 was not put under HA at run time"), "{err}");
    assert!(err.contains("[[vm]] entry is removed"), "{err}");
    assert_eq!(c.snapshot(), before, "refused: nothing changed");
    assert_eq!(c.command(ALICE, Command::Unprotect { vm: "nope".into() }), Err("no protected VM named nope".into()));

    // The spec a front end sends says Config (it comes from the config's defaults): the engine
    // records the protection as made at run time whatever it says.
    let spec = threerc::core::VmSpec { origin: threerc::core::Origin::Config, ..threerc::core::VmSpec::named("p2v1") };
    c.command(ALICE, Command::Protect { spec: Box::new(spec) }).unwrap();
    c.tick();
    assert_eq!(c.vm_state("p2v1"), V::Healthy);
    c.command(ALICE, Command::Unprotect { vm: "p2v1".into() }).unwrap();
    assert!(c.snapshot().vms.iter().all(|v| v.name != "p2v1"), "out of HA");
    assert_eq!(c.running_on("p2v1"), vec!["hv1"], "the VM itself is left as it is");
}

#[test]
fn a_name_defined_on_two_hosts_is_not_protected() {
    // Two different domains named "app" (one shut off): protected, 3RC would see one VM twice.
    let mut c = Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 8, 16384)
        .unprotected("app", "hv1", 2, 2048)
        .unprotected("app", "hv2", 2, 2048)
        .boot();
    c.tick();
    let spec = threerc::core::VmSpec { origin: threerc::core::Origin::RunTime, ..threerc::core::VmSpec::named("app") };
    let err = c.command(ALICE, Command::Protect { spec: Box::new(spec) }).unwrap_err();
    assert!(err.starts_with("protect app: hv1 and hv2 each have a domain named app;"), "{err}");
    assert!(c.snapshot().vms.iter().all(|v| v.name != "app"), "not protected");
}

// ---- quorum before any automatic fence ----

#[test]
fn without_a_majority_of_votes_no_host_is_fenced_and_one_alarm_asks_a_person() {
    // Three hosts and the witness: 3RC's own link fails, nothing answers.
    let mut c = three_hosts().boot();
    for h in ["hv1", "hv2", "hv3"] {
        c.cut(h);
    }
    c.witness_down = true;
    c.run(20);
    assert_eq!(count(&c, |k| matches!(k, ActionKind::Fence { .. })), 0, "{:?}", c.decided_kinds());
    assert_eq!(count(&c, starts_a_vm), 0);
    for h in ["hv1", "hv2", "hv3"] {
        assert_eq!(c.host_state(h), H::Down);
    }
    assert_eq!(c.vm_state("db1"), V::AwaitingFence);
    let critical = alarms(&c, Subject::Cluster, Severity::Critical);
    assert_eq!(critical.len(), 1, "{critical:?}");
    assert!(critical[0].contains("0 of 4 votes") && critical[0].contains("3RC itself is cut off"), "{critical:?}");
    // The link comes back: every host rejoins with its VMs where they were.
    for h in ["hv1", "hv2", "hv3"] {
        c.reconnect(h);
    }
    c.witness_down = false;
    c.run_until(10, "every host online", |c| ["hv1", "hv2", "hv3"].iter().all(|h| c.host_state(h) == H::Online));
    c.run_until(10, "every VM healthy", |c| ["web1", "web2", "db1"].iter().all(|v| c.vm_state(v) == V::Healthy));
    assert_eq!(count(&c, |k| matches!(k, ActionKind::Fence { .. })), 0);
}

#[test]
fn a_host_lost_while_a_majority_answers_is_fenced_and_the_fence_names_the_votes() {
    // Two of three hosts and the witness answer: 3 of 4 votes.
    let mut c = three_hosts().boot();
    c.power_off("hv2");
    c.run_until(10, "hv2 fenced", |c| c.host_state("hv2") == H::Fenced);
    let fence = c.decided.iter().find(|(_, a)| matches!(a.kind, ActionKind::Fence { .. })).map(|(_, a)| a.clone());
    let by = fence.expect("a fence").decided_by.to_string();
    assert!(by.contains("quorum 3 of 4: hv1, hv3, gw"), "{by}");
}

#[test]
fn a_host_that_holds_no_vm_to_recover_is_not_fenced_and_rejoins_by_itself() {
    let mut c = three_hosts().boot();
    c.power_off("hv3");
    c.run(10);
    assert_eq!(c.host_state("hv3"), H::Down);
    assert_eq!(count(&c, |k| matches!(k, ActionKind::Fence { .. })), 0);
    let warn = alarms(&c, Subject::Host("hv3".into()), Severity::Warning);
    assert!(warn.iter().any(|a| a.contains("holds no protected VM")), "{warn:?}");
    c.power_on("hv3");
    c.run_until(10, "hv3 online", |c| c.host_state("hv3") == H::Online);
}

/// Another supervisor's view (`[ha]`): it sees the named hosts unreachable, the others fine.
fn peer(name: &str, quorum: bool, unreachable: &[&str]) -> threerc::core::Vantage {
    let hosts = ["hv1", "hv2", "hv3"]
        .iter()
        .map(|h| (h.to_string(), threerc::core::vantage::Seen { reachable: !unreachable.contains(h), since_ms: 0 }))
        .collect();
    threerc::core::Vantage { name: name.into(), quorum, hosts }
}

#[test]
fn a_host_only_the_leader_cannot_reach_is_not_fenced_and_the_warning_says_who_sees_what() {
    let mut c = three_hosts().boot();
    let peers = vec![peer("sup2", true, &[]), peer("sup3", true, &[])];
    c.engine.set_peers("sup1", peers);
    c.cut("hv2");
    c.run(10);
    assert_eq!(c.host_state("hv2"), H::Down);
    assert_eq!(count(&c, |k| matches!(k, ActionKind::Fence { .. })), 0);
    let host = c.host("hv2");
    assert_eq!(host.seen, "unreachable from sup1; reachable from sup2, sup3");
    assert!(host.reason.contains("a majority of the 3 live supervisors"), "{}", host.reason);
    let warn = alarms(&c, Subject::Host("hv2".into()), Severity::Warning);
    assert!(warn.iter().any(|a| a.contains("hv2 is unreachable from sup1; reachable from sup2, sup3")), "{warn:?}");
    // One other supervisor loses it too: two of three see it unreachable, it is fenced, and the
    // fence says so.
    c.engine.set_peers("sup1", vec![peer("sup2", true, &["hv2"]), peer("sup3", true, &[])]);
    c.run_until(10, "hv2 fenced", |c| c.host_state("hv2") == H::Fenced);
    let fence = c.decided.iter().find(|(_, a)| matches!(a.kind, ActionKind::Fence { .. })).map(|(_, a)| a.clone());
    let by = fence.expect("a fence").decided_by.to_string();
    assert!(by.contains("supervisors: 2 of 3 see it unreachable"), "{by}");
}

#[test]
fn a_supervisor_without_peers_decides_alone_as_before() {
    let mut c = three_hosts().boot();
    c.engine.set_peers("sup1", Vec::new());
    c.power_off("hv2");
    c.run_until(10, "hv2 fenced", |c| c.host_state("hv2") == H::Fenced);
    assert_eq!(c.host("hv2").seen, "");
}

#[test]
fn a_supervisor_cut_off_stands_aside_only_after_the_hosts_window_and_back_after_theirs() {
    let mut c = three_hosts().boot();
    c.engine.set_peers("sup1", vec![peer("sup2", true, &[])]);
    assert_eq!(c.engine.standing(), (true, false));
    for h in ["hv1", "hv2", "hv3"] {
        c.cut(h);
    }
    c.witness_down = true;
    // Not fit from the first cycle on: it stands aside at the third (fail_threshold 3).
    let mut seen = Vec::new();
    for _ in 0..4 {
        c.run(1);
        seen.push(c.engine.standing());
    }
    assert_eq!(seen, [(true, false), (true, false), (false, true), (false, false)]);
    // Alone (no other view), or when nobody is better placed, it is fit again.
    c.engine.set_peers("sup1", vec![peer("sup2", false, &["hv1", "hv2", "hv3"])]);
    let back: Vec<(bool, bool)> = (0..3).map(|_| c.engine.standing()).collect();
    assert_eq!(back, [(false, false), (false, false), (true, true)], "after ok_threshold (3) judgements");
}

#[test]
fn a_new_leader_resumes_a_reinstall_the_former_leader_had_under_way() {
    let mut c = Builder::new()
        .host("hv1", 8, 16384)
        .host("hv2", 8, 16384)
        .vm_with("web1", "hv1", 2, 2048, |s| s.reinstall = Some(reinstall_spec("web1")))
        .vm_with("db1", "hv2", 2, 2048, |_| {})
        .boot();
    c.run(2);
    assert_eq!(c.vm_state("web1"), V::Healthy);
    let mark = c.mark();
    // Seen healthy by this engine; the former leader had its reinstall under way.
    c.engine.take_over_reinstall("web1", "hv1", "reinstall web1 on hv1; decided by operator alice".into(), "sup1");
    // One without a reinstall spec is left to the hosts' report.
    c.engine.take_over_reinstall("db1", "hv2", "reinstall db1".into(), "sup1");
    c.run(1);
    let decided: Vec<(ActionKind, String)> =
        c.decided[mark..].iter().map(|(_, a)| (a.kind.clone(), a.decided_by.to_string())).collect();
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(decided[0].0, ActionKind::Reinstall { vm: "web1".into(), host: "hv1".into() });
    assert!(decided[0].1.contains("resume of an interrupted reinstall"), "{decided:?}");
    let reason = c.vm("web1").history.iter().rev().find(|t| t.to == "Reinstalling").map(|t| t.reason.clone());
    assert!(
        reason.is_some_and(|r| r.contains("cut short by the loss of the leader sup1")),
        "{:?}",
        c.vm("web1").history
    );
}
