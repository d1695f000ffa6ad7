//! The clients: one request and its reply (`3rc ctl`, `3rc p2v`), and a console's session
//! (`attach`: the hello, the whole view, then the stream of messages; see `protocol.rs`).

use super::protocol::{self, Hello, ToConsole, ToSupervisor};
use super::{Reply, Request};
use crate::core::{ClusterView, Command, Confirmation};
use anyhow::Context;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

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

/// Who runs the client, as they say: the person behind `sudo`, else the login's name (the
/// journal also records the uid the kernel reports; with neither, the supervisor names the uid's
/// user).
fn user() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_default()
}

async fn connect(path: &Path) -> anyhow::Result<UnixStream> {
    UnixStream::connect(path).await.with_context(|| {
        format!("cannot reach the supervisor at {} (is `3rc run` running with this config?)", path.display())
    })
}

async fn send(req: Request, path: &Path) -> anyhow::Result<Reply> {
    let stream = connect(path).await?;
    let (read, mut write) = stream.into_split();
    let mut req = serde_json::to_string(&req)?;
    req.push('\n');
    write.write_all(req.as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    serde_json::from_str(&line).with_context(|| format!("bad reply from the supervisor: {line:?}"))
}

/// The largest line a console reads: a whole view of a very large cluster.
const VIEW_LIMIT: usize = 1 << 30;

/// A console's session with the supervisor, once attached.
pub struct Attached {
    /// What the supervisor said first: the role it decided, and who it takes us to be.
    pub hello: Hello,
    /// The whole view, as it was when we attached.
    pub view: ClusterView,
    pub reader: SessionReader,
    pub writer: SessionWriter,
}

/// The supervisor's side of a session, and how many bytes it has sent so far.
pub struct SessionReader(BufReader<OwnedReadHalf>, u64);

pub struct SessionWriter(OwnedWriteHalf);

/// Attach to the supervisor listening at `path`: its hello, then its whole view.
pub async fn attach(path: &Path) -> anyhow::Result<Attached> {
    attach_over(connect(path).await?).await
}

/// Attach over a connection already made.
pub async fn attach_over(stream: UnixStream) -> anyhow::Result<Attached> {
    let (read, mut write) = stream.into_split();
    let req = Request { user: user(), words: vec!["attach".into()], command: None, confirmed: None };
    write.write_all(&protocol::line(&req)).await?;
    let mut reader = SessionReader(BufReader::new(read), 0);
    let hello = match reader.next_line().await? {
        Some(line) => match serde_json::from_str::<ToConsole>(&line) {
            Ok(ToConsole::Hello(h)) => h,
            _ => match serde_json::from_str::<Reply>(&line) {
                Ok(Reply { error: Some(e), .. }) => anyhow::bail!("the supervisor refused: {e}"),
                _ => anyhow::bail!("the supervisor's first answer is not a hello: {line:.200}"),
            },
        },
        None => anyhow::bail!("the supervisor closed the connection before saying hello"),
    };
    let view = match reader.next().await? {
        Some(ToConsole::Full(view)) => view,
        Some(other) => anyhow::bail!("the supervisor sent {other:?} where its whole view was due"),
        None => anyhow::bail!("the supervisor closed the connection before sending its view"),
    };
    Ok(Attached { hello, view, reader, writer: SessionWriter(write) })
}

impl SessionReader {
    async fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        let line = protocol::read_line(&mut self.0, VIEW_LIMIT).await?;
        self.1 += line.as_ref().map_or(0, |l| l.len() as u64 + 1);
        Ok(line)
    }

    /// The bytes read from the supervisor so far (the hello and the whole view included).
    pub fn bytes(&self) -> u64 {
        self.1
    }

    /// The next message; `None` when the supervisor closed the connection.
    pub async fn next(&mut self) -> anyhow::Result<Option<ToConsole>> {
        match self.next_line().await? {
            None => Ok(None),
            Some(line) => {
                let msg = serde_json::from_str(&line).with_context(|| format!("a bad message: {line:.200}"))?;
                Ok(Some(msg))
            }
        }
    }
}

impl SessionWriter {
    pub async fn send(&mut self, msg: &ToSupervisor) -> anyhow::Result<()> {
        self.0.write_all(&protocol::line(msg)).await?;
        Ok(())
    }
}
