//! [`ClickHouse`]: `JSONEachRow` rows for ClickHouse's HTTP interface, and
//! the table they fit.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::parse::{invalid, write_json};
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
    format: ClickHouseFormat,
}

/// How a [`ClickHouse`] encoder sends its rows.
///
/// # Examples
///
/// ```
/// use evtrail::http::{ClickHouse, ClickHouseFormat, Encode};
///
/// let ch = ClickHouse::new("events").format(ClickHouseFormat::RowBinary);
/// assert!(ch.query()[0].1.starts_with("INSERT INTO events (ts, ts_us, stream, seq, "));
/// assert!(ch.query()[0].1.ends_with(", record) FORMAT RowBinary"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClickHouseFormat {
    /// `JSONEachRow`: one JSON object per row, keys the record lacks left
    /// out (the column's default applies), keys the table lacks skipped
    /// (`input_format_skip_unknown_fields=1`). The default.
    #[default]
    JsonEachRow,
    /// `RowBinary`: every column of the table in order, strings as their
    /// length and bytes, numbers little-endian. Nothing to escape on this
    /// side and nothing to parse on the server's: the cheapest way in, for
    /// both. The table must have every column of [`ClickHouse`]'s list; a
    /// key the record lacks is sent as the type's zero (`''`, `0`), which
    /// is the documented table's default anyway. A `pid` or `line` that is
    /// not a whole number that fits in `UInt32` fails to encode (the server
    /// would refuse that row in `JSONEachRow` too).
    RowBinary,
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
            format: ClickHouseFormat::default(),
        }
    }

    /// How rows are sent. Default [`ClickHouseFormat::JsonEachRow`].
    pub fn format(mut self, format: ClickHouseFormat) -> ClickHouse {
        self.format = format;
        self
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
        match self.format {
            ClickHouseFormat::JsonEachRow => "application/x-ndjson",
            ClickHouseFormat::RowBinary => "application/octet-stream",
        }
    }

    fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for r in records {
            let row = read_row(r)?;
            match self.format {
                ClickHouseFormat::JsonEachRow => write_json_row(&row, r, out)?,
                ClickHouseFormat::RowBinary => write_binary_row(&row, r, out)?,
            }
        }
        Ok(())
    }

    fn query(&self) -> Vec<(String, String)> {
        match self.format {
            ClickHouseFormat::JsonEachRow => vec![
                (
                    "query".to_owned(),
                    format!("INSERT INTO {} FORMAT JSONEachRow", self.table),
                ),
                (
                    "input_format_skip_unknown_fields".to_owned(),
                    "1".to_owned(),
                ),
            ],
            ClickHouseFormat::RowBinary => {
                let names: Vec<&str> = CLICKHOUSE_COLUMNS.iter().map(|c| c.0).collect();
                vec![(
                    "query".to_owned(),
                    format!(
                        "INSERT INTO {} ({}) FORMAT RowBinary",
                        self.table,
                        names.join(", ")
                    ),
                )]
            }
        }
    }
}

/// The position of a record key in [`CLICKHOUSE_COLUMNS`], for the keys
/// that are copied from the record (not `ts_us`, `stream`, `seq` or
/// `record`, which the encoder makes itself).
fn copied_column(key: &str) -> Option<usize> {
    Some(match key {
        "ts" => 0,
        "level" => 4,
        "service" => 5,
        "env" => 6,
        "region" => 7,
        "host" => 8,
        "node" => 9,
        "version" => 10,
        "pid" => 11,
        "target" => 12,
        "module" => 13,
        "file" => 14,
        "line" => 15,
        "thread" => 16,
        "msg" => 17,
        "event" => 18,
        "code" => 19,
        "class" => 20,
        "status" => 21,
        "tenant" => 22,
        "user" => 23,
        "ip" => 24,
        "op" => 25,
        "trace_id" => 26,
        "span_id" => 27,
        "request_id" => 28,
        "session_id" => 29,
        "fields" => 30,
        "spans" => 31,
        "kid" => 32,
        "sig" => 33,
        _ => return None,
    })
}

/// A record's values for the copied columns, as their JSON text in the
/// line (no copy, no tree): the last of a repeated key wins.
type Slots<'a> = [Option<&'a RawValue>; CLICKHOUSE_COLUMNS.len()];

/// Reads a line's keys into [`Slots`], skipping the others.
struct SlotsVisitor;

impl<'de> Visitor<'de> for SlotsVisitor {
    type Value = Slots<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Slots<'de>, A::Error> {
        let mut slots: Slots<'de> = [None; CLICKHOUSE_COLUMNS.len()];
        while let Some(column) = map.next_key_seed(ColumnSeed)? {
            match column {
                Some(i) => slots[i] = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(slots)
    }
}

/// A key, as the column it fills (if any), read without allocating.
struct ColumnSeed;

impl<'de> DeserializeSeed<'de> for ColumnSeed {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for ColumnSeed {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(copied_column(key))
    }
}

/// A record read for its row: the line, its `ts` and the copied columns.
struct Row<'a> {
    line: &'a str,
    /// `ts` as written (`YYYY-MM-DDThh:mm:ss.ffffffZ`).
    ts: &'a str,
    micros: u64,
    slots: Slots<'a>,
}

/// Reads `r`'s line: a JSON object with a `ts` in the record format.
fn read_row<'a>(r: &Outgoing<'a>) -> Result<Row<'a>, EncodeError> {
    let slots = serde_json::Deserializer::from_slice(r.line)
        .deserialize_map(SlotsVisitor)
        .map_err(|e| invalid(r, format_args!("is not a JSON object ({e})")))?;
    // JSON that parsed is UTF-8 throughout: outside strings it is ASCII.
    let line = std::str::from_utf8(r.line).map_err(|_| invalid(r, "is not UTF-8"))?;
    let ts = match slots[0].map(RawValue::get) {
        Some(raw) if raw.len() >= 2 && raw.starts_with('"') => &raw[1..raw.len() - 1],
        _ => return Err(invalid(r, "has no `ts` string")),
    };
    // A valid `ts` has no escapes, so the text between the quotes is it.
    let micros = crate::time::parse_ts_unsigned(ts).ok_or_else(|| {
        invalid(
            r,
            format_args!("has `ts` {ts:?}, not YYYY-MM-DDThh:mm:ss.ffffffZ"),
        )
    })?;
    Ok(Row {
        line,
        ts,
        micros,
        slots,
    })
}

/// Appends `row` as a `JSONEachRow` line: the columns in table order, each
/// written straight from the line's own text where it can be.
fn write_json_row(row: &Row<'_>, r: &Outgoing<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.reserve(2 * row.line.len() + 256);
    let mut first = true;
    for (i, &(name, kind)) in CLICKHOUSE_COLUMNS.iter().enumerate() {
        let value = match name {
            "ts" | "ts_us" | "stream" | "seq" | "record" => None,
            _ => match row.slots[i] {
                None => continue,
                Some(raw) => Some(raw.get()),
            },
        };
        out.extend_from_slice(if first { b"{\"" } else { b",\"" });
        first = false;
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        match (name, value) {
            // The validated format fixes the positions: date, then time.
            ("ts", _) => {
                out.push(b'"');
                out.extend_from_slice(&row.ts.as_bytes()[..10]);
                out.push(b' ');
                out.extend_from_slice(&row.ts.as_bytes()[11..19]);
                out.push(b'"');
            }
            ("ts_us", _) => {
                out.extend_from_slice(itoa::Buffer::new().format(row.micros).as_bytes())
            }
            ("stream", _) => write_json(out, r.stream)?,
            ("seq", _) => out.extend_from_slice(itoa::Buffer::new().format(r.seq).as_bytes()),
            ("record", _) => write_json(out, row.line)?,
            (_, Some(raw)) if kind == "String" => write_text(out, raw)?,
            (_, Some(raw)) => out.extend_from_slice(raw.as_bytes()),
            (_, None) => {}
        }
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// Appends `row` in `RowBinary`: every column in table order.
fn write_binary_row(row: &Row<'_>, r: &Outgoing<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.reserve(row.line.len() + 512);
    for (i, &(name, kind)) in CLICKHOUSE_COLUMNS.iter().enumerate() {
        match (name, kind) {
            ("ts", _) => {
                let secs = u32::try_from(row.micros / 1_000_000)
                    .map_err(|_| invalid(r, "has a `ts` past 2106, beyond `DateTime`"))?;
                out.extend_from_slice(&secs.to_le_bytes());
            }
            ("ts_us", _) => out.extend_from_slice(&row.micros.to_le_bytes()),
            ("stream", _) => write_binary_str(out, r.stream.as_bytes()),
            ("seq", _) => out.extend_from_slice(&r.seq.to_le_bytes()),
            ("record", _) => write_binary_str(out, row.line.as_bytes()),
            (_, "UInt32") => {
                let n = match row.slots[i] {
                    None => 0,
                    Some(raw) => raw.get().parse::<u32>().map_err(|_| {
                        invalid(r, format_args!("has `{name}` {}, not a UInt32", raw.get()))
                    })?,
                };
                out.extend_from_slice(&n.to_le_bytes());
            }
            _ => match row.slots[i].map(RawValue::get) {
                None => write_binary_str(out, b""),
                Some(raw) if raw.starts_with('"') && !raw.contains('\\') => {
                    write_binary_str(out, &raw.as_bytes()[1..raw.len() - 1])
                }
                Some(raw) if raw.starts_with('"') => {
                    let text: String = serde_json::from_str(raw).map_err(|e| {
                        invalid(r, format_args!("has an unreadable `{name}` ({e})"))
                    })?;
                    write_binary_str(out, text.as_bytes());
                }
                Some(raw) => write_binary_str(out, raw.as_bytes()),
            },
        }
    }
    Ok(())
}

/// A `RowBinary` string: its length as an unsigned LEB128 number, then
/// its bytes.
fn write_binary_str(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut n = bytes.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(bytes);
}

/// Appends a value as a JSON string: a string as it is, anything else
/// (`4021`, an object) as its JSON text in the line.
fn write_text(out: &mut Vec<u8>, raw: &str) -> Result<(), EncodeError> {
    if raw.starts_with('"') {
        if !raw.contains('\\') {
            // Without escapes, the line's string is already the one to send.
            out.extend_from_slice(raw.as_bytes());
            return Ok(());
        }
        let text: String = serde_json::from_str(raw)
            .map_err(|e| EncodeError::new(format!("cannot read a string of the record: {e}")))?;
        return write_json(out, &text);
    }
    write_json(out, raw)
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

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
        // The record's own texts, in its own key order.
        let spans = r#"[{"name":"checkout","fields":{"cart":3}}]"#;
        let fields = r#"{"reason":"card_declined","amount_cents":4999}"#;
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
    fn copied_columns_are_found_at_their_place_in_the_table() {
        for (i, &(name, _)) in CLICKHOUSE_COLUMNS.iter().enumerate() {
            let made = ["ts_us", "stream", "seq", "record"].contains(&name);
            assert_eq!(copied_column(name), (!made).then_some(i), "{name}");
        }
        assert_eq!(copied_column("fields.reason"), None);
    }

    #[test]
    fn clickhouse_strings_with_escapes_and_repeated_keys_arrive_as_the_record_says() {
        let line = concat!(
            r#"{"v":1,"stream":"app","seq":3,"ts":"2026-11-22T10:00:00.000001Z","#,
            r#""msg":"a \"quoted\" \\ word\n\u00e9","user":"u-1","user":"u-2","#,
            r#""code":-1.5e3,"fields":{"b":[1,"x\"y"],"a":null},"pid":"odd"}"#
        );
        let body = encode(
            &ClickHouse::new("t"),
            &[Outgoing::new("app", 3, line.as_bytes())],
        );
        let row = ndjson(&body).remove(0);
        let record = json_of(line.as_bytes());
        assert_eq!(row["msg"], record["msg"]);
        assert_eq!(row["msg"], "a \"quoted\" \\ word\n\u{e9}");
        assert_eq!(
            row["user"], "u-2",
            "the last of a repeated key, as a JSON reader takes it"
        );
        assert_eq!(
            row["code"], "-1.5e3",
            "a number's text as the record wrote it"
        );
        assert_eq!(row["fields"], r#"{"b":[1,"x\"y"],"a":null}"#);
        assert_eq!(
            json_of(row["fields"].as_str().unwrap().as_bytes()),
            record["fields"]
        );
        assert_eq!(
            row["pid"], "odd",
            "a value of the wrong type is left for the server to refuse"
        );
        assert_eq!(row["record"].as_str().unwrap(), line);
    }

    /// Reads one `RowBinary` row back as the `JSONEachRow` values.
    fn binary_row(at: &mut &[u8]) -> Map<String, Value> {
        fn take<'a>(at: &mut &'a [u8], n: usize) -> &'a [u8] {
            let (head, rest) = at.split_at(n);
            *at = rest;
            head
        }
        let mut row = Map::new();
        for &(name, kind) in CLICKHOUSE_COLUMNS {
            let value = match kind {
                "DateTime('UTC')" => {
                    let secs = u32::from_le_bytes(take(at, 4).try_into().unwrap());
                    Value::from(secs)
                }
                "UInt64" => Value::from(u64::from_le_bytes(take(at, 8).try_into().unwrap())),
                "UInt32" => Value::from(u32::from_le_bytes(take(at, 4).try_into().unwrap())),
                _ => {
                    let (mut len, mut shift) = (0usize, 0);
                    loop {
                        let b = take(at, 1)[0];
                        len |= usize::from(b & 0x7f) << shift;
                        shift += 7;
                        if b < 0x80 {
                            break;
                        }
                    }
                    Value::from(std::str::from_utf8(take(at, len)).unwrap())
                }
            };
            row.insert(name.to_owned(), value);
        }
        row
    }

    #[test]
    fn clickhouse_row_binary_holds_the_json_rows_values_in_table_order() {
        let full = full_line();
        let escaped = concat!(
            r#"{"v":1,"stream":"app","seq":3,"ts":"2026-11-22T10:00:00.000001Z","#,
            r#""msg":"tab\there \"q\" \u00e9","code":4021,"line":7}"#
        );
        let records = [
            Outgoing::new("app", 2, full.as_bytes()),
            Outgoing::new("app", 3, escaped.as_bytes()),
        ];
        let json = ndjson(&encode(&ClickHouse::new("t"), &records));
        let binary = ClickHouse::new("t").format(ClickHouseFormat::RowBinary);
        assert_eq!(binary.content_type(), "application/octet-stream");
        let body = encode(&binary, &records);
        let mut at = &body[..];
        for expected in json {
            let mut row = binary_row(&mut at);
            // `DateTime` travels as Unix seconds.
            let secs = row.remove("ts").unwrap().as_u64().unwrap();
            assert_eq!(secs, expected["ts_us"].as_u64().unwrap() / 1_000_000);
            for (name, value) in row {
                let missing = match value {
                    Value::String(ref s) => s.is_empty(),
                    ref n => n.as_u64() == Some(0),
                };
                match expected.get(&name) {
                    Some(e) => assert_eq!(&value, e, "{name}"),
                    None => assert!(missing, "{name}: a missing key is the type's zero"),
                }
            }
        }
        assert!(at.is_empty(), "nothing after the last row");
    }

    #[test]
    fn clickhouse_row_binary_refuses_what_its_columns_cannot_hold() {
        let binary = ClickHouse::new("t").format(ClickHouseFormat::RowBinary);
        for (line, why) in [
            (
                r#"{"ts":"2026-11-22T10:00:00.000001Z","pid":-1}"#,
                "has `pid` -1, not a UInt32",
            ),
            (
                r#"{"ts":"2026-11-22T10:00:00.000001Z","line":"7"}"#,
                r#"has `line` "7", not a UInt32"#,
            ),
        ] {
            let err = binary
                .encode(&[Outgoing::new("app", 9, line.as_bytes())], &mut Vec::new())
                .expect_err(why);
            assert_eq!(err.to_string(), format!("record 9 of stream `app` {why}"));
        }
        let query = &binary.query()[0].1;
        let names: Vec<&str> = CLICKHOUSE_COLUMNS.iter().map(|c| c.0).collect();
        assert_eq!(
            query,
            &format!("INSERT INTO t ({}) FORMAT RowBinary", names.join(", "))
        );
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
