//! Running a search: each stream's files scanned in turn, candidates
//! parsed, filtered and checked, and the streams merged into time order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use memchr::memmem::Finder;
use serde_json::Value;

use super::Query;
use super::filter::lookup;
use super::raw::{RawRecord, TopLevel};
use super::reader::{Progress, open};
use super::scan::{Candidate, Scan, Skipped};
use super::signature::{Checker, Signature};
use super::source::{LogFile, StreamFiles};
use crate::error::{Error, ErrorKind};

/// One record a search found.
#[derive(Clone, Debug)]
pub struct Match {
    line: String,
    /// Parsed when first asked for: a search that prints the stored lines
    /// never builds it.
    record: OnceLock<Value>,
    ts: String,
    file: Arc<Path>,
    line_no: u64,
    signature: Signature,
}

impl Match {
    /// A match of `line`, with the record when it was parsed already.
    pub(crate) fn new(
        line: String,
        record: Option<Value>,
        file: &Path,
        line_no: u64,
        signature: Signature,
    ) -> Match {
        let ts = match &record {
            Some(v) => v["ts"].as_str().map(str::to_owned),
            None => raw_ts(line.as_bytes()).map(|ts| String::from_utf8_lossy(ts).into_owned()),
        };
        Match {
            ts: ts.unwrap_or_default(),
            record: record.map_or_else(OnceLock::new, OnceLock::from),
            line,
            file: file.into(),
            line_no,
            signature,
        }
    }

    /// The match with this verdict on its signature.
    #[cfg(feature = "http")]
    pub(crate) fn with_signature(mut self, signature: Signature) -> Match {
        self.signature = signature;
        self
    }

    /// The parsed record.
    pub(crate) fn record(&self) -> &Value {
        self.record
            .get_or_init(|| serde_json::from_str(&self.line).unwrap_or(Value::Null))
    }

    /// The record's line exactly as stored (it can be verified again).
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The value at a dotted `path` (`event`, `fields.amount`,
    /// `spans.request.op`; see [`Filter`](super::Filter)) as text: strings
    /// as they are, other values as JSON. `None` when absent or null.
    pub fn field(&self, path: &str) -> Option<String> {
        lookup(self.record(), path)
    }

    /// The record's stream.
    pub fn stream(&self) -> &str {
        self.record()["stream"].as_str().unwrap_or_default()
    }

    /// The record's `seq`, when it has one.
    pub fn seq(&self) -> Option<u64> {
        self.record()["seq"].as_u64()
    }

    /// The record's `ts` (`2026-11-22T10:00:00.123456Z`), empty when it has
    /// none.
    pub fn ts(&self) -> &str {
        &self.ts
    }

    /// The file the record was read from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The record's line number in [`file`](Self::file), from 1.
    pub fn line_number(&self) -> u64 {
        self.line_no
    }

    /// The verdict on its signature.
    pub fn signature(&self) -> Signature {
        self.signature
    }

    /// The match as one JSON object: `{"valid_signature": …, "file": …,
    /// "line": …, "record": {…}}`.
    pub fn to_json(&self) -> String {
        // The record is its stored line, keys in the format's order.
        format!(
            r#"{{"valid_signature":"{}","file":{},"line":{},"record":{}}}"#,
            self.signature.as_str(),
            Value::from(self.file.display().to_string()),
            self.line_no,
            self.line
        )
    }
}

/// What every stream's scan shares: the search's settings and its tests.
struct Ctx {
    query: Query,
    checker: Option<Checker>,
    /// The range's bounds as `ts` text.
    from: Option<String>,
    to: Option<String>,
    markers: MarkerTest,
    progress: Option<Arc<Progress>>,
}

impl Ctx {
    fn new(query: Query, progress: Option<Arc<Progress>>) -> Ctx {
        let (from, to) = query.range.ts_bounds();
        Ctx {
            progress,
            checker: query.keys.clone().map(Checker::new),
            query,
            from,
            to,
            markers: MarkerTest::new(),
        }
    }

    /// Whether a `ts` is in range.
    fn ts_in_range(&self, ts: &[u8]) -> bool {
        self.from.as_ref().is_none_or(|f| ts >= f.as_bytes())
            && self.to.as_ref().is_none_or(|t| ts < t.as_bytes())
    }

    fn bounded(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    /// The first test, on the raw bytes: whether the line needs parsing.
    /// A line without a `ts` is parsed, so that one that is not a record
    /// is reported; one that is, is in no bounded range.
    fn wanted(&self, line: &[u8]) -> bool {
        self.query.filter.prefilter().could_match(line)
            && (!self.bounded() || raw_ts(line).is_none_or(|ts| self.ts_in_range(ts)))
            && (self.query.markers || !self.markers.is_marker(line))
    }

    /// The test after parsing: the filter, and the range for a record
    /// whose `ts` was not found in its first bytes.
    fn selects(&self, line: &[u8], record: &dyn TopLevel) -> bool {
        if self.bounded() && raw_ts(line).is_none() {
            let in_range = record
                .top("ts")
                .as_deref()
                .and_then(Value::as_str)
                .is_some_and(|ts| self.ts_in_range(ts.as_bytes()));
            if !in_range {
                return false;
            }
        }
        self.query.filter.matches_top(record)
    }
}

/// The record's `ts` text, from the start of its line.
fn raw_ts(line: &[u8]) -> Option<&[u8]> {
    let head = &line[..line.len().min(256)];
    let at = memchr::memmem::find(head, br#""ts":""#)? + 6;
    let len = memchr::memchr(b'"', &line[at..])?;
    Some(&line[at..at + len])
}

/// Tells the chain's own records by their bytes: written by evtrail
/// (target `evtrail`) with a marker event, both as the writer spells them.
struct MarkerTest {
    target: Finder<'static>,
    events: Vec<Finder<'static>>,
}

impl MarkerTest {
    fn new() -> MarkerTest {
        MarkerTest {
            target: Finder::new(br#""target":"evtrail""#).into_owned(),
            events: crate::marker::ALL
                .iter()
                .map(|name| Finder::new(format!(r#""event":"{name}""#).as_bytes()).into_owned())
                .collect(),
        }
    }

    fn is_marker(&self, line: &[u8]) -> bool {
        self.target.find(line).is_some() && self.events.iter().any(|f| f.find(line).is_some())
    }
}

fn malformed(file: &Path, line_no: u64, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Malformed,
        format!("`{}`, line {line_no}: {what}", file.display()),
    )
}

/// A file being scanned.
type Current = (Arc<Path>, Scan<Box<dyn Read>>);

/// One stream's files, scanned in turn.
struct StreamScan {
    files: VecDeque<LogFile>,
    current: Option<Current>,
}

/// What the next step of a scan found.
enum Step {
    Found(Match),
    Problem(Error),
    Done,
}

impl StreamScan {
    fn new(files: Vec<LogFile>) -> StreamScan {
        StreamScan {
            files: files.into(),
            current: None,
        }
    }

    /// Calls `on_line` with each candidate that passes the raw test until
    /// it returns something; reports what went wrong on the way.
    fn step<T>(
        &mut self,
        ctx: &mut Ctx,
        mut on_line: impl FnMut(&mut Ctx, &Path, Candidate<'_>) -> Option<Result<T, Error>>,
    ) -> Option<Result<T, Error>> {
        loop {
            if self.current.is_none() {
                let file = self.files.pop_front()?;
                let path: Arc<Path> = file.path.into();
                match open(&path, ctx.progress.clone()) {
                    Ok(reader) => {
                        let needle = ctx.query.filter.prefilter().scan_needle();
                        self.current =
                            Some((path.clone(), Scan::new(reader, needle, ctx.query.max_line)));
                    }
                    Err(e) => {
                        return Some(Err(Error::with_source(
                            ErrorKind::Io,
                            format!("cannot open `{}`", path.display()),
                            e,
                        )));
                    }
                }
            }
            let (path, scan) = self.current.as_mut()?;
            let path = path.clone();
            match scan.next() {
                Ok(None) => self.current = None,
                Err(e) => {
                    self.current = None;
                    return Some(Err(Error::with_source(
                        ErrorKind::Io,
                        format!(
                            "`{}`: cannot read on (the lines before were searched)",
                            path.display()
                        ),
                        e,
                    )));
                }
                Ok(Some(Err(Skipped::TooLong { line_no, bytes }))) => {
                    return Some(Err(malformed(
                        &path,
                        line_no,
                        format!(
                            "a line of {bytes} bytes, longer than the limit of {}; skipped",
                            ctx.query.max_line
                        ),
                    )));
                }
                Ok(Some(Ok(c))) => {
                    if !ctx.wanted(c.line) {
                        continue;
                    }
                    if let Some(out) = on_line(ctx, &path, c) {
                        return Some(out);
                    }
                }
            }
        }
    }

    /// The next match of this stream.
    fn next_step(&mut self, ctx: &mut Ctx) -> Step {
        let out = self.step(ctx, |ctx, path, c| {
            let parsed = match Parsed::new(path, &c) {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            };
            if !ctx.selects(c.line, parsed.top_level()) {
                return None;
            }
            // Checking a signature needs the whole record; showing one
            // parses it when it is shown.
            let (signature, record) = match &mut ctx.checker {
                Some(checker) => {
                    let record = match parsed.into_value(path, &c) {
                        Ok(v) => v,
                        Err(e) => return Some(Err(e)),
                    };
                    (checker.check(c.line, c.prev, &record), Some(record))
                }
                None => (Signature::NotChecked, parsed.value()),
            };
            Some(Ok(Match::new(
                String::from_utf8_lossy(c.line).into_owned(),
                record,
                path,
                c.line_no,
                signature,
            )))
        });
        match out {
            None => Step::Done,
            Some(Ok(m)) => Step::Found(m),
            Some(Err(e)) => Step::Problem(e),
        }
    }
}

/// A candidate line parsed as far as its top level, or whole where that
/// is not enough (a key written with escapes).
enum Parsed<'a> {
    Raw(RawRecord<'a>),
    Whole(Value),
}

impl<'a> Parsed<'a> {
    fn new(path: &Path, c: &Candidate<'a>) -> Result<Parsed<'a>, Error> {
        match RawRecord::parse(c.line) {
            Ok(raw) => Ok(Parsed::Raw(raw)),
            // Parsed whole: it may still be a record, and when it is not,
            // this says why.
            Err(_) => parse(path, c).map(Parsed::Whole),
        }
    }

    fn top_level(&self) -> &dyn TopLevel {
        match self {
            Parsed::Raw(raw) => raw,
            Parsed::Whole(v) => v,
        }
    }

    /// The whole record, when it was parsed whole already.
    fn value(self) -> Option<Value> {
        match self {
            Parsed::Raw(_) => None,
            Parsed::Whole(v) => Some(v),
        }
    }

    fn into_value(self, path: &Path, c: &Candidate<'_>) -> Result<Value, Error> {
        match self {
            Parsed::Raw(_) => parse(path, c),
            Parsed::Whole(v) => Ok(v),
        }
    }
}

/// Whether the line is a JSON object, without building it.
fn check_record(path: &Path, c: &Candidate<'_>) -> Result<(), Error> {
    if c.line.trim_ascii_start().first() != Some(&b'{') {
        return Err(malformed(
            path,
            c.line_no,
            "not a record (not a JSON object)",
        ));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(c.line)
        .map(drop)
        .map_err(|e| malformed(path, c.line_no, format_args!("not a record ({e})")))
}

fn parse(path: &Path, c: &Candidate<'_>) -> Result<Value, Error> {
    parse_record(path, c.line_no, c.line)
}

/// Line `line_no` of `path` as a record, or the error that says why it is
/// not one.
pub(super) fn parse_record(path: &Path, line_no: u64, line: &[u8]) -> Result<Value, Error> {
    match serde_json::from_slice::<Value>(line) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(malformed(path, line_no, "not a record (not a JSON object)")),
        Err(e) => Err(malformed(path, line_no, format_args!("not a record ({e})"))),
    }
}

/// The matches of a search, in time order; see [`Query::run`].
pub struct Matches {
    ctx: Ctx,
    streams: Vec<StreamScan>,
    /// The next match of each stream, by `ts` then stream.
    heap: BinaryHeap<Reverse<(String, usize)>>,
    heads: Vec<Option<Match>>,
    problems: VecDeque<Error>,
    started: bool,
    yielded: usize,
    /// With `reverse`, everything, newest first, once gathered.
    reversed: Option<Vec<Match>>,
}

impl std::fmt::Debug for Matches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matches")
            .field("streams", &self.streams.len())
            .field("yielded", &self.yielded)
            .finish_non_exhaustive()
    }
}

impl Matches {
    pub(super) fn new(query: Query, streams: Vec<StreamFiles>) -> Matches {
        let scans: Vec<StreamScan> = streams
            .iter()
            .map(|s| StreamScan::new(s.overlapping(&query.range)))
            .collect();
        let n = scans.len();
        let progress = progress_of(&query, scans.iter().flat_map(|s| &s.files));
        Matches {
            ctx: Ctx::new(query, progress),
            streams: scans,
            heap: BinaryHeap::new(),
            heads: (0..n).map(|_| None).collect(),
            problems: VecDeque::new(),
            started: false,
            yielded: 0,
            reversed: None,
        }
    }

    /// Pulls stream `i`'s next match into the heap, queueing problems.
    fn pull(&mut self, i: usize) {
        loop {
            match self.streams[i].next_step(&mut self.ctx) {
                Step::Found(m) => {
                    self.heap.push(Reverse((m.ts().to_owned(), i)));
                    self.heads[i] = Some(m);
                    return;
                }
                Step::Problem(e) => self.problems.push_back(e),
                Step::Done => return,
            }
        }
    }

    /// The next match in time order, oldest first.
    fn next_forward(&mut self) -> Option<Match> {
        if !self.started {
            self.started = true;
            for i in 0..self.streams.len() {
                self.pull(i);
            }
        }
        let Reverse((_, i)) = self.heap.pop()?;
        let m = self.heads[i].take();
        self.pull(i);
        m
    }
}

impl Iterator for Matches {
    type Item = Result<Match, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let limit = self.ctx.query.limit;
        if self.ctx.query.reverse && self.reversed.is_none() {
            // Keep the newest `limit` (or all) and hand them out backwards.
            let mut kept: VecDeque<Match> = VecDeque::new();
            while let Some(m) = self.next_forward() {
                if limit.is_some_and(|n| kept.len() == n) {
                    kept.pop_front();
                }
                if limit != Some(0) {
                    kept.push_back(m);
                }
            }
            self.reversed = Some(kept.into_iter().collect());
        }
        if let Some(e) = self.problems.pop_front() {
            return Some(Err(e));
        }
        if let Some(kept) = &mut self.reversed {
            return kept.pop().map(Ok);
        }
        if limit.is_some_and(|n| self.yielded >= n) {
            return None;
        }
        let m = self.next_forward()?;
        self.yielded += 1;
        Some(Ok(m))
    }
}

/// Counts what `query` selects in `streams`, one stream per thread up to
/// the machine's cores.
pub(super) fn count(query: &Query, streams: Vec<StreamFiles>) -> (u64, Vec<Error>) {
    let streams: Vec<Vec<LogFile>> = streams
        .iter()
        .map(|s| s.overlapping(&query.range))
        .collect();
    let progress = progress_of(query, streams.iter().flatten());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(streams.len().max(1));
    let work = std::sync::Mutex::new(streams.into_iter().collect::<VecDeque<_>>());
    let (total, problems) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut ctx = Ctx::new(
                        Query {
                            keys: None,
                            ..query.clone()
                        },
                        progress.clone(),
                    );
                    let mut n = 0u64;
                    let mut problems = Vec::new();
                    loop {
                        let next = work
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .pop_front();
                        let Some(files) = next else { break };
                        let mut scan = StreamScan::new(files);
                        loop {
                            let step = scan.step(&mut ctx, |ctx, path, c| {
                                if ctx.query.filter.is_empty()
                                    && (!ctx.bounded() || raw_ts(c.line).is_some())
                                {
                                    // Nothing to select on but the range, already
                                    // checked: the line needs only to be a record.
                                    return Some(check_record(path, &c));
                                }
                                match Parsed::new(path, &c) {
                                    Ok(p) => ctx.selects(c.line, p.top_level()).then_some(Ok(())),
                                    Err(e) => Some(Err(e)),
                                }
                            });
                            match step {
                                None => break,
                                Some(Ok(())) => n += 1,
                                Some(Err(e)) => problems.push(e),
                            }
                        }
                    }
                    (n, problems)
                })
            })
            .collect();
        let mut total = 0;
        let mut problems = Vec::new();
        for h in handles {
            let (n, p) = h
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            total += n;
            problems.extend(p);
        }
        (total, problems)
    });
    (total, problems)
}

/// The progress of reading `files`, when the query asks for it.
fn progress_of<'a>(
    query: &Query,
    files: impl Iterator<Item = &'a LogFile>,
) -> Option<Arc<Progress>> {
    let report = query.progress.clone()?;
    let total = files
        .filter_map(|f| std::fs::metadata(&f.path).ok())
        .map(|m| m.len())
        .sum();
    Some(Progress::new(total, report))
}
