//! The notification sink's settings and their checks.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::NotifySink;
use super::channel::{Channel, RateLimit};
use super::rule::Rule;
use super::rules::check_rules;
use crate::error::Error;

/// How long a new group waits for more records before its first message:
/// a burst becomes one message, and the first message still lands within
/// about a second.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(1);
/// The least time between two messages of a group that keeps firing.
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(60);
/// How often an open problem without new records is repeated.
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
/// How many times a message is tried before it is given up.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// How long one request may take, connecting included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait an API's "later" (`Retry-After`, DingTalk's 10-minute
/// throttle) is honoured for.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// How many batches of matched records wait for a channel's thread.
pub const DEFAULT_QUEUE: usize = 1024;

/// One named channel with its limits.
#[derive(Debug, Clone)]
pub(crate) struct ChannelSettings {
    pub(crate) name: String,
    pub(crate) channel: Arc<dyn Channel>,
    pub(crate) limits: Vec<RateLimit>,
}

/// Settings of a [`NotifySink`]; from [`NotifySink::builder`].
///
/// | setting | default |
/// |---|---|
/// | [`name`](Self::name) | `notify` |
/// | [`group_wait`](Self::group_wait) | [`DEFAULT_GROUP_WAIT`] (1 s) |
/// | [`group_interval`](Self::group_interval) | [`DEFAULT_GROUP_INTERVAL`] (1 min) |
/// | [`repeat_interval`](Self::repeat_interval) | [`DEFAULT_REPEAT_INTERVAL`] (4 h) |
/// | [`rate_limit`](Self::rate_limit) | each API's documented limit |
/// | [`max_attempts`](Self::max_attempts) | [`DEFAULT_MAX_ATTEMPTS`] (5) |
/// | [`backoff`](Self::backoff) | 1 s doubling up to 1 min |
/// | [`max_retry_after`](Self::max_retry_after) | [`DEFAULT_MAX_RETRY_AFTER`] (10 min) |
/// | [`timeout`](Self::timeout) | [`DEFAULT_TIMEOUT`] (10 s) |
/// | [`time_zone`](Self::time_zone) | UTC |
/// | [`dead_letter`](Self::dead_letter) | `<log_dir>/notify/<name>/dead-letter.ndjson` |
/// | [`queue`](Self::queue) | [`DEFAULT_QUEUE`] batches per channel |
#[derive(Debug)]
pub struct NotifySinkBuilder {
    pub(crate) name: String,
    pub(crate) channels: Vec<ChannelSettings>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) wait: Duration,
    pub(crate) interval: Duration,
    pub(crate) repeat: Duration,
    pub(crate) limits: Vec<(String, RateLimit)>,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: (Duration, Duration),
    pub(crate) max_retry_after: Duration,
    pub(crate) timeout: Duration,
    pub(crate) time_zone: String,
    pub(crate) dead_letter: Option<PathBuf>,
    pub(crate) queue: usize,
}

impl NotifySinkBuilder {
    pub(crate) fn new() -> NotifySinkBuilder {
        NotifySinkBuilder {
            name: "notify".to_owned(),
            channels: Vec::new(),
            rules: Vec::new(),
            wait: DEFAULT_GROUP_WAIT,
            interval: DEFAULT_GROUP_INTERVAL,
            repeat: DEFAULT_REPEAT_INTERVAL,
            limits: Vec::new(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: (Duration::from_secs(1), Duration::from_secs(60)),
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            timeout: DEFAULT_TIMEOUT,
            time_zone: "UTC".to_owned(),
            dead_letter: None,
            queue: DEFAULT_QUEUE,
        }
    }

    /// The sink's name in stats, `evtrail.push` records and the default
    /// dead-letter path (default `notify`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds a chat channel under a name rules send to
    /// ([`Rule::to`]).
    pub fn add_channel(mut self, name: impl Into<String>, channel: impl Channel + 'static) -> Self {
        let channel: Arc<dyn Channel> = Arc::new(channel);
        self.channels.push(ChannelSettings {
            name: name.into(),
            limits: channel.rate_limits(),
            channel,
        });
        self
    }

    /// Adds a rule.
    pub fn add_rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// How long a new group waits for more records before its first
    /// message (default [`DEFAULT_GROUP_WAIT`]; zero sends at once).
    pub fn group_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The least time between two messages of a group that keeps firing;
    /// what arrives meanwhile is merged into the next, with its count
    /// (default [`DEFAULT_GROUP_INTERVAL`]).
    pub fn group_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How often an open problem (records with a `status`) with no new
    /// records is repeated (default [`DEFAULT_REPEAT_INTERVAL`]).
    pub fn repeat_interval(mut self, repeat: Duration) -> Self {
        self.repeat = repeat;
        self
    }

    /// Sends at most `messages` per `per` to the channel named `channel`,
    /// in place of the API's documented limits (call again to add
    /// another window). Messages the limit holds back are merged into the
    /// next one that goes, never dropped.
    pub fn rate_limit(mut self, channel: &str, messages: u32, per: Duration) -> Self {
        self.limits
            .push((channel.to_owned(), RateLimit { messages, per }));
        self
    }

    /// How many times a message is tried (answers that say "later",
    /// timeouts, connection errors) before it is given up to the
    /// dead-letter file (default [`DEFAULT_MAX_ATTEMPTS`]).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The wait before the first retry, doubling up to `max` (defaults
    /// 1 s and 1 min); an API's `Retry-After` is honoured instead.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = (first, max.max(first));
        self
    }

    /// The longest an API's request to wait (`Retry-After`, or DingTalk's
    /// 10-minute throttle after "sending too fast") is honoured for
    /// (default [`DEFAULT_MAX_RETRY_AFTER`]).
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// How long one request may take, connecting included (default
    /// [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The time zone messages show times in: `UTC` or an offset such as
    /// `+08:00` (default `UTC`).
    pub fn time_zone(mut self, zone: impl Into<String>) -> Self {
        self.time_zone = zone.into();
        self
    }

    /// Where messages given up are written, one JSON line each with the
    /// reason (default `<log_dir>/notify/<name>/dead-letter.ndjson`).
    pub fn dead_letter(mut self, path: impl Into<PathBuf>) -> Self {
        self.dead_letter = Some(path.into());
        self
    }

    /// How many batches of matched records may wait for a channel's
    /// thread (default [`DEFAULT_QUEUE`]); more are counted as dropped and
    /// reported in an `evtrail.dropped` record.
    pub fn queue(mut self, batches: usize) -> Self {
        self.queue = batches.max(1);
        self
    }

    /// Checks the settings and makes the sink.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the problem:
    /// no channel or no rule, two channels of one name, a rule sending to
    /// a channel that does not exist or with a condition that cannot be
    /// read, a webhook template that is not JSON, an unknown time zone, a
    /// rate limit for an unknown channel.
    pub fn build(mut self) -> Result<NotifySink, Error> {
        let err = |m: String| Error::config(format!("notification sink `{}`: {m}", self.name));
        if self.channels.is_empty() {
            return Err(err("no channel: add one with `add_channel`".into()));
        }
        let mut names = HashSet::new();
        for c in &self.channels {
            if !names.insert(c.name.as_str()) {
                return Err(err(format!("two channels are named `{}`", c.name)));
            }
        }
        check_rules(&self.channels, &self.rules).map_err(err)?;
        for (name, _) in &self.limits {
            if !names.contains(name.as_str()) {
                return Err(err(format!(
                    "a rate limit names `{name}`, which is not a channel"
                )));
            }
        }
        let limits = std::mem::take(&mut self.limits);
        for c in &mut self.channels {
            let own: Vec<RateLimit> = limits
                .iter()
                .filter(|(n, _)| *n == c.name)
                .map(|(_, l)| *l)
                .collect();
            if !own.is_empty() {
                c.limits = own;
            }
        }
        parse_time_zone(&self.time_zone).map_err(err)?;
        Ok(NotifySink::new(self))
    }
}

/// `UTC`, `Z` or `+08:00` / `-05:30` / `+0800`.
pub(crate) fn parse_time_zone(zone: &str) -> Result<time::UtcOffset, String> {
    let z = zone.trim();
    if z.eq_ignore_ascii_case("utc") || z == "Z" {
        return Ok(time::UtcOffset::UTC);
    }
    let bad = || format!("unknown time zone `{zone}`: give `UTC` or an offset such as `+08:00`");
    let (sign, rest) = match z.as_bytes().first() {
        Some(b'+') => (1i8, &z[1..]),
        Some(b'-') => (-1i8, &z[1..]),
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 5 {
        return Err(bad());
    }
    let h: i8 = digits[..2].parse().map_err(|_| bad())?;
    // Real zones lie within -12:00 and +14:00.
    if h > 14 {
        return Err(bad());
    }
    let m: i8 = digits[2..].parse().map_err(|_| bad())?;
    time::UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_utc_or_offsets() {
        assert_eq!(parse_time_zone("UTC").unwrap(), time::UtcOffset::UTC);
        assert_eq!(
            parse_time_zone("+08:00").unwrap(),
            time::UtcOffset::from_hms(8, 0, 0).unwrap()
        );
        assert_eq!(
            parse_time_zone("-0530").unwrap(),
            time::UtcOffset::from_hms(-5, -30, 0).unwrap()
        );
        for bad in ["Asia/Shanghai", "+8", "+25:00", "08:00", ""] {
            assert!(parse_time_zone(bad).is_err(), "{bad}");
        }
    }
}
