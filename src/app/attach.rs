//! `3rc console`: the console attached to a supervisor running elsewhere (`3rc run --headless`,
//! the service), through its socket. The supervisor goes on whatever happens to the console:
//! closing it, or losing the SSH session it runs in, stops nothing.
//!
//! The link keeps the console's copy of the view (the whole view once, then deltas), shows the
//! supervisor's log lines in the log pane, forwards the console's requests and brings their
//! answers back. When the supervisor goes away the console says so in its title line, answers
//! requests with "not connected", and attaches again by itself (every 0.5 s at first, then
//! up to every 5 s); the view it gets then is whole again.

use super::console::{Commander, ConsoleSetup};
use crate::core::{ClusterView, Command};
use crate::supervisor::control::client::{self, Attached};
use crate::supervisor::control::protocol::{ToConsole, ToSupervisor};
use crate::supervisor::Answer;
use crate::ui::{self, UiFeedback, UiOptions, UiRequest};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

/// The first wait before attaching again, doubled up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Attach to the supervisor at `socket` and run the console until the person quits.
pub async fn run(socket: PathBuf, mut setup: ConsoleSetup) -> anyhow::Result<()> {
    let first = client::attach(&socket).await?;
    let viewer = first.hello.role == crate::supervisor::control::access::Role::Viewer;
    setup.config.readonly |= viewer;
    if viewer {
        // A viewer cannot protect what it would convert.
        setup.p2v = None;
    }
    let keymap = super::console::keymap(&setup.config, false).map_err(|e| e.context(setup.source.clone()))?;
    info!(target: "3rc::console", "attached to the supervisor at {} as {}, {}", socket.display(), first.hello.origin, first.hello.role);
    let (views, view_rx) = watch::channel(Arc::new(first.view.clone()));
    let (req_tx, req_rx) = mpsc::unbounded_channel::<UiRequest>();
    let (fb_tx, fb_rx) = mpsc::unbounded_channel::<UiFeedback>();
    let link = Link { socket, views, feedback: fb_tx, p2v: setup.p2v.clone() };
    let linked = tokio::spawn(link.run(first, req_rx));
    let opts = UiOptions {
        theme: setup.theme,
        title: setup.title,
        injector: None,
        keymap,
        readonly: setup.config.readonly,
        bell: setup.config.bell,
        feedback: Some(fb_rx),
        p2v: setup.p2v.as_ref().map(|d| crate::p2v::wizard::Wizard::new(d.config().clone())),
    };
    let result = ui::run(opts, view_rx, req_tx).await;
    linked.abort();
    result
}

/// What a request waits for, by its number.
enum Pending {
    /// A command from the console's keys: its verdict becomes a flash.
    Verdict(String),
    /// A command from the P2V wizard: its verdict goes back to the wizard's run.
    Reply(oneshot::Sender<Answer>),
    DomainXml(String),
    WhatIf(String),
}

struct Link {
    socket: PathBuf,
    views: watch::Sender<Arc<ClusterView>>,
    feedback: mpsc::UnboundedSender<UiFeedback>,
    p2v: Option<super::console::P2vDriver>,
}

impl Link {
    /// Serve the console until it ends: each session until it breaks, then attach again.
    async fn run(self, first: Attached, mut requests: mpsc::UnboundedReceiver<UiRequest>) {
        let (commands_tx, mut commands) = mpsc::unbounded_channel();
        let commander = Commander::Remote(commands_tx);
        let mut session = Some(first);
        loop {
            let why = match session.take() {
                Some(s) => match self.session(s, &mut requests, &mut commands, &commander).await {
                    Some(why) => why,
                    None => return,
                },
                None => "not attached".to_string(),
            };
            warn!(target: "3rc::console", "lost the supervisor at {}: {why}; attaching again", self.socket.display());
            let _ = self.feedback.send(UiFeedback::Link(Some(why)));
            match self.reattach(&mut requests, &mut commands, &commander).await {
                Some(s) => {
                    info!(target: "3rc::console", "attached again to the supervisor at {}", self.socket.display());
                    let _ = self.feedback.send(UiFeedback::Link(None));
                    session = Some(s);
                }
                None => return,
            }
        }
    }

    /// One session: until it breaks (`Some(why)`) or the console ends (`None`).
    async fn session(
        &self,
        attached: Attached,
        requests: &mut mpsc::UnboundedReceiver<UiRequest>,
        commands: &mut mpsc::UnboundedReceiver<(Command, oneshot::Sender<Answer>)>,
        commander: &Commander,
    ) -> Option<String> {
        let Attached { mut view, mut reader, mut writer, .. } = attached;
        self.views.send_replace(Arc::new(view.clone()));
        let mut pending: HashMap<u64, Pending> = HashMap::new();
        let mut next_id = 0u64;
        let why = loop {
            let out: Option<(ToSupervisor, Pending)> = tokio::select! {
                msg = reader.next() => match msg {
                    Ok(Some(msg)) => match self.received(msg, &mut view, &mut pending) {
                        Ok(()) => None,
                        Err(why) => break why,
                    },
                    Ok(None) => break "the supervisor closed the connection".to_string(),
                    Err(e) => break format!("{e:#}"),
                },
                req = requests.recv() => match req {
                    None => return None,
                    Some(req) => {
                        next_id += 1;
                        self.request(req, next_id, commander)
                    }
                },
                Some((command, reply)) = commands.recv() => {
                    next_id += 1;
                    let confirmed = crate::core::Confirmation::NotNeeded;
                    Some((ToSupervisor::Command { id: next_id, command, confirmed }, Pending::Reply(reply)))
                }
            };
            if let Some((msg, wait)) = out {
                if let Err(e) = writer.send(&msg).await {
                    self.unanswered(wait, "the request was not sent");
                    break format!("{e:#}");
                }
                let id = match msg {
                    ToSupervisor::Command { id, .. }
                    | ToSupervisor::DomainXml { id, .. }
                    | ToSupervisor::WhatIf { id, .. } => id,
                };
                pending.insert(id, wait);
            }
        };
        for (_, wait) in pending.drain() {
            self.unanswered(
                wait,
                "the connection to the supervisor was lost before its answer: it may have been carried out (see the log)",
            );
        }
        Some(why)
    }

    /// A message from the supervisor. An error means the session is out of step.
    fn received(
        &self,
        msg: ToConsole,
        view: &mut ClusterView,
        pending: &mut HashMap<u64, Pending>,
    ) -> Result<(), String> {
        match msg {
            ToConsole::Hello(_) => {}
            ToConsole::Full(v) => {
                *view = v;
                self.views.send_replace(Arc::new(view.clone()));
            }
            ToConsole::Delta(d) => {
                d.apply(view).map_err(|e| format!("out of step with the supervisor: {e}"))?;
                self.views.send_replace(Arc::new(view.clone()));
            }
            ToConsole::Log(l) => ui::show_log_line(&l.level, &l.target, &l.text),
            ToConsole::LogsDropped(n) => ui::show_log_line(
                "WARN",
                "3rc::console",
                &format!("{n} lines of the supervisor's log were not shown: this console read them too slowly"),
            ),
            ToConsole::Notice(n) => {
                let _ =
                    self.feedback.send(UiFeedback::Notice { origin: n.origin, command: n.command, warning: n.warning });
            }
            ToConsole::Verdict { id, answer } => match pending.remove(&id) {
                Some(Pending::Reply(reply)) => {
                    let _ = reply.send(answer);
                }
                Some(Pending::Verdict(command)) => {
                    let (refused, warning) = match answer {
                        Ok(w) => (None, w),
                        Err(e) => (Some(e), None),
                    };
                    let _ = self.feedback.send(UiFeedback::Verdict { command, refused, warning });
                }
                _ => {}
            },
            ToConsole::DomainXml { id, xml } => {
                if let Some(Pending::DomainXml(vm)) = pending.remove(&id) {
                    let _ = self.feedback.send(UiFeedback::DomainXml { vm, xml });
                }
            }
            ToConsole::WhatIf { id, answer } => {
                if let Some(Pending::WhatIf(question)) = pending.remove(&id) {
                    let _ = self.feedback.send(UiFeedback::WhatIf { question, answer });
                }
            }
        }
        Ok(())
    }

    /// A request from the console: what to send, and what its answer is for. The P2V wizard's
    /// effects run here, in the console's process, as `3rc p2v` does.
    fn request(&self, req: UiRequest, id: u64, commander: &Commander) -> Option<(ToSupervisor, Pending)> {
        match req {
            UiRequest::Command { command, confirmed } => {
                let shown = command.to_string();
                Some((ToSupervisor::Command { id, command, confirmed }, Pending::Verdict(shown)))
            }
            UiRequest::DomainXml { vm } => {
                Some((ToSupervisor::DomainXml { id, vm: vm.clone() }, Pending::DomainXml(vm)))
            }
            UiRequest::WhatIf { question } => {
                Some((ToSupervisor::WhatIf { id, question: question.clone() }, Pending::WhatIf(question)))
            }
            UiRequest::P2v(effect) => {
                match &self.p2v {
                    Some(d) => d.effect(effect, commander, &self.feedback),
                    None => warn!(target: "3rc::console", "P2V is not available in this console"),
                }
                None
            }
            UiRequest::ToggleFaultInjector => None,
        }
    }

    /// Answer a request that will get no answer from the supervisor.
    fn unanswered(&self, wait: Pending, why: &str) {
        match wait {
            Pending::Reply(reply) => {
                let _ = reply.send(Err(why.to_string()));
            }
            Pending::Verdict(command) => {
                let _ =
                    self.feedback.send(UiFeedback::Verdict { command, refused: Some(why.to_string()), warning: None });
            }
            Pending::DomainXml(vm) => {
                let _ = self.feedback.send(UiFeedback::DomainXml { vm, xml: None });
            }
            Pending::WhatIf(question) => {
                let _ = self.feedback.send(UiFeedback::WhatIf { question, answer: Err(why.to_string()) });
            }
        }
    }

    /// Attach again, waiting longer after each failure; requests meanwhile are answered "not
    /// connected". `None` when the console ended.
    async fn reattach(
        &self,
        requests: &mut mpsc::UnboundedReceiver<UiRequest>,
        commands: &mut mpsc::UnboundedReceiver<(Command, oneshot::Sender<Answer>)>,
        commander: &Commander,
    ) -> Option<Attached> {
        let mut wait = RETRY_FIRST;
        let mut last: Option<String> = None;
        loop {
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    req = requests.recv() => {
                        let req = req?;
                        if let Some((_, pending)) = self.request(req, 0, commander) {
                            self.unanswered(pending, "not connected to the supervisor (the console attaches again by itself)");
                        }
                    }
                    Some((_, reply)) = commands.recv() => {
                        let _ = reply.send(Err("not connected to the supervisor".into()));
                    }
                }
            }
            match client::attach(&self.socket).await {
                Ok(s) => return Some(s),
                Err(e) => {
                    // Said once per reason, not at every try.
                    let why = format!("{e:#}");
                    if last.as_deref() != Some(why.as_str()) {
                        warn!(target: "3rc::console", "attaching again: {why}");
                        let _ = self.feedback.send(UiFeedback::Link(Some(why.clone())));
                        last = Some(why);
                    }
                    wait = (wait * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

/// The socket of the supervisor a config describes.
pub fn socket_of(config: &crate::config::Config) -> anyhow::Result<PathBuf> {
    match &config.state_dir {
        Some(dir) => Ok(dir.join("control.sock")),
        None => anyhow::bail!(
            "{}: no state_dir, so no supervisor socket to attach to: set state_dir (and run the supervisor with it)",
            config.path.display()
        ),
    }
}

/// The console's own log file when none is given: in the user's state folder
/// (`$XDG_STATE_HOME/3rc`, else `~/.local/state/3rc`), else the temporary folder.
pub fn default_log() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")));
    match state {
        Some(dir) => dir.join("3rc").join("console.log"),
        None => std::env::temp_dir().join("3rc-console.log"),
    }
}
