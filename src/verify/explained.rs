//! Gaps the log explains itself: records missing from a stream whose loss
//! a genuine `evtrail.dropped` record declares.
//!
//! When a sink fails for longer than its retry buffer holds (a full disk),
//! the writer drops the oldest records it could not store and says so in
//! an `evtrail.dropped` record whose `ranges` field names each run of lost
//! records, `stream:first-last` separated by spaces (see `src/format.md`).
//! That record is signed and chained like any other, so only the writer
//! could have written it. A gap that such a record, verified, covers
//! entirely is reported as `explained_loss` (not evidence of tampering);
//! a gap it does not cover entirely stays `deleted`.

use std::fmt::Write;

use super::parse::Rec;
use super::report::{Finding, FindingKind, Location};

/// The event that declares lost records.
const DROPPED: &str = "evtrail.dropped";

/// One run of records a verified drop record declares lost.
#[derive(Clone, Debug)]
pub(super) struct Claim {
    stream: String,
    from: u64,
    to: u64,
    /// What the drop record says: its reason and sink, and where it is.
    reason: String,
    at: Location,
    at_stream: String,
    at_seq: u64,
}

/// A gap found in a stream: the index of its `deleted` finding and the
/// missing `seq`s, inclusive.
#[derive(Clone, Copy, Debug)]
pub(super) struct Gap {
    pub(super) finding: usize,
    pub(super) from: u64,
    pub(super) to: u64,
}

/// The runs a verified record declares lost, when it is a drop record.
pub(super) fn claims_of(r: &Rec) -> Vec<Claim> {
    // The body was searched for `"event":"evtrail.dropped"` as it was
    // read.
    if !r.drop_hint {
        return Vec::new();
    }
    let mut json = r.body.clone();
    json.push(b'}');
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&json) else {
        return Vec::new();
    };
    if v["event"] != DROPPED {
        return Vec::new();
    }
    let fields = &v["fields"];
    let Some(ranges) = fields["ranges"].as_str() else {
        return Vec::new();
    };
    let mut reason = fields["reason"].as_str().unwrap_or("unknown").to_owned();
    if let Some(sink) = fields["sink"].as_str() {
        let _ = write!(reason, ", sink `{sink}`");
    }
    ranges
        .split_whitespace()
        .filter_map(parse_run)
        .map(|(stream, from, to)| Claim {
            stream: stream.to_owned(),
            from,
            to,
            reason: reason.clone(),
            at: r.loc.clone(),
            at_stream: r.stream.clone(),
            at_seq: r.seq,
        })
        .collect()
}

/// `stream:first-last`; the stream's name may itself hold a colon.
fn parse_run(run: &str) -> Option<(&str, u64, u64)> {
    let (stream, span) = run.rsplit_once(':')?;
    let (a, b) = span.split_once('-')?;
    let (a, b) = (a.parse().ok()?, b.parse().ok()?);
    (!stream.is_empty() && a <= b).then_some((stream, a, b))
}

/// Turns each `deleted` finding of `stream` whose gap the claims cover
/// entirely into `explained_loss`.
pub(super) fn explain(findings: &mut [Finding], stream: &str, gaps: &[Gap], claims: &[Claim]) {
    for gap in gaps {
        let Some(f) = findings.get_mut(gap.finding) else {
            continue;
        };
        if f.kind != FindingKind::Deleted {
            continue;
        }
        let mut runs: Vec<&Claim> = claims
            .iter()
            .filter(|c| c.stream == stream && c.to >= gap.from && c.from <= gap.to)
            .collect();
        runs.sort_by_key(|c| c.from);
        // Covered when the runs leave no seq of the gap out.
        let mut next = gap.from;
        for c in &runs {
            if c.from > next {
                break;
            }
            next = next.max(c.to.saturating_add(1));
        }
        if next <= gap.to {
            continue;
        }
        let by = runs[0];
        f.kind = FindingKind::ExplainedLoss;
        let n = gap.to - gap.from + 1;
        f.detail = format!(
            "{} missing, declared lost by evtrail.dropped (reason {}) at {}:{} [{} seq {}]",
            if n == 1 {
                format!("record {}", gap.from)
            } else {
                format!("records {}..={} ({n})", gap.from, gap.to)
            },
            by.reason,
            by.at.file.display(),
            by.at.line,
            by.at_stream,
            by.at_seq
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn claim(stream: &str, from: u64, to: u64) -> Claim {
        Claim {
            stream: stream.into(),
            from,
            to,
            reason: "sink_failed".into(),
            at: Location {
                file: PathBuf::from("app.log"),
                line: 9,
                offset: 0,
            },
            at_stream: "app".into(),
            at_seq: 900,
        }
    }

    fn deleted() -> Finding {
        Finding {
            kind: FindingKind::Deleted,
            stream: Some("app".into()),
            location: Location {
                file: PathBuf::from("app.log"),
                line: 3,
                offset: 0,
            },
            seq: Some(10),
            detail: "records 10..=20 (11) are missing".into(),
        }
    }

    #[test]
    fn runs_parse_with_colons_in_stream_names() {
        assert_eq!(parse_run("app:3-9"), Some(("app", 3, 9)));
        assert_eq!(parse_run("a:b:7-7"), Some(("a:b", 7, 7)));
        for bad in ["app", "app:9-3", ":1-2", "app:x-2", "app:1"] {
            assert_eq!(parse_run(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_gap_is_explained_only_when_covered_entirely_in_its_own_stream() {
        let gap = [Gap {
            finding: 0,
            from: 10,
            to: 20,
        }];
        let cases: [(&[Claim], bool); 5] = [
            (&[claim("app", 10, 20)], true),
            (&[claim("app", 5, 14), claim("app", 15, 30)], true),
            (&[claim("app", 10, 14), claim("app", 16, 20)], false),
            (&[claim("app", 11, 20)], false),
            (&[claim("audit", 10, 20)], false),
        ];
        for (claims, explained) in cases {
            let mut f = [deleted()];
            explain(&mut f, "app", &gap, claims);
            let want = if explained {
                FindingKind::ExplainedLoss
            } else {
                FindingKind::Deleted
            };
            assert_eq!(f[0].kind, want, "{claims:?}");
        }
        let mut f = [deleted()];
        explain(&mut f, "app", &gap, &[claim("app", 10, 20)]);
        assert!(
            f[0].detail.contains("reason sink_failed"),
            "{}",
            f[0].detail
        );
        assert!(!f[0].kind.is_tamper_evidence());
    }
}
