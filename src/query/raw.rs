//! A record parsed only as far as a filter needs: its top-level keys, each
//! value kept as raw JSON text and parsed when a condition asks for it. A
//! search over many candidate lines builds no tree for the parts nobody
//! looks at.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// A record's top-level keys, however much of it was parsed.
pub(crate) trait TopLevel {
    /// The value of a top-level key, when the record has it.
    fn top(&self, key: &str) -> Option<Cow<'_, Value>>;
}

impl TopLevel for Value {
    fn top(&self, key: &str) -> Option<Cow<'_, Value>> {
        self.get(key).map(Cow::Borrowed)
    }
}

/// A JSON object's members, borrowed from its line.
pub(crate) struct RawRecord<'a> {
    members: Vec<(&'a str, &'a RawValue)>,
}

impl<'a> RawRecord<'a> {
    /// The members of the JSON object `line`; an error for anything else,
    /// and for a key written with escapes (a record's own keys never are),
    /// which the caller then parses whole.
    pub(crate) fn parse(line: &'a [u8]) -> Result<RawRecord<'a>, serde_json::Error> {
        serde_json::from_slice(line)
    }
}

impl TopLevel for RawRecord<'_> {
    fn top(&self, key: &str) -> Option<Cow<'_, Value>> {
        // The last of repeated keys, as a full parse keeps it.
        let (_, raw) = self.members.iter().rev().find(|(k, _)| *k == key)?;
        serde_json::from_str(raw.get()).ok().map(Cow::Owned)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawRecord<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawRecord<'a>, D::Error> {
        struct Members;

        impl<'de> Visitor<'de> for Members {
            type Value = RawRecord<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RawRecord<'de>, M::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some(member) = map.next_entry::<&'de str, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(RawRecord { members })
            }
        }

        d.deserialize_map(Members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_parse_on_demand_and_agree_with_a_full_parse() {
        let line = br#"{"v":1,"class":"security","fields":{"amount":250,"card":{"country":"DE"}},"msg":"a \"quoted\" text"}"#;
        let raw = RawRecord::parse(line).unwrap();
        let full: Value = serde_json::from_slice(line).unwrap();
        for key in ["v", "class", "fields", "msg", "missing"] {
            assert_eq!(raw.top(key).as_deref(), full.top(key).as_deref(), "{key}");
        }
    }

    #[test]
    fn a_repeated_key_reads_as_a_full_parse_reads_it() {
        let line = br#"{"event":"a","event":"b"}"#;
        let full: Value = serde_json::from_slice(line).unwrap();
        let raw = RawRecord::parse(line).unwrap();
        assert_eq!(raw.top("event").as_deref(), full.top("event").as_deref());
    }

    #[test]
    fn anything_but_an_object_with_plain_keys_is_refused() {
        assert!(RawRecord::parse(b"[1,2]").is_err());
        assert!(RawRecord::parse(b"not json").is_err());
        assert!(RawRecord::parse(br#"{"v":1,"#).is_err());
        assert!(
            RawRecord::parse(br#"{"a\"b":1}"#).is_err(),
            "an escaped key"
        );
        assert!(RawRecord::parse(b"{}").is_ok());
    }
}
