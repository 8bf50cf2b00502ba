//! The record MAC scheme of `signing.md`: per-stream keys, the chained
//! record signature, and its text form (unpadded base64url).
//!
//! The domain strings below are part of the on-disk format and must never
//! change. This module depends on nothing but std and the hash crates
//! (`sha2`, `hmac`): no I/O, and of a key only the secret's bytes.

use hmac::{Hmac, KeyInit, Mac};
use sha2::block_api::compress256;
use sha2::{Digest, Sha256};

/// Length of a record signature as written: the 32-byte HMAC-SHA256 tag in
/// unpadded base64url.
pub(crate) const SIG_LEN: usize = 43;

/// A record signature as written in the line (and chained as text).
pub(crate) type Sig = [u8; SIG_LEN];

/// The `prev` of a stream's first record: the signature text of 32 zero
/// bytes, 43 ASCII 'A's.
pub(crate) const GENESIS: Sig = [b'A'; SIG_LEN];

const STREAM_KEY_DOMAIN: &[u8] = b"evtrail/v1 stream-key\x00";
const RECORD_DOMAIN: &[u8] = b"evtrail/v1 record\x00";

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// An HMAC-SHA256 state keyed with `key`.
///
/// Performs HMAC's own key preparation (keys longer than a block are hashed,
/// shorter ones zero-padded to the block size) so that the block-sized,
/// infallible `KeyInit::new` can be used: `new_from_slice` returns a
/// `Result` although HMAC accepts every key length, and this avoids an
/// unreachable error path.
pub(crate) fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    let mut block = hmac::digest::Key::<HmacSha256>::default();
    if key.len() <= block.len() {
        block[..key.len()].copy_from_slice(key);
    } else {
        let hashed = Sha256::digest(key);
        block[..hashed.len()].copy_from_slice(&hashed);
    }
    <HmacSha256 as KeyInit>::new(&block)
}

/// The per-stream key: HMAC-SHA256(key = secret, message =
/// "evtrail/v1 stream-key" || 0x00 || UTF-8 stream name).
///
/// Separate stream keys make a record spliced in from another stream fail
/// to verify even when both streams share the secret.
pub(crate) fn stream_key(secret: &[u8], stream: &str) -> [u8; 32] {
    hmac_sha256(secret)
        .chain_update(STREAM_KEY_DOMAIN)
        .chain_update(stream.as_bytes())
        .finalize()
        .into_bytes()
        .into()
}

/// SHA-256's initial hash value (FIPS 180-4, section 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// A SHA-256 block.
type Block = [u8; 64];

/// The SHA-256 state after the one block `key` (at most a block long,
/// zero-padded) XOR `pad`: where each of HMAC's two hashes starts.
fn keyed_state(key: &[u8; 32], pad: u8) -> [u32; 8] {
    let mut block = [pad; 64];
    for (b, k) in block.iter_mut().zip(key) {
        *b ^= k;
    }
    let mut state = SHA256_IV;
    compress256(&mut state, &[block]);
    state
}

/// A keyed MAC for one stream, built once; signing a record starts from
/// the states after HMAC's two key blocks.
///
/// HMAC is done here on SHA-256's compression function rather than with
/// the `hmac` crate: a record's MAC then costs no copy of a buffered
/// hasher, and the fixed-length start of the message (domain and `prev`)
/// is laid into the first block directly. The tests check it against the
/// crate.
#[derive(Clone)]
pub(crate) struct StreamMac {
    /// The inner hash's state after the key block XOR ipad.
    inner: [u32; 8],
    /// The outer hash's state after the key block XOR opad.
    outer: [u32; 8],
}

/// Bytes of the inner message before the line: the record domain and
/// `prev`.
const SIGNED_HEAD: usize = RECORD_DOMAIN.len() + SIG_LEN;
const _: () = assert!(SIGNED_HEAD < 64, "the head fits in the first block");

impl StreamMac {
    /// The MAC of `stream` for the signing secret `secret`.
    pub(crate) fn from_secret(secret: &[u8], stream: &str) -> StreamMac {
        let key = stream_key(secret, stream);
        StreamMac {
            inner: keyed_state(&key, 0x36),
            outer: keyed_state(&key, 0x5c),
        }
    }

    /// The record signature: unpadded base64url of
    /// `HMAC-SHA256(stream key, "evtrail/v1 record" || 0x00 || prev || line_prefix)`, where `prev` is
    /// the previous record's signature (as text) and `line_prefix` the exact
    /// bytes of the line before `,"sig":"`. Writes 43 ASCII bytes into `out`.
    pub(crate) fn sign(&self, prev: &Sig, line_prefix: &[u8], out: &mut Sig) {
        let mut state = self.inner;
        let mut block: Block = [0; 64];
        block[..RECORD_DOMAIN.len()].copy_from_slice(RECORD_DOMAIN);
        block[RECORD_DOMAIN.len()..SIGNED_HEAD].copy_from_slice(prev);
        let fill = line_prefix.len().min(64 - SIGNED_HEAD);
        block[SIGNED_HEAD..SIGNED_HEAD + fill].copy_from_slice(&line_prefix[..fill]);
        let mut pos = SIGNED_HEAD + fill;
        if pos == 64 {
            // The whole blocks of the line are hashed where they lie; only
            // the tail is copied.
            let (blocks, tail) = line_prefix[fill..].as_chunks::<64>();
            compress256(&mut state, &[block]);
            if !blocks.is_empty() {
                compress256(&mut state, blocks);
            }
            block = [0; 64];
            block[..tail.len()].copy_from_slice(tail);
            pos = tail.len();
        }
        // Padding: 0x80, zeros, and the message length in bits, which
        // counts the key block.
        let bits = 8 * (64 + SIGNED_HEAD + line_prefix.len()) as u64;
        block[pos] = 0x80;
        if pos >= 56 {
            compress256(&mut state, &[block]);
            block = [0; 64];
        }
        block[56..].copy_from_slice(&bits.to_be_bytes());
        compress256(&mut state, &[block]);

        // The outer hash of the key block and the 32-byte inner tag.
        let mut outer: Block = [0; 64];
        for (chunk, word) in outer.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        outer[32] = 0x80;
        outer[56..].copy_from_slice(&(8 * (64 + 32) as u64).to_be_bytes());
        let mut state = self.outer;
        compress256(&mut state, &[outer]);
        // The tag is the state's words, big-endian.
        let word = |i: usize| u64::from(state[2 * i]) << 32 | u64::from(state[2 * i + 1]);
        sig_encode_words(&[word(0), word(1), word(2), word(3)], out);
    }

    /// Whether `sig` (43 base64url characters) is the signature of
    /// (`prev`, `line_prefix`), compared in constant time.
    pub(crate) fn verify(&self, prev: &Sig, line_prefix: &[u8], sig: &[u8]) -> bool {
        // The length is public (fixed by the format), so returning early on
        // it leaks nothing.
        if sig.len() != SIG_LEN {
            return false;
        }
        let mut expected = [0u8; SIG_LEN];
        self.sign(prev, line_prefix, &mut expected);
        // Comparing the text rather than decoded bytes also rejects a
        // non-canonical last character (one that decodes to the same tag),
        // which would break the chain at the next record (where the
        // signature is hashed as text).
        let diff = expected
            .iter()
            .zip(sig)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        // Keeps the optimiser from turning the fold into an early-exit
        // comparison, which would leak how many leading bytes matched.
        std::hint::black_box(diff) == 0
    }
}

// Kept by hand rather than the `base64` crate: every record's signature is
// encoded here, on the worker and in every verification, and this takes a
// third to a half of the crate's time (11-14 ns against 29-42 ns a
// signature, `measure_sig_encoders` below). The crate checks it in tests.

/// The base64url alphabet (RFC 4648, section 5).
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Every pair of base64url characters, indexed by the 12 bits the pair
/// encodes, so that encoding a tag takes half the table lookups.
static B64URL_PAIRS: [[u8; 2]; 4096] = {
    let mut pairs = [[0; 2]; 4096];
    let mut i = 0;
    while i < pairs.len() {
        pairs[i] = [B64URL[i >> 6], B64URL[i & 0x3f]];
        i += 1;
    }
    pairs
};

/// Writes a 32-byte tag, given as its four big-endian 64-bit words, as
/// unpadded base64url: 43 characters, the last of which carries 4 bits.
fn sig_encode_words(t: &[u64; 4], out: &mut Sig) {
    const LOW48: u64 = (1 << 48) - 1;
    // Five groups of 48 bits make eight characters each: four pairs of
    // six-bit characters, looked up twelve bits at a time.
    let groups = [
        t[0] >> 16,
        (t[0] << 32 | t[1] >> 32) & LOW48,
        (t[1] << 16 | t[2] >> 48) & LOW48,
        t[2] & LOW48,
        t[3] >> 16,
    ];
    let pair = |v: u64| B64URL_PAIRS[(v & 0xfff) as usize];
    for (chars, v) in out.chunks_exact_mut(8).zip(groups) {
        for (k, two) in chars.chunks_exact_mut(2).enumerate() {
            two.copy_from_slice(&pair(v >> (36 - 12 * k)));
        }
    }
    // The last 16 bits make three characters, the last padded with zeros.
    let v = (t[3] & 0xffff) << 8;
    let [a, b] = pair(v >> 12);
    out[40] = a;
    out[41] = b;
    out[42] = B64URL[((v >> 6) & 0x3f) as usize];
}

/// Whether `b` may appear in a signature (the base64url alphabet).
pub(crate) fn is_sig_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::Engine;

    pub(crate) fn secret_0_to_31() -> Vec<u8> {
        (0u8..32).collect()
    }

    pub(crate) fn plain_hex(bytes: &[u8]) -> String {
        use std::fmt::Write as _;
        bytes.iter().fold(String::new(), |mut s, b| {
            write!(s, "{b:02x}").unwrap();
            s
        })
    }

    /// [`sig_encode_words`] of a tag given as bytes.
    fn sig_encode(tag: &[u8; 32], out: &mut Sig) {
        let word = |i: usize| u64::from_be_bytes(tag[8 * i..8 * i + 8].try_into().unwrap());
        sig_encode_words(&[word(0), word(1), word(2), word(3)], out);
    }

    pub(crate) fn sign_str(mac: &StreamMac, prev: &Sig, prefix: &[u8]) -> Sig {
        let mut out = [0u8; SIG_LEN];
        mac.sign(prev, prefix, &mut out);
        out
    }

    #[test]
    fn known_answers_match_an_independent_hmac_and_pinned_values() {
        let secret = secret_0_to_31();

        let mut reference = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
        reference.update(b"evtrail/v1 stream-key\x00app");
        let reference_sk = reference.finalize().into_bytes();
        let sk = stream_key(&secret, "app");
        assert_eq!(sk[..], reference_sk[..]);
        assert_eq!(
            plain_hex(&sk),
            "5ae62d75a2139be78b79697c101e982e6c2243c408ea3fd40b414cc55a953d86"
        );

        let mut reference = Hmac::<Sha256>::new_from_slice(&reference_sk).unwrap();
        reference.update(b"evtrail/v1 record\x00");
        reference.update(&[b'A'; 43]);
        reference.update(br#"{"v":1}"#);
        let reference_sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(reference.finalize().into_bytes());

        let sig = sign_str(
            &StreamMac::from_secret(&secret, "app"),
            &GENESIS,
            br#"{"v":1}"#,
        );
        assert_eq!(std::str::from_utf8(&sig).unwrap(), reference_sig);
        assert_eq!(
            std::str::from_utf8(&sig).unwrap(),
            "zLvw9puWyRLeJqOvbPsAJ_28RByEgvBYVlX4EenvzWk"
        );
    }

    /// The record signature as the `hmac` crate computes it.
    fn hmac_crate_sig(secret: &[u8], stream: &str, prev: &Sig, line: &[u8]) -> Sig {
        let tag = Hmac::<Sha256>::new_from_slice(&stream_key(secret, stream))
            .unwrap()
            .chain_update(RECORD_DOMAIN)
            .chain_update(prev)
            .chain_update(line)
            .finalize()
            .into_bytes();
        let mut sig = [0u8; SIG_LEN];
        sig_encode(&tag.into(), &mut sig);
        sig
    }

    proptest::proptest! {
        /// Any key, stream, `prev` and line, of up to many blocks.
        #[test]
        fn record_signatures_match_the_hmac_crate(
            secret in proptest::collection::vec(proptest::num::u8::ANY, 32..96),
            stream in "[a-z]{1,12}",
            prev in proptest::array::uniform32(0..64u8),
            line in proptest::collection::vec(proptest::num::u8::ANY, 0..2000),
        ) {
            let mac = StreamMac::from_secret(&secret, &stream);
            let mut p = GENESIS;
            for (c, v) in p.iter_mut().zip(prev) {
                *c = B64URL[usize::from(v)];
            }
            let expected = hmac_crate_sig(&secret, &stream, &p, &line);
            proptest::prop_assert_eq!(sign_str(&mac, &p, &line), expected);
        }
    }

    #[test]
    fn record_signatures_match_the_hmac_crate_at_every_padding_boundary() {
        let secret = secret_0_to_31();
        let mac = StreamMac::from_secret(&secret, "app");
        let mut prev = GENESIS;
        // Every length of the last block, with and without a second
        // padding block, over one to four blocks.
        for len in 0..260 {
            let line: Vec<u8> = (0..len).map(|i: u32| (i * 31 % 251) as u8).collect();
            let expected = hmac_crate_sig(&secret, "app", &prev, &line);
            let sig = sign_str(&mac, &prev, &line);
            assert_eq!(sig, expected, "line length {len}");
            prev = sig;
        }
    }

    #[test]
    fn internal_hmac_matches_rfc_4231() {
        // Test case 2: a key shorter than the block, zero-padded.
        let tag = hmac_sha256(b"Jefe")
            .chain_update(b"what do ya want for nothing?")
            .finalize();
        assert_eq!(
            plain_hex(tag.as_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block, hashed first.
        let tag = hmac_sha256(&[0xaa; 131])
            .chain_update(b"Test Using Larger Than Block-Size Key - Hash Key First")
            .finalize();
        assert_eq!(
            plain_hex(tag.as_bytes()),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn internal_hmac_matches_the_crate_at_the_block_size_boundary() {
        for len in [0, 1, 32, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..len).map(|i: u32| (i * 7 % 251) as u8).collect();
            let ours = hmac_sha256(&key).chain_update(b"msg").finalize();
            let theirs = Hmac::<Sha256>::new_from_slice(&key)
                .unwrap()
                .chain_update(b"msg")
                .finalize();
            assert_eq!(ours.as_bytes(), theirs.as_bytes(), "key length {len}");
        }
    }

    #[test]
    fn signatures_verify_and_any_change_breaks_them() {
        let secret = secret_0_to_31();
        let mac = StreamMac::from_secret(&secret, "app");
        let prefix = br#"{"v":1,"seq":1,"kid":"k1""#.to_vec();
        let mut prev = GENESIS;
        prev[..4].copy_from_slice(b"abcd");
        let sig = sign_str(&mac, &prev, &prefix);
        assert!(mac.verify(&prev, &prefix, &sig));

        for i in 0..prefix.len() {
            let mut changed = prefix.clone();
            changed[i] ^= 0x01;
            assert!(!mac.verify(&prev, &changed, &sig), "prefix byte {i}");
        }
        for i in 0..prev.len() {
            let mut changed = prev;
            changed[i] ^= 0x01;
            assert!(!mac.verify(&changed, &prefix, &sig), "prev byte {i}");
        }
        for i in 0..sig.len() {
            let mut changed = sig;
            changed[i] ^= 0x01;
            assert!(!mac.verify(&prev, &prefix, &changed), "sig byte {i}");
        }
        assert!(!mac.verify(&prev, &prefix, &sig[..SIG_LEN - 1]));
        assert!(!mac.verify(&prev, &prefix, &[sig.as_slice(), b"A"].concat()));
        // The last character carries 4 bits; the one after it in the
        // alphabet decodes to the same tag but is not the canonical text.
        let last = B64URL.iter().position(|&c| c == sig[SIG_LEN - 1]).unwrap();
        assert_eq!(last % 4, 0, "canonical: the low two bits are zero");
        let mut non_canonical = sig;
        non_canonical[SIG_LEN - 1] = B64URL[last + 1];
        assert!(!mac.verify(&prev, &prefix, &non_canonical));
        assert!(!mac.verify(&prev, &prefix[..prefix.len() - 1], &sig));

        let other_stream = StreamMac::from_secret(&secret, "audit");
        assert_ne!(sign_str(&other_stream, &prev, &prefix), sig);
        assert!(!other_stream.verify(&prev, &prefix, &sig));

        let other_secret = [7u8; 32];
        assert!(!StreamMac::from_secret(&other_secret, "app").verify(&prev, &prefix, &sig));
    }

    #[test]
    fn a_cloned_mac_signs_independently() {
        let secret = secret_0_to_31();
        let mac = StreamMac::from_secret(&secret, "app");
        let first = sign_str(&mac, &GENESIS, b"one");
        let _ = sign_str(&mac, &GENESIS, b"two");
        assert_eq!(sign_str(&mac.clone(), &GENESIS, b"one"), first);
    }

    /// The hand-written encoder agrees with the `base64` crate on every
    /// byte value in every position, and the genesis text is the encoding
    /// of 32 zero bytes.
    /// The figure behind keeping [`sig_encode_words`]: the same tags
    /// through it and through the `base64` crate (the tag's words to bytes,
    /// then `URL_SAFE_NO_PAD.encode_slice`), best of five rounds:
    /// `cargo test --release --lib measure_sig_encoders -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement: run it in release with --ignored --nocapture"]
    fn measure_sig_encoders() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use std::hint::black_box;
        use std::time::Instant;
        const N: u64 = 4_000_000;
        let tag = |i: u64| {
            let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            [x, x.rotate_left(17), x ^ 0x5555, x.rotate_right(29)]
        };
        let by_crate = |t: &[u64; 4], out: &mut Sig| {
            let mut bytes = [0u8; 32];
            for (chunk, w) in bytes.chunks_exact_mut(8).zip(t) {
                chunk.copy_from_slice(&w.to_be_bytes());
            }
            URL_SAFE_NO_PAD.encode_slice(bytes, out).unwrap();
        };
        let (mut a, mut b) = ([0u8; SIG_LEN], [0u8; SIG_LEN]);
        for i in 0..1000 {
            sig_encode_words(&tag(i), &mut a);
            by_crate(&tag(i), &mut b);
            assert_eq!(a, b);
        }
        let time = |f: &dyn Fn(&[u64; 4], &mut Sig)| {
            (0..5)
                .map(|_| {
                    let start = Instant::now();
                    let mut out = [0u8; SIG_LEN];
                    for i in 0..N {
                        f(black_box(&tag(i)), &mut out);
                        black_box(&out);
                    }
                    start.elapsed().as_nanos() as f64 / N as f64
                })
                .fold(f64::MAX, f64::min)
        };
        let hand = time(&|t, o| sig_encode_words(t, o));
        let krate = time(&by_crate);
        println!(
            "signature to base64url: by hand {hand:.1} ns, base64 crate {krate:.1} ns ({:.2}x)",
            krate / hand
        );
    }

    #[test]
    fn sig_encode_is_unpadded_base64url() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut tag = [0u8; 32];
        let mut out = [0u8; SIG_LEN];
        sig_encode(&tag, &mut out);
        assert_eq!(out, GENESIS);
        for start in 0..=255u8 {
            for (i, b) in tag.iter_mut().enumerate() {
                *b = start.wrapping_add((i as u8).wrapping_mul(37));
            }
            sig_encode(&tag, &mut out);
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                URL_SAFE_NO_PAD.encode(tag)
            );
            assert!(out.iter().all(|&b| is_sig_char(b)));
        }
        assert!(!is_sig_char(b'+') && !is_sig_char(b'/') && !is_sig_char(b'='));
    }

    #[test]
    fn every_character_pair_is_two_alphabet_lookups() {
        for (i, pair) in B64URL_PAIRS.iter().enumerate() {
            assert_eq!(*pair, [B64URL[i >> 6], B64URL[i & 0x3f]], "pair {i:#05x}");
        }
    }
}
