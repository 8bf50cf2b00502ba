//! The flags that read a ClickHouse store instead of log files
//! (`--clickhouse URL --table NAME`), shared by `query`, `stats`,
//! `incidents`, `report` and `verify`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use evtrail::clickhouse::Store;

use crate::common::Result;
use crate::query::note;

/// The variable that names the server when --clickhouse is not given.
pub(crate) const URL_ENV: &str = "EVTRAIL_CLICKHOUSE_URL";

/// Where the records are, when not in files.
#[derive(Debug, Args)]
#[command(next_help_heading = "Reading a ClickHouse store instead of files")]
pub(crate) struct StoreArgs {
    /// Read the records from the ClickHouse server whose HTTP interface
    /// is at URL (`http://[USER[:PASSWORD]@]HOST:8123/`) instead of log
    /// files [default: $EVTRAIL_CLICKHOUSE_URL, when --table is given].
    #[arg(long, value_name = "URL")]
    clickhouse: Option<String>,

    /// The table the HTTP sink's ClickHouse rows go to (`events`,
    /// `logs.events`).
    #[arg(long, value_name = "NAME")]
    table: Option<String>,
}

impl StoreArgs {
    /// The store the flags name, or `None` to read files. Log paths
    /// given with a store are a usage error: one or the other.
    pub(crate) fn store(&self, paths: &[PathBuf]) -> Result<Option<Store>> {
        let url = match (&self.clickhouse, &self.table) {
            (None, None) => return Ok(None),
            (Some(url), Some(_)) => url.clone(),
            (Some(_), None) => anyhow::bail!("--clickhouse needs --table NAME: the table to read"),
            (None, Some(_)) => std::env::var(URL_ENV)
                .ok()
                .filter(|u| !u.is_empty())
                .with_context(|| {
                    format!("--table needs the server: --clickhouse URL, or {URL_ENV}")
                })?,
        };
        if !paths.is_empty() {
            anyhow::bail!(
                "give either log paths or --clickhouse/--table, not both (got `{}`)",
                paths[0].display()
            );
        }
        let table = self.table.as_deref().unwrap_or_default();
        Ok(Some(Store::new(&url, table).with_context(|| {
            format!(
                "cannot read ClickHouse table `{table}` at {}",
                shown_url(&url)
            )
        })?))
    }
}

/// The address for messages, without a password.
fn shown_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => "the address given".to_owned(),
    }
}

/// Log paths as given, or the current directory.
pub(crate) fn or_here(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    }
}

/// Says on stderr how many copies of records delivered more than once
/// were left out, when there were any.
pub(crate) fn duplicates(n: u64) {
    if n > 0 {
        note(&format!(
            "left out {n} duplicate row{} (records the store received more than once)",
            if n == 1 { "" } else { "s" }
        ));
    }
}
