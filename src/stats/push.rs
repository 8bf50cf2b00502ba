//! Push statistics from the `evtrail.push` records sinks write: per sink
//! (and chat channel) attempts, outcomes, records delivered and latency;
//! which records each push carried (its `ranges`), so that any record can
//! be told pushed, failed or not pushed; and messages per event named in
//! `events`.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::histogram::Histogram;
use crate::query::as_text;

/// The event name of a push record.
pub const PUSH_EVENT: &str = "evtrail.push";

/// The most distinct sink/channel/recipients a tally tells apart; pushes
/// of further ones count in the sink statistics but not per record.
const MAX_TARGETS: usize = 256;
/// The most runs of `seq` kept (over all targets) to tell which records
/// were pushed; runs of adjacent records merge, so this is rarely reached.
const MAX_RUNS: usize = 1_000_000;
/// The most event names counted from `events` fields.
const MAX_EVENTS: usize = 10_000;

/// A field of a push record, top-level or under `fields`.
fn text(record: &Value, name: &str) -> Option<String> {
    record
        .get(name)
        .or_else(|| record.get("fields").and_then(|f| f.get(name)))
        .filter(|v| !v.is_null())
        .map(|v| as_text(v).into_owned())
}

fn number(record: &Value, name: &str) -> Option<u64> {
    text(record, name).and_then(|t| t.trim().parse().ok())
}

/// The statistics of one sink, or one chat channel of a sink.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SinkPush {
    /// The sink's name.
    pub sink: String,
    /// The chat channel (`dingtalk`, `wecom`, `feishu`, `slack`,
    /// `webhook`); `None` for plain HTTP sinks.
    pub channel: Option<String>,
    /// Requests made: every push record.
    pub attempts: u64,
    /// Requests delivered (`result=ok`).
    pub ok: u64,
    /// Requests that failed: retried later (`retry`) or given up
    /// (`rejected`).
    pub failed: u64,
    /// Of the failures, those given up and dead-lettered.
    pub rejected: u64,
    /// `ok / attempts`, from 0.0 to 1.0 (0.0 without attempts).
    pub success_rate: f64,
    /// Records carried by delivered requests.
    pub records_delivered: u64,
    /// The median latency of a request, in milliseconds.
    pub latency_ms_p50: Option<u64>,
    /// The 99th-percentile latency, in milliseconds.
    pub latency_ms_p99: Option<u64>,
}

/// How many records were pushed, failed to be, or were not pushed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PushCounts {
    /// Carried by a delivered push.
    pub ok: u64,
    /// Carried only by pushes that failed.
    pub failed: u64,
    /// Carried by no push in the logs.
    pub none: u64,
}

impl PushCounts {
    pub(crate) fn add(&mut self, state: Option<bool>) {
        self.add_n(state, 1);
    }

    /// Counts `n` records in `state`.
    pub(crate) fn add_n(&mut self, state: Option<bool>, n: u64) {
        match state {
            Some(true) => self.ok += n,
            Some(false) => self.failed += n,
            None => self.none += n,
        }
    }
}

/// The push status of the records of one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EventPush {
    /// The event name.
    pub event: String,
    /// Its records by push status.
    pub records: PushCounts,
    /// Messages naming it in `events` that were delivered.
    pub messages_ok: u64,
    /// Messages naming it in `events` that failed.
    pub messages_failed: u64,
}

/// Every push statistic of a summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Push {
    /// Per sink and channel, by name.
    pub sinks: Vec<SinkPush>,
    /// The selected records by push status.
    pub records: PushCounts,
    /// Per event (largest first), when any record was pushed or a push
    /// named events.
    pub events: Vec<EventPush>,
    /// Records chat messages carried but did not list (`ranges_cut`):
    /// they count as not pushed.
    pub unlisted: u64,
    /// Whether some pushes were too many to follow record by record; the
    /// records they carried count as not pushed.
    pub cut: bool,
}

/// Where a push went: the sink, its channel and recipients.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    pub(crate) sink: String,
    pub(crate) channel: Option<String>,
    pub(crate) recipients: Option<String>,
}

/// Sets of `seq` as merged runs.
#[derive(Clone, Debug, Default)]
struct Runs(BTreeMap<u64, u64>);

impl Runs {
    /// Adds `a..=b`; returns how many runs were added (negative when
    /// runs merged).
    fn insert(&mut self, mut a: u64, mut b: u64) -> isize {
        let before = self.0.len() as isize;
        // Runs that touch or overlap a..=b merge into it.
        if let Some((&s, &e)) = self.0.range(..=a).next_back()
            && e.saturating_add(1) >= a
        {
            a = s;
            b = b.max(e);
            self.0.remove(&s);
        }
        while let Some((&s, &e)) = self.0.range(a..=b.saturating_add(1)).next() {
            b = b.max(e);
            self.0.remove(&s);
        }
        self.0.insert(a, b);
        self.0.len() as isize - before
    }

    fn contains(&self, x: u64) -> bool {
        self.0.range(..=x).next_back().is_some_and(|(_, &e)| e >= x)
    }
}

/// What one target's pushes carried, per (host, stream).
#[derive(Clone, Debug, Default)]
struct Carried {
    ok: HashMap<(String, String), Runs>,
    failed: HashMap<(String, String), Runs>,
}

#[derive(Clone, Debug, Default)]
struct SinkTally {
    attempts: u64,
    ok: u64,
    failed: u64,
    rejected: u64,
    delivered: u64,
    latency: Histogram,
}

/// Counting push records as they come.
#[derive(Clone, Debug, Default)]
pub(crate) struct PushTally {
    sinks: BTreeMap<(String, Option<String>), SinkTally>,
    targets: Vec<(Target, Carried)>,
    runs: usize,
    cut: bool,
    unlisted: u64,
    messages: HashMap<String, (u64, u64)>,
}

/// Records of one host's stream a push carried: `(host, stream, first
/// seq, last seq)`.
#[cfg(feature = "http")]
pub(crate) type Run = (String, String, u64, u64);

/// The push outcome of one record for one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) target: Target,
    pub(crate) ok: bool,
}

impl PushTally {
    /// Takes a push record: into the statistics when `counted` (it is in
    /// the range), and into what was carried always.
    pub(crate) fn add(&mut self, record: &Value, counted: bool) {
        let sink = text(record, "sink").unwrap_or_default();
        let channel = text(record, "channel");
        let result = text(record, "result").unwrap_or_default();
        let ok = result == "ok";
        let records = number(record, "records").unwrap_or(0);
        if counted {
            let t = self
                .sinks
                .entry((sink.clone(), channel.clone()))
                .or_default();
            t.attempts += 1;
            if ok {
                t.ok += 1;
                t.delivered += records;
            } else {
                t.failed += 1;
                if result == "rejected" {
                    t.rejected += 1;
                }
            }
            if let Some(ms) = number(record, "latency_ms") {
                t.latency.add(ms);
            }
            if let Some(events) = text(record, "events") {
                for e in events.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                    let full = self.messages.len() >= MAX_EVENTS;
                    match self.messages.get_mut(e) {
                        Some(m) => *(if ok { &mut m.0 } else { &mut m.1 }) += 1,
                        None if !full => {
                            self.messages
                                .insert(e.to_owned(), if ok { (1, 0) } else { (0, 1) });
                        }
                        None => {}
                    }
                }
            }
            self.unlisted += number(record, "ranges_cut").unwrap_or(0);
        }
        let target = Target {
            sink,
            channel,
            recipients: text(record, "recipients"),
        };
        let host = text(record, "host").unwrap_or_default();
        let Some(ranges) = text(record, "ranges") else {
            return;
        };
        let at = match self.targets.iter().position(|(t, _)| *t == target) {
            Some(i) => i,
            None if self.targets.len() < MAX_TARGETS => {
                self.targets.push((target, Carried::default()));
                self.targets.len() - 1
            }
            None => {
                self.cut = true;
                return;
            }
        };
        let carried = &mut self.targets[at].1;
        let side = if ok {
            &mut carried.ok
        } else {
            &mut carried.failed
        };
        for (stream, a, b) in ranges.split_whitespace().filter_map(parse_range) {
            if self.runs >= MAX_RUNS {
                self.cut = true;
                return;
            }
            let added = side
                .entry((host.clone(), stream.to_owned()))
                .or_default()
                .insert(a, b);
            self.runs = self.runs.saturating_add_signed(added);
        }
    }

    /// Where a record (by host, stream and seq) was pushed, and how.
    pub(crate) fn outcomes(&self, host: &str, stream: &str, seq: u64) -> Vec<Outcome> {
        let key = (host.to_owned(), stream.to_owned());
        let mut out = Vec::new();
        for (target, carried) in &self.targets {
            let hit = |side: &HashMap<(String, String), Runs>| {
                side.get(&key).is_some_and(|r| r.contains(seq))
            };
            let ok = if hit(&carried.ok) {
                true
            } else if hit(&carried.failed) {
                false
            } else {
                continue;
            };
            out.push(Outcome {
                target: target.clone(),
                ok,
            });
        }
        out
    }

    #[cfg(feature = "http")]
    /// The runs of `seq` that pushes carried, as `(host, stream, first,
    /// last)`: those some target took, and those that failed; `None` when
    /// more than `max` runs were met (or some were not kept), so that a
    /// record's state must be looked up one by one.
    pub(crate) fn carried_runs(&self, max: usize) -> Option<(Vec<Run>, Vec<Run>)> {
        if self.cut || self.runs > max {
            return None;
        }
        let (mut ok, mut failed) = (Vec::new(), Vec::new());
        for (_, carried) in &self.targets {
            for (side, out) in [(&carried.ok, &mut ok), (&carried.failed, &mut failed)] {
                for ((host, stream), runs) in side {
                    for (&a, &b) in &runs.0 {
                        out.push((host.clone(), stream.clone(), a, b));
                    }
                }
            }
        }
        (ok.len() + failed.len() <= max).then_some((ok, failed))
    }

    /// The record's state over every target: delivered somewhere, failed
    /// everywhere it was tried, or never pushed.
    pub(crate) fn state(&self, host: &str, stream: &str, seq: u64) -> Option<bool> {
        if self.targets.is_empty() {
            return None;
        }
        let outcomes = self.outcomes(host, stream, seq);
        if outcomes.is_empty() {
            None
        } else {
            Some(outcomes.iter().any(|o| o.ok))
        }
    }

    /// The statistics, with the per-record counts made while counting.
    pub(crate) fn finish(
        self,
        records: PushCounts,
        per_event: HashMap<String, PushCounts>,
    ) -> Push {
        let sinks = self
            .sinks
            .into_iter()
            .map(|((sink, channel), t)| SinkPush {
                sink,
                channel,
                attempts: t.attempts,
                ok: t.ok,
                failed: t.failed,
                rejected: t.rejected,
                success_rate: if t.attempts == 0 {
                    0.0
                } else {
                    t.ok as f64 / t.attempts as f64
                },
                records_delivered: t.delivered,
                latency_ms_p50: t.latency.quantile(0.5),
                latency_ms_p99: t.latency.quantile(0.99),
            })
            .collect();
        let mut events: HashMap<String, EventPush> = HashMap::new();
        for (event, counts) in per_event {
            if counts.ok + counts.failed == 0 {
                continue;
            }
            events.insert(
                event.clone(),
                EventPush {
                    event,
                    records: counts,
                    messages_ok: 0,
                    messages_failed: 0,
                },
            );
        }
        for (event, (ok, failed)) in self.messages {
            let e = events.entry(event.clone()).or_insert_with(|| EventPush {
                event,
                records: PushCounts::default(),
                messages_ok: 0,
                messages_failed: 0,
            });
            e.messages_ok = ok;
            e.messages_failed = failed;
        }
        let mut events: Vec<EventPush> = events.into_values().collect();
        let weight =
            |e: &EventPush| e.records.ok + e.records.failed + e.messages_ok + e.messages_failed;
        events.sort_by(|a, b| {
            weight(b)
                .cmp(&weight(a))
                .then_with(|| a.event.cmp(&b.event))
        });
        Push {
            sinks,
            records,
            events,
            unlisted: self.unlisted,
            cut: self.cut,
        }
    }
}

/// `app:1-500` → (`app`, 1, 500); a single record may be `app:7`.
fn parse_range(token: &str) -> Option<(&str, u64, u64)> {
    let (stream, seqs) = token.rsplit_once(':')?;
    let (a, b) = seqs.split_once('-').unwrap_or((seqs, seqs));
    let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
    (a <= b && !stream.is_empty()).then_some((stream, a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn push(sink: &str, result: &str, ranges: &str, latency: u64) -> Value {
        json!({"event": "evtrail.push", "host": "h", "class": "info",
               "fields": {"sink": sink, "result": result, "records": 3, "ranges": ranges, "latency_ms": latency}})
    }

    #[test]
    fn runs_merge_and_answer_membership() {
        let mut r = Runs::default();
        assert_eq!(r.insert(1, 5), 1);
        assert_eq!(r.insert(10, 12), 1);
        assert_eq!(r.insert(6, 9), -1); // joins both
        assert_eq!(r.0.len(), 1);
        assert!(r.contains(1) && r.contains(12) && !r.contains(13) && !r.contains(0));
        r.insert(20, 20);
        assert!(r.contains(20) && !r.contains(19));
    }

    #[test]
    fn ranges_are_read_leniently() {
        assert_eq!(parse_range("app:1-500"), Some(("app", 1, 500)));
        assert_eq!(parse_range("app:7-7"), Some(("app", 7, 7)));
        assert_eq!(parse_range("app:7"), Some(("app", 7, 7)));
        assert_eq!(parse_range("app:9-7"), None);
        assert_eq!(parse_range("garbage"), None);
        assert_eq!(parse_range(":1-2"), None);
    }

    #[test]
    fn sinks_are_tallied_and_records_told_apart() {
        let mut t = PushTally::default();
        t.add(&push("hook", "retry", "app:1-3", 5), true);
        t.add(&push("hook", "ok", "app:1-3", 7), true);
        t.add(&push("hook", "rejected", "app:4-6", 9), true);
        t.add(&push("hook", "ok", "app:7-9", 1), false); // after the range
        assert_eq!(t.state("h", "app", 2), Some(true));
        assert_eq!(t.state("h", "app", 5), Some(false));
        assert_eq!(t.state("h", "app", 8), Some(true));
        assert_eq!(t.state("h", "app", 10), None);
        assert_eq!(t.state("other-host", "app", 2), None);
        let push = t.finish(PushCounts::default(), HashMap::new());
        let s = &push.sinks[0];
        assert_eq!(
            (s.attempts, s.ok, s.failed, s.rejected, s.records_delivered),
            (3, 1, 2, 1, 3)
        );
        assert!((s.success_rate - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!((s.latency_ms_p50, s.latency_ms_p99), (Some(7), Some(9)));
    }
}
