//! The chain markers: the records evtrail writes into a stream's chain
//! (`evtrail.segment_start`, `evtrail.segment_end`, `evtrail.seal`,
//! `evtrail.key_rotated`, `evtrail.files_removed`). Their event names and the fields each carries
//! live here only, for the writer and the readers alike (specified in
//! `signing.md`). Pure: it names and builds records; the chain state they
//! report is kept by the worker.

use std::time::Duration;

use tracing::Level;

use crate::mac::{GENESIS, Sig};
use crate::record::Record;

/// The first record of every segment.
pub(crate) const SEGMENT_START: &str = "evtrail.segment_start";
/// The last record of a cleanly closed segment.
pub(crate) const SEGMENT_END: &str = "evtrail.segment_end";
/// A point of the chain the writer vouches for.
pub(crate) const SEAL: &str = "evtrail.seal";
/// The announcement of a new signing key, signed with the old one.
pub(crate) const KEY_ROTATED: &str = "evtrail.key_rotated";
/// A rolled file that retention deleted: which records went with it.
pub(crate) const FILES_REMOVED: &str = "evtrail.files_removed";
/// The event names of the markers that only keep the chain (hidden from
/// queries). `evtrail.files_removed` is not among them: which files were
/// deleted is worth reading.
pub(crate) const ALL: [&str; 4] = [SEGMENT_START, SEGMENT_END, SEAL, KEY_ROTATED];
/// The value of a segment start's `removals` field saying that the writer
/// records every file it deletes (`evtrail.files_removed`).
pub(crate) const REMOVALS_RECORDED: &str = "recorded";

/// How the previous segment of a stream ended, as a new segment declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PrevEnd {
    None,
    Clean,
    Crash,
    Missing,
}

impl PrevEnd {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PrevEnd::None => "none",
            PrevEnd::Clean => "clean",
            PrevEnd::Crash => "crash",
            PrevEnd::Missing => "missing",
        }
    }
}

/// Where a stream's chain goes on from when the writer starts: what its
/// next segment's first record declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resume {
    pub(crate) prev_segment: u64,
    pub(crate) prev_seq: u64,
    pub(crate) prev_sig: Sig,
    pub(crate) prev_end: PrevEnd,
    pub(crate) torn_bytes: u64,
    /// The number the new segment gets.
    pub(crate) segment: u64,
}

impl Resume {
    pub(crate) fn fresh() -> Resume {
        Resume {
            prev_segment: 0,
            prev_seq: 0,
            prev_sig: GENESIS,
            prev_end: PrevEnd::None,
            torn_bytes: 0,
            segment: 1,
        }
    }
}

/// The chain records evtrail writes into a stream.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    SegmentStart,
    /// With why the segment ended (`rotate`, `shutdown`).
    SegmentEnd(&'static str),
    Seal,
    KeyRotated,
}

/// A chain record as a reader finds it: which marker, without what the
/// writer knew about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MarkerKind {
    SegmentStart,
    SegmentEnd,
    Seal,
    KeyRotated,
    FilesRemoved,
}

impl MarkerKind {
    /// The record's `event`.
    pub(crate) fn event(self) -> &'static str {
        match self {
            MarkerKind::SegmentStart => SEGMENT_START,
            MarkerKind::SegmentEnd => SEGMENT_END,
            MarkerKind::Seal => SEAL,
            MarkerKind::KeyRotated => KEY_ROTATED,
            MarkerKind::FilesRemoved => FILES_REMOVED,
        }
    }

    /// The record's `msg`.
    fn message(self) -> &'static str {
        match self {
            MarkerKind::SegmentStart => "segment started",
            MarkerKind::SegmentEnd => "segment ended",
            MarkerKind::Seal => "seal",
            MarkerKind::KeyRotated => "signing key rotated",
            MarkerKind::FilesRemoved => "rolled file removed",
        }
    }
}

/// Which chain record a record with this `event` is; `None` for every
/// other record. Exact: a name differing in case or spelling is an
/// ordinary event.
pub(crate) fn kind(event: &str) -> Option<MarkerKind> {
    match event {
        SEGMENT_START => Some(MarkerKind::SegmentStart),
        SEGMENT_END => Some(MarkerKind::SegmentEnd),
        SEAL => Some(MarkerKind::Seal),
        KEY_ROTATED => Some(MarkerKind::KeyRotated),
        FILES_REMOVED => Some(MarkerKind::FilesRemoved),
        _ => None,
    }
}

/// A marker of `kind` stamped `ts`, before its own fields.
fn record(kind: MarkerKind, ts: u64) -> Record {
    let mut rec = Record::internal(Level::INFO, kind.event(), kind.message());
    rec.ts = ts;
    rec.fields.add_str("class", "audit");
    rec
}

/// The record that opens segment `r.segment`: where the chain comes from
/// (`r`, whose last signature is `prev_sig`), and the seal policy the
/// segment is held to.
pub(crate) fn segment_start(
    ts: u64,
    r: &Resume,
    prev_sig: &Sig,
    seal_records: u64,
    seal_interval: Duration,
) -> Record {
    let mut rec = record(MarkerKind::SegmentStart, ts);
    rec.fields.add_u64("segment", r.segment);
    rec.fields.add_u64("prev_segment", r.prev_segment);
    rec.fields.add_u64("prev_seq", r.prev_seq);
    rec.fields.add_str(
        "prev_sig",
        std::str::from_utf8(prev_sig).unwrap_or_default(),
    );
    rec.fields.add_str("prev_end", r.prev_end.as_str());
    if r.prev_end == PrevEnd::Crash {
        rec.fields.add_u64("torn_bytes", r.torn_bytes);
    }
    rec.fields.add_u64("seal_records", seal_records);
    rec.fields
        .add_u64("seal_ms", seal_interval.as_millis() as u64);
    // Since this field exists, every file the writer deletes is named by an
    // `evtrail.files_removed` record: a verifier may hold the stream to it.
    rec.fields.add_str("removals", REMOVALS_RECORDED);
    rec
}

/// The record that closes `segment` for `reason`, its `count`th record.
pub(crate) fn segment_end(ts: u64, segment: u64, count: u64, reason: &str) -> Record {
    let mut rec = record(MarkerKind::SegmentEnd, ts);
    rec.fields.add_u64("segment", segment);
    rec.fields.add_u64("count", count);
    rec.fields.add_str("reason", reason);
    rec
}

/// A seal, the `count`th record of `segment`.
pub(crate) fn seal(ts: u64, segment: u64, count: u64) -> Record {
    let mut rec = record(MarkerKind::Seal, ts);
    rec.fields.add_u64("segment", segment);
    rec.fields.add_u64("count", count);
    rec
}

/// The announcement that records after it are signed with `new_kid`
/// instead of `old_kid`.
pub(crate) fn key_rotated(ts: u64, new_kid: &str, old_kid: Option<&str>) -> Record {
    let mut rec = record(MarkerKind::KeyRotated, ts);
    rec.fields.add_str("new_kid", new_kid);
    if let Some(old) = old_kid {
        rec.fields.add_str("old_kid", old);
    }
    rec
}

/// What went with a rolled file that was deleted: the records it held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Removed {
    pub(crate) stream: String,
    /// The file's name (without its directory).
    pub(crate) file: String,
    pub(crate) segment: u64,
    pub(crate) first_seq: u64,
    pub(crate) last_seq: u64,
    pub(crate) last_sig: Sig,
}

/// The record that says `r.file` was deleted and which records went with
/// it. Its `stream` field names the stream it belongs to: the worker writes
/// it there, whatever the routes say.
pub(crate) fn files_removed(ts: u64, r: &Removed, reason: &str) -> Record {
    let mut rec = record(MarkerKind::FilesRemoved, ts);
    rec.fields.add_str("stream", &r.stream);
    rec.fields.add_str("file", &r.file);
    rec.fields.add_u64("segment", r.segment);
    rec.fields.add_u64("first_seq", r.first_seq);
    rec.fields.add_u64("last_seq", r.last_seq);
    rec.fields.add_str(
        "last_sig",
        std::str::from_utf8(&r.last_sig).unwrap_or_default(),
    );
    rec.fields.add_str("reason", reason);
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [MarkerKind; 5] = [
        MarkerKind::SegmentStart,
        MarkerKind::SegmentEnd,
        MarkerKind::Seal,
        MarkerKind::KeyRotated,
        MarkerKind::FilesRemoved,
    ];

    #[test]
    fn every_marker_event_parses_back_to_its_kind() {
        for k in KINDS {
            assert_eq!(kind(k.event()), Some(k));
        }
    }

    #[test]
    fn marker_names_are_the_specified_ones() {
        assert_eq!(
            kind("evtrail.segment_start"),
            Some(MarkerKind::SegmentStart)
        );
        assert_eq!(kind("evtrail.segment_end"), Some(MarkerKind::SegmentEnd));
        assert_eq!(kind("evtrail.seal"), Some(MarkerKind::Seal));
        assert_eq!(kind("evtrail.key_rotated"), Some(MarkerKind::KeyRotated));
        assert_eq!(
            kind("evtrail.files_removed"),
            Some(MarkerKind::FilesRemoved)
        );
    }

    #[test]
    fn other_events_are_not_markers() {
        for event in [
            "",
            "evtrail.dropped",
            "evtrail.sink_failed",
            "evtrail.Seal",
            "evtrail.seal ",
            "\"evtrail.seal\"",
            "seal",
            "order_placed",
        ] {
            assert_eq!(kind(event), None, "{event:?}");
        }
    }

    #[test]
    fn marker_records_name_themselves_and_are_audit() {
        let resume = Resume {
            prev_end: PrevEnd::Crash,
            torn_bytes: 7,
            ..Resume::fresh()
        };
        let sig = [b'A'; crate::mac::SIG_LEN];
        let records = [
            segment_start(5, &resume, &sig, 10, Duration::from_secs(1)),
            segment_end(5, 1, 3, "shutdown"),
            seal(5, 1, 2),
            key_rotated(5, "knew", Some("kold")),
            files_removed(
                5,
                &Removed {
                    stream: "app".into(),
                    file: "app.x.log.gz".into(),
                    segment: 1,
                    first_seq: 1,
                    last_seq: 9,
                    last_sig: sig,
                },
                "retention",
            ),
        ];
        for (rec, k) in records.iter().zip(KINDS) {
            assert_eq!(rec.fields.find_str("event"), Some(k.event()));
            assert_eq!(rec.fields.find_str("class"), Some("audit"));
            assert_eq!(rec.ts, 5);
            assert_eq!(rec.level, Level::INFO);
            assert!(rec.internal);
        }
        assert_eq!(records[0].fields.find_str("prev_end"), Some("crash"));
        assert_eq!(
            records[0].fields.find_str("prev_sig"),
            std::str::from_utf8(&sig).ok()
        );
        assert_eq!(records[1].fields.find_str("reason"), Some("shutdown"));
        assert_eq!(records[3].fields.find_str("new_kid"), Some("knew"));
        assert_eq!(records[3].fields.find_str("old_kid"), Some("kold"));
        assert_eq!(records[0].fields.find_str("removals"), Some("recorded"));
        assert_eq!(records[4].fields.find_str("stream"), Some("app"));
        assert_eq!(records[4].fields.find_str("file"), Some("app.x.log.gz"));
        assert_eq!(
            key_rotated(5, "knew", None).fields.find_str("old_kid"),
            None
        );
    }
}
