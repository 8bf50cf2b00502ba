//! The on-disk layout of a log directory: what its files are called, which
//! files are logs, and reading their lines, plain or gzip.
//!
//! The file sink, its compression and retention, the reader and the
//! verifier all stand on this module, so it depends on none of them (only on
//! the crate's error type, the standard library and flate2).
//!
//! A stream's records go to its active file `<stream>.log`; rolling renames
//! that to `<stream>.<UTC time>.<counter>.log`, and compression turns it into
//! `….log.gz` by way of `….log.gz.tmp`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind};

/// The longest line the verifier reads by default; longer ones are
/// reported as malformed without being held in memory.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The name of the active file of `stream`: `<stream>.log`.
pub(crate) fn active_name(stream: &str) -> String {
    format!("{stream}.log")
}

/// Whether `name` is the active file of `stream`.
pub(crate) fn is_active_name(stream: &str, name: &str) -> bool {
    name.strip_prefix(stream) == Some(".log")
}

/// The stream whose active file `name` would be (`app.log` → `app`). Every
/// `*.log` name reads so, rolled ones too: callers ask [`rolled_stream`]
/// first.
pub(crate) fn active_stream(name: &str) -> Option<&str> {
    name.strip_suffix(".log")
}

/// The stream a rolled file's name belongs to.
pub(crate) fn rolled_stream(name: &str) -> Option<&str> {
    let rest = name
        .strip_suffix(".log.gz")
        .or_else(|| name.strip_suffix(".log"))?;
    let (rest, _counter) = rest.rsplit_once('.')?;
    let (stream, _time) = rest.rsplit_once('.')?;
    parse_rolled_name(stream, name).map(|_| stream)
}

/// A rolled file's name, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RolledName {
    /// When it was rolled, as `YYYY-MM-DDThh-mm-ssZ`.
    pub(crate) time: String,
    pub(crate) counter: u64,
    pub(crate) gzip: bool,
}

/// The name a rolled file of `stream` gets: `<stream>.<UTC time>.<counter>.log`.
pub(crate) fn rolled_name(stream: &str, unix_secs: u64, counter: u64) -> String {
    format!(
        "{stream}.{}.{counter:04}.log",
        crate::time::rolled_stamp(unix_secs)
    )
}

/// Parses a rolled file name of `stream` (plain or `.gz`); `None` for any
/// other name, including the active file and other streams' files.
pub(crate) fn parse_rolled_name(stream: &str, name: &str) -> Option<RolledName> {
    let rest = name.strip_prefix(stream)?.strip_prefix('.')?;
    let (rest, gzip) = match rest.strip_suffix(".log.gz") {
        Some(r) => (r, true),
        None => (rest.strip_suffix(".log")?, false),
    };
    let (stamp, counter) = rest.split_once('.')?;
    if !crate::time::is_rolled_stamp(stamp)
        || counter.is_empty()
        || !counter.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some(RolledName {
        time: stamp.to_owned(),
        counter: counter.parse().ok()?,
        gzip,
    })
}

/// Whether `name` is a rolled file of one of `streams`, compressed or not
/// as `gzip` says.
pub(crate) fn is_rolled(name: &str, streams: &[&str], gzip: bool) -> bool {
    streams
        .iter()
        .any(|s| parse_rolled_name(s, name).is_some_and(|r| r.gzip == gzip))
}

/// Where the compressed copy of `path` goes: `X.log` → `X.log.gz`.
pub(crate) fn gzip_path(path: &Path) -> PathBuf {
    with_suffix(path, ".gz")
}

/// Where the compressed copy of `path` is written before it is renamed
/// into place: `X.log` → `X.log.gz.tmp`.
pub(crate) fn gzip_tmp_path(path: &Path) -> PathBuf {
    with_suffix(path, ".gz.tmp")
}

/// The original's name of a compressed copy: `X.log.gz` → `X.log`.
pub(crate) fn strip_gzip(name: &str) -> Option<&str> {
    name.strip_suffix(".gz")
}

/// The original's name of a compressed copy still being written:
/// `X.log.gz.tmp` → `X.log`.
pub(crate) fn strip_gzip_tmp(name: &str) -> Option<&str> {
    name.strip_suffix(".gz.tmp")
}

/// `path` with `suffix` appended to its file name (`X.log` → `X.log.gz`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Whether one path is the other with `.gz` appended.
pub(crate) fn is_gzip_twin(a: &Path, b: &Path) -> bool {
    let (a, b) = (
        a.as_os_str().as_encoded_bytes(),
        b.as_os_str().as_encoded_bytes(),
    );
    let twin = |short: &[u8], long: &[u8]| {
        long.len() == short.len() + 3 && long.starts_with(short) && long.ends_with(b".gz")
    };
    twin(a, b) || twin(b, a)
}

/// Every `.log` / `.log.gz` file named or directly inside a named directory.
pub(crate) fn collect_files<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let meta = std::fs::metadata(p).map_err(|e| {
            Error::with_source(ErrorKind::Io, format!("cannot read `{}`", p.display()), e)
        })?;
        if meta.is_dir() {
            let list = std::fs::read_dir(p).map_err(|e| {
                Error::with_source(ErrorKind::Io, format!("cannot list `{}`", p.display()), e)
            })?;
            let mut found = Vec::new();
            for entry in list.flatten() {
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if !name.starts_with('.')
                    && (name.ends_with(".log") || name.ends_with(".log.gz"))
                    && path.is_file()
                {
                    found.push(path);
                }
            }
            found.sort();
            out.extend(found);
        } else if meta.is_file() {
            out.push(p.to_path_buf());
        } else {
            // A FIFO or a device would block the reader or never end.
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "`{}` is neither a regular file nor a directory",
                    p.display()
                ),
            ));
        }
    }
    // A directory or file named twice is read once.
    out.sort();
    out.dedup();
    Ok(out)
}

/// Opens a log file to read it, and says whether it is gzip (by its magic
/// bytes, whatever its name says). A rolled file compressed since it was
/// listed (`X.log` gone, `X.log.gz` there) is opened as its `.gz`.
pub(crate) fn open_file(path: &Path) -> io::Result<(File, bool)> {
    let mut f = match File::open(path) {
        Err(e)
            if e.kind() == io::ErrorKind::NotFound && path.extension() == Some("log".as_ref()) =>
        {
            File::open(gzip_path(path)).map_err(|_| e)?
        }
        other => other?,
    };
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < magic.len() {
        match f.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    f.seek(io::SeekFrom::Start(0))?;
    Ok((f, got == 2 && magic == [0x1f, 0x8b]))
}

/// Opens a file, decompressing gzip (detected by its magic bytes); see
/// [`open_file`].
pub(crate) fn open(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let (f, gzip) = open_file(path)?;
    Ok(reader(f, gzip))
}

/// Reads a file [`open_file`] opened, decompressing gzip.
pub(crate) fn reader(f: File, gzip: bool) -> Box<dyn BufRead> {
    if gzip {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::read::MultiGzDecoder::new(BufReader::new(f)),
        ))
    } else {
        Box::new(BufReader::with_capacity(256 * 1024, f))
    }
}

/// One line as read, borrowed from the reader's buffer.
pub(crate) struct RawLine<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) line: u64,
    pub(crate) offset: u64,
    /// Ended by a newline (else it is the file's incomplete last line).
    pub(crate) complete: bool,
    /// Longer than the limit: `bytes` holds only its start.
    pub(crate) too_long: bool,
}

/// Reads lines with a length limit, so one enormous line cannot exhaust
/// memory.
pub(crate) struct Lines {
    src: Box<dyn BufRead>,
    line: u64,
    offset: u64,
    max: usize,
    buf: Vec<u8>,
}

impl Lines {
    pub(crate) fn new(src: Box<dyn BufRead>, max: usize) -> Lines {
        Lines {
            src,
            line: 0,
            offset: 0,
            max,
            buf: Vec::new(),
        }
    }

    /// How many lines were read so far.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// How many bytes were read so far (decompressed, for gzip).
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    pub(crate) fn next_line(&mut self) -> io::Result<Option<RawLine<'_>>> {
        self.buf.clear();
        let start = self.offset;
        let mut len = 0u64;
        let mut too_long = false;
        loop {
            let chunk = match self.src.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                if len == 0 {
                    return Ok(None);
                }
                self.line += 1;
                return Ok(Some(RawLine {
                    bytes: &self.buf,
                    line: self.line,
                    offset: start,
                    complete: false,
                    too_long,
                }));
            }
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let content = if done {
                &chunk[..take - 1]
            } else {
                &chunk[..take]
            };
            let room = self.max.saturating_sub(self.buf.len());
            if content.len() > room {
                too_long = true;
            }
            self.buf
                .extend_from_slice(&content[..content.len().min(room)]);
            len += take as u64;
            self.src.consume(take);
            self.offset += take as u64;
            if done {
                self.line += 1;
                return Ok(Some(RawLine {
                    bytes: &self.buf,
                    line: self.line,
                    offset: start,
                    complete: true,
                    too_long,
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_795_176_000; // 2026-11-20T12:00:00Z

    #[test]
    fn rolled_names_round_trip_and_sort_in_roll_order() {
        let a = rolled_name("app", 1_795_176_000, 3);
        assert_eq!(a, "app.2026-11-20T12-00-00Z.0003.log");
        let parsed = parse_rolled_name("app", &a).unwrap();
        assert_eq!(
            (parsed.time.as_str(), parsed.counter, parsed.gzip),
            ("2026-11-20T12-00-00Z", 3, false)
        );
        assert!(parse_rolled_name("app", &format!("{a}.gz")).unwrap().gzip);
        let b = rolled_name("app", 1_795_176_000, 4);
        let c = rolled_name("app", 1_795_176_001, 5);
        assert!(a < b && b < c);
    }

    #[test]
    fn other_names_are_not_rolled_files_of_the_stream() {
        for name in [
            "app.log",
            "audit.2026-11-20T12-00-00Z.0003.log",
            "app.2026-11-20T12-00-00Z.log",
            "app.2026-11-20 12-00-00Z.0003.log",
            "app.2026-11-20T12-00-00Z.00x3.log",
            "app.2026-11-20T12-00-00Z.0003.txt",
            "apps.2026-11-20T12-00-00Z.0003.log",
        ] {
            assert_eq!(parse_rolled_name("app", name), None, "{name}");
        }
    }

    #[test]
    fn active_and_gzip_names_have_their_fixed_forms() {
        assert_eq!(active_name("app"), "app.log");
        assert!(is_active_name("app", "app.log"));
        assert!(!is_active_name("app", "apps.log"));
        assert!(!is_active_name("app", &rolled_name("app", T0, 1)));
        assert_eq!(active_stream("app.log"), Some("app"));
        let x = Path::new("d/app.2026-11-20T12-00-00Z.0001.log");
        assert_eq!(
            gzip_path(x),
            Path::new("d/app.2026-11-20T12-00-00Z.0001.log.gz")
        );
        assert_eq!(
            gzip_tmp_path(x),
            Path::new("d/app.2026-11-20T12-00-00Z.0001.log.gz.tmp")
        );
        assert_eq!(strip_gzip("X.log.gz"), Some("X.log"));
        assert_eq!(strip_gzip_tmp("X.log.gz.tmp"), Some("X.log"));
        assert!(is_gzip_twin(x, &gzip_path(x)));
        assert!(!is_gzip_twin(x, &gzip_tmp_path(x)));
    }

    #[test]
    fn lines_are_cut_at_the_limit_and_flagged() {
        let data = format!("short\n{}\nlast", "x".repeat(500));
        let mut lines = Lines::new(Box::new(io::Cursor::new(data.into_bytes())), 128);
        let mut next = || {
            lines
                .next_line()
                .unwrap()
                .map(|l| (l.bytes.to_vec(), l.line, l.offset, l.complete, l.too_long))
        };
        assert_eq!(next(), Some((b"short".to_vec(), 1, 0, true, false)));
        assert_eq!(next(), Some((vec![b'x'; 128], 2, 6, true, true)));
        assert_eq!(next(), Some((b"last".to_vec(), 3, 507, false, false)));
        assert_eq!(next(), None);
    }
}
