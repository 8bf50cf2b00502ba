//! Which files a query reads: every stream's files in a log directory (or
//! files named directly), in the order they were written, and which of
//! them the time range rules out by their names alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::range::TimeRange;
use crate::error::{Error, ErrorKind};
use crate::logdir::{collect_files, parse_rolled_name, rolled_stream};

/// How far a record's `ts` may trail the roll that closed its file, or
/// precede the roll that opened it: rolled names count whole seconds, and
/// records of different threads reach the writer up to about a second out
/// of time order.
const SLACK: Duration = Duration::from_secs(3);

/// One file of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogFile {
    pub(crate) path: PathBuf,
    /// The roll counter of a rolled file; `None` for the active file or a
    /// file named directly.
    pub(crate) counter: Option<u64>,
    /// When it was rolled, from its name.
    pub(crate) rolled_at: Option<SystemTime>,
}

/// The files of one stream, oldest first.
#[derive(Clone, Debug)]
pub(crate) struct StreamFiles {
    pub(crate) files: Vec<LogFile>,
}

impl StreamFiles {
    /// The files whose records can fall in `range`: a rolled file holds
    /// records from about when the file before it was rolled until it was
    /// rolled itself, and the active file from the last roll on.
    pub(crate) fn overlapping(&self, range: &TimeRange) -> Vec<LogFile> {
        let mut out = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            let ends = f.rolled_at.map(|t| t + SLACK);
            let starts = i
                .checked_sub(1)
                .and_then(|p| self.files[p].rolled_at)
                .map(|t| t.checked_sub(SLACK).unwrap_or(UNIX_EPOCH));
            let before = matches!((ends, range.from()), (Some(e), Some(from)) if e < from);
            let after = matches!((starts, range.to()), (Some(s), Some(to)) if s >= to);
            if !before && !after {
                out.push(f.clone());
            }
        }
        out
    }
}

/// The streams in `paths` (directories, whose `*.log` and `*.log.gz` files
/// are read, or single files), each with its files oldest first; only
/// `wanted` streams when it is not empty.
pub(crate) fn discover(paths: &[PathBuf], wanted: &[String]) -> Result<Vec<StreamFiles>, Error> {
    if paths.is_empty() {
        return Err(Error::config("no log directory or file to read"));
    }
    for p in paths {
        if let Err(e) = std::fs::metadata(p) {
            return Err(Error::with_source(
                ErrorKind::Io,
                format!("cannot read `{}`", p.display()),
                e,
            ));
        }
    }
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    // A stream is a name in one directory: `app` of two hosts' directories
    // is two streams, each in its own order, merged by time later.
    let mut by_stream: BTreeMap<(PathBuf, String), Vec<LogFile>> = BTreeMap::new();
    for path in collect_files(&refs)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let (stream, file) =
            match rolled_stream(name).and_then(|s| Some((s, parse_rolled_name(s, name)?))) {
                Some((stream, rolled)) => (
                    stream.to_owned(),
                    LogFile {
                        counter: Some(rolled.counter),
                        rolled_at: crate::time::parse_rolled_stamp(&rolled.time)
                            .map(|s| UNIX_EPOCH + Duration::from_secs(s)),
                        path: path.clone(),
                    },
                ),
                None => {
                    let stream = name
                        .strip_suffix(".log.gz")
                        .or_else(|| name.strip_suffix(".log"))
                        .unwrap_or(name);
                    (
                        stream.to_owned(),
                        LogFile {
                            counter: None,
                            rolled_at: None,
                            path: path.clone(),
                        },
                    )
                }
            };
        if wanted.is_empty() || wanted.contains(&stream) {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            by_stream.entry((dir, stream)).or_default().push(file);
        }
    }
    Ok(by_stream
        .into_values()
        .map(|mut files| {
            // Rolled files in roll order, the active file (no counter) last.
            files.sort_by_key(|f| (f.counter.is_none(), f.counter, f.path.clone()));
            // A file caught mid-compression is there twice (`.log` and
            // `.log.gz`, both whole): read the plain one.
            files.dedup_by(|gz, plain| gz.counter.is_some() && gz.counter == plain.counter);
            StreamFiles { files }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(counter: Option<u64>, secs: Option<u64>) -> LogFile {
        LogFile {
            path: PathBuf::from(format!("f{counter:?}")),
            counter,
            rolled_at: secs.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
        }
    }

    #[test]
    fn names_rule_out_files_that_end_before_or_start_after_the_range() {
        let s = StreamFiles {
            files: vec![
                file(Some(1), Some(1_000)),
                file(Some(2), Some(2_000)),
                file(Some(3), Some(3_000)),
                file(None, None),
            ],
        };
        let at = |a: u64, b: u64| {
            TimeRange::between(
                Some(UNIX_EPOCH + Duration::from_secs(a)),
                Some(UNIX_EPOCH + Duration::from_secs(b)),
            )
        };
        let counters = |r: TimeRange| -> Vec<Option<u64>> {
            s.overlapping(&r).iter().map(|f| f.counter).collect()
        };
        assert_eq!(counters(at(2_500, 2_600)), vec![Some(3)]);
        assert_eq!(counters(at(1_500, 2_500)), vec![Some(2), Some(3)]);
        assert_eq!(counters(at(3_500, 4_000)), vec![None]);
        assert_eq!(counters(at(0, 500)), vec![Some(1)]);
        // Within the slack of a roll, both files around it are read.
        assert_eq!(counters(at(2_001, 2_002)), vec![Some(2), Some(3)]);
        assert_eq!(counters(TimeRange::all()).len(), 4);
    }
}
