//! Counting records: totals, counts by any dimension, a time series, and
//! push statistics, over the records a [`Query`] selects — in bounded
//! memory, whatever the size of the logs.
//!
//! `evtrail stats` is a thin shell over this module, and
//! [`report`](crate::report) draws its charts from the same [`Summary`],
//! so an application can serve its own dashboard with the same numbers.
//!
//! # What is counted
//!
//! * Every record the query selects, once: by class, event, level,
//!   service and host always, and by the dimensions given to
//!   [`by`](Tally::by) (together, as a cross table).
//! * A [`Series`] of the records over time, one line per class (or per
//!   value of the first [`by`](Tally::by) dimension), in buckets of
//!   [`every`](Tally::every) or of a width that makes about 30–120
//!   buckets across the range. Empty buckets are there, as zero.
//! * [`Push`] statistics from the `evtrail.push` records that sinks write
//!   (see [`SinkPush`]). Push records describe deliveries, not the
//!   records the filter selects, so they are read whatever the filter and
//!   stream selection say: those in the range count per sink; those up to
//!   [`PUSH_GRACE`] after it too tell which selected records were carried
//!   (through their `ranges`), since a record is pushed after it is
//!   written.
//!
//! # Memory
//!
//! Nothing is kept per record. Counts by key keep at most
//! [`max_keys`](Tally::max_keys) distinct keys per dimension (the records
//! of further keys are counted together, and the answer says so); a
//! series has at most [`MAX_BUCKETS`] buckets and [`MAX_LINES`] lines;
//! latencies go into a histogram of a few hundred slots.
//!
//! # Examples
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! use evtrail::query::{Filter, Query, TimeRange};
//! use evtrail::stats::Tally;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let (layer, guard) = evtrail::builder().unsigned().log_dir(dir.path()).build()?;
//! tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
//!     tracing::info!(event = "order_placed", tenant = "acme", "placed");
//!     tracing::warn!(event = "payment_failed", tenant = "acme", "declined");
//!     tracing::info!(event = "order_placed", tenant = "globex", "placed");
//! });
//! drop(guard);
//!
//! let query = Query::new(Filter::new(), TimeRange::all());
//! let summary = Tally::new().by(["event", "tenant"]).run(&query, &[dir.path()])?;
//! assert_eq!(summary.total, 3);
//! assert_eq!(summary.events.get("order_placed"), Some(2));
//! assert_eq!(summary.groups.top[0].key, ["order_placed", "acme"]);
//! assert_eq!(summary.series.totals.iter().sum::<u64>(), 3);
//! # Ok::<(), evtrail::Error>(())
//! ```

mod groups;
mod histogram;
mod light;
mod push;
mod series;
// Counting what the ClickHouse store (`crate::clickhouse`) counted.
#[cfg(feature = "http")]
mod stored;

pub use groups::{Count, Counts};
pub use push::{EventPush, PUSH_EVENT, Push, PushCounts, SinkPush};
pub use series::{Line, MAX_BUCKETS, MAX_LINES, OTHER, SHOWN_LINES, Series};

#[cfg(feature = "http")]
pub(crate) use push::Run;
pub(crate) use push::{Outcome, PushTally};
#[cfg(feature = "http")]
pub(crate) use stored::Group;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::query::{Filter, Match, Query, TimeRange, as_text, lookup_text};
use light::Light;
use series::SeriesCounter;

/// The most distinct keys told apart per dimension, by default.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// How long after the range push records are still read to tell which
/// records were carried: a record is pushed after it is written, retries
/// included.
pub const PUSH_GRACE: Duration = Duration::from_secs(600);

/// What to count, and how; [`run`](Self::run) counts.
///
/// | setting | default |
/// |---|---|
/// | [`by`](Self::by) | none: only the standard counts |
/// | [`top`](Self::top) | all keys |
/// | [`every`](Self::every) | automatic: about 30–120 buckets across the range |
/// | [`max_keys`](Self::max_keys) | [`DEFAULT_MAX_KEYS`] |
#[derive(Clone, Debug)]
pub struct Tally {
    by: Vec<String>,
    top: Option<usize>,
    every: Option<Duration>,
    max_keys: usize,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally::new()
    }
}

/// What [`Tally::run`] counted. Every list is in a fixed order (largest
/// first, then by name), so two runs over the same logs compare equal.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// The range's start as `ts` text, when it has one.
    pub from: Option<String>,
    /// The range's (exclusive) end, when it has one.
    pub to: Option<String>,
    /// The records selected.
    pub total: u64,
    /// The `ts` of the earliest record selected.
    pub first: Option<String>,
    /// The `ts` of the latest record selected.
    pub last: Option<String>,
    /// The dimensions of [`groups`](Self::groups).
    pub by: Vec<String>,
    /// The records by the [`by`](Tally::by) dimensions together (a cross
    /// table, one key part per dimension); empty without dimensions.
    pub groups: Counts,
    /// By `class`.
    pub classes: Counts,
    /// By `event`.
    pub events: Counts,
    /// By `level`.
    pub levels: Counts,
    /// By `service`.
    pub services: Counts,
    /// By `host`.
    pub hosts: Counts,
    /// Over time.
    pub series: Series,
    /// Deliveries, from `evtrail.push` records.
    pub push: Push,
    /// Signature verdicts (`valid`, `invalid`, …) when the query checks
    /// them.
    pub signatures: Option<BTreeMap<String, u64>>,
    /// Lines or files that could not be read; the count went on.
    pub problems: u64,
}

impl Summary {
    /// The summary as one JSON object (the fields above).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The value of a dimension in a record: a top-level key, a field
/// (`queue`, when there is no such top-level key) or a path
/// (`fields.queue`); absent values are the empty string.
fn dim(record: &Value, name: &str) -> String {
    match record.get(name) {
        Some(v) if !v.is_null() => as_text(v).into_owned(),
        // As the counted keys are read from the line: never from `fields`.
        _ if light::KEYS.contains(&name) => String::new(),
        _ if name.contains('.') || name == "fields" => {
            lookup_text(record, name).unwrap_or_default()
        }
        _ => record
            .get("fields")
            .and_then(|f| f.get(name))
            .filter(|v| !v.is_null())
            .map(|v| as_text(v).into_owned())
            .unwrap_or_default(),
    }
}

/// Seconds since the epoch of a `ts`.
fn secs(ts: &str) -> Option<i64> {
    crate::time::parse_ts(ts).map(|us| us.div_euclid(1_000_000))
}

fn unix_secs(t: std::time::SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
    }
}

/// Where a counted record stands, for the caller of
/// [`Tally::run_with`]: enough to find its push outcomes.
pub(crate) struct Seen {
    pub(crate) host: String,
    pub(crate) stream: String,
    pub(crate) seq: Option<u64>,
}

/// The counting of one run, as records come.
pub(crate) struct Counting {
    tally: Tally,
    total: u64,
    first: Option<String>,
    last: Option<String>,
    groups: groups::Counter,
    classes: groups::Counter,
    events: groups::Counter,
    levels: groups::Counter,
    services: groups::Counter,
    hosts: groups::Counter,
    series: SeriesCounter,
    pushes: PushTally,
    push_records: PushCounts,
    push_events: HashMap<String, PushCounts>,
    signatures: Option<BTreeMap<String, u64>>,
    problems: u64,
    range: TimeRange,
}

impl Counting {
    /// Counts one selected record; returns its push state (delivered,
    /// failed, not pushed).
    pub(crate) fn add(&mut self, m: &Match) -> Result<Seen, Error> {
        // The counted keys come from the line; the whole record is parsed
        // only for a dimension elsewhere (or a line of another shape).
        let light = Light::parse(m.line());
        let get = |name: &str| -> String {
            match light.as_ref().and_then(|l| l.get(name)) {
                Some(text) => text.into_owned(),
                None => dim(m.record(), name),
            }
        };
        self.total += 1;
        let ts = m.ts();
        // Not the first read: a segment's start record is written after
        // the first events it holds were stamped.
        if self.first.as_deref().is_none_or(|f| ts < f) {
            self.first = Some(ts.to_owned());
        }
        if self.last.as_deref().is_none_or(|l| ts > l) {
            self.last = Some(ts.to_owned());
        }
        if !self.tally.by.is_empty() {
            let key: Vec<String> = self.tally.by.iter().map(|d| get(d)).collect();
            self.groups.add_n(&key, 1);
        }
        let class = get("class");
        let event = get("event");
        let host = get("host");
        self.events.add_one(&event);
        self.levels.add_one(&get("level"));
        self.services.add_one(&get("service"));
        self.hosts.add_one(&host);
        if let Some(s) = secs(ts) {
            if self.series.dimension() == "class" {
                self.series.add(s, &class)?;
            } else {
                self.series.add(s, &get(self.series.dimension()))?;
            }
        }
        self.classes.add_one(&class);
        if let Some(sigs) = &mut self.signatures {
            *sigs.entry(m.signature().as_str().to_owned()).or_default() += 1;
        }
        let seq = match &light {
            Some(l) => l.seq(),
            None => m.seq(),
        };
        let stream = get("stream");
        let state = match seq {
            Some(seq) => self.pushes.state(&host, &stream, seq),
            None => None,
        };
        self.push_records.add(state);
        // Every event is counted from its first record, so that `none` is
        // exact for one whose later records are pushed.
        if let Some(counts) = self.push_events.get_mut(&event) {
            counts.add(state);
        } else if self.push_events.len() < self.tally.max_keys {
            self.push_events.entry(event).or_default().add(state);
        }
        Ok(Seen { host, stream, seq })
    }

    pub(crate) fn finish(self) -> Summary {
        let (from, to) = (self.range.from(), self.range.to());
        let text = |t: Option<std::time::SystemTime>| t.map(|t| series::second_text(unix_secs(t)));
        let top = self.tally.top;
        Summary {
            from: text(from),
            to: text(to),
            total: self.total,
            first: self.first,
            last: self.last,
            by: self.tally.by.clone(),
            groups: self.groups.finish(top),
            classes: self.classes.finish(None),
            events: self.events.finish(None),
            levels: self.levels.finish(None),
            services: self.services.finish(None),
            hosts: self.hosts.finish(None),
            series: self.series.finish(),
            push: self.pushes.finish(self.push_records, self.push_events),
            signatures: self.signatures,
            problems: self.problems,
        }
    }
}

impl Tally {
    /// The standard counts only, buckets chosen for the range.
    pub fn new() -> Tally {
        Tally {
            by: Vec::new(),
            top: None,
            every: None,
            max_keys: DEFAULT_MAX_KEYS,
        }
    }

    /// Counts the records by these dimensions together: `class`, `event`,
    /// `level`, `status`, `stream`, `user`, `tenant`, `host`, `code`, any
    /// other top-level key, a field (`queue` or `fields.queue`) or a
    /// nested path (`spans.request.path`). The first one also splits the
    /// series' lines. Default: none.
    pub fn by<I, S>(mut self, dimensions: I) -> Tally
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.by = dimensions.into_iter().map(Into::into).collect();
        self
    }

    /// Lists only the `n` largest keys of [`by`](Self::by) (the rest
    /// summed). Default: all.
    pub fn top(mut self, n: usize) -> Tally {
        self.top = Some(n);
        self
    }

    /// The width of the series' buckets, a whole number of seconds.
    /// Default: chosen to make about 30–120 buckets across the range (or
    /// across the records, when the range is open).
    pub fn every(mut self, width: Duration) -> Tally {
        self.every = Some(width);
        self
    }

    /// The most distinct keys told apart per dimension. Default
    /// [`DEFAULT_MAX_KEYS`].
    pub fn max_keys(mut self, n: usize) -> Tally {
        self.max_keys = n.max(1);
        self
    }

    /// Counts the records `query` selects in `paths` (log directories or
    /// files), and the push records around them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when a path does not exist
    /// or cannot be listed; [`ErrorKind::Config`](crate::ErrorKind::Config)
    /// for an [`every`](Self::every) that makes more than [`MAX_BUCKETS`]
    /// buckets. Lines that cannot be read are counted in
    /// [`Summary::problems`], not errors.
    pub fn run<P: AsRef<Path>>(&self, query: &Query, paths: &[P]) -> Result<Summary, Error> {
        self.run_with(query, paths, |_, _, _| {})
    }

    /// [`run`](Self::run), calling `each` with every selected record and
    /// the push tally, so that a caller can keep some records with their
    /// push outcomes.
    pub(crate) fn run_with<P: AsRef<Path>>(
        &self,
        query: &Query,
        paths: &[P],
        mut each: impl FnMut(&Match, &Seen, &PushTally),
    ) -> Result<Summary, Error> {
        let mut counting = self.start(query)?;
        self.read_pushes(query, paths, &mut counting.pushes)?;
        for item in query.clone().reverse(false).run(paths)? {
            match item {
                Ok(m) => {
                    let seen = counting.add(&m)?;
                    each(&m, &seen, &counting.pushes);
                }
                Err(_) => counting.problems += 1,
            }
        }
        Ok(counting.finish())
    }

    pub(crate) fn start(&self, query: &Query) -> Result<Counting, Error> {
        let range = query.range();
        let series_dim = self.by.first().map_or("class", String::as_str);
        let new = || groups::Counter::new(self.max_keys);
        Ok(Counting {
            tally: self.clone(),
            total: 0,
            first: None,
            last: None,
            groups: new(),
            classes: new(),
            events: new(),
            levels: new(),
            services: new(),
            hosts: new(),
            series: SeriesCounter::new(
                series_dim,
                self.every,
                range.from().map(unix_secs),
                range.to().map(unix_secs),
            )?,
            pushes: PushTally::default(),
            push_records: PushCounts::default(),
            push_events: HashMap::new(),
            signatures: query.checks_signatures().then(BTreeMap::new),
            problems: 0,
            range,
        })
    }

    /// Reads the push records of the range and of the grace after it.
    /// Damaged lines are left to the main pass to count, or they would be
    /// counted twice.
    fn read_pushes<P: AsRef<Path>>(
        &self,
        query: &Query,
        paths: &[P],
        pushes: &mut PushTally,
    ) -> Result<(), Error> {
        let range = query.range();
        let wider = TimeRange::between(range.from(), range.to().map(|t| t + PUSH_GRACE));
        let filter = Filter::new().add_any_of("event", [PUSH_EVENT])?;
        // Compared as text, as the query compares its bounds.
        let (_, end) = range.ts_bounds();
        for m in Query::new(filter, wider).run(paths)?.flatten() {
            let in_range = end.as_deref().is_none_or(|e| m.ts() < e);
            pushes.add(m.record(), in_range);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dimensions_are_found_at_the_top_or_under_fields() {
        let r = json!({"event": "e", "code": 42, "fields": {"queue": "q1", "n": 3},
                       "spans": [{"name": "request", "fields": {"path": "/pay"}}]});
        assert_eq!(dim(&r, "event"), "e");
        assert_eq!(dim(&r, "code"), "42");
        assert_eq!(dim(&r, "queue"), "q1");
        assert_eq!(dim(&r, "fields.n"), "3");
        assert_eq!(dim(&r, "spans.request.path"), "/pay");
        assert_eq!(dim(&r, "tenant"), "");
    }
}
