//! Fence agents run as commands, in the fence-agents convention, so Debian's `fence-agents`
//! (fence_ipmilan, fence_redfish, fence_virsh, ...) work unchanged: options are written to the
//! agent's standard input as `key=value` lines, `action=status|off|on|reboot` among them, and the
//! exit code answers (for `status`: 0 on, 2 off, anything else an error).
//!
//! Secrets stay out of logs: options whose name suggests a secret (`config::secrets`) are never
//! shown, nor is what an agent echoes of them; pass them with the agents' own `password_script`
//! option, `password_file` (a file read when the agent runs) or `password_env` (an environment
//! variable of 3RC's, read when the agent runs).

use crate::hv::{Fencer, PowerStatus};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub struct CommandAgent {
    program: PathBuf,
    options: BTreeMap<String, String>,
    /// The agent is killed if it runs longer than this.
    timeout: Duration,
}

/// Whether `program` can run as a fence agent: a path to an executable file, or a name found
/// on `PATH`. Checked when a config is loaded for a run, so a typo is an error at start rather
/// than on the day a host dies.
pub fn check_program(program: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    };
    if program.contains('/') {
        let p = std::path::Path::new(program);
        return match std::fs::metadata(p) {
            Err(e) => Err(format!("{program}: {e}")),
            Ok(_) if !executable(p) => Err(format!("{program}: not an executable file")),
            Ok(_) => Ok(()),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|d| executable(&d.join(program))) {
        Ok(())
    } else {
        Err(format!("{program}: not found on PATH (Debian ships the fence agents in the package fence-agents)"))
    }
}

impl CommandAgent {
    pub fn new(program: &str, options: BTreeMap<String, String>, timeout: Duration) -> CommandAgent {
        CommandAgent { program: PathBuf::from(program), options, timeout }
    }

    /// The stdin text for one action; `password_file` is read now and sent as `password`.
    fn stdin_text(&self, action: &str) -> Result<String, String> {
        let mut text = format!("action={action}\n");
        for (k, v) in &self.options {
            if k == "password_file" {
                let secret = std::fs::read_to_string(v).map_err(|e| format!("cannot read password_file {v}: {e}"))?;
                text.push_str(&format!("password={}\n", secret.trim_end_matches(['\n', '\r'])));
            } else if k == "password_env" {
                let secret =
                    std::env::var(v).map_err(|_| format!("password_env: environment variable {v} is not set"))?;
                text.push_str(&format!("password={secret}\n"));
            } else {
                text.push_str(&format!("{k}={v}\n"));
            }
        }
        Ok(text)
    }

    /// Run the agent for one action; returns its exit code (`process::run`: its own process
    /// group, output read while it runs, the group killed at the timeout).
    fn run(&self, action: &str) -> Result<i32, String> {
        let input = self.stdin_text(action)?;
        let name = self.program.display().to_string();
        let done = super::process::run(&self.program, &[], Some(&input), self.timeout)
            .map_err(|e| format!("fence agent {name} action={action}: {e}"))?;
        for line in done.stdout.lines().chain(done.stderr.lines()).filter(|l| !l.trim().is_empty()) {
            tracing::debug!(target: "3rc::fence", "{name} action={action}: {}", self.redact(line));
        }
        if done.code != 0 && !(action == "status" && done.code == 2) {
            let last = done.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            return Err(format!("{name} action={action} exited with {}: {}", done.code, self.redact(last)));
        }
        Ok(done.code)
    }

    /// Remove any secret value that an agent might echo in its error output.
    fn redact(&self, text: &str) -> String {
        let mut t = text.to_string();
        for (k, v) in &self.options {
            let secret = match k.as_str() {
                "password_env" => std::env::var(v).ok(),
                "password_file" => {
                    std::fs::read_to_string(v).ok().map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                }
                _ if crate::config::secrets::is_secret_key(k) => Some(v.clone()),
                _ => None,
            };
            if let Some(s) = secret.filter(|s| !s.is_empty()) {
                t = t.replace(s.as_str(), "***");
            }
        }
        t
    }
}

impl Fencer for CommandAgent {
    fn describe(&self) -> String {
        let target = ["ip", "plug", "port", "ipaddr"]
            .iter()
            .find_map(|k| self.options.get(*k).map(|v| format!(" {k}={v}")))
            .unwrap_or_default();
        format!("{}{target}", self.program.display())
    }

    fn status(&self) -> Result<PowerStatus, String> {
        match self.run("status")? {
            0 => Ok(PowerStatus::On),
            _ => Ok(PowerStatus::Off),
        }
    }

    fn off(&self) -> Result<(), String> {
        self.run("off").map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fence agent written in shell: it records its stdin and keeps power state in a file.
    fn agent(dir: &std::path::Path, body: &str) -> String {
        let path = dir.join("fence_test");
        std::fs::write(&path, format!("#!/bin/sh\nin=$(cat)\necho \"$in\" >> {0}/calls\n{body}\n", dir.display()))
            .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    const POWER: &str = r#"state=$(cat "$(dirname "$0")/power" 2>/dev/null || echo on)
case "$in" in
  *action=status*) [ "$state" = on ] && exit 0 || exit 2 ;;
  *action=off*) echo off > "$(dirname "$0")/power"; exit 0 ;;
esac
exit 1"#;

    #[test]
    fn status_and_off_follow_the_convention() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "s3cret\n").unwrap();
        let opts = BTreeMap::from([
            ("ip".to_string(), "10.0.0.9".to_string()),
            ("password_file".to_string(), dir.path().join("secret").display().to_string()),
        ]);
        let a = CommandAgent::new(&agent(dir.path(), POWER), opts, Duration::from_secs(10));
        assert_eq!(a.status(), Ok(PowerStatus::On));
        a.off().unwrap();
        assert_eq!(a.status(), Ok(PowerStatus::Off));
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
        assert!(calls.contains("action=off\nip=10.0.0.9\npassword=s3cret"), "{calls}");
        assert!(a.describe().ends_with("fence_test ip=10.0.0.9"));
        assert!(!a.describe().contains("s3cret"));
    }

    #[test]
    fn failures_are_reported_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let opts = BTreeMap::from([("passwd".to_string(), "hunter2".to_string())]);
        let a = CommandAgent::new(
            &agent(dir.path(), "echo \"login failed for hunter2\" >&2; exit 1"),
            opts,
            Duration::from_secs(10),
        );
        let e = a.off().unwrap_err();
        assert!(e.contains("exited with 1: login failed for ***"), "{e}");
        let missing = CommandAgent::new("/nonexistent/fence_x", BTreeMap::new(), Duration::from_secs(1));
        let e = missing.status().unwrap_err();
        assert!(e.starts_with("fence agent /nonexistent/fence_x action=status: cannot run it: "), "{e}");
    }

    #[test]
    fn a_missing_or_non_executable_agent_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_program("sh"), Ok(()));
        assert_eq!(check_program(&agent(dir.path(), "exit 0")), Ok(()));
        assert!(check_program("fence_no_such_agent").unwrap_err().contains("not found on PATH"));
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        assert!(check_program(plain.to_str().unwrap()).unwrap_err().ends_with("not an executable file"));
        assert!(check_program("/nonexistent/fence_x").unwrap_err().starts_with("/nonexistent/fence_x: "));
    }

    #[test]
    fn the_password_can_come_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let var = "THREERC_TEST_FENCE_SECRET";
        std::env::set_var(var, "env-s3cret");
        let opts = BTreeMap::from([("password_env".to_string(), var.to_string())]);
        let a = CommandAgent::new(&agent(dir.path(), POWER), opts, Duration::from_secs(10));
        assert_eq!(a.status(), Ok(PowerStatus::On));
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
        assert!(calls.contains("password=env-s3cret") && !calls.contains("password_env"), "{calls}");
        let unset = BTreeMap::from([("password_env".to_string(), "THREERC_TEST_UNSET_VAR".to_string())]);
        let b = CommandAgent::new(&agent(dir.path(), POWER), unset, Duration::from_secs(10));
        assert_eq!(b.status(), Err("password_env: environment variable THREERC_TEST_UNSET_VAR is not set".into()));
    }

    #[test]
    fn a_hung_agent_is_killed_with_everything_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child-alive");
        // The agent starts a child (as fence_ipmilan starts ipmitool) that would outlive it.
        let body = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let a = CommandAgent::new(&agent(dir.path(), &body), BTreeMap::new(), Duration::from_millis(300));
        let e = a.status().unwrap_err();
        assert!(e.contains("did not finish in 300 ms; killed"), "{e}");
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "the agent's child outlived the timeout");
    }

    #[test]
    fn an_agent_that_prints_a_lot_is_read_while_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        // 1 MiB on each of stdout and stderr: far more than a pipe holds.
        let body = "head -c 1048576 /dev/zero | tr '\\0' x; head -c 1048576 /dev/zero | tr '\\0' y >&2; exit 0";
        let a = CommandAgent::new(&agent(dir.path(), body), BTreeMap::new(), Duration::from_secs(20));
        assert_eq!(a.status(), Ok(PowerStatus::On));
    }
}
