//! The JSON writers the encoder is built from: string literals escaped a
//! word at a time, and floats. They write bytes only; no record type here.

pub(super) fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        out.extend_from_slice(b"\"inf\"");
    } else {
        out.extend_from_slice(b"\"-inf\"");
    }
}

/// Writes `s` as a JSON string literal.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_escaped(out, s);
    out.push(b'"');
}

/// Writes `s` escaped for the inside of a JSON string literal.
///
/// Most values need no escaping at all, so eight bytes at a time are checked
/// with word arithmetic and a clean string is copied whole; only a word
/// that may hold a quote, a backslash or a control byte is looked at byte
/// by byte.
pub(super) fn write_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    match first_suspect_word(bytes) {
        None => out.extend_from_slice(bytes),
        Some(at) => write_escaped_from(out, bytes, at),
    }
}

/// The word `bytes[i..i + 8]`, or the last 1 to 7 bytes padded with a byte
/// that never needs escaping, so short strings get the word test too.
fn word_at(bytes: &[u8], i: usize) -> u64 {
    match bytes.get(i..i + 8) {
        Some(word) => u64::from_le_bytes(word.try_into().expect("eight bytes")),
        None => {
            let n = bytes.len() - i;
            let pad = u64::from_le_bytes([b'a'; 8]) & !(u64::MAX >> (8 * (8 - n)));
            load_word(&bytes[i..]) | pad
        }
    }
}

/// Where the first word of `bytes` that [`may_need_escape`] starts.
fn first_suspect_word(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        if may_need_escape(word_at(bytes, i)) {
            return Some(i);
        }
        i += 8;
    }
    None
}

/// Writes `bytes` escaped, knowing that the words before `start` need no
/// escaping.
pub(super) fn write_escaped_from(out: &mut Vec<u8>, bytes: &[u8], start: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut run = 0;
    let mut i = start;
    while i < bytes.len() {
        if !may_need_escape(word_at(bytes, i)) {
            i += 8;
            continue;
        }
        let end = (i + 8).min(bytes.len());
        for (at, &b) in bytes.iter().enumerate().take(end).skip(i) {
            let esc: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f => b"",
                _ => continue,
            };
            out.extend_from_slice(&bytes[run..at]);
            if esc.is_empty() {
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xf) as usize],
                ]);
            } else {
                out.extend_from_slice(esc);
            }
            run = at + 1;
        }
        i = end;
    }
    out.extend_from_slice(&bytes[run..]);
}

/// Whether any of the eight bytes of `word` may be a quote, a backslash or
/// below 0x20. Never wrong when it says no; may say yes for a clean word
/// (a borrow can carry past a true match), which only costs a byte-wise look.
fn may_need_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The classic "has a zero byte" / "has a byte below n" tests.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (zero(quote) | zero(backslash) | control) & HIGH != 0
}

/// Up to eight bytes as a little-endian word, zero-padded, read without
/// a byte loop or a call to copy them: two overlapping loads (of four
/// bytes, or of single bytes) cover every length.
fn load_word(b: &[u8]) -> u64 {
    let n = b.len();
    debug_assert!(n <= 8);
    if n >= 4 {
        let lo = u32::from_le_bytes(b[..4].try_into().expect("four bytes"));
        let hi = u32::from_le_bytes(b[n - 4..].try_into().expect("four bytes"));
        u64::from(lo) | u64::from(hi) << (8 * (n - 4))
    } else if n > 0 {
        u64::from(b[0])
            | u64::from(b[n / 2]) << (8 * (n / 2))
            | u64::from(b[n - 1]) << (8 * (n - 1))
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_str(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_quotes_controls_and_keep_non_ascii() {
        for s in [
            "plain",
            "a\"b",
            "back\\slash",
            "nl\nr\rt\t",
            "\u{0}\u{1f}\u{7f}",
            "héllo 世界 🦀",
            "\u{2028}",
        ] {
            let enc = json_str(s);
            let back: String = serde_json::from_str(&enc).unwrap();
            assert_eq!(back, s, "round trip of {enc}");
        }
        assert_eq!(json_str("\u{1}"), "\"\\u0001\"");
    }

    /// serde_json's escaping, but for the two short forms (`\b`, `\f`)
    /// evtrail writes as `\u00XX`; both are valid JSON.
    fn serde_escaped(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            let one = match c {
                '\u{8}' => "\\u0008".to_owned(),
                '\u{c}' => "\\u000c".to_owned(),
                c => {
                    let quoted = serde_json::to_string(&c.to_string()).unwrap();
                    quoted[1..quoted.len() - 1].to_owned()
                }
            };
            out.push_str(&one);
        }
        out.push('"');
        out
    }

    /// The word-at-a-time skip must never step over a byte that needs
    /// escaping, wherever it sits in the word: the output equals
    /// serde_json's for every string, and runs of clean bytes around the
    /// special ones cover each position of an 8-byte word.
    #[test]
    fn escaping_matches_serde_json_at_every_word_offset() {
        let specials = [
            '"', '\\', '\n', '\u{0}', '\u{1f}', '\u{7f}', 'é', '\u{2028}', ' ', '!', 'A',
        ];
        for pad in 0..17 {
            for &c in &specials {
                for tail in 0..9 {
                    let s = format!("{}{c}{}", "x".repeat(pad), "y".repeat(tail));
                    assert_eq!(json_str(&s), serde_escaped(&s), "{s:?}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn escaping_matches_serde_json(s in "\\PC*|[\\x00-\\x7f]{0,40}") {
            let ours = json_str(&s);
            proptest::prop_assert_eq!(&ours, &serde_escaped(&s));
            proptest::prop_assert_eq!(serde_json::from_str::<String>(&ours).unwrap(), s);
        }
    }

    #[test]
    fn load_word_reads_every_length_zero_padded() {
        let bytes: Vec<u8> = (1..=8).collect();
        for n in 0..=8 {
            let mut padded = [0u8; 8];
            padded[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(load_word(&bytes[..n]), u64::from_le_bytes(padded), "{n}");
        }
    }

    #[test]
    fn floats_that_json_cannot_express_become_strings() {
        for (v, want) in [
            (1.5, "1.5"),
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"inf\""),
            (f64::NEG_INFINITY, "\"-inf\""),
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }
}
