//! Request bodies for the receiving APIs.
//!
//! An [`Encode`] turns a run of records (each the exact signed JSON line
//! evtrail wrote) into one request body. The built-in encoders speak the
//! common log stores; implement [`Encode`] for anything else.
//!
//! | encoder | receiver | endpoint (path to configure) | body |
//! |---|---|---|---|
//! | [`Ndjson`] | webhooks, anything | yours | the lines, one per line |
//! | [`JsonArray`] | webhooks wanting one JSON document | yours | `[line,line,…]` |
//! | [`ClickHouse`] | ClickHouse HTTP interface | `/` (port 8123) | `JSONEachRow` rows |
//! | [`Loki`] | Grafana Loki | `/loki/api/v1/push` | push API JSON |
//! | [`ElasticBulk`] | Elasticsearch, OpenSearch | `/_bulk` | bulk NDJSON |
//! | [`Otlp`] | OpenTelemetry collectors | `/v1/logs` (port 4318) | OTLP/HTTP JSON |
//!
//! [`Ndjson`] and [`JsonArray`] send the signed lines byte for byte. The
//! others reshape records for their store, and still carry the signed
//! line so that what the store keeps can be verified: whole in a column
//! ([`ClickHouse`]), as the log line ([`Loki`]), with only an `@timestamp`
//! key put in front ([`ElasticBulk`]), or, when asked
//! ([`Otlp::with_record`]), as an attribute ([`Otlp`]).
//!
//! Every encoder except [`Ndjson`] checks that each line is a JSON object,
//! and every encoder that reads `ts` requires the record format's
//! `YYYY-MM-DDThh:mm:ss.ffffffZ`; a record that fails either is an
//! [`EncodeError`] naming its stream and `seq`. The `stream` and `seq` the
//! encoders write come from the [`Outgoing`], which always has them.

use std::fmt;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value, json};

/// One record on its way out: the exact JSON line evtrail wrote (signature
/// included) and where it belongs, so a receiver can de-duplicate by
/// (`stream`, `seq`).
///
/// # Examples
///
/// ```
/// use evtrail::http::Outgoing;
///
/// let r = Outgoing::new("app", 7, br#"{"v":1,"stream":"app","seq":7}"#);
/// assert_eq!((r.stream(), r.seq()), ("app", 7));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    stream: &'a str,
    seq: u64,
    line: &'a [u8],
}

impl<'a> Outgoing<'a> {
    /// A record of `stream` with sequence number `seq` and JSON `line`
    /// (without its trailing newline).
    pub fn new(stream: &'a str, seq: u64, line: &'a [u8]) -> Outgoing<'a> {
        Outgoing { stream, seq, line }
    }

    /// The stream the record belongs to.
    pub fn stream(&self) -> &'a str {
        self.stream
    }

    /// The record's sequence number within its stream.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The record as evtrail wrote it: one JSON object, no newline.
    pub fn line(&self) -> &'a [u8] {
        self.line
    }
}

/// Why records could not be encoded (for example a damaged line read back
/// from the spool). The batch goes to the dead-letter file with this reason.
///
/// # Examples
///
/// ```
/// use evtrail::http::EncodeError;
///
/// let e = EncodeError::new("record 3 of stream `app` has no `ts`");
/// assert_eq!(e.to_string(), "record 3 of stream `app` has no `ts`");
/// ```
#[derive(Debug)]
pub struct EncodeError {
    message: String,
}

impl EncodeError {
    /// An error saying `message`.
    pub fn new(message: impl Into<String>) -> EncodeError {
        EncodeError {
            message: message.into(),
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EncodeError {}

/// What a successful (2xx) answer really means, for APIs that report
/// per-item failures inside a 200.
///
/// # Examples
///
/// ```
/// use evtrail::http::{ElasticBulk, Encode, Verdict};
///
/// let bulk = ElasticBulk::new("logs");
/// assert_eq!(bulk.check_response(br#"{"took":3,"errors":false,"items":[]}"#), Verdict::Delivered);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every record was accepted.
    Delivered,
    /// Try the batch again later (the receiver is overloaded).
    Retry(String),
    /// The receiver refused the batch for good: it goes to the dead-letter
    /// file with this reason.
    Reject(String),
}

/// Turns records into a request body for one receiving API.
///
/// # Examples
///
/// ```
/// use evtrail::http::{Encode, EncodeError, Outgoing};
///
/// /// Sends the lines separated by newlines, as plain text.
/// struct Lines;
///
/// impl Encode for Lines {
///     fn content_type(&self) -> &str {
///         "text/plain"
///     }
///     fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
///         for r in records {
///             out.extend_from_slice(r.line());
///             out.push(b'\n');
///         }
///         Ok(())
///     }
/// }
///
/// let mut body = Vec::new();
/// Lines.encode(&[Outgoing::new("app", 1, br#"{"seq":1}"#)], &mut body).unwrap();
/// assert_eq!(body, b"{\"seq\":1}\n");
/// ```
pub trait Encode: Send + Sync + 'static {
    /// The body's media type, sent as `Content-Type`.
    fn content_type(&self) -> &str;

    /// Appends the body for `records` (in order, at least one) to `out`.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] when a record cannot be expressed in this format;
    /// the whole batch then goes to the dead-letter file.
    fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError>;

    /// Query parameters every request carries (ClickHouse's `query`).
    /// Default: none.
    fn query(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Judges the body of a 2xx answer. Default: [`Verdict::Delivered`].
    fn check_response(&self, body: &[u8]) -> Verdict {
        let _ = body;
        Verdict::Delivered
    }
}

/// Newline-delimited JSON: each record's line as it is, one per line
/// (`application/x-ndjson`). The generic choice for webhooks and for
/// receivers that want the signed lines unchanged.
///
/// Lines are not parsed, so a damaged line is sent as it is.
///
/// # Examples
///
/// ```
/// use evtrail::http::{Encode, Ndjson, Outgoing};
///
/// let mut body = Vec::new();
/// Ndjson.encode(&[Outgoing::new("app", 1, br#"{"seq":1}"#)], &mut body)?;
/// assert_eq!(body, b"{\"seq\":1}\n");
/// # Ok::<(), evtrail::http::EncodeError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Ndjson;

impl Encode for Ndjson {
    fn content_type(&self) -> &str {
        "application/x-ndjson"
    }

    fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for r in records {
            out.extend_from_slice(r.line());
            out.push(b'\n');
        }
        Ok(())
    }
}

/// One JSON array of the records (`application/json`): `[line,line,…]`,
/// each line embedded byte for byte, so every element is still the signed
/// record. For receivers that want a single JSON document per request.
///
/// # Errors
///
/// [`encode`](Encode::encode) fails when a line is not a JSON object (it
/// would make the whole array invalid).
///
/// # Examples
///
/// ```
/// use evtrail::http::{Encode, JsonArray, Outgoing};
///
/// let records = [
///     Outgoing::new("app", 1, br#"{"seq":1}"#),
///     Outgoing::new("app", 2, br#"{"seq":2}"#),
/// ];
/// let mut body = Vec::new();
/// JsonArray.encode(&records, &mut body)?;
/// assert_eq!(body, br#"[{"seq":1},{"seq":2}]"#);
/// assert_eq!(JsonArray.content_type(), "application/json");
/// # Ok::<(), evtrail::http::EncodeError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonArray;

impl Encode for JsonArray {
    fn content_type(&self) -> &str {
        "application/json"
    }

    fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(b'[');
        for (i, r) in records.iter().enumerate() {
            // Validated without building the object: the line is sent as is.
            let is_object = r.line.trim_ascii_start().first() == Some(&b'{');
            if !is_object || serde_json::from_slice::<IgnoredAny>(r.line).is_err() {
                return Err(invalid(r, "is not a JSON object"));
            }
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(r.line);
        }
        out.push(b']');
        Ok(())
    }
}

/// ClickHouse's HTTP interface: `INSERT INTO <table> FORMAT JSONEachRow`,
/// one row per record.
///
/// Point the sink at the server's HTTP port (`http://host:8123/`); the
/// statement travels in the `query` parameter and the rows in the body.
/// [`create_table`](ClickHouse::create_table) gives a matching table.
///
/// # Rows
///
/// | column | type | value |
/// |---|---|---|
/// | `ts` | `DateTime('UTC')` | the record's `ts` as `YYYY-MM-DD hh:mm:ss` (UTC, whole seconds) |
/// | `ts_us` | `UInt64` | `ts` in microseconds since the Unix epoch |
/// | `stream`, `seq` | `String`, `UInt64` | the record's stream and sequence number |
/// | `pid`, `line` | `UInt32` | as in the record |
/// | `level`, `service`, `env`, `region`, `host`, `node`, `version`, `target`, `module`, `file`, `thread`, `msg`, `event`, `code`, `class`, `status`, `tenant`, `user`, `ip`, `op`, `trace_id`, `span_id`, `request_id`, `session_id`, `kid`, `sig` | `String` | a string as it is; any other JSON value (`"code":4021`) as its JSON text (`"4021"`) |
/// | `fields`, `spans` | `String` | the JSON text of the object or array |
/// | `record` | `String` | the signed line, byte for byte, so the signature can still be verified from the table |
///
/// A key the record lacks is left out of its row, so the column's default
/// applies. `ts` is written without fractions because `DateTime` (unlike
/// `DateTime64`, which ClickHouse 18.16 lacks) does not parse them;
/// `ts_us` keeps the microseconds. The string is UTC: a `DateTime` column
/// without `'UTC'` would read it in the server's time zone.
///
/// Requests also set `input_format_skip_unknown_fields=1`, so a table
/// without some of these columns still accepts the rows.
///
/// # Errors
///
/// [`encode`](Encode::encode) fails for a line that is not a JSON object
/// or whose `ts` is missing or not in the record format.
///
/// # Examples
///
/// ```
/// use evtrail::http::{ClickHouse, Encode, Outgoing};
///
/// let ch = ClickHouse::new("logs.events");
/// assert_eq!(ch.query()[0].1, "INSERT INTO logs.events FORMAT JSONEachRow");
///
/// let line = br#"{"v":1,"stream":"app","seq":1,"ts":"2026-11-22T10:00:00.123456Z","code":4021}"#;
/// let mut body = Vec::new();
/// ch.encode(&[Outgoing::new("app", 1, line)], &mut body)?;
/// let row: serde_json::Value = serde_json::from_slice(&body)?;
/// assert_eq!(row["ts"], "2026-11-22 10:00:00");
/// assert_eq!(row["ts_us"], 1_795_341_600_123_456u64);
/// assert_eq!(row["code"], "4021");
/// assert_eq!(row["record"].as_str().unwrap().as_bytes(), line);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClickHouse {
    table: String,
}

/// The columns of a ClickHouse row, in table order, with their types. The
/// encoder and [`ClickHouse::create_table`] both follow this list.
const CLICKHOUSE_COLUMNS: &[(&str, &str)] = &[
    ("ts", "DateTime('UTC')"),
    ("ts_us", "UInt64"),
    ("stream", "String"),
    ("seq", "UInt64"),
    ("level", "String"),
    ("service", "String"),
    ("env", "String"),
    ("region", "String"),
    ("host", "String"),
    ("node", "String"),
    ("version", "String"),
    ("pid", "UInt32"),
    ("target", "String"),
    ("module", "String"),
    ("file", "String"),
    ("line", "UInt32"),
    ("thread", "String"),
    ("msg", "String"),
    ("event", "String"),
    ("code", "String"),
    ("class", "String"),
    ("status", "String"),
    ("tenant", "String"),
    ("user", "String"),
    ("ip", "String"),
    ("op", "String"),
    ("trace_id", "String"),
    ("span_id", "String"),
    ("request_id", "String"),
    ("session_id", "String"),
    ("fields", "String"),
    ("spans", "String"),
    ("kid", "String"),
    ("sig", "String"),
    ("record", "String"),
];

impl ClickHouse {
    /// Rows for `table`, which may be qualified (`logs.events`). The name
    /// goes into the SQL as given, unquoted and unchecked: pass a plain
    /// identifier you control.
    pub fn new(table: impl Into<String>) -> ClickHouse {
        ClickHouse {
            table: table.into(),
        }
    }

    /// The table the rows go to.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// A `CREATE TABLE IF NOT EXISTS` statement for a table that takes
    /// these rows, valid from ClickHouse 18.16 on (no `LowCardinality`, no
    /// `DateTime64`):
    ///
    /// ```sql
    /// CREATE TABLE IF NOT EXISTS <table> (
    ///     ts DateTime('UTC'),
    ///     ts_us UInt64,
    ///     stream String,
    ///     seq UInt64,
    ///     ...
    ///     record String
    /// ) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (service, host, stream, seq)
    /// ```
    ///
    /// Delivery is at least once, so a batch may arrive twice. Rows with
    /// the same `(service, host, stream, seq)` are one record, and
    /// `ReplacingMergeTree` keeps one of them when it merges parts; merges
    /// happen in the background, so count with `SELECT … FINAL` when the
    /// number must be exact. Partitions are months of `ts` in UTC.
    ///
    /// # Examples
    ///
    /// ```
    /// use evtrail::http::ClickHouse;
    ///
    /// let sql = ClickHouse::new("events").create_table();
    /// assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS events ("));
    /// assert!(sql.ends_with("ORDER BY (service, host, stream, seq)"));
    /// ```
    pub fn create_table(&self) -> String {
        let columns: Vec<String> = CLICKHOUSE_COLUMNS
            .iter()
            .map(|(name, kind)| format!("    {name} {kind}"))
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n{}\n) ENGINE = ReplacingMergeTree() \
             PARTITION BY toYYYYMM(ts) ORDER BY (service, host, stream, seq)",
            self.table,
            columns.join(",\n")
        )
    }
}

impl Encode for ClickHouse {
    /// `application/x-ndjson`: ClickHouse ignores the media type and goes
    /// by the `FORMAT` clause, so this only describes the body to proxies.
    fn content_type(&self) -> &str {
        "application/x-ndjson"
    }

    fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for r in records {
            let mut p = parse(r)?;
            let mut row = Map::new();
            for &(name, kind) in CLICKHOUSE_COLUMNS {
                let value = match name {
                    // The validated format fixes the positions: date, then time.
                    "ts" => Value::from(format!("{} {}", &p.ts[..10], &p.ts[11..19])),
                    "ts_us" => Value::from(p.micros),
                    "stream" => Value::from(r.stream),
                    "seq" => Value::from(r.seq),
                    "record" => Value::from(p.line),
                    _ => match p.keys.remove(name) {
                        None => continue,
                        Some(v) if kind == "String" => Value::String(into_text(v)),
                        Some(v) => v,
                    },
                };
                row.insert(name.to_owned(), value);
            }
            write_json(out, &row)?;
            out.push(b'\n');
        }
        Ok(())
    }

    fn query(&self) -> Vec<(String, String)> {
        vec![
            (
                "query".to_owned(),
                format!("INSERT INTO {} FORMAT JSONEachRow", self.table),
            ),
            (
                "input_format_skip_unknown_fields".to_owned(),
                "1".to_owned(),
            ),
        ]
    }
}

/// Grafana Loki's push API (`POST /loki/api/v1/push`, `application/json`).
///
/// ```json
/// {"streams":[{"stream":{"service":"shop","env":"dev","stream":"app","level":"warn"},
///              "values":[["1795341600123456000","<the signed line>"], …]}]}
/// ```
///
/// Each record becomes one entry: its `ts` in nanoseconds since the Unix
/// epoch (as a string, as Loki wants) and its signed line, unchanged, as the
/// log line, so LogQL's `| json` sees every key and the signature can be
/// verified from what Loki returns.
///
/// Labels are few on purpose (Loki indexes every distinct label set as a
/// stream): `service`, `env`, the evtrail `stream`, and `level` in lower
/// case (`info`, `warn`, …), which Grafana recognises for colouring. A
/// label whose key the record lacks is left out. Records with the same
/// labels share one stream object, in order of first appearance, and keep
/// their order within it.
///
/// # Errors
///
/// [`encode`](Encode::encode) fails for a line that is not a JSON object
/// or whose `ts` is missing or not in the record format.
///
/// # Examples
///
/// ```
/// use evtrail::http::{Encode, Loki, Outgoing};
///
/// let line = br#"{"v":1,"stream":"app","seq":1,"ts":"2026-11-22T10:00:00.123456Z","level":"INFO","service":"shop"}"#;
/// let mut body = Vec::new();
/// Loki.encode(&[Outgoing::new("app", 1, line)], &mut body)?;
/// let push: serde_json::Value = serde_json::from_slice(&body)?;
/// let stream = &push["streams"][0];
/// assert_eq!(stream["stream"], serde_json::json!({"service": "shop", "stream": "app", "level": "info"}));
/// assert_eq!(stream["values"][0][0], "1795341600123456000");
/// assert_eq!(stream["values"][0][1].as_str().unwrap().as_bytes(), line);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Loki;

impl Encode for Loki {
    fn content_type(&self) -> &str {
        "application/json"
    }

    fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut streams: Vec<(Map<String, Value>, Vec<Value>)> = Vec::new();
        for r in records {
            let p = parse(r)?;
            let mut labels = Map::new();
            for key in ["service", "env"] {
                if let Some(v) = p.keys.get(key) {
                    labels.insert(key.to_owned(), Value::String(text(v)));
                }
            }
            labels.insert("stream".to_owned(), Value::from(r.stream));
            if let Some(v) = p.keys.get("level") {
                labels.insert("level".to_owned(), Value::String(text(v).to_lowercase()));
            }
            let entry = json!([nanos(p.micros), p.line]);
            match streams.iter_mut().find(|(l, _)| *l == labels) {
                Some((_, values)) => values.push(entry),
                None => streams.push((labels, vec![entry])),
            }
        }
        let streams: Vec<Value> = streams
            .into_iter()
            .map(|(labels, values)| json!({"stream": labels, "values": values}))
            .collect();
        write_json(out, &json!({ "streams": streams }))
    }
}

/// Elasticsearch's and OpenSearch's `_bulk` API (`application/x-ndjson`):
/// per record a `create` action and the document.
///
/// ```text
/// {"create":{"_index":"<index>","_id":"<sig>"}}
/// {"@timestamp":"2026-11-22T10:00:00.123456Z","v":1,"stream":"app",…,"sig":"…"}
/// ```
///
/// The document is the signed line with an `@timestamp` key (the record's
/// `ts`, as written) put in front, the rest byte for byte, so the
/// signature is verified by removing that key. The body ends with a
/// newline, as the API requires.
///
/// `_id` is the record's `sig` (unique per record), or
/// `<service>/<host>/<stream>/<seq>` for an unsigned record (an absent
/// `service` or `host` is empty). With `create`, a record sent twice (the
/// sink delivers at least once) fails with `409` instead of being stored
/// twice, and [`check_response`](Encode::check_response) counts that
/// `409` as delivered.
///
/// # Responses
///
/// `_bulk` answers `200` even when items failed, so the answer's body
/// decides:
///
/// * `"errors":false`: [`Verdict::Delivered`].
/// * Items that succeeded, or failed with `409` (the document is already
///   there), count as delivered.
/// * Any item with `429` (the node was too busy): [`Verdict::Retry`],
///   even if other items failed for good, since those would be re-sent
///   with the retry anyway.
/// * Otherwise any other failed item: [`Verdict::Reject`] with the number
///   of failed items and the first one's status, error `type` and
///   `reason`.
/// * `"errors":true` with no `items` list: [`Verdict::Reject`].
/// * A body that is not a bulk response: [`Verdict::Delivered`], trusting
///   the 2xx status.
///
/// # Errors
///
/// [`encode`](Encode::encode) fails for a line that is not a JSON object
/// or whose `ts` is missing or not in the record format.
///
/// # Examples
///
/// ```
/// use evtrail::http::{ElasticBulk, Encode, Outgoing, Verdict};
///
/// let bulk = ElasticBulk::new("evtrail-shop");
/// let line = br#"{"v":1,"stream":"app","seq":1,"ts":"2026-11-22T10:00:00.123456Z","service":"shop","host":"web-1"}"#;
/// let mut body = Vec::new();
/// bulk.encode(&[Outgoing::new("app", 1, line)], &mut body)?;
/// let body = String::from_utf8(body)?;
/// let mut lines = body.lines();
/// assert_eq!(lines.next(), Some(r#"{"create":{"_index":"evtrail-shop","_id":"shop/web-1/app/1"}}"#));
/// assert!(lines.next().unwrap().starts_with(r#"{"@timestamp":"2026-11-22T10:00:00.123456Z","v":1,"#));
/// assert!(body.ends_with('\n'));
///
/// let answer = br#"{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}"#;
/// assert_eq!(bulk.check_response(answer), Verdict::Delivered);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ElasticBulk {
    index: String,
}

impl ElasticBulk {
    /// Documents for `index` (an index, alias or data stream; data streams
    /// accept only `create`, which is what this sends).
    pub fn new(index: impl Into<String>) -> ElasticBulk {
        ElasticBulk {
            index: index.into(),
        }
    }

    /// The index the documents go to.
    pub fn index(&self) -> &str {
        &self.index
    }
}

/// The parts of a `_bulk` answer [`ElasticBulk`] reads.
#[derive(Deserialize)]
struct BulkResponse {
    errors: bool,
    items: Option<Vec<Map<String, Value>>>,
}

impl Encode for ElasticBulk {
    fn content_type(&self) -> &str {
        "application/x-ndjson"
    }

    fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for r in records {
            let p = parse(r)?;
            let id = match p.keys.get("sig") {
                Some(Value::String(sig)) => sig.clone(),
                _ => {
                    let part = |key| p.keys.get(key).map(text).unwrap_or_default();
                    format!(
                        "{}/{}/{}/{}",
                        part("service"),
                        part("host"),
                        r.stream,
                        r.seq
                    )
                }
            };
            out.extend_from_slice(br#"{"create":{"_index":"#);
            write_json(out, &self.index)?;
            out.extend_from_slice(br#","_id":"#);
            write_json(out, &id)?;
            out.extend_from_slice(b"}}\n{\"@timestamp\":");
            write_json(out, &p.ts)?;
            out.push(b',');
            // After the opening brace. The object has keys (at least `ts`),
            // so the comma above is followed by one.
            let line = p.line.trim_start().as_bytes();
            out.extend_from_slice(&line[1..]);
            out.push(b'\n');
        }
        Ok(())
    }

    fn check_response(&self, body: &[u8]) -> Verdict {
        let Ok(response) = serde_json::from_slice::<BulkResponse>(body) else {
            return Verdict::Delivered;
        };
        if !response.errors {
            return Verdict::Delivered;
        }
        let Some(items) = response.items else {
            return Verdict::Reject("bulk response reports errors but lists no items".to_owned());
        };
        let mut failed = Vec::new();
        for item in &items {
            // Each item is `{"<action>": {"status": …, "error": …}}`.
            let Some(result) = item.values().next() else {
                continue;
            };
            let status = result.get("status").and_then(Value::as_u64).unwrap_or(0);
            let error = result.get("error");
            if status == 409 || (error.is_none() && (200..300).contains(&status)) {
                continue;
            }
            failed.push((status, error));
        }
        let describe = |what: &str, list: &[(u64, Option<&Value>)]| {
            let (status, error) = list[0];
            let error = error.map_or_else(|| "no error given".to_owned(), bulk_error);
            format!(
                "{} of {} bulk items {what}; first (status {status}): {error}",
                list.len(),
                items.len()
            )
        };
        let throttled: Vec<_> = failed.iter().copied().filter(|&(s, _)| s == 429).collect();
        if !throttled.is_empty() {
            return Verdict::Retry(describe("throttled", &throttled));
        }
        if !failed.is_empty() {
            return Verdict::Reject(describe("rejected", &failed));
        }
        Verdict::Delivered
    }
}

/// A bulk item's `error` as `type: reason`.
fn bulk_error(error: &Value) -> String {
    let field = |key| error.get(key).and_then(Value::as_str);
    match (field("type"), field("reason")) {
        (Some(kind), Some(reason)) => format!("{kind}: {reason}"),
        (Some(kind), None) => kind.to_owned(),
        _ => text(error),
    }
}

/// OpenTelemetry logs over OTLP/HTTP with the JSON encoding
/// (`POST /v1/logs`, `application/json`).
///
/// ```json
/// {"resourceLogs":[{
///   "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}, …]},
///   "scopeLogs":[{"scope":{"name":"evtrail","version":"<crate version>"},
///                 "logRecords":[{"timeUnixNano":"1795341600123456000", …}, …]}]}]}
/// ```
///
/// Field names are lowerCamelCase, 64-bit integers are decimal strings,
/// enums are numbers and `traceId`/`spanId` are hex, as the OTLP JSON
/// encoding requires.
///
/// # Mapping
///
/// **Resource** (from the record's static context; consecutive records
/// with the same resource share one `resourceLogs` entry):
///
/// | record | attribute |
/// |---|---|
/// | `service` | `service.name` |
/// | `env` | `deployment.environment.name` |
/// | `region` | `cloud.region` |
/// | `host` | `host.name` |
/// | `node` | `service.instance.id` |
/// | `version` | `service.version` |
/// | `pid` | `process.pid` |
///
/// **Log record:**
///
/// * `timeUnixNano` and `observedTimeUnixNano`: `ts` in nanoseconds (the
///   event was observed where it happened, so the two are equal).
/// * `severityNumber`: `TRACE` 1, `DEBUG` 5, `INFO` 9, `WARN` 13,
///   `ERROR` 17 (left out for another level); `severityText`: `level` as
///   written.
/// * `body`: `msg` (`{"stringValue": …}`).
/// * `traceId`, `spanId`: `trace_id` and `span_id` when they are 32 and 16
///   hex digits (either case, not all zero), in lower case; otherwise they
///   stay attributes named `trace_id` and `span_id`.
/// * `attributes`: `event`, `class`, `code`, `status`, `tenant`, `user`,
///   `ip`, `op`, `request_id`, `session_id`, `target` and `thread` under
///   their own names; `module` as `code.namespace`, `file` as
///   `code.filepath`, `line` as `code.lineno`; `spans` as its JSON text;
///   `evtrail.stream`, `evtrail.seq`, `evtrail.kid`, `evtrail.sig`; with
///   [`with_record`](Otlp::with_record), `evtrail.record`; then each key of
///   `fields` under its own name, or as `fields.<key>` when that name is
///   already taken.
///
/// Values keep their JSON type: a string is a `stringValue`, a boolean a
/// `boolValue`, an integer an `intValue` (a decimal string; an integer
/// beyond `i64` becomes a `stringValue` to stay exact), another number a
/// `doubleValue`, an array an `arrayValue`, an object a `kvlistValue`,
/// `null` an empty value.
///
/// # Errors
///
/// [`encode`](Encode::encode) fails for a line that is not a JSON object
/// or whose `ts` is missing or not in the record format.
///
/// # Examples
///
/// ```
/// use evtrail::http::{Encode, Otlp, Outgoing};
///
/// let line = br#"{"v":1,"stream":"app","seq":1,"ts":"2026-11-22T10:00:00.123456Z","level":"WARN","msg":"payment failed","service":"shop"}"#;
/// let mut body = Vec::new();
/// Otlp::new().encode(&[Outgoing::new("app", 1, line)], &mut body)?;
/// let logs: serde_json::Value = serde_json::from_slice(&body)?;
/// let resource = &logs["resourceLogs"][0];
/// assert_eq!(resource["resource"]["attributes"][0]["key"], "service.name");
/// let record = &resource["scopeLogs"][0]["logRecords"][0];
/// assert_eq!(record["timeUnixNano"], "1795341600123456000");
/// assert_eq!(record["severityNumber"], 13);
/// assert_eq!(record["body"]["stringValue"], "payment failed");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Otlp {
    record: bool,
}

/// Record keys that describe the resource, with their OTLP attribute names.
const OTLP_RESOURCE: &[(&str, &str)] = &[
    ("service", "service.name"),
    ("env", "deployment.environment.name"),
    ("region", "cloud.region"),
    ("host", "host.name"),
    ("node", "service.instance.id"),
    ("version", "service.version"),
    ("pid", "process.pid"),
];

/// Record keys that become log record attributes, with their names.
const OTLP_ATTRIBUTES: &[(&str, &str)] = &[
    ("event", "event"),
    ("class", "class"),
    ("code", "code"),
    ("status", "status"),
    ("tenant", "tenant"),
    ("user", "user"),
    ("ip", "ip"),
    ("op", "op"),
    ("request_id", "request_id"),
    ("session_id", "session_id"),
    ("target", "target"),
    ("thread", "thread"),
    ("module", "code.namespace"),
    ("file", "code.filepath"),
    ("line", "code.lineno"),
];

impl Otlp {
    /// The OTLP encoder, without the signed line (see
    /// [`with_record`](Otlp::with_record)).
    pub const fn new() -> Otlp {
        Otlp { record: false }
    }

    /// Whether each log record also carries the whole signed line as the
    /// attribute `evtrail.record`, so the signature can be verified from
    /// what the backend stores (at roughly twice the size). Default: off.
    ///
    /// # Examples
    ///
    /// ```
    /// use evtrail::http::{Encode, Otlp, Outgoing};
    ///
    /// let line = br#"{"ts":"2026-11-22T10:00:00.123456Z","msg":"hi","sig":"9c1f"}"#;
    /// let mut body = Vec::new();
    /// Otlp::new().with_record(true).encode(&[Outgoing::new("app", 1, line)], &mut body)?;
    /// let logs: serde_json::Value = serde_json::from_slice(&body)?;
    /// let attributes = &logs["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"];
    /// let record = attributes.as_array().unwrap().iter().find(|a| a["key"] == "evtrail.record").unwrap();
    /// assert_eq!(record["value"]["stringValue"].as_str().unwrap().as_bytes(), line);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn with_record(self, record: bool) -> Otlp {
        Otlp { record }
    }

    /// The `logRecords` entry for one parsed record.
    fn log_record(&self, r: &Outgoing<'_>, mut p: Parsed<'_>) -> Value {
        let mut out = Map::new();
        let time = nanos(p.micros);
        out.insert("timeUnixNano".to_owned(), Value::from(time.clone()));
        out.insert("observedTimeUnixNano".to_owned(), Value::from(time));
        if let Some(level) = p.keys.remove("level") {
            let level = into_text(level);
            if let Some(n) = severity_number(&level) {
                out.insert("severityNumber".to_owned(), Value::from(n));
            }
            out.insert("severityText".to_owned(), Value::from(level));
        }
        if let Some(msg) = p.keys.remove("msg") {
            out.insert("body".to_owned(), any_value(msg));
        }

        let mut attributes = Vec::new();
        for (key, name, digits) in [("trace_id", "traceId", 32), ("span_id", "spanId", 16)] {
            if let Some(v) = p.keys.remove(key) {
                match hex_id(&v, digits) {
                    Some(id) => {
                        out.insert(name.to_owned(), Value::from(id));
                    }
                    None => attributes.push(key_value(key, v)),
                }
            }
        }
        for &(key, name) in OTLP_ATTRIBUTES {
            if let Some(v) = p.keys.remove(key) {
                attributes.push(key_value(name, v));
            }
        }
        if let Some(spans) = p.keys.remove("spans") {
            attributes.push(key_value("spans", Value::from(spans.to_string())));
        }
        attributes.push(key_value("evtrail.stream", Value::from(r.stream)));
        attributes.push(key_value("evtrail.seq", Value::from(r.seq)));
        for (key, name) in [("kid", "evtrail.kid"), ("sig", "evtrail.sig")] {
            if let Some(v) = p.keys.remove(key) {
                attributes.push(key_value(name, v));
            }
        }
        if self.record {
            attributes.push(key_value("evtrail.record", Value::from(p.line)));
        }
        match p.keys.remove("fields") {
            Some(Value::Object(fields)) => {
                for (key, v) in fields {
                    let taken = attributes.iter().any(|a| a["key"] == *key);
                    let key = if taken { format!("fields.{key}") } else { key };
                    attributes.push(key_value(&key, v));
                }
            }
            Some(other) => attributes.push(key_value("fields", other)),
            None => {}
        }
        out.insert("attributes".to_owned(), Value::from(attributes));
        Value::Object(out)
    }
}

impl Encode for Otlp {
    fn content_type(&self) -> &str {
        "application/json"
    }

    fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        // (resource attributes, log records) for each run of records.
        let mut runs: Vec<(Vec<Value>, Vec<Value>)> = Vec::new();
        for r in records {
            let mut p = parse(r)?;
            let resource: Vec<Value> = OTLP_RESOURCE
                .iter()
                .filter_map(|&(key, name)| Some(key_value(name, p.keys.remove(key)?)))
                .collect();
            let record = self.log_record(r, p);
            match runs.last_mut() {
                Some((last, logs)) if *last == resource => logs.push(record),
                _ => runs.push((resource, vec![record])),
            }
        }
        let resource_logs: Vec<Value> = runs
            .into_iter()
            .map(|(attributes, logs)| {
                json!({
                    "resource": {"attributes": attributes},
                    "scopeLogs": [{
                        "scope": {"name": "evtrail", "version": env!("CARGO_PKG_VERSION")},
                        "logRecords": logs,
                    }],
                })
            })
            .collect();
        write_json(out, &json!({ "resourceLogs": resource_logs }))
    }
}

/// An OTLP `KeyValue`.
fn key_value(key: &str, value: Value) -> Value {
    json!({"key": key, "value": any_value(value)})
}

/// A JSON value as an OTLP `AnyValue`.
fn any_value(value: Value) -> Value {
    match value {
        Value::Null => json!({}),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!({"intValue": i.to_string()})
            } else if n.is_u64() {
                json!({"stringValue": n.to_string()})
            } else {
                json!({"doubleValue": n})
            }
        }
        Value::String(s) => json!({ "stringValue": s }),
        Value::Array(items) => {
            let values: Vec<Value> = items.into_iter().map(any_value).collect();
            json!({"arrayValue": {"values": values}})
        }
        Value::Object(map) => {
            let values: Vec<Value> = map.into_iter().map(|(k, v)| key_value(&k, v)).collect();
            json!({"kvlistValue": {"values": values}})
        }
    }
}

/// The OTLP `SeverityNumber` of an evtrail level.
fn severity_number(level: &str) -> Option<u8> {
    const LEVELS: [(&str, u8); 5] = [
        ("TRACE", 1),
        ("DEBUG", 5),
        ("INFO", 9),
        ("WARN", 13),
        ("ERROR", 17),
    ];
    LEVELS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(level))
        .map(|&(_, n)| n)
}

/// `value` as a lower-case trace or span id of `digits` hex digits, if it
/// is one; all zeros is OTLP's "no id".
fn hex_id(value: &Value, digits: usize) -> Option<String> {
    let s = value.as_str()?;
    let valid = s.len() == digits
        && s.bytes().all(|b| b.is_ascii_hexdigit())
        && s.bytes().any(|b| b != b'0');
    valid.then(|| s.to_ascii_lowercase())
}

/// One record, parsed.
struct Parsed<'a> {
    /// The line, unchanged.
    line: &'a str,
    /// The record's keys, except `ts`.
    keys: Map<String, Value>,
    /// `ts` as written (`YYYY-MM-DDThh:mm:ss.ffffffZ`).
    ts: String,
    /// `ts` in microseconds since the Unix epoch.
    micros: u64,
}

/// Parses a record's line and its `ts`.
fn parse<'a>(r: &Outgoing<'a>) -> Result<Parsed<'a>, EncodeError> {
    let mut keys: Map<String, Value> = serde_json::from_slice(r.line)
        .map_err(|e| invalid(r, format_args!("is not a JSON object ({e})")))?;
    // JSON that parsed is UTF-8 throughout: outside strings it is ASCII.
    let line = std::str::from_utf8(r.line).map_err(|_| invalid(r, "is not UTF-8"))?;
    let ts = match keys.remove("ts") {
        Some(Value::String(ts)) => ts,
        _ => return Err(invalid(r, "has no `ts` string")),
    };
    let micros = parse_ts(&ts).ok_or_else(|| {
        invalid(
            r,
            format_args!("has `ts` {ts:?}, not YYYY-MM-DDThh:mm:ss.ffffffZ"),
        )
    })?;
    Ok(Parsed {
        line,
        keys,
        ts,
        micros,
    })
}

/// Microseconds since the Unix epoch of a `ts` in the record format
/// (`2026-11-22T10:00:00.123456Z`); `None` for anything else, including a
/// time before 1970.
fn parse_ts(ts: &str) -> Option<u64> {
    let b = ts.as_bytes();
    let shape = b.len() == 27
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[26] == b'Z';
    if !shape {
        return None;
    }
    let num = |at: std::ops::Range<usize>| {
        b[at].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let small = |at| u8::try_from(num(at)?).ok();
    let date = time::Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        time::Month::try_from(small(5..7)?).ok()?,
        small(8..10)?,
    )
    .ok()?;
    let clock = time::Time::from_hms(small(11..13)?, small(14..16)?, small(17..19)?).ok()?;
    let secs = time::PrimitiveDateTime::new(date, clock)
        .assume_utc()
        .unix_timestamp();
    Some(u64::try_from(secs).ok()? * 1_000_000 + u64::from(num(20..26)?))
}

/// Microseconds as a decimal string of nanoseconds (exact, cannot overflow).
fn nanos(micros: u64) -> String {
    format!("{micros}000")
}

/// A value as text: a string as it is, anything else as its JSON text.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// [`text`], consuming the value.
fn into_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Appends `value` as JSON.
fn write_json(out: &mut Vec<u8>, value: &impl serde::Serialize) -> Result<(), EncodeError> {
    serde_json::to_writer(out, value)
        .map_err(|e| EncodeError::new(format!("cannot write the request body: {e}")))
}

/// An error about record `r`, naming its stream and `seq`.
fn invalid(r: &Outgoing<'_>, what: impl fmt::Display) -> EncodeError {
    EncodeError::new(format!("record {} of stream `{}` {what}", r.seq, r.stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "9c1f0e5a7b2d9e449c1f0e5a7b2d9e449c1f0e5a7b2d9e449c1f0e5a7b2d9e44";

    /// A signed record with every key the format has.
    fn full_line() -> String {
        format!(
            concat!(
                r#"{{"v":1,"stream":"app","seq":2,"ts":"2026-11-22T10:00:00.123456Z","#,
                r#""level":"WARN","class":"info","event":"payment_failed","code":4021,"#,
                r#""status":"error","msg":"payment failed","target":"shop","#,
                r#""module":"shop::pay","file":"src/pay.rs","line":42,"thread":"main","#,
                r#""service":"shop","env":"dev","region":"eu-west-1","host":"web-1","#,
                r#""node":"n1","pid":4242,"version":"1.2.3","tenant":"acme","user":"u-7","#,
                r#""ip":"10.0.0.1","op":"order-1042","#,
                r#""trace_id":"4BF92F3577B34DA6A3CE929D0E0E4736","span_id":"00f067aa0ba902b7","#,
                r#""request_id":"r-1","session_id":"s-1","#,
                r#""spans":[{{"name":"checkout","fields":{{"cart":3}}}}],"#,
                r#""fields":{{"reason":"card_declined","amount_cents":4999}},"#,
                r#""kid":"k3f1c0e5a7b2d9e44","sig":"{}"}}"#
            ),
            SIG
        )
    }

    /// A small record of `service` with `ts` and `level`.
    fn line(seq: u64, service: &str, level: &str) -> String {
        format!(
            r#"{{"v":1,"stream":"app","seq":{seq},"ts":"2026-11-22T10:00:0{seq}.000001Z","level":"{level}","msg":"m{seq}","service":"{service}"}}"#
        )
    }

    fn encode(e: &impl Encode, records: &[Outgoing<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        e.encode(records, &mut out).expect("encodes");
        out
    }

    fn json_of(body: &[u8]) -> Value {
        serde_json::from_slice(body).expect("valid JSON")
    }

    /// The JSON object lines of an NDJSON body.
    fn ndjson(body: &[u8]) -> Vec<Value> {
        assert_eq!(body.last(), Some(&b'\n'), "body ends with a newline");
        body.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("valid JSON line"))
            .collect()
    }

    #[test]
    fn timestamps_parse_to_microseconds_since_the_epoch() {
        assert_eq!(parse_ts("1970-01-01T00:00:00.000001Z"), Some(1));
        assert_eq!(parse_ts("1970-01-01T00:00:01.000002Z"), Some(1_000_002));
        assert_eq!(
            parse_ts("2026-11-22T10:00:00.123456Z"),
            Some(1_795_341_600_123_456)
        );
        assert_eq!(
            parse_ts("2024-02-29T23:59:59.999999Z"),
            Some(1_709_251_199_999_999)
        );
        for bad in [
            "",
            "2026-11-22T10:00:00Z",
            "2026-11-22T10:00:00.123456",
            "2026-11-22 10:00:00.123456Z",
            "2026-11-22T10:00:00.123456+00:00",
            "2026-13-22T10:00:00.123456Z",
            "2026-02-30T10:00:00.123456Z",
            "2026-11-22T24:00:00.123456Z",
            "2026-11-22T10:00:00.12345xZ",
            "+026-11-22T10:00:00.123456Z",
            "1969-12-31T23:59:59.999999Z",
        ] {
            assert_eq!(parse_ts(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn damaged_records_name_their_stream_and_seq() {
        let cases: [(&[u8], &str); 4] = [
            (b"{\"ts\":\"2026-11", "is not a JSON object"),
            (b"[1,2]", "is not a JSON object"),
            (br#"{"v":1}"#, "has no `ts`"),
            (br#"{"ts":"yesterday"}"#, "has `ts` \"yesterday\""),
        ];
        let encoders: [&dyn Encode; 4] = [
            &ClickHouse::new("t"),
            &Loki,
            &ElasticBulk::new("i"),
            &Otlp::new(),
        ];
        for (line, why) in cases {
            for e in encoders {
                let err = e
                    .encode(&[Outgoing::new("audit", 17, line)], &mut Vec::new())
                    .expect_err("a damaged record is refused");
                let msg = err.to_string();
                assert!(msg.starts_with("record 17 of stream `audit` "), "{msg}");
                assert!(msg.contains(why), "{msg}");
            }
        }
    }

    #[test]
    fn json_array_embeds_lines_unchanged() {
        let (a, b) = (full_line(), line(3, "shop", "INFO"));
        let records = [
            Outgoing::new("app", 2, a.as_bytes()),
            Outgoing::new("app", 3, b.as_bytes()),
        ];
        let body = encode(&JsonArray, &records);
        assert_eq!(body, format!("[{a},{b}]").into_bytes());
        assert_eq!(json_of(&body).as_array().map(Vec::len), Some(2));
        assert_eq!(JsonArray.content_type(), "application/json");
    }

    #[test]
    fn json_array_refuses_a_line_that_is_not_an_object() {
        for bad in [&b"[1]"[..], b"\"text\"", b"{\"a\":", b""] {
            let err = JsonArray
                .encode(&[Outgoing::new("app", 9, bad)], &mut Vec::new())
                .expect_err("refused");
            assert_eq!(
                err.to_string(),
                "record 9 of stream `app` is not a JSON object"
            );
        }
    }

    #[test]
    fn clickhouse_query_inserts_json_each_row_into_the_table() {
        let ch = ClickHouse::new("logs.events");
        assert_eq!(ch.table(), "logs.events");
        assert_eq!(
            ch.query(),
            [
                (
                    "query".to_owned(),
                    "INSERT INTO logs.events FORMAT JSONEachRow".to_owned()
                ),
                (
                    "input_format_skip_unknown_fields".to_owned(),
                    "1".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn clickhouse_row_has_every_column_with_its_documented_type() {
        let full = full_line();
        let body = encode(
            &ClickHouse::new("t"),
            &[Outgoing::new("app", 2, full.as_bytes())],
        );
        let rows = ndjson(&body);
        assert_eq!(rows.len(), 1);
        let spans = r#"[{"fields":{"cart":3},"name":"checkout"}]"#;
        let fields = r#"{"amount_cents":4999,"reason":"card_declined"}"#;
        let expected = json!({
            "ts": "2026-11-22 10:00:00", "ts_us": 1_795_341_600_123_456u64,
            "stream": "app", "seq": 2, "level": "WARN",
            "service": "shop", "env": "dev", "region": "eu-west-1", "host": "web-1",
            "node": "n1", "version": "1.2.3", "pid": 4242,
            "target": "shop", "module": "shop::pay", "file": "src/pay.rs", "line": 42,
            "thread": "main", "msg": "payment failed", "event": "payment_failed",
            "code": "4021", "class": "info", "status": "error",
            "tenant": "acme", "user": "u-7", "ip": "10.0.0.1", "op": "order-1042",
            "trace_id": "4BF92F3577B34DA6A3CE929D0E0E4736", "span_id": "00f067aa0ba902b7",
            "request_id": "r-1", "session_id": "s-1",
            "fields": fields, "spans": spans,
            "kid": "k3f1c0e5a7b2d9e44", "sig": SIG, "record": full,
        });
        assert_eq!(rows[0], expected);
        // The stored JSON texts mean what the record said.
        let record = json_of(full.as_bytes());
        assert_eq!(json_of(fields.as_bytes()), record["fields"]);
        assert_eq!(json_of(spans.as_bytes()), record["spans"]);
    }

    #[test]
    fn clickhouse_row_leaves_out_missing_keys() {
        let line =
            br#"{"v":1,"stream":"app","seq":5,"ts":"1970-01-01T00:00:01.000002Z","user":42}"#;
        let body = encode(&ClickHouse::new("t"), &[Outgoing::new("app", 5, line)]);
        let expected = json!({
            "ts": "1970-01-01 00:00:01", "ts_us": 1_000_002, "stream": "app", "seq": 5,
            "user": "42", "record": std::str::from_utf8(line).unwrap(),
        });
        assert_eq!(ndjson(&body), [expected]);
    }

    #[test]
    fn clickhouse_table_has_a_column_for_every_row_key() {
        let sql = ClickHouse::new("events").create_table();
        assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS events (\n    ts DateTime('UTC'),\n"));
        assert!(sql.ends_with(
            "\n) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (service, host, stream, seq)"
        ));
        for banned in ["LowCardinality", "DateTime64", "Nullable", "JSON "] {
            assert!(!sql.contains(banned), "{banned} is not in ClickHouse 18.16");
        }
        let full = full_line();
        let body = encode(
            &ClickHouse::new("t"),
            &[Outgoing::new("app", 2, full.as_bytes())],
        );
        let row = ndjson(&body).remove(0);
        for (key, value) in row.as_object().unwrap() {
            let kind = match value {
                Value::String(_) if key == "ts" => "DateTime('UTC')",
                Value::String(_) => "String",
                _ if key == "pid" || key == "line" => "UInt32",
                _ => "UInt64",
            };
            assert!(
                sql.contains(&format!("\n    {key} {kind}")),
                "column {key} {kind}"
            );
        }
        assert_eq!(row.as_object().unwrap().len(), CLICKHOUSE_COLUMNS.len());
    }

    #[test]
    fn loki_groups_records_by_labels_keeping_their_order() {
        let lines = [
            line(1, "shop", "INFO"),
            line(2, "shop", "WARN"),
            line(3, "shop", "INFO"),
            line(4, "cart", "INFO"),
        ];
        let records: Vec<_> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| Outgoing::new("app", i as u64 + 1, l.as_bytes()))
            .collect();
        let body = encode(&Loki, &records);
        let entry = |i: usize| json!([format!("179534160{}000001000", i + 1), lines[i]]);
        let expected = json!({"streams": [
            {"stream": {"service": "shop", "stream": "app", "level": "info"}, "values": [entry(0), entry(2)]},
            {"stream": {"service": "shop", "stream": "app", "level": "warn"}, "values": [entry(1)]},
            {"stream": {"service": "cart", "stream": "app", "level": "info"}, "values": [entry(3)]},
        ]});
        assert_eq!(json_of(&body), expected);
        assert_eq!(Loki.content_type(), "application/json");
    }

    #[test]
    fn loki_labels_are_service_env_stream_and_level() {
        let full = full_line();
        let body = encode(&Loki, &[Outgoing::new("app", 2, full.as_bytes())]);
        let expected = json!({"streams": [{
            "stream": {"service": "shop", "env": "dev", "stream": "app", "level": "warn"},
            "values": [["1795341600123456000", full]],
        }]});
        assert_eq!(json_of(&body), expected);

        let bare = br#"{"ts":"2026-11-22T10:00:00.123456Z"}"#;
        let body = encode(&Loki, &[Outgoing::new("audit", 1, bare)]);
        assert_eq!(
            json_of(&body)["streams"][0]["stream"],
            json!({"stream": "audit"})
        );
    }

    #[test]
    fn elastic_bulk_pairs_a_create_action_with_each_document() {
        let full = full_line();
        let bare = br#"{"v":1,"stream":"app","seq":3,"ts":"2026-11-22T10:00:01.000000Z"}"#;
        let records = [
            Outgoing::new("app", 2, full.as_bytes()),
            Outgoing::new("app", 3, bare),
        ];
        let bulk = ElasticBulk::new("evtrail");
        assert_eq!(bulk.index(), "evtrail");
        assert_eq!(bulk.content_type(), "application/x-ndjson");
        let body = encode(&bulk, &records);
        let text = String::from_utf8(body.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            format!(r#"{{"create":{{"_index":"evtrail","_id":"{SIG}"}}}}"#)
        );
        assert_eq!(
            lines[1],
            format!(
                r#"{{"@timestamp":"2026-11-22T10:00:00.123456Z",{}"#,
                &full[1..]
            )
        );
        assert_eq!(
            lines[2],
            r#"{"create":{"_index":"evtrail","_id":"//app/3"}}"#
        );
        let mut doc = ndjson(&body).remove(3);
        assert_eq!(doc["@timestamp"], "2026-11-22T10:00:01.000000Z");
        doc.as_object_mut().unwrap().remove("@timestamp");
        assert_eq!(doc, json_of(bare));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn elastic_bulk_id_without_a_signature_is_service_host_stream_seq() {
        let line = br#"{"ts":"2026-11-22T10:00:00.123456Z","service":"shop","host":"web-1"}"#;
        let body = encode(&ElasticBulk::new("i"), &[Outgoing::new("audit", 12, line)]);
        assert_eq!(ndjson(&body)[0]["create"]["_id"], "shop/web-1/audit/12");
    }

    #[test]
    fn elastic_bulk_response_verdicts_follow_the_documented_rules() {
        let bulk = ElasticBulk::new("i");
        let ok = r#"{"create":{"_index":"i","_id":"a","status":201,"result":"created"}}"#;
        let conflict = r#"{"create":{"_index":"i","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[b]: version conflict, document already exists"}}}"#;
        let busy = r#"{"create":{"_index":"i","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}}"#;
        let bad = r#"{"create":{"_index":"i","_id":"d","status":400,"error":{"type":"document_parsing_exception","reason":"failed to parse field [code]"}}}"#;
        let answer = |errors: bool, items: &[&str]| {
            format!(
                r#"{{"took":3,"errors":{errors},"items":[{}]}}"#,
                items.join(",")
            )
        };
        let check = |body: String| bulk.check_response(body.as_bytes());

        assert_eq!(check(answer(false, &[ok, ok])), Verdict::Delivered);
        assert_eq!(check(answer(true, &[ok, conflict])), Verdict::Delivered);
        assert_eq!(
            check(answer(true, &[ok, busy, bad])),
            Verdict::Retry(
                "1 of 3 bulk items throttled; first (status 429): es_rejected_execution_exception: rejected execution"
                    .to_owned()
            )
        );
        assert_eq!(
            check(answer(true, &[conflict, bad, bad])),
            Verdict::Reject(
                "2 of 3 bulk items rejected; first (status 400): document_parsing_exception: failed to parse field [code]"
                    .to_owned()
            )
        );
        assert_eq!(
            check(r#"{"errors":true}"#.to_owned()),
            Verdict::Reject("bulk response reports errors but lists no items".to_owned())
        );
        for not_bulk in ["", "ok", "{}", r#"{"acknowledged":true}"#] {
            assert_eq!(
                check(not_bulk.to_owned()),
                Verdict::Delivered,
                "{not_bulk:?}"
            );
        }
    }

    #[test]
    fn otlp_request_has_the_documented_shape() {
        let full = full_line();
        let body = encode(&Otlp::new(), &[Outgoing::new("app", 2, full.as_bytes())]);
        let s = |v: &str| json!({"stringValue": v});
        let i = |v: &str| json!({"intValue": v});
        let kv = |k: &str, v: Value| json!({"key": k, "value": v});
        let expected = json!({"resourceLogs": [{
            "resource": {"attributes": [
                kv("service.name", s("shop")),
                kv("deployment.environment.name", s("dev")),
                kv("cloud.region", s("eu-west-1")),
                kv("host.name", s("web-1")),
                kv("service.instance.id", s("n1")),
                kv("service.version", s("1.2.3")),
                kv("process.pid", i("4242")),
            ]},
            "scopeLogs": [{
                "scope": {"name": "evtrail", "version": env!("CARGO_PKG_VERSION")},
                "logRecords": [{
                    "timeUnixNano": "1795341600123456000",
                    "observedTimeUnixNano": "1795341600123456000",
                    "severityNumber": 13,
                    "severityText": "WARN",
                    "body": s("payment failed"),
                    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "spanId": "00f067aa0ba902b7",
                    "attributes": [
                        kv("event", s("payment_failed")),
                        kv("class", s("info")),
                        kv("code", i("4021")),
                        kv("status", s("error")),
                        kv("tenant", s("acme")),
                        kv("user", s("u-7")),
                        kv("ip", s("10.0.0.1")),
                        kv("op", s("order-1042")),
                        kv("request_id", s("r-1")),
                        kv("session_id", s("s-1")),
                        kv("target", s("shop")),
                        kv("thread", s("main")),
                        kv("code.namespace", s("shop::pay")),
                        kv("code.filepath", s("src/pay.rs")),
                        kv("code.lineno", i("42")),
                        kv("spans", s(r#"[{"fields":{"cart":3},"name":"checkout"}]"#)),
                        kv("evtrail.stream", s("app")),
                        kv("evtrail.seq", i("2")),
                        kv("evtrail.kid", s("k3f1c0e5a7b2d9e44")),
                        kv("evtrail.sig", s(SIG)),
                        kv("amount_cents", i("4999")),
                        kv("reason", s("card_declined")),
                    ],
                }],
            }],
        }]});
        assert_eq!(json_of(&body), expected);
        assert_eq!(Otlp::new().content_type(), "application/json");
    }

    #[test]
    fn otlp_groups_consecutive_records_that_share_a_resource() {
        let lines = [
            line(1, "shop", "INFO"),
            line(2, "shop", "DEBUG"),
            line(3, "cart", "ERROR"),
            line(4, "shop", "TRACE"),
        ];
        let records: Vec<_> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| Outgoing::new("app", i as u64 + 1, l.as_bytes()))
            .collect();
        let body = json_of(&encode(&Otlp::new(), &records));
        let runs: Vec<(String, Vec<u64>)> = body["resourceLogs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let service = r["resource"]["attributes"][0]["value"]["stringValue"]
                    .as_str()
                    .unwrap();
                let severities = r["scopeLogs"][0]["logRecords"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["severityNumber"].as_u64().unwrap())
                    .collect();
                (service.to_owned(), severities)
            })
            .collect();
        assert_eq!(
            runs,
            [
                ("shop".to_owned(), vec![9, 5]),
                ("cart".to_owned(), vec![17]),
                ("shop".to_owned(), vec![1]),
            ]
        );
    }

    #[test]
    fn otlp_keeps_ids_that_are_not_hex_as_attributes() {
        let line = concat!(
            r#"{"ts":"2026-11-22T10:00:00.123456Z","level":"NOTICE","#,
            r#""trace_id":"00000000000000000000000000000000","span_id":"req-7"}"#
        );
        let body = json_of(&encode(
            &Otlp::new(),
            &[Outgoing::new("app", 1, line.as_bytes())],
        ));
        let record = &body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
        assert_eq!(record.get("traceId"), None);
        assert_eq!(record.get("spanId"), None);
        assert_eq!(
            record.get("severityNumber"),
            None,
            "NOTICE has no OTLP number here"
        );
        assert_eq!(record["severityText"], "NOTICE");
        assert_eq!(
            record["attributes"][0],
            json!({"key": "trace_id", "value": {"stringValue": "00000000000000000000000000000000"}})
        );
        assert_eq!(
            record["attributes"][1],
            json!({"key": "span_id", "value": {"stringValue": "req-7"}})
        );
        assert_eq!(
            body["resourceLogs"][0]["resource"],
            json!({"attributes": []})
        );
    }

    #[test]
    fn otlp_values_keep_their_json_types() {
        let value = json!({
            "s": "x", "t": true, "i": -3, "big": u64::MAX, "f": 0.5, "n": null,
            "a": [1, "two"], "o": {"k": false},
        });
        let expected = json!({"kvlistValue": {"values": [
            {"key": "a", "value": {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "two"}]}}},
            {"key": "big", "value": {"stringValue": "18446744073709551615"}},
            {"key": "f", "value": {"doubleValue": 0.5}},
            {"key": "i", "value": {"intValue": "-3"}},
            {"key": "n", "value": {}},
            {"key": "o", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": false}}]}}},
            {"key": "s", "value": {"stringValue": "x"}},
            {"key": "t", "value": {"boolValue": true}},
        ]}});
        assert_eq!(any_value(value), expected);
    }

    #[test]
    fn otlp_field_named_like_an_attribute_is_prefixed() {
        let line = concat!(
            r#"{"ts":"2026-11-22T10:00:00.123456Z","target":"shop","#,
            r#""fields":{"target":"db","spans":1,"evtrail.seq":"x","other":2}}"#
        );
        let body = json_of(&encode(
            &Otlp::new(),
            &[Outgoing::new("app", 1, line.as_bytes())],
        ));
        let keys: Vec<&str> =
            body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["key"].as_str().unwrap())
                .collect();
        assert_eq!(
            keys,
            [
                "target",
                "evtrail.stream",
                "evtrail.seq",
                "fields.evtrail.seq",
                "other",
                "spans",
                "fields.target"
            ]
        );
    }

    #[test]
    fn otlp_with_record_carries_the_signed_line() {
        let full = full_line();
        let records = [Outgoing::new("app", 2, full.as_bytes())];
        let attribute = |otlp: Otlp| {
            let body = json_of(&encode(&otlp, &records));
            body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == "evtrail.record")
                .map(|a| a["value"]["stringValue"].clone())
        };
        assert_eq!(attribute(Otlp::new()), None);
        assert_eq!(attribute(Otlp::default()), None);
        assert_eq!(
            attribute(Otlp::new().with_record(true)),
            Some(Value::from(full.clone()))
        );
        assert_eq!(
            attribute(Otlp::new().with_record(true).with_record(false)),
            None
        );
    }
}
