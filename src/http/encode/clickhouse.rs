//! [`ClickHouse`]: `JSONEachRow` rows for ClickHouse's HTTP interface, and
//! the table they fit.

use serde_json::{Map, Value};

use super::parse::{into_text, parse, write_json};
use super::{Encode, EncodeError, Outgoing};

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::http::encode::fixtures::{SIG, encode, full_line, json_of, ndjson};

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
}
