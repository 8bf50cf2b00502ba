//! Request bodies for the receiving APIs.
//!
//! An [`Encode`] turns a run of records (each the exact signed JSON line
//! evtrail wrote) into one request body. The built-in encoders speak the
//! common log stores; implement [`Encode`] for anything else.
//!
//! | encoder | receiver | endpoint (path to configure) | body |
//! |---|---|---|---|
//! | [`Ndjson`] | webhooks, anything | yours | the lines, one per line |
//! | [`JsonArray`] | webhooks wanting one JSON document | yours | `[line,line,…]` |
//! | [`ClickHouse`] | ClickHouse HTTP interface | `/` (port 8123) | `JSONEachRow` rows |
//! | [`Loki`] | Grafana Loki | `/loki/api/v1/push` | push API JSON |
//! | [`ElasticBulk`] | Elasticsearch, OpenSearch | `/_bulk` | bulk NDJSON |
//! | [`Otlp`] | OpenTelemetry collectors | `/v1/logs` (port 4318) | OTLP/HTTP JSON |
//!
//! [`Ndjson`] and [`JsonArray`] send the signed lines byte for byte. The
//! others reshape records for their store, and still carry the signed
//! line so that what the store keeps can be verified: whole in a column
//! ([`ClickHouse`]), as the log line ([`Loki`]), with only an `@timestamp`
//! key put in front ([`ElasticBulk`]), or, when asked
//! ([`Otlp::with_record`]), as an attribute ([`Otlp`]).
//!
//! Every encoder except [`Ndjson`] checks that each line is a JSON object,
//! and every encoder that reads `ts` requires the record format's
//! `YYYY-MM-DDThh:mm:ss.ffffffZ`; a record that fails either is an
//! [`EncodeError`] naming its stream and `seq`. The `stream` and `seq` the
//! encoders write come from the [`Outgoing`], which always has them.

mod clickhouse;
mod elastic;
#[cfg(test)]
mod fixtures;
mod json_array;
mod loki;
mod ndjson;
mod otlp;
mod parse;

use std::fmt;

pub use clickhouse::{ClickHouse, ClickHouseFormat};
pub use elastic::ElasticBulk;
pub use json_array::JsonArray;
pub use loki::Loki;
pub use ndjson::Ndjson;
pub use otlp::Otlp;

/// One record on its way out: the exact JSON line evtrail wrote (signature
/// included) and where it belongs, so a receiver can de-duplicate by
/// (`stream`, `seq`).
///
/// # Examples
///
/// ```
/// use evtrail::http::Outgoing;
///
/// let r = Outgoing::new("app", 7, br#"{"v":1,"stream":"app","seq":7}"#);
/// assert_eq!((r.stream(), r.seq()), ("app", 7));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    stream: &'a str,
    seq: u64,
    line: &'a [u8],
}

impl<'a> Outgoing<'a> {
    /// A record of `stream` with sequence number `seq` and JSON `line`
    /// (without its trailing newline).
    pub fn new(stream: &'a str, seq: u64, line: &'a [u8]) -> Outgoing<'a> {
        Outgoing { stream, seq, line }
    }

    /// The stream the record belongs to.
    pub fn stream(&self) -> &'a str {
        self.stream
    }

    /// The record's sequence number within its stream.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The record as evtrail wrote it: one JSON object, no newline.
    pub fn line(&self) -> &'a [u8] {
        self.line
    }
}

/// Why records could not be encoded (for example a damaged line read back
/// from the spool). The batch goes to the dead-letter file with this reason.
///
/// # Examples
///
/// ```
/// use evtrail::http::EncodeError;
///
/// let e = EncodeError::new("record 3 of stream `app` has no `ts`");
/// assert_eq!(e.to_string(), "record 3 of stream `app` has no `ts`");
/// ```
#[derive(Debug)]
pub struct EncodeError {
    message: String,
}

impl EncodeError {
    /// An error saying `message`.
    pub fn new(message: impl Into<String>) -> EncodeError {
        EncodeError {
            message: message.into(),
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EncodeError {}

/// What a successful (2xx) answer really means, for APIs that report
/// per-item failures inside a 200.
///
/// # Examples
///
/// ```
/// use evtrail::http::{ElasticBulk, Encode, Verdict};
///
/// let bulk = ElasticBulk::new("logs");
/// assert_eq!(bulk.check_response(br#"{"took":3,"errors":false,"items":[]}"#), Verdict::Delivered);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every record was accepted.
    Delivered,
    /// Try the batch again later (the receiver is overloaded).
    Retry(String),
    /// The receiver refused the batch for good: it goes to the dead-letter
    /// file with this reason.
    Reject(String),
}

/// Turns records into a request body for one receiving API.
///
/// # Examples
///
/// ```
/// use evtrail::http::{Encode, EncodeError, Outgoing};
///
/// /// Sends the lines separated by newlines, as plain text.
/// struct Lines;
///
/// impl Encode for Lines {
///     fn content_type(&self) -> &str {
///         "text/plain"
///     }
///     fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
///         for r in records {
///             out.extend_from_slice(r.line());
///             out.push(b'\n');
///         }
///         Ok(())
///     }
/// }
///
/// let mut body = Vec::new();
/// Lines.encode(&[Outgoing::new("app", 1, br#"{"seq":1}"#)], &mut body).unwrap();
/// assert_eq!(body, b"{\"seq\":1}\n");
/// ```
pub trait Encode: Send + Sync + 'static {
    /// The body's media type, sent as `Content-Type`.
    fn content_type(&self) -> &str;

    /// Appends the body for `records` (in order, at least one) to `out`.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] when a record cannot be expressed in this format;
    /// the whole batch then goes to the dead-letter file.
    fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError>;

    /// Query parameters every request carries (ClickHouse's `query`).
    /// Default: none.
    fn query(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Judges the body of a 2xx answer. Default: [`Verdict::Delivered`].
    fn check_response(&self, body: &[u8]) -> Verdict {
        let _ = body;
        Verdict::Delivered
    }
}
