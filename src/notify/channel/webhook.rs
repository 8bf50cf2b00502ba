//! A generic JSON webhook: the body is the user's template, optionally
//! signed the Standard Webhooks way.
//!
//! # Signing, as the specification says
//!
//! Standard Webhooks 1.0.0
//! (<https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>,
//! <https://www.standardwebhooks.com/verify>): three headers,
//!
//! * `webhook-id`: the message's id, the same on every retry, so the
//!   receiver can drop duplicates (a `.` in it is replaced by `_`: the
//!   specification forbids it, as it separates the signed parts);
//! * `webhook-timestamp`: the attempt's time, integer Unix seconds;
//! * `webhook-signature`: `v1,` and the standard base64 of
//!   HMAC-SHA256(key, `id + "." + timestamp + "." + body`).
//!
//! The key is given as the specification serialises it: `whsec_` and the
//! base64 of 24 to 64 random bytes (the prefix may be left out); the
//! decoded bytes are the HMAC key.
//!
//! # Classification
//!
//! | answer | [`Answer`] |
//! |---|---|
//! | 2xx | `Delivered` |
//! | 408, 429, 5xx | `Retry`, after `Retry-After` if given |
//! | any other status | `GiveUp` with the start of the answer |

use super::answer::{self, Secrets};
use super::sign::{hmac_sha256, unix_millis, unix_secs};
use super::{Answer, Channel, ChatRequest, Markup, Message, RateLimit, redact_url};
use crate::Error;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::fmt;
use std::time::{Duration, SystemTime};

/// A generic JSON webhook: the request body is [`Message::body`], the
/// user's JSON template rendered by the sink.
///
/// ```
/// use evtrail::notify::{Channel, Markup, Webhook};
/// use std::time::Duration;
///
/// let hook = Webhook::new("https://alerts.example.com/hook")
///     .sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?
///     .header("Authorization", "Bearer t0ps3cret")
///     .rate_limit(10, Duration::from_secs(1));
/// assert_eq!(hook.markup(), Markup::Json);
/// let shown = format!("{hook:?}");
/// assert!(!shown.contains("t0ps3cret") && !shown.contains("MfKQ9r8"));
/// # Ok::<(), evtrail::Error>(())
/// ```
#[derive(Clone)]
pub struct Webhook {
    url: String,
    key: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
    limit: RateLimit,
    secrets: Secrets,
}

impl Webhook {
    /// The default rate limit: 60 messages a minute, the pace of the
    /// slowest chat API that still allows a message a second.
    pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
        messages: 60,
        per: Duration::from_secs(60),
    };

    /// The smallest signing key the specification allows, in bytes.
    pub const MIN_KEY_BYTES: usize = 24;

    /// The largest signing key the specification allows, in bytes.
    pub const MAX_KEY_BYTES: usize = 64;

    /// A webhook at `url` (any base URL; tests use a loopback server).
    /// Unsigned, no extra headers, [`DEFAULT_RATE_LIMIT`](Self::DEFAULT_RATE_LIMIT).
    pub fn new(url: impl Into<String>) -> Webhook {
        let url = url.into();
        Webhook {
            secrets: Secrets::from_url(&url),
            url,
            key: None,
            headers: Vec::new(),
            limit: Self::DEFAULT_RATE_LIMIT,
        }
    }

    /// Sign each request the Standard Webhooks way with `secret`:
    /// `whsec_` and the base64 of the key (the prefix is optional).
    /// Default: unsigned.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when `secret` is not
    /// base64, or its key is shorter than 24 or longer than 64 bytes. The
    /// message never contains the secret.
    pub fn sign(mut self, secret: &str) -> Result<Webhook, Error> {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| Error::config("webhook signing secret is not `whsec_` and base64"))?;
        if !(Self::MIN_KEY_BYTES..=Self::MAX_KEY_BYTES).contains(&key.len()) {
            return Err(Error::config(format!(
                "webhook signing key is {} bytes; Standard Webhooks asks for {} to {}",
                key.len(),
                Self::MIN_KEY_BYTES,
                Self::MAX_KEY_BYTES
            )));
        }
        self.secrets.add(secret);
        self.secrets.add(encoded);
        self.key = Some(key);
        Ok(self)
    }

    /// Send the header `name: value` with each request (an
    /// `Authorization` token, say); its value never shows in `Debug` output
    /// or reasons. Default: none.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Webhook {
        let value = value.into();
        self.secrets.add(&value);
        // A server may echo the token without its scheme (`Bearer …`).
        for part in value.split_whitespace().filter(|p| p.len() >= 8) {
            self.secrets.add(part);
        }
        self.headers.push((name.into(), value));
        self
    }

    /// Send at most `messages` per `per`. Default:
    /// [`DEFAULT_RATE_LIMIT`](Self::DEFAULT_RATE_LIMIT). A zero count or
    /// interval is taken as one message a second rather than as "never".
    pub fn rate_limit(mut self, messages: u32, per: Duration) -> Webhook {
        self.limit = if messages == 0 || per.is_zero() {
            RateLimit {
                messages: 1,
                per: Duration::from_secs(1),
            }
        } else {
            RateLimit { messages, per }
        };
        self
    }

    /// The `webhook-signature` value for these parts.
    fn signature(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
        let mut signed = Vec::with_capacity(id.len() + 24 + body.len());
        signed.extend_from_slice(id.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(timestamp.to_string().as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(body);
        format!("v1,{}", STANDARD.encode(hmac_sha256(key, &signed)))
    }
}

/// `id` as a `webhook-id`: no `.` (it separates the signed parts), no
/// whitespace or controls (it is a header value); never empty.
fn webhook_id(id: &str, now: SystemTime) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c == '.' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if clean.is_empty() {
        format!("msg_{}", unix_millis(now))
    } else {
        clean
    }
}

impl Channel for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn markup(&self) -> Markup {
        Markup::Json
    }

    fn rate_limits(&self) -> Vec<RateLimit> {
        vec![self.limit]
    }

    fn request(&self, message: &Message, now: SystemTime) -> ChatRequest {
        let body = message.body.as_bytes().to_vec();
        let mut headers = self.headers.clone();
        if let Some(key) = &self.key {
            let id = webhook_id(&message.id, now);
            let ts = unix_secs(now);
            let sig = Self::signature(key, &id, ts, &body);
            headers.push(("webhook-id".to_owned(), id));
            headers.push(("webhook-timestamp".to_owned(), ts.to_string()));
            headers.push(("webhook-signature".to_owned(), sig));
        }
        ChatRequest {
            url: self.url.clone(),
            headers,
            body,
        }
    }

    fn check(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> Answer {
        answer::by_status(status, retry_after, body, &self.secrets)
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &redact_url(&self.url))
            .field("signed", &self.key.is_some())
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("rate_limit", &self.limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Sha256;

    const URL: &str = "http://127.0.0.1:9/hook?token=abcdef123456";
    // The Standard Webhooks libraries' own test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn message(body: &str) -> Message {
        Message {
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek".into(),
            body: body.into(),
            ..Message::default()
        }
    }

    fn header<'a>(r: &'a ChatRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_body_is_the_template_as_rendered() {
        let r = Webhook::new(URL).request(&message(r#"{"event":"x"}"#), SystemTime::UNIX_EPOCH);
        assert_eq!(r.url, URL);
        assert_eq!(r.body, br#"{"event":"x"}"#);
        assert!(r.headers.is_empty());
    }

    #[test]
    fn signature_matches_the_specifications_vector() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_614_265_330);
        let hook = Webhook::new(URL).sign(SECRET).unwrap();
        let r = hook.request(&message(r#"{"test": 2432232314}"#), now);
        assert_eq!(
            header(&r, "webhook-id"),
            Some("msg_p5jXN8AQM9LWM0D4loKWxJek")
        );
        assert_eq!(header(&r, "webhook-timestamp"), Some("1614265330"));
        // The published vector, literally.
        assert_eq!(
            header(&r, "webhook-signature"),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        // And computed here from the specification.
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(br#"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}"#);
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(header(&r, "webhook-signature"), Some(expected.as_str()));
        // Without the prefix, the same key.
        let bare = Webhook::new(URL)
            .sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        assert_eq!(
            bare.request(&message(r#"{"test": 2432232314}"#), now)
                .headers,
            r.headers
        );
    }

    #[test]
    fn ids_cannot_forge_the_signed_parts() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(5_000);
        assert_eq!(webhook_id("a.b c\n", now), "a_b_c_");
        assert_eq!(webhook_id("", now), "msg_5000");
    }

    #[test]
    fn bad_secrets_are_config_errors_without_the_secret() {
        for bad in [
            "whsec_not base64!!",
            "whsec_c2hvcnQ=",
            &format!("whsec_{}", STANDARD.encode([7u8; 65])),
        ] {
            let e = Webhook::new(URL).sign(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(
                !e.to_string().contains(bad.trim_start_matches("whsec_")),
                "{e}"
            );
        }
    }

    #[test]
    fn headers_and_rate_limit_are_configurable() {
        let hook = Webhook::new(URL)
            .header("Authorization", "Bearer t0ps3cret")
            .rate_limit(5, Duration::from_secs(2));
        assert_eq!(
            hook.rate_limits(),
            vec![RateLimit {
                messages: 5,
                per: Duration::from_secs(2)
            }]
        );
        assert_eq!(
            Webhook::new(URL).rate_limits(),
            vec![Webhook::DEFAULT_RATE_LIMIT]
        );
        assert_eq!(
            Webhook::new(URL)
                .rate_limit(0, Duration::ZERO)
                .rate_limits()[0]
                .messages,
            1
        );
        let r = hook.request(&message("{}"), SystemTime::UNIX_EPOCH);
        assert_eq!(header(&r, "Authorization"), Some("Bearer t0ps3cret"));
    }

    #[test]
    fn answers_classify() {
        let w = Webhook::new(URL);
        assert_eq!(w.check(200, None, b""), Answer::Delivered);
        assert_eq!(w.check(202, None, b"queued"), Answer::Delivered);
        let wait = Some(Duration::from_secs(3));
        assert!(matches!(w.check(429, wait, b""), Answer::Retry { after, .. } if after == wait));
        assert!(matches!(w.check(503, None, b""), Answer::Retry { .. }));
        assert!(matches!(w.check(408, None, b""), Answer::Retry { .. }));
        assert!(matches!(
            w.check(401, None, b"unauthorized"),
            Answer::GiveUp { .. }
        ));
    }

    #[test]
    fn no_secret_in_debug_requests_or_reasons() {
        let hook = Webhook::new(URL)
            .sign(SECRET)
            .unwrap()
            .header("Authorization", "Bearer t0ps3cret");
        let dbg = format!("{hook:?}");
        for s in [
            "abcdef123456",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "t0ps3cret",
        ] {
            assert!(!dbg.contains(s), "{dbg}");
        }
        let r = hook.request(&message("{}"), SystemTime::UNIX_EPOCH);
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("t0ps3cret") && !shown.contains("abcdef123456"),
            "{shown}"
        );
        let a = hook.check(
            401,
            None,
            b"bad token Bearer t0ps3cret for /hook?token=abcdef123456",
        );
        let shown = format!("{a:?}");
        assert!(
            !shown.contains("t0ps3cret") && !shown.contains("abcdef123456"),
            "{shown}"
        );
    }
}
