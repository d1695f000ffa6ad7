//! The control socket: how `3rc ctl` reaches a running supervisor. One JSON line in
//! (`{"user": "alice", "words": ["restart", "web1"], "confirmed": "Answered"}`), one JSON line
//! out (`{"ok": true}` or `{"ok": false, "error": "..."}`; `status` answers the cluster view).
//! A command that needs a person's consent (`core::consent`) and arrives without it is refused
//! here, whatever client sent it; the consent given is journaled with the command's origin.
//! The socket is `state_dir/control.sock`, mode 0600 (root's, as the supervisor is); the journal
//! records each command with the peer's uid as the kernel reports it, not only the name the
//! client claims.

use super::SupervisorHandle;
use crate::core::{Command, Confirmation};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
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

/// Listen on `path` and forward commands to the supervisor until the task is dropped.
pub async fn serve(path: &Path, handle: SupervisorHandle) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use anyhow::Context;
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            anyhow::bail!("{} is in use: another 3rc supervises with this state_dir", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    let listener = UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("protecting {}", path.display()))?;
    }
    info!(target: "3rc", "control socket {}", path.display());
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let h = handle.clone();
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, h).await {
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

async fn answer(stream: UnixStream, handle: SupervisorHandle) -> std::io::Result<()> {
    let uid = stream.peer_cred().map(|c| c.uid()).ok();
    let (read, write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Err(e) => Reply { ok: false, error: Some(format!("bad request: {e}")), ..Reply::default() },
        Ok(req) if req.words.first().map(String::as_str) == Some("status") => {
            let view = handle.fresh_snapshot(std::time::Duration::from_secs(5)).await;
            Reply { ok: true, status: Some(view.as_ref().clone()), ..Reply::default() }
        }
        Ok(req) => {
            let words: Vec<&str> = req.words.iter().map(String::as_str).collect();
            let parsed = match req.command {
                Some(cmd) => Ok(cmd),
                None => Command::parse(&words),
            };
            match parsed {
                Err(e) => Reply { ok: false, error: Some(e), ..Reply::default() },
                Ok(cmd) => {
                    let confirmed = req.confirmed.unwrap_or(Confirmation::NotNeeded);
                    let mut origin = match uid {
                        Some(uid) => format!("cli:{} (uid {uid})", req.user),
                        None => format!("cli:{}", req.user),
                    };
                    if !confirmed.satisfies(&cmd.consent()) {
                        let e = crate::core::consent::refusal(&cmd).unwrap_or_default();
                        warn!(target: "3rc", "command {cmd} by {origin} refused: {e}");
                        return send_reply(write, Reply { ok: false, error: Some(e), ..Reply::default() }).await;
                    }
                    if let Some(how) = confirmed.describe() {
                        origin = format!("{origin} ({how})");
                    }
                    match handle.command(&origin, cmd).await {
                        Ok(warning) => Reply { ok: true, warning, ..Reply::default() },
                        Err(e) => Reply { ok: false, error: Some(e), ..Reply::default() },
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

/// The client side, for `3rc ctl`: send one request (with the consent the person gave, if the
/// command needs one), return the reply.
pub async fn request(path: &Path, words: Vec<String>, confirmed: Option<Confirmation>) -> anyhow::Result<Reply> {
    send(Request { user: user(), words, command: None, confirmed }, path).await
}

/// Send a command the client resolved itself (`protect`).
pub async fn request_command(path: &Path, command: Command) -> anyhow::Result<Reply> {
    send(Request { user: user(), words: vec![command.to_string()], command: Some(command), confirmed: None }, path)
        .await
}

/// Who runs the client, as they say (the journal also records the uid the kernel reports).
fn user() -> String {
    std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "unknown".into())
}

async fn send(req: Request, path: &Path) -> anyhow::Result<Reply> {
    use anyhow::Context;
    let stream = UnixStream::connect(path).await.with_context(|| {
        format!("cannot reach the supervisor at {} (is `3rc run` running with this config?)", path.display())
    })?;
    let (read, mut write) = stream.into_split();
    let mut req = serde_json::to_string(&req)?;
    req.push('\n');
    write.write_all(req.as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    serde_json::from_str(&line).with_context(|| format!("bad reply from the supervisor: {line:?}"))
}
