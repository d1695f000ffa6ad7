//! The console: a ratatui terminal UI for the on-call engineer.
//!
//! Architecture invariant: the UI never calls the backend or the engine. It renders
//! `Arc<ClusterView>` snapshots received on a `watch` channel and sends [`UiRequest`]s on an
//! `mpsc` channel; that is its whole interface with the rest of 3RC.
//!
//! Code map:
//! - `app`: the state and its update (keys and snapshots in, requests out); pure and tested.
//! - `selection`: table selections that follow a row's name across snapshot refreshes.
//! - `keymap`: the one table of keys, actions and descriptions (handler and hints read it).
//! - `flash`: self-clearing status messages.
//! - `views/`: rendering, one file per screen region.
//! - `theme`: colours from `themes/*.toml`.
//! - `terminal`: raw mode, alternate screen, panic-safe restore, input thread.
//! - `event_loop`: [`run`], wiring the above together.
//! - `logging`: [`init_logging`], tracing into the log pane and a file.

mod app;
mod event_loop;
mod flash;
mod keymap;
mod logging;
mod selection;
mod terminal;
mod theme;
mod views;

#[cfg(test)]
mod fixture;

pub use event_loop::run;
pub use logging::init_logging;
pub use theme::Theme;

/// What the console asks of the rest of 3RC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UiRequest {
    /// An operator command for the supervisor.
    Command(crate::core::Command),
    /// Turn the demo's fault injector on or off.
    ToggleFaultInjector,
}

impl std::fmt::Display for UiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UiRequest::Command(c) => write!(f, "{c}"),
            UiRequest::ToggleFaultInjector => f.write_str("toggle the fault injector"),
        }
    }
}

/// How the app shell configures the console.
#[derive(Clone, Debug)]
pub struct UiOptions {
    pub theme: Theme,
    /// Shown at the left of the title line, e.g. "3RC demo".
    pub title: String,
    /// The demo fault injector's state (on/off); `None` outside the demo, which also removes
    /// its key from the keymap.
    pub injector: Option<tokio::sync::watch::Receiver<bool>>,
}
