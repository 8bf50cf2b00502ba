//! One channel's thread (`evtrail-notify-<sink>-<channel>`): takes the
//! records its rules matched, groups them, sends the due messages within
//! the channel's rate limits, retries what the API says to retry, gives up
//! the rest to the dead-letter file, and records every attempt.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::Receiver;
use serde_json::Value;

use super::builder::ChannelSettings;
use super::channel::{Answer, ChatRequest, Markup, Mentions, Message, escape};
use super::group::{Groups, Item, Kind, Out, Runs, Timing};
use super::limit::Limiter;
use super::push::{Attempt, Sending, dead_letter, push_record, scrub};
use super::rule::{Rule, recipients_text};
use super::rules::LaneRules;
use super::template::{Context, Template, thousands};
use super::{Control, LaneState, Matched};
use crate::http::retry_after::parse_retry_after;
use crate::incidents::issue_key;
use crate::thread::mark_evtrail_thread;

/// How much of an answer is read.
const MAX_ANSWER_BYTES: u64 = 64 << 10;
/// How many groups a digest lists; the rest are counted.
const DIGEST_LINES: usize = 20;
/// How long closing may spend sending what is left.
pub(super) const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A rule as one channel uses it.
#[derive(Debug)]
pub(super) struct LaneRule {
    pub(super) rule: Rule,
    pub(super) template: Template,
    pub(super) recipients: String,
}

pub(super) struct Lane {
    pub(super) sink: String,
    pub(super) channel: ChannelSettings,
    /// The rules by slot, as last read from `published`.
    pub(super) rules: Vec<Arc<LaneRule>>,
    pub(super) published: Arc<LaneRules>,
    /// The generation of `published` read last.
    pub(super) seen: u64,
    /// The sink's timings, for rules without their own.
    pub(super) timing: Timing,
    pub(super) groups: Groups,
    pub(super) limiter: Limiter,
    pub(super) agent: ureq::Agent,
    pub(super) offset: time::UtcOffset,
    pub(super) max_attempts: u32,
    pub(super) backoff: (Duration, Duration),
    pub(super) max_retry_after: Duration,
    pub(super) dead_letter: Option<PathBuf>,
    pub(super) state: Arc<LaneState>,
    pub(super) queue: Receiver<Vec<Matched>>,
    pub(super) control: Receiver<Control>,
    pub(super) stopping: bool,
    pub(super) next_id: u64,
    /// Message id salts and the retries' jitter.
    pub(super) rng: fastrand::Rng,
    /// A message the API asked to get again later, and when.
    pub(super) retrying: Option<(Sending, Instant)>,
}

impl Lane {
    pub(super) fn timings(rules: &[Arc<LaneRule>], default: Timing) -> Vec<Timing> {
        rules
            .iter()
            .map(|r| Timing {
                wait: r.rule.wait.unwrap_or(default.wait),
                interval: r.rule.interval.unwrap_or(default.interval),
                repeat: r.rule.repeat.unwrap_or(default.repeat),
            })
            .collect()
    }

    pub(super) fn run(mut self) {
        mark_evtrail_thread();
        let name = format!("{}/{}", self.sink, self.channel.name);
        let run = std::panic::AssertUnwindSafe(|| self.serve());
        if std::panic::catch_unwind(run).is_err() {
            eprintln!("evtrail: notification channel `{name}` stopped after a panic");
        }
    }

    fn serve(&mut self) {
        loop {
            while let Ok(batch) = self.queue.try_recv() {
                self.take_in(batch);
            }
            while let Ok(c) = self.control.try_recv() {
                self.on_control(Ok(c));
            }
            if self.stopping {
                self.finish();
                return;
            }
            let now = Instant::now();
            if self.state.progress.is_urgent() {
                self.groups.urge(now);
            }
            let wake = self.step(now);
            let timeout = wake.map(|w| w.saturating_duration_since(Instant::now()));
            match timeout {
                Some(t) if t.is_zero() => continue,
                Some(t) => crossbeam_channel::select! {
                    recv(self.queue) -> b => match b {
                        Ok(b) => self.take_in(b),
                        Err(_) => self.stopping = true,
                    },
                    recv(self.control) -> c => self.on_control(c),
                    default(t) => {}
                },
                None => crossbeam_channel::select! {
                    recv(self.queue) -> b => match b {
                        Ok(b) => self.take_in(b),
                        Err(_) => self.stopping = true,
                    },
                    recv(self.control) -> c => self.on_control(c),
                },
            }
        }
    }

    fn on_control(&mut self, c: Result<Control, crossbeam_channel::RecvError>) {
        match c {
            Ok(Control::Urge) => self.groups.urge(Instant::now()),
            Ok(Control::Rules) => self.refresh_rules(Instant::now()),
            Ok(Control::Stop) | Err(_) => self.stopping = true,
        }
    }

    /// Reads the rules again if they changed: a removed rule's groups are
    /// due now, and end after their message.
    fn refresh_rules(&mut self, now: Instant) {
        if let Some((generation, set)) = self.published.since(self.seen) {
            self.seen = generation;
            self.groups
                .set_rules(Self::timings(&set.rules, self.timing), set.active, now);
            self.rules = set.rules;
        }
    }

    fn take_in(&mut self, batch: Vec<Matched>) {
        let now = Instant::now();
        // The worker publishes a rule before it sends records naming it.
        self.refresh_rules(now);
        let mut ignored = 0;
        for m in batch {
            if m.rule >= self.rules.len() {
                ignored += 1;
                continue;
            }
            let record: Value = match serde_json::from_str(&m.line) {
                Ok(v) => v,
                Err(_) => {
                    ignored += 1;
                    continue;
                }
            };
            let key = issue_key(&record, &self.rules[m.rule].rule.group_by);
            let item = Item {
                rule: m.rule,
                key,
                stream: m.stream,
                seq: m.seq,
                record,
            };
            if self.groups.add(item, now) == super::group::Added::Ignored {
                ignored += 1;
            }
        }
        if ignored > 0 {
            self.state.settle(ignored);
        }
    }

    /// Sends what is due at `now`; returns when to look again.
    fn step(&mut self, now: Instant) -> Option<Instant> {
        if let Some((_, at)) = &self.retrying {
            if *at > now {
                return Some(*at);
            }
            let (sending, _) = self.retrying.take().expect("checked above");
            self.attempt(sending);
            return Some(Instant::now());
        }
        let due = self.groups.due(now);
        if !due.is_empty() {
            let available = self.limiter.available(now);
            if available == 0 {
                return Some(self.limiter.next_free(now));
            }
            let outs: Vec<Out> = due
                .iter()
                .filter_map(|id| self.groups.take(id, now))
                .collect();
            if outs.len() as u32 <= available {
                for out in outs {
                    let s = self.message(vec![out], now);
                    self.attempt(s);
                }
            } else {
                let s = self.message(outs, now);
                self.attempt(s);
            }
            return Some(Instant::now());
        }
        self.groups.next_due()
    }

    /// The message for one group, or a digest of several.
    fn message(&mut self, outs: Vec<Out>, now: Instant) -> Sending {
        let markup = self.channel.channel.markup();
        let mut mentions = Mentions::default();
        let mut rules = BTreeSet::new();
        let mut records = 0;
        let mut runs = Runs::default();
        let mut events = BTreeSet::new();
        for out in &outs {
            let r = &self.rules[out.rule].rule;
            rules.insert(r.name.clone());
            merge_mentions(&mut mentions, &r.mentions);
            records += out.records();
            if let Some(p) = &out.pending {
                runs.merge(&p.runs);
            }
            if let Some((_, s, seq)) = &out.resolution {
                runs.add(s, *seq);
            }
            if let Some(e) = out.latest.get("event").and_then(Value::as_str) {
                events.insert(e.to_owned());
            }
        }
        self.next_id += 1;
        let salt = self.rng.u64(..) >> 16;
        let id = format!("msg_{}_{}_{salt:x}", self.sink, self.next_id);
        let recipients = recipients_text(&mentions);
        let (title, body, kind) = if outs.len() == 1 {
            let out = &outs[0];
            let (t, b) = self.rules[out.rule]
                .template
                .render(&self.context(out, now, markup));
            let kind = match out.kind {
                Kind::Firing { .. } => "firing",
                Kind::Repeat => "repeat",
                Kind::Resolved { .. } => "resolved",
            };
            (t, b, kind)
        } else {
            let (t, b) = self.digest(&outs, now, markup, &recipients);
            (t, b, "digest")
        };
        Sending {
            message: Message {
                id,
                title,
                body,
                mentions,
            },
            rules: rules.into_iter().collect::<Vec<_>>().join(","),
            recipients,
            kind,
            records,
            runs,
            events,
            attempt: 0,
        }
    }

    /// What `out`'s message is rendered from.
    fn context<'a>(&'a self, out: &'a Out, now: Instant, markup: Markup) -> Context<'a> {
        let lr = &self.rules[out.rule];
        Context {
            out,
            rule: &lr.rule.name,
            recipients: &lr.recipients,
            markup,
            offset: self.offset,
            window: out
                .pending
                .as_ref()
                .map_or(Duration::ZERO, |p| now.saturating_duration_since(p.since)),
        }
    }

    /// One message for groups the rate limit would otherwise hold back:
    /// a line per group, the longest-waiting first, capped.
    fn digest(
        &self,
        outs: &[Out],
        now: Instant,
        markup: Markup,
        recipients: &str,
    ) -> (String, String) {
        let total: u64 = outs.iter().map(Out::records).sum();
        let title_text = format!("{} alerts ({} records)", outs.len(), thousands(total));
        let mut lines = Vec::new();
        for out in outs.iter().take(DIGEST_LINES) {
            let headline = Template::new("{headline} — {summary}", "");
            lines.push(headline.render(&self.context(out, now, markup)).0);
        }
        let left = outs.len().saturating_sub(DIGEST_LINES);
        let left_records: u64 = outs.iter().skip(DIGEST_LINES).map(Out::records).sum();
        let mut title = String::new();
        escape(markup, &title_text, &mut title);
        let more = (left > 0).then(|| {
            format!(
                "…and {left} more groups ({} records) not shown",
                thousands(left_records)
            )
        });
        let mut to = String::new();
        escape(
            markup,
            if recipients.is_empty() {
                "-"
            } else {
                recipients
            },
            &mut to,
        );
        let body = match markup {
            Markup::Json => {
                let mut b = format!("{{\"title\":\"{title}\",\"state\":\"digest\",\"groups\":[");
                for (i, l) in lines.iter().enumerate() {
                    if i > 0 {
                        b.push(',');
                    }
                    b.push('"');
                    b.push_str(l);
                    b.push('"');
                }
                b.push_str("],");
                b.push_str(&format!(
                    "\"not_shown\":{left},\"records\":{total},\"recipients\":\"{to}\"}}"
                ));
                b
            }
            Markup::Markdown => format!(
                "### {title}\n{}{}\n- **To:** {to}",
                lines.iter().map(|l| format!("- {l}\n")).collect::<String>(),
                more.map(|m| format!("- {m}")).unwrap_or_default()
            ),
            _ => format!(
                "{title}\n{}{}\nTo: {to}",
                lines.iter().map(|l| format!("• {l}\n")).collect::<String>(),
                more.unwrap_or_default()
            ),
        };
        (title, body)
    }

    /// Sends a message once and deals with the answer.
    fn attempt(&mut self, mut s: Sending) {
        s.attempt += 1;
        let req = self.channel.channel.request(&s.message, SystemTime::now());
        let started = Instant::now();
        self.limiter.record(started);
        let answer = self.send(&req);
        let latency = started.elapsed();
        let (answer, status) = answer;
        let url = req.url.clone();
        match answer {
            Answer::Delivered => {
                self.state
                    .counters
                    .pushes_ok
                    .fetch_add(1, Ordering::Relaxed);
                self.state
                    .counters
                    .delivered
                    .fetch_add(s.records, Ordering::Relaxed);
                self.report(
                    &s,
                    &Attempt {
                        result: "ok",
                        http_status: status,
                        api_code: None,
                        error: None,
                        latency,
                        retry_in: None,
                        dead_letter: None,
                    },
                );
                self.state.settle(s.records);
            }
            Answer::Retry {
                code,
                reason,
                after,
            } => {
                let reason = scrub(&reason, &url);
                self.state
                    .counters
                    .pushes_failed
                    .fetch_add(1, Ordering::Relaxed);
                if s.attempt >= self.max_attempts || self.stopping {
                    let why = format!("gave up after {} attempts: {reason}", s.attempt);
                    self.give_up(s, status, code, &why, latency);
                    return;
                }
                let wait = match after {
                    Some(a) => a.min(self.max_retry_after),
                    None => self.backoff_for(s.attempt),
                };
                if after.is_some() {
                    self.limiter
                        .block_until(Instant::now(), Instant::now() + wait);
                }
                self.report(
                    &s,
                    &Attempt {
                        result: "retry",
                        http_status: status,
                        api_code: code,
                        error: Some(&reason),
                        latency,
                        retry_in: Some(wait),
                        dead_letter: None,
                    },
                );
                self.retrying = Some((s, Instant::now() + wait));
            }
            Answer::GiveUp { code, reason } => {
                let reason = scrub(&reason, &url);
                self.state
                    .counters
                    .pushes_failed
                    .fetch_add(1, Ordering::Relaxed);
                self.give_up(s, status, code, &reason, latency);
            }
        }
    }

    fn give_up(
        &mut self,
        s: Sending,
        status: Option<u16>,
        code: Option<i64>,
        reason: &str,
        latency: Duration,
    ) {
        let kind = self.channel.channel.kind();
        let written = match &self.dead_letter {
            Some(path) => match dead_letter(path, &self.sink, kind, &s, reason, code) {
                Ok(()) => Some(path.clone()),
                Err(e) => {
                    eprintln!(
                        "evtrail: notification sink `{}` cannot write the dead-letter file {}: {e}",
                        self.sink,
                        path.display()
                    );
                    None
                }
            },
            None => None,
        };
        if written.is_some() {
            self.state
                .counters
                .dead_lettered
                .fetch_add(s.records, Ordering::Relaxed);
        } else {
            self.state
                .counters
                .dropped
                .fetch_add(s.records, Ordering::Relaxed);
        }
        self.report(
            &s,
            &Attempt {
                result: "rejected",
                http_status: status,
                api_code: code,
                error: Some(reason),
                latency,
                retry_in: None,
                dead_letter: written.as_deref(),
            },
        );
        self.state.settle(s.records);
    }

    fn report(&self, s: &Sending, a: &Attempt<'_>) {
        let rec = push_record(
            &self.sink,
            &self.channel.name,
            self.channel.channel.kind(),
            s,
            a,
        );
        self.state.inbox.post(rec);
    }

    /// Posts the request; the answer's meaning and the HTTP status, if
    /// there was one.
    fn send(&self, req: &ChatRequest) -> (Answer, Option<u16>) {
        let mut r = self
            .agent
            .post(&req.url)
            .header("Content-Type", "application/json; charset=utf-8");
        for (k, v) in &req.headers {
            r = r.header(k.as_str(), v.as_str());
        }
        let mut response = match r.send(&req.body[..]) {
            Ok(resp) => resp,
            Err(e) => {
                return (
                    Answer::Retry {
                        code: None,
                        reason: e.to_string(),
                        after: None,
                    },
                    None,
                );
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        let mut body = Vec::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(MAX_ANSWER_BYTES)
            .read_to_end(&mut body);
        (
            self.channel.channel.check(status, retry_after, &body),
            Some(status),
        )
    }

    fn backoff_for(&mut self, attempt: u32) -> Duration {
        let (first, max) = self.backoff;
        let full = first
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(max);
        full / 2 + (full / 2).mul_f64(self.rng.f64())
    }

    /// Closing: everything still grouped goes out now in as few messages
    /// as the rate limit allows; what cannot go before the grace ends is
    /// given up with the reason.
    fn finish(&mut self) {
        let deadline = Instant::now() + CLOSE_GRACE;
        while let Ok(batch) = self.queue.try_recv() {
            self.take_in(batch);
        }
        if let Some((s, _)) = self.retrying.take() {
            self.attempt(s);
            if let Some((s, _)) = self.retrying.take() {
                self.give_up(s, None, None, "not sent before shutdown", Duration::ZERO);
            }
        }
        let now = Instant::now();
        self.groups.urge(now);
        let due = self.groups.due(now);
        let outs: Vec<Out> = due
            .iter()
            .filter_map(|id| self.groups.take(id, now))
            .collect();
        let carrying: Vec<Out> = outs.into_iter().filter(|o| o.records() > 0).collect();
        if carrying.is_empty() {
            return;
        }
        let s = self.message(carrying, now);
        if Instant::now() >= deadline {
            self.give_up(s, None, None, "not sent before shutdown", Duration::ZERO);
            return;
        }
        if self.limiter.available(Instant::now()) == 0 {
            self.give_up(
                s,
                None,
                None,
                "the channel's rate limit was reached when the application shut down",
                Duration::ZERO,
            );
            return;
        }
        self.attempt(s);
        if let Some((s, _)) = self.retrying.take() {
            self.give_up(s, None, None, "not sent before shutdown", Duration::ZERO);
        }
    }
}

fn merge_mentions(into: &mut Mentions, from: &Mentions) {
    for m in &from.mobiles {
        if !into.mobiles.contains(m) {
            into.mobiles.push(m.clone());
        }
    }
    for u in &from.user_ids {
        if !into.user_ids.contains(u) {
            into.user_ids.push(u.clone());
        }
    }
    into.all |= from.all;
}
