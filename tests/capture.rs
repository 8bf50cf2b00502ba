//! What the layer captures from events, spans and `log` records, and how it
//! is encoded: JSON types, promotion, collisions, key order, escaping and
//! truncation, checked on real lines written through the whole pipeline.

mod common;

use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{ChainedError, lines_with, one};
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;

const FLUSH: Duration = Duration::from_secs(10);

fn raw_lines(f: impl FnOnce()) -> Vec<String> {
    lines_with(evtrail::builder().unsigned().service("test"), f)
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn records(f: impl FnOnce()) -> Vec<Value> {
    raw_lines(f).iter().map(|l| parse(l)).collect()
}

/// Microseconds since the Unix epoch.
fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// Parses the documented timestamp form `YYYY-MM-DDThh:mm:ss.uuuuuuZ`
/// (RFC 3339, UTC, microseconds) into microseconds since the epoch.
fn parse_ts_micros(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() != 27 {
        return None;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            26 => c == b'Z',
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return None;
        }
    }
    let n = |r: std::ops::Range<usize>| ts[r].parse::<i64>().unwrap();
    let (y, mo, d) = (n(0..4), n(5..7), n(8..10));
    let (h, mi, s, us) = (n(11..13), n(14..16), n(17..19), n(20..26));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3_600 + mi * 60 + s) * 1_000_000 + us)
}

#[test]
fn timestamp_parser_used_by_these_tests_is_right() {
    assert_eq!(parse_ts_micros("1970-01-01T00:00:00.000000Z"), Some(0));
    assert_eq!(
        parse_ts_micros("2026-11-20T12:00:00.123456Z"),
        Some(1_795_176_000_123_456)
    );
    assert_eq!(parse_ts_micros("not-a-time"), None);
    assert_eq!(parse_ts_micros("2026-11-20 12:00:00.123456Z"), None);
}

// ---- error values with a source chain ----

struct Shown;

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("shown via Display")
    }
}

#[derive(Debug)]
#[allow(dead_code)]
struct Point {
    x: i32,
    y: i32,
}

// ---- field types ----

#[test]
fn every_field_type_keeps_its_json_type() {
    let err = ChainedError::new("disk quota exceeded")
        .wrapped_in("write to /var/orders failed")
        .wrapped_in("cannot save order");
    let (line, v) = one(|| {
        tracing::error!(
            text = "plain text",
            neg = -42i64,
            umax = u64::MAX,
            i128_min = i128::MIN,
            u128_max = u128::MAX,
            float = 1.5f64,
            nan = f64::NAN,
            inf = f64::INFINITY,
            neg_inf = f64::NEG_INFINITY,
            yes = true,
            no = false,
            debug = ?Point { x: 1, y: -2 },
            display = %Shown,
            error = &err as &(dyn StdError + 'static),
            "all the types"
        );
    });
    let f = &v["fields"];
    assert_eq!(f["text"], json!("plain text"));
    assert_eq!(f["neg"], json!(-42));
    assert!(f["neg"].is_i64());
    assert_eq!(f["umax"], json!(u64::MAX));
    assert!(f["umax"].is_u64());
    // Beyond 64 bits: serde_json reads these as floats, so check the raw
    // digits in the line and that the parsed value is a JSON number.
    assert!(f["i128_min"].is_number(), "{line}");
    assert!(f["u128_max"].is_number(), "{line}");
    assert!(
        line.contains(&format!("\"i128_min\":{}", i128::MIN)),
        "{line}"
    );
    assert!(
        line.contains(&format!("\"u128_max\":{}", u128::MAX)),
        "{line}"
    );
    assert_eq!(f["float"], json!(1.5));
    assert!(f["float"].is_f64());
    assert_eq!(f["nan"], json!("NaN"));
    assert_eq!(f["inf"], json!("inf"));
    assert_eq!(f["neg_inf"], json!("-inf"));
    assert_eq!(f["yes"], json!(true));
    assert_eq!(f["no"], json!(false));
    assert_eq!(f["debug"], json!("Point { x: 1, y: -2 }"));
    assert_eq!(f["display"], json!("shown via Display"));
    assert_eq!(
        f["error"],
        json!({
            "message": "cannot save order",
            "sources": ["write to /var/orders failed", "disk quota exceeded"],
        })
    );
    // Fields keep the order they were recorded in.
    let keys: Vec<&str> = [
        "text", "neg", "umax", "i128_min", "u128_max", "float", "nan", "inf", "neg_inf", "yes",
        "no", "debug", "display", "error",
    ]
    .to_vec();
    let fields_at = line.find("\"fields\":").unwrap();
    let pos: Vec<usize> = keys
        .iter()
        .map(|k| fields_at + line[fields_at..].find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{line}");
}

#[test]
fn error_without_a_source_has_no_sources_key() {
    let err = ChainedError::new("disk quota exceeded");
    let (_, v) = one(|| {
        tracing::warn!(error = &err as &(dyn StdError + 'static), "failed");
    });
    assert_eq!(
        v["fields"]["error"],
        json!({"message": "disk quota exceeded"})
    );
}

#[test]
fn debug_formatted_str_keeps_its_quotes() {
    let (_, v) = one(|| tracing::info!(name = ?"bob", n = ?Some(3), "x"));
    assert_eq!(v["fields"]["name"], json!("\"bob\""));
    assert_eq!(v["fields"]["n"], json!("Some(3)"));
}

// ---- message, metadata, thread ----

#[test]
fn message_level_target_and_source_location_are_recorded() {
    let before = now_micros();
    let mut line_no = 0;
    let (_, v) = one(|| {
        line_no = line!() + 1;
        tracing::info!(answer = 42, "the answer is {}", 42);
    });
    let after = now_micros();
    assert_eq!(v["v"], json!(1));
    assert_eq!(v["stream"], json!("app"));
    assert_eq!(v["seq"], json!(1));
    assert_eq!(v["msg"], json!("the answer is 42"));
    assert_eq!(v["level"], json!("INFO"));
    assert_eq!(v["class"], json!("info"));
    assert_eq!(v["target"], json!("capture"));
    assert_eq!(v["module"], json!("capture"));
    assert_eq!(v["file"], json!("tests/capture.rs"));
    assert_eq!(v["line"], json!(line_no));
    assert!(v["line"].is_u64());
    assert_eq!(v["service"], json!("test"));
    assert_eq!(v["pid"], json!(std::process::id()));
    assert_eq!(v["fields"], json!({"answer": 42}));
    assert!(v.get("message").is_none() && v["fields"].get("message").is_none());
    let ts = parse_ts_micros(v["ts"].as_str().unwrap()).expect("RFC 3339 timestamp");
    assert!(before <= ts && ts <= after, "{before} <= {ts} <= {after}");
}

#[test]
fn every_level_is_written_by_name_and_error_defaults_to_class_error() {
    let recs = records(|| {
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!("i");
        tracing::warn!("w");
        tracing::error!("e");
    });
    let got: Vec<(&str, &str, &str)> = recs
        .iter()
        .map(|r| {
            (
                r["level"].as_str().unwrap(),
                r["class"].as_str().unwrap(),
                r["msg"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("TRACE", "info", "t"),
            ("DEBUG", "info", "d"),
            ("INFO", "info", "i"),
            ("WARN", "info", "w"),
            ("ERROR", "error", "e"),
        ]
    );
    let seqs: Vec<u64> = recs.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}

#[test]
fn explicit_target_replaces_the_module_path() {
    let (_, v) = one(|| tracing::info!(target: "app::payments", "charged"));
    assert_eq!(v["target"], json!("app::payments"));
    assert_eq!(v["module"], json!("capture"));
}

#[test]
fn source_location_can_be_turned_off() {
    let lines = lines_with(
        evtrail::builder()
            .unsigned()
            .service("test")
            .source_location(false),
        || tracing::info!("no location"),
    );
    let v = parse(&lines[0]);
    for key in ["module", "file", "line"] {
        assert!(v.get(key).is_none(), "{key} in {}", lines[0]);
    }
    assert_eq!(v["target"], json!("capture"));
}

#[test]
fn thread_name_of_a_named_thread_is_recorded() {
    let (sink, layer, guard) = common::memory_pipeline();
    std::thread::Builder::new()
        .name("order-worker-7".into())
        .spawn(move || {
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
                tracing::info!("from a named thread");
            });
        })
        .unwrap()
        .join()
        .unwrap();
    guard.flush(FLUSH).unwrap();
    let lines = sink.lines();
    assert_eq!(lines.len(), 1);
    let v = parse(&lines[0]);
    assert_eq!(v["thread"], json!("order-worker-7"));
    assert_eq!(v["msg"], json!("from a named thread"));
}

#[test]
fn unnamed_thread_is_recorded_by_its_id() {
    let (sink, layer, guard) = common::memory_pipeline();
    let id = std::thread::spawn(move || {
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::info!("from an unnamed thread");
        });
        format!("{:?}", std::thread::current().id())
    })
    .join()
    .unwrap();
    guard.flush(FLUSH).unwrap();
    let v = parse(&sink.lines()[0]);
    assert_eq!(v["thread"], json!(id));
}

// ---- spans ----

#[test]
fn spans_are_listed_outermost_first_with_their_fields() {
    let (_, v) = one(|| {
        let outer = tracing::info_span!("request", method = "GET", attempt = 2u64);
        let _o = outer.enter();
        let inner = tracing::debug_span!("db_query", table = "users", cached = false);
        let _i = inner.enter();
        let bare = tracing::info_span!("bare");
        let _b = bare.enter();
        tracing::info!(rows = 3, "queried");
    });
    assert_eq!(
        v["spans"],
        json!([
            {"name": "request", "fields": {"method": "GET", "attempt": 2}},
            {"name": "db_query", "fields": {"table": "users", "cached": false}},
            {"name": "bare"},
        ])
    );
    assert_eq!(v["fields"], json!({"rows": 3}));
}

#[test]
fn event_outside_any_span_has_no_spans_key() {
    let (line, v) = one(|| tracing::info!("alone"));
    assert!(v.get("spans").is_none(), "{line}");
    assert!(v.get("fields").is_none(), "{line}");
}

#[test]
fn span_entered_on_an_explicit_parent_is_used_for_parent_events() {
    let (_, v) = one(|| {
        let job = tracing::info_span!("job", job_id = 7);
        tracing::info!(parent: &job, "explicit parent");
    });
    assert_eq!(
        v["spans"],
        json!([{"name": "job", "fields": {"job_id": 7}}])
    );
}

#[test]
fn an_explicit_parent_or_none_overrides_the_entered_spans() {
    let recs = records(|| {
        let outer = tracing::info_span!("outer");
        let _o = outer.enter();
        let job = tracing::info_span!(parent: None, "job", job_id = 7);
        tracing::info!(parent: &job, "explicit parent");
        tracing::info!(parent: None, "root");
        tracing::info!("contextual");
    });
    assert_eq!(
        recs[0]["spans"],
        json!([{"name": "job", "fields": {"job_id": 7}}])
    );
    assert!(recs[1].get("spans").is_none(), "{}", recs[1]);
    assert_eq!(recs[2]["spans"], json!([{"name": "outer"}]));
}

#[test]
fn a_span_without_a_parent_entered_inside_another_lists_only_itself() {
    let recs = records(|| {
        let outer = tracing::info_span!("outer");
        let _o = outer.enter();
        let detached = tracing::info_span!(parent: None, "detached");
        detached.in_scope(|| tracing::info!("inside"));
        tracing::info!("after");
    });
    assert_eq!(recs[0]["spans"], json!([{"name": "detached"}]));
    assert_eq!(recs[1]["spans"], json!([{"name": "outer"}]));
}

#[test]
fn entering_a_span_again_keeps_the_innermost_current() {
    let recs = records(|| {
        let a = tracing::info_span!("a");
        let _a = a.enter();
        let b = tracing::info_span!("b");
        let _b = b.enter();
        {
            let _again = a.enter();
            tracing::info!("a entered again");
        }
        tracing::info!("in b");
        drop(_b);
        tracing::info!("in a");
    });
    assert_eq!(recs[0]["spans"], json!([{"name": "a"}, {"name": "b"}]));
    assert_eq!(recs[1]["spans"], json!([{"name": "a"}, {"name": "b"}]));
    assert_eq!(recs[2]["spans"], json!([{"name": "a"}]));
}

#[test]
fn spans_entered_on_one_thread_are_not_current_on_another() {
    let recs = records(|| {
        let span = tracing::info_span!("here");
        let _e = span.enter();
        let d = tracing::dispatcher::get_default(Clone::clone);
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&d, || tracing::info!("there"));
        })
        .join()
        .unwrap();
        tracing::info!("here");
    });
    assert!(recs[0].get("spans").is_none(), "{}", recs[0]);
    assert_eq!(recs[1]["spans"], json!([{"name": "here"}]));
}

#[test]
fn two_pipelines_on_one_thread_each_see_their_own_spans() {
    let one = evtrail::MemorySink::new();
    let two = evtrail::MemorySink::new();
    let (layer_one, guard_one) = evtrail::builder()
        .unsigned()
        .service("one")
        .add_sink(one.clone())
        .build()
        .unwrap();
    let (layer_two, guard_two) = evtrail::builder()
        .unsigned()
        .service("two")
        .add_sink(two.clone())
        .build()
        .unwrap();
    let d_one = tracing::Dispatch::new(tracing_subscriber::registry().with(layer_one));
    let d_two = tracing::Dispatch::new(tracing_subscriber::registry().with(layer_two));
    tracing::dispatcher::with_default(&d_one, || {
        let span = tracing::info_span!("in_one");
        let _e = span.enter();
        tracing::dispatcher::with_default(&d_two, || {
            tracing::info!("two, outside any span of its own");
            let span = tracing::info_span!("in_two");
            let _e = span.enter();
            tracing::info!("two, in its span");
        });
        tracing::info!("one, in its span");
    });
    guard_one.flush(FLUSH).unwrap();
    guard_two.flush(FLUSH).unwrap();
    let one: Vec<Value> = one.lines().iter().map(|l| parse(l)).collect();
    let two: Vec<Value> = two.lines().iter().map(|l| parse(l)).collect();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["spans"], json!([{"name": "in_one"}]));
    assert_eq!(two.len(), 2);
    assert!(two[0].get("spans").is_none(), "{}", two[0]);
    assert_eq!(two[1]["spans"], json!([{"name": "in_two"}]));
}

#[test]
fn recorded_span_field_shows_up_only_in_later_events() {
    let raw = raw_lines(|| {
        let span = tracing::info_span!("import", progress = tracing::field::Empty, kind = "csv");
        let _e = span.enter();
        tracing::info!("before record");
        span.record("progress", 50u64);
        tracing::info!("after first record");
        span.record("progress", 100u64);
        span.record("kind", "json");
        tracing::info!("after second record");
    });
    assert_eq!(raw.len(), 3);
    let recs: Vec<Value> = raw.iter().map(|l| parse(l)).collect();
    assert_eq!(recs[0]["msg"], json!("before record"));
    assert_eq!(
        recs[0]["spans"],
        json!([{"name": "import", "fields": {"kind": "csv"}}])
    );
    assert_eq!(
        recs[1]["spans"],
        json!([{"name": "import", "fields": {"kind": "csv", "progress": 50}}])
    );
    // A field recorded again is replaced in place, not repeated (serde_json
    // would hide a duplicate key, so look at the raw line).
    assert!(
        raw[2].contains(r#""spans":[{"name":"import","fields":{"kind":"json","progress":100}}]"#),
        "{}",
        raw[2]
    );
}

#[test]
fn recording_a_span_field_does_not_change_records_already_captured() {
    // The event before the record call is captured but not yet encoded
    // when the span changes; it must still show the old value.
    let raw = raw_lines(|| {
        let span = tracing::info_span!("import", stage = "parse");
        let _e = span.enter();
        for i in 0..200 {
            tracing::info!(i, "parsing");
        }
        span.record("stage", "load");
        tracing::info!("loading");
    });
    assert_eq!(raw.len(), 201);
    for line in &raw[..200] {
        assert!(line.contains(r#""fields":{"stage":"parse"}"#), "{line}");
    }
    assert!(
        raw[200].contains(r#""fields":{"stage":"load"}"#),
        "{}",
        raw[200]
    );
}

#[test]
fn promoted_field_recorded_later_on_a_span_is_promoted() {
    let recs = records(|| {
        let span = tracing::info_span!("http", request_id = tracing::field::Empty);
        let _e = span.enter();
        tracing::info!("before");
        span.record("request_id", "req-9");
        tracing::info!("after");
    });
    assert!(recs[0].get("request_id").is_none());
    assert_eq!(recs[1]["request_id"], json!("req-9"));
    assert_eq!(recs[1]["spans"], json!([{"name": "http"}]));
}

// ---- promotion ----

/// Every top-level key a promoted field can land in, with the value the
/// tests below give it.
fn promoted_expectation() -> Value {
    json!({
        "class": "audit",
        "event": "order_placed",
        "code": 4021,
        "status": "ok",
        "tenant": "acme",
        "user": "u-7",
        "ip": "10.0.0.1",
        "op": "order-1042",
        "trace_id": "tr-1",
        "span_id": "sp-1",
        "request_id": "rq-1",
        "session_id": "ss-1",
    })
}

fn assert_promoted(v: &Value, line: &str) {
    for (k, want) in promoted_expectation().as_object().unwrap() {
        assert_eq!(&v[k], want, "top-level `{k}` in {line}");
        assert_eq!(
            line.matches(&format!("\"{k}\":")).count(),
            1,
            "`{k}` written once in {line}"
        );
    }
}

#[test]
fn promoted_fields_on_the_event_move_to_the_top_level() {
    let (line, v) = one(|| {
        tracing::info!(
            event = "order_placed",
            code = 4021,
            class = "audit",
            status = "ok",
            tenant = "acme",
            user = "u-7",
            ip = "10.0.0.1",
            op = "order-1042",
            trace_id = "tr-1",
            span_id = "sp-1",
            request_id = "rq-1",
            session_id = "ss-1",
            extra = "stays",
            "promoted"
        );
    });
    assert_promoted(&v, &line);
    assert_eq!(v["fields"], json!({"extra": "stays"}));
}

#[test]
fn user_id_and_operation_key_are_promoted_as_user_and_op() {
    let (line, v) = one(|| {
        tracing::info!(
            user_id = "u-7",
            operation_key = "order-1042",
            tenant_id = "acme",
            "aliases"
        );
    });
    assert_eq!(v["user"], json!("u-7"), "{line}");
    assert_eq!(v["op"], json!("order-1042"), "{line}");
    assert_eq!(v["tenant"], json!("acme"), "{line}");
    for gone in ["user_id", "operation_key", "tenant_id"] {
        assert!(
            !line.contains(&format!("\"{gone}\"")),
            "{gone} still in {line}"
        );
    }
    assert!(v.get("fields").is_none(), "{line}");
}

#[test]
fn promoted_fields_keep_their_json_type() {
    let (_, v) = one(|| tracing::info!(code = 4021u64, user_id = 9i64, status = true, "t"));
    assert!(v["code"].is_u64());
    assert_eq!(v["code"], json!(4021));
    assert_eq!(v["user"], json!(9));
    assert_eq!(v["status"], json!(true));
}

#[test]
fn promoted_fields_on_an_enclosing_span_move_to_the_top_level() {
    let (line, v) = one(|| {
        let span = tracing::info_span!(
            "checkout",
            event = "order_placed",
            code = 4021,
            class = "audit",
            status = "ok",
            tenant = "acme",
            user_id = "u-7",
            ip = "10.0.0.1",
            operation_key = "order-1042",
            trace_id = "tr-1",
            span_id = "sp-1",
            request_id = "rq-1",
            session_id = "ss-1",
            cart = 3
        );
        let _e = span.enter();
        tracing::info!("inside");
    });
    assert_promoted(&v, &line);
    assert_eq!(
        v["spans"],
        json!([{"name": "checkout", "fields": {"cart": 3}}])
    );
    assert!(v.get("fields").is_none(), "{line}");
}

#[test]
fn innermost_promoted_occurrence_wins_and_losers_stay_where_they_were() {
    let (line, v) = one(|| {
        let outer = tracing::info_span!(
            "outer",
            op = "outer-op",
            tenant = "outer-tenant",
            user = "outer-user",
            request_id = "outer-req"
        );
        let _o = outer.enter();
        let inner = tracing::info_span!(
            "inner",
            op = "inner-op",
            tenant = "inner-tenant",
            user_id = "inner-user"
        );
        let _i = inner.enter();
        tracing::info!(op = "event-op", user = "event-user", "nested");
    });
    assert_eq!(v["op"], json!("event-op"));
    assert_eq!(v["user"], json!("event-user"));
    assert_eq!(v["tenant"], json!("inner-tenant"));
    assert_eq!(v["request_id"], json!("outer-req"));
    assert_eq!(
        v["spans"],
        json!([
            {"name": "outer", "fields": {"op": "outer-op", "tenant": "outer-tenant", "user": "outer-user"}},
            {"name": "inner", "fields": {"op": "inner-op", "user_id": "inner-user"}},
        ])
    );
    assert!(v.get("fields").is_none(), "{line}");
    // The winners are moved, not copied.
    for winner in ["event-op", "event-user", "inner-tenant", "outer-req"] {
        assert_eq!(line.matches(winner).count(), 1, "{winner} in {line}");
    }
}

#[test]
fn class_from_a_span_is_the_records_class() {
    let (_, v) = one(|| {
        let span = tracing::info_span!("admin", class = "security");
        let _e = span.enter();
        tracing::error!("denied");
    });
    assert_eq!(v["class"], json!("security"));
    assert_eq!(v["level"], json!("ERROR"));
    assert_eq!(v["spans"], json!([{"name": "admin"}]));
}

// ---- collisions with the record's own keys ----

#[test]
fn user_fields_named_like_record_keys_cannot_override_them() {
    let before = now_micros();
    let (line, v) = one(|| {
        tracing::info!(
            ts = "not-a-time",
            level = "FAKE",
            seq = 999u64,
            sig = "forged-signature",
            stream = "evil",
            v = 42u64,
            "collide"
        );
    });
    let after = now_micros();
    assert!(
        line.starts_with(r#"{"v":1,"stream":"app","seq":1,"ts":""#),
        "{line}"
    );
    assert_eq!(v["v"], json!(1));
    assert_eq!(v["stream"], json!("app"));
    assert_eq!(v["seq"], json!(1));
    assert_eq!(v["level"], json!("INFO"));
    assert_ne!(v.get("sig"), Some(&json!("forged-signature")), "{line}");
    let ts = parse_ts_micros(v["ts"].as_str().unwrap()).expect("real timestamp");
    assert!(before <= ts && ts <= after);
    assert_eq!(
        v["fields"],
        json!({
            "ts": "not-a-time",
            "level": "FAKE",
            "seq": 999,
            "sig": "forged-signature",
            "stream": "evil",
            "v": 42,
        })
    );
}

#[test]
fn user_field_named_ts_cannot_override_the_timestamp() {
    let (line, v) = one(|| tracing::info!(ts = "1999-01-01T00:00:00.000000Z", "t"));
    assert_eq!(line.matches("1999-01-01").count(), 1, "{line}");
    assert_eq!(v["fields"]["ts"], json!("1999-01-01T00:00:00.000000Z"));
    assert_ne!(v["ts"], json!("1999-01-01T00:00:00.000000Z"));
    assert!(parse_ts_micros(v["ts"].as_str().unwrap()).is_some());
}

#[test]
fn user_fields_named_like_static_context_stay_under_fields() {
    let (line, v) = one(|| {
        tracing::info!(
            service = "spoofed",
            pid = 1u64,
            msg = "spoofed msg",
            target = "spoofed::target",
            "real message"
        );
    });
    assert_eq!(v["service"], json!("test"), "{line}");
    assert_eq!(v["pid"], json!(std::process::id()));
    assert_eq!(v["msg"], json!("real message"));
    assert_eq!(v["target"], json!("capture"));
    assert_eq!(
        v["fields"],
        json!({
            "service": "spoofed",
            "pid": 1,
            "msg": "spoofed msg",
            "target": "spoofed::target",
        })
    );
}

// ---- key order ----

#[test]
fn keys_of_a_full_line_come_in_the_documented_order() {
    let lines = lines_with(
        evtrail::builder()
            .unsigned()
            .service("shop")
            .environment("prod")
            .region("eu-west-1")
            .host("web-1")
            .node("node-3")
            .version("1.2.3"),
        || {
            let span = tracing::info_span!("checkout", cart = 3);
            let _e = span.enter();
            tracing::warn!(
                session_id = "ss-1",
                request_id = "rq-1",
                span_id = "sp-1",
                trace_id = "tr-1",
                op = "order-1042",
                ip = "10.0.0.1",
                user = "u-7",
                tenant = "acme",
                status = "warning",
                code = 4021,
                event = "payment_failed",
                class = "payments",
                reason = "card_declined",
                "payment failed"
            );
        },
    );
    let line = &lines[0];
    let order = [
        "v",
        "stream",
        "seq",
        "ts",
        "level",
        "class",
        "event",
        "code",
        "status",
        "msg",
        "target",
        "module",
        "file",
        "line",
        "thread",
        "service",
        "env",
        "region",
        "host",
        "node",
        "pid",
        "version",
        "tenant",
        "user",
        "ip",
        "op",
        "trace_id",
        "span_id",
        "request_id",
        "session_id",
        "spans",
        "fields",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|k| {
            line.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("`{k}` missing in {line}"))
        })
        .collect();
    for (i, w) in pos.windows(2).enumerate() {
        assert!(
            w[0] < w[1],
            "`{}` should come before `{}` in {line}",
            order[i],
            order[i + 1]
        );
    }
    // Nothing else at the top level.
    let v = parse(line);
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = order.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(v["env"], json!("prod"));
    assert_eq!(v["region"], json!("eu-west-1"));
    assert_eq!(v["host"], json!("web-1"));
    assert_eq!(v["node"], json!("node-3"));
    assert_eq!(v["version"], json!("1.2.3"));
    assert_eq!(v["class"], json!("payments"));
    assert_eq!(v["fields"], json!({"reason": "card_declined"}));
}

#[test]
fn unset_optional_keys_are_absent_not_null() {
    let lines = lines_with(
        evtrail::builder()
            .unsigned()
            .service("test")
            .host("")
            .pid(false),
        || tracing::info!("minimal"),
    );
    let line = &lines[0];
    assert!(!line.contains(":null"), "{line}");
    let v = parse(line);
    for key in [
        "env", "region", "host", "node", "pid", "version", "event", "code", "status", "spans",
        "fields", "user", "tenant",
    ] {
        assert!(v.get(key).is_none(), "`{key}` in {line}");
    }
}

// ---- strings ----

#[test]
fn strings_with_quotes_controls_and_non_ascii_round_trip_exactly() {
    let tricky = "quote \" backslash \\ newline \n cr \r tab \t nul \u{0} bell \u{7} \
                  unit \u{1f} del \u{7f} accents éàü cjk 世界 emoji 🦀👩‍💻 sep \u{2028} end";
    let (line, v) = one(|| {
        let span = tracing::info_span!("s", note = tricky);
        let _e = span.enter();
        tracing::info!(value = tricky, debug = ?tricky, "msg {}", tricky);
    });
    assert_eq!(v["fields"]["value"], json!(tricky));
    assert_eq!(v["fields"]["debug"], json!(format!("{tricky:?}")));
    assert_eq!(v["msg"], json!(format!("msg {tricky}")));
    assert_eq!(v["spans"][0]["fields"]["note"], json!(tricky));
    // One physical line, no raw control characters, named escapes for
    // \n \r \t and \u00XX for the rest; non-ASCII written as UTF-8.
    assert!(!line.bytes().any(|b| b < 0x20), "{line:?}");
    for esc in [
        r"\n", r"\r", r"\t", r"\u0000", r"\u0007", r"\u001f", r#"\""#, r"\\",
    ] {
        assert!(line.contains(esc), "missing {esc} in {line}");
    }
    assert!(line.contains("世界 emoji 🦀👩‍💻"), "{line}");
    assert!(!line.contains(r"\u00e9"), "non-ASCII must not be escaped");
}

// ---- truncation ----

#[test]
fn oversized_values_are_truncated_with_a_marker_not_dropped() {
    let long = "x".repeat(1000);
    let euros = "€".repeat(100); // 300 bytes, 3 per char
    let exact = "y".repeat(64);
    let lines = lines_with(
        evtrail::builder()
            .unsigned()
            .service("test")
            .max_value_bytes(64),
        || {
            let span = tracing::info_span!("s", blob = long.as_str());
            let _e = span.enter();
            tracing::info!(
                value = long.as_str(),
                multi = euros.as_str(),
                exact = exact.as_str(),
                debug = ?long,
                "{}",
                long
            );
        },
    );
    let v = parse(&lines[0]);
    let cut_x = format!("{}…[truncated, 1000 bytes]", "x".repeat(64));
    assert_eq!(v["fields"]["value"], json!(cut_x));
    assert_eq!(v["msg"], json!(cut_x));
    assert_eq!(v["spans"][0]["fields"]["blob"], json!(cut_x));
    // Debug adds two quotes: 1002 bytes, cut after the quote and 63 x.
    assert_eq!(
        v["fields"]["debug"],
        json!(format!("\"{}…[truncated, 1002 bytes]", "x".repeat(63)))
    );
    // Cut at a char boundary: 21 whole euro signs (63 bytes).
    assert_eq!(
        v["fields"]["multi"],
        json!(format!("{}…[truncated, 300 bytes]", "€".repeat(21)))
    );
    assert_eq!(v["fields"]["exact"], json!(exact));
}

#[test]
fn values_up_to_the_default_limit_are_kept_and_longer_ones_cut() {
    let limit = evtrail::DEFAULT_MAX_VALUE_BYTES;
    let fits = "a".repeat(limit);
    let over = "b".repeat(limit + 1);
    let (_, v) = one(|| tracing::info!(fits = fits.as_str(), over = over.as_str(), "t"));
    assert_eq!(v["fields"]["fits"], json!(fits));
    assert_eq!(
        v["fields"]["over"],
        json!(format!(
            "{}…[truncated, {} bytes]",
            "b".repeat(limit),
            limit + 1
        ))
    );
}

#[test]

fn oversized_error_messages_are_truncated_too() {
    let err = ChainedError::new("e".repeat(1000));
    let lines = lines_with(
        evtrail::builder()
            .unsigned()
            .service("test")
            .max_value_bytes(64),
        || {
            tracing::error!(error = &err as &(dyn StdError + 'static), "failed");
        },
    );
    let v = parse(&lines[0]);
    assert_eq!(
        v["fields"]["error"]["message"],
        json!(format!("{}…[truncated, 1000 bytes]", "e".repeat(64)))
    );
}

// ---- `log` records ----

#[test]
fn log_crate_records_keep_their_own_target_level_and_location() {
    tracing_log::LogTracer::init().expect("LogTracer installed once in this process");
    let mut line_no = 0;
    let (line, v) = one(|| {
        let span = tracing::info_span!("legacy_call", tenant = "acme");
        let _e = span.enter();
        line_no = line!() + 1;
        log::warn!(target: "legacy::db", "slow query {}", 3);
    });
    assert_eq!(v["target"], json!("legacy::db"));
    assert_eq!(v["level"], json!("WARN"));
    assert_eq!(v["msg"], json!("slow query 3"));
    assert_eq!(v["module"], json!("capture"));
    assert_eq!(v["file"], json!("tests/capture.rs"));
    assert_eq!(v["line"], json!(line_no));
    assert_eq!(v["tenant"], json!("acme"));
    assert_eq!(v["spans"], json!([{"name": "legacy_call"}]));
    // The bridge's own `log.*` fields are not repeated as user fields.
    assert!(!line.contains("log."), "{line}");
    assert!(v.get("fields").is_none(), "{line}");
}

/// Record buffers are reused once the worker is done with them: an event
/// captured into a reused buffer carries its own fields, message and spans
/// and nothing of the event that used the buffer before.
#[test]
fn reused_buffers_carry_nothing_over_from_earlier_events() {
    let (sink, layer, guard) = common::memory_pipeline();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for round in 0..50u64 {
            {
                let span = tracing::info_span!("outer", tenant = "acme", round);
                let _e = span.enter();
                tracing::info!(
                    user_id = "u-1",
                    note = "a long value that fills the text buffer",
                    round,
                    "first"
                );
            }
            // The worker has the first record (and its buffers) back.
            guard.flush(FLUSH).expect("flush");
            tracing::warn!(code = 7, "second");
            guard.flush(FLUSH).expect("flush");
        }
    });
    let lines = sink.lines();
    assert_eq!(lines.len(), 100);
    for pair in lines.chunks(2) {
        let (first, second) = (parse(&pair[0]), parse(&pair[1]));
        assert_eq!(first["msg"], "first");
        assert_eq!(first["tenant"], "acme");
        assert_eq!(second["msg"], "second");
        assert_eq!(second["code"], 7);
        for stale in ["tenant", "user", "spans"] {
            assert!(
                second.get(stale).is_none(),
                "{stale} carried over: {second}"
            );
        }
        assert_eq!(
            second["fields"].as_object().map_or(0, |f| f.len()),
            0,
            "{second}"
        );
    }
}
