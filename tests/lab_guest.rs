//! Guest probes and storage outages on the lab: real libvirt, real qemu.
//!
//! Guest probes (`[vm.guest]`, `core::guest`): a VM whose domain has a qemu guest agent channel
//! but no agent inside (its guest does not answer `guest-ping`: libvirt says "Guest agent is
//! not responding"), a VM whose service port is closed (a TCP check, from the supervisor, to a
//! port nobody listens on), and a VM whose watchdog device fires (its guest arms an `ib700` and
//! never feeds it: libvirt's watchdog event): all run as far as libvirt can tell, and all are
//! restarted by the ladder once their guest probes have failed past `min_uptime`; with
//! `max_restarts = 1`, the next time a person is asked instead of a second restart.
//!
//! A storage outage (`core::storage`): a VM whose disk lives on a small filesystem that fills
//! up (a tmpfs in the host's mount namespace) while its guest writes is paused by qemu with an
//! I/O error; 3RC reports it (one alarm naming the host's storage), restarts and moves nothing,
//! and the VM runs again once there is room (3RC's own resume).
//!
//! The guests with a purpose are a boot sector each (x86 real mode, assembled once from the
//! source beside it: no OS, nothing downloaded).
//!
//! Needs root and the lab packages, like every lab test (`THREERC_SKIP_LAB=1` leaves it out).

#[path = "lab/harness.rs"]
mod harness;

use harness::{lab_allowed, Lab, Supervisor};
use std::path::Path;
use std::time::Duration;

/// Arms the `ib700` watchdog for 4 s (port 0x443, code 13) and idles: the device fires 4 s
/// after each boot.
///
/// ```text
///   mov $0x0d, %al ; mov $0x443, %dx ; out %al, (%dx)
/// 1: hlt ; jmp 1b
/// ```
const WATCHDOG_GUEST: &[u8] = &[0xb0, 0x0d, 0xba, 0x43, 0x04, 0xee, 0xf4, 0xeb, 0xfd];

/// Writes 32 KiB to its disk every ~0.5 s (nine timer ticks), each time further on (from
/// 1 MiB to 16 MiB, then from 1 MiB again), through the BIOS (int 13h, function 43h).
///
/// ```text
///   cli ; xor %ax,%ax ; mov %ax,%ds ; mov %ax,%ss ; mov $0x7c00,%sp ; sti
/// 1: mov $9,%cx
/// 2: hlt ; loop 2b
///   mov $dap,%si ; mov $0x43,%ah ; xor %al,%al ; mov $0x80,%dl ; int $0x13
///   addw $64,lba ; cmpw $32768,lba ; jb 1b
///   movw $2048,lba ; jmp 1b
/// dap: .byte 0x10,0 ; .word 64 ; .word 0x7c00,0
/// lba: .quad 2048
/// ```
const WRITER_GUEST: &[u8] = &[
    0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xd0, 0xbc, 0x00, 0x7c, 0xfb, 0xb9, 0x09, 0x00, 0xf4, 0xe2, 0xfd, 0xbe, 0x31,
    0x7c, 0xb4, 0x43, 0x30, 0xc0, 0xb2, 0x80, 0xcd, 0x13, 0x83, 0x06, 0x39, 0x7c, 0x40, 0x81, 0x3e, 0x39, 0x7c, 0x00,
    0x80, 0x72, 0xe2, 0xc7, 0x06, 0x39, 0x7c, 0x00, 0x08, 0xeb, 0xda, 0x10, 0x00, 0x40, 0x00, 0x00, 0x7c, 0x00, 0x00,
    0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// A sparse raw disk of `mib` MiB at `path` whose first sector boots `code`.
fn boot_disk(path: &Path, code: &[u8], mib: u64) {
    let mut sector = code.to_vec();
    sector.resize(510, 0);
    sector.extend([0x55, 0xaa]);
    std::fs::write(path, &sector).unwrap();
    std::fs::File::options().write(true).open(path).unwrap().set_len(mib << 20).unwrap();
}

/// Defines `vm` on hv1 (a domain like the lab's own, its raw disk `disk`, with `devices`
/// added) and starts it.
fn define_and_start(lab: &Lab, vm: &str, disk: &Path, devices: &str) {
    let xml = format!(
        "<domain type='qemu'>\n  <name>{vm}</name>\n  <memory unit='MiB'>64</memory>\n  <vcpu>1</vcpu>\n  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\n  <on_crash>destroy</on_crash>\n  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n    <disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>\n      <source file='{}'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n    {devices}\n    <video><model type='none'/></video>\n    <memballoon model='none'/>\n  </devices>\n</domain>\n",
        disk.display()
    );
    let path = lab.path().join(format!("shared/{vm}.xml"));
    std::fs::write(&path, xml).unwrap();
    lab.run(&["exec", "virsh", "-c", HV1, "define", path.to_str().unwrap()]);
    lab.run(&["exec", "virsh", "-c", HV1, "start", vm]);
}

const HV1: &str = "qemu+tcp://10.233.7.11/system";

/// What libvirt says of `vm` on hv1: "running (booted)", "paused (I/O error)", ...
fn domstate(lab: &Lab, vm: &str) -> String {
    lab.run(&["exec", "virsh", "-q", "-c", HV1, "domstate", "--reason", vm]).trim().to_string()
}

#[test]
fn lab_a_guest_whose_agent_port_or_watchdog_fails_is_restarted_then_given_to_a_person() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(1, 2);
    // vm11 gets a guest agent channel (nothing in the guest answers on it).
    let uri = HV1;
    let xml = lab.run(&["exec", "virsh", "-c", uri, "dumpxml", "--inactive", "vm11"]);
    let channel = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>\n  </devices>";
    let with_agent = lab.path().join("shared/vm11-agent.xml");
    std::fs::write(&with_agent, xml.replace("</devices>", channel)).unwrap();
    lab.run(&["exec", "virsh", "-c", uri, "define", with_agent.to_str().unwrap()]);
    lab.run(&["exec", "virsh", "-c", uri, "destroy", "vm11"]);
    lab.run(&["exec", "virsh", "-c", uri, "start", "vm11"]);
    // vm13: a guest that arms its watchdog and never feeds it.
    let disk = lab.path().join("shared/vm13.img");
    boot_disk(&disk, WATCHDOG_GUEST, 1);
    define_and_start(&lab, "vm13", &disk, "<watchdog model='ib700' action='none'/>");
    let guest = |vm: &str| match vm {
        "vm11" => {
            "[vm.guest]\nagent = true\nagent_grace = \"3s\"\nmin_uptime = \"3s\"\ntimeout = \"1s\"\nmax_restarts = 1\n"
        }
        "vm13" => "[vm.guest]\nwatchdog = true\nmin_uptime = \"3s\"\nmax_restarts = 1\n",
        // The lab bridge's own address: reachable from 3RC's namespace, nothing on port 9.
        _ => "[vm.guest]\ntcp = \"10.233.7.1:9\"\nmin_uptime = \"3s\"\ntimeout = \"1s\"\nmax_restarts = 1\n",
    };
    let vms: Vec<String> = ["vm11", "vm12", "vm13"].map(String::from).to_vec();
    let cfg = lab.config_with(&vms, "min_uptime = \"2s\"", |vm| guest(vm).to_string());
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "every VM given to a person after one restart each", Duration::from_secs(120), |s| {
        let t = s.text();
        // From Suspect, or from Probation when its probes fail again before probation ends.
        vms.iter().all(|vm| t.lines().any(|l| l.contains(&format!("vm {vm} ")) && l.contains(" -> NeedsOperator: ")))
    });
    let t = sup.text();
    for (vm, why) in [("vm11", "guest agent: "), ("vm12", "tcp 10.233.7.1:9: "), ("vm13", "watchdog fired ")] {
        let restarts = t.lines().filter(|l| l.contains(&format!("restart {vm} on hv1 (policy: ladder step 1"))).count();
        assert_eq!(restarts, 1, "{vm} restarted once by its guest probes:\n{t}");
        let climbed = t.lines().find(|l| l.contains(&format!("vm {vm} Suspect -> Restarting"))).unwrap_or_default();
        assert!(climbed.contains(why), "{vm} restarted for its guest ({why}): {climbed}");
        let asked = t.lines().find(|l| l.contains(&format!("vm {vm} ")) && l.contains(" -> NeedsOperator: "));
        let limit = "its guest probes already restarted it once in 1.0 h (limit 1): a person decides";
        assert!(asked.is_some_and(|l| l.contains(why) && l.contains(limit)), "{vm}: {asked:?}");
    }
    // What libvirt said of the agent, and what the port said, as people read them.
    assert!(t.contains("Guest agent is not responding"), "{t}");
    assert!(t.to_lowercase().contains("connection refused"), "{t}");
    assert!(t.contains("vm vm13 note: watchdog fired on hv1 (device action: none)"), "{t}");
    // The ground truth: all still run on hv1 (given to a person, not stopped nor moved).
    let truth = lab.truth();
    for vm in &vms {
        assert_eq!(truth.get(vm), Some(&vec!["hv1".to_string()]), "{truth:?}");
    }
    drop(sup);
}

#[test]
fn lab_a_vm_whose_storage_fills_up_is_reported_not_restarted_and_resumes() {
    if !lab_allowed() {
        return;
    }
    let lab = Lab::up(1, 1);
    // vm12's disk: on a 24 MiB tmpfs of hv1's own (seen by the qemu started after it).
    let dir = lab.path().join("shared/small");
    std::fs::create_dir(&dir).unwrap();
    let d = dir.to_str().unwrap();
    lab.run(&["host-exec", "hv1", "mount", "-t", "tmpfs", "-o", "size=24m", "3rc-lab-small", d]);
    let image = lab.path().join("shared/vm12-boot.img");
    boot_disk(&image, WRITER_GUEST, 16);
    let disk = dir.join("vm12.img");
    let (src, dst) = (image.to_str().unwrap(), disk.to_str().unwrap());
    lab.run(&["host-exec", "hv1", "cp", "--sparse=always", src, dst]);
    define_and_start(&lab, "vm12", &disk, "");
    let vms: Vec<String> = ["vm11", "vm12"].map(String::from).to_vec();
    let cfg = lab.config(
        &vms,
        "min_uptime = \"2s\"\n[host_defaults]\nstorage_alarm_after = \"2s\"\nstorage_resume_after = \"2s\"",
    );
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "both VMs healthy", Duration::from_secs(60), |s| {
        let t = s.text();
        vms.iter().all(|v| t.contains(&format!("vm {v} Discovering -> Healthy")))
    });
    // The storage fills up: the guest's next write fails, qemu pauses it.
    let filled = harness::now_secs();
    let filler = format!("{d}/filler");
    let fill = format!("dd if=/dev/zero of={filler} bs=1M 2>/dev/null; true");
    lab.run(&["host-exec", "hv1", "sh", "-c", &fill]);
    sup.wait_for(&lab, "vm12 paused by an I/O error, one alarm naming hv1's storage", Duration::from_secs(60), |s| {
        let t = s.text();
        t.contains("vm vm12 Healthy -> StoragePaused") && t.contains("storage of hv1: vm12 paused by I/O errors")
    });
    assert_eq!(domstate(&lab, "vm12"), "paused (I/O error)");
    // 3RC tries whether the storage answers (a resume that fails), and does nothing else.
    sup.wait_for(&lab, "a resume tried while the storage is still full", Duration::from_secs(60), |s| {
        s.text().contains("failed: paused again by an I/O error: its storage still fails")
    });
    assert_eq!(domstate(&lab, "vm12"), "paused (I/O error)");
    // Room again: 3RC's next try resumes it.
    let freed = harness::now_secs();
    lab.run(&["host-exec", "hv1", "rm", &filler]);
    sup.wait_for(&lab, "vm12 running again and the alarm ended", Duration::from_secs(60), |s| {
        let t = s.text();
        t.contains("vm vm12 StoragePaused -> Healthy") && t.contains("no VM on hv1 is paused by I/O errors any more")
    });
    assert_eq!(domstate(&lab, "vm12"), "running (unpaused)");
    let paused = sup.wall(&["vm vm12 Healthy -> StoragePaused"]).unwrap() - filled;
    let resumed = sup.wall(&["vm vm12 StoragePaused -> Healthy"]).unwrap() - freed;
    eprintln!("storage full -> vm12 StoragePaused in {paused:.1} s; room again -> running in {resumed:.1} s");
    let t = sup.text();
    assert!(t.contains("resumed on hv1 after"), "{t}");
    // One alarm for it (the lab's one host also leaves no spare capacity: that one is not counted).
    let alarms: Vec<&str> = t.lines().filter(|l| l.contains("ALARM") && !l.contains("spare capacity")).collect();
    assert_eq!(alarms.len(), 1, "one alarm, for hv1's storage:\n{t}");
    assert!(alarms[0].contains("host hv1 ALARM") && alarms[0].contains("storage of hv1: vm12"), "{t}");
    for verb in ["restart vm12", "start vm12", "migrate vm12", "destroy vm12", "reinstall vm12"] {
        assert!(!t.contains(verb), "nothing but resumes for vm12 ({verb}):\n{t}");
    }
    assert!(!t.contains("vm vm11 Healthy ->"), "vm11, on other storage, untouched:\n{t}");
    let truth = lab.truth();
    for vm in &vms {
        assert_eq!(truth.get(vm), Some(&vec!["hv1".to_string()]), "{truth:?}");
    }
    drop(sup);
}
