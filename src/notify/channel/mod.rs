//! The chat APIs a notification sink posts to: one file per
//! API, each turning a rendered [`Message`] into that API's request and
//! reading that API's answer.
//!
//! A [`Channel`] knows three things about its API and nothing about rules,
//! grouping or records: the request's shape (URL, query, headers, body,
//! signing), the API's limits (message size, messages per interval), and
//! what its answers mean — several of these APIs answer HTTP 200 with an
//! error code in the body, which is a failure.
//!
//! | channel | formats (default first) and markup | signing | rate limit | size |
//! |---|---|---|---|---|
//! | [`DingTalk`] | markdown (`Markdown`), text (`Text`) | `timestamp` + `sign` query | 20/min | body ≤ 20,000 bytes |
//! | [`WeCom`] | markdown (`Markdown`), text (`Text`) | none (`key=` is the credential) | 20/min | content ≤ 4,096 / 2,048 bytes |
//! | [`Feishu`] | card (`LarkMd`), post, text (`Text`) | `timestamp` + `sign` in the body | 100/min, 5/s | body ≤ 20,000 bytes |
//! | [`Slack`] | blocks (`SlackMrkdwn`) | none (the URL is the credential) | 1/s | section ≤ 3,000 characters |
//! | [`Webhook`] | the user's JSON (`Json`) | Standard Webhooks headers | 60/min, configurable | — |
//!
//! Each module documents its API with the pages it was checked against.
//! Texts over a limit are cut on a character boundary with a marker
//! (`… (1,234 bytes cut)`); a channel's `Debug` output and its answers'
//! reasons never show the webhook's credentials or a signing secret.

use std::fmt;
use std::time::{Duration, SystemTime};

mod answer;
mod cut;
mod dingtalk;
mod escape;
mod feishu;
mod sign;
mod slack;
mod webhook;
mod wecom;

pub use dingtalk::DingTalk;
pub use escape::escape;
pub use feishu::Feishu;
pub use slack::Slack;
pub use webhook::Webhook;
pub use wecom::WeCom;

/// The markup a channel's message text is written in: template values are
/// escaped for it (see [`escape`]), so a record's text shows literally and
/// cannot change the message's layout or mention anyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Markup {
    /// Plain text (DingTalk and WeCom `text`, Feishu `text` and `post`):
    /// only control characters are replaced.
    Text,
    /// The Markdown subset of DingTalk and WeCom robots.
    Markdown,
    /// Feishu/Lark's `lark_md`, the text of interactive cards.
    LarkMd,
    /// Slack's `mrkdwn`: `&`, `<` and `>` are escaped.
    SlackMrkdwn,
    /// A JSON document (the generic webhook's template): values are written
    /// as the inside of JSON strings.
    Json,
}

/// Who a message mentions: the rule's recipients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mentions {
    /// Phone numbers (DingTalk `atMobiles`, WeCom `mentioned_mobile_list`).
    pub mobiles: Vec<String>,
    /// User ids (DingTalk `atUserIds`, WeCom `mentioned_list`, Feishu
    /// `<at user_id="…">`, Slack `<@U…>`).
    pub user_ids: Vec<String>,
    /// Everyone in the group (DingTalk `isAtAll`, WeCom `@all`, Feishu
    /// `<at user_id="all">`, Slack `<!here>`).
    pub all: bool,
}

impl Mentions {
    /// Whether the message mentions no one.
    pub fn is_empty(&self) -> bool {
        self.mobiles.is_empty() && self.user_ids.is_empty() && !self.all
    }
}

/// One chat message, rendered: what a [`Channel`] puts into its API's
/// request.
#[derive(Clone, Debug, Default)]
pub struct Message {
    /// A unique id for this message (the generic webhook sends it as
    /// `webhook-id`; receivers de-duplicate retries by it).
    pub id: String,
    /// The title, in the channel's [`Markup`], values already escaped
    /// (DingTalk markdown `title`, Feishu card header, …). One line.
    pub title: String,
    /// The text, in the channel's [`Markup`], values already escaped.
    pub body: String,
    /// Who to mention.
    pub mentions: Mentions,
}

/// A request to send: built by [`Channel::request`].
///
/// `Debug` shows the URL with its credentials cut (see [`redact_url`]).
#[derive(Clone, Default)]
pub struct ChatRequest {
    /// The full URL, query included (credentials and signatures too).
    pub url: String,
    /// Headers besides `Content-Type: application/json`.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl fmt::Debug for ChatRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatRequest")
            .field("url", &redact_url(&self.url))
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// What an API's answer means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The message was accepted.
    Delivered,
    /// Not accepted now; try again later (rate limited, 5xx, a timeout).
    Retry {
        /// The API's own error code, when it gave one (`errcode`, `code`).
        code: Option<i64>,
        /// Why, in the API's words where it gave them.
        reason: String,
        /// How long the API asked to wait (`Retry-After`), if it did.
        after: Option<Duration>,
    },
    /// Refused for good (bad signature, keyword mismatch, unknown webhook,
    /// a malformed message): sending it again would fail again.
    GiveUp {
        /// The API's own error code, when it gave one.
        code: Option<i64>,
        /// Why, in the API's words where it gave them.
        reason: String,
    },
}

/// A messages-per-interval limit an API sets for one webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// At most this many messages…
    pub messages: u32,
    /// …in any window this long.
    pub per: Duration,
}

/// A chat API: how to send it a [`Message`] and what its answers mean.
///
/// The built-in channels are [`DingTalk`](super::DingTalk),
/// [`WeCom`](super::WeCom), [`Feishu`](super::Feishu),
/// [`Slack`](super::Slack) and [`Webhook`](super::Webhook); implement this
/// trait for another API.
pub trait Channel: Send + Sync + fmt::Debug {
    /// The API's name in `evtrail.push` records: `dingtalk`, `wecom`,
    /// `feishu`, `slack`, `webhook`.
    fn kind(&self) -> &'static str;

    /// The markup the message's title and body are written in.
    fn markup(&self) -> Markup;

    /// The API's limits on one webhook, strictest last; the sink never
    /// sends faster than any of them.
    fn rate_limits(&self) -> Vec<RateLimit>;

    /// The request that sends `message` at `now` (signing channels put the
    /// time in their signature). The text is cut to the API's size limits
    /// with a marker saying how much was left out; a request the API would
    /// refuse for its size is never built.
    fn request(&self, message: &Message, now: SystemTime) -> ChatRequest;

    /// What the API's answer means: `status` is the HTTP status,
    /// `retry_after` the `Retry-After` header if any, `body` the start of
    /// the answer.
    fn check(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> Answer;
}

/// `url` with the values of its query and the last segment of its path cut
/// to a few characters, for errors and `Debug` output: webhook URLs are
/// credentials (`access_token=…`, `key=…`, Slack's and Feishu's paths).
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len());
    // `user:password@` before the host is a credential too.
    let base = match base.split_once("//") {
        Some((scheme, rest)) => match rest
            .split('/')
            .next()
            .and_then(|authority| authority.rsplit_once('@'))
        {
            Some((_, host)) => {
                out.push_str(scheme);
                out.push_str("//…@");
                &rest[rest.find(host).unwrap_or(0)..]
            }
            None => base,
        },
        None => base,
    };
    // Keep scheme, host and all but the last path segment, which is cut
    // only when there is no query: URLs with a query (DingTalk, WeCom)
    // carry their credential there, the others (Slack, Feishu) in the path.
    match base.rfind('/') {
        Some(i)
            if query.is_none()
                && i + 1 < base.len()
                && base[..i].contains("//")
                && base[..i].matches('/').count() >= 3 =>
        {
            out.push_str(&base[..=i]);
            out.push_str(&cut(&base[i + 1..]));
        }
        _ => out.push_str(base),
    }
    if let Some(q) = query {
        out.push('?');
        for (n, pair) in q.split('&').enumerate() {
            if n > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((k, v)) => {
                    out.push_str(k);
                    out.push('=');
                    out.push_str(&cut(v));
                }
                None => out.push_str(&cut(pair)),
            }
        }
    }
    out
}

/// The first three characters of a secret, then `…`.
fn cut(secret: &str) -> String {
    if secret.chars().count() <= 3 {
        return "…".to_owned();
    }
    let mut s: String = secret.chars().take(3).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a record could try: mention everyone or someone, add a link,
    /// change the layout, leave its JSON string, reorder text.
    const HOSTILE: &str = "<!here> <@U999> <at user_id=\"all\"></at> <@all> @13800000000 [x](http://evil) \"},{\"x\":1 \u{202E}rev\n# big\n- item";

    #[test]
    fn escaped_record_values_cannot_mention_link_or_break_out_in_any_channel() {
        let channels: Vec<Box<dyn Channel>> = vec![
            Box::new(DingTalk::webhook(
                "http://127.0.0.1:9/robot/send?access_token=t",
            )),
            Box::new(DingTalk::webhook("http://127.0.0.1:9/robot/send?access_token=t").text()),
            Box::new(WeCom::webhook(
                "http://127.0.0.1:9/cgi-bin/webhook/send?key=k",
            )),
            Box::new(WeCom::webhook("http://127.0.0.1:9/cgi-bin/webhook/send?key=k").text()),
            Box::new(Feishu::webhook(
                "http://127.0.0.1:9/open-apis/bot/v2/hook/h",
            )),
            Box::new(Feishu::webhook("http://127.0.0.1:9/open-apis/bot/v2/hook/h").post()),
            Box::new(Slack::webhook("http://127.0.0.1:9/services/T/B/x")),
        ];
        for ch in channels {
            let mut title = String::new();
            escape(ch.markup(), HOSTILE, &mut title);
            let mut body = String::from("value: ");
            escape(ch.markup(), HOSTILE, &mut body);
            let m = Message {
                id: "1".into(),
                title,
                body,
                mentions: Mentions::default(),
            };
            let r = ch.request(&m, SystemTime::UNIX_EPOCH);
            // Still one well-formed JSON document with the API's own keys.
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert!(v.get("x").is_none(), "{ch:?}");
            let text = String::from_utf8(r.body.clone()).unwrap();
            assert!(!text.contains('\u{202E}'), "{ch:?}");
            match ch.markup() {
                Markup::Markdown => {
                    assert!(
                        !text.contains("<@") && !text.contains("@138") && !text.contains("](http"),
                        "{ch:?}: {text}"
                    );
                }
                Markup::LarkMd => assert!(
                    !text.contains("<at") && !text.contains("<@"),
                    "{ch:?}: {text}"
                ),
                Markup::SlackMrkdwn => {
                    // Only the header (plain text, which parses nothing) may
                    // show the characters; no mrkdwn text may.
                    for block in v["blocks"].as_array().unwrap() {
                        if block["text"]["type"] == "mrkdwn" {
                            let t = block["text"]["text"].as_str().unwrap();
                            assert!(!t.contains("<!") && !t.contains("<@"), "{t}");
                        }
                    }
                    assert!(!v["text"].as_str().unwrap().contains("<!here>"));
                }
                Markup::Text | Markup::Json => {}
            }
        }
    }

    #[test]
    fn redacted_urls_keep_where_but_not_the_credentials() {
        assert_eq!(
            redact_url(
                "https://oapi.dingtalk.com/robot/send?access_token=abcdef123456&timestamp=1&sign=xyz%2B"
            ),
            "https://oapi.dingtalk.com/robot/send?access_token=abc…&timestamp=…&sign=xyz…"
        );
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T000/B000/XXXXXXXXSECRET"),
            "https://hooks.slack.com/services/T000/B000/XXX…"
        );
        assert_eq!(
            redact_url("https://open.feishu.cn/open-apis/bot/v2/hook/0123-4567"),
            "https://open.feishu.cn/open-apis/bot/v2/hook/012…"
        );
        assert_eq!(redact_url("http://127.0.0.1:9/"), "http://127.0.0.1:9/");
        assert_eq!(
            redact_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx"),
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693…"
        );
        assert_eq!(
            redact_url("https://bot:hunter22@alerts.example.com/hook"),
            "https://…@alerts.example.com/hook"
        );
        assert_eq!(redact_url("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }
}
