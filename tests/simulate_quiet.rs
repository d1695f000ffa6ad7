//! A what-if runs the real supervisor on a simulated copy of the cluster: its events come back
//! in the report and must never reach the program's own log (the console's log pane, the log
//! file), where they would read as if they had happened. Its own test binary: it installs a
//! global subscriber that records every log line.

#[path = "support/captured_log.rs"]
mod captured_log;
use captured_log::Captured;

#[test]
fn a_what_if_writes_nothing_to_the_programs_log() {
    let log = Captured::install("debug");
    tracing::info!(target: "3rc", "the program's own line");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/ladder-end-to-end");
    let case = threerc::sim::scenario::Case::load(&dir).expect("a scenario case");
    let report = threerc::app::simulate::what_if(case, "host hv3 down", &[]).expect("a report");
    assert!(report.contains("host hv3 Online -> Suspect"), "{report}");
    let log = log.text();
    assert!(log.contains("the program's own line"), "the subscriber records: {log}");
    assert!(!log.contains("hv3"), "the simulated run reached the program's log:\n{log}");
}
