//! Two copies of one rolled segment: `X.log` beside `X.log.gz`, which an
//! interrupted compression leaves (the copy is complete before its rename,
//! the original is deleted after it). Both are read: the chain is checked
//! on the original, and the copy must hold the same lines, byte for byte.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::logdir::{Lines, open};
use crate::verify::report::{FindingKind, Location};

/// Takes every `X.log.gz` whose `X.log` is also in `files` out of the
/// list, and returns it with its original: `(X.log, X.log.gz)`.
pub(super) fn pair(files: &mut Vec<PathBuf>) -> Vec<(PathBuf, PathBuf)> {
    let plain: std::collections::HashSet<PathBuf> = files
        .iter()
        .filter(|p| p.extension() == Some("log".as_ref()))
        .cloned()
        .collect();
    let mut pairs = Vec::new();
    files.retain(|p| {
        let original = p
            .to_str()
            .and_then(|s| s.strip_suffix(".gz"))
            .map(PathBuf::from)
            .filter(|o| plain.contains(o));
        match original {
            Some(o) => {
                pairs.push((o, p.clone()));
                false
            }
            None => true,
        }
    });
    pairs
}

/// Whether a file holds nothing at all (after decompression): a writer
/// that stopped before its first record leaves such an active file.
pub(super) fn is_empty(path: &Path) -> bool {
    open(path)
        .and_then(|mut r| r.fill_buf().map(|b| b.is_empty()))
        .unwrap_or(false)
}

/// A twin finding: its kind, place, the `seq` of the original's line
/// there (when it has one) and what exactly.
pub(super) type Difference = (FindingKind, Location, Option<u64>, String);

/// The `seq` a line claims, if it is a record at all.
fn seq_of(line: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    serde_json::from_slice::<Seq>(line).ok().map(|s| s.seq)
}

/// Where the copy `gz` first differs from its original `plain`, and how;
/// `None` when the two hold the same lines.
pub(super) fn compare(plain: &Path, gz: &Path, max: usize) -> Option<Difference> {
    let at = |line: u64, offset: u64| Location {
        file: gz.to_path_buf(),
        line,
        offset,
    };
    let cannot = |e: std::io::Error, which: &Path| {
        Some((
            FindingKind::Unreadable,
            at(0, 0),
            None,
            format!(
                "cannot compare `{}` with `{}`: `{}` cannot be read to its end: {e}",
                gz.display(),
                plain.display(),
                which.display()
            ),
        ))
    };
    let mut a = match open(plain) {
        Ok(r) => Lines::new(r, max),
        Err(e) => return cannot(e, plain),
    };
    let mut b = match open(gz) {
        Ok(r) => Lines::new(r, max),
        Err(e) => return cannot(e, gz),
    };
    loop {
        let left = match a.next_line() {
            Ok(l) => l.map(|l| (l.bytes.to_vec(), l.complete)),
            Err(e) => return cannot(e, plain),
        };
        let (offset, right) = (b.offset(), b.next_line());
        let right = match right {
            Ok(r) => r.map(|r| (r.bytes.to_vec(), r.complete)),
            Err(e) => return cannot(e, gz),
        };
        let line = b.line();
        let what = match (&left, &right) {
            (None, None) => return None,
            (Some(l), Some(r)) if l == r => continue,
            (Some(_), Some(_)) => format!("line {line} differs from line {line} of"),
            (Some(_), None) => format!("ends after line {line}, before the end of"),
            (None, Some(_)) => format!("has more lines (from line {line}) than"),
        };
        let line = if right.is_none() { line + 1 } else { line };
        let seq = left
            .as_ref()
            .or(right.as_ref())
            .and_then(|(l, _)| seq_of(l));
        return Some((
            FindingKind::TwinMismatch,
            at(line, offset),
            seq,
            format!(
                "`{}` {what} `{}`: two copies of one segment must be identical, one of them was altered (the chain was checked on `{}`)",
                gz.display(),
                plain.display(),
                plain.display()
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &[u8], gzip: bool) {
        if gzip {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(
                std::fs::File::create(path).unwrap(),
                flate2::Compression::fast(),
            );
            enc.write_all(text).unwrap();
            enc.finish().unwrap();
        } else {
            std::fs::write(path, text).unwrap();
        }
    }

    #[test]
    fn only_a_gzip_beside_its_original_is_a_twin() {
        let mut files: Vec<PathBuf> = ["d/a.log", "d/a.log.gz", "d/b.log.gz", "d/c.log"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let pairs = pair(&mut files);
        assert_eq!(
            pairs,
            [(PathBuf::from("d/a.log"), PathBuf::from("d/a.log.gz"))]
        );
        let left: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(left, ["d/a.log", "d/b.log.gz", "d/c.log"]);
    }

    #[test]
    fn the_first_difference_is_placed_in_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let (plain, gz) = (dir.path().join("x.log"), dir.path().join("x.log.gz"));
        write(&plain, b"{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n", false);
        write(&gz, b"{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n", true);
        assert!(compare(&plain, &gz, 1024).is_none());
        write(&gz, b"{\"seq\":1}\n{\"seq\":9}\n{\"seq\":3}\n", true);
        let (kind, loc, seq, _) = compare(&plain, &gz, 1024).unwrap();
        assert_eq!(
            (kind, loc.line, loc.offset, seq),
            (FindingKind::TwinMismatch, 2, 10, Some(2))
        );
        write(&gz, b"{\"seq\":1}\n", true);
        let (_, loc, seq, detail) = compare(&plain, &gz, 1024).unwrap();
        assert_eq!((loc.line, seq), (2, Some(2)), "{detail}");
        assert!(detail.contains("ends after line 1"), "{detail}");
        assert!(!is_empty(&dir.path().join("x.log")));
        std::fs::write(dir.path().join("e.log"), b"").unwrap();
        assert!(is_empty(&dir.path().join("e.log")));
    }
}
