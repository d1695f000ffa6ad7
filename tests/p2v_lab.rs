//! P2V on the real-libvirt lab (tests/lab/lab.sh): a disk that really boots (built from Debian
//! packages by tests/lab/p2v_image.sh, cached under target/p2v-cache) is turned into a VM on a
//! lab host by the real `3rc p2v`, from a local image and from a "physical machine" (an sshd
//! in a lab namespace of its own, its disk a loop device), and the VM's serial console shows the
//! guest's init. Bad answers and failures leave nothing behind on the host.
//!
//! Root only, as the other lab tests; THREERC_SKIP_LAB=1 leaves them out (and says so).

#[path = "lab/harness.rs"]
mod harness;
#[path = "support/tmux.rs"]
mod tmux_session;

use harness::{lab_allowed, Lab, Supervisor};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const INIT: &str = "3RC-P2V-GUEST: init running";

/// The bootable disk, built once and cached.
fn boot_image() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = root.join("target/p2v-cache");
    let out = Command::new("bash").arg(root.join("tests/lab/p2v_image.sh")).arg(&cache).output().expect("p2v_image.sh");
    assert!(out.status.success(), "building the boot image failed:\n{}", String::from_utf8_lossy(&out.stderr));
    cache.join("boot.img")
}

/// Arguments written as one line (none of them holds a space).
fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

/// Skips without root's lab; else the boot image, a lab of one host without VMs, its config.
fn setup(state: bool) -> Option<(PathBuf, Lab, PathBuf)> {
    if !lab_allowed() {
        return None;
    }
    let image = boot_image();
    let lab = Lab::up(1, 0);
    let cfg = hv1_config(&lab, state);
    Some((image, lab, cfg))
}

/// The lab's "physical machine" up: its disk's device name, and the `--source` arguments that
/// reach it with the lab's key.
fn physical_machine(lab: &Lab, image: &Path) -> (String, Vec<String>) {
    let dev = lab.run(&["phys-up", image.to_str().unwrap()]).trim().trim_start_matches("/dev/").to_string();
    let key = lab.path().join("phys/id_ed25519");
    let mut args = words("--source ssh:root@10.233.7.50 --ssh-option StrictHostKeyChecking=no --ssh-option UserKnownHostsFile=/dev/null --identity");
    args.push(key.display().to_string());
    (dev, args)
}

fn p2v<S: AsRef<std::ffi::OsStr>>(lab: &Lab, config: &Path, args: &[S]) -> Output {
    Command::new(harness::lab_script())
        .arg("exec")
        .arg(lab.path())
        .arg(env!("CARGO_BIN_EXE_3rc"))
        .args(["p2v", "--config"])
        .arg(config)
        .args(args)
        .output()
        .expect("run 3rc p2v")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn virsh(lab: &Lab, host: &str, args: &[&str]) -> String {
    let uri = format!("qemu+unix:///system?socket={}/hosts/{host}/run/libvirt-sock", lab.path().display());
    let out = Command::new("virsh").args(["-q", "-c", &uri]).args(args).output().expect("virsh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Domains of hv1 and volumes of its `shared` pool.
fn hv1_state(lab: &Lab) -> (Vec<String>, Vec<String>) {
    let _ = virsh(lab, "hv1", &["pool-refresh", "shared"]);
    let words = |s: String| s.lines().filter_map(|l| l.split_whitespace().next().map(str::to_string)).collect();
    let mut doms: Vec<String> = words(virsh(lab, "hv1", &["list", "--all", "--name"]));
    doms.sort();
    let mut vols: Vec<String> = words(virsh(lab, "hv1", &["vol-list", "shared"]));
    vols.sort();
    (doms, vols)
}

fn wait_serial(path: &Path, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let log = std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        if log.contains(INIT) {
            return log;
        }
        assert!(Instant::now() < deadline, "{what}: the guest did not reach init; serial log:\n{log}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The volume `shared/VOLUME` holds the physical machine's disk byte for byte.
fn assert_same_as_source(lab: &Lab, volume: &str) {
    let cmp = Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "raw"])
        .arg(lab.path().join("phys/disk.img"))
        .arg(lab.path().join("shared").join(volume))
        .output()
        .unwrap();
    assert!(cmp.status.success(), "{volume} differs from the source's disk: {}", text(&cmp));
}

/// A config for hv1 alone (over TCP, from the lab's client namespace).
fn hv1_config(lab: &Lab, state: bool) -> PathBuf {
    let p = lab.path().join("p2v.toml");
    let mut c = String::new();
    if state {
        c.push_str("state_dir = \"state\"\n[defaults]\nmin_uptime = \"1s\"\n");
    }
    c.push_str("[[host]]\nname = \"hv1\"\nuri = \"qemu+tcp://10.233.7.11/system\"\n");
    std::fs::write(&p, c).unwrap();
    p
}

#[test]
fn p2v_of_a_bootable_disk_image_boots_on_a_lab_host_and_is_protected_across_restarts() {
    let Some((image, lab, cfg)) = setup(true) else { return };
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "hv1 online", Duration::from_secs(30), |s| s.text().contains("host hv1 Unknown -> Online"));
    let serial = lab.path().join("shared/guest1.serial");
    let source = format!("disk:{}", image.display());
    let mut args = words(&format!(
        "--source {source} --target hv1 --pool shared --name guest1 --memory 128M --domain-type qemu --serial-log {}",
        serial.display()
    ));
    args.extend(["--policy".into(), "priority=5 max_restart=2".into()]);

    // Without --yes: the plan, and nothing done.
    let dry = p2v(&lab, &cfg, &args);
    assert!(dry.status.success(), "{}", text(&dry));
    let out = text(&dry);
    assert!(
        out.contains("disk        ") && out.contains("-> pool shared volume guest1-boot-img.qcow2 (qcow2)"),
        "{out}"
    );
    assert!(out.contains("protect     yes: priority 5, max_restart 2"), "{out}");
    assert!(out.contains("nothing done: add --yes"), "{out}");
    assert_eq!(hv1_state(&lab).0, Vec::<String>::new(), "a plan changes nothing");

    args.push("--yes".into());
    let run = p2v(&lab, &cfg, &args);
    assert!(run.status.success(), "{}", text(&run));
    let out = text(&run);
    assert!(out.contains("p2v: boot.img copy: 64.0 MiB of 64.0 MiB (100%)"), "progress with bytes:\n{out}");
    assert!(out.contains("guest1 is protected by HA"), "{out}");
    let (doms, vols) = hv1_state(&lab);
    assert_eq!(doms, ["guest1"]);
    assert!(vols.contains(&"guest1-boot-img.qcow2".to_string()), "{vols:?}");
    assert!(!vols.iter().any(|v| v.contains("staging")), "the staging copy is deleted: {vols:?}");
    let info = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(lab.path().join("shared/guest1-boot-img.qcow2"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&info.stdout).contains("\"format\": \"qcow2\""));
    wait_serial(&serial, "guest1");

    // Under HA: judged healthy, its command journaled with who asked.
    sup.wait_for(&lab, "guest1 healthy", Duration::from_secs(30), |s| {
        s.text().contains("vm guest1 Discovering -> Healthy")
    });
    let journal = sup.text();
    assert!(
        journal.contains("command protect guest1 (priority 5, max_restart 2") && journal.contains(") by cli:"),
        "{journal}"
    );

    // `3rc ctl protect` reaches the same command: a second protection is refused, a bad key
    // is refused before it is sent.
    let ctl = |w: &str| {
        Command::new(env!("CARGO_BIN_EXE_3rc")).args(["ctl", "--config"]).arg(&cfg).args(words(w)).output().unwrap()
    };
    let again = ctl("protect guest1 priority=1");
    assert!(
        !again.status.success() && text(&again).contains("refused: guest1 is already protected"),
        "{}",
        text(&again)
    );
    let bad = ctl("protect guest2 max_restarts=1");
    assert!(!bad.status.success() && text(&bad).contains("unknown field `max_restarts`"), "{}", text(&bad));

    // It stays protected after 3RC restarts: a crash is restarted in place.
    drop(sup);
    let sup = Supervisor::start(&lab, &cfg);
    sup.wait_for(&lab, "guest1 healthy in the new run", Duration::from_secs(30), |s| {
        s.text().matches("vm guest1 Discovering -> Healthy").count() == 2
    });
    lab.run(&["crash-vm", "hv1", "guest1"]);
    sup.wait_for(&lab, "guest1 restarted by the new run", Duration::from_secs(60), |s| {
        s.text().contains("vm guest1 Restarting -> Probation")
    });
    assert_eq!(lab.truth().get("guest1"), Some(&vec!["hv1".to_string()]));
}

#[test]
fn p2v_over_ssh_warm_copies_a_running_machine_exactly_keeps_its_mac_and_boots() {
    let Some((image, lab, cfg)) = setup(false) else { return };
    let (disk, mut args) = physical_machine(&lab, &image);
    lab.run(&["bridge", "hv1", "p2vbr"]);
    let ssh = |script: &str| {
        let mut cmd = Command::new(harness::lab_script());
        cmd.arg("exec")
            .arg(lab.path())
            .args(words("ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i"));
        let out = cmd.arg(lab.path().join("phys/id_ed25519")).args(["root@10.233.7.50", script]).output().unwrap();
        assert!(out.status.success(), "ssh {script}: {}", text(&out));
    };
    // The machine runs: a writer changes blocks of its disk (past the guest's files, in the
    // free end of its file system) until the stop command ends it.
    let pidfile = lab.path().join("phys/writer.pid");
    ssh(&format!(
        "nohup sh -c 'i=0; while :; do dd if=/dev/urandom of=/dev/{disk} bs=65536 seek=$((800 + i % 100)) count=1 conv=notrunc,fsync status=none; i=$((i+1)); done' >/dev/null 2>&1 & echo $! > {}",
        pidfile.display()
    ));
    let serial = lab.path().join("shared/phys1.serial");
    args.extend(words(&format!(
        "--disk {disk} --target hv1 --pool shared --network bridge:p2vbr --name phys1 --memory 128M --domain-type qemu --serial-log {} --format raw --no-protect --yes --warm --stop-command",
        serial.display()
    )));
    args.push(format!("kill $(cat {}); sleep 0.2; sync", pidfile.display()));
    let run = p2v(&lab, &cfg, &args);
    let out = text(&run);
    assert!(run.status.success(), "{out}");
    eprintln!("{out}");
    assert!(out.contains("p2v: connected to"), "{out}");
    assert!(out.contains("inventory of") && out.contains(&format!("disk {disk:<10}")), "{out}");
    assert!(out.contains("nic  eth0       02:3c:00:00:00:50"), "{out}");
    assert!(out.contains("final pass: ") && out.contains("blocks changed"), "{out}");
    assert!(out.contains("downtime ") && out.contains("for a cold copy"), "{out}");
    // The copy is the source disk as it was when stopped, byte for byte.
    assert_same_as_source(&lab, &format!("phys1-{disk}.img"));
    let xml = virsh(&lab, "hv1", &["dumpxml", "phys1"]);
    assert!(xml.contains("<mac address='02:3c:00:00:00:50'/>"), "the NIC keeps the physical MAC:\n{xml}");
    assert!(xml.contains("<source bridge='p2vbr'/>"), "{xml}");
    wait_serial(&serial, "phys1");
}

/// `--sudo`: an unprivileged account on the physical machine cannot read its disk, and says so;
/// an account sudo refuses fails at the connection test; an account sudo lets through copies
/// the disk exactly, and the VM boots. Nothing is left behind by the failures.
#[test]
fn p2v_over_ssh_through_sudo_reads_what_the_account_alone_cannot() {
    let Some((image, lab, cfg)) = setup(false) else { return };
    let (disk, root_args) = physical_machine(&lab, &image);
    let as_user = |user: &str| -> Vec<String> {
        root_args.iter().map(|a| a.replace("ssh:root@", &format!("ssh:{user}@"))).collect()
    };
    lab.run(&["bridge", "hv1", "p2vbr"]);
    let before = hv1_state(&lab);
    let base = words(&format!(
        "--disk {disk} --target hv1 --pool shared --network bridge:p2vbr --memory 128M --domain-type qemu --format raw --no-protect --yes"
    ));
    let run = |user: &str, extra: &str| {
        let args = [&as_user(user)[..], &base[..], &words(extra)[..]].concat();
        let o = p2v(&lab, &cfg, &args);
        (o.status.success(), text(&o))
    };
    let (ok, t) = run("labnosudo", "--name nosudo1 --sudo");
    eprintln!("{}", t.lines().last().unwrap_or_default());
    assert!(!ok && t.contains("sudo needs a password or is not allowed"), "{t}");
    assert_eq!(hv1_state(&lab), before, "left something behind:\n{t}");
    let (ok, t) = run("labp2v", "--name nosudo2");
    eprintln!("{}", t.lines().last().unwrap_or_default());
    assert!(!ok && t.contains(&format!("/dev/{disk}")) && t.contains("Permission denied"), "{t}");
    assert_eq!(hv1_state(&lab), before, "left something behind:\n{t}");

    let serial = lab.path().join("shared/viasudo.serial");
    let (ok, t) = run("labp2v", &format!("--name viasudo --sudo --serial-log {}", serial.display()));
    assert!(ok, "{t}");
    assert!(t.contains("as root (sudo)"), "the connection test says who the commands run as:\n{t}");
    assert_same_as_source(&lab, &format!("viasudo-{disk}.img"));
    wait_serial(&serial, "viasudo");
}

#[test]
fn p2v_bad_answers_and_failures_give_clear_errors_and_leave_nothing_behind() {
    let Some((image, lab, cfg)) = setup(false) else { return };
    let (disk, ssh_source) = physical_machine(&lab, &image);
    let before = hv1_state(&lab);
    let source = format!("disk:{}", image.display());
    let base = words("--target hv1 --pool shared --name bad1 --memory 128M --domain-type qemu --no-protect --yes");
    let fails = |args: &[String], expect: &str| {
        let o = p2v(&lab, &cfg, &[args, &base[..]].concat());
        let t = text(&o);
        assert!(!o.status.success(), "should fail: {args:?}\n{t}");
        assert!(t.contains(expect), "expected {expect:?} in:\n{t}");
        assert_eq!(hv1_state(&lab), before, "left something behind after {args:?}:\n{t}");
        t
    };
    // Unreachable machine.
    let key = lab.path().join("phys/id_ed25519");
    fails(
        &words(&format!("--source ssh:root@10.233.7.99 --identity {}", key.display())),
        "cannot reach root@10.233.7.99 over ssh",
    );
    // A disk the machine does not have.
    fails(&[&ssh_source[..], &words("--disk sdz")].concat(), "disks: the source has no disk \"sdz\"");
    // A missing image; a pool that does not exist.
    fails(&words("--source disk:/nonexistent/disk.img"), "disk /nonexistent/disk.img: No such file");
    let o = p2v(&lab, &cfg, &words(&format!("--source {source} --target hv1 --pool nopool --no-protect --yes")));
    assert!(text(&o).contains("pool \"nopool\": hv1 has no such storage pool (it has: shared)"), "{}", text(&o));
    // A pool too small: a 32 MiB file system mounted inside hv1, as a pool of its own.
    let small = lab.path().join("small.img");
    assert!(Command::new("truncate").args(["-s", "32M"]).arg(&small).status().unwrap().success());
    assert!(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&small).status().unwrap().success());
    let pid = std::fs::read_to_string(lab.path().join("hosts/hv1/libvirtd.pid")).unwrap();
    let mnt = lab.path().join("smallpool");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("nsenter")
        .args(["-t", pid.trim(), "-m", "mount", "-o", "loop"])
        .arg(&small)
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(mounted.success());
    virsh(&lab, "hv1", &["pool-define-as", "small", "dir", "--target", mnt.to_str().unwrap()]);
    virsh(&lab, "hv1", &["pool-start", "small"]);
    let small_before = virsh(&lab, "hv1", &["vol-list", "small"]);
    let o = p2v(
        &lab,
        &cfg,
        &words(&format!("--source {source} --format raw --no-protect --yes --target hv1 --pool small --name bad1")),
    );
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("pool small: ") && t.contains("free on hv1, the disks need 64.0 MiB"),
        "{t}"
    );
    assert_eq!(virsh(&lab, "hv1", &["vol-list", "small"]), small_before, "nothing made in the small pool");
    // A failure after the copy (the VM cannot start: its bridge does not exist): the domain and
    // the volumes this run made are removed.
    let t = fails(
        &[&ssh_source[..], &words(&format!("--disk {disk} --network bridge:nosuchbr0"))].concat(),
        "starting bad1",
    );
    assert!(
        t.contains("removed domain bad1") && t.contains(&format!("removed volume shared/bad1-{disk}.qcow2")),
        "{t}"
    );
    assert!(t.contains("(nothing was left behind)"), "{t}");
    let _ = Command::new("nsenter").args(["-t", pid.trim(), "-m", "umount"]).arg(&mnt).status();

    // Cancelled (SIGINT) in the middle of the copy: what was made is removed.
    let big = lab.path().join("big.img");
    assert!(Command::new("truncate").args(["-s", "1G"]).arg(&big).status().unwrap().success());
    let mut child = Command::new(harness::lab_script())
        .arg("exec")
        .arg(lab.path())
        .arg(env!("CARGO_BIN_EXE_3rc"))
        .args(["p2v", "--config"])
        .arg(&cfg)
        .args(words(&format!("--source disk:{} --format raw", big.display())))
        .args(&base)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("big.img copy: ") {
            assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
            break;
        }
    }
    seen.extend(lines.map_while(Result::ok));
    let status = child.wait().unwrap();
    let t = seen.join("\n");
    assert!(!status.success(), "{t}");
    assert!(
        t.contains("cancelled (nothing was left behind)") && t.contains("removed volume shared/bad1-big-img.img"),
        "{t}"
    );
    assert_eq!(hv1_state(&lab), before, "left something behind after a cancel:\n{t}");
}

/// The console's wizard, in a real terminal (tmux), on a real lab host: every step by keys, the
/// run, and the VM boots and is protected.
#[test]
fn the_console_wizard_turns_a_disk_into_a_protected_vm_that_boots() {
    let Some((image, lab, cfg)) = setup(true) else { return };
    let serial = lab.path().join("shared/wiz1.serial");
    let cmd = format!(
        "{} exec {} {} run --config {} --log-file {}",
        harness::lab_script().display(),
        lab.path().display(),
        env!("CARGO_BIN_EXE_3rc"),
        cfg.display(),
        lab.path().join("3rc.log").display()
    );
    let s = tmux_session::Session::start(110, 32, &cmd);
    s.wait_for("ARMED", 20);
    s.keys(&["p"]);
    s.wait_for("P2V source", 5);
    s.type_text(&format!("disk:{}", image.display()));
    s.keys(&["Enter"]);
    s.wait_for("inventory of boot", 10);
    s.keys(&["Enter"]);
    s.wait_for("name         [boot_]", 5);
    s.keys(&["BSpace"; 4]);
    s.type_text("wiz1");
    s.keys(&["Tab", "Tab"]);
    s.keys(&["BSpace"; 5]);
    s.type_text("128M");
    s.keys(&["Enter"]);
    s.wait_for("pools: shared (dir", 30);
    // format, domain type (qemu: TCG in the lab), serial log, then the policy.
    s.keys(&["Tab", "Tab", "Tab", "Tab", "Down", "Down", "Tab"]);
    s.type_text(&serial.display().to_string());
    s.keys(&["Tab", "Tab", "Tab", "Tab"]);
    s.type_text("priority=7");
    s.keys(&["Enter"]);
    s.wait_for("protect     yes: priority 7", 5);
    s.keys(&["Enter"]);
    let pane = s.wait_until("the run's end", 60, |p| p.contains("wiz1 is protected by HA") || p.contains("failed:"));
    assert!(pane.contains("wiz1 defined on hv1 and started"), "{pane}");
    wait_serial(&serial, "wiz1");
    s.keys(&["Enter"]);
    s.wait_until("the VM healthy in the console", 30, |p| p.contains("wiz1") && p.contains("Healthy"));
    let journal = threerc::store::read_events(&lab.path().join("state/journal.db")).unwrap();
    let text: Vec<&str> = journal.iter().map(|(_, _, t)| t.as_str()).collect();
    assert!(
        text.iter().any(|t| t.contains("command protect wiz1 (priority 7") && t.contains("by console:")),
        "{text:?}"
    );
    s.keys(&["q"]);
}
