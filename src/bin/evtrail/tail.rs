//! `evtrail tail`: the last records, and with `-f` the new ones as they
//! are written, across rolls, with every new record's signature checked.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use clap::Args;
use evtrail::query::{Followed, Match, Query, Signature};

use crate::common::{CLEAN, FOUND_PROBLEM, KeyArgs, Result, is_broken_pipe, now};
use crate::filters::{DefaultRange, FilterArgs};
use crate::output::{Format, Renderer, printable};
use crate::query::warn;

/// How often `-f` looks for new records.
const POLL: Duration = Duration::from_millis(200);

/// The last records of logs, and with -f the new ones as they come.
///
/// Takes the same filters as `query` (any time by default). With -f it
/// follows every stream's active file across rolls and picks up streams
/// that appear later; with --key-file or --key-env it checks each new
/// record's signature and chain as it arrives, and says so loudly on
/// stderr when one fails — filtered out or not.
///
/// Exit status: 0 when something was shown, 1 when nothing was, 2 on a
/// usage or I/O error. With -f it runs until interrupted.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  evtrail tail logs
  evtrail tail -f logs --level warn
  evtrail tail -f logs --key-file evtrail.key --format json")]
pub(crate) struct TailArgs {
    /// Log directories.
    #[arg(value_name = "DIR", default_value = ".")]
    dirs: Vec<PathBuf>,

    /// How many records to show first.
    #[arg(long, short = 'n', value_name = "N", default_value_t = 10)]
    lines: usize,

    /// Keep following the logs as they grow.
    #[arg(long, short = 'f')]
    follow: bool,

    #[command(flatten)]
    filters: FilterArgs,

    #[command(flatten)]
    keys: KeyArgs,

    /// Output format [default: table on a terminal, jsonl otherwise].
    #[arg(long, value_enum)]
    format: Option<Format>,

    /// The columns of the table or CSV (as for `query`).
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    fields: Option<Vec<String>>,
}

pub(crate) fn run(args: TailArgs) -> Result<u8> {
    let range = args.filters.range(now()?, DefaultRange::All)?;
    let mut query = Query::new(args.filters.filter()?, range)
        .streams(args.filters.streams().iter().cloned())
        .markers(args.filters.markers());
    let keys = args.keys.keyring()?;
    if let Some(keys) = keys {
        query = query.keys(keys);
    }
    let checks = query.checks_signatures();
    // Following starts before the last records are read, so that nothing
    // written in between is missed; what both see is shown once.
    let mut follow = if args.follow {
        Some(query.follow(&args.dirs)?)
    } else {
        None
    };
    let mut out = Renderer::new(
        Format::or_default(args.format),
        args.fields.as_deref(),
        checks,
    );
    let mut shown = 0u64;
    let last = query.clone().reverse(true).limit(args.lines);
    let mut batch: Vec<Match> = Vec::new();
    for item in last.run(&args.dirs)? {
        match item {
            Ok(m) => batch.push(m),
            Err(e) => warn(&e),
        }
    }
    for m in batch.iter().rev() {
        if let Some(f) = &mut follow {
            f.shown(m);
        }
        if !show(&mut out, m)? {
            return Ok(CLEAN);
        }
        shown += 1;
    }
    let Some(mut follow) = follow else {
        return Ok(if shown > 0 { CLEAN } else { FOUND_PROBLEM });
    };
    loop {
        for item in follow.poll() {
            match item {
                Ok(Followed::Match(m)) => {
                    if !show(&mut out, &m)? {
                        return Ok(CLEAN);
                    }
                }
                Ok(Followed::Broken(m)) => alarm(&m),
                Ok(_) => {}
                Err(e) => warn(&e),
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Prints one match, shouting first when its signature fails; `false`
/// when the reader went away (`| head`).
fn show(out: &mut Renderer, m: &Match) -> Result<bool> {
    if m.signature() == Signature::Invalid {
        alarm(m);
    }
    match out.write(m).and_then(|()| out.finish()) {
        Ok(()) => Ok(true),
        Err(e) if is_broken_pipe(&e) => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// A record whose signature or chain does not verify, on stderr.
fn alarm(m: &Match) {
    let style = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    let text = format!(
        "SIGNATURE INVALID: {} seq {} (`{}`, line {}): altered, or a record removed or inserted before it",
        // The record failed its check: nothing of it reaches the terminal raw.
        printable(m.stream()),
        m.seq().map_or_else(|| "?".to_owned(), |s| s.to_string()),
        printable(&m.file().display().to_string()),
        m.line_number()
    );
    let mut err = anstream::AutoStream::auto(io::stderr());
    let _ = writeln!(err, "evtrail: {style}{text}{style:#}");
}
