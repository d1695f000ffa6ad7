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
