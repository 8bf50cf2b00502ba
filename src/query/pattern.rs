//! Shell-style wildcards (`payment_*`, `user_?`), the one pattern syntax
//! of event names on the command line.

/// A wildcard pattern: `*` matches any run of characters (none included),
/// `?` exactly one character; everything else matches itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Glob {
    pattern: Vec<char>,
}

impl Glob {
    /// Whether `text` holds a wildcard, so that it is a pattern rather than
    /// a plain value.
    pub(crate) fn is_pattern(text: &str) -> bool {
        text.contains(['*', '?'])
    }

    pub(crate) fn new(pattern: &str) -> Glob {
        Glob {
            pattern: pattern.chars().collect(),
        }
    }

    /// The pattern as written.
    #[cfg(feature = "http")]
    pub(crate) fn text(&self) -> String {
        self.pattern.iter().collect()
    }

    /// The literal text every match starts with (up to the first wildcard).
    pub(crate) fn prefix(&self) -> String {
        self.pattern
            .iter()
            .take_while(|c| !matches!(c, '*' | '?'))
            .collect()
    }

    /// Whether the whole of `text` matches.
    pub(crate) fn matches(&self, text: &str) -> bool {
        // The classic two-pointer match with backtracking to the last `*`:
        // linear in practice, never exponential.
        let text: Vec<char> = text.chars().collect();
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.pattern.get(p) {
                Some('*') => {
                    star = Some((p, t));
                    p += 1;
                }
                Some('?') => {
                    p += 1;
                    t += 1;
                }
                Some(&c) if c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.pattern[p..].iter().all(|&c| c == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_runs_and_single_characters() {
        let g = Glob::new("payment_*");
        assert!(g.matches("payment_failed"));
        assert!(g.matches("payment_"));
        assert!(!g.matches("payments_failed"));
        assert!(!g.matches("xpayment_failed"));
        assert!(Glob::new("*_failed").matches("payment_failed"));
        assert!(Glob::new("a*b*c").matches("aXXbYYc"));
        assert!(!Glob::new("a*b*c").matches("aXXbYY"));
        assert!(Glob::new("user_?").matches("user_7"));
        assert!(!Glob::new("user_?").matches("user_17"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("日本*").matches("日本語"));
        assert!(Glob::new("exact").matches("exact"));
        assert!(!Glob::new("exact").matches("exactly"));
    }

    #[test]
    fn backtracking_never_explodes_on_hostile_patterns() {
        let text = "a".repeat(10_000);
        assert!(!Glob::new("*a*a*a*a*a*a*b").matches(&text));
    }

    #[test]
    fn the_prefix_stops_at_the_first_wildcard() {
        assert_eq!(Glob::new("payment_*").prefix(), "payment_");
        assert_eq!(Glob::new("*x").prefix(), "");
        assert_eq!(Glob::new("ab?c").prefix(), "ab");
        assert!(Glob::is_pattern("a*"));
        assert!(!Glob::is_pattern("plain"));
    }
}
