//! Where a stream's chain goes on when the writer starts: how the previous
//! segment ended (cleanly, in a crash, or with its file gone), read from
//! the newest file's two ends and the state file.
//!
//! It only reads, and must not depend on the worker or the sinks: the
//! builder asks it once per stream, and the worker writes the new
//! segment's opening record from the answer.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::Value;

use super::split_signed;
use super::state::State;
use crate::error::{Error, ErrorKind};
use crate::mac::{SIG_LEN, Sig};
use crate::marker::{self, MarkerKind, PrevEnd, Resume};

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
    // Enough to hold the last lines; records are bounded in size.
    let window = len.min(4 * 1024 * 1024);
    f.seek(SeekFrom::Start(len - window)).map_err(io)?;
    let mut tail = Vec::with_capacity(window as usize);
    f.read_to_end(&mut tail).map_err(io)?;
    Ok(tail_of(&head, &tail))
}

/// The tail of a compressed rolled file: read whole, as gzip has no end to
/// start from (only after a crash in the middle of a roll).
fn read_gzip_tail(path: &Path) -> Result<Option<Tail>, Error> {
    let mut data = Vec::new();
    crate::logdir::open(path)
        .and_then(|mut r| r.read_to_end(&mut data))
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Io,
                format!("cannot read `{}`", path.display()),
                e,
            )
        })?;
    Ok(tail_of(&data, &data))
}

/// The newest rolled file of `stream` in `dir` (the highest counter; the
/// plain one of a `.log`/`.log.gz` pair, which compression has not yet
/// replaced).
fn newest_rolled(dir: &Path, stream: &str) -> Option<std::path::PathBuf> {
    let mut best: Option<((u64, bool), std::path::PathBuf)> = None;
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(r) = crate::logdir::parse_rolled_name(stream, name) {
            let rank = (r.counter, !r.gzip);
            if best.as_ref().is_none_or(|(b, _)| rank > *b) {
                best = Some((rank, entry.path()));
            }
        }
    }
    best.map(|(_, p)| p)
}

/// How far a file got, from its first bytes (`head`: the segment header)
/// and its last ones (`tail`, whose last line may be torn).
fn tail_of(head: &[u8], tail: &[u8]) -> Option<Tail> {
    let segment = head
        .split(|&b| b == b'\n')
        .next()
        .and_then(|l| serde_json::from_slice::<Value>(l).ok())
        .filter(|v| marker_of(v) == Some(MarkerKind::SegmentStart))
        .and_then(|v| v["fields"]["segment"].as_u64());
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
            return Some(Tail {
                segment,
                seq,
                sig: arr,
                clean,
                torn_bytes: torn,
            });
        }
        // A complete line that is not a record counts as torn as well.
        torn += line.len() as u64 + 1;
    }
    None
}

/// Which chain marker a parsed record is, if any.
fn marker_of(v: &Value) -> Option<MarkerKind> {
    v["event"].as_str().and_then(marker::kind)
}

/// Works out where each stream's chain goes on, from the newest file in
/// `dir` and the state file.
pub(crate) fn resume(dir: &Path, stream: &str, state: &State) -> Result<Resume, Error> {
    let active = dir.join(format!("{stream}.log"));
    let mut tail = if active.exists() {
        read_tail(&active)?
    } else {
        None
    };
    if tail.is_none() {
        // A crash in the middle of a roll: the active file is gone, or new
        // and still empty, and the chain's end is in the file just rolled
        // (which the state file, saved now and then, may lag behind).
        tail = match newest_rolled(dir, stream) {
            Some(p) if p.extension() == Some("gz".as_ref()) => read_gzip_tail(&p)?,
            Some(p) => read_tail(&p)?,
            None => None,
        };
    }
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
    use crate::sign::Chain;
    use crate::sign::state::StreamState;
    use crate::sign::tests::{key, signed};

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
    fn a_crash_in_the_middle_of_a_roll_goes_on_from_the_rolled_file() {
        let dir = tempfile::tempdir().unwrap();
        let last = write_segment(dir.path(), &["h", "a", "b", "end"], true, "");
        let rolled = crate::logdir::rolled_name("app", 1_795_000_000, 7);
        fs::rename(dir.path().join("app.log"), dir.path().join(&rolled)).unwrap();
        // The state file, saved now and then, is behind the rolled file.
        let mut st = State::default();
        st.set(
            "app",
            StreamState {
                segment: 4,
                seq: 2,
                sig: [b'c'; SIG_LEN],
            },
        );
        // The new active file was never written, or only created.
        for active in [None, Some("")] {
            if let Some(text) = active {
                fs::write(dir.path().join("app.log"), text).unwrap();
            }
            let r = resume(dir.path(), "app", &st).unwrap();
            assert_eq!(
                (r.prev_end, r.prev_seq, r.prev_segment, r.segment),
                (PrevEnd::Clean, 4, 4, 5)
            );
            assert_eq!(&r.prev_sig[..], &last[..]);
        }
        // Compressed since: read through gzip.
        let plain = dir.path().join(&rolled);
        let data = fs::read(&plain).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &data).unwrap();
        fs::write(crate::logdir::gzip_path(&plain), gz.finish().unwrap()).unwrap();
        fs::remove_file(&plain).unwrap();
        let r = resume(dir.path(), "app", &st).unwrap();
        assert_eq!((r.prev_end, r.prev_seq, r.segment), (PrevEnd::Clean, 4, 5));
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
