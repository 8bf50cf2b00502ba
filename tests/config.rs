//! Bad settings fail at build time with a readable error, never a panic.

use evtrail::{ErrorKind, MemorySink, Route};

fn build_err(b: evtrail::Builder) -> evtrail::Error {
    match b.build() {
        Ok(_) => panic!("build should have failed"),
        Err(e) => e,
    }
}

fn base() -> evtrail::Builder {
    evtrail::builder()
        .unsigned()
        .service("test")
        .add_sink(MemorySink::new())
}

#[test]
fn zero_capacity_is_rejected() {
    let e = build_err(base().capacity(0));
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(e.to_string(), "capacity must be at least 1 record");
}

#[test]
fn an_empty_service_name_is_rejected() {
    let e = build_err(base().service("  "));
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(e.to_string(), "the service name is empty");
}

#[test]
fn a_log_directory_that_cannot_be_created_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let target = file.join("logs");
    let e = build_err(base().log_dir(&target));
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(
        e.to_string(),
        format!("cannot create log directory `{}`", target.display())
    );
    assert!(
        std::error::Error::source(&e).is_some(),
        "the OS error is the source"
    );
}

#[cfg(unix)]
#[test]
fn a_read_only_log_directory_is_rejected() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("ro");
    std::fs::create_dir(&logs).unwrap();
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o500)).unwrap();
    // Root ignores permission bits; the check is only meaningful for others.
    if std::fs::write(logs.join("probe"), "x").is_ok() {
        eprintln!("skipped: running as a user that can write to a 0500 directory (root)");
        return;
    }
    let e = build_err(base().log_dir(&logs));
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(
        e.to_string(),
        format!("log directory `{}` is not writable", logs.display())
    );
}

#[test]
fn no_sink_is_rejected() {
    let e = build_err(evtrail::builder().unsigned().service("test"));
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().starts_with("no sink configured"), "{e}");
}

#[test]
fn other_invalid_settings_are_rejected_with_their_reason() {
    let cases: Vec<(evtrail::Builder, &str)> = vec![
        (base().batch_size(0), "batch size must be at least 1 record"),
        (
            base().max_value_bytes(10),
            "max_value_bytes must be at least 64 bytes, not 10",
        ),
        (
            base().filter("info,db=loud"),
            "invalid filter directive `db=loud`: expected a level after `=`",
        ),
        (
            base().add_route(Route::to("../x")),
            "invalid stream name `../x`",
        ),
        (base().default_stream(""), "invalid stream name ``"),
        (
            base().add_redact_pattern("(unclosed"),
            "invalid redaction pattern `(unclosed`",
        ),
        (
            base().flush_interval(std::time::Duration::ZERO),
            "flush interval must be longer than zero",
        ),
    ];
    for (builder, want) in cases {
        let e = build_err(builder);
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.to_string().starts_with(want), "got `{e}`, want `{want}…`");
    }
}

#[test]
fn a_signing_key_or_an_explicit_unsigned_is_required() {
    let e = build_err(
        evtrail::builder()
            .service("test")
            .add_sink(MemorySink::new()),
    );
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().starts_with("no signing key"), "{e}");
    let key = evtrail::Key::generate().unwrap();
    let e = build_err(base().key(key));
    assert_eq!(
        e.to_string(),
        "both a signing key and `unsigned` were set; choose one"
    );
}

#[test]
fn seals_need_a_positive_policy() {
    let e = build_err(base().seal_every(0, std::time::Duration::from_secs(1)));
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().starts_with("seals must come after"), "{e}");
}

#[test]
fn only_a_pipeline_with_a_log_directory_has_log_files() {
    let (_layer, guard) = evtrail::builder()
        .unsigned()
        .add_sink(MemorySink::new())
        .build()
        .unwrap();
    assert!(guard.log_files().is_none());
    let dir = tempfile::tempdir().unwrap();
    let (_layer, guard) = evtrail::builder()
        .unsigned()
        .log_dir(dir.path())
        .build()
        .unwrap();
    assert!(guard.log_files().is_some());
}
