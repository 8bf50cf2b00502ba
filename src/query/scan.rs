//! Finding candidate lines in one file fast: the file is read in large
//! blocks, a literal every selected line must hold is searched for across
//! the whole block (not line by line), and only the lines it is found in
//! are handed on, with their line number and the line before them (whose
//! signature the next one chains on). Nothing is allocated per line.

use std::io::{self, Read};

use memchr::memmem::Finder;

/// Bytes read at a time.
const BLOCK: usize = 1 << 20;

/// One line the scan hands on.
#[derive(Debug)]
pub(crate) struct Candidate<'a> {
    /// The line, without its newline.
    pub(crate) line: &'a [u8],
    /// Its 1-based line number in the file.
    pub(crate) line_no: u64,
    /// The line before it, when there is one.
    pub(crate) prev: Option<&'a [u8]>,
}

/// What the scan met, besides candidates.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Skipped {
    /// A line longer than the limit, left out whole.
    TooLong { line_no: u64, bytes: u64 },
}

/// Scans one reader for lines that hold `needle` (every line without one).
pub(crate) struct Scan<R> {
    reader: R,
    finder: Option<Finder<'static>>,
    max_line: usize,
    buf: Vec<u8>,
    /// `buf[..filled]` holds data; `buf[..complete]` whole lines.
    filled: usize,
    complete: usize,
    /// Where the search goes on in `buf`.
    pos: usize,
    /// Lines before `buf[0]`, and newlines counted in `buf[..counted]`.
    base_lines: u64,
    counted: usize,
    counted_lines: u64,
    /// The last line before `buf[0]`, when the previous block ended in one.
    carry: Vec<u8>,
    has_carry: bool,
    /// Skipping the rest of an over-long line that began `skip_from` lines
    /// in, and how long it was so far.
    skipping: Option<(u64, u64)>,
    eof: bool,
    /// Bytes after the last newline when the reader ended: a line being
    /// written, or torn by a crash.
    pub(crate) torn_bytes: u64,
}

impl<R: Read> Scan<R> {
    /// A scan of `reader` for lines holding `needle`; lines longer than
    /// `max_line` bytes are skipped and reported.
    pub(crate) fn new(reader: R, needle: Option<&[u8]>, max_line: usize) -> Scan<R> {
        Scan {
            reader,
            finder: needle.map(|n| Finder::new(n).into_owned()),
            max_line: max_line.max(1),
            buf: Vec::new(),
            filled: 0,
            complete: 0,
            pos: 0,
            base_lines: 0,
            counted: 0,
            counted_lines: 0,
            carry: Vec::new(),
            has_carry: false,
            skipping: None,
            eof: false,
            torn_bytes: 0,
        }
    }

    /// The next candidate line, `Ok(None)` at the end. A read error (a
    /// gzip file cut short) ends the scan; the lines before it were
    /// handed on.
    #[allow(clippy::type_complexity)]
    pub(crate) fn next(&mut self) -> io::Result<Option<Result<Candidate<'_>, Skipped>>> {
        loop {
            if let Some((ls, le)) = self.find() {
                let line_no = self.line_no_at(ls);
                self.pos = le + 1;
                if le - ls > self.max_line {
                    return Ok(Some(Err(Skipped::TooLong {
                        line_no,
                        bytes: (le - ls) as u64,
                    })));
                }
                let prev = self.prev_of(ls);
                return Ok(Some(Ok(Candidate {
                    line: &self.buf[ls..le],
                    line_no,
                    prev,
                })));
            }
            if self.eof {
                return Ok(None);
            }
            if let Some(skipped) = self.refill()? {
                return Ok(Some(Err(skipped)));
            }
        }
    }

    /// The next line in `buf[pos..complete]` that holds the needle.
    fn find(&self) -> Option<(usize, usize)> {
        let region = &self.buf[..self.complete];
        if self.pos >= region.len() {
            return None;
        }
        let start = match &self.finder {
            None => self.pos,
            Some(f) => {
                let hit = self.pos + f.find(&region[self.pos..])?;
                memchr::memrchr(b'\n', &region[self.pos..hit])
                    .map_or(self.pos, |i| self.pos + i + 1)
            }
        };
        let end = start + memchr::memchr(b'\n', &region[start..])?;
        Some((start, end))
    }

    fn line_no_at(&mut self, at: usize) -> u64 {
        self.counted_lines +=
            memchr::memchr_iter(b'\n', &self.buf[self.counted..at]).count() as u64;
        self.counted = at;
        self.base_lines + self.counted_lines + 1
    }

    fn prev_of(&self, at: usize) -> Option<&[u8]> {
        if at == 0 {
            return self.has_carry.then_some(self.carry.as_slice());
        }
        let end = at - 1;
        let start = memchr::memrchr(b'\n', &self.buf[..end]).map_or(0, |i| i + 1);
        Some(&self.buf[start..end])
    }

    /// Drops the lines handled, keeps the partial last one, and reads on.
    /// Reports a line too long to keep.
    fn refill(&mut self) -> io::Result<Option<Skipped>> {
        // Keep the last whole line (the next one's predecessor) and count
        // what is dropped.
        if self.complete > 0 {
            let whole = &self.buf[..self.complete];
            self.counted_lines += memchr::memchr_iter(b'\n', &whole[self.counted..]).count() as u64;
            self.base_lines += self.counted_lines;
            self.counted_lines = 0;
            let last_end = self.complete - 1;
            let last_start = memchr::memrchr(b'\n', &whole[..last_end]).map_or(0, |i| i + 1);
            self.carry.clear();
            self.carry.extend_from_slice(&whole[last_start..last_end]);
            self.has_carry = true;
            self.buf.copy_within(self.complete..self.filled, 0);
            self.filled -= self.complete;
            self.complete = 0;
        }
        self.pos = 0;
        self.counted = 0;
        if self.buf.len() < self.filled + BLOCK {
            self.buf.resize(self.filled + BLOCK, 0);
        }
        let n = loop {
            match self.reader.read(&mut self.buf[self.filled..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.eof = true;
                    return Err(e);
                }
            }
        };
        if n == 0 {
            self.eof = true;
            self.torn_bytes = self.filled as u64;
            return Ok(self
                .skipping
                .take()
                .map(|(line_no, bytes)| Skipped::TooLong {
                    line_no,
                    bytes: bytes + self.filled as u64,
                }));
        }
        let old = self.filled;
        self.filled += n;
        let fresh = &self.buf[old..self.filled];
        if let Some((line_no, bytes)) = self.skipping {
            // Still inside an over-long line: drop up to its end.
            match memchr::memchr(b'\n', fresh) {
                None => {
                    self.skipping = Some((line_no, bytes + n as u64));
                    self.filled = 0;
                    return Ok(None);
                }
                Some(i) => {
                    let total = bytes + (old + i) as u64;
                    self.buf.copy_within(old + i + 1..self.filled, 0);
                    self.filled -= old + i + 1;
                    self.skipping = None;
                    self.base_lines += 1;
                    self.has_carry = false;
                    self.complete =
                        memchr::memrchr(b'\n', &self.buf[..self.filled]).map_or(0, |i| i + 1);
                    return Ok(Some(Skipped::TooLong {
                        line_no,
                        bytes: total,
                    }));
                }
            }
        }
        self.complete = memchr::memrchr(b'\n', &self.buf[..self.filled]).map_or(0, |i| i + 1);
        if self.complete == 0 && self.filled > self.max_line {
            // No newline in sight and already too long: skip this line.
            self.skipping = Some((self.base_lines + 1, self.filled as u64));
            self.filled = 0;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every candidate as (line number, line, previous line).
    fn all(input: &[u8], needle: Option<&str>, max: usize) -> Vec<(u64, String, Option<String>)> {
        let mut scan = Scan::new(input, needle.map(str::as_bytes), max);
        let mut out = Vec::new();
        while let Some(item) = scan.next().unwrap() {
            match item {
                Ok(c) => out.push((
                    c.line_no,
                    String::from_utf8_lossy(c.line).into_owned(),
                    c.prev.map(|p| String::from_utf8_lossy(p).into_owned()),
                )),
                Err(Skipped::TooLong { line_no, bytes }) => {
                    out.push((line_no, format!("<too long: {bytes}>"), None));
                }
            }
        }
        out
    }

    #[test]
    fn every_line_without_a_needle_and_the_torn_tail_is_left_out() {
        let got = all(b"a\nbb\n\nccc\npartial", None, 100);
        assert_eq!(
            got,
            vec![
                (1, "a".into(), None),
                (2, "bb".into(), Some("a".into())),
                (3, "".into(), Some("bb".into())),
                (4, "ccc".into(), Some("".into())),
            ]
        );
        let mut scan = Scan::new(&b"a\npartial"[..], None, 100);
        while scan.next().unwrap().is_some() {}
        assert_eq!(scan.torn_bytes, 7);
    }

    #[test]
    fn only_lines_holding_the_needle_with_their_numbers_and_predecessors() {
        let got = all(b"x1\nhit a\nx2\nx3\nhit b hit\nhit c\n", Some("hit"), 100);
        assert_eq!(
            got,
            vec![
                (2, "hit a".into(), Some("x1".into())),
                (5, "hit b hit".into(), Some("x3".into())),
                (6, "hit c".into(), Some("hit b hit".into())),
            ]
        );
    }

    #[test]
    fn blocks_boundaries_lose_no_line_and_no_predecessor() {
        // Lines of varying length across several 1 MiB blocks.
        let mut input = Vec::new();
        let mut want = Vec::new();
        let mut prev: Option<String> = None;
        for i in 0..60_000u64 {
            let line = format!("{i}:{}", "y".repeat((i % 97) as usize));
            if i % 7 == 0 {
                want.push((i + 1, format!("{line}!"), prev.clone()));
                input.extend_from_slice(format!("{line}!\n").as_bytes());
                prev = Some(format!("{line}!"));
            } else {
                input.extend_from_slice(format!("{line}\n").as_bytes());
                prev = Some(line);
            }
        }
        assert!(input.len() > 2 * BLOCK);
        assert_eq!(all(&input, Some("!"), 1 << 20), want);
        assert_eq!(all(&input, None, 1 << 20).len(), 60_000);
    }

    #[test]
    fn an_over_long_line_is_reported_and_skipped() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'z', 3 * BLOCK));
        input.extend_from_slice(b"\nafter\n");
        let got = all(&input, None, BLOCK);
        assert_eq!(got[0], (1, "short".into(), None));
        assert_eq!(got[1], (2, format!("<too long: {}>", 3 * BLOCK), None));
        assert_eq!(got[2], (3, "after".into(), None));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn a_read_error_ends_the_scan_after_what_came_before() {
        struct Cut(Vec<u8>, bool);
        impl Read for Cut {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.1 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cut short"));
                }
                self.1 = true;
                out[..self.0.len()].copy_from_slice(&self.0);
                Ok(self.0.len())
            }
        }
        let mut scan = Scan::new(Cut(b"one\ntwo\nthr".to_vec(), false), None, 100);
        let mut lines = Vec::new();
        let err = loop {
            match scan.next() {
                Ok(Some(Ok(c))) => lines.push(String::from_utf8_lossy(c.line).into_owned()),
                Ok(other) => panic!("{other:?}"),
                Err(e) => break e,
            }
        };
        assert_eq!(lines, ["one", "two"]);
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
