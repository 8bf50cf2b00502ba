//! Problems and their state: records that carry a `status` grouped into
//! issues, and each issue's episodes — from the first status that is not
//! `ok` until an `ok` for the same issue — with when they started, how long
//! they lasted, how bad they got, and whether they are still open.
//!
//! # Raising and recovering an issue
//!
//! An application reports a problem with a `status` other than `ok`, and
//! its recovery with `status = "ok"` for the same issue. The issue is the
//! `issue` field when the record has one, and otherwise its event name
//! with the dimensions asked for (`host` by default), so either works:
//!
//! ```
//! # let disk = 97;
//! // Raised (repeats while it lasts are counted in the same episode)…
//! tracing::error!(event = "disk_full", issue = "disk_full/data", status = "critical", disk, "disk almost full");
//! // …and recovered.
//! tracing::info!(event = "disk_full", issue = "disk_full/data", status = "ok", disk, "disk usage back to normal");
//! ```
//!
//! # Examples
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use tracing_subscriber::prelude::*;
//! use evtrail::incidents::Incidents;
//! use evtrail::query::{Filter, Query, TimeRange};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let (layer, guard) = evtrail::builder().unsigned().host("web-1").log_dir(dir.path()).build()?;
//! tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
//!     tracing::warn!(event = "queue_slow", status = "warning", "queue is slow");
//!     tracing::error!(event = "queue_slow", status = "error", "queue is stuck");
//!     tracing::error!(event = "db_down", status = "critical", "database unreachable");
//!     tracing::info!(event = "queue_slow", status = "ok", "queue is back");
//! });
//! drop(guard);
//!
//! let query = Query::new(Filter::new(), TimeRange::all());
//! let found = Incidents::new().all(true).find(&query, &[dir.path()], std::time::SystemTime::now())?;
//! let open: Vec<_> = found.incidents.iter().filter(|i| i.is_open()).collect();
//! assert_eq!(open.len(), 1);
//! assert_eq!(open[0].key(), "db_down host=web-1");
//! let queue = found.incidents.iter().find(|i| i.key().starts_with("queue_slow")).unwrap();
//! // Two records raised it (the `ok` ended it).
//! assert_eq!((queue.worst(), queue.events(), queue.is_open()), ("error", 2, false));
//! # Ok::<(), evtrail::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::error::Error;
use crate::query::{Query, as_text};

/// The statuses by severity; the order decides which is worst.
pub const STATUSES: [&str; 6] = ["ok", "info", "nodata", "warning", "error", "critical"];

fn severity(status: &str) -> usize {
    STATUSES.iter().position(|s| *s == status).unwrap_or(4)
}

/// How records are grouped into issues.
///
/// | setting | default |
/// |---|---|
/// | [`by`](Self::by) | `host` |
/// | [`all`](Self::all) | off: open incidents only |
#[derive(Clone, Debug)]
pub struct Incidents {
    by: Vec<String>,
    all: bool,
}

impl Default for Incidents {
    fn default() -> Incidents {
        Incidents::new()
    }
}

/// One episode of an issue: from its first status that is not `ok` until
/// an `ok` (recovered) or now (open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    key: String,
    status: String,
    worst: String,
    first_seen: String,
    last_seen: String,
    recovered: Option<String>,
    events: u64,
    last_msg: String,
    duration: Duration,
}

impl Incident {
    /// The issue: the `issue` field, or the event name and the grouping
    /// dimensions (`payment_failed host=web-1`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The latest status that is not `ok`.
    pub fn status(&self) -> &str {
        &self.status
    }

    /// The most severe status in the episode.
    pub fn worst(&self) -> &str {
        &self.worst
    }

    /// When the episode began (the first record's `ts`).
    pub fn first_seen(&self) -> &str {
        &self.first_seen
    }

    /// The episode's last record that is not `ok`.
    pub fn last_seen(&self) -> &str {
        &self.last_seen
    }

    /// When the `ok` came, for a recovered episode.
    pub fn recovered(&self) -> Option<&str> {
        self.recovered.as_deref()
    }

    /// Whether no `ok` has come yet.
    pub fn is_open(&self) -> bool {
        self.recovered.is_none()
    }

    /// Records in the episode that are not `ok`.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The last such record's message.
    pub fn last_message(&self) -> &str {
        &self.last_msg
    }

    /// How long it lasted: until the recovery, or until `now` for an open
    /// one (as given to [`Incidents::find`]).
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

/// What [`Incidents::find`] found.
#[derive(Debug)]
#[non_exhaustive]
pub struct Found {
    /// Open incidents first, then by when they began.
    pub incidents: Vec<Incident>,
    /// Lines or files that could not be read; the search went on.
    pub problems: Vec<Error>,
}

impl Incidents {
    /// Grouping by `host`, open incidents only.
    pub fn new() -> Incidents {
        Incidents {
            by: vec!["host".to_owned()],
            all: false,
        }
    }

    /// The fields that, with the event name, make an issue's key when a
    /// record has no `issue` field (`host`, `tenant`, `fields.queue`, …).
    /// Default: `host`.
    pub fn by<I, S>(mut self, fields: I) -> Incidents
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.by = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Whether recovered incidents are listed too. Default: off.
    pub fn all(mut self, on: bool) -> Incidents {
        self.all = on;
        self
    }

    /// The incidents in the records `query` selects in `paths`: those with
    /// a `status`, oldest first. Durations of open incidents run to `now`.
    ///
    /// # Errors
    ///
    /// As for [`Query::run`].
    pub fn find<P: AsRef<Path>>(
        &self,
        query: &Query,
        paths: &[P],
        now: SystemTime,
    ) -> Result<Found, Error> {
        let query = query.clone().reverse(false).markers(false);
        self.find_in(query.run(paths)?, now)
    }

    /// The incidents in `matches` (records in time order, without the
    /// chain's own), as [`find`](Self::find) finds them in files.
    pub(crate) fn find_in(
        &self,
        matches: impl Iterator<Item = Result<crate::query::Match, Error>>,
        now: SystemTime,
    ) -> Result<Found, Error> {
        let mut problems = Vec::new();
        let mut open: BTreeMap<String, Incident> = BTreeMap::new();
        let mut done = Vec::new();
        for item in matches {
            let m = match item {
                Ok(m) => m,
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            };
            let record = m.record();
            let Some(status) = record.get("status").map(as_text) else {
                continue;
            };
            let key = self.key(record);
            let ts = m.ts().to_owned();
            if status == "ok" {
                if let Some(mut inc) = open.remove(&key) {
                    inc.duration = between(&inc.first_seen, &ts);
                    inc.recovered = Some(ts);
                    done.push(inc);
                }
                continue;
            }
            let msg = record
                .get("msg")
                .map(as_text)
                .unwrap_or_default()
                .into_owned();
            let inc = open.entry(key.clone()).or_insert_with(|| Incident {
                key,
                status: status.to_string(),
                worst: status.to_string(),
                first_seen: ts.clone(),
                last_seen: ts.clone(),
                recovered: None,
                events: 0,
                last_msg: String::new(),
                duration: Duration::ZERO,
            });
            inc.events += 1;
            inc.status = status.to_string();
            if severity(&status) > severity(&inc.worst) {
                inc.worst = status.to_string();
            }
            inc.last_seen = ts;
            inc.last_msg = msg;
        }
        let now_ts = crate::time::ts_string(
            now.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        );
        let mut incidents: Vec<Incident> = open
            .into_values()
            .map(|mut inc| {
                inc.duration = between(&inc.first_seen, &now_ts);
                inc
            })
            .collect();
        if self.all {
            incidents.extend(done);
        }
        incidents.sort_by(|a, b| {
            b.is_open()
                .cmp(&a.is_open())
                .then_with(|| a.first_seen.cmp(&b.first_seen))
        });
        Ok(Found {
            incidents,
            problems,
        })
    }

    fn key(&self, record: &Value) -> String {
        issue_key(record, &self.by)
    }
}

/// A record's issue: its `issue` field, or its event name with the values
/// of the `by` fields (`disk_full host=web-1`). Notification rules group
/// by the same key, so a chat's "resolved" and `incidents` agree.
pub(crate) fn issue_key(record: &Value, by: &[String]) -> String {
    let issue = record
        .get("issue")
        .or_else(|| record.pointer("/fields/issue"))
        .map(as_text);
    if let Some(issue) = issue {
        return issue.into_owned();
    }
    let mut key = record
        .get("event")
        .map(as_text)
        .unwrap_or_default()
        .into_owned();
    for dim in by {
        let value = crate::query::lookup_text(record, dim).unwrap_or_default();
        key.push_str(&format!(" {dim}={value}"));
    }
    key
}

/// A duration as incidents show it, in its two largest units: `3d 4h`,
/// `2h 5m`, `4m 10s`, `12s`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evtrail::incidents::short_duration;
///
/// assert_eq!(short_duration(Duration::from_secs(7_500)), "2h 5m");
/// assert_eq!(short_duration(Duration::from_secs(12)), "12s");
/// ```
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else if mins > 0 {
        format!("{mins}m {secs}s")
    } else {
        format!("{secs}s")
    }
}

/// The time from one `ts` to another, zero when either cannot be read.
fn between(from: &str, to: &str) -> Duration {
    match (crate::time::parse_ts(from), crate::time::parse_ts(to)) {
        (Some(a), Some(b)) if b > a => Duration::from_micros((b - a) as u64),
        _ => Duration::ZERO,
    }
}
