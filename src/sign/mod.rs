//! The writer's side of signing: per-stream chains, seals, segments, and
//! picking a chain up again after a restart. The scheme is specified in
//! `signing.md` (the public `evtrail::signing` page).
//!
//! Here: the public [`Seal`], a stream's [`Chain`] that seals each line,
//! and splitting a signed line. The state file is in `state` (saved off
//! the worker's thread by `saver`), where a chain goes on after a restart
//! in `resume`.

mod resume;
mod saver;
mod state;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;
use crate::key::Key;
use crate::mac::{SIG_LEN, Sig, StreamMac, is_sig_char};
use crate::marker::Resume;

pub(crate) use resume::resume;
pub(crate) use saver::StateSaver;
pub(crate) use state::{State, StreamState};

/// Default number of records after which a seal is written.
pub const DEFAULT_SEAL_RECORDS: u64 = 10_000;
/// Default longest time between two seals of a stream, idle or not.
pub const DEFAULT_SEAL_INTERVAL: Duration = Duration::from_secs(60);

/// The bytes between a record's body and its signature.
pub(crate) const SIG_OPEN: &[u8] = b",\"sig\":\"";
/// The bytes after the signature.
pub(crate) const SIG_CLOSE: &[u8] = b"\"}";
/// Length of the fixed suffix `,"sig":"<43 base64url characters>"}`.
pub(crate) const SIG_SUFFIX_LEN: usize = SIG_OPEN.len() + SIG_LEN + SIG_CLOSE.len();

/// The latest seal of a stream: a point of the chain an application can
/// export as an anchor, against which a verifier proves that the log was
/// not cut short.
///
/// Written and parsed as `stream:seq:sig`.
///
/// # Examples
///
/// ```
/// let seal: evtrail::Seal = "app:42:q3KJ0s-Wf8xZbT_2vYcNq3KJ0s-Wf8xZbT_2vYcNq3I".parse()?;
/// assert_eq!((seal.stream(), seal.seq()), ("app", 42));
/// assert_eq!(seal.to_string().parse::<evtrail::Seal>()?, seal);
/// # Ok::<(), evtrail::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    pub(crate) stream: String,
    pub(crate) seq: u64,
    pub(crate) sig: String,
    pub(crate) ts: Option<String>,
}

impl Seal {
    /// The stream.
    pub fn stream(&self) -> &str {
        &self.stream
    }
    /// The sealed record's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }
    /// The sealed record's signature, 43 base64url characters.
    pub fn sig(&self) -> &str {
        &self.sig
    }
    /// When the seal was written (RFC 3339), when known.
    pub fn timestamp(&self) -> Option<&str> {
        self.ts.as_deref()
    }
}

impl fmt::Display for Seal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.stream, self.seq, self.sig)
    }
}

impl FromStr for Seal {
    type Err = Error;

    fn from_str(s: &str) -> Result<Seal, Error> {
        let bad = || Error::config(format!("invalid anchor `{s}`: expected STREAM:SEQ:SIG"));
        let mut parts = s.trim().rsplitn(3, ':');
        let (sig, seq, stream) = (parts.next(), parts.next(), parts.next());
        let (Some(sig), Some(seq), Some(stream)) = (sig, seq, stream) else {
            return Err(bad());
        };
        let seq = seq.parse().map_err(|_| bad())?;
        if stream.is_empty() || sig.len() != SIG_LEN || !sig.bytes().all(is_sig_char) {
            return Err(bad());
        }
        Ok(Seal {
            stream: stream.to_owned(),
            seq,
            sig: sig.to_owned(),
            ts: None,
        })
    }
}

/// One stream's signing state on the worker.
pub(crate) struct Chain {
    mac: StreamMac,
    /// `,"kid":"<key id>"`, the signed part of a line after the record.
    kid_field: Vec<u8>,
    pub(crate) prev: Sig,
    pub(crate) segment: u64,
    /// Records in the current segment, markers included.
    pub(crate) in_segment: u64,
    /// Records since the last seal or segment start.
    pub(crate) since_seal: u64,
}

impl Chain {
    pub(crate) fn new(key: &Key, stream: &str, resume: &Resume) -> Chain {
        Chain {
            mac: StreamMac::new(key, stream),
            kid_field: kid_field(key),
            prev: resume.prev_sig,
            segment: resume.segment,
            in_segment: 0,
            since_seal: 0,
        }
    }

    /// Switches to a new key; the chain goes on.
    pub(crate) fn rekey(&mut self, key: &Key, stream: &str) {
        self.mac = StreamMac::new(key, stream);
        self.kid_field = kid_field(key);
    }

    /// Completes the record whose body (without closing brace) starts at
    /// `start` in `buf`: appends `kid` and the chained signature.
    pub(crate) fn seal_line(&mut self, buf: &mut Vec<u8>, start: usize) {
        buf.extend_from_slice(&self.kid_field);
        // The suffix `,"sig":"…"}` is built whole and appended at once.
        let mut suffix = [0u8; SIG_SUFFIX_LEN];
        let (open, rest) = suffix.split_at_mut(SIG_OPEN.len());
        let (sig, close) = rest.split_at_mut(SIG_LEN);
        let sig: &mut Sig = sig.try_into().expect("SIG_LEN bytes");
        open.copy_from_slice(SIG_OPEN);
        self.mac.sign(&self.prev, &buf[start..], sig);
        close.copy_from_slice(SIG_CLOSE);
        self.prev = *sig;
        buf.extend_from_slice(&suffix);
        self.in_segment += 1;
    }
}

/// The `,"kid":"…"` of lines signed with `key`.
fn kid_field(key: &Key) -> Vec<u8> {
    [b",\"kid\":\"", key.id().as_bytes(), b"\""].concat()
}

/// The signed parts of a line: the body that was signed and the signature.
/// `None` when the line does not end in the fixed signature suffix.
pub(crate) fn split_signed(line: &[u8]) -> Option<(&[u8], &[u8])> {
    if line.len() < SIG_SUFFIX_LEN + 1 || !line.ends_with(SIG_CLOSE) {
        return None;
    }
    let cut = line.len() - SIG_SUFFIX_LEN;
    let (body, suffix) = line.split_at(cut);
    let sig = &suffix[SIG_OPEN.len()..SIG_OPEN.len() + SIG_LEN];
    (suffix.starts_with(SIG_OPEN) && sig.iter().all(|&b| is_sig_char(b))).then_some((body, sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    use crate::mac::GENESIS;

    pub(super) fn key() -> Key {
        Key::from_bytes(vec![7u8; 32]).unwrap()
    }

    pub(super) fn signed(chain: &mut Chain, body: &str) -> Vec<u8> {
        let mut buf = body.as_bytes().to_vec();
        chain.seal_line(&mut buf, 0);
        buf
    }

    #[test]
    fn a_signed_line_splits_back_into_body_and_signature() {
        let mut chain = Chain::new(&key(), "app", &Resume::fresh());
        let line = signed(&mut chain, r#"{"v":1,"seq":1"#);
        let (body, sig) = split_signed(&line).unwrap();
        assert!(body.ends_with(format!(r#","kid":"{}""#, key().id()).as_bytes()));
        assert_eq!(sig, &chain.prev[..]);
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["sig"].as_str().unwrap().as_bytes(), sig);
        let mac = StreamMac::new(&key(), "app");
        assert!(mac.verify(&GENESIS, body, sig));
    }

    #[test]
    fn lines_without_the_fixed_suffix_are_not_signed_lines() {
        assert!(split_signed(b"{}").is_none());
        let good = format!(r#"{{"v":1,"sig":"{}"}}"#, "A".repeat(43)).into_bytes();
        assert!(split_signed(&good).is_some());
        let bad = format!(r#"{{"v":1,"sig":"{}+"}}"#, "A".repeat(42)).into_bytes();
        assert!(
            split_signed(&bad).is_none(),
            "the standard base64 alphabet is not the format"
        );
        for len in [42, 44, 64] {
            let bad = format!(r#"{{"v":1,"sig":"{}"}}"#, "a".repeat(len)).into_bytes();
            assert!(split_signed(&bad).is_none(), "{len} characters");
        }
    }

    #[test]
    fn seals_parse_and_print_as_anchors() {
        let sig = "zLvw9puWyRLeJqOvbPsAJ_28RByEgvBYVlX4EenvzWk";
        let s: Seal = format!("my:app:7:{sig}").parse().unwrap();
        assert_eq!((s.stream(), s.seq(), s.sig()), ("my:app", 7, sig));
        assert_eq!(s.to_string(), format!("my:app:7:{sig}"));
        assert!("app:x:00".parse::<Seal>().is_err());
        assert!(format!("app:7:{}", &sig[1..]).parse::<Seal>().is_err());
        assert!(
            format!("app:7:{}", sig.replace('_', "/"))
                .parse::<Seal>()
                .is_err()
        );
        assert!(
            format!("app:7:{}", "0f".repeat(32))
                .parse::<Seal>()
                .is_err()
        );
        assert!("nope".parse::<Seal>().is_err());
    }
}
