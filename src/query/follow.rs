//! Following logs as they are written (`evtrail tail -f`): the active file
//! of each stream is read as it grows, across rolls (the file is renamed
//! and a new one begins), and streams that appear later are picked up.
//! Every new record's signature and chain are checked as it arrives, the
//! ones the filter does not select included.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::matches::{Match, parse_record};
use super::signature::{Checker, Signature};
use super::{Filter, Query};
use crate::error::{Error, ErrorKind};
use crate::logdir::{active_name, parse_rolled_name, rolled_stream};
use crate::sign::split_signed;

/// What following found.
#[derive(Debug)]
#[non_exhaustive]
pub enum Followed {
    /// A new record the filter selects.
    Match(Match),
    /// A new record the filter does not select whose signature or chain
    /// does not verify: worth an alarm all the same.
    Broken(Match),
}

/// One stream's active file, as far as it was read.
#[derive(Debug)]
struct Active {
    dir: PathBuf,
    stream: String,
    path: PathBuf,
    file: Option<File>,
    id: Option<(u64, u64)>,
    /// Bytes of a line not finished yet.
    partial: Vec<u8>,
    line_no: u64,
    /// The last whole line, which the next one chains on.
    prev: Option<Vec<u8>>,
    /// The last `seq` read from this stream.
    last_seq: Option<u64>,
    /// The highest roll counter of this stream read, or there at the start.
    rolled_upto: u64,
}

/// Follows the active files of log directories; see [`Query::follow`].
#[derive(Debug)]
pub struct Follow {
    dirs: Vec<PathBuf>,
    filter: Filter,
    streams_wanted: Vec<String>,
    markers: bool,
    checker: Option<CheckerDebug>,
    /// By the active file's path: one stream of one directory each.
    active: BTreeMap<PathBuf, Active>,
    /// Records shown already, as (directory, stream, seq).
    shown: HashSet<(PathBuf, String, u64)>,
}

/// `Checker` holds keys, which have no `Debug` worth printing.
struct CheckerDebug(Checker);

impl std::fmt::Debug for CheckerDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checker")
    }
}

/// A file's identity: device and inode where there are such.
fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

impl Query {
    /// Starts following the active files in `dirs` from their current
    /// ends: [`Follow::poll`] then returns what was written since.
    /// Records passed to [`Follow::shown`] are not returned again.
    ///
    /// The time range does not apply; the filter, streams, keys and
    /// [`markers`](Query::markers) do.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when a directory cannot be
    /// listed or an active file cannot be read.
    pub fn follow<P: AsRef<Path>>(&self, dirs: &[P]) -> Result<Follow, Error> {
        let mut follow = Follow {
            dirs: dirs.iter().map(|d| d.as_ref().to_path_buf()).collect(),
            filter: self.filter.clone(),
            streams_wanted: self.streams.clone(),
            markers: self.markers,
            checker: self.keys.clone().map(|k| CheckerDebug(Checker::new(k))),
            active: BTreeMap::new(),
            shown: HashSet::new(),
        };
        for (dir, stream) in follow.active_files()? {
            let mut a = Active::with_history(dir, stream);
            a.open_at_end()?;
            follow.active.insert(a.path.clone(), a);
        }
        // A stream with rolled files but no active file now (between a
        // rename and the next write, or after a logrotate) has history
        // already: when its active file appears, only that is new.
        for dir in &follow.dirs {
            let Ok(list) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in list.flatten() {
                let name = entry.file_name();
                let Some(stream) = name.to_str().and_then(rolled_stream) else {
                    continue;
                };
                let wanted = follow.streams_wanted.is_empty()
                    || follow.streams_wanted.iter().any(|w| w == stream);
                let path = dir.join(active_name(stream));
                if wanted && !follow.active.contains_key(&path) {
                    follow
                        .active
                        .insert(path, Active::with_history(dir.clone(), stream.to_owned()));
                }
            }
        }
        Ok(follow)
    }
}

impl Active {
    fn new(dir: PathBuf, stream: String) -> Active {
        Active {
            path: dir.join(active_name(&stream)),
            dir,
            stream,
            file: None,
            id: None,
            partial: Vec::new(),
            line_no: 0,
            prev: None,
            last_seq: None,
            rolled_upto: 0,
        }
    }

    /// A stream that existed when following began: its rolled files so far
    /// are history, not news.
    fn with_history(dir: PathBuf, stream: String) -> Active {
        let mut a = Active::new(dir, stream);
        a.rolled_upto = rolled_files(&a.dir, &a.stream, 0)
            .last()
            .map_or(0, |(counter, _)| *counter);
        a
    }

    fn io_error(&self, e: io::Error) -> Error {
        Error::with_source(
            ErrorKind::Io,
            format!("cannot follow `{}`", self.path.display()),
            e,
        )
    }

    /// Opens the file and places the reader at its end, remembering the
    /// last whole line (the next record chains on it) and the line count.
    fn open_at_end(&mut self) -> Result<(), Error> {
        let mut f = File::open(&self.path).map_err(|e| self.io_error(e))?;
        let meta = f.metadata().map_err(|e| self.io_error(e))?;
        let mut all = Vec::new();
        f.read_to_end(&mut all).map_err(|e| self.io_error(e))?;
        let complete = all.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.line_no = memchr::memchr_iter(b'\n', &all[..complete]).count() as u64;
        if complete > 0 {
            let body = &all[..complete - 1];
            let start = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
            self.last_seq = serde_json::from_slice::<Value>(&body[start..])
                .ok()
                .and_then(|v| v["seq"].as_u64());
            self.prev = Some(body[start..].to_vec());
        }
        f.seek(SeekFrom::Start(complete as u64))
            .map_err(|e| self.io_error(e))?;
        self.id = file_id(&meta);
        self.file = Some(f);
        Ok(())
    }

    /// Whole new lines since the last read, with their numbers.
    fn read_new(&mut self) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        let mut lines = Vec::new();
        let Some(f) = &mut self.file else {
            return Ok(lines);
        };
        let mut fresh = Vec::new();
        if let Err(e) = f.read_to_end(&mut fresh) {
            return Err(self.io_error(e));
        }
        self.partial.extend_from_slice(&fresh);
        let complete = self
            .partial
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if complete > 0 {
            for line in self.partial[..complete - 1].split(|&b| b == b'\n') {
                self.line_no += 1;
                lines.push((self.line_no, line.to_vec()));
            }
        }
        self.partial.drain(..complete);
        Ok(lines)
    }

    /// Whether the path now names another file than the one being read
    /// (the writer rolled it).
    fn rolled(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(meta) => file_id(&meta) != self.id || self.file.is_none(),
            Err(_) => false,
        }
    }
}

impl Follow {
    /// Says that the record was shown already (by the
    /// search before following), so that it is not returned again.
    pub fn shown(&mut self, m: &Match) {
        let dir = m.file().parent().map(Path::to_path_buf).unwrap_or_default();
        if let Some(seq) = m.seq() {
            self.shown.insert((dir, m.stream().to_owned(), seq));
        }
    }

    /// The active file of every wanted stream in the directories, as
    /// (directory, stream).
    fn active_files(&self) -> Result<Vec<(PathBuf, String)>, Error> {
        let mut out = Vec::new();
        for dir in &self.dirs {
            let list = std::fs::read_dir(dir).map_err(|e| {
                Error::with_source(ErrorKind::Io, format!("cannot list `{}`", dir.display()), e)
            })?;
            for entry in list.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let Some(stream) = name.strip_suffix(".log") else {
                    continue;
                };
                if name.starts_with('.') || rolled_stream(name).is_some() {
                    continue;
                }
                if self.streams_wanted.is_empty() || self.streams_wanted.iter().any(|w| w == stream)
                {
                    out.push((dir.clone(), stream.to_owned()));
                }
            }
        }
        Ok(out)
    }

    /// What was written since the last poll (or since following began), in
    /// the order it was written per stream. An `Err` item reports a file
    /// that could not be read or a line that is not a record; following
    /// goes on.
    pub fn poll(&mut self) -> Vec<Result<Followed, Error>> {
        let mut out = Vec::new();
        // Streams that appeared since: read from their start.
        match self.active_files() {
            Ok(files) => {
                for (dir, stream) in files {
                    let a = Active::new(dir, stream);
                    self.active.entry(a.path.clone()).or_insert(a);
                }
            }
            Err(e) => out.push(Err(e)),
        }
        let keys: Vec<PathBuf> = self.active.keys().cloned().collect();
        for key in keys {
            loop {
                let active = self.active.get_mut(&key).expect("listed");
                let rolled = active.rolled();
                match active.read_new() {
                    Ok(lines) => self.take_all(&key, &key, lines, None, &mut out),
                    Err(e) => {
                        out.push(Err(e));
                        break;
                    }
                }
                if !rolled {
                    break;
                }
                // The writer rolled, maybe more than once since the last
                // look: the files rolled since, in order, hold what is not
                // read yet (the one read so far among them, perhaps
                // compressed by now).
                let active = self.active.get_mut(&key).expect("listed");
                let (dir, stream, upto) = (
                    active.dir.clone(),
                    active.stream.clone(),
                    active.rolled_upto,
                );
                for (counter, path) in rolled_files(&dir, &stream, upto) {
                    let floor = self.active[&key].last_seq;
                    match read_whole(&path) {
                        Ok(lines) => self.take_all(&key, &path, lines, floor, &mut out),
                        Err(e) => out.push(Err(Error::with_source(
                            ErrorKind::Io,
                            format!("cannot read `{}`", path.display()),
                            e,
                        ))),
                    }
                    self.active.get_mut(&key).expect("listed").rolled_upto = counter;
                }
                let active = self.active.get_mut(&key).expect("listed");
                match File::open(&active.path) {
                    Ok(f) => {
                        active.id = f.metadata().ok().and_then(|m| file_id(&m));
                        active.file = Some(f);
                        active.partial.clear();
                        active.line_no = 0;
                    }
                    Err(e) => {
                        out.push(Err(active.io_error(e)));
                        break;
                    }
                }
            }
        }
        out
    }

    /// Takes `lines` of the file at `path`, for the stream whose active file
    /// is `key`; with a `floor`, records up to that `seq` were read already.
    fn take_all(
        &mut self,
        key: &Path,
        path: &Path,
        lines: Vec<(u64, Vec<u8>)>,
        floor: Option<u64>,
        out: &mut Vec<Result<Followed, Error>>,
    ) {
        for (line_no, line) in lines {
            if let Some(item) = self.take(key, path, line_no, &line, floor) {
                out.push(item);
            }
        }
    }

    /// Checks and filters one new line of the stream whose active file is
    /// `key`, read from `path`; a record at or below `floor` was read before.
    fn take(
        &mut self,
        key: &Path,
        path: &Path,
        line_no: u64,
        line: &[u8],
        floor: Option<u64>,
    ) -> Option<Result<Followed, Error>> {
        let active = self.active.get_mut(key).expect("listed");
        let record = match parse_record(path, line_no, line) {
            Ok(v) => v,
            Err(e) => {
                active.prev = Some(line.to_vec());
                return Some(Err(e));
            }
        };
        let seq = record["seq"].as_u64();
        if let (Some(floor), Some(seq)) = (floor, seq)
            && seq <= floor
        {
            return None;
        }
        if seq.is_some() {
            active.last_seq = seq;
        }
        let (dir, stream) = (active.dir.clone(), active.stream.clone());
        let prev = active.prev.replace(line.to_vec());
        let mut signature = match &mut self.checker {
            Some(c) => c.0.check(line, prev.as_deref(), &record),
            None => Signature::NotChecked,
        };
        // Across a roll, the new segment must name the record the old file
        // ended with.
        if signature == Signature::Valid
            && record["event"] == crate::marker::SEGMENT_START
            && let Some(prev) = prev.as_deref().and_then(split_signed)
            && record
                .pointer("/fields/prev_sig")
                .and_then(Value::as_str)
                .map(str::as_bytes)
                != Some(prev.1)
        {
            signature = Signature::Invalid;
        }
        let is_marker = record["target"] == "evtrail"
            && record["event"]
                .as_str()
                .is_some_and(|e| crate::marker::kind(e).is_some());
        let selected = (self.markers || !is_marker)
            && self.filter.matches_value(&record)
            && !seq.is_some_and(|s| self.shown.contains(&(dir.clone(), stream.clone(), s)));
        let m = Match::new(
            String::from_utf8_lossy(line).into_owned(),
            Some(record),
            path,
            line_no,
            signature,
        );
        if selected {
            Some(Ok(Followed::Match(m)))
        } else if signature == Signature::Invalid {
            Some(Ok(Followed::Broken(m)))
        } else {
            None
        }
    }
}

/// The rolled files of `stream` in `dir` with a counter above `above`, in
/// roll order: the plain one where a file is there twice (caught
/// mid-compression).
fn rolled_files(dir: &Path, stream: &str, above: u64) -> Vec<(u64, PathBuf)> {
    let Ok(list) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(u64, bool, PathBuf)> = list
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let rolled = parse_rolled_name(stream, name.to_str()?)?;
            (rolled.counter > above).then(|| (rolled.counter, rolled.gzip, entry.path()))
        })
        .collect();
    files.sort();
    files.dedup_by_key(|(counter, _, _)| *counter);
    files.into_iter().map(|(c, _, p)| (c, p)).collect()
}

/// Every whole line of a rolled file, plain or gzip, numbered from 1.
fn read_whole(path: &Path) -> io::Result<Vec<(u64, Vec<u8>)>> {
    let mut all = Vec::new();
    super::reader::open(path, None)?.read_to_end(&mut all)?;
    let complete = all.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete == 0 {
        return Ok(Vec::new());
    }
    Ok(all[..complete - 1]
        .split(|&b| b == b'\n')
        .zip(1..)
        .map(|(line, n)| (n, line.to_vec()))
        .collect())
}
