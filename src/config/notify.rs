//! `[notify]` into a [`NotifySink`]: its channels, with their URLs and
//! signing secrets read from the environment or files, and its rules
//! (feature `notify`).

use std::path::PathBuf;

use toml::Spanned;

use super::Config;
use super::apply::level;
use super::schema::{ChannelKind, ChannelSection, NotifySection, RuleSection};
use super::secret::secret;
use crate::error::Error;
use crate::notify::{DingTalk, Feishu, NotifySink, Rule, Slack, Template, WeCom, Webhook};

pub(super) fn build(config: &Config, n: &NotifySection) -> Result<NotifySink, Error> {
    let at = |span, message: &str| config.source.error_at(span, message);
    let mut b = NotifySink::builder();
    if let Some(v) = &n.name {
        b = b.name(v);
    }
    if let Some(v) = n.group_wait {
        b = b.group_wait(v.0);
    }
    if let Some(v) = n.group_interval {
        b = b.group_interval(v.0);
    }
    if let Some(v) = n.repeat_interval {
        b = b.repeat_interval(v.0);
    }
    if let Some(v) = n.max_attempts {
        b = b.max_attempts(v);
    }
    if n.backoff_first.is_some() || n.backoff_max.is_some() {
        let first = n
            .backoff_first
            .map_or(std::time::Duration::from_secs(1), |d| d.0);
        let max = n
            .backoff_max
            .map_or(std::time::Duration::from_secs(60), |d| d.0);
        b = b.backoff(first, max);
    }
    if let Some(v) = n.max_retry_after {
        b = b.max_retry_after(v.0);
    }
    if let Some(v) = n.timeout {
        b = b.timeout(v.0);
    }
    if let Some(v) = &n.time_zone {
        b = b.time_zone(v);
    }
    if let Some(v) = &n.dead_letter {
        b = b.dead_letter(v);
    }
    if let Some(v) = n.queue {
        b = b.queue(v);
    }
    for c in &n.channels {
        b = channel(config, b, c)?;
        if let Some(limit) = &c.rate_limit {
            b = b.rate_limit(c.name.get_ref(), limit.messages, limit.per.0);
        }
    }
    for rule in rules(config, n)? {
        b = b.add_rule(rule);
    }
    let span = n.channels.first().map_or(0..0, |c| c.name.span());
    b.build().map_err(|e| at(span, &e.to_string()))
}

/// `[notify]`'s rules, each checked against the section's channels.
pub(super) fn rules(config: &Config, n: &NotifySection) -> Result<Vec<Rule>, Error> {
    let at = |span, message: &str| config.source.error_at(span, message);
    let mut out = Vec::new();
    for r in &n.rules {
        let rule = rule(r);
        if let Some(e) = &rule.error {
            return Err(at(
                r.name.span(),
                &format!("rule `{}`: {e}", r.name.get_ref()),
            ));
        }
        for to in &r.to {
            if !n.channels.iter().any(|c| c.name.get_ref() == to) {
                return Err(at(
                    r.name.span(),
                    &format!(
                        "rule `{}` sends to `{to}`, which is not a [[notify.channels]] name",
                        r.name.get_ref()
                    ),
                ));
            }
        }
        out.push(rule);
    }
    if n.logging_failures == Some(true) {
        out.push(Rule::logging_failures());
    }
    Ok(out)
}

fn channel(
    config: &Config,
    b: crate::notify::NotifySinkBuilder,
    c: &ChannelSection,
) -> Result<crate::notify::NotifySinkBuilder, Error> {
    let at = |span, message: &str| config.source.error_at(span, message);
    let inline_ok = c.allow_inline_secrets == Some(true);
    let get = |env: &Option<Spanned<String>>,
               file: &Option<Spanned<PathBuf>>,
               inline: &Option<Spanned<String>>,
               what: &str| secret(config, inline_ok, env, file, inline, what);
    let Some(url) = get(&c.url_env, &c.url_file, &c.url, "url")? else {
        return Err(at(
            c.name.span(),
            &format!(
                "channel `{}` needs `url_env`, `url_file` or `url`",
                c.name.get_ref()
            ),
        ));
    };
    let signing = get(&c.secret_env, &c.secret_file, &c.secret, "secret")?;
    let format = c.format.as_ref().map(|f| f.get_ref().as_str());
    let bad_format = |allowed: &str| {
        let span = c.format.as_ref().map_or(c.name.span(), Spanned::span);
        Err(at(
            span,
            &format!(
                "channel `{}`: format `{}` is not one of {allowed}",
                c.name.get_ref(),
                format.unwrap_or_default()
            ),
        ))
    };
    let no_secret = |kind: &str| -> Result<(), Error> {
        if signing.is_some() {
            return Err(at(
                c.name.span(),
                &format!(
                    "channel `{}`: {kind} robots are not signed",
                    c.name.get_ref()
                ),
            ));
        }
        Ok(())
    };
    let name = c.name.get_ref().clone();
    Ok(match c.kind {
        ChannelKind::Dingtalk => {
            let mut ch = DingTalk::webhook(url);
            ch = match format {
                None | Some("markdown") => ch.markdown(),
                Some("text") => ch.text(),
                Some(_) => return bad_format("`text`, `markdown`"),
            };
            if let Some(s) = signing {
                ch = ch.secret(s);
            }
            b.add_channel(name, ch)
        }
        ChannelKind::Wecom => {
            no_secret("WeCom")?;
            let ch = match format {
                None | Some("markdown") => WeCom::webhook(url).markdown(),
                Some("text") => WeCom::webhook(url).text(),
                Some(_) => return bad_format("`text`, `markdown`"),
            };
            b.add_channel(name, ch)
        }
        ChannelKind::Feishu => {
            let mut ch = match format {
                None | Some("card") => Feishu::webhook(url).card(),
                Some("post") => Feishu::webhook(url).post(),
                Some("text") => Feishu::webhook(url).text(),
                Some(_) => return bad_format("`text`, `post`, `card`"),
            };
            if let Some(s) = signing {
                ch = ch.secret(s);
            }
            b.add_channel(name, ch)
        }
        ChannelKind::Slack => {
            no_secret("Slack")?;
            if format.is_some() {
                return bad_format("nothing: Slack takes no format");
            }
            b.add_channel(name, Slack::webhook(url))
        }
        ChannelKind::Webhook => {
            if format.is_some() {
                return bad_format("nothing: a webhook's body is its rules' template");
            }
            let mut ch = Webhook::new(url);
            if let Some(s) = signing {
                let span = c
                    .secret_env
                    .as_ref()
                    .map(Spanned::span)
                    .or(c.secret.as_ref().map(Spanned::span))
                    .unwrap_or(c.name.span());
                ch = ch.sign(&s).map_err(|e| at(span, &e.to_string()))?;
            }
            for (k, v) in &c.headers {
                ch = ch.header(k, v);
            }
            b.add_channel(name, ch)
        }
    })
}

fn rule(r: &RuleSection) -> Rule {
    let mut rule = Rule::new(r.name.get_ref());
    if !r.event.is_empty() {
        rule = rule.event_any(&r.event);
    }
    if let Some(l) = r.min_level {
        rule = rule.min_level(level(l));
    }
    if let Some(v) = &r.class {
        rule = rule.class(v);
    }
    if let Some(v) = &r.status {
        rule = rule.status(v);
    }
    if let Some(v) = &r.stream {
        rule = rule.stream(v);
    }
    if let Some(v) = &r.target {
        rule = rule.target(v);
    }
    for w in &r.when {
        rule = rule.when(w);
    }
    for to in &r.to {
        rule = rule.to(to);
    }
    if !r.mention_mobiles.is_empty() {
        rule = rule.mention_mobiles(&r.mention_mobiles);
    }
    if !r.mention_users.is_empty() {
        rule = rule.mention_users(&r.mention_users);
    }
    if r.mention_all == Some(true) {
        rule = rule.mention_all();
    }
    if r.title.is_some() || r.body.is_some() {
        let mut t = Template::new(
            r.title.clone().unwrap_or_else(|| "{event}".to_owned()),
            r.body.clone().unwrap_or_else(|| "{msg}".to_owned()),
        );
        if r.resolved_title.is_some() || r.resolved_body.is_some() {
            t = t.resolved(
                r.resolved_title
                    .clone()
                    .unwrap_or_else(|| "resolved: {event}".to_owned()),
                r.resolved_body
                    .clone()
                    .unwrap_or_else(|| "{msg}".to_owned()),
            );
        }
        rule = rule.template(t);
    }
    if !r.group_by.is_empty() {
        rule = rule.group_by(&r.group_by);
    }
    if let Some(v) = r.group_wait {
        rule = rule.group_wait(v.0);
    }
    if let Some(v) = r.group_interval {
        rule = rule.group_interval(v.0);
    }
    if let Some(v) = r.repeat_interval {
        rule = rule.repeat_interval(v.0);
    }
    if let Some(v) = r.resolved {
        rule = rule.resolved(v);
    }
    rule
}
