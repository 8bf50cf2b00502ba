//! The Feishu / Lark custom bot (飞书自定义机器人): request shape, signing,
//! limits and answers.
//!
//! # The API, as documented
//!
//! * **Request**: `POST` the bot's webhook URL
//!   (`https://open.feishu.cn/open-apis/bot/v2/hook/…`, or
//!   `https://open.larksuite.com/…` for Lark; the last path segment is the
//!   credential), JSON with `msg_type` `text`
//!   (`{"content":{"text":…}}`), `post` (rich text,
//!   `{"content":{"post":{"zh_cn":{"title":…,"content":[[{"tag":"text","text":…}],…]}}}}`)
//!   or `interactive` (a card: `{"card":{"header":{"title":{"tag":"plain_text","content":…}},"elements":[{"tag":"div","text":{"tag":"lark_md","content":…}}]}}`).
//!   Mentions: `<at user_id="ou_…"></at>` in text (`"all"` for everyone),
//!   a `{"tag":"at","user_id":…}` element in a post, `<at id=…></at>` in
//!   card markdown (Feishu's FAQ, <https://apifox.com/apidoc/docs-site/532425/doc-1944903>).
//!   <https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot>
//! * **Signing** ("签名校验"): `"timestamp"` (seconds, as a string, within
//!   an hour) and `"sign"` in the body, `sign` =
//!   `base64(HmacSHA256(key = timestamp + "\n" + secret, msg = ""))`, not
//!   URL-encoded — note the key/message order differs from DingTalk's
//!   (<https://m.down10s.com/jiaocheng/5605312225.html>,
//!   <https://blog.csdn.net/zhanglili1993/article/details/136473704>).
//! * **Answers**: `{"code":0,"msg":"success",…}`; older deployments also
//!   send `"StatusCode":0` (<http://gantiao.com.cn/post/18861410.html>
//!   quotes the redundant fields). `19021` is "sign match fail or timestamp
//!   is not within one hour", `19022` an IP not allowed, `19024` a keyword
//!   missing, `19036` a body too large, `9499` a bad request; `11232` is
//!   the message rate limit, answered with HTTP 400
//!   (<https://gitea.4nathan.com/liuyu/openclaw/commit/90c787096>).
//! * **Limits**: 100 messages a minute and 5 a second per bot; a body of
//!   at most 20 KB (<https://docs.flashcat.cloud/en/flashduty/lark-integration-guide>
//!   and the custom-bot guide). The body is kept within 20,000 bytes.
//!
//! Feishu mentions user ids (`ou_…`, `on_…` or user ids) and everyone;
//! [`Mentions::mobiles`](super::Mentions::mobiles) are not mentioned.
//!
//! # Classification
//!
//! | answer | [`Answer`] |
//! |---|---|
//! | 2xx + `code` (or `StatusCode`) 0 | `Delivered` |
//! | `code` 11232, whatever the status | `Retry`, after a second |
//! | `code` 19021, 19022, 19024, 19036, 9499, any other | `GiveUp` with the code and `msg` |
//! | 2xx without Feishu's JSON | `Retry` |
//! | 408, 429, 5xx | `Retry` |
//! | any other status | `GiveUp` |

use super::answer::{self, Secrets, Verdict};
use super::cut::{cut_line, fit_body};
use super::escape::{clean_ids, unescape_entities};
use super::sign::{hmac_base64, unix_secs};
use super::{Answer, Channel, ChatRequest, Markup, Message, RateLimit, redact_url};
use serde_json::{Value, json};
use std::fmt;
use std::time::{Duration, SystemTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Post,
    Card,
}

/// A Feishu or Lark custom bot.
///
/// ```
/// use evtrail::notify::{Channel, Feishu, Markup};
///
/// let bot = Feishu::webhook("https://open.feishu.cn/open-apis/bot/v2/hook/0123-4567-89ab")
///     .secret("feishu-secret");
/// assert_eq!(bot.kind(), "feishu");
/// assert_eq!(bot.markup(), Markup::LarkMd);
/// let shown = format!("{bot:?}");
/// assert!(!shown.contains("0123-4567-89ab") && !shown.contains("feishu-secret"));
/// ```
#[derive(Clone)]
pub struct Feishu {
    url: String,
    secret: Option<String>,
    format: Format,
    secrets: Secrets,
}

impl Feishu {
    /// The largest request body sent, in bytes (Feishu's limit is 20 KB):
    /// the text is cut, with a marker, to keep the body within it.
    pub const MAX_BODY_BYTES: usize = 20_000;

    /// The longest title, in characters.
    pub const MAX_TITLE_CHARS: usize = 128;

    /// The documented limits: 100 messages a minute and 5 a second.
    pub const RATE_LIMITS: [RateLimit; 2] = [
        RateLimit {
            messages: 100,
            per: Duration::from_secs(60),
        },
        RateLimit {
            messages: 5,
            per: Duration::from_secs(1),
        },
    ];

    /// The bot at `url`: its full webhook URL (a Feishu or Lark host, or
    /// any base URL; tests use a loopback server). Interactive cards,
    /// unsigned, by default.
    pub fn webhook(url: impl Into<String>) -> Feishu {
        let url = url.into();
        Feishu {
            secrets: Secrets::from_url(&url),
            url,
            secret: None,
            format: Format::Card,
        }
    }

    /// Sign each request with the bot's secret ("签名校验"). Default:
    /// unsigned.
    pub fn secret(mut self, secret: impl Into<String>) -> Feishu {
        let secret = secret.into();
        self.secrets.add(&secret);
        self.secret = Some(secret);
        self
    }

    /// Send `text` messages ([`Markup::Text`]).
    pub fn text(mut self) -> Feishu {
        self.format = Format::Text;
        self
    }

    /// Send `post` (rich text) messages ([`Markup::Text`]: post text
    /// elements are shown as they are).
    pub fn post(mut self) -> Feishu {
        self.format = Format::Post;
        self
    }

    /// Send interactive cards: the title as the header, the text as
    /// `lark_md` ([`Markup::LarkMd`]); the default.
    pub fn card(mut self) -> Feishu {
        self.format = Format::Card;
        self
    }

    /// The `sign` body field for `timestamp` (seconds).
    fn sign(secret: &str, timestamp: u64) -> String {
        hmac_base64(format!("{timestamp}\n{secret}").as_bytes(), b"")
    }

    fn build(&self, title: &str, body: &str, mentions: &super::Mentions) -> Value {
        let mut ids: Vec<String> = clean_ids(&mentions.user_ids);
        if mentions.all {
            ids.push("all".to_owned());
        }
        match self.format {
            Format::Text => {
                let mut text = String::new();
                if !title.is_empty() {
                    text.push_str(title);
                    text.push('\n');
                }
                text.push_str(body);
                for id in &ids {
                    text.push_str(&format!(" <at user_id=\"{id}\"></at>"));
                }
                json!({ "msg_type": "text", "content": { "text": text } })
            }
            Format::Post => {
                let mut lines: Vec<Value> = body
                    .split('\n')
                    .map(|l| json!([{ "tag": "text", "text": l }]))
                    .collect();
                if !ids.is_empty() {
                    lines.push(Value::Array(
                        ids.iter()
                            .map(|id| json!({ "tag": "at", "user_id": id }))
                            .collect(),
                    ));
                }
                json!({
                    "msg_type": "post",
                    "content": { "post": { "zh_cn": { "title": title, "content": lines } } },
                })
            }
            Format::Card => {
                let mut content = body.to_owned();
                if !ids.is_empty() {
                    content.push('\n');
                    let ats: Vec<String> =
                        ids.iter().map(|id| format!("<at id={id}></at>")).collect();
                    content.push_str(&ats.join(" "));
                }
                let mut card = json!({
                    "elements": [ { "tag": "div", "text": { "tag": "lark_md", "content": content } } ],
                });
                if !title.is_empty() {
                    // The header is plain text, where entities would show as
                    // typed; `<` and `>` become their fullwidth look-alikes
                    // so that no tag can form there either.
                    let plain = unescape_entities(title)
                        .replace('<', "＜")
                        .replace('>', "＞");
                    card["header"] = json!({ "title": { "tag": "plain_text", "content": plain } });
                }
                json!({ "msg_type": "interactive", "card": card })
            }
        }
    }
}

fn known(code: i64) -> Option<(Verdict, &'static str)> {
    Some(match code {
        11232 => (
            Verdict::Retry(Some(Duration::from_secs(1))),
            "sending too fast",
        ),
        19021 => (
            Verdict::GiveUp,
            "signature mismatch or timestamp more than an hour off",
        ),
        19022 => (Verdict::GiveUp, "IP not allowed"),
        19024 => (Verdict::GiveUp, "keyword missing"),
        19036 => (Verdict::GiveUp, "message too large"),
        9499 => (Verdict::GiveUp, "bad request"),
        _ => return None,
    })
}

impl Channel for Feishu {
    fn kind(&self) -> &'static str {
        "feishu"
    }

    fn markup(&self) -> Markup {
        match self.format {
            Format::Text | Format::Post => Markup::Text,
            Format::Card => Markup::LarkMd,
        }
    }

    fn rate_limits(&self) -> Vec<RateLimit> {
        Self::RATE_LIMITS.to_vec()
    }

    fn request(&self, message: &Message, now: SystemTime) -> ChatRequest {
        let title = cut_line(message.title.trim(), Self::MAX_TITLE_CHARS);
        let signed = self.secret.as_ref().map(|secret| {
            let ts = unix_secs(now);
            (ts.to_string(), Self::sign(secret, ts))
        });
        let build = |body: &str| {
            let mut v = self.build(&title, body, &message.mentions);
            if let Some((ts, sign)) = &signed {
                v["timestamp"] = json!(ts);
                v["sign"] = json!(sign);
            }
            serde_json::to_vec(&v).unwrap_or_default()
        };
        ChatRequest {
            url: self.url.clone(),
            headers: Vec::new(),
            body: fit_body(&message.body, Self::MAX_BODY_BYTES, build),
        }
    }

    fn check(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> Answer {
        let found = answer::read_code(body, &["code", "StatusCode"], &["msg", "StatusMessage"]);
        answer::classify(
            "Feishu",
            status,
            retry_after,
            body,
            found,
            known,
            &self.secrets,
        )
    }
}

impl fmt::Debug for Feishu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feishu")
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
    use sha2::Sha256;

    const URL: &str = "http://127.0.0.1:9/open-apis/bot/v2/hook/0123-4567-89ab";
    const SECRET: &str = "feishu-secret";

    fn message() -> Message {
        Message {
            id: "m1".into(),
            title: "unknown&#95;error &amp; &lt;more&gt;".into(),
            body: "line &#42;1&#42;\nline 2".into(),
            mentions: Mentions {
                mobiles: vec!["13800000000".into()],
                user_ids: vec!["ou_abc".into()],
                all: true,
            },
        }
    }

    fn body(r: &ChatRequest) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn card_has_the_documented_shape() {
        let r = Feishu::webhook(URL).request(&message(), SystemTime::UNIX_EPOCH);
        assert_eq!(r.url, URL);
        assert_eq!(
            body(&r),
            json!({
                "msg_type": "interactive",
                "card": {
                    "header": { "title": { "tag": "plain_text", "content": "unknown_error & ＜more＞" } },
                    "elements": [ { "tag": "div", "text": {
                        "tag": "lark_md",
                        "content": "line &#42;1&#42;\nline 2\n<at id=ou_abc></at> <at id=all></at>",
                    } } ],
                },
            })
        );
    }

    #[test]
    fn text_and_post_have_the_documented_shape() {
        let mut m = message();
        m.title = "t".into();
        m.body = "a\nb".into();
        let r = Feishu::webhook(URL)
            .text()
            .request(&m, SystemTime::UNIX_EPOCH);
        assert_eq!(
            body(&r),
            json!({ "msg_type": "text", "content": {
                "text": "t\na\nb <at user_id=\"ou_abc\"></at> <at user_id=\"all\"></at>",
            } })
        );
        let bot = Feishu::webhook(URL).post();
        assert_eq!(bot.markup(), Markup::Text);
        let r = bot.request(&m, SystemTime::UNIX_EPOCH);
        assert_eq!(
            body(&r),
            json!({ "msg_type": "post", "content": { "post": { "zh_cn": {
                "title": "t",
                "content": [
                    [ { "tag": "text", "text": "a" } ],
                    [ { "tag": "text", "text": "b" } ],
                    [ { "tag": "at", "user_id": "ou_abc" }, { "tag": "at", "user_id": "all" } ],
                ],
            } } } })
        );
    }

    #[test]
    fn signature_follows_the_documented_algorithm() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let r = Feishu::webhook(URL)
            .text()
            .secret(SECRET)
            .request(&message(), now);
        let v = body(&r);
        assert_eq!(v["timestamp"], json!("1700000000"));
        // The key is timestamp + "\n" + secret; the message is empty.
        let mac =
            Hmac::<Sha256>::new_from_slice(format!("1700000000\n{SECRET}").as_bytes()).unwrap();
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(v["sign"], json!(expected));
        // A known vector, pinned literally.
        assert_eq!(
            Feishu::sign(SECRET, 1_577_836_800),
            "jbe3fbAXNrge4Hbstjlgsddwls0KcpcY5cxpxgAIIfI="
        );
        // No title: no header.
        let m = Message {
            title: String::new(),
            ..message()
        };
        assert!(
            body(&Feishu::webhook(URL).request(&m, now))["card"]
                .get("header")
                .is_none()
        );
        // Unsigned: neither field.
        let v = body(&Feishu::webhook(URL).request(&message(), now));
        assert!(v.get("timestamp").is_none() && v.get("sign").is_none());
    }

    #[test]
    fn a_long_text_is_cut_to_the_body_limit() {
        let mut m = message();
        m.body = "飞书\"\\".repeat(9_000);
        for bot in [
            Feishu::webhook(URL),
            Feishu::webhook(URL).text(),
            Feishu::webhook(URL).post().secret(SECRET),
        ] {
            let r = bot.request(&m, SystemTime::UNIX_EPOCH);
            assert!(
                r.body.len() <= Feishu::MAX_BODY_BYTES,
                "{bot:?}: {}",
                r.body.len()
            );
            let s = String::from_utf8(r.body).unwrap();
            assert!(s.contains("bytes cut)"), "{bot:?}");
        }
    }

    #[test]
    fn answers_classify() {
        let f = Feishu::webhook(URL);
        assert_eq!(
            f.check(200, None, br#"{"code":0,"msg":"success","data":{}}"#),
            Answer::Delivered
        );
        assert_eq!(
            f.check(200, None, br#"{"StatusCode":0,"StatusMessage":"success"}"#),
            Answer::Delivered
        );
        assert!(matches!(
            f.check(400, None, br#"{"code":11232,"msg":"frequency limited"}"#),
            Answer::Retry {
                code: Some(11232),
                after: Some(_),
                ..
            }
        ));
        for code in [19021, 19022, 19024, 19036, 9499, 12345] {
            let body = format!(r#"{{"code":{code},"msg":"m","data":{{}}}}"#);
            assert!(
                matches!(f.check(200, None, body.as_bytes()), Answer::GiveUp { code: Some(c), .. } if c == code),
                "{code}"
            );
        }
        assert!(matches!(
            f.check(200, None, b"<html/>"),
            Answer::Retry { code: None, .. }
        ));
        assert!(matches!(f.check(503, None, b""), Answer::Retry { .. }));
        assert!(matches!(f.check(400, None, b"bad"), Answer::GiveUp { .. }));
    }

    #[test]
    fn no_secret_in_debug_or_reasons() {
        let f = Feishu::webhook(URL).secret(SECRET);
        let dbg = format!("{f:?}");
        assert!(
            !dbg.contains("0123-4567-89ab") && !dbg.contains(SECRET),
            "{dbg}"
        );
        let a = f.check(404, None, b"no hook /open-apis/bot/v2/hook/0123-4567-89ab");
        assert!(!format!("{a:?}").contains("0123-4567-89ab"), "{a:?}");
    }
}
