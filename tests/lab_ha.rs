//! Several supervisors on the real lab: three "supervisor machines" (namespaces of their own on
//! the lab's bridge, `lab.sh sup-up`), each running a member of one etcd cluster (Debian's
//! etcd-server) and `3rc run --headless` with `[ha]`, supervising the lab's three hosts and six
//! VMs. Each case does to 3RC what a bad day does to it, then checks the ground truth: every VM
//! running exactly once throughout (`Lab::watch`), the lab's fence agent's own log (no fence
//! where none is due, never twice), supervision going on (a VM crashed after the fault is
//! restarted by whoever leads then), and the journals' story (who led when; a former leader
//! acting on nothing once another leads).
//!
//! Needs root, like every lab test; THREERC_SKIP_LAB=1 leaves it out (and says so).

#[path = "lab/harness.rs"]
mod harness;

use harness::{lab_allowed, now_secs, HaLab as Ha, Watch, SUPERVISORS};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

impl Ha {
    /// Crash `vm`'s qemu on `host` and wait until the supervisor `k` (the leader) has restarted
    /// it there: supervision goes on.
    fn crash_and_restart(&self, k: usize, host: &str, vm: &str) {
        self.lab.run(&["crash-vm", host, vm]);
        self.wait(&format!("{vm} restarted on {host} by s{k}"), Duration::from_secs(60), |ha| {
            ha.sup(k).text().contains(&format!("vm {vm} Restarting -> Probation"))
                && ha.lab.truth().get(vm) == Some(&vec![host.to_string()])
        });
    }

    /// A former leader acted on nothing once the next one led: after `at` (the next leader's
    /// "leads" line), its journal holds leadership and standing notes only.
    fn quiet_after(&self, k: usize, at: f64) {
        self.quiet_between(k, at, f64::MAX);
    }

    /// sK's journal holds notes only between the wall clock times `from` and `to`.
    fn quiet_between(&self, k: usize, from: f64, to: f64) {
        for (w, _, t) in self.sup(k).events() {
            if w > from && w < to {
                assert!(
                    t.starts_with("cluster note: ") || t.contains(" note: "),
                    "s{k} journaled {t:?} while it was not to lead\n{}",
                    self.story()
                );
            }
        }
    }

    /// Where the VMs run is where they ran `before`, and was so throughout (`watch`), with no
    /// fence asked: the fault cost nothing.
    fn unharmed(&self, watch: Watch, before: &BTreeMap<String, Vec<String>>) {
        let seen = watch.stop();
        assert!(seen.doubles.is_empty(), "a VM ran twice: {:?}\n{}", seen.doubles, self.story());
        assert!(
            seen.changes.iter().all(|(_, t)| t == before || t.len() < before.len()),
            "a VM moved: {:?}\n{}",
            seen.changes,
            self.story()
        );
        self.no_fence();
        assert_eq!(&self.lab.truth(), before, "{}", self.story());
    }

    /// Cut the leader off (`lab.sh sup-cut LEADER what`) with the VMs watched: (the former
    /// leader, the next, when it was cut, when the next led, what ran where before).
    fn cut_leader(&self, what: &str) -> (usize, usize, f64, f64) {
        let l = (1..=SUPERVISORS).find(|k| self.leads(*k)).expect("a leader");
        let cut = now_secs();
        self.lab.run(&["sup-cut", &format!("s{l}"), what]);
        let n = self.settled(Some(l), Duration::from_secs(40));
        let led = self.led_at(n, cut).unwrap();
        (l, n, cut, led)
    }

    /// Wait until hv1's VMs run elsewhere, recovered by whoever leads: that leader.
    fn hv1_recovered(&self, within: Duration) -> usize {
        self.wait("hv1's VMs running elsewhere under a new leader", within, |ha| {
            let truth = ha.lab.truth();
            let Some(k) = (1..=SUPERVISORS).find(|k| ha.leads(*k)) else { return false };
            let text = ha.sup(k).text();
            ["vm11", "vm12"].iter().all(|v| {
                truth.get(*v).is_some_and(|h| h.len() == 1 && h[0] != "hv1")
                    && text.contains(&format!("vm {v} Relocating -> Probation"))
            })
        });
        (1..=SUPERVISORS).find(|k| self.leads(*k)).expect("a leader")
    }

    /// The fence agent was asked for nothing.
    fn no_fence(&self) {
        assert!(self.lab.fence_log().is_empty(), "a host was fenced\n{}", self.story());
        for k in 1..=SUPERVISORS {
            let text = self.sup(k).text();
            assert!(!text.contains("-> Fencing"), "s{k} fenced\n{}", self.story());
        }
    }
}

/// The leader is killed (`kill -9`): a standby leads within a few seconds, with the former
/// leader's lease expired, and supervises (a VM crashed then is restarted). Nothing fenced,
/// nothing moved.
#[test]
fn lab_ha_leader_killed() {
    if !lab_allowed() {
        return;
    }
    let (mut ha, l) = Ha::up();
    let before = ha.lab.truth();
    let watch = ha.lab.watch();
    let killed = now_secs();
    ha.kill(l);
    let n = ha.settled(Some(l), Duration::from_secs(30));
    let took = ha.led_at(n, killed).expect("the next leader's line") - killed;
    eprintln!("lab: s{l} killed; s{n} leads {took:.2} s later");
    let (host, vm) = if before["vm21"] == ["hv2"] { ("hv2", "vm21") } else { ("hv3", "vm31") };
    ha.crash_and_restart(n, host, vm);
    ha.quiet_after(l, killed);
    ha.unharmed(watch, &before);
}

/// The leader's machine is cut from the other etcd members (its own member loses quorum, its
/// client reaches no other): it stops acting within its lease, another leads, nobody fences;
/// mended, the former leader stays a standby.
#[test]
fn lab_ha_leader_cut_from_etcd() {
    if !lab_allowed() {
        return;
    }
    let (ha, _) = Ha::up();
    let before = ha.lab.truth();
    let watch = ha.lab.watch();
    let (l, n, cut, led) = ha.cut_leader("etcd");
    let stopped = ha.sup(l).wall_after(cut, &[&format!("s{l} stops leading (its lease could not be renewed")]);
    let stopped = stopped.unwrap_or_else(|| panic!("s{l} did not say it stopped\n{}", ha.story()));
    eprintln!(
        "lab: s{l} cut from etcd; it stopped leading {:.2} s later, s{n} led {:.2} s later",
        stopped - cut,
        led - cut
    );
    let (host, vm) = ("hv3", "vm32");
    ha.crash_and_restart(n, host, vm);
    ha.lab.run(&["sup-mend", &format!("s{l}")]);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(ha.settled(None, Duration::from_secs(30)), n, "{}", ha.story());
    ha.quiet_after(l, led);
    ha.unharmed(watch, &before);
}

/// The leader's machine is cut from every host (not from etcd, not from the witness): the
/// others see the hosts fine, so the leader is the one cut off: it stands aside, another leads,
/// no host is fenced; mended, it may lead again (and stays a standby).
#[test]
fn lab_ha_leader_cut_from_the_hosts_only() {
    if !lab_allowed() {
        return;
    }
    let (ha, _) = Ha::up();
    let before = ha.lab.truth();
    let watch = ha.lab.watch();
    let (l, n, cut, led) = ha.cut_leader("hosts");
    eprintln!("lab: s{l} cut from the hosts; s{n} leads {:.2} s later", led - cut);
    let text = ha.sup(l).text();
    assert!(text.contains(&format!("s{l} reaches too few hosts and witnesses while ")), "{}", ha.story());
    assert!(text.contains(&format!("s{l} stops leading: it stands aside")), "{}", ha.story());
    ha.crash_and_restart(n, "hv1", "vm11");
    ha.lab.run(&["sup-mend", &format!("s{l}")]);
    ha.wait("the former leader fit again", Duration::from_secs(30), |ha| {
        ha.sup(l).text().contains(&format!("s{l} reaches enough hosts and witnesses again: it may lead"))
    });
    assert_eq!(ha.settled(None, Duration::from_secs(30)), n, "{}", ha.story());
    ha.quiet_after(l, led);
    ha.unharmed(watch, &before);
}

/// A standby's machine is cut from everything (its bridge port down) for 20 s — s1, whose etcd
/// member is the one every instance sends its requests to first: the leader leads on, without
/// a gap, and supervises (a VM crashed meanwhile is restarted), the isolated one never leads,
/// nobody fences; back, it is a standby again. (Over the etcd client's balanced channel, the
/// requests whose turn sent them to the member cut off failed, and the leader lost its lease:
/// found here.) etcd's raft leader is moved off s1's member first: a raft leader cut off makes
/// etcd elect another, 1–1.5 s without answers, in which 3RC's leader may lose its lease (a
/// few seconds of supervision, as the leader's own death costs; measured, README).
#[test]
fn lab_ha_standby_isolated() {
    if !lab_allowed() {
        return;
    }
    let (ha, l) = Ha::up();
    let s = 1;
    assert_ne!(l, s, "s1 starts last: a standby");
    ha.move_raft_leader(s, false);
    let before = ha.lab.truth();
    let watch = ha.lab.watch();
    let cut = Instant::now();
    ha.lab.run(&["sup-isolate", &format!("s{s}")]);
    ha.crash_and_restart(l, "hv2", "vm22");
    while cut.elapsed() < Duration::from_secs(20) {
        assert!(ha.leads(l) && !ha.leads(s), "{}", ha.story());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Each of the others lost etcd once at most (the request that found s1's member gone),
    // not every time its turn came.
    for k in (1..=SUPERVISORS).filter(|k| *k != s) {
        let flaps = ha.sup(k).log_lines().iter().filter(|l| l.contains(&format!("s{k}: etcd answers again"))).count();
        assert!(flaps <= 1, "s{k} lost etcd {flaps} times while one member was cut off\n{}", ha.story());
    }
    ha.lab.run(&["sup-reconnect", &format!("s{s}")]);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(ha.settled(None, Duration::from_secs(30)), l, "{}", ha.story());
    assert!(!ha.sup(l).text().contains("stops leading"), "{}", ha.story());
    assert!(!ha.sup(s).text().contains(&format!("s{s} leads")), "{}", ha.story());
    ha.unharmed(watch, &before);
}

/// The leader is killed and a host loses its power at the same moment: a standby leads, the
/// host is fenced once (the fence agent's own log), and its VMs run elsewhere, each once.
#[test]
fn lab_ha_leader_killed_and_a_host_powered_off_at_once() {
    if !lab_allowed() {
        return;
    }
    let (mut ha, l) = Ha::up();
    let watch = ha.lab.watch();
    let t0 = now_secs();
    ha.kill(l);
    ha.lab.run(&["power-off", "hv1"]);
    let n = ha.hv1_recovered(Duration::from_secs(60));
    let running = now_secs();
    let led = ha.led_at(n, t0).unwrap();
    eprintln!(
        "lab: s{l} killed and hv1 powered off; s{n} leads {:.2} s later, hv1's VMs running elsewhere {:.2} s later",
        led - t0,
        running - t0
    );
    let seen = watch.stop();
    assert!(seen.doubles.is_empty(), "a VM ran twice: {:?}\n{}", seen.doubles, ha.story());
    // hv1 is fenced once, by one supervisor (its agent finds it off already, or powers it off
    // once), and no other host is.
    let fences = ha.lab.fence_log();
    let offs: Vec<_> = fences.iter().filter(|(_, a, _)| a == "off" || a == "reboot").collect();
    assert!(offs.iter().all(|f| f.2 == "hv1") && offs.len() <= 1, "{fences:?}\n{}", ha.story());
    let decided: usize = (1..=SUPERVISORS).map(|k| ha.sup(k).text().matches("host hv1 Down -> Fencing").count()).sum();
    assert_eq!(decided, 1, "hv1 fenced once\n{}", ha.story());
    assert!(ha.sup(n).text().contains("host hv1 Fencing -> Fenced"), "{}", ha.story());
    let truth = ha.lab.truth();
    assert_eq!(truth.len(), 6, "every VM runs\n{}", ha.story());
    assert!(truth.values().all(|h| h.len() == 1), "{}", ha.story());
}

/// etcd loses its quorum (the members of the two standbys' machines killed): the leader stops
/// acting within its lease, nobody leads, nothing is fenced or moved, and a VM that crashes
/// meanwhile waits; with etcd whole again, one supervisor leads and restarts it.
/// hv1 is cut off and its fence device is slow (the lab agent waits 8 s before it cuts the
/// power); the leader is killed once its fence agent has been asked for the off. The agent
/// outlives it and powers hv1 off; the next leader, which decides a fence of hv1 of its own,
/// watches the power instead of sending a second off to a device still at work. hv1's VMs run
/// elsewhere once it is off, never twice; the agent was asked for one off.
#[test]
fn lab_ha_leader_killed_while_its_slow_fence_is_under_way() {
    if !lab_allowed() {
        return;
    }
    let (mut ha, l) = Ha::up_with(|lab, config| lab.slow_fence(config, "hv1", 8));
    let watch = ha.lab.watch();
    ha.lab.run(&["isolate", "hv1"]);
    ha.wait("the leader's fence agent asked to power hv1 off", Duration::from_secs(60), |ha| {
        ha.lab.fence_log().iter().any(|(_, a, h)| a == "off" && h == "hv1")
    });
    let t0 = now_secs();
    ha.kill(l);
    let n = ha.hv1_recovered(Duration::from_secs(90));
    eprintln!("lab: s{l} killed during its slow fence of hv1; s{n} recovered hv1's VMs {:.2} s later", now_secs() - t0);
    let seen = watch.stop();
    assert!(seen.doubles.is_empty(), "a VM ran twice: {:?}\n{}", seen.doubles, ha.story());
    let fences = ha.lab.fence_log();
    let offs: Vec<_> = fences.iter().filter(|(_, a, _)| a == "off" || a == "reboot").collect();
    assert_eq!(offs.len(), 1, "one off, the former leader's: {fences:?}\n{}", ha.story());
    let text = ha.sup(n).text();
    assert!(text.contains(&format!("s{l}'s fence of hv1 may still take effect")), "{}", ha.story());
    assert!(text.contains("host hv1 Fencing -> Fenced"), "{}", ha.story());
    let truth = ha.lab.truth();
    assert_eq!(truth.len(), 6, "every VM runs\n{}", ha.story());
    assert!(truth.values().all(|h| h.len() == 1), "{}", ha.story());
}

#[test]
fn lab_ha_etcd_loses_its_quorum() {
    if !lab_allowed() {
        return;
    }
    let (ha, l) = Ha::up();
    let before = ha.lab.truth();
    let watch = ha.lab.watch();
    let others: Vec<String> = (1..=SUPERVISORS).filter(|k| *k != l).map(|k| format!("s{k}")).collect();
    let t0 = now_secs();
    for s in &others {
        ha.lab.run(&["sup-etcd", s, "stop"]);
    }
    ha.wait("the leader to stop leading", Duration::from_secs(30), |ha| !ha.leads(l));
    let stopped = ha.sup(l).wall_after(t0, &[&format!("s{l} stops leading")]).unwrap();
    eprintln!("lab: etcd lost its quorum; s{l} stopped leading {:.2} s later", stopped - t0);
    ha.lab.run(&["crash-vm", "hv2", "vm21"]);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(15) {
        assert!((1..=SUPERVISORS).all(|k| !ha.leads(k)), "a supervisor leads without etcd's quorum\n{}", ha.story());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ha.lab.truth().get("vm21"), None, "vm21 restarted with nobody leading\n{}", ha.story());
    let back = now_secs();
    for s in &others {
        ha.lab.run(&["sup-etcd", s, "start"]);
    }
    let n = ha.settled(None, Duration::from_secs(60));
    assert!(ha.sup(n).text().contains("vm vm21 Restarting -> Probation"), "{}", ha.story());
    for k in 1..=SUPERVISORS {
        ha.quiet_between(k, stopped, back);
    }
    ha.unharmed(watch, &before);
}

/// A standby's machine that runs etcd's raft leader is cut from everything for 20 s: etcd elects
/// another leader (1–2 s without answers, in which 3RC's leader may stop counting itself leader;
/// it keeps its key and leads again when etcd answers: a moment without a leader), nobody fences, no VM moves, one supervisor leads again and
/// supervises (a VM crashed then is restarted); back, the isolated one is a standby.
#[test]
fn lab_ha_the_machine_of_etcd_s_raft_leader_isolated() {
    if !lab_allowed() {
        return;
    }
    let (ha, l) = Ha::up();
    let s = 1;
    assert_ne!(l, s, "s1 starts last: a standby");
    ha.move_raft_leader(s, true);
    let before = ha.lab.truth();
    let watch = ha.lab.watch();
    let cut = now_secs();
    ha.lab.run(&["sup-isolate", &format!("s{s}")]);
    // etcd's election, and a lease that may run out meanwhile, are over within a few seconds.
    std::thread::sleep(Duration::from_secs(4));
    let n = ha.settled(Some(s), Duration::from_secs(30));
    if n != l {
        ha.quiet_after(l, ha.led_at(n, cut).expect("the next leader's line"));
    }
    let gap = ha.sup(n).wall_after(cut, &["stops leading"]);
    let led = ha.led_at(n, cut);
    eprintln!(
        "lab: etcd's raft leader's machine isolated; s{n} leads ({})",
        match (gap, led) {
            (Some(g), Some(l)) =>
                format!("it stopped {:.2} s after the cut and led again {:.2} s after", g - cut, l - cut),
            _ => "without a gap".to_string(),
        }
    );
    ha.crash_and_restart(n, "hv3", "vm31");
    while now_secs() - cut < 20.0 {
        assert!(!ha.leads(s), "{}", ha.story());
        std::thread::sleep(Duration::from_millis(200));
    }
    ha.lab.run(&["sup-reconnect", &format!("s{s}")]);
    std::thread::sleep(Duration::from_secs(5));
    assert_ne!(ha.settled(None, Duration::from_secs(30)), s, "{}", ha.story());
    assert!(!ha.sup(s).text().contains(&format!("s{s} leads")), "{}", ha.story());
    ha.unharmed(watch, &before);
}

/// The leader's whole machine dies: its 3RC and its etcd member killed at once (that member may
/// be etcd's raft leader: etcd elects another). A standby leads within a few seconds and
/// supervises (a VM crashed then is restarted); nothing is fenced or moved.
#[test]
fn lab_ha_the_leader_s_machine_dies() {
    if !lab_allowed() {
        return;
    }
    let (mut ha, l) = Ha::up();
    let before = ha.lab.truth();
    let watch = ha.lab.watch();
    let t0 = now_secs();
    ha.kill(l);
    ha.lab.run(&["sup-etcd", &format!("s{l}"), "stop"]);
    let n = ha.settled(Some(l), Duration::from_secs(40));
    let took = ha.led_at(n, t0).expect("the next leader's line") - t0;
    eprintln!("lab: s{l}'s machine died (3rc and its etcd member); s{n} leads {took:.2} s later");
    let (host, vm) = if before["vm21"] == ["hv2"] { ("hv2", "vm21") } else { ("hv3", "vm31") };
    ha.crash_and_restart(n, host, vm);
    ha.quiet_after(l, t0);
    ha.unharmed(watch, &before);
}
