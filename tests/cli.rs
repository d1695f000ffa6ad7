//! The `3rc` binary as a user runs it: `status` on the demo cluster, and bad configs that must
//! be refused with a clear error before anything starts.

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_3rc"))
}

fn demo_config() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/cluster.toml").display().to_string()
}

#[test]
fn status_prints_every_host_and_vm() {
    let out = bin().args(["status", "--config", &demo_config()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for name in ["hv1", "hv2", "hv3", "hv4", "db1", "web3", "monitor1"] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    let web1 = text.lines().find(|l| l.starts_with("web1 ")).unwrap();
    assert!(web1.contains("hv1") && web1.contains("Healthy"), "{web1}");
    assert!(!text.contains("ci-runner1"), "unprotected VMs are not listed as protected:\n{text}");
}

/// `--config cluster.toml` from the config's own folder: `{config_dir}` is that folder (it
/// expanded to nothing, so `test://{config_dir}/hv1.xml` became `test:///hv1.xml`).
#[test]
fn a_config_named_relative_to_the_current_folder_finds_its_host_files() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let out = bin().current_dir(&demo).args(["status", "--json", "--config", "cluster.toml"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hosts = v["hosts"].as_array().unwrap();
    assert!(hosts.iter().all(|h| h["state"] == "Online"), "{hosts:?}");
}

#[test]
fn status_json_is_machine_readable() {
    let out = bin().args(["status", "--json", "--config", &demo_config()]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["hosts"].as_array().unwrap().len(), 4);
    assert_eq!(v["vms"].as_array().unwrap().len(), 9);
    assert_eq!(v["hosts"][0]["state"], "Online");
}

#[test]
fn an_unreachable_host_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[[host]]\nname = \"gone\"\nuri = \"test:///nonexistent/dir/gone.xml\"\n").unwrap();
    let out = bin().args(["status", "--config", cfg.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("gone ")).unwrap();
    assert!(line.contains("Suspect") && line.contains("unreachable"), "{line}");
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_column_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}\"\n[defaults]\ninterval = \"fast\"\n[[host]]\nname = \"hv1\"\nuri = \"test:///x.xml\"\n",
            state.display()
        ),
    )
    .unwrap();
    for args in [vec!["run", "--headless", "--config"], vec!["status", "--config"], vec!["run", "--config"]] {
        let out = bin().args(&args).arg(&cfg).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(&format!("{}:3:12: invalid duration \"fast\"", cfg.display())), "{args:?}: {err}");
        assert!(!state.exists(), "{args:?} created its state directory before refusing the config");
    }
}

#[test]
fn a_missing_config_file_is_a_clear_error() {
    let out = bin().args(["status", "--config", "/nonexistent/3rc.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("/nonexistent/3rc.toml") && err.contains("cannot read"), "{err}");
}

#[test]
fn reinstall_asks_for_the_name_on_a_terminal_and_refuses_without_one() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/example.toml").display().to_string();
    let out =
        bin().args(["reinstall", "--config", &example, "web1"]).stdin(std::process::Stdio::null()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reinstalling web1 deletes its disk: confirm with --yes"), "{err}");
    let out = bin().args(["reinstall", "--config", &example, "db1", "--yes"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("VM db1 has no [vm.reinstall] spec"), "{err}");
}

/// One journal, one supervisor: a second `3rc run` on the same state folder is refused at once,
/// naming the first one's pid, and neither opens nor changes the journal.
#[test]
fn a_second_supervisor_on_the_same_state_dir_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cfg = dir.path().join("one.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}\"\n[quorum]\nwitnesses = []\n[[host]]\nname = \"hv1\"\nuri = \"test:///default\"\n",
            state.display()
        ),
    )
    .unwrap();
    let mut first = bin().args(["run", "--headless", "--config"]).arg(&cfg).spawn().unwrap();
    let lock = state.join("3rc.lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(&lock).unwrap_or_default().trim() != first.id().to_string()
        || !state.join("control.sock").exists()
    {
        assert!(std::time::Instant::now() < deadline, "the first supervisor did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let runs = || {
        let c = rusqlite::Connection::open(state.join("journal.db")).unwrap();
        c.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0)).unwrap()
    };
    assert_eq!(runs(), 1);
    let out = bin().args(["run", "--headless", "--config"]).arg(&cfg).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&format!("another 3rc supervises from this state_dir (pid {} holds", first.id())), "{err}");
    assert_eq!(runs(), 1, "the second one opened the journal");
    // SAFETY: kill(2) on the child this test started.
    unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
    assert!(first.wait().unwrap().success());
    // Once the first is gone, the folder is free again (checked through the same lock).
    drop(threerc::store::lock::StateLock::take(&state).unwrap());
}
