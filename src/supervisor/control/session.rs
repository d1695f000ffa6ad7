//! A console's session, on the supervisor's side: the hello with the role decided for the
//! connection, the whole view once, then for each new snapshot only what changed
//! (`core::ViewDelta`; the whole view again when its rows changed), the supervisor's log lines,
//! other people's accepted commands, and the answers to the console's requests.
//!
//! Each session follows the snapshots on its own `watch` receiver: a console that reads slowly
//! skips snapshots instead of queueing them, and never slows the supervision loop. Its log lines
//! come from a bounded broadcast; what it misses is counted and said.

use super::access::Peer;
use super::protocol::{self, FullRef, Hello, ToConsole, ToSupervisor, REQUEST_LIMIT};
use super::Server;
use crate::core::{ClusterView, ViewDelta};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, mpsc};
use tracing::{info, warn};

/// Messages waiting for a slow console before the session waits for it.
const OUTBOX: usize = 64;

pub(super) async fn run(
    mut read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
    server: Arc<Server>,
    peer: Peer,
    claimed: String,
) {
    let session = server.sessions.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let origin = peer.origin("console", &claimed);
    let (out, outbox) = mpsc::channel::<Vec<u8>>(OUTBOX);
    let writer = tokio::spawn(write_out(write, outbox));
    // The console's requests, read on their own task (a line half-read is never lost to a
    // `select!` that picked another branch).
    let (req_tx, mut requests) = mpsc::channel::<std::io::Result<Option<String>>>(8);
    let reader = tokio::spawn(async move {
        loop {
            let line = protocol::read_line(&mut read, REQUEST_LIMIT).await;
            let end = !matches!(line, Ok(Some(_)));
            if req_tx.send(line).await.is_err() || end {
                break;
            }
        }
    });
    let hello = Hello {
        role: peer.role,
        origin: origin.clone(),
        cluster: server.cluster.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let mut snapshots = server.handle.snapshots();
    let mut logs = server.logs.as_ref().map(|l| l.subscribe());
    let mut notices = server.notices.subscribe();
    let mut last = server.handle.snapshot_now(Duration::from_secs(5)).await;
    snapshots.borrow_and_update();
    info!(target: "3rc", "console attached: {origin}, {}", peer.role);
    let first = out.send(protocol::line(&ToConsole::Hello(hello))).await.is_ok()
        && out.send(full(last.clone()).await).await.is_ok();
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<ToConsole>();
    let why = if !first {
        "the console went before its view".to_string()
    } else {
        loop {
            let msg: Option<Vec<u8>> = tokio::select! {
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        break "the supervisor stopped".to_string();
                    }
                    let new = snapshots.borrow_and_update().clone();
                    if Arc::ptr_eq(&new, &last) {
                        None
                    } else {
                        let msg = match ViewDelta::between(&last, &new) {
                            Some(d) => protocol::line(&ToConsole::Delta(d)),
                            None => full(new.clone()).await,
                        };
                        last = new;
                        Some(msg)
                    }
                }
                line = recv_log(&mut logs) => match line {
                    Ok(l) => Some(protocol::line(&ToConsole::Log(l))),
                    Err(broadcast::error::RecvError::Lagged(n)) => Some(protocol::line(&ToConsole::LogsDropped(n))),
                    Err(broadcast::error::RecvError::Closed) => {
                        logs = None;
                        None
                    }
                },
                notice = notices.recv() => match notice {
                    Ok((from, n)) if from != session => Some(protocol::line(&ToConsole::Notice(n))),
                    _ => None,
                },
                Some(answer) = answers.recv() => Some(protocol::line(&answer)),
                request = requests.recv() => match request {
                    Some(Ok(Some(line))) => {
                        match serde_json::from_str::<ToSupervisor>(&line) {
                            Ok(req) => request_of(req, &server, &peer, &origin, session, &answers_tx),
                            Err(e) => break format!("a bad request: {e}"),
                        }
                        None
                    }
                    Some(Err(e)) => break format!("a bad request: {e}"),
                    Some(Ok(None)) | None => break "the console closed the connection".to_string(),
                },
            };
            if let Some(m) = msg {
                if out.send(m).await.is_err() {
                    break "the connection to the console broke".to_string();
                }
            }
        }
    };
    reader.abort();
    drop(out);
    let _ = writer.await;
    info!(target: "3rc", "console detached: {origin} ({why})");
}

/// The whole view as a line, serialized off the runtime's threads (megabytes at scale).
async fn full(view: Arc<ClusterView>) -> Vec<u8> {
    tokio::task::spawn_blocking(move || protocol::line(&FullRef::Full(&view))).await.unwrap_or_default()
}

async fn write_out(mut write: OwnedWriteHalf, mut outbox: mpsc::Receiver<Vec<u8>>) {
    while let Some(line) = outbox.recv().await {
        if write.write_all(&line).await.is_err() {
            break;
        }
    }
    let _ = write.shutdown().await;
}

async fn recv_log(
    logs: &mut Option<broadcast::Receiver<protocol::LogLine>>,
) -> Result<protocol::LogLine, broadcast::error::RecvError> {
    match logs {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Answer one request on its own task; the answer comes back through `answers`.
fn request_of(
    req: ToSupervisor,
    server: &Arc<Server>,
    peer: &Peer,
    origin: &str,
    session: u64,
    answers: &mpsc::UnboundedSender<ToConsole>,
) {
    let (server, peer, origin, answers) = (server.clone(), peer.clone(), origin.to_string(), answers.clone());
    tokio::spawn(async move {
        let answer = match req {
            ToSupervisor::Command { id, command, confirmed } => {
                let answer = server.command(&peer, &origin, session, command, confirmed).await;
                ToConsole::Verdict { id, answer }
            }
            ToSupervisor::DomainXml { id, vm } => ToConsole::DomainXml { id, xml: server.handle.domain_xml(&vm) },
            ToSupervisor::WhatIf { id, question } => {
                let answer = match &server.what_if {
                    Some(w) => w(question.clone()).await,
                    None => Err("what-if is not available from this supervisor".into()),
                };
                if let Err(e) = &answer {
                    warn!(target: "3rc", "what if {question} (by {origin}): {e}");
                }
                ToConsole::WhatIf { id, answer }
            }
        };
        let _ = answers.send(answer);
    });
}
