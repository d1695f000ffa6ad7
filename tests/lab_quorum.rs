//! 3RC cut off on the real lab: the link of the lab's client namespace (where `3rc run` runs)
//! goes down for 30 s. Every host and the lab's witness (the bridge's address) stop answering
//! at once while the hosts and their VMs run on. Without a majority of the votes, 3RC must
//! fence nobody and move nothing; when the link returns, every host is `Online` again with its
//! VMs where they were. (Before quorum, all three hosts were powered off 3 s after the cut.)
//! On the way, a protected domain marked autostart has it turned off, and the journal says so.
//!
//! Needs root, like every lab test; THREERC_SKIP_LAB=1 leaves it out (and says so).

#[path = "lab/harness.rs"]
mod harness;

use harness::{lab_allowed, Lab, Supervisor};
use std::time::{Duration, Instant};

#[test]
fn lab_3rc_cut_off_for_30_s_fences_nothing_and_every_host_comes_back_online() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(3, 2);
    let vms: Vec<String> = (1..=3).flat_map(|i| (1..=2).map(move |j| format!("vm{i}{j}"))).collect();
    let cfg = lab.config(&vms, "min_uptime = \"2s\"");
    // Someone marked vm11 autostart: a host that boots again would start it by itself.
    let hv1 = "qemu+tcp://10.233.7.11/system";
    lab.run(&["exec", "virsh", "-q", "-c", hv1, "autostart", "vm11"]);
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "every VM healthy and the witness reachable", Duration::from_secs(60), |s| {
        let text = s.text();
        vms.iter().all(|v| text.contains(&format!("vm {v} Discovering -> Healthy")))
            && text.contains("witness ping:10.233.7.1 reachable")
    });
    sup.wait_for(&lab, "vm11's autostart turned off", Duration::from_secs(30), |s| {
        s.text().contains("vm vm11 note: autostart turned off on hv1")
    });
    let info = lab.run(&["exec", "virsh", "-q", "-c", hv1, "dominfo", "vm11"]);
    assert!(info.lines().any(|l| l.starts_with("Autostart:") && l.contains("disable")), "{info}");
    let before = lab.truth();
    assert_eq!(before.len(), 6, "{before:?}");

    lab.run(&["isolate-client"]);
    let cut = Instant::now();
    sup.wait_for(&lab, "every host Down with its fence held, and one alarm", Duration::from_secs(30), |s| {
        let text = s.text();
        (1..=3).all(|i| text.contains(&format!("host hv{i} Suspect -> Down")))
            && text.contains("fencing held: 3RC reaches only 0 of 4 votes")
    });
    // The rest of the 30 s: the VMs run on, each once, where they were.
    while cut.elapsed() < Duration::from_secs(30) {
        assert_eq!(lab.truth(), before, "a VM moved or stopped while 3RC was cut off\n{}", sup.text());
        std::thread::sleep(Duration::from_millis(500));
    }
    lab.run(&["reconnect-client"]);
    sup.wait_for(&lab, "every host Online again", Duration::from_secs(60), |s| {
        let text = s.text();
        (1..=3).all(|i| text.contains(&format!("host hv{i} Rejoining -> Online")))
    });
    sup.wait_for(&lab, "every VM healthy again", Duration::from_secs(30), |s| {
        let text = s.text();
        vms.iter().all(|v| text.contains(&format!("vm {v} Suspect -> Healthy")))
    });
    let text = sup.text();
    assert!(!text.contains("-> Fencing") && !text.contains("fence hv"), "a host was fenced\n{text}");
    assert!(!text.contains("Relocating"), "a VM was moved\n{text}");
    assert_eq!(text.matches("ALARM").count(), 1, "one alarm for the cluster, not one per host\n{text}");
    assert!(text.contains("quorum regained"), "{text}");
    assert_eq!(lab.truth(), before);
    for i in 1..=3 {
        assert_eq!(lab.run(&["power-state", &format!("hv{i}")]).trim(), "on");
    }
}

/// A host whose libvirtd dies while the host and its VMs run on (an upgrade gone wrong): its
/// kernel refuses every connection, so the host is alive. 3RC must not power it off: the host
/// is `Unmanageable` with a critical alarm, nothing is fenced or moved, and its soft fence
/// (here: wait 10 s, then start the daemon through `lab.sh`) brings it back `Online` with its
/// VMs where they were. (Before, a libvirtd refusing connections for 2.5 s got its host fenced.)
#[test]
fn lab_a_host_whose_libvirtd_dies_is_unmanageable_not_fenced_and_its_soft_fence_restarts_it() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(3, 2);
    let vms: Vec<String> = (1..=3).flat_map(|i| (1..=2).map(move |j| format!("vm{i}{j}"))).collect();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh");
    let soft = format!(
        "soft_fence = {{ command = [\"sh\", \"-c\", \"sleep 10; exec {} start-daemon {} hv2\"], timeout = \"60s\" }}\n",
        script.display(),
        lab.path().display()
    );
    let cfg = lab.config(&vms, "min_uptime = \"2s\"");
    // The soft fence goes with hv2's [[host]] entry.
    let text = std::fs::read_to_string(&cfg).unwrap();
    let hv2 = "uri = \"qemu+tcp://10.233.7.12/system\"\n";
    assert!(text.contains(hv2), "{text}");
    std::fs::write(&cfg, text.replacen(hv2, &format!("{hv2}{soft}"), 1)).unwrap();
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "every VM healthy", Duration::from_secs(60), |s| {
        let text = s.text();
        vms.iter().all(|v| text.contains(&format!("vm {v} Discovering -> Healthy")))
    });
    let before = lab.truth();
    assert_eq!(before.len(), 6, "{before:?}");

    lab.run(&["stop-daemon", "hv2"]);
    let stopped = Instant::now();
    sup.wait_for(&lab, "hv2 Unmanageable, its soft fence run", Duration::from_secs(30), |s| {
        let text = s.text();
        text.contains("-> Unmanageable: alive but not manageable") && text.contains("soft-fence hv2")
    });
    // While the soft fence waits, hv2's VMs run on, once each, where they were.
    while stopped.elapsed() < Duration::from_secs(8) {
        assert_eq!(lab.truth(), before, "a VM moved or stopped while hv2's daemon was down\n{}", sup.text());
        std::thread::sleep(Duration::from_millis(500));
    }
    sup.wait_for(&lab, "hv2 Online again", Duration::from_secs(60), |s| {
        s.text().contains("host hv2 Rejoining -> Online")
    });
    let text = sup.text();
    assert!(text.contains("host hv2 ALARM") && text.contains("hv2 is alive but 3RC cannot manage it"), "{text}");
    assert!(!text.contains("host hv2 Suspect -> Down") && !text.contains("-> Fencing"), "hv2 was judged dead\n{text}");
    assert!(!text.contains("Relocating"), "a VM was moved\n{text}");
    assert!(text.contains("soft fence done"), "{text}");
    assert_eq!(lab.truth(), before);
    assert_eq!(lab.run(&["power-state", "hv2"]).trim(), "on");
}
