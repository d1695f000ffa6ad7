//! `[[alert]]`: who is told what, and how. Each entry names one target — an Alertmanager, an
//! alert agent (an executable) or a webhook — and what it gets: the kinds of notification
//! (`alarm`, `host`, `vm`, `action`) and the least severe.
//!
//! A target's URL may hold a secret (a user and password, a token in its query) and a
//! webhook's headers usually do (`Authorization`): [`AlertTarget::shown`] is the only form that
//! is ever logged or shown, and `Debug` prints that form.

use super::raw::RawAlert;
use super::{ConfigError, Locator};
use crate::core::Severity;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// What kinds of notification there are.
pub const KINDS: [&str; 4] = ["alarm", "host", "vm", "action"];

/// How long an agent or a webhook may take by default (Pacemaker's alert agents: 30 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many undelivered notifications a target keeps by default.
pub const DEFAULT_QUEUE: usize = 1000;

/// Where one `[[alert]]` delivers.
#[derive(Clone, PartialEq, Eq)]
pub enum AlertSink {
    /// An Alertmanager's base URL (`http://127.0.0.1:9093`): alarms fire and resolve (API v2).
    Alertmanager { url: String },
    /// An executable run per notification, with it in `CRM_alert_*` variables and as JSON on
    /// its standard input.
    Agent { path: PathBuf, recipient: Option<String> },
    /// A URL each notification is POSTed to as JSON, with these headers.
    Webhook { url: String, headers: BTreeMap<String, String> },
}

/// One `[[alert]]`.
#[derive(Clone, PartialEq, Eq)]
pub struct AlertTarget {
    pub sink: AlertSink,
    /// The least severe notification it gets.
    pub min_severity: Severity,
    /// The kinds it gets (of [`KINDS`]); alarms only by default.
    pub kinds: Vec<String>,
    /// How long one delivery may take (an agent is killed past it).
    pub timeout: Duration,
    /// At most this many undelivered notifications are kept (the oldest go first).
    pub queue: usize,
}

impl AlertTarget {
    /// The target as it may be logged and shown: no user, password, query or header.
    pub fn shown(&self) -> String {
        match &self.sink {
            AlertSink::Alertmanager { url } => format!("Alertmanager at {}", shown_url(url)),
            AlertSink::Agent { path, .. } => format!("agent {}", path.display()),
            AlertSink::Webhook { url, .. } => format!("webhook {}", shown_url(url)),
        }
    }

    /// Whether it gets notifications of `kind` (of [`KINDS`]) at `severity`.
    pub fn wants(&self, kind: &str, severity: Severity) -> bool {
        severity >= self.min_severity && self.kinds.iter().any(|k| k == kind)
    }
}

impl std::fmt::Debug for AlertTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertTarget")
            .field("target", &self.shown())
            .field("min_severity", &self.min_severity)
            .field("kinds", &self.kinds)
            .finish()
    }
}

/// A URL without what may be secret in it: its user and password, and its query.
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    let path = match path.split_once('?') {
        Some((p, _)) => format!("{p}?***"),
        None => path.to_string(),
    };
    format!("{scheme}://{authority}{path}")
}

fn url(raw: &Spanned<String>, what: &str, example: &str, at: &Locator) -> Result<String, ConfigError> {
    let u = raw.get_ref();
    let rest = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') => Ok(u.clone()),
        _ => Err(at.err(
            Some(raw.span()),
            format!("alert.{what}: an http:// or https:// URL, like \"{example}\" (found {:?})", shown_url(u)),
        )),
    }
}

/// One `[[alert]]`, validated.
pub(super) fn alert(raw: &RawAlert, at: &Locator) -> Result<AlertTarget, ConfigError> {
    let named: Vec<&Spanned<String>> = [&raw.alertmanager, &raw.agent, &raw.webhook].into_iter().flatten().collect();
    if named.len() != 1 {
        let span = named.get(1).map(|s| s.span());
        return Err(at.err(
            span,
            "[[alert]] needs exactly one target: alertmanager = \"http://127.0.0.1:9093\", agent = \"/path/to/executable\" \
             or webhook = \"https://...\" (use one [[alert]] per target)",
        ));
    }
    let sink = if let Some(u) = &raw.alertmanager {
        AlertSink::Alertmanager { url: url(u, "alertmanager", "http://127.0.0.1:9093", at)? }
    } else if let Some(p) = &raw.agent {
        let path = PathBuf::from(p.get_ref());
        if !path.is_absolute() {
            return Err(
                at.err(Some(p.span()), format!("alert.agent {:?}: an absolute path to an executable", p.get_ref()))
            );
        }
        AlertSink::Agent { path, recipient: raw.recipient.clone() }
    } else {
        let u = raw.webhook.as_ref().expect("one target is named");
        let headers = raw.headers.iter().flatten().map(|(k, v)| (k.clone(), v.get_ref().clone())).collect();
        AlertSink::Webhook { url: url(u, "webhook", "https://hooks.example.com/3rc", at)?, headers }
    };
    if raw.recipient.is_some() && !matches!(sink, AlertSink::Agent { .. }) {
        return Err(at.err(None, "alert.recipient is for an agent (its CRM_alert_recipient)"));
    }
    if raw.headers.is_some() && !matches!(sink, AlertSink::Webhook { .. }) {
        return Err(at.err(None, "alert.headers are for a webhook"));
    }
    let min_severity = match raw.min_severity.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("warning", _)) => Severity::Warning,
        Some(("info", _)) => Severity::Info,
        Some(("critical", _)) => Severity::Critical,
        Some((other, span)) => {
            return Err(at.err(Some(span), format!("alert.min_severity {other:?}: one of info, warning, critical")))
        }
    };
    let mut kinds = Vec::new();
    match &raw.kinds {
        None => kinds.push("alarm".to_string()),
        Some(list) => {
            for k in list.get_ref() {
                if !KINDS.contains(&k.get_ref().as_str()) {
                    return Err(at.err(
                        Some(k.span()),
                        format!(
                            "alert.kinds: {:?} is not a kind of notification (alarm, host, vm, action)",
                            k.get_ref()
                        ),
                    ));
                }
                if !kinds.contains(k.get_ref()) {
                    kinds.push(k.get_ref().clone());
                }
            }
            if kinds.is_empty() {
                return Err(
                    at.err(Some(list.span()), "alert.kinds is empty: name at least one of alarm, host, vm, action")
                );
            }
        }
    }
    if matches!(sink, AlertSink::Alertmanager { .. }) && kinds != ["alarm"] {
        return Err(at.err(
            raw.kinds.as_ref().map(|k| k.span()),
            "alert.kinds: an Alertmanager gets alarms only (they fire and resolve there); send host, vm and action \
             notifications to an agent or a webhook",
        ));
    }
    let timeout = match &raw.timeout {
        None => DEFAULT_TIMEOUT,
        Some(t) if t.get_ref().0 < Duration::from_millis(100) || t.get_ref().0 > Duration::from_secs(600) => {
            return Err(at.err(Some(t.span()), "alert.timeout: between 100ms and 10m"))
        }
        Some(t) => t.get_ref().0,
    };
    let queue = match &raw.queue {
        None => DEFAULT_QUEUE,
        Some(q) if *q.get_ref() == 0 || *q.get_ref() > 100_000 => {
            return Err(at.err(Some(q.span()), "alert.queue: between 1 and 100000 notifications"))
        }
        Some(q) => *q.get_ref(),
    };
    Ok(AlertTarget { sink, min_severity, kinds, timeout, queue })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_secrets() {
        assert_eq!(shown_url("http://am:secret@127.0.0.1:9093"), "http://***@127.0.0.1:9093");
        assert_eq!(shown_url("http://127.0.0.1:9093/path@x"), "http://127.0.0.1:9093/path@x");
        assert_eq!(shown_url("http://127.0.0.1:9093"), "http://127.0.0.1:9093");
        assert_eq!(shown_url("https://hooks.example.com/in?token=abc&x=1"), "https://hooks.example.com/in?***");
        assert_eq!(shown_url("https://u:p@hooks.example.com?token=abc"), "https://***@hooks.example.com?***");
    }
}
