//! The last good config: a config file that cannot be used never leaves the cluster without
//! supervision. Each `3rc run` that starts on a config it can use keeps a copy of that file in
//! its state folder (`config.last-good.toml`, mode 0600: a config may hold secrets), once all
//! it starts on it has started (`app::Supervising::start`). When the
//! file is edited into one that cannot be used (a typo, a host a VM names that is gone) and 3RC
//! restarts — a reboot, the service manager's watchdog, an engineer who meant to apply it —
//! 3RC runs on that copy, read as if it were the file (relative paths and `{config_dir}` as the
//! file's), with a critical alarm that says where the file is wrong (not what: an error may quote
//! a misplaced secret; `3rc check` says it on a terminal) and since when the copy was kept; `3rc ctl` and `3rc console` reach it the same way. A first start, with no copy,
//! refuses a bad config as before. Pacemaker and Proxmox never let an invalid configuration
//! replace the one in force either.
//!
//! The state folder comes from the file that cannot be used: its `state_dir` line, read from
//! the TOML if it parses, else from the line itself.

use super::{config_dir, Config, ConfigError};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The copy's name in the state folder.
pub const LAST_GOOD: &str = "config.last-good.toml";

/// A config read for a supervisor or to reach one: the file's, or the last good one in its
/// place.
pub struct Loaded {
    pub config: Config,
    /// The file's text, when it is the file's config (what `keep` keeps).
    text: Option<String>,
    /// Why the last good config stands in for the file's, when it does.
    pub fallback: Option<Fallback>,
}

/// The last good config standing in for a file that cannot be used.
pub struct Fallback {
    /// What is wrong with the file, and where.
    pub error: ConfigError,
    /// The copy, and when it was kept.
    pub copy: PathBuf,
    pub kept: String,
}

impl Fallback {
    /// The alarm of a supervisor that runs on the copy. It says where the file is wrong, not
    /// what: a config error may quote the value it refuses, and a misplaced secret must not
    /// reach the journal, the log or a page; `3rc check` shows the whole error on a terminal.
    pub fn alarm(&self) -> String {
        format!(
            "{}, so 3RC runs on the last good config it ran with ({}, kept {}); fix the file, then restart 3rc",
            self.where_wrong(),
            self.copy.display(),
            self.kept
        )
    }

    /// What a command that reaches the supervisor through the file says (where, as the alarm:
    /// its output may be kept by a script).
    pub fn warning(&self) -> String {
        let (copy, kept) = (self.copy.display(), &self.kept);
        format!("{}; the last good config 3RC ran with stands in for it ({copy}, kept {kept})", self.where_wrong())
    }

    /// Where the file is wrong, and how to see what.
    fn where_wrong(&self) -> String {
        let e = &self.error;
        format!(
            "{}:{}:{}: this config cannot be used (`3rc check --config {}` says why)",
            e.file, e.line, e.column, e.file
        )
    }
}

impl Loaded {
    /// Keep this config as the last good one, unless it is that copy already or there is no
    /// state folder (written to a temporary file, synced, then renamed into place: a crash
    /// leaves the old copy or the new one). Called once the supervisor is assembled on it.
    pub fn keep(&self) -> std::io::Result<()> {
        let (Some(text), Some(dir)) = (&self.text, &self.config.state_dir) else { return Ok(()) };
        let path = dir.join(LAST_GOOD);
        if std::fs::read_to_string(&path).is_ok_and(|t| &t == text) {
            return Ok(());
        }
        let tmp = dir.join(format!(".{LAST_GOOD}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

/// The config of `path`; if it cannot be used, the last good one its state folder keeps, with
/// why (the file's error first). No copy, or one that cannot be used either: the file's error.
pub fn load_or_last_good(path: &Path) -> Result<Loaded, ConfigError> {
    // Read once: the text kept is the text checked (an editor may write the file meanwhile).
    let error = match Config::load_text(path) {
        Ok((config, text)) => return Ok(Loaded { config, text: Some(text), fallback: None }),
        Err(e) => e,
    };
    let Some(copy) = state_dir_of(path).map(|d| d.join(LAST_GOOD)) else { return Err(error) };
    let Ok(text) = std::fs::read_to_string(&copy) else { return Err(error) };
    let Ok(mut config) = Config::parse(&text, path) else { return Err(error) };
    config.warnings.extend(super::secrets::file_warnings(&config));
    let kept = std::fs::metadata(&copy).and_then(|m| m.modified()).map(wall).unwrap_or_default();
    Ok(Loaded { config, text: None, fallback: Some(Fallback { error, copy, kept }) })
}

/// The state folder a config file names, even when the file cannot be used: its top-level
/// `state_dir`, relative to the file's folder.
fn state_dir_of(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    let named = match toml::from_str::<toml::Table>(&text) {
        Ok(t) => t.get("state_dir")?.as_str()?.to_string(),
        // The lines before the first table, each read as TOML on its own.
        Err(_) => text
            .lines()
            .take_while(|l| !l.trim_start().starts_with('['))
            .find_map(|l| toml::from_str::<toml::Table>(l).ok()?.get("state_dir")?.as_str().map(str::to_string))?,
    };
    let p = PathBuf::from(named);
    Some(if p.is_absolute() { p } else { config_dir(path).join(p) })
}

/// A file time as `2026-12-05 14:02 UTC`.
fn wall(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    crate::core::decisions::wall_text(secs * 1000)
}

#[cfg(test)]
mod tests {
    use super::state_dir_of;

    #[test]
    fn the_state_folder_is_found_in_a_file_that_cannot_be_used() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        let found = |text: &str| {
            std::fs::write(&cfg, text).unwrap();
            state_dir_of(&cfg)
        };
        let here = std::fs::canonicalize(dir.path()).unwrap();
        // TOML that parses, a config that does not (a wrong type further down).
        assert_eq!(found("state_dir = \"/var/lib/3rc\"\n[[vm]]\nname = 3\n"), Some("/var/lib/3rc".into()));
        // TOML that does not parse: the line itself, relative to the file's folder (a literal
        // string, a comment after a tab).
        assert_eq!(found("# c\nstate_dir = \"state\" # ours\n[[host]\n"), Some(here.join("state")));
        assert_eq!(found("state_dir = 'st #1'\t# ours\n[[host]\n"), Some(here.join("st #1")));
        // Only a top-level key counts; none at all is none.
        assert_eq!(found("[x\nstate_dir = \"/elsewhere\"\n"), None);
        assert_eq!(found("interval = \"1s\"\n"), None);
    }
}
