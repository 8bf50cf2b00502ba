//! The records a query shows, read from the table in time order as they
//! stream in: copies of one record removed, the filter applied where the
//! SQL could not decide it, and each record's signature checked against
//! the record before it in its chain.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::Store;
use super::client::{Answer, Place};
use super::sql::{self, RECORD_KEY, Where, literal};
use crate::error::{Error, ErrorKind};
use crate::query::{Checker, Match, Query, Signature};

/// How many records are checked together: their predecessors are fetched
/// in one statement.
const CHECK_BATCH: usize = 256;

/// One row as the statement asks for it.
#[derive(Deserialize)]
struct Row {
    service: String,
    host: String,
    stream: String,
    /// ClickHouse quotes `UInt64` in JSON.
    seq: Value,
    record: String,
}

/// A record's place in the store: which chain, and where in it.
pub(crate) type RecordKey = (String, String, String, u64);

/// A row read back: its key and its line.
pub(crate) struct StoredRow {
    pub(crate) key: RecordKey,
    pub(crate) line: String,
}

/// Reads the next row of a `JSONEachRow` answer.
pub(crate) fn next_row(answer: &mut Answer) -> Result<Option<StoredRow>, Error> {
    let Some(line) = answer.next_line()? else {
        return Ok(None);
    };
    let row: Row = serde_json::from_slice(line)
        .map_err(|_| answer.cut("a row of the answer is not the JSON object asked for"))?;
    let seq = match &row.seq {
        Value::String(s) => s.parse().ok(),
        other => other.as_u64(),
    }
    .ok_or_else(|| answer.cut("a row's `seq` is not a number"))?;
    Ok(Some(StoredRow {
        key: (row.service, row.host, row.stream, seq),
        line: row.record,
    }))
}

/// Where a stored record is, as a path: `server/table/service/host/stream`
/// (a match's "file"; its "line" is the record's `seq`).
pub(crate) fn location(place: &Place, key: &RecordKey) -> PathBuf {
    PathBuf::from(format!(
        "{}/{}/{}/{}/{}",
        place.server, place.table, key.0, key.1, key.2
    ))
}

/// The error for a stored record that is not a JSON object.
pub(crate) fn not_json(place: &Place, key: &RecordKey) -> Error {
    Error::new(
        ErrorKind::Malformed,
        format!(
            "{}: the row of service `{}`, host `{}`, stream `{}`, seq {} holds a `record` that is not a JSON record",
            place.describe(),
            key.0,
            key.1,
            key.2,
            key.3
        ),
    )
}

/// The records a query over the store shows, in its order; see
/// [`Store::search`].
pub struct Rows {
    answer: Answer,
    query: Query,
    exact: bool,
    checker: Option<Checker>,
    store: Store,
    /// Rows left to show, when a limit is set.
    left: Option<usize>,
    last_key: Option<RecordKey>,
    duplicates: u64,
    /// Matches read and waiting for their signatures to be checked.
    ready: VecDeque<Match>,
    failed: bool,
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("duplicates", &self.duplicates)
            .finish_non_exhaustive()
    }
}

impl Rows {
    /// Starts reading the records `query` selects, among those that
    /// `extra` (an SQL condition) selects when given.
    pub(crate) fn start(store: &Store, query: &Query, extra: Option<&str>) -> Result<Rows, Error> {
        let mut clause = sql::select(query);
        if let Some(cond) = extra {
            clause = clause.and(cond);
        }
        let dir = if query.reverse { "DESC" } else { "ASC" };
        let mut statement = format!(
            "SELECT service, host, stream, seq, record FROM {} {} ORDER BY ts_us {dir}, service {dir}, host {dir}, stream {dir}, seq {dir}",
            store.table,
            clause.filter()
        );
        // With every condition in the SQL, the server stops after the
        // records shown and removes copies itself; they are counted apart.
        let mut duplicates = 0;
        if clause.exact
            && let Some(n) = query.limit
        {
            statement.push_str(&format!(" LIMIT 1 BY {RECORD_KEY} LIMIT {n}"));
            duplicates = store.totals(&clause)?.duplicates();
        }
        statement.push_str(" FORMAT JSONEachRow");
        let answer = store.client.send(&statement)?;
        Ok(Rows {
            answer,
            exact: clause.exact,
            checker: query.keys.clone().map(Checker::new),
            query: query.clone(),
            store: store.clone(),
            left: query.limit,
            last_key: None,
            duplicates,
            ready: VecDeque::new(),
            failed: false,
        })
    }

    /// Copies of a record (the same service, host, stream and `seq`,
    /// delivered more than once) removed from what was shown so far. With
    /// a limit that the server applies, all those of the selection.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// The next selected record, not yet checked.
    fn next_selected(&mut self) -> Result<Option<(Match, RecordKey)>, Error> {
        loop {
            if self.left == Some(0) {
                return Ok(None);
            }
            let Some(row) = next_row(&mut self.answer)? else {
                return Ok(None);
            };
            // Copies sort next to each other, by the whole key.
            if self.last_key.as_ref() == Some(&row.key) {
                if !self.exact || self.query.limit.is_none() {
                    self.duplicates += 1;
                }
                continue;
            }
            let record: Value = serde_json::from_str(&row.line)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| not_json(self.answer.place(), &row.key))?;
            let place = Arc::clone(self.answer.place());
            self.last_key = Some(row.key.clone());
            if !self.exact && !self.query.filter.matches_value(&record) {
                continue;
            }
            if let Some(n) = &mut self.left {
                *n -= 1;
            }
            let file = location(&place, &row.key);
            let m = Match::new(
                row.line,
                Some(record),
                &file,
                row.key.3,
                Signature::NotChecked,
            );
            return Ok(Some((m, row.key)));
        }
    }

    /// Fills `ready` with the next batch, signatures checked.
    fn fill(&mut self) -> Result<(), Error> {
        let mut batch = Vec::new();
        while batch.len()
            < if self.checker.is_some() {
                CHECK_BATCH
            } else {
                1
            }
        {
            match self.next_selected()? {
                Some(m) => batch.push(m),
                None => break,
            }
        }
        if let Some(checker) = &mut self.checker
            && !batch.is_empty()
        {
            let keys: Vec<RecordKey> = batch.iter().map(|(_, k)| k.clone()).collect();
            let before = self.store.predecessors(&keys)?;
            batch = batch
                .into_iter()
                .map(|(m, key)| {
                    let prev = key.3.checked_sub(1).and_then(|p| {
                        before.get(&(key.0.clone(), key.1.clone(), key.2.clone(), p))
                    });
                    let verdict =
                        checker.check(m.line().as_bytes(), prev.map(String::as_bytes), m.record());
                    (m.with_signature(verdict), key)
                })
                .collect();
        }
        self.ready.extend(batch.into_iter().map(|(m, _)| m));
        Ok(())
    }
}

impl Iterator for Rows {
    type Item = Result<Match, Error>;

    /// The next record; an `Err` ends the rows (the answer broke off, or
    /// a stored record is not JSON).
    fn next(&mut self) -> Option<Result<Match, Error>> {
        if self.failed {
            return None;
        }
        if self.ready.is_empty()
            && let Err(e) = self.fill()
        {
            self.failed = true;
            return Some(Err(e));
        }
        self.ready.pop_front().map(Ok)
    }
}

impl Store {
    /// The stored lines of the records at these keys (the first copy of
    /// each), read in one statement.
    pub(crate) fn predecessors(
        &self,
        keys: &[RecordKey],
    ) -> Result<HashMap<RecordKey, String>, Error> {
        let wanted: Vec<String> = keys
            .iter()
            .filter_map(|(service, host, stream, seq)| {
                let prev = seq.checked_sub(1)?;
                Some(format!(
                    "({}, {}, {}, {prev})",
                    literal(service),
                    literal(host),
                    literal(stream)
                ))
            })
            .collect();
        let mut out = HashMap::new();
        if wanted.is_empty() {
            return Ok(out);
        }
        let statement = format!(
            "SELECT service, host, stream, seq, record FROM {} WHERE ({RECORD_KEY}) IN ({}) LIMIT 1 BY {RECORD_KEY} FORMAT JSONEachRow",
            self.table,
            wanted.join(", ")
        );
        let mut answer = self.client.send(&statement)?;
        while let Some(row) = next_row(&mut answer)? {
            out.insert(row.key, row.line);
        }
        Ok(out)
    }

    /// Reads the whole answer to a statement over the selection, for
    /// those whose rows are few (aggregates).
    pub(crate) fn rows_of<T: for<'de> Deserialize<'de>>(
        &self,
        statement: &str,
    ) -> Result<Vec<T>, Error> {
        let mut answer = self
            .client
            .send(&format!("{statement} FORMAT JSONEachRow"))?;
        let mut out = Vec::new();
        while let Some(line) = answer.next_line()? {
            let row = serde_json::from_slice(line)
                .map_err(|_| answer.cut("a row of the answer is not the JSON object asked for"))?;
            out.push(row);
        }
        Ok(out)
    }

    /// How many rows and how many distinct records the clause selects.
    pub(crate) fn totals(&self, clause: &Where) -> Result<Totals, Error> {
        // Distinct `seq` per chain: far cheaper than distinct keys.
        let rows: Vec<Totals> = self.rows_of(&format!(
            "SELECT sum(c) AS rows, sum(u) AS records, min(f) AS first_us, max(l) AS last_us \
             FROM (SELECT count() AS c, uniqExact(seq) AS u, min(ts_us) AS f, max(ts_us) AS l \
             FROM {} {} GROUP BY service, host, stream)",
            self.table,
            clause.filter()
        ))?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }
}

/// What [`Store::totals`] counts.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub(crate) struct Totals {
    #[serde(deserialize_with = "number")]
    pub(crate) rows: u64,
    #[serde(deserialize_with = "number")]
    pub(crate) records: u64,
    #[serde(deserialize_with = "number")]
    pub(crate) first_us: u64,
    #[serde(deserialize_with = "number")]
    pub(crate) last_us: u64,
}

impl Totals {
    /// Rows that are copies of a record already counted.
    pub(crate) fn duplicates(&self) -> u64 {
        self.rows.saturating_sub(self.records)
    }
}

/// A `UInt64` as ClickHouse writes it in JSON: quoted.
pub(crate) fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("not an unsigned number")),
        _ => Err(serde::de::Error::custom("not a number")),
    }
}
