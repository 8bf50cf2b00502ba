//! The filter and time-range flags that `query`, `tail` and `incidents`
//! share, turned into the library's [`Filter`] and [`TimeRange`].

use anyhow::Context as _;
use std::time::SystemTime;

use clap::Args;
use evtrail::query::{Filter, TimeRange};

use crate::common::Result;

/// Which records: the time range, and conditions that must all hold (a
/// repeated flag is an OR within that field).
#[derive(Debug, Args)]
#[command(next_help_heading = "Selecting records")]
pub(crate) struct FilterArgs {
    /// The last DURATION: a number and s, m, h, d or w (`10m`, `2h`, `1d`).
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["from", "to", "all_time"])]
    since: Option<String>,

    /// From TIME on: RFC 3339 (`2026-11-20T12:00:00Z`) or
    /// `YYYY-MM-DD[ hh:mm[:ss]]` in UTC.
    #[arg(long, value_name = "TIME", conflicts_with = "all_time")]
    from: Option<String>,

    /// Before TIME (the same forms as --from).
    #[arg(long, value_name = "TIME", conflicts_with = "all_time")]
    to: Option<String>,

    /// Whenever it happened (no time range).
    #[arg(long)]
    all_time: bool,

    /// Only this stream (the log file's name, `app` for `app.log`).
    #[arg(long, value_name = "NAME")]
    stream: Vec<String>,

    /// At least this level: trace, debug, info, warn or error.
    #[arg(long, value_name = "LEVEL")]
    level: Option<String>,

    /// The record's class: info, error, security, audit, correction, ….
    #[arg(long, value_name = "CLASS")]
    class: Vec<String>,

    /// The event name, exact or with wildcards (`payment_*`).
    #[arg(long, value_name = "NAME")]
    event: Vec<String>,

    /// The event code.
    #[arg(long, value_name = "CODE")]
    code: Vec<String>,

    /// The status: ok, info, warning, error, critical, nodata.
    #[arg(long, value_name = "STATUS")]
    status: Vec<String>,

    /// The operation key (`op`), to follow one operation across streams.
    #[arg(long, value_name = "KEY")]
    op: Vec<String>,

    /// The user.
    #[arg(long, value_name = "USER")]
    user: Vec<String>,

    /// The tenant.
    #[arg(long, value_name = "TENANT")]
    tenant: Vec<String>,

    /// The client IP.
    #[arg(long, value_name = "IP")]
    ip: Vec<String>,

    /// The node or instance.
    #[arg(long, value_name = "NODE")]
    node: Vec<String>,

    /// The host.
    #[arg(long, value_name = "HOST")]
    host: Vec<String>,

    /// The service.
    #[arg(long, value_name = "SERVICE")]
    service: Vec<String>,

    /// The request id.
    #[arg(long, value_name = "ID")]
    request_id: Vec<String>,

    /// The trace id.
    #[arg(long, value_name = "ID")]
    trace_id: Vec<String>,

    /// Text the message (`msg`) holds, ignoring case. Repeatable: all must
    /// be there.
    #[arg(long, value_name = "TEXT")]
    grep: Vec<String>,

    /// A condition on any field, nested ones included:
    /// `fields.amount>100`, `spans.request.path=/pay`, `user~^u-1`,
    /// `fields.reason exists`. Operators: = != > >= < <= ~ (regex),
    /// exists, !exists. Repeatable: all must hold.
    #[arg(long = "where", value_name = "COND")]
    conditions: Vec<String>,

    /// Include the chain's own records (segment starts and ends, seals,
    /// key rotations), left out by default.
    #[arg(long)]
    markers: bool,
}

/// What a subcommand searches when no time flag is given.
#[derive(Clone, Copy, Debug)]
pub(crate) enum DefaultRange {
    /// The clock hour now falls in.
    CurrentHour,
    /// The last this many seconds.
    Last(u64),
    /// Whenever.
    All,
}

impl FilterArgs {
    /// The streams asked for (all when empty).
    pub(crate) fn streams(&self) -> &[String] {
        &self.stream
    }

    /// Whether the chain's own records are wanted.
    pub(crate) fn markers(&self) -> bool {
        self.markers
    }

    /// The filter the flags describe.
    pub(crate) fn filter(&self) -> Result<Filter> {
        let mut f = Filter::new();
        for (field, values) in [
            ("class", &self.class),
            ("event", &self.event),
            ("code", &self.code),
            ("status", &self.status),
            ("op", &self.op),
            ("user", &self.user),
            ("tenant", &self.tenant),
            ("ip", &self.ip),
            ("node", &self.node),
            ("host", &self.host),
            ("service", &self.service),
            ("request_id", &self.request_id),
            ("trace_id", &self.trace_id),
        ] {
            if !values.is_empty() {
                f = f.add_any_of(field, values)?;
            }
        }
        if let Some(level) = &self.level {
            let level: tracing::Level = level.parse().map_err(|_| {
                anyhow::anyhow!(
                    "invalid level `{level}`: expected trace, debug, info, warn or error"
                )
            })?;
            f = f.min_level(level);
        }
        for text in &self.grep {
            f = f.add_text(text);
        }
        for cond in &self.conditions {
            f = f.add_where(cond)?;
        }
        Ok(f)
    }

    /// The time range the flags describe, or `default`.
    pub(crate) fn range(&self, now: SystemTime, default: DefaultRange) -> Result<TimeRange> {
        if self.all_time {
            return Ok(TimeRange::all());
        }
        if let Some(since) = &self.since {
            return Ok(TimeRange::parse_since(since, now)?);
        }
        if self.from.is_some() || self.to.is_some() {
            return Ok(TimeRange::parse(
                self.from.as_deref().unwrap_or(""),
                self.to.as_deref().unwrap_or(""),
            )?);
        }
        Ok(match default {
            DefaultRange::CurrentHour => TimeRange::current_hour(now),
            DefaultRange::Last(secs) => TimeRange::parse_since(&format!("{secs}s"), now)?,
            DefaultRange::All => TimeRange::all(),
        })
    }
}

/// A duration as `--since` takes it (`90s`, `5m`, `1h`, `1d`), read by the
/// library's own rules so both flags accept the same forms.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration> {
    // Far enough from the epoch that any sensible duration fits before it.
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(100 * 366 * 86_400);
    let from = TimeRange::parse_since(text, now)?
        .from()
        .context("the duration has no start")?;
    Ok(now.duration_since(from)?)
}
