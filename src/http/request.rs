//! One request's worth of records: filled from the worker's chunks or a
//! spool file up to the batch limits, and described for reports.

use std::sync::Arc;
use std::time::Instant;

use super::{Chunk, Outgoing};

/// A request's records: lines ending in newlines, with each record's
/// stream, seq and end offset.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) lines: Vec<u8>,
    pub(super) entries: Vec<(Arc<str>, u64, usize)>,
    /// The spool file the records came from; `None` for records from memory.
    pub(super) spool_id: Option<u64>,
    /// Lines of that file that were not records (torn by a crash); they are
    /// dead-lettered as they are read.
    pub(super) damaged: u64,
    pub(super) started: Instant,
    /// The next record did not fit: send as it is.
    pub(super) sealed: bool,
}

impl Request {
    /// Appends one record's line (without its newline).
    pub(super) fn push_line(&mut self, stream: &Arc<str>, seq: u64, line: &[u8]) {
        if self.entries.is_empty() {
            self.started = Instant::now();
        }
        self.lines.extend_from_slice(line);
        self.lines.push(b'\n');
        self.entries.push((stream.clone(), seq, self.lines.len()));
    }

    /// The last `seq` of each stream in the request.
    pub(super) fn last_seqs(&self) -> Vec<(&str, u64)> {
        let mut out: Vec<(&str, u64)> = Vec::new();
        for (stream, seq, _) in &self.entries {
            match out.iter_mut().find(|(s, _)| *s == &**stream) {
                Some(e) => e.1 = e.1.max(*seq),
                None => out.push((stream, *seq)),
            }
        }
        out
    }
}

impl Request {
    pub(super) fn new() -> Request {
        Request {
            lines: Vec::new(),
            entries: Vec::new(),
            spool_id: None,
            damaged: 0,
            started: Instant::now(),
            sealed: false,
        }
    }

    /// Takes as much of `chunk` as fits in `max_records` and `max_bytes`
    /// (always one record at least) and gives back the rest.
    pub(super) fn fill(
        &mut self,
        mut chunk: Chunk,
        max_records: usize,
        max_bytes: usize,
    ) -> Option<Chunk> {
        let room = max_records.saturating_sub(self.entries.len());
        let bytes = max_bytes.saturating_sub(self.lines.len());
        let fit = chunk.entries[..chunk.entries.len().min(room)]
            .partition_point(|&(_, _, end)| end <= bytes)
            .max(usize::from(self.entries.is_empty()));
        if fit >= chunk.entries.len() {
            self.add(chunk);
            return None;
        }
        self.sealed = true;
        let cut = if fit == 0 {
            0
        } else {
            chunk.entries[fit - 1].2
        };
        let rest = Chunk {
            lines: chunk.lines.split_off(cut),
            entries: chunk
                .entries
                .split_off(fit)
                .into_iter()
                .map(|(stream, seq, end)| (stream, seq, end - cut))
                .collect(),
        };
        self.add(chunk);
        Some(rest)
    }

    pub(super) fn add(&mut self, chunk: Chunk) {
        if chunk.entries.is_empty() {
            return;
        }
        if self.entries.is_empty() {
            self.started = Instant::now();
        }
        let base = self.lines.len();
        self.lines.extend_from_slice(&chunk.lines);
        self.entries.extend(
            chunk
                .entries
                .into_iter()
                .map(|(stream, seq, end)| (stream, seq, base + end)),
        );
    }

    /// Records to account for when the request is settled.
    pub(super) fn len(&self) -> u64 {
        self.entries.len() as u64 + self.damaged
    }

    pub(super) fn outgoing(&self) -> Vec<Outgoing<'_>> {
        let mut start = 0;
        self.entries
            .iter()
            .map(|(stream, seq, end)| {
                let line = &self.lines[start..end - 1];
                start = *end;
                Outgoing::new(stream, *seq, line)
            })
            .collect()
    }

    /// `app:1-500 audit:7-9`: the seq ranges per stream, in order.
    pub(super) fn ranges(&self) -> String {
        let mut ranges: Vec<(&str, u64, u64)> = Vec::new();
        for (stream, seq, _) in &self.entries {
            match ranges.iter_mut().find(|r| r.0 == &**stream) {
                Some(r) => r.2 = *seq,
                None => ranges.push((stream, *seq, *seq)),
            }
        }
        let parts: Vec<String> = ranges
            .iter()
            .map(|(s, a, b)| format!("{s}:{a}-{b}"))
            .collect();
        parts.join(" ")
    }

    /// Whether every record is itself a delivery report: a success with
    /// such a batch is not reported again, or reports would beget
    /// deliveries forever.
    pub(super) fn only_push_reports(&self) -> bool {
        let finder = memchr::memmem::Finder::new(br#""event":"evtrail.push""#);
        self.outgoing()
            .iter()
            .all(|o| finder.find(o.line()).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(stream: &str, seqs: std::ops::Range<u64>, event: &str) -> Chunk {
        let mut c = Chunk::default();
        let s: Arc<str> = Arc::from(stream);
        for seq in seqs {
            c.lines.extend_from_slice(
                format!("{{\"stream\":\"{stream}\",\"seq\":{seq},\"event\":\"{event}\"}}\n")
                    .as_bytes(),
            );
            c.entries.push((s.clone(), seq, c.lines.len()));
        }
        c
    }

    #[test]
    fn a_request_takes_what_fits_and_leaves_the_rest_whole() {
        let line = chunk("app", 0..1, "x").lines.len();
        let mut req = Request::new();
        // Room for two records by bytes, ten by count.
        let rest = req.fill(chunk("app", 0..5, "x"), 10, 2 * line + 1).unwrap();
        assert_eq!(req.len(), 2);
        assert!(req.sealed, "a request that left records behind is full");
        assert_eq!(rest.len(), 3);
        assert_eq!(rest.entries[0].1, 2);
        assert_eq!(
            rest.entries[0].2, line,
            "offsets start at the rest's own start"
        );
        assert_eq!(rest.lines.len(), 3 * line);
        // An empty request takes one record even when it is too big.
        let mut req = Request::new();
        let rest = req.fill(chunk("app", 0..2, "x"), 10, 1).unwrap();
        assert_eq!((req.len(), rest.len()), (1, 1));
        // By count.
        let mut req = Request::new();
        assert!(req.fill(chunk("app", 0..3, "x"), 3, usize::MAX).is_none());
        assert_eq!(req.len(), 3);
        assert!(!req.sealed);
    }

    #[test]
    fn requests_join_chunks_and_describe_their_ranges() {
        let mut req = Request::new();
        req.add(chunk("app", 1..4, "x"));
        req.add(chunk("audit", 7..9, "y"));
        req.add(chunk("app", 4..6, "x"));
        assert_eq!(req.len(), 7);
        assert_eq!(req.ranges(), "app:1-5 audit:7-8");
        let out = req.outgoing();
        assert_eq!(out[3].stream(), "audit");
        assert_eq!(out[3].seq(), 7);
        assert_eq!(out[3].line(), br#"{"stream":"audit","seq":7,"event":"y"}"#);
        assert!(!req.only_push_reports());
        let mut reports = Request::new();
        reports.add(chunk("app", 1..3, "evtrail.push"));
        assert!(reports.only_push_reports());
    }
}
