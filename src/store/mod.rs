//! The journal: every event (transitions, actions decided with who decided them, outcomes,
//! operator commands, alarms) appended as one JSON line, by a writer thread so the loop never
//! blocks on the disk. A write failure raises an error in the log once and supervision goes on.

use crate::core::Event;
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Serialize)]
struct Line<'a> {
    /// Wall-clock time, seconds since the Unix epoch.
    wall: f64,
    #[serde(flatten)]
    event: &'a Event,
    text: String,
}

/// Append-only journal file. Dropping it flushes and closes the file.
pub struct Journal {
    tx: Option<mpsc::Sender<Event>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Journal {
    pub fn open(path: &Path) -> anyhow::Result<Journal> {
        use anyhow::Context;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening journal {}", path.display()))?;
        let (tx, rx) = mpsc::channel::<Event>();
        let shown = path.display().to_string();
        let thread = std::thread::Builder::new().name("journal".into()).spawn(move || {
            let mut out = std::io::BufWriter::new(file);
            let mut failing = false;
            while let Ok(ev) = rx.recv() {
                let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
                let line = Line { wall, event: &ev, text: ev.to_string() };
                let res = serde_json::to_string(&line)
                    .map_err(std::io::Error::other)
                    .and_then(|l| writeln!(out, "{l}"))
                    .and_then(|_| out.flush());
                match res {
                    Err(e) if !failing => {
                        failing = true;
                        tracing::error!(target: "3rc::journal", "journal {shown} cannot be written: {e}; events are only in the log until it recovers");
                    }
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!(target: "3rc::journal", "journal {shown} writable again");
                    }
                    _ => {}
                }
            }
        })?;
        Ok(Journal { tx: Some(tx), thread: Some(thread) })
    }

    pub fn record(&self, ev: &Event) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(ev.clone());
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{EventKind, Subject, Time};

    #[test]
    fn events_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j/journal.jsonl");
        {
            let j = Journal::open(&path).unwrap();
            j.record(&Event {
                at: Time(1500),
                subject: Subject::Vm("web1".into()),
                kind: EventKind::Note,
                reason: "hello".into(),
            });
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(v["text"], "1.5s vm web1 note: hello");
        assert_eq!(v["subject"]["Vm"], "web1");
    }
}
