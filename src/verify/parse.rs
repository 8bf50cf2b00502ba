//! Reading one line of a log as a record: the parts of it the chain check
//! looks at (`seq`, signature, signed body, stream, key id, `ts`, which of
//! evtrail's own records it is, a segment header's fields), taken without
//! building the rest of the line.

use std::borrow::Cow;
use std::path::Path;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::report::Location;
use crate::logdir::RawLine;
use crate::mac::{SIG_LEN, Sig, is_sig_char};
use crate::marker::MarkerKind;
use crate::sign::split_signed;
use crate::time::parse_ts;

/// The parts of a record the verifier looks at; the rest of the line is
/// skipped without being built.
/// (`head`'s tests hold its shortcut to this.)
#[derive(Deserialize)]
pub(super) struct Head<'a> {
    #[serde(borrow)]
    pub(super) stream: Cow<'a, str>,
    pub(super) seq: u64,
    #[serde(borrow, default)]
    pub(super) ts: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) fields: Option<&'a RawValue>,
}

/// The head as the full parse gives it, or the shortcut.
struct Parts<'a> {
    stream: Cow<'a, str>,
    seq: u64,
    ts: Option<Cow<'a, str>>,
    event: Option<&'a str>,
    kid: Option<Cow<'a, str>>,
    fields: Option<&'a str>,
}

/// The text that marks a drop record, looked for in every body (see
/// `explained::claims_of`).
static DROPPED: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(br#""event":"evtrail.dropped""#));

/// A segment header's fields.
#[derive(Clone, Debug, Default)]
pub(super) struct Header {
    pub(super) segment: u64,
    pub(super) prev_segment: u64,
    pub(super) prev_seq: u64,
    pub(super) prev_sig: Option<Sig>,
    pub(super) prev_end: String,
    pub(super) torn_bytes: u64,
    pub(super) seal_records: u64,
    pub(super) seal_ms: u64,
    /// The writer records every file it deletes (`removals: "recorded"`).
    pub(super) removals_recorded: bool,
}

/// What an `evtrail.files_removed` record says went with a deleted file.
#[derive(Clone, Debug)]
pub(super) struct Removal {
    /// The stream whose file it was.
    pub(super) stream: String,
    pub(super) file: String,
    pub(super) first_seq: u64,
    pub(super) last_seq: u64,
    pub(super) last_sig: Option<Sig>,
}

/// A line that has the signed form and a readable head.
#[derive(Clone)]
pub(super) struct Rec {
    pub(super) seq: u64,
    pub(super) sig: Sig,
    /// The signed body (the line without its signature suffix).
    pub(super) body: Vec<u8>,
    pub(super) stream: String,
    pub(super) kid: String,
    pub(super) ts: Option<String>,
    /// `ts` read as microseconds since the epoch, when it has the form.
    pub(super) ts_micros: Option<i64>,
    /// The body holds the text a drop record starts its event with.
    pub(super) drop_hint: bool,
    /// The signature checked once already, off the chain's thread: with
    /// this `prev`, under the key `kid` names, it verifies or not.
    pub(super) pre: Option<(Sig, bool)>,
    pub(super) marker: Option<MarkerKind>,
    pub(super) header: Option<Header>,
    /// The key a `key_rotated` record announces.
    pub(super) new_kid: Option<String>,
    /// What a `files_removed` record names.
    pub(super) removal: Option<Removal>,
    pub(super) loc: Location,
}

pub(super) enum Parsed {
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

/// A signature's text in a field, when it has the signature's form.
fn sig_field(v: &Value) -> Option<Sig> {
    v.as_str()
        .filter(|s| s.len() == SIG_LEN && s.bytes().all(is_sig_char))
        .map(|s| to_sig(s.as_bytes()))
}

pub(super) fn parse_line(raw: &RawLine<'_>, file: &Path) -> Parsed {
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
    // The shortcut reads the writer's form; anything else gets the full
    // parse, which alone decides what a line that is not a record is.
    let head = match super::head::read(raw.bytes) {
        Some(h) => Parts {
            stream: Cow::Borrowed(h.stream),
            seq: h.seq,
            ts: h.ts.map(Cow::Borrowed),
            event: h.event,
            kid: h.kid.map(Cow::Borrowed),
            fields: h.fields,
        },
        None => match serde_json::from_slice::<Head<'_>>(raw.bytes) {
            Ok(h) => Parts {
                stream: h.stream,
                seq: h.seq,
                ts: h.ts,
                event: h.event.map(RawValue::get),
                kid: h.kid,
                fields: h.fields.map(RawValue::get),
            },
            Err(_) => {
                return Parsed::Bad {
                    why: "the line is not a JSON record".into(),
                    sig: Some(sig),
                    loc,
                };
            }
        },
    };
    let Some(kid) = head.kid else {
        return Parsed::Bad {
            why: "the record has no key id".into(),
            sig: Some(sig),
            loc,
        };
    };
    // The event as written: a marker's name needs no escaping, so the raw
    // JSON string is its name in quotes.
    let marker = head
        .event
        .and_then(|raw| raw.strip_prefix('"')?.strip_suffix('"'))
        .and_then(crate::marker::kind);
    let fields = || {
        head.fields
            .and_then(|f| serde_json::from_str::<Value>(f).ok())
    };
    let header = (marker == Some(MarkerKind::SegmentStart))
        .then(fields)
        .flatten()
        .map(|f| Header {
            segment: f["segment"].as_u64().unwrap_or(0),
            prev_segment: f["prev_segment"].as_u64().unwrap_or(0),
            prev_seq: f["prev_seq"].as_u64().unwrap_or(0),
            prev_sig: sig_field(&f["prev_sig"]),
            prev_end: f["prev_end"].as_str().unwrap_or("").to_owned(),
            torn_bytes: f["torn_bytes"].as_u64().unwrap_or(0),
            seal_records: f["seal_records"].as_u64().unwrap_or(0),
            seal_ms: f["seal_ms"].as_u64().unwrap_or(0),
            removals_recorded: f["removals"].as_str() == Some(crate::marker::REMOVALS_RECORDED),
        });
    let new_kid = (marker == Some(MarkerKind::KeyRotated))
        .then(fields)
        .flatten()
        .and_then(|f| f["new_kid"].as_str().map(str::to_owned));
    let removal = (marker == Some(MarkerKind::FilesRemoved))
        .then(fields)
        .flatten()
        .and_then(|f| {
            Some(Removal {
                stream: f["stream"].as_str()?.to_owned(),
                file: f["file"].as_str().unwrap_or("").to_owned(),
                first_seq: f["first_seq"].as_u64()?,
                last_seq: f["last_seq"].as_u64()?,
                last_sig: sig_field(&f["last_sig"]),
            })
        });
    let ts_micros = head.ts.as_deref().and_then(parse_ts);
    Parsed::Rec(Box::new(Rec {
        seq: head.seq,
        sig,
        body: body.to_vec(),
        stream: head.stream.into_owned(),
        kid: kid.into_owned(),
        ts: head.ts.map(Cow::into_owned),
        ts_micros,
        drop_hint: DROPPED.find(body).is_some(),
        pre: None,
        marker,
        header,
        new_kid,
        removal,
        loc,
    }))
}
