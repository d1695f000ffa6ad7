//! Guest probes on the lab (`[vm.guest]`, `core::guest`): real libvirt, real qemu. A VM whose
//! domain has a qemu guest agent channel but no agent inside (its guest does not answer
//! `guest-ping`: libvirt says "Guest agent is not responding"), and a VM whose service port is
//! closed (a TCP check, from the supervisor, to a port nobody listens on): both run as far as
//! libvirt can tell, and both are restarted by the ladder once their guest probes have failed
//! `fail_threshold` times past `min_uptime`; with `max_restarts = 1`, the next time a person
//! is asked instead of a second restart.
//!
//! Needs root and the lab packages, like every lab test (`THREERC_SKIP_LAB=1` leaves it out).

#[path = "lab/harness.rs"]
mod harness;

use harness::{lab_allowed, Lab, Supervisor};
use std::time::Duration;

#[test]
fn lab_a_guest_whose_agent_or_port_fails_is_restarted_then_given_to_a_person() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(1, 2);
    // vm11 gets a guest agent channel (nothing in the guest answers on it).
    let uri = "qemu+tcp://10.233.7.11/system";
    let xml = lab.run(&["exec", "virsh", "-c", uri, "dumpxml", "--inactive", "vm11"]);
    let channel = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>\n  </devices>";
    let with_agent = lab.path().join("shared/vm11-agent.xml");
    std::fs::write(&with_agent, xml.replace("</devices>", channel)).unwrap();
    lab.run(&["exec", "virsh", "-c", uri, "define", with_agent.to_str().unwrap()]);
    lab.run(&["exec", "virsh", "-c", uri, "destroy", "vm11"]);
    lab.run(&["exec", "virsh", "-c", uri, "start", "vm11"]);
    let guest = |vm: &str| match vm {
        "vm11" => {
            "[vm.guest]\nagent = true\nagent_grace = \"3s\"\nmin_uptime = \"3s\"\ntimeout = \"1s\"\nmax_restarts = 1\n"
        }
        // The lab bridge's own address: reachable from 3RC's namespace, nothing on port 9.
        _ => "[vm.guest]\ntcp = \"10.233.7.1:9\"\nmin_uptime = \"3s\"\ntimeout = \"1s\"\nmax_restarts = 1\n",
    };
    let vms = vec!["vm11".to_string(), "vm12".to_string()];
    let cfg = lab.config_with(&vms, "min_uptime = \"2s\"", |vm| guest(vm).to_string());
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "both VMs given to a person after one restart each", Duration::from_secs(120), |s| {
        let t = s.text();
        t.contains("vm vm11 Suspect -> NeedsOperator") && t.contains("vm vm12 Suspect -> NeedsOperator")
    });
    let t = sup.text();
    for (vm, why) in [("vm11", "guest agent: "), ("vm12", "tcp 10.233.7.1:9: ")] {
        let restarts = t.lines().filter(|l| l.contains(&format!("restart {vm} on hv1 (policy: ladder step 1"))).count();
        assert_eq!(restarts, 1, "{vm} restarted once by its guest probes:\n{t}");
        let climbed = t.lines().find(|l| l.contains(&format!("vm {vm} Suspect -> Restarting"))).unwrap_or_default();
        assert!(climbed.contains(why), "{vm} restarted for its guest ({why}): {climbed}");
        assert!(t.contains("its guest probes already restarted it once in 1.0 h (limit 1): a person decides"), "{t}");
    }
    // What libvirt said of the agent, and what the port said, as people read them.
    assert!(t.contains("Guest agent is not responding"), "{t}");
    assert!(t.to_lowercase().contains("connection refused"), "{t}");
    // The ground truth: both still run on hv1 (given to a person, not stopped nor moved).
    let truth = lab.truth();
    assert_eq!(truth.get("vm11"), Some(&vec!["hv1".to_string()]), "{truth:?}");
    assert_eq!(truth.get("vm12"), Some(&vec!["hv1".to_string()]), "{truth:?}");
    drop(sup);
}
