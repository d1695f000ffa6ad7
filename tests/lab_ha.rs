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

use harness::{lab_allowed, now_secs, Lab, Supervisor, Watch};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SUPERVISORS: usize = 3;

/// The lab, its supervisors (index k-1 is sK), which were killed, and their VMs.
struct Ha {
    lab: Lab,
    sups: Vec<Supervisor>,
    killed: Vec<bool>,
    vms: Vec<String>,
}

impl Ha {
    /// Three hosts with two VMs each, three supervisor machines, and one supervisor leading
    /// with every VM healthy. s1 starts once s2 or s3 leads, so that it is a standby: its etcd
    /// member is the first of every instance's list, the one each sends its requests to first.
    fn up() -> (Ha, usize) {
        let lab = Lab::up(3, 2);
        let etcd = lab.sup_up(SUPERVISORS);
        let vms: Vec<String> = (1..=3).flat_map(|i| (1..=2).map(move |j| format!("vm{i}{j}"))).collect();
        let start = |k| Supervisor::start_on(&lab, k, &lab.ha_config(k, &etcd, &vms, "min_uptime = \"2s\""));
        let mut sups = vec![start(2), start(3)];
        let deadline = Instant::now() + Duration::from_secs(60);
        while !sups.iter().enumerate().any(|(i, s)| s.text().contains(&format!("cluster note: s{} leads: ", i + 2))) {
            assert!(Instant::now() < deadline, "neither s2 nor s3 leads");
            std::thread::sleep(Duration::from_millis(100));
        }
        sups.insert(0, start(1));
        let ha = Ha { lab, sups, killed: vec![false; SUPERVISORS], vms };
        let l = ha.settled(None, Duration::from_secs(90));
        (ha, l)
    }

    fn sup(&self, k: usize) -> &Supervisor {
        &self.sups[k - 1]
    }

    /// `kill -9` sK.
    fn kill(&mut self, k: usize) {
        self.sups[k - 1].kill();
        self.killed[k - 1] = true;
    }

    /// Whether sK is alive and its journal says it leads now (its last leadership line).
    fn leads(&self, k: usize) -> bool {
        if self.killed[k - 1] {
            return false;
        }
        let s = &self.sups[k - 1];
        let (lead, stop) = (format!("cluster note: s{k} leads: "), format!("cluster note: s{k} stops leading"));
        s.log()
            .iter()
            .rev()
            .find(|(_, t)| t.contains(&lead) || t.contains(&stop))
            .is_some_and(|(_, t)| t.contains(&lead))
    }

    /// Wall clock of sK's last "sK leads" line after `after`.
    fn led_at(&self, k: usize, after: f64) -> Option<f64> {
        self.sup(k).wall_after(after, &[&format!("cluster note: s{k} leads: ")])
    }

    /// Wait until exactly one live supervisor leads (not `not`), by its journal and its status,
    /// with every VM `Healthy` in its status: its number.
    fn settled(&self, not: Option<usize>, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let leaders: Vec<usize> = (1..=SUPERVISORS).filter(|k| self.leads(*k)).collect();
            if let [k] = leaders[..] {
                if Some(k) != not {
                    let status = self.sup(k).status().unwrap_or_default();
                    if status.contains(&format!("HA: s{k} leads"))
                        && self
                            .vms
                            .iter()
                            .all(|v| status.lines().any(|l| l.starts_with(&format!("{v} ")) && l.contains(" Healthy ")))
                    {
                        return k;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no one leader with every VM healthy: leaders {leaders:?}\n{}",
                self.story()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every journal's lines merged by wall clock, each with its supervisor's name, and the
    /// fence agent's log: for failure messages.
    fn story(&self) -> String {
        let mut lines: Vec<(f64, String)> = Vec::new();
        for (i, s) in self.sups.iter().enumerate() {
            lines.extend(s.events().into_iter().map(|(w, _, t)| (w, format!("s{}: {t}", i + 1))));
        }
        lines.extend(self.lab.fence_log().into_iter().map(|(w, a, h)| (w, format!("FENCE AGENT: {a} {h}"))));
        lines.sort_by(|a, b| a.0.total_cmp(&b.0));
        let t0 = lines.first().map_or(0.0, |l| l.0);
        let mut out: Vec<String> = lines.into_iter().map(|(w, t)| format!("{:7.2} {t}", w - t0)).collect();
        out.push(format!("truth: {:?}", self.lab.truth()));
        for (i, s) in self.sups.iter().enumerate() {
            out.push(format!("last lines of s{}'s log:\n{}", i + 1, s.log_tail(25)));
        }
        out.join("\n")
    }

    fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&Ha) -> bool) {
        let deadline = Instant::now() + timeout;
        while !pred(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", self.story());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

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
        for (w, _, t) in self.sup(k).events() {
            if w > at {
                assert!(
                    t.starts_with("cluster note: ") || t.contains(" note: "),
                    "s{k} journaled {t:?} after another led\n{}",
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
/// found here.)
#[test]
fn lab_ha_standby_isolated() {
    if !lab_allowed() {
        return;
    }
    let (ha, l) = Ha::up();
    let s = 1;
    assert_ne!(l, s, "s1 starts last: a standby");
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
    let mut n = 0;
    ha.wait("hv1's VMs running elsewhere under a new leader", Duration::from_secs(60), |ha| {
        let truth = ha.lab.truth();
        let Some(k) = (1..=SUPERVISORS).find(|k| ha.leads(*k)) else { return false };
        let text = ha.sup(k).text();
        ["vm11", "vm12"].iter().all(|v| {
            truth.get(*v).is_some_and(|h| h.len() == 1 && h[0] != "hv1")
                && text.contains(&format!("vm {v} Relocating -> Probation"))
        })
    });
    let running = now_secs();
    for k in 1..=SUPERVISORS {
        if ha.leads(k) {
            n = k;
        }
    }
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
