//! The conformance every HTTP encoder passes, the built-in ones and those
//! to come: describe the encoder in a [`Conformance`] (what it promises and
//! how to read back what it wrote) and call [`check_encoder`]. An encoder's
//! own unit tests then only cover what is its own (its exact shape, its
//! labels or columns, its answers).
//!
//! It works through the public API only, as an encoder written outside the
//! crate would be used, on records a real signed pipeline wrote with hostile
//! values in them: quotes, backslashes, control characters, unicode beyond
//! the BMP, `</script>`, JSON and SQL look-alikes.
//!
//! What [`check_encoder`] holds every encoder to:
//!
//! * `content_type` is the documented one, a valid header value, the same
//!   on every call, as is `query`.
//! * `encode` appends to `out` and leaves what was there; the same batch
//!   always gives the same bytes; the body is UTF-8 and holds no raw
//!   control character (below U+0020, as JSON counts them) but the line
//!   feeds between lines.
//! * Read back, a batch of one and a batch of many (two streams, several
//!   levels) hold one entry per record, each naming the record's stream and
//!   `seq`, with its `ts` and its `msg` unchanged; entries keep the batch's
//!   order (within each group, for a format that groups records); an
//!   entry reads the same whether its record was sent alone or in a batch.
//! * Where the format promises it, each entry carries the signed line byte
//!   for byte, and the lines read back verify clean with the key; where it
//!   does not, no entry claims to.
//! * A damaged record (not a JSON object, or a `ts` not in the record
//!   format) is refused with an error naming its stream and `seq` when the
//!   encoder reads that part, and is otherwise sent as it is.
//! * `check_response`, which judges only 2xx answers (the sink retries
//!   408, 429 and 5xx and dead-letters other statuses before any encoder
//!   is asked; `tests/http.rs` covers that), takes an empty or foreign 2xx
//!   body as delivered, gives each of the format's own answers its
//!   documented verdict with a reason, never panics on garbage, and always
//!   judges the same body the same way.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use evtrail::http::{
    ClickHouse, ElasticBulk, Encode, JsonArray, Loki, Ndjson, Otlp, Outgoing, Verdict,
};
use evtrail::verify::Verifier;
use evtrail::{Key, Keyring, Overflow, Route};
use serde_json::Value;
use serde_json::value::RawValue;

/// Values a record may carry that a careless encoder would break or let
/// escape its string.
const HOSTILE: &[&str] = &[
    r#"quote " backslash \ both \" and an escape \n written out"#,
    "controls \u{0}\u{1}\u{8}\u{b}\u{c}\u{1b}[31m\u{1f}\u{7f} end",
    "line one\nline two\r\n\tindented",
    "Grüße, 日本語, e\u{301}, \u{200d}\u{feff}, \u{202e}reversed\u{202c}, 🦀, \u{10ffff}",
    "separators \u{2028} and \u{2029} break JavaScript strings",
    "</script><script>alert('x')</script><!-- -->",
    r#""},{"stream":"forged","seq":1,"msg":"injected"}]}"#,
    "'; DROP TABLE events; --",
    "",
];

/// What a receiver gets back of one record.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    /// The stream the entry says its record belongs to.
    stream: String,
    /// The `seq` the entry says its record has.
    seq: u64,
    /// The record's `ts` in microseconds since the Unix epoch.
    ts_micros: u64,
    /// The record's message as the receiver shows it.
    msg: Option<String>,
    /// The signed line, when the entry carries it whole.
    line: Option<Vec<u8>>,
    /// The group the format puts the entry in (Loki's label set); order
    /// is promised within a group. Empty for formats that keep one order.
    group: String,
}

/// What a 2xx answer must be judged.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Delivered,
    Retry,
    Reject,
}

/// An encoder and what it promises.
struct Conformance {
    encoder: Box<dyn Encode>,
    /// The documented `Content-Type`.
    content_type: &'static str,
    /// Each entry carries the signed line byte for byte.
    keeps_line: bool,
    /// A line that is not a JSON object is refused (else sent as it is).
    checks_json: bool,
    /// A `ts` not in the record format is refused (else sent as it is).
    checks_ts: bool,
    /// Reads a body back into entries; panics when the body is not valid
    /// in the format.
    read: fn(&[u8]) -> Vec<Entry>,
    /// The format's own 2xx answers and their verdicts.
    answers: &'static [(&'static str, Expect)],
}

#[test]
fn ndjson_conforms() {
    check_encoder(&Conformance {
        encoder: Box::new(Ndjson),
        content_type: "application/x-ndjson",
        keeps_line: true,
        checks_json: false,
        checks_ts: false,
        read: |body| lines_of(body).into_iter().map(entry_of_line).collect(),
        answers: &[],
    });
}

#[test]
fn json_array_conforms() {
    check_encoder(&Conformance {
        encoder: Box::new(JsonArray),
        content_type: "application/json",
        keeps_line: true,
        checks_json: true,
        checks_ts: false,
        read: |body| {
            let items: Vec<&RawValue> = serde_json::from_slice(body).expect("a JSON array");
            items
                .into_iter()
                .map(|item| entry_of_line(item.get().as_bytes()))
                .collect()
        },
        answers: &[],
    });
}

#[test]
fn clickhouse_conforms() {
    check_encoder(&Conformance {
        encoder: Box::new(ClickHouse::new("logs.events")),
        content_type: "application/x-ndjson",
        keeps_line: true,
        checks_json: true,
        checks_ts: true,
        read: |body| {
            lines_of(body)
                .into_iter()
                .map(|row| {
                    let row = json(row);
                    Entry {
                        stream: str_of(&row["stream"]),
                        seq: row["seq"].as_u64().expect("seq"),
                        ts_micros: row["ts_us"].as_u64().expect("ts_us"),
                        msg: row["msg"].as_str().map(str::to_owned),
                        line: Some(str_of(&row["record"]).into_bytes()),
                        group: String::new(),
                    }
                })
                .collect()
        },
        // ClickHouse answers an insert with an empty 200; errors come
        // with error statuses.
        answers: &[("", Expect::Delivered)],
    });
}

#[test]
fn loki_conforms() {
    check_encoder(&Conformance {
        encoder: Box::new(Loki),
        content_type: "application/json",
        keeps_line: true,
        checks_json: true,
        checks_ts: true,
        read: |body| {
            let push = json(body);
            let mut entries = Vec::new();
            for stream in push["streams"].as_array().expect("streams") {
                let labels = &stream["stream"];
                for value in stream["values"].as_array().expect("values") {
                    let line = str_of(&value[1]);
                    let record = json(line.as_bytes());
                    entries.push(Entry {
                        stream: str_of(&labels["stream"]),
                        seq: record["seq"].as_u64().expect("seq"),
                        ts_micros: micros_of_nanos(&str_of(&value[0])),
                        msg: record["msg"].as_str().map(str::to_owned),
                        line: Some(line.into_bytes()),
                        group: labels.to_string(),
                    });
                }
            }
            entries
        },
        // Loki answers a push with an empty 204.
        answers: &[("", Expect::Delivered)],
    });
}

#[test]
fn elastic_bulk_conforms() {
    check_encoder(&Conformance {
        encoder: Box::new(ElasticBulk::new("evtrail-shop")),
        content_type: "application/x-ndjson",
        keeps_line: true,
        checks_json: true,
        checks_ts: true,
        read: |body| {
            let lines = lines_of(body);
            assert_eq!(lines.len() % 2, 0, "an action and a document per record");
            lines
                .chunks(2)
                .map(|pair| {
                    assert!(json(pair[0])["create"].is_object(), "a create action");
                    let line = without_timestamp(pair[1]);
                    let mut entry = entry_of_line(&line);
                    let stamp = json(pair[1])["@timestamp"].clone();
                    assert_eq!(
                        micros_of_ts(&str_of(&stamp)),
                        entry.ts_micros,
                        "@timestamp is the record's ts"
                    );
                    entry.line = Some(line);
                    entry
                })
                .collect()
        },
        answers: &[
            (r#"{"took":3,"errors":false,"items":[]}"#, Expect::Delivered),
            (
                concat!(
                    r#"{"errors":true,"items":["#,
                    r#"{"create":{"_index":"i","_id":"a","status":201,"result":"created"}},"#,
                    r#"{"create":{"_index":"i","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}}"#,
                    "]}"
                ),
                Expect::Delivered,
            ),
            (
                concat!(
                    r#"{"errors":true,"items":["#,
                    r#"{"create":{"_index":"i","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}},"#,
                    r#"{"create":{"_index":"i","_id":"d","status":400,"error":{"type":"document_parsing_exception","reason":"failed to parse"}}}"#,
                    "]}"
                ),
                Expect::Retry,
            ),
            (
                concat!(
                    r#"{"errors":true,"items":["#,
                    r#"{"create":{"_index":"i","_id":"a","status":201,"result":"created"}},"#,
                    r#"{"create":{"_index":"i","_id":"d","status":400,"error":{"type":"document_parsing_exception","reason":"failed to parse"}}}"#,
                    "]}"
                ),
                Expect::Reject,
            ),
            (r#"{"errors":true}"#, Expect::Reject),
            (r#"{"acknowledged":true}"#, Expect::Delivered),
        ],
    });
}

#[test]
fn otlp_conforms() {
    check_encoder(&Conformance {
        encoder: Box::new(Otlp::new()),
        content_type: "application/json",
        keeps_line: false,
        checks_json: true,
        checks_ts: true,
        read: otlp_entries,
        // A collector answers `{}`, or a `partialSuccess`, with a 200.
        answers: &[
            ("{}", Expect::Delivered),
            (r#"{"partialSuccess":{}}"#, Expect::Delivered),
        ],
    });
}

#[test]
fn otlp_with_record_conforms() {
    check_encoder(&Conformance {
        encoder: Box::new(Otlp::new().with_record(true)),
        content_type: "application/json",
        keeps_line: true,
        checks_json: true,
        checks_ts: true,
        read: otlp_entries,
        answers: &[("{}", Expect::Delivered)],
    });
}

/// Holds `c`'s encoder to everything the module documentation lists.
fn check_encoder(c: &Conformance) {
    let enc = &*c.encoder;
    let (records, key) = signed_records();

    assert_eq!(enc.content_type(), c.content_type, "content type");
    assert_eq!(
        enc.content_type(),
        enc.content_type(),
        "content type is stable"
    );
    let header_safe =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    assert!(
        header_safe(enc.content_type()) && enc.content_type().contains('/'),
        "content type {:?} is a media type",
        enc.content_type()
    );
    assert_eq!(enc.query(), enc.query(), "query is stable");

    let all: Vec<Outgoing<'_>> = records
        .iter()
        .map(|r| Outgoing::new(&r.stream, r.seq, r.line.as_bytes()))
        .collect();
    let streams: std::collections::BTreeSet<_> = all.iter().map(|r| r.stream()).collect();
    assert!(
        streams.len() > 1 && all.len() > HOSTILE.len(),
        "a varied batch"
    );

    // Each record alone, then all of them in one batch.
    let mut alone = Vec::new();
    for r in &all {
        alone.extend(check_batch(c, std::slice::from_ref(r)));
    }
    let together = check_batch(c, &all);
    for (i, entry) in together.iter().enumerate() {
        let same = alone
            .iter()
            .find(|a| (&a.stream, a.seq) == (&entry.stream, entry.seq));
        assert_eq!(
            Some(entry),
            same,
            "entry {i} reads the same alone and in a batch"
        );
    }

    if c.keeps_line {
        verify_lines(&together, key);
    }

    check_damaged(c, &all[0]);
    check_answers(c);
}

/// Encodes `batch`, checks the body and what it reads back as, and returns
/// the entries in batch order.
fn check_batch(c: &Conformance, batch: &[Outgoing<'_>]) -> Vec<Entry> {
    let enc = &*c.encoder;
    let prefix = b"already here\n".to_vec();
    let mut out = prefix.clone();
    enc.encode(batch, &mut out)
        .expect("a batch of good records encodes");
    assert!(out.starts_with(&prefix), "encode keeps what `out` held");
    let body = out.split_off(prefix.len());
    let mut again = Vec::new();
    enc.encode(batch, &mut again).unwrap();
    assert!(body == again, "the same batch gives the same bytes");

    let text = std::str::from_utf8(&body).expect("the body is UTF-8");
    if let Some(c) = text.chars().find(|&c| c < ' ' && c != '\n') {
        panic!("raw control character {c:?} in the body:\n{text}");
    }

    let entries = (c.read)(&body);
    assert_eq!(entries.len(), batch.len(), "one entry per record:\n{text}");
    // Map each entry to its record, each record used once.
    let mut position = HashMap::new();
    for (i, r) in batch.iter().enumerate() {
        position.insert((r.stream().to_owned(), r.seq()), i);
    }
    let mut order: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut in_batch_order = vec![None; batch.len()];
    for entry in &entries {
        let i = position
            .remove(&(entry.stream.clone(), entry.seq))
            .unwrap_or_else(|| {
                panic!(
                    "entry {}/{} is no record or a repeat",
                    entry.stream, entry.seq
                )
            });
        order.entry(&entry.group).or_default().push(i);
        let r = &batch[i];
        let record: Value = serde_json::from_slice(r.line()).unwrap();
        assert_eq!(
            entry.msg.as_deref(),
            record["msg"].as_str(),
            "msg of {}/{} unchanged",
            entry.stream,
            entry.seq
        );
        assert_eq!(
            entry.ts_micros,
            micros_of_ts(record["ts"].as_str().unwrap()),
            "ts of {}/{}",
            entry.stream,
            entry.seq
        );
        if c.keeps_line {
            assert!(
                entry.line.as_deref() == Some(r.line()),
                "entry {}/{} carries the signed line byte for byte:\n{}\n{}",
                entry.stream,
                entry.seq,
                String::from_utf8_lossy(entry.line.as_deref().unwrap_or(b"(none)")),
                String::from_utf8_lossy(r.line()),
            );
        } else {
            assert_eq!(entry.line, None, "the format does not carry the line");
        }
        in_batch_order[i] = Some(entry.clone());
    }
    for (group, positions) in order {
        assert!(
            positions.is_sorted(),
            "group {group:?} keeps the batch order: {positions:?}"
        );
    }
    in_batch_order.into_iter().map(Option::unwrap).collect()
}

/// Writes the lines read back into a fresh log folder, one file per
/// stream, and verifies it with `key`.
fn verify_lines(entries: &[Entry], key: &Key) {
    let dir = tempfile::tempdir().unwrap();
    let mut files: HashMap<&str, Vec<u8>> = HashMap::new();
    for e in entries {
        let file = files.entry(&e.stream).or_default();
        file.extend_from_slice(e.line.as_deref().unwrap());
        file.push(b'\n');
    }
    for (stream, text) in files {
        std::fs::write(dir.path().join(format!("{stream}.log")), text).unwrap();
    }
    let report = Verifier::new(Keyring::new().with(key.clone()))
        .verify_paths(&[dir.path()])
        .unwrap();
    let verified: u64 = report.streams.iter().map(|s| s.verified).sum();
    assert!(
        report.findings.is_empty() && verified == entries.len() as u64,
        "every line read back verifies ({verified} of {}):\n{report}",
        entries.len()
    );
}

/// Damaged records: refused with an error naming the record when the
/// encoder reads that part, sent as they are otherwise.
fn check_damaged(c: &Conformance, good: &Outgoing<'_>) {
    let not_json: &[&[u8]] = &[b"{\"ts\":\"2026-11", b"[1,2]", b"\"text\"", b"", b"\xff{}"];
    let bad_ts: &[&[u8]] = &[
        br#"{"v":1,"seq":9}"#,
        br#"{"ts":"yesterday"}"#,
        br#"{"ts":1795341600}"#,
        br#"{"ts":"2026-11-22T10:00:00Z"}"#,
    ];
    for (lines, refused) in [(not_json, c.checks_json), (bad_ts, c.checks_ts)] {
        for &line in lines {
            let batch = [*good, Outgoing::new("audit", 17, line)];
            let shown = String::from_utf8_lossy(line);
            match c.encoder.encode(&batch, &mut Vec::new()) {
                Err(e) if refused => {
                    let msg = e.to_string();
                    assert!(
                        msg.starts_with("record 17 of stream `audit` "),
                        "the error names the record: {msg}"
                    );
                }
                Err(e) => panic!("{shown:?} is sent as it is, not refused: {e}"),
                Ok(()) if refused => panic!("{shown:?} is refused"),
                Ok(()) => {
                    let mut body = Vec::new();
                    c.encoder.encode(&batch, &mut body).unwrap();
                    assert!(
                        body.windows(line.len().max(1)).any(|w| w == line) || line.is_empty(),
                        "{shown:?} is sent as it is"
                    );
                }
            }
        }
    }
}

/// Judging 2xx answers.
fn check_answers(c: &Conformance) {
    let enc = &*c.encoder;
    let class = |body: &[u8]| {
        let verdict = enc.check_response(body);
        assert_eq!(
            verdict,
            enc.check_response(body),
            "the same body, the same verdict"
        );
        match verdict {
            Verdict::Delivered => Expect::Delivered,
            Verdict::Retry(why) => {
                assert!(!why.is_empty(), "a retry says why");
                Expect::Retry
            }
            Verdict::Reject(why) => {
                assert!(!why.is_empty(), "a rejection says why");
                Expect::Reject
            }
        }
    };
    for foreign in ["", "ok", "<html><body>OK</body></html>", "{}", "null"] {
        assert_eq!(
            class(foreign.as_bytes()),
            Expect::Delivered,
            "a 2xx with {foreign:?} is delivered"
        );
    }
    for &(body, expect) in c.answers {
        assert_eq!(class(body.as_bytes()), expect, "the verdict on {body}");
    }
    let deep = "[".repeat(100_000);
    let garbage: [&[u8]; 5] = [
        b"\xff\xfe\x00garbage",
        br#"{"errors":true,"items":[{"create":"#,
        br#"{"errors":"yes","items":7}"#,
        br#"{"errors":true,"items":[{},{"x":{"status":-1}},{"y":{"status":1e400}}]}"#,
        deep.as_bytes(),
    ];
    for body in garbage {
        class(body);
    }
}

/// A record as a signed pipeline wrote it.
struct Signed {
    stream: String,
    seq: u64,
    line: String,
}

/// Records a signed pipeline wrote, the streams interleaved as the sink
/// would get them, and the key that signed them.
fn signed_records() -> &'static (Vec<Signed>, Key) {
    static RECORDS: OnceLock<(Vec<Signed>, Key)> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let key = Key::from_bytes([11u8; 32].to_vec()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (layer, guard) = evtrail::builder()
            .service(r#"shop "</script>\"#)
            .environment("prod \u{2028} 🦀")
            .host("web-1")
            .key(key.clone())
            .log_dir(dir.path())
            .overflow(Overflow::Block)
            .add_route(Route::to("audit").event("login"))
            .build()
            .unwrap();
        tracing::dispatcher::with_default(&common::dispatch(layer), || {
            let span = tracing::info_span!("checkout", op = HOSTILE[0], tenant = HOSTILE[5]);
            let _enter = span.enter();
            for (i, &value) in HOSTILE.iter().enumerate() {
                match i % 3 {
                    0 => tracing::info!(note = value, user = value, "{value}"),
                    1 => tracing::warn!(event = "login", note = value, big = u64::MAX, "{value}"),
                    _ => tracing::error!(event = "login", ratio = 0.5, ok = true, "{value}"),
                }
            }
            tracing::debug!(note = "no message");
        });
        drop(guard);
        let mut per_stream: Vec<Vec<Signed>> = ["app", "audit"]
            .iter()
            .map(|&stream| read_log(dir.path(), stream))
            .collect();
        // The values reached the records unchanged, so the encoders see them.
        let msgs: Vec<Value> = per_stream
            .iter()
            .flatten()
            .map(|r| json(r.line.as_bytes())["msg"].clone())
            .collect();
        for &value in HOSTILE {
            assert!(msgs.contains(&Value::from(value)), "{value:?} is a msg");
        }
        // Interleaved, as the worker hands records of several streams to a sink.
        let mut records = Vec::new();
        while per_stream.iter().any(|s| !s.is_empty()) {
            for stream in &mut per_stream {
                if !stream.is_empty() {
                    records.push(stream.remove(0));
                }
            }
        }
        (records, key)
    })
}

/// The records in `<stream>.log` in `dir`.
fn read_log(dir: &Path, stream: &str) -> Vec<Signed> {
    std::fs::read_to_string(dir.join(format!("{stream}.log")))
        .unwrap()
        .lines()
        .map(|line| {
            let seq = json(line.as_bytes())["seq"].as_u64().unwrap();
            Signed {
                stream: stream.to_owned(),
                seq,
                line: line.to_owned(),
            }
        })
        .collect()
}

/// The entry a record's own line gives (formats that send it whole).
fn entry_of_line(line: &[u8]) -> Entry {
    let record = json(line);
    Entry {
        stream: str_of(&record["stream"]),
        seq: record["seq"].as_u64().expect("seq"),
        ts_micros: micros_of_ts(&str_of(&record["ts"])),
        msg: record["msg"].as_str().map(str::to_owned),
        line: Some(line.to_vec()),
        group: String::new(),
    }
}

/// The entries of an OTLP/HTTP JSON logs request.
fn otlp_entries(body: &[u8]) -> Vec<Entry> {
    let logs = json(body);
    let mut entries = Vec::new();
    for resource in logs["resourceLogs"].as_array().expect("resourceLogs") {
        for scope in resource["scopeLogs"].as_array().expect("scopeLogs") {
            for record in scope["logRecords"].as_array().expect("logRecords") {
                let attribute = |key: &str| {
                    record["attributes"]
                        .as_array()
                        .expect("attributes")
                        .iter()
                        .find(|a| a["key"] == key)
                        .map(|a| a["value"].clone())
                };
                let int = |v: Value| str_of(&v["intValue"]).parse::<u64>().expect("intValue");
                entries.push(Entry {
                    stream: str_of(&attribute("evtrail.stream").expect("stream")["stringValue"]),
                    seq: int(attribute("evtrail.seq").expect("seq")),
                    ts_micros: micros_of_nanos(&str_of(&record["timeUnixNano"])),
                    msg: record["body"]["stringValue"].as_str().map(str::to_owned),
                    line: attribute("evtrail.record")
                        .map(|v| str_of(&v["stringValue"]).into_bytes()),
                    group: String::new(),
                });
            }
        }
    }
    entries
}

/// An Elasticsearch document with its `@timestamp` key taken out again,
/// which must give back the signed line byte for byte.
fn without_timestamp(doc: &[u8]) -> Vec<u8> {
    let stamp = serde_json::to_string(&json(doc)["@timestamp"]).unwrap();
    let prefix = format!(r#"{{"@timestamp":{stamp},"#);
    let rest = doc
        .strip_prefix(prefix.as_bytes())
        .expect("the document starts with @timestamp");
    [b"{", rest].concat()
}

/// The non-empty lines of a body that must end with a line feed.
fn lines_of(body: &[u8]) -> Vec<&[u8]> {
    assert_eq!(body.last(), Some(&b'\n'), "the body ends with a line feed");
    body.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is a string"))
        .to_owned()
}

/// Microseconds since the epoch of a record-format `ts`
/// (`2026-11-22T10:00:00.123456Z`), computed here apart from the crate.
fn micros_of_ts(ts: &str) -> u64 {
    let n = |at: std::ops::Range<usize>| ts[at].parse::<u32>().expect("digits");
    assert_eq!(ts.len(), 27, "{ts}");
    let date = time::Date::from_calendar_date(
        n(0..4) as i32,
        time::Month::try_from(n(5..7) as u8).unwrap(),
        n(8..10) as u8,
    )
    .unwrap();
    let clock =
        time::Time::from_hms_micro(n(11..13) as u8, n(14..16) as u8, n(17..19) as u8, n(20..26))
            .unwrap();
    let at = time::PrimitiveDateTime::new(date, clock).assume_utc();
    u64::try_from(at.unix_timestamp_nanos() / 1000).unwrap()
}

/// Microseconds of a decimal string of nanoseconds that must be whole
/// microseconds.
fn micros_of_nanos(nanos: &str) -> u64 {
    let n: u128 = nanos.parse().expect("decimal nanoseconds");
    assert_eq!(n % 1000, 0, "{nanos} ns is whole microseconds");
    u64::try_from(n / 1000).unwrap()
}
