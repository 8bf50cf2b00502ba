//! The DingTalk custom group robot (钉钉自定义机器人): request shape,
//! signing, limits and answers.
//!
//! # The API, as documented
//!
//! * **Request**: `POST` the robot's webhook URL
//!   (`https://oapi.dingtalk.com/robot/send?access_token=…`), UTF-8 JSON:
//!   `{"msgtype":"markdown","markdown":{"title":…,"text":…},"at":{"atMobiles":[…],"atUserIds":[…],"isAtAll":…}}`
//!   or `{"msgtype":"text","text":{"content":…},"at":{…}}`. A mentioned
//!   mobile or user id is highlighted only if `@<it>` also appears in the
//!   text. <https://open.dingtalk.com/document/group/custom-robot-access>,
//!   <https://open.dingtalk.com/document/development/robot-message-type>
//!   In markdown a lone newline is a soft break
//!   (<https://cscoder.cn/docs/open/aliyun/robot-messages-markdown.html>
//!   advises spaces around `\n`): each becomes `"  \n"`, a hard break.
//! * **Signing** ("加签"): `timestamp` (milliseconds, within an hour of
//!   DingTalk's clock) and `sign` query parameters, where `sign` is
//!   `urlEncode(base64(HmacSHA256(key = secret, msg = timestamp + "\n" + secret)))`
//!   and the secret is the `SEC…` string of the robot's security settings.
//!   (The documentation's Java and Python samples, reproduced at
//!   <https://apifox.com/apidoc/docs-site/467052/doc-3550006>.)
//! * **Answers**: HTTP 200 with `{"errcode":…,"errmsg":…}`; only
//!   `errcode` 0 is delivered. `310000` is a keyword, signature or IP
//!   allow-list mismatch ("sign not match",
//!   <https://cloud.tencent.com/developer/article/1834468>); `130101` is
//!   "send too fast, exceed 20 times per minute"; `-1` is DingTalk's
//!   global "system busy, retry" (<https://mabiji.com/dingtalk/errcode.html>);
//!   `460101` is "message too long, exceed 20000 bytes" / "body 大小不合法;
//!   请保持大小在 20000bytes 以内" (<https://github.com/feiyu563/PrometheusAlert/issues/318>,
//!   <https://github.com/Le0nsec/SecCrawler/issues/12>) and `101002`
//!   "message is too long" (<https://github.com/timonwong/prometheus-webhook-dingtalk/issues/30>).
//! * **Limits**: 20 messages a minute per robot; over it the robot is
//!   throttled for 10 minutes ("每个机器人每分钟最多发送20条。如果超过20条，会限流10分钟",
//!   <http://zhuoqun.info/article/182>); a request body of at most 20,000
//!   bytes (the `460101` answer above), which the text is cut to fit.
//!
//! # Classification
//!
//! | answer | [`Answer`] |
//! |---|---|
//! | 200 + `errcode` 0 | `Delivered` |
//! | `errcode` 130101 | `Retry`, after 10 minutes unless `Retry-After` says otherwise |
//! | `errcode` -1 | `Retry` |
//! | `errcode` 310000, 460101, 101002, any other | `GiveUp` with the code and `errmsg` |
//! | 200 without DingTalk's JSON (a gateway's HTML page) | `Retry` |
//! | 408, 429, 5xx | `Retry` |
//! | any other status | `GiveUp` |

use super::answer::{self, Secrets, Verdict};
use super::cut::{cut_line, fit_body};
use super::escape::clean_ids;
use super::sign::{append_query, hmac_base64, unix_millis, url_encode};
use super::{Answer, Channel, ChatRequest, Markup, Message, RateLimit, redact_url};
use serde_json::json;
use std::fmt;
use std::time::{Duration, SystemTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Markdown,
}

/// A DingTalk custom group robot.
///
/// ```
/// use evtrail::notify::{Channel, DingTalk, Markup};
///
/// let robot = DingTalk::webhook("https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef")
///     .secret("SEC0123456789abcdef");
/// assert_eq!(robot.kind(), "dingtalk");
/// assert_eq!(robot.markup(), Markup::Markdown);
/// // Neither the token nor the secret shows.
/// let shown = format!("{robot:?}");
/// assert!(!shown.contains("0123456789abcdef"));
/// ```
#[derive(Clone)]
pub struct DingTalk {
    url: String,
    secret: Option<String>,
    format: Format,
    secrets: Secrets,
}

impl DingTalk {
    /// The largest request body sent, in bytes: the text is cut, with a
    /// marker, to keep the body within it.
    pub const MAX_BODY_BYTES: usize = 20_000;

    /// The longest markdown `title` (the notification preview), in
    /// characters.
    pub const MAX_TITLE_CHARS: usize = 128;

    /// The documented limit: 20 messages a minute per robot.
    pub const RATE_LIMIT: RateLimit = RateLimit {
        messages: 20,
        per: Duration::from_secs(60),
    };

    /// How long DingTalk throttles a robot that sent too fast (`130101`).
    pub const THROTTLE: Duration = Duration::from_secs(600);

    /// The robot at `url`: its full webhook URL, `access_token` included
    /// (any base URL; tests use a loopback server). Markdown messages,
    /// unsigned, by default.
    pub fn webhook(url: impl Into<String>) -> DingTalk {
        let url = url.into();
        DingTalk {
            secrets: Secrets::from_url(&url),
            url,
            secret: None,
            format: Format::Markdown,
        }
    }

    /// Sign each request with the robot's secret (the `SEC…` string of its
    /// "加签" security setting). Default: unsigned.
    pub fn secret(mut self, secret: impl Into<String>) -> DingTalk {
        let secret = secret.into();
        self.secrets.add(&secret);
        self.secret = Some(secret);
        self
    }

    /// Send `text` messages ([`Markup::Text`]).
    pub fn text(mut self) -> DingTalk {
        self.format = Format::Text;
        self
    }

    /// Send `markdown` messages ([`Markup::Markdown`]); the default.
    pub fn markdown(mut self) -> DingTalk {
        self.format = Format::Markdown;
        self
    }

    /// The `sign` query value for `timestamp_ms`, before URL encoding.
    fn sign(secret: &str, timestamp_ms: u128) -> String {
        hmac_base64(
            secret.as_bytes(),
            format!("{timestamp_ms}\n{secret}").as_bytes(),
        )
    }
}

/// `text` with each line break made a hard one (`"  \n"`), blank lines
/// (paragraph breaks) left alone.
fn hard_breaks(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut prev = '\n';
    for (i, c) in text.char_indices() {
        if c == '\n' && prev != '\n' && !text[i + 1..].starts_with('\n') {
            out.push_str("  ");
        }
        out.push(c);
        prev = c;
    }
    out
}

/// The markdown `title` is the plain-text preview in the chat list and the
/// phone's notification: the title without the escapes of characters that
/// are common in event names (`payment\_failed` shows as `payment_failed`).
/// Escapes that keep links and mentions from forming stay.
fn preview(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    let mut chars = title.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && matches!(
                next,
                '_' | '*' | '`' | '#' | '~' | '|' | '!' | '-' | '+' | '.' | '\\'
            )
        {
            continue;
        }
        out.push(c);
    }
    out
}

fn known(code: i64) -> Option<(Verdict, &'static str)> {
    Some(match code {
        130101 => (
            Verdict::Retry(Some(DingTalk::THROTTLE)),
            "sending too fast; the robot is throttled",
        ),
        -1 => (Verdict::Retry(None), "system busy"),
        310000 => (
            Verdict::GiveUp,
            "keyword, signature or IP allow-list mismatch",
        ),
        460101 | 101002 => (Verdict::GiveUp, "message too long"),
        _ => return None,
    })
}

impl Channel for DingTalk {
    fn kind(&self) -> &'static str {
        "dingtalk"
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

    fn request(&self, message: &Message, now: SystemTime) -> ChatRequest {
        let m = &message.mentions;
        let mobiles: Vec<String> = clean_ids(&m.mobiles);
        let user_ids: Vec<String> = clean_ids(&m.user_ids);
        // DingTalk highlights a mention only when `@<id>` is also in the text.
        let at_line = mobiles
            .iter()
            .chain(&user_ids)
            .map(|id| format!("@{id}"))
            .collect::<Vec<_>>()
            .join(" ");
        let at = json!({ "atMobiles": mobiles, "atUserIds": user_ids, "isAtAll": m.all });
        let title = cut_line(message.title.trim(), Self::MAX_TITLE_CHARS);
        let format = self.format;
        let build = |body: &str| {
            let mut text = String::new();
            if format == Format::Markdown && !title.is_empty() {
                text.push_str("#### ");
                text.push_str(&title);
                text.push_str("\n\n");
            } else if !title.is_empty() {
                text.push_str(&title);
                text.push('\n');
            }
            text.push_str(body);
            if !at_line.is_empty() {
                text.push_str("\n\n");
                text.push_str(&at_line);
            }
            let v = match format {
                // A lone newline is a soft break in DingTalk's markdown; two
                // trailing spaces make it the line break the text means.
                Format::Markdown => json!({
                    "msgtype": "markdown",
                    "markdown": { "title": preview(&title), "text": hard_breaks(&text) },
                    "at": at,
                }),
                Format::Text => json!({
                    "msgtype": "text",
                    "text": { "content": text },
                    "at": at,
                }),
            };
            serde_json::to_vec(&v).unwrap_or_default()
        };
        let body = fit_body(&message.body, Self::MAX_BODY_BYTES, build);
        let url = match &self.secret {
            Some(secret) => {
                let ts = unix_millis(now);
                let sign = url_encode(&Self::sign(secret, ts));
                append_query(
                    &self.url,
                    &[("timestamp", &ts.to_string()), ("sign", &sign)],
                )
            }
            None => self.url.clone(),
        };
        ChatRequest {
            url,
            headers: Vec::new(),
            body,
        }
    }

    fn check(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> Answer {
        let found = answer::read_code(body, &["errcode"], &["errmsg"]);
        answer::classify(
            "DingTalk",
            status,
            retry_after,
            body,
            found,
            known,
            &self.secrets,
        )
    }
}

impl fmt::Debug for DingTalk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DingTalk")
            .field("url", &redact_url(&self.url))
            .field("signed", &self.secret.is_some())
            .field("format", &self.format)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channel::Mentions;
    use base64::Engine as _;
    use hmac::{Hmac, KeyInit, Mac};
    use serde_json::Value;
    use sha2::Sha256;

    const URL: &str = "http://127.0.0.1:9/robot/send?access_token=tok_0123456789";
    const SECRET: &str = "SECabcdef0123456789";

    fn message() -> Message {
        Message {
            id: "m1".into(),
            title: "payment\\_failed ×3".into(),
            body: "**code** E42".into(),
            mentions: Mentions {
                mobiles: vec!["13800000000".into()],
                user_ids: vec!["user01".into()],
                all: false,
            },
        }
    }

    fn body(r: &ChatRequest) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn markdown_body_has_the_documented_shape() {
        let m = Message {
            body: "**code** E42\nline 2".into(),
            ..message()
        };
        let r = DingTalk::webhook(URL).request(&m, SystemTime::UNIX_EPOCH);
        assert_eq!(r.url, URL);
        assert!(r.headers.is_empty());
        assert_eq!(
            body(&r),
            json!({
                "msgtype": "markdown",
                "markdown": {
                    "title": "payment_failed ×3",
                    "text": "#### payment\\_failed ×3\n\n**code** E42  \nline 2\n\n@13800000000 @user01",
                },
                "at": { "atMobiles": ["13800000000"], "atUserIds": ["user01"], "isAtAll": false },
            })
        );
    }

    #[test]
    fn lone_newlines_become_hard_breaks() {
        assert_eq!(hard_breaks("a\nb\n\nc\n"), "a  \nb\n\nc  \n");
        assert_eq!(hard_breaks("\n\n"), "\n\n");
    }

    #[test]
    fn text_body_has_the_documented_shape() {
        let mut m = message();
        m.mentions = Mentions {
            all: true,
            ..Mentions::default()
        };
        let robot = DingTalk::webhook(URL).text();
        assert_eq!(robot.markup(), Markup::Text);
        let r = robot.request(&m, SystemTime::UNIX_EPOCH);
        assert_eq!(
            body(&r),
            json!({
                "msgtype": "text",
                "text": { "content": "payment\\_failed ×3\n**code** E42" },
                "at": { "atMobiles": [], "atUserIds": [], "isAtAll": true },
            })
        );
    }

    #[test]
    fn signature_follows_the_documented_algorithm() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let r = DingTalk::webhook(URL)
            .secret(SECRET)
            .request(&message(), now);
        // Computed here from the documentation, independently of the code.
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("1700000000123\n{SECRET}").as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let encoded = b64
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        assert_eq!(
            r.url,
            format!("{URL}&timestamp=1700000000123&sign={encoded}")
        );
        // A known vector, pinned literally.
        assert_eq!(
            DingTalk::sign("this is secret", 1_577_836_800_000),
            "fFV9t5lBS7KH4+5B0JjR99ab+AJkXFauQXycgTkS/tc="
        );
    }

    #[test]
    fn a_long_text_is_cut_to_the_body_limit() {
        let mut m = message();
        m.body = "日志内容\"<>".repeat(4_000);
        let r = DingTalk::webhook(URL).request(&m, SystemTime::UNIX_EPOCH);
        assert!(r.body.len() <= DingTalk::MAX_BODY_BYTES, "{}", r.body.len());
        assert!(r.body.len() > DingTalk::MAX_BODY_BYTES - 64);
        let text = body(&r)["markdown"]["text"].as_str().unwrap().to_owned();
        assert!(text.contains("bytes cut)"), "{}", &text[text.len() - 80..]);
        // The mentions survive the cut.
        assert!(text.ends_with("@13800000000 @user01"));
    }

    #[test]
    fn answers_classify() {
        let d = DingTalk::webhook(URL);
        assert_eq!(
            d.check(200, None, br#"{"errcode":0,"errmsg":"ok"}"#),
            Answer::Delivered
        );
        match d.check(
            200,
            None,
            br#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#,
        ) {
            Answer::Retry {
                code: Some(130101),
                after: Some(a),
                reason,
            } => {
                assert_eq!(a, DingTalk::THROTTLE);
                assert!(reason.contains("send too fast"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            d.check(200, None, br#"{"errcode":-1,"errmsg":"busy"}"#),
            Answer::Retry { code: Some(-1), .. }
        ));
        for code in [310000, 460101, 101002, 300001] {
            let body = format!(r#"{{"errcode":{code},"errmsg":"nope"}}"#);
            match d.check(200, None, body.as_bytes()) {
                Answer::GiveUp {
                    code: Some(c),
                    reason,
                } => {
                    assert_eq!(c, code);
                    assert!(reason.contains("nope"), "{reason}");
                }
                other => panic!("{code}: {other:?}"),
            }
        }
        match d.check(200, None, b"<html><body>502 Bad Gateway</body></html>") {
            Answer::Retry {
                code: None, reason, ..
            } => assert!(reason.contains("not DingTalk's JSON"), "{reason}"),
            other => panic!("{other:?}"),
        }
        for st in [408, 429, 500, 503] {
            assert!(
                matches!(d.check(st, None, b""), Answer::Retry { .. }),
                "{st}"
            );
        }
        for st in [400, 403, 404] {
            assert!(
                matches!(d.check(st, None, b"no"), Answer::GiveUp { .. }),
                "{st}"
            );
        }
    }

    #[test]
    fn no_secret_in_debug_or_reasons() {
        let d = DingTalk::webhook(URL).secret(SECRET);
        let dbg = format!("{d:?}");
        assert!(!dbg.contains("0123456789"), "{dbg}");
        assert!(!dbg.contains("abcdef"), "{dbg}");
        let echo = format!(
            "<html>bad request /robot/send?access_token=tok_0123456789 secret {SECRET}</html>"
        );
        let a = d.check(400, None, echo.as_bytes());
        let shown = format!("{a:?}");
        assert!(
            !shown.contains("tok_0123456789") && !shown.contains(SECRET),
            "{shown}"
        );
        let r = d.request(&message(), SystemTime::UNIX_EPOCH);
        let shown = format!("{r:?}");
        assert!(!shown.contains("tok_0123456789"), "{shown}");
    }
}
