//! What a channel's thread records about each message: the `evtrail.push`
//! record (channel, rule, recipients, the records carried, the outcome,
//! the API's own answer, the latency) and, for a message given up, its
//! dead letter.

use std::collections::BTreeSet;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use tracing::Level;

use super::channel::Message;
use super::group::Runs;
use crate::record::Record;
use crate::time::{now_nanos, write_ts};

/// A message on its way, and what it carries.
#[derive(Debug)]
pub(crate) struct Sending {
    pub(crate) message: Message,
    /// The rules whose groups it carries, comma-separated.
    pub(crate) rules: String,
    pub(crate) recipients: String,
    /// `firing`, `repeat`, `resolved`, or `digest`.
    pub(crate) kind: &'static str,
    pub(crate) records: u64,
    pub(crate) runs: Runs,
    pub(crate) events: BTreeSet<String>,
    pub(crate) attempt: u32,
}

/// How one attempt ended, for its record.
#[derive(Debug)]
pub(crate) struct Attempt<'a> {
    /// `ok`, `retry` or `rejected`.
    pub(crate) result: &'static str,
    pub(crate) http_status: Option<u16>,
    pub(crate) api_code: Option<i64>,
    pub(crate) error: Option<&'a str>,
    pub(crate) latency: Duration,
    pub(crate) retry_in: Option<Duration>,
    pub(crate) dead_letter: Option<&'a Path>,
}

/// The `evtrail.push` record of one attempt.
pub(crate) fn push_record(
    sink: &str,
    channel: &str,
    kind: &str,
    s: &Sending,
    a: &Attempt<'_>,
) -> Record {
    let what = format!("{} message ({} records) to `{channel}`", s.kind, s.records);
    let (level, class, msg) = match (a.result, a.error) {
        ("ok", _) => (Level::INFO, "info", format!("sent {what}")),
        ("retry", e) => (
            Level::WARN,
            "error",
            format!(
                "sending {what} failed (attempt {}): {}; will retry",
                s.attempt,
                e.unwrap_or("")
            ),
        ),
        (_, e) => (
            Level::ERROR,
            "error",
            format!("gave up {what}: {}", e.unwrap_or("")),
        ),
    };
    let mut rec = Record::internal(level, "evtrail.push", &msg);
    let f = &mut rec.fields;
    f.add_str("class", class);
    f.add_str("sink", sink);
    f.add_str("channel", kind);
    f.add_str("channel_name", channel);
    f.add_str("rule", &s.rules);
    f.add_str("recipients", &s.recipients);
    f.add_str("kind", s.kind);
    f.add_str("message_id", &s.message.id);
    f.add_str("result", a.result);
    f.add_u64("records", s.records);
    let events: Vec<&str> = s.events.iter().map(String::as_str).collect();
    f.add_str("events", &events.join(","));
    if let Some((first, last)) = s.runs.bounds() {
        f.add_u64("first_seq", first);
        f.add_u64("last_seq", last);
    }
    f.add_str("ranges", &s.runs.to_field());
    if s.runs.cut > 0 {
        f.add_u64("ranges_cut", s.runs.cut);
    }
    if let Some(st) = a.http_status {
        f.add_u64("http_status", u64::from(st));
    }
    if let Some(code) = a.api_code {
        f.add_str("api_code", &code.to_string());
    }
    if let Some(e) = a.error {
        f.add_str("api_msg", e);
        f.add_str("error", e);
    }
    f.add_u64("attempt", u64::from(s.attempt));
    f.add_u64("latency_ms", a.latency.as_millis() as u64);
    if let Some(wait) = a.retry_in {
        f.add_u64("retry_in_ms", wait.as_millis() as u64);
    }
    if let Some(p) = a.dead_letter {
        f.add_str("dead_letter", &p.display().to_string());
    }
    rec
}

/// Appends a given-up message to the dead-letter file: one JSON line with
/// the time, sink, channel, reason, the records it carried and the
/// message itself (never the URL or a secret).
pub(crate) fn dead_letter(
    path: &Path,
    sink: &str,
    channel: &str,
    s: &Sending,
    reason: &str,
    api_code: Option<i64>,
) -> std::io::Result<()> {
    let mut ts = Vec::new();
    write_ts(&mut ts, now_nanos());
    let line = serde_json::json!({
        "time": String::from_utf8_lossy(&ts),
        "sink": sink,
        "channel": channel,
        "rule": s.rules,
        "reason": reason,
        "api_code": api_code,
        "records": s.records,
        "ranges": s.runs.to_field(),
        "events": s.events,
        "message_id": s.message.id,
        "title": s.message.title,
        "body": s.message.body,
    });
    if let Some(dir) = path.parent() {
        crate::private::create_dir_all(dir)?;
    }
    let mut f = crate::private::append(path)?;
    let mut out = serde_json::to_vec(&line)?;
    out.push(b'\n');
    f.write_all(&out)?;
    f.sync_data()
}

/// `text` with the URL's credentials cut: the whole URL, its query values
/// and its last path segment, wherever they appear (an HTTP library's
/// error may quote the URL).
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &super::channel::redact_url(url));
    let base = url.split('?').next().unwrap_or(url);
    let mut secrets: Vec<&str> = url
        .split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .filter_map(|p| p.split_once('=').map(|kv| kv.1))
                .collect()
        })
        .unwrap_or_default();
    if !url.contains('?')
        && base.matches('/').count() >= 3
        && let Some(last) = base.rsplit('/').next()
    {
        secrets.push(last);
    }
    for s in secrets {
        if s.len() > 3 {
            out = out.replace(s, &format!("{}…", s.chars().take(3).collect::<String>()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_cuts_every_credential_of_the_url() {
        let url = "http://127.0.0.1:9/robot/send?access_token=SECRETTOKEN&sign=abcdEFGH";
        let text = format!("io error for {url}: refused (token SECRETTOKEN)");
        let s = scrub(&text, url);
        assert!(!s.contains("SECRETTOKEN") && !s.contains("abcdEFGH"), "{s}");
        assert!(s.contains("access_token=SEC…"), "{s}");
        let slack = "http://127.0.0.1:9/services/T0/B0/XXXXSECRET";
        assert!(!scrub(&format!("bad {slack}"), slack).contains("XXXXSECRET"));
    }
}
