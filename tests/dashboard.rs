//! The Grafana dashboard (`assets/grafana/3rc-dashboard.json`) stays true to the metrics: every
//! panel has a title, a description and queries; every query is valid PromQL (Debian's
//! `promtool check rules`, each query a recording rule); every metric it names is one the
//! supervisor serves (a real scrape of `/metrics` on the demo cluster's test-driver hosts, after
//! a host's failure has given every counter and histogram a series); every metric it selects is
//! narrowed to the one supervisor (`$instance`) chosen, so that several 3RCs scraped by one
//! Prometheus (several clusters, or the instances of `[ha]`) are never summed.
//!
//! `prometheus` (with `promtool`) is installed by `.ci/deps`; without it this test fails.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::Duration;

#[path = "support/test_hosts.rs"]
#[allow(dead_code)] // the host-file builders serve other test binaries
mod test_hosts;

fn dashboard() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/grafana/3rc-dashboard.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Every query of the dashboard, with its panel's title.
fn queries(d: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap_or_default().to_string();
        assert!(!title.is_empty(), "a panel without a title: {p}");
        if p["type"] == "row" {
            continue;
        }
        assert!(p["description"].as_str().is_some_and(|s| !s.is_empty()), "{title}: no description");
        let targets = p["targets"].as_array().unwrap_or_else(|| panic!("{title}: no queries"));
        assert!(!targets.is_empty(), "{title}: no queries");
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or_else(|| panic!("{title}: a query without expr"));
            out.push((title.clone(), expr.to_string()));
        }
    }
    out
}

/// A query as Prometheus gets it from Grafana: the built-in intervals (`$__rate_interval`,
/// `$__interval`, `$__range`) as `5m`, the dashboard's variables (`$instance`, `${instance}`,
/// `${instance:regex}`) as a value.
fn as_promql(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out += &rest[..i];
        let tail = &rest[i + 1..];
        let (name, len) = match tail.strip_prefix('{') {
            Some(braced) => {
                let end = braced.find('}').unwrap_or_else(|| panic!("an unclosed ${{ in {expr}"));
                (braced[..end].split(':').next().unwrap_or_default(), end + 2)
            }
            None => {
                let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
                (&tail[..end], end)
            }
        };
        assert!(!name.is_empty(), "a lone $ in {expr}");
        out += if name.starts_with("__") { "5m" } else { "x" };
        rest = &tail[len..];
    }
    out + rest
}

/// The metric names a query uses.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("threerc_") {
        let tail = &rest[i..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn every_query_is_valid_promql() {
    let d = dashboard();
    assert_eq!(d["schemaVersion"], 39);
    let qs = queries(&d);
    assert!(qs.len() >= 15, "{} queries", qs.len());
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in qs.iter().enumerate() {
        let expr = as_promql(expr);
        rules += &format!("      - record: threerc:dashboard:{i}\n        expr: '{}'\n", expr.replace('\'', "''"));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), &rules).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(dir.path().join("rules.yml"))
        .output()
        .expect("promtool (Debian's prometheus package; .ci/deps installs it)");
    assert!(
        out.status.success(),
        "promtool: {}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The checker can fail: a broken query is refused.
    std::fs::write(
        dir.path().join("bad.yml"),
        "groups:\n  - name: x\n    rules:\n      - record: a:b\n        expr: 'sum by (state (x)'\n",
    )
    .unwrap();
    let bad = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(dir.path().join("bad.yml"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn every_query_shows_one_supervisor() {
    let d = dashboard();
    let vars = d["templating"]["list"].as_array().unwrap();
    let var = |name: &str| vars.iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no ${name}"));
    let ds = var("datasource");
    assert_eq!((&ds["type"], &ds["query"]), (&"datasource".into(), &"prometheus".into()));
    let instance = var("instance");
    assert_eq!(instance["query"], "label_values(threerc_armed, instance)");
    assert_eq!((&instance["multi"], &instance["includeAll"]), (&false.into(), &false.into()));
    for (title, expr) in queries(&d) {
        for (i, _) in expr.match_indices("threerc_") {
            let selector = &expr[i..];
            let name_end = selector.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(selector.len());
            let matchers = selector[name_end..].strip_prefix('{').and_then(|m| m.split_once('}')).map(|(m, _)| m);
            assert!(
                matchers.is_some_and(|m| m.split(',').any(|m| m.trim() == "instance=\"$instance\"")),
                "{title}: {expr}: {} is not narrowed to instance=\"$instance\" (it would sum every 3RC)",
                &selector[..name_end]
            );
        }
    }
    assert_eq!(as_promql("rate(a{i=\"${instance:regex}\"}[$__rate_interval]) > $x"), "rate(a{i=\"x\"}[5m]) > x");
}

fn scrape(addr: std::net::SocketAddr) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

/// The names a page serves: each sample's.
fn served_names(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter(|l| l.starts_with("threerc_"))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_names_is_served() {
    let state = tempfile::tempdir().unwrap();
    let cfg = test_hosts::demo_config(state.path(), "200ms", "");
    let (cluster, handle, stop) = test_hosts::run(&cfg);
    let metrics = threerc::supervisor::metrics::Metrics::start(&handle);
    let addr = threerc::supervisor::metrics::serve("127.0.0.1:0".parse().unwrap(), metrics).unwrap();
    test_hosts::until_steady(&handle).await;
    // A host failure, so that every counter and histogram gets a series (a fence, recoveries,
    // actions, an alarm): scraped until each name the dashboard uses is served, or a minute.
    cluster.power_off("hv3").unwrap();
    // No exceptions: `threerc_host_probe_duration_seconds` and
    // `threerc_journal_write_duration_seconds` are served (src/supervisor/metrics.rs) and required.
    let d = dashboard();
    let wanted: Vec<(String, String)> =
        queries(&d).into_iter().flat_map(|(t, e)| metric_names(&e).into_iter().map(move |n| (t.clone(), n))).collect();
    let (missing, served) = tokio::task::spawn_blocking(move || {
        let end = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let served = served_names(&scrape(addr));
            let missing: Vec<String> =
                wanted.iter().filter(|(_, n)| !served.contains(n)).map(|(t, n)| format!("{t}: {n}")).collect();
            if missing.is_empty() || std::time::Instant::now() > end {
                return (missing, served);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .unwrap();
    let _ = stop.send(());
    assert!(missing.is_empty(), "the dashboard names metrics 3RC does not serve: {missing:?}");
    // And the check can fail.
    assert!(!served.contains("threerc_vm_states") && served.contains("threerc_vm_state"));
}
