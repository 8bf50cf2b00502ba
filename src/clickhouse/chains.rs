//! Verifying what the store holds: each writer's stream read in `seq`
//! order, its rows handed to the verifier as lines, copies of a row
//! delivered twice left out (a different row with the same `seq` is
//! kept, for the verifier to judge).

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use serde::Deserialize;

use super::Store;
use super::client::Answer;
use super::sql::literal;
use crate::error::Error;
use crate::verify::{Report, StoredChain, Verifier};

/// What [`Store::verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The verifier's report; each stream is named
    /// `server/table/service/host/stream`, and so is the "file" of its
    /// findings, whose line is the row's place in the chain.
    pub report: Report,
    /// Rows that were exact copies of another row of their chain
    /// (delivered more than once), left out.
    pub duplicates: u64,
}

/// One chain the store holds.
#[derive(Deserialize)]
struct ChainRow {
    service: String,
    host: String,
    stream: String,
}

/// A chain's rows as lines, for the verifier; a row that repeats the one
/// before it byte for byte (they come sorted by `seq` and `record`) is a
/// copy, left out and counted.
struct ChainLines {
    answer: Answer,
    line: Vec<u8>,
    pos: usize,
    copies: Rc<Cell<u64>>,
    failure: Rc<RefCell<Option<Error>>>,
}

impl Read for ChainLines {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChainLines {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.line.len() {
            match self.answer.next_line() {
                Ok(Some(line)) => {
                    let before = self.line.len().checked_sub(1).map(|n| &self.line[..n]);
                    if before == Some(line) {
                        self.copies.set(self.copies.get() + 1);
                        continue;
                    }
                    self.line.clear();
                    self.line.extend_from_slice(line);
                    self.line.push(b'\n');
                    self.pos = 0;
                }
                Ok(None) => {
                    self.line.clear();
                    self.pos = 0;
                    break;
                }
                Err(e) => {
                    let text = e.to_string();
                    *self.failure.borrow_mut() = Some(e);
                    return Err(io::Error::other(text));
                }
            }
        }
        Ok(&self.line[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.line.len());
    }
}

impl Store {
    /// Verifies every chain the table holds — each `(service, host,
    /// stream)` in `seq` order — with `verifier`, as
    /// [`Verifier::verify_paths`] verifies files: a row edited in the
    /// store is `modified`, a deleted one `deleted`, one inserted by hand
    /// `inserted` (or `duplicated`), each located by service, host,
    /// stream and `seq`.
    ///
    /// # Errors
    ///
    /// As for [`search`](Self::search). A row that is not a signed record
    /// is a finding (`malformed`), as a line in a file is.
    pub fn verify(&self, verifier: &mut Verifier) -> Result<Verified, Error> {
        let chains: Vec<ChainRow> = self.rows_of(&format!(
            "SELECT DISTINCT service, host, stream FROM {} ORDER BY service, host, stream",
            self.table
        ))?;
        let copies = Rc::new(Cell::new(0u64));
        let failure: Rc<RefCell<Option<Error>>> = Rc::new(RefCell::new(None));
        let place = &self.client.place;
        let each = chains.iter().map_while(|c| {
            if failure.borrow().is_some() {
                return None;
            }
            let statement = format!(
                "SELECT record FROM {} WHERE service = {} AND host = {} AND stream = {} \
                 ORDER BY seq, record FORMAT TabSeparatedRaw",
                self.table,
                literal(&c.service),
                literal(&c.host),
                literal(&c.stream)
            );
            Some(self.client.send(&statement).map(|answer| {
                StoredChain::new(
                    format!("{}/{}/{}/{}", place.server, place.table, c.service, c.host),
                    c.stream.clone(),
                    ChainLines {
                        answer,
                        line: Vec::new(),
                        pos: 0,
                        copies: Rc::clone(&copies),
                        failure: Rc::clone(&failure),
                    },
                )
            }))
        });
        let report = verifier.verify_chains(each)?;
        if let Some(e) = failure.borrow_mut().take() {
            return Err(e);
        }
        Ok(Verified {
            report,
            duplicates: copies.get(),
        })
    }
}
