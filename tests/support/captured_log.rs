//! The whole process's log, captured as text: a tracing subscriber installed for the test
//! binary writes here. Each test binary that uses it has one test (the subscriber is global).

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Install a global subscriber writing here what `filter` lets through (`"debug"`,
    /// `"3rc=info,3rc::pace=debug"`).
    pub fn install(filter: &str) -> Captured {
        let log = Captured::default();
        let writer = log.clone();
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(move || writer.clone()).init();
        log
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    #[allow(dead_code)] // not every test binary that includes this file reads lines
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_string).collect()
    }
}
