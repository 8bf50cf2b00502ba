//! Statistics over the store: counts by key and over time computed by
//! ClickHouse (`GROUP BY`, each group counting distinct `seq` of one
//! chain, so that copies delivered twice count once), and only the groups cross the
//! wire. Which records a push carried (from the `evtrail.push` records'
//! runs of `seq`) is a condition in the same statement. When the SQL
//! cannot decide the selection (or the runs are too many to write out),
//! the records are read instead and counted one by one, as over files.

use serde::Deserialize;
use serde_json::Value;

use super::Store;
use super::rows::{Rows, Totals, next_row, not_json, number};
use super::sql::{self, RECORD_KEY, literal};
use crate::error::Error;
use crate::query::{Filter, Query};
use crate::stats::{Counting, Group, PUSH_EVENT, PushTally, Run, Summary, Tally};

/// The most runs of pushed records written into the statement: beyond,
/// each record's push state is looked up here instead.
const MAX_PUSH_RUNS: usize = 2_000;

/// What [`Store::tally`] counted.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Tallied {
    /// The statistics, as [`Tally::run`] gives them over files.
    pub summary: Summary,
    /// Rows that were copies of a record counted already (delivered more
    /// than once), left out.
    pub duplicates: u64,
    /// Whether ClickHouse computed the counts (`GROUP BY`); otherwise the
    /// selected records were read and counted here.
    pub pushed_down: bool,
}

/// One group as the statement returns it.
#[derive(Deserialize)]
struct GroupRow {
    class: String,
    event: String,
    level: String,
    service: String,
    host: String,
    series_line: String,
    #[serde(deserialize_with = "number")]
    bucket: u64,
    #[serde(deserialize_with = "number")]
    pushed: u64,
    #[serde(deserialize_with = "number")]
    n: u64,
    #[serde(deserialize_with = "number")]
    rows: u64,
    #[serde(deserialize_with = "number")]
    first_us: u64,
    #[serde(deserialize_with = "number")]
    last_us: u64,
    #[serde(flatten)]
    by: serde_json::Map<String, Value>,
}

impl Store {
    /// Counts what `query` selects in the store, as [`Tally::run`] counts
    /// it in files.
    ///
    /// # Errors
    ///
    /// As for [`search`](Self::search); [`ErrorKind::Config`](crate::ErrorKind::Config)
    /// as for [`Tally::run`].
    pub fn tally(&self, tally: &Tally, query: &Query) -> Result<Tallied, Error> {
        self.tally_keeping_pushes(tally, query, None)
    }

    /// As [`tally`](Self::tally), also leaving in `keep` the push records
    /// it read, for a caller that needs them too (the console).
    pub(super) fn tally_keeping_pushes(
        &self,
        tally: &Tally,
        query: &Query,
        keep: Option<&mut PushTally>,
    ) -> Result<Tallied, Error> {
        let mut query = query.clone().reverse(false);
        query.limit = None;
        let mut counting = tally.start(&query)?;
        self.read_pushes(&query, counting.pushes())?;
        if let Some(keep) = keep {
            keep.clone_from(counting.pushes());
        }
        let clause = sql::select(&query);
        let by: Option<Vec<String>> = tally
            .dimensions()
            .iter()
            .map(|d| sql::dimension(d))
            .collect();
        let line = sql::dimension(tally.series_dimension());
        let runs = counting.pushes().carried_runs(MAX_PUSH_RUNS);
        let grouped = clause.exact && query.keys.is_none();
        let (Some(by), Some(line), Some((ok, failed)), true) = (by, line, runs, grouped) else {
            return self.tally_records(&query, counting);
        };
        let pushed = format!("multiIf({}, 1, {}, 0, 2)", carried(&ok), carried(&failed));
        // The series' width: the range's (or --every's), or else where the
        // records lie, which one statement more tells.
        let width = match tally.fixed_series_width(&query)? {
            Some(width) => width,
            None => {
                let totals: Totals = self.totals(&clause)?;
                if totals.records == 0 {
                    return Ok(Tallied {
                        summary: counting.finish(),
                        duplicates: totals.duplicates(),
                        pushed_down: true,
                    });
                }
                let secs = |us: u64| (us / 1_000_000) as i64;
                tally.series_width(&query, secs(totals.first_us), secs(totals.last_us))?
            }
        };
        let by_sql: String = by
            .iter()
            .enumerate()
            .map(|(i, d)| format!(", {d} AS by{i}"))
            .collect();
        let by_names: String = (0..by.len()).map(|i| format!(", by{i}")).collect();
        // Grouped by the record's chain too, so that each group counts its
        // distinct records by `seq` alone (copies count once), which is
        // much cheaper than by the whole key.
        let statement = format!(
            "SELECT class, event, level, service, host, {line} AS series_line{by_sql}, \
             intDiv(toUInt32(ts), {width}) * {width} AS bucket, {pushed} AS pushed, \
             uniqExact(seq) AS n, count() AS rows, min(ts_us) AS first_us, max(ts_us) AS last_us \
             FROM {} {} \
             GROUP BY class, event, level, service, host, stream, series_line{by_names}, bucket, pushed",
            self.table,
            clause.filter()
        );
        let (mut rows, mut records) = (0u64, 0u64);
        let (mut first, mut last) = (u64::MAX, 0u64);
        for g in self.rows_of::<GroupRow>(&statement)? {
            let key: Vec<String> = (0..by.len())
                .map(|i| {
                    g.by.get(&format!("by{i}"))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                })
                .collect();
            counting.add_group(&Group {
                class: &g.class,
                event: &g.event,
                level: &g.level,
                service: &g.service,
                host: &g.host,
                by: &key,
                line: &g.series_line,
                bucket: g.bucket as i64,
                pushed: match g.pushed {
                    1 => Some(true),
                    0 => Some(false),
                    _ => None,
                },
                n: g.n,
            })?;
            rows += g.rows;
            records += g.n;
            first = first.min(g.first_us);
            last = last.max(g.last_us);
        }
        if records > 0 {
            counting.span(ts_text(first), ts_text(last));
        }
        Ok(Tallied {
            summary: counting.finish(),
            duplicates: rows - records,
            pushed_down: true,
        })
    }

    /// Reads the selected records and counts them one by one.
    fn tally_records(&self, query: &Query, mut counting: Counting) -> Result<Tallied, Error> {
        let mut rows = Rows::start(self, query, None)?;
        for m in rows.by_ref() {
            counting.add(&m?)?;
        }
        Ok(Tallied {
            summary: counting.finish(),
            duplicates: rows.duplicates(),
            pushed_down: false,
        })
    }

    /// Reads the push records of the query's range and the grace after
    /// it, whatever the filter says (as over files).
    pub(super) fn read_pushes(&self, query: &Query, pushes: &mut PushTally) -> Result<(), Error> {
        let wider = Tally::push_range(query);
        let push_query = Query::new(Filter::new(), wider);
        let clause = sql::select(&push_query).and(&format!("event = {}", literal(PUSH_EVENT)));
        let (_, end) = query.range().ts_bounds();
        let mut answer = self.client.send(&format!(
            "SELECT service, host, stream, seq, record FROM {} {} \
             ORDER BY ts_us, {RECORD_KEY} LIMIT 1 BY {RECORD_KEY} FORMAT JSONEachRow",
            self.table,
            clause.filter()
        ))?;
        while let Some(row) = next_row(&mut answer)? {
            let record: Value = serde_json::from_str(&row.line)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| not_json(answer.place(), &row.key))?;
            let ts = record.get("ts").and_then(Value::as_str).unwrap_or("");
            let in_range = end.as_deref().is_none_or(|e| ts < e);
            pushes.add(&record, in_range);
        }
        Ok(())
    }
}

/// The SQL condition "one of these runs carried the row".
fn carried(runs: &[Run]) -> String {
    if runs.is_empty() {
        return "0".to_owned();
    }
    runs.iter()
        .map(|(host, stream, a, b)| {
            format!(
                "(host = {} AND stream = {} AND seq BETWEEN {a} AND {b})",
                literal(host),
                literal(stream)
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// A `ts` as records spell it, from microseconds since the epoch.
fn ts_text(micros: u64) -> String {
    crate::time::ts_string(micros.saturating_mul(1_000))
}
