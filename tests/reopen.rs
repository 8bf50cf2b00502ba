//! An active file renamed or deleted by another program (as logrotate does)
//! is noticed before the next write and a new one is opened: nothing that
//! is written afterwards is lost.

mod common;

use common::{WAIT, dispatch};

fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

#[test]
fn a_renamed_or_deleted_active_file_is_replaced_before_the_next_write() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, guard) = evtrail::builder()
        .service("reopen")
        .unsigned()
        .log_dir(tmp.path())
        .build()
        .unwrap();
    let d = dispatch(layer);
    let active = tmp.path().join("app.log");
    let emit = |n: usize| {
        tracing::dispatcher::with_default(&d, || (0..n).for_each(|i| tracing::info!(i, "e")));
        guard.flush(WAIT).unwrap();
    };

    emit(10);
    let moved = tmp.path().join("app.log.1");
    std::fs::rename(&active, &moved).unwrap();
    emit(7);
    assert_eq!(
        (lines(&moved), lines(&active)),
        (10, 7),
        "renamed file kept, new one opened"
    );

    std::fs::remove_file(&active).unwrap();
    emit(5);
    assert_eq!(
        (lines(&moved), lines(&active)),
        (10, 5),
        "deleted file replaced"
    );
    drop(guard);
}
