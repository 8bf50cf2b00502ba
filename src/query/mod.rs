//! Searching logs: the records of one or more log directories that a
//! [`Filter`] selects within a [`TimeRange`], merged across streams into
//! time order, each with a verdict on its signature.
//!
//! `evtrail query` is a thin shell over this module, so an application can
//! embed the same search.
//!
//! # How it reads
//!
//! * Every stream's files are read: the rolled files (plain or gzip) and
//!   the active one, oldest first. A rolled file's name says when it was
//!   rolled, so files that end before the range or start after it are not
//!   opened.
//! * A file is read in large blocks. When the filter names a literal that
//!   every selected line must contain (`event=payment_failed` must contain
//!   `"event":"payment_failed"`), it is searched for across the block and
//!   only the lines that hold it are parsed as JSON; the others are never
//!   looked at one by one.
//! * A line cut short at the end of a file (a writer at work, or one that
//!   crashed) is skipped silently. A line that is not a record, a line
//!   longer than the limit, or a gzip file that ends early is reported as
//!   an `Err` item naming the file and line, and the search goes on. Only
//!   lines the search looks at can be reported: a damaged line without the
//!   filter's literal is passed over with the rest (`evtrail verify` reads
//!   every line).
//! * The chain's own records (segment starts and ends, seals, key
//!   rotations) are left out unless [`markers`](Query::markers) asks for
//!   them; evtrail's other notices (`evtrail.dropped`, `evtrail.push`, …)
//!   are records like any other.
//!
//! # Memory
//!
//! A search holds one block per stream and the matches waiting to be
//! merged, one per stream. Only [`reverse`](Query::reverse) keeps matches:
//! the last [`limit`](Query::limit) of them, or all when there is no limit.
//!
//! # Examples
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! use evtrail::query::{Filter, Query, Signature, TimeRange};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let key = evtrail::Key::generate()?;
//! let (layer, guard) = evtrail::builder().service("shop").key(key.clone()).log_dir(dir.path()).build()?;
//! tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
//!     tracing::info!(event = "order_placed", op = "order-1042", "placed");
//!     tracing::warn!(event = "payment_failed", op = "order-1042", code = 4021, "declined");
//!     tracing::info!(event = "order_placed", op = "order-1043", "placed");
//! });
//! drop(guard);
//!
//! let query = Query::new(Filter::new().add_any_of("op", ["order-1042"])?, TimeRange::all())
//!     .keys(evtrail::Keyring::new().with(key));
//! let found: Vec<_> = query.run(&[dir.path()])?.collect::<Result<_, _>>()?;
//! assert_eq!(found.len(), 2);
//! assert_eq!(found[1].field("event").as_deref(), Some("payment_failed"));
//! assert_eq!(found[1].signature(), Signature::Valid);
//! # Ok::<(), evtrail::Error>(())
//! ```

mod filter;
mod follow;
mod matches;
mod pattern;
mod range;
mod raw;
mod reader;
mod scan;
mod signature;
mod source;

pub use filter::Filter;
pub use follow::{Follow, Followed};
pub use matches::{Match, Matches};
pub use range::TimeRange;
pub use signature::Signature;

pub(crate) use filter::{as_text, lookup as lookup_text};
// What the ClickHouse store (`crate::clickhouse`) reads queries with.
#[cfg(feature = "http")]
pub(crate) use filter::{LEVEL_NAMES, PlainTest};
#[cfg(feature = "http")]
pub(crate) use signature::Checker;

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::key::Keyring;

/// The longest line a query reads by default; longer ones are reported
/// and skipped.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A search: what to select, when, where, and in which order.
///
/// | setting | default |
/// |---|---|
/// | [`streams`](Self::streams) | every stream |
/// | [`keys`](Self::keys) | none: signatures are not checked ([`Signature::NotChecked`]) |
/// | [`reverse`](Self::reverse) | off: oldest first |
/// | [`limit`](Self::limit) | none |
/// | [`markers`](Self::markers) | off: the chain's own records are left out |
/// | [`max_line_bytes`](Self::max_line_bytes) | [`DEFAULT_MAX_LINE_BYTES`] |
/// | [`on_progress`](Self::on_progress) | none |
#[derive(Clone, Debug)]
pub struct Query {
    pub(crate) filter: Filter,
    pub(crate) range: TimeRange,
    pub(crate) streams: Vec<String>,
    pub(crate) keys: Option<Keyring>,
    pub(crate) reverse: bool,
    pub(crate) limit: Option<usize>,
    pub(crate) markers: bool,
    pub(crate) max_line: usize,
    pub(crate) progress: Option<reader::OnProgress>,
}

impl Query {
    /// A search for the records `filter` selects in `range`.
    pub fn new(filter: Filter, range: TimeRange) -> Query {
        Query {
            filter,
            range,
            streams: Vec::new(),
            keys: None,
            reverse: false,
            limit: None,
            markers: false,
            max_line: DEFAULT_MAX_LINE_BYTES,
            progress: None,
        }
    }

    /// Reads only these streams. Default: every stream.
    pub fn streams<I, S>(mut self, names: I) -> Query
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.streams = names.into_iter().map(Into::into).collect();
        self
    }

    /// Checks each match's signature with these keys (see [`Signature`]).
    /// Default: not checked.
    pub fn keys(mut self, keys: Keyring) -> Query {
        self.keys = Some(keys);
        self
    }

    /// Newest first. Default: oldest first.
    pub fn reverse(mut self, on: bool) -> Query {
        self.reverse = on;
        self
    }

    /// At most `n` matches: the first `n`, or with
    /// [`reverse`](Self::reverse) the newest `n`. Default: all.
    pub fn limit(mut self, n: usize) -> Query {
        self.limit = Some(n);
        self
    }

    /// Whether to include the chain's own records (`evtrail.segment_start`,
    /// `evtrail.segment_end`, `evtrail.seal`, `evtrail.key_rotated`), which
    /// prove the log whole but say nothing about the application. Default:
    /// off.
    pub fn markers(mut self, on: bool) -> Query {
        self.markers = on;
        self
    }

    /// The longest line read; longer ones are reported and skipped.
    /// Default [`DEFAULT_MAX_LINE_BYTES`].
    pub fn max_line_bytes(mut self, bytes: usize) -> Query {
        self.max_line = bytes;
        self
    }

    /// Calls `report(done, total)` as the search reads: bytes of the files
    /// read so far and in all (on disk: gzip files count their compressed
    /// size). Files the time range rules out are not counted. Default:
    /// none.
    pub fn on_progress(mut self, report: impl Fn(u64, u64) + Send + Sync + 'static) -> Query {
        self.progress = Some(reader::OnProgress(std::sync::Arc::new(report)));
        self
    }

    /// The time range searched.
    pub fn range(&self) -> TimeRange {
        self.range
    }

    /// The filter.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Whether signatures are checked.
    pub fn checks_signatures(&self) -> bool {
        self.keys.is_some()
    }

    /// Runs the search over `paths`: log directories, or single `.log` /
    /// `.log.gz` files.
    ///
    /// The iterator yields each match in time order (see
    /// [`reverse`](Self::reverse)); an `Err` item reports a line or file
    /// that could not be read, and the search goes on after it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when a path does not exist
    /// or a directory cannot be listed.
    pub fn run<P: AsRef<Path>>(&self, paths: &[P]) -> Result<Matches, Error> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let streams = source::discover(&paths, &self.streams)?;
        Ok(Matches::new(self.clone(), streams))
    }

    /// How many records the search selects, with the problems met on the
    /// way (as [`run`](Self::run)'s `Err` items). Signatures are not
    /// checked; nothing is sorted or kept.
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub fn count<P: AsRef<Path>>(&self, paths: &[P]) -> Result<(u64, Vec<Error>), Error> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let streams = source::discover(&paths, &self.streams)?;
        Ok(matches::count(self, streams))
    }
}
