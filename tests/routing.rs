//! Streams (routes, per-stream files and sequence numbers) and the filter
//! that can be changed at runtime through the handle.

use std::path::Path;
use std::time::Duration;

use evtrail::{Builder, ErrorKind, Guard, MemorySink, Route};
use serde_json::{Value, json};
use tracing::Level;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

const FLUSH: Duration = Duration::from_secs(10);

/// The usual routing table of these tests.
fn routed(dir: &Path) -> Builder {
    evtrail::builder()
        .unsigned()
        .service("test")
        .log_dir(dir)
        .add_route(Route::to("audit").class("audit"))
        .add_route(Route::to("database").target("app::db"))
        .add_route(Route::to("email").event("email_sent"))
}

/// Builds, runs `f` under the layer, flushes; returns the guard.
fn run(builder: Builder, f: impl FnOnce(&Guard)) -> Guard {
    let (layer, guard) = builder.build().expect("build");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || f(&guard));
    guard.flush(FLUSH).expect("flush");
    guard
}

/// The records of `DIR/<stream>.log`, checking on the way that every line
/// names that stream and that `seq` runs 1, 2, 3, … without gaps.
fn stream(dir: &Path, name: &str) -> Vec<Value> {
    let path = dir.join(format!("{name}.log"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(text.ends_with('\n'), "{name}.log ends with a newline");
    let recs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["stream"], json!(name), "stream key in {name}.log: {r}");
        assert_eq!(r["seq"], json!(i + 1), "seq in {name}.log: {r}");
    }
    recs
}

fn msgs(recs: &[Value]) -> Vec<&str> {
    recs.iter().map(|r| r["msg"].as_str().unwrap()).collect()
}

fn log_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---- routes and files ----

#[test]
fn records_land_in_the_file_of_their_stream() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = run(routed(dir.path()), |_| {
        tracing::info!(target: "app::http", "plain request");
        tracing::info!(target: "app::users", class = "audit", event = "user_deleted", "user deleted");
        tracing::debug!(target: "app::db", "select 1");
        tracing::warn!(target: "app::db::pool", "pool exhausted");
        tracing::info!(target: "app::mail", event = "email_sent", "welcome mail sent");
        tracing::info!(target: "app::dbx", "not the db module");
        tracing::error!(target: "app::http", "request failed");
    });
    assert_eq!(
        log_files(dir.path()),
        ["app.log", "audit.log", "database.log", "email.log"]
    );
    assert_eq!(
        msgs(&stream(dir.path(), "app")),
        ["plain request", "not the db module", "request failed"]
    );
    assert_eq!(msgs(&stream(dir.path(), "audit")), ["user deleted"]);
    assert_eq!(
        msgs(&stream(dir.path(), "database")),
        ["select 1", "pool exhausted"]
    );
    assert_eq!(msgs(&stream(dir.path(), "email")), ["welcome mail sent"]);
}

#[test]
fn record_matching_two_routes_lands_in_both_with_each_streams_own_seq() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = run(routed(dir.path()), |_| {
        tracing::info!(target: "app::users", class = "audit", "audit only 1");
        tracing::info!(target: "app::db", "db only 1");
        tracing::info!(target: "app::db", class = "audit", "both 1");
        tracing::info!(target: "app::users", class = "audit", "audit only 2");
        tracing::info!(target: "app::db::tx", class = "audit", "both 2");
        tracing::info!(target: "app::db", "db only 2");
    });
    // `stream` checks seq 1, 2, 3, … per file.
    let audit = stream(dir.path(), "audit");
    let database = stream(dir.path(), "database");
    assert_eq!(
        msgs(&audit),
        ["audit only 1", "both 1", "audit only 2", "both 2"]
    );
    assert_eq!(
        msgs(&database),
        ["db only 1", "both 1", "both 2", "db only 2"]
    );
    // The same record in both, apart from stream and seq.
    let strip = |r: &Value| {
        let mut r = r.clone();
        let o = r.as_object_mut().unwrap();
        o.remove("stream");
        o.remove("seq");
        r
    };
    assert_eq!(strip(&audit[1]), strip(&database[1]));
    assert_eq!(
        (audit[1]["seq"].clone(), database[1]["seq"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(
        (audit[3]["seq"].clone(), database[2]["seq"].clone()),
        (json!(4), json!(3))
    );
    // Matching a route, it does not also go to the default stream.
    assert!(!dir.path().join("app.log").exists());
}

#[test]
fn seq_stays_gap_free_across_flushes_and_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = routed(dir.path()).batch_size(3).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..10 {
            tracing::info!(target: "app::db", i, "db");
            tracing::info!(target: "app::http", i, "http");
            if i % 4 == 0 {
                guard.flush(FLUSH).unwrap();
            }
        }
    });
    guard.flush(FLUSH).unwrap();
    let db = stream(dir.path(), "database");
    let app = stream(dir.path(), "app");
    assert_eq!(db.len(), 10);
    assert_eq!(app.len(), 10);
    let order: Vec<u64> = db
        .iter()
        .map(|r| r["fields"]["i"].as_u64().unwrap())
        .collect();
    assert_eq!(order, (0..10).collect::<Vec<u64>>());
}

#[test]
fn routes_see_class_and_event_set_on_enclosing_spans() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = run(routed(dir.path()), |_| {
        let admin = tracing::info_span!("admin", class = "audit");
        admin.in_scope(|| tracing::info!(target: "app::users", "inside audit span"));
        let mail = tracing::info_span!("mailer", event = "email_sent");
        mail.in_scope(|| tracing::info!(target: "app::mail", "inside mail span"));
        // The event's own class beats the span's.
        admin.in_scope(|| tracing::info!(target: "app::users", class = "info", "overridden"));
    });
    assert_eq!(msgs(&stream(dir.path(), "audit")), ["inside audit span"]);
    assert_eq!(msgs(&stream(dir.path(), "email")), ["inside mail span"]);
    assert_eq!(msgs(&stream(dir.path(), "app")), ["overridden"]);
}

#[test]
fn conditions_on_one_route_must_all_hold() {
    let dir = tempfile::tempdir().unwrap();
    let builder = evtrail::builder()
        .unsigned()
        .service("test")
        .log_dir(dir.path())
        .add_route(
            Route::to("db_problems")
                .target("app::db")
                .level(Level::WARN),
        );
    let _guard = run(builder, |_| {
        tracing::info!(target: "app::db", "db info");
        tracing::warn!(target: "app::db", "db warn");
        tracing::error!(target: "app::db::pool", "db error");
        tracing::error!(target: "app::http", "http error");
    });
    assert_eq!(
        msgs(&stream(dir.path(), "db_problems")),
        ["db warn", "db error"]
    );
    assert_eq!(msgs(&stream(dir.path(), "app")), ["db info", "http error"]);
}

#[test]
fn default_stream_main_changes_the_fallback_file() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = run(routed(dir.path()).default_stream("main"), |_| {
        tracing::info!(target: "app::http", "unrouted 1");
        tracing::info!(target: "app::db", "routed");
        tracing::info!(target: "app::http", "unrouted 2");
    });
    assert_eq!(log_files(dir.path()), ["database.log", "main.log"]);
    assert_eq!(
        msgs(&stream(dir.path(), "main")),
        ["unrouted 1", "unrouted 2"]
    );
    assert_eq!(msgs(&stream(dir.path(), "database")), ["routed"]);
}

#[test]
fn every_sink_receives_every_stream() {
    let dir = tempfile::tempdir().unwrap();
    let memory = MemorySink::new();
    let _guard = run(routed(dir.path()).add_sink(memory.clone()), |_| {
        tracing::info!(target: "app::http", "a");
        tracing::info!(target: "app::db", class = "audit", "b");
        tracing::info!(event = "email_sent", "c");
    });
    let got: Vec<(String, u64, String)> = memory
        .lines()
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["stream"].as_str().unwrap().to_owned(),
                v["seq"].as_u64().unwrap(),
                v["msg"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, u64, String)> = [
        ("app", 1, "a"),
        ("audit", 1, "b"),
        ("database", 1, "b"),
        ("email", 1, "c"),
    ]
    .iter()
    .map(|(s, n, m)| ((*s).to_owned(), *n, (*m).to_owned()))
    .collect();
    assert_eq!(got, want);
    // The files hold exactly the same lines.
    let mut from_files: Vec<String> = ["app", "audit", "database", "email"]
        .iter()
        .flat_map(|s| {
            std::fs::read_to_string(dir.path().join(format!("{s}.log")))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut from_memory = memory.lines();
    from_files.sort();
    from_memory.sort();
    assert_eq!(from_files, from_memory);
}

#[test]
fn unsafe_stream_names_are_config_errors() {
    for bad in ["../escape", "a/b", "", ".hidden", "with space"] {
        let err = evtrail::builder()
            .unsigned()
            .service("test")
            .add_sink(MemorySink::new())
            .add_route(Route::to(bad).class("audit"))
            .build()
            .expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
        let err = evtrail::builder()
            .unsigned()
            .service("test")
            .add_sink(MemorySink::new())
            .default_stream(bad)
            .build()
            .expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
    }
}

// ---- runtime filter ----

fn memory_run(builder: Builder, f: impl FnOnce(&Guard)) -> (Guard, Vec<Value>) {
    let sink = MemorySink::new();
    let guard = run(builder.service("test").add_sink(sink.clone()), f);
    let recs = sink
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (guard, recs)
}

#[test]
fn set_level_warn_drops_later_info_events_and_keeps_warn() {
    let (guard, recs) = memory_run(evtrail::builder().unsigned(), |guard| {
        tracing::info!("info before");
        tracing::debug!("debug before");
        guard.set_level(LevelFilter::WARN);
        tracing::info!("info after");
        tracing::debug!("debug after");
        tracing::warn!("warn after");
        tracing::error!("error after");
    });
    assert_eq!(
        msgs(&recs),
        ["info before", "debug before", "warn after", "error after"]
    );
    assert_eq!(guard.filter(), "warn");
}

#[test]
fn set_level_off_silences_everything_until_raised_again() {
    let (_guard, recs) = memory_run(evtrail::builder().unsigned(), |guard| {
        guard.set_level(LevelFilter::OFF);
        tracing::error!("silenced");
        guard.set_level(LevelFilter::TRACE);
        tracing::trace!("back");
    });
    assert_eq!(msgs(&recs), ["back"]);
    assert_eq!(recs[0]["seq"], json!(1));
}

#[test]
fn set_filter_lets_one_target_debug_through_and_not_others() {
    let (guard, recs) = memory_run(evtrail::builder().unsigned(), |guard| {
        guard.set_filter("warn,app::db=debug").unwrap();
        tracing::debug!(target: "app::db", "db debug");
        tracing::debug!(target: "app::db::pool", "pool debug");
        tracing::trace!(target: "app::db", "db trace");
        tracing::debug!(target: "app::http", "http debug");
        tracing::info!(target: "app::http", "http info");
        tracing::warn!(target: "app::http", "http warn");
        tracing::debug!(target: "app::dbx", "dbx debug");
    });
    assert_eq!(msgs(&recs), ["db debug", "pool debug", "http warn"]);
    assert_eq!(guard.filter(), "warn,app::db=debug");
}

#[test]
fn invalid_set_filter_is_a_config_error_and_keeps_the_old_filter() {
    let (guard, recs) = memory_run(evtrail::builder().unsigned(), |guard| {
        guard.set_filter("warn,app::db=debug").unwrap();
        let before = guard.filter();
        for bad in ["nonsense=", "verbose", "=info", "", "info,db=loud"] {
            let err = guard.set_filter(bad).expect_err(bad);
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
            assert_eq!(guard.filter(), before, "after {bad:?}");
        }
        let err = guard.set_filter("nonsense=").unwrap_err();
        assert!(err.to_string().contains("nonsense="), "{err}");
        // Still the old filter in force, not just reported.
        tracing::debug!(target: "app::db", "db debug");
        tracing::info!(target: "app::http", "http info");
        tracing::warn!(target: "app::http", "http warn");
    });
    assert_eq!(msgs(&recs), ["db debug", "http warn"]);
    assert_eq!(guard.filter(), "warn,app::db=debug");
}

#[test]
fn builder_filter_applies_from_the_first_event_and_can_be_replaced() {
    let (guard, recs) = memory_run(
        evtrail::builder().unsigned().filter("info,app::db=trace"),
        |guard| {
            assert_eq!(guard.filter(), "info,app::db=trace");
            tracing::debug!(target: "app::http", "http debug");
            tracing::info!(target: "app::http", "http info");
            tracing::trace!(target: "app::db", "db trace");
            guard.set_level(LevelFilter::ERROR);
            tracing::trace!(target: "app::db", "db trace later");
            tracing::error!(target: "app::http", "http error");
        },
    );
    assert_eq!(msgs(&recs), ["http info", "db trace", "http error"]);
    assert_eq!(guard.filter(), "error");
}

#[test]
fn naming_only_targets_turns_every_other_target_off() {
    let (_guard, recs) = memory_run(evtrail::builder().unsigned(), |guard| {
        guard.set_filter("app::db=debug").unwrap();
        tracing::debug!(target: "app::db", "db debug");
        tracing::error!(target: "app::http", "http error");
    });
    assert_eq!(msgs(&recs), ["db debug"]);
}

#[test]
fn invalid_builder_filter_is_a_config_error() {
    let err = evtrail::builder()
        .unsigned()
        .service("test")
        .add_sink(MemorySink::new())
        .filter("info,app::db=loud")
        .build()
        .expect_err("bad directive");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("app::db=loud"), "{err}");
}

#[test]
fn filtered_out_events_use_no_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = run(routed(dir.path()).level(LevelFilter::INFO), |guard| {
        tracing::debug!(target: "app::db", "hidden");
        tracing::info!(target: "app::db", "first");
        guard.set_filter("app::db=trace").unwrap();
        tracing::trace!(target: "app::db", "second");
    });
    // `stream` asserts seq 1, 2 for exactly these two.
    assert_eq!(msgs(&stream(dir.path(), "database")), ["first", "second"]);
}
