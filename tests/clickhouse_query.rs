//! `evtrail query`, `stats`, `incidents` and `verify` over a real
//! ClickHouse server (`--clickhouse URL --table NAME`): the same answers
//! as over the files the same pipeline wrote, duplicates from
//! at-least-once delivery left out, filter values searched literally,
//! tampering in the store found and located, and bad input ending in a
//! clear error (exit 2) that names the server and the table.
//!
//! Runs when `EVTRAIL_CLICKHOUSE_URL` names a server on loopback (`.ci/run`
//! starts one); without one each test is reported `ignored` with the
//! reason, and fails instead when `EVTRAIL_CLICKHOUSE_TEST=required`.

#[path = "support/clickhouse_server.rs"]
mod clickhouse_server;
mod common;
#[path = "support/server_tests.rs"]
mod server_tests;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Output};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clickhouse_server::{query as sql, server};
use common::{WAIT, dispatch};
use evtrail::clickhouse::Store;
use evtrail::http::{ClickHouse, HttpSink};
use evtrail::query::{Filter, Query, TimeRange};
use evtrail::stats::Tally;
use evtrail::{Key, Overflow};

fn main() -> ExitCode {
    server_tests::run(
        &[
            (
                "query_stats_and_incidents_over_the_store_answer_as_over_the_files",
                query_stats_and_incidents_over_the_store_answer_as_over_the_files,
            ),
            (
                "counts_are_computed_by_the_server_and_equal_those_over_files",
                counts_are_computed_by_the_server_and_equal_those_over_files,
            ),
            (
                "a_filter_value_with_quotes_and_drop_table_is_searched_for_literally",
                a_filter_value_with_quotes_and_drop_table_is_searched_for_literally,
            ),
            (
                "verify_over_the_store_is_clean_and_leaves_out_duplicates",
                verify_over_the_store_is_clean_and_leaves_out_duplicates,
            ),
            (
                "a_row_updated_in_the_store_is_found_and_located",
                a_row_updated_in_the_store_is_found_and_located,
            ),
            (
                "a_row_deleted_from_the_store_is_found_and_located",
                a_row_deleted_from_the_store_is_found_and_located,
            ),
            (
                "a_row_inserted_by_hand_is_found_and_located",
                a_row_inserted_by_hand_is_found_and_located,
            ),
            (
                "an_unreachable_server_a_missing_table_or_other_columns_exit_2",
                an_unreachable_server_a_missing_table_or_other_columns_exit_2,
            ),
            (
                "a_wrong_password_exits_2_without_showing_it",
                a_wrong_password_exits_2_without_showing_it,
            ),
            (
                "an_answer_cut_in_the_middle_exits_2",
                an_answer_cut_in_the_middle_exits_2,
            ),
            (
                "a_stored_record_that_is_not_json_exits_2",
                a_stored_record_that_is_not_json_exits_2,
            ),
        ],
        server(),
    )
}

/// Waits until the table's mutations (`ALTER … UPDATE/DELETE`) are done.
fn wait_for_mutations(url: &str, table: &str) {
    for _ in 0..600 {
        let left = sql(
            url,
            &format!(
                "SELECT count() FROM system.mutations WHERE table = '{table}' AND is_done = 0"
            ),
        );
        if left.trim() == "0" {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the mutations of {table} did not finish");
}

fn name(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("ch_read_{what}_{}_{nanos}", std::process::id())
}

fn key() -> Key {
    Key::from_bytes([42u8; 32].to_vec()).unwrap()
}

/// A user name built to break naive SQL: quotes, backslashes and a
/// statement of its own.
const HOSTILE: &str = r#"o'brien\' "x" \\'; DROP TABLE {table}; --"#;

/// What the fixture wrote: two hosts' log directories, the table their
/// sinks filled (with some rows delivered twice), and the key file.
struct Fixture {
    dirs: Vec<PathBuf>,
    table: String,
    key_file: PathBuf,
    duplicated: u64,
    _keep: tempfile::TempDir,
}

/// Two hosts' pipelines, each writing signed files and shipping the same
/// records to ClickHouse through the real `HttpSink`; then a few batches
/// delivered a second time, as at-least-once delivery may.
fn fixture(url: &str) -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keep = tempfile::tempdir().unwrap();
        let table = name("fleet");
        let encoder = ClickHouse::new(table.clone());
        sql(url, &encoder.create_table());
        // ReplacingMergeTree collapses copies whenever it merges parts in
        // the background: held still, the table keeps the copies this
        // fixture counts below for the tests to find.
        sql(url, &format!("SYSTEM STOP MERGES {table}"));
        let mut dirs = Vec::new();
        for (h, host) in ["web-1", "web-2"].into_iter().enumerate() {
            let dir = keep.path().join(host);
            let sink = HttpSink::builder(url)
                .name("clickhouse")
                .encoder(ClickHouse::new(table.clone()))
                .batch_records(50)
                .batch_wait(Duration::from_millis(100))
                .build()
                .unwrap();
            let (layer, guard) = evtrail::builder()
                .service("shop")
                .host(host)
                .key(key())
                .log_dir(&dir)
                .overflow(Overflow::Block)
                .add_sink(sink)
                .build()
                .unwrap();
            let d = dispatch(layer);
            tracing::dispatcher::with_default(&d, || {
                for i in 0..300u64 {
                    let tenant = ["acme", "globex", "initech"][(i % 3) as usize];
                    let span = tracing::info_span!("request", op = %format!("order-{}", i / 4));
                    let _e = span.enter();
                    match i % 10 {
                        0 | 5 => tracing::warn!(
                            event = "payment_failed",
                            tenant,
                            amount = i * 3 + h as u64,
                            status = "error",
                            "card declined"
                        ),
                        3 => tracing::error!(
                            event = "db_down",
                            status = "critical",
                            "database unreachable"
                        ),
                        7 => tracing::info!(event = "db_down", status = "ok", "database back"),
                        8 => {
                            tracing::info!(event = "payment_refunded", tenant, amount = i, "refund")
                        }
                        _ => tracing::info!(event = "order_placed", tenant, amount = i, "placed"),
                    }
                }
                let hostile = HOSTILE.replace("{table}", &table);
                tracing::warn!(
                    event = "login_failed",
                    user = hostile.as_str(),
                    "bad password"
                );
            });
            guard.flush(WAIT).unwrap();
            guard.shutdown(WAIT).unwrap();
            dirs.push(dir);
        }
        // At-least-once: some rows arrive twice.
        sql(
            url,
            &format!("INSERT INTO {table} SELECT * FROM {table} WHERE seq % 37 = 0"),
        );
        let duplicated: u64 = sql(
            url,
            &format!("SELECT count() - uniqExact(service, host, stream, seq) FROM {table}"),
        )
        .trim()
        .parse()
        .unwrap();
        assert!(duplicated > 0);
        let key_file = keep.path().join("evtrail.key");
        std::fs::write(&key_file, hex::encode([42u8; 32])).unwrap();
        Fixture {
            dirs,
            table,
            key_file,
            duplicated,
            _keep: keep,
        }
    })
}

fn evtrail(args: &[&str], url: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_evtrail"));
    // One "now" for both runs, so that open incidents last as long.
    cmd.args(args)
        .env_remove("EVTRAIL_CLICKHOUSE_URL")
        .env("EVTRAIL_NOW", "2099-01-01T00:00:00Z");
    if let Some(url) = url {
        cmd.env("EVTRAIL_CLICKHOUSE_URL", url);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn files_args(f: &Fixture) -> Vec<String> {
    f.dirs.iter().map(|d| d.display().to_string()).collect()
}

/// Runs a subcommand over the files and over the store; asserts the same
/// output and exit code, and returns the store's run.
fn same_answer(url: &str, f: &Fixture, sub: &str, args: &[&str]) -> Output {
    let mut over_files = vec![sub.to_owned()];
    over_files.extend(files_args(f));
    over_files.extend(args.iter().map(|a| a.to_string()));
    let files: Vec<&str> = over_files.iter().map(String::as_str).collect();
    let from_files = evtrail(&files, None);
    let mut over_store = vec![sub, "--clickhouse", url, "--table", &f.table];
    over_store.extend(args);
    let from_store = evtrail(&over_store, None);
    let ctx = format!(
        "evtrail {sub} {args:?}\n--- files (stderr) ---\n{}\n--- store (stderr) ---\n{}",
        text(&from_files.stderr),
        text(&from_store.stderr)
    );
    assert_eq!(from_files.status.code(), from_store.status.code(), "{ctx}");
    assert!(
        from_files.status.code() != Some(2),
        "the files' run failed: {ctx}"
    );
    assert_eq!(
        text(&from_files.stdout),
        text(&from_store.stdout),
        "different answers: {ctx}"
    );
    assert!(!text(&from_store.stderr).contains("panicked"), "{ctx}");
    from_store
}

fn query_stats_and_incidents_over_the_store_answer_as_over_the_files(url: &str) {
    let f = fixture(url);
    let key = f.key_file.display().to_string();
    let columns = "--fields=time,service,host,stream,seq,event,tenant,op,msg";
    let signed = "--fields=time,sig,host,seq,event";
    for args in [
        vec!["--all-time", "--format=csv", columns],
        vec![
            "--all-time",
            "--event",
            "payment_failed",
            "--format=csv",
            columns,
        ],
        vec![
            "--all-time",
            "--event",
            "payment_*",
            "--host",
            "web-2",
            "--format=csv",
            columns,
        ],
        vec![
            "--all-time",
            "--level",
            "warn",
            "--tenant",
            "acme",
            "--format=csv",
            columns,
        ],
        vec![
            "--all-time",
            "--grep",
            "DECLINED",
            "-n",
            "5",
            "--format=csv",
            columns,
        ],
        vec!["--all-time", "-n", "7", "--format=csv", columns],
        vec![
            "--all-time",
            "--reverse",
            "-n",
            "9",
            "--format=csv",
            columns,
        ],
        // Not decidable by the columns: filtered here, after the SQL.
        vec![
            "--all-time",
            "--where",
            "fields.amount>500",
            "--format=csv",
            columns,
        ],
        vec![
            "--all-time",
            "--where",
            "amount<=20",
            "-n",
            "3",
            "--format=csv",
            columns,
        ],
        vec![
            "--all-time",
            "--markers",
            "--event",
            "evtrail.seg*",
            "--format=csv",
            columns,
        ],
        vec!["--all-time", "--key-file", &key, "--format=csv", signed],
        vec!["--all-time", "--event", "db_down", "--count"],
        vec!["--all-time", "--where", "fields.amount>500", "--count"],
        vec!["--all-time", "--event", "no_such_event", "--count"],
    ] {
        let out = same_answer(url, f, "query", &args);
        let csv = text(&out.stdout);
        if args.contains(&"--format=csv") {
            assert!(csv.lines().count() > 1, "{args:?} found nothing");
        }
    }
    // The copies were there, and left out.
    let out = same_answer(url, f, "query", &["--all-time", "--count"]);
    assert!(
        text(&out.stderr).contains(&format!("left out {} duplicate row", f.duplicated)),
        "{}",
        text(&out.stderr)
    );

    for args in [
        vec!["--all-time", "--format=json"],
        vec!["--all-time", "--by", "host", "--format=json"],
        vec![
            "--all-time",
            "--by",
            "event,tenant",
            "--top",
            "3",
            "--format=json",
        ],
        vec![
            "--all-time",
            "--event",
            "payment_failed",
            "--by",
            "host",
            "--every",
            "1h",
            "--format=json",
        ],
        vec![
            "--all-time",
            "--where",
            "fields.amount>500",
            "--by",
            "host",
            "--format=json",
        ],
        vec!["--all-time", "--by", "fields.tenant", "--format=json"],
        vec!["--all-time", "--key-file", &key, "--format=json"],
        vec!["--all-time", "--by", "host", "--format=table"],
    ] {
        same_answer(url, f, "stats", &args);
    }

    // The event console: the same page.
    for args in [
        vec!["--all-time", "--out=-"],
        vec!["--all-time", "--by", "host", "--rows", "17", "--out=-"],
        vec!["--all-time", "--where", "fields.amount>500", "--out=-"],
    ] {
        let out = same_answer(url, f, "report", &args);
        assert!(text(&out.stdout).contains("<svg"), "{args:?}");
    }
    let out = evtrail(
        &[
            "report",
            "--all-time",
            "--table",
            &f.table,
            "--key-file",
            &key,
            "--out=-",
        ],
        Some(url),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("verified"),
        "{}",
        text(&out.stdout)
    );

    for args in [
        vec!["--all-time", "--all", "--format=json"],
        vec!["--all-time", "--format=json"],
        vec![
            "--all-time",
            "--by",
            "host,tenant",
            "--all",
            "--format=json",
        ],
    ] {
        let out = same_answer(url, f, "incidents", &args);
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

fn counts_are_computed_by_the_server_and_equal_those_over_files(url: &str) {
    let f = fixture(url);
    let store = Store::new(url, &f.table).unwrap();
    let all = || Query::new(Filter::new(), TimeRange::all());
    let cases = [
        (all(), Tally::new(), true),
        (all(), Tally::new().by(["host", "event"]).top(4), true),
        (
            Query::new(
                Filter::new()
                    .add_any_of("event", ["payment_*"])
                    .unwrap()
                    .min_level(tracing::Level::INFO),
                TimeRange::all(),
            ),
            Tally::new().by(["tenant"]).every(Duration::from_secs(60)),
            true,
        ),
        (all().markers(true), Tally::new().by(["stream"]), true),
        // A field under `fields` has no column: counted here.
        (all(), Tally::new().by(["fields.amount"]), false),
        (
            Query::new(
                Filter::new().add_where("amount>100").unwrap(),
                TimeRange::all(),
            ),
            Tally::new(),
            false,
        ),
    ];
    for (query, tally, pushed_down) in cases {
        let over_files = tally.run(&query, &f.dirs).unwrap();
        let over_store = store.tally(&tally, &query).unwrap();
        assert_eq!(over_store.pushed_down, pushed_down, "{query:?} {tally:?}");
        assert_eq!(over_store.summary, over_files, "{query:?} {tally:?}");
        // The groups' copies, as the count's own statement finds them.
        assert_eq!(
            over_store.duplicates,
            store.count(&query).unwrap().duplicates
        );
        // The pushes the HTTP sink recorded say which records it carried.
        assert!(over_files.push.records.ok > 0, "{:?}", over_files.push);
    }
    let counted = store.count(&all()).unwrap();
    assert_eq!(counted.duplicates, f.duplicated);
    assert_eq!(counted.records, all().count(&f.dirs).unwrap().0);
}

fn a_filter_value_with_quotes_and_drop_table_is_searched_for_literally(url: &str) {
    let f = fixture(url);
    let rows_before = sql(url, &format!("SELECT count() FROM {}", f.table));
    let hostile = HOSTILE.replace("{table}", &f.table);
    let out = same_answer(
        url,
        f,
        "query",
        &[
            "--all-time",
            "--user",
            &hostile,
            "--format=csv",
            "--fields=host,user,event",
        ],
    );
    let csv = text(&out.stdout);
    // One record per host, the value exactly as written.
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains("web-1") && csv.contains("web-2"), "{csv}");
    // In a wildcard and in `--where` too.
    same_answer(
        url,
        f,
        "query",
        &["--all-time", "--user", "o'brien*", "--count"],
    );
    same_answer(
        url,
        f,
        "query",
        &[
            "--all-time",
            "--where",
            &format!("user={hostile}"),
            "--count",
        ],
    );
    same_answer(
        url,
        f,
        "stats",
        &["--all-time", "--user", &hostile, "--format=json"],
    );
    // Nothing was dropped or changed.
    let exists = sql(url, &format!("EXISTS TABLE {}", f.table));
    assert_eq!(exists.trim(), "1");
    assert_eq!(
        sql(url, &format!("SELECT count() FROM {}", f.table)),
        rows_before
    );
}

/// A copy of the fixture's table, for a test that tampers with it.
fn copy_of_table(url: &str, f: &Fixture, what: &str) -> String {
    let table = name(what);
    sql(url, &format!("CREATE TABLE {table} AS {}", f.table));
    sql(
        url,
        &format!("INSERT INTO {table} SELECT * FROM {}", f.table),
    );
    table
}

fn verify_store(url: &str, f: &Fixture, table: &str) -> Output {
    let key = f.key_file.display().to_string();
    let out = evtrail(&["verify", "--table", table, "--key-file", &key], Some(url));
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
    out
}

fn verify_over_the_store_is_clean_and_leaves_out_duplicates(url: &str) {
    let f = fixture(url);
    let out = verify_store(url, f, &f.table);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    // Each host's chain, named by where it is.
    for host in ["web-1", "web-2"] {
        assert!(
            stdout.contains(&format!("/{}/shop/{host}/app", f.table)),
            "{stdout}"
        );
    }
    assert!(
        text(&out.stderr).contains(&format!("left out {} duplicate row", f.duplicated)),
        "{}",
        text(&out.stderr)
    );
    // The same records as the files hold, all verified.
    let files = evtrail(
        &[
            "verify",
            &files_args(f)[0],
            &files_args(f)[1],
            "--key-file",
            &f.key_file.display().to_string(),
            "--json",
        ],
        None,
    );
    let store = evtrail(
        &[
            "verify",
            "--table",
            &f.table,
            "--key-file",
            &f.key_file.display().to_string(),
            "--json",
        ],
        Some(url),
    );
    let verified = |o: &Output| -> u64 {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["verified"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(verified(&files), verified(&store));
    assert!(verified(&store) > 600);
}

/// The finding lines of a verify run's summary that name `host`.
fn findings_at(out: &Output, host: &str) -> Vec<String> {
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("/shop/{host}/app:")) && l.contains("[app seq "))
        .map(str::to_owned)
        .collect()
}

/// Tampers with a copy of the fixture's table by `statements`, verifies
/// it, and asserts one finding of `kind` at `seq` of `host`'s chain and
/// none in the other host's.
fn tampering_is_found_at(url: &str, statements: &[&str], host: &str, kind: &str, seq: u64) {
    let f = fixture(url);
    let table = copy_of_table(url, f, kind);
    for statement in statements {
        sql(url, &statement.replace("{table}", &table));
    }
    wait_for_mutations(url, &table);
    let out = verify_store(url, f, &table);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        findings_at(&out, host)
            .iter()
            .any(|l| l.starts_with(kind) && l.contains(&format!("[app seq {seq}]"))),
        "{stdout}"
    );
    let other = if host == "web-1" { "web-2" } else { "web-1" };
    assert!(findings_at(&out, other).is_empty(), "{stdout}");
}

fn a_row_updated_in_the_store_is_found_and_located(url: &str) {
    tampering_is_found_at(
        url,
        &[
            "ALTER TABLE {table} UPDATE record = replaceOne(record, 'card declined', 'card accepted') \
           WHERE host = 'web-2' AND seq = 12",
        ],
        "web-2",
        "modified",
        12,
    );
}

fn a_row_deleted_from_the_store_is_found_and_located(url: &str) {
    tampering_is_found_at(
        url,
        &["ALTER TABLE {table} DELETE WHERE host = 'web-1' AND seq = 20"],
        "web-1",
        "deleted",
        20,
    );
}

fn a_row_inserted_by_hand_is_found_and_located(url: &str) {
    // A record made up after the fact, beside the genuine one of its
    // `seq`, with the genuine one's signature.
    tampering_is_found_at(
        url,
        &[
            "INSERT INTO {table} (ts, ts_us, stream, seq, service, host, event, record) \
           SELECT ts, ts_us, stream, seq, service, host, event, \
           replaceOne(record, 'card declined', 'card accepted') \
           FROM {table} WHERE host = 'web-2' AND seq = 32 LIMIT 1",
        ],
        "web-2",
        "inserted",
        32,
    );
}

/// Asserts a clean exit 2 whose message names the server and the table.
fn fails_naming(out: &Output, server: &str, table: &str, says: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}\n{}", text(&out.stdout));
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(server), "no server in: {err}");
    assert!(err.contains(&format!("`{table}`")), "no table in: {err}");
    assert!(err.contains(says), "expected `{says}` in: {err}");
}

fn an_unreachable_server_a_missing_table_or_other_columns_exit_2(url: &str) {
    // Port 1 on loopback: nothing listens there.
    for sub in [
        vec!["query", "--all-time"],
        vec!["stats", "--all-time"],
        vec!["incidents", "--all-time"],
    ] {
        let mut args = sub.clone();
        args.extend(["--clickhouse", "http://127.0.0.1:1/", "--table", "events"]);
        fails_naming(
            &evtrail(&args, None),
            "127.0.0.1:1",
            "events",
            "cannot reach",
        );
    }
    let server = url.trim_start_matches("http://").trim_end_matches('/');
    let missing = name("missing");
    let out = evtrail(&["query", "--all-time", "--table", &missing], Some(url));
    fails_naming(&out, server, &missing, "does not exist");
    let f = fixture(url);
    let out = evtrail(
        &[
            "verify",
            "--table",
            &missing,
            "--key-file",
            &f.key_file.display().to_string(),
        ],
        Some(url),
    );
    fails_naming(&out, server, &missing, "does not exist");

    let other = name("other");
    sql(
        url,
        &format!("CREATE TABLE {other} (a UInt8, b String) ENGINE = Memory"),
    );
    sql(url, &format!("INSERT INTO {other} VALUES (1, 'x')"));
    for sub in ["query", "stats", "incidents"] {
        let out = evtrail(&[sub, "--all-time", "--table", &other], Some(url));
        fails_naming(&out, server, &other, "lacks a column");
    }
    // A table name that would change the statement is refused outright.
    let out = evtrail(&["query", "--table", "events; DROP TABLE x"], Some(url));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid ClickHouse table name"));
}

fn a_wrong_password_exits_2_without_showing_it(url: &str) {
    let f = fixture(url);
    let server = url.trim_start_matches("http://").trim_end_matches('/');
    let wrong = url.replace("http://", "http://default:n0t-the-pa55word@");
    let out = evtrail(
        &[
            "stats",
            "--all-time",
            "--clickhouse",
            &wrong,
            "--table",
            &f.table,
        ],
        None,
    );
    fails_naming(&out, server, &f.table, "refused the user name or password");
    assert!(!text(&out.stderr).contains("n0t-the-pa55word"));

    // Newer servers answer 516: a loopback server scripted to.
    let (addr, _server) = scripted(
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 73\r\nConnection: close\r\n\r\n\
         Code: 516. DB::Exception: default: Authentication failed. (AUTHENTICATION",
    );
    let out = evtrail(
        &[
            "query",
            "--all-time",
            "--clickhouse",
            &format!("http://reader:s3cr3t@{addr}/"),
            "--table",
            "events",
        ],
        None,
    );
    fails_naming(
        &out,
        &addr,
        "events",
        "refused the user name or password (code 516)",
    );
    assert!(!text(&out.stderr).contains("s3cr3t"));
}

/// A loopback server that answers every request with `answer` and closes.
fn scripted(answer: &'static str) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 65536];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(answer.as_bytes());
            let _ = stream.flush();
        }
    });
    (addr, handle)
}

fn an_answer_cut_in_the_middle_exits_2(_url: &str) {
    // The answer promises 4000 bytes and stops inside its second row.
    let (addr, _server) = scripted(
        "HTTP/1.1 200 OK\r\nContent-Length: 4000\r\nConnection: close\r\n\r\n\
         {\"service\":\"shop\",\"host\":\"web-1\",\"stream\":\"app\",\"seq\":\"1\",\"record\":\"{}\"}\n\
         {\"service\":\"shop\",\"host\":\"web-1\",\"stream\":\"app\",\"seq\":\"2\",\"rec",
    );
    let out = evtrail(
        &[
            "query",
            "--all-time",
            "--clickhouse",
            &format!("http://{addr}/"),
            "--table",
            "events",
            "--format=jsonl",
        ],
        None,
    );
    fails_naming(&out, &addr, "events", "");
    let err = text(&out.stderr);
    assert!(
        err.contains("broke off") || err.contains("middle of a row"),
        "{err}"
    );
}

fn a_stored_record_that_is_not_json_exits_2(url: &str) {
    let f = fixture(url);
    let table = copy_of_table(url, f, "garbage");
    sql(
        url,
        &format!(
            "INSERT INTO {table} (ts, ts_us, stream, seq, service, host, status, record) \
             SELECT ts, ts_us, stream, 100000, service, host, 'error', 'not {{json' FROM {table} \
             WHERE host = 'web-1' AND seq = 5 LIMIT 1"
        ),
    );
    let server = url.trim_start_matches("http://").trim_end_matches('/');
    for (sub, format) in [("query", "--format=jsonl"), ("incidents", "--format=json")] {
        let out = evtrail(&[sub, "--all-time", "--table", &table, format], Some(url));
        fails_naming(&out, server, &table, "not a JSON record");
        assert!(
            text(&out.stderr).contains("seq 100000"),
            "{}",
            text(&out.stderr)
        );
    }
    // Counting in the store does not read `record`; reading it does.
    let out = evtrail(
        &[
            "stats",
            "--all-time",
            "--table",
            &table,
            "--where",
            "fields.amount>1",
            "--format=json",
        ],
        Some(url),
    );
    fails_naming(&out, server, &table, "not a JSON record");
    // The verifier reports it as a finding, located, as a bad line in a file.
    let out = verify_store(url, f, &table);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        findings_at(&out, "web-1")
            .iter()
            .any(|l| l.contains("malformed")),
        "{}",
        text(&out.stdout)
    );
}
