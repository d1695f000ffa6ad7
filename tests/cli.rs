//! The `3rc` binary as a user runs it: `status` on the demo cluster, and bad configs that must
//! be refused with a clear error before anything starts.

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_3rc"))
}

/// A config `file` in `dir` whose state folder is `dir/state`, with `rest` after that line: the
/// state folder and the config's path.
fn config_with_state(dir: &Path, file: &str, rest: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let state = dir.join("state");
    let cfg = dir.join(file);
    std::fs::write(&cfg, format!("state_dir = \"{}\"\n{rest}", state.display())).unwrap();
    (state, cfg)
}

/// Wait until the supervisor started on `state` listens on its control socket.
fn wait_for_socket(state: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !state.join("control.sock").exists() {
        assert!(std::time::Instant::now() < deadline, "the supervisor did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
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
    let (state, cfg) = config_with_state(
        dir.path(),
        "bad.toml",
        "[defaults]\ninterval = \"fast\"\n[[host]]\nname = \"hv1\"\nuri = \"test:///x.xml\"\n",
    );
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
    assert!(err.contains("`reinstall web1` needs web1's name typed: Destroys the VM's disk"), "{err}");
    assert!(err.contains("or add --yes; nothing was sent"), "{err}");
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
    let (state, cfg) = config_with_state(
        dir.path(),
        "one.toml",
        "[quorum]\nwitnesses = []\n[[host]]\nname = \"hv1\"\nuri = \"test:///default\"\n",
    );
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

/// The supervisor of a test, stopped (SIGTERM, then waited for) even when the test fails.
struct Supervising(std::process::Child);

impl Drop for Supervising {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the child this test started.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// Which commands need a person's consent is declared once (`core::consent`) and every front
/// end obeys it: `3rc ctl` without a terminal refuses a destructive command before sending it
/// unless `--yes`; the control socket refuses one that arrives without consent whatever client
/// sent it; the consent given is journaled with the command.
#[test]
fn destructive_commands_need_the_same_consent_from_every_front_end() {
    let dir = tempfile::tempdir().unwrap();
    let (state, cfg) = config_with_state(
        dir.path(),
        "one.toml",
        "[quorum]\nwitnesses = []\n[[host]]\nname = \"hv1\"\nuri = \"test:///default\"\n[[vm]]\nname = \"test\"\n",
    );
    let sup = Supervising(bin().args(["run", "--headless", "--config"]).arg(&cfg).spawn().unwrap());
    wait_for_socket(&state);
    let socket = state.join("control.sock");
    let ctl = |words: &[&str]| {
        let out =
            bin().args(["ctl", "--config"]).arg(&cfg).args(words).stdin(std::process::Stdio::null()).output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let journal = || {
        let c = rusqlite::Connection::open(state.join("journal.db")).unwrap();
        let mut q = c.prepare("SELECT text FROM events ORDER BY id").unwrap();
        let rows: Vec<String> = q.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        rows.join("\n")
    };

    // No terminal, no --yes: refused before anything is sent, saying what it would do.
    let (ok, said) = ctl(&["restart", "test"]);
    assert!(!ok, "{said}");
    assert!(said.contains("`restart test` needs a confirmation: Destroys the running VM"), "{said}");
    assert!(said.contains("add --yes; nothing was sent"), "{said}");
    let (ok, said) = ctl(&["stop", "test"]);
    assert!(!ok && said.contains("`stop test` needs test's name typed"), "{said}");
    assert!(!journal().contains("command restart test") && !journal().contains("command stop test"));
    // Commands that need no consent go through as before.
    let (ok, said) = ctl(&["start", "test"]);
    assert!(said.contains("refused: test is already running") || ok, "{said}");

    // A client that skips the prompt is refused by the supervisor itself.
    let raw = |line: &str| {
        use std::io::{BufRead, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        s.write_all(line.as_bytes()).unwrap();
        let mut reply = String::new();
        std::io::BufReader::new(s).read_line(&mut reply).unwrap();
        reply
    };
    let reply = raw("{\"user\": \"script\", \"words\": [\"disarm\"]}\n");
    assert!(reply.contains("\"ok\":false") && reply.contains("`disarm cluster` needs a confirmation"), "{reply}");
    let reply = raw("{\"user\": \"script\", \"words\": [\"stop\", \"test\"], \"confirmed\": {\"Typed\": \"tset\"}}\n");
    assert!(reply.contains("\"ok\":false") && reply.contains("needs test's name typed"), "{reply}");
    assert!(!journal().contains("command disarm cluster"), "{}", journal());

    // --yes, before or after the words, is consent given in advance, and the journal says so.
    let (ok, said) = ctl(&["--yes", "disarm", "test"]);
    assert!(ok, "{said}");
    let (ok, said) = ctl(&["arm", "test"]);
    assert!(ok, "{said}");
    let (ok, said) = ctl(&["disarm", "--yes"]);
    assert!(ok, "{said}");
    let log = journal();
    assert!(log.contains("command disarm test by cli:") && log.contains("(confirmed by --yes)"), "{log}");
    assert!(log.contains("command disarm cluster by cli:"), "{log}");
    drop(sup);
}

/// The subcommands of the command line, as clap defines them (`help` aside).
fn subcommands() -> Vec<String> {
    use clap::CommandFactory;
    threerc::app::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .filter(|n| n != "help")
        .collect()
}

#[test]
fn completions_name_every_subcommand_and_option() {
    // Each shell's own spelling of the `--config` option (fish's help texts say "config" too).
    for (shell, config) in [("bash", "--config"), ("zsh", "'--config=["), ("fish", "-s c -l config")] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        for sub in subcommands() {
            assert!(text.contains(&sub), "{shell}: {sub} missing");
        }
        assert!(text.contains(config), "{shell}: --config missing");
    }
    let out = bin().args(["completions", "nosuchshell"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("invalid value 'nosuchshell'") && err.contains("bash"), "{err}");
}

#[test]
fn the_man_page_is_roff_and_names_every_subcommand_with_its_options() {
    let out = bin().arg("man").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH 3rc 1"), "{page:.300}");
    for sub in subcommands() {
        assert!(page.contains(&format!("3rc\\-{}", sub.replace('-', "\\-"))), "{sub} missing from SUBCOMMANDS");
        assert!(page.contains(&format!(".SH \"3RC {}\"", sub.to_uppercase())), "{sub} has no section");
    }
    assert!(page.contains("\\-\\-socket"), "the console's options are in");
}
