//! Escaping a value from a log record for a channel's markup, so that it
//! shows literally and cannot change the message's layout, add a link or a
//! mention, or break the JSON it is written into.
//!
//! Everywhere, whatever the markup: DEL, the C1 controls and the Unicode
//! bidirectional overrides and isolates (which can make text read in a
//! different order than it is stored, "Trojan Source") become U+FFFD.
//!
//! | markup | what else is done |
//! |---|---|
//! | [`Markup::Text`] | C0 controls other than `\n` and `\t` become U+FFFD; U+2028/U+2029 become `\n` |
//! | [`Markup::Markdown`] | as `Text`, then `` \ ` * _ [ ] ( ) # ~ | ! `` get a backslash, `<` `>` `&` become `&lt;` `&gt;` `&amp;`, a `-`, `+` or `1.` opening a line gets a backslash, and `@` is followed by U+200B (zero-width space) so `@13800000000` in a record mentions no one |
//! | [`Markup::LarkMd`] | as `Text`, then `&`, `<`, `>` and the Markdown specials become HTML entities (`&#42;` for `*`, …): `lark_md` has no backslash escape, and `<at …>` cannot be formed without `<` |
//! | [`Markup::SlackMrkdwn`] | as `Text`, then `&` `<` `>` become `&amp;` `&lt;` `&gt;`, exactly what Slack's "Formatting text" docs ask for: links, mentions and `<!here>` all need a raw `<` |
//! | [`Markup::Json`] | the inside of a JSON string: `"` `\` and all C0 controls escaped (`\n`, `\u0001`, …), and U+2028/U+2029 written as `\u2028`/`\u2029` so the document is also valid JavaScript |
//!
//! Slack documents no escape for `*`, `_` or `~`: a record's `*x*` shows
//! bold there, which changes emphasis only, never links or mentions.

use super::Markup;
use std::fmt::Write as _;

/// Appends `value`, a value from a log record, to `out`, escaped for
/// `markup`: it shows literally and cannot change the message's layout, add
/// a link or mention anyone, or leave its JSON string.
///
/// Everywhere: DEL, C1 controls and bidirectional overrides and isolates
/// become U+FFFD. Then, per markup:
///
/// | markup | what is done |
/// |---|---|
/// | `Text` | C0 controls other than `\n` and `\t` become U+FFFD; U+2028/U+2029 become `\n` |
/// | `Markdown` | as `Text`; Markdown punctuation gets a backslash, `<` `>` `&` become entities, a `-`, `+` or `1.` opening a line gets a backslash, `@` is followed by a zero-width space |
/// | `LarkMd` | as `Text`; `&` `<` `>` and Markdown punctuation become HTML entities |
/// | `SlackMrkdwn` | as `Text`; `&` `<` `>` become `&amp;` `&lt;` `&gt;` |
/// | `Json` | the inside of a JSON string, U+2028/U+2029 escaped too |
///
/// ```
/// use evtrail::notify::{Markup, escape};
///
/// let mut out = String::from("message: ");
/// escape(Markup::SlackMrkdwn, "<!here> look", &mut out);
/// assert_eq!(out, "message: &lt;!here&gt; look");
/// ```
pub fn escape(markup: Markup, value: &str, out: &mut String) {
    out.reserve(value.len());
    let mut line_start = out.is_empty() || out.ends_with('\n');
    for c in value.chars() {
        if is_hostile(c) {
            out.push('\u{FFFD}');
            line_start = false;
            continue;
        }
        match markup {
            Markup::Json => json_char(c, out),
            Markup::Text => {
                push_text(c, out);
            }
            Markup::Markdown => {
                let c = match text_char(c) {
                    Some(c) => c,
                    None => {
                        out.push('\u{FFFD}');
                        line_start = false;
                        continue;
                    }
                };
                markdown_char(c, line_start, out);
                line_start = c == '\n' || (line_start && (c == ' ' || c == '\t'));
                continue;
            }
            Markup::LarkMd => match text_char(c) {
                Some(c) => lark_char(c, out),
                None => out.push('\u{FFFD}'),
            },
            Markup::SlackMrkdwn => match text_char(c) {
                Some('&') => out.push_str("&amp;"),
                Some('<') => out.push_str("&lt;"),
                Some('>') => out.push_str("&gt;"),
                Some(c) => out.push(c),
                None => out.push('\u{FFFD}'),
            },
        }
        line_start = c == '\n';
    }
}

/// `value` escaped for `markup`, as a new string.
#[cfg(test)]
pub(crate) fn escaped(markup: Markup, value: &str) -> String {
    let mut s = String::new();
    escape(markup, value, &mut s);
    s
}

/// DEL, C1 controls, bidi embeddings/overrides/isolates and the Arabic
/// letter mark: never shown as they are, in any markup.
fn is_hostile(c: char) -> bool {
    matches!(c,
        '\u{7F}'..='\u{9F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{061C}')
}

/// A character for a text markup: `None` for a control character that must
/// not appear; line and paragraph separators become plain newlines.
fn text_char(c: char) -> Option<char> {
    match c {
        '\n' | '\t' => Some(c),
        '\u{2028}' | '\u{2029}' => Some('\n'),
        c if c < ' ' => None,
        c => Some(c),
    }
}

fn push_text(c: char, out: &mut String) {
    out.push(text_char(c).unwrap_or('\u{FFFD}'));
}

fn json_char(c: char, out: &mut String) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{2028}' => out.push_str("\\u2028"),
        '\u{2029}' => out.push_str("\\u2029"),
        c if c < ' ' => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

fn markdown_char(c: char, line_start: bool, out: &mut String) {
    match c {
        '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '~' | '|' | '!' => {
            out.push('\\');
            out.push(c);
        }
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '&' => out.push_str("&amp;"),
        '@' => out.push_str("@\u{200B}"),
        '-' | '+' if line_start => {
            out.push('\\');
            out.push(c);
        }
        '.' if ends_with_line_number(out) => out.push_str("\\."),
        c => out.push(c),
    }
}

/// Whether `out` ends with a line's leading digits (so a `.` now would
/// start an ordered list).
fn ends_with_line_number(out: &str) -> bool {
    let line = out.rsplit('\n').next().unwrap_or(out);
    let trimmed = line.trim_start_matches([' ', '\t']);
    !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit())
}

fn lark_char(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '*' | '_' | '~' | '`' | '[' | ']' | '(' | ')' | '#' | '\\' | '|' | '!' | '-' | '+' => {
            let _ = write!(out, "&#{};", c as u32);
        }
        c => out.push(c),
    }
}

/// Undoes the entities this module writes (`&lt;`, `&gt;`, `&amp;`,
/// `&#NN;`), for the plain-text fields (Slack's and Feishu's headers) that
/// show entities literally. Only for text escaped by [`escape`]: plain-text
/// fields parse neither links nor mentions.
pub(crate) fn unescape_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest.find(';').filter(|&j| j <= 8).and_then(|j| {
            let c = match &rest[1..j] {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                e => e
                    .strip_prefix('#')
                    .and_then(|n| n.parse::<u32>().ok())
                    .and_then(char::from_u32)
                    .filter(|c| c.is_ascii_punctuation()),
            };
            c.map(|c| (c, j + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A recipient id (phone number, user id) from configuration, reduced to
/// characters no markup gives a meaning to: letters, digits and `_ - . + :`.
/// Ids are not log values, but a stray `"` or `>` would still break the
/// `<at user_id="…">` and `<@…>` forms they are written into.
pub(crate) fn clean_id(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | ':'))
        .collect()
}

/// The ids in `ids`, cleaned (see [`clean_id`]), without those left empty.
pub(crate) fn clean_ids(ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|s| clean_id(s))
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "a\u{202E}b\u{7F}c\u{85}d\u{2066}e";

    #[test]
    fn bidi_overrides_del_and_c1_are_neutralised_in_every_markup() {
        for m in [
            Markup::Text,
            Markup::Markdown,
            Markup::LarkMd,
            Markup::SlackMrkdwn,
            Markup::Json,
        ] {
            let e = escaped(m, HOSTILE);
            assert_eq!(e, "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e", "{m:?}");
        }
    }

    #[test]
    fn text_keeps_newlines_and_tabs_but_not_other_controls() {
        assert_eq!(
            escaped(Markup::Text, "a\nb\tc\rd\u{1b}[31me\u{0}"),
            "a\nb\tc\u{FFFD}d\u{FFFD}[31me\u{FFFD}"
        );
        assert_eq!(escaped(Markup::Text, "a\u{2028}b"), "a\nb");
    }

    #[test]
    fn markdown_cannot_format_link_or_mention() {
        let e = escaped(
            Markup::Markdown,
            "**bold** [x](http://evil) <font color=\"info\">@13800000000 `c` # h & > q",
        );
        assert_eq!(
            e,
            "\\*\\*bold\\*\\* \\[x\\]\\(http://evil\\) &lt;font color=\"info\"&gt;@\u{200B}13800000000 \\`c\\` \\# h &amp; &gt; q"
        );
        assert!(!e.contains("<"));
        assert!(!e.contains("@1"));
    }

    #[test]
    fn markdown_line_starts_cannot_open_lists_quotes_or_headings() {
        assert_eq!(
            escaped(Markup::Markdown, "- a\n+ b\n12. c\n> d\n# e\nx-y 3.5"),
            "\\- a\n\\+ b\n12\\. c\n&gt; d\n\\# e\nx-y 3.5"
        );
        // An indented item is a list item too.
        assert_eq!(escaped(Markup::Markdown, "  - a"), "  \\- a");
        // A value appended after text on the same line is not at a line start.
        let mut out = String::from("code: ");
        escape(Markup::Markdown, "-1", &mut out);
        assert_eq!(out, "code: -1");
    }

    #[test]
    fn lark_md_cannot_mention_or_format() {
        let e = escaped(Markup::LarkMd, "<at user_id=\"all\"></at> **b** [l](u)");
        assert_eq!(
            e,
            "&lt;at user&#95;id=\"all\"&gt;&lt;/at&gt; &#42;&#42;b&#42;&#42; &#91;l&#93;&#40;u&#41;"
        );
        assert_eq!(
            unescape_entities(&e),
            "<at user_id=\"all\"></at> **b** [l](u)"
        );
    }

    #[test]
    fn slack_cannot_mention_here_or_link() {
        let e = escaped(Markup::SlackMrkdwn, "<!here> <@U123> <http://x|y> & co");
        assert_eq!(e, "&lt;!here&gt; &lt;@U123&gt; &lt;http://x|y&gt; &amp; co");
        assert_eq!(unescape_entities(&e), "<!here> <@U123> <http://x|y> & co");
    }

    #[test]
    fn json_values_stay_inside_their_string() {
        let v = "a\"},\"x\":{\"\\\n\u{1}\u{2028}\u{2029}é";
        let e = escaped(Markup::Json, v);
        assert_eq!(e, "a\\\"},\\\"x\\\":{\\\"\\\\\\n\\u0001\\u2028\\u2029é");
        let parsed: String = serde_json::from_str(&format!("\"{e}\"")).unwrap();
        assert_eq!(parsed, "a\"},\"x\":{\"\\\n\u{1}\u{2028}\u{2029}é");
    }

    #[test]
    fn unescape_leaves_other_ampersands_alone() {
        assert_eq!(
            unescape_entities("a & b &amp c &#9; &lt;"),
            "a & b &amp c &#9; <"
        );
    }

    #[test]
    fn ids_keep_only_harmless_characters() {
        assert_eq!(clean_id("ou_12-ab.c"), "ou_12-ab.c");
        assert_eq!(clean_id("x\"></at><at user_id=\"all"), "xatatuser_idall");
        assert_eq!(clean_id("+86 138-0000"), "+86138-0000");
    }
}
