//! Logging: `tracing` events go to the console's log pane (tui-logger) and, when asked, to a
//! plain-text file. Nothing is written to stdout or stderr, which the console owns.

use anyhow::{anyhow, Context};
use std::sync::Mutex;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// The filter when `RUST_LOG` is not set.
const DEFAULT_FILTER: &str = "info";

/// Install the global `tracing` subscriber: filter from `RUST_LOG` (default `info`), the
/// tui-logger layer, a file layer appending to `log_file` (opened by the caller) when given,
/// and the caller's `extra` layer (the feed of attached consoles; `Identity` for none). Call
/// once.
pub fn init_logging<L>(log_file: Option<std::fs::File>, extra: L) -> anyhow::Result<()>
where
    L: Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    let filter = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(spec) => EnvFilter::try_new(&spec).with_context(|| format!("RUST_LOG={spec:?}: invalid log filter"))?,
        Err(_) => EnvFilter::new(DEFAULT_FILTER),
    };
    // Plain lines, no colour codes. Writes are small and the kernel buffers them; a
    // non-blocking writer would need a guard this signature cannot hand back.
    let file = log_file.map(|file| fmt::layer().with_ansi(false).with_writer(Mutex::new(file)).boxed());
    // The env filter decides; tui-logger keeps everything it is given.
    tui_logger::init_logger(tui_logger::LevelFilter::Trace).map_err(|e| anyhow!("cannot start tui-logger: {e}"))?;
    tracing_subscriber::registry()
        .with(extra)
        .with(filter)
        .with(tui_logger::TuiTracingSubscriberLayer)
        .with(file)
        .try_init()
        .context("a tracing subscriber is already installed")?;
    Ok(())
}

/// Show a line of another process's log (the supervisor a console is attached to) in the log
/// pane, as if logged here; it is not written to this process's log file.
pub fn show_log_line(level: &str, target: &str, text: &str) {
    let level = level.parse().unwrap_or(log::Level::Info);
    tui_logger::Drain::new()
        .log(&log::Record::builder().level(level).target(target).args(format_args!("{text}")).build());
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::Identity;

    /// The only test in this crate that installs the global subscriber.
    #[test]
    fn events_reach_the_log_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("3rc.log");
        init_logging(Some(std::fs::File::create(&path).unwrap()), Identity::new()).unwrap();
        tracing::info!(vm = "web1", "restarted");
        tracing::trace!("below the default filter");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("restarted") && text.contains("web1"), "{text}");
        assert!(!text.contains("below the default filter"), "{text}");
        assert!(init_logging(None, Identity::new()).is_err(), "a second install is refused");
    }
}
