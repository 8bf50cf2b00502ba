//! What every subcommand shares: exit codes, errors with their context,
//! keys from the command line, writing to stdout, the progress line.

use std::error::Error;
use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use evtrail::{Key, Keyring};

/// Exit code: success (verified clean; found something).
pub(crate) const CLEAN: u8 = 0;
/// Exit code: the answer is "no" — evidence of tampering, records left
/// unverified, or nothing found.
pub(crate) const FOUND_PROBLEM: u8 = 1;
/// Exit code: usage or I/O error.
pub(crate) const ERROR: u8 = 2;

/// Inputs at least this large (on disk) get a progress line on a terminal.
const PROGRESS_MIN_BYTES: u64 = 64 * 1024 * 1024;
/// The progress line is redrawn at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Set to an RFC 3339 time to make "now" that time (for reproducible
/// queries of the current hour, and for tests).
pub(crate) const NOW_ENV: &str = "EVTRAIL_NOW";

pub(crate) type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// The signing keys given on the command line.
#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    /// A file holding a key as `ID:HEX` (as `evtrail keygen` writes it), or
    /// as bare hex or base64 (the id is then the key's fingerprint).
    /// Repeatable.
    #[arg(long = "key-file", value_name = "FILE")]
    key_files: Vec<PathBuf>,

    /// An environment variable holding a key as hex or base64 text.
    /// Repeatable.
    #[arg(long = "key-env", value_name = "VAR")]
    key_envs: Vec<String>,
}

impl KeyArgs {
    /// The keys, or `None` when none was given.
    pub(crate) fn keyring(&self) -> Result<Option<Keyring>> {
        if self.key_files.is_empty() && self.key_envs.is_empty() {
            return Ok(None);
        }
        let mut keys = Keyring::new();
        for path in &self.key_files {
            keys.add(Key::from_file(path)?);
        }
        for var in &self.key_envs {
            keys.add(Key::from_env(var)?);
        }
        Ok(Some(keys))
    }
}

/// The time now, or the one `EVTRAIL_NOW` names.
pub(crate) fn now() -> Result<SystemTime> {
    match std::env::var(NOW_ENV) {
        Ok(text) => Ok(evtrail::query::TimeRange::parse(&text, "")?
            .from()
            .ok_or_else(|| format!("{NOW_ENV} is empty"))?),
        Err(_) => Ok(SystemTime::now()),
    }
}

/// Whether an error is a closed pipe (`| head`): the reader has what it
/// wanted, which is not a failure.
pub(crate) fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// Writes `text` and a newline to stdout. A closed pipe (`| head`) is not
/// an error: the reader has what it wanted.
pub(crate) fn print(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if is_broken_pipe(&e) => Ok(()),
        Err(e) => Err(Context::wrap("cannot write to standard output", e)),
    }
}

/// The progress line on a terminal's stderr: `\r`-redrawn, throttled, and
/// only for large inputs.
#[derive(Default)]
pub(crate) struct Progress {
    /// What is being done: `verifying`, `searching`.
    verb: &'static str,
    last_draw: Option<Instant>,
    /// The width of what is on screen, to blank it out.
    width: usize,
}

impl Progress {
    /// A progress line for work described by `verb`.
    pub(crate) fn new(verb: &'static str) -> Progress {
        Progress {
            verb,
            ..Progress::default()
        }
    }

    pub(crate) fn update(&mut self, done: u64, total: u64) {
        if total < PROGRESS_MIN_BYTES {
            return;
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now.duration_since(t) < PROGRESS_EVERY)
        {
            return;
        }
        self.last_draw = Some(now);
        let mb = |b: u64| b as f64 / 1_000_000.0;
        let line = format!(
            "evtrail: {} {:.1} / {:.1} MB ({}%)",
            self.verb,
            mb(done),
            mb(total),
            done.saturating_mul(100) / total
        );
        let pad = self.width.saturating_sub(line.len());
        self.width = line.len();
        let _ = write!(io::stderr().lock(), "\r{line}{:pad$}", "");
    }

    pub(crate) fn clear(&mut self) {
        if self.width > 0 {
            let _ = write!(io::stderr().lock(), "\r{:w$}\r", "", w = self.width);
            self.width = 0;
        }
    }
}

/// An error with the context it happened in; the cause is its `source`.
#[derive(Debug)]
pub(crate) struct Context {
    message: String,
    source: Box<dyn Error>,
}

impl Context {
    pub(crate) fn wrap(
        message: impl Into<String>,
        source: impl Into<Box<dyn Error>>,
    ) -> Box<dyn Error> {
        Box::new(Context {
            message: message.into(),
            source: source.into(),
        })
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Context {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// Displays an error and its `source()` chain: `outer: cause: root cause`.
pub(crate) struct Chain<'a>(pub(crate) &'a dyn Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}
