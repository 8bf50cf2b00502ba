//! The signature text of `signing.md`, for the benches' bare HMAC chains:
//! the 32-byte HMAC-SHA256 tag as unpadded base64url.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Length of a signature as written: 43 base64url characters.
pub const SIG_LEN: usize = 43;

/// The `prev` of a stream's first record.
pub const GENESIS: [u8; SIG_LEN] = [b'A'; SIG_LEN];

/// Writes a 32-byte tag as a signature.
pub fn sig_encode(tag: &[u8], out: &mut [u8; SIG_LEN]) {
    let n = URL_SAFE_NO_PAD
        .encode_slice(tag, out)
        .expect("a 32-byte tag fits 43 characters");
    assert_eq!(n, SIG_LEN, "the tag is 32 bytes");
}
