//! The Slack incoming webhook: request shape, limits and answers.
//!
//! # The API, as documented
//!
//! * **Request**: `POST` the webhook URL
//!   (`https://hooks.slack.com/services/T…/B…/…`; the URL is the only
//!   credential), JSON `{"text": fallback, "blocks": […]}`. Text is
//!   `mrkdwn`, in which `&`, `<` and `>` — "three characters you must
//!   convert to HTML entities and only three" — are written `&amp;`,
//!   `&lt;`, `&gt;`, and `<@U…>` / `<!here>` mention
//!   (<https://github.com/slackhq/slack-api-docs/blob/master/page_formatting.md>).
//! * **Limits**: a section's text at most 3,000 characters and at most 50
//!   blocks a message (<https://github.com/slackapi/bolt-js/issues/2509>,
//!   which also reports `msg_blocks_too_long` from about 13,000 characters
//!   of blocks in all, below any documented limit: the body is kept
//!   within 12,000 characters); a header's plain text at most 150
//!   characters (<https://docs.slack.dev/reference/block-kit/blocks/header-block>,
//!   as quoted by <https://docs.rs/crate/slack-messaging/latest/source/src/blocks/header.rs>);
//!   "Incoming webhooks: 1 per second. Short bursts >1 allowed"
//!   (<https://api.slack-gov.com/apis/rate-limits>, and
//!   <https://api.slack.com/docs/rate-limits>) — the burst is not
//!   quantified, so it is not relied on.
//! * **Answers**: HTTP 200 with the body `ok`; errors are an HTTP status
//!   and a short string: 400 `invalid_payload` / `user_not_found`, 403
//!   `action_prohibited`, 404 `channel_not_found`, 410 `channel_is_archived`,
//!   500 `rollup_error`
//!   (<https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks>);
//!   over the rate limit 429 with a `Retry-After` header in seconds.
//!
//! The body is split into sections at blank lines, each at most 3,000
//! characters (a longer paragraph is cut with a marker); what does not fit
//! in 50 blocks is cut with a marker too.
//!
//! # Classification
//!
//! | answer | [`Answer`] |
//! |---|---|
//! | 200 `ok` | `Delivered` |
//! | 200 with another body (a proxy's page) | `Retry` |
//! | 429 | `Retry`, after `Retry-After` |
//! | 408, 5xx | `Retry` |
//! | 400, 403, 404, 410, any other | `GiveUp` with Slack's text |

use super::answer::{self, Secrets};
use super::cut::{cut_chars, cut_line, marker};
use super::escape::{clean_ids, unescape_entities};
use super::{Answer, Channel, ChatRequest, Markup, Message, RateLimit, redact_url};
use serde_json::{Value, json};
use std::fmt;
use std::time::{Duration, SystemTime};

/// A Slack incoming webhook.
///
/// ```
/// use evtrail::notify::{Channel, Markup, Slack};
///
/// let hook = Slack::webhook("https://hooks.slack.com/services/T000/B000/XXXXXXXXSECRET");
/// assert_eq!(hook.kind(), "slack");
/// assert_eq!(hook.markup(), Markup::SlackMrkdwn);
/// assert!(!format!("{hook:?}").contains("XXXXXXXXSECRET"));
/// ```
#[derive(Clone)]
pub struct Slack {
    url: String,
    secrets: Secrets,
}

impl Slack {
    /// The longest section text, in characters.
    pub const MAX_SECTION_CHARS: usize = 3_000;

    /// The longest header text, in characters.
    pub const MAX_HEADER_CHARS: usize = 150;

    /// The most blocks in one message.
    pub const MAX_BLOCKS: usize = 50;

    /// The most characters of body text in one message, all sections
    /// together.
    pub const MAX_BODY_CHARS: usize = 12_000;

    /// The documented limit: one message a second.
    pub const RATE_LIMIT: RateLimit = RateLimit {
        messages: 1,
        per: Duration::from_secs(1),
    };

    /// The webhook at `url` (any base URL; tests use a loopback server).
    pub fn webhook(url: impl Into<String>) -> Slack {
        let url = url.into();
        Slack {
            secrets: Secrets::from_url(&url),
            url,
        }
    }
}

/// `body` as section texts: paragraphs packed into sections of at most
/// `max` characters, a longer paragraph cut, at most `room` sections.
fn sections(body: &str, max: usize, room: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_chars = 0;
    for para in body.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let n = para.chars().count();
        if cur_chars > 0 && cur_chars + 2 + n <= max {
            cur.push_str("\n\n");
            cur.push_str(para);
            cur_chars += 2 + n;
            continue;
        }
        if cur_chars > 0 {
            out.push(std::mem::take(&mut cur));
        }
        cur = cut_chars(para, max).into_owned();
        cur_chars = cur.chars().count();
    }
    if cur_chars > 0 {
        out.push(cur);
    }
    if out.len() > room {
        let left: usize = out[room..].iter().map(|s| s.chars().count()).sum();
        out.truncate(room);
        if let Some(last) = out.last_mut() {
            let m = marker(left, "characters");
            let keep = max.saturating_sub(m.chars().count());
            let kept: String = last.chars().take(keep).collect();
            let extra = last.chars().count() - kept.chars().count();
            *last = format!("{kept}{}", marker(left + extra, "characters"));
        }
    }
    out
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

impl Channel for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn markup(&self) -> Markup {
        Markup::SlackMrkdwn
    }

    fn rate_limits(&self) -> Vec<RateLimit> {
        vec![Self::RATE_LIMIT]
    }

    fn request(&self, message: &Message, _now: SystemTime) -> ChatRequest {
        let title = message.title.trim();
        let m = &message.mentions;
        let mut ats: Vec<String> = clean_ids(&m.user_ids)
            .into_iter()
            .map(|id| format!("<@{id}>"))
            .collect();
        if m.all {
            ats.push("<!here>".to_owned());
        }
        let mut blocks = Vec::new();
        if !title.is_empty() {
            // A header is plain text: it shows entities as typed and parses
            // no mentions or links, so the unescaped title is safe there.
            let plain = unescape_entities(title);
            blocks.push(json!({
                "type": "header",
                "text": { "type": "plain_text", "text": cut_line(&plain, Self::MAX_HEADER_CHARS) },
            }));
        }
        let room = Self::MAX_BLOCKS - blocks.len() - usize::from(!ats.is_empty());
        let body = cut_chars(&message.body, Self::MAX_BODY_CHARS);
        for s in sections(&body, Self::MAX_SECTION_CHARS, room) {
            blocks.push(section(&s));
        }
        if !ats.is_empty() {
            blocks.push(section(&cut_chars(&ats.join(" "), Self::MAX_SECTION_CHARS)));
        }
        // The fallback shows in notifications; mentions there notify too.
        let mut fallback = if title.is_empty() {
            cut_chars(&message.body, Self::MAX_SECTION_CHARS).into_owned()
        } else {
            cut_chars(title, Self::MAX_SECTION_CHARS).into_owned()
        };
        if !ats.is_empty() {
            fallback.push(' ');
            fallback.push_str(&ats.join(" "));
        }
        let v = json!({ "text": fallback, "blocks": blocks });
        ChatRequest {
            url: self.url.clone(),
            headers: Vec::new(),
            body: serde_json::to_vec(&v).unwrap_or_default(),
        }
    }

    fn check(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> Answer {
        if status == 200 {
            if body.trim_ascii() == b"ok" {
                return Answer::Delivered;
            }
            return answer::not_api_json("Slack", status, body, &self.secrets);
        }
        let text = answer::snippet(body, &self.secrets);
        if answer::retryable_status(status) {
            Answer::Retry {
                code: None,
                reason: format!("HTTP {status}: {text}"),
                after: retry_after,
            }
        } else {
            Answer::GiveUp {
                code: None,
                reason: format!("HTTP {status}: {text}"),
            }
        }
    }
}

impl fmt::Debug for Slack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slack")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channel::Mentions;

    const URL: &str = "http://127.0.0.1:9/services/T000/B000/XXXXXXXXSECRET";

    fn message() -> Message {
        Message {
            id: "m1".into(),
            title: "payment_failed &amp; co".into(),
            body: "*code* E42 &lt;!here&gt;\n\nhost web-1".into(),
            mentions: Mentions {
                mobiles: vec!["13800000000".into()],
                user_ids: vec!["U012AB3CD".into()],
                all: true,
            },
        }
    }

    #[test]
    fn body_has_the_documented_shape() {
        let r = Slack::webhook(URL).request(&message(), SystemTime::UNIX_EPOCH);
        assert_eq!(r.url, URL);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            json!({
                "text": "payment_failed &amp; co <@U012AB3CD> <!here>",
                "blocks": [
                    { "type": "header", "text": { "type": "plain_text", "text": "payment_failed & co" } },
                    { "type": "section", "text": { "type": "mrkdwn", "text": "*code* E42 &lt;!here&gt;\n\nhost web-1" } },
                    { "type": "section", "text": { "type": "mrkdwn", "text": "<@U012AB3CD> <!here>" } },
                ],
            })
        );
    }

    #[test]
    fn sections_are_cut_per_section_by_characters() {
        let para = "é".repeat(5_000);
        let body = format!("{para}\n\nshort\n\n{para}");
        let s = sections(&body, Slack::MAX_SECTION_CHARS, 10);
        assert_eq!(s.len(), 3);
        for sec in &s {
            assert!(sec.chars().count() <= Slack::MAX_SECTION_CHARS);
        }
        assert!(s[0].ends_with("characters cut)"));
        assert_eq!(s[1], "short");
        // Too many paragraphs for the blocks left: the last section says so.
        let many = vec!["p"; 200].join("\n\n");
        let s = sections(&"x".repeat(2_999).replace('x', "y"), 3_000, 1);
        assert_eq!(s.len(), 1);
        let t = sections(&many.replace("p", &"p".repeat(2_000)), 3_000, 3);
        assert_eq!(t.len(), 3);
        assert!(t[2].chars().count() <= 3_000);
        assert!(
            t[2].ends_with("characters cut)"),
            "{}",
            &t[2][t[2].len() - 40..]
        );
        let r = Slack::webhook(URL).request(
            &Message {
                body: many.replace("p", &"p".repeat(2_000)),
                ..message()
            },
            SystemTime::UNIX_EPOCH,
        );
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.len() <= Slack::MAX_BLOCKS);
        let chars: usize = blocks[1..blocks.len() - 1]
            .iter()
            .map(|b| b["text"]["text"].as_str().unwrap().chars().count())
            .sum();
        assert!(chars <= Slack::MAX_BODY_CHARS + 2 * blocks.len(), "{chars}");
        let last = blocks[blocks.len() - 2]["text"]["text"].as_str().unwrap();
        assert!(last.ends_with("characters cut)"), "{last}");
        // Many short paragraphs: never more than the block limit.
        let r = Slack::webhook(URL).request(
            &Message {
                body: many,
                ..message()
            },
            SystemTime::UNIX_EPOCH,
        );
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["blocks"].as_array().unwrap().len() <= Slack::MAX_BLOCKS);
    }

    #[test]
    fn answers_classify() {
        let s = Slack::webhook(URL);
        assert_eq!(s.check(200, None, b"ok"), Answer::Delivered);
        assert!(matches!(
            s.check(200, None, b"<html>proxy</html>"),
            Answer::Retry { .. }
        ));
        let wait = Some(Duration::from_secs(30));
        assert_eq!(
            s.check(429, wait, b"rate_limited"),
            Answer::Retry {
                code: None,
                reason: "HTTP 429: rate_limited".into(),
                after: wait
            }
        );
        assert!(matches!(
            s.check(500, None, b"rollup_error"),
            Answer::Retry { .. }
        ));
        for (st, text) in [
            (400, "invalid_payload"),
            (403, "action_prohibited"),
            (404, "channel_not_found"),
            (404, "no_service"),
            (410, "channel_is_archived"),
        ] {
            assert_eq!(
                s.check(st, None, text.as_bytes()),
                Answer::GiveUp {
                    code: None,
                    reason: format!("HTTP {st}: {text}")
                }
            );
        }
    }

    #[test]
    fn no_url_secret_in_debug_or_reasons() {
        let s = Slack::webhook(URL);
        assert!(!format!("{s:?}").contains("XXXXXXXXSECRET"));
        let a = s.check(
            404,
            None,
            b"no_service for /services/T000/B000/XXXXXXXXSECRET",
        );
        assert!(!format!("{a:?}").contains("XXXXXXXXSECRET"), "{a:?}");
    }
}
