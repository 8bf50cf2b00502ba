//! Changing a running sink's rules: a [`RuleHandle`] takes a new list,
//! checked against the sink's channels as `build` checks it; the worker
//! picks it up before it hands the sink more records, and each channel's
//! thread before it groups them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::builder::ChannelSettings;
use super::channel::Markup;
use super::rule::Rule;
use super::sender::LaneRule;
use super::template::Template;
use crate::error::Error;

/// Changes the rules of a [`NotifySink`](super::NotifySink) while it runs;
/// from [`NotifySink::rule_handle`](super::NotifySink::rule_handle).
///
/// The sink's channels, timings and limits stay; only which records are
/// selected, and how each rule's messages look and group, change.
///
/// | a rule that… | its groups |
/// |---|---|
/// | stays (the same name) | keep their state: an open problem is not announced again, and its "resolved" message still comes; the new conditions, template, mentions and timings apply from the change on |
/// | is removed | send what they hold at once, then end: no reminder or "resolved" message follows |
/// | is new | start empty, like any group |
///
/// Records the application emits after [`replace`](Self::replace)
/// returns are matched by the new rules; records emitted just before it
/// may be matched by either list. Every record a channel took in is sent
/// or accounted for, whichever list it came under.
///
/// # Examples
///
/// ```
/// use evtrail::notify::{NotifySink, Rule, Webhook};
/// use tracing::Level;
///
/// let sink = NotifySink::builder()
///     .add_channel("oncall", Webhook::new("http://127.0.0.1:9/hook"))
///     .add_rule(Rule::new("errors").min_level(Level::ERROR))
///     .build()?;
/// let rules = sink.rule_handle();
/// // … `add_sink(sink)`, and later, while it runs:
/// rules.replace([Rule::new("warnings").min_level(Level::WARN).to("oncall")])?;
/// // A rule to a channel the sink does not have changes nothing.
/// assert!(rules.replace([Rule::new("x").to("team")]).is_err());
/// # Ok::<(), evtrail::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RuleHandle {
    shared: Arc<Replacement>,
}

#[derive(Debug)]
struct Replacement {
    sink: String,
    channels: Vec<ChannelSettings>,
    next: Mutex<Option<Vec<Rule>>>,
    /// Whether `next` holds a list, so the worker's check costs a load.
    waiting: AtomicBool,
}

impl RuleHandle {
    pub(super) fn new(sink: &str, channels: &[ChannelSettings]) -> RuleHandle {
        RuleHandle {
            shared: Arc::new(Replacement {
                sink: sink.to_owned(),
                channels: channels.to_vec(),
                next: Mutex::new(None),
                waiting: AtomicBool::new(false),
            }),
        }
    }

    /// Replaces the sink's rules with `rules`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config), and the running
    /// rules stay, when the list is empty, two rules share a name, a rule
    /// has a condition that could not be read, sends to a channel the sink
    /// does not have, or has a template that is not JSON around its
    /// placeholders for a JSON channel — the checks of
    /// [`NotifySinkBuilder::build`](super::NotifySinkBuilder::build).
    pub fn replace(&self, rules: impl IntoIterator<Item = Rule>) -> Result<(), Error> {
        let rules: Vec<Rule> = rules.into_iter().collect();
        self.check(&rules)?;
        let mut next = self
            .shared
            .next
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *next = Some(rules);
        self.shared.waiting.store(true, Ordering::Release);
        Ok(())
    }

    /// What [`replace`](Self::replace) checks, without replacing.
    pub(crate) fn check(&self, rules: &[Rule]) -> Result<(), Error> {
        check_rules(&self.shared.channels, rules)
            .map_err(|m| Error::config(format!("notification sink `{}`: {m}", self.shared.sink)))
    }

    /// The list given since the last call, if any.
    pub(super) fn take(&self) -> Option<Vec<Rule>> {
        // A plain load first: the worker asks before every batch.
        if !self.shared.waiting.load(Ordering::Relaxed)
            || !self.shared.waiting.swap(false, Ordering::Acquire)
        {
            return None;
        }
        self.shared
            .next
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// The checks a sink's rules pass, at `build` and at each replacement.
pub(super) fn check_rules(channels: &[ChannelSettings], rules: &[Rule]) -> Result<(), String> {
    if rules.is_empty() {
        return Err(
            "no rule: add one with `add_rule` (for example `Rule::new(\"errors\").min_level(Level::ERROR)`)"
                .into(),
        );
    }
    let mut names = HashSet::new();
    for r in rules {
        if !names.insert(r.name.as_str()) {
            return Err(format!("two rules are named `{}`", r.name));
        }
        if let Some(e) = &r.error {
            return Err(format!("rule `{}`: {e}", r.name));
        }
        for to in &r.channels {
            if !channels.iter().any(|c| c.name == *to) {
                return Err(format!(
                    "rule `{}` sends to `{to}`, which is not one of its channels ({})",
                    r.name,
                    channels
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        for c in channels.iter().filter(|c| sends_to(r, &c.name)) {
            if c.channel.markup() == Markup::Json {
                let t = r
                    .template
                    .clone()
                    .unwrap_or_else(|| Template::default_for(Markup::Json));
                if let Err(e) = serde_json::from_str::<serde_json::Value>(&t.skeleton()) {
                    return Err(format!(
                        "rule `{}`: the template for the JSON channel `{}` is not JSON \
                         around its placeholders ({e})",
                        r.name, c.name
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Whether `rule` sends to the channel named `channel` (a rule naming no
/// channel sends to all).
pub(super) fn sends_to(rule: &Rule, channel: &str) -> bool {
    rule.channels.is_empty() || rule.channels.iter().any(|c| c == channel)
}

/// A rule as a channel with this markup uses it.
pub(super) fn lane_rule(rule: &Rule, markup: Markup) -> LaneRule {
    LaneRule {
        template: rule
            .template
            .clone()
            .unwrap_or_else(|| Template::default_for(markup)),
        recipients: rule.recipients(),
        rule: rule.clone(),
    }
}

/// One channel's rules, as the worker's side publishes them and the
/// channel's thread reads them.
///
/// A rule keeps its place (its slot) for the sink's life, so a record
/// matched under an older list still names the right rule: slots are only
/// added, and a removed rule's slot is marked inactive.
#[derive(Debug)]
pub(super) struct LaneRules {
    generation: AtomicU64,
    set: Mutex<LaneRuleSet>,
}

/// The rules in their slots, and which are in force.
#[derive(Clone, Debug, Default)]
pub(super) struct LaneRuleSet {
    pub(super) rules: Vec<Arc<LaneRule>>,
    pub(super) active: Vec<bool>,
}

impl LaneRules {
    pub(super) fn new(set: LaneRuleSet) -> LaneRules {
        LaneRules {
            generation: AtomicU64::new(0),
            set: Mutex::new(set),
        }
    }

    pub(super) fn snapshot(&self) -> (u64, LaneRuleSet) {
        let set = self.set.lock().unwrap_or_else(PoisonError::into_inner);
        (self.generation.load(Ordering::Acquire), set.clone())
    }

    pub(super) fn publish(&self, set: LaneRuleSet) {
        let mut now = self.set.lock().unwrap_or_else(PoisonError::into_inner);
        *now = set;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The set, when it changed after generation `seen`.
    pub(super) fn since(&self, seen: u64) -> Option<(u64, LaneRuleSet)> {
        if self.generation.load(Ordering::Acquire) == seen {
            return None;
        }
        Some(self.snapshot())
    }
}

/// The slots of one channel: where each rule name lives.
#[derive(Debug, Default)]
pub(super) struct Slots {
    names: Vec<String>,
}

impl Slots {
    /// Places `rules` (those of the sink's list that send to this
    /// channel): the same name keeps its slot, a new one gets the next.
    /// Returns each rule's slot and the set to publish.
    pub(super) fn place<'a>(
        &mut self,
        rules: impl IntoIterator<Item = &'a Rule>,
        markup: Markup,
        mut set: LaneRuleSet,
    ) -> (Vec<usize>, LaneRuleSet) {
        set.active = vec![false; set.rules.len()];
        let mut slots = Vec::new();
        for r in rules {
            let lr = Arc::new(lane_rule(r, markup));
            let slot = match self.names.iter().position(|n| *n == r.name) {
                Some(s) => {
                    set.rules[s] = lr;
                    set.active[s] = true;
                    s
                }
                None => {
                    self.names.push(r.name.clone());
                    set.rules.push(lr);
                    set.active.push(true);
                    self.names.len() - 1
                }
            };
            slots.push(slot);
        }
        (slots, set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Channel, Webhook};

    fn channels() -> Vec<ChannelSettings> {
        ["oncall", "team"]
            .into_iter()
            .map(|n| ChannelSettings {
                name: n.to_owned(),
                channel: Arc::new(Webhook::new("http://127.0.0.1:9/")) as Arc<dyn Channel>,
                limits: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn a_replacement_is_checked_like_build_and_taken_once() {
        let h = RuleHandle::new("notify", &channels());
        assert!(h.take().is_none());
        let e = h.replace([Rule::new("a").to("nowhere")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("`nowhere`, which is not one of its channels (oncall, team)"),
            "{e}"
        );
        assert!(h.replace(Vec::new()).is_err());
        assert!(h.replace([Rule::new("a"), Rule::new("a")]).is_err());
        assert!(h.replace([Rule::new("a").when("= 3")]).is_err());
        assert!(h.take().is_none(), "a refused list is never applied");
        h.replace([Rule::new("a")]).unwrap();
        h.replace([Rule::new("b"), Rule::new("c").to("team")])
            .unwrap();
        let got: Vec<String> = h.take().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(got, ["b", "c"], "the latest list wins");
        assert!(h.take().is_none());
    }

    #[test]
    fn a_rule_keeps_its_slot_and_a_removed_one_goes_inactive() {
        let mut slots = Slots::default();
        let (first, set) = slots.place(
            &[Rule::new("a"), Rule::new("b")],
            Markup::Markdown,
            LaneRuleSet::default(),
        );
        assert_eq!(first, [0, 1]);
        let (second, set) = slots.place(
            &[Rule::new("c"), Rule::new("b").mention_all()],
            Markup::Markdown,
            set,
        );
        assert_eq!(second, [2, 1]);
        assert_eq!(set.active, [false, true, true]);
        assert_eq!(
            set.rules[1].recipients, "@all",
            "the kept rule is the new one"
        );
        let (third, set) = slots.place(&[Rule::new("a")], Markup::Markdown, set);
        assert_eq!(third, [0], "a name that comes back gets its old slot");
        assert_eq!(set.active, [true, false, false]);
    }

    #[test]
    fn the_channel_thread_sees_each_change_once() {
        let lr = LaneRules::new(LaneRuleSet::default());
        let (seen, _) = lr.snapshot();
        assert!(lr.since(seen).is_none());
        lr.publish(LaneRuleSet {
            rules: vec![Arc::new(lane_rule(&Rule::new("a"), Markup::Text))],
            active: vec![true],
        });
        let (seen, set) = lr.since(seen).unwrap();
        assert_eq!(set.rules.len(), 1);
        assert!(lr.since(seen).is_none());
    }
}
