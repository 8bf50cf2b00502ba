//! Log files and directories get restrictive permissions, and every
//! durability policy writes the same records.

mod common;

use common::{WAIT, dispatch};
use evtrail::{Durability, FileOptions};

fn run(dir: &std::path::Path, options: FileOptions) {
    let (layer, guard) = evtrail::builder()
        .service("perm")
        .unsigned()
        .log_dir(dir)
        .file_options(options)
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for i in 0..100 {
            tracing::info!(i, "e");
        }
    });
    guard.flush(WAIT).unwrap();
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn files_are_0640_and_a_created_directory_0750_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    run(&dir, FileOptions::default());
    // The process umask can only take bits away; these modes are within 022.
    assert_eq!(mode(&dir), 0o750);
    assert_eq!(mode(&dir.join("app.log")), 0o640);
}

#[cfg(unix)]
#[test]
fn permissions_can_be_tightened() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("private");
    run(&dir, FileOptions::default().permissions(0o600, 0o700));
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("app.log")), 0o600);
}

#[test]
fn every_durability_policy_writes_every_record() {
    for durability in [
        Durability::Flush,
        Durability::SyncEvery(std::time::Duration::from_millis(1)),
        Durability::SyncEachBatch,
    ] {
        let tmp = tempfile::tempdir().unwrap();
        run(tmp.path(), FileOptions::default().durability(durability));
        let text = std::fs::read_to_string(tmp.path().join("app.log")).unwrap();
        assert_eq!(text.lines().count(), 100, "{durability:?}");
    }
}
