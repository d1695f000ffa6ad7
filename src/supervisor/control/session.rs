//! A console's session, on the supervisor's side: the hello with the role decided for the
//! connection, the whole view once, then for each new snapshot only what changed
//! (`core::ViewDelta`; the whole view again when its rows changed), the supervisor's log lines,
//! other people's accepted commands, and the answers to the console's requests.
//!
//! The view's messages come from the shared `feed.rs` (each snapshot diffed and serialized once
//! for every console); a console that reads too slowly for the frames kept gets the whole view
//! again, and never slows the supervision loop. Its log lines come from a bounded broadcast;
//! what it misses is counted and said.

use super::access::Peer;
use super::feed::Frame;
use super::protocol::{self, FullRef, Hello, ToConsole, ToSupervisor, REQUEST_LIMIT};
use super::Server;
use crate::core::ClusterView;
use std::sync::Arc;
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
    let (out, outbox) = mpsc::channel::<Frame>(OUTBOX);
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
    let mut logs = server.logs.as_ref().map(|l| l.subscribe());
    let mut notices = server.notices.subscribe();
    let (view, mut frames) = server.feed.join().await;
    info!(target: "3rc", "console attached: {origin}, {}", peer.role);
    let first = out.send(own(&ToConsole::Hello(hello))).await.is_ok() && out.send(full(view).await).await.is_ok();
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<ToConsole>();
    let why = if !first {
        "the console went before its view".to_string()
    } else {
        loop {
            let msg: Option<Frame> = tokio::select! {
                frame = frames.recv() => match frame {
                Ok(f) => Some(f),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too far behind for the frames kept: the whole view again, then frames.
                    let (view, rx) = server.feed.join().await;
                    frames = rx;
                    Some(full(view).await)
                }
                Err(broadcast::error::RecvError::Closed) => break "the supervisor stopped".to_string(),
            },
            line = recv_log(&mut logs) => match line {
                    Ok(l) => Some(own(&ToConsole::Log(l))),
                    Err(broadcast::error::RecvError::Lagged(n)) => Some(own(&ToConsole::LogsDropped(n))),
                    Err(broadcast::error::RecvError::Closed) => {
                        logs = None;
                        None
                    }
                },
                notice = notices.recv() => match notice {
                    Ok((from, n)) if from != session => Some(own(&ToConsole::Notice(n))),
                    _ => None,
                },
                Some(answer) = answers.recv() => Some(own(&answer)),
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
async fn full(view: Arc<ClusterView>) -> Frame {
    Arc::new(tokio::task::spawn_blocking(move || protocol::line(&FullRef::Full(&view))).await.unwrap_or_default())
}

/// A message for this console alone.
fn own(msg: &ToConsole) -> Frame {
    Arc::new(protocol::line(msg))
}

async fn write_out(mut write: OwnedWriteHalf, mut outbox: mpsc::Receiver<Frame>) {
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
