//! Timestamps: the clock, and every text form of a time evtrail writes or
//! reads back (a record's `ts`, the stamp in a rolled file's name), in one
//! place so that writer and reader cannot drift apart.
//!
//! Depends only on the `time` crate; nothing here knows about records.

use std::time::{SystemTime, UNIX_EPOCH};

use ::time::OffsetDateTime;
use ::time::format_description::well_known::Rfc3339;

/// The current time in nanoseconds since the Unix epoch (0 before it).
pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

// Writing is kept by hand: the worker stamps every record, and `time`'s
// formatter (its `Rfc3339` writes as many fraction digits as the value
// needs, so it takes a description with six) costs about 5x as much
// (49-62 ns against 230-330 ns a stamp, `measure_timestamps` below).
// Parsing is `time`'s `Rfc3339` behind a few shape checks: 41-67 ns, where
// the hand-written parser it replaced took 50-75 ns in the same runs.

/// Writes `nanos` since the epoch as `YYYY-MM-DDThh:mm:ss.uuuuuuZ`.
pub(crate) fn write_ts(out: &mut Vec<u8>, nanos: u64) {
    out.extend_from_slice(&ts_second(nanos / 1_000_000_000));
    out.extend_from_slice(&ts_micros(nanos));
}

/// [`write_ts`] into a new string, for the few places that keep a time as
/// text (drop windows, sink failures).
pub(crate) fn ts_string(nanos: u64) -> String {
    let mut v = Vec::with_capacity(27);
    write_ts(&mut v, nanos);
    String::from_utf8(v).unwrap_or_default()
}

/// `YYYY-MM-DDThh:mm:ss.` of the second `secs` after the epoch.
pub(crate) fn ts_second(secs: u64) -> [u8; 20] {
    let dt = OffsetDateTime::from_unix_timestamp(secs as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let (y, mo, d) = (dt.year(), u8::from(dt.month()), dt.day());
    let (h, mi, s) = (dt.hour(), dt.minute(), dt.second());
    let mut buf = *b"0000-00-00T00:00:00.";
    let two = |buf: &mut [u8], at: usize, v: u8| {
        buf[at] = b'0' + v / 10;
        buf[at + 1] = b'0' + v % 10;
    };
    let y = y.clamp(0, 9999) as u32;
    buf[0] = b'0' + (y / 1000) as u8;
    buf[1] = b'0' + (y / 100 % 10) as u8;
    buf[2] = b'0' + (y / 10 % 10) as u8;
    buf[3] = b'0' + (y % 10) as u8;
    two(&mut buf, 5, mo);
    two(&mut buf, 8, d);
    two(&mut buf, 11, h);
    two(&mut buf, 14, mi);
    two(&mut buf, 17, s);
    buf
}

/// `uuuuuuZ`: the microseconds within the second of `nanos` after the
/// epoch.
pub(crate) fn ts_micros(nanos: u64) -> [u8; 7] {
    let mut buf = *b"000000Z";
    let mut m = (nanos % 1_000_000_000) / 1_000;
    for i in (0..6).rev() {
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
    }
    buf
}

/// A record's `ts` as [`write_ts`] writes it; `9` stands for a digit.
const TS_SHAPE: &[u8] = b"9999-99-99T99:99:99.999999Z";

/// The time in a rolled file's name; `9` stands for a digit. Colons are
/// not allowed in file names everywhere, so the clock uses dashes.
const STAMP_SHAPE: &[u8] = b"9999-99-99T99-99-99Z";

/// Whether `s` is `shape` with an ASCII digit wherever `shape` has a `9`.
fn has_shape(s: &[u8], shape: &[u8]) -> bool {
    s.len() == shape.len()
        && s.iter().zip(shape).all(|(&c, &want)| match want {
            b'9' => c.is_ascii_digit(),
            _ => c == want,
        })
}

/// Microseconds since the epoch of a record's `ts` as [`write_ts`] writes
/// it (`2026-11-22T10:00:00.123456Z`), negative before 1970; `None` for
/// anything else, a date or time that does not exist included.
pub(crate) fn parse_ts(ts: &str) -> Option<i64> {
    // `time`'s RFC 3339 parser also takes offsets, lower-case `t` and `z`,
    // other fraction lengths and leap seconds, none of which evtrail
    // writes. Given that it parsed, these bytes pin the shape down.
    let b = ts.as_bytes();
    if b.len() != TS_SHAPE.len() || b[10] != b'T' || b[19] != b'.' || b[26] != b'Z' {
        return None;
    }
    let t = OffsetDateTime::parse(ts, &Rfc3339).ok()?;
    if t.second() == 59 && b[17] == b'6' {
        return None; // a leap second, read as 59.999999999
    }
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000)).ok()
}

/// [`parse_ts`], but `None` for a time before 1970 as well, for callers
/// that count from the epoch unsigned (the HTTP encoders' nanoseconds).
// Only the HTTP encoders (feature `http`) and the tests need it.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn parse_ts_unsigned(ts: &str) -> Option<u64> {
    parse_ts(ts).and_then(|micros| u64::try_from(micros).ok())
}

/// The stamp of the second `unix_secs` in a rolled file's name,
/// `YYYY-MM-DDThh-mm-ssZ` (UTC): the digits of [`write_ts`], so that
/// names sort in time order like the records in them.
pub(crate) fn rolled_stamp(unix_secs: u64) -> String {
    let mut b = ts_second(unix_secs);
    b[13] = b'-';
    b[16] = b'-';
    b[19] = b'Z';
    String::from_utf8_lossy(&b).into_owned()
}

/// Whether `s` has the shape of a [`rolled_stamp`]; the date and time in
/// it may still not exist (see [`parse_rolled_stamp`]).
pub(crate) fn is_rolled_stamp(s: &str) -> bool {
    has_shape(s.as_bytes(), STAMP_SHAPE)
}

/// Unix seconds of a [`rolled_stamp`]. `None` for another shape, a date or
/// time that does not exist, or a time before 1970.
pub(crate) fn parse_rolled_stamp(s: &str) -> Option<u64> {
    if !is_rolled_stamp(s) || s.as_bytes()[17] >= b'6' {
        return None;
    }
    // The stamp is RFC 3339 with dashes for the time's colons.
    let mut text = s.as_bytes().to_vec();
    text[13] = b':';
    text[16] = b':';
    let t = OffsetDateTime::parse(std::str::from_utf8(&text).ok()?, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-20T12:00:00Z.
    const T0: u64 = 1_795_176_000;
    /// 9999-12-31T23:59:59Z, the last second with a four-digit year.
    const LAST: u64 = 253_402_300_799;

    fn ts(nanos: u64) -> String {
        let mut out = Vec::new();
        write_ts(&mut out, nanos);
        String::from_utf8(out).unwrap()
    }

    /// The figures behind the timestamp code: the same times written by
    /// [`write_ts`] and by `time`'s formatter (a description with six
    /// fraction digits: its well-known `Rfc3339` writes as many as the
    /// value needs), and parsed by [`parse_ts`] and by `time`'s bare
    /// `Rfc3339` (what the shape checks cost), best of five rounds:
    /// `cargo test --release --lib measure_timestamps -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement: run it in release with --ignored --nocapture"]
    fn measure_timestamps() {
        use ::time::format_description::well_known::Rfc3339;
        use std::hint::black_box;
        use std::time::Instant;
        const N: u64 = 1_000_000;
        let nanos = |i: u64| T0 * 1_000_000_000 + i * 7_654_321_123;
        let described = ::time::format_description::parse_borrowed::<2>(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z",
        )
        .unwrap();
        let write_by_time = |n: u64, out: &mut Vec<u8>| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(n))
                .unwrap()
                .format_into(out, &described)
                .unwrap();
        };
        let parse_by_time = |s: &str| {
            let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
            i64::try_from(t.unix_timestamp_nanos() / 1_000).ok()
        };
        // A few distinct texts, cycled: the parsers' cost, not memory's.
        let texts: Vec<String> = (0..N).map(|i| ts(nanos(i % 1024))).collect();
        for (i, text) in texts.iter().enumerate().take(10_000) {
            let mut out = Vec::new();
            write_by_time(nanos(i as u64 % 1024), &mut out);
            assert_eq!(std::str::from_utf8(&out).unwrap(), text);
            assert_eq!(parse_by_time(text), parse_ts(text));
        }
        let best = |f: &dyn Fn()| {
            (0..5)
                .map(|_| {
                    let start = Instant::now();
                    f();
                    start.elapsed().as_nanos() as f64 / N as f64
                })
                .fold(f64::MAX, f64::min)
        };
        let write = |by: &dyn Fn(u64, &mut Vec<u8>)| {
            best(&|| {
                let mut out = Vec::with_capacity(32);
                for i in 0..N {
                    out.clear();
                    by(black_box(nanos(i % 1024)), &mut out);
                    black_box(&out);
                }
            })
        };
        let parse = |by: &dyn Fn(&str) -> Option<i64>| {
            best(&|| {
                for t in &texts {
                    black_box(by(black_box(t)));
                }
            })
        };
        let (w_hand, w_time) = (write(&|n, o| write_ts(o, n)), write(&write_by_time));
        let (p_hand, p_time) = (parse(&|s| parse_ts(s)), parse(&parse_by_time));
        println!(
            "write a ts: by hand {w_hand:.1} ns, time {w_time:.1} ns ({:.2}x); \
             parse a ts: parse_ts {p_hand:.1} ns, time's bare Rfc3339 {p_time:.1} ns ({:.2}x)",
            w_time / w_hand,
            p_time / p_hand
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let mut out = Vec::new();
        write_ts(&mut out, 1_795_176_000_123_456_789);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-20T12:00:00.123456Z"
        );
        let mut out = Vec::new();
        write_ts(&mut out, 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    /// Nanoseconds are cut, not rounded; the largest `u64` is in 2554;
    /// a second past year 9999 (reachable only through [`ts_second`])
    /// cannot be written and falls back to the epoch's.
    #[test]
    fn timestamps_cut_nanoseconds_and_stay_in_shape_at_the_extremes() {
        assert_eq!(ts(999), "1970-01-01T00:00:00.000000Z");
        assert_eq!(ts(1_999_999_999), "1970-01-01T00:00:01.999999Z");
        assert_eq!(ts(u64::MAX), "2554-07-21T23:34:33.709551Z");
        assert_eq!(&ts_second(LAST), b"9999-12-31T23:59:59.");
        assert_eq!(&ts_second(LAST + 1), b"1970-01-01T00:00:00.");
        assert_eq!(&ts_micros(1_000_001_000), b"000001Z");
    }

    #[test]
    fn ts_string_is_write_ts_as_text() {
        for nanos in [0, 999, 1_795_176_000_123_456_789, u64::MAX] {
            assert_eq!(ts_string(nanos), ts(nanos));
        }
        assert_eq!(ts_string(1_795_176_000_123_456_789).len(), 27);
    }

    #[test]
    fn timestamps_parse_to_microseconds() {
        assert_eq!(parse_ts("1970-01-01T00:00:01.000002Z"), Some(1_000_002));
        assert_eq!(parse_ts("not a time"), None);
    }

    #[test]
    fn timestamps_parse_to_microseconds_since_the_epoch() {
        for parse in [parse_ts_unsigned, |s: &str| {
            parse_ts(s).map(|m| u64::try_from(m).unwrap())
        }] {
            assert_eq!(parse("1970-01-01T00:00:00.000001Z"), Some(1));
            assert_eq!(parse("1970-01-01T00:00:01.000002Z"), Some(1_000_002));
            assert_eq!(
                parse("2026-11-22T10:00:00.123456Z"),
                Some(1_795_341_600_123_456)
            );
            assert_eq!(
                parse("2024-02-29T23:59:59.999999Z"),
                Some(1_709_251_199_999_999)
            );
        }
    }

    /// What neither parser takes: other shapes, dates and times that do
    /// not exist, and a non-digit anywhere a digit belongs.
    #[test]
    fn timestamps_of_another_shape_or_impossible_dates_do_not_parse() {
        for bad in [
            "",
            "2026-11-22T10:00:00Z",
            "2026-11-22T10:00:00.123456",
            "2026-11-22 10:00:00.123456Z",
            "2026-11-22T10:00:00.123456+00:00",
            "2026-11-22t10:00:00.123456Z",
            "2026-11-22T10:00:00.123456z",
            "2026-11-22T10-00-00.123456Z",
            "2026-11-22T10:00:00,123456Z",
            "2026-13-22T10:00:00.123456Z",
            "2026-00-22T10:00:00.123456Z",
            "2026-11-00T10:00:00.123456Z",
            "2026-02-30T10:00:00.123456Z",
            "2026-02-29T10:00:00.123456Z",
            "2026-11-22T24:00:00.123456Z",
            "2026-11-22T10:60:00.123456Z",
            "2026-11-22T10:00:60.123456Z",
            "2016-12-31T23:59:60.123456Z", // a real leap second: never written
            "2026-11-22t10:00:00.123456Z",
            "2026-11-22T10:00:00.123456+00:00",
            "2026-11-22T10:00:00.12345xZ",
            "2026-11-22T10:00:00.1234567Z",
            "2026-11-22T10:00:00.12345Z",
            "+026-11-22T10:00:00.123456Z",
            "-026-11-22T10:00:00.123456Z",
            "2026-1-22T10:00:00.123456Z ",
            " 2026-11-22T10:00:00.123456Z",
            "2026-11-22T10:00:0٣.123456Z",
            "2026-11-22T10:00:00.123456Z\n",
        ] {
            assert_eq!(parse_ts(bad), None, "{bad:?}");
            assert_eq!(parse_ts_unsigned(bad), None, "{bad:?}");
        }
    }

    /// The one difference between the two: a time before 1970 is a
    /// negative count for [`parse_ts`] (the verifier compares times) and
    /// no time at all for [`parse_ts_unsigned`].
    #[test]
    fn times_before_1970_are_negative_or_refused() {
        for (s, micros) in [
            ("1969-12-31T23:59:59.999999Z", -1),
            ("1969-12-31T23:59:59.000000Z", -1_000_000),
            ("1969-12-31T23:59:58.999999Z", -1_000_001),
            ("0000-01-01T00:00:00.000000Z", -62_167_219_200_000_000),
        ] {
            assert_eq!(parse_ts(s), Some(micros), "{s}");
            assert_eq!(parse_ts_unsigned(s), None, "{s}");
        }
        assert_eq!(
            parse_ts("9999-12-31T23:59:59.999999Z"),
            Some(253_402_300_799_999_999)
        );
    }

    /// Whatever [`write_ts`] writes parses back to its microseconds.
    #[test]
    fn written_timestamps_parse_back() {
        for nanos in [
            0,
            999,
            1_000,
            1_795_176_000_123_456_789,
            1_709_251_199_999_999_999,
            u64::MAX,
        ] {
            let micros = nanos / 1_000;
            assert_eq!(parse_ts(&ts(nanos)), Some(micros as i64), "{nanos}");
            assert_eq!(parse_ts_unsigned(&ts(nanos)), Some(micros), "{nanos}");
        }
    }

    #[test]
    fn rolled_stamps_are_utc_with_dashes() {
        assert_eq!(rolled_stamp(T0), "2026-11-20T12-00-00Z");
        assert_eq!(rolled_stamp(0), "1970-01-01T00-00-00Z");
        assert_eq!(rolled_stamp(1_709_251_199), "2024-02-29T23-59-59Z");
        assert_eq!(rolled_stamp(LAST), "9999-12-31T23-59-59Z");
        // Past year 9999, like the record's `ts`: the epoch's second.
        assert_eq!(rolled_stamp(LAST + 1), "1970-01-01T00-00-00Z");
        assert!(rolled_stamp(T0) < rolled_stamp(T0 + 1));
        assert!(rolled_stamp(T0 + 59) < rolled_stamp(T0 + 60));
    }

    #[test]
    fn rolled_stamps_parse_back() {
        assert_eq!(parse_rolled_stamp("2026-11-20T12-00-00Z"), Some(T0));
        assert_eq!(parse_rolled_stamp("1970-01-01T00-00-00Z"), Some(0));
        assert_eq!(
            parse_rolled_stamp("2024-02-29T23-59-59Z"),
            Some(1_709_251_199)
        );
        for secs in [0, 1, T0, T0 + 12_345_678, 4_102_444_799, LAST] {
            let stamp = rolled_stamp(secs);
            assert!(is_rolled_stamp(&stamp), "{stamp}");
            assert_eq!(parse_rolled_stamp(&stamp), Some(secs), "{stamp}");
        }
    }

    #[test]
    fn rolled_stamps_reject_impossible_dates_and_other_shapes() {
        for s in [
            "2026-02-29T00-00-00Z", // not a leap year
            "2026-02-30T00-00-00Z",
            "2026-04-31T00-00-00Z",
            "2026-13-01T00-00-00Z",
            "2026-00-10T00-00-00Z",
            "2026-01-00T00-00-00Z",
            "2026-01-01T24-00-00Z",
            "2026-01-01T00-60-00Z",
            "2026-01-01T00-00-60Z", // leap seconds are never written
            "1969-12-31T23-59-59Z", // before the epoch
        ] {
            assert!(is_rolled_stamp(s), "{s:?} has the shape");
            assert_eq!(parse_rolled_stamp(s), None, "{s:?}");
        }
        for s in [
            "2026-01-01T00:00:00Z",
            "2026-01-01T00-00-00",
            "2026-01-01 00-00-00Z",
            "2026-1-01T00-00-00Z",
            "+026-01-01T00-00-00Z",
            "2026-01-01T00-00-00Z ",
            "2026-01-01T00-00-00.000000Z",
            "",
        ] {
            assert!(!is_rolled_stamp(s), "{s:?}");
            assert_eq!(parse_rolled_stamp(s), None, "{s:?}");
        }
    }
}
