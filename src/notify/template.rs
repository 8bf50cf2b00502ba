//! Message templates: a title and a body with `{placeholders}` for a
//! record's keys and fields and for the group's facts, rendered with every
//! value from the log escaped for the channel's markup.

use std::time::Duration;

use serde_json::Value;

use super::channel::{Markup, escape};
use super::group::{Kind, Out};
use crate::query::{as_text, lookup_text};
use crate::time::parse_ts;

/// The longest a single value from a record may be in a message, in
/// characters; longer ones are cut with `…`.
const MAX_VALUE_CHARS: usize = 1_000;
/// How many fields `{context}` lists.
const MAX_CONTEXT_FIELDS: usize = 20;

/// The keys `{context}` lists before a record's own fields, when present.
const CONTEXT_KEYS: [&str; 9] = [
    "op",
    "user",
    "tenant",
    "ip",
    "trace_id",
    "request_id",
    "session_id",
    "status",
    "target",
];

/// A message's title and body, with placeholders.
///
/// A placeholder is a name in braces: a record key or field path
/// (`{event}`, `{code}`, `{msg}`, `{host}`, `{tenant}`, `{op}`,
/// `{fields.task}`, `{spans.request.path}`; a bare name that is not one of
/// the record's own keys is looked up under `fields`, so `{task}` finds
/// `fields.task`), or one of the message's own:
///
/// | placeholder | what it shows |
/// |---|---|
/// | `{ts}` | the latest record's time, to the second, in the sink's [time zone](super::NotifySinkBuilder::time_zone) |
/// | `{since}` | when the problem began (its first record's time) |
/// | `{headline}` | `payment_failed ×1,240 on web-1`, `Resolved: …`, `Still open: …` |
/// | `{count}` | records this message carries |
/// | `{total}` | records since the problem began |
/// | `{summary}` | `1,240 in the last 5 min (1,241 since 10:02:03)`, or how long a resolved problem lasted |
/// | `{lasted}` | how long a resolved problem lasted |
/// | `{state}` | `firing`, `repeat` or `resolved` |
/// | `{rule}`, `{group}` | the rule's name and the group's key |
/// | `{recipients}` | who is mentioned |
/// | `{context}` | the record's context: `op`, `user`, `tenant`, … and its fields, as `key=value` |
///
/// Values are those of the group's latest record, escaped for the
/// channel's markup (so `<script>` or `@all` in a record shows literally)
/// and cut at 1,000 characters. A placeholder naming something the
/// record does not have renders as `(no NAME)`: a template never fails a
/// message. Text in braces that is not a name (`{"a": 1}`) is kept as it
/// is, so JSON templates need no escaping.
///
/// # Examples
///
/// ```
/// use evtrail::notify::Template;
///
/// let t = Template::new("{event} on {host}", "task {fields.task} is overdue since {since}")
///     .resolved("{event} done", "task {fields.task} finished after {lasted}");
/// # drop(t);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Template {
    title: String,
    body: String,
    resolved: Option<(String, String)>,
}

impl Template {
    /// A template for the title and the body of every message.
    pub fn new(title: impl Into<String>, body: impl Into<String>) -> Template {
        Template {
            title: title.into(),
            body: body.into(),
            resolved: None,
        }
    }

    /// A different title and body for resolved messages (the default uses
    /// the same ones, whose `{headline}` and `{summary}` say it).
    pub fn resolved(mut self, title: impl Into<String>, body: impl Into<String>) -> Template {
        self.resolved = Some((title.into(), body.into()));
        self
    }

    /// The default for a channel's markup: the five details an on-call
    /// person needs — event and code, who was told, what happened, when
    /// (to the second) and the context. The body leaves the headline to
    /// the title, which every chat channel already shows above the text
    /// (a heading, a card or block header, or the first line).
    pub(crate) fn default_for(markup: Markup) -> Template {
        let (title, body) = match markup {
            Markup::Markdown => (
                "{headline}",
                "- **Code:** {code}\n\
                 - **Time:** {ts}\n\
                 - **Content:** {msg}\n\
                 - **Count:** {summary}\n\
                 - **To:** {recipients}\n\
                 - **Context:** {context}",
            ),
            Markup::LarkMd => (
                "{headline}",
                "**Code:** {code}\n\
                 **Time:** {ts}\n\
                 **Content:** {msg}\n\
                 **Count:** {summary}\n\
                 **To:** {recipients}\n\
                 **Context:** {context}",
            ),
            Markup::SlackMrkdwn => (
                "{headline}",
                "*Code:* {code}\n\
                 *Time:* {ts}\n\
                 *Content:* {msg}\n\
                 *Count:* {summary}\n\
                 *To:* {recipients}\n\
                 *Context:* {context}",
            ),
            Markup::Text => (
                "{headline}",
                "Code: {code}\n\
                 Time: {ts}\n\
                 Content: {msg}\n\
                 Count: {summary}\n\
                 To: {recipients}\n\
                 Context: {context}",
            ),
            Markup::Json => (
                "{headline}",
                "{\"title\":\"{headline}\",\"state\":\"{state}\",\"rule\":\"{rule}\",\
                 \"group\":\"{group}\",\"event\":\"{event}\",\"code\":\"{code}\",\
                 \"msg\":\"{msg}\",\"host\":\"{host}\",\"ts\":\"{ts}\",\"since\":\"{since}\",\
                 \"count\":{count},\"total\":{total},\"summary\":\"{summary}\",\
                 \"recipients\":\"{recipients}\",\"context\":\"{context}\"}",
            ),
        };
        Template::new(title, body)
    }

    /// Renders the title and the body of `out`'s message.
    pub(crate) fn render(&self, ctx: &Context<'_>) -> (String, String) {
        let (title, body) = match (&self.resolved, &ctx.out.kind) {
            (Some((t, b)), Kind::Resolved { .. }) => (t.as_str(), b.as_str()),
            _ => (self.title.as_str(), self.body.as_str()),
        };
        (ctx.fill(title), ctx.fill(body))
    }

    /// A rendering with every placeholder empty: what a JSON template
    /// looks like around its values (to check it is JSON).
    pub(crate) fn skeleton(&self) -> String {
        let mut s = String::new();
        for_each_piece(&self.body, |p| match p {
            Piece::Text(t) => s.push_str(t),
            Piece::Name("count" | "total" | "seq" | "line" | "pid") => s.push('0'),
            Piece::Name(_) => {}
        });
        s
    }
}

enum Piece<'a> {
    Text(&'a str),
    Name(&'a str),
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !s.ends_with('.')
}

fn for_each_piece<'a>(template: &'a str, mut f: impl FnMut(Piece<'a>)) {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_name(&after[..close]) => {
                if open > 0 {
                    f(Piece::Text(&rest[..open]));
                }
                f(Piece::Name(&after[..close]));
                rest = &after[close + 1..];
            }
            _ => {
                f(Piece::Text(&rest[..=open]));
                rest = after;
            }
        }
    }
    if !rest.is_empty() {
        f(Piece::Text(rest));
    }
}

/// What a message is rendered from.
pub(crate) struct Context<'a> {
    pub(crate) out: &'a Out,
    pub(crate) rule: &'a str,
    pub(crate) recipients: &'a str,
    pub(crate) markup: Markup,
    pub(crate) offset: time::UtcOffset,
    /// How long the records of this message were gathered.
    pub(crate) window: Duration,
}

impl Context<'_> {
    fn fill(&self, template: &str) -> String {
        let mut s = String::with_capacity(template.len() + 256);
        for_each_piece(template, |p| match p {
            Piece::Text(t) => s.push_str(t),
            Piece::Name(n) => {
                let v = self.value(n);
                let v = cut_chars(&v, MAX_VALUE_CHARS);
                escape(self.markup, &v, &mut s);
            }
        });
        s
    }

    fn record(&self, path: &str) -> Option<String> {
        lookup_text(&self.out.latest, path)
    }

    fn value(&self, name: &str) -> String {
        let out = self.out;
        match name {
            "ts" | "time" => self.time(out.latest.get("ts").and_then(Value::as_str)),
            "since" => self.time(Some(&out.since_ts)),
            "count" => out.records().to_string(),
            "total" => out.total.to_string(),
            "headline" => self.headline(),
            "summary" => self.summary(),
            "lasted" => match &out.kind {
                Kind::Resolved { lasted: Some(d) } => human_duration(*d),
                _ => missing(name),
            },
            "state" => match out.kind {
                Kind::Firing { .. } => "firing",
                Kind::Repeat => "repeat",
                Kind::Resolved { .. } => "resolved",
            }
            .to_owned(),
            "rule" => self.rule.to_owned(),
            "group" => out.key.clone(),
            "recipients" => {
                if self.recipients.is_empty() {
                    "-".to_owned()
                } else {
                    self.recipients.to_owned()
                }
            }
            "context" => self.context(),
            _ => self.record(name).unwrap_or_else(|| missing(name)),
        }
    }

    fn time(&self, ts: Option<&str>) -> String {
        let Some(micros) = ts.and_then(parse_ts) else {
            return ts.unwrap_or("(no ts)").to_owned();
        };
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        else {
            return ts.unwrap_or_default().to_owned();
        };
        let t = t.to_offset(self.offset);
        let (h, m, _) = self.offset.as_hms();
        let zone = if self.offset.is_utc() {
            "UTC".to_owned()
        } else {
            format!(
                "{}{:02}:{:02}",
                if self.offset.is_negative() { '-' } else { '+' },
                h.unsigned_abs(),
                m.unsigned_abs()
            )
        };
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {zone}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    /// The event (or the group's key) and, when known, ` on HOST`.
    fn what(&self) -> (String, String) {
        let event = self.record("event").unwrap_or_else(|| self.out.key.clone());
        let host = self
            .record("host")
            .map(|h| format!(" on {h}"))
            .unwrap_or_default();
        (event, host)
    }

    fn headline(&self) -> String {
        let out = self.out;
        let (event, host) = self.what();
        match out.kind {
            // The `ok` record may have an event of its own
            // (`payment_succeeded`): name the issue it ended.
            Kind::Resolved { .. } => {
                let issue = self.record("issue").unwrap_or(event);
                format!("Resolved: {issue}{host}")
            }
            Kind::Repeat => format!("Still open: {event}{host}"),
            Kind::Firing { .. } if out.records() > 1 => {
                format!("{event} ×{}{host}", thousands(out.records()))
            }
            Kind::Firing { .. } => format!("{event}{host}"),
        }
    }

    fn summary(&self) -> String {
        let out = self.out;
        let since = self.time(Some(&out.since_ts));
        match &out.kind {
            Kind::Resolved { lasted } => {
                let lasted = lasted.map_or_else(|| "an unknown time".to_owned(), human_duration);
                format!(
                    "resolved after {lasted} ({} records since {since})",
                    thousands(out.total)
                )
            }
            Kind::Repeat => format!(
                "still open since {since}, no new records ({} in all)",
                thousands(out.total)
            ),
            Kind::Firing { first: true } => match out.records() {
                1 => "1 record".to_owned(),
                n => format!("{} in {}", thousands(n), human_duration(self.window)),
            },
            Kind::Firing { first: false } => format!(
                "{} in the last {} ({} since {since})",
                thousands(out.records()),
                human_duration(self.window),
                thousands(out.total)
            ),
        }
    }

    fn context(&self) -> String {
        let rec = &self.out.latest;
        let mut parts = Vec::new();
        for key in CONTEXT_KEYS {
            if let Some(v) = rec.get(key).filter(|v| !v.is_null()) {
                parts.push(format!("{key}={}", as_text(v)));
            }
        }
        if let Some(Value::Object(fields)) = rec.get("fields") {
            for (k, v) in fields {
                parts.push(format!("{k}={}", as_text(v)));
            }
        }
        let more = parts.len().saturating_sub(MAX_CONTEXT_FIELDS);
        parts.truncate(MAX_CONTEXT_FIELDS);
        if more > 0 {
            parts.push(format!("(+{more} more)"));
        }
        if parts.is_empty() {
            "-".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

fn missing(name: &str) -> String {
    format!("(no {name})")
}

fn cut_chars(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]).into(),
        None => s.into(),
    }
}

/// `1240` as `1,240`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut s = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            s.push(',');
        }
        s.push(c);
    }
    s
}

/// `96 s` as `1 min 36 s`, to the second.
pub(crate) fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return format!("{} ms", d.as_millis());
    }
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if sec > 0 || parts.is_empty() {
        parts.push(format!("{sec} s"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::group::Pending;
    use serde_json::json;
    use std::sync::Arc;
    use std::time::Instant;

    fn out(kind: Kind, count: u64, latest: Value) -> Out {
        let mut runs = super::super::group::Runs::default();
        runs.add(&Arc::from("app"), 1);
        Out {
            rule: 0,
            key: "payment_failed host=web-1".to_owned(),
            kind,
            pending: Some(Pending {
                count,
                first: latest.clone(),
                latest: latest.clone(),
                runs,
                since: Instant::now(),
            }),
            resolution: None,
            latest,
            since_ts: "2026-12-03T10:02:03.000000Z".to_owned(),
            total: count + 1,
        }
    }

    fn record() -> Value {
        json!({"ts":"2026-12-03T10:07:08.123456Z","level":"ERROR","event":"payment_failed",
               "code":"E42","host":"web-1","msg":"card declined <script>alert(1)</script> *now*",
               "op":"order-7","tenant":"acme","fields":{"task":"charge","amount":250}})
    }

    fn ctx(o: &Out, markup: Markup) -> Context<'_> {
        Context {
            out: o,
            rule: "errors",
            recipients: "13800000000",
            markup,
            offset: time::UtcOffset::from_hms(8, 0, 0).unwrap(),
            window: Duration::from_secs(300),
        }
    }

    #[test]
    fn placeholders_take_record_keys_fields_and_message_facts() {
        let o = out(Kind::Firing { first: false }, 1240, record());
        let t = Template::new(
            "{headline}",
            "{code}|{fields.task}|{task}|{tenant}|{op}|{ts}|{since}|{summary}|{rule}|{recipients}|{missing.thing}",
        );
        let (title, body) = t.render(&ctx(&o, Markup::Text));
        assert_eq!(title, "payment_failed ×1,240 on web-1");
        assert_eq!(
            body,
            "E42|charge|charge|acme|order-7|2026-12-03 18:07:08 +08:00|2026-12-03 18:02:03 +08:00|\
             1,240 in the last 5 min (1,241 since 2026-12-03 18:02:03 +08:00)|errors|13800000000|(no missing.thing)"
        );
    }

    #[test]
    fn values_are_escaped_for_the_markup_and_template_text_is_not() {
        let o = out(Kind::Firing { first: true }, 1, record());
        let t = Template::new("**{event}**", "{msg}");
        let (title, body) = t.render(&ctx(&o, Markup::Markdown));
        assert_eq!(title, "**payment\\_failed**");
        assert!(
            body.contains("&lt;script&gt;") && body.contains("\\*now\\*"),
            "{body}"
        );
        let (_, body) = t.render(&ctx(&o, Markup::SlackMrkdwn));
        assert!(body.contains("&lt;script&gt;"), "{body}");
    }

    #[test]
    fn default_bodies_leave_the_headline_to_the_title() {
        // Every chat channel shows the title above the body; a body that
        // repeats it shows the headline twice.
        let o = out(Kind::Firing { first: true }, 1, record());
        for markup in [
            Markup::Markdown,
            Markup::Text,
            Markup::LarkMd,
            Markup::SlackMrkdwn,
        ] {
            let (title, body) = Template::default_for(markup).render(&ctx(&o, markup));
            assert!(title.contains("payment"), "{markup:?}: {title}");
            assert!(!body.contains(&title), "{markup:?}: {body}");
            assert!(body.contains("E42"), "{markup:?}: {body}");
        }
    }

    #[test]
    fn json_templates_keep_their_braces_and_stay_json() {
        let o = out(Kind::Firing { first: true }, 3, record());
        let t = Template::default_for(Markup::Json);
        let (_, body) = t.render(&ctx(&o, Markup::Json));
        let v: Value = serde_json::from_str(&body).expect(&body);
        assert_eq!(v["count"], 3);
        assert_eq!(v["code"], "E42");
        assert!(v["msg"].as_str().unwrap().contains("<script>"));
        assert!(serde_json::from_str::<Value>(&t.skeleton()).is_ok());
    }

    #[test]
    fn resolved_messages_say_how_long_the_problem_lasted() {
        let mut o = out(
            Kind::Resolved {
                lasted: Some(Duration::from_secs(96)),
            },
            0,
            record(),
        );
        o.pending = None;
        o.resolution = Some((record(), Arc::from("app"), 9));
        let t =
            Template::new("{headline}", "{summary}").resolved("done: {event}", "after {lasted}");
        assert_eq!(t.render(&ctx(&o, Markup::Text)).1, "after 1 min 36 s");
        let (title, body) = Template::new("{headline}", "{summary}").render(&ctx(&o, Markup::Text));
        assert_eq!(title, "Resolved: payment_failed on web-1");
        assert!(body.starts_with("resolved after 1 min 36 s"), "{body}");
    }

    #[test]
    fn long_values_are_cut_and_numbers_grouped() {
        let mut rec = record();
        rec["msg"] = json!("x".repeat(5000));
        let o = out(Kind::Firing { first: true }, 1, rec);
        let (_, body) = Template::new("", "{msg}").render(&ctx(&o, Markup::Text));
        assert_eq!(body.chars().count(), MAX_VALUE_CHARS + 1);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(human_duration(Duration::from_secs(3725)), "1 h 2 min 5 s");
        assert_eq!(human_duration(Duration::from_millis(400)), "400 ms");
    }
}
