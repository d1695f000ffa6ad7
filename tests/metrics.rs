//! The Prometheus endpoint (`[metrics] listen`) with the real parts: the supervisor on the demo
//! cluster's test-driver hosts, its `/metrics` page checked by Debian's `promtool check metrics`
//! and scraped by a real `prometheus` started on loopback, whose query API then answers the state
//! of a VM; a host powered off shows up as a fence and two recoveries in the counters.
//!
//! `prometheus` (with `promtool`) is installed by `.ci/deps`; without it this test fails.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use threerc::config::Config;

#[path = "support/test_hosts.rs"]
#[allow(dead_code)] // the host-file builders serve other test binaries
mod test_hosts;

fn config(state: &Path) -> Config {
    test_hosts::demo_config(state, "200ms", "")
}

/// `GET path` on `addr`, the body.
fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(head.starts_with("HTTP/1.") && head.contains(" 200 "), "{head}");
    body.to_string()
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A real Prometheus, killed when the test ends.
struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_cluster_and_promtool_accepts_the_page() {
    let state = tempfile::tempdir().unwrap();
    let cfg = config(state.path());
    let (cluster, handle, stop) = test_hosts::run(&cfg);
    let metrics = threerc::supervisor::metrics::Metrics::start(&handle);
    let addr = threerc::supervisor::metrics::serve("127.0.0.1:0".parse().unwrap(), metrics).unwrap();
    test_hosts::until_steady(&handle).await;

    let page = tokio::task::spawn_blocking(move || get(addr, "/metrics")).await.unwrap();
    for line in [
        "threerc_vm_state{vm=\"web1\",host=\"hv1\",state=\"healthy\"} 1",
        "threerc_host_state{host=\"hv1\",state=\"online\"} 1",
        "threerc_host_state{host=\"hv1\",state=\"down\"} 0",
        "threerc_vms{state=\"healthy\"} 9",
        "threerc_armed 1",
        "# EOF",
    ] {
        assert!(page.lines().any(|l| l == line), "{line:?} missing:\n{page}");
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; .ci/deps installs it)");
    promtool.stdin.take().unwrap().write_all(page.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A real Prometheus scrapes it every second.
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: threerc\n    static_configs:\n      - targets: [\"{addr}\"]\n"),
    )
    .unwrap();
    let _prometheus = Prometheus(
        Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian's package; .ci/deps installs it)"),
    );
    let api: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let query = "/api/v1/query?query=threerc_vm_state%7Bvm%3D%22web1%22%7D";
    let answer = tokio::task::spawn_blocking(move || {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = std::net::TcpStream::connect(api).ok().map(|_| get(api, query)).unwrap_or_default();
            if answer.contains("\"state\":\"healthy\"") || Instant::now() > end {
                return answer;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    })
    .await
    .unwrap();
    assert!(answer.contains("\"state\":\"healthy\"") && answer.contains("\"host\":\"hv1\""), "{answer}");
    eprintln!("prometheus answered after {:?}", t0.elapsed());

    // A host fails: its fence and the recoveries of its VMs are counted.
    cluster.power_off("hv3").unwrap();
    let page = tokio::task::spawn_blocking(move || {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let page = get(addr, "/metrics");
            let recovered = page
                .lines()
                .find_map(|l| l.strip_prefix("threerc_recovery_phase_duration_seconds_count{phase=\"start\"} "))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0);
            if (page.contains("threerc_fences_total{host=\"hv3\",result=\"done\"} 1") && recovered >= 2)
                || Instant::now() > end
            {
                return page;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    })
    .await
    .unwrap();
    eprintln!("the failure counted after {:?}", t0.elapsed());
    assert!(page.contains("threerc_fences_total{host=\"hv3\",result=\"done\"} 1"), "{page}");
    assert!(page.contains("threerc_host_state{host=\"hv3\",state=\"fenced\"} 1"), "{page}");
    assert!(page.contains("threerc_actions_total{kind=\"recover\",outcome=\"done\"} 2"), "{page}");
    for phase in ["detection", "fence"] {
        let count = format!("threerc_recovery_phase_duration_seconds_count{{phase=\"{phase}\"}} 1");
        assert!(page.contains(&count), "{count} missing:\n{page}");
    }
    let _ = stop.send(());
}
