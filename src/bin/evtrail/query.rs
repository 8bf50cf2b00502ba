//! `evtrail query`: the records a filter selects, across every stream, in
//! time order, with each one's signature checked when a key is given.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use clap::Args;
use evtrail::query::{Filter, Query, Signature};

use crate::common::{CLEAN, FOUND_PROBLEM, KeyArgs, Progress, Result, is_broken_pipe, now};
use crate::filters::{DefaultRange, FilterArgs};
use crate::output::{Format, Renderer};
use crate::store::{StoreArgs, duplicates, or_here};

/// Search logs: every stream, rolled and gzipped files included, merged
/// into time order.
///
/// Searches the current hour unless told otherwise (--since, --from/--to,
/// --all-time); times are UTC. With --key-file or --key-env, every record
/// shown carries its signature's verdict: valid, invalid (altered, or a
/// record removed or inserted just before it) or unknown_key.
///
/// Exit status: 0 when something was found, 1 when nothing was, 2 on a
/// usage or I/O error. Lines that cannot be read are reported on stderr
/// and the search goes on.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  evtrail query logs --event payment_failed --since 10m --reverse
  evtrail query logs --op order-1042 --all-time
  evtrail query logs --class security --class correction --user u-17 --tenant acme \\
      --from 2026-11-22 --key-file evtrail.key \\
      --fields time,sig,class,event,user,ip,node,op,msg
  evtrail query logs --where 'fields.amount>100' --format csv > big.csv
  evtrail query logs --level warn --since 1d --count
  evtrail query --clickhouse http://127.0.0.1:8123/ --table logs.events \\
      --event payment_failed --host web-3 --since 1h")]
pub(crate) struct QueryArgs {
    /// Log directories (every `*.log` and `*.log.gz` directly inside) or
    /// single log files [default: .].
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    #[command(flatten)]
    filters: FilterArgs,

    #[command(flatten)]
    store: StoreArgs,

    #[command(flatten)]
    keys: KeyArgs,

    /// Newest first.
    #[arg(long, short = 'r')]
    reverse: bool,

    /// At most N records (with --reverse, the newest N).
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,

    /// Only print how many records match.
    #[arg(long, short = 'c', conflicts_with_all = ["reverse", "limit", "format", "fields"])]
    count: bool,

    /// Output format [default: table on a terminal, jsonl otherwise].
    #[arg(long, value_enum)]
    format: Option<Format>,

    /// The columns of the table or CSV, comma-separated: record fields
    /// (`event`, `fields.amount`, `spans.request.path`) or `time`, `sig`,
    /// `file`, `line`.
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    fields: Option<Vec<String>>,
}

pub(crate) fn run(args: QueryArgs) -> Result<u8> {
    let store = args.store.store(&args.paths)?;
    let paths = or_here(&args.paths);
    let range = args.filters.range(now()?, DefaultRange::CurrentHour)?;
    let mut query = Query::new(args.filters.filter()?, range)
        .streams(args.filters.streams().iter().cloned())
        .markers(args.filters.markers())
        .reverse(args.reverse);
    if let Some(n) = args.limit {
        query = query.limit(n);
    }
    let keys = args.keys.keyring()?;
    if let Some(keys) = keys {
        query = query.keys(keys);
    }
    let checks = query.checks_signatures();
    let human = io::stderr().is_terminal();
    // A progress line on a terminal's stderr, cleared before each record
    // is printed and drawn again after.
    let progress = human.then(|| Arc::new(Mutex::new(Progress::new("searching"))));
    if let Some(p) = &progress {
        let p = Arc::clone(p);
        query = query.on_progress(move |done, total| {
            p.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .update(done, total);
        });
    }
    let clear = || {
        if let Some(p) = &progress {
            p.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
    };

    if args.count {
        let (n, problems) = match &store {
            Some(store) => {
                let counted = store.count(&query)?;
                duplicates(counted.duplicates);
                (counted.records, Vec::new())
            }
            None => query.count(&paths)?,
        };
        clear();
        for p in &problems {
            warn(p);
        }
        crate::common::print(&n.to_string())?;
        if human {
            note(&format!("searched {range}"));
        }
        return Ok(if n > 0 { CLEAN } else { FOUND_PROBLEM });
    }

    let format = Format::or_default(args.format);
    let mut out = Renderer::new(format, args.fields.as_deref(), checks);
    let mut found = 0u64;
    let mut invalid = 0u64;
    let mut rows = match &store {
        Some(store) => Some(store.search(&query)?),
        None => None,
    };
    let items: Box<dyn Iterator<Item = std::result::Result<_, evtrail::Error>>> = match &mut rows {
        Some(rows) => Box::new(rows),
        None => Box::new(query.run(&paths)?),
    };
    for item in items {
        match item {
            Ok(m) => {
                clear();
                found += 1;
                if m.signature() == Signature::Invalid {
                    invalid += 1;
                }
                if let Err(e) = out.write(&m) {
                    if is_broken_pipe(&e) {
                        return Ok(CLEAN);
                    }
                    return Err(anyhow::Error::new(e).context("cannot write to standard output"));
                }
            }
            // The store's answer ends at an error: what follows is unknown.
            Err(e) if store.is_some() => return Err(e.into()),
            Err(e) => {
                clear();
                warn(&e);
            }
        }
    }
    clear();
    if let Some(rows) = &rows {
        duplicates(rows.duplicates());
    }
    if let Err(e) = out.finish()
        && !is_broken_pipe(&e)
    {
        return Err(anyhow::Error::new(e).context("cannot write to standard output"));
    }
    // The summary is for people: on a terminal's stderr, or under the
    // table.
    if human || format == Format::Table {
        let mut text = format!(
            "{found} record{} in {range}",
            if found == 1 { "" } else { "s" }
        );
        if !checks {
            text.push_str("; signatures not checked (no --key-file or --key-env)");
        } else if invalid > 0 {
            text.push_str(&format!("; {invalid} with an INVALID signature"));
        } else {
            text.push_str("; signatures checked");
        }
        note(&text);
    }
    if found == 0 && store.is_none() {
        absent_fields(&query, &paths, args.fields.as_deref());
    }
    Ok(if found > 0 { CLEAN } else { FOUND_PROBLEM })
}

/// How many records of the range are looked at to tell a misspelt field.
const FIELD_SAMPLE: usize = 1_000;

/// After a search that found nothing: names the fields it asked about that
/// no record of the range has (looking at up to [`FIELD_SAMPLE`] of them),
/// which is most often a misspelt name rather than an answer.
fn absent_fields(query: &Query, paths: &[PathBuf], columns: Option<&[String]>) {
    let mut asked = query.filter().fields();
    asked.extend(columns.unwrap_or_default().iter().cloned());
    asked.retain(|f| {
        !matches!(
            f.as_str(),
            "time" | "sig" | "valid_signature" | "file" | "line"
        )
    });
    if asked.is_empty() {
        return;
    }
    let sample = Query::new(Filter::new(), query.range()).limit(FIELD_SAMPLE);
    let Ok(records) = sample.run(paths) else {
        return;
    };
    let records: Vec<_> = records.filter_map(Result::ok).collect();
    if records.is_empty() {
        return;
    }
    for field in asked {
        if records.iter().all(|m| m.field(&field).is_none()) {
            note(&format!(
                "no record in the range has a field `{field}` (fields are `fields.NAME`, \
                 span fields `spans.SPAN.NAME`; promoted ones such as `user` and `op` stand alone)"
            ));
        }
    }
}

/// A problem met on the way, on stderr; the search goes on.
pub(crate) fn warn(e: &evtrail::Error) {
    let chain: Vec<String> = anyhow::Chain::new(e).map(ToString::to_string).collect();
    let _ = writeln!(
        io::stderr().lock(),
        "evtrail: warning: {}",
        chain.join(": ")
    );
}

/// A line for people on stderr.
pub(crate) fn note(text: &str) {
    let _ = writeln!(io::stderr().lock(), "evtrail: {text}");
}
