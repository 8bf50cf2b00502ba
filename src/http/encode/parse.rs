//! The parsing every reshaping encoder shares: a signed line read as a JSON
//! object with its `ts`, the errors that name the record, and the small
//! conversions of values to text and of timestamps.

use std::fmt;

use serde_json::{Map, Value};

use super::{EncodeError, Outgoing};

/// One record, parsed.
pub(super) struct Parsed<'a> {
    /// The line, unchanged.
    pub(super) line: &'a str,
    /// The record's keys, except `ts`.
    pub(super) keys: Map<String, Value>,
    /// `ts` as written (`YYYY-MM-DDThh:mm:ss.ffffffZ`).
    pub(super) ts: String,
    /// `ts` in microseconds since the Unix epoch.
    pub(super) micros: u64,
}

/// Parses a record's line and its `ts`.
pub(super) fn parse<'a>(r: &Outgoing<'a>) -> Result<Parsed<'a>, EncodeError> {
    let mut keys: Map<String, Value> = serde_json::from_slice(r.line)
        .map_err(|e| invalid(r, format_args!("is not a JSON object ({e})")))?;
    // JSON that parsed is UTF-8 throughout: outside strings it is ASCII.
    let line = std::str::from_utf8(r.line).map_err(|_| invalid(r, "is not UTF-8"))?;
    let ts = match keys.remove("ts") {
        Some(Value::String(ts)) => ts,
        _ => return Err(invalid(r, "has no `ts` string")),
    };
    let micros = crate::time::parse_ts_unsigned(&ts).ok_or_else(|| {
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

/// Microseconds as a decimal string of nanoseconds (exact, cannot overflow).
pub(super) fn nanos(micros: u64) -> String {
    format!("{micros}000")
}

/// A value as text: a string as it is, anything else as its JSON text.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// [`text`], consuming the value.
pub(super) fn into_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Appends `value` as JSON.
pub(super) fn write_json(
    out: &mut Vec<u8>,
    value: &(impl serde::Serialize + ?Sized),
) -> Result<(), EncodeError> {
    serde_json::to_writer(out, value)
        .map_err(|e| EncodeError::new(format!("cannot write the request body: {e}")))
}

/// An error about record `r`, naming its stream and `seq`.
pub(super) fn invalid(r: &Outgoing<'_>, what: impl fmt::Display) -> EncodeError {
    EncodeError::new(format!("record {} of stream `{}` {what}", r.seq, r.stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::encode::{ClickHouse, ElasticBulk, Encode, Loki, Otlp};

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
}
