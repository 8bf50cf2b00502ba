//! HTTP delivery against a scriptable server on loopback: retries,
//! `Retry-After`, dead letters, push reports, the spool across restarts
//! and its cap.

mod common;
#[path = "support/http_server.rs"]
mod http_server;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::{WAIT, dispatch, events};
use evtrail::http::{HttpSink, HttpSinkBuilder, JsonArray};
use evtrail::read::LogReader;
use evtrail::{Guard, Key, Overflow, Route};
use http_server::{Reply, TestServer};
use serde_json::Value;

fn key() -> Key {
    Key::from_bytes([7u8; 32].to_vec()).unwrap()
}

/// A sink that retries quickly, so scripted failures pass in milliseconds.
fn quick(url: &str) -> HttpSinkBuilder {
    HttpSink::builder(url)
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .timeout(Duration::from_secs(1))
        .batch_records(100)
        .batch_wait(Duration::from_millis(50))
}

/// A signed pipeline with a file log in `dir` and `sink`; delivery reports
/// go to the `delivery` stream.
fn pipeline(dir: &Path, sink: HttpSink) -> (tracing::Dispatch, Guard) {
    let (layer, guard) = evtrail::builder()
        .service("http-test")
        .key(key())
        .log_dir(dir)
        .overflow(Overflow::Block)
        .add_route(Route::to("delivery").event("evtrail.push"))
        .add_sink(sink)
        .build()
        .unwrap();
    (dispatch(layer), guard)
}

/// Waits until the worker has handed `n` user records to the sinks, so a
/// short shutdown timeout is spent on delivery, not on a busy machine.
fn wait_handed(guard: &Guard, n: u64) {
    let deadline = std::time::Instant::now() + WAIT;
    while guard.stats().written < n {
        assert!(std::time::Instant::now() < deadline, "the worker is stuck");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn emit(d: &tracing::Dispatch, from: u64, n: u64) {
    tracing::dispatcher::with_default(d, || {
        for i in from..from + n {
            tracing::info!(i, user_id = "u1", "event {i}");
        }
    });
}

/// The records of `stream` in the file log.
fn file_records(dir: &Path, stream: &str) -> Vec<Value> {
    LogReader::open(dir, stream)
        .unwrap()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

fn is_user(r: &Value) -> bool {
    r["target"] != "evtrail"
}

/// (stream, seq) of every record in requests the server accepted, in
/// arrival order.
fn accepted_keys(server: &TestServer, only_user: bool) -> Vec<(String, u64)> {
    server
        .requests()
        .iter()
        .filter(|r| r.accepted())
        .flat_map(|r| r.json_lines())
        .filter(|r| !only_user || is_user(r))
        .map(|r| {
            (
                r["stream"].as_str().unwrap().to_owned(),
                r["seq"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn file_keys(dir: &Path, stream: &str) -> Vec<(String, u64)> {
    file_records(dir, stream)
        .iter()
        .filter(|r| is_user(r))
        .map(|r| (stream.to_owned(), r["seq"].as_u64().unwrap()))
        .collect()
}

#[test]
fn every_record_arrives_through_errors_timeouts_and_closed_connections() {
    let server = TestServer::start();
    server.script([
        Reply::Status(500),
        Reply::retry_after(503, "0"),
        Reply::Status(429),
        Reply::Close,
        Reply::Slow(Duration::from_millis(100), 200),
        Reply::Hang,
        Reply::Status(502),
        Reply::Slow(Duration::from_millis(1_500), 200), // answered after the client gave up
    ]);
    let dir = tempfile::tempdir().unwrap();
    let sink = quick(&server.url("/ingest")).build().unwrap();
    let (d, guard) = pipeline(dir.path(), sink);
    emit(&d, 0, 1_000);
    guard.flush(WAIT).unwrap();
    let stats = guard.stats();
    drop(guard);

    let sent = file_keys(dir.path(), "app");
    assert_eq!(sent.len(), 1_000);
    let got = accepted_keys(&server, true);
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert!(got.len() >= sent.len(), "at least once");
    for r in server.requests() {
        assert!(
            r.json_lines().len() <= 100,
            "batches hold at most batch_records"
        );
    }
    assert_eq!(
        unique,
        sent.iter().cloned().collect::<BTreeSet<_>>(),
        "de-duplicated by (stream, seq): exactly once"
    );
    let delivery = stats.sinks[1].delivery.clone().unwrap();
    assert!(
        delivery.pushes_failed >= 6,
        "every scripted failure was an attempt: {delivery:?}"
    );
    assert_eq!(delivery.dead_lettered, 0);
    assert_eq!(stats.sinks[1].dropped, 0);
}

#[test]
fn retry_after_is_honoured() {
    let server = TestServer::start();
    server.script([Reply::retry_after(503, "1")]);
    let dir = tempfile::tempdir().unwrap();
    let (d, guard) = pipeline(dir.path(), quick(&server.url("/")).build().unwrap());
    emit(&d, 0, 5);
    guard.flush(WAIT).unwrap();
    drop(guard);
    let reqs = server.requests();
    assert!(reqs.len() >= 2);
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "the retry came {gap:?} after a `Retry-After: 1` (backoff alone is 10 ms)"
    );
    let pushes = file_records(dir.path(), "delivery");
    let retry = events(&pushes, "evtrail.push")
        .into_iter()
        .find(|r| r["fields"]["result"] == "retry")
        .expect("the failed attempt is reported");
    assert_eq!(retry["fields"]["retry_in_ms"], 1000);
    assert_eq!(retry["fields"]["http_status"], 503);
}

#[test]
fn a_refused_batch_goes_to_the_dead_letter_file_with_its_reason() {
    let server = TestServer::start();
    server.script([Reply::with_body(400, "Code: 27, Cannot parse input")]);
    let dir = tempfile::tempdir().unwrap();
    let sink = quick(&server.url("/"))
        .batch_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), sink);
    emit(&d, 0, 10);
    guard.flush(WAIT).unwrap();
    emit(&d, 10, 10);
    guard.flush(WAIT).unwrap();
    let stats = guard.stats();
    drop(guard);

    let refused: Vec<(String, u64)> = server.requests()[0]
        .json_lines()
        .iter()
        .map(|r| {
            (
                r["stream"].as_str().unwrap().to_owned(),
                r["seq"].as_u64().unwrap(),
            )
        })
        .collect();
    let dead = std::fs::read_to_string(dir.path().join("spool/http/dead-letter.ndjson")).unwrap();
    let dead: Vec<Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dead.len(), refused.len());
    for (letter, key) in dead.iter().zip(&refused) {
        assert_eq!(letter["status"], 400);
        assert_eq!(letter["reason"], "HTTP 400");
        assert_eq!(letter["response"], "Code: 27, Cannot parse input");
        assert_eq!(letter["sink"], "http");
        assert!(letter["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            (
                letter["stream"].as_str().unwrap(),
                letter["seq"].as_u64().unwrap()
            ),
            (key.0.as_str(), key.1)
        );
        assert_eq!(letter["record"]["seq"], key.1, "the record itself is kept");
    }
    assert_eq!(
        stats.sinks[1].delivery.as_ref().unwrap().dead_lettered,
        refused.len() as u64
    );
    // The first ten user events were refused; the next ten arrived.
    let got = accepted_keys(&server, true);
    let sent = file_keys(dir.path(), "app");
    assert_eq!(got, sent[10..].to_vec());
    let pushes = file_records(dir.path(), "delivery");
    let rejected: Vec<_> = events(&pushes, "evtrail.push")
        .into_iter()
        .filter(|r| r["fields"]["result"] == "rejected")
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["level"], "ERROR");
    assert_eq!(rejected[0]["fields"]["records"], refused.len());
    assert!(
        rejected[0]["fields"]["error"]
            .as_str()
            .unwrap()
            .contains("Cannot parse input")
    );
}

#[test]
fn push_events_report_each_attempt_with_its_counts() {
    let server = TestServer::start();
    server.script([Reply::Status(500), Reply::Close]);
    let dir = tempfile::tempdir().unwrap();
    let sink = quick(&server.url("/"))
        .name("hook")
        .batch_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), sink);
    emit(&d, 0, 40);
    guard.flush(WAIT).unwrap();
    guard.shutdown(WAIT).unwrap();
    let stats = guard.stats();
    drop(guard);

    let first = &server.requests()[0];
    let batch = first.json_lines();
    let pushes = file_records(dir.path(), "delivery");
    let pushes = events(&pushes, "evtrail.push");
    let results: Vec<&str> = pushes
        .iter()
        .map(|r| r["fields"]["result"].as_str().unwrap())
        .collect();
    assert_eq!(results[..3], ["retry", "retry", "ok"], "{results:?}");
    for (i, p) in pushes[..3].iter().enumerate() {
        assert_eq!(p["fields"]["sink"], "hook");
        assert_eq!(p["fields"]["attempt"], i + 1);
        assert_eq!(p["fields"]["records"], batch.len());
        assert_eq!(p["fields"]["first_seq"], batch[0]["seq"]);
        assert_eq!(p["fields"]["last_seq"], batch[batch.len() - 1]["seq"]);
        assert!(p["fields"]["latency_ms"].is_u64());
    }
    assert_eq!(pushes[0]["fields"]["http_status"], 500);
    assert_eq!(pushes[0]["level"], "WARN");
    assert!(
        pushes[1]["fields"].get("http_status").is_none(),
        "a closed connection has no status"
    );
    assert_eq!(pushes[2]["fields"]["http_status"], 200);
    assert_eq!(pushes[2]["level"], "INFO");
    let delivery = stats.sinks[1].delivery.clone().unwrap();
    assert_eq!(delivery.pushes_failed, 2);
    let oks = results.iter().filter(|r| **r == "ok").count() as u64;
    assert!(delivery.pushes_ok >= oks, "{delivery:?} vs {oks} reported");
    assert_eq!(delivery.spooled, 0);
}

#[test]
fn records_spooled_during_an_outage_arrive_in_order_after_a_restart() {
    let addr = TestServer::free_addr();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/");
    // Endpoint down: the app logs and exits.
    {
        let sink = quick(&url).queue(2).build().unwrap();
        let (d, guard) = pipeline(dir.path(), sink);
        emit(&d, 0, 500);
        wait_handed(&guard, 500);
        let err = guard.shutdown(Duration::from_millis(300)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("kept in the spool") && msg.contains("records not delivered yet"),
            "{msg}"
        );
        drop(guard);
    }
    let spooled: usize = std::fs::read_dir(dir.path().join("spool/http"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "spool"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert!(spooled >= 500, "{spooled} records spooled");
    // Endpoint back, app restarts.
    let server = TestServer::start_on(addr);
    let sink = quick(&url).queue(2).build().unwrap();
    let (d, guard) = pipeline(dir.path(), sink);
    emit(&d, 500, 100);
    guard.flush(WAIT).unwrap();
    drop(guard);

    let sent = file_keys(dir.path(), "app");
    assert_eq!(sent.len(), 600);
    let got = accepted_keys(&server, true);
    assert_eq!(got, sent, "every record, once, in order");
    // The local log, with the delivery reports written around shutdown,
    // still verifies.
    let mut keys = evtrail::Keyring::new();
    keys.add(key());
    let report = evtrail::verify::Verifier::new(keys)
        .verify_paths(&[dir.path()])
        .unwrap();
    assert!(report.is_clean(), "{}", report.to_json());
}

#[test]
fn a_full_spool_counts_and_reports_what_it_drops_and_loses_nothing_else() {
    let addr = TestServer::free_addr();
    let dir = tempfile::tempdir().unwrap();
    let sink = quick(&format!("http://{addr}/"))
        .queue(1)
        .batch_records(10)
        .spool_max_bytes(16 * 1024)
        .build()
        .unwrap();
    // Small hand-overs, so that most of them meet a full queue.
    let (layer, guard) = evtrail::builder()
        .service("http-test")
        .key(key())
        .log_dir(dir.path())
        .overflow(Overflow::Block)
        .batch_size(10)
        .add_sink(sink)
        .build()
        .unwrap();
    let d = dispatch(layer);
    emit(&d, 0, 1_000);
    wait_handed(&guard, 1_000);
    assert!(guard.shutdown(Duration::from_millis(200)).is_err());
    // A shutdown that timed out leaves the worker to finish closing on its
    // own (saving the queue to the spool, writing the last notice): wait
    // for that, within a generous bound, rather than for a fixed time.
    let (stats, notices) = {
        let give_up = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let stats = guard.stats();
            let app = file_records(dir.path(), "app");
            let notices: Vec<Value> = events(&app, "evtrail.dropped")
                .into_iter()
                .filter(|r| r["fields"]["reason"] == "spool_full")
                .cloned()
                .collect();
            let noted: u64 = notices
                .iter()
                .map(|r| r["fields"]["count"].as_u64().unwrap())
                .sum();
            let closed = !events(&app, "evtrail.segment_end").is_empty();
            if (closed && noted == stats.sinks[1].dropped) || std::time::Instant::now() > give_up {
                break (stats, notices);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    drop(guard);

    let http = &stats.sinks[1];
    assert!(http.dropped > 0, "the cap is tiny: {http:?}");
    assert!(!notices.is_empty());
    let noted: u64 = notices
        .iter()
        .map(|r| r["fields"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(noted, http.dropped, "every dropped record is in a notice");
    assert_eq!(notices[0]["fields"]["sink"], "http");
    let app = file_records(dir.path(), "app");
    assert_accounted(dir.path(), &app, http.dropped);
}

/// Every user record is in the spool or named by a `spool_full` notice;
/// what the spool could not take of the shutdown's last records (after the
/// segments' end, so not notable) is evtrail's own and stays in the files
/// for the next start.
fn assert_accounted(dir: &Path, app: &[Value], dropped: u64) {
    let mut spooled = BTreeSet::new();
    for e in std::fs::read_dir(dir.join("spool/http")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "spool") {
            for l in std::fs::read_to_string(&p).unwrap().lines() {
                let v: Value = serde_json::from_str(l).unwrap();
                spooled.insert((
                    v["stream"].as_str().unwrap().to_owned(),
                    v["seq"].as_u64().unwrap(),
                ));
            }
        }
    }
    let mut noted = BTreeSet::new();
    for r in events(app, "evtrail.dropped") {
        if r["fields"]["reason"] != "spool_full" {
            continue;
        }
        for run in r["fields"]["ranges"].as_str().unwrap().split_whitespace() {
            let (stream, span) = run.rsplit_once(':').unwrap();
            let (a, b) = span.split_once('-').unwrap();
            for s in a.parse::<u64>().unwrap()..=b.parse().unwrap() {
                noted.insert((stream.to_owned(), s));
            }
        }
    }
    assert_eq!(
        noted.len() as u64,
        dropped,
        "the notices name each dropped record"
    );
    assert!(spooled.is_disjoint(&noted));
    for r in app.iter().filter(|r| is_user(r)) {
        let key = ("app".to_owned(), r["seq"].as_u64().unwrap());
        assert!(
            spooled.contains(&key) || noted.contains(&key),
            "{key:?} is neither spooled nor noted as dropped"
        );
    }
}

#[test]
fn two_http_sinks_deliver_side_by_side_with_their_own_settings() {
    let a = TestServer::start();
    let b = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = evtrail::builder()
        .service("two")
        .key(key())
        .log_dir(dir.path())
        .overflow(Overflow::Block)
        .add_sink(
            quick(&a.url("/a"))
                .name("a")
                .basic_auth("ingest", "s3cret")
                .header("X-Tenant", "t1")
                .build()
                .unwrap(),
        )
        .add_sink(
            quick(&b.url("/b"))
                .name("b")
                .encoder(JsonArray)
                .gzip(false)
                .bearer_auth("tok")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let d = dispatch(layer);
    emit(&d, 0, 300);
    guard.flush(WAIT).unwrap();
    drop(guard);

    let sent = file_keys(dir.path(), "app");
    assert_eq!(accepted_keys(&a, true), sent);
    let ra = &a.requests()[0];
    assert_eq!(ra.method, "POST");
    assert_eq!(ra.target, "/a");
    assert_eq!(
        ra.header("authorization"),
        Some("Basic aW5nZXN0OnMzY3JldA==")
    );
    assert_eq!(ra.header("x-tenant"), Some("t1"));
    assert_eq!(ra.header("content-encoding"), Some("gzip"));
    assert_eq!(ra.header("content-type"), Some("application/x-ndjson"));
    assert!(ra.wire_bytes < ra.body.len(), "gzip shrinks JSON");

    let rb = &b.requests()[0];
    assert_eq!(rb.header("authorization"), Some("Bearer tok"));
    assert_eq!(rb.header("content-encoding"), None);
    let got: Vec<(String, u64)> = b
        .requests()
        .iter()
        .flat_map(|r| serde_json::from_slice::<Vec<Value>>(&r.body).unwrap())
        .filter(is_user)
        .map(|r| ("app".to_owned(), r["seq"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, sent);
}

#[test]
fn bad_settings_are_clear_errors() {
    for (url, why) in [
        ("ftp://127.0.0.1/", "http"),
        ("not a url", "invalid URL"),
        ("http:///path", "invalid URL"),
    ] {
        let err = HttpSink::builder(url).build().unwrap_err();
        assert!(err.to_string().contains(why), "{url}: {err}");
    }
    let err = HttpSink::builder("http://127.0.0.1:9/")
        .batch_records(0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("batch_records"), "{err}");
    let err = HttpSink::builder("http://127.0.0.1:9/")
        .header("Bad Header", "x")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("header"), "{err}");

    // No spool directory anywhere.
    let err = evtrail::builder()
        .unsigned()
        .add_sink(HttpSink::builder("http://127.0.0.1:9/").build().unwrap())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("spool"), "{err}");

    // Two sinks cannot share a spool.
    let dir = tempfile::tempdir().unwrap();
    let err = evtrail::builder()
        .unsigned()
        .log_dir(dir.path())
        .add_sink(HttpSink::builder("http://127.0.0.1:9/").build().unwrap())
        .add_sink(HttpSink::builder("http://127.0.0.1:9/").build().unwrap())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("already used"), "{err}");
    // ...and the failed build released it again.
    let (_layer, guard) = evtrail::builder()
        .unsigned()
        .log_dir(dir.path())
        .add_sink(HttpSink::builder("http://127.0.0.1:9/").build().unwrap())
        .build()
        .unwrap();
    guard.shutdown(WAIT).unwrap();
}

/// Every line of every log file in `dir`, parsed, per file.
fn all_log_lines(dir: &Path) -> Vec<(std::path::PathBuf, Vec<Value>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "log") {
            let text = std::fs::read_to_string(&p).unwrap();
            let lines = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            out.push((p, lines));
        }
    }
    out
}

#[test]
fn a_clean_shutdown_with_a_failing_endpoint_writes_nothing_after_the_segment_end() {
    let addr = TestServer::free_addr();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/");
    for run in 0..2 {
        let sink = quick(&url).queue(2).build().unwrap();
        // Uncompressed, so that closing waits for nothing but the sinks.
        let (layer, guard) = evtrail::builder()
            .service("http-test")
            .key(key())
            .log_dir(dir.path())
            .file_options(evtrail::FileOptions::default().compression(None))
            .add_route(Route::to("delivery").event("evtrail.push"))
            .add_sink(sink)
            .build()
            .unwrap();
        let d = dispatch(layer);
        emit(&d, run * 50, 50);
        wait_handed(&guard, 50);
        let err = guard.shutdown(Duration::from_secs(2)).unwrap_err();
        assert_eq!(err.kind(), evtrail::ErrorKind::Sink, "{err}");
        drop(guard);
        for (file, lines) in all_log_lines(dir.path()) {
            let last = lines.last().unwrap();
            assert_eq!(
                last["event"],
                "evtrail.segment_end",
                "{}: the segment end is the last line: {lines:#?}",
                file.display()
            );
        }
    }
    let app = file_records(dir.path(), "app");
    let starts = events(&app, "evtrail.segment_start");
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[1]["fields"]["prev_end"], "clean", "{}", starts[1]);
    let mut keys = evtrail::Keyring::new();
    keys.add(key());
    let report = evtrail::verify::Verifier::new(keys)
        .verify_paths(&[dir.path()])
        .unwrap();
    assert!(report.is_clean(), "{}", report.to_json());
    assert_eq!(
        report
            .of_kind(evtrail::verify::FindingKind::CrashRecovered)
            .count(),
        0,
        "{}",
        report.to_json()
    );
}

/// The records in a spool directory's files, and its size on disk.
fn spool_contents(dir: &Path) -> (u64, u64) {
    let mut records = 0;
    let mut bytes = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "spool") {
            let data = std::fs::read(&p).unwrap();
            bytes += data.len() as u64;
            records += data.iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
    (records, bytes)
}

/// Sums the `count` of `evtrail.dropped` notices with `reason`, and checks
/// that each names exactly that many records in its `ranges`.
fn noted_drops(records: &[Value], reason: &str) -> u64 {
    let mut total = 0;
    for r in events(records, "evtrail.dropped") {
        if r["fields"]["reason"] != reason {
            continue;
        }
        let count = r["fields"]["count"].as_u64().unwrap();
        let ranges = r["fields"]["ranges"]
            .as_str()
            .expect("a drop names its ranges");
        let named: u64 = ranges
            .split_whitespace()
            .map(|run| {
                let (_, span) = run.rsplit_once(':').unwrap();
                let (a, b) = span.split_once('-').unwrap();
                b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1
            })
            .sum();
        assert_eq!(named, count, "{r}");
        total += count;
    }
    total
}

#[test]
fn the_spool_cap_holds_at_shutdown_and_what_does_not_fit_is_counted() {
    let addr = TestServer::free_addr();
    let dir = tempfile::tempdir().unwrap();
    let cap = 16 * 1024;
    // A roomy queue: the records wait in memory until shutdown.
    let sink = quick(&format!("http://{addr}/"))
        .spool_max_bytes(cap)
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), sink);
    emit(&d, 0, 1_000);
    wait_handed(&guard, 1_000);
    assert!(guard.shutdown(Duration::from_secs(1)).is_err());
    let stats = guard.stats();
    drop(guard);

    let (spooled, bytes) = spool_contents(&dir.path().join("spool/http"));
    assert!(
        bytes <= cap,
        "the spool holds {bytes} bytes, over its cap of {cap}"
    );
    let http = &stats.sinks[1];
    assert!(http.dropped > 0, "{http:?}");
    assert!(spooled + http.dropped <= http.written, "{http:?}");
    let app = file_records(dir.path(), "app");
    assert_eq!(noted_drops(&app, "spool_full"), http.dropped);
    assert_accounted(dir.path(), &app, http.dropped);
}
