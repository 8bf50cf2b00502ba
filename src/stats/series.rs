//! Counts over time: the bucket width (given, or chosen to make about
//! 30–120 buckets across the range), the counts per bucket and per line,
//! and empty buckets filled in as zero.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use crate::error::Error;

/// The most buckets a series may have; a `--every` that would make more
/// over the range is refused, so memory stays bounded.
pub const MAX_BUCKETS: u64 = 10_000;

/// The most lines a series keeps apart while counting; records of further
/// values are counted in an `other` line.
pub const MAX_LINES: usize = 64;

/// The lines shown: the largest ones, the rest summed as `other`.
pub const SHOWN_LINES: usize = 8;

/// Bucket widths a range is split by, in seconds: the smallest that makes
/// at most [`AUTO_MAX`] buckets across a bounded range is taken.
const NICE: &[u64] = &[
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
    172_800, 604_800, 1_209_600, 2_419_200,
];

/// Widths an open range grows through as records come: each a multiple of
/// the one before, so buckets merge without splitting a count.
const CHAIN: &[u64] = &[
    1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10_800, 21_600, 43_200, 86_400, 604_800, 2_419_200,
];

/// The most buckets an automatic width makes over a bounded range.
const AUTO_MAX: u64 = 100;
/// The most buckets an open range holds before its width grows.
const OPEN_MAX: u64 = 120;

/// The name of the line that sums what is not shown apart.
pub const OTHER: &str = "other";

/// The width that splits `span_secs` into at most 100 buckets.
pub(crate) fn auto_every(span_secs: u64) -> u64 {
    for &w in NICE {
        if span_secs.div_ceil(w) <= AUTO_MAX {
            return w;
        }
    }
    let last = NICE[NICE.len() - 1];
    span_secs.div_ceil(AUTO_MAX).div_ceil(last) * last
}

/// A series as counted: one line per value of its dimension.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Series {
    /// What splits the lines: `class`, or the first `--by` dimension.
    pub dimension: String,
    /// The width of a bucket, in seconds.
    pub every_s: u64,
    /// Each bucket's start, `2026-11-20T12:00:00Z`; a bucket holds the
    /// records from its start (inclusive) to the next start (exclusive).
    pub starts: Vec<String>,
    /// The lines, largest first; the last may be `other`.
    pub lines: Vec<Line>,
    /// All records per bucket, every line together.
    pub totals: Vec<u64>,
}

/// One line of a [`Series`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Line {
    /// The dimension's value (`info`, `payment_failed`), or `other`.
    pub name: String,
    /// Records per bucket, one per [`Series::starts`].
    pub counts: Vec<u64>,
    /// All its records.
    pub total: u64,
}

/// Counting a series as records come.
#[derive(Debug)]
pub(crate) struct SeriesCounter {
    dimension: String,
    every: u64,
    /// Whether the width stays (given, or chosen from a bounded range).
    fixed: bool,
    /// The range's ends in seconds, when it has them.
    from: Option<i64>,
    to: Option<i64>,
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// Bucket start (seconds) → count per line.
    buckets: BTreeMap<i64, Vec<u64>>,
}

impl SeriesCounter {
    /// A series over `from..to` (seconds, either open), by `every` when
    /// given.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a zero `every`,
    /// or one that makes more than [`MAX_BUCKETS`] over a bounded range.
    pub(crate) fn new(
        dimension: &str,
        every: Option<Duration>,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<SeriesCounter, Error> {
        let span = match (from, to) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a).max(1) as u64),
            _ => None,
        };
        let (every, fixed) = match (every, span) {
            (Some(d), _) => {
                let secs = d.as_secs();
                if secs == 0 || d.subsec_nanos() != 0 {
                    return Err(Error::config(format!(
                        "a bucket must be a whole number of seconds, not {d:?}"
                    )));
                }
                if let Some(span) = span
                    && span.div_ceil(secs) > MAX_BUCKETS
                {
                    return Err(Error::config(format!(
                        "buckets of {secs}s make {} buckets over the range; at most {MAX_BUCKETS}: choose a wider --every or a shorter range",
                        span.div_ceil(secs)
                    )));
                }
                (secs, true)
            }
            (None, Some(span)) => (auto_every(span), true),
            (None, None) => (CHAIN[0], false),
        };
        Ok(SeriesCounter {
            dimension: dimension.to_owned(),
            every,
            fixed,
            from,
            to,
            names: Vec::new(),
            index: HashMap::new(),
            buckets: BTreeMap::new(),
        })
    }

    /// Whether the width stays what it is, whatever the records.
    #[cfg(feature = "http")]
    pub(crate) fn is_fixed(&self) -> bool {
        self.fixed
    }

    /// The width of a bucket now, in seconds.
    #[cfg(feature = "http")]
    pub(crate) fn every(&self) -> u64 {
        self.every
    }

    /// The dimension that splits the lines.
    pub(crate) fn dimension(&self) -> &str {
        &self.dimension
    }

    /// Counts a record at `secs` whose dimension is `value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when a width that
    /// was given makes more than [`MAX_BUCKETS`] across the records of an
    /// open range.
    pub(crate) fn add(&mut self, secs: i64, value: &str) -> Result<(), Error> {
        self.add_n(secs, value, 1)
    }

    /// Counts `n` records at `secs` whose dimension is `value`.
    ///
    /// # Errors
    ///
    /// As for [`add`](Self::add).
    pub(crate) fn add_n(&mut self, secs: i64, value: &str, n: u64) -> Result<(), Error> {
        let line = match self.index.get(value) {
            Some(&i) => i,
            None if self.names.len() < MAX_LINES => {
                self.names.push(value.to_owned());
                self.index.insert(value.to_owned(), self.names.len() - 1);
                self.names.len() - 1
            }
            None => MAX_LINES,
        };
        let start = secs.div_euclid(self.every as i64) * self.every as i64;
        let counts = self.buckets.entry(start).or_default();
        if counts.len() <= line {
            counts.resize(line + 1, 0);
        }
        counts[line] += n;
        let spread = self.spread();
        if spread > OPEN_MAX && !self.fixed {
            self.grow();
        } else if spread > MAX_BUCKETS {
            return Err(Error::config(format!(
                "buckets of {}s make more than {MAX_BUCKETS} buckets across the records; choose a wider --every or a shorter range",
                self.every
            )));
        }
        Ok(())
    }

    /// How many buckets lie between the first and the last (both counted).
    fn spread(&self) -> u64 {
        let lo = self.first_start();
        let hi = self.last_start();
        match (lo, hi) {
            (Some(lo), Some(hi)) => ((hi - lo) / self.every as i64) as u64 + 1,
            _ => 0,
        }
    }

    fn first_start(&self) -> Option<i64> {
        let first = self.buckets.keys().next().copied();
        let from = self.from.map(|f| self.start_of(f));
        match (first, from) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn last_start(&self) -> Option<i64> {
        let last = self.buckets.keys().next_back().copied();
        // The range's end is exclusive: its last bucket holds `to - 1`.
        let to = self.to.map(|t| self.start_of(t - 1));
        match (last, to) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    fn start_of(&self, secs: i64) -> i64 {
        secs.div_euclid(self.every as i64) * self.every as i64
    }

    /// Moves to wider buckets until the records fit in [`OPEN_MAX`].
    fn grow(&mut self) {
        while self.spread() > OPEN_MAX {
            let next = CHAIN
                .iter()
                .copied()
                .find(|&w| w > self.every)
                .unwrap_or(self.every * 4);
            self.every = next;
            let old = std::mem::take(&mut self.buckets);
            for (start, counts) in old {
                let merged = self.buckets.entry(self.start_of(start)).or_default();
                if merged.len() < counts.len() {
                    merged.resize(counts.len(), 0);
                }
                for (m, c) in merged.iter_mut().zip(counts) {
                    *m += c;
                }
            }
        }
    }

    /// The series: every bucket from the range's start (or the first
    /// record) to its end (or the last record), empty ones as zero; the
    /// [`SHOWN_LINES`] largest lines, the rest summed as `other`.
    pub(crate) fn finish(self) -> Series {
        let mut starts = Vec::new();
        if let (Some(lo), Some(hi)) = (self.first_start(), self.last_start()) {
            let mut t = lo;
            while t <= hi {
                starts.push(t);
                t += self.every as i64;
            }
        }
        let n_lines = self.names.len() + 1;
        let mut lines: Vec<Line> = (0..n_lines)
            .map(|i| Line {
                name: self
                    .names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| OTHER.to_owned()),
                counts: vec![0; starts.len()],
                total: 0,
            })
            .collect();
        let mut totals = vec![0; starts.len()];
        for (start, counts) in &self.buckets {
            let at = ((start - starts[0]) / self.every as i64) as usize;
            for (line, c) in counts.iter().enumerate() {
                lines[line].counts[at] += c;
                lines[line].total += c;
                totals[at] += c;
            }
        }
        // The counting order's `other` (values past MAX_LINES) joins the
        // shown lines' `other` below.
        let mut overflow = lines.pop().filter(|l| l.total > 0);
        // A value literally named `other` is folded into the sum too, so
        // the page never shows two lines of that name.
        if let Some(i) = lines.iter().position(|l| l.name == OTHER) {
            let l = lines.remove(i);
            overflow = Some(sum(overflow, l));
        }
        lines.retain(|l| l.total > 0);
        lines.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
        let limit = if overflow.is_some() || lines.len() > SHOWN_LINES {
            SHOWN_LINES - 1
        } else {
            SHOWN_LINES
        };
        for l in lines.split_off(limit.min(lines.len())) {
            overflow = Some(sum(overflow, l));
        }
        lines.extend(overflow);
        Series {
            dimension: self.dimension,
            every_s: self.every,
            starts: starts.iter().map(|&s| second_text(s)).collect(),
            lines,
            totals,
        }
    }
}

/// `a` plus `b`, named `other`.
fn sum(a: Option<Line>, b: Line) -> Line {
    match a {
        None => Line {
            name: OTHER.to_owned(),
            ..b
        },
        Some(mut a) => {
            for (x, y) in a.counts.iter_mut().zip(&b.counts) {
                *x += y;
            }
            a.total += b.total;
            a.name = OTHER.to_owned();
            a
        }
    }
}

/// `2026-11-20T12:00:00Z`.
pub(crate) fn second_text(secs: i64) -> String {
    let head = crate::time::ts_second(secs.max(0) as u64);
    let mut s = String::from_utf8_lossy(&head[..19]).into_owned();
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_widths_make_30_to_120_buckets() {
        for span in [
            60,
            600,
            3600,
            7200,
            86_400,
            7 * 86_400,
            30 * 86_400,
            365 * 86_400,
        ] {
            let w = auto_every(span);
            let n = span.div_ceil(w);
            assert!((30..=120).contains(&n), "{span}s by {w}s makes {n}");
        }
        assert_eq!(auto_every(3600), 60);
        assert_eq!(auto_every(86_400), 900);
    }

    #[test]
    fn a_bounded_range_shows_every_bucket_with_zeros() {
        let mut s = SeriesCounter::new("class", None, Some(3600), Some(7200)).unwrap();
        s.add(3600, "info").unwrap();
        s.add(3659, "info").unwrap();
        s.add(3660, "error").unwrap(); // the next bucket's first second
        s.add(7199, "info").unwrap();
        let s = s.finish();
        assert_eq!(s.every_s, 60);
        assert_eq!(s.starts.len(), 60);
        assert_eq!(s.starts[0], "1970-01-01T01:00:00Z");
        assert_eq!(s.totals[0], 2);
        assert_eq!(s.totals[1], 1);
        assert_eq!(s.totals[59], 1);
        assert_eq!(s.totals.iter().sum::<u64>(), 4);
        assert_eq!(s.lines[0].name, "info");
        assert_eq!(s.lines[0].counts[0], 2);
    }

    #[test]
    fn an_open_range_grows_its_buckets_without_losing_counts() {
        let mut s = SeriesCounter::new("class", None, None, None).unwrap();
        for t in 0..100_000i64 {
            s.add(t * 7, "info").unwrap();
        }
        let s = s.finish();
        assert!(
            s.starts.len() <= 120 && s.starts.len() >= 30,
            "{}",
            s.starts.len()
        );
        assert_eq!(s.totals.iter().sum::<u64>(), 100_000);
    }

    #[test]
    fn too_many_buckets_are_refused() {
        let e = SeriesCounter::new("class", Some(Duration::from_secs(1)), Some(0), Some(86_400))
            .unwrap_err();
        assert!(e.to_string().contains("86400 buckets"), "{e}");
        let mut s = SeriesCounter::new("class", Some(Duration::from_secs(1)), None, None).unwrap();
        s.add(0, "a").unwrap();
        assert!(s.add(20_000, "a").is_err());
    }

    #[test]
    fn small_lines_are_summed_as_other() {
        let mut s = SeriesCounter::new("event", None, Some(0), Some(60)).unwrap();
        for i in 0..100u64 {
            for _ in 0..=i {
                s.add(1, &format!("e{i}")).unwrap();
            }
        }
        let s = s.finish();
        assert_eq!(s.lines.len(), SHOWN_LINES);
        // Values past MAX_LINES are counted in `other` from the start.
        assert_eq!(s.lines[0].name, format!("e{}", MAX_LINES - 1));
        assert_eq!(s.lines.last().unwrap().name, OTHER);
        let all: u64 = s.lines.iter().map(|l| l.total).sum();
        assert_eq!(all, (1..=100).sum::<u64>());
    }
}
