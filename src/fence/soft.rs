//! A soft fence: the configured command that restarts a host's management daemon (e.g.
//! `ssh root@hv2 systemctl restart libvirtd`), run without a shell, killed with its process
//! group at its time limit. Exit code 0 is success. Only the program's name reaches the logs:
//! its arguments may carry a secret.

use crate::config::SoftFenceConfig;
use crate::hv::SoftFencer;
use std::path::PathBuf;

pub struct SoftFenceCommand {
    config: SoftFenceConfig,
}

impl SoftFenceCommand {
    pub fn new(config: SoftFenceConfig) -> SoftFenceCommand {
        SoftFenceCommand { config }
    }
}

impl SoftFencer for SoftFenceCommand {
    fn describe(&self) -> String {
        format!("soft fence {}", self.config.program())
    }

    fn restart(&self) -> Result<(), String> {
        let program = PathBuf::from(self.config.program());
        let args = &self.config.command[1..];
        let name = self.config.program();
        let done =
            super::process::run(&program, args, None, self.config.timeout).map_err(|e| format!("{name}: {e}"))?;
        for line in done.stdout.lines().chain(done.stderr.lines()).filter(|l| !l.trim().is_empty()) {
            tracing::debug!(target: "3rc::fence", "{name}: {line}");
        }
        if done.code != 0 {
            let last = done.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            return Err(format!("{name} exited with {}: {last}", done.code));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cmd(argv: &[&str], timeout_ms: u64) -> SoftFenceCommand {
        SoftFenceCommand::new(SoftFenceConfig {
            command: argv.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_millis(timeout_ms),
        })
    }

    #[test]
    fn exit_zero_is_done_and_anything_else_says_why() {
        assert_eq!(cmd(&["true"], 5000).restart(), Ok(()));
        let e = cmd(&["sh", "-c", "echo daemon would not start >&2; exit 3"], 5000).restart().unwrap_err();
        assert_eq!(e, "sh exited with 3: daemon would not start");
        let e = cmd(&["/nonexistent/restart-libvirtd"], 5000).restart().unwrap_err();
        assert!(e.starts_with("/nonexistent/restart-libvirtd: cannot run it: "), "{e}");
    }

    #[test]
    fn a_hung_command_is_killed_at_its_time_limit() {
        let started = std::time::Instant::now();
        let e = cmd(&["sleep", "30"], 200).restart().unwrap_err();
        assert!(e.contains("did not finish in"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(20), "killed, not waited for");
    }

    #[test]
    fn its_arguments_stay_out_of_the_description() {
        let c = cmd(&["sshpass", "-p", "s3cret", "ssh", "root@hv2"], 1000);
        assert_eq!(c.describe(), "soft fence sshpass");
    }
}
