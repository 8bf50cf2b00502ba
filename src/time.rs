//! Timestamps: the clock, and the text form of a record's `ts`.
//!
//! Depends only on the `time` crate; nothing here knows about records.

use std::time::{SystemTime, UNIX_EPOCH};

use ::time::OffsetDateTime;

/// The current time in nanoseconds since the Unix epoch (0 before it).
pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Writes `nanos` since the epoch as `YYYY-MM-DDThh:mm:ss.uuuuuuZ`.
pub(crate) fn write_ts(out: &mut Vec<u8>, nanos: u64) {
    out.extend_from_slice(&ts_second(nanos / 1_000_000_000));
    out.extend_from_slice(&ts_micros(nanos));
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
