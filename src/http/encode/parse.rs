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
pub(super) fn parse_ts(ts: &str) -> Option<u64> {
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
    value: &impl serde::Serialize,
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
}
