//! `evtrail`: verify signed evtrail logs, and generate signing keys.
//!
//! Built with the `cli` feature (`cargo install evtrail --features cli`).
//! The binary only parses arguments, calls the library and renders its
//! answer: what a log proves is decided by [`evtrail::verify`].
//!
//! Exit codes, as ripgrep's: 0 when no evidence of tampering was found, 1
//! when some was, 2 for a usage or I/O error (reported on stderr as
//! `evtrail: <message>: <cause>…`).

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use evtrail::verify::Verifier;
use evtrail::{Key, Keyring, Seal};

/// Exit code: every record verified, no evidence of tampering.
const CLEAN: u8 = 0;
/// Exit code: evidence of tampering (or damage) found, or records left
/// unverified (their key was not given) without `--allow-unverified`.
const TAMPERED: u8 = 1;
/// Exit code: usage or I/O error.
const ERROR: u8 = 2;

/// Inputs at least this large (on disk) get a progress line on a terminal.
const PROGRESS_MIN_BYTES: u64 = 64 * 1024 * 1024;
/// The progress line is redrawn at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Verify signed evtrail logs, and generate signing keys.
#[derive(Debug, Parser)]
#[command(name = "evtrail", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Verify(VerifyArgs),
    Keygen(KeygenArgs),
}

/// Check that signed logs were not altered, removed, inserted, reordered or
/// cut short.
///
/// Reads every record's signature and the chain between records, stream by
/// stream, and prints what it verified and every finding. At least one key
/// (--key-file or --key-env) is required; give several for logs written
/// across key rotations.
///
/// Exit status: 0 when every record verified and there is no evidence of
/// tampering, 1 when there is evidence of tampering or when records could
/// not be verified, 2 on a usage or I/O error. Records signed with a key
/// that was not given are reported as `unknown_key` (unverifiable, not
/// tampered); --allow-unverified accepts them (exit 0 if nothing else is
/// wrong), for example when checking only what a newer key signed.
#[derive(Debug, Args)]
struct VerifyArgs {
    /// Log files (`.log`, `.log.gz`) or directories (every `*.log` and
    /// `*.log.gz` file directly inside).
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,

    /// A file holding a key as `ID:HEX` (as `evtrail keygen` writes it), or
    /// as bare hex or base64 (the id is then the key's fingerprint).
    /// Repeatable.
    #[arg(long = "key-file", value_name = "FILE")]
    key_files: Vec<PathBuf>,

    /// An environment variable holding a key as hex or base64 text.
    /// Repeatable.
    #[arg(long = "key-env", value_name = "VAR")]
    key_envs: Vec<String>,

    /// A seal exported earlier (`Handle::seals`), as STREAM:SEQ:SIG: the
    /// stream must reach it, which proves its end was not cut off.
    /// Repeatable.
    #[arg(long = "anchor", value_name = "STREAM:SEQ:SIG")]
    anchors: Vec<String>,

    /// A file of anchors, one STREAM:SEQ:SIG a line; blank lines and lines
    /// starting with `#` are ignored.
    #[arg(long = "anchors-file", value_name = "FILE")]
    anchors_file: Option<PathBuf>,

    /// Exit 0 even when records could not be verified because their key
    /// was not given (they are still reported).
    #[arg(long)]
    allow_unverified: bool,

    /// Print the report as one JSON document instead of the summary.
    #[arg(long)]
    json: bool,
}

/// Generate a new random signing key and write it to a new file (mode 0600
/// on Unix).
///
/// The file holds the key id and the 32-byte secret as `ID:HEX`. It is
/// never overwritten unless --force is given.
#[derive(Debug, Args)]
struct KeygenArgs {
    /// The file to create.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,

    /// The key id written as `kid` in every record signed with the key.
    /// Default: the key's fingerprint.
    #[arg(long, value_name = "KID")]
    id: Option<String>,

    /// Replace the file if it exists (the old key is lost).
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(args) => verify(args),
        Command::Keygen(args) => keygen(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Nothing more can be done if stderr is gone as well.
            let _ = writeln!(io::stderr().lock(), "evtrail: {}", Chain(&*e));
            ExitCode::from(ERROR)
        }
    }
}

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

fn verify(args: VerifyArgs) -> Result<u8> {
    if args.key_files.is_empty() && args.key_envs.is_empty() {
        return Err("no key given: pass --key-file FILE or --key-env VAR \
                    (the key the log was signed with; repeat for several)"
            .into());
    }
    let mut keys = Keyring::new();
    for path in &args.key_files {
        keys.add(Key::from_file(path)?);
    }
    for var in &args.key_envs {
        keys.add(Key::from_env(var)?);
    }

    let mut verifier = Verifier::new(keys);
    for text in &args.anchors {
        let seal: Seal = text.parse()?;
        verifier = verifier.anchor(seal);
    }
    if let Some(path) = &args.anchors_file {
        for seal in read_anchors(path)? {
            verifier = verifier.anchor(seal);
        }
    }

    let progress = io::stderr()
        .is_terminal()
        .then(|| Rc::new(RefCell::new(Progress::default())));
    if let Some(p) = &progress {
        let p = Rc::clone(p);
        verifier = verifier.on_progress(move |done, total| p.borrow_mut().update(done, total));
    }
    let result = verifier.verify_paths(&args.paths);
    if let Some(p) = &progress {
        p.borrow_mut().clear();
    }
    let report = result?;

    if report.streams.is_empty() && report.findings.is_empty() {
        // Saying "OK" about an empty directory would hide a wrong path.
        return Err("found no log files (`*.log`, `*.log.gz`) to verify".into());
    }
    let code = if !report.is_clean() || (report.unverified() > 0 && !args.allow_unverified) {
        TAMPERED
    } else {
        CLEAN
    };
    let text = if args.json {
        report.to_json()
    } else {
        report.to_string()
    };
    print(&text)?;
    Ok(code)
}

fn keygen(args: KeygenArgs) -> Result<u8> {
    let mut key = Key::generate()?;
    if let Some(id) = args.id {
        key = key.with_id(id)?;
    }
    if args.force {
        match fs::remove_file(&args.out) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                let msg = format!("cannot remove `{}`", args.out.display());
                return Err(Context::wrap(msg, e));
            }
        }
    }
    key.write_new_file(&args.out)?;
    print(&format!("wrote key {} to {}", key.id(), args.out.display()))?;
    Ok(CLEAN)
}

/// Reads an anchors file: one `STREAM:SEQ:SIG` a line; blank lines and
/// `#` comments ignored.
fn read_anchors(path: &Path) -> Result<Vec<Seal>> {
    let text = fs::read_to_string(path)
        .map_err(|e| Context::wrap(format!("cannot read anchors file `{}`", path.display()), e))?;
    let mut seals = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let seal = line.parse::<Seal>().map_err(|e| {
            Context::wrap(
                format!("anchors file `{}`, line {}", path.display(), i + 1),
                e,
            )
        })?;
        seals.push(seal);
    }
    Ok(seals)
}

/// Writes `text` and a newline to stdout. A closed pipe (`| head`) is not
/// an error: the reader has what it wanted.
fn print(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Context::wrap("cannot write to standard output", e)),
    }
}

/// The progress line on a terminal's stderr: `\r`-redrawn, throttled, and
/// only for large inputs.
#[derive(Default)]
struct Progress {
    last_draw: Option<Instant>,
    /// The width of what is on screen, to blank it out.
    width: usize,
}

impl Progress {
    fn update(&mut self, done: u64, total: u64) {
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
            "evtrail: verifying {:.1} / {:.1} MB ({}%)",
            mb(done),
            mb(total),
            done.saturating_mul(100) / total
        );
        let pad = self.width.saturating_sub(line.len());
        self.width = line.len();
        let _ = write!(io::stderr().lock(), "\r{line}{:pad$}", "");
    }

    fn clear(&mut self) {
        if self.width > 0 {
            let _ = write!(io::stderr().lock(), "\r{:w$}\r", "", w = self.width);
            self.width = 0;
        }
    }
}

/// An error with the context it happened in; the cause is its `source`.
#[derive(Debug)]
struct Context {
    message: String,
    source: Box<dyn Error>,
}

impl Context {
    fn wrap(message: impl Into<String>, source: impl Into<Box<dyn Error>>) -> Box<dyn Error> {
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
struct Chain<'a>(&'a dyn Error);

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
