//! What every subcommand shares: exit codes, errors with their context,
//! keys from the command line, writing to stdout, the progress line.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context as _;
use clap::Args;
use evtrail::{Key, Keyring};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Exit code: success (verified clean; found something).
pub(crate) const CLEAN: u8 = 0;
/// Exit code: the answer is "no" — evidence of tampering, records left
/// unverified, or nothing found.
pub(crate) const FOUND_PROBLEM: u8 = 1;
/// Exit code: usage or I/O error.
pub(crate) const ERROR: u8 = 2;

/// Inputs at least this large (on disk) get a progress line on a terminal.
const PROGRESS_MIN_BYTES: u64 = 64 * 1024 * 1024;

/// Set to an RFC 3339 time to make "now" that time (for reproducible
/// queries of the current hour, and for tests).
pub(crate) const NOW_ENV: &str = "EVTRAIL_NOW";

/// Every subcommand's result: an error carries its context and its cause
/// (`anyhow`), printed as `context: cause: root cause`.
pub(crate) type Result<T, E = anyhow::Error> = std::result::Result<T, E>;

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
            .with_context(|| format!("{NOW_ENV} is empty"))?),
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
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// The progress line on a terminal's stderr (`indicatif`: redrawn at most
/// ten times a second, never drawn when stderr is not a terminal), only
/// for large inputs.
pub(crate) struct Progress {
    /// What is being done: `verifying`, `searching`.
    verb: &'static str,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A progress line for work described by `verb`.
    pub(crate) fn new(verb: &'static str) -> Progress {
        Progress { verb, bar: None }
    }

    /// `done` of `total` bytes read.
    pub(crate) fn update(&mut self, done: u64, total: u64) {
        if total < PROGRESS_MIN_BYTES {
            return;
        }
        let verb = self.verb;
        let bar = self.bar.get_or_insert_with(|| {
            let style = ProgressStyle::with_template(
                "evtrail: {msg} {decimal_bytes} / {decimal_total_bytes} ({percent}%)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(10))
                .with_style(style)
                .with_message(verb)
        });
        bar.set_length(total);
        bar.set_position(done);
    }

    /// Takes the line off the screen (before a record is printed; the next
    /// update draws it again).
    pub(crate) fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
