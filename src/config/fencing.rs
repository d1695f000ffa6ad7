//! A host's soft fence: the command that restarts its management daemon when the host is alive
//! and its libvirt refuses or fails (`Unmanageable`), before anyone thinks of power.
//!
//! ```toml
//! [[hosts]]
//! name = "hv2"
//! uri = "qemu+tcp://hv2/system"
//! soft_fence = { command = ["ssh", "root@hv2", "systemctl", "restart", "libvirtd"], timeout = "30s" }
//! ```

use super::raw::RawSoftFence;
use super::{ConfigError, Locator};
use std::time::Duration;
use toml::Spanned;

/// The default time a soft fence may take before it is killed.
pub const SOFT_FENCE_TIMEOUT: Duration = Duration::from_secs(30);

/// A validated soft fence: an argument vector (no shell) and a time limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoftFenceConfig {
    pub command: Vec<String>,
    pub timeout: Duration,
}

impl SoftFenceConfig {
    /// The program alone, for logs (its arguments may carry a secret).
    pub fn program(&self) -> &str {
        self.command.first().map(String::as_str).unwrap_or_default()
    }
}

pub(super) fn soft_fence(
    host: &str,
    raw: Option<&Spanned<RawSoftFence>>,
    at: &Locator,
) -> Result<Option<SoftFenceConfig>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let r = raw.get_ref();
    let command = r.command.get_ref().clone();
    match command.first() {
        None => {
            return Err(at.err(
                Some(r.command.span()),
                format!("host {host}: soft_fence.command is empty: give the program and its arguments"),
            ))
        }
        Some(p) if p.trim().is_empty() || p.contains(char::is_whitespace) => {
            return Err(at.err(
                Some(r.command.span()),
                format!(
                    "host {host}: soft_fence.command starts with {p:?}: the first element is the program alone \
                     (one argument per element, no shell)"
                ),
            ))
        }
        Some(_) => {}
    }
    let timeout = r.timeout.map(|d| d.0).unwrap_or(SOFT_FENCE_TIMEOUT);
    if timeout.is_zero() {
        return Err(at.err(Some(raw.span()), format!("host {host}: soft_fence.timeout must be more than 0s")));
    }
    Ok(Some(SoftFenceConfig { command, timeout }))
}
