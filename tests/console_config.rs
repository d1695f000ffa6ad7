//! The console's part of the config as a user meets it: `[console.keys]` remapping that works in
//! a real terminal, and mistakes refused with an error naming the action or key.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A copy of the demo assets with `extra` appended to its cluster.toml.
fn assets_with(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let dst = dir.path().join("demo");
    std::fs::create_dir(&dst).unwrap();
    copy_tree(&src, &dst);
    let toml = dst.join("cluster.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let text = match text.find("[console]") {
        // Keep one [console] table: add the keys under it.
        Some(_) => text.replace("[console]", &format!("[console]\n{extra}")),
        None => format!("{text}\n[console]\n{extra}"),
    };
    std::fs::write(&toml, text).unwrap();
    dir
}

/// Copy a folder and its subfolders (the demo's reinstall templates).
fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let p = entry.unwrap().path();
        let to = dst.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &to);
        } else {
            std::fs::copy(&p, to).unwrap();
        }
    }
}

fn demo(assets: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_3rc"))
        .args(["demo", "--no-faults", "--assets"])
        .arg(assets)
        .arg("--log-file")
        .arg(assets.join("demo.log"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn an_unknown_action_or_key_in_console_keys_is_refused_naming_it_and_the_file() {
    for (extra, expected) in [
        ("keys = { teleport = \"t\" }", "unknown action \"teleport\""),
        ("keys = { migrate = \"hyper-m\" }", "migrate: unknown key \"hyper-m\""),
        ("keys = { migrate = \"r\" }", "key r is bound to both"),
    ] {
        let dir = assets_with(extra);
        let out = demo(dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra}: accepted");
        assert!(err.contains(expected), "{extra}: {err}");
        assert!(err.contains("cluster.toml"), "{extra}: the file is named: {err}");
    }
}

#[test]
fn a_remapped_key_migrates_in_a_real_terminal_and_the_old_key_does_nothing() {
    let dir = assets_with("keys = { migrate = [\"F5\", \"ctrl-g\"] }");
    let name = format!("3rc-keys-{}", std::process::id());
    let cmd = format!(
        "'{}' demo --no-faults --assets '{}' --log-file '{}'",
        env!("CARGO_BIN_EXE_3rc"),
        dir.path().display(),
        dir.path().join("demo.log").display()
    );
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().expect("tmux (installed by .ci/deps)");
    struct Kill<'a>(&'a str);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = Command::new("tmux").args(["kill-session", "-t", self.0]).output();
        }
    }
    assert!(tmux(&["new-session", "-d", "-s", &name, "-x", "80", "-y", "24", &cmd]).status.success());
    let _kill = Kill(&name);
    let wait = |text: &str| {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let pane = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &name]).stdout).into_owned();
            if pane.contains(text) {
                return pane;
            }
            assert!(Instant::now() < end, "waited for {text:?}:\n{pane}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let pane = wait("9 healthy");
    assert!(pane.contains("F5 migrate VM"), "the hint shows the new key:\n{pane}");
    tmux(&["send-keys", "-t", &name, "m"]);
    std::thread::sleep(Duration::from_millis(400));
    let pane = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &name]).stdout).into_owned();
    assert!(!pane.contains("Live-migrate"), "m is no longer migrate:\n{pane}");
    tmux(&["send-keys", "-t", &name, "F5"]);
    wait("Live-migrate");
    tmux(&["send-keys", "-t", &name, "Escape", "q"]);
}
