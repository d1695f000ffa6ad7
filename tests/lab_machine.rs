//! `tests/lab/lab.sh up` on a machine where no lab has ever run, several labs at once (as the
//! lab tests bring them up in parallel): what labs share outside their folders and namespaces
//! (the `kvm` and `libvirt-qemu` groups, the `libvirt-qemu` user, the mount points under /etc,
//! /run and /var) must be made once, whoever comes first, and every lab must come up.
//!
//! "A machine where the group and user do not exist yet" is made without touching this
//! machine's own accounts: the labs come up in a mount namespace of this test's own whose /etc
//! is an overlay over the real one, with the group and user deleted in the overlay first. The
//! account tools (groupadd, useradd and their lock files) then work on the overlay exactly as
//! they would on a fresh machine's /etc, and the real /etc is never written.
//!
//! Needs root, like every lab test; THREERC_SKIP_LAB=1 leaves it out (and says so).

#[path = "lab/harness.rs"]
mod harness;

use harness::{lab_allowed, lab_script};
use std::path::PathBuf;
use std::process::Command;

const LABS: usize = 4;

/// The labs live in the test's own mount namespace, so their network namespaces are named
/// there only and `lab.sh down` run from outside would not find them: the script inside takes
/// them down on its way out. Should it be killed first, this kills what it left running (the
/// daemons and their VMs); their namespaces go with their last process.
struct Labs(Vec<PathBuf>);

impl Drop for Labs {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = Command::new("pkill").arg("-9").arg("-f").arg(d.join("hosts").display().to_string()).status();
        }
    }
}

#[test]
fn several_labs_come_up_at_once_on_a_machine_without_the_lab_accounts() {
    if !lab_allowed() {
        return;
    }
    let top = tempfile::Builder::new().prefix("3rc-labs-").tempdir().unwrap();
    let labs = Labs((0..LABS).map(|i| top.path().join(format!("lab{i}"))).collect());
    for d in &labs.0 {
        std::fs::create_dir(d).unwrap();
    }
    let overlay = top.path().join("etc-overlay");
    for sub in ["upper", "work"] {
        std::fs::create_dir_all(overlay.join(sub)).unwrap();
    }
    let dirs: Vec<String> = labs.0.iter().map(|d| d.display().to_string()).collect();
    // Inside the private mount namespace: /etc becomes an overlay, the accounts are removed
    // there, the labs come up at once, and what each one said is kept in its folder.
    let script = format!(
        r#"set -u
mount -t overlay overlay -o lowerdir=/etc,upperdir={o}/upper,workdir={o}/work /etc || exit 90
id libvirt-qemu >/dev/null 2>&1 && userdel libvirt-qemu
getent group libvirt-qemu >/dev/null && groupdel libvirt-qemu
getent group kvm >/dev/null && groupdel kvm
if getent group kvm libvirt-qemu || id libvirt-qemu 2>/dev/null; then echo "accounts still there" >&2; exit 91; fi
trap 'for d in {dirs}; do "{lab}" down "$d" >/dev/null 2>&1; done' EXIT
for d in {dirs}; do "{lab}" up "$d" 1 1 >"$d/up.out" 2>&1 & done
failed=0
for pid in $(jobs -p); do wait "$pid" || failed=$((failed + 1)); done
echo "kvm=$(getent group kvm | wc -l) libvirt-qemu-group=$(getent group libvirt-qemu | wc -l) libvirt-qemu-user=$(getent passwd libvirt-qemu | wc -l)"
for d in {dirs}; do echo "running in $d: $("{lab}" running "$d" hv1 2>&1 | tr '\n' ' ')"; done
exit "$failed"
"#,
        o = overlay.display(),
        dirs = dirs.join(" "),
        lab = lab_script().display(),
    );
    let out = Command::new("unshare").args(["-m", "--propagation", "private", "bash", "-c", &script]).output().unwrap();
    let said: Vec<String> = labs
        .0
        .iter()
        .map(|d| format!("{}:\n{}", d.display(), std::fs::read_to_string(d.join("up.out")).unwrap_or_default()))
        .collect();
    let report = format!(
        "{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        said.join("\n")
    );
    assert!(out.status.success(), "not every lab came up (exit {:?}):\n{report}", out.status.code());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("kvm=1 libvirt-qemu-group=1 libvirt-qemu-user=1"),
        "the accounts were not made exactly once:\n{report}"
    );
    // Every lab is a working lab: its host's daemon answers and runs its VM.
    for d in &dirs {
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("running in {d}: vm11 \n")),
            "{d} does not run vm11:\n{report}"
        );
    }
    // Distinct labs: their ids (the prefix of their namespaces) differ.
    let mut ids: Vec<&str> =
        said.iter().filter_map(|t| t.split("lab ").nth(1)).filter_map(|t| t.split(' ').next()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), LABS, "{ids:?}");
}
