//! What went with a rolled file retention is about to delete: its stream,
//! segment, first and last `seq` and last signature, for the
//! `evtrail.files_removed` record that keeps the chain's history honest
//! (`signing.md`, "Removed files").
//!
//! Only the first lines are read: the file's own segment start gives its
//! first `seq`, and the next file's segment start links to its last record
//! (`prev_seq`, `prev_sig`). Reading a whole gzip file to its end is not
//! needed.

use std::path::Path;

use serde_json::Value;

use super::retention::LogFile;
use crate::logdir::{Lines, open};
use crate::mac::{SIG_LEN, Sig, is_sig_char};
use crate::marker::{MarkerKind, Removed};

/// The longest first line read; a segment start is far shorter.
const MAX_HEADER: usize = 64 * 1024;

/// A segment start's `seq` and fields, from a file's first line.
fn header(path: &Path) -> Option<(u64, Value)> {
    let mut lines = Lines::new(open(path).ok()?, MAX_HEADER);
    let raw = lines.next_line().ok()??;
    if !raw.complete || raw.too_long {
        return None;
    }
    let v: Value = serde_json::from_slice(raw.bytes).ok()?;
    let event = v.get("event").and_then(Value::as_str)?;
    (crate::marker::kind(event) == Some(MarkerKind::SegmentStart))
        .then(|| Some((v.get("seq")?.as_u64()?, v.get("fields")?.clone())))
        .flatten()
}

fn sig_of(v: &Value) -> Option<Sig> {
    let s = v.as_str()?;
    if s.len() != SIG_LEN || !s.bytes().all(is_sig_char) {
        return None;
    }
    let mut sig = [0u8; SIG_LEN];
    sig.copy_from_slice(s.as_bytes());
    Some(sig)
}

/// Describes `doomed` (one of `files`) before it is deleted; `None` when
/// it is not a signed segment or the file after it does not say where it
/// ended (an unsigned log: nothing to keep honest).
pub(super) fn describe(doomed: &LogFile, files: &[LogFile]) -> Option<Removed> {
    // The stream's files in chain order: rolled by roll time, then active.
    let mut mine: Vec<&LogFile> = files.iter().filter(|f| f.stream == doomed.stream).collect();
    mine.sort_by(|a, b| {
        (a.rolled.is_none(), &a.rolled, &a.path).cmp(&(b.rolled.is_none(), &b.rolled, &b.path))
    });
    let at = mine.iter().position(|f| f.path == doomed.path)?;
    let (first_seq, own) = header(&doomed.path)?;
    let next = mine
        .get(at + 1)
        .and_then(|f| header(&f.path))
        .and_then(|(_, next)| {
            Some((
                next.get("prev_seq")?.as_u64()?,
                sig_of(next.get("prev_sig")?)?,
            ))
        });
    // The file just rolled has no successor on disk yet: its own last
    // record says where it ended (it is plain and was just written).
    let (last_seq, last_sig) = match next {
        Some(end) => end,
        None => last_record(&doomed.path)?,
    };
    Some(Removed {
        stream: doomed.stream.clone(),
        file: doomed.path.file_name()?.to_str()?.to_owned(),
        segment: own.get("segment")?.as_u64()?,
        first_seq,
        last_seq,
        last_sig,
    })
}

/// The `seq` and signature of a file's last signed record, read through.
fn last_record(path: &Path) -> Option<(u64, Sig)> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    let mut lines = Lines::new(open(path).ok()?, crate::logdir::DEFAULT_MAX_LINE_BYTES);
    let mut last = None;
    while let Ok(Some(raw)) = lines.next_line() {
        if !raw.complete || raw.too_long {
            continue;
        }
        if let Some((_, sig)) = crate::sign::split_signed(raw.bytes)
            && let Ok(s) = serde_json::from_slice::<Seq>(raw.bytes)
        {
            let mut arr = [0u8; SIG_LEN];
            arr.copy_from_slice(sig);
            last = Some((s.seq, arr));
        }
    }
    last
}
