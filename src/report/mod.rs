//! The event console as one self-contained HTML page: who and when, the
//! verification verdict, the trend of new events, donuts of event types,
//! classes and push status, open incidents, and the latest events with
//! their five details — written to any [`io::Write`](std::io::Write).
//!
//! # The page
//!
//! * Opens offline: no script, no font, no image or style is fetched; the
//!   charts are inline SVG drawn by this module, the style a few KiB of
//!   inline CSS. Without JavaScript (there is none) every chart shows,
//!   and a row's context opens with the browser's own `<details>`.
//! * Every value from the logs is escaped: a record holding
//!   `<script>` shows it as text.
//! * Its numbers are a [`Summary`] — the one
//!   [`write`](Report::write) returns, the one `evtrail stats --format
//!   json` prints for the same arguments: the trend is its
//!   [`series`](crate::stats::Summary::series), the donuts its
//!   [`events`](crate::stats::Summary::events) and
//!   [`classes`](crate::stats::Summary::classes) (the eight largest and
//!   `other`) and its [`push`](crate::stats::Summary::push) record counts.
//!
//! # Memory
//!
//! The counting is [`stats`](crate::stats)'s; the events table keeps only
//! the newest [`rows`](Report::rows) records; incidents are open issues,
//! not records. A report of ten million records is about the size of one
//! of ten thousand.
//!
//! # Passes
//!
//! The logs are read up to four times: the push records (a fast search
//! for one literal), the selected records, the records with a `status`
//! (incidents), and, when a key is given, the whole log's proof
//! ([`verify`](crate::verify)).
//!
//! # Examples
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! use evtrail::query::{Filter, Query, TimeRange};
//! use evtrail::report::Report;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let (layer, guard) = evtrail::builder().unsigned().service("shop").log_dir(dir.path()).build()?;
//! tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
//!     tracing::info!(event = "order_placed", "placed <b>order</b>");
//!     tracing::error!(event = "db_down", status = "critical", "database unreachable");
//! });
//! drop(guard);
//!
//! let mut page = Vec::new();
//! let query = Query::new(Filter::new(), TimeRange::all());
//! let summary = Report::new().title("Shop").write(&query, &[dir.path()], &mut page)?;
//! let page = String::from_utf8(page).unwrap();
//! assert_eq!(summary.total, 2);
//! assert!(page.contains("placed &lt;b&gt;order&lt;/b&gt;"));
//! assert!(page.contains("db_down"));
//! # Ok::<(), evtrail::Error>(())
//! ```

mod html;
mod page;
mod rows;
// The latest rows, which the ClickHouse store (`crate::clickhouse`) fills.
#[cfg(feature = "http")]
pub(crate) use rows::Latest as LatestRows;
mod svg;

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use crate::error::{Error, ErrorKind};
use crate::incidents::{Incident, Incidents};
use crate::query::Query;
use crate::stats::{Summary, Tally};
use crate::verify::{Report as VerifyReport, Verifier};
use rows::Latest;

/// The latest events the table shows, by default.
pub const DEFAULT_ROWS: usize = 200;

/// The page's title, by default.
pub const DEFAULT_TITLE: &str = "Event console";

/// How the page is made; [`write`](Self::write) makes it.
///
/// | setting | default |
/// |---|---|
/// | [`title`](Self::title) | [`DEFAULT_TITLE`] |
/// | [`rows`](Self::rows) | [`DEFAULT_ROWS`] |
/// | [`tally`](Self::tally) | [`Tally::new`]: series by class, buckets chosen for the range |
/// | [`incidents`](Self::incidents) | [`Incidents::new`]: open incidents, by host |
/// | [`now`](Self::now) | the clock: how long open incidents have lasted |
#[derive(Clone, Debug)]
pub struct Report {
    title: String,
    rows: usize,
    tally: Tally,
    incidents: Incidents,
    now: Option<SystemTime>,
}

impl Default for Report {
    fn default() -> Report {
        Report::new()
    }
}

impl Report {
    /// A report with every default.
    pub fn new() -> Report {
        Report {
            title: DEFAULT_TITLE.to_owned(),
            rows: DEFAULT_ROWS,
            tally: Tally::new(),
            incidents: Incidents::new(),
            now: None,
        }
    }

    /// The page's title. Default [`DEFAULT_TITLE`].
    pub fn title(mut self, title: impl Into<String>) -> Report {
        self.title = title.into();
        self
    }

    /// How many of the latest events the table shows. Default
    /// [`DEFAULT_ROWS`].
    pub fn rows(mut self, n: usize) -> Report {
        self.rows = n;
        self
    }

    /// What is counted: the trend's lines follow its first
    /// [`by`](Tally::by) dimension, its buckets its
    /// [`every`](Tally::every). Default [`Tally::new`].
    pub fn tally(mut self, tally: Tally) -> Report {
        self.tally = tally;
        self
    }

    /// How incidents are found. Default [`Incidents::new`].
    pub fn incidents(mut self, incidents: Incidents) -> Report {
        self.incidents = incidents;
        self
    }

    /// The time open incidents last until. Default: the clock at
    /// [`write`](Self::write).
    pub fn now(mut self, now: SystemTime) -> Report {
        self.now = Some(now);
        self
    }

    /// Writes the page for the records `query` selects in `paths` to
    /// `out`, and returns the numbers it shows. When the query checks
    /// signatures ([`Query::keys`]), the header carries the verdict of
    /// the whole log's proof as well as the selected records'.
    ///
    /// # Errors
    ///
    /// As for [`Tally::run`]; [`ErrorKind::Io`] when
    /// `out` cannot be written.
    pub fn write<P: AsRef<Path>, W: Write>(
        &self,
        query: &Query,
        paths: &[P],
        out: W,
    ) -> Result<Summary, Error> {
        let now = self.now.unwrap_or_else(SystemTime::now);
        let mut latest = Latest::new(self.rows);
        let summary = self.tally.run_with(query, paths, |m, seen, pushes| {
            latest.offer(m, seen, pushes)
        })?;
        // Only records with a status make incidents; the condition lets
        // the search pass over the others without parsing them whole.
        let mut with_status = query.clone();
        with_status.filter = with_status.filter.add_where("status exists")?;
        let found = self.incidents.find(&with_status, paths, now)?;
        let proof = match &query.keys {
            Some(keys) => Some(Verifier::new(keys.clone()).verify_paths(paths)?),
            None => None,
        };
        self.render(
            query,
            &summary,
            latest,
            &found.incidents,
            proof.as_ref(),
            now,
            out,
        )?;
        Ok(summary)
    }

    /// Writes the page of parts gathered already (from files, or from a
    /// store).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn render<W: Write>(
        &self,
        query: &Query,
        summary: &Summary,
        latest: Latest,
        incidents: &[Incident],
        proof: Option<&VerifyReport>,
        now: SystemTime,
        mut out: W,
    ) -> Result<(), Error> {
        let page = page::Page {
            title: &self.title,
            range: query.range(),
            summary,
            rows: latest.rows(),
            row_cap: self.rows,
            incidents: incidents.iter().filter(|i| i.is_open()).collect(),
            proof,
            now,
        };
        out.write_all(page.render().as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::with_source(ErrorKind::Io, "cannot write the report", e))
    }

    /// What the page counts, how it finds incidents, how many rows it
    /// lists and the time it is made at: for a store that gathers the
    /// parts itself.
    #[cfg(feature = "http")]
    pub(crate) fn settings(&self) -> (&Tally, &Incidents, usize, SystemTime) {
        (
            &self.tally,
            &self.incidents,
            self.rows,
            self.now.unwrap_or_else(SystemTime::now),
        )
    }
}
