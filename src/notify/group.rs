//! Grouping: records of one rule with the same group key become one
//! message — the first after a short wait, later ones merged per interval
//! with their count, repeats while a problem stays open, and one resolved
//! message when an `ok` arrives. Pure state driven by the caller's clock,
//! so every timing decision is tested without sleeping.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::time::parse_ts;

/// How many `stream:a-b` runs a message lists; the rest are counted.
pub(crate) const MAX_RUNS: usize = 256;

/// When messages of a group go out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// From a group's first record to its first message.
    pub(crate) wait: Duration,
    /// Between messages of a group that keeps firing.
    pub(crate) interval: Duration,
    /// Between reminders of an open problem (records with a `status`)
    /// that has no new records; also how long a quiet group without a
    /// `status` is remembered.
    pub(crate) repeat: Duration,
}

/// One matched record, parsed.
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) rule: usize,
    pub(crate) key: String,
    pub(crate) stream: Arc<str>,
    pub(crate) seq: u64,
    pub(crate) record: Value,
}

impl Item {
    fn status(&self) -> Option<&str> {
        self.record.get("status").and_then(Value::as_str)
    }
}

/// Exact runs of the records a message carries, per stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Runs {
    runs: Vec<(Arc<str>, u64, u64)>,
    /// Records not listed because there were more than [`MAX_RUNS`] runs.
    pub(crate) cut: u64,
}

impl Runs {
    pub(crate) fn add(&mut self, stream: &Arc<str>, seq: u64) {
        if let Some(r) = self.runs.iter_mut().rev().find(|r| r.0 == *stream)
            && r.2 + 1 == seq
        {
            r.2 = seq;
            return;
        }
        if self.runs.len() >= MAX_RUNS {
            self.cut += 1;
        } else {
            self.runs.push((stream.clone(), seq, seq));
        }
    }

    pub(crate) fn merge(&mut self, other: &Runs) {
        for (s, a, b) in &other.runs {
            for seq in *a..=*b {
                self.add(s, seq);
            }
        }
        self.cut += other.cut;
    }

    /// `stream:a-b` tokens, space-separated.
    pub(crate) fn to_field(&self) -> String {
        let parts: Vec<String> = self
            .runs
            .iter()
            .map(|(s, a, b)| format!("{s}:{a}-{b}"))
            .collect();
        parts.join(" ")
    }

    /// The first and last seq listed, over all streams.
    pub(crate) fn bounds(&self) -> Option<(u64, u64)> {
        let first = self.runs.first()?.1;
        let last = self.runs.last()?.2;
        Some((first, last))
    }
}

/// Records of a group not yet in a message.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) count: u64,
    pub(crate) first: Value,
    pub(crate) latest: Value,
    pub(crate) runs: Runs,
    pub(crate) since: Instant,
}

impl Pending {
    fn new(item: Item, now: Instant) -> Pending {
        let mut runs = Runs::default();
        runs.add(&item.stream, item.seq);
        Pending {
            count: 1,
            first: item.record.clone(),
            latest: item.record,
            runs,
            since: now,
        }
    }

    fn add(&mut self, item: Item) {
        self.count += 1;
        self.runs.add(&item.stream, item.seq);
        self.latest = item.record;
    }
}

/// Why a message goes out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// New records: the group's first message (`first`) or a later one.
    Firing { first: bool },
    /// A reminder: the problem is still open, with no new records.
    Repeat,
    /// An `ok` record ended the problem, which lasted this long (by the
    /// records' own times), if both times are known.
    Resolved { lasted: Option<Duration> },
}

/// A message to send for one group.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) rule: usize,
    pub(crate) key: String,
    pub(crate) kind: Kind,
    /// New records carried (none for a repeat; for a resolved message,
    /// those that arrived since the last message).
    pub(crate) pending: Option<Pending>,
    /// The `ok` record, for a resolved message.
    pub(crate) resolution: Option<(Value, Arc<str>, u64)>,
    /// The latest record of the group (the resolution's for a resolved
    /// message).
    pub(crate) latest: Value,
    /// The `ts` of the record that opened the group's current episode.
    pub(crate) since_ts: String,
    /// Records since the episode opened, this message's included.
    pub(crate) total: u64,
}

impl Out {
    /// Records this message carries (the `ok` record included).
    pub(crate) fn records(&self) -> u64 {
        self.pending.as_ref().map_or(0, |p| p.count) + u64::from(self.resolution.is_some())
    }
}

#[derive(Debug)]
struct Fired {
    since_ts: String,
    last_sent: Instant,
    total: u64,
    has_status: bool,
    latest: Value,
}

#[derive(Debug, Default)]
struct Group {
    pending: Option<Pending>,
    resolution: Option<(Value, Arc<str>, u64)>,
    due: Option<Instant>,
    fired: Option<Fired>,
    /// A reminder (or forgetting a quiet group) at this time.
    repeat_at: Option<Instant>,
}

impl Group {
    fn next(&self) -> Option<Instant> {
        match (self.due, self.repeat_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The groups of one channel's rules.
#[derive(Debug)]
pub(crate) struct Groups {
    timing: Vec<Timing>,
    /// Whether each rule is in force; a removed rule's groups send what
    /// they hold at once and end.
    active: Vec<bool>,
    groups: HashMap<(usize, String), Group>,
}

/// What adding a record did, for the caller's accounting.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// The record waits in a group for its message.
    Held,
    /// Nothing more to send for one record: an `ok` record no open group
    /// was waiting for, or one a later `ok` replaced.
    Ignored,
}

impl Groups {
    /// Groups for rules with these timings (indexed by rule).
    pub(crate) fn new(timing: Vec<Timing>) -> Groups {
        Groups {
            active: vec![true; timing.len()],
            timing,
            groups: HashMap::new(),
        }
    }

    /// Rules changed: new timings (for messages scheduled from now on) and
    /// which rules are in force. A removed rule's groups holding records
    /// are due now; the others are forgotten.
    pub(crate) fn set_rules(&mut self, timing: Vec<Timing>, active: Vec<bool>, now: Instant) {
        self.timing = timing;
        self.active = active;
        let active = &self.active;
        self.groups.retain(|id, g| {
            if active.get(id.0).copied().unwrap_or(false) {
                return true;
            }
            let holds = g.pending.is_some() || g.resolution.is_some();
            if holds {
                g.due = Some(now);
                g.repeat_at = None;
            }
            holds
        });
    }

    /// The timing of a rule's groups: none to wait for when the rule was
    /// removed.
    fn timing(&self, rule: usize) -> Timing {
        let t = self.timing.get(rule).copied().unwrap_or(Timing {
            wait: Duration::ZERO,
            interval: Duration::ZERO,
            repeat: Duration::ZERO,
        });
        if self.is_active(rule) {
            t
        } else {
            Timing {
                wait: Duration::ZERO,
                interval: Duration::ZERO,
                ..t
            }
        }
    }

    fn is_active(&self, rule: usize) -> bool {
        self.active.get(rule).copied().unwrap_or(false)
    }

    /// How many groups are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.groups.len()
    }

    /// Takes a matched record in.
    pub(crate) fn add(&mut self, item: Item, now: Instant) -> Added {
        let t = self.timing(item.rule);
        let id = (item.rule, item.key.clone());
        if item.status() == Some("ok") {
            let Some(g) = self.groups.get_mut(&id) else {
                return Added::Ignored;
            };
            if g.fired.is_none() && g.pending.is_none() {
                return Added::Ignored;
            }
            // A second `ok` replaces the first: one resolved message. The
            // one replaced is done with, for the caller's accounting.
            let replaced = g.resolution.replace((item.record, item.stream, item.seq));
            g.due = Some(now);
            return if replaced.is_some() {
                Added::Ignored
            } else {
                Added::Held
            };
        }
        let g = self.groups.entry(id).or_default();
        match &mut g.pending {
            Some(p) => p.add(item),
            None => g.pending = Some(Pending::new(item, now)),
        }
        if g.due.is_none() {
            let wave = now + t.wait;
            g.due = Some(match &g.fired {
                Some(f) => wave.max(f.last_sent + t.interval),
                None => wave,
            });
        }
        Added::Held
    }

    /// When the next group is due (a message or a reminder).
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.groups.values().filter_map(Group::next).min()
    }

    /// The groups due at `now`, the longest waiting first.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<(usize, String)> {
        // Quiet groups without a status are forgotten at their repeat time.
        self.groups.retain(|_, g| {
            let quiet = g.pending.is_none() && g.resolution.is_none();
            let forgotten = quiet
                && g.repeat_at.is_some_and(|r| r <= now)
                && g.fired.as_ref().is_none_or(|f| !f.has_status);
            // Kept unless forgotten, or quiet and never fired.
            !(forgotten || quiet && g.fired.is_none())
        });
        let mut due: Vec<(Instant, (usize, String))> = self
            .groups
            .iter()
            .filter_map(|(id, g)| g.next().filter(|&t| t <= now).map(|t| (t, id.clone())))
            .collect();
        due.sort();
        due.into_iter().map(|(_, id)| id).collect()
    }

    /// Makes every group with records waiting due now (a flush).
    pub(crate) fn urge(&mut self, now: Instant) {
        for g in self.groups.values_mut() {
            if g.pending.is_some() || g.resolution.is_some() {
                g.due = Some(now);
            }
        }
    }

    /// Whether any group holds records not yet in a message.
    #[cfg(test)]
    pub(crate) fn holds_records(&self) -> bool {
        self.groups
            .values()
            .any(|g| g.pending.is_some() || g.resolution.is_some())
    }

    /// Takes the message of a due group, as sent at `now`.
    pub(crate) fn take(&mut self, id: &(usize, String), now: Instant) -> Option<Out> {
        let t = self.timing(id.0);
        let ends = !self.is_active(id.0);
        let g = self.groups.get_mut(id)?;
        g.due = None;
        let pending = g.pending.take();
        if let Some(res) = g.resolution.take() {
            let opened = g.fired.take();
            let since_ts = match (&opened, &pending) {
                (Some(f), _) => f.since_ts.clone(),
                (None, Some(p)) => ts_of(&p.first).to_owned(),
                (None, None) => String::new(),
            };
            let lasted = match (parse_ts(&since_ts), parse_ts(ts_of(&res.0))) {
                (Some(a), Some(b)) if b >= a => Some(Duration::from_micros((b - a) as u64)),
                _ => None,
            };
            let total = opened.as_ref().map_or(0, |f| f.total)
                + pending.as_ref().map_or(0, |p| p.count)
                + 1;
            let latest = res.0.clone();
            self.groups.remove(id);
            return Some(Out {
                rule: id.0,
                key: id.1.clone(),
                kind: Kind::Resolved { lasted },
                pending,
                resolution: Some(res),
                latest,
                since_ts,
                total,
            });
        }
        let out = match (pending, &mut g.fired) {
            (Some(p), Some(f)) => {
                f.total += p.count;
                f.last_sent = now;
                f.has_status |= has_status(&p.latest);
                f.latest = p.latest.clone();
                Out {
                    rule: id.0,
                    key: id.1.clone(),
                    kind: Kind::Firing { first: false },
                    latest: p.latest.clone(),
                    since_ts: f.since_ts.clone(),
                    total: f.total,
                    pending: Some(p),
                    resolution: None,
                }
            }
            (Some(p), None) => {
                let since_ts = ts_of(&p.first).to_owned();
                g.fired = Some(Fired {
                    since_ts: since_ts.clone(),
                    last_sent: now,
                    total: p.count,
                    has_status: has_status(&p.first) || has_status(&p.latest),
                    latest: p.latest.clone(),
                });
                Out {
                    rule: id.0,
                    key: id.1.clone(),
                    kind: Kind::Firing { first: true },
                    latest: p.latest.clone(),
                    since_ts,
                    total: p.count,
                    pending: Some(p),
                    resolution: None,
                }
            }
            (None, Some(f)) if f.has_status => {
                f.last_sent = now;
                Out {
                    rule: id.0,
                    key: id.1.clone(),
                    kind: Kind::Repeat,
                    latest: f.latest.clone(),
                    since_ts: f.since_ts.clone(),
                    total: f.total,
                    pending: None,
                    resolution: None,
                }
            }
            (None, _) => {
                // A quiet group without a status: nothing to remind of.
                g.repeat_at = None;
                self.groups.remove(id);
                return None;
            }
        };
        if ends {
            self.groups.remove(id);
        } else {
            g.repeat_at = Some(now + t.repeat);
        }
        Some(out)
    }
}

fn ts_of(record: &Value) -> &str {
    record.get("ts").and_then(Value::as_str).unwrap_or("")
}

fn has_status(record: &Value) -> bool {
    record.get("status").is_some_and(|s| !s.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WAIT: Duration = Duration::from_secs(1);
    const INTERVAL: Duration = Duration::from_secs(60);
    const REPEAT: Duration = Duration::from_secs(3600);

    fn groups() -> Groups {
        Groups::new(vec![Timing {
            wait: WAIT,
            interval: INTERVAL,
            repeat: REPEAT,
        }])
    }

    fn item(key: &str, seq: u64, ts_sec: u32, status: Option<&str>) -> Item {
        let mut record = json!({
            "stream": "app", "seq": seq,
            "ts": format!("2026-12-03T10:{:02}:{:02}.000000Z", ts_sec / 60, ts_sec % 60),
            "event": key,
        });
        if let Some(s) = status {
            record["status"] = json!(s);
        }
        Item {
            rule: 0,
            key: key.to_owned(),
            stream: Arc::from("app"),
            seq,
            record,
        }
    }

    fn send_due(g: &mut Groups, now: Instant) -> Vec<Out> {
        let due = g.due(now);
        due.iter().filter_map(|id| g.take(id, now)).collect()
    }

    #[test]
    fn a_burst_becomes_one_message_after_the_wait() {
        let t0 = Instant::now();
        let mut g = groups();
        for i in 0..50 {
            g.add(
                item("payment_failed", i + 2, 0, None),
                t0 + Duration::from_millis(i * 10),
            );
        }
        assert_eq!(g.next_due(), Some(t0 + WAIT));
        assert!(send_due(&mut g, t0 + WAIT - Duration::from_millis(1)).is_empty());
        let out = send_due(&mut g, t0 + WAIT);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, Kind::Firing { first: true });
        let p = out[0].pending.as_ref().unwrap();
        assert_eq!(p.count, 50);
        assert_eq!(p.runs.to_field(), "app:2-51");
        assert_eq!(out[0].latest["seq"], 51);
    }

    #[test]
    fn later_records_are_merged_per_interval_with_their_count() {
        let t0 = Instant::now();
        let mut g = groups();
        g.add(item("e", 1, 0, None), t0);
        assert_eq!(send_due(&mut g, t0 + WAIT).len(), 1);
        // 1,240 more during the next minute: one message when the
        // interval since the last one has passed.
        for i in 0..1240u64 {
            g.add(
                item("e", 10 + 2 * i, 1, None),
                t0 + WAIT + Duration::from_millis(i * 10),
            );
        }
        assert_eq!(g.next_due(), Some(t0 + WAIT + INTERVAL));
        assert!(send_due(&mut g, t0 + INTERVAL).is_empty());
        let out = send_due(&mut g, t0 + WAIT + INTERVAL);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, Kind::Firing { first: false });
        let p = out[0].pending.as_ref().unwrap();
        assert_eq!((p.count, out[0].total), (1240, 1241));
        // Every other seq: each its own run, listed up to the cap.
        assert_eq!(p.runs.cut, 1240 - MAX_RUNS as u64);
    }

    #[test]
    fn a_new_wave_after_a_quiet_interval_waits_again_for_its_burst() {
        let t0 = Instant::now();
        let mut g = groups();
        g.add(item("e", 1, 0, None), t0);
        send_due(&mut g, t0 + WAIT);
        let later = t0 + INTERVAL * 3;
        g.add(item("e", 2, 0, None), later);
        assert_eq!(g.next_due(), Some(later + WAIT));
    }

    #[test]
    fn an_ok_record_resolves_a_fired_group_once_with_how_long_it_lasted() {
        let t0 = Instant::now();
        let mut g = groups();
        g.add(item("disk", 1, 0, Some("critical")), t0);
        send_due(&mut g, t0 + WAIT);
        assert_eq!(
            g.add(item("disk", 2, 95, Some("ok")), t0 + WAIT),
            Added::Held
        );
        assert_eq!(
            g.add(item("disk", 3, 96, Some("ok")), t0 + WAIT),
            Added::Ignored,
            "the second replaces the first"
        );
        let out = send_due(&mut g, t0 + WAIT);
        assert_eq!(out.len(), 1, "one resolved message, not two");
        assert_eq!(
            out[0].kind,
            Kind::Resolved {
                lasted: Some(Duration::from_secs(96))
            }
        );
        assert_eq!(out[0].records(), 1);
        assert_eq!(g.len(), 0, "a resolved group is forgotten");
        // A later `ok` has nothing to resolve.
        assert_eq!(
            g.add(item("disk", 4, 97, Some("ok")), t0 + WAIT),
            Added::Ignored
        );
        assert!(send_due(&mut g, t0 + REPEAT * 2).is_empty());
    }

    #[test]
    fn an_ok_for_a_group_never_seen_is_ignored() {
        let mut g = groups();
        assert_eq!(
            g.add(item("x", 1, 0, Some("ok")), Instant::now()),
            Added::Ignored
        );
        assert_eq!(g.len(), 0);
    }

    #[test]
    fn records_and_their_recovery_inside_the_wait_make_one_resolved_message() {
        let t0 = Instant::now();
        let mut g = groups();
        g.add(item("q", 1, 0, Some("error")), t0);
        g.add(item("q", 2, 0, Some("error")), t0);
        g.add(item("q", 3, 1, Some("ok")), t0 + Duration::from_millis(100));
        let out = send_due(&mut g, t0 + Duration::from_millis(100));
        assert_eq!(out.len(), 1);
        assert!(
            matches!(out[0].kind, Kind::Resolved { lasted: Some(d) } if d == Duration::from_secs(1))
        );
        assert_eq!((out[0].records(), out[0].total), (3, 3));
    }

    #[test]
    fn an_open_problem_is_repeated_and_a_plain_error_group_is_forgotten() {
        let t0 = Instant::now();
        let mut g = groups();
        g.add(item("open", 1, 0, Some("critical")), t0);
        g.add(item("plain", 2, 0, None), t0);
        assert_eq!(send_due(&mut g, t0 + WAIT).len(), 2);
        let out = send_due(&mut g, t0 + WAIT + REPEAT);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].key.as_str(), &out[0].kind), ("open", &Kind::Repeat));
        assert_eq!(g.len(), 1, "the plain group is forgotten");
        // And again one repeat interval later.
        assert_eq!(send_due(&mut g, t0 + WAIT + REPEAT * 2).len(), 1);
    }

    #[test]
    fn urging_sends_everything_waiting_now() {
        let t0 = Instant::now();
        let mut g = groups();
        g.add(item("a", 1, 0, None), t0);
        g.add(item("b", 2, 0, None), t0);
        assert!(g.holds_records());
        g.urge(t0);
        let out = send_due(&mut g, t0);
        assert_eq!(out.len(), 2);
        assert!(!g.holds_records());
    }

    fn timing() -> Timing {
        Timing {
            wait: WAIT,
            interval: INTERVAL,
            repeat: REPEAT,
        }
    }

    #[test]
    fn a_kept_rule_keeps_its_open_problem_and_still_resolves_it() {
        let t0 = Instant::now();
        let mut g = groups();
        g.add(item("open", 1, 0, Some("critical")), t0);
        assert_eq!(send_due(&mut g, t0 + WAIT).len(), 1);
        g.set_rules(vec![timing()], vec![true], t0 + WAIT);
        g.add(item("open", 2, 30, Some("critical")), t0 + WAIT * 2);
        let out = send_due(&mut g, t0 + WAIT + INTERVAL);
        assert_eq!(
            out[0].kind,
            Kind::Firing { first: false },
            "not announced again"
        );
        assert_eq!(out[0].total, 2);
        g.add(item("open", 3, 90, Some("ok")), t0 + INTERVAL * 2);
        let out = send_due(&mut g, t0 + INTERVAL * 2);
        assert!(
            matches!(out[0].kind, Kind::Resolved { .. }),
            "{:?}",
            out[0].kind
        );
    }

    #[test]
    fn a_removed_rule_sends_what_it_holds_now_and_its_groups_end() {
        let t0 = Instant::now();
        let mut g = Groups::new(vec![timing(), timing()]);
        // Rule 0: an open problem that already fired, with nothing new;
        // a group with records waiting. Rule 1 stays.
        g.add(item("fired", 1, 0, Some("critical")), t0);
        assert_eq!(send_due(&mut g, t0 + WAIT).len(), 1);
        g.add(item("waiting", 2, 1, None), t0 + WAIT);
        let mut other = item("other", 3, 1, None);
        other.rule = 1;
        g.add(other, t0 + WAIT);
        let now = t0 + WAIT + Duration::from_millis(10);
        g.set_rules(vec![timing(), timing()], vec![false, true], now);
        let out = send_due(&mut g, now);
        assert_eq!(
            out.len(),
            1,
            "only the removed rule's waiting records go out now"
        );
        assert_eq!((out[0].key.as_str(), out[0].records()), ("waiting", 1));
        assert_eq!(
            g.len(),
            1,
            "the removed rule's groups ended; the kept one waits"
        );
        // A record matched under the old list, arriving after the change,
        // goes out at once and ends too.
        g.add(item("late", 4, 2, Some("critical")), now);
        assert_eq!(send_due(&mut g, now).len(), 1);
        let out = send_due(&mut g, now + REPEAT * 2);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].key, "other",
            "no reminder for the removed rule's problems"
        );
        assert_eq!(g.len(), 1, "only the kept rule's group is remembered");
    }
}
