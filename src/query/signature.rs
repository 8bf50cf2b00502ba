//! Whether one record found by a query is genuine where it stands: its
//! signature checked against the record before it in the same file (or,
//! for the first record of a segment, the link the segment declares), as
//! [`signing`](crate::signing) specifies. The whole-log proof stays
//! [`verify`](crate::verify)'s; this is the per-answer verdict.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::key::Keyring;
use crate::mac::{SIG_LEN, Sig, StreamMac};
use crate::sign::split_signed;

/// The verdict on one record's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signature {
    /// It verifies with a key given, chained on the record before it: the
    /// record is as written, and nothing was removed or inserted just
    /// before it.
    Valid,
    /// It does not verify where it stands: the record or the one before it
    /// was altered, or a record between them removed or inserted.
    Invalid,
    /// It was signed with a key that was not given (its `kid` is unknown).
    UnknownKey,
    /// The line carries no signature (an unsigned log).
    Unsigned,
    /// No key was given, so signatures were not checked.
    NotChecked,
}

impl Signature {
    /// The verdict's name: `valid`, `invalid`, `unknown_key`, `unsigned`,
    /// `not_checked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Signature::Valid => "valid",
            Signature::Invalid => "invalid",
            Signature::UnknownKey => "unknown_key",
            Signature::Unsigned => "unsigned",
            Signature::NotChecked => "not_checked",
        }
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks records' signatures with a keyring, keeping each stream's MAC.
pub(crate) struct Checker {
    keys: Keyring,
    macs: HashMap<(String, String), StreamMac>,
}

impl Checker {
    pub(crate) fn new(keys: Keyring) -> Checker {
        Checker {
            keys,
            macs: HashMap::new(),
        }
    }

    /// The verdict on `line` (parsed as `record`), whose predecessor in the
    /// same file is `prev`.
    pub(crate) fn check(&mut self, line: &[u8], prev: Option<&[u8]>, record: &Value) -> Signature {
        let Some((body, sig)) = split_signed(line) else {
            return Signature::Unsigned;
        };
        let (Some(kid), Some(stream)) = (
            record.get("kid").and_then(Value::as_str),
            record.get("stream").and_then(Value::as_str),
        ) else {
            return Signature::Invalid;
        };
        // A segment's first record chains on the link it declares; any
        // other on the signature of the line before it.
        let link: Option<Sig> =
            if record.get("event").and_then(Value::as_str) == Some(crate::marker::SEGMENT_START) {
                record
                    .pointer("/fields/prev_sig")
                    .and_then(Value::as_str)
                    .and_then(|s| sig_array(s.as_bytes()))
            } else {
                prev.and_then(split_signed).and_then(|(_, s)| sig_array(s))
            };
        let Some(link) = link else {
            return Signature::Invalid;
        };
        let Some(key) = self.keys.get(kid) else {
            return Signature::UnknownKey;
        };
        let mac = self
            .macs
            .entry((kid.to_owned(), stream.to_owned()))
            .or_insert_with(|| StreamMac::new(key, stream));
        if mac.verify(&link, body, sig) {
            Signature::Valid
        } else {
            Signature::Invalid
        }
    }
}

fn sig_array(s: &[u8]) -> Option<Sig> {
    (s.len() == SIG_LEN).then(|| {
        let mut out = [0u8; SIG_LEN];
        out.copy_from_slice(s);
        out
    })
}
