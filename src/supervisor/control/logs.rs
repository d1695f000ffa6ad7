//! The supervisor's log, streamed to attached consoles: a tracing layer that copies each event
//! (as the log filter lets it through) onto a bounded broadcast channel. Nothing is formatted
//! while no console is attached; a console that reads too slowly is told how many lines it
//! missed instead of slowing the supervisor.

use super::protocol::LogLine;
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};

/// Lines kept for consoles that fall behind.
const BACKLOG: usize = 4096;

/// Where the supervisor's log lines go for consoles.
#[derive(Clone)]
pub struct LogFeed(broadcast::Sender<LogLine>);

impl Default for LogFeed {
    fn default() -> Self {
        LogFeed(broadcast::channel(BACKLOG).0)
    }
}

impl LogFeed {
    /// The tracing layer that feeds it; install it with the process's subscriber.
    pub fn layer(&self) -> LogLayer {
        LogLayer(self.0.clone())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.0.subscribe()
    }
}

pub struct LogLayer(broadcast::Sender<LogLine>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if self.0.receiver_count() == 0 {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        let meta = event.metadata();
        let _ = self.0.send(LogLine {
            level: meta.level().to_string(),
            target: meta.target().to_string(),
            text: text.line(),
        });
    }
}

/// The message, then any other fields as `key=value`, as the log file writes them.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn line(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let space = if self.fields.is_empty() { "" } else { " " };
            let _ = write!(self.fields, "{space}{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_reach_subscribers_as_lines() {
        let feed = LogFeed::default();
        let mut rx = feed.subscribe();
        let subscriber = tracing_subscriber::registry().with(feed.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "3rc", vm = "web1", "restarted {}", 2);
        });
        let line = rx.try_recv().unwrap();
        assert_eq!(
            line,
            LogLine { level: "WARN".into(), target: "3rc".into(), text: "restarted 2 vm=\"web1\"".into() }
        );
    }

    #[test]
    fn nothing_is_kept_while_nobody_listens() {
        let feed = LogFeed::default();
        let subscriber = tracing_subscriber::registry().with(feed.layer());
        tracing::subscriber::with_default(subscriber, || tracing::info!("unseen"));
        let mut rx = feed.subscribe();
        assert!(rx.try_recv().is_err());
    }
}
