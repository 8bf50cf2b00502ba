//! [`Otlp`]: OpenTelemetry logs over OTLP/HTTP with the JSON encoding, and
//! the mapping of record keys and JSON values to OTLP's.

use serde_json::{Map, Value, json};

use super::parse::{Parsed, into_text, nanos, parse, write_json};
use super::{Encode, EncodeError, Outgoing};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::encode::fixtures::{SIG, encode, full_line, json_of, line, records};

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
        let records = records(&lines);
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
