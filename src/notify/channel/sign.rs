//! The signing primitives the chat APIs share: HMAC-SHA256 with standard
//! base64 output, URL encoding of a query value, and the time as the APIs
//! count it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use std::time::{SystemTime, UNIX_EPOCH};

/// HMAC-SHA256 of `msg` under `key`, as standard (padded) base64.
pub(crate) fn hmac_base64(key: &[u8], msg: &[u8]) -> String {
    STANDARD.encode(hmac_sha256(key, msg))
}

/// HMAC-SHA256 of `msg` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    crate::mac::hmac_sha256(key)
        .chain_update(msg)
        .finalize()
        .into_bytes()
        .into()
}

/// `value` percent-encoded for a query string: everything but ASCII letters
/// and digits (so base64's `+`, `/` and `=` become `%2B`, `%2F`, `%3D`).
pub(crate) fn url_encode(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

/// Milliseconds since the Unix epoch (0 for a clock before it).
pub(crate) fn unix_millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// Seconds since the Unix epoch (0 for a clock before it).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `url` with `params` appended to its query.
pub(crate) fn append_query(url: &str, params: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(url.len() + 64);
    out.push_str(url);
    let mut sep = if url.contains('?') {
        if url.ends_with('?') || url.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    for (k, v) in params {
        out.push_str(sep);
        out.push_str(k);
        out.push('=');
        out.push_str(v);
        sep = "&";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than a block is hashed first (RFC 4231 case 6).
        let tag = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex::encode(tag),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn url_encoding_covers_base64_specials() {
        assert_eq!(url_encode("ab+/c=="), "ab%2B%2Fc%3D%3D");
    }

    #[test]
    fn query_is_appended_with_the_right_separator() {
        assert_eq!(
            append_query("http://h/p", &[("a", "1"), ("b", "2")]),
            "http://h/p?a=1&b=2"
        );
        assert_eq!(
            append_query("http://h/p?t=x", &[("a", "1")]),
            "http://h/p?t=x&a=1"
        );
        assert_eq!(append_query("http://h/p?", &[("a", "1")]), "http://h/p?a=1");
    }
}
