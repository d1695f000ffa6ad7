//! A `3rc run` the test started, killed when dropped so that a failing test leaves nothing
//! running.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Wait until its control socket at `socket` answers (a file left by an earlier run
    /// refuses connections).
    pub fn ready(self, socket: &Path) -> Running {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            assert!(Instant::now() < deadline, "the supervisor did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        self
    }

    /// SIGTERM, and a clean exit.
    pub fn stop(mut self) {
        // SAFETY: kill(2) on the child this test started.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let status = self.0.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}
