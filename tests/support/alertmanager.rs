//! A real Alertmanager (Debian's `prometheus-alertmanager`) on a loopback port, for the tests and
//! the benchmark that page it; killed when dropped.
// Shared by several test binaries and a benchmark, each of which uses only part of it.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Alertmanager(Child);

impl Alertmanager {
    /// Start one on 127.0.0.1:`port`, its config and data in `dir`, routing every alert to
    /// a receiver that sends nothing on.
    pub fn start(dir: &Path, port: u16) -> Alertmanager {
        std::fs::write(dir.join("am.yml"), "route:\n  receiver: none\nreceivers:\n  - name: none\n").unwrap();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", dir.join("am.yml").display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager (Debian's package; .ci/deps installs it)");
        Alertmanager(child)
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` on 127.0.0.1:`port`: the body (empty if nothing answers).
pub fn get(port: u16, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

/// The alerts the Alertmanager on `port` holds now (its API v2), or none if it does not answer.
pub fn alerts(port: u16) -> Vec<Value> {
    serde_json::from_str(&get(port, "/api/v2/alerts")).unwrap_or_default()
}
