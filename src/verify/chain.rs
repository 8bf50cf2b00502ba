//! The chain check of one stream: what it holds of the chain so far (the
//! recent signatures, open gaps, the current segment's seal policy, the
//! findings) and taking a record into it.
//!
//! `StreamCheck` is one state machine, too big for one file; its methods
//! are shared out by what drives them. This file takes records in and
//! keeps the chain's books; `suspects` decides what a line that does not
//! link was, once the line after it is known; `files` feeds a file's lines
//! in and joins each segment to the one before. The methods here call none
//! of theirs, so the chain's own rules read without them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::explained::{self, Claim, Gap};
use super::parse::{Rec, Removal};
use super::report::{Finding, FindingKind, Location, StreamReport};
use crate::key::Keyring;
use crate::mac::{SIG_LEN, Sig, StreamMac};
use crate::marker::MarkerKind;
use crate::sign::Seal;

pub(super) mod files;
mod history;
mod suspects;

/// How many recent records per stream are remembered to classify
/// duplicates and reorderings.
const WINDOW: usize = 4096;
/// Gaps larger than this are reported at once instead of waiting for the
/// missing records to turn up later.
const MAX_OPEN_GAP: u64 = 100_000;

/// A recent record's signature as a link for the next one.
#[derive(Clone, Debug)]
enum Link {
    /// The candidate signatures.
    Known(Cands),
    /// A damaged record whose signature is lost: the next link cannot be
    /// checked.
    Unknown,
}

/// A link's candidate signatures: the stored one, and the one the
/// record's body should have had, when it was damaged.
#[derive(Clone, Copy, Debug)]
struct Cands {
    stored: Sig,
    computed: Option<Sig>,
}

impl Cands {
    fn one(stored: Sig) -> Cands {
        Cands {
            stored,
            computed: None,
        }
    }

    fn two(stored: Sig, computed: Option<Sig>) -> Cands {
        Cands { stored, computed }
    }

    fn iter(&self) -> impl Iterator<Item = &Sig> {
        std::iter::once(&self.stored).chain(&self.computed)
    }

    fn contains(&self, sig: &Sig) -> bool {
        self.iter().any(|s| s == sig)
    }
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

/// The earliest segment header of a stream.
struct FirstStart {
    prev_seq: u64,
    prev_sig: Option<Sig>,
    removals_recorded: bool,
    loc: Location,
}

/// The chain check of one stream.
pub(super) struct StreamCheck {
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
    /// Anchors by `seq`: the signature the record there must have.
    anchors: BTreeMap<u64, Vec<String>>,
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
    /// Which of evtrail's records the chain's head is, if any.
    last_marker: Option<MarkerKind>,
    /// The removal (`evtrail.files_removed`) reaching furthest into the
    /// stream: where the kept history may legitimately start.
    removed_upto: Option<Removal>,
    /// The earliest segment given: where its header links to, whether it
    /// declares that removals are recorded, and where it is.
    first_start: Option<FirstStart>,
    /// Whether every file of the stream was found by listing a directory,
    /// so that files missing at the start are missing from the directory.
    pub(super) whole_directory: bool,
    pub(super) report: StreamReport,
    pub(super) findings: Vec<Finding>,
    /// Runs of records that verified drop records declare lost, and the
    /// gaps found, for [`explained`].
    pub(super) claims: Vec<Claim>,
    pub(super) gaps: Vec<Gap>,
}

impl StreamCheck {
    pub(super) fn new(stream: &str, keys: &Keyring, anchors: Vec<Seal>) -> StreamCheck {
        let macs = stream_macs(keys, stream);
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
            anchors: anchors.into_iter().fold(BTreeMap::new(), |mut m, a| {
                m.entry(a.seq).or_insert_with(Vec::new).push(a.sig);
                m
            }),
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
            last_marker: None,
            removed_upto: None,
            first_start: None,
            whole_directory: false,
            report: StreamReport {
                stream: stream.to_owned(),
                ..StreamReport::default()
            },
            findings: Vec::new(),
            claims: Vec::new(),
            gaps: Vec::new(),
        }
    }

    pub(super) fn finding(
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

    /// Whether `r` verifies against the record before it in the chain.
    fn link(&self, r: &Rec) -> LinkResult {
        // Keys change only through an announced rotation: any other change of
        // `kid` is an edit, whether or not the new id is a key we hold.
        // (A new segment may start with another key: a restart with a new
        // key. Its link is still checked.) After a record that could not be
        // verified, a verified record decides which of the two was edited
        // (`check_unannounced_key`).
        let after_unverified = self
            .last_unverified
            .as_ref()
            .is_some_and(|u| u.seq.checked_add(1) == Some(r.seq));
        if self.chain_kid.as_ref().is_some_and(|k| *k != r.kid)
            && r.marker != Some(MarkerKind::SegmentStart)
            && !after_unverified
        {
            return LinkResult::Fail;
        }
        let Some(mac) = self.mac(&r.kid) else {
            return match self.edited_kid(r) {
                Some(real) => LinkResult::KidEdited(real),
                None => LinkResult::UnknownKey,
            };
        };
        match self.window.get(&r.seq.wrapping_sub(1)) {
            Some(Link::Known(cands)) => {
                if cands.iter().any(|p| signed_after(mac, p, r)) {
                    LinkResult::Ok
                } else {
                    LinkResult::Fail
                }
            }
            Some(Link::Unknown) => LinkResult::Unlinkable,
            None => LinkResult::Fail,
        }
    }

    /// The key id a record with an unknown `kid` was really signed with,
    /// when putting that id back makes it verify: only its `kid` was
    /// edited, to make it look unverifiable.
    fn edited_kid(&self, r: &Rec) -> Option<String> {
        let tail = format!("\"kid\":\"{}\"", r.kid);
        let stem = r.body.strip_suffix(tail.as_bytes())?;
        let Some(Link::Known(cands)) = self.window.get(&r.seq.wrapping_sub(1)) else {
            return None;
        };
        let mut body = Vec::with_capacity(r.body.len() + 32);
        self.macs.iter().find_map(|(id, mac)| {
            body.clear();
            body.extend_from_slice(stem);
            body.extend_from_slice(format!("\"kid\":\"{id}\"").as_bytes());
            cands
                .iter()
                .any(|p| mac.verify(p, &body, &r.sig))
                .then(|| id.clone())
        })
    }

    /// The signature `r` should have, given the chain so far.
    fn computed(&self, r: &Rec) -> Option<Sig> {
        let mac = self.mac(&r.kid)?;
        let prev = match self.window.get(&self.expected.saturating_sub(1))? {
            Link::Known(c) => c.stored,
            Link::Unknown => return None,
        };
        let mut out = [0u8; SIG_LEN];
        mac.sign(&prev, &r.body, &mut out);
        Some(out)
    }

    /// Records `from..to` are missing so far: remembered while they may
    /// still turn up (reordered), reported at once when the gap is huge.
    fn open_gap(&mut self, from: u64, to: u64, loc: &Location) {
        let gap = to - from;
        if gap > MAX_OPEN_GAP {
            let detail = format!("records {from}..={} ({gap}) are missing", to - 1);
            let finding = self.finding(FindingKind::Deleted, loc.clone(), Some(from), detail);
            self.gaps.push(Gap {
                finding,
                from,
                to: to - 1,
            });
        } else {
            for s in from..to {
                self.missing.insert(s, loc.clone());
            }
        }
    }

    /// Takes a record into the chain.
    fn accept(&mut self, r: Rec, verified: bool) {
        if verified {
            self.claims.extend(explained::claims_of(&r));
        }
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
                    self.window.insert(r.seq, Link::Known(Cands::one(r.sig)));
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
                    self.window.insert(r.seq, Link::Known(Cands::one(r.sig)));
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
        self.window.insert(r.seq, Link::Known(Cands::one(r.sig)));
        self.expected = r.seq.saturating_add(1);
        self.report.last_seq = Some(r.seq);
        // The key the next record must carry, verified or not: an
        // unverified record's key id is the chain's until a verified record
        // says otherwise (`check_unannounced_key`).
        set_text(&mut self.chain_kid, r.new_kid.as_ref().unwrap_or(&r.kid));
        self.last_marker = r.marker;
        // Only a removal of this stream's own file says where it starts.
        if let Some(removal) = &r.removal
            && removal.stream == self.stream
            && self
                .removed_upto
                .as_ref()
                .is_none_or(|x| x.last_seq < removal.last_seq)
        {
            self.removed_upto = Some(removal.clone());
        }
        if verified {
            self.check_unannounced_key(&r);
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
        let wrong: Vec<String> = self
            .anchors
            .get(&r.seq)
            .into_iter()
            .flatten()
            .filter(|sig| sig.as_bytes() != r.sig)
            .cloned()
            .collect();
        for sig in wrong {
            let detail = format!(
                "the record at seq {} is not the one anchored ({sig})",
                r.seq
            );
            self.finding(
                FindingKind::AnchorMismatch,
                r.loc.clone(),
                Some(r.seq),
                detail,
            );
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
        let (Some(ts), Some(micros)) = (&r.ts, r.ts_micros) else {
            return;
        };
        if self.report.first_ts.is_none() {
            self.report.first_ts = Some(ts.clone());
        }
        // Kept in place: one allocation per stream, not per record.
        set_text(&mut self.report.last_ts, ts);
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
        match &mut self.last_ts {
            Some((l, text)) if micros > *l => {
                *l = micros;
                text.clear();
                text.push_str(ts);
            }
            Some(_) => {}
            None => self.last_ts = Some((micros, ts.clone())),
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
            // Written through the routes like any record: it counts.
            None | Some(MarkerKind::FilesRemoved) => {
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
            let finding = self.finding(FindingKind::Deleted, loc, Some(a), detail);
            self.gaps.push(Gap {
                finding,
                from: a,
                to: b,
            });
        }
    }
}

/// The MAC of `stream` under each key, by key id.
pub(super) fn stream_macs(keys: &Keyring, stream: &str) -> Vec<(String, StreamMac)> {
    keys.ids()
        .filter_map(|id| {
            keys.get(id)
                .map(|k| (id.to_owned(), StreamMac::new(k, stream)))
        })
        .collect()
}

/// Whether `r` is signed after `prev` under `mac`, its key id's MAC: the
/// check made as the line was read, when it was made with this `prev`.
fn signed_after(mac: &StreamMac, prev: &Sig, r: &Rec) -> bool {
    match r.pre {
        Some((p, ok)) if p == *prev => ok,
        _ => mac.verify(prev, &r.body, &r.sig),
    }
}

/// Sets `slot` to `text`, reusing the string already there.
fn set_text(slot: &mut Option<String>, text: &str) {
    match slot {
        Some(s) => {
            s.clear();
            s.push_str(text);
        }
        None => *slot = Some(text.to_owned()),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum LinkResult {
    Ok,
    Fail,
    /// The previous record is damaged beyond knowing its signature.
    Unlinkable,
    UnknownKey,
    /// The key id is unknown, but the record verifies with this known key
    /// once its id is put back: the `kid` was edited.
    KidEdited(String),
}
