//! `[ha]`: several supervisors of one cluster, one leading, on etcd. Without it 3RC runs alone.

use super::duration::Dur;
use super::{ConfigError, Locator};
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// The leader lease's TTL by default: a standby leads within about this long of the leader's
/// death (etcd's own floor is 1.5 s with its default heartbeat).
pub const DEFAULT_TTL: Duration = Duration::from_secs(2);

/// `[ha]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHa {
    pub etcd: Spanned<Vec<Spanned<String>>>,
    pub name: Option<Spanned<String>>,
    pub ttl: Option<Spanned<Dur>>,
    pub prefix: Option<Spanned<String>>,
}

/// `[ha]`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaConfig {
    /// etcd's client URLs (`http://10.0.0.1:2379`).
    pub endpoints: Vec<String>,
    /// This instance's name: the leader key's value, and how the others name it.
    pub name: String,
    /// The leader lease's TTL.
    pub ttl: Duration,
    /// Where the cluster's keys live in etcd (`/3rc/<config file's name>` by default).
    pub prefix: String,
}

/// This machine's host name (the default instance name).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

pub(super) fn ha(raw: &RawHa, cluster: &str, at: &Locator) -> Result<HaConfig, ConfigError> {
    let mut endpoints = Vec::new();
    for e in raw.etcd.get_ref() {
        let u = e.get_ref();
        let rest = u.strip_prefix("http://").unwrap_or("");
        if rest.is_empty() || rest.contains('/') || !rest.contains(':') {
            return Err(at.err(
                Some(e.span()),
                format!("ha.etcd {u:?}: an etcd client URL, http://HOST:PORT (like \"http://10.0.0.1:2379\")"),
            ));
        }
        endpoints.push(u.clone());
    }
    if endpoints.is_empty() {
        return Err(at.err(Some(raw.etcd.span()), "ha.etcd is empty: name etcd's client URLs"));
    }
    let name = match &raw.name {
        Some(n) => {
            if !super::valid_name(n.get_ref()) {
                return Err(
                    at.err(Some(n.span()), format!("ha.name {:?}: letters, digits, '.', '_', '-'", n.get_ref()))
                );
            }
            n.get_ref().clone()
        }
        None => {
            let h = host_name();
            if !super::valid_name(&h) {
                return Err(at.err(None, "[ha] needs name = \"...\" (this machine's host name cannot serve)"));
            }
            h
        }
    };
    let ttl = match &raw.ttl {
        None => DEFAULT_TTL,
        Some(t) if t.get_ref().0 < Duration::from_secs(2) || t.get_ref().0 > Duration::from_secs(300) => {
            return Err(at.err(Some(t.span()), "ha.ttl: between 2s (etcd's floor is 1.5 s) and 5m"))
        }
        Some(t) => t.get_ref().0,
    };
    let prefix = match &raw.prefix {
        Some(p) if !p.get_ref().starts_with('/') || p.get_ref().ends_with('/') => {
            return Err(
                at.err(Some(p.span()), "ha.prefix: a key prefix like \"/3rc/prod\" (starts with /, no / at the end)")
            )
        }
        Some(p) => p.get_ref().clone(),
        None => format!("/3rc/{cluster}"),
    };
    Ok(HaConfig { endpoints, name, ttl, prefix })
}
