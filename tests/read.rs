//! Reading logs back in stream order across rolled and compressed files.

mod common;

use common::{dispatch, files_starting_with, gzip_file, read_stream};
use evtrail::read::LogReader;

#[test]
fn every_record_comes_back_once_in_seq_order_across_plain_and_gzip_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, guard) = evtrail::builder()
        .service("read")
        .key(evtrail::Key::generate().unwrap())
        .log_dir(tmp.path())
        .overflow(evtrail::Overflow::Block)
        .add_route(evtrail::Route::to("audit").class("audit"))
        .file_options(evtrail::FileOptions::default().compression(None))
        .build()
        .unwrap();
    let d = dispatch(layer);
    for part in 0..3 {
        tracing::dispatcher::with_default(&d, || {
            for i in 0..200 {
                tracing::info!(part, i, "e");
            }
            tracing::info!(class = "audit", part, "audited");
        });
        guard.rotate().unwrap();
    }
    drop(guard);
    // Gzip one rolled file by hand, and name another so it sorts first:
    // order must come from the records, not from names.
    let rolled = files_starting_with(tmp.path(), "app.2");
    gzip_file(&rolled[1]);
    std::fs::rename(&rolled[2], tmp.path().join("app.0000-early.log")).unwrap();

    assert_eq!(LogReader::streams(tmp.path()).unwrap(), ["app", "audit"]);
    let lines = read_stream(tmp.path(), "app");
    let seqs: Vec<u64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=lines.len() as u64).collect::<Vec<_>>());
    let events = lines.iter().filter(|l| l.contains(r#""msg":"e""#)).count();
    assert_eq!(events, 600);
    let audit = read_stream(tmp.path(), "audit");
    assert_eq!(audit.iter().filter(|l| l.contains("audited")).count(), 3);
}

#[test]
fn an_unfinished_last_line_is_skipped_and_a_missing_dir_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("app.log"),
        "{\"v\":1,\"stream\":\"app\",\"seq\":1}\n{\"v\":1,\"stream\":\"app\",\"seq\":2}\n{\"v\":1,\"str",
    )
    .unwrap();
    let lines = read_stream(tmp.path(), "app");
    assert_eq!(lines.len(), 2);
    let err = LogReader::open(tmp.path().join("nope"), "app").unwrap_err();
    assert_eq!(err.kind(), evtrail::ErrorKind::Io);
}
