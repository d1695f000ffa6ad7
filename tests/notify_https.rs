//! A webhook over HTTPS: the certificate is checked against the system's trust store (here a
//! test authority made by `openssl` and given in `SSL_CERT_FILE`, which the store honours): a
//! receiver whose certificate names its address gets the fenced host's alarm; the same receiver
//! reached by a name its certificate does not hold gets nothing, and the console shows that
//! target failing.
//!
//! `openssl` is installed by `.ci/deps`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[path = "support/test_hosts.rs"]
#[allow(dead_code)] // the host-file builders serve other test binaries
mod test_hosts;

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (.ci/deps installs it)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// In `dir`: a certificate authority (`ca.pem`, the trust store) and the receiver's
/// certificate from it for 127.0.0.1 and no name (`cert.pem`, `key.pem`).
fn certificates(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        dir,
        &[
            &["req", "-x509"],
            &ec[..],
            &["-days", "2", "-subj", "/CN=3rc test CA", "-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[&["req"], &ec[..], &["-subj", "/CN=3rc test receiver", "-keyout", "key.pem", "-out", "cert.csr"]].concat(),
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    let sign =
        ["x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2"];
    openssl(dir, &[&sign[..], &["-extfile", "ext.cnf", "-out", "cert.pem"]].concat());
}

/// An HTTPS receiver on a port of its own: each request's body, as JSON.
fn receiver(dir: &Path, got: Arc<Mutex<Vec<Value>>>) -> u16 {
    let certs = vec![CertificateDer::from_pem_file(dir.join("cert.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
    // ring, as ureq uses (its default provider is deprecated for lacking post-quantum key exchange).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            // A failed handshake (the client refused the certificate) ends this connection only.
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let request = loop {
                match tls.read(&mut chunk) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        break Some(body.to_string());
                    }
                }
            };
            if let Some(body) = request {
                got.lock().unwrap().push(serde_json::from_str(&body).unwrap_or(Value::Null));
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_webhook_is_delivered_only_to_a_certificate_that_names_it() {
    let tls = tempfile::tempdir().unwrap();
    certificates(tls.path());
    // The trust store 3RC reads (rustls-native-certs) takes this file instead of the system's.
    std::env::set_var("SSL_CERT_FILE", tls.path().join("ca.pem"));
    let got = Arc::new(Mutex::new(Vec::new()));
    let port = receiver(tls.path(), got.clone());

    let state = tempfile::tempdir().unwrap();
    let cfg = test_hosts::demo_config(
        state.path(),
        "200ms",
        &format!(
            "\n[[alert]]\nwebhook = \"https://127.0.0.1:{port}/hook\"\n\
             [[alert]]\nwebhook = \"https://localhost:{port}/hook\"\ntimeout = \"2s\"\n"
        ),
    );
    let (cluster, handle, stop) = test_hosts::run(&cfg);
    threerc::app::alerts(&cfg, &handle);
    test_hosts::until_steady(&handle).await;

    cluster.power_off("hv3").unwrap();
    let view = test_hosts::until(&handle, "the name the certificate lacks failing", |v| {
        v.alarms.iter().any(|a| a.kind == "fenced") && !v.deliveries.is_empty()
    })
    .await;
    assert_eq!(view.deliveries.len(), 1, "{:?}", view.deliveries);
    let failing = &view.deliveries[0];
    assert_eq!(failing.target, format!("webhook https://localhost:{port}/hook"));
    assert!(failing.error.to_lowercase().contains("certificate"), "{failing:?}");
    let seen = got.clone();
    tokio::task::spawn_blocking(move || {
        for _ in 0..200 {
            if seen.lock().unwrap().iter().any(|n| n["alarm"] == "fenced" && n["host"] == "hv3") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no alarm over HTTPS: {:?}", seen.lock().unwrap());
    })
    .await
    .unwrap();
    // (Two hosts left cannot absorb each other's VMs: the spare capacity alarm is delivered too.)
    let fenced = got.lock().unwrap().iter().filter(|n| n["alarm"] == "fenced").count();
    assert_eq!(fenced, 1, "one delivery, over the certificate that names 127.0.0.1");
    let _ = stop.send(());
}
