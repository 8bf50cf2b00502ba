//! `evtrail report`: the event console as one HTML file that opens
//! offline — trend, donuts, incidents and the latest events.

use anyhow::Context as _;
use std::fs;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use evtrail::incidents::Incidents;
use evtrail::report::{DEFAULT_ROWS, DEFAULT_TITLE, Report};

use crate::common::{CLEAN, FOUND_PROBLEM, Result, now};
use crate::query::note;
use crate::stats::StatsOptions;
use crate::store::{StoreArgs, duplicates, or_here};

/// Write the event console as one self-contained HTML file.
///
/// The page shows, for the same filters and time range as `stats` (the
/// current hour unless told otherwise): the services, hosts and range;
/// the verification verdict when a key is given; a trend of new events
/// per class (or per the first --by dimension); donuts of event types,
/// classes and push status with counts and percentages; open incidents;
/// and the latest events with their code, recipient and push result,
/// content, time and context. Its numbers are those `evtrail stats
/// --format json` prints for the same arguments.
///
/// The file fetches nothing and runs no script: it opens offline and can
/// be attached to a review.
///
/// Exit status: 0 when the report holds records, 1 when the range has
/// none (the page says so), 2 on a usage or I/O error.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  evtrail report logs --out report.html
  evtrail report logs --since 1d --title 'Shop, last day' --key-file evtrail.key --out day.html
  evtrail report logs --class error --by event --every 5m --out errors.html
  evtrail report --clickhouse http://127.0.0.1:8123/ --table logs.events --since 1d --out fleet.html")]
pub(crate) struct ReportArgs {
    /// Log directories or files [default: .].
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// The file to write (`-` for standard output).
    #[arg(long, short = 'o', value_name = "FILE", default_value = "report.html")]
    out: PathBuf,

    /// The page's title.
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_TITLE)]
    title: String,

    /// How many of the latest events the table lists.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ROWS)]
    rows: usize,

    #[command(flatten)]
    options: StatsOptions,

    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn run(args: ReportArgs) -> Result<u8> {
    let store = args.store.store(&args.paths)?;
    let paths = or_here(&args.paths);
    let (query, tally) = args.options.tally()?;
    let report = Report::new()
        .title(args.title.clone())
        .rows(args.rows)
        .tally(tally)
        .incidents(Incidents::new())
        .now(now()?);
    // The page from the files, or from the store.
    let write = |out: &mut dyn Write| -> Result<evtrail::stats::Summary> {
        Ok(match &store {
            Some(store) => {
                let reported = store.report(&report, &query, out)?;
                duplicates(reported.duplicates);
                reported.summary
            }
            None => report.write(&query, &paths, out)?,
        })
    };
    let summary = if args.out.as_os_str() == "-" {
        write(&mut io::stdout().lock())?
    } else {
        // Opened before the logs are read, so a path that cannot be
        // written fails at once; renamed when whole, so a reader never
        // sees half a page.
        let tmp = temp_path(&args.out);
        let file = fs::File::create(&tmp)
            .with_context(|| format!("cannot write `{}`", args.out.display()))?;
        let written = write(&mut BufWriter::new(file));
        let summary = match written {
            Ok(s) => s,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        fs::rename(&tmp, &args.out).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            anyhow::Error::new(e).context(format!("cannot write `{}`", args.out.display()))
        })?;
        summary
    };
    if summary.problems > 0 {
        note(&format!(
            "warning: {} line{} could not be read (see `evtrail query` for where)",
            summary.problems,
            if summary.problems == 1 { "" } else { "s" }
        ));
    }
    if io::stderr().is_terminal() {
        let _ = writeln!(
            io::stderr().lock(),
            "evtrail: wrote {} ({} records in {})",
            args.out.display(),
            summary.total,
            query.range()
        );
    }
    Ok(if summary.total > 0 {
        CLEAN
    } else {
        FOUND_PROBLEM
    })
}

/// `report.html` → `.report.html.tmp` beside it.
fn temp_path(out: &Path) -> PathBuf {
    let name = out.file_name().map_or_else(
        || "report.html".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    out.with_file_name(format!(".{name}.tmp"))
}
