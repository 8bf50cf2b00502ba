//! Reading the chat APIs' answers: the error code in a JSON body, the HTTP
//! status rules they share, and reasons that never carry a credential.

use super::Answer;
use std::time::Duration;

/// The longest piece of an answer quoted in a reason, in characters.
const SNIPPET_CHARS: usize = 200;

/// Whether an HTTP status means "try again later": 408, 429 and 5xx.
pub(crate) fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// The API's own error code and message in a JSON answer: the first of
/// `code_keys` holding an integer, and the first of `msg_keys` holding a
/// string. `None` when the body is not a JSON object with such a code (an
/// HTML error page from a proxy, an empty body).
pub(crate) fn read_code(
    body: &[u8],
    code_keys: &[&str],
    msg_keys: &[&str],
) -> Option<(i64, String)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let code = code_keys.iter().find_map(|k| obj.get(*k)?.as_i64())?;
    let msg = msg_keys
        .iter()
        .find_map(|k| obj.get(*k)?.as_str())
        .unwrap_or("")
        .to_owned();
    Some((code, msg))
}

/// The strings a reason must never contain: a webhook URL's credentials
/// (query values and its last path segment) and signing secrets.
#[derive(Clone, Default)]
pub(crate) struct Secrets(Vec<String>);

impl Secrets {
    /// The credentials in `url`.
    pub(crate) fn from_url(url: &str) -> Secrets {
        let mut s = Secrets::default();
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let rest = base.split_once("//").map_or(base, |(_, rest)| rest);
        let authority = rest.split('/').next().unwrap_or(rest);
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            s.add(
                userinfo
                    .split_once(':')
                    .map_or(userinfo, |(_, password)| password),
            );
        }
        // As in `redact_url`: the path's last segment is the credential only
        // of URLs without a query (Slack, Feishu).
        if query.is_empty()
            && let Some((_, path)) = rest.split_once('/')
        {
            s.add(path.rsplit('/').next().unwrap_or(path));
        }
        for pair in query.split('&') {
            s.add(pair.split_once('=').map_or(pair, |(_, v)| v));
        }
        s
    }

    /// Also hide `secret`.
    pub(crate) fn add(&mut self, secret: &str) {
        // Short values (`v=1`) are not credentials, and hiding them would
        // garble every reason.
        if secret.chars().count() >= 6 {
            self.0.push(secret.to_owned());
        }
    }

    /// `text` with every secret replaced by `…`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.0 {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "…");
            }
        }
        out
    }
}

/// The start of an answer, for a reason: one line, at most
/// [`SNIPPET_CHARS`] characters, controls replaced, secrets scrubbed.
pub(crate) fn snippet(body: &[u8], secrets: &Secrets) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(SNIPPET_CHARS)
        .collect();
    if text.chars().count() > SNIPPET_CHARS {
        s.push('…');
    }
    let s = secrets.scrub(s.trim());
    if s.is_empty() {
        "(empty answer)".to_owned()
    } else {
        s
    }
}

/// The answer for an HTTP status alone: 2xx delivered, 408/429/5xx retry
/// (with the `Retry-After` wait), anything else give up; the reason quotes
/// the body's start.
pub(crate) fn by_status(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    secrets: &Secrets,
) -> Answer {
    if (200..300).contains(&status) {
        Answer::Delivered
    } else if retryable_status(status) {
        Answer::Retry {
            code: None,
            reason: format!("HTTP {status}: {}", snippet(body, secrets)),
            after: retry_after,
        }
    } else {
        Answer::GiveUp {
            code: None,
            reason: format!("HTTP {status}: {}", snippet(body, secrets)),
        }
    }
}

/// The answer when a 2xx answer is not the API's JSON: most often a proxy
/// or gateway page, so worth another try.
pub(crate) fn not_api_json(api: &str, status: u16, body: &[u8], secrets: &Secrets) -> Answer {
    Answer::Retry {
        code: None,
        reason: format!(
            "HTTP {status} but the answer is not {api}'s JSON: {}",
            snippet(body, secrets)
        ),
        after: None,
    }
}

/// What an API's documented error code means.
pub(crate) enum Verdict {
    /// Try again later, after this long if the API says how long.
    Retry(Option<Duration>),
    /// Refused for good.
    GiveUp,
}

/// The answer of an API that puts an error code in its JSON body, often
/// with HTTP 200: code 0 with a 2xx status is delivered; a non-zero code is
/// looked up in `known` (a verdict and a few words of explanation), and an
/// unknown one retried only when the status says so; a 2xx answer without
/// the API's JSON is retried (a proxy's page); otherwise the status decides.
pub(crate) fn classify(
    api: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    found: Option<(i64, String)>,
    known: fn(i64) -> Option<(Verdict, &'static str)>,
    secrets: &Secrets,
) -> Answer {
    let ok_status = (200..300).contains(&status);
    match found {
        Some((0, _)) if ok_status => Answer::Delivered,
        Some((0, _)) => by_status(status, retry_after, body, secrets),
        Some((code, msg)) => {
            let (verdict, what) = known(code).unwrap_or(if retryable_status(status) {
                (Verdict::Retry(None), "")
            } else {
                (Verdict::GiveUp, "")
            });
            let reason = coded(code, &msg, what, secrets);
            match verdict {
                Verdict::Retry(after) => Answer::Retry {
                    code: Some(code),
                    reason,
                    after: retry_after.or(after),
                },
                Verdict::GiveUp => Answer::GiveUp {
                    code: Some(code),
                    reason,
                },
            }
        }
        None if ok_status => not_api_json(api, status, body, secrets),
        None => by_status(status, retry_after, body, secrets),
    }
}

/// `code: message` for a reason, scrubbed.
pub(crate) fn coded(code: i64, msg: &str, what: &str, secrets: &Secrets) -> String {
    let msg = secrets.scrub(msg.trim());
    match (msg.is_empty(), what.is_empty()) {
        (true, true) => format!("error {code}"),
        (true, false) => format!("error {code} ({what})"),
        (false, true) => format!("error {code}: {msg}"),
        (false, false) => format!("error {code} ({what}): {msg}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_from_json_only() {
        assert_eq!(
            read_code(br#"{"errcode":0,"errmsg":"ok"}"#, &["errcode"], &["errmsg"]),
            Some((0, "ok".into()))
        );
        assert_eq!(
            read_code(
                br#"{"StatusCode":0,"StatusMessage":"success"}"#,
                &["code", "StatusCode"],
                &["msg", "StatusMessage"]
            ),
            Some((0, "success".into()))
        );
        assert_eq!(
            read_code(b"<html>502</html>", &["errcode"], &["errmsg"]),
            None
        );
        assert_eq!(
            read_code(br#"{"errcode":"x"}"#, &["errcode"], &["errmsg"]),
            None
        );
        assert_eq!(read_code(b"", &["errcode"], &["errmsg"]), None);
    }

    #[test]
    fn url_credentials_are_scrubbed_from_reasons() {
        let s =
            Secrets::from_url("https://oapi.dingtalk.com/robot/send?access_token=abcdef123456&v=1");
        assert_eq!(s.scrub("bad token abcdef123456 here"), "bad token … here");
        let s = Secrets::from_url("https://hooks.slack.com/services/T000/B000/XXXXXXXXSECRET");
        assert_eq!(
            s.scrub("/services/T000/B000/XXXXXXXXSECRET"),
            "/services/T000/B000/…"
        );
        let s = Secrets::from_url("https://bot:hunter22@alerts.example.com/hook?v=1");
        assert_eq!(s.scrub("auth hunter22 refused"), "auth … refused");
        let body = b"<html><body>GET /robot/send?access_token=abcdef123456 failed</body></html>";
        let s = Secrets::from_url("http://127.0.0.1:1/robot/send?access_token=abcdef123456");
        let snip = snippet(body, &s);
        assert!(!snip.contains("abcdef123456"), "{snip}");
    }

    #[test]
    fn snippets_are_short_single_lines() {
        let body = format!("line1\nline2\r\n{}", "x".repeat(500));
        let s = snippet(body.as_bytes(), &Secrets::default());
        assert!(!s.contains('\n'));
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
        assert_eq!(snippet(b"  ", &Secrets::default()), "(empty answer)");
    }

    #[test]
    fn statuses_classify() {
        let s = Secrets::default();
        assert_eq!(by_status(204, None, b"", &s), Answer::Delivered);
        for st in [408, 429, 500, 502, 503, 599] {
            assert!(
                matches!(by_status(st, None, b"", &s), Answer::Retry { .. }),
                "{st}"
            );
        }
        let wait = Some(Duration::from_secs(7));
        assert!(
            matches!(by_status(429, wait, b"", &s), Answer::Retry { after, .. } if after == wait)
        );
        for st in [301, 400, 401, 403, 404, 410, 413] {
            assert!(
                matches!(by_status(st, None, b"", &s), Answer::GiveUp { .. }),
                "{st}"
            );
        }
    }
}
