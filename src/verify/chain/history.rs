//! Where a stream's history legitimately starts and how a segment signed
//! with a key that was not given joins it: the earliest segment kept must
//! start where the last `evtrail.files_removed` record says the deleted
//! files ended, and a segment start that cannot be verified must still link
//! to the record before it (`signing.md`, "Segments" and "Keys").

use super::{FirstStart, Link, StreamCheck};
use crate::marker::MarkerKind;
use crate::verify::parse::{Header, Rec};
use crate::verify::report::FindingKind;

impl StreamCheck {
    /// Remembers the earliest segment given, to be held at the end to the
    /// removals the stream records.
    pub(super) fn note_first_start(&mut self, r: &Rec, h: &Header) {
        self.first_start = Some(FirstStart {
            prev_seq: h.prev_seq,
            prev_sig: h.prev_sig,
            removals_recorded: h.removals_recorded,
            loc: r.loc.clone(),
        });
    }

    /// Why a segment start signed with a key the verifier does not have
    /// does not join the record before it (`last_seq`), if it does not. Its
    /// own signature cannot be checked, but what it says of the previous
    /// segment can: the `seq` and signature it links to, and how that
    /// segment ended. Re-signing a log from a segment start with another
    /// key therefore still has to get these right.
    pub(super) fn unknown_key_start_breaks(
        &self,
        r: &Rec,
        h: &Header,
        last_seq: u64,
    ) -> Option<String> {
        if self.mac(&r.kid).is_some() || h.prev_seq > last_seq {
            // A known key's link is checked by its signature; records
            // missing before the segment are reported by the caller.
            return None;
        }
        if h.prev_seq < last_seq {
            return Some(format!(
                "links to seq {} but the record before it is seq {last_seq}",
                h.prev_seq
            ));
        }
        if let Some(Link::Known(cands)) = self.window.get(&last_seq)
            && !h.prev_sig.is_some_and(|s| cands.contains(&s))
        {
            return Some(format!(
                "links to a signature that is not the one of seq {last_seq}, the record before it"
            ));
        }
        let ended = self.last_marker == Some(MarkerKind::SegmentEnd);
        let consistent = match h.prev_end.as_str() {
            "clean" => ended,
            "crash" => !ended,
            "missing" => true,
            _ => false,
        };
        (!consistent).then(|| {
            format!(
                "says the previous segment ended `{}`, but it {}",
                h.prev_end,
                if ended {
                    "ends with a segment end"
                } else {
                    "has no segment end"
                }
            )
        })
    }

    /// A segment start that does not join the record before it, signed
    /// with a key not given: modified, not merely unverifiable.
    pub(super) fn broken_start(&mut self, r: Rec, why: String) {
        self.report.records += 1;
        let detail = format!(
            "the segment start (signed with key `{}`, which is not given) {why}",
            r.kid
        );
        let idx = self.finding(FindingKind::Modified, r.loc.clone(), Some(r.seq), detail);
        self.modified_at.insert(r.seq, idx);
        if r.seq >= self.expected {
            self.accept(r, false);
        }
    }

    /// The earliest segment kept starts after records that are not here:
    /// a writer that records its removals must have named them in an
    /// `evtrail.files_removed` record; otherwise they were deleted by hand.
    pub(super) fn check_kept_start(&mut self) {
        let Some(first) = self.first_start.take() else {
            return;
        };
        if first.prev_seq == 0 || !first.removals_recorded || !self.whole_directory {
            return;
        }
        let upto = self.removed_upto.as_ref();
        let detail = match upto {
            Some(r) if r.last_seq == first.prev_seq => {
                if r.last_sig.is_none() || r.last_sig == first.prev_sig {
                    return;
                }
                format!(
                    "the removal of `{}` names seq {} with another signature than the oldest kept segment links to",
                    r.file, r.last_seq
                )
            }
            Some(r) if r.last_seq > first.prev_seq => return,
            _ => {
                let from = upto.map_or(1, |r| r.last_seq.saturating_add(1));
                let named = upto.map_or_else(
                    || "no `evtrail.files_removed` record names a removal".to_owned(),
                    |r| {
                        format!(
                            "the last removal recorded (`{}`, seq {}..={}) ends there",
                            r.file, r.first_seq, r.last_seq
                        )
                    },
                );
                format!(
                    "records {from}..={} (seq) are not here, and {named}: the oldest kept segment(s) were deleted without a record",
                    first.prev_seq
                )
            }
        };
        let from = upto.map_or(1, |r| r.last_seq.saturating_add(1).min(first.prev_seq));
        self.finding(FindingKind::MissingSegment, first.loc, Some(from), detail);
    }
}
