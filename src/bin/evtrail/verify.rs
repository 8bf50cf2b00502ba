//! `evtrail verify`: prove logs genuine, stream by stream.

use anyhow::Context as _;
use std::cell::RefCell;
use std::fs;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use clap::Args;
use evtrail::Seal;
use evtrail::verify::Verifier;

use crate::common::{CLEAN, FOUND_PROBLEM, KeyArgs, Progress, Result, print};
use crate::store::{StoreArgs, duplicates};

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
/// not be verified, 2 on a usage or I/O error. Records missing from a
/// stream that a signed `evtrail.dropped` record declares lost (a full
/// disk, a full spool) are reported as `explained_loss`, which is not
/// evidence of tampering (exit 0 if nothing else is wrong); a gap no such
/// record covers entirely is `deleted`. Records signed with a key
/// that was not given are reported as `unknown_key` (unverifiable, not
/// tampered); --allow-unverified accepts them (exit 0 if nothing else is
/// wrong), for example when checking only what a newer key signed.
///
/// With --clickhouse URL --table NAME, verifies what a ClickHouse store
/// holds instead: each (service, host, stream) read in seq order, its
/// findings located as SERVER/TABLE/SERVICE/HOST/STREAM:ROW [STREAM seq N].
/// Copies of a row delivered twice are left out (and counted on stderr);
/// a different row with the same seq is kept and judged. Anchors name a
/// stream, not a host: give them when the table holds one writer's
/// streams.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  evtrail verify logs --key-file evtrail.key
  evtrail verify logs --key-file evtrail.key --anchors-from seals.jsonl
  evtrail verify --clickhouse http://127.0.0.1:8123/ --table logs.events --key-file evtrail.key")]
pub(crate) struct VerifyArgs {
    /// Log files (`.log`, `.log.gz`) or directories (every `*.log` and
    /// `*.log.gz` file directly inside).
    #[arg(value_name = "PATH", required_unless_present_any = ["table", "clickhouse"])]
    paths: Vec<PathBuf>,

    #[command(flatten)]
    store: StoreArgs,

    #[command(flatten)]
    keys: KeyArgs,

    /// A seal exported earlier (`Handle::seals`), as STREAM:SEQ:SIG: the
    /// stream must reach it, which proves its end was not cut off.
    /// Repeatable.
    #[arg(long = "anchor", value_name = "STREAM:SEQ:SIG")]
    anchors: Vec<String>,

    /// A file of anchors, one STREAM:SEQ:SIG a line; blank lines and lines
    /// starting with `#` are ignored.
    #[arg(long = "anchors-file", value_name = "FILE")]
    anchors_file: Option<PathBuf>,

    /// Anchors kept elsewhere: a file of STREAM:SEQ:SIG lines (what an
    /// `AnchorSink` writes) or of signed records, one JSON object a line
    /// (an HTTP store's copy: every seal it received anchors the chain).
    /// Repeatable.
    #[arg(long = "anchors-from", value_name = "FILE")]
    anchors_from: Vec<PathBuf>,

    /// Also use the position each directory's writer state file
    /// (`.evtrail-state`) holds as an anchor. It is local: whoever can
    /// change the logs can change it too, so it shows only a cut made
    /// without updating it.
    #[arg(long)]
    state_anchors: bool,

    /// Exit 0 even when records could not be verified because their key
    /// was not given (they are still reported).
    #[arg(long)]
    allow_unverified: bool,

    /// Print the report as one JSON document instead of the summary.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: VerifyArgs) -> Result<u8> {
    let store = args.store.store(&args.paths)?;
    let Some(keys) = args.keys.keyring()? else {
        anyhow::bail!(
            "no key given: pass --key-file FILE or --key-env VAR \
             (the key the log was signed with; repeat for several)"
        );
    };
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
    for path in &args.anchors_from {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read anchors `{}`", path.display()))?;
        let seals = evtrail::verify::anchors_from_text(&text)
            .with_context(|| format!("anchors `{}`", path.display()))?;
        for seal in seals {
            verifier = verifier.anchor(seal);
        }
    }
    if args.state_anchors {
        for dir in args.paths.iter().filter(|p| p.is_dir()) {
            let Some(seals) = evtrail::verify::state_anchors(dir)? else {
                continue;
            };
            eprintln!(
                "warning: anchors from `{}` are local: whoever can change the logs can change \
                 them too; keep seals elsewhere (--anchors-from) to prove the end of a log",
                dir.join(".evtrail-state").display()
            );
            for seal in seals {
                verifier = verifier.anchor(seal);
            }
        }
    }

    let report = match &store {
        Some(store) => {
            if args.state_anchors {
                anyhow::bail!(
                    "--state-anchors reads a log directory's state file; a store has none"
                );
            }
            let verified = store.verify(&mut verifier)?;
            duplicates(verified.duplicates);
            verified.report
        }
        None => verify_files(verifier, &args.paths)?,
    };

    if report.streams.is_empty() && report.findings.is_empty() {
        // Saying "OK" about an empty directory would hide a wrong path.
        match &store {
            Some(store) => anyhow::bail!(
                "found no records to verify in table `{}` at {}",
                store.table(),
                store.server()
            ),
            None => anyhow::bail!("found no log files (`*.log`, `*.log.gz`) to verify"),
        }
    }
    let code = if !report.is_clean() || (report.unverified() > 0 && !args.allow_unverified) {
        FOUND_PROBLEM
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

/// Verifies log files, with a progress line on a terminal.
fn verify_files(mut verifier: Verifier, paths: &[PathBuf]) -> Result<evtrail::verify::Report> {
    let progress = io::stderr()
        .is_terminal()
        .then(|| Rc::new(RefCell::new(Progress::new("verifying"))));
    if let Some(p) = &progress {
        let p = Rc::clone(p);
        verifier = verifier.on_progress(move |done, total| p.borrow_mut().update(done, total));
    }
    let result = verifier.verify_paths(paths);
    if let Some(p) = &progress {
        p.borrow_mut().clear();
    }
    Ok(result?)
}

/// Reads an anchors file: one `STREAM:SEQ:SIG` a line; blank lines and
/// `#` comments ignored.
fn read_anchors(path: &Path) -> Result<Vec<Seal>> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read anchors file `{}`", path.display()))?;
    let mut seals = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let seal = line
            .parse::<Seal>()
            .with_context(|| format!("anchors file `{}`, line {}", path.display(), i + 1))?;
        seals.push(seal);
    }
    Ok(seals)
}
