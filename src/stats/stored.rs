//! Counting what a store has counted already: groups of records with
//! their number, as a `GROUP BY` returns them, added to the same tallies
//! that count records one by one, so that both ways give one summary.

use super::series::SeriesCounter;
use super::{Counting, PUSH_GRACE, PushTally, Tally, unix_secs};
use crate::error::Error;
use crate::query::{Query, TimeRange};

/// Records that share every key the summary counts by.
pub(crate) struct Group<'a> {
    pub(crate) class: &'a str,
    pub(crate) event: &'a str,
    pub(crate) level: &'a str,
    pub(crate) service: &'a str,
    pub(crate) host: &'a str,
    /// One value per [`Tally::dimensions`].
    pub(crate) by: &'a [String],
    /// The value of the series' dimension.
    pub(crate) line: &'a str,
    /// The start of their bucket of [`Tally::series_width`] seconds.
    pub(crate) bucket: i64,
    /// Whether a push delivered them (`Some(true)`), only failed to
    /// (`Some(false)`), or none carried them.
    pub(crate) pushed: Option<bool>,
    /// How many records.
    pub(crate) n: u64,
}

impl Counting {
    /// Counts a group of records.
    pub(crate) fn add_group(&mut self, g: &Group<'_>) -> Result<(), Error> {
        self.total += g.n;
        if !self.tally.by.is_empty() {
            self.groups.add_n(g.by, g.n);
        }
        self.events.add_single_n(g.event, g.n);
        self.levels.add_single_n(g.level, g.n);
        self.services.add_single_n(g.service, g.n);
        self.hosts.add_single_n(g.host, g.n);
        self.classes.add_single_n(g.class, g.n);
        self.series.add_n(g.bucket, g.line, g.n)?;
        self.push_records.add_n(g.pushed, g.n);
        if let Some(counts) = self.push_events.get_mut(g.event) {
            counts.add_n(g.pushed, g.n);
        } else if self.push_events.len() < self.tally.max_keys {
            self.push_events
                .entry(g.event.to_owned())
                .or_default()
                .add_n(g.pushed, g.n);
        }
        Ok(())
    }

    /// The `ts` of the first and the last record counted.
    pub(crate) fn span(&mut self, first: String, last: String) {
        self.first = Some(first);
        self.last = Some(last);
    }

    /// The push records read so far.
    pub(crate) fn pushes(&mut self) -> &mut PushTally {
        &mut self.pushes
    }
}

impl Tally {
    /// The dimensions counted together.
    pub(crate) fn dimensions(&self) -> &[String] {
        &self.by
    }

    /// The dimension that splits the series' lines.
    pub(crate) fn series_dimension(&self) -> &str {
        self.by.first().map_or("class", String::as_str)
    }

    /// The range push records are read in: the query's, and the grace
    /// after it.
    pub(crate) fn push_range(query: &Query) -> TimeRange {
        let range = query.range();
        TimeRange::between(range.from(), range.to().map(|t| t + PUSH_GRACE))
    }

    /// The width, in seconds, of the series' buckets when the range (or
    /// [`every`](Self::every)) decides it, whatever the records.
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub(crate) fn fixed_series_width(&self, query: &Query) -> Result<Option<u64>, Error> {
        let range = query.range();
        let series = SeriesCounter::new(
            self.series_dimension(),
            self.every,
            range.from().map(unix_secs),
            range.to().map(unix_secs),
        )?;
        Ok(series.is_fixed().then(|| series.every()))
    }

    /// The width, in seconds, of the buckets the series ends with when
    /// its records lie from `first` to `last` (seconds since the epoch):
    /// counts made in buckets of this width add up to the same series as
    /// records counted one by one.
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub(crate) fn series_width(&self, query: &Query, first: i64, last: i64) -> Result<u64, Error> {
        let range = query.range();
        let mut probe = SeriesCounter::new(
            self.series_dimension(),
            self.every,
            range.from().map(unix_secs),
            range.to().map(unix_secs),
        )?;
        probe.add(first, "")?;
        probe.add(last, "")?;
        Ok(probe.every())
    }
}
