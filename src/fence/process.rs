//! Running an outside command for fencing (a fence agent, a soft fence): in a process group of
//! its own, its output read while it runs (a command that prints a lot never blocks on a full
//! pipe), and at the time limit the whole group is killed (an agent's `ipmitool` or `ssh` with
//! it).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// Its exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `program args` with `input` on its standard input; errors say why it did not finish.
pub fn run(program: &Path, args: &[String], input: Option<&str>, timeout: Duration) -> Result<Finished, String> {
    use std::os::unix::process::CommandExt;
    let name = program.display().to_string();
    let spawn = || {
        Command::new(program)
            .args(args)
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
    };
    // ETXTBSY: another thread forked while the file was open for writing (a freshly installed
    // agent); it clears at once.
    let mut attempt = spawn();
    for _ in 0..5 {
        match &attempt {
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(Duration::from_millis(20));
                attempt = spawn();
            }
            _ => break,
        }
    }
    let mut child = attempt.map_err(|e| format!("cannot run it: {e}"))?;
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    if let (Some(mut stdin), Some(text)) = (child.stdin.take(), input) {
        // A few hundred bytes: never blocks. A command may exit without reading everything;
        // that is its answer, not ours.
        let _ = stdin.write_all(text.as_bytes());
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                return Err(format!("did not finish in {}; killed", crate::core::time::human(timeout)));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill_group(&mut child);
                return Err(format!("waiting for {name}: {e}"));
            }
        }
    };
    // Whatever it left running in its group is not its answer.
    kill_group(&mut child);
    Ok(Finished {
        code: status.code().unwrap_or(-1),
        stdout: stdout.map(collect).unwrap_or_default(),
        stderr: stderr.map(collect).unwrap_or_default(),
    })
}

/// The most of a command's output kept (the rest is read and dropped).
const OUTPUT_KEPT: usize = 64 * 1024;

/// Read a pipe to its end on a thread of its own; the receiver gets what was kept.
fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().name("fence-output".into()).spawn(move || {
        let (mut kept, mut buf) = (Vec::new(), [0u8; 8192]);
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = OUTPUT_KEPT.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        let _ = tx.send(String::from_utf8_lossy(&kept).into_owned());
    });
    if spawned.is_err() {
        tracing::warn!(target: "3rc::fence", "cannot start a thread to read a command's output");
    }
    rx
}

/// What a reader kept, waiting a moment at most: a process that left the group may still
/// hold the pipe open.
fn collect(rx: std::sync::mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default()
}

/// Kill the command's whole process group, then reap it.
fn kill_group(child: &mut std::process::Child) {
    if let Ok(pgid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the command leads (it
        // was spawned with process_group(0)); no memory is involved.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let _ = child.kill();
    let _ = child.wait();
}
