//! Lines that do not link: a record whose signature fails, or a line that
//! is no record, is a suspect until the line after it says what it was
//! (inserted, modified, reordered, malformed, taken at the `seq` it
//! claims); and the end of the stream, which settles the last suspect and
//! reports what is still missing.

use std::path::PathBuf;

use super::{Cands, Link, LinkResult, StreamCheck, Suspect, signed_after};
use crate::mac::Sig;
use crate::verify::parse::Rec;
use crate::verify::report::{FindingKind, Location};

impl StreamCheck {
    pub(super) fn record(&mut self, r: Rec) {
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
            LinkResult::KidEdited(real) => {
                let detail = format!(
                    "the record's key id was changed from `{real}` to `{}`: with `{real}` put back it verifies",
                    r.kid
                );
                let idx = self.finding(FindingKind::Modified, r.loc.clone(), Some(r.seq), detail);
                self.modified_at.insert(r.seq, idx);
                let mut r = r;
                r.kid = real;
                r.pre = None;
                if r.seq == self.expected || !self.started {
                    self.accept(r, false);
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
    pub(super) fn settle(&mut self, next: Option<&Rec>) -> bool {
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
                self.window.insert(
                    slot,
                    sig.map_or(Link::Unknown, |s| Link::Known(Cands::one(s))),
                );
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
                let cands = Cands::two(rec.sig, computed);
                let occupies_slot = next.is_some_and(|n| {
                    n.seq == slot.saturating_add(1)
                        && self
                            .mac(&n.kid)
                            .is_some_and(|m| cands.iter().any(|p| signed_after(m, p, n)))
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
            let cands = Cands::two(rec.sig, computed);
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

    pub(in crate::verify) fn finish(&mut self) {
        self.settle(None);
        self.check_kept_start();
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
        let anchored = self
            .anchors
            .range(..=last)
            .next_back()
            .map_or(0, |(s, _)| *s)
            .max(self.report.starts_after);
        self.report.unanchored = last.saturating_sub(anchored);
        // One finding for the cut, proved by the furthest anchor.
        if let Some((&furthest, _)) = self.anchors.range(last.saturating_add(1)..).next_back() {
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
                    "the stream ends at seq {last}, but an anchor proves seq {furthest} was written"
                ),
            );
        }
        self.anchors.clear();
        self.findings.sort_by_key(|f| f.seq.unwrap_or(0));
    }
}
