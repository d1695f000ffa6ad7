//! Events: the readable record of everything the core decided, and why.

use super::action::{ActionId, Decider, Outcome};
use super::state::{HostState, VmState};
use super::time::Time;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What an event is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Subject {
    Cluster,
    Host(String),
    Vm(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Cluster => f.write_str("cluster"),
            Subject::Host(h) => write!(f, "host {h}"),
            Subject::Vm(v) => write!(f, "vm {v}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    VmTransition {
        from: VmState,
        to: VmState,
    },
    HostTransition {
        from: HostState,
        to: HostState,
    },
    /// An action was decided; the supervisor journals it before running it.
    ActionDecided {
        id: ActionId,
        action: String,
        decided_by: Decider,
    },
    ActionFinished {
        id: ActionId,
        outcome: Outcome,
    },
    /// An operator command was accepted.
    Command {
        origin: String,
        command: String,
    },
    Alarm {
        id: u64,
        severity: Severity,
    },
    Note,
}

/// One line of the log: when, about what, what happened, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: Time,
    pub subject: Subject,
    pub kind: EventKind,
    pub reason: String,
}

impl fmt::Display for Event {
    /// The form used by logs and scenario files: `12.0s vm web1 Suspect -> Restarting: reason`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.at, self.subject)?;
        match &self.kind {
            EventKind::VmTransition { from, to } => write!(f, "{from} -> {to}")?,
            EventKind::HostTransition { from, to } => write!(f, "{from} -> {to}")?,
            EventKind::ActionDecided { id, action, decided_by } => write!(f, "action #{id} {action} ({decided_by})")?,
            EventKind::ActionFinished { id, outcome } => match outcome {
                Outcome::Done => write!(f, "action #{id} done")?,
                Outcome::Failed(e) | Outcome::StartFailed(e) => write!(f, "action #{id} failed: {e}")?,
                Outcome::Unsupported(e) => write!(f, "action #{id} not supported here: {e}")?,
            },
            EventKind::Command { origin, command } => write!(f, "command {command} by {origin}")?,
            EventKind::Alarm { id, severity } => write!(f, "ALARM #{id} {severity:?}")?,
            EventKind::Note => write!(f, "note")?,
        }
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}
