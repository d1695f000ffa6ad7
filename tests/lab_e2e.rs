//! 3RC on a lab of real libvirt hosts (tests/lab/lab.sh): real libvirtd daemons in network
//! namespaces of their own, real qemu VMs, the real `3rc run --headless` supervising them over
//! TCP from the lab's client namespace, and real fencing through a fence-agents style command.
//! The ground truth is the qemu processes of each host; the supervisor's view is its journal.
//!
//! Needs root (namespaces, libvirtd) and the lab packages (`.ci/deps` installs them). As any
//! other test it runs in CI. A non-root developer sets THREERC_SKIP_LAB=1 to leave it out; the
//! test then says so rather than passing silently.

#[path = "lab/harness.rs"]
mod harness;

use harness::{lab_allowed, Lab, Supervisor};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn vm_names(hosts: usize, per: usize) -> Vec<String> {
    (1..=hosts).flat_map(|i| (1..=per).map(move |j| format!("vm{i}{j}"))).collect()
}

/// Every VM healthy in the journal and its definition in the inventory.
fn settled(sup: &Supervisor, lab: &Lab, vms: &[String]) {
    sup.wait_for(lab, "every VM healthy and in the inventory", Duration::from_secs(60), |s| {
        let text = s.text();
        vms.iter().all(|v| text.contains(&format!("vm {v} Discovering -> Healthy"))) && s.inventory() >= vms.len()
    });
}

#[test]
fn lab_host_power_off_is_fenced_then_its_vms_run_once_on_the_survivors_and_a_crashed_vm_restarts() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(3, 2);
    let vms = vm_names(3, 2);
    let cfg = lab.config(&vms, "min_uptime = \"2s\"");
    let sup = Supervisor::start(&lab, &cfg);
    settled(&sup, &lab, &vms);

    // A VM crash (its qemu killed): restarted in place.
    lab.run(&["crash-vm", "hv3", "vm31"]);
    sup.wait_for(&lab, "vm31 restarted on hv3", Duration::from_secs(30), |s| {
        s.text().contains("vm vm31 Restarting -> Probation")
            && lab.truth().get("vm31") == Some(&vec!["hv3".to_string()])
    });

    // Power off hv1: fenced, then vm11 and vm12 run exactly once on the survivors.
    lab.run(&["power-off", "hv1"]);
    let t0 = Instant::now();
    let mut max_copies = 0;
    sup.wait_for(&lab, "hv1's VMs running elsewhere", Duration::from_secs(60), |s| {
        let truth = lab.truth();
        max_copies = max_copies.max(truth.values().map(Vec::len).max().unwrap_or(0));
        ["vm11", "vm12"].iter().all(|v| truth.get(*v).is_some_and(|h| h.len() == 1 && h[0] != "hv1"))
            && s.text().contains("vm vm12 Relocating -> Probation")
            && s.text().contains("vm vm11 Relocating -> Probation")
    });
    let wall = t0.elapsed();
    assert_eq!(max_copies, 1, "a VM ran on two hosts\n{}", sup.text());
    let text = sup.text();
    for step in [
        "host hv1 Online -> Suspect",
        "host hv1 Suspect -> Down",
        "host hv1 Down -> Fencing",
        "host hv1 Fencing -> Fenced",
    ] {
        assert!(text.contains(step), "missing {step:?}\n{text}");
    }
    // Nothing started elsewhere before the fence was confirmed.
    let fenced = sup.at(&["host hv1 Fencing -> Fenced"]).unwrap();
    let first_start = sup.at(&["AwaitingFence -> Relocating"]).unwrap();
    assert!(first_start >= fenced, "a VM was started before hv1 was fenced\n{text}");
    let down = sup.at(&["host hv1 Suspect -> Down"]).unwrap();
    let suspect = sup.at(&["host hv1 Online -> Suspect"]).unwrap();
    let running = sup
        .at(&["vm vm12 Relocating -> Probation"])
        .unwrap()
        .max(sup.at(&["vm vm11 Relocating -> Probation"]).unwrap());
    eprintln!(
        "lab recovery: first failed probe {} ms after the previous cycle, Down after {} ms more, fenced after {} ms more, both VMs running {} ms after the fence; {:.1} s wall clock from power-off",
        suspect % 1000,
        down - suspect,
        fenced - down,
        running - fenced,
        wall.as_secs_f64()
    );
}

/// `3rc ctl` against the lab's supervisor.
fn ctl(config: &Path, words: &[&str]) -> Result<String, String> {
    ctl_said(config, words).map(|(out, _)| out)
}

/// `3rc ctl`'s answer on stdout and what it said on stderr (a warning), or its error.
fn ctl_said(config: &Path, words: &[&str]) -> Result<(String, String), String> {
    let out =
        Command::new(env!("CARGO_BIN_EXE_3rc")).args(["ctl", "--config"]).arg(config).args(words).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok((String::from_utf8_lossy(&out.stdout).into_owned(), stderr))
    } else {
        Err(stderr)
    }
}

#[test]
fn lab_live_migration_a_hung_daemon_and_an_isolated_host() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(3, 1);
    let vms = vm_names(3, 1);
    let cfg = lab.config(&vms, "min_uptime = \"2s\"");
    let sup = Supervisor::start(&lab, &cfg);
    settled(&sup, &lab, &vms);

    // Operator live migration through the control socket: qemu migrates, nothing restarts.
    let refused = ctl(&cfg, &["migrate", "vm11", "hv9"]).unwrap_err();
    assert!(refused.contains("no host named hv9"), "{refused}");
    ctl(&cfg, &["migrate", "vm11", "hv2"]).unwrap();
    sup.wait_for(&lab, "vm11 migrated to hv2", Duration::from_secs(60), |s| {
        s.text().contains("vm vm11 Migrating -> Probation") && lab.truth().get("vm11") == Some(&vec!["hv2".to_string()])
    });
    let log = std::fs::read_to_string(lab.path().join("state/3rc.log")).unwrap_or_default();
    assert!(!log.contains("relocating cold"), "the migration was not live:\n{log}");
    assert!(sup.text().contains("migrate vm11 from hv1 to hv2 (operator cli:"), "{}", sup.text());
    let status = ctl(&cfg, &["status"]).unwrap();
    assert!(status.lines().any(|l| l.starts_with("vm11 ") && l.contains("hv2")), "{status}");

    // A hung libvirtd (SIGSTOP): Suspect, then Down, fenced, its VM recovered once.
    lab.run(&["hang", "hv3"]);
    let mut max_copies = 0;
    sup.wait_for(&lab, "vm31 recovered after hv3 hung", Duration::from_secs(60), |s| {
        let truth = lab.truth();
        max_copies = max_copies.max(truth.values().map(Vec::len).max().unwrap_or(0));
        s.text().contains("vm vm31 Relocating -> Probation")
            && truth.get("vm31").is_some_and(|h| h.len() == 1 && h[0] != "hv3")
    });
    let text = sup.text();
    for step in ["host hv3 Online -> Suspect", "host hv3 Suspect -> Down", "host hv3 Fencing -> Fenced"] {
        assert!(text.contains(step), "missing {step:?}\n{text}");
    }

    // Isolation: the link is cut, the VMs keep running behind it (the split-brain trap). They
    // must not start elsewhere before the fence, and two qemu must never run for one VM.
    lab.run(&["isolate", "hv2"]);
    sup.wait_for(&lab, "hv2's VMs recovered after isolation", Duration::from_secs(60), |s| {
        let truth = lab.truth();
        max_copies = max_copies.max(truth.values().map(Vec::len).max().unwrap_or(0));
        ["vm11", "vm21"].iter().all(|v| truth.get(*v).is_some_and(|h| h == &vec!["hv1".to_string()]))
            && s.text().contains("vm vm21 Relocating -> Probation")
    });
    assert_eq!(max_copies, 1, "a VM ran on two hosts\n{}", sup.text());
    let fenced = sup.at(&["host hv2 Fencing -> Fenced"]).unwrap();
    let started = sup.at(&["vm vm21 AwaitingFence -> Relocating"]).unwrap();
    assert!(started >= fenced, "vm21 started before hv2 was fenced\n{}", sup.text());
}

#[test]
fn lab_3rc_killed_during_a_recovery_and_restarted_converges_without_a_double_run() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(3, 2);
    let vms = vm_names(3, 2);
    let cfg = lab.config(&vms, "min_uptime = \"2s\"");
    let mut sup = Supervisor::start(&lab, &cfg);
    settled(&sup, &lab, &vms);
    lab.run(&["power-off", "hv1"]);
    // Kill -9 as soon as the first recovery is decided (its intent is on disk, the start is
    // under way or about to be).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sup.text().contains("AwaitingFence -> Relocating") {
        assert!(Instant::now() < deadline, "no recovery started\n{}", sup.text());
        std::thread::sleep(Duration::from_millis(10));
    }
    sup.kill();
    let mut max_copies = lab.truth().values().map(Vec::len).max().unwrap_or(0);
    // A new 3RC on the same state directory: it reads the journal back and converges.
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "every VM running exactly once, off hv1", Duration::from_secs(90), |_| {
        let truth = lab.truth();
        max_copies = max_copies.max(truth.values().map(Vec::len).max().unwrap_or(0));
        vms.iter().all(|v| truth.get(v).is_some_and(|h| h.len() == 1 && h[0] != "hv1"))
    });
    assert_eq!(max_copies, 1, "a VM ran on two hosts\n{}", sup.text());
    // Every VM ends Healthy in the second run, and nothing ran twice meanwhile.
    sup.wait_for(&lab, "all healthy again", Duration::from_secs(60), |s| {
        let t = s.text();
        vms.iter().all(|v| {
            let last = t.lines().filter(|l| l.contains(&format!("vm {v} "))).rfind(|l| l.contains(" -> "));
            last.is_some_and(|l| l.contains("-> Healthy"))
        })
    });
    let truth = lab.truth();
    assert!(truth.values().all(|h| h.len() == 1), "{truth:?}");
}

/// A start that fails once on a real host (the VM's disk gone for a moment, so qemu cannot open
/// it): the failed start goes through the ladder like any failure, the VM waits its backoff, and
/// the restart policy starts it again on that host, its only one.
#[test]
fn lab_a_start_that_fails_once_is_retried_after_its_backoff() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(1, 1);
    let vms = vm_names(1, 1);
    let cfg = lab.config(&vms, "min_uptime = \"2s\"");
    let sup = Supervisor::start(&lab, &cfg);
    settled(&sup, &lab, &vms);
    let disk = lab.path().join("shared").join("vm11.qcow2");
    let aside = lab.path().join("shared").join("vm11.qcow2.aside");
    std::fs::rename(&disk, &aside).unwrap();
    lab.run(&["crash-vm", "hv1", "vm11"]);
    sup.wait_for(&lab, "vm11's restart fails", Duration::from_secs(60), |s| {
        s.text().contains("vm vm11 Restarting -> Suspect")
    });
    std::fs::rename(&aside, &disk).unwrap();
    sup.wait_for(&lab, "vm11 running again on hv1", Duration::from_secs(90), |s| {
        s.text().matches("vm vm11 Restarting -> Probation").count() == 1
            && lab.truth().get("vm11") == Some(&vec!["hv1".to_string()])
    });
    let t = sup.text();
    assert!(t.contains("1 failed start(s) in 10 min; next attempt in 5 s at the earliest"), "{t}");
    assert!(t.contains("restart 2 of 2 in 10 min"), "{t}");
    assert!(!t.contains("NeedsOperator"), "{t}");
}

/// A disarm given while a real fence is under way (the power device takes 6 s): the disarm is
/// pending, the fence finishes and the fenced host's VM is recovered once on the survivor, then
/// the disarm is in effect. Meanwhile every other action stops at once: a VM that crashes on the
/// survivor is not restarted.
#[test]
fn lab_a_disarm_during_a_slow_fence_lets_the_fence_and_its_recovery_finish() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(2, 1);
    let vms = vm_names(2, 1);
    let cfg = lab.config(&vms, "min_uptime = \"2s\"");
    lab.slow_fence(&cfg, "hv1", 6);
    let sup = Supervisor::start(&lab, &cfg);
    settled(&sup, &lab, &vms);
    // Cut hv1's link: its VM keeps running behind it until the fence cuts the power.
    lab.run(&["isolate", "hv1"]);
    sup.wait_for(&lab, "hv1's fence under way", Duration::from_secs(60), |s| {
        s.text().contains("host hv1 Down -> Fencing")
    });
    let (answer, warning) = ctl_said(&cfg, &["disarm", "--yes"]).unwrap();
    assert!(answer.contains("accepted"), "{answer}");
    assert!(warning.contains("warning: disarm pending: the fence of hv1"), "{warning}");
    let status = ctl(&cfg, &["status"]).unwrap();
    assert!(status.contains("DISARM PENDING:"), "{status}");
    assert!(!sup.text().contains("host hv1 Fencing -> Fenced"), "the fence was not slow\n{}", sup.text());
    lab.run(&["crash-vm", "hv2", "vm21"]);
    let mut max_copies = 0;
    sup.wait_for(&lab, "vm11 recovered on hv2, then the disarm in effect", Duration::from_secs(90), |s| {
        let truth = lab.truth();
        max_copies = max_copies.max(truth.values().map(Vec::len).max().unwrap_or(0));
        s.text().contains("cluster note: disarm in effect")
            && s.text().contains("vm vm11 Relocating -> Probation")
            && truth.get("vm11") == Some(&vec!["hv2".to_string()])
    });
    assert_eq!(max_copies, 1, "a VM ran on two hosts\n{}", sup.text());
    let text = sup.text();
    let fenced = sup.at(&["host hv1 Fencing -> Fenced"]).unwrap();
    let started = sup.at(&["vm vm11 AwaitingFence -> Relocating"]).unwrap();
    assert!(started >= fenced, "vm11 started before hv1 was fenced\n{text}");
    let in_effect = sup.at(&["cluster note: disarm in effect"]).unwrap();
    assert!(in_effect >= started, "the disarm took effect before the recovery\n{text}");
    let fencing = sup.at(&["host hv1 Down -> Fencing"]).unwrap();
    let disarmed = sup.at(&["cluster command disarm cluster"]).unwrap();
    eprintln!(
        "lab disarm during a fence: disarm given {} ms into the fence, fence done after {} ms, vm11 recovered and the disarm in effect {} ms after the disarm",
        disarmed - fencing,
        fenced - fencing,
        in_effect - disarmed
    );
    // vm21's crash is seen (its probes fail), and nothing restarts it: the disarm stopped every
    // other action at once. Three failed probes take 3 s; ten more seconds leave room for one.
    sup.wait_for(&lab, "vm21's crash seen", Duration::from_secs(30), |s| {
        s.text().contains("vm vm21 Healthy -> Suspect")
    });
    std::thread::sleep(Duration::from_secs(10));
    let text = sup.text();
    assert!(!text.contains("vm vm21 Suspect -> Restarting"), "{text}");
    assert!(!lab.truth().contains_key("vm21"), "vm21 was started while disarmed\n{text}");
    let status = ctl(&cfg, &["status"]).unwrap();
    assert!(!status.contains("DISARM PENDING"), "{status}");
    assert!(status.lines().any(|l| l.starts_with("cluster ") && l.contains("disarmed by")), "{status}");
}

/// Index of the first of `lines` from `from` on that contains `part`.
fn line_at(lines: &[String], from: usize, part: &str) -> Option<usize> {
    lines.iter().skip(from).position(|l| l.contains(part)).map(|i| i + from)
}

/// Kill vm11's qemu on hv1 and wait for its restart in place, after the usual 3 failed probes
/// (events never shorten the hysteresis).
fn crash_and_restart(sup: &Supervisor, lab: &Lab) {
    lab.run(&["crash-vm", "hv1", "vm11"]);
    sup.wait_for(lab, "vm11 restarted on hv1", Duration::from_secs(60), |s| {
        s.text().contains("vm vm11 Restarting -> Probation")
            && lab.truth().get("vm11") == Some(&vec!["hv1".to_string()])
    });
    assert!(sup.text().contains("vm vm11 Suspect -> Restarting: 3 failed probes"), "{}", sup.text());
    // libvirt holds the domain's lock for a second or two while it handles the dead qemu, and
    // the bulk probe waits for it: the host answers a light call meanwhile, so it is busy, not
    // suspected.
    assert!(!sup.text().contains("host hv1 Online -> Suspect"), "a VM crash made its host Suspect\n{}", sup.text());
}

/// What the lab tests of events log: the hints and how each cycle came.
const EVENTS_LOG: &str = "info,3rc::events=debug,3rc::pace=debug";

#[test]
fn lab_a_killed_qemu_is_probed_on_its_lifecycle_event_and_a_restarted_daemon_is_reconnected_at_once() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(2, 1);
    let vms = vm_names(2, 1);
    // Cycles 4 s apart, so that a cycle brought forward by an event (1 s after the previous
    // one at the earliest) stands apart from the scheduled ones.
    let cfg = lab.config(&vms, "interval = \"4s\"\nmin_uptime = \"2s\"");
    let sup = Supervisor::start_logging(&lab, &cfg, EVENTS_LOG);
    settled(&sup, &lab, &vms);

    // qemu killed: libvirt reports the stop, the next cycle comes at once and its probe is the
    // VM's first failed one; the scheduled cycles then climb the ladder as always.
    crash_and_restart(&sup, &lab);
    let lines = sup.log_lines();
    let all = lines.join("\n");
    let hint = line_at(&lines, 0, "hv1: domain vm11 stopped (").unwrap_or_else(|| panic!("no lifecycle event\n{all}"));
    assert!(lines[hint].contains("looking now"), "{all}");
    let early = line_at(&lines, hint, "early, after hv1: domain vm11 stopped (")
        .unwrap_or_else(|| panic!("no early cycle after the event\n{all}"));
    let suspect = line_at(&lines, early, "vm vm11 Healthy -> Suspect: 1 failed probe")
        .unwrap_or_else(|| panic!("vm11 not seen failed after the early cycle\n{all}"));
    assert!(line_at(&lines, early + 1, "3rc::pace").is_none_or(|next| next > suspect), "seen by a later cycle\n{all}");

    // hv2's libvirtd dies (its VM keeps running) and comes back: the close callback reports the
    // lost connection, which is reopened at once, and events flow again on the new connection.
    lab.run(&["restart-daemon", "hv2"]);
    sup.wait_for(&lab, "hv2's lost connection reported", Duration::from_secs(30), |s| {
        s.log_lines().iter().any(|l| l.contains("hv2: connection closed (") && l.contains("reconnecting now"))
    });
    // The daemon is back when restart-daemon returns. What 3RC promises: once it logs that a
    // new connection registered its callbacks, changes on hv2 come as events (not a number of
    // cycles: how soon it reconnects depends on how long the daemon was away).
    sup.wait_for(&lab, "hv2's new connection registered its events", Duration::from_secs(30), |s| {
        let lines = s.log_lines();
        line_at(&lines, 0, "hv2: connection closed (").is_some_and(|c| {
            line_at(&lines, c, "hv2: connected to qemu+tcp://10.233.7.12/system, lifecycle events").is_some()
        })
    });
    // What libvirt promises: a qemu that dies after its restarted daemon adopted it (the
    // daemon reconnects to each qemu's monitor in the background, holding the domain's job,
    // which a monitor command waits for) is reported; one that dies before is not.
    lab.run(&[
        "exec",
        "virsh",
        "-q",
        "-c",
        "qemu+tcp://10.233.7.12/system",
        "qemu-monitor-command",
        "vm21",
        "{\"execute\":\"query-status\"}",
    ]);
    lab.run(&["crash-vm", "hv2", "vm21"]);
    sup.wait_for(&lab, "an event from hv2's new connection", Duration::from_secs(30), |s| {
        s.log_lines().iter().any(|l| l.contains("hv2: domain vm21 stopped ("))
    });
    assert!(!sup.text().contains("host hv2 Suspect -> Down"), "a daemon restart failed hv2 over\n{}", sup.text());
}

#[test]
fn lab_with_events_off_a_killed_qemu_is_found_by_polling() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(1, 1);
    let vms = vm_names(1, 1);
    let cfg = lab.config(&vms, "events = false\nmin_uptime = \"2s\"");
    let sup = Supervisor::start_logging(&lab, &cfg, EVENTS_LOG);
    settled(&sup, &lab, &vms);
    crash_and_restart(&sup, &lab);
    let lines = sup.log_lines();
    let all = lines.join("\n");
    assert!(lines.iter().any(|l| l.contains("3rc::pace: cycle") && l.contains("on schedule")), "{all}");
    assert!(!lines.iter().any(|l| l.contains("early") || l.contains("looking now")), "events were off\n{all}");
}

/// A lab of `hosts` hosts with one VM each, vm11 with a reinstall spec and a seed, supervised
/// and settled.
fn reinstall_lab(hosts: usize) -> (Lab, std::path::PathBuf, Supervisor) {
    let lab = Lab::up(hosts, 1);
    let vms = vm_names(hosts, 1);
    let cfg = lab.config_with(&vms, "min_uptime = \"2s\"", |vm| {
        if vm == "vm11" {
            lab.reinstall_spec(vm, true)
        } else {
            String::new()
        }
    });
    let sup = Supervisor::start(&lab, &cfg);
    settled(&sup, &lab, &vms);
    (lab, cfg, sup)
}

/// `3rc reinstall --yes vm11`, as a person types it.
fn reinstall_vm11(cfg: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_3rc"))
        .args(["reinstall", "--yes", "--config"])
        .arg(cfg)
        .arg("vm11")
        .output()
        .unwrap();
    assert!(out.status.success(), "3rc reinstall: {}", String::from_utf8_lossy(&out.stderr));
}

/// Which file is at `path`: its inode and its birth time. The inode alone is not enough: a
/// file system may give a file made anew the inode number its deleted predecessor had.
fn file_identity(path: &std::path::Path) -> (u64, Option<std::time::SystemTime>) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    (m.ino(), m.created().ok())
}

/// `3rc reinstall VM --yes` on a real libvirt host: the VM's qcow2 disk is deleted and made
/// anew as an overlay on the lab's golden image through libvirt's storage API, the cloud-init
/// seed is uploaded through the volume upload stream and attached, the domain keeps its UUID,
/// and the VM runs again; the journal says who decided it.
#[test]
fn lab_reinstall_makes_a_fresh_disk_uploads_the_seed_and_runs_the_vm_again() {
    if !lab_allowed() {
        return;
    }
    let (lab, cfg, sup) = reinstall_lab(2);
    let disk = lab.path().join("shared/vm11.qcow2");
    let old_disk = file_identity(&disk);
    let uuid_before = lab.run(&["exec", "virsh", "-q", "-c", "qemu+tcp://10.233.7.11/system", "domuuid", "vm11"]);
    reinstall_vm11(&cfg);
    sup.wait_for(&lab, "vm11 reinstalled and running", Duration::from_secs(60), |s| {
        s.text().contains("vm vm11 Reinstalling -> Probation")
            && lab.truth().get("vm11") == Some(&vec!["hv1".to_string()])
    });
    let text = sup.text();
    // Who decided it, their uid as the kernel says, and how they consented.
    assert!(
        text.contains("action #1 reinstall vm11 on hv1 (operator cli:")
            && text.contains("(uid 0) (confirmed by --yes))"),
        "{text}"
    );
    let info = Command::new("qemu-img").args(["info", "--output=json", "-U"]).arg(&disk).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("golden.qcow2"), "an overlay on the golden image: {info}");
    assert_ne!(file_identity(&disk), old_disk, "the old disk file was deleted and made anew");
    let seed = lab.path().join("shared/vm11-seed.iso");
    let label = Command::new("isoinfo").arg("-d").arg("-i").arg(&seed).output().unwrap();
    assert!(String::from_utf8_lossy(&label.stdout).contains("Volume id: cidata"), "seed {}", seed.display());
    let user = Command::new("isoinfo").args(["-J", "-x", "/user-data", "-i"]).arg(&seed).output().unwrap();
    assert!(String::from_utf8_lossy(&user.stdout).contains("hostname: \"vm11\""));
    let xml = lab.run(&["exec", "virsh", "-q", "-c", "qemu+tcp://10.233.7.11/system", "dumpxml", "vm11"]);
    assert!(xml.contains("vm11-seed.iso") && xml.contains("device='cdrom'"), "{xml}");
    let uuid_after = lab.run(&["exec", "virsh", "-q", "-c", "qemu+tcp://10.233.7.11/system", "domuuid", "vm11"]);
    assert_eq!(uuid_before.trim(), uuid_after.trim());
    assert!(!uuid_after.trim().is_empty());
}

/// 3RC killed with `kill -9` right after it accepted a reinstall: the next run finishes it (or
/// finds it finished) and the VM runs from a fresh overlay, never left without a disk.
#[test]
fn lab_reinstall_cut_short_by_kill_9_is_finished_by_the_next_run() {
    if !lab_allowed() {
        return;
    }
    let (lab, cfg, mut sup) = reinstall_lab(1);
    reinstall_vm11(&cfg);
    sup.kill();
    let first = sup.text();
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "the reinstall finished and vm11 running", Duration::from_secs(60), |s| {
        let t = s.text();
        let done_after =
            |mark: &str| t.find(mark).is_some_and(|i| t[i..].contains("vm vm11 Reinstalling -> Probation"));
        let finished =
            done_after("resume of an interrupted reinstall") || first.contains("vm vm11 Reinstalling -> Probation");
        finished && lab.truth().get("vm11") == Some(&vec!["hv1".to_string()])
    });
    let text = sup.text();
    let resumed = text.contains("resume of an interrupted reinstall (operator cli:");
    assert!(resumed || first.contains("vm vm11 Reinstalling -> Probation"), "neither resumed nor finished:\n{text}");
    eprintln!("kill -9 came {} the reinstall ended", if resumed { "before" } else { "after" });
    let disk = lab.path().join("shared/vm11.qcow2");
    let info = Command::new("qemu-img").args(["info", "-U"]).arg(&disk).output().unwrap();
    assert!(String::from_utf8_lossy(&info.stdout).contains("golden.qcow2"), "vm11 runs from a fresh overlay");
}
