//! [`Loki`]: Grafana Loki's push API, records grouped into streams by
//! their labels.

use serde_json::{Map, Value, json};

use super::parse::{nanos, parse, text, write_json};
use super::{Encode, EncodeError, Outgoing};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::encode::fixtures::{encode, full_line, json_of, line, records};

    #[test]
    fn loki_groups_records_by_labels_keeping_their_order() {
        let lines = [
            line(1, "shop", "INFO"),
            line(2, "shop", "WARN"),
            line(3, "shop", "INFO"),
            line(4, "cart", "INFO"),
        ];
        let records = records(&lines);
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
}
