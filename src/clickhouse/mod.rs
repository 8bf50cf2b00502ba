//! Reading a ClickHouse table that many hosts ship their signed records
//! to (feature `http`): the same search, counts, incidents and proof as
//! over one host's files, answered by the store.
//!
//! The table is the one [`ClickHouse::create_table`](crate::http::ClickHouse::create_table)
//! describes and [`HttpSink`](crate::http::HttpSink) fills; every row
//! keeps the signed line whole in `record`, so what the store holds can
//! still be proven genuine.
//!
//! # What the server does
//!
//! * The time range, the streams and the filter's conditions on the
//!   table's columns (`event`, `level`, `host`, `op`, wildcards, …) are
//!   `WHERE` conditions; every value is an escaped string literal.
//!   Conditions the columns cannot decide exactly (a field under
//!   `fields`, an order, a regex) are applied here to the records that
//!   come back, whose `record` is parsed as over files.
//! * [`tally`](Store::tally) (and [`report`](Store::report)'s numbers) is `GROUP BY` (counts by key, and buckets of
//!   the series as `intDiv(toUInt32(ts), width)`); only the groups cross
//!   the wire.
//! * [`search`](Store::search) streams the rows in time order and, when
//!   every condition is in the SQL, stops the server at the limit.
//! * Delivery is at least once, so a row may be stored twice. Rows with
//!   the same `(service, host, stream, seq)` are one record: counts count
//!   distinct records (`uniqExact`), searches skip the copies, and each
//!   answer says how many copies it left out. `FINAL` is not relied on.
//!
//! # Servers
//!
//! Written for ClickHouse 18.16 (Debian's package) and later: no query
//! parameters (19.x), no `JSONExtract*` (19.x), no `toStartOfInterval`
//! (19.x) are used; answers are read as `JSONEachRow` and
//! `TabSeparatedRaw`, which every version since has kept.
//!
//! # Errors
//!
//! Every error names the server and the table (never the password): an
//! unreachable server, a missing table or database, a table without the
//! columns, refused credentials, an answer that breaks off, a stored
//! `record` that is not JSON.
//!
//! # Examples
//!
//! ```no_run
//! use evtrail::clickhouse::Store;
//! use evtrail::query::{Filter, Query, TimeRange};
//! use evtrail::stats::Tally;
//!
//! let store = Store::new("http://127.0.0.1:8123/", "logs.events")?;
//! let query = Query::new(Filter::new().add_any_of("event", ["payment_failed"])?, TimeRange::all());
//! let counted = store.tally(&Tally::new().by(["host"]), &query)?;
//! for c in &counted.summary.groups.top {
//!     println!("{} {}", c.key[0], c.count);
//! }
//! # Ok::<(), evtrail::Error>(())
//! ```

mod chains;
mod client;
mod console;
mod counts;
mod rows;
mod sql;

pub use chains::Verified;
pub use console::Reported;
pub use counts::Tallied;
pub use rows::Rows;

use std::sync::Arc;
use std::time::SystemTime;

use crate::error::Error;
use crate::incidents::{Found, Incidents};
use crate::query::Query;
use client::Client;

/// A table of signed records on a ClickHouse server.
#[derive(Clone, Debug)]
pub struct Store {
    client: Arc<Client>,
    table: String,
}

/// What [`Store::count`] counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counted {
    /// The records the query selects, each once.
    pub records: u64,
    /// Rows that were copies of a record counted already, left out.
    pub duplicates: u64,
}

/// What [`Store::incidents`] found.
#[derive(Debug)]
#[non_exhaustive]
pub struct FoundStored {
    /// The incidents, as [`Incidents::find`] finds them in files.
    pub found: Found,
    /// Rows that were copies of a record read already, left out.
    pub duplicates: u64,
}

impl Store {
    /// The table `table` (`events`, or `database.events`) on the server
    /// whose HTTP interface is at `url` (`http://host:8123/`; a user and
    /// password go in it as `http://user:password@host:8123/`).
    ///
    /// Nothing is sent yet.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for an address
    /// that is not `http://…`, or a table name that is not a plain
    /// identifier (it goes into the SQL as it is).
    pub fn new(url: &str, table: &str) -> Result<Store, Error> {
        let table = sql::table_name(table)?;
        Ok(Store {
            client: Arc::new(Client::new(url, &table)?),
            table,
        })
    }

    /// The server, as `host:port`.
    pub fn server(&self) -> &str {
        &self.client.place.server
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The records `query` selects, in time order (see
    /// [`Query::reverse`], [`Query::limit`]), each with its signature's
    /// verdict when the query has keys (checked against the record before
    /// it in its chain, read from the store). A match's
    /// [`file`](crate::query::Match::file) is
    /// `server/table/service/host/stream` and its
    /// [`line_number`](crate::query::Match::line_number) the record's
    /// `seq`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when the server cannot be
    /// reached or refuses the statement; an `Err` item, which ends the
    /// rows, when the answer breaks off or a stored record is not JSON
    /// ([`ErrorKind::Malformed`](crate::ErrorKind::Malformed)).
    pub fn search(&self, query: &Query) -> Result<Rows, Error> {
        Rows::start(self, query, None)
    }

    /// How many records `query` selects.
    ///
    /// # Errors
    ///
    /// As for [`search`](Self::search).
    pub fn count(&self, query: &Query) -> Result<Counted, Error> {
        let clause = sql::select(query);
        if clause.exact {
            let totals = self.totals(&clause)?;
            return Ok(Counted {
                records: totals.records,
                duplicates: totals.duplicates(),
            });
        }
        let mut query = query.clone();
        query.limit = None;
        let mut rows = self.search(&query)?;
        let mut records = 0;
        for m in rows.by_ref() {
            m?;
            records += 1;
        }
        Ok(Counted {
            records,
            duplicates: rows.duplicates(),
        })
    }

    /// The incidents in the records `query` selects, as
    /// [`Incidents::find`] finds them in files; only records with a
    /// `status` are read.
    ///
    /// # Errors
    ///
    /// As for [`search`](Self::search).
    pub fn incidents(
        &self,
        incidents: &Incidents,
        query: &Query,
        now: SystemTime,
    ) -> Result<FoundStored, Error> {
        let mut query = query.clone().reverse(false).markers(false);
        query.limit = None;
        let mut rows = Rows::start(self, &query, Some("status != ''"))?;
        let mut failure = None;
        let found = incidents.find_in(
            rows.by_ref().map_while(|item| match item {
                Ok(m) => Some(Ok(m)),
                Err(e) => {
                    failure = Some(e);
                    None
                }
            }),
            now,
        )?;
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(FoundStored {
            found,
            duplicates: rows.duplicates(),
        })
    }
}
