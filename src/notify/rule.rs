//! Notification rules: which finished records notify which channels, who
//! is mentioned, with which template, grouped how.

use std::time::Duration;

use tracing::Level;

use super::channel::Mentions;
use super::template::Template;
use crate::query::Filter;

/// Which records notify which channels, and how.
///
/// A rule selects records with the same filter language as
/// `evtrail query` (a [`Filter`]), run on the finished record — the
/// signed line after redaction, exactly what the files hold. The
/// condition methods add to the rule's filter; all must hold. evtrail's
/// own notices (`evtrail.*` events) are left out unless the rule names
/// them by event ([`Rule::logging_failures`] does).
///
/// Records of a rule are grouped by their issue — the `issue` field, or
/// the event name with the [`group_by`](Rule::group_by) fields (`host` by
/// default), the same key `evtrail incidents` uses — so a burst becomes
/// one message and an `ok` record resolves the group it belongs to.
///
/// | setting | default |
/// |---|---|
/// | conditions | none: every record (but evtrail's own notices) |
/// | [`to`](Rule::to) | every channel of the sink |
/// | mentions | no one |
/// | [`template`](Rule::template) | the channel's default (event, code, recipients, content, time, context) |
/// | [`group_by`](Rule::group_by) | `host` (with the event name, when there is no `issue` field) |
/// | [`group_wait`](Rule::group_wait), [`group_interval`](Rule::group_interval), [`repeat_interval`](Rule::repeat_interval) | the sink's |
/// | [`resolved`](Rule::resolved) | on |
///
/// # Examples
///
/// ```
/// use evtrail::notify::Rule;
/// use tracing::Level;
///
/// // Every ERROR and every security event, mentioning the owner.
/// let errors = Rule::new("errors").min_level(Level::ERROR).to("oncall").mention_mobiles(["13800000000"]);
/// let security = Rule::new("security").class("security").to("oncall");
/// // Overdue tasks to the team's group.
/// let overdue = Rule::new("overdue").event("TaskOverdue").to("team");
/// # drop((errors, security, overdue));
/// ```
#[derive(Clone, Debug)]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) filter: Filter,
    /// The first condition that could not be read, reported by the sink's
    /// `build`.
    pub(crate) error: Option<String>,
    pub(crate) channels: Vec<String>,
    pub(crate) mentions: Mentions,
    pub(crate) template: Option<Template>,
    pub(crate) group_by: Vec<String>,
    pub(crate) wait: Option<Duration>,
    pub(crate) interval: Option<Duration>,
    pub(crate) repeat: Option<Duration>,
    pub(crate) resolved: bool,
    pub(crate) internal: bool,
}

impl Rule {
    /// A rule named `name` (the name appears in messages and in
    /// `evtrail.push` records).
    pub fn new(name: impl Into<String>) -> Rule {
        Rule {
            name: name.into(),
            filter: Filter::new(),
            error: None,
            channels: Vec::new(),
            mentions: Mentions::default(),
            template: None,
            group_by: vec!["host".to_owned()],
            wait: None,
            interval: None,
            repeat: None,
            resolved: true,
            internal: false,
        }
    }

    /// A rule for logging's own failures: evtrail's `evtrail.sink_failed`
    /// and `evtrail.dropped` records, so a team learns that logging itself
    /// is failing. Opt-in: add it to a sink.
    pub fn logging_failures() -> Rule {
        Rule::new("logging_failures").event_any(["evtrail.sink_failed", "evtrail.dropped"])
    }

    fn adding(mut self, add: impl FnOnce(Filter) -> Result<Filter, crate::Error>) -> Rule {
        let filter = std::mem::take(&mut self.filter);
        match add(filter.clone()) {
            Ok(f) => self.filter = f,
            Err(e) => {
                self.filter = filter;
                self.error.get_or_insert_with(|| e.to_string());
            }
        }
        self
    }

    /// Records with this event name, or matching this glob (`payment_*`).
    /// Naming an `evtrail.*` event lets the rule see evtrail's own notices.
    pub fn event(self, glob: &str) -> Rule {
        self.event_any([glob])
    }

    /// Records whose event is any of these names or globs.
    pub fn event_any<I, S>(mut self, globs: I) -> Rule
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let globs: Vec<String> = globs.into_iter().map(|g| g.as_ref().to_owned()).collect();
        if globs.iter().any(|g| g.starts_with("evtrail.")) {
            self.internal = true;
        }
        self.adding(|f| f.add_any_of("event", globs))
    }

    /// Records at this level or more severe.
    pub fn min_level(mut self, level: Level) -> Rule {
        self.filter = std::mem::take(&mut self.filter).min_level(level);
        self
    }

    /// Records of this class (`security`, `audit`, …).
    pub fn class(self, class: &str) -> Rule {
        self.adding(|f| f.add_any_of("class", [class]))
    }

    /// Records with this status (`critical`, `error`, …). An `ok` record
    /// still resolves the rule's groups whatever this says.
    pub fn status(self, status: &str) -> Rule {
        self.adding(|f| f.add_any_of("status", [status]))
    }

    /// Records of this stream.
    pub fn stream(self, stream: &str) -> Rule {
        self.adding(|f| f.add_any_of("stream", [stream]))
    }

    /// Records whose target (module path) matches this glob (`myapp::billing*`).
    pub fn target(self, glob: &str) -> Rule {
        self.adding(|f| f.add_any_of("target", [glob]))
    }

    /// Records for which a condition on any field holds, written as for
    /// `evtrail query --where`: `fields.amount>=100`, `tenant=acme`,
    /// `msg~timeout`, `op exists`.
    pub fn when(self, condition: &str) -> Rule {
        self.adding(|f| f.add_where(condition))
    }

    /// Records a ready-made [`Filter`] selects (added to the rule's other
    /// conditions).
    pub fn filter(mut self, filter: Filter) -> Rule {
        if self.filter.is_empty() {
            self.filter = filter;
        } else {
            self.error.get_or_insert_with(|| {
                "`Rule::filter` replaces the rule's conditions: call it first".to_owned()
            });
        }
        self
    }

    /// Sends to the sink's channel of this name (call again for several).
    /// Without it, the rule sends to every channel of its sink.
    pub fn to(mut self, channel: impl Into<String>) -> Rule {
        self.channels.push(channel.into());
        self
    }

    /// Mentions these phone numbers (DingTalk, WeCom).
    pub fn mention_mobiles<I, S>(mut self, mobiles: I) -> Rule
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.mentions
            .mobiles
            .extend(mobiles.into_iter().map(Into::into));
        self
    }

    /// Mentions these user ids (each API's own: DingTalk and WeCom user
    /// ids, Feishu open ids, Slack member ids).
    pub fn mention_users<I, S>(mut self, users: I) -> Rule
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.mentions
            .user_ids
            .extend(users.into_iter().map(Into::into));
        self
    }

    /// Mentions everyone in the group.
    pub fn mention_all(mut self) -> Rule {
        self.mentions.all = true;
        self
    }

    /// The template of this rule's messages (default: the channel's).
    pub fn template(mut self, template: Template) -> Rule {
        self.template = Some(template);
        self
    }

    /// The fields that, with the event name, make a group's key when a
    /// record has no `issue` field (default `host`; none: one group per
    /// event name).
    pub fn group_by<I, S>(mut self, fields: I) -> Rule
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.group_by = fields.into_iter().map(Into::into).collect();
        self
    }

    /// How long a new group waits for more records before its first
    /// message (default: the sink's).
    pub fn group_wait(mut self, wait: Duration) -> Rule {
        self.wait = Some(wait);
        self
    }

    /// The least time between two messages of a group that keeps firing
    /// (default: the sink's).
    pub fn group_interval(mut self, interval: Duration) -> Rule {
        self.interval = Some(interval);
        self
    }

    /// How often an open problem without new records is repeated (default:
    /// the sink's).
    pub fn repeat_interval(mut self, repeat: Duration) -> Rule {
        self.repeat = Some(repeat);
        self
    }

    /// Whether an `ok` record sends a "resolved" message for a group that
    /// fired (default: on).
    pub fn resolved(mut self, on: bool) -> Rule {
        self.resolved = on;
        self
    }

    /// Who the rule mentions, as messages show it.
    pub(crate) fn recipients(&self) -> String {
        recipients_text(&self.mentions)
    }

    /// Whether the rule selects this finished record.
    pub(crate) fn matches(&self, line: &str) -> bool {
        if !self.internal && is_internal(line) {
            return false;
        }
        self.filter.prefilter().could_match(line.as_bytes()) && self.filter.matches(line)
    }
}

/// Who `m` mentions, as messages and push records show it:
/// `13800000000,u1,@all`.
pub(crate) fn recipients_text(m: &Mentions) -> String {
    let mut parts: Vec<String> = m.mobiles.iter().chain(&m.user_ids).cloned().collect();
    if m.all {
        parts.push("@all".to_owned());
    }
    parts.join(",")
}

/// Whether a line is one of evtrail's own notices.
pub(crate) fn is_internal(line: &str) -> bool {
    memchr::memmem::find(line.as_bytes(), br#""event":"evtrail."#).is_some()
}

/// Whether a line may be an `ok` record, which can resolve a group.
pub(crate) fn may_resolve(line: &str) -> bool {
    memchr::memmem::find(line.as_bytes(), br#""status":"ok""#).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ERR: &str = r#"{"v":1,"stream":"app","seq":2,"ts":"2026-12-03T10:00:00.000001Z","level":"ERROR","class":"error","event":"payment_failed","host":"web-1","msg":"x","fields":{"amount":250}}"#;
    const SEC: &str = r#"{"v":1,"stream":"app","seq":3,"ts":"2026-12-03T10:00:00.000001Z","level":"INFO","class":"security","event":"login_denied","host":"web-1","msg":"x"}"#;
    const DROPPED: &str = r#"{"v":1,"stream":"app","seq":4,"ts":"2026-12-03T10:00:00.000001Z","level":"WARN","class":"error","event":"evtrail.dropped","msg":"x"}"#;
    const SINK_FAILED: &str = r#"{"v":1,"stream":"app","seq":5,"ts":"2026-12-03T10:00:00.000001Z","level":"ERROR","class":"error","event":"evtrail.sink_failed","msg":"x"}"#;

    #[test]
    fn conditions_select_like_a_query() {
        let errors = Rule::new("e").min_level(Level::ERROR);
        assert!(errors.matches(ERR) && !errors.matches(SEC));
        let security = Rule::new("s").class("security");
        assert!(security.matches(SEC) && !security.matches(ERR));
        let big = Rule::new("b").event("payment_*").when("fields.amount>=100");
        assert!(big.matches(ERR));
        assert!(!Rule::new("b").when("fields.amount>=1000").matches(ERR));
    }

    #[test]
    fn evtrails_own_notices_notify_only_when_asked() {
        let everything = Rule::new("all");
        assert!(everything.matches(ERR));
        assert!(!everything.matches(DROPPED) && !everything.matches(SINK_FAILED));
        let failing = Rule::logging_failures();
        assert!(failing.matches(DROPPED) && failing.matches(SINK_FAILED));
        assert!(!failing.matches(ERR));
    }

    #[test]
    fn a_bad_condition_is_kept_for_build_to_report() {
        let r = Rule::new("r").when("= 3").class("security");
        assert!(r.error.is_some(), "{r:?}");
        assert!(r.matches(SEC), "the good conditions still apply");
    }

    #[test]
    fn recipients_list_mobiles_users_and_all() {
        let r = Rule::new("r")
            .mention_mobiles(["13800000000"])
            .mention_users(["u1"])
            .mention_all();
        assert_eq!(r.recipients(), "13800000000,u1,@all");
    }
}
