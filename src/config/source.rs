//! Where a setting was written: a file's name and text, so that every
//! error names the file, line and column, and suggests the key or value
//! that was probably meant.

use std::ops::Range;
use std::path::Path;

use crate::error::Error;

/// A configuration file's text and the name errors give it.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    name: String,
    text: String,
}

impl Source {
    pub(crate) fn new(name: &str, text: String) -> Source {
        Source {
            name: name.to_owned(),
            text,
        }
    }

    pub(crate) fn from_path(path: &Path) -> Result<Source, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!(
                "cannot read the configuration file {}: {e}",
                path.display()
            ))
        })?;
        Ok(Source::new(&path.display().to_string(), text))
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The 1-based line and column of byte `offset`.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// `name:line:col: message`, with the line quoted under it.
    pub(crate) fn error_at(&self, span: Range<usize>, message: &str) -> Error {
        if span == (0..0) {
            // A value the environment set has no place in the file.
            return Error::config(format!("{message} (set by the environment)"));
        }
        let (line, col) = self.line_col(span.start);
        let quoted = self
            .text
            .lines()
            .nth(line - 1)
            .map(|l| format!("\n  {line} | {l}"))
            .unwrap_or_default();
        Error::config(format!("{}:{line}:{col}: {message}{quoted}", self.name))
    }

    /// A parse or type error from the TOML reader, located, with a
    /// suggestion for a misspelt key or value.
    pub(crate) fn toml_error(&self, e: &toml::de::Error) -> Error {
        let message = e.message().trim_end();
        let message = match suggestion(message) {
            Some(s) => format!("{message}; did you mean `{s}`?"),
            None => message.to_owned(),
        };
        match e.span() {
            Some(span) => self.error_at(span, &message),
            None => Error::config(format!("{}: {message}", self.name)),
        }
    }
}

/// For "unknown field `capcity`, expected one of `capacity`, …" (or
/// "unknown variant …"), the expected name closest to the unknown one,
/// when one is close enough to be a slip.
fn suggestion(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected = rest.split_once("expected")?.1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|cand| (strsim::jaro_winkler(unknown, cand), cand))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, cand)| cand.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_from_one_in_characters() {
        let s = Source::new("x.toml", "a = 1\nné = 2\n".to_owned());
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(6), (2, 1));
        assert_eq!(s.line_col(s.text().find('=').unwrap()), (1, 3));
        let second_eq = s.text().rfind('=').unwrap();
        assert_eq!(s.line_col(second_eq), (2, 4));
    }

    #[test]
    fn a_slip_gets_a_suggestion_and_a_stranger_none() {
        let m = "unknown field `capcity`, expected one of `capacity`, `batch_size`, `overflow`";
        assert_eq!(suggestion(m).as_deref(), Some("capacity"));
        let m = "unknown variant `blok`, expected `block` or `drop_newest`";
        assert_eq!(suggestion(m).as_deref(), Some("block"));
        let m = "unknown field `zzz`, expected one of `capacity`, `batch_size`";
        assert_eq!(suggestion(m), None);
        assert_eq!(suggestion("invalid type: string, expected u64"), None);
    }
}
