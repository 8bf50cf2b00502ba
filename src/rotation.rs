//! When a stream's segment (its file) ends: by size, by time, or both.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Default size at which a stream's file is rolled: 100 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;

/// A calendar period for time-based rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Period {
    /// At the start of every minute (meant for tests and demos).
    Minutely,
    /// At the start of every hour.
    Hourly,
    /// At midnight.
    Daily,
}

impl Period {
    fn secs(self) -> i64 {
        match self {
            Period::Minutely => 60,
            Period::Hourly => 3_600,
            Period::Daily => 86_400,
        }
    }
}

/// The source of time for timestamps, rotation and seals; replaceable in
/// tests so that time-based behaviour is checked without sleeping.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
///
/// /// A clock the test moves by hand.
/// struct Manual(AtomicU64);
///
/// impl evtrail::Clock for Manual {
///     fn now(&self) -> SystemTime {
///         UNIX_EPOCH + Duration::from_secs(self.0.load(Ordering::SeqCst))
///     }
/// }
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

impl fmt::Debug for dyn Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// Reads a clock as nanoseconds since the epoch (0 before it).
pub(crate) fn nanos(clock: &dyn Clock) -> u64 {
    clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

type OffsetFn = Arc<dyn Fn(SystemTime) -> i32 + Send + Sync>;

/// When a stream's file is rolled and a new one (a new segment) begins.
///
/// By size, by a calendar period, or whichever comes first; a record is
/// never split between files. Period boundaries are in UTC unless
/// [`local_offset`](Self::local_offset) says otherwise. The default rolls
/// at [`DEFAULT_MAX_FILE_BYTES`] and never by time.
///
/// Time rotation follows the records' own timestamps, so a file of an hour
/// holds that hour's records (give or take the few records that different
/// threads hand over in a different order than they were stamped).
///
/// # Examples
///
/// ```
/// use evtrail::{Period, Rotation};
///
/// // Every hour, or at 64 MiB if that comes first.
/// let rotation = Rotation::default().period(Period::Hourly).max_bytes(64 << 20);
/// # let _ = rotation;
/// ```
#[derive(Clone)]
pub struct Rotation {
    pub(crate) max_bytes: Option<u64>,
    pub(crate) period: Option<Period>,
    offset: Option<OffsetFn>,
}

impl Default for Rotation {
    fn default() -> Rotation {
        Rotation {
            max_bytes: Some(DEFAULT_MAX_FILE_BYTES),
            period: None,
            offset: None,
        }
    }
}

impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotation")
            .field("max_bytes", &self.max_bytes)
            .field("period", &self.period)
            .field("local_offset", &self.offset.is_some())
            .finish()
    }
}

impl Rotation {
    /// Never roll on its own (only [`Handle::rotate`](crate::Handle::rotate)
    /// and restarts start new files).
    pub fn never() -> Rotation {
        Rotation {
            max_bytes: None,
            period: None,
            offset: None,
        }
    }

    /// Rolls once a file holds `bytes` or more. Default [`DEFAULT_MAX_FILE_BYTES`].
    pub fn max_bytes(mut self, bytes: u64) -> Rotation {
        self.max_bytes = Some(bytes);
        self
    }

    /// Rolls at every boundary of `period`. Default: not by time.
    pub fn period(mut self, period: Period) -> Rotation {
        self.period = Some(period);
        self
    }

    /// Puts period boundaries in local time: `offset(t)` is the offset from
    /// UTC, in seconds, in force at `t` (for example from a time zone
    /// database), so boundaries follow daylight-saving changes. File names
    /// stay in UTC, so a repeated local hour never collides with itself.
    pub fn local_offset(
        mut self,
        offset: impl Fn(SystemTime) -> i32 + Send + Sync + 'static,
    ) -> Rotation {
        self.offset = Some(Arc::new(offset));
        self
    }

    fn offset_at(&self, unix_secs: i64) -> i64 {
        match &self.offset {
            None => 0,
            Some(f) => {
                let t = if unix_secs >= 0 {
                    UNIX_EPOCH + std::time::Duration::from_secs(unix_secs as u64)
                } else {
                    UNIX_EPOCH
                };
                i64::from(f(t))
            }
        }
    }

    /// The first period boundary after the instant `nanos` (nanoseconds
    /// since the epoch), or `None` when not rotating by time.
    pub(crate) fn next_boundary(&self, nanos: u64) -> Option<u64> {
        let len = self.period?.secs();
        let t = (nanos / 1_000_000_000) as i64;
        let local = t + self.offset_at(t);
        let next_local = local.div_euclid(len) * len + len;
        // The offset in force at the boundary can differ from the one now
        // (a daylight-saving change in between). The boundary is the first
        // instant after `t` that starts a period in its own local time.
        let first = next_local - self.offset_at(t);
        let second = next_local - self.offset_at(first);
        let starts_period = |c: i64| (c + self.offset_at(c)).rem_euclid(len) == 0;
        let utc = [first, second]
            .into_iter()
            .find(|&c| c > t && starts_period(c))
            .or_else(|| [first, second].into_iter().filter(|&c| c > t).min())
            .unwrap_or(t + 1);
        Some(utc as u64 * 1_000_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn at(secs: u64) -> u64 {
        secs * S
    }

    #[test]
    fn utc_boundaries_are_at_the_start_of_the_next_period() {
        // 2026-11-22T10:17:42Z
        let t = at(1_795_342_662);
        let hourly = Rotation::never().period(Period::Hourly);
        assert_eq!(hourly.next_boundary(t), Some(at(1_795_345_200))); // 11:00:00Z
        let minutely = Rotation::never().period(Period::Minutely);
        assert_eq!(minutely.next_boundary(t), Some(at(1_795_342_680))); // 10:18:00Z
        let daily = Rotation::never().period(Period::Daily);
        assert_eq!(daily.next_boundary(t), Some(at(1_795_392_000))); // 2026-11-23T00:00:00Z
        // Exactly on a boundary, the next one is a whole period later.
        assert_eq!(
            hourly.next_boundary(at(1_795_345_200)),
            Some(at(1_795_348_800))
        );
        assert_eq!(Rotation::never().next_boundary(t), None);
    }

    #[test]
    fn local_boundaries_follow_the_offset_in_force() {
        // UTC+1: local midnight is 23:00Z the day before.
        let cet = Rotation::never()
            .period(Period::Daily)
            .local_offset(|_| 3_600);
        // 2026-11-22T10:17:42Z = 11:17:42 local; next local midnight 2026-11-23T00:00 = 2026-11-22T23:00Z.
        assert_eq!(
            cet.next_boundary(at(1_795_342_662)),
            Some(at(1_795_388_400))
        );
    }

    /// A zone that is UTC+2 until `switch` and UTC+1 after it (autumn).
    fn autumn(switch: u64) -> Rotation {
        Rotation::never()
            .period(Period::Hourly)
            .local_offset(move |t| {
                let s = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
                if s < switch { 7_200 } else { 3_600 }
            })
    }

    #[test]
    fn daylight_saving_ends_without_a_skipped_or_repeated_boundary() {
        // 2026-10-25T01:00:00Z: clocks go from 03:00 local (UTC+2) back to 02:00 (UTC+1).
        let switch = 1_792_890_000;
        let rot = autumn(switch);
        let mut t = at(switch - 2 * 3_600 + 5);
        let mut boundaries = Vec::new();
        for _ in 0..5 {
            let b = rot.next_boundary(t).unwrap();
            assert!(b > t, "boundaries move forward");
            boundaries.push(b / S);
            t = b;
        }
        // One boundary per real hour, every hour, across the change.
        for w in boundaries.windows(2) {
            assert_eq!(w[1] - w[0], 3_600, "{boundaries:?}");
        }
        // Rolled-file names are in UTC: distinct even for the repeated local hour.
        let names: std::collections::BTreeSet<String> = boundaries
            .iter()
            .map(|&b| crate::sink::rolled_name("app", b, 1))
            .collect();
        assert_eq!(names.len(), boundaries.len());
    }

    #[test]
    fn daylight_saving_starts_without_a_stuck_boundary() {
        // UTC+1 until the switch, UTC+2 after it (spring forward).
        let switch = 1_774_746_000u64; // 2026-03-29T01:00:00Z
        let rot = Rotation::never()
            .period(Period::Hourly)
            .local_offset(move |t| {
                let s = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
                if s < switch { 3_600 } else { 7_200 }
            });
        let mut t = at(switch - 3_600 - 10);
        for _ in 0..4 {
            let b = rot.next_boundary(t).unwrap();
            assert!(b > t);
            assert!(
                b - t <= 3_600 * S + 10 * S,
                "no boundary is lost: {} -> {}",
                t / S,
                b / S
            );
            t = b;
        }
    }
}
