//! [`Ndjson`]: the signed lines as they are, one per line.

use super::{Encode, EncodeError, Outgoing};

/// Newline-delimited JSON: each record's line as it is, one per line
/// (`application/x-ndjson`). The generic choice for webhooks and for
/// receivers that want the signed lines unchanged.
///
/// Lines are not parsed, so a damaged line is sent as it is.
///
/// # Examples
///
/// ```
/// use evtrail::http::{Encode, Ndjson, Outgoing};
///
/// let mut body = Vec::new();
/// Ndjson.encode(&[Outgoing::new("app", 1, br#"{"seq":1}"#)], &mut body)?;
/// assert_eq!(body, b"{\"seq\":1}\n");
/// # Ok::<(), evtrail::http::EncodeError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Ndjson;

impl Encode for Ndjson {
    fn content_type(&self) -> &str {
        "application/x-ndjson"
    }

    fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for r in records {
            out.extend_from_slice(r.line());
            out.push(b'\n');
        }
        Ok(())
    }
}
