//! The event console over the store: the page [`Report::write`] makes
//! from files, made of the store's counts, its latest records, its
//! incidents and, with keys, its proof.

use std::io::Write;

use serde_json::Value;

use super::Store;
use crate::error::Error;
use crate::query::Query;
use crate::report::{LatestRows as Latest, Report};
use crate::stats::{PushTally, Seen, Summary};
use crate::verify::Verifier;

/// What [`Store::report`] wrote.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Reported {
    /// The numbers the page shows, as [`Report::write`] returns them.
    pub summary: Summary,
    /// Rows that were copies of a record counted already, left out.
    pub duplicates: u64,
}

impl Store {
    /// Writes `report`'s page for the records `query` selects in the
    /// store to `out`, as [`Report::write`] does for files; with keys, the
    /// header carries the verdict of [`verify`](Self::verify).
    ///
    /// # Errors
    ///
    /// As for [`search`](Self::search) and [`Report::write`].
    pub fn report<W: Write>(
        &self,
        report: &Report,
        query: &Query,
        out: W,
    ) -> Result<Reported, Error> {
        let (tally, incidents, rows, now) = report.settings();
        // The latest rows, oldest first, with what the pushes the count
        // read say of each.
        let mut pushes = PushTally::default();
        let tallied = self.tally_keeping_pushes(tally, query, Some(&mut pushes))?;
        let mut newest = query.clone().reverse(true);
        newest.limit = Some(rows);
        newest.keys = None;
        let shown: Vec<_> = self.search(&newest)?.collect::<Result<_, _>>()?;
        let mut latest = Latest::new(rows);
        for m in shown.iter().rev() {
            let text = |k: &str| {
                m.record()
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let seen = Seen {
                host: text("host"),
                stream: text("stream"),
                seq: m.seq(),
            };
            latest.offer(m, &seen, &pushes);
        }
        let found = self.incidents(incidents, query, now)?.found;
        let proof = match &query.keys {
            Some(keys) => Some(self.verify(&mut Verifier::new(keys.clone()))?.report),
            None => None,
        };
        report.render(
            query,
            &tallied.summary,
            latest,
            &found.incidents,
            proof.as_ref(),
            now,
            out,
        )?;
        Ok(Reported {
            summary: tallied.summary,
            duplicates: tallied.duplicates,
        })
    }
}
