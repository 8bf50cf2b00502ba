//! Masking of sensitive values before anything is written.
//!
//! This runs on the background worker once per string value of every record,
//! so the common case — a short string with nothing to mask — must cost one
//! pass over its bytes and no allocation. The scanners (and the one built-in
//! regex) only run when that pass says they could find something.
//!
//! Every scanner reports byte ranges of the *original* string; the ranges are
//! merged and applied in one go, so scanners never see each other's output
//! and overlapping findings cannot garble the result.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// The text that replaces a masked value.
pub(crate) const MASK: &str = "[REDACTED]";

/// Field names masked by default (matched as described below).
pub(crate) const DEFAULT_SENSITIVE_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "authorization",
    "cookie",
    "set_cookie",
];

/// Fewest digits a payment card number can have.
const CARD_MIN_DIGITS: usize = 13;

/// Most digits a payment card number can have.
const CARD_MAX_DIGITS: usize = 19;

/// Trailing card digits left readable, as card receipts do, so support can
/// still tell cards apart.
const CARD_VISIBLE_DIGITS: usize = 4;

/// `Bearer <token>` / `Basic <credentials>`: the token uses the RFC 7235
/// token68 alphabet, so it stops at quotes, commas and the like. The word
/// boundary is ASCII-only so the lazy DFA can run it on any input, and there
/// are no capture groups because plain `find` is much cheaper than captures.
const AUTH_SCHEME_PATTERN: &str = r"(?-u:\b)(?i-u:bearer|basic)\s+[A-Za-z0-9._~+/-]+=*";

/// The compiled [`AUTH_SCHEME_PATTERN`], built on first use so a disabled
/// redactor never pays for it.
static AUTH_SCHEME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(AUTH_SCHEME_PATTERN).expect("built-in pattern is valid"));

/// A user-supplied pattern that did not compile.
#[derive(Debug)]
pub(crate) struct InvalidPattern {
    /// The pattern as the user gave it.
    pub(crate) pattern: String,
    /// Why the regex engine rejected it.
    pub(crate) source: regex::Error,
}

/// Decides which fields and which parts of strings are masked.
#[derive(Debug, Clone)]
pub(crate) struct Redactor {
    /// Normalised sensitive names, plus their `_`-less forms so that `apikey`
    /// is caught by `api_key`.
    keys: Vec<String>,
    /// Whether the built-in string scanners run.
    builtins: bool,
    /// User patterns, run on every string.
    patterns: Vec<Regex>,
}

impl Redactor {
    /// `defaults`: whether the default keys and the built-in string scanners (bearer tokens, key=value secrets, URL passwords, Debug pairs, card numbers) are on.
    /// `extra_keys`: more sensitive field names, matched like the defaults.
    /// `patterns`: user regexes; every match inside any string value is replaced by MASK.
    pub(crate) fn new(
        defaults: bool,
        extra_keys: &[String],
        patterns: &[String],
    ) -> Result<Redactor, InvalidPattern> {
        let mut redactor = Redactor::with_keys(defaults, extra_keys);
        redactor.patterns = patterns
            .iter()
            .map(|pattern| {
                Regex::new(pattern).map_err(|source| InvalidPattern {
                    pattern: pattern.clone(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(redactor)
    }

    /// The redactor a pipeline's settings ask for: [`Redactor::new`], or
    /// [`Redactor::disabled`] when they ask for no redaction at all. Used
    /// at build and on a configuration reload alike.
    pub(crate) fn from_settings(
        defaults: bool,
        extra_keys: &[String],
        patterns: &[String],
    ) -> Result<Redactor, crate::error::Error> {
        if !defaults && extra_keys.is_empty() && patterns.is_empty() {
            return Ok(Redactor::disabled());
        }
        Redactor::new(defaults, extra_keys, patterns).map_err(|e| {
            crate::error::Error::with_source(
                crate::error::ErrorKind::Config,
                format!("invalid redaction pattern `{}`", e.pattern),
                e.source,
            )
        })
    }

    /// A redactor that changes nothing (is_sensitive_key always false, redact always Borrowed).
    pub(crate) fn disabled() -> Redactor {
        Redactor {
            keys: Vec::new(),
            builtins: false,
            patterns: Vec::new(),
        }
    }

    /// The infallible part of [`Redactor::new`], so that `Default` has no
    /// error path to unwrap.
    fn with_keys(defaults: bool, extra_keys: &[String]) -> Redactor {
        let defaults_list: &[&str] = if defaults {
            DEFAULT_SENSITIVE_KEYS
        } else {
            &[]
        };
        let mut redactor = Redactor::disabled();
        redactor.builtins = defaults;
        for raw in defaults_list
            .iter()
            .copied()
            .chain(extra_keys.iter().map(String::as_str))
        {
            let key = normalize_key(raw);
            if key.split('_').all(str::is_empty) {
                // A key made only of separators would match nearly anything.
                continue;
            }
            let compact = key.replace('_', "");
            if compact != key {
                push_unique(&mut redactor.keys, compact);
            }
            push_unique(&mut redactor.keys, key);
        }
        redactor
    }

    /// Whether a field with this name must have its whole value replaced by MASK.
    pub(crate) fn is_sensitive_key(&self, key: &str) -> bool {
        self.is_sensitive_raw(key.as_bytes())
    }

    /// Whether [`Redactor::redact`] returns every string whose words gave
    /// `prescan` unchanged, so that the caller may skip it.
    pub(crate) fn leaves_alone(&self, prescan: &Prescan) -> bool {
        self.patterns.is_empty()
            && (!self.builtins
                || (prescan.digits < CARD_MIN_DIGITS
                    && prescan.seen & (CLASS_SEPARATOR | CLASS_B | CLASS_ESCAPE) == 0))
    }

    /// Byte-level form of [`Redactor::is_sensitive_key`], for keys found
    /// inside text.
    fn is_sensitive_raw(&self, key: &[u8]) -> bool {
        self.keys
            .iter()
            .any(|sensitive| key_matches(key, sensitive.as_bytes()))
    }

    /// Masks secrets inside a string value (or a log message). Borrowed when nothing changed.
    pub(crate) fn redact<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if !self.builtins && self.patterns.is_empty() {
            return Cow::Borrowed(s);
        }
        // `Vec::new` does not allocate, so the nothing-found path stays free.
        let mut spans = Vec::new();
        if self.builtins {
            let hints = Hints::of(s.as_bytes());
            if hints.auth_scheme {
                find_auth_credentials(s, &mut spans);
            }
            // No search for key names across the whole string first: the
            // scanner only looks at the word before each `=`/`:`, which
            // measured several times cheaper than finding any key anywhere.
            if hints.separator {
                self.find_key_values(s.as_bytes(), &mut spans);
                find_url_passwords(s.as_bytes(), &mut spans);
            }
            if hints.quote {
                self.find_debug_pairs(s.as_bytes(), &mut spans);
            }
            if hints.digits >= CARD_MIN_DIGITS {
                find_card_numbers(s, &mut spans);
            }
        }
        for pattern in &self.patterns {
            // An empty match has nothing to hide; masking it would only
            // sprinkle MASK between characters.
            spans.extend(
                pattern
                    .find_iter(s)
                    .filter(|m| !m.is_empty())
                    .map(|m| Span::mask(m.start(), m.end())),
            );
        }
        if spans.is_empty() {
            Cow::Borrowed(s)
        } else {
            Cow::Owned(apply(s, spans))
        }
    }

    /// Finds pairs as `Debug` writes a tuple, `("password", "hunter2")`,
    /// whose first string is a sensitive key, and records the second.
    fn find_debug_pairs(&self, b: &[u8], spans: &mut Vec<Span>) {
        let mut i = 0;
        while let Some(p) = memchr::memchr(b'"', &b[i..]) {
            let open = i + p;
            i = open + 1;
            let key_start = open + 1;
            let key_len = b[key_start..]
                .iter()
                .position(|&c| !is_key_byte(c))
                .unwrap_or(b.len() - key_start);
            let close = key_start + key_len;
            if key_len == 0 || b.get(close) != Some(&b'"') {
                continue;
            }
            let mut v = close + 1;
            while v < b.len() && b[v] == b' ' {
                v += 1;
            }
            if b.get(v) != Some(&b',') {
                continue;
            }
            v += 1;
            while v < b.len() && b[v] == b' ' {
                v += 1;
            }
            if b.get(v) != Some(&b'"') || !self.is_sensitive_raw(&b[key_start..close]) {
                continue;
            }
            if let Some((start, end)) = value_after(b, v) {
                spans.push(Span::mask(start, end));
                i = end;
            }
        }
    }

    /// Finds `key=value` / `key: value` pairs whose key is sensitive and
    /// records their values.
    fn find_key_values(&self, b: &[u8], spans: &mut Vec<Span>) {
        let mut i = 0;
        while i < b.len() {
            let sep = i;
            i += 1;
            if !matches!(b[sep], b'=' | b':') {
                continue;
            }
            // `a::b` is a path (`evtrail::token::refresh`), not a pair.
            if b[sep] == b':' && (b.get(sep + 1) == Some(&b':') || (sep > 0 && b[sep - 1] == b':'))
            {
                continue;
            }
            let Some(key) = key_before(b, sep) else {
                continue;
            };
            if !self.is_sensitive_raw(key) {
                continue;
            }
            if let Some((start, end)) = value_after(b, sep + 1) {
                spans.push(Span::mask(start, end));
                // Separators inside a masked value are part of the secret.
                i = i.max(end);
            }
        }
    }
}

impl Default for Redactor {
    /// The default keys and built-in scanners, no user patterns.
    fn default() -> Redactor {
        Redactor::with_keys(true, &[])
    }
}

/// What a span of the input is replaced with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replacement {
    /// The whole span becomes [`MASK`].
    Mask,
    /// Digits become `*` except the last few; separators stay, so the
    /// shape of the number is still recognisable.
    Card,
}

/// A byte range of the input to replace.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// First byte of the range.
    start: usize,
    /// One past the last byte of the range.
    end: usize,
    /// How the range is replaced.
    replacement: Replacement,
}

impl Span {
    /// A range replaced wholesale by [`MASK`].
    fn mask(start: usize, end: usize) -> Span {
        Span {
            start,
            end,
            replacement: Replacement::Mask,
        }
    }
}

/// Byte class bit: an ASCII digit.
const CLASS_DIGIT: u8 = 1;
/// Byte class bit: `=` or `:`.
const CLASS_SEPARATOR: u8 = 2;
/// Byte class bit: `b` or `B`, the first letter of both auth schemes.
const CLASS_B: u8 = 4;
/// Byte class bit: a byte a JSON string escapes (a quote, a backslash or
/// a control byte), for the encoder's [`Prescan`].
const CLASS_ESCAPE: u8 = 8;

/// Class bits per byte value; a table lookup keeps the pre-check pass
/// branch-free, which matters because it runs on every string.
static BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = match i as u8 {
            b'0'..=b'9' => CLASS_DIGIT,
            b'=' | b':' => CLASS_SEPARATOR,
            b'b' | b'B' => CLASS_B,
            b'"' | b'\\' | 0..=0x1f => CLASS_ESCAPE,
            _ => 0,
        };
        i += 1;
    }
    table
};

/// What one cheap pass over the bytes says the scanners could find.
#[derive(Debug, Default)]
struct Hints {
    /// ASCII digits seen; a card number needs at least 13.
    digits: usize,
    /// Whether a `=` or `:` occurs, without which there is no key=value pair.
    separator: bool,
    /// Whether `bearer` or `basic` occurs in any case.
    auth_scheme: bool,
    /// Whether a `"` occurs, without which there is no `Debug` pair.
    quote: bool,
}

/// What the encoder learns from one pass over a string value: what
/// [`Hints::of`] counts and looks for (the digits, and whether a separator
/// or a `b` occurs), and whether JSON escapes any byte. Values are short,
/// and for them one table lookup per byte costs less than word arithmetic
/// for four classes plus the handling of a partial last word.
#[derive(Debug, Default)]
pub(crate) struct Prescan {
    /// ASCII digits seen.
    digits: usize,
    /// The class bits of the bytes, OR-ed.
    seen: u8,
}

impl Prescan {
    pub(crate) fn of(bytes: &[u8]) -> Prescan {
        let mut p = Prescan::default();
        for &byte in bytes {
            let class = BYTE_CLASS[usize::from(byte)];
            p.digits += usize::from(class & CLASS_DIGIT);
            p.seen |= class;
        }
        p
    }

    /// Whether a quote, a backslash or a control byte was seen: what a
    /// JSON string escapes.
    pub(crate) fn needs_escape(&self) -> bool {
        self.seen & CLASS_ESCAPE != 0
    }
}

impl Hints {
    /// Gathers the hints in a single pass; the scheme words are only looked
    /// for when a `b` was seen at all.
    fn of(bytes: &[u8]) -> Hints {
        let mut digits = 0;
        let mut seen = 0;
        for &byte in bytes {
            let class = BYTE_CLASS[usize::from(byte)];
            digits += usize::from(class & CLASS_DIGIT);
            seen |= class;
        }
        Hints {
            digits,
            separator: seen & CLASS_SEPARATOR != 0,
            quote: seen & CLASS_ESCAPE != 0 && memchr::memchr(b'"', bytes).is_some(),
            auth_scheme: seen & CLASS_B != 0
                && (0..bytes.len()).any(|i| {
                    BYTE_CLASS[usize::from(bytes[i])] & CLASS_B != 0
                        && scheme_len_at(&bytes[i..]).is_some()
                }),
        }
    }
}

/// The length of the `bearer` / `basic` word (any case) that `bytes` starts
/// with, if any.
fn scheme_len_at(bytes: &[u8]) -> Option<usize> {
    [&b"bearer"[..], &b"basic"[..]]
        .into_iter()
        .find_map(|word| {
            bytes
                .get(..word.len())
                .filter(|head| head.eq_ignore_ascii_case(word))
                .map(|_| word.len())
        })
}

/// Maps a key byte to its normalised form, so that `X-Api-Key`, `x.api.key`
/// and `x_api_key` compare equal without allocating.
fn norm_byte(byte: u8) -> u8 {
    match byte {
        b'-' | b'.' => b'_',
        other => other.to_ascii_lowercase(),
    }
}

/// The stored form of a sensitive key; `norm_byte` applied to every byte.
fn normalize_key(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '-' | '.' => '_',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// Whether `raw`, once normalised, equals the already-normalised `key`.
fn eq_normalized(raw: &[u8], key: &[u8]) -> bool {
    raw.len() == key.len() && raw.iter().zip(key).all(|(&r, &k)| norm_byte(r) == k)
}

/// Whether `raw` is `key`, ends with `_key` or starts with `key_`, after
/// normalisation; segment-wise so that `tokenizer` is not `token`.
fn key_matches(raw: &[u8], key: &[u8]) -> bool {
    let (n, k) = (raw.len(), key.len());
    if n == k {
        return eq_normalized(raw, key);
    }
    if n <= k {
        return false;
    }
    (norm_byte(raw[k]) == b'_' && eq_normalized(&raw[..k], key))
        || (norm_byte(raw[n - k - 1]) == b'_' && eq_normalized(&raw[n - k..], key))
}

/// Adds `item` unless already present; the lists are tiny, so a scan beats
/// a set.
fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Whether a byte can be part of a key written in free text.
fn is_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

/// Whether a byte ends an unquoted value.
fn is_value_terminator(byte: u8) -> bool {
    byte.is_ascii_whitespace() || matches!(byte, b'"' | b'\'' | b'&' | b',' | b';' | b'}')
}

/// The key written just before the separator at `sep`, skipping blanks, a
/// closing quote and the backslash of an escaped quote (`\"password\":`).
fn key_before(b: &[u8], sep: usize) -> Option<&[u8]> {
    let mut end = sep;
    while end > 0 && matches!(b[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    if end > 0 && matches!(b[end - 1], b'"' | b'\'') {
        end -= 1;
        if end > 0 && b[end - 1] == b'\\' {
            end -= 1;
        }
    }
    let mut start = end;
    while start > 0 && is_key_byte(b[start - 1]) {
        start -= 1;
    }
    (start < end).then(|| &b[start..end])
}

/// How a value after a separator is delimited.
#[derive(Debug, Clone, Copy)]
enum Quoting {
    /// Bare value, ended by [`is_value_terminator`].
    Bare,
    /// Ended by this quote; backslash escapes the next byte.
    Quoted(u8),
    /// Opened by `\` + this quote, as in Debug-formatted JSON
    /// (`"{\"password\":\"x\"}"`); ended by the matching escaped quote.
    EscapedQuoted(u8),
}

/// The byte range of the value that starts after blanks at `pos`, or `None`
/// when it is empty. Every returned bound sits next to an ASCII byte or at an
/// end of the string, hence on a char boundary.
fn value_after(b: &[u8], pos: usize) -> Option<(usize, usize)> {
    let len = b.len();
    let mut v = pos;
    while v < len && matches!(b[v], b' ' | b'\t') {
        v += 1;
    }
    let quoting = match (b.get(v), b.get(v + 1)) {
        (Some(&q @ (b'"' | b'\'')), _) => {
            v += 1;
            Quoting::Quoted(q)
        }
        (Some(b'\\'), Some(&q @ (b'"' | b'\''))) => {
            v += 2;
            Quoting::EscapedQuoted(q)
        }
        _ => Quoting::Bare,
    };
    // `Authorization: Bearer abc`: keep the scheme word and mask the
    // credential, as the bearer scanner does, so both findings coincide.
    if let Some(n) = scheme_len_at(&b[v..]) {
        let mut t = v + n;
        if t < len && matches!(b[t], b' ' | b'\t') {
            while t < len && matches!(b[t], b' ' | b'\t') {
                t += 1;
            }
            if t < len && !is_value_terminator(b[t]) && b[t] != b'\\' {
                v = t;
            }
        }
    }
    let end = match quoting {
        Quoting::Bare => b[v..]
            .iter()
            .position(|&byte| is_value_terminator(byte))
            .map_or(len, |p| v + p),
        Quoting::Quoted(q) => {
            let mut e = v;
            while e < len && b[e] != q {
                // Skipping the escaped byte may land inside a multi-byte
                // char, but the loop only stops on an ASCII quote or at the end.
                e += if b[e] == b'\\' { 2 } else { 1 };
            }
            e.min(len)
        }
        Quoting::EscapedQuoted(q) => escaped_quoted_end(b, v, q),
    };
    (v < end).then_some((v, end))
}

/// End of a value opened by `\q`: the next `\q` that is not itself escaped
/// one level down (`\\\q`), or an unescaped `q` closing the outer string.
fn escaped_quoted_end(b: &[u8], start: usize, q: u8) -> usize {
    let len = b.len();
    let mut e = start;
    let mut inner_escape = false;
    while e < len {
        let (c, width, escaped) = if b[e] == b'\\' && e + 1 < len {
            (b[e + 1], 2, true)
        } else {
            (b[e], 1, false)
        };
        if c == q && (!escaped || !inner_escape) {
            return e;
        }
        inner_escape = escaped && c == b'\\' && !inner_escape;
        e += width;
    }
    len
}

/// Records the password of each URL that carries one,
/// `scheme://user:password@host`: the user name stays readable.
fn find_url_passwords(b: &[u8], spans: &mut Vec<Span>) {
    let stops = |c: u8| c.is_ascii_whitespace() || matches!(c, b'/' | b'"' | b'\'' | b'<' | b'>');
    for at in memchr::memmem::find_iter(b, b"://") {
        let user = at + 3;
        let Some(colon) = b[user..]
            .iter()
            .position(|&c| c == b':' || c == b'@' || stops(c))
            .map(|p| user + p)
            .filter(|&c| b[c] == b':')
        else {
            continue;
        };
        let pass = colon + 1;
        if let Some(end) = b[pass..]
            .iter()
            .position(|&c| c == b'@' || stops(c))
            .map(|p| pass + p)
            .filter(|&e| b[e] == b'@' && e > pass)
        {
            spans.push(Span::mask(pass, end));
        }
    }
}

/// Records each `Bearer`/`Basic` credential.
fn find_auth_credentials(s: &str, spans: &mut Vec<Span>) {
    for found in AUTH_SCHEME.find_iter(s) {
        let text = found.as_str();
        // The token alphabet has no whitespace, so the token is whatever
        // follows the last whitespace char of the match.
        let Some((gap, gap_char)) = text.char_indices().rev().find(|(_, c)| c.is_whitespace())
        else {
            continue;
        };
        let token = &text[gap + gap_char.len_utf8()..];
        let is_basic = text.as_bytes()[..5].eq_ignore_ascii_case(b"basic");
        if is_basic && !looks_like_base64_credential(token) {
            continue;
        }
        spans.push(Span::mask(found.end() - token.len(), found.end()));
    }
}

/// Whether the word after `Basic` looks like base64 rather than prose:
/// "basic" is a common English word ("basic validation failed"), while
/// base64 of `user:password` is practically never a plain lower-case word.
fn looks_like_base64_credential(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        && (body.len() != token.len() || body.bytes().skip(1).any(|b| !b.is_ascii_lowercase()))
}

/// Whether a neighbouring char keeps a digit run from being a separate
/// number (`user_4111…`, `x4111…`).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Records card numbers: digit runs, optionally split into groups by one
/// kind of single separator, that pass Luhn.
fn find_card_numbers(s: &str, spans: &mut Vec<Span>) {
    let b = s.as_bytes();
    let len = b.len();
    // Reused across runs; only reached when the string has 13+ digits.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < len {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        groups.clear();
        let mut separator: Option<u8> = None;
        let mut j = i;
        let mut separator_changed = false;
        loop {
            let group_start = j;
            while j < len && b[j].is_ascii_digit() {
                j += 1;
            }
            groups.push((group_start, j));
            let joins = j + 1 < len && matches!(b[j], b' ' | b'-') && b[j + 1].is_ascii_digit();
            if !joins {
                break;
            }
            if separator.is_some_and(|sep| sep != b[j]) {
                // A different separator starts another number
                // (`2024-01-15 12345678`), but the group before it may
                // belong to that one (`ref-4111 1111 1111 1111`).
                separator_changed = true;
                break;
            }
            separator = Some(b[j]);
            j += 1;
        }
        // Both neighbours are at ASCII digits, so these slices are on char
        // boundaries.
        let open_before = !s[..i].chars().next_back().is_some_and(is_word_char);
        let open_after = !s[j..].chars().next().is_some_and(is_word_char);
        scan_groups(b, &groups, open_before, open_after, spans);
        i = match groups.last() {
            Some(&(last_start, _)) if separator_changed && groups.len() > 1 => last_start,
            _ => j,
        };
    }
}

/// Within one run of digit groups, records the longest Luhn-valid card at
/// each starting group, left to right, without overlaps. Only the run's
/// first group can touch a word char before it, and only its last one after.
fn scan_groups(
    b: &[u8],
    groups: &[(usize, usize)],
    open_before: bool,
    open_after: bool,
    spans: &mut Vec<Span>,
) {
    let mut digits = [0u8; CARD_MAX_DIGITS];
    let mut first = usize::from(!open_before);
    while first < groups.len() {
        let mut count = 0;
        let mut best = None;
        for (last, &(start, end)) in groups.iter().enumerate().skip(first) {
            if count + (end - start) > CARD_MAX_DIGITS {
                break;
            }
            digits[count..count + (end - start)].copy_from_slice(&b[start..end]);
            count += end - start;
            let closed = last + 1 < groups.len() || open_after;
            if count >= CARD_MIN_DIGITS && closed && luhn_valid(&digits[..count]) {
                best = Some(last);
            }
        }
        match best {
            Some(last) => {
                spans.push(Span {
                    start: groups[first].0,
                    end: groups[last].1,
                    replacement: Replacement::Card,
                });
                first = last + 1;
            }
            None => first += 1,
        }
    }
}

/// The Luhn (mod 10) checksum over ASCII digits; false for anything empty
/// or not all digits, so only real card-shaped input passes.
fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Builds the output: merges overlapping spans (any overlap becomes a plain
/// mask, the safe choice) and replaces each.
fn apply(s: &str, mut spans: Vec<Span>) -> String {
    for span in &mut spans {
        // Finders work on bytes; widening to char boundaries turns a finder
        // bug into over-masking instead of a panic on the worker.
        span.start = floor_char_boundary(s, span.start);
        span.end = ceil_char_boundary(s, span.end);
    }
    spans.sort_unstable_by_key(|span| (span.start, span.end));
    let mut out = String::with_capacity(s.len() + MASK.len());
    let mut pos = 0;
    let mut iter = spans.into_iter().peekable();
    while let Some(mut current) = iter.next() {
        while let Some(next) = iter.next_if(|next| next.start < current.end) {
            current.end = current.end.max(next.end);
            current.replacement = Replacement::Mask;
        }
        out.push_str(&s[pos..current.start]);
        match current.replacement {
            Replacement::Mask => out.push_str(MASK),
            Replacement::Card => mask_card(&s[current.start..current.end], &mut out),
        }
        pos = current.end;
    }
    out.push_str(&s[pos..]);
    out
}

/// Writes a card number with all digits but the last few starred.
fn mask_card(number: &str, out: &mut String) {
    let total = number.bytes().filter(u8::is_ascii_digit).count();
    let mut seen = 0;
    for c in number.chars() {
        if c.is_ascii_digit() {
            seen += 1;
            out.push(if seen + CARD_VISIBLE_DIGITS > total {
                c
            } else {
                '*'
            });
        } else {
            out.push(c);
        }
    }
}

/// The largest char boundary at or before `i` (clamped to the length).
fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary at or after `i` (clamped to the length).
fn ceil_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(s: &str) -> String {
        Redactor::default().redact(s).into_owned()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn assert_borrowed(redactor: &Redactor, s: &str) {
        match redactor.redact(s) {
            Cow::Borrowed(out) => assert_eq!(out, s),
            Cow::Owned(out) => panic!("{s:?} was rewritten to {out:?}"),
        }
    }

    // ---- keys ----

    #[test]
    fn default_keys_match_exact_prefixed_and_suffixed_names() {
        let r = Redactor::default();
        for key in [
            "password",
            "user_password",
            "Password",
            "password_hash",
            "passwd",
            "access_token",
            "auth_token",
            "token",
            "X-Api-Key",
            "api_key",
            "client_secret",
            "Set-Cookie",
            "cookie",
            "Authorization",
            "http.authorization",
        ] {
            assert!(r.is_sensitive_key(key), "{key} should be sensitive");
        }
    }

    #[test]
    fn ordinary_keys_and_lookalike_words_are_not_sensitive() {
        let r = Redactor::default();
        for key in [
            "user_id",
            "tokenizer",
            "ip",
            "passage",
            "secretary",
            "",
            "_",
            "message",
            "tokens",
            "mypassword",
        ] {
            assert!(!r.is_sensitive_key(key), "{key} should not be sensitive");
        }
    }

    #[test]
    fn api_key_spellings_all_match() {
        let r = Redactor::default();
        for key in [
            "apikey",
            "api-key",
            "x-api-key",
            "API_KEY",
            "X_ApiKey",
            "api.key",
        ] {
            assert!(r.is_sensitive_key(key), "{key} should be sensitive");
        }
    }

    #[test]
    fn extra_keys_are_normalised_and_matched_like_defaults() {
        let r = Redactor::new(true, &strings(&["Session-ID", "pin"]), &[]).unwrap();
        for key in [
            "session_id",
            "SESSION-ID",
            "user.session.id",
            "sessionid",
            "pin",
            "card_pin",
        ] {
            assert!(r.is_sensitive_key(key), "{key} should be sensitive");
        }
        assert!(r.is_sensitive_key("password"));
        assert!(!r.is_sensitive_key("pinned"));
        assert_eq!(
            redact_with(&r, "login pin=1234 ok"),
            "login pin=[REDACTED] ok"
        );
    }

    #[test]
    fn extra_keys_without_defaults_replace_the_default_list() {
        let r = Redactor::new(false, &strings(&["pin"]), &[]).unwrap();
        assert!(r.is_sensitive_key("pin"));
        assert!(!r.is_sensitive_key("password"));
        // The string scanners belong to the defaults.
        assert_borrowed(&r, "password=hunter2 pin=1234");
    }

    #[test]
    fn separator_only_extra_keys_are_ignored() {
        let r = Redactor::new(false, &strings(&["", "-", "._"]), &[]).unwrap();
        assert!(!r.is_sensitive_key("anything_"));
        assert!(!r.is_sensitive_key("_"));
    }

    fn redact_with(r: &Redactor, s: &str) -> String {
        r.redact(s).into_owned()
    }

    // ---- disabled / default ----

    #[test]
    fn disabled_changes_nothing() {
        let r = Redactor::disabled();
        assert!(!r.is_sensitive_key("password"));
        for s in [
            "password=hunter2",
            "Authorization: Bearer abc",
            "4111111111111111",
            "",
        ] {
            assert_borrowed(&r, s);
        }
    }

    #[test]
    fn default_is_new_with_defaults_and_nothing_else() {
        let a = Redactor::default();
        let b = Redactor::new(true, &[], &[]).unwrap();
        assert_eq!(a.keys, b.keys);
        assert!(a.builtins && b.builtins);
        assert!(a.patterns.is_empty() && b.patterns.is_empty());
    }

    #[test]
    fn built_in_pattern_compiles() {
        assert!(AUTH_SCHEME.is_match("Bearer x"));
    }

    // ---- the common, clean case ----

    #[test]
    fn clean_common_values_are_borrowed_unchanged() {
        let r = Redactor::default();
        for s in [
            "user_12345",
            "192.168.1.100",
            "user login attempt",
            "invalid_password",
            "password",
            "2024-01-15T12:30:45Z",
            "",
            "status: ok",
            "évènement réussi ✓",
        ] {
            assert_borrowed(&r, s);
        }
    }

    /// The prescan agrees with the redactor's pre-check on every byte
    /// value, and flags exactly the bytes JSON escapes.
    #[test]
    fn prescan_classifies_every_byte() {
        for byte in 0..=255u8 {
            let b = [b'x', byte, b'x'];
            let p = Prescan::of(&b);
            let h = Hints::of(&b);
            assert_eq!(p.digits, h.digits, "{byte:#x}");
            assert_eq!(
                p.seen & (CLASS_SEPARATOR | CLASS_B) != 0,
                h.separator || byte.eq_ignore_ascii_case(&b'b'),
                "{byte:#x}"
            );
            let escaped = serde_json::to_string(&char::from(byte).to_string()).unwrap();
            assert_eq!(
                p.needs_escape(),
                byte < 0x80 && escaped.len() > 3,
                "{byte:#x}"
            );
        }
        assert!(!Prescan::of(b"").needs_escape());
    }

    proptest::proptest! {
        /// Whenever the prescan lets a string skip redaction, redacting it
        /// changes nothing, for the default, a disabled and a keys-only
        /// redactor; a redactor with patterns never lets one skip.
        #[test]
        fn strings_the_prescan_lets_skip_are_left_alone(
            s in "\\PC{0,40}|[0-9a-zA-Z=:_ .-]{0,40}|[0-9 -]{10,30}",
        ) {
            let p = Prescan::of(s.as_bytes());
            let h = Hints::of(s.as_bytes());
            proptest::prop_assert_eq!(p.digits, h.digits);
            proptest::prop_assert_eq!(p.seen & CLASS_SEPARATOR != 0, h.separator);
            for r in [
                Redactor::default(),
                Redactor::disabled(),
                Redactor::new(false, &strings(&["pin"]), &[]).unwrap(),
            ] {
                if r.leaves_alone(&p) {
                    assert_borrowed(&r, &s);
                }
            }
            let with_pattern = Redactor::new(true, &[], &strings(&["x"])).unwrap();
            proptest::prop_assert!(!with_pattern.leaves_alone(&p));
        }
    }

    #[test]
    fn pre_check_sees_digits_separators_and_scheme_words() {
        let h = Hints::of(b"a1b2 x=y BeArEr");
        assert_eq!(h.digits, 2);
        assert!(h.separator && h.auth_scheme);
        let h = Hints::of("bob basics é".as_bytes());
        assert_eq!(h.digits, 0);
        assert!(!h.separator);
        assert!(h.auth_scheme, "`basics` starts with the scheme word");
        let h = Hints::of(b"user login attempt");
        assert!(h.digits == 0 && !h.separator && !h.auth_scheme);
    }

    // ---- bearer / basic ----

    #[test]
    fn bearer_token_is_masked_keeping_the_scheme() {
        assert_eq!(redact("Bearer abc.def-123"), "Bearer [REDACTED]");
        assert_eq!(
            redact("sent bearer  abc~+/== to api"),
            "sent bearer  [REDACTED] to api"
        );
        assert_eq!(redact("BEARER xyz"), "BEARER [REDACTED]");
    }

    #[test]
    fn authorization_header_with_bearer_loses_its_token_cleanly() {
        assert_eq!(
            redact("Authorization: Bearer abc.def-123"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            redact("Authorization: Bearer abc"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            redact(r#"{"authorization":"Bearer abc.def","x":1}"#),
            r#"{"authorization":"Bearer [REDACTED]","x":1}"#
        );
    }

    #[test]
    fn basic_credentials_are_masked() {
        assert_eq!(redact("Basic dXNlcjpwYXNz"), "Basic [REDACTED]");
        assert_eq!(
            redact("auth=basic YWRtaW46c2VjcmV0 ok"),
            "auth=basic [REDACTED] ok"
        );
        assert_eq!(redact("Basic YTpi"), "Basic [REDACTED]");
    }

    #[test]
    fn basic_as_an_english_word_is_left_alone() {
        let r = Redactor::default();
        assert_borrowed(&r, "basic validation failed");
        assert_borrowed(&r, "Basic Authentication is disabled");
        assert_borrowed(&r, "a basic auth-failure");
    }

    #[test]
    fn auth_scheme_needs_a_word_boundary_and_whitespace() {
        let r = Redactor::default();
        assert_borrowed(&r, "xbearer abc");
        assert_borrowed(&r, "cardbearer abc");
        assert_borrowed(&r, "bearer-abc");
        assert_borrowed(&r, "Bearer");
    }

    // ---- key=value ----

    #[test]
    fn key_value_secret_in_text_is_masked() {
        assert_eq!(
            redact("login password=hunter2 ok"),
            "login password=[REDACTED] ok"
        );
        assert_eq!(redact("db_password=pw1"), "db_password=[REDACTED]");
        assert_eq!(redact("token: abc123"), "token: [REDACTED]");
        assert_eq!(redact("PASSWORD = hunter2"), "PASSWORD = [REDACTED]");
    }

    #[test]
    fn json_secret_is_masked_inside_its_quotes() {
        assert_eq!(
            redact(r#"{"password":"hunter2","user":"bob"}"#),
            r#"{"password":"[REDACTED]","user":"bob"}"#
        );
        assert_eq!(
            redact(r#"{"password": "hun ter\"2", "user": "bob"}"#),
            r#"{"password": "[REDACTED]", "user": "bob"}"#
        );
        assert_eq!(redact("{'secret': 'x y'}"), "{'secret': '[REDACTED]'}");
        assert_eq!(
            redact(r#"password="unterminated"#),
            r#"password="[REDACTED]"#
        );
    }

    #[test]
    fn debug_escaped_json_secret_is_masked() {
        assert_eq!(
            redact(r#""{\"password\":\"hunter2\",\"user\":\"bob\"}""#),
            r#""{\"password\":\"[REDACTED]\",\"user\":\"bob\"}""#
        );
        // An escaped quote one level down stays inside the value.
        assert_eq!(
            redact(r#"{\"token\":\"a\\\"b\"}"#),
            r#"{\"token\":\"[REDACTED]\"}"#
        );
    }

    #[test]
    fn query_string_api_key_is_masked() {
        assert_eq!(
            redact("GET /v1?api_key=XYZ&x=1"),
            "GET /v1?api_key=[REDACTED]&x=1"
        );
        assert_eq!(redact("?apikey=XYZ&x=1"), "?apikey=[REDACTED]&x=1");
        assert_eq!(redact("x-api-key: XYZ"), "x-api-key: [REDACTED]");
    }

    #[test]
    fn bare_value_ends_at_each_terminator() {
        for (input, expected) in [
            ("token=a b", "token=[REDACTED] b"),
            ("token=a\tb", "token=[REDACTED]\tb"),
            ("token=a\"b", "token=[REDACTED]\"b"),
            ("token=a'b", "token=[REDACTED]'b"),
            ("token=a&b", "token=[REDACTED]&b"),
            ("token=a,b", "token=[REDACTED],b"),
            ("token=a;b", "token=[REDACTED];b"),
            ("{token=a}", "{token=[REDACTED]}"),
            ("token=a:b=c", "token=[REDACTED]"),
        ] {
            assert_eq!(redact(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn several_pairs_in_one_string_are_all_masked() {
        assert_eq!(
            redact("user=bob password=a1 secret=b2 cookie=c3; path=/"),
            "user=bob password=[REDACTED] secret=[REDACTED] cookie=[REDACTED]; path=/"
        );
    }

    #[test]
    fn plain_value_named_like_a_key_is_not_altered() {
        let r = Redactor::default();
        assert_borrowed(&r, "invalid_password");
        assert_borrowed(&r, "reason: invalid_password");
    }

    #[test]
    fn non_sensitive_keys_in_text_are_not_altered() {
        let r = Redactor::default();
        assert_borrowed(&r, "tokenizer=x");
        assert_borrowed(&r, "passage: some text");
        assert_borrowed(&r, "user=bob id=7");
    }

    #[test]
    fn empty_values_and_path_separators_are_not_pairs() {
        let r = Redactor::default();
        assert_borrowed(&r, "password=");
        assert_borrowed(&r, "password= ");
        assert_borrowed(&r, r#"{"password":""}"#);
        assert_borrowed(&r, "evtrail::token::refresh failed");
        assert_borrowed(&r, "at crate::password::check");
    }

    // ---- card numbers ----

    #[test]
    fn url_passwords_are_masked_keeping_the_user_and_host() {
        assert_eq!(
            redact("fetching https://user:SECRET@host.example/path?q=1 now"),
            "fetching https://user:[REDACTED]@host.example/path?q=1 now"
        );
        assert_eq!(
            redact("db=postgres://app:p%40ss:w0rd@db:5432/main"),
            "db=postgres://app:[REDACTED]@db:5432/main"
        );
        // No password, or no userinfo at all: nothing to hide.
        for clean in [
            "https://user@host/x",
            "https://host:8443/a@b",
            "see http://host/ and a:b@c",
        ] {
            assert_eq!(redact(clean), clean);
        }
    }

    #[test]
    fn debug_tuples_of_a_sensitive_key_and_a_value_are_masked() {
        assert_eq!(
            redact(r#"[("user", "ann"), ("password", "hunter2")]"#),
            r#"[("user", "ann"), ("password", "[REDACTED]")]"#
        );
        assert_eq!(
            redact(r#"("api_key","k-123") and ("Token" , "t\"x")"#),
            r#"("api_key","[REDACTED]") and ("Token" , "[REDACTED]")"#
        );
        let clean = r#"[("user", "ann"), ("note", "password")]"#;
        assert_eq!(redact(clean), clean);
    }

    #[test]
    fn the_prescan_never_skips_a_url_password_or_a_debug_pair() {
        let r = Redactor::default();
        for s in [r#"("password", "x")"#, "https://u:p@h/"] {
            assert!(!r.leaves_alone(&Prescan::of(s.as_bytes())), "{s}");
        }
    }

    #[test]
    fn luhn_accepts_known_valid_numbers() {
        for number in [
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "4222222222222",
            "6011111111111117",
            "0",
            "18",
        ] {
            assert!(luhn_valid(number.as_bytes()), "{number}");
        }
    }

    #[test]
    fn luhn_rejects_wrong_checksums_and_non_digits() {
        for number in [
            "4111111111111112",
            "1234567812345678",
            "1",
            "",
            "4111-1111",
            "x",
        ] {
            assert!(!luhn_valid(number.as_bytes()), "{number:?}");
        }
    }

    #[test]
    fn card_number_keeps_only_its_last_four_digits() {
        assert_eq!(
            redact("card 4111 1111 1111 1111 declined"),
            "card **** **** **** 1111 declined"
        );
        assert_eq!(redact("4111111111111111"), "************1111");
        assert_eq!(redact("4111-1111-1111-1111."), "****-****-****-1111.");
        assert_eq!(redact("amex 378282246310005"), "amex ***********0005");
        assert_eq!(redact("(4222222222222)"), "(*********2222)");
    }

    #[test]
    fn nineteen_digit_card_is_masked() {
        // 18 digits of 4, then the check digit that makes Luhn pass.
        let body = "4".repeat(18);
        let check = (0..=9u8)
            .find(|d| luhn_valid(format!("{body}{d}").as_bytes()))
            .unwrap();
        let number = format!("{body}{check}");
        assert_eq!(redact(&number), format!("{}444{check}", "*".repeat(15)));
    }

    #[test]
    fn luhn_failing_sixteen_digits_are_left_alone() {
        let r = Redactor::default();
        assert_borrowed(&r, "4111111111111112");
        assert_borrowed(&r, "card 4111 1111 1111 1112 declined");
    }

    #[test]
    fn numbers_shorter_than_thirteen_digits_are_left_alone() {
        let r = Redactor::default();
        assert_borrowed(&r, "411111111116");
        assert_borrowed(&r, "order 123456789012 of 4111");
    }

    #[test]
    fn card_digits_touching_letters_or_more_digits_are_left_alone() {
        let r = Redactor::default();
        assert_borrowed(&r, "user_4111111111111111");
        assert_borrowed(&r, "x4111111111111111");
        assert_borrowed(&r, "4111111111111111y");
        assert_borrowed(&r, "41111111111111111111");
        assert_borrowed(&r, "é4111111111111111");
    }

    #[test]
    fn card_is_found_next_to_other_numbers_with_other_separators() {
        assert_eq!(redact("ref-4111 1111 1111 1111"), "ref-**** **** **** 1111");
        assert_eq!(redact("12-4111 1111 1111 1111"), "12-**** **** **** 1111");
        assert_eq!(
            redact("order 7 4111 1111 1111 1111"),
            "order 7 **** **** **** 1111"
        );
    }

    #[test]
    fn doubled_separators_break_a_card_number() {
        let r = Redactor::default();
        assert_borrowed(&r, "4111  1111  1111  1111");
        assert_borrowed(&r, "4111--1111--1111--1111");
    }

    #[test]
    fn card_inside_a_secret_value_is_masked_whole() {
        assert_eq!(redact("secret=4111111111111111"), "secret=[REDACTED]");
    }

    // ---- user patterns ----

    #[test]
    fn user_pattern_matches_are_masked() {
        let r = Redactor::new(true, &[], &strings(&[r"\bSSN-\d{3}-\d{2}-\d{4}\b"])).unwrap();
        assert_eq!(
            redact_with(&r, "id SSN-123-45-6789 filed"),
            "id [REDACTED] filed"
        );
        assert_eq!(
            redact_with(&r, "SSN-123-45-6789,SSN-987-65-4321"),
            "[REDACTED],[REDACTED]"
        );
        assert_borrowed(&r, "xSSN-123-45-6789");
    }

    #[test]
    fn user_patterns_run_without_defaults() {
        let r = Redactor::new(false, &[], &strings(&["hunter[0-9]", "é+"])).unwrap();
        assert_eq!(redact_with(&r, "password=hunter2"), "password=[REDACTED]");
        assert_eq!(redact_with(&r, "café"), "caf[REDACTED]");
        assert_borrowed(&r, "4111111111111111");
    }

    #[test]
    fn empty_user_matches_insert_nothing() {
        let r = Redactor::new(false, &[], &strings(&["x*"])).unwrap();
        assert_eq!(redact_with(&r, "abxxc"), "ab[REDACTED]c");
        assert_borrowed(&r, "abc");
    }

    #[test]
    fn overlapping_findings_become_one_mask() {
        let r = Redactor::new(true, &[], &strings(&[r"1111 1111", "hunt", "unter"])).unwrap();
        assert_eq!(
            redact_with(&r, "card 4111 1111 1111 1111 x"),
            "card [REDACTED] x"
        );
        assert_eq!(redact_with(&r, "say hunter2"), "say [REDACTED]2");
    }

    #[test]
    fn invalid_pattern_is_reported_by_name() {
        let err = Redactor::new(true, &[], &strings(&["ok", "(unclosed"])).unwrap_err();
        assert_eq!(err.pattern, "(unclosed");
        assert!(!err.source.to_string().is_empty());
    }

    // ---- robustness ----

    #[test]
    fn multi_byte_text_around_secrets_survives() {
        assert_eq!(
            redact("пароль password=секрет ok"),
            "пароль password=[REDACTED] ok"
        );
        assert_eq!(redact("token=秘密,x"), "token=[REDACTED],x");
        assert_eq!(
            redact("カード 4111 1111 1111 1111 です"),
            "カード **** **** **** 1111 です"
        );
        assert_eq!(redact("Bearer abcé"), "Bearer [REDACTED]é");
        assert_eq!(redact("password=\"\\é\""), "password=\"[REDACTED]\"");
    }

    #[test]
    fn char_boundary_helpers_round_outwards() {
        let s = "aé";
        assert_eq!(floor_char_boundary(s, 2), 1);
        assert_eq!(ceil_char_boundary(s, 2), 3);
        assert_eq!(ceil_char_boundary(s, 99), 3);
        assert_eq!(apply(s, vec![Span::mask(2, 2)]), "a[REDACTED]");
    }

    /// A small deterministic xorshift generator, so the test needs no crates
    /// and every failure reproduces.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }

    #[test]
    fn arbitrary_input_never_panics_and_clean_input_stays_borrowed() {
        const PIECES: &[&str] = &[
            "password",
            "Token",
            "api-key",
            "x",
            "=",
            ":",
            "::",
            " ",
            "\t",
            "\"",
            "'",
            "\\",
            "\\\"",
            "&",
            ",",
            ";",
            "}",
            "{",
            "Bearer ",
            "basic ",
            "bearer",
            "4111",
            "1111",
            "1",
            "0",
            "-",
            "é",
            "ß",
            "秘",
            "😀",
            "\u{0301}",
            "\u{a0}",
            "_",
            ".",
            "SSN-123-45-6789",
            "\n",
            "4111111111111111",
            "YWRtaW4=",
        ];
        let redactors = [
            Redactor::default(),
            Redactor::disabled(),
            Redactor::new(
                true,
                &strings(&["é", "x"]),
                &strings(&[r"\d", "é+", "x*", "."]),
            )
            .unwrap(),
            Redactor::new(false, &[], &strings(&[r"(?i)BEARER"])).unwrap(),
        ];
        let mut inputs: Vec<String> = [
            "",
            "=",
            ":",
            "\"",
            "\\",
            "password",
            "password=",
            "password=\"",
            "password=\\",
            "password=\\\"",
            "password=\"\\",
            "Authorization: Bearer",
            "Authorization: Bearer ",
            "bearer \u{a0}x",
            "4111 1111 1111 1111 ",
            "-4111111111111111-",
            "😀=😀:😀",
            "token=😀",
            "token:\"😀\\😀\"",
            "token=\\\"😀\\\\\\\"😀",
            "1 2 3 4 5 6 7 8 9 0 1 2 3 4",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..4000 {
            let n = rng.below(12);
            let s: String = (0..n).map(|_| PIECES[rng.below(PIECES.len())]).collect();
            inputs.push(s);
        }
        for input in &inputs {
            for r in &redactors {
                let out = r.redact(input);
                if let Cow::Borrowed(same) = &out {
                    assert_eq!(*same, input.as_str());
                } else {
                    assert_ne!(
                        out.as_ref(),
                        input.as_str(),
                        "Owned but unchanged: {input:?}"
                    );
                }
                // Running again over masked output must be just as safe.
                let _ = r.redact(&out);
            }
        }
    }
}
