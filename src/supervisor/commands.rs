//! Operators' commands in the loop: the engine's verdict, what the journal keeps of `protect`
//! and `unprotect`, and an answer sent only once the journal holds the command.

use super::{CommandRequest, Supervisor};
use crate::core::Command;
use tracing::warn;

impl Supervisor {
    pub(super) fn command(&mut self, mut req: CommandRequest) {
        let mark = self.journal.as_ref().map(|j| j.mark()).unwrap_or_default();
        // A standby, or a leader that has not taken over yet (the next cycle adopts what the
        // former leader decided), takes no command.
        let standby = self.leadership.get().filter(|l| !l.leads() || self.leading != Some(true)).map(|l| {
            let leader = l.leader().map_or("no leader is known now".to_string(), |n| format!("{n} leads"));
            format!("{} is a standby ({leader}): give the command to the leader", l.name())
        });
        // A standby hands it to the leader it knows.
        if standby.is_some() && self.forward(&mut req) {
            return;
        }
        let verdict = match standby
            .map_or_else(|| self.engine.command(self.clock.now(), &req.origin, &req.command), Err)
        {
            Ok(out) => {
                match &req.command {
                    Command::Protect { spec } => {
                        if let Some(j) = &self.journal {
                            j.protect(spec, &req.origin);
                        }
                    }
                    Command::Unprotect { vm } => {
                        if let Some(j) = &self.journal {
                            j.unprotect(vm);
                        }
                    }
                    _ => {}
                }
                self.apply(out);
                self.publish();
                // A disarm that waits for a fence under way says so to whoever gave it.
                let pending =
                    matches!(req.command, Command::Disarm { vm: None }).then(|| self.engine.disarm_pending()).flatten();
                Ok(pending.map(|p| format!("disarm pending: {p}")))
            }
            Err(e) => {
                warn!(target: "3rc", "command {} by {} refused: {e}", req.command, req.origin);
                Err(e)
            }
        };
        let sharing = self.take_sharing();
        let Some(reply) = req.reply else { return };
        // A leader of several: the decision is in etcd before the answer, or the answer says not.
        let verdict = match (sharing, verdict) {
            (Some(w), Ok(said)) => {
                let journal = self.journal.clone();
                let mark_sync = journal.as_ref().map(|j| j.synced(mark));
                tokio::spawn(async move {
                    let synced = match mark_sync {
                        Some(s) => s.await,
                        None => Ok(()),
                    };
                    let mut warnings: Vec<String> = said.into_iter().collect();
                    if let Err(e) = synced {
                        warnings.push(format!(
                            "in force now, but NOT kept across a restart of 3RC: the journal cannot write it ({e})"
                        ));
                    }
                    if let Err(e) = w.await {
                        warnings.push(format!("in force now, but {e}"));
                    }
                    let _ = reply.send(Ok((!warnings.is_empty()).then(|| warnings.join("; "))));
                });
                return;
            }
            (_, verdict) => verdict,
        };
        match (&self.journal, verdict.is_ok()) {
            // Acknowledged only once the command, its events and the intents of the actions it
            // started are on disk: a `kill -9` right after the answer loses none of them. A
            // journal that cannot write has raised its alarm; the command stands, and its
            // answer says that it is not kept.
            (Some(j), true) => {
                let synced = j.synced(mark);
                tokio::spawn(async move {
                    let answer = match (synced.await, verdict) {
                        (Ok(()), verdict) => verdict,
                        (Err(e), Ok(said)) => {
                            let lost = format!(
                                "in force now, but NOT kept across a restart of 3RC: the journal cannot write it ({e})"
                            );
                            Ok(Some(said.map_or(lost.clone(), |s| format!("{s}; {lost}"))))
                        }
                        (Err(_), refused) => refused,
                    };
                    let _ = reply.send(answer);
                });
            }
            _ => {
                let _ = reply.send(verdict);
            }
        }
    }
}
