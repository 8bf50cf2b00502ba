//! Delivery into a real ClickHouse server over its HTTP interface.
//!
//! Runs when `EVTRAIL_CLICKHOUSE_URL` names a server on loopback (for
//! example `http://127.0.0.1:18123/`; `.ci/run` starts one from Debian's
//! packages). Without one each test is reported `ignored` with the reason
//! (its own runner, `support/server_tests.rs`, decides that when the tests
//! run), and fails instead when `EVTRAIL_CLICKHOUSE_TEST=required`.

#[path = "support/clickhouse_server.rs"]
mod clickhouse_server;
mod common;
#[path = "support/server_tests.rs"]
mod server_tests;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clickhouse_server::{query, server};
use common::{WAIT, dispatch};
use evtrail::http::{ClickHouse, ClickHouseFormat, HttpSink};
use evtrail::read::LogReader;
use evtrail::{Key, Keyring, Overflow};
use serde_json::Value;

fn main() -> ExitCode {
    server_tests::run(
        &[
            (
                "tens_of_thousands_of_records_arrive_with_their_seq_and_signature",
                tens_of_thousands_of_records_arrive_with_their_seq_and_signature,
            ),
            (
                "row_binary_rows_are_the_json_rows_column_for_column",
                row_binary_rows_are_the_json_rows_column_for_column,
            ),
            (
                "a_batch_clickhouse_cannot_take_ends_in_the_dead_letter_file",
                a_batch_clickhouse_cannot_take_ends_in_the_dead_letter_file,
            ),
        ],
        server(),
    )
}

fn unique_table(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("evtrail_{what}_{}_{nanos}", std::process::id())
}

fn key() -> Key {
    Key::from_bytes([42u8; 32].to_vec()).unwrap()
}

fn u64_of(v: &Value) -> u64 {
    // ClickHouse quotes 64-bit integers in JSON output.
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

fn tens_of_thousands_of_records_arrive_with_their_seq_and_signature(url: &str) {
    let encoder = ClickHouse::new(unique_table("records"));
    let table = encoder.table().to_owned();
    query(url, &encoder.create_table());

    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::builder(url)
        .name("clickhouse")
        .encoder(encoder)
        .batch_records(5_000)
        .batch_wait(Duration::from_millis(200))
        .build()
        .unwrap();
    let (layer, guard) = evtrail::builder()
        .service("shop")
        .environment("test")
        .key(key())
        .log_dir(dir.path())
        .overflow(Overflow::Block)
        .add_sink(sink)
        .build()
        .unwrap();
    let d = dispatch(layer);
    const N: u64 = 30_000;
    tracing::dispatcher::with_default(&d, || {
        let span = tracing::info_span!("request", request_id = "req_1", op = "checkout");
        let _e = span.enter();
        for i in 0..N {
            match i % 3 {
                0 => tracing::info!(i, user_id = "user_7", tenant = "acme", "paid {i}"),
                1 => tracing::warn!(i, event = "payment_failed", kind = "card", "failed {i}"),
                _ => tracing::error!(i, class = "audit", ip = "10.0.0.1", "audit \"{i}\" ✓"),
            }
        }
    });
    if let Err(e) = guard.flush(WAIT) {
        let app = std::fs::read_to_string(dir.path().join("app.log")).unwrap();
        let pushes: Vec<&str> = app
            .lines()
            .filter(|l| l.contains("evtrail.push"))
            .take(3)
            .collect();
        panic!("{e}: {pushes:#?}");
    }
    let stats = guard.stats();
    guard.shutdown(WAIT).unwrap();
    let delivery = stats.sinks[1].delivery.clone().unwrap();
    assert_eq!(delivery.dead_lettered, 0, "{delivery:?}");

    // The local log is the reference.
    let lines: Vec<String> = LogReader::open(dir.path(), "app")
        .unwrap()
        .map(|l| l.unwrap())
        .collect();
    let local: BTreeMap<u64, (String, Value)> = lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["seq"].as_u64().unwrap(), (l.clone(), v))
        })
        .collect();
    let users = local
        .values()
        .filter(|(_, v)| v["target"] != "evtrail")
        .count();
    assert_eq!(users as u64, N);

    let count = query(
        url,
        &format!("SELECT count() FROM {table} FINAL WHERE target != 'evtrail'"),
    );
    assert_eq!(count.trim(), N.to_string());
    let rows = query(
        url,
        &format!(
            "SELECT stream, seq, ts, ts_us, level, service, env, msg, event, class, user, \
             tenant, op, request_id, ip, fields, spans, kid, sig, record \
             FROM {table} FINAL ORDER BY seq FORMAT JSONEachRow"
        ),
    );
    let rows: Vec<Value> = rows
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.len() as u64 >= N);
    let mut matched = 0;
    for row in &rows {
        let seq = u64_of(&row["seq"]);
        let (line, rec) = &local[&seq];
        assert_eq!(row["stream"], "app");
        assert_eq!(
            row["record"].as_str().unwrap(),
            line,
            "the exact signed line"
        );
        assert_eq!(row["sig"], rec["sig"]);
        assert_eq!(row["kid"], rec["kid"]);
        assert_eq!(row["level"], rec["level"]);
        assert_eq!(row["msg"], rec["msg"]);
        assert_eq!(row["service"], "shop");
        assert_eq!(row["env"], "test");
        let ts = rec["ts"].as_str().unwrap();
        assert_eq!(
            row["ts"].as_str().unwrap(),
            format!("{} {}", &ts[..10], &ts[11..19])
        );
        assert_eq!(
            u64_of(&row["ts_us"]) % 1_000_000,
            ts[20..26].parse::<u64>().unwrap()
        );
        if rec["target"] != "evtrail" {
            matched += 1;
            assert_eq!(row["op"], "checkout");
            assert_eq!(row["request_id"], "req_1");
            let fields: Value = serde_json::from_str(row["fields"].as_str().unwrap()).unwrap();
            assert_eq!(fields, rec["fields"]);
            for key in ["event", "class", "user", "tenant", "ip"] {
                match rec.get(key) {
                    Some(v) => assert_eq!(&row[key], v, "{key}"),
                    None => assert_eq!(row[key], "", "{key}"),
                }
            }
        }
    }
    assert_eq!(matched, N);

    // The store keeps proof: its `record` column verifies on its own.
    let copy = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for row in &rows {
        text.push_str(row["record"].as_str().unwrap());
        text.push('\n');
    }
    std::fs::write(copy.path().join("app.log"), text).unwrap();
    let mut keys = Keyring::new();
    keys.add(key());
    let report = evtrail::verify::Verifier::new(keys)
        .verify_paths(&[copy.path()])
        .unwrap();
    assert!(report.is_clean(), "{}", report.to_json());
    query(url, &format!("DROP TABLE {table}"));
}

fn row_binary_rows_are_the_json_rows_column_for_column(url: &str) {
    let json = ClickHouse::new(unique_table("json"));
    let binary = ClickHouse::new(unique_table("binary")).format(ClickHouseFormat::RowBinary);
    let tables = [json.table().to_owned(), binary.table().to_owned()];
    query(url, &json.create_table());
    query(url, &binary.create_table());
    let dir = tempfile::tempdir().unwrap();
    let sink = |name: &str, encoder: ClickHouse| {
        HttpSink::builder(url)
            .name(name)
            .encoder(encoder)
            .batch_wait(Duration::from_millis(100))
            .build()
            .unwrap()
    };
    let (layer, guard) = evtrail::builder()
        .service("shop")
        .key(key())
        .log_dir(dir.path())
        .overflow(Overflow::Block)
        .add_sink(sink("json", json))
        .add_sink(sink("binary", binary))
        .build()
        .unwrap();
    let d = dispatch(layer);
    const N: u64 = 2_000;
    tracing::dispatcher::with_default(&d, || {
        let span = tracing::info_span!("order", op = "order-1042", tenant = "acme");
        let _e = span.enter();
        for i in 0..N {
            match i % 4 {
                0 => tracing::info!(event = "user_login", user = "u-7", ip = "10.0.0.1", "in"),
                1 => tracing::warn!(
                    event = "payment_failed",
                    code = 4021,
                    "tab\t \"quoted\" \\ é {i}"
                ),
                2 => tracing::error!(class = "audit", amount = 12.5, nested = ?vec![1, 2], "x"),
                _ => tracing::info!(status = "ok", "done {i}"),
            }
        }
    });
    guard.flush(WAIT).unwrap();
    guard.shutdown(WAIT).unwrap();
    let [a, b] = tables.clone().map(|t| {
        query(
            url,
            &format!("SELECT * FROM {t} FINAL ORDER BY stream, seq FORMAT JSONEachRow"),
        )
    });
    assert!(a.lines().count() as u64 > N, "every record arrived");
    assert_eq!(a, b, "the same rows either way");
    for t in tables {
        query(url, &format!("DROP TABLE {t}"));
    }
}

fn a_batch_clickhouse_cannot_take_ends_in_the_dead_letter_file(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::builder(url)
        .encoder(ClickHouse::new(unique_table("missing")))
        .backoff(Duration::from_millis(10), Duration::from_millis(20))
        .max_attempts(2)
        .build()
        .unwrap();
    let (layer, guard) = evtrail::builder()
        .key(key())
        .log_dir(dir.path())
        .add_sink(sink)
        .build()
        .unwrap();
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || tracing::info!("into a table that is not there"));
    guard.flush(WAIT).unwrap();
    let stats = guard.stats();
    drop(guard);
    let delivery = stats.sinks[1].delivery.clone().unwrap();
    assert!(delivery.dead_lettered >= 2, "{delivery:?}");
    let dead = std::fs::read_to_string(dir.path().join("spool/http/dead-letter.ndjson")).unwrap();
    let first: Value = serde_json::from_str(dead.lines().next().unwrap()).unwrap();
    assert_eq!(first["status"], 404);
    let answer = first["response"].as_str().unwrap();
    assert!(
        answer.contains("doesn't exist") || answer.contains("does not exist"),
        "ClickHouse's own words are kept: {answer}"
    );
}
