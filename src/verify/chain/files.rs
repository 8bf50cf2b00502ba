//! A stream's files into its chain: where each file sits (its stream and
//! first `seq`, from a first look), names that sort otherwise than the
//! records they hold, reading a file's lines into the chain, and how each
//! segment joins the one before (a crash, a missing segment, a cut-off
//! end).

use std::io;
use std::path::{Path, PathBuf};

use super::{Cands, Link, StreamCheck, Suspect, signed_after};
use crate::logdir::{Lines, active_stream, is_active_name, open, parse_rolled_name, rolled_stream};
use crate::mac::{GENESIS, Sig};
use crate::verify::feed::Item;
use crate::verify::parse::{Parsed, Rec, parse_line};
use crate::verify::report::{FindingKind, Location};

/// What a first look at a file found.
pub(crate) struct FileInfo {
    pub(crate) path: PathBuf,
    pub(crate) stream: String,
    pub(crate) first_seq: u64,
    pub(crate) first_sig: Option<Sig>,
    /// Its gzip copy `X.log.gz`, when both are there.
    pub(crate) twin: Option<PathBuf>,
}

impl FileInfo {
    /// Reads until the first record, to learn the file's stream and where
    /// it sits in the chain.
    pub(crate) fn probe(path: &Path, max: usize) -> io::Result<Option<FileInfo>> {
        let mut lines = Lines::new(open(path)?, max);
        let mut found: Vec<Rec> = Vec::with_capacity(2);
        for _ in 0..1000 {
            let Some(raw) = lines.next_line()? else { break };
            if let Parsed::Rec(r) = parse_line(&raw, path) {
                found.push(*r);
                if found.len() == 2 {
                    break;
                }
            }
        }
        let Some(first) = found.first() else {
            return Ok(None);
        };
        // Nothing here is verified yet: a damaged first record must not
        // move the file elsewhere in the chain or into another stream. Its
        // `seq` is checked against the next record's, and an evtrail file
        // name says the stream.
        let first_seq = match found.get(1) {
            Some(second) if first.seq.checked_add(1) != Some(second.seq) => {
                second.seq.saturating_sub(1)
            }
            _ => first.seq,
        };
        let from_name = path.file_name().and_then(|n| n.to_str()).and_then(|n| {
            rolled_stream(n).or_else(|| {
                active_stream(n)
                    .filter(|s| *s == first.stream || found.get(1).is_some_and(|x| x.stream == *s))
            })
        });
        let stream = match (from_name, found.get(1)) {
            (Some(s), _) => s.to_owned(),
            (None, Some(second)) if second.stream != first.stream => second.stream.clone(),
            _ => first.stream.clone(),
        };
        Ok(Some(FileInfo {
            path: path.to_path_buf(),
            stream,
            first_seq,
            first_sig: Some(first.sig),
            twin: None,
        }))
    }
}

impl StreamCheck {
    /// Files whose names sort otherwise than their records were renamed.
    pub(in crate::verify) fn check_names(&mut self, files: &[FileInfo]) {
        let rank = |f: &FileInfo| -> Option<(u8, String, u64)> {
            let name = f.path.file_name()?.to_str()?;
            if is_active_name(&self.stream, name) {
                return Some((1, String::new(), 0));
            }
            parse_rolled_name(&self.stream, name).map(|r| (0, r.time, r.counter))
        };
        let ranked: Vec<(&FileInfo, (u8, String, u64))> = files
            .iter()
            .filter_map(|f| rank(f).map(|r| (f, r)))
            .collect();
        for pair in ranked.windows(2) {
            if pair[0].1 > pair[1].1 {
                let (a, b) = (pair[0].0, pair[1].0);
                self.finding(
                    FindingKind::SwappedSegment,
                    Location { file: b.path.clone(), line: 0, offset: 0 },
                    Some(b.first_seq),
                    format!(
                        "holds records from seq {} but its name sorts before `{}`, which holds earlier records from seq {}",
                        b.first_seq,
                        a.path.display(),
                        a.first_seq
                    ),
                );
            }
        }
    }

    /// Takes a batch of a file's [`Item`]s (see `feed`) into the chain;
    /// `first` says that no line of the file was taken yet.
    pub(in crate::verify) fn take(
        &mut self,
        info: &FileInfo,
        items: Vec<Item>,
        first: &mut bool,
        progress: &mut dyn FnMut(u64),
    ) {
        let at = |line, offset| Location {
            file: info.path.clone(),
            line,
            offset,
        };
        for item in items {
            match item {
                Item::CannotOpen(e) => {
                    self.finding(
                        FindingKind::Unreadable,
                        at(0, 0),
                        None,
                        format!("cannot open: {e}"),
                    );
                }
                Item::Progress(offset) => progress(offset),
                Item::Unreadable {
                    line,
                    offset,
                    error,
                } => {
                    self.finding(
                        FindingKind::Unreadable,
                        at(line, offset),
                        None,
                        format!("the file cannot be read to its end: {error}"),
                    );
                }
                Item::Torn(loc, len) => self.torn = Some((loc, len)),
                Item::Line(parsed) => {
                    self.take_line(parsed, *first);
                    *first = false;
                }
            }
        }
    }

    /// Takes lines into the chain, one by one on this thread, as one file
    /// of `info`'s: a store's rows of one chain in `seq` order.
    pub(in crate::verify) fn read_lines(
        &mut self,
        info: &FileInfo,
        mut lines: Lines,
        progress: &mut dyn FnMut(u64),
    ) {
        const PROGRESS_EVERY: u64 = 8 * 1024 * 1024;
        let mut first = true;
        let mut reported = 0;
        loop {
            if lines.offset() >= reported + PROGRESS_EVERY {
                reported = lines.offset();
                progress(reported);
            }
            let raw = match lines.next_line() {
                Ok(Some(raw)) => raw,
                Ok(None) => break,
                Err(e) => {
                    self.finding(
                        FindingKind::Unreadable,
                        Location {
                            file: info.path.clone(),
                            line: lines.line() + 1,
                            offset: lines.offset(),
                        },
                        None,
                        format!("the store's answer cannot be read to its end: {e}"),
                    );
                    break;
                }
            };
            if !raw.complete {
                let loc = Location {
                    file: info.path.clone(),
                    line: raw.line,
                    offset: raw.offset,
                };
                self.torn = Some((loc, raw.bytes.len() as u64));
                break;
            }
            self.take_line(parse_line(&raw, &info.path), first);
            first = false;
        }
    }

    fn take_line(&mut self, parsed: Parsed, first: bool) {
        match parsed {
            Parsed::Rec(r) => {
                // The next line decides what a pending suspect was, also
                // across a file boundary.
                if self.suspect.is_some() && self.settle(Some(&r)) {
                    return;
                }
                if r.stream != self.stream {
                    // Another stream's record, or this stream's with its
                    // name damaged: the line after it tells which.
                    self.report.records += 1;
                    self.suspect = Some(Suspect::Rec {
                        rec: r,
                        computed: None,
                    });
                } else if first && let Some(why) = self.segment_boundary(&r) {
                    self.broken_start(*r, why);
                } else {
                    self.record(*r);
                }
            }
            Parsed::Bad { why, sig, loc } => {
                self.settle(None);
                self.suspect = Some(Suspect::Bad { why, sig, loc });
            }
        }
    }

    /// Checks how a file's first record joins the stream so far. Returns
    /// why the record, signed with a key not given, does not join the
    /// record before it (see `unknown_key_start_breaks`).
    fn segment_boundary(&mut self, r: &Rec) -> Option<String> {
        let Some(h) = &r.header else { return None };
        let torn = self.torn.take();
        if !self.started {
            // The earliest segment given: it starts where its header says.
            self.note_first_start(r, h);
            self.report.starts_after = h.prev_seq;
            if let Some(sig) = h.prev_sig {
                self.window.insert(h.prev_seq, Link::Known(Cands::one(sig)));
            }
            self.expected = h.prev_seq.saturating_add(1);
            return None;
        }
        let last_seq = self.expected.saturating_sub(1);
        let broken = self.unknown_key_start_breaks(r, h, last_seq);
        if h.prev_end == "crash" {
            match torn {
                Some((loc, n)) if n == h.torn_bytes => {
                    self.finding(
                        FindingKind::CrashRecovered,
                        loc,
                        Some(last_seq),
                        format!(
                            "segment {} ended in a crash after seq {last_seq} ({n} bytes of an unfinished line); segment {} declares it",
                            h.prev_segment, h.segment
                        ),
                    );
                }
                Some((loc, n)) => {
                    self.finding(
                        FindingKind::TruncatedTail,
                        loc,
                        Some(last_seq),
                        format!("{n} bytes of an unfinished line, but the next segment declares {} torn bytes", h.torn_bytes),
                    );
                }
                None => {
                    self.finding(
                        FindingKind::CrashRecovered,
                        r.loc.clone(),
                        Some(r.seq),
                        format!(
                            "segment {} ended in a crash after seq {}; this segment declares it",
                            h.prev_segment, h.prev_seq
                        ),
                    );
                }
            }
        } else if let Some((loc, n)) = torn {
            self.finding(
                FindingKind::Malformed,
                loc,
                None,
                format!(
                    "the file ends with {n} bytes of an unfinished line, and no crash is declared"
                ),
            );
        }
        if h.prev_seq > last_seq {
            // Records between what we have and what the header links to
            // are gone: a whole segment, or the end of the last one.
            let mac_ok = match (self.mac(&r.kid), h.prev_sig) {
                (Some(m), Some(prev)) => signed_after(m, &prev, r),
                // Signed with a key not given: its word that records are
                // gone is taken (a forged header can only accuse).
                (None, Some(_)) => true,
                _ => false,
            };
            if mac_ok {
                let (kind, what) = if h.prev_segment > self.segment || h.prev_end == "missing" {
                    (
                        FindingKind::MissingSegment,
                        format!(
                            "segment(s) {}..={} are missing",
                            self.segment + 1,
                            h.prev_segment
                        ),
                    )
                } else {
                    (
                        FindingKind::TruncatedTail,
                        format!("segment {} was cut short", self.segment),
                    )
                };
                self.finding(
                    kind,
                    r.loc.clone(),
                    Some(last_seq.saturating_add(1)),
                    format!(
                        "{what}: records {}..={} (seq) are not here",
                        last_seq.saturating_add(1),
                        h.prev_seq
                    ),
                );
                self.window.insert(
                    h.prev_seq,
                    Link::Known(Cands::one(h.prev_sig.unwrap_or(GENESIS))),
                );
                self.expected = h.prev_seq.saturating_add(1);
            }
        } else if h.prev_end == "missing" {
            self.finding(
                FindingKind::MissingSegment,
                r.loc.clone(),
                Some(r.seq),
                "the writer found files gone when it started this segment".into(),
            );
        }
        broken
    }
}
