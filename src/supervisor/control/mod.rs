//! The control socket: how `3rc ctl`, `3rc p2v` and attached consoles (`3rc console`) reach a
//! running supervisor. A client's first line is a request
//! (`{"user": "alice", "words": ["restart", "web1"], "confirmed": "Answered"}`), answered by one
//! line (`{"ok": true}` or `{"ok": false, "error": "..."}`; `status` answers the cluster view);
//! `["attach"]` instead starts a console's session (`session.rs`, messages in `protocol.rs`).
//!
//! The supervisor decides who may do what, whatever the client is: the uid the kernel reports
//! for the connection maps to a role (`access.rs`, the config's `[access]`); a viewer's commands
//! are refused; a command that needs a person's consent (`core::consent`) and arrives without it
//! is refused; the consent given and the peer's uid are journaled with the command's origin.
//! A first line must come within [`protocol::REQUEST_TIMEOUT`] and no line may be longer than
//! [`protocol::REQUEST_LIMIT`].
//!
//! The socket is `state_dir/control.sock`, created with its final mode (0600, or 0666 when
//! `[access]` lets other users in) under a temporary name and renamed into place, so there is no
//! moment at which it is reachable with other permissions.

pub mod access;
pub mod client;
mod feed;
pub mod logs;
pub mod protocol;
mod session;

pub use client::{request, request_command};

use super::SupervisorHandle;
use crate::config::Access;
use crate::core::{Command, Confirmation};
use access::{Peer, Role};
use protocol::{read_line, Notice, REQUEST_LIMIT, REQUEST_TIMEOUT};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast;
use tracing::{info, warn};

#[derive(Serialize, Deserialize)]
pub struct Request {
    pub user: String,
    pub words: Vec<String>,
    /// A command the client resolved itself (`protect`, whose spec needs the config's
    /// defaults); `words` then only describe it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// How the person consented, for a command that needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<Confirmation>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<crate::core::ClusterView>,
    /// Accepted, with something the person must know (it is not kept across a restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl Reply {
    fn refused(why: impl Into<String>) -> Reply {
        Reply { ok: false, error: Some(why.into()), ..Reply::default() }
    }
}

/// A what-if over the supervisor's last probes ("host hv2 down"), answered with its report.
/// The application provides it (the simulator sits above the supervisor).
pub type WhatIf = Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send>> + Send + Sync>;

/// What the socket serves, and to whom.
pub struct Server {
    pub handle: SupervisorHandle,
    pub access: Access,
    /// The config the supervisor runs, for consoles' title lines.
    pub cluster: String,
    /// The supervisor's log, for consoles (`None`: consoles get no log lines).
    pub logs: Option<logs::LogFeed>,
    pub what_if: Option<WhatIf>,
    /// How long a client has to send its first line ([`REQUEST_TIMEOUT`]).
    pub request_timeout: std::time::Duration,
    /// Accepted commands, for every console but the one that gave it (by session number; 0
    /// for `3rc ctl`).
    notices: broadcast::Sender<(u64, Notice)>,
    sessions: std::sync::atomic::AtomicU64,
    /// The view's messages, made once for every console.
    feed: Arc<feed::Feed>,
}

impl Server {
    pub fn new(handle: SupervisorHandle, access: Access, cluster: String) -> Server {
        Server {
            feed: feed::Feed::new(handle.clone()),
            handle,
            access,
            cluster,
            logs: None,
            what_if: None,
            request_timeout: REQUEST_TIMEOUT,
            notices: broadcast::channel(256).0,
            sessions: Default::default(),
        }
    }

    /// A command from `peer`, with the consent given: checked (role, consent), journaled by
    /// the supervisor with its origin, logged (so every console's log shows it) and, once
    /// accepted, announced to the other consoles.
    async fn command(
        &self,
        peer: &Peer,
        origin: &str,
        session: u64,
        cmd: Command,
        confirmed: Confirmation,
    ) -> super::Answer {
        let shown = cmd.to_string();
        let origin = match confirmed.describe() {
            Some(how) => format!("{origin} ({how})"),
            None => origin.to_string(),
        };
        // Refused here, before the supervisor sees it: logged here. The supervisor logs its own
        // verdicts (a refusal, or the accepted command's line in the journal).
        let refused = if peer.role == Role::Viewer {
            Some(format!("{} is a viewer: viewers cannot change the cluster ([access] in {})", peer.name, self.cluster))
        } else if !confirmed.satisfies(&cmd.consent()) {
            Some(crate::core::consent::refusal(&cmd).unwrap_or_else(|| "not confirmed".into()))
        } else {
            None
        };
        let answer = match refused {
            Some(e) => {
                warn!(target: "3rc", "command {shown} by {origin} refused: {e}");
                Err(e)
            }
            None => self.handle.command(&origin, cmd).await,
        };
        if let Ok(warning) = &answer {
            let _ = self.notices.send((session, Notice { origin, command: shown, warning: warning.clone() }));
        }
        answer
    }
}

/// Listen on `path` and serve until the task is dropped.
pub async fn serve(path: &Path, server: Server) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = bind(path, server.access.opens_the_socket()).await?;
    info!(target: "3rc", "control socket {}", path.display());
    let server = Arc::new(server);
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let s = server.clone();
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, s).await {
                            warn!(target: "3rc", "control connection: {e}");
                        }
                    });
                }
                Err(e) => {
                    warn!(target: "3rc", "control socket: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        }
    }))
}

/// The socket at `path`, with its final mode from the start: bound under a temporary name in
/// the same folder, given its mode, then renamed into place.
async fn bind(path: &Path, open: bool) -> anyhow::Result<UnixListener> {
    use anyhow::Context;
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            anyhow::bail!("{} is in use: another 3rc supervises with this state_dir", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(".control.sock.{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let listener = UnixListener::bind(&temp).with_context(|| format!("listening on {}", temp.display()))?;
    let mode = if open { 0o666 } else { 0o600 };
    let placed = std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("protecting {}", temp.display()))
        .and_then(|_| std::fs::rename(&temp, path).with_context(|| format!("placing {}", path.display())));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    if open {
        let searchable = std::fs::metadata(dir).map(|m| m.permissions().mode() & 0o001 != 0).unwrap_or(false);
        if !searchable {
            warn!(
                target: "3rc",
                "[access] lets other users in, but {} is not searchable by them, so they cannot reach the socket: chmod o+x {}",
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(listener)
}

async fn answer(stream: UnixStream, server: Arc<Server>) -> std::io::Result<()> {
    let cred = stream.peer_cred()?;
    let (read, write) = stream.into_split();
    let mut read = BufReader::new(read);
    let line = match tokio::time::timeout(server.request_timeout, read_line(&mut read, REQUEST_LIMIT)).await {
        Err(_) => {
            let e = format!("no request within {}", crate::core::time::human(server.request_timeout));
            return send_reply(write, Reply::refused(e)).await;
        }
        Ok(Err(e)) => return send_reply(write, Reply::refused(format!("bad request: {e}"))).await,
        Ok(Ok(None)) => return Ok(()),
        Ok(Ok(Some(line))) => line,
    };
    // Who it is, from the kernel; decided before the request is looked at.
    let peer = match access::peer(&server.access, cred.uid(), cred.gid()) {
        Ok(p) => p,
        Err(e) => {
            warn!(target: "3rc", "control connection refused: {e}");
            return send_reply(write, Reply::refused(e)).await;
        }
    };
    let req = match serde_json::from_str::<Request>(&line) {
        Err(e) => return send_reply(write, Reply::refused(format!("bad request: {e}"))).await,
        Ok(req) => req,
    };
    let reply = match req.words.first().map(String::as_str) {
        Some("attach") => {
            session::run(read, write, server, peer, req.user).await;
            return Ok(());
        }
        Some("status") => {
            let view = server.handle.fresh_snapshot(std::time::Duration::from_secs(5)).await;
            Reply { ok: true, status: Some(view.as_ref().clone()), ..Reply::default() }
        }
        _ => {
            let words: Vec<&str> = req.words.iter().map(String::as_str).collect();
            let parsed = match req.command {
                Some(cmd) => Ok(cmd),
                None => Command::parse(&words),
            };
            match parsed {
                Err(e) => Reply::refused(e),
                Ok(cmd) => {
                    let confirmed = req.confirmed.unwrap_or(Confirmation::NotNeeded);
                    let origin = peer.origin("cli", &req.user);
                    match server.command(&peer, &origin, 0, cmd, confirmed).await {
                        Ok(warning) => Reply { ok: true, warning, ..Reply::default() },
                        Err(e) => Reply::refused(e),
                    }
                }
            }
        }
    };
    send_reply(write, reply).await
}

async fn send_reply(mut write: tokio::net::unix::OwnedWriteHalf, reply: Reply) -> std::io::Result<()> {
    let mut out = serde_json::to_string(&reply).unwrap_or_else(|_| "{\"ok\":false}".into());
    out.push('\n');
    write.write_all(out.as_bytes()).await
}
