//! The cloud-init NoCloud seed: `meta-data`, `user-data` (cloud-config: hostname, SSH keys, a
//! first-boot script) and `network-config`, in an ISO 9660 image labelled `cidata` with Joliet
//! and Rock Ridge names, which cloud-init finds on a CD-ROM at first boot. The image is made
//! with Debian's `genisoimage` (or `xorriso`), called with an argument vector.

use crate::core::SeedSpec;
use std::path::Path;
use std::process::Command;

/// The three files of the seed, as (name, content).
pub fn files(vm: &str, instance: &str, seed: &SeedSpec) -> Vec<(&'static str, String)> {
    let meta = format!("instance-id: {}\nlocal-hostname: {}\n", yaml_str(instance), yaml_str(&seed.hostname));
    let mut user = String::from("#cloud-config\n");
    user.push_str(&format!("hostname: {}\n", yaml_str(&seed.hostname)));
    if !seed.ssh_authorized_keys.is_empty() {
        user.push_str("ssh_authorized_keys:\n");
        for k in &seed.ssh_authorized_keys {
            user.push_str(&format!("  - {}\n", yaml_str(k)));
        }
    }
    if let Some(script) = &seed.first_boot {
        user.push_str("write_files:\n  - path: /var/lib/3rc/first-boot\n    permissions: '0755'\n");
        user.push_str(&format!("    encoding: b64\n    content: {}\n", base64(script.as_bytes())));
        user.push_str("runcmd:\n  - [/var/lib/3rc/first-boot]\n");
    }
    let network = seed.network_config.clone().unwrap_or_else(|| "version: 2\nethernets: {}\n".to_string());
    let _ = vm;
    vec![("meta-data", meta), ("user-data", user), ("network-config", network)]
}

/// A YAML double-quoted string.
fn yaml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Build the seed ISO for the VM in a temporary folder and return its bytes. Blocking.
pub fn build_iso(vm: &str, instance: &str, seed: &SeedSpec) -> Result<Vec<u8>, String> {
    remove_stale_folders(&std::env::temp_dir());
    // A private folder (mode 0700, its name random, made atomically): the seed holds keys and
    // scripts, and a predictable path in /tmp could be prepared by someone else.
    let private = tempfile::Builder::new()
        .prefix(&format!("{SEED_DIR}{}-{vm}-", std::process::id()))
        .tempdir()
        .map_err(|e| format!("making a private folder for the seed in {}: {e}", std::env::temp_dir().display()))?;
    let dir = private.path().to_path_buf();
    let result = (|| {
        std::fs::create_dir_all(dir.join("files")).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut names = Vec::new();
        for (name, content) in files(vm, instance, seed) {
            let p = dir.join("files").join(name);
            std::fs::write(&p, content).map_err(|e| format!("{}: {e}", p.display()))?;
            names.push(p);
        }
        let iso = dir.join("seed.iso");
        run_iso_tool(&iso, &names)?;
        std::fs::read(&iso).map_err(|e| format!("{}: {e}", iso.display()))
    })();
    drop(private);
    result
}

/// The temporary folders' prefix; the process id follows it.
const SEED_DIR: &str = "3rc-seed-";

/// Remove the seed folders of 3rc processes that no longer run (one killed while it built a
/// seed, e.g. by `kill -9`, could not remove its own).
fn remove_stale_folders(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(SEED_DIR).and_then(|r| r.split('-').next()) else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn run_iso_tool(iso: &Path, files: &[std::path::PathBuf]) -> Result<(), String> {
    let mut tried = Vec::new();
    for (tool, pre) in [("genisoimage", vec![]), ("xorriso", vec!["-as", "mkisofs"])] {
        let mut cmd = Command::new(tool);
        cmd.args(&pre).args(["-quiet", "-volid", "cidata", "-joliet", "-rock", "-output"]).arg(iso).args(files);
        match cmd.output() {
            Ok(o) if o.status.success() => return Ok(()),
            Ok(o) => {
                return Err(format!("{tool} failed ({}): {}", o.status, String::from_utf8_lossy(&o.stderr).trim()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => tried.push(tool),
            Err(e) => return Err(format!("{tool}: {e}")),
        }
    }
    Err(format!("building the cloud-init seed needs {} (Debian: apt-get install genisoimage)", tried.join(" or ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> SeedSpec {
        SeedSpec {
            hostname: "web1".into(),
            ssh_authorized_keys: vec!["ssh-ed25519 AAAAC3Nza alice@ops".into()],
            network_config: Some("version: 2\nethernets:\n  eth0:\n    dhcp4: true\n".into()),
            first_boot: Some("#!/bin/sh\necho hello > /root/first\n".into()),
            cdrom_bus: "sata".into(),
        }
    }

    /// Needs genisoimage (in .ci/deps): the image is read back with its isoinfo.
    #[test]
    fn the_iso_is_labelled_cidata_and_holds_the_files_under_their_names() {
        let iso = build_iso("web1", "web1-7", &seed()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.iso");
        std::fs::write(&path, &iso).unwrap();
        let info = |args: &[&str]| {
            let o = Command::new("isoinfo").args(args).arg("-i").arg(&path).output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8(o.stdout).unwrap()
        };
        assert!(info(&["-d"]).contains("Volume id: cidata"));
        let user = info(&["-J", "-x", "/user-data"]);
        assert_eq!(user, files("web1", "web1-7", &seed())[1].1);
        assert!(info(&["-J", "-x", "/meta-data"]).contains("local-hostname: \"web1\""));
        assert!(info(&["-J", "-x", "/network-config"]).contains("dhcp4: true"));
    }

    #[test]
    fn seed_folders_of_processes_that_no_longer_run_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let live = tmp.path().join(format!("{SEED_DIR}{}-web1-x", std::process::id()));
        // No process has this id: pids stop well below it (pid_max is at most 2^22).
        let dead = tmp.path().join(format!("{SEED_DIR}4999999-web1-x"));
        let other = tmp.path().join("3rc-seed-notapid");
        for d in [&live, &dead, &other] {
            std::fs::create_dir_all(d.join("files")).unwrap();
        }
        remove_stale_folders(tmp.path());
        assert!(live.exists() && other.exists());
        assert!(!dead.exists());
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (i, o) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn the_seed_files_say_hostname_keys_network_and_script() {
        let f = files("web1", "web1-7", &seed());
        assert_eq!(f[0], ("meta-data", "instance-id: \"web1-7\"\nlocal-hostname: \"web1\"\n".to_string()));
        let user = &f[1].1;
        assert!(user.starts_with("#cloud-config\nhostname: \"web1\"\n"), "{user}");
        assert!(user.contains("  - \"ssh-ed25519 AAAAC3Nza alice@ops\"\n"));
        assert!(user.contains(&base64(b"#!/bin/sh\necho hello > /root/first\n")));
        assert!(user.contains("runcmd:\n  - [/var/lib/3rc/first-boot]\n"));
        assert_eq!(f[2].1, "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n");
    }
}
