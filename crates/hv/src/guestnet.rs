//! A VM's service checked from the supervisor's machine (`[vm.guest]` `tcp` and `http`): a TCP
//! connect, or an HTTP/1.1 GET whose status line must say 2xx or 3xx. Blocking, each step
//! bounded by what is left of the timeout. Errors say what happened, not the address or URL
//! (the check that shows them names it).

use super::HvError;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Connect to `addr` (`address:port`) within `timeout`.
pub fn tcp(addr: &str, timeout: Duration) -> Result<(), HvError> {
    connect(addr, Instant::now() + timeout).map(|_| ())
}

/// GET `url` (`http://host[:port]/path`) within `timeout`: good on a 2xx or 3xx status.
pub fn http(url: &str, timeout: Duration) -> Result<(), HvError> {
    let deadline = Instant::now() + timeout;
    let (authority, path) = split_url(url).map_err(HvError::Failed)?;
    let addr = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let mut s = connect(&addr, deadline)?;
    let left = |what: &str| {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| HvError::Timeout(format!("no answer in {} ({what})", human(timeout))))
    };
    s.set_write_timeout(Some(left("sending")?)).map_err(io)?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: 3rc\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(io)?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < 4096 {
        s.set_read_timeout(Some(left("reading")?)).map_err(io)?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(HvError::Timeout(format!("no answer in {}", human(timeout))))
            }
            Err(e) => return Err(io(e)),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("").trim();
    let status = line.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok());
    match status {
        Some(200..=399) => Ok(()),
        Some(_) => Err(HvError::Failed(line.split_once(' ').map_or(line, |(_, r)| r).to_string())),
        None if line.is_empty() => Err(HvError::Failed("closed without an answer".into())),
        None => Err(HvError::Failed(format!("not an HTTP answer ({line:.60})"))),
    }
}

/// `http://authority/path` into its authority and path (`/` when none).
pub fn split_url(url: &str) -> Result<(&str, &str), String> {
    let rest =
        url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// URLs can be checked (no TLS)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok((authority, path))
}

fn connect(addr: &str, deadline: Instant) -> Result<TcpStream, HvError> {
    let addrs: Vec<SocketAddr> =
        addr.to_socket_addrs().map_err(|e| HvError::Failed(format!("{addr}: cannot resolve ({e})")))?.collect();
    let mut last = HvError::Failed(format!("{addr} resolves to no address"));
    for a in addrs {
        let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
            break;
        };
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = HvError::Timeout("no answer to connect".into());
            }
            Err(e) => last = HvError::Failed(e.to_string()),
        }
    }
    Err(last)
}

fn io(e: std::io::Error) -> HvError {
    HvError::Failed(e.to_string())
}

fn human(d: Duration) -> String {
    threerc_core::time::human(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = [0u8; 1024];
            let n = s.read(&mut req).unwrap();
            s.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&req[..n]).to_string()
        });
        (addr, t)
    }

    #[test]
    fn tcp_connects_or_says_why_not() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tcp(&addr, Duration::from_secs(2)).unwrap();
        drop(l);
        let e = tcp(&addr, Duration::from_secs(2)).unwrap_err().to_string();
        assert!(e.to_lowercase().contains("connection refused"), "{e}");
    }

    #[test]
    fn http_good_on_2xx_and_3xx_bad_otherwise() {
        let (addr, t) = serve("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        http(&format!("http://{addr}/health"), Duration::from_secs(2)).unwrap();
        let req = t.join().unwrap();
        assert!(req.starts_with("GET /health HTTP/1.1\r\n") && req.contains(&format!("Host: {addr}")), "{req}");
        let (addr, _t) = serve("HTTP/1.0 302 Found\r\n\r\n");
        http(&format!("http://{addr}"), Duration::from_secs(2)).unwrap();
        let (addr, _t) = serve("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let e = http(&format!("http://{addr}/"), Duration::from_secs(2)).unwrap_err().to_string();
        assert_eq!(e, "503 Service Unavailable");
    }

    #[test]
    fn http_that_never_answers_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let e = http(&format!("http://{addr}/"), Duration::from_millis(300)).unwrap_err();
        assert!(matches!(&e, HvError::Timeout(m) if m.contains("no answer")), "{e:?}");
        drop(l);
    }

    #[test]
    fn only_plain_http_urls() {
        assert_eq!(split_url("http://10.0.0.5:8080/health"), Ok(("10.0.0.5:8080", "/health")));
        assert_eq!(split_url("http://web1"), Ok(("web1", "/")));
        assert!(split_url("https://web1/").unwrap_err().contains("only http://"));
        assert!(split_url("http:///x").unwrap_err().contains("no host"));
    }
}
