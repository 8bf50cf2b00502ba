//! An HTTP sink's delivery cursor: for each stream, the last `seq` the
//! endpoint acknowledged (or that was dead-lettered), kept in the file
//! `cursor.json` beside the spool.
//!
//! With a signed log directory the files are the durable queue: a record
//! the files hold and the cursor has not passed was either in the spool or
//! lost from memory by a crash, and the next start sends it again from the
//! files (see `catchup`). The cursor is saved at most every
//! [`SAVE_EVERY`] and at close; saving it late only means records sent a
//! second time, never records skipped, because it only ever moves past
//! records that were settled.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The cursor file's name in the spool directory.
pub(super) const CURSOR_FILE: &str = "cursor.json";

/// How often, at most, the cursor is written while records are delivered.
pub(super) const SAVE_EVERY: Duration = Duration::from_millis(250);

/// The cursor, in memory and on disk.
#[derive(Debug)]
pub(super) struct Cursor {
    path: PathBuf,
    streams: BTreeMap<String, u64>,
    dirty: bool,
    saved_at: Instant,
}

impl Cursor {
    /// Reads the cursor in `dir`; without one (the sink's first start with
    /// this directory) it starts at `start`, each stream's last `seq` in the
    /// log: what was written before the sink existed is not its to send.
    /// The new cursor is saved at once.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or written, or is damaged: a damaged
    /// cursor is never taken for a fresh start, which would skip records.
    pub(super) fn open(dir: &Path, start: &[(String, u64)]) -> io::Result<Cursor> {
        let path = dir.join(CURSOR_FILE);
        let streams = match fs::read(&path) {
            Ok(data) => parse(&data).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the delivery cursor {} is damaged; remove it to resend \
                         nothing older than this start",
                        path.display()
                    ),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut c = Cursor {
                    path,
                    streams: start.iter().cloned().collect(),
                    dirty: true,
                    saved_at: Instant::now(),
                };
                c.save()?;
                return Ok(c);
            }
            Err(e) => return Err(e),
        };
        Ok(Cursor {
            path,
            streams,
            dirty: false,
            saved_at: Instant::now(),
        })
    }

    /// The last settled `seq` of `stream`; 0 for a stream the cursor has
    /// not seen (it began after the cursor: all of it is to send).
    pub(super) fn get(&self, stream: &str) -> u64 {
        self.streams.get(stream).copied().unwrap_or(0)
    }

    /// Records up to `seq` of `stream` are settled.
    pub(super) fn advance(&mut self, stream: &str, seq: u64) {
        match self.streams.get_mut(stream) {
            Some(s) if *s >= seq => {}
            Some(s) => {
                *s = seq;
                self.dirty = true;
            }
            None => {
                self.streams.insert(stream.to_owned(), seq);
                self.dirty = true;
            }
        }
    }

    /// Saves when changed and [`SAVE_EVERY`] has passed, or now when
    /// `force`d.
    pub(super) fn save_if_due(&mut self, force: bool) -> io::Result<()> {
        if self.dirty && (force || self.saved_at.elapsed() >= SAVE_EVERY) {
            self.save()?;
        }
        Ok(())
    }

    /// Writes the cursor atomically: a synced temporary file, renamed.
    fn save(&mut self) -> io::Result<()> {
        let text = serde_json::json!({ "v": 1, "streams": self.streams }).to_string();
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = crate::private::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_data()?;
        }
        fs::rename(&tmp, &self.path)?;
        self.dirty = false;
        self.saved_at = Instant::now();
        Ok(())
    }
}

fn parse(data: &[u8]) -> Option<BTreeMap<String, u64>> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    v.get("streams")?
        .as_object()?
        .iter()
        .map(|(k, s)| Some((k.clone(), s.as_u64()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_cursor_starts_at_the_log_and_moves_only_forward() {
        let dir = tempfile::tempdir().unwrap();
        let start = [("app".to_owned(), 40), ("audit".to_owned(), 3)];
        let mut c = Cursor::open(dir.path(), &start).unwrap();
        assert_eq!((c.get("app"), c.get("audit"), c.get("new")), (40, 3, 0));
        c.advance("app", 50);
        c.advance("app", 45);
        c.advance("new", 2);
        c.save_if_due(true).unwrap();
        // The start is only for a cursor that does not exist yet.
        let c = Cursor::open(dir.path(), &[("app".to_owned(), 999)]).unwrap();
        assert_eq!((c.get("app"), c.get("audit"), c.get("new")), (50, 3, 2));
    }

    #[test]
    fn a_damaged_cursor_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(CURSOR_FILE), b"{\"streams\":{\"app\":").unwrap();
        let err = Cursor::open(dir.path(), &[]).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
