//! A record's head read without building anything: the keys the chain
//! check needs (`stream`, `seq`, `ts`, `event`, `kid`, `fields`), from a
//! line in the form the writer gives it.
//!
//! It is a shortcut, never a judge: it takes a line only when
//! `serde_json` would take it too and read the same values from it, and
//! leaves everything else to `serde_json` (whitespace between tokens,
//! `\u` escapes, escapes in the values it returns or in the top-level
//! keys, a key given twice, deep nesting, control bytes, text that is not
//! UTF-8, a `seq` that is not a plain integer). A line is therefore judged
//! exactly as a full parse judges it; the tests hold the two together.

/// The head of a record, borrowed from its line.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head<'a> {
    pub(super) stream: &'a str,
    pub(super) seq: u64,
    pub(super) ts: Option<&'a str>,
    /// The `event` value's JSON text.
    pub(super) event: Option<&'a str>,
    pub(super) kid: Option<&'a str>,
    /// The `fields` value's JSON text.
    pub(super) fields: Option<&'a str>,
}

/// Nesting deeper than this is left to `serde_json` (which allows 128).
const MAX_DEPTH: u32 = 64;

/// The head of `line` (the whole line, signature included), or `None`
/// when the line is not in the plain form this reads: then only a full
/// parse can say what it is.
pub(super) fn read(line: &[u8]) -> Option<Head<'_>> {
    let text = std::str::from_utf8(line).ok()?;
    // Without an early exit, so that it runs over whole vectors.
    if line.iter().fold(false, |seen, &b| seen | (b < 0x20)) {
        return None;
    }
    let mut s = Scan { b: line, i: 0 };
    s.eat(b'{')?;
    let (mut stream, mut seq, mut ts, mut event, mut kid, mut fields) =
        (None, None, None, None, None, None);
    if s.peek()? != b'}' {
        loop {
            let (k0, k1, escaped) = s.string()?;
            if escaped {
                return None;
            }
            s.eat(b':')?;
            let start = s.i;
            match &line[k0..k1] {
                b"stream" => once(&mut stream, s.plain_string().map(|(a, b)| &text[a..b]))?,
                b"seq" => once(&mut seq, s.integer())?,
                b"ts" => once(&mut ts, s.optional_plain_string(text))?,
                b"kid" => once(&mut kid, s.optional_plain_string(text))?,
                b"event" => once(&mut event, s.optional_raw(text, start))?,
                b"fields" => once(&mut fields, s.optional_raw(text, start))?,
                _ => s.value(1)?,
            }
            match s.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    } else {
        s.i += 1;
    }
    if s.i != line.len() {
        return None;
    }
    Some(Head {
        stream: stream?,
        seq: seq?,
        ts: ts.flatten(),
        event: event.flatten(),
        kid: kid.flatten(),
        fields: fields.flatten(),
    })
}

/// Sets a key's value the first time; a key given twice is `None`
/// (`serde_json` rejects it).
fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

/// Where the first `"` or `\\` in `b` is. A record's strings are short,
/// too short for a search's set-up to pay: eight bytes are tested at once
/// in a word instead.
fn quote_or_backslash(b: &[u8]) -> Option<usize> {
    const LO: u64 = u64::from_ne_bytes([1; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTE: u64 = LO * b'"' as u64;
    const BACKSLASH: u64 = LO * b'\\' as u64;
    // The high bit of each zero byte of `x` (and of none before the first).
    let zeros = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let (words, rest) = b.as_chunks::<8>();
    for (k, w) in words.iter().enumerate() {
        let w = u64::from_le_bytes(*w);
        let found = zeros(w ^ QUOTE) | zeros(w ^ BACKSLASH);
        if found != 0 {
            return Some(8 * k + found.trailing_zeros() as usize / 8);
        }
    }
    let done = 8 * words.len();
    rest.iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|p| done + p)
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i.checked_add(word.len())?;
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// A string: where its content starts and ends, and whether it holds
    /// an escape. `\u` escapes are not taken.
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escaped = false;
        loop {
            let at = self.i + quote_or_backslash(&self.b[self.i..])?;
            if self.b[at] == b'"' {
                self.i = at + 1;
                return Some((start, at, escaped));
            }
            escaped = true;
            match self.b.get(at + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i = at + 2,
                _ => return None,
            }
        }
    }

    /// A string without escapes: its content's bounds.
    fn plain_string(&mut self) -> Option<(usize, usize)> {
        match self.string()? {
            (a, b, false) => Some((a, b)),
            _ => None,
        }
    }

    /// A string without escapes, or `null`.
    fn optional_plain_string<'t>(&mut self, text: &'t str) -> Option<Option<&'t str>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        self.plain_string().map(|(a, b)| Some(&text[a..b]))
    }

    /// Any value, as its JSON text; `null` is none.
    fn optional_raw<'t>(&mut self, text: &'t str, start: usize) -> Option<Option<&'t str>> {
        self.value(1)?;
        let raw = &text[start..self.i];
        Some((raw != "null").then_some(raw))
    }

    /// A non-negative integer without sign, fraction or exponent that
    /// fits a `u64`.
    fn integer(&mut self) -> Option<u64> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        let ok = digits == 1 || (digits > 1 && self.b[start] != b'0');
        (ok && !matches!(self.peek(), Some(b'.' | b'e' | b'E'))).then_some(v)
    }

    /// A JSON number, by its grammar.
    fn number(&mut self) -> Option<()> {
        if self.peek()? == b'-' {
            self.i += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }

    /// Any JSON value, checked and skipped.
    fn value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.container(depth, b'}', true),
            b'[' => self.container(depth, b']', false),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// An object (`keyed`) or an array, closed by `close`.
    fn container(&mut self, depth: u32, close: u8, keyed: bool) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.i += 1;
        if self.peek()? == close {
            self.i += 1;
            return Some(());
        }
        loop {
            if keyed {
                self.string()?;
                self.eat(b':')?;
            }
            self.value(depth + 1)?;
            match self.next()? {
                b',' => {}
                c if c == close => return Some(()),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::value::RawValue;

    // The head as `serde_json` reads it (the verifier's full parse).
    use crate::verify::parse::Head as Full;

    /// Whenever the shortcut reads a line, a full parse reads it too, with
    /// the same values (`event` and `fields` as the same JSON text).
    fn agrees(line: &[u8]) {
        let Some(h) = read(line) else { return };
        let f: Full<'_> = serde_json::from_slice(line).unwrap_or_else(|e| {
            panic!(
                "the shortcut read a line serde_json rejects ({e}): {}",
                String::from_utf8_lossy(line)
            )
        });
        assert_eq!(h.stream, f.stream);
        assert_eq!(h.seq, f.seq);
        assert_eq!(h.ts, f.ts.as_deref());
        assert_eq!(h.kid, f.kid.as_deref());
        assert_eq!(h.event, f.event.map(RawValue::get));
        assert_eq!(h.fields, f.fields.map(RawValue::get));
    }

    const LINE: &str = r#"{"ts":"2026-11-20T12:00:00.000001Z","level":"INFO","event":"user login attempt","stream":"app","seq":42,"fields":{"user_id":"u\"1","n":-1.5e-3,"ok":true,"x":null,"a":[1,[2,{}],[]]},"kid":"k1","sig":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;

    #[test]
    fn a_written_line_is_read_as_a_full_parse_reads_it() {
        let h = read(LINE.as_bytes()).expect("the writer's form");
        assert_eq!(
            (h.stream, h.seq, h.ts, h.kid),
            ("app", 42, Some("2026-11-20T12:00:00.000001Z"), Some("k1"))
        );
        assert_eq!(h.event, Some("\"user login attempt\""));
        assert!(h.fields.is_some_and(|f| f.starts_with("{\"user_id\"")));
        agrees(LINE.as_bytes());
    }

    #[test]
    fn what_it_does_not_read_is_left_to_the_full_parse() {
        for line in [
            // Whitespace, escapes in what it returns, `\u`, a key twice.
            r#"{ "stream":"app","seq":1}"#,
            r#"{"stream":"a\"pp","seq":1}"#,
            r#"{"stream":"app","seq":1,"kid":"k\n"}"#,
            r#"{"stream":"app","seq":1,"x":"\u0041"}"#,
            r#"{"stream":"app","seq":1,"seq":2}"#,
            r#"{"st\ream":"app","seq":1}"#,
            // Not a plain integer, or too big for a u64.
            r#"{"stream":"app","seq":1.0}"#,
            r#"{"stream":"app","seq":01}"#,
            r#"{"stream":"app","seq":-1}"#,
            r#"{"stream":"app","seq":18446744073709551616}"#,
            // Not JSON, or not the whole line.
            r#"{"stream":"app","seq":1,}"#,
            r#"{"stream":"app","seq":1}x"#,
            r#"{"stream":"app","seq":1,"x":tru}"#,
            r#"{"stream":"app","seq":1,"x":1.}"#,
            r#"{"stream":"app","seq":1,"x":[1,]}"#,
            r#"{"stream":"app"}"#,
            r#"{"stream":null,"seq":1}"#,
            r#"{"stream":"app","seq":1,"ts":5}"#,
        ] {
            assert_eq!(read(line.as_bytes()), None, "{line}");
        }
        let deep = format!(
            r#"{{"stream":"app","seq":1,"x":{}{}}}"#,
            "[".repeat(70),
            "]".repeat(70)
        );
        assert_eq!(read(deep.as_bytes()), None);
        assert_eq!(read(b"{\"stream\":\"app\",\"seq\":1,\"x\":\"\x01\"}"), None);
        assert_eq!(read(b"{\"stream\":\"app\",\"seq\":1,\"x\":\"\xff\"}"), None);
        // Nulls read as absent, as the full parse reads them.
        let h =
            read(br#"{"stream":"app","seq":7,"ts":null,"kid":null,"event":null,"fields":null}"#)
                .unwrap();
        assert_eq!((h.ts, h.kid, h.event, h.fields), (None, None, None, None));
    }

    /// Pieces a line is made of: the writer's own, and near misses.
    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\\",
            "\\\"",
            "\\u0041",
            "\\n",
            " ",
            "null",
            "true",
            "fals",
            "0",
            "01",
            "-",
            "1.5",
            "1e",
            "2E+3",
            "18446744073709551615",
            "18446744073709551616",
            "\"stream\"",
            "\"seq\"",
            "\"ts\"",
            "\"kid\"",
            "\"event\"",
            "\"fields\"",
            "\"app\"",
            "\"k1\"",
            "\"x\"",
            "é",
            "\u{1}",
        ])
    }

    #[test]
    fn the_word_search_finds_the_first_quote_or_backslash() {
        for text in [
            "",
            "abc",
            "\"",
            "abcdefgh\"",
            "abcdefg\\\"",
            "é\"x",
            "0123456789abcdef\\",
        ] {
            let want = text.bytes().position(|c| c == b'"' || c == b'\\');
            assert_eq!(quote_or_backslash(text.as_bytes()), want, "{text}");
        }
    }

    proptest! {
        #[test]
        fn never_reads_what_a_full_parse_would_not(pieces in prop::collection::vec(piece(), 0..40)) {
            agrees(pieces.concat().as_bytes());
        }

        #[test]
        fn the_word_search_agrees_with_a_plain_one(b in prop::collection::vec(prop::sample::select(vec![b'a', b'"', b'\\', 0x80, 0xff, 0, b'!', b']']), 0..40)) {
            prop_assert_eq!(quote_or_backslash(&b), b.iter().position(|&c| c == b'"' || c == b'\\'));
        }

        #[test]
        fn edits_of_a_written_line_are_read_alike(at in 0..LINE.len(), cut in 0..4usize, with in piece()) {
            let mut line = LINE.as_bytes().to_vec();
            let end = (at + cut).min(line.len());
            line.splice(at..end, with.bytes());
            agrees(&line);
        }
    }
}
