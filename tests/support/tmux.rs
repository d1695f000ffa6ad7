//! A tmux session for tests that drive the console in a real terminal: started with a command,
//! driven with `send-keys`, read with `capture-pane`, killed when the test ends.
// Shared by several test binaries, each of which uses only part of it.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A tmux session that is killed when the test ends, passing or failing.
pub struct Session {
    pub name: String,
}

impl Session {
    pub fn start(width: u16, height: u16, command: &str) -> Session {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("3rc-e2e-{}-{nanos}", std::process::id());
        let out =
            tmux(&["new-session", "-d", "-s", &name, "-x", &width.to_string(), "-y", &height.to_string(), command]);
        assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
        let s = Session { name };
        // Keep the pane after the program exits, to read what it left (and see it exit).
        tmux(&["set-option", "-t", &s.name, "remain-on-exit", "on"]);
        s
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            let out = tmux(&["send-keys", "-t", &self.name, k]);
            assert!(out.status.success(), "send-keys {k}: {}", String::from_utf8_lossy(&out.stderr));
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Type text literally (no key names).
    pub fn type_text(&self, text: &str) {
        tmux(&["send-keys", "-t", &self.name, "-l", text]);
        std::thread::sleep(Duration::from_millis(60));
    }

    pub fn pane(&self) -> String {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &self.name]).stdout).into_owned()
    }

    /// Wait until the pane shows `text`; fail with the pane's content after `secs`.
    pub fn wait_for(&self, text: &str, secs: u64) -> String {
        self.wait_until(&format!("{text:?}"), secs, |pane| pane.contains(text))
    }

    /// Wait until `pred` holds on the pane; fail with the pane's content after `secs`.
    pub fn wait_until(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let pane = self.pane();
            if pred(&pane) {
                return pane;
            }
            assert!(Instant::now() < end, "waited {secs} s for {what}; the pane shows:\n{pane}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn dead(&self) -> bool {
        let out = tmux(&["display-message", "-p", "-t", &self.name, "#{pane_dead}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.name]);
    }
}

pub fn tmux(args: &[&str]) -> Output {
    Command::new("tmux").args(args).output().expect("tmux must be installed (.ci/deps installs it)")
}
