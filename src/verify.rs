//! Verifying signed logs: every record's signature, the chain between
//! them, and the segments they are stored in.
//!
//! A [`Verifier`] reads files (plain or gzip, multi-member included) or
//! whole directories, groups the records by stream, orders each stream's
//! files by the `seq` of their records, and checks the chain as
//! [`signing`](crate::signing) specifies. It streams: memory stays
//! constant per stream, whatever the size of the log.
//!
//! Problems are **findings** in the [`Report`], never errors: every one is
//! reported (not just the first) with its file, line, byte offset and
//! `seq`. The verifier re-synchronises on the stored signatures, so one
//! edited record yields one finding and the records after it still verify.
//!
//! | finding | meaning | tamper evidence |
//! |---|---|---|
//! | `modified` | the record's bytes or signature are not what was signed | yes |
//! | `deleted` | records are missing from the chain (a range of `seq`) | yes |
//! | `inserted` | a line that does not belong: forged, signed with another key, or from another stream | yes |
//! | `reordered` | a genuine record out of its place | yes |
//! | `duplicated` | a genuine record that appears again | yes |
//! | `truncated_tail` | records cut off the end of a segment, or of the stream (proved against an anchor) | yes |
//! | `missing_segment` | a whole segment (file) is gone | yes |
//! | `duplicate_segment` | the same segment is present twice | yes |
//! | `swapped_segment` | files were renamed: their names sort otherwise than their records | yes |
//! | `anchor_mismatch` | the record at an anchor's `seq` is not the anchored one | yes |
//! | `malformed` | a line that is not a signed record (garbage, cut, not JSON) | yes |
//! | `unreadable` | a file that cannot be read to the end (for example a truncated gzip file) | yes |
//! | `unknown_key` | records signed with a key id the verifier does not have: unverifiable, not tampered | no |
//! | `crash_recovered` | the writer stopped without closing a segment, and the next segment declares it | no |
//! | `incomplete_line` | the last file ends in the middle of a line (the writer is still writing, or stopped) | no |
//! | `time_backwards` | `ts` goes back by more than a second | no |
//! | `missing_seal` | more records or time between seals than the segment's declared policy | no |

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::Error;
use crate::key::{GENESIS, Keyring, SIG_LEN, Sig, StreamMac, is_sig_char};
pub use crate::logdir::DEFAULT_MAX_LINE_BYTES;
use crate::logdir::{
    Lines, RawLine, active_stream, collect_files, is_active_name, is_gzip_twin, open,
    parse_rolled_name, rolled_stream,
};
use crate::sign::{Seal, split_signed};

/// How many recent records per stream are remembered to classify
/// duplicates and reorderings.
const WINDOW: usize = 4096;
/// Gaps larger than this are reported at once instead of waiting for the
/// missing records to turn up later.
const MAX_OPEN_GAP: u64 = 100_000;

/// What a finding is about; see the [module docs](self) for the meaning of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FindingKind {
    /// The record's bytes or signature are not what was signed.
    Modified,
    /// Records are missing from the chain.
    Deleted,
    /// A line that does not belong in the stream.
    Inserted,
    /// A genuine record out of its place.
    Reordered,
    /// A genuine record that appears again.
    Duplicated,
    /// Records cut off the end of a segment or stream.
    TruncatedTail,
    /// A whole segment is gone.
    MissingSegment,
    /// The same segment is present twice.
    DuplicateSegment,
    /// Files whose names sort otherwise than their records.
    SwappedSegment,
    /// The record at an anchor's `seq` is not the anchored one.
    AnchorMismatch,
    /// A line that is not a signed record.
    Malformed,
    /// A file that cannot be read to the end.
    Unreadable,
    /// Records signed with a key the verifier does not have.
    UnknownKey,
    /// A segment left open by a crash, declared by the next one.
    CrashRecovered,
    /// The last file ends in the middle of a line.
    IncompleteLine,
    /// `ts` goes back by more than a second.
    TimeBackwards,
    /// Seals missing according to the declared policy.
    MissingSeal,
}

impl FindingKind {
    /// Whether this finding is evidence of tampering (or damage), as
    /// opposed to a fact worth knowing.
    pub fn is_tamper_evidence(self) -> bool {
        !matches!(
            self,
            FindingKind::UnknownKey
                | FindingKind::CrashRecovered
                | FindingKind::IncompleteLine
                | FindingKind::TimeBackwards
                | FindingKind::MissingSeal
        )
    }

    /// The finding's name in reports: `modified`, `deleted`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Modified => "modified",
            FindingKind::Deleted => "deleted",
            FindingKind::Inserted => "inserted",
            FindingKind::Reordered => "reordered",
            FindingKind::Duplicated => "duplicated",
            FindingKind::TruncatedTail => "truncated_tail",
            FindingKind::MissingSegment => "missing_segment",
            FindingKind::DuplicateSegment => "duplicate_segment",
            FindingKind::SwappedSegment => "swapped_segment",
            FindingKind::AnchorMismatch => "anchor_mismatch",
            FindingKind::Malformed => "malformed",
            FindingKind::Unreadable => "unreadable",
            FindingKind::UnknownKey => "unknown_key",
            FindingKind::CrashRecovered => "crash_recovered",
            FindingKind::IncompleteLine => "incomplete_line",
            FindingKind::TimeBackwards => "time_backwards",
            FindingKind::MissingSeal => "missing_seal",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the input something was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// The line, from 1 (0 for a whole file).
    pub line: u64,
    /// The byte offset of the line's start (in the decompressed data for a
    /// gzip file).
    pub offset: u64,
}

/// One problem or notable fact found in a log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// What was found.
    pub kind: FindingKind,
    /// The stream, when known.
    pub stream: Option<String>,
    /// Where.
    pub location: Location,
    /// The `seq` concerned (the first one, for a range), when known.
    pub seq: Option<u64>,
    /// A sentence saying what exactly.
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}:{}",
            self.kind,
            self.location.file.display(),
            self.location.line
        )?;
        if let Some(s) = &self.stream {
            write!(f, " [{s}")?;
            if let Some(q) = self.seq {
                write!(f, " seq {q}")?;
            }
            f.write_str("]")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// What was verified in one stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamReport {
    /// The stream's name.
    pub stream: String,
    /// Files read.
    pub files: usize,
    /// Lines that were records of this stream.
    pub records: u64,
    /// Records whose signature and chain link verified.
    pub verified: u64,
    /// Records that could not be verified (unknown key, or a link to a
    /// damaged record).
    pub unverifiable: u64,
    /// The first and last `seq` seen.
    pub first_seq: Option<u64>,
    /// See `first_seq`.
    pub last_seq: Option<u64>,
    /// The first and last `ts` seen.
    pub first_ts: Option<String>,
    /// See `first_ts`.
    pub last_ts: Option<String>,
    /// The `seq` before the first record supplied, when the earliest
    /// segment given is not the stream's first (older files were removed
    /// or not passed in): 0 when the stream starts at its beginning.
    pub starts_after: u64,
}

/// The result of a verification: per-stream summaries and every finding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// One summary per stream, by name.
    pub streams: Vec<StreamReport>,
    /// Every finding, per stream in `seq` order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether no finding is evidence of tampering.
    pub fn is_clean(&self) -> bool {
        !self.findings.iter().any(|f| f.kind.is_tamper_evidence())
    }

    /// Records that could not be verified (their key was not given, or they
    /// link to a damaged record), over all streams.
    pub fn unverified(&self) -> u64 {
        self.streams.iter().map(|s| s.unverifiable).sum()
    }

    /// The findings of one kind.
    pub fn of_kind(&self, kind: FindingKind) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.kind == kind)
    }

    /// The report as a JSON document (the `--json` output of
    /// `evtrail verify`).
    pub fn to_json(&self) -> String {
        let streams: Vec<Value> = self
            .streams
            .iter()
            .map(|s| {
                serde_json::json!({
                    "stream": s.stream,
                    "files": s.files,
                    "records": s.records,
                    "verified": s.verified,
                    "unverifiable": s.unverifiable,
                    "first_seq": s.first_seq,
                    "last_seq": s.last_seq,
                    "first_ts": s.first_ts,
                    "last_ts": s.last_ts,
                    "starts_after": s.starts_after,
                })
            })
            .collect();
        let findings: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                serde_json::json!({
                    "kind": f.kind.as_str(),
                    "tamper": f.kind.is_tamper_evidence(),
                    "stream": f.stream,
                    "file": f.location.file.display().to_string(),
                    "line": f.location.line,
                    "offset": f.location.offset,
                    "seq": f.seq,
                    "detail": f.detail,
                })
            })
            .collect();
        serde_json::json!({
            "clean": self.is_clean(),
            "unverified": self.unverified(),
            "streams": streams,
            "findings": findings,
        })
        .to_string()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.streams {
            write!(
                f,
                "{}: {} records, {} verified",
                s.stream, s.records, s.verified
            )?;
            if s.unverifiable > 0 {
                write!(f, ", {} unverifiable", s.unverifiable)?;
            }
            if let (Some(a), Some(b)) = (s.first_seq, s.last_seq) {
                write!(f, ", seq {a}..={b}")?;
            }
            if let (Some(a), Some(b)) = (&s.first_ts, &s.last_ts) {
                write!(f, ", {a} .. {b}")?;
            }
            write!(
                f,
                ", {} file{}",
                s.files,
                if s.files == 1 { "" } else { "s" }
            )?;
            if s.starts_after > 0 {
                write!(
                    f,
                    " (starts after seq {}: earlier files not given)",
                    s.starts_after
                )?;
            }
            writeln!(f)?;
        }
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        let tamper = self
            .findings
            .iter()
            .filter(|x| x.kind.is_tamper_evidence())
            .count();
        let unverified = self.unverified();
        if tamper == 0 && unverified == 0 {
            write!(f, "OK: no evidence of tampering")
        } else if tamper == 0 {
            write!(
                f,
                "UNVERIFIED: no evidence of tampering, but {unverified} record{} could not be verified",
                if unverified == 1 { "" } else { "s" }
            )
        } else {
            write!(
                f,
                "FAILED: {tamper} finding{} of tampering or damage",
                if tamper == 1 { "" } else { "s" }
            )
        }
    }
}

/// Checks signed logs; see the [module docs](self).
///
/// # Examples
///
/// ```
/// use evtrail::verify::Verifier;
/// use tracing_subscriber::prelude::*;
///
/// let dir = tempfile::tempdir().unwrap();
/// let key = evtrail::Key::generate()?;
/// let (layer, guard) = evtrail::builder().service("demo").key(key.clone()).log_dir(dir.path()).build()?;
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     tracing::info!(user = "u1", "signed in");
/// });
/// let anchor = { guard.flush(std::time::Duration::from_secs(5))?; guard.seals() };
/// drop(guard);
///
/// let mut verifier = Verifier::new(evtrail::Keyring::new().with(key));
/// for seal in anchor {
///     verifier = verifier.anchor(seal);
/// }
/// let report = verifier.verify_paths(&[dir.path()])?;
/// assert!(report.is_clean(), "{report}");
/// assert_eq!(report.streams[0].records, 3); // segment start, the event, segment end
/// # Ok::<(), evtrail::Error>(())
/// ```
pub struct Verifier {
    keys: Keyring,
    anchors: Vec<Seal>,
    max_line: usize,
    progress: Option<Box<dyn FnMut(u64, u64)>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys)
            .field("anchors", &self.anchors)
            .field("max_line", &self.max_line)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier with these keys.
    pub fn new(keys: Keyring) -> Verifier {
        Verifier {
            keys,
            anchors: Vec::new(),
            max_line: DEFAULT_MAX_LINE_BYTES,
            progress: None,
        }
    }

    /// Adds an anchor: a seal exported earlier (see
    /// [`Handle::seals`](crate::Handle::seals)). The stream must reach the
    /// anchor's `seq` with the anchor's signature, which is what proves
    /// that its end was not cut off.
    pub fn anchor(mut self, seal: Seal) -> Verifier {
        self.anchors.push(seal);
        self
    }

    /// Longest line read. Default [`DEFAULT_MAX_LINE_BYTES`].
    pub fn max_line_len(mut self, bytes: usize) -> Verifier {
        self.max_line = bytes.max(128);
        self
    }

    /// Calls `progress(bytes_done, bytes_total)` as files are read (sizes
    /// on disk).
    pub fn on_progress(mut self, progress: impl FnMut(u64, u64) + 'static) -> Verifier {
        self.progress = Some(Box::new(progress));
        self
    }

    /// Verifies files and directories (every `*.log` and `*.log.gz` file
    /// directly in a directory).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when a path does not exist or a directory cannot
    /// be listed. Everything found inside files is a finding, not an error.
    pub fn verify_paths<P: AsRef<Path>>(&mut self, paths: &[P]) -> Result<Report, Error> {
        let files = collect_files(paths)?;
        let total: u64 = files
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        let mut report = Report::default();
        let mut by_stream: BTreeMap<String, Vec<FileInfo>> = BTreeMap::new();
        for path in files {
            match FileInfo::probe(&path, self.max_line) {
                Ok(Some(info)) => by_stream.entry(info.stream.clone()).or_default().push(info),
                Ok(None) => report.findings.push(Finding {
                    kind: FindingKind::Malformed,
                    stream: None,
                    location: Location {
                        file: path,
                        line: 0,
                        offset: 0,
                    },
                    seq: None,
                    detail: "the file holds no signed record".into(),
                }),
                Err(e) => report.findings.push(Finding {
                    kind: FindingKind::Unreadable,
                    stream: None,
                    location: Location {
                        file: path,
                        line: 0,
                        offset: 0,
                    },
                    seq: None,
                    detail: format!("cannot read the file: {e}"),
                }),
            }
        }
        let mut done = 0u64;
        for (stream, mut files) in by_stream {
            files.sort_by(|a, b| (a.first_seq, &a.path).cmp(&(b.first_seq, &b.path)));
            let anchors: Vec<Seal> = self
                .anchors
                .iter()
                .filter(|a| a.stream == stream)
                .cloned()
                .collect();
            let mut check = StreamCheck::new(&stream, &self.keys, anchors);
            check.report.files = files.len();
            check.check_names(&files);
            let mut prev_first: Option<(u64, Sig, &Path)> = None;
            for info in &files {
                if let (Some((seq, sig, prev_path)), Some(first_sig)) = (prev_first, info.first_sig)
                    && seq == info.first_seq
                    && sig == first_sig
                {
                    if is_gzip_twin(prev_path, &info.path) {
                        // `X.log` beside its `X.log.gz`: a compression caught
                        // between its rename and its delete, not a copy.
                        continue;
                    }
                    check.finding(
                        FindingKind::DuplicateSegment,
                        Location {
                            file: info.path.clone(),
                            line: 1,
                            offset: 0,
                        },
                        Some(seq),
                        "this file repeats the segment of the file before it".into(),
                    );
                    continue;
                }
                prev_first = info
                    .first_sig
                    .map(|s| (info.first_seq, s, info.path.as_path()));
                let size = std::fs::metadata(&info.path).map_or(0, |m| m.len());
                let progress = &mut self.progress;
                // For gzip the offset is in decompressed bytes: cap it at the
                // file's size so the total is never overshot.
                check.read_file(info, self.max_line, &mut |offset| {
                    if let Some(p) = progress {
                        p(done + offset.min(size), total);
                    }
                });
                done += size;
                if let Some(p) = &mut self.progress {
                    p(done, total);
                }
            }
            check.finish();
            report.streams.push(check.report);
            report.findings.extend(check.findings);
        }
        Ok(report)
    }
}

/// The parts of a record the verifier looks at; the rest of the line is
/// skipped without being built.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    stream: Cow<'a, str>,
    seq: u64,
    #[serde(borrow, default)]
    ts: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    fields: Option<&'a RawValue>,
}

/// evtrail's own chain records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MarkerKind {
    SegmentStart,
    SegmentEnd,
    Seal,
    KeyRotated,
}

/// A segment header's fields.
#[derive(Clone, Debug, Default)]
struct Header {
    segment: u64,
    prev_segment: u64,
    prev_seq: u64,
    prev_sig: Option<Sig>,
    prev_end: String,
    torn_bytes: u64,
    seal_records: u64,
    seal_ms: u64,
}

/// A line that has the signed form and a readable head.
#[derive(Clone)]
struct Rec {
    seq: u64,
    sig: Sig,
    /// The signed body (the line without its signature suffix).
    body: Vec<u8>,
    stream: String,
    kid: String,
    ts: Option<String>,
    marker: Option<MarkerKind>,
    header: Option<Header>,
    /// The key a `key_rotated` record announces.
    new_kid: Option<String>,
    loc: Location,
}

enum Parsed {
    Rec(Box<Rec>),
    /// Not a record; the signature, when the suffix was intact.
    Bad {
        why: String,
        sig: Option<Sig>,
        loc: Location,
    },
}

fn to_sig(s: &[u8]) -> Sig {
    let mut a = [0u8; SIG_LEN];
    a.copy_from_slice(s);
    a
}

fn parse_line(raw: &RawLine<'_>, file: &Path) -> Parsed {
    let loc = Location {
        file: file.to_path_buf(),
        line: raw.line,
        offset: raw.offset,
    };
    if raw.too_long {
        return Parsed::Bad {
            why: "the line is longer than the verifier's limit".into(),
            sig: None,
            loc,
        };
    }
    let Some((body, sig)) = split_signed(raw.bytes) else {
        let why = if raw.bytes.is_empty() {
            "an empty line"
        } else {
            "the line does not end with a signature"
        };
        return Parsed::Bad {
            why: why.into(),
            sig: None,
            loc,
        };
    };
    let sig = to_sig(sig);
    let head: Head<'_> = match serde_json::from_slice(raw.bytes) {
        Ok(h) => h,
        Err(_) => {
            return Parsed::Bad {
                why: "the line is not a JSON record".into(),
                sig: Some(sig),
                loc,
            };
        }
    };
    let Some(kid) = head.kid else {
        return Parsed::Bad {
            why: "the record has no key id".into(),
            sig: Some(sig),
            loc,
        };
    };
    let marker = match head.event.map(RawValue::get) {
        Some("\"evtrail.segment_start\"") => Some(MarkerKind::SegmentStart),
        Some("\"evtrail.segment_end\"") => Some(MarkerKind::SegmentEnd),
        Some("\"evtrail.seal\"") => Some(MarkerKind::Seal),
        Some("\"evtrail.key_rotated\"") => Some(MarkerKind::KeyRotated),
        _ => None,
    };
    let header = (marker == Some(MarkerKind::SegmentStart))
        .then(|| {
            head.fields
                .and_then(|f| serde_json::from_str::<Value>(f.get()).ok())
        })
        .flatten()
        .map(|f| Header {
            segment: f["segment"].as_u64().unwrap_or(0),
            prev_segment: f["prev_segment"].as_u64().unwrap_or(0),
            prev_seq: f["prev_seq"].as_u64().unwrap_or(0),
            prev_sig: f["prev_sig"]
                .as_str()
                .filter(|s| s.len() == SIG_LEN && s.bytes().all(is_sig_char))
                .map(|s| to_sig(s.as_bytes())),
            prev_end: f["prev_end"].as_str().unwrap_or("").to_owned(),
            torn_bytes: f["torn_bytes"].as_u64().unwrap_or(0),
            seal_records: f["seal_records"].as_u64().unwrap_or(0),
            seal_ms: f["seal_ms"].as_u64().unwrap_or(0),
        });
    let new_kid = (marker == Some(MarkerKind::KeyRotated))
        .then(|| {
            head.fields
                .and_then(|f| serde_json::from_str::<Value>(f.get()).ok())
        })
        .flatten()
        .and_then(|f| f["new_kid"].as_str().map(str::to_owned));
    Parsed::Rec(Box::new(Rec {
        seq: head.seq,
        sig,
        body: body.to_vec(),
        stream: head.stream.into_owned(),
        kid: kid.into_owned(),
        ts: head.ts.map(Cow::into_owned),
        marker,
        header,
        new_kid,
        loc,
    }))
}

/// What a first look at a file found.
pub(crate) struct FileInfo {
    pub(crate) path: PathBuf,
    pub(crate) stream: String,
    pub(crate) first_seq: u64,
    first_sig: Option<Sig>,
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
        }))
    }
}

/// A recent record's signature as a link for the next one.
#[derive(Clone, Debug)]
enum Link {
    /// The candidate signatures (the stored one, and the one the record's
    /// body should have had, when it was damaged).
    Known(Vec<Sig>),
    /// A damaged record whose signature is lost: the next link cannot be
    /// checked.
    Unknown,
}

/// A line that failed, waiting for the next line to say what it was.
enum Suspect {
    Rec {
        rec: Box<Rec>,
        computed: Option<Sig>,
    },
    Bad {
        why: String,
        sig: Option<Sig>,
        loc: Location,
    },
}

/// A record taken in without verification (its key is not given).
struct Unverified {
    seq: u64,
    kid: String,
    loc: Location,
    /// A new key id announced since the last verified record.
    announced: Option<String>,
}

/// The chain check of one stream.
struct StreamCheck {
    stream: String,
    macs: Vec<(String, StreamMac)>,
    window: BTreeMap<u64, Link>,
    /// The next `seq` the chain expects.
    expected: u64,
    started: bool,
    /// Missing `seq`s, with where the gap was noticed.
    missing: BTreeMap<u64, Location>,
    /// Records taken in after a gap, whose link waits for the record
    /// before them.
    unlinked: BTreeMap<u64, Rec>,
    suspect: Option<Suspect>,
    /// Index into `findings` of the `modified` finding of each `seq`, so a
    /// genuine copy arriving later turns it into `inserted`.
    modified_at: BTreeMap<u64, usize>,
    anchors: Vec<Seal>,
    last_ts: Option<(i64, String)>,
    /// The current segment's policy and counters.
    seal_records: u64,
    seal_ms: u64,
    since_seal: u64,
    last_mark_ts: Option<i64>,
    segment: u64,
    /// The current file's incomplete last line, until the next segment
    /// says whether a crash explains it.
    torn: Option<(Location, u64)>,
    unknown_run: Option<(usize, u64)>,
    /// The key id the next record must carry: the last verified record's,
    /// or the one a verified `key_rotated` record announced.
    chain_kid: Option<String>,
    /// The record just before, when it could not be verified.
    last_unverified: Option<Unverified>,
    report: StreamReport,
    findings: Vec<Finding>,
}

impl StreamCheck {
    fn new(stream: &str, keys: &Keyring, anchors: Vec<Seal>) -> StreamCheck {
        let macs = keys
            .ids()
            .filter_map(|id| {
                keys.get(id)
                    .map(|k| (id.to_owned(), StreamMac::new(k, stream)))
            })
            .collect();
        StreamCheck {
            stream: stream.to_owned(),
            macs,
            window: BTreeMap::new(),
            expected: 1,
            started: false,
            missing: BTreeMap::new(),
            unlinked: BTreeMap::new(),
            suspect: None,
            modified_at: BTreeMap::new(),
            anchors,
            last_ts: None,
            seal_records: 0,
            seal_ms: 0,
            since_seal: 0,
            last_mark_ts: None,
            segment: 0,
            torn: None,
            unknown_run: None,
            chain_kid: None,
            last_unverified: None,
            report: StreamReport {
                stream: stream.to_owned(),
                ..StreamReport::default()
            },
            findings: Vec::new(),
        }
    }

    fn finding(
        &mut self,
        kind: FindingKind,
        location: Location,
        seq: Option<u64>,
        detail: String,
    ) -> usize {
        self.findings.push(Finding {
            kind,
            stream: Some(self.stream.clone()),
            location,
            seq,
            detail,
        });
        self.findings.len() - 1
    }

    fn mac(&self, kid: &str) -> Option<&StreamMac> {
        self.macs.iter().find(|(id, _)| id == kid).map(|(_, m)| m)
    }

    /// Files whose names sort otherwise than their records were renamed.
    fn check_names(&mut self, files: &[FileInfo]) {
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

    /// How often, in bytes read, a file's progress is reported.
    const PROGRESS_EVERY: u64 = 8 * 1024 * 1024;

    fn read_file(&mut self, info: &FileInfo, max: usize, progress: &mut dyn FnMut(u64)) {
        let mut lines = match open(&info.path) {
            Ok(src) => Lines::new(src, max),
            Err(e) => {
                self.finding(
                    FindingKind::Unreadable,
                    Location {
                        file: info.path.clone(),
                        line: 0,
                        offset: 0,
                    },
                    None,
                    format!("cannot open: {e}"),
                );
                return;
            }
        };
        let mut first = true;
        let mut reported = 0;
        loop {
            if lines.offset() >= reported + Self::PROGRESS_EVERY {
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
                        format!("the file cannot be read to its end: {e}"),
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
            match parse_line(&raw, &info.path) {
                Parsed::Rec(r) => {
                    // The next line decides what a pending suspect was,
                    // also across a file boundary.
                    if self.suspect.is_some() && self.settle(Some(&r)) {
                        first = false;
                        continue;
                    }
                    if r.stream != self.stream {
                        // Another stream's record, or this stream's with its
                        // name damaged: the line after it tells which.
                        self.report.records += 1;
                        self.suspect = Some(Suspect::Rec {
                            rec: r,
                            computed: None,
                        });
                    } else {
                        if first {
                            self.segment_boundary(&r);
                        }
                        self.record(*r);
                    }
                }
                Parsed::Bad { why, sig, loc } => {
                    self.settle(None);
                    self.suspect = Some(Suspect::Bad { why, sig, loc });
                }
            }
            first = false;
        }
    }

    /// Checks how a file's first record joins the stream so far.
    fn segment_boundary(&mut self, r: &Rec) {
        let Some(h) = &r.header else { return };
        let torn = self.torn.take();
        if !self.started {
            // The earliest segment given: it starts where its header says.
            self.report.starts_after = h.prev_seq;
            if let Some(sig) = h.prev_sig {
                self.window.insert(h.prev_seq, Link::Known(vec![sig]));
            }
            self.expected = h.prev_seq.saturating_add(1);
            return;
        }
        let last_seq = self.expected.saturating_sub(1);
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
                (Some(m), Some(prev)) => m.verify(&prev, &r.body, &r.sig),
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
                self.window
                    .insert(h.prev_seq, Link::Known(vec![h.prev_sig.unwrap_or(GENESIS)]));
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
    }

    /// Whether `r` verifies against the record before it in the chain.
    fn link(&self, r: &Rec) -> LinkResult {
        // Keys change only through an announced rotation: any other change of
        // `kid` is an edit, whether or not the new id is a key we hold.
        // (A new segment may start with another key: a restart with a new
        // key. Its link is still checked.)
        if self.chain_kid.as_ref().is_some_and(|k| *k != r.kid)
            && r.marker != Some(MarkerKind::SegmentStart)
        {
            return LinkResult::Fail;
        }
        let Some(mac) = self.mac(&r.kid) else {
            return LinkResult::UnknownKey;
        };
        match self.window.get(&r.seq.wrapping_sub(1)) {
            Some(Link::Known(cands)) => {
                if cands.iter().any(|p| mac.verify(p, &r.body, &r.sig)) {
                    LinkResult::Ok
                } else {
                    LinkResult::Fail
                }
            }
            Some(Link::Unknown) => LinkResult::Unlinkable,
            None => LinkResult::Fail,
        }
    }

    /// The signature `r` should have, given the chain so far.
    fn computed(&self, r: &Rec) -> Option<Sig> {
        let mac = self.mac(&r.kid)?;
        let prev = match self.window.get(&self.expected.saturating_sub(1))? {
            Link::Known(c) => *c.first()?,
            Link::Unknown => return None,
        };
        let mut out = [0u8; SIG_LEN];
        mac.sign(&prev, &r.body, &mut out);
        Some(out)
    }

    fn record(&mut self, r: Rec) {
        self.report.records += 1;
        if self.suspect.is_some() && self.settle(Some(&r)) {
            return;
        }
        match self.link(&r) {
            LinkResult::Ok => self.accept(r, true),
            LinkResult::Unlinkable => {
                self.report.unverifiable += 1;
                self.accept(r, false)
            }
            LinkResult::UnknownKey => {
                self.report.unverifiable += 1;
                self.note_unknown_key(&r);
                if r.seq == self.expected || !self.started {
                    self.accept(r, false)
                } else {
                    self.take_at_claimed_seq(r, None);
                }
            }
            LinkResult::Fail if !self.started && r.header.is_none() => {
                // Every segment opens with a signed start record that links
                // it to what came before; a stream whose first record is
                // anything else has lost or damaged that record.
                self.report.unverifiable += 1;
                let detail =
                    "the stream's first record is not a segment start, so it cannot be checked"
                        .into();
                let idx = self.finding(FindingKind::Modified, r.loc.clone(), Some(r.seq), detail);
                self.modified_at.insert(r.seq, idx);
                self.expected = r.seq;
                self.accept(r, false);
            }
            LinkResult::Fail => {
                let computed = self.computed(&r);
                self.suspect = Some(Suspect::Rec {
                    rec: Box::new(r),
                    computed,
                });
            }
        }
    }

    fn note_unknown_key(&mut self, r: &Rec) {
        match &mut self.unknown_run {
            Some((idx, n))
                if self
                    .findings
                    .get(*idx)
                    .is_some_and(|f| f.detail.contains(&format!("`{}`", r.kid))) =>
            {
                *n += 1;
                let (idx, n) = (*idx, *n);
                self.findings[idx].detail = format!(
                    "{n} records signed with key `{}`, which is not given: not verified",
                    r.kid
                );
            }
            _ => {
                let idx = self.finding(
                    FindingKind::UnknownKey,
                    r.loc.clone(),
                    Some(r.seq),
                    format!(
                        "1 records signed with key `{}`, which is not given: not verified",
                        r.kid
                    ),
                );
                self.unknown_run = Some((idx, 1));
            }
        }
    }

    /// Decides what the pending suspect was, now that `next` (or the end of
    /// the stream) is known. Returns whether `next` was taken in as well.
    fn settle(&mut self, next: Option<&Rec>) -> bool {
        let Some(suspect) = self.suspect.take() else {
            return false;
        };
        let slot = self.expected;
        // Does `next` follow on as if the suspect were not there?
        let next_fits = next.is_some_and(|n| n.seq == slot && self.link(n) == LinkResult::Ok);
        match suspect {
            Suspect::Bad { why, sig, loc } => {
                if next_fits {
                    self.finding(
                        FindingKind::Malformed,
                        loc,
                        None,
                        format!("{why}; a line that does not belong"),
                    );
                    return false;
                }
                // It took the place of record `slot`.
                self.merge_or_add_malformed(loc, slot, &why);
                self.window
                    .insert(slot, sig.map_or(Link::Unknown, |s| Link::Known(vec![s])));
                self.expected = slot.saturating_add(1);
                self.trim();
                false
            }
            Suspect::Rec { rec, computed } => {
                if next_fits {
                    let next = next.cloned();
                    let detail = if rec.stream == self.stream {
                        "a record that does not belong in the chain (forged, or signed with another key)".to_owned()
                    } else {
                        format!(
                            "a record of stream `{}` inside stream `{}`",
                            rec.stream, self.stream
                        )
                    };
                    let idx = self.finding(
                        FindingKind::Inserted,
                        rec.loc.clone(),
                        Some(rec.seq),
                        detail,
                    );
                    if let Some(n) = next {
                        self.accept(n, true);
                        // Two neighbours swapped: the suspect follows on now.
                        if rec.seq == slot.saturating_add(1) && self.link(&rec) == LinkResult::Ok {
                            self.findings[idx].kind = FindingKind::Reordered;
                            self.findings[idx].detail =
                                format!("record {} comes before record {slot}", rec.seq);
                            self.accept(*rec, true);
                        }
                    }
                    return true;
                }
                let mut cands = vec![rec.sig];
                cands.extend(computed);
                let occupies_slot = next.is_some_and(|n| {
                    n.seq == slot.saturating_add(1)
                        && self
                            .mac(&n.kid)
                            .is_some_and(|m| cands.iter().any(|p| m.verify(p, &n.body, &n.sig)))
                });
                if occupies_slot || rec.seq == slot {
                    let detail = if rec.seq == slot {
                        "the record is not what was signed".to_owned()
                    } else {
                        format!(
                            "the record in the place of seq {slot} is not what was signed (it claims seq {})",
                            rec.seq
                        )
                    };
                    let idx =
                        self.finding(FindingKind::Modified, rec.loc.clone(), Some(slot), detail);
                    self.modified_at.insert(slot, idx);
                    self.window.insert(slot, Link::Known(cands));
                    self.expected = slot.saturating_add(1);
                    self.report.last_seq = Some(slot);
                    self.trim();
                    return false;
                }
                self.take_at_claimed_seq(*rec, computed);
                false
            }
        }
    }

    /// A failing record that is neither in the place of a damaged one nor
    /// an extra line: taken at the `seq` it claims.
    fn take_at_claimed_seq(&mut self, rec: Rec, computed: Option<Sig>) {
        if rec.stream != self.stream {
            let detail = format!(
                "a record of stream `{}` inside stream `{}`",
                rec.stream, self.stream
            );
            self.finding(
                FindingKind::Inserted,
                rec.loc.clone(),
                Some(rec.seq),
                detail,
            );
            return;
        }
        let slot = self.expected;
        if rec.seq > slot {
            self.open_gap(slot, rec.seq, &rec.loc);
            let mut cands = vec![rec.sig];
            cands.extend(computed);
            self.window.insert(rec.seq, Link::Known(cands));
            self.expected = rec.seq.saturating_add(1);
            self.note_ts(&rec);
            self.count_marker(&rec);
            self.report.unverifiable += 1;
            self.report.last_seq = Some(rec.seq);
            self.unlinked.insert(rec.seq, rec);
            while self.unlinked.len() > 64 {
                self.unlinked.pop_first();
            }
            self.trim();
        } else {
            let dup =
                matches!(self.window.get(&rec.seq), Some(Link::Known(c)) if c.contains(&rec.sig));
            let (kind, detail) = if dup {
                (
                    FindingKind::Duplicated,
                    format!("record {} appears again", rec.seq),
                )
            } else {
                (
                    FindingKind::Inserted,
                    format!(
                        "a record claiming seq {} that does not belong in the chain",
                        rec.seq
                    ),
                )
            };
            self.finding(kind, rec.loc.clone(), Some(rec.seq), detail);
        }
    }

    /// Records `from..to` are missing so far: remembered while they may
    /// still turn up (reordered), reported at once when the gap is huge.
    fn open_gap(&mut self, from: u64, to: u64, loc: &Location) {
        let gap = to - from;
        if gap > MAX_OPEN_GAP {
            let detail = format!("records {from}..={} ({gap}) are missing", to - 1);
            self.finding(FindingKind::Deleted, loc.clone(), Some(from), detail);
        } else {
            for s in from..to {
                self.missing.insert(s, loc.clone());
            }
        }
    }

    /// Two damaged lines in a row that took one record's place (a line
    /// split in two) make one finding.
    fn merge_or_add_malformed(&mut self, loc: Location, slot: u64, why: &str) {
        if let Some(last) = self.findings.last_mut()
            && last.kind == FindingKind::Malformed
            && last.seq.is_none()
            && last.location.file == loc.file
            && last.location.line + 1 == loc.line
        {
            last.seq = Some(slot);
            last.detail = format!(
                "lines {}..={} are damaged in the place of seq {slot}: {why}",
                last.location.line, loc.line
            );
            return;
        }
        self.finding(FindingKind::Malformed, loc, Some(slot), why.to_owned());
    }

    /// Takes a record into the chain.
    fn accept(&mut self, r: Rec, verified: bool) {
        if r.seq < self.expected && self.started {
            // A genuine record behind the chain's head.
            let seen = self.window.get(&r.seq).cloned();
            match seen {
                Some(Link::Known(c)) if c.contains(&r.sig) => {
                    self.finding(
                        FindingKind::Duplicated,
                        r.loc.clone(),
                        Some(r.seq),
                        format!("record {} appears again", r.seq),
                    );
                }
                _ if self.missing.remove(&r.seq).is_some() => {
                    self.finding(
                        FindingKind::Reordered,
                        r.loc.clone(),
                        Some(r.seq),
                        format!("record {} arrives after later records", r.seq),
                    );
                    self.window.insert(r.seq, Link::Known(vec![r.sig]));
                    self.relink(r.seq.saturating_add(1));
                    if verified {
                        self.report.verified += 1;
                    }
                }
                Some(_) => {
                    // The genuine record of a `seq` whose earlier holder
                    // failed: that one was forged in.
                    if let Some(idx) = self.modified_at.remove(&r.seq) {
                        self.findings[idx].kind = FindingKind::Inserted;
                        self.findings[idx].detail =
                            format!("a forged record in the place of seq {}", r.seq);
                    }
                    self.window.insert(r.seq, Link::Known(vec![r.sig]));
                    if verified {
                        self.report.verified += 1;
                    }
                }
                None => {
                    self.finding(
                        FindingKind::Reordered,
                        r.loc.clone(),
                        Some(r.seq),
                        format!("record {} arrives long after its place", r.seq),
                    );
                }
            }
            return;
        }
        if r.seq > self.expected && self.started {
            self.open_gap(self.expected, r.seq, &r.loc);
        }
        if verified {
            self.report.verified += 1;
        }
        if !self.started {
            self.started = true;
            self.report.first_seq = Some(r.seq);
        }
        self.window.insert(r.seq, Link::Known(vec![r.sig]));
        self.expected = r.seq.saturating_add(1);
        self.report.last_seq = Some(r.seq);
        if verified {
            self.check_unannounced_key(&r);
            // Only a verified record says which key the chain uses.
            self.chain_kid = Some(r.new_kid.clone().unwrap_or_else(|| r.kid.clone()));
            self.last_unverified = None;
        } else {
            let announced = r.new_kid.clone().or_else(|| {
                self.last_unverified
                    .as_ref()
                    .and_then(|u| u.announced.clone())
            });
            self.last_unverified = Some(Unverified {
                seq: r.seq,
                kid: r.kid.clone(),
                loc: r.loc.clone(),
                announced,
            });
        }
        if let Some(h) = &r.header {
            self.segment = h.segment;
            self.seal_records = h.seal_records;
            self.seal_ms = h.seal_ms;
        }
        self.note_ts(&r);
        self.count_marker(&r);
        for i in 0..self.anchors.len() {
            if self.anchors[i].seq == r.seq && self.anchors[i].sig.as_bytes() != r.sig {
                let detail = format!(
                    "the record at seq {} is not the one anchored ({})",
                    r.seq, self.anchors[i].sig
                );
                self.finding(
                    FindingKind::AnchorMismatch,
                    r.loc.clone(),
                    Some(r.seq),
                    detail,
                );
            }
        }
        self.trim();
    }

    /// A genuine record that links to a record with a key id nobody
    /// announced: that id was edited (keys change only through an announced
    /// rotation, or at a segment start).
    fn check_unannounced_key(&mut self, r: &Rec) {
        let Some(u) = self.last_unverified.take() else {
            return;
        };
        if u.seq.checked_add(1) != Some(r.seq)
            || u.kid == r.kid
            || u.announced.as_deref() == Some(r.kid.as_str())
            || r.marker == Some(MarkerKind::SegmentStart)
        {
            return;
        }
        let detail = format!(
            "the record's key id `{}` was changed: the next record, signed with `{}`, links to it and no rotation announced `{}`",
            u.kid, r.kid, u.kid
        );
        // It was counted as signed with an unknown key: it is not.
        match self.unknown_run {
            Some((idx, 1)) if self.findings[idx].seq == Some(u.seq) => {
                self.findings[idx].kind = FindingKind::Modified;
                self.findings[idx].detail = detail;
                self.unknown_run = None;
            }
            _ => {
                self.finding(FindingKind::Modified, u.loc, Some(u.seq), detail);
            }
        }
    }

    /// A record arrived whose absence left `seq` unlinked: check it now.
    fn relink(&mut self, seq: u64) {
        if let Some(rec) = self.unlinked.remove(&seq) {
            if self.link(&rec) == LinkResult::Ok {
                self.report.unverifiable = self.report.unverifiable.saturating_sub(1);
                self.report.verified += 1;
            } else {
                self.finding(
                    FindingKind::Modified,
                    rec.loc.clone(),
                    Some(seq),
                    "the record is not what was signed".into(),
                );
            }
        }
    }

    fn note_ts(&mut self, r: &Rec) {
        let Some(ts) = &r.ts else { return };
        let Some(micros) = parse_ts(ts) else { return };
        if self.report.first_ts.is_none() {
            self.report.first_ts = Some(ts.clone());
        }
        self.report.last_ts = Some(ts.clone());
        if let Some((last, last_s)) = &self.last_ts
            && micros + 1_000_000 < *last
        {
            let detail = format!("ts {ts} is earlier than {last_s}, seen before");
            self.finding(
                FindingKind::TimeBackwards,
                r.loc.clone(),
                Some(r.seq),
                detail,
            );
        }
        if self.last_ts.as_ref().is_none_or(|(l, _)| micros > *l) {
            self.last_ts = Some((micros, ts.clone()));
        }
        // The writer seals at least every `seal_ms`, idle or not.
        if let (Some(last), true) = (self.last_mark_ts, self.seal_ms > 0) {
            // Twice the interval plus 5 s of slack for a busy worker.
            let allowed = (2 * self.seal_ms as i64 + 5_000) * 1_000;
            if micros - last > allowed && r.marker != Some(MarkerKind::SegmentStart) {
                let detail = format!(
                    "{} ms without a record or seal, but the policy is a seal every {} ms",
                    (micros - last) / 1_000,
                    self.seal_ms
                );
                self.finding(FindingKind::MissingSeal, r.loc.clone(), Some(r.seq), detail);
            }
        }
        self.last_mark_ts = Some(micros);
    }

    fn count_marker(&mut self, r: &Rec) {
        match r.marker {
            Some(
                MarkerKind::Seal
                | MarkerKind::SegmentStart
                | MarkerKind::SegmentEnd
                | MarkerKind::KeyRotated,
            ) => {
                self.since_seal = 0;
            }
            None => {
                self.since_seal += 1;
                if self.seal_records > 0 && self.since_seal > self.seal_records {
                    let detail = format!("more than {} records without a seal", self.seal_records);
                    self.finding(FindingKind::MissingSeal, r.loc.clone(), Some(r.seq), detail);
                    self.since_seal = 0;
                }
            }
        }
    }

    /// Keeps the window and the open gaps bounded.
    fn trim(&mut self) {
        while self.window.len() > WINDOW {
            self.window.pop_first();
        }
        let horizon = self.expected.saturating_sub(WINDOW as u64);
        let old: Vec<u64> = self.missing.range(..horizon).map(|(s, _)| *s).collect();
        if !old.is_empty() {
            self.report_missing(old);
        }
        while self.modified_at.len() > WINDOW {
            self.modified_at.pop_first();
        }
    }

    /// Reports missing `seq`s as `deleted`, one finding per run.
    fn report_missing(&mut self, seqs: Vec<u64>) {
        let mut runs: Vec<(u64, u64, Location)> = Vec::new();
        for s in seqs {
            let loc = self.missing.remove(&s).unwrap_or_else(|| Location {
                file: PathBuf::new(),
                line: 0,
                offset: 0,
            });
            match runs.last_mut() {
                Some((_, end, _)) if *end + 1 == s => *end = s,
                _ => runs.push((s, s, loc)),
            }
        }
        for (a, b, loc) in runs {
            let detail = if a == b {
                format!("record {a} is missing")
            } else {
                format!("records {a}..={b} ({}) are missing", b - a + 1)
            };
            self.finding(FindingKind::Deleted, loc, Some(a), detail);
        }
    }

    fn finish(&mut self) {
        self.settle(None);
        let rest: Vec<u64> = self.missing.keys().copied().collect();
        self.report_missing(rest);
        if let Some((loc, n)) = self.torn.take() {
            self.finding(
                FindingKind::IncompleteLine,
                loc,
                self.report.last_seq,
                format!("the last {n} bytes are an unfinished line: the writer is still writing it, or stopped"),
            );
        }
        let last = self.report.last_seq.unwrap_or(0);
        for a in std::mem::take(&mut self.anchors) {
            if a.seq > last {
                let loc = Location {
                    file: PathBuf::new(),
                    line: 0,
                    offset: 0,
                };
                self.finding(
                    FindingKind::TruncatedTail,
                    loc,
                    Some(last.saturating_add(1)),
                    format!(
                        "the stream ends at seq {last}, but an anchor proves seq {} was written",
                        a.seq
                    ),
                );
            }
        }
        self.findings.sort_by_key(|f| f.seq.unwrap_or(0));
    }
}

#[derive(Debug, PartialEq, Eq)]
enum LinkResult {
    Ok,
    Fail,
    /// The previous record is damaged beyond knowing its signature.
    Unlinkable,
    UnknownKey,
}

/// Microseconds since the epoch of an RFC 3339 UTC time as evtrail writes
/// it (`2026-11-22T10:00:00.123456Z`); `None` for anything else.
fn parse_ts(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() != 27
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[26] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let month = time::Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        month,
        u8::try_from(num(8..10)?).ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(14..16)?).ok()?,
        u8::try_from(num(17..19)?).ok()?,
    )
    .ok()?;
    let secs = time::PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp();
    Some(secs * 1_000_000 + num(20..26)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_to_microseconds() {
        assert_eq!(parse_ts("1970-01-01T00:00:01.000002Z"), Some(1_000_002));
        assert_eq!(parse_ts("not a time"), None);
    }

    #[test]
    fn tamper_kinds_and_facts_are_told_apart() {
        assert!(FindingKind::Modified.is_tamper_evidence());
        assert!(FindingKind::Unreadable.is_tamper_evidence());
        assert!(!FindingKind::CrashRecovered.is_tamper_evidence());
        assert!(!FindingKind::UnknownKey.is_tamper_evidence());
        assert_eq!(FindingKind::TruncatedTail.to_string(), "truncated_tail");
    }
}
