//! `evtrail stats`: how many records, of what, when, and whether their
//! pushes got through — as tables for people, JSON or CSV for scripts.

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use evtrail::query::Query;
use evtrail::stats::{Counts, Summary, Tally};

use crate::common::{CLEAN, FOUND_PROBLEM, KeyArgs, Result, now, print};
use crate::filters::{DefaultRange, FilterArgs, parse_duration};
use crate::output::{csv, printable};
use crate::query::note;
use crate::store::{StoreArgs, duplicates, or_here};

/// How many keys a table shows when --top is not given.
const TABLE_TOP: usize = 10;

/// How the statistics are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatsFormat {
    /// Tables for people (the default on a terminal).
    Table,
    /// One JSON object with every statistic (the default when piped).
    Json,
    /// One table as CSV: the --by cross table, or the series without --by.
    Csv,
}

/// Count records: totals, counts by any dimension, a time series, and
/// push statistics per sink.
///
/// Counts over the same filters and time range as `query` (the current
/// hour unless told otherwise). --by counts by one or more dimensions
/// together (a cross table); the series has one line per class, or per
/// value of the first --by dimension, in buckets of --every or of a width
/// that makes about 30–120 buckets across the range. Push statistics come
/// from the `evtrail.push` records HTTP and chat sinks write: per sink and
/// channel, attempts, successes, failures, success rate, records delivered
/// and latency; and whether each selected record was pushed.
///
/// Exit status: 0 when records were counted, 1 when none were, 2 on a
/// usage or I/O error.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  evtrail stats logs
  evtrail stats logs --since 1d --by event --top 20
  evtrail stats logs --by class,tenant --format csv > by-tenant.csv
  evtrail stats logs --since 6h --every 5m --format json
  evtrail stats --clickhouse http://127.0.0.1:8123/ --table logs.events \\
      --event payment_failed --since 1h --by host")]
pub(crate) struct StatsArgs {
    /// Log directories or files [default: .].
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    #[command(flatten)]
    pub(crate) options: StatsOptions,

    #[command(flatten)]
    store: StoreArgs,

    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum)]
    format: Option<StatsFormat>,
}

/// What `stats` and `report` share: the selection and how to count.
#[derive(Debug, Args)]
pub(crate) struct StatsOptions {
    /// Count by these dimensions together: class, event, level, status,
    /// stream, user, tenant, host, code, or any field (`queue`,
    /// `fields.queue`, `spans.request.path`). Comma-separated or repeated.
    #[arg(long, value_name = "DIM", value_delimiter = ',')]
    pub(crate) by: Vec<String>,

    /// Only the N largest keys of --by.
    #[arg(long, value_name = "N")]
    pub(crate) top: Option<usize>,

    /// The series' bucket width: `1m`, `5m`, `1h`, … [default: about 30–120
    /// buckets across the range].
    #[arg(long, value_name = "DURATION")]
    pub(crate) every: Option<String>,

    #[command(flatten)]
    pub(crate) filters: FilterArgs,

    #[command(flatten)]
    pub(crate) keys: KeyArgs,
}

impl StatsOptions {
    /// The query and the tally the flags describe.
    pub(crate) fn tally(&self) -> Result<(Query, Tally)> {
        let range = self.filters.range(now()?, DefaultRange::CurrentHour)?;
        let mut query = Query::new(self.filters.filter()?, range)
            .streams(self.filters.streams().iter().cloned())
            .markers(self.filters.markers());
        if let Some(keys) = self.keys.keyring()? {
            query = query.keys(keys);
        }
        let mut tally = Tally::new().by(self.by.iter().map(|d| d.trim().to_owned()));
        if self.by.iter().any(|d| d.trim().is_empty()) {
            anyhow::bail!("--by names an empty dimension");
        }
        if let Some(n) = self.top {
            tally = tally.top(n);
        }
        if let Some(every) = &self.every {
            tally = tally.every(parse_duration(every)?);
        }
        Ok((query, tally))
    }
}

pub(crate) fn run(args: StatsArgs) -> Result<u8> {
    let store = args.store.store(&args.paths)?;
    let (query, tally) = args.options.tally()?;
    let summary = match &store {
        Some(store) => {
            let tallied = store.tally(&tally, &query)?;
            duplicates(tallied.duplicates);
            if !tallied.pushed_down {
                note(
                    "counted the records here, not in ClickHouse: a condition or dimension \
                     without a column (a field under `fields`), a key, or more pushed runs \
                     of records than one statement holds",
                );
            }
            tallied.summary
        }
        None => tally.run(&query, &or_here(&args.paths))?,
    };
    if summary.problems > 0 {
        note(&format!(
            "warning: {} line{} could not be read (see `evtrail query` for where)",
            summary.problems,
            if summary.problems == 1 { "" } else { "s" }
        ));
    }
    let format = args.format.unwrap_or(if io::stdout().is_terminal() {
        StatsFormat::Table
    } else {
        StatsFormat::Json
    });
    match format {
        StatsFormat::Json => print(&summary.to_json())?,
        StatsFormat::Csv => print(&csv_table(&summary))?,
        StatsFormat::Table => print(&tables(&summary, args.options.top))?,
    }
    if io::stderr().is_terminal() && format != StatsFormat::Table {
        note(&format!(
            "counted {} records in {}",
            summary.total,
            query.range()
        ));
    }
    Ok(if summary.total > 0 {
        CLEAN
    } else {
        FOUND_PROBLEM
    })
}

/// Columns aligned: the first left, numbers right.
fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w - c.chars().count();
            let numeric = i > 0
                && c.chars()
                    .next()
                    .is_some_and(|ch| ch.is_ascii_digit() || ch == '-');
            if numeric {
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            } else {
                out.push_str(c);
                out.push_str(&" ".repeat(pad));
            }
            out.push_str("  ");
        }
        out.trim_end().to_owned()
    };
    let mut lines = vec![line(header.iter().map(|h| h.to_string()).collect())];
    lines.extend(rows.iter().map(|r| line(r.clone())));
    lines.join("\n")
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// A dimension's counts as a table, the largest `top` keys and the rest.
fn counts_table(title: &[&str], counts: &Counts, top: usize, whole: u64) -> String {
    let mut rows: Vec<Vec<String>> = counts
        .top
        .iter()
        .take(top)
        .map(|c| {
            let mut row: Vec<String> = c.key.iter().map(|k| shown(k)).collect();
            row.push(c.count.to_string());
            row.push(percent(c.count, whole));
            row
        })
        .collect();
    let listed: u64 = counts.top.iter().take(top).map(|c| c.count).sum();
    let rest = counts.total() - listed;
    if rest > 0 {
        let mut row = vec![format!(
            "(other {} keys)",
            counts.distinct.saturating_sub(top as u64)
        )];
        row.extend((1..title.len()).map(|_| String::new()));
        row.push(rest.to_string());
        row.push(percent(rest, whole));
        rows.push(row);
    }
    let mut header: Vec<&str> = title.to_vec();
    header.extend(["RECORDS", "SHARE"]);
    aligned(&header, &rows)
}

/// A value for the terminal: control characters escaped, absent shown.
fn shown(v: &str) -> String {
    if v.is_empty() {
        "(none)".to_owned()
    } else {
        printable(v)
    }
}

fn tables(s: &Summary, top: Option<usize>) -> String {
    let top = top.unwrap_or(TABLE_TOP);
    let mut out = Vec::new();
    let range = match (&s.from, &s.to) {
        (None, None) => "all time".to_owned(),
        (a, b) => format!(
            "{} .. {}",
            a.as_deref().unwrap_or("…"),
            b.as_deref().unwrap_or("…")
        ),
    };
    let mut head = format!("{} records in {range}", s.total);
    if let (Some(a), Some(b)) = (&s.first, &s.last) {
        head.push_str(&format!(" (first {}, last {})", printable(a), printable(b)));
    }
    if let Some(sigs) = &s.signatures {
        let valid = sigs.get("valid").copied().unwrap_or(0);
        head.push_str(&format!("\nsignatures: {valid} of {} valid", s.total));
        for (verdict, n) in sigs.iter().filter(|(v, _)| v.as_str() != "valid") {
            head.push_str(&format!(", {n} {verdict}"));
        }
    }
    out.push(head);
    if s.total == 0 {
        return out.join("\n\n");
    }
    if !s.by.is_empty() {
        let upper: Vec<String> = s.by.iter().map(|d| d.to_uppercase()).collect();
        let title: Vec<&str> = upper.iter().map(String::as_str).collect();
        out.push(counts_table(&title, &s.groups, top, s.total));
    }
    out.push(counts_table(&["CLASS"], &s.classes, top, s.total));
    out.push(counts_table(&["EVENT"], &s.events, top, s.total));
    out.push(series_table(s));
    out.push(push_tables(s, top));
    out.join("\n\n")
}

fn series_table(s: &Summary) -> String {
    let series = &s.series;
    let mut header = vec![
        format!("TIME (every {}s)", series.every_s),
        "TOTAL".to_owned(),
    ];
    header.extend(series.lines.iter().map(|l| shown(&l.name)));
    let rows: Vec<Vec<String>> = series
        .starts
        .iter()
        .enumerate()
        .map(|(i, start)| {
            let mut row = vec![start.replace('T', " "), series.totals[i].to_string()];
            row.extend(series.lines.iter().map(|l| l.counts[i].to_string()));
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    aligned(&header, &rows)
}

fn push_tables(s: &Summary, top: usize) -> String {
    let p = &s.push;
    if p.sinks.is_empty() {
        return format!(
            "push: no evtrail.push records in the range ({} records not pushed)",
            p.records.none
        );
    }
    let ms = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    let rows: Vec<Vec<String>> = p
        .sinks
        .iter()
        .map(|k| {
            vec![
                shown(&k.sink),
                k.channel.as_deref().map_or("-".to_owned(), printable),
                k.attempts.to_string(),
                k.ok.to_string(),
                k.failed.to_string(),
                k.rejected.to_string(),
                percent(k.ok, k.attempts),
                k.records_delivered.to_string(),
                ms(k.latency_ms_p50),
                ms(k.latency_ms_p99),
            ]
        })
        .collect();
    let mut out = aligned(
        &[
            "SINK",
            "CHANNEL",
            "ATTEMPTS",
            "OK",
            "FAILED",
            "REJECTED",
            "SUCCESS",
            "DELIVERED",
            "P50 MS",
            "P99 MS",
        ],
        &rows,
    );
    let r = p.records;
    let all = r.ok + r.failed + r.none;
    out.push_str(&format!(
        "\n\nrecords pushed: {} ok ({}), {} failed ({}), {} not pushed ({})",
        r.ok,
        percent(r.ok, all),
        r.failed,
        percent(r.failed, all),
        r.none,
        percent(r.none, all)
    ));
    if !p.events.is_empty() {
        let rows: Vec<Vec<String>> = p
            .events
            .iter()
            .take(top)
            .map(|e| {
                vec![
                    shown(&e.event),
                    e.records.ok.to_string(),
                    e.records.failed.to_string(),
                    e.records.none.to_string(),
                    e.messages_ok.to_string(),
                    e.messages_failed.to_string(),
                ]
            })
            .collect();
        out.push_str("\n\n");
        out.push_str(&aligned(
            &[
                "EVENT",
                "PUSHED",
                "FAILED",
                "NOT PUSHED",
                "MESSAGES OK",
                "MESSAGES FAILED",
            ],
            &rows,
        ));
    }
    out
}

/// The --by cross table, or without --by the series, as CSV.
fn csv_table(s: &Summary) -> String {
    let mut lines = Vec::new();
    if s.by.is_empty() {
        let mut header = vec!["start".to_owned(), "total".to_owned()];
        header.extend(s.series.lines.iter().map(|l| csv(&l.name)));
        lines.push(header.join(","));
        for (i, start) in s.series.starts.iter().enumerate() {
            let mut row = vec![start.clone(), s.series.totals[i].to_string()];
            row.extend(s.series.lines.iter().map(|l| l.counts[i].to_string()));
            lines.push(row.join(","));
        }
    } else {
        let mut header: Vec<String> = s.by.iter().map(|d| csv(d)).collect();
        header.push("count".to_owned());
        lines.push(header.join(","));
        for c in &s.groups.top {
            let mut row: Vec<String> = c.key.iter().map(|k| csv(k)).collect();
            row.push(c.count.to_string());
            lines.push(row.join(","));
        }
        if s.groups.rest > 0 {
            let mut row = vec![csv("(other)")];
            row.extend((1..s.by.len()).map(|_| String::new()));
            row.push(s.groups.rest.to_string());
            lines.push(row.join(","));
        }
    }
    lines.join("\n")
}
