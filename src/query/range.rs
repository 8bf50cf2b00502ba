//! Time ranges: what `--since`, `--from` and `--to` say, the current hour
//! by default, and the bounds as the text records carry in `ts`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::error::Error;

/// The span of time a query searches: from (inclusive) to (exclusive),
/// either end open. Times are UTC, as records' `ts` are.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use evtrail::query::TimeRange;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_795_176_930); // 2026-11-20 12:15:30Z
/// let hour = TimeRange::current_hour(now);
/// assert_eq!(hour.to_string(), "2026-11-20 12:00:00Z .. 2026-11-20 13:00:00Z");
/// let last = TimeRange::parse_since("10m", now)?;
/// // One second past now, so that what is written while the query runs is kept.
/// assert_eq!(last.to_string(), "2026-11-20 12:05:30Z .. 2026-11-20 12:15:31Z");
/// let day = TimeRange::parse("2026-11-20", "2026-11-21 06:30")?;
/// assert_eq!(day.to_string(), "2026-11-20 00:00:00Z .. 2026-11-21 06:30:00Z");
/// # Ok::<(), evtrail::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    from: Option<SystemTime>,
    to: Option<SystemTime>,
}

impl TimeRange {
    /// Every record, whenever it happened.
    pub fn all() -> TimeRange {
        TimeRange {
            from: None,
            to: None,
        }
    }

    /// From `from` (inclusive) to `to` (exclusive); `None` leaves that end
    /// open.
    pub fn between(from: Option<SystemTime>, to: Option<SystemTime>) -> TimeRange {
        TimeRange { from, to }
    }

    /// The clock hour `now` falls in: the default range of a query.
    pub fn current_hour(now: SystemTime) -> TimeRange {
        let secs = unix_secs(now);
        let start = UNIX_EPOCH + Duration::from_secs(secs - secs % 3600);
        TimeRange {
            from: Some(start),
            to: Some(start + Duration::from_secs(3600)),
        }
    }

    /// The last `text` before `now`: a number and a unit, `s`, `m`, `h`,
    /// `d` or `w` (`90s`, `10m`, `2h`, `1d`). The end is one second past
    /// `now`, so that what is written while the query runs is not cut off
    /// by rounding.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for anything else,
    /// naming the text.
    pub fn parse_since(text: &str, now: SystemTime) -> Result<TimeRange, Error> {
        let d = parse_duration(text)?;
        Ok(TimeRange {
            from: Some(now.checked_sub(d).unwrap_or(UNIX_EPOCH)),
            to: Some(now + Duration::from_secs(1)),
        })
    }

    /// The range from `from` to `to`, each RFC 3339 (`2026-11-20T12:00:00Z`,
    /// any offset) or `YYYY-MM-DD[ hh:mm[:ss]]` in UTC (a `T` may stand for
    /// the space); an empty text leaves that end open.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a time that
    /// cannot be read, or a `to` that is not after `from`.
    pub fn parse(from: &str, to: &str) -> Result<TimeRange, Error> {
        let end = |t: &str| (!t.trim().is_empty()).then(|| parse_instant(t)).transpose();
        let range = TimeRange {
            from: end(from)?,
            to: end(to)?,
        };
        if let (Some(a), Some(b)) = (range.from, range.to)
            && b <= a
        {
            return Err(Error::config(format!(
                "the range ends before it starts: `{}` is not after `{}`",
                to.trim(),
                from.trim()
            )));
        }
        Ok(range)
    }

    /// The start, when the range has one.
    pub fn from(&self) -> Option<SystemTime> {
        self.from
    }

    /// The (exclusive) end, when the range has one.
    pub fn to(&self) -> Option<SystemTime> {
        self.to
    }

    /// Whether `t` lies in the range.
    pub fn contains(&self, t: SystemTime) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }

    /// The bounds as records spell `ts` (`2026-11-20T12:00:00.000000Z`):
    /// such texts sort as the times they name, so a record's `ts` can be
    /// compared without parsing it.
    pub(crate) fn ts_bounds(&self) -> (Option<String>, Option<String>) {
        (self.from.map(ts_text), self.to.map(ts_text))
    }
}

impl fmt::Display for TimeRange {
    /// `2026-11-20 12:00:00Z .. 2026-11-20 13:00:00Z`, `…` for an open end.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |t: Option<SystemTime>| t.map_or_else(|| "…".to_owned(), human);
        write!(f, "{} .. {}", end(self.from), end(self.to))
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn utc(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

fn human(t: SystemTime) -> String {
    let d = utc(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

fn ts_text(t: SystemTime) -> String {
    // Past what a u64 of nanoseconds holds (the year 2554), the latest
    // time that can be written: later than every record.
    let nanos = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    crate::time::ts_string(nanos)
}

/// `10m`, `2h`, `1d`, `90s`, `1w`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, Error> {
    let t = text.trim();
    let bad = || {
        Error::config(format!(
            "invalid duration `{text}`: expected a number and a unit, s m h d or w (`10m`, `2h`, `1d`)"
        ))
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs)
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

/// RFC 3339, or `YYYY-MM-DD[ hh:mm[:ss]]` in UTC.
pub(crate) fn parse_instant(text: &str) -> Result<SystemTime, Error> {
    let t = text.trim();
    if let Ok(d) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(d.into());
    }
    let bad = |why: &str| {
        Error::config(format!(
            "invalid time `{text}`: {why}; expected RFC 3339 (`2026-11-20T12:00:00Z`) or `YYYY-MM-DD[ hh:mm[:ss]]` (UTC)"
        ))
    };
    let (date, clock) = match t.find([' ', 'T']) {
        Some(i) => (&t[..i], t[i + 1..].trim_end_matches('Z')),
        None => (t, ""),
    };
    // A year has four digits, every other part one or two.
    let num = |s: &str, what: &str| -> Result<u32, Error> {
        let max = if what == "year" { 4 } else { 2 };
        if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(&format!("`{s}` is not a {what}")));
        }
        s.parse().map_err(|_| bad(what))
    };
    let mut d = date.split('-');
    let (Some(y), Some(m), Some(day), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(bad("no date"));
    };
    let month = time::Month::try_from(num(m, "month")? as u8).map_err(|_| bad("no such month"))?;
    let date = Date::from_calendar_date(num(y, "year")? as i32, month, num(day, "day")? as u8)
        .map_err(|_| bad("no such date"))?;
    let time = if clock.is_empty() {
        Time::MIDNIGHT
    } else {
        let mut c = clock.split(':');
        let h = num(c.next().unwrap_or(""), "hour")?;
        let min = num(
            c.next().ok_or_else(|| bad("hh:mm needs minutes"))?,
            "minute",
        )?;
        let s = c.next().map(|s| num(s, "second")).transpose()?.unwrap_or(0);
        if c.next().is_some() {
            return Err(bad("too many `:`"));
        }
        Time::from_hms(h as u8, min as u8, s as u8).map_err(|_| bad("no such time of day"))?
    };
    Ok(PrimitiveDateTime::new(date, time).assume_utc().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_current_hour_holds_now_and_ends_at_the_next() {
        let now = at(1_795_176_930); // 2026-11-20 12:15:30
        let r = TimeRange::current_hour(now);
        assert!(r.contains(now));
        assert!(r.contains(at(1_795_176_000)));
        assert!(!r.contains(at(1_795_179_600)), "the end is exclusive");
        assert!(!r.contains(at(1_795_175_999)));
        assert_eq!(
            r.ts_bounds(),
            (
                Some("2026-11-20T12:00:00.000000Z".to_owned()),
                Some("2026-11-20T13:00:00.000000Z".to_owned())
            )
        );
    }

    #[test]
    fn durations_take_a_number_and_a_unit() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(
            parse_duration(" 1w ").unwrap(),
            Duration::from_secs(604_800)
        );
        for bad in [
            "10x",
            "m",
            "10",
            "",
            "-5m",
            "0m",
            "1.5h",
            "99999999999999999999d",
        ] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
    }

    #[test]
    fn instants_in_rfc3339_or_plain_utc() {
        let noon = at(1_795_176_000);
        assert_eq!(parse_instant("2026-11-20T12:00:00Z").unwrap(), noon);
        assert_eq!(parse_instant("2026-11-20T13:00:00+01:00").unwrap(), noon);
        assert_eq!(parse_instant("2026-11-20 12:00").unwrap(), noon);
        assert_eq!(parse_instant("2026-11-20T12:00").unwrap(), noon);
        assert_eq!(parse_instant("2026-11-20 12:00:00").unwrap(), noon);
        assert_eq!(parse_instant("2026-11-20").unwrap(), at(1_795_132_800));
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "yesterday",
            "2026-11-20 25:00",
            "2026-11-20 12",
            "12:00",
            "2026-12-259",
            "2026-257-03",
            "2026-12-03 266:00",
            "2026-12-03 10:600",
        ] {
            let e = parse_instant(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
    }

    #[test]
    fn a_range_must_end_after_it_starts() {
        let e = TimeRange::parse("2026-11-21", "2026-11-20").unwrap_err();
        assert!(e.to_string().contains("ends before it starts"), "{e}");
        let open = TimeRange::parse("", "2026-11-20").unwrap();
        assert_eq!(open.from(), None);
        assert!(open.contains(UNIX_EPOCH));
        assert_eq!(open.to_string(), "… .. 2026-11-20 00:00:00Z");
        assert!(TimeRange::all().contains(at(u32::MAX as u64)));
    }

    #[test]
    fn a_range_past_what_timestamps_can_say_still_holds_today() {
        let r = TimeRange::parse("2026-01-01", "2600-01-01").unwrap();
        let (_, to) = r.ts_bounds();
        assert!(to.unwrap().as_str() > "2026-12-03T10:00:00.000000Z");
    }

    #[test]
    fn since_reaches_back_from_now() {
        let now = at(1_795_176_930);
        let r = TimeRange::parse_since("10m", now).unwrap();
        assert!(r.contains(now));
        assert!(r.contains(at(1_795_176_930 - 600)));
        assert!(!r.contains(at(1_795_176_930 - 601)));
    }
}
