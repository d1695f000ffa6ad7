//! Quorum witnesses as 3RC checks them for real: addresses it must reach, besides the hosts,
//! before it fences automatically (`core::quorum`).
//!
//! - `ping:ADDR`: one ICMP echo through the system's `ping` (an argument vector, `-W` bounds it).
//! - `tcp:HOST:PORT`: a TCP connection; a refusal counts as an answer (the address is
//!   reachable, nothing listens on that port), only a timeout or no route does not.
//! - `gateway`: `ping:` to this machine's IPv4 default gateway, read from `/proc/net/route` when
//!   3RC starts (vSphere's default isolation address). A machine without a default route has
//!   no gateway witness, and says so at start.

use crate::config::{WitnessCheck, WitnessConfig};
use crate::hv::Witness;
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The witnesses of a config, ready to check. A `gateway` with no default route is left out
/// and reported in the second list.
pub fn from_config(witnesses: &[WitnessConfig]) -> (Vec<Arc<dyn Witness>>, Vec<String>) {
    let mut out: Vec<Arc<dyn Witness>> = Vec::new();
    let mut notes = Vec::new();
    for w in witnesses {
        match &w.check {
            WitnessCheck::Gateway => {
                match default_gateway(&std::fs::read_to_string("/proc/net/route").unwrap_or_default()) {
                    Some(gw) => {
                        notes.push(format!("quorum witness gateway: this machine's default gateway {gw}, by ping"));
                        out.push(Arc::new(Ping { name: w.name.clone(), addr: gw }));
                    }
                    None => notes.push(
                        "quorum witness gateway left out: this machine has no IPv4 default route; the votes are the \
                     hosts and the other witnesses"
                            .to_string(),
                    ),
                }
            }
            WitnessCheck::Ping(addr) => out.push(Arc::new(Ping { name: w.name.clone(), addr: addr.clone() })),
            WitnessCheck::Tcp(host, port) => {
                out.push(Arc::new(Tcp { name: w.name.clone(), host: host.clone(), port: *port }))
            }
        }
    }
    (out, notes)
}

/// The IPv4 default gateway in the text of `/proc/net/route` (little-endian hex fields).
pub fn default_gateway(route: &str) -> Option<String> {
    for line in route.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || f[1] != "00000000" {
            continue;
        }
        let flags = u32::from_str_radix(f[3], 16).ok()?;
        const RTF_UP: u32 = 0x1;
        const RTF_GATEWAY: u32 = 0x2;
        if flags & (RTF_UP | RTF_GATEWAY) != RTF_UP | RTF_GATEWAY {
            continue;
        }
        let gw = u32::from_str_radix(f[2], 16).ok()?;
        let [a, b, c, d] = gw.to_le_bytes();
        return Some(format!("{a}.{b}.{c}.{d}"));
    }
    None
}

struct Ping {
    name: String,
    addr: String,
}

impl Witness for Ping {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, timeout: Duration) -> Result<(), String> {
        let wait = format!("{:.1}", timeout.as_secs_f64().max(0.1));
        let out = Command::new("ping")
            .args(["-n", "-q", "-c", "1", "-W", &wait, &self.addr])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run ping: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            Err(if err.is_empty() { format!("no answer from {} in {wait} s", self.addr) } else { err })
        }
    }
}

struct Tcp {
    name: String,
    host: String,
    port: u16,
}

impl Witness for Tcp {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, timeout: Duration) -> Result<(), String> {
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?;
        let mut last = format!("{} resolves to no address", self.host);
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(_) => return Ok(()),
                // Something at that address answered (with a reset): it is reachable.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(()),
                Err(e) => last = format!("{a}: {e}"),
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_gateway_is_read_from_the_route_table() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_gateway(table).as_deref(), Some("192.168.1.1"));
        let no_default = "Iface\tDestination\tGateway \tFlags\n eth0\t0000A8C0\t00000000\t0001\n";
        assert_eq!(default_gateway(no_default), None);
    }

    #[test]
    fn a_tcp_witness_answers_when_something_listens_or_refuses() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let w = Tcp { name: "t".into(), host: "127.0.0.1".into(), port };
        assert_eq!(w.check(Duration::from_secs(2)), Ok(()));
        drop(listener);
        // Nothing listens now: the refusal still proves the address answers.
        assert_eq!(w.check(Duration::from_secs(2)), Ok(()));
    }

    #[test]
    fn a_ping_witness_answers_on_loopback_and_says_why_when_it_cannot() {
        let w = Ping { name: "lo".into(), addr: "127.0.0.1".into() };
        assert_eq!(w.check(Duration::from_secs(2)), Ok(()));
        // An address the kernel refuses to send to: an error at once, nothing leaves the machine.
        let w = Ping { name: "x".into(), addr: "0.0.0.1".into() };
        assert!(w.check(Duration::from_secs(1)).is_err());
    }
}
