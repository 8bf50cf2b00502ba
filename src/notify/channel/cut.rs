//! Cutting a message's text to an API's size limit: on a character
//! boundary, never inside an entity or escape this crate wrote, with a
//! marker saying how much was left out.

use std::borrow::Cow;

/// The marker that ends a cut text: `\n… (1,234 bytes cut)`.
pub(crate) fn marker(cut: usize, unit: &str) -> String {
    format!("\n… ({} {unit} cut)", thousands(cut))
}

/// `n` with thousands separators: `1,234,567`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `text` if it is at most `max` bytes of UTF-8; otherwise its start and a
/// marker, together at most `max` bytes. When even the marker does not
/// fit, as much of the text as fits, unmarked.
pub(crate) fn cut_bytes(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    // The marker's length depends on the count it shows: settle it in a few
    // rounds, keeping the longest cut that fits.
    let mut best = None;
    let mut keep = max.saturating_sub(marker(text.len(), "bytes").len());
    for _ in 0..3 {
        let end = safe_end(text, keep);
        let m = marker(text.len() - end, "bytes");
        let fits = end + m.len() <= max;
        if fits {
            best = Some(format!("{}{m}", &text[..end]));
        }
        let next = max.saturating_sub(m.len());
        if next == keep || (fits && next < keep) {
            break;
        }
        keep = next;
    }
    match best {
        Some(s) => Cow::Owned(s),
        None => Cow::Borrowed(&text[..safe_end(text, max)]),
    }
}

/// `text` if it has at most `max` characters; otherwise its start and a
/// marker counting characters, together at most `max` characters (Slack
/// counts characters).
pub(crate) fn cut_chars(text: &str, max: usize) -> Cow<'_, str> {
    let total = text.chars().count();
    if total <= max {
        return Cow::Borrowed(text);
    }
    let mut keep = max.saturating_sub(marker(total, "characters").chars().count());
    for _ in 0..2 {
        let end = safe_end(text, byte_index_of_char(text, keep));
        let kept = text[..end].chars().count();
        let m = marker(total - kept, "characters");
        if kept + m.chars().count() <= max {
            return Cow::Owned(format!("{}{m}", &text[..end]));
        }
        keep = max.saturating_sub(m.chars().count());
    }
    Cow::Borrowed(&text[..safe_end(text, byte_index_of_char(text, max))])
}

/// The body `build` makes from `text`, with `text` cut (see [`cut_bytes`])
/// until the body is at most `limit` bytes. JSON escaping can make a body
/// longer than its text, so the cut is measured on the built body. Only when
/// even an empty text is over the limit (a huge title or recipient list) is
/// the body over it.
pub(crate) fn fit_body(text: &str, limit: usize, build: impl Fn(&str) -> Vec<u8>) -> Vec<u8> {
    let whole = build(text);
    if whole.len() <= limit {
        return whole;
    }
    // The longest cut whose body fits: a binary search over the text budget
    // (a body grows with the budget, give or take a marker digit).
    let (mut lo, mut hi) = (0, text.len());
    let mut best = None;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let body = build(&cut_bytes(text, mid));
        if body.len() <= limit {
            best = Some(body);
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    best.unwrap_or_else(|| build(""))
}

/// `text` as a one-line title of at most `max` characters: a longer one is
/// cut (on a safe boundary) and ends with `…`.
pub(crate) fn cut_line(text: &str, max: usize) -> Cow<'_, str> {
    if text.chars().count() <= max {
        return Cow::Borrowed(text);
    }
    let end = safe_end(text, byte_index_of_char(text, max.saturating_sub(1)));
    Cow::Owned(format!("{}…", &text[..end]))
}

fn byte_index_of_char(text: &str, n: usize) -> usize {
    text.char_indices().nth(n).map_or(text.len(), |(i, _)| i)
}

/// The largest cut point `<= max` that is a character boundary and does
/// not split an entity (`&lt;`, `&#42;`), a backslash escape, or a
/// character and the zero-width space that follows `@`.
fn safe_end(text: &str, max: usize) -> usize {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    // An entity is at most 6 bytes (`&#126;`): an `&` among the last few
    // bytes with no `;` after it is one being cut.
    let tail_start = head.len().saturating_sub(7);
    let mut tail_start = tail_start;
    while !head.is_char_boundary(tail_start) {
        tail_start -= 1;
    }
    if let Some(amp) = head[tail_start..].rfind('&') {
        let amp = tail_start + amp;
        if !head[amp..].contains(';') {
            end = amp;
        }
    }
    let head = &text[..end];
    // A trailing lone backslash would escape the marker's newline.
    let backslashes = head.bytes().rev().take_while(|&b| b == b'\\').count();
    if backslashes % 2 == 1 {
        end -= 1;
    }
    // Keep `@` with the zero-width space that disarms it.
    if text[end..].starts_with('\u{200B}') && text[..end].ends_with('@') {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn cuts_never_exceed_the_budget_nor_split_a_character(text in "\\PC{0,400}", max in 0usize..600) {
            let c = cut_bytes(&text, max);
            prop_assert!(c.len() <= max || text.len() <= max);
            prop_assert!(c.len() <= text.len().max(max));
            let kept = c.split("\n… (").next().unwrap();
            prop_assert!(text.starts_with(kept));
            let c = cut_chars(&text, max);
            prop_assert!(c.chars().count() <= max || text.chars().count() <= max);
        }
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn short_text_is_untouched() {
        assert!(matches!(cut_bytes("abc", 3), Cow::Borrowed("abc")));
        assert!(matches!(cut_chars("日本", 2), Cow::Borrowed("日本")));
    }

    #[test]
    fn cut_fits_exactly_and_says_how_much() {
        let text = "x".repeat(5_000);
        for max in [40, 100, 2_048, 4_096, 4_999] {
            let c = cut_bytes(&text, max);
            assert!(c.len() <= max, "{max}: {}", c.len());
            let kept = c.find('\n').unwrap();
            assert!(
                c.ends_with(&format!("… ({} bytes cut)", thousands(5_000 - kept))),
                "{c}"
            );
            // Close to the budget: at most a few bytes are wasted.
            assert!(c.len() + 2 >= max, "{max}: {}", c.len());
        }
    }

    #[test]
    fn multibyte_text_is_never_split() {
        let text = "日本語のテキスト🙂".repeat(300);
        for max in 30..120 {
            let c = cut_bytes(&text, max);
            assert!(c.len() <= max);
            // Being a `str` proves the boundary; the kept part is a prefix.
            let kept = c.split('\n').next().unwrap();
            assert!(text.starts_with(kept));
        }
        let c = cut_chars(&text, 1_000);
        assert!(c.chars().count() <= 1_000);
        assert!(c.chars().count() >= 995);
        assert!(c.ends_with("characters cut)"));
    }

    #[test]
    fn entities_and_escapes_are_not_split() {
        let text = format!(
            "{}&#42;&lt;\\*@\u{200B}1{}",
            "a".repeat(30),
            "b".repeat(100)
        );
        for max in 30..75 {
            let c = cut_bytes(&text, max);
            let kept = c.split('\n').next().unwrap();
            assert!(!kept.ends_with('\\') || kept.ends_with("\\\\"), "{kept:?}");
            if let Some(i) = kept.rfind('&') {
                assert!(kept[i..].contains(';'), "{kept:?}");
            }
            assert!(!kept.ends_with('@'), "{kept:?}");
        }
    }

    #[test]
    fn bodies_fit_even_when_escaping_grows_them() {
        // Every quote doubles in JSON: the cut must be measured on the body.
        let text = "\"日".repeat(5_000);
        let build = |t: &str| serde_json::to_vec(&serde_json::json!({ "text": t })).unwrap();
        for limit in [100, 2_000, 20_000] {
            let body = fit_body(&text, limit, build);
            assert!(body.len() <= limit, "{limit}: {}", body.len());
            assert!(
                body.len() + 16 >= limit,
                "{limit}: {} wastes too much",
                body.len()
            );
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(v["text"].as_str().unwrap().ends_with("bytes cut)"));
        }
        let short = fit_body("hi", 100, build);
        assert_eq!(short, br#"{"text":"hi"}"#);
    }

    #[test]
    fn titles_stay_one_line() {
        assert_eq!(cut_line("short", 10), "short");
        assert_eq!(cut_line("0123456789abc", 10), "012345678…");
        assert_eq!(cut_line("日本語日本語", 4), "日本語…");
        assert_eq!(cut_line("ab&lt;cd", 4), "ab…");
    }

    #[test]
    fn a_budget_below_the_marker_keeps_what_fits() {
        let c = cut_bytes("abcdefghij", 4);
        assert_eq!(c, "abcd");
    }
}
