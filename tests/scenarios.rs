//! The scenario regression suite: every folder under `tests/scenarios/` is a case (`README`,
//! `cluster.toml`, `commands`, `expected.log`). Each runs the real supervisor on the simulated
//! cluster and its log is diffed against `expected.log`. `THREERC_BLESS=1` rewrites the
//! expected files; a missing `expected.log` is written fresh (and the test says so).

use std::path::{Path, PathBuf};
use threerc::sim::{self, Case};

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/scenarios")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("cluster.toml").exists())
        .collect();
    dirs.sort();
    dirs
}

/// A line diff (longest common subsequence): `-` expected only, `+` actual only.
fn diff(expected: &[&str], actual: &[&str]) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", actual[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", expected[i]));
            i += 1;
        }
    }
    out
}

#[test]
fn every_scenario_matches_its_expected_log() {
    let bless = std::env::var("THREERC_BLESS").is_ok_and(|v| v == "1");
    let dirs = cases();
    assert!(dirs.len() >= 10, "expected the scenario suite, found {} cases", dirs.len());
    let mut failures = Vec::new();
    let mut fresh = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        assert!(dir.join("README").exists(), "{name}: every case explains itself in a README");
        let case = Case::load(dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        let report = sim::run(&case);
        assert!(
            report.violations.is_empty(),
            "{name}: safety violations (a VM on two hosts, or a host over capacity): {:?}",
            report.violations
        );
        let actual = report.log.join("\n") + "\n";
        let path = dir.join("expected.log");
        if bless || !path.exists() {
            if !path.exists() && !bless {
                fresh.push(name.clone());
            }
            std::fs::write(&path, &actual).expect("write expected.log");
            continue;
        }
        let expected = std::fs::read_to_string(&path).expect("read expected.log");
        if expected != actual {
            let e: Vec<&str> = expected.lines().collect();
            let a: Vec<&str> = actual.lines().collect();
            failures.push(format!("=== {name} (- expected, + actual)\n{}", diff(&e, &a)));
        }
    }
    assert!(
        fresh.is_empty(),
        "no expected.log for {}: wrote it fresh; read it, check the behaviour is right, and commit it",
        fresh.join(", ")
    );
    assert!(
        failures.is_empty(),
        "{} of {} scenarios differ (THREERC_BLESS=1 rewrites the expected logs):\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

#[test]
fn same_case_same_log_byte_for_byte() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    for name in ["host-isolated-split-brain", "probe-loss-30-percent", "ha-leader-killed-host-off-same-moment"] {
        let case = Case::load(&root.join(name)).unwrap();
        let a = sim::run(&case).log.join("\n");
        let b = sim::run(&case).log.join("\n");
        assert!(!a.is_empty());
        assert_eq!(a, b, "{name}: two runs of the same case differ");
    }
}

#[test]
fn the_diff_names_missing_and_extra_lines() {
    let d = diff(&["a", "b", "c"], &["a", "x", "c"]);
    assert_eq!(d, "+ x\n- b\n");
}

fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_3rc"))
}

#[test]
fn cli_simulate_prints_the_case_log() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/host-power-off-failover");
    let out = bin().args(["simulate", dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = std::fs::read_to_string(dir.join("expected.log")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn cli_what_if_says_where_every_vm_would_go_and_why() {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/cluster.toml");
    let out =
        bin().args(["simulate", "--config", cfg.to_str().unwrap(), "--what-if", "host hv1 down"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("host hv1 Fencing -> Fenced"), "{text}");
    // Every VM of hv1 gets a line with its new host and the placement reasons.
    let web1 = text.lines().find(|l| l.trim_start().starts_with("web1 ")).expect(&text);
    let cols: Vec<&str> = web1.split_whitespace().collect();
    assert_eq!(cols[1], "hv1", "{web1}");
    assert!(cols[2].starts_with("hv") && cols[2] != "hv1", "{web1}");
    assert!(web1.contains("Healthy") && web1.contains("anti-affinity group web"), "{web1}");
    assert!(!text.contains("VIOLATION"), "{text}");
    let bad =
        bin().args(["simulate", "--config", cfg.to_str().unwrap(), "--what-if", "host hv1 explodes"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("try: host H down"));
}

/// The suite shows every state a VM or a host can be sent to. (`Discovering` and `Unknown` are
/// only where everything starts; maintenance is a flag on an `Online` host: the log records the
/// operator's command, not a transition.)
#[test]
fn the_suite_covers_every_transition_target() {
    let logs: String = cases().iter().filter_map(|d| std::fs::read_to_string(d.join("expected.log")).ok()).collect();
    for s in threerc::core::VmState::ALL.iter().filter(|s| **s != threerc::core::VmState::Discovering) {
        assert!(logs.contains(&format!(" -> {}", s.label())), "no case sends a VM to {s}");
    }
    use threerc::core::HostState;
    for s in HostState::ALL.iter().filter(|s| !matches!(s, HostState::Unknown | HostState::Maintenance)) {
        assert!(logs.contains(&format!(" -> {}", s.label())), "no case sends a host to {}", s.label());
    }
}
