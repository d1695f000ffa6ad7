//! The files 3RC keeps in its state folder are created readable by their owner only (mode
//! 0600): the journal (SQLite gives its `-wal` and `-shm` the same mode) and the log. A file
//! that already exists keeps the mode it has.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A log file, opened to append, created with mode 0600; never through a symbolic link (a
/// log in a shared folder such as /tmp cannot be turned into another file).
pub fn append_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(path)
}

/// Create an empty file with mode 0600 unless something exists at `path`.
pub fn create_private(path: &Path) -> std::io::Result<()> {
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_are_made_readable_by_their_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let (log, journal) = (dir.path().join("3rc.log"), dir.path().join("journal.db"));
        super::append_private(&log).unwrap();
        super::create_private(&journal).unwrap();
        super::create_private(&journal).unwrap();
        for p in [log, journal] {
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600, "{}", p.display());
        }
    }
}
