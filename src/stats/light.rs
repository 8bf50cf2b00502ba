//! Reading only what is counted from a record's line: the few top-level
//! keys every count needs, borrowed from the line, without building the
//! record's whole tree — most of a record (its fields, spans and message)
//! is skipped over, not copied.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The top-level keys counted for every record.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Light<'a> {
    #[serde(borrow, default)]
    class: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    level: Option<&'a RawValue>,
    #[serde(borrow, default)]
    service: Option<&'a RawValue>,
    #[serde(borrow, default)]
    host: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stream: Option<&'a RawValue>,
    #[serde(default)]
    seq: Option<u64>,
}

/// The names [`Light::get`] answers: keys that are only ever top-level.
pub(crate) const KEYS: [&str; 6] = ["class", "event", "level", "service", "host", "stream"];

impl<'a> Light<'a> {
    /// The keys of `line`; `None` when it is not a JSON object of this
    /// shape (the caller then reads the parsed record).
    pub(crate) fn parse(line: &'a str) -> Option<Light<'a>> {
        serde_json::from_str(line).ok()
    }

    /// A counted key's value as text: strings as they are (unescaped),
    /// other values as JSON, absent or null as empty; `None` for a name
    /// not in [`KEYS`].
    pub(crate) fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        let raw = match name {
            "class" => self.class,
            "event" => self.event,
            "level" => self.level,
            "service" => self.service,
            "host" => self.host,
            "stream" => self.stream,
            _ => return None,
        };
        Some(match raw {
            None => Cow::Borrowed(""),
            Some(r) => text(r),
        })
    }

    pub(crate) fn seq(&self) -> Option<u64> {
        self.seq
    }
}

fn text(raw: &RawValue) -> Cow<'_, str> {
    let s = raw.get();
    if s == "null" {
        return Cow::Borrowed("");
    }
    if s.starts_with('"') {
        // Borrowed when the string has no escapes, unescaped when it has.
        return match serde_json::from_str::<&str>(s) {
            Ok(plain) => Cow::Borrowed(plain),
            Err(_) => Cow::Owned(serde_json::from_str::<String>(s).unwrap_or_default()),
        };
    }
    // Numbers, booleans, arrays and objects as the parsed record gives
    // them, so that both ways of reading agree.
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v) => Cow::Owned(v.to_string()),
        Err(_) => Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_keys_read_as_the_parsed_record_gives_them() {
        let line = r#"{"v":1,"stream":"app","seq":7,"ts":"x","level":"INFO","class":"info","event":"a\"b","code":4,"host":null,"fields":{"event":"inner"},"spans":[{"name":"r"}]}"#;
        let l = Light::parse(line).unwrap();
        assert_eq!(l.get("event").unwrap(), "a\"b");
        assert!(matches!(l.get("class").unwrap(), Cow::Borrowed("info")));
        assert_eq!(l.get("host").unwrap(), "");
        assert_eq!(l.get("service").unwrap(), "");
        assert_eq!(l.get("stream").unwrap(), "app");
        assert_eq!(l.get("code"), None);
        assert_eq!(l.seq(), Some(7));
        let l = Light::parse(r#"{"event":12.50,"class":{"a":1}}"#).unwrap();
        assert_eq!(l.get("event").unwrap(), "12.5");
        assert_eq!(l.get("class").unwrap(), r#"{"a":1}"#);
        assert!(Light::parse("not json").is_none());
    }
}
