//! What a verification found, as data: each finding with its kind and
//! place, the summary of each stream, and the whole report, told as text
//! and as JSON.

use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

/// What a finding is about; see the [module docs](crate::verify) for the meaning of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FindingKind {
    /// The record's bytes or signature are not what was signed.
    Modified,
    /// Records are missing from the chain.
    Deleted,
    /// Records are missing, and a genuine `evtrail.dropped` record
    /// declares exactly them lost.
    ExplainedLoss,
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
    /// A rolled file and its gzip copy (`X.log`, `X.log.gz`) differ.
    TwinMismatch,
    /// A file with nothing in it: a writer that stopped before its first
    /// record.
    EmptyFile,
}

impl FindingKind {
    /// Whether this finding is evidence of tampering (or damage), as
    /// opposed to a fact worth knowing.
    pub fn is_tamper_evidence(self) -> bool {
        !matches!(
            self,
            FindingKind::UnknownKey
                | FindingKind::ExplainedLoss
                | FindingKind::CrashRecovered
                | FindingKind::IncompleteLine
                | FindingKind::TimeBackwards
                | FindingKind::MissingSeal
                | FindingKind::EmptyFile
        )
    }

    /// The finding's name in reports: `modified`, `deleted`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Modified => "modified",
            FindingKind::Deleted => "deleted",
            FindingKind::ExplainedLoss => "explained_loss",
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
            FindingKind::TwinMismatch => "twin_mismatch",
            FindingKind::EmptyFile => "empty_file",
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
    /// Records at the end of the stream that no anchor covers: a cut
    /// there would not be seen (the records after the last anchor reached,
    /// or every record read when no anchor was given).
    pub unanchored: u64,
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
                    "unanchored": s.unanchored,
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
        for s in self.streams.iter().filter(|s| s.unanchored > 0) {
            let last = s.last_seq.unwrap_or(0);
            writeln!(
                f,
                "{}: the last {} record{} (seq {}..={last}) are not anchored: a cut there would not be seen; \
                 anchor with a seal kept elsewhere (`evtrail verify --anchor STREAM:SEQ:SIG` or `--anchors-file`, \
                 from `Handle::seals`)",
                s.stream,
                s.unanchored,
                if s.unanchored == 1 { "" } else { "s" },
                last + 1 - s.unanchored,
            )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tamper_kinds_and_facts_are_told_apart() {
        assert!(FindingKind::Modified.is_tamper_evidence());
        assert!(FindingKind::Unreadable.is_tamper_evidence());
        assert!(!FindingKind::CrashRecovered.is_tamper_evidence());
        assert!(!FindingKind::UnknownKey.is_tamper_evidence());
        assert_eq!(FindingKind::TruncatedTail.to_string(), "truncated_tail");
    }
}
