//! The truncating writer that bounds every captured value, and the
//! marker it leaves on a value it cut.

use std::fmt;

/// The marker appended to a value that was cut at the size limit.
const TRUNCATION_MARKER: &str = "…[truncated, ";

/// A bounded `fmt::Write` into a `String`: keeps at most `limit` bytes (cut
/// at a char boundary), counts the rest, and appends the truncation marker.
pub(super) struct Bounded<'a> {
    pub(super) out: &'a mut String,
    pub(super) start: usize,
    pub(super) limit: usize,
    pub(super) total: usize,
}

/// How far back from a cut a partial word is dropped.
const CUT_BACK: usize = 64;

impl Bounded<'_> {
    /// Inlined: it runs for every formatted value on the emitting thread,
    /// from another module than the one that defines it.
    #[inline]
    pub(super) fn finish(self) {
        if self.total > self.limit {
            let kept = &self.out[self.start..];
            let end = cut_back(kept);
            self.out.truncate(self.start + end);
            self.out.push_str(TRUNCATION_MARKER);
            let mut n = itoa::Buffer::new();
            self.out.push_str(n.format(self.total));
            self.out.push_str(" bytes]");
        }
    }
}

/// Where to end text that was cut at the size limit. A word the cut went
/// through (when it started within [`CUT_BACK`] bytes) is dropped, and so is
/// a trailing run of digits, blanks and dashes holding four or more digits:
/// cut, a secret such as a card number no longer looks like one, and the
/// redactor, which runs later, would let its first digits through.
fn cut_back(kept: &str) -> usize {
    let mut end = kept.len();
    if let Some(ws) = kept.rfind(char::is_whitespace) {
        let after = ws + kept[ws..].chars().next().map_or(1, char::len_utf8);
        if end - after <= CUT_BACK {
            end = after;
        }
    }
    let head = &kept[..end];
    let tail_start = head
        .trim_end_matches(|c: char| c.is_ascii_digit() || c == ' ' || c == '-')
        .len();
    if head[tail_start..]
        .bytes()
        .filter(u8::is_ascii_digit)
        .count()
        >= 4
    {
        end = tail_start;
    }
    end
}

/// Splits a cut value into its text and its truncation marker.
///
/// Inlined into the encoder, which calls it for every string value: the
/// suffix test is all most values need.
#[inline]
pub(crate) fn split_marker(s: &str) -> (&str, &str) {
    // The suffix test first: searching every value for the marker cost more
    // than encoding it.
    if !s.ends_with(" bytes]") {
        return (s, "");
    }
    match s.rfind(TRUNCATION_MARKER) {
        Some(at) => s.split_at(at),
        None => (s, ""),
    }
}

impl fmt::Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self
            .start
            .saturating_add(self.limit)
            .saturating_sub(self.out.len());
        self.total += s.len();
        if s.len() <= room {
            self.out.push_str(s);
        } else if room > 0 {
            let mut cut = room;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.out.push_str(&s[..cut]);
            // Nothing more fits; later pieces are only counted.
            self.limit = self.out.len() - self.start;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::record::FieldSet;

    #[test]
    fn oversized_values_are_cut_at_a_char_boundary_with_a_marker() {
        let mut set = FieldSet::default();
        let (s, e) = set.push_text("ééééé", 5);
        assert_eq!(set.str_at(s, e), "éé…[truncated, 10 bytes]");
        let (s, e) = set.push_text("ok then card 4111 1111 1111 1111", 27);
        assert_eq!(set.str_at(s, e), "ok then card…[truncated, 32 bytes]");
        let (s, e) = set.push_text(r#"{"card":"4111111111111111"}"#, 20);
        assert_eq!(set.str_at(s, e), "{\"card\":\"…[truncated, 27 bytes]");
        let (s, e) = set.push_fmt(format_args!("{}{}", "abc", "defgh"), 4);
        assert_eq!(set.str_at(s, e), "abcd…[truncated, 8 bytes]");
        let (s, e) = set.push_text("fits", 4);
        assert_eq!(set.str_at(s, e), "fits");
    }
}
