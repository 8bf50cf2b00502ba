//! Chat notifications (feature `notify`): anomalies pushed to the on-duty
//! group's chat within seconds — DingTalk, WeCom, Feishu/Lark, Slack or any
//! JSON webhook — with rules, templates, grouping, rate limits, and a
//! recorded push status.
//!
//! A [`NotifySink`] is a sink like the file and HTTP sinks: it sees each
//! record as it was written (signed, after redaction). Its [`Rule`]s pick
//! the records that matter, with the filter language of `evtrail query`;
//! each chat channel has a thread of its own (`evtrail-notify-<sink>`)
//! that groups them, sends messages and records the outcome. The emitting
//! thread never waits for a chat API, and neither does the worker: a
//! failing channel slows nothing else.
//!
//! # What goes out, and when
//!
//! | what happens | what the chat gets |
//! |---|---|
//! | a matching record, the first of its group (its `issue`, or event + host) | one message after [`group_wait`](NotifySinkBuilder::group_wait) (1 s): a burst becomes one message with its count |
//! | more records of a group that fired | merged into one message per [`group_interval`](NotifySinkBuilder::group_interval) (1 min): `payment_failed ×1,240 on web-1`, "1,240 in the last 1 min (1,241 since …)", with the latest record's details |
//! | a problem (records with a `status`) stays open with no new records | a reminder every [`repeat_interval`](NotifySinkBuilder::repeat_interval) (4 h) |
//! | a record with `status = "ok"` for a group that fired | one "Resolved" message saying how long it lasted |
//! | more groups due than the channel's rate limit allows | one digest listing them (20 at most, then "…and N more groups (M records) not shown") |
//! | the limit is used up | messages wait, merging what arrives, until the window frees a slot: nothing is dropped, every message says how many records it stands for |
//!
//! The rate limits default to each API's documented limit (DingTalk and
//! WeCom: 20 a minute per robot; Feishu: 100 a minute and 5 a second;
//! Slack: about one a second); [`rate_limit`](NotifySinkBuilder::rate_limit)
//! changes them. [`Handle::flush`](crate::Handle::flush) sends what is
//! grouped now, without waiting for the group timers, and waits for the
//! answers; shutdown does the same within a few seconds.
//!
//! # Did the push work?
//!
//! Every attempt is an `evtrail.push` record, the one the HTTP sinks write,
//! with the chat's facts added: `sink`, `channel` (`dingtalk`, `wecom`,
//! `feishu`, `slack`, `webhook`), `channel_name`, `rule`, `recipients`,
//! `kind` (`firing`, `repeat`, `resolved`, `digest`), `message_id`,
//! `result` (`ok`, `retry`, `rejected`), `records` (how many the message
//! stands for), `events`, `ranges` (exact runs of the records carried,
//! `stream:a-b`, 256 at most; `ranges_cut` counts the rest), `first_seq`,
//! `last_seq`, `http_status`, `api_code` and `api_msg` (the API's own
//! error), `attempt`, `latency_ms`, `retry_in_ms`, `dead_letter`. Several
//! chat APIs answer HTTP 200 with an error code in the body: that is a
//! failure, and the record says so. Answers that mean "later" (rate
//! limited, 5xx, timeouts) are retried with backoff, up to
//! [`max_attempts`](NotifySinkBuilder::max_attempts); answers that mean
//! "never" (a bad signature, a keyword mismatch, an unknown webhook, a
//! message too large) give the message up at once. A message given up goes
//! to the dead-letter file with its reason. Counters are in
//! [`SinkStats::delivery`](crate::SinkStats::delivery).
//!
//! Webhook URLs, tokens and signing secrets never appear in a record, an
//! error, a dead letter or `Debug` output: URLs show as
//! `…/robot/send?access_token=abc…`.
//!
//! # Changing the rules while running
//!
//! [`NotifySink::rule_handle`] gives a [`RuleHandle`]: its
//! [`replace`](RuleHandle::replace) puts a new list of rules in force for
//! the records emitted after it returns, keeping the channels. A
//! configuration file's `[[notify.rules]]` change the same way on
//! [`Handle::reload_config`](crate::Handle::reload_config).
//!
//! # Examples
//!
//! Every `ERROR` and every `security` event to the on-duty DingTalk group,
//! mentioning the owner; overdue tasks to the team's WeCom group:
//!
//! ```no_run
//! use evtrail::notify::{DingTalk, NotifySink, Rule, WeCom};
//! use tracing::Level;
//!
//! let notify = NotifySink::builder()
//!     .add_channel("oncall", DingTalk::webhook("https://oapi.dingtalk.com/robot/send?access_token=…").secret("SEC…"))
//!     .add_channel("team", WeCom::webhook("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"))
//!     .add_rule(Rule::new("errors").min_level(Level::ERROR).to("oncall").mention_mobiles(["13800000000"]))
//!     .add_rule(Rule::new("security").class("security").to("oncall"))
//!     .add_rule(Rule::new("overdue").event("TaskOverdue").to("team"))
//!     .add_rule(Rule::logging_failures().to("oncall"))
//!     .time_zone("+08:00")
//!     .build()?;
//! let (layer, guard) = evtrail::builder()
//!     .unsigned()
//!     .log_dir("logs") // also holds the dead-letter file: logs/notify/notify/
//!     .add_sink(notify)
//!     .build()?;
//! # drop((layer, guard));
//! # Ok::<(), evtrail::Error>(())
//! ```

mod builder;
mod channel;
mod group;
mod limit;
mod push;
mod rule;
mod rules;
mod sender;
mod template;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tracing::Level;

use crate::record::Record;
use crate::sink::{Batch, DeliveryCounters, Drain, Inbox, Progress, Sink, SinkContext, SinkError};

pub use builder::{
    DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_QUEUE, DEFAULT_REPEAT_INTERVAL, DEFAULT_TIMEOUT, NotifySinkBuilder,
};
pub use channel::{
    Answer, Channel, ChatRequest, DingTalk, Feishu, Markup, Mentions, Message, RateLimit, Slack,
    WeCom, Webhook, escape, redact_url,
};
pub use rule::Rule;
pub use rules::RuleHandle;
pub use template::Template;

use group::{Groups, Timing};
use limit::Limiter;
use rule::{is_internal, may_resolve};
use rules::{LaneRuleSet, LaneRules, Slots, sends_to};
use sender::{CLOSE_GRACE, Lane};

/// How often, at most, records lost to a full channel queue are written as
/// an `evtrail.dropped` notice.
const DROP_NOTICE_EVERY: Duration = Duration::from_secs(1);

/// Sends chat messages for the records its rules select; see the
/// [module docs](self).
#[derive(Debug)]
pub struct NotifySink {
    name: String,
    /// Until attached.
    settings: Option<NotifySinkBuilder>,
    running: Option<Running>,
    /// Where a new list of rules waits for the worker.
    replacement: RuleHandle,
}

/// A record one of a channel's rules selected (or an `ok` record that may
/// resolve one of its groups).
#[derive(Debug)]
struct Matched {
    /// The rule's slot on the channel (see [`LaneRules`]).
    rule: usize,
    line: Box<str>,
    stream: Arc<str>,
    seq: u64,
}

/// Messages to a channel's thread.
#[derive(Debug)]
enum Control {
    /// Someone waits (a flush): send what is grouped now.
    Urge,
    /// The rules changed: a removed rule's groups go out now.
    Rules,
    /// Close: send what is left and stop.
    Stop,
}

/// What the worker's side, a channel's thread and waiters share.
#[derive(Debug)]
struct LaneState {
    name: String,
    /// Records handed over and records settled (in a message that was
    /// delivered or given up, or nothing to send), for waiters.
    progress: Progress,
    counters: Arc<DeliveryCounters>,
    inbox: Arc<Inbox>,
    control: Sender<Control>,
}

impl LaneState {
    fn hand(&self, n: u64) {
        self.progress.add_handed(n);
        self.counters.in_memory.fetch_add(n, Ordering::Relaxed);
    }

    fn settle(&self, n: u64) {
        if n == 0 {
            return;
        }
        self.progress.add_settled(n);
        let _ = self
            .counters
            .in_memory
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
    }
}

impl Drain for LaneState {
    fn wait(&self, deadline: Instant) -> Result<(), String> {
        self.progress
            .wait(deadline, || {
                let _ = self.control.try_send(Control::Urge);
            })
            .map_err(|missing| {
                format!(
                    "notification channel `{}` has not sent {missing} records yet",
                    self.name
                )
            })
    }
}

#[derive(Debug)]
struct Running {
    /// The sink's rules, each matched once per record whatever the number
    /// of channels it sends to.
    rules: Vec<rule::Rule>,
    lanes: Vec<LaneHandle>,
    counters: Arc<DeliveryCounters>,
    inbox: Arc<Inbox>,
    unreported: u64,
    noted_at: Instant,
}

#[derive(Debug)]
struct LaneHandle {
    channel: String,
    markup: Markup,
    /// The sink's rules this channel uses, as indices into
    /// `Running::rules`.
    rules: Vec<usize>,
    /// Each of those rules' slot on the channel.
    slots: Vec<usize>,
    places: Slots,
    published: Arc<LaneRules>,
    queue: Sender<Vec<Matched>>,
    control: Sender<Control>,
    state: Arc<LaneState>,
    thread: Option<JoinHandle<()>>,
    ended: Receiver<()>,
}

impl NotifySink {
    /// Starts the settings of a notification sink.
    pub fn builder() -> NotifySinkBuilder {
        NotifySinkBuilder::new()
    }

    fn new(settings: NotifySinkBuilder) -> NotifySink {
        NotifySink {
            name: settings.name.clone(),
            replacement: RuleHandle::new(&settings.name, &settings.channels),
            settings: Some(settings),
            running: None,
        }
    }

    /// A handle that changes this sink's rules while it runs; see
    /// [`RuleHandle`]. Take it before the sink goes to
    /// [`Builder::add_sink`](crate::Builder::add_sink).
    pub fn rule_handle(&self) -> RuleHandle {
        self.replacement.clone()
    }
}

impl Sink for NotifySink {
    fn name(&self) -> &str {
        &self.name
    }

    fn attach(&mut self, ctx: &mut SinkContext) -> Result<(), SinkError> {
        let Some(s) = self.settings.take() else {
            return Err(SinkError::permanent("the sink is already attached"));
        };
        let offset = builder::parse_time_zone(&s.time_zone).map_err(SinkError::permanent)?;
        let dead_letter = s.dead_letter.clone().or_else(|| {
            ctx.log_dir()
                .map(|d| d.join("notify").join(&s.name).join("dead-letter.ndjson"))
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(s.timeout.min(Duration::from_secs(5))))
            .timeout_global(Some(s.timeout))
            .max_redirects(0)
            .user_agent(format!("evtrail/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let counters = Arc::new(DeliveryCounters::default());
        let default_timing = Timing {
            wait: s.wait,
            interval: s.interval,
            repeat: s.repeat,
        };
        // A replacement given before the start applies from the start.
        let rules = self.replacement.take().unwrap_or(s.rules);
        let mut lanes = Vec::new();
        // Every channel gets its thread, even one no rule sends to yet: a
        // later list of rules may.
        for c in &s.channels {
            let markup = c.channel.markup();
            let mut places = Slots::default();
            let chosen: Vec<usize> = (0..rules.len())
                .filter(|&r| sends_to(&rules[r], &c.name))
                .collect();
            let (slots, set) = places.place(
                chosen.iter().map(|&r| &rules[r]),
                markup,
                LaneRuleSet::default(),
            );
            let published = Arc::new(LaneRules::new(set.clone()));
            let (queue, queue_rx) = crossbeam_channel::bounded(s.queue);
            let (control, control_rx) = crossbeam_channel::bounded(16);
            let state = Arc::new(LaneState {
                name: format!("{}/{}", s.name, c.name),
                progress: Progress::default(),
                counters: counters.clone(),
                inbox: ctx.inbox.clone(),
                control: control.clone(),
            });
            let lane = Lane {
                sink: s.name.clone(),
                channel: c.clone(),
                groups: Groups::new(Lane::timings(&set.rules, default_timing)),
                rules: set.rules,
                published: published.clone(),
                seen: 0,
                timing: default_timing,
                limiter: Limiter::new(c.limits.clone()),
                agent: agent.clone(),
                offset,
                max_attempts: s.max_attempts,
                backoff: s.backoff,
                max_retry_after: s.max_retry_after,
                dead_letter: dead_letter.clone(),
                state: state.clone(),
                queue: queue_rx,
                control: control_rx,
                stopping: false,
                next_id: 0,
                rng: fastrand::Rng::new(),
                retrying: None,
            };
            let (ended_tx, ended) = crossbeam_channel::bounded(1);
            let thread = std::thread::Builder::new()
                .name(format!("evtrail-notify-{}", s.name))
                .spawn(move || {
                    lane.run();
                    let _ = ended_tx.send(());
                })
                .map_err(|e| SinkError::io("cannot start a notification channel's thread", e))?;
            ctx.drains.push(state.clone());
            lanes.push(LaneHandle {
                channel: c.name.clone(),
                markup,
                rules: chosen,
                slots,
                places,
                published,
                queue,
                control,
                state,
                thread: Some(thread),
                ended,
            });
        }
        ctx.delivery = Some(counters.clone());
        self.running = Some(Running {
            rules,
            lanes,
            counters,
            inbox: ctx.inbox.clone(),
            unreported: 0,
            noted_at: Instant::now(),
        });
        Ok(())
    }

    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let Some(run) = &mut self.running else {
            return Err(SinkError::permanent(
                "the notification sink was never attached",
            ));
        };
        if let Some(rules) = self.replacement.take() {
            run.replace_rules(rules);
        }
        let mut matched: Vec<Vec<Matched>> = run.lanes.iter().map(|_| Vec::new()).collect();
        // Whether each of the sink's rules selects the record at hand,
        // worked out once and only when a channel asks.
        let mut hits: Vec<Option<bool>> = vec![None; run.rules.len()];
        for e in batch.iter() {
            let Ok(line) = std::str::from_utf8(e.line()) else {
                continue;
            };
            let resolves = !is_internal(line) && may_resolve(line);
            hits.fill(None);
            for (lane, out) in run.lanes.iter().zip(&mut matched) {
                for (&r, &slot) in lane.rules.iter().zip(&lane.slots) {
                    let rule = &run.rules[r];
                    let hit = *hits[r].get_or_insert_with(|| rule.matches(line));
                    if hit || (rule.resolved && resolves) {
                        out.push(Matched {
                            rule: slot,
                            line: line.into(),
                            stream: e.stream_arc(),
                            seq: e.seq(),
                        });
                    }
                }
            }
        }
        let mut lost = 0;
        for (lane, matched) in run.lanes.iter().zip(matched) {
            if matched.is_empty() {
                continue;
            }
            let n = matched.len() as u64;
            lane.state.hand(n);
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                lane.queue.try_send(matched)
            {
                lane.state.settle(n);
                lost += n;
            }
        }
        if lost > 0 {
            run.counters.dropped.fetch_add(lost, Ordering::Relaxed);
            run.unreported += lost;
        }
        if run.unreported > 0 && run.noted_at.elapsed() >= DROP_NOTICE_EVERY {
            run.note_drops(&self.name);
        }
        Ok(())
    }

    /// Matched records are with the channels' threads; the worker does not
    /// wait for a chat API. [`Handle::flush`](crate::Handle::flush) waits
    /// for the messages.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    fn close(&mut self) -> Result<(), SinkError> {
        let Some(mut run) = self.running.take() else {
            return Ok(());
        };
        for lane in &run.lanes {
            let _ = lane.control.send(Control::Stop);
        }
        let deadline = Instant::now() + CLOSE_GRACE + Duration::from_secs(2);
        let mut stuck = Vec::new();
        for lane in &mut run.lanes {
            let left = deadline.saturating_duration_since(Instant::now());
            if lane.ended.recv_timeout(left).is_ok() {
                if let Some(t) = lane.thread.take() {
                    let _ = t.join();
                }
            } else {
                stuck.push(lane.state.name.clone());
            }
        }
        if run.unreported > 0 {
            run.note_drops(&self.name);
        }
        if !stuck.is_empty() {
            return Err(SinkError::retryable(format!(
                "notification channels still sending at shutdown: {}",
                stuck.join(", ")
            )));
        }
        Ok(())
    }
}

impl Running {
    /// Puts `rules` in force for the records written from now on, and
    /// tells each channel's thread.
    fn replace_rules(&mut self, rules: Vec<rule::Rule>) {
        for lane in &mut self.lanes {
            lane.rules = (0..rules.len())
                .filter(|&r| sends_to(&rules[r], &lane.channel))
                .collect();
            let (_, now) = lane.published.snapshot();
            let (slots, set) =
                lane.places
                    .place(lane.rules.iter().map(|&r| &rules[r]), lane.markup, now);
            lane.slots = slots;
            lane.published.publish(set);
            // A full control queue already wakes the thread.
            let _ = lane.control.try_send(Control::Rules);
        }
        self.rules = rules;
    }

    fn note_drops(&mut self, sink: &str) {
        self.noted_at = Instant::now();
        let n = std::mem::take(&mut self.unreported);
        let mut rec = Record::internal(
            Level::WARN,
            "evtrail.dropped",
            &format!(
                "{n} matched records dropped by notification sink `{sink}`: its channel queue is full"
            ),
        );
        rec.fields.add_str("class", "error");
        rec.fields.add_u64("count", n);
        rec.fields.add_str("reason", "notify_queue_full");
        rec.fields.add_str("sink", sink);
        self.inbox.post(rec);
    }
}

impl Drop for NotifySink {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
