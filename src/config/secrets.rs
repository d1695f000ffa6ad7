//! Secrets in the configuration: which options hold one, how they are shown (never), and the
//! warnings for files that hold secrets and that other users can read.
//!
//! An option holds a secret when its name suggests one (`passw`, `secret`, `token`, `key`,
//! `community`, `credential`, `private`, in any case), unless it only names where the secret
//! is (`..._file`, `..._env`, `..._script`: a path or a variable name, read when used). Such a
//! value is shown as `***` wherever 3RC shows options: logs, the journal, the console, errors
//! and `Debug` output.

use super::{Config, FenceConfig};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What a secret's value is shown as.
pub const HIDDEN: &str = "***";

/// Whether an option named `key` holds a secret (see the module's doc).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let reference = ["_file", "_env", "_script"].iter().any(|s| k.ends_with(s));
    !reference
        && ["passw", "secret", "token", "key", "community", "credential", "private"].iter().any(|w| k.contains(w))
}

/// The options with every secret's value hidden.
pub fn redacted(options: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    options.iter().map(|(k, v)| (k.clone(), if is_secret_key(k) { HIDDEN.to_string() } else { v.clone() })).collect()
}

impl std::fmt::Debug for FenceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FenceConfig").field("agent", &self.agent).field("options", &redacted(&self.options)).finish()
    }
}

/// The mode of a file other users can read, if it is one.
fn readable_by_others(path: &Path) -> Option<u32> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o004 != 0).then_some(mode)
}

/// Warnings for files holding secrets that other users can read: the config file when an
/// option in it holds a secret, and every fence agent's `password_file`.
pub fn file_warnings(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let fences = || cfg.hosts.iter().filter_map(|h| Some((h.name.as_str(), h.fence.as_ref()?)));
    let inline: Vec<String> = fences()
        .flat_map(|(h, f)| {
            f.options.keys().filter(|k| is_secret_key(k)).map(move |k| format!("host {h} fence option {k}"))
        })
        .collect();
    if let (Some(mode), false) = (readable_by_others(&cfg.path), inline.is_empty()) {
        out.push(format!(
            "{} is readable by other users (mode {mode:04o}) and holds secrets ({}): make it readable by its owner \
             only (chmod 600), or move each secret to a password_file",
            cfg.path.display(),
            inline.join(", ")
        ));
    }
    for (h, f) in fences() {
        let Some(file) = f.options.get("password_file") else { continue };
        if let Some(mode) = readable_by_others(Path::new(file)) {
            out.push(format!(
                "{file} (host {h} fence option password_file) is readable by other users (mode {mode:04o}): make it \
                 readable by its owner only (chmod 600)"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_suggest_a_secret_hold_one_unless_they_only_say_where_it_is() {
        for k in ["password", "passwd", "Secret", "api_token", "key", "ssh-key", "community", "credentials", "private"]
        {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["ip", "username", "plug", "password_file", "password_env", "password_script", "identity_file"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn a_fence_config_never_shows_a_secret_in_debug_output() {
        let options = [("ip", "10.0.0.2"), ("password", "hunter2"), ("snmp_community", "public2")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let shown = format!("{:?}", FenceConfig { agent: "fence_ipmilan".into(), options });
        assert!(shown.contains("10.0.0.2") && !shown.contains("hunter2") && !shown.contains("public2"), "{shown}");
    }
}
