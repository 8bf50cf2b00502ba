//! The WeCom group robot (企业微信群机器人): request shape, limits and
//! answers.
//!
//! # The API, as documented
//!
//! * **Request**: `POST` the robot's webhook URL
//!   (`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`; the `key`
//!   is the only credential, there is no signing), UTF-8 JSON:
//!   `{"msgtype":"text","text":{"content":…,"mentioned_list":[…],"mentioned_mobile_list":[…]}}`
//!   (`"@all"` in either list mentions everyone) or
//!   `{"msgtype":"markdown","markdown":{"content":…}}`, where `<@userid>`
//!   in the content mentions a member.
//!   <https://work.weixin.qq.com/api/doc/90000/90136/91770> (also
//!   <https://developer.work.weixin.qq.com/document/path/91770>)
//! * **Limits**: text content at most 2,048 bytes, markdown content at most
//!   4,096 bytes, UTF-8; at most 20 messages a minute per robot (same page).
//! * **Answers**: `{"errcode":…,"errmsg":…}`, `errcode` 0 delivered.
//!   WeCom's global return codes (a mirror:
//!   <https://static.kancloud.cn/dabashan/qiwei/2376083>) say `-1` is
//!   "system busy, retry later"; `40058` is an invalid parameter, which is
//!   what a markdown content over 4,096 bytes answers ("markdown.content
//!   exceed max length 4096", <https://github.com/dromara/domain-admin/issues/82>);
//!   `45009` is the API frequency limit and `93000` an invalid webhook
//!   URL, as projects using the robot report (not re-confirmed in a
//!   document of WeCom's own).
//!
//! Markdown messages can mention user ids only (`<@userid>`); phone
//! numbers and "everyone" need [`WeCom::text`].
//!
//! # Classification
//!
//! | answer | [`Answer`] |
//! |---|---|
//! | 200 + `errcode` 0 | `Delivered` |
//! | `errcode` 45009, -1 | `Retry` (45009 after a minute, the limit's window) |
//! | `errcode` 40058, 93000, any other | `GiveUp` with the code and `errmsg` |
//! | 200 without WeCom's JSON | `Retry` |
//! | 408, 429, 5xx | `Retry` |
//! | any other status | `GiveUp` |

use super::answer::{self, Secrets, Verdict};
use super::cut::{cut_bytes, cut_line};
use super::escape::clean_ids;
use super::{Answer, Channel, ChatRequest, Markup, Message, RateLimit, redact_url};
use serde_json::json;
use std::fmt;
use std::time::{Duration, SystemTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Markdown,
}

/// A WeCom group robot.
///
/// ```
/// use evtrail::notify::{Channel, Markup, WeCom};
///
/// let robot = WeCom::webhook("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx");
/// assert_eq!(robot.kind(), "wecom");
/// assert_eq!(robot.markup(), Markup::Markdown);
/// assert!(!format!("{robot:?}").contains("693a91f6-7xxx"));
/// ```
#[derive(Clone)]
pub struct WeCom {
    url: String,
    format: Format,
    secrets: Secrets,
}

impl WeCom {
    /// The longest `text` content, in UTF-8 bytes.
    pub const MAX_TEXT_BYTES: usize = 2_048;

    /// The longest `markdown` content, in UTF-8 bytes.
    pub const MAX_MARKDOWN_BYTES: usize = 4_096;

    /// The longest title line, in characters.
    pub const MAX_TITLE_CHARS: usize = 128;

    /// The documented limit: 20 messages a minute per robot.
    pub const RATE_LIMIT: RateLimit = RateLimit {
        messages: 20,
        per: Duration::from_secs(60),
    };

    /// The robot at `url`: its full webhook URL, `key` included (any base
    /// URL; tests use a loopback server). Markdown messages by default.
    pub fn webhook(url: impl Into<String>) -> WeCom {
        let url = url.into();
        WeCom {
            secrets: Secrets::from_url(&url),
            url,
            format: Format::Markdown,
        }
    }

    /// Send `text` messages ([`Markup::Text`]), mentioning with
    /// `mentioned_list` / `mentioned_mobile_list`.
    pub fn text(mut self) -> WeCom {
        self.format = Format::Text;
        self
    }

    /// Send `markdown` messages ([`Markup::Markdown`]), mentioning user ids
    /// as `<@userid>`; the default.
    pub fn markdown(mut self) -> WeCom {
        self.format = Format::Markdown;
        self
    }
}

fn known(code: i64) -> Option<(Verdict, &'static str)> {
    Some(match code {
        45009 => (
            Verdict::Retry(Some(Duration::from_secs(60))),
            "sending too fast",
        ),
        -1 => (Verdict::Retry(None), "system busy"),
        40058 => (
            Verdict::GiveUp,
            "invalid parameter, such as a message too long",
        ),
        93000 => (Verdict::GiveUp, "invalid webhook URL"),
        _ => return None,
    })
}

/// `title`, a blank line and `body`, or whichever is not empty.
fn join(title: &str, sep: &str, body: &str) -> String {
    match (title.is_empty(), body.is_empty()) {
        (true, _) => body.to_owned(),
        (false, true) => title.to_owned(),
        (false, false) => format!("{title}{sep}{body}"),
    }
}

impl Channel for WeCom {
    fn kind(&self) -> &'static str {
        "wecom"
    }

    fn markup(&self) -> Markup {
        match self.format {
            Format::Text => Markup::Text,
            Format::Markdown => Markup::Markdown,
        }
    }

    fn rate_limits(&self) -> Vec<RateLimit> {
        vec![Self::RATE_LIMIT]
    }

    fn request(&self, message: &Message, _now: SystemTime) -> ChatRequest {
        let m = &message.mentions;
        let user_ids: Vec<String> = clean_ids(&m.user_ids);
        let title = cut_line(message.title.trim(), Self::MAX_TITLE_CHARS);
        let title = title.as_ref();
        let v = match self.format {
            Format::Text => {
                let mut mentioned: Vec<String> = user_ids;
                let mobiles: Vec<String> = clean_ids(&m.mobiles);
                if m.all {
                    mentioned.push("@all".to_owned());
                }
                let content = join(title, "\n", &message.body);
                let content = cut_bytes(&content, Self::MAX_TEXT_BYTES);
                let mut text = json!({ "content": content });
                if !mentioned.is_empty() {
                    text["mentioned_list"] = json!(mentioned);
                }
                if !mobiles.is_empty() {
                    text["mentioned_mobile_list"] = json!(mobiles);
                }
                json!({ "msgtype": "text", "text": text })
            }
            Format::Markdown => {
                let at_line = user_ids
                    .iter()
                    .map(|id| format!("<@{id}>"))
                    .collect::<Vec<_>>()
                    .join(" ");
                let tail = if at_line.is_empty() {
                    String::new()
                } else {
                    format!("\n\n{at_line}")
                };
                let heading = if title.is_empty() {
                    String::new()
                } else {
                    format!("### {title}")
                };
                let content = join(&heading, "\n\n", &message.body);
                let budget = Self::MAX_MARKDOWN_BYTES.saturating_sub(tail.len());
                let content = format!("{}{tail}", cut_bytes(&content, budget));
                json!({ "msgtype": "markdown", "markdown": { "content": content } })
            }
        };
        ChatRequest {
            url: self.url.clone(),
            headers: Vec::new(),
            body: serde_json::to_vec(&v).unwrap_or_default(),
        }
    }

    fn check(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> Answer {
        let found = answer::read_code(body, &["errcode"], &["errmsg"]);
        answer::classify(
            "WeCom",
            status,
            retry_after,
            body,
            found,
            known,
            &self.secrets,
        )
    }
}

impl fmt::Debug for WeCom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeCom")
            .field("url", &redact_url(&self.url))
            .field("format", &self.format)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channel::Mentions;
    use serde_json::Value;

    const URL: &str = "http://127.0.0.1:9/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4";

    fn message() -> Message {
        Message {
            id: "m1".into(),
            title: "TaskOverdue".into(),
            body: "task **t1** overdue".into(),
            mentions: Mentions {
                mobiles: vec!["13800001111".into()],
                user_ids: vec!["wangqing".into()],
                all: false,
            },
        }
    }

    fn content(r: &ChatRequest, kind: &str) -> String {
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        v[kind]["content"].as_str().unwrap().to_owned()
    }

    #[test]
    fn markdown_body_has_the_documented_shape() {
        let r = WeCom::webhook(URL).request(&message(), SystemTime::UNIX_EPOCH);
        assert_eq!(r.url, URL);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            json!({
                "msgtype": "markdown",
                "markdown": { "content": "### TaskOverdue\n\ntask **t1** overdue\n\n<@wangqing>" },
            })
        );
    }

    #[test]
    fn text_body_has_the_documented_shape() {
        let mut m = message();
        m.mentions.all = true;
        let robot = WeCom::webhook(URL).text();
        assert_eq!(robot.markup(), Markup::Text);
        let v: Value =
            serde_json::from_slice(&robot.request(&m, SystemTime::UNIX_EPOCH).body).unwrap();
        assert_eq!(
            v,
            json!({
                "msgtype": "text",
                "text": {
                    "content": "TaskOverdue\ntask **t1** overdue",
                    "mentioned_list": ["wangqing", "@all"],
                    "mentioned_mobile_list": ["13800001111"],
                },
            })
        );
        // No mentions: no lists.
        m.mentions = Mentions::default();
        let v: Value =
            serde_json::from_slice(&robot.request(&m, SystemTime::UNIX_EPOCH).body).unwrap();
        assert_eq!(
            v,
            json!({ "msgtype": "text", "text": { "content": "TaskOverdue\ntask **t1** overdue" } })
        );
    }

    #[test]
    fn content_is_cut_to_the_documented_byte_limits() {
        let mut m = message();
        m.body = "错误🙂".repeat(2_000);
        let c = content(
            &WeCom::webhook(URL).request(&m, SystemTime::UNIX_EPOCH),
            "markdown",
        );
        assert!(c.len() <= WeCom::MAX_MARKDOWN_BYTES, "{}", c.len());
        assert!(c.len() > WeCom::MAX_MARKDOWN_BYTES - 8);
        assert!(
            c.ends_with("bytes cut)\n\n<@wangqing>"),
            "{}",
            &c[c.len() - 60..]
        );
        let c = content(
            &WeCom::webhook(URL)
                .text()
                .request(&m, SystemTime::UNIX_EPOCH),
            "text",
        );
        assert!(c.len() <= WeCom::MAX_TEXT_BYTES, "{}", c.len());
        assert!(c.ends_with("bytes cut)"));
        // Exactly at the limit: untouched.
        m.title = String::new();
        m.body = "a".repeat(WeCom::MAX_TEXT_BYTES);
        let c = content(
            &WeCom::webhook(URL)
                .text()
                .request(&m, SystemTime::UNIX_EPOCH),
            "text",
        );
        assert_eq!(c, m.body);
    }

    #[test]
    fn answers_classify() {
        let w = WeCom::webhook(URL);
        assert_eq!(
            w.check(200, None, br#"{"errcode":0,"errmsg":"ok"}"#),
            Answer::Delivered
        );
        assert!(matches!(
            w.check(
                200,
                None,
                br#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
            ),
            Answer::Retry {
                code: Some(45009),
                after: Some(_),
                ..
            }
        ));
        assert!(matches!(
            w.check(200, None, br#"{"errcode":-1,"errmsg":"system busy"}"#),
            Answer::Retry { .. }
        ));
        for code in [40058, 93000, 40008] {
            let body = format!(r#"{{"errcode":{code},"errmsg":"invalid"}}"#);
            assert!(
                matches!(w.check(200, None, body.as_bytes()), Answer::GiveUp { code: Some(c), .. } if c == code)
            );
        }
        assert!(matches!(
            w.check(200, None, b"<html></html>"),
            Answer::Retry { code: None, .. }
        ));
        assert!(matches!(w.check(502, None, b""), Answer::Retry { .. }));
        assert!(matches!(w.check(404, None, b""), Answer::GiveUp { .. }));
    }

    #[test]
    fn no_key_in_debug_or_reasons() {
        let w = WeCom::webhook(URL);
        assert!(!format!("{w:?}").contains("693a91f6-7xxx-4bc4"));
        let a = w.check(
            200,
            None,
            br#"{"errcode":93000,"errmsg":"invalid webhook url, key=693a91f6-7xxx-4bc4"}"#,
        );
        assert!(!format!("{a:?}").contains("693a91f6-7xxx-4bc4"), "{a:?}");
    }
}
