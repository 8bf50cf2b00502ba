//! Retention of rolled files: which old files of a log directory go, and
//! deleting them.
//!
//! The decision ([`plan`]) is pure so that every limit can be tested exactly
//! without a file system; [`enforce`] only lists, measures and deletes.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::finishing::finishing_lock;
use super::removal;
use crate::error::{Error, ErrorKind};
use crate::logdir::{gzip_path, is_active_name, parse_rolled_name, strip_gzip};
use crate::marker::Removed;
use crate::time::parse_rolled_stamp;

/// How long rolled files are kept.
///
/// Every limit is optional and unset means unlimited, so the default keeps
/// everything. Limits are enforced after every roll and when the writer
/// starts. They delete the oldest rolled files first and never touch an
/// active file (`<stream>.log`), another stream's files or files that are
/// not logs of a known stream at all.
///
/// For example, `Retention::keep_all().max_files(30).max_total_bytes(1 <<
/// 30)` keeps at most 30 rolled files per stream and at most 1 GiB in the
/// whole directory, active files included.
///
/// When several limits are set they apply in this order, each to what the
/// previous ones left: [`max_age`](Self::max_age),
/// [`max_files`](Self::max_files), [`max_stream_bytes`](Self::max_stream_bytes)
/// (each per stream), then [`max_total_bytes`](Self::max_total_bytes) across
/// all streams.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    max_files: Option<usize>,
    max_age: Option<Duration>,
    max_stream_bytes: Option<u64>,
    max_total_bytes: Option<u64>,
}

impl Retention {
    /// Keeps everything (the default).
    pub fn keep_all() -> Retention {
        Retention::default()
    }

    /// Keeps at most `n` rolled files per stream; the active file is not
    /// counted. `0` deletes every rolled file.
    #[must_use]
    pub fn max_files(mut self, n: usize) -> Retention {
        self.max_files = Some(n);
        self
    }

    /// Deletes rolled files rolled longer ago than `age`, judged by the time
    /// in their name (not the file's modification time).
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Retention {
        self.max_age = Some(age);
        self
    }

    /// Keeps at most `bytes` per stream, the active file included.
    ///
    /// The active file is never deleted, so an active file that alone is
    /// larger than the cap is left alone (and all rolled files of its stream
    /// go).
    #[must_use]
    pub fn max_stream_bytes(mut self, bytes: u64) -> Retention {
        self.max_stream_bytes = Some(bytes);
        self
    }

    /// Keeps at most `bytes` in the whole directory: every stream's active
    /// and rolled files, of the streams this writer knows. The oldest rolled
    /// files across all streams go first.
    #[must_use]
    pub fn max_total_bytes(mut self, bytes: u64) -> Retention {
        self.max_total_bytes = Some(bytes);
        self
    }
}

/// A file the planner considers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogFile {
    pub(crate) path: PathBuf,
    pub(crate) stream: String,
    pub(crate) bytes: u64,
    /// `None` for the active file.
    pub(crate) rolled: Option<RolledAt>,
}

/// When a file was rolled; orders files oldest first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RolledAt {
    pub(crate) unix_secs: u64,
    pub(crate) counter: u64,
}

/// Which files to delete, oldest first, given the files, the policy and the
/// current time. Deterministic and free of I/O.
///
/// Files without [`RolledAt`] are active and never listed; a path given more
/// than once is considered (and listed) once.
pub(crate) fn plan(files: &[LogFile], policy: &Retention, now_unix_secs: u64) -> Vec<PathBuf> {
    // Actives are taken first so that a path that also came in as a rolled
    // file stays (and is counted once, as active).
    let mut seen = BTreeSet::new();
    let actives: Vec<&LogFile> = files
        .iter()
        .filter(|f| f.rolled.is_none() && seen.insert(f.path.as_path()))
        .collect();
    let mut rolled: Vec<(&RolledAt, &LogFile)> = files
        .iter()
        .filter_map(|f| Some((f.rolled.as_ref()?, f)))
        .filter(|(_, f)| seen.insert(f.path.as_path()))
        .collect();
    rolled.sort_by(|a, b| (a.0, &a.1.path).cmp(&(b.0, &b.1.path)));
    // `deleted[i]` refers to `rolled[i]`; keeping one sorted list means every
    // limit below walks oldest first without re-sorting.
    let mut deleted = vec![false; rolled.len()];

    let streams: BTreeSet<&str> = actives
        .iter()
        .map(|f| f.stream.as_str())
        .chain(rolled.iter().map(|(_, f)| f.stream.as_str()))
        .collect();
    for stream in streams {
        let mine: Vec<usize> = (0..rolled.len())
            .filter(|&i| rolled[i].1.stream == stream)
            .collect();

        if let Some(age) = policy.max_age {
            for &i in &mine {
                let rolled_ago = now_unix_secs.saturating_sub(rolled[i].0.unix_secs);
                if Duration::from_secs(rolled_ago) > age {
                    deleted[i] = true;
                }
            }
        }

        if let Some(n) = policy.max_files {
            let alive: Vec<usize> = mine.iter().copied().filter(|&i| !deleted[i]).collect();
            let excess = alive.len().saturating_sub(n);
            for &i in &alive[..excess] {
                deleted[i] = true;
            }
        }

        if let Some(cap) = policy.max_stream_bytes {
            let mut total = actives
                .iter()
                .filter(|f| f.stream == stream)
                .fold(0u64, |sum, f| sum.saturating_add(f.bytes));
            total = mine
                .iter()
                .filter(|&&i| !deleted[i])
                .fold(total, |sum, &i| sum.saturating_add(rolled[i].1.bytes));
            for &i in &mine {
                if total <= cap {
                    break;
                }
                if !deleted[i] {
                    deleted[i] = true;
                    total = total.saturating_sub(rolled[i].1.bytes);
                }
            }
        }
    }

    if let Some(cap) = policy.max_total_bytes {
        let mut total = actives
            .iter()
            .fold(0u64, |sum, f| sum.saturating_add(f.bytes));
        total = (0..rolled.len())
            .filter(|&i| !deleted[i])
            .fold(total, |sum, i| sum.saturating_add(rolled[i].1.bytes));
        for i in 0..rolled.len() {
            if total <= cap {
                break;
            }
            if !deleted[i] {
                deleted[i] = true;
                total = total.saturating_sub(rolled[i].1.bytes);
            }
        }
    }

    rolled
        .iter()
        .zip(&deleted)
        .filter(|(_, d)| **d)
        .map(|((_, f), _)| f.path.clone())
        .collect()
}

/// Files deleted, with their sizes, oldest first.
pub(crate) type Deleted = Vec<(PathBuf, u64)>;

/// Lists `dir`, deletes what [`plan`] says for `streams`, and returns the
/// deleted files with their sizes, oldest first.
///
/// Only `<stream>.log` (never deleted) and names that
/// [`parse_rolled_name`] accepts for one of `streams` (`.gz` included) are
/// considered; a rolled name whose date does not exist is left alone. A file
/// that vanished meanwhile (compressed or deleted by someone else) is not an
/// error.
///
/// # Errors
///
/// [`ErrorKind::Io`] naming the directory when it cannot be listed, or the
/// first file that could not be measured or deleted. The other deletions are
/// still carried out first, so one stuck file does not stop retention.
#[cfg(test)]
pub(crate) fn enforce(
    dir: &Path,
    streams: &[&str],
    policy: &Retention,
    now_unix_secs: u64,
) -> Result<Vec<(PathBuf, u64)>, Error> {
    enforce_described(dir, streams, policy, now_unix_secs).0
}

/// [`enforce`], also describing each deleted file that held a signed
/// segment (what went with it), for the `evtrail.files_removed` records:
/// also when some deletion failed, since the others happened.
pub(crate) fn enforce_described(
    dir: &Path,
    streams: &[&str],
    policy: &Retention,
    now_unix_secs: u64,
) -> (Result<Deleted, Error>, Vec<Removed>) {
    // Runs after every roll; with nothing to enforce the listing is waste.
    if *policy == Retention::default() {
        return (Ok(Vec::new()), Vec::new());
    }
    let (mut files, scan_err) = match scan(dir, streams) {
        Ok(found) => found,
        Err(e) => return (Err(e), Vec::new()),
    };
    // `X.log` beside `X.log.gz` is one segment caught mid-compression (or
    // left so by a crash): count it once, as the plain file.
    let plain: std::collections::HashSet<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    files.retain(|f| {
        f.path
            .to_str()
            .and_then(strip_gzip)
            .is_none_or(|p| !plain.contains(Path::new(p)))
    });
    let doomed = plan(&files, policy, now_unix_secs);
    // Read before anything goes: the next file may be doomed too.
    let described: Vec<Removed> = doomed
        .iter()
        .filter_map(|p| files.iter().find(|f| &f.path == p))
        .filter_map(|f| removal::describe(f, &files))
        .collect();
    let (deleted, delete_err) = delete(&files, &doomed);
    let removed = described
        .into_iter()
        .filter(|r| {
            deleted
                .iter()
                .any(|(p, _)| p.file_name().and_then(|n| n.to_str()) == Some(r.file.as_str()))
        })
        .collect();
    match scan_err.or(delete_err) {
        Some(e) => (Err(e), removed),
        None => (Ok(deleted), removed),
    }
}

/// The log files of `streams` in `dir`, and the first error met on the way.
///
/// An entry that cannot be read or measured is skipped rather than failing
/// the whole listing: leaving a file out can only make the plan delete
/// less, never something it should keep.
fn scan(dir: &Path, streams: &[&str]) -> Result<(Vec<LogFile>, Option<Error>), Error> {
    let listing_err = |e: io::Error| {
        Error::with_source(
            ErrorKind::Io,
            format!("cannot list log directory `{}`", dir.display()),
            e,
        )
    };
    let mut first_err = None;
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(listing_err)? {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                first_err.get_or_insert_with(|| listing_err(e));
                continue;
            }
        };
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let Some((stream, rolled)) = classify(streams, name) else {
            continue;
        };
        let path = entry.path();
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                first_err.get_or_insert_with(|| {
                    Error::with_source(
                        ErrorKind::Io,
                        format!("cannot read the size of log file `{}`", path.display()),
                        e,
                    )
                });
                continue;
            }
        };
        // A directory or symlink with a log's name is not something
        // retention created or should remove.
        if !meta.is_file() {
            continue;
        }
        files.push(LogFile {
            path,
            stream: stream.to_owned(),
            bytes: meta.len(),
            rolled,
        });
    }
    Ok((files, first_err))
}

/// Which known stream `name` belongs to and, for a rolled file, when it was
/// rolled. An active name wins over a rolled reading of the same name, so an
/// active file can never be planned for deletion.
fn classify<'s>(streams: &[&'s str], name: &str) -> Option<(&'s str, Option<RolledAt>)> {
    if let Some(&stream) = streams.iter().find(|s| is_active_name(s, name)) {
        return Some((stream, None));
    }
    streams.iter().find_map(|&stream| {
        let parsed = parse_rolled_name(stream, name)?;
        let at = RolledAt {
            unix_secs: parse_rolled_stamp(&parsed.time)?,
            counter: parsed.counter,
        };
        Some((stream, Some(at)))
    })
}

/// Deletes `doomed`, returning what went with its size and the first
/// failure. Keeps going after a failure so one stuck file does not stop
/// retention.
fn delete(files: &[LogFile], doomed: &[PathBuf]) -> (Vec<(PathBuf, u64)>, Option<Error>) {
    let mut deleted = Vec::new();
    let mut first_err = None;
    // A compression finishing now must not turn a file deleted here back
    // into a `.gz` (see `compress_file`).
    let _finishing = finishing_lock();
    for path in doomed {
        // Its compressed twin, if a crash left one, is the same segment.
        let _ = fs::remove_file(gzip_path(path));
        match fs::remove_file(path) {
            Ok(()) => {
                let bytes = files
                    .iter()
                    .find(|f| &f.path == path)
                    .map_or(0, |f| f.bytes);
                deleted.push((path.clone(), bytes));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                first_err.get_or_insert_with(|| {
                    Error::with_source(
                        ErrorKind::Io,
                        format!("cannot delete rolled log file `{}`", path.display()),
                        e,
                    )
                });
            }
        }
    }
    (deleted, first_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logdir::rolled_name;

    const T0: u64 = 1_795_176_000; // 2026-11-20T12:00:00Z
    const DAY: u64 = 86_400;

    fn rolled(stream: &str, unix_secs: u64, counter: u64, bytes: u64) -> LogFile {
        LogFile {
            path: PathBuf::from(rolled_name(stream, unix_secs, counter)),
            stream: stream.to_owned(),
            bytes,
            rolled: Some(RolledAt { unix_secs, counter }),
        }
    }

    fn active(stream: &str, bytes: u64) -> LogFile {
        LogFile {
            path: PathBuf::from(format!("{stream}.log")),
            stream: stream.to_owned(),
            bytes,
            rolled: None,
        }
    }

    fn paths(files: &[&LogFile]) -> Vec<PathBuf> {
        files.iter().map(|f| f.path.clone()).collect()
    }

    /// Four rolled `app` files a day apart (oldest first), 100 bytes each,
    /// and a 50-byte active file.
    fn app_files() -> Vec<LogFile> {
        vec![
            rolled("app", T0, 1, 100),
            rolled("app", T0 + DAY, 2, 100),
            rolled("app", T0 + 2 * DAY, 3, 100),
            rolled("app", T0 + 3 * DAY, 4, 100),
            active("app", 50),
        ]
    }

    #[test]
    fn keep_all_deletes_nothing() {
        let files = app_files();
        assert_eq!(Retention::keep_all(), Retention::default());
        assert!(plan(&files, &Retention::keep_all(), T0 + 1000 * DAY).is_empty());
    }

    #[test]
    fn builders_set_only_their_own_limit() {
        let r = Retention::keep_all()
            .max_files(3)
            .max_age(Duration::from_secs(5))
            .max_stream_bytes(7)
            .max_total_bytes(9);
        assert_eq!(
            r,
            Retention {
                max_files: Some(3),
                max_age: Some(Duration::from_secs(5)),
                max_stream_bytes: Some(7),
                max_total_bytes: Some(9),
            }
        );
    }

    #[test]
    fn max_files_keeps_the_newest_n_rolled_files_not_counting_the_active_one() {
        let f = app_files();
        let got = plan(&f, &Retention::keep_all().max_files(2), T0);
        assert_eq!(got, paths(&[&f[0], &f[1]]));
    }

    #[test]
    fn max_files_counts_each_stream_separately() {
        let mut f = app_files();
        f.push(rolled("audit", T0 - DAY, 1, 10));
        f.push(rolled("audit", T0 + 10 * DAY, 2, 10));
        let got = plan(&f, &Retention::keep_all().max_files(2), T0);
        assert_eq!(got, paths(&[&f[0], &f[1]]));
        let got = plan(&f, &Retention::keep_all().max_files(1), T0);
        assert_eq!(got, paths(&[&f[5], &f[0], &f[1], &f[2]]));
    }

    #[test]
    fn max_files_zero_deletes_every_rolled_file_but_never_the_active_one() {
        let f = app_files();
        let got = plan(&f, &Retention::keep_all().max_files(0), T0);
        assert_eq!(got, paths(&[&f[0], &f[1], &f[2], &f[3]]));
    }

    #[test]
    fn max_files_with_fewer_files_than_the_limit_deletes_nothing() {
        let f = app_files();
        assert!(plan(&f, &Retention::keep_all().max_files(4), T0).is_empty());
    }

    #[test]
    fn max_age_deletes_files_rolled_strictly_longer_ago_than_the_age() {
        let f = app_files();
        let now = T0 + 3 * DAY;
        // The file rolled exactly two days ago stays; older ones go.
        let got = plan(
            &f,
            &Retention::keep_all().max_age(Duration::from_secs(2 * DAY)),
            now,
        );
        assert_eq!(got, paths(&[&f[0]]));
        let got = plan(
            &f,
            &Retention::keep_all().max_age(Duration::from_secs(2 * DAY - 1)),
            now,
        );
        assert_eq!(got, paths(&[&f[0], &f[1]]));
    }

    #[test]
    fn max_age_keeps_files_named_in_the_future() {
        let f = vec![rolled("app", T0 + 10, 1, 1), active("app", 1)];
        let got = plan(&f, &Retention::keep_all().max_age(Duration::ZERO), T0);
        assert!(got.is_empty());
        let got = plan(&f, &Retention::keep_all().max_age(Duration::ZERO), T0 + 11);
        assert_eq!(got, paths(&[&f[0]]));
    }

    #[test]
    fn max_age_below_one_second_still_compares_exactly() {
        let f = vec![rolled("app", T0, 1, 1), rolled("app", T0 + 1, 2, 1)];
        let got = plan(
            &f,
            &Retention::keep_all().max_age(Duration::from_millis(1500)),
            T0 + 2,
        );
        assert_eq!(got, paths(&[&f[0]]));
    }

    #[test]
    fn max_stream_bytes_counts_the_active_file_and_deletes_oldest_until_under_the_cap() {
        let f = app_files(); // 4 x 100 rolled + 50 active = 450
        let got = plan(&f, &Retention::keep_all().max_stream_bytes(250), T0);
        assert_eq!(got, paths(&[&f[0], &f[1]]));
        // 249 needs one more file gone: 150 remains.
        let got = plan(&f, &Retention::keep_all().max_stream_bytes(249), T0);
        assert_eq!(got, paths(&[&f[0], &f[1], &f[2]]));
    }

    #[test]
    fn max_stream_bytes_exactly_at_the_cap_deletes_nothing() {
        let f = app_files();
        assert!(plan(&f, &Retention::keep_all().max_stream_bytes(450), T0).is_empty());
    }

    #[test]
    fn max_stream_bytes_counts_each_stream_separately() {
        let mut f = app_files();
        f.push(rolled("audit", T0 - DAY, 1, 400));
        f.push(active("audit", 0));
        // `audit` alone is at its cap, `app` is over it.
        let got = plan(&f, &Retention::keep_all().max_stream_bytes(400), T0);
        assert_eq!(got, paths(&[&f[0]]));
    }

    #[test]
    fn an_active_file_over_every_cap_is_never_deleted() {
        let f = vec![
            rolled("app", T0, 1, 10),
            active("app", 1_000),
            rolled("app", T0 + 1, 2, 10),
        ];
        for policy in [
            Retention::keep_all().max_stream_bytes(100),
            Retention::keep_all().max_total_bytes(100),
            Retention::keep_all()
                .max_files(0)
                .max_age(Duration::ZERO)
                .max_stream_bytes(0)
                .max_total_bytes(0),
        ] {
            let got = plan(&f, &policy, T0 + DAY);
            assert_eq!(got, paths(&[&f[0], &f[2]]), "{policy:?}");
        }
        assert!(
            plan(
                &[active("app", 1_000)],
                &Retention::keep_all().max_total_bytes(0),
                T0
            )
            .is_empty()
        );
    }

    #[test]
    fn max_total_bytes_deletes_the_globally_oldest_across_streams() {
        let f = vec![
            rolled("app", T0 + 2, 1, 100),
            rolled("audit", T0 + 1, 1, 100),
            rolled("app", T0 + 4, 2, 100),
            rolled("audit", T0 + 3, 2, 100),
            active("app", 30),
            active("audit", 20),
        ];
        // 450 in all; 250 allowed: the two oldest (one of each stream) go.
        let got = plan(&f, &Retention::keep_all().max_total_bytes(250), T0 + 5);
        assert_eq!(got, paths(&[&f[1], &f[0]]));
        let got = plan(&f, &Retention::keep_all().max_total_bytes(249), T0 + 5);
        assert_eq!(got, paths(&[&f[1], &f[0], &f[3]]));
    }

    #[test]
    fn limits_apply_in_order_each_on_what_the_previous_left() {
        let f = vec![
            rolled("app", T0, 1, 10),
            rolled("app", T0 + 10, 2, 10),
            rolled("app", T0 + 20, 3, 10),
            rolled("app", T0 + 30, 4, 10),
            rolled("app", T0 + 40, 5, 10),
            active("app", 5),
            rolled("audit", T0 + 15, 1, 10),
            rolled("audit", T0 + 25, 2, 10),
            active("audit", 5),
        ];
        let policy = Retention::keep_all()
            .max_age(Duration::from_secs(35)) // app #1 (age 45) goes
            .max_files(3) // app #2 goes; app #3..#5 remain
            .max_stream_bytes(26) // app: 30 + 5 > 26, so app #3 goes
            .max_total_bytes(30); // 20 + 5 + 20 + 5 = 50: audit #1, audit #2 go
        let got = plan(&f, &policy, T0 + 45);
        // Listed oldest first across all limits and streams.
        assert_eq!(got, paths(&[&f[0], &f[1], &f[6], &f[2], &f[7]]));
    }

    #[test]
    fn a_file_already_deleted_by_an_earlier_limit_is_not_counted_again() {
        // max_age removes both old files; max_files(1) must then leave the
        // single survivor, not delete it to make up for the count.
        let f = vec![
            rolled("app", T0, 1, 10),
            rolled("app", T0 + 1, 2, 10),
            rolled("app", T0 + 100, 3, 10),
        ];
        let policy = Retention::keep_all()
            .max_age(Duration::from_secs(50))
            .max_files(1)
            .max_stream_bytes(10)
            .max_total_bytes(10);
        assert_eq!(plan(&f, &policy, T0 + 100), paths(&[&f[0], &f[1]]));
    }

    #[test]
    fn ties_in_time_are_broken_by_counter_then_by_path() {
        let plain = rolled("app", T0, 7, 10);
        let mut gz = plain.clone();
        gz.path = PathBuf::from(format!("{}.gz", plain.path.display()));
        let f = vec![
            gz.clone(),
            rolled("app", T0, 9, 10),
            plain.clone(),
            rolled("app", T0, 8, 10),
        ];
        // The `.log` and `.log.gz` of one roll tie; `…log` < `…log.gz`.
        let got = plan(&f, &Retention::keep_all().max_files(1), T0);
        assert_eq!(got, paths(&[&plain, &gz, &f[3]]));
        // Across streams, the same time and counter fall back to the path.
        let f = vec![rolled("b", T0, 1, 10), rolled("a", T0, 1, 10)];
        let got = plan(&f, &Retention::keep_all().max_total_bytes(10), T0);
        assert_eq!(got, paths(&[&f[1]]));
    }

    #[test]
    fn a_path_given_twice_is_counted_and_listed_once() {
        let f = vec![
            rolled("app", T0, 1, 100),
            rolled("app", T0, 1, 100),
            rolled("app", T0 + 1, 2, 100),
        ];
        let got = plan(&f, &Retention::keep_all().max_files(0), T0);
        assert_eq!(got, paths(&[&f[0], &f[2]]));
        // Counted twice, 300 bytes would need both gone.
        let got = plan(&f, &Retention::keep_all().max_stream_bytes(100), T0);
        assert_eq!(got, paths(&[&f[0]]));
    }

    #[test]
    fn a_path_that_is_also_an_active_file_is_never_deleted() {
        let mut twin = rolled("app", T0, 1, 10);
        twin.path = PathBuf::from("x.log");
        let mut act = active("x", 10);
        act.path = PathBuf::from("x.log");
        let f = [twin, act];
        assert!(plan(&f, &Retention::keep_all().max_files(0), T0).is_empty());
        // Its bytes count once, as the active file's.
        assert!(plan(&f, &Retention::keep_all().max_total_bytes(10), T0).is_empty());
    }

    fn write(dir: &Path, name: &str, bytes: usize) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, vec![b'x'; bytes]).unwrap();
        path
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn enforce_deletes_exactly_what_plan_says_and_returns_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let a1 = write(d, &rolled_name("app", T0, 1), 100);
        let a2 = write(d, &format!("{}.gz", rolled_name("app", T0 + 10, 2)), 40);
        let a3 = write(d, &rolled_name("app", T0 + 20, 3), 100);
        write(d, "app.log", 30);
        let b1 = write(d, &rolled_name("audit", T0 + 5, 1), 60);
        write(d, "audit.log", 10);
        let policy = Retention::keep_all().max_files(2).max_total_bytes(200);

        let (files, err) = scan(d, &["app", "audit"]).unwrap();
        assert!(err.is_none());
        let planned = plan(&files, &policy, T0 + 30);
        // app #1 by count; then 240 > 200: audit #1 (older than app #2).
        assert_eq!(planned, vec![a1.clone(), b1.clone()]);

        let got = enforce(d, &["app", "audit"], &policy, T0 + 30).unwrap();
        assert_eq!(got, vec![(a1, 100), (b1, 60)]);
        let mut left = vec![
            a2.file_name().unwrap().to_str().unwrap().to_owned(),
            a3.file_name().unwrap().to_str().unwrap().to_owned(),
            "app.log".to_owned(),
            "audit.log".to_owned(),
        ];
        left.sort();
        assert_eq!(names_in(d), left);
    }

    #[test]
    fn enforce_leaves_other_streams_and_unrelated_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mine = write(d, &rolled_name("app", T0, 1), 10);
        let keep = [
            "app.log".to_owned(),
            "notes.txt".to_owned(),
            "app.log.bak".to_owned(),
            "apps.2026-11-20T12-00-00Z.0001.log".to_owned(),
            "app.2026-02-30T12-00-00Z.0001.log".to_owned(), // no such day
            "app.2026-11-20T12-00-00Z.log".to_owned(),
            rolled_name("audit", T0 - DAY, 1),
            format!("{}.gz", rolled_name("audit", T0 - DAY, 2)),
        ];
        for name in &keep {
            write(d, name, 1_000);
        }
        // A directory with a rolled name is not a log file.
        fs::create_dir(d.join(rolled_name("app", T0 - DAY, 9))).unwrap();

        let policy = Retention::keep_all()
            .max_files(0)
            .max_age(Duration::ZERO)
            .max_stream_bytes(0)
            .max_total_bytes(0);
        let got = enforce(d, &["app"], &policy, T0 + DAY).unwrap();
        assert_eq!(got, vec![(mine, 10)]);
        let mut left: Vec<String> = keep.to_vec();
        left.push(rolled_name("app", T0 - DAY, 9));
        left.sort();
        assert_eq!(names_in(d), left);
    }

    #[test]
    fn enforce_tolerates_a_file_that_vanished_after_listing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let a1 = write(d, &rolled_name("app", T0, 1), 10);
        let a2 = write(d, &rolled_name("app", T0 + 1, 2), 20);
        let (files, err) = scan(d, &["app"]).unwrap();
        assert!(err.is_none());
        let doomed = plan(&files, &Retention::keep_all().max_files(0), T0);
        assert_eq!(doomed, vec![a1.clone(), a2.clone()]);
        fs::remove_file(&a1).unwrap();
        let (deleted, err) = delete(&files, &doomed);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(deleted, vec![(a2, 20)]);
    }

    #[test]
    fn a_failed_delete_is_reported_after_the_others_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // `remove_file` fails on a directory, whoever runs the test.
        let stuck = d.join(rolled_name("app", T0, 1));
        fs::create_dir(&stuck).unwrap();
        let a2 = write(d, &rolled_name("app", T0 + 1, 2), 20);
        let files = vec![
            LogFile {
                path: stuck.clone(),
                ..rolled("app", T0, 1, 5)
            },
            LogFile {
                path: a2.clone(),
                ..rolled("app", T0 + 1, 2, 20)
            },
        ];
        let (deleted, err) = delete(&files, &[stuck.clone(), a2.clone()]);
        assert_eq!(deleted, vec![(a2.clone(), 20)]);
        assert!(!a2.exists());
        let err = err.unwrap();
        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(
            err.to_string().contains(&stuck.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn enforce_reports_a_directory_it_cannot_list() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = enforce(&missing, &["app"], &Retention::keep_all().max_files(1), T0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(err.to_string().contains("missing"), "{err}");
        // Keeping everything needs no listing at all.
        assert_eq!(
            enforce(&missing, &["app"], &Retention::keep_all(), T0).unwrap(),
            vec![]
        );
    }
}
