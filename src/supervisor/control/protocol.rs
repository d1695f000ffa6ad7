//! What travels on the supervisor's socket once a console has attached: JSON lines both ways.
//!
//! The console sends `{"attach": ...}`-style requests after its first line
//! (`{"user": "alice", "words": ["attach"]}`); the supervisor answers with a `hello` (the role
//! it decided for the connection), the whole view once, then `delta`s, the supervisor's log
//! lines, other people's commands (`notice`) and the answers to the console's own requests.
//! Every line the supervisor reads is at most [`REQUEST_LIMIT`] bytes.

use super::access::Role;
use crate::core::{ClusterView, Command, Confirmation, ViewDelta};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest line the supervisor reads (a `protect` with its whole spec is a few KiB).
pub const REQUEST_LIMIT: usize = 1 << 20;

/// How long a client has to send its first line.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A request from an attached console; `id` comes back with the answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToSupervisor {
    Command { id: u64, command: Command, confirmed: Confirmation },
    DomainXml { id: u64, vm: String },
    WhatIf { id: u64, question: String },
}

/// What the supervisor sends an attached console.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToConsole {
    Hello(Hello),
    /// The whole view: after `hello`, and whenever the rows changed (a VM protected).
    Full(ClusterView),
    /// What changed since the last view sent.
    Delta(ViewDelta),
    Log(LogLine),
    /// Log lines this console missed because it read too slowly.
    LogsDropped(u64),
    /// The verdict on this console's command: refused (why), or accepted (with a warning).
    Verdict {
        id: u64,
        answer: Result<Option<String>, String>,
    },
    DomainXml {
        id: u64,
        xml: Option<String>,
    },
    WhatIf {
        id: u64,
        answer: Result<String, String>,
    },
    /// A command someone else gave, accepted.
    Notice(Notice),
}

/// The borrowed form of `ToConsole::Full`, to send a view without copying it.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FullRef<'a> {
    Full(&'a ClusterView),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// What the supervisor decided this connection may do.
    pub role: Role,
    /// Who the supervisor takes the console's user to be (`console:alice (uid 1000)`).
    pub origin: String,
    /// The config the supervisor runs.
    pub cluster: String,
    /// The supervisor's version.
    pub version: String,
}

/// One line of the supervisor's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    pub target: String,
    pub text: String,
}

/// Someone's command, accepted, for every other console's flash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub origin: String,
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// One message as a line.
pub fn line(msg: &impl Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec(msg).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}").into_bytes());
    out.push(b'\n');
    out
}

/// Read one line of at most `limit` bytes, without its newline; `None` at the end of the
/// stream. A longer line is an error, and the connection is not read further.
pub async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, limit: usize) -> std::io::Result<Option<String>> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return match buf.is_empty() {
                true => Ok(None),
                false => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the line has no end")),
            };
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        buf.extend_from_slice(&chunk[..take]);
        r.consume(take);
        if buf.len() > limit + 1 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a request longer than {limit} bytes"),
            ));
        }
        if done {
            buf.pop();
            return String::from_utf8(buf)
                .map(Some)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "a request that is not UTF-8"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_read_up_to_the_limit() {
        let mut r = tokio::io::BufReader::with_capacity(4, &b"one\ntwo\nthree"[..]);
        assert_eq!(read_line(&mut r, 16).await.unwrap().as_deref(), Some("one"));
        assert_eq!(read_line(&mut r, 16).await.unwrap().as_deref(), Some("two"));
        let e = read_line(&mut r, 16).await.unwrap_err();
        assert!(e.to_string().contains("no end"), "{e}");
        let long = [b'x'; 100];
        let e = read_line(&mut tokio::io::BufReader::new(&long[..]), 16).await.unwrap_err();
        assert_eq!(e.to_string(), "a request longer than 16 bytes");
        assert_eq!(read_line(&mut tokio::io::BufReader::new(&b""[..]), 16).await.unwrap(), None);
    }

    #[test]
    fn a_borrowed_view_reads_back_as_a_full_view() {
        let view = ClusterView { armed: true, ..Default::default() };
        let text = line(&FullRef::Full(&view));
        let back: ToConsole = serde_json::from_slice(&text).unwrap();
        assert_eq!(back, ToConsole::Full(view));
    }
}
