//! Creating evtrail's own files and directories (spools, dead letters,
//! the state file, delivery cursors) with the log files' default modes:
//! readable by the owner's group at most, never by everyone. They hold
//! records, so they deserve the logs' protection.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of the files evtrail creates (Unix): owner read-write, group read.
pub(crate) const FILE_MODE: u32 = 0o640;
/// Mode of the directories evtrail creates (Unix).
pub(crate) const DIR_MODE: u32 = 0o750;

/// Creates `dir` and its missing parents with [`DIR_MODE`].
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    b.create(dir)
}

/// Options that create a file with [`FILE_MODE`]; the caller adds how it
/// opens it.
pub(crate) fn options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(FILE_MODE);
    }
    o
}

/// Creates (or truncates) `path` for writing, with [`FILE_MODE`] when it
/// is new.
pub(crate) fn create(path: &Path) -> io::Result<File> {
    options().write(true).create(true).truncate(true).open(path)
}

/// Opens `path` for appending, creating it with [`FILE_MODE`].
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn append(path: &Path) -> io::Result<File> {
    options().append(true).create(true).open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_and_directories_get_the_logs_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        drop(create(&file).unwrap());
        let appended = dir.join("g");
        drop(append(&appended).unwrap());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // The umask may take bits away, never add them.
        assert_eq!(mode(&dir) & !DIR_MODE, 0);
        assert_eq!(mode(&tmp.path().join("a")) & !DIR_MODE, 0);
        assert_eq!(mode(&file) & !FILE_MODE, 0);
        assert_eq!(mode(&appended) & !FILE_MODE, 0);
    }
}
