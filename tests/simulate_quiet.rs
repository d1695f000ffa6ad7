//! A what-if runs the real supervisor on a simulated copy of the cluster: its events come back
//! in the report and must never reach the program's own log (the console's log pane, the log
//! file), where they would read as if they had happened. Its own test binary: it installs a
//! global subscriber that records every log line.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_what_if_writes_nothing_to_the_programs_log() {
    let lines = Lines::default();
    let sink = lines.clone();
    tracing_subscriber::fmt().with_writer(move || sink.clone()).with_max_level(tracing::Level::DEBUG).init();
    tracing::info!(target: "3rc", "the program's own line");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/ladder-end-to-end");
    let case = threerc::backend::sim::scenario::Case::load(&dir).expect("a scenario case");
    let report = threerc::app::simulate::what_if(case, "host hv3 down", &[]).expect("a report");
    assert!(report.contains("host hv3 Online -> Suspect"), "{report}");
    let log = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("the program's own line"), "the subscriber records: {log}");
    assert!(!log.contains("hv3"), "the simulated run reached the program's log:\n{log}");
}
