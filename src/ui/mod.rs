//! The console: a ratatui terminal UI for the on-call engineer.
//!
//! Architecture invariant: the UI never calls the backend or the engine. It renders
//! `Arc<ClusterView>` snapshots received on a `watch` channel and sends [`UiRequest`]s on an
//! `mpsc` channel; that is its whole interface with the rest of 3RC.
//!
//! Code map:
//! - `app`: the state and its update (keys and snapshots in, requests out); pure and tested.
//! - `selection`: table selections that follow a row's name across snapshot refreshes.
//! - `keymap`: the one table of keys, actions and descriptions (handler, hints and help read it).
//! - `confirm`: the one confirmation path of destructive commands.
//! - `picker`: the live-migration target picker.
//! - `command`: `:` command mode.
//! - `rows`: the `/` filter and the sort of the tables.
//! - `flash`: self-clearing status messages.
//! - `views/`: rendering, one file per screen region.
//! - `theme`: colours from `themes/*.toml`.
//! - `terminal`: raw mode, alternate screen, panic-safe restore, input thread.
//! - `event_loop`: [`run`], wiring the above together.
//! - `logging`: [`init_logging`], tracing into the log pane and a file.

mod app;
mod command;
mod confirm;
mod event_loop;
mod flash;
mod keymap;
mod keys;
mod logging;
mod picker;
mod rows;
mod selection;
mod terminal;
mod theme;
mod views;

#[cfg(test)]
pub(crate) mod fixture;

pub use app::Screen;
pub use confirm::Confirmation;
pub use event_loop::run;
pub use keymap::{Action, Context as KeymapContext, Keymap};
pub use logging::{init_logging, show_log_line};
pub use theme::Theme;

/// The console without a terminal or channels: keys in, requests out, frames drawn on any ratatui
/// backend. For benchmarks (a frame with 20,000 VMs) and tests that drive the real app against a
/// real supervisor.
pub struct Renderer {
    app: app::App,
    theme: Theme,
    log: tui_logger::TuiWidgetState,
}

impl Renderer {
    pub fn new(view: std::sync::Arc<crate::core::ClusterView>, theme: Theme) -> Renderer {
        Renderer { app: app::App::new("3RC", view, None), theme, log: tui_logger::TuiWidgetState::new() }
    }

    /// A new snapshot, as the supervisor sends them.
    pub fn set_view(&mut self, view: std::sync::Arc<crate::core::ClusterView>) {
        self.app.set_view(view);
    }

    /// Press keys: `"/web<enter>"`, `"G"`, `"<tab>"` (the names of the test key parser:
    /// `<tab> <up> <down> <pgup> <pgdown> <home> <end> <enter> <esc>`). Returns what the
    /// console would send to the supervisor.
    pub fn press(&mut self, seq: &str) -> anyhow::Result<Vec<UiRequest>> {
        let now = std::time::Instant::now();
        let keys = keys::parse(seq).map_err(anyhow::Error::msg)?;
        Ok(keys.into_iter().filter_map(|key| self.app.handle_key(key, now)).collect())
    }

    /// An answer from the app shell (a verdict, a domain XML).
    pub fn feedback(&mut self, fb: UiFeedback) {
        self.app.feedback(fb, std::time::Instant::now());
    }

    /// The flash message shown in the status bar, if any.
    pub fn flash(&self) -> Option<String> {
        self.app.flash().map(|f| f.text.clone())
    }

    pub fn draw(&mut self, frame: &mut ratatui::Frame) {
        views::draw(frame, &mut self.app, &self.theme, &self.log);
    }
}

/// What the console asks of the rest of 3RC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UiRequest {
    /// An operator command for the supervisor, with how it was confirmed (for the journal).
    Command { command: crate::core::Command, confirmed: Confirmation },
    /// Turn the demo's fault injector on or off.
    ToggleFaultInjector,
    /// The domain XML of a VM, for its detail view (answered with [`UiFeedback::DomainXml`]).
    DomainXml { vm: String },
    /// Simulate a fault on a copy of the cluster ("host hv2 down"): where would every VM go,
    /// and why (answered with [`UiFeedback::WhatIf`]). Changes nothing.
    WhatIf { question: String },
    /// What the P2V wizard needs done (answered with [`UiFeedback::P2v`]).
    P2v(crate::p2v::wizard::Effect),
}

/// The app shell's answers to the P2V wizard's effects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum P2vFeedback {
    /// The connection test's line and the inventory, or why not.
    Connected(Result<(String, crate::p2v::source::Inventory), String>),
    /// The target host's pools, networks and domains.
    Target(Result<crate::p2v::plan::TargetFacts, String>),
    /// A step of the run.
    Note(String),
    /// A progress line of the run.
    Progress(String),
    /// The run ended: its summary, or why it failed (saying what was removed).
    Finished(Result<Vec<String>, String>),
}

/// What the app shell tells the console back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UiFeedback {
    /// The supervisor's verdict on a command: `refused` says why it was not accepted;
    /// `warning`, what a person must know about an accepted one (it is not kept).
    Verdict {
        command: String,
        refused: Option<String>,
        warning: Option<String>,
    },
    /// The inventory's domain XML of a VM (`None`: not read yet).
    DomainXml {
        vm: String,
        xml: Option<String>,
    },
    /// The report of a what-if, or why there is none.
    WhatIf {
        question: String,
        answer: Result<String, String>,
    },
    P2v(P2vFeedback),
    /// Someone else's command, accepted by the supervisor (a console attached to it).
    Notice {
        origin: String,
        command: String,
        warning: Option<String>,
    },
    /// An attached console lost its supervisor (why; it reconnects by itself), or has it again
    /// (`None`).
    Link(Option<String>),
}

impl std::fmt::Display for UiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UiRequest::Command { command, confirmed } => match confirmed.describe() {
                Some(how) => write!(f, "{command} ({how})"),
                None => write!(f, "{command}"),
            },
            UiRequest::ToggleFaultInjector => f.write_str("toggle the fault injector"),
            UiRequest::DomainXml { vm } => write!(f, "domain XML of {vm}"),
            UiRequest::WhatIf { question } => write!(f, "what if {question}"),
            UiRequest::P2v(effect) => {
                use crate::p2v::wizard::Effect;
                match effect {
                    Effect::TestConnection(s) => write!(f, "p2v: test the connection to {}", s.describe()),
                    Effect::ReadTarget(h) => write!(f, "p2v: read host {h}"),
                    Effect::Run(p) => write!(f, "p2v: run {} onto {}", p.name, p.host),
                    Effect::CancelRun => f.write_str("p2v: cancel the run"),
                    Effect::Close => f.write_str("p2v: close"),
                }
            }
        }
    }
}

/// How the app shell configures the console.
#[derive(Debug)]
pub struct UiOptions {
    pub theme: Theme,
    /// Shown at the left of the title line, e.g. "3RC demo".
    pub title: String,
    /// The demo fault injector's state (on/off); `None` outside the demo, which also removes
    /// its key from the keymap.
    pub injector: Option<tokio::sync::watch::Receiver<bool>>,
    /// The session's keymap (remapped, read-only).
    pub keymap: Keymap,
    /// Read-only: dangerous actions are gone from the keys, the help and `:` commands.
    pub readonly: bool,
    /// Ring the terminal bell when a new alarm arrives.
    pub bell: bool,
    /// Verdicts and answers from the app shell.
    pub feedback: Option<tokio::sync::mpsc::UnboundedReceiver<UiFeedback>>,
    /// The P2V wizard as it opens, made from the cluster's config (`None`: the `p` key says
    /// P2V is not available).
    pub p2v: Option<crate::p2v::wizard::Wizard>,
}
