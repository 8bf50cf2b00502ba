//! Escaping a record's values for a channel's markup.

use super::Markup;

/// Appends `value` to `out`, escaped for `markup`.
pub(crate) fn escape(markup: Markup, value: &str, out: &mut String) {
    for c in value.chars() {
        match (markup, c) {
            (Markup::Json, '"') => out.push_str("\\\""),
            (Markup::Json, '\\') => out.push_str("\\\\"),
            (Markup::Json, '\n') => out.push_str("\\n"),
            (Markup::Json, c) if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            (Markup::SlackMrkdwn, '&') => out.push_str("&amp;"),
            (Markup::SlackMrkdwn, '<') => out.push_str("&lt;"),
            (Markup::SlackMrkdwn, '>') => out.push_str("&gt;"),
            (
                Markup::Markdown | Markup::LarkMd,
                '*' | '_' | '`' | '[' | ']' | '#' | '<' | '>' | '@',
            ) => {
                out.push('\\');
                out.push(c);
            }
            (_, c) => out.push(c),
        }
    }
}
