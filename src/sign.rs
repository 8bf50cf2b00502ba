//! The writer's side of signing: per-stream chains, seals, segments, and
//! picking a chain up again after a restart. The scheme is specified in
//! `signing.md` (the public `evtrail::signing` page).

use std::fmt;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, ErrorKind};
use crate::key::{GENESIS, Key, SIG_LEN, Sig, StreamMac, is_sig_char};
use crate::marker::{self, MarkerKind};

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

/// The name of the writer's state file inside the log directory.
pub(crate) const STATE_FILE: &str = ".evtrail-state";

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

/// Where a stream's chain goes on from when the writer starts.
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

/// The state file: for each stream, the last segment, seq and signature the
/// writer knows it wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct State {
    pub(crate) streams: Vec<(String, StreamState)>,
}

/// One stream's entry in the state file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StreamState {
    pub(crate) segment: u64,
    pub(crate) seq: u64,
    pub(crate) sig: Sig,
}

impl State {
    pub(crate) fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Reads the state file; a missing file is an empty state, an unreadable
    /// one an error (so a damaged state is never silently taken for none).
    pub(crate) fn load(dir: &Path) -> Result<State, Error> {
        let path = State::path(dir);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => {
                return Err(Error::with_source(
                    ErrorKind::Io,
                    format!("cannot read `{}`", path.display()),
                    e,
                ));
            }
        };
        let bad = || {
            Error::new(
                ErrorKind::Io,
                format!(
                    "state file `{}` is damaged; move it away to start over",
                    path.display()
                ),
            )
        };
        let v: Value = serde_json::from_str(&text).map_err(|_| bad())?;
        let mut state = State::default();
        for (name, s) in v
            .get("streams")
            .and_then(Value::as_object)
            .ok_or_else(bad)?
        {
            let sig = s.get("sig").and_then(Value::as_str).ok_or_else(bad)?;
            if sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "the logs in `{}` were written by an earlier evtrail, whose \
                         signatures were hex; their chain cannot be continued: move the \
                         directory's files away (they verify with that version) to start anew",
                        dir.display()
                    ),
                ));
            }
            if sig.len() != SIG_LEN || !sig.bytes().all(is_sig_char) {
                return Err(bad());
            }
            let mut arr = [0u8; SIG_LEN];
            arr.copy_from_slice(sig.as_bytes());
            state.streams.push((
                name.clone(),
                StreamState {
                    segment: s.get("segment").and_then(Value::as_u64).ok_or_else(bad)?,
                    seq: s.get("seq").and_then(Value::as_u64).ok_or_else(bad)?,
                    sig: arr,
                },
            ));
        }
        Ok(state)
    }

    pub(crate) fn get(&self, stream: &str) -> Option<&StreamState> {
        self.streams
            .iter()
            .find(|(s, _)| s == stream)
            .map(|(_, st)| st)
    }

    pub(crate) fn set(&mut self, stream: &str, st: StreamState) {
        match self.streams.iter_mut().find(|(s, _)| s == stream) {
            Some((_, old)) => *old = st,
            None => self.streams.push((stream.to_owned(), st)),
        }
    }

    /// Writes the state atomically: to a temporary file, synced, renamed.
    pub(crate) fn save(&self, dir: &Path) -> std::io::Result<()> {
        let mut streams = serde_json::Map::new();
        for (name, st) in &self.streams {
            streams.insert(
                name.clone(),
                serde_json::json!({
                    "segment": st.segment,
                    "seq": st.seq,
                    "sig": String::from_utf8_lossy(&st.sig),
                }),
            );
        }
        let text = serde_json::json!({ "v": 1, "streams": streams }).to_string();
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        {
            let mut f = fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, State::path(dir))
    }
}

/// What the newest file of a stream says about how it ended.
#[derive(Debug, PartialEq)]
struct Tail {
    segment: Option<u64>,
    seq: u64,
    sig: Sig,
    clean: bool,
    torn_bytes: u64,
}

/// Reads how far the newest file of a stream got. Only the header and the
/// last well-formed line matter, so a plain file is read from both ends.
fn read_tail(path: &Path) -> Result<Option<Tail>, Error> {
    let io = |e| {
        Error::with_source(
            ErrorKind::Io,
            format!("cannot read `{}`", path.display()),
            e,
        )
    };
    let mut f = fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut head = Vec::new();
    (&mut f)
        .take(64 * 1024)
        .read_to_end(&mut head)
        .map_err(io)?;
    let segment = head
        .split(|&b| b == b'\n')
        .next()
        .and_then(|l| serde_json::from_slice::<Value>(l).ok())
        .filter(|v| marker_of(v) == Some(MarkerKind::SegmentStart))
        .and_then(|v| v["fields"]["segment"].as_u64());
    // Enough to hold the last lines; records are bounded in size.
    let window = len.min(4 * 1024 * 1024);
    f.seek(SeekFrom::Start(len - window)).map_err(io)?;
    let mut tail = Vec::with_capacity(window as usize);
    f.read_to_end(&mut tail).map_err(io)?;
    let complete = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut torn = (tail.len() - complete) as u64;
    for line in tail[..complete]
        .rsplit(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
    {
        let record = split_signed(line)
            .and_then(|(_, sig)| Some((sig, serde_json::from_slice::<Value>(line).ok()?)))
            .and_then(|(sig, v)| {
                Some((
                    sig,
                    v["seq"].as_u64()?,
                    marker_of(&v) == Some(MarkerKind::SegmentEnd),
                ))
            });
        if let Some((sig, seq, clean)) = record {
            let mut arr = [0u8; SIG_LEN];
            arr.copy_from_slice(sig);
            return Ok(Some(Tail {
                segment,
                seq,
                sig: arr,
                clean,
                torn_bytes: torn,
            }));
        }
        // A complete line that is not a record counts as torn as well.
        torn += line.len() as u64 + 1;
    }
    Ok(None)
}

/// Which chain marker a parsed record is, if any.
fn marker_of(v: &Value) -> Option<MarkerKind> {
    v["event"].as_str().and_then(marker::kind)
}

/// Works out where each stream's chain goes on, from the newest file in
/// `dir` and the state file.
pub(crate) fn resume(dir: &Path, stream: &str, state: &State) -> Result<Resume, Error> {
    let active = dir.join(format!("{stream}.log"));
    let tail = if active.exists() {
        read_tail(&active)?
    } else {
        None
    };
    let saved = state.get(stream);
    let mut r = Resume::fresh();
    match (tail, saved) {
        (Some(t), saved) => {
            let seg = t.segment.unwrap_or(0).max(saved.map_or(0, |s| s.segment));
            match saved {
                Some(s) if s.seq > t.seq => {
                    r.prev_end = PrevEnd::Missing;
                    r.prev_segment = s.segment;
                    r.prev_seq = s.seq;
                    r.prev_sig = s.sig;
                }
                _ => {
                    r.prev_end = if t.clean {
                        PrevEnd::Clean
                    } else {
                        PrevEnd::Crash
                    };
                    r.prev_segment = t.segment.unwrap_or(0);
                    r.prev_seq = t.seq;
                    r.prev_sig = t.sig;
                    r.torn_bytes = if t.clean { 0 } else { t.torn_bytes };
                }
            }
            r.segment = seg + 1;
        }
        (None, Some(s)) => {
            r.prev_end = PrevEnd::Missing;
            r.prev_segment = s.segment;
            r.prev_seq = s.seq;
            r.prev_sig = s.sig;
            r.segment = s.segment + 1;
        }
        (None, None) => {}
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::from_bytes(vec![7u8; 32]).unwrap()
    }

    fn signed(chain: &mut Chain, body: &str) -> Vec<u8> {
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

    #[test]
    fn state_round_trips_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        let mut st = State::default();
        st.set(
            "app",
            StreamState {
                segment: 3,
                seq: 90,
                sig: [b'a'; SIG_LEN],
            },
        );
        st.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), st);
        fs::write(State::path(dir.path()), "{").unwrap();
        assert!(State::load(dir.path()).is_err());
        // The state file as written, with `sig` in place of the signature.
        let load_with = |sig: &str| {
            let text = r#"{"v":1,"streams":{"app":{"segment":3,"seq":90,"sig":"SIG"}}}"#;
            fs::write(State::path(dir.path()), text.replace("SIG", sig)).unwrap();
            State::load(dir.path())
        };
        let old_format = load_with(&"0f".repeat(32)).unwrap_err().to_string();
        assert!(old_format.contains("earlier evtrail"), "{old_format}");
        let damaged = load_with(&"0f".repeat(30)).unwrap_err().to_string();
        assert!(damaged.contains("damaged"), "{damaged}");
        assert_eq!(load_with(&"a".repeat(43)).unwrap(), st);
    }

    fn write_segment(dir: &Path, lines: &[&str], end_clean: bool, torn: &str) -> Vec<u8> {
        let mut chain = Chain::new(&key(), "app", &Resume::fresh());
        let mut out = Vec::new();
        let n = lines.len();
        for (i, l) in lines.iter().enumerate() {
            let body = if i == 0 {
                format!(
                    r#"{{"v":1,"stream":"app","seq":{},"event":"evtrail.segment_start","fields":{{"segment":4}}"#,
                    i + 1
                )
            } else if end_clean && i == n - 1 {
                format!(
                    r#"{{"v":1,"stream":"app","seq":{},"event":"evtrail.segment_end""#,
                    i + 1
                )
            } else {
                format!(r#"{{"v":1,"stream":"app","seq":{},"msg":"{l}""#, i + 1)
            };
            out.extend(signed(&mut chain, &body));
            out.push(b'\n');
        }
        out.extend_from_slice(torn.as_bytes());
        fs::write(dir.join("app.log"), &out).unwrap();
        chain.prev.to_vec()
    }

    #[test]
    fn resume_after_a_clean_end_links_to_the_end_marker() {
        let dir = tempfile::tempdir().unwrap();
        let last = write_segment(dir.path(), &["h", "a", "b", "end"], true, "");
        let r = resume(dir.path(), "app", &State::default()).unwrap();
        assert_eq!(
            (
                r.prev_end,
                r.prev_seq,
                r.prev_segment,
                r.segment,
                r.torn_bytes
            ),
            (PrevEnd::Clean, 4, 4, 5, 0)
        );
        assert_eq!(&r.prev_sig[..], &last[..]);
    }

    #[test]
    fn resume_after_a_crash_counts_the_torn_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let last = write_segment(dir.path(), &["h", "a", "b"], false, r#"{"v":1,"stre"#);
        let r = resume(dir.path(), "app", &State::default()).unwrap();
        assert_eq!(
            (r.prev_end, r.prev_seq, r.torn_bytes, r.segment),
            (PrevEnd::Crash, 3, 12, 5)
        );
        assert_eq!(&r.prev_sig[..], &last[..]);
    }

    #[test]
    fn resume_reports_files_that_vanished_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = State::default();
        st.set(
            "app",
            StreamState {
                segment: 9,
                seq: 500,
                sig: [b'c'; SIG_LEN],
            },
        );
        let r = resume(dir.path(), "app", &st).unwrap();
        assert_eq!(
            (r.prev_end, r.prev_seq, r.prev_segment, r.segment),
            (PrevEnd::Missing, 500, 9, 10)
        );
        // A file older than the state: what came after it is gone.
        write_segment(dir.path(), &["h", "a"], false, "");
        let r = resume(dir.path(), "app", &st).unwrap();
        assert_eq!(
            (r.prev_end, r.prev_seq, r.segment),
            (PrevEnd::Missing, 500, 10)
        );
    }

    #[test]
    fn a_first_start_has_nothing_to_link_to() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            resume(dir.path(), "app", &State::default()).unwrap(),
            Resume::fresh()
        );
    }
}
