//! `evtrail incidents`: which problems are open, since when, and how bad.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use anstyle::{AnsiColor, Style};
use clap::{Args, ValueEnum};
use evtrail::incidents::{Incident, Incidents, short_duration};
use evtrail::query::Query;

use crate::common::{CLEAN, FOUND_PROBLEM, Result, is_broken_pipe, now};
use crate::filters::{DefaultRange, FilterArgs};
use crate::output::printable;
use crate::query::{note, warn};
use crate::store::{StoreArgs, duplicates, or_here};

/// The default range: a problem that began last week and is still open
/// must show.
const DEFAULT_DAYS: u64 = 7;

/// How incidents are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum IncidentFormat {
    /// Aligned columns for people (the default on a terminal).
    Table,
    /// One JSON object per incident (the default when piped).
    Json,
}

/// Problems that are still open: records with a `status` grouped into
/// issues, each open while its latest status is not `ok`.
///
/// An issue is the record's `issue` field when it has one, and otherwise
/// its event name with the fields given to --by (default: host). For each
/// it shows the current and the worst status, when it began, when it was
/// last seen, how long it has lasted (until now, or until its recovery),
/// how many records it had and the last message. Searches the last 7 days
/// unless told otherwise.
///
/// Exit status: 0 when an incident was found (an open one, or any with
/// --all), 1 when none was, 2 on a usage or I/O error.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  evtrail incidents logs
  evtrail incidents logs --by host,tenant --since 1d
  evtrail incidents logs --all --format json
  evtrail incidents --clickhouse http://127.0.0.1:8123/ --table logs.events --since 1d")]
pub(crate) struct IncidentsArgs {
    /// Log directories or files [default: .].
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// The fields that, with the event name, make an issue when a record
    /// has no `issue` field.
    #[arg(
        long,
        value_name = "A,B",
        value_delimiter = ',',
        default_value = "host"
    )]
    by: Vec<String>,

    /// Recovered incidents too.
    #[arg(long)]
    all: bool,

    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum)]
    format: Option<IncidentFormat>,

    #[command(flatten)]
    filters: FilterArgs,

    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn run(args: IncidentsArgs) -> Result<u8> {
    let store = args.store.store(&args.paths)?;
    let now = now()?;
    let range = args
        .filters
        .range(now, DefaultRange::Last(DEFAULT_DAYS * 86_400))?;
    let query =
        Query::new(args.filters.filter()?, range).streams(args.filters.streams().iter().cloned());
    let incidents = Incidents::new().by(args.by.iter().cloned()).all(args.all);
    let found = match &store {
        Some(store) => {
            let stored = store.incidents(&incidents, &query, now)?;
            duplicates(stored.duplicates);
            stored.found
        }
        None => incidents.find(&query, &or_here(&args.paths), now)?,
    };
    for p in &found.problems {
        warn(p);
    }
    let format = args.format.unwrap_or(if io::stdout().is_terminal() {
        IncidentFormat::Table
    } else {
        IncidentFormat::Json
    });
    let text = match format {
        IncidentFormat::Json => found
            .incidents
            .iter()
            .map(json)
            .collect::<Vec<_>>()
            .join("\n"),
        IncidentFormat::Table => table(&found.incidents),
    };
    let mut out = anstream::AutoStream::auto(io::stdout());
    if !text.is_empty() {
        match writeln!(out, "{text}").and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if is_broken_pipe(&e) => return Ok(CLEAN),
            Err(e) => return Err(anyhow::Error::new(e).context("cannot write to standard output")),
        }
    }
    if io::stderr().is_terminal() || format == IncidentFormat::Table {
        let open = found.incidents.iter().filter(|i| i.is_open()).count();
        note(&format!(
            "{open} open incident{} in {range}",
            if open == 1 { "" } else { "s" }
        ));
    }
    Ok(if found.incidents.is_empty() {
        FOUND_PROBLEM
    } else {
        CLEAN
    })
}

fn json(i: &Incident) -> String {
    serde_json::json!({
        "issue": i.key(),
        "state": if i.is_open() { "open" } else { "recovered" },
        "status": i.status(),
        "worst": i.worst(),
        "first_seen": i.first_seen(),
        "last_seen": i.last_seen(),
        "recovered": i.recovered(),
        "duration_s": i.duration().as_secs(),
        "events": i.events(),
        "last_msg": i.last_message(),
    })
    .to_string()
}

fn status_style(status: &str) -> Style {
    let color = match status {
        "critical" | "error" => AnsiColor::Red,
        "warning" => AnsiColor::Yellow,
        "ok" => AnsiColor::Green,
        _ => return Style::new(),
    };
    Style::new().fg_color(Some(color.into()))
}

fn table(incidents: &[Incident]) -> String {
    if incidents.is_empty() {
        return String::new();
    }
    let key_w = incidents
        .iter()
        .map(|i| i.key().chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 48);
    let bold = Style::new().bold();
    let mut lines = vec![format!(
        "{bold}{:<key_w$}  {:<9}  {:<8}  {:<8}  {:<19}  {:<19}  {:>8}  {:>6}  LAST MESSAGE{bold:#}",
        "ISSUE", "STATE", "STATUS", "WORST", "STARTED", "LAST SEEN", "DURATION", "EVENTS"
    )];
    for i in incidents {
        // Every value comes from a record: none reaches the terminal raw.
        let short = |ts: &str| printable(ts.get(..19).unwrap_or(ts)).replace('T', " ");
        let key: String = printable(i.key()).chars().take(key_w).collect();
        let msg: String = printable(i.last_message()).chars().take(60).collect();
        let (st, wst) = (status_style(i.status()), status_style(i.worst()));
        lines.push(format!(
            "{key:<key_w$}  {:<9}  {st}{:<8}{st:#}  {wst}{:<8}{wst:#}  {:<19}  {:<19}  {:>8}  {:>6}  {msg}",
            if i.is_open() { "open" } else { "recovered" },
            printable(i.status()),
            printable(i.worst()),
            short(i.first_seen()),
            short(i.last_seen()),
            short_duration(i.duration()),
            i.events(),
        ));
    }
    lines.join("\n")
}
