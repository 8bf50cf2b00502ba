//! [`JsonArray`]: the signed lines as the elements of one JSON array.

use serde::de::IgnoredAny;

use super::parse::invalid;
use super::{Encode, EncodeError, Outgoing};

/// One JSON array of the records (`application/json`): `[line,line,…]`,
/// each line embedded byte for byte, so every element is still the signed
/// record. For receivers that want a single JSON document per request.
///
/// # Errors
///
/// [`encode`](Encode::encode) fails when a line is not a JSON object (it
/// would make the whole array invalid).
///
/// # Examples
///
/// ```
/// use evtrail::http::{Encode, JsonArray, Outgoing};
///
/// let records = [
///     Outgoing::new("app", 1, br#"{"seq":1}"#),
///     Outgoing::new("app", 2, br#"{"seq":2}"#),
/// ];
/// let mut body = Vec::new();
/// JsonArray.encode(&records, &mut body)?;
/// assert_eq!(body, br#"[{"seq":1},{"seq":2}]"#);
/// assert_eq!(JsonArray.content_type(), "application/json");
/// # Ok::<(), evtrail::http::EncodeError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonArray;

impl Encode for JsonArray {
    fn content_type(&self) -> &str {
        "application/json"
    }

    fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(b'[');
        for (i, r) in records.iter().enumerate() {
            // Validated without building the object: the line is sent as is.
            let is_object = r.line.trim_ascii_start().first() == Some(&b'{');
            if !is_object || serde_json::from_slice::<IgnoredAny>(r.line).is_err() {
                return Err(invalid(r, "is not a JSON object"));
            }
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(r.line);
        }
        out.push(b']');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::encode::fixtures::{encode, full_line, json_of, line};

    #[test]
    fn json_array_embeds_lines_unchanged() {
        let (a, b) = (full_line(), line(3, "shop", "INFO"));
        let records = [
            Outgoing::new("app", 2, a.as_bytes()),
            Outgoing::new("app", 3, b.as_bytes()),
        ];
        let body = encode(&JsonArray, &records);
        assert_eq!(body, format!("[{a},{b}]").into_bytes());
        assert_eq!(json_of(&body).as_array().map(Vec::len), Some(2));
        assert_eq!(JsonArray.content_type(), "application/json");
    }

    #[test]
    fn json_array_refuses_a_line_that_is_not_an_object() {
        for bad in [&b"[1]"[..], b"\"text\"", b"{\"a\":", b""] {
            let err = JsonArray
                .encode(&[Outgoing::new("app", 9, bad)], &mut Vec::new())
                .expect_err("refused");
            assert_eq!(
                err.to_string(),
                "record 9 of stream `app` is not a JSON object"
            );
        }
    }
}
