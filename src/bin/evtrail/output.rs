//! Rendering matches: a table for people (colour on a terminal only,
//! values cut to the width), the stored lines, JSON with the signature
//! verdict, or CSV for scripts.

use std::io::{self, IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use clap::ValueEnum;
use evtrail::query::{Match, Signature};
use unicode_width::UnicodeWidthChar;

/// How matches are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people (the default on a terminal).
    Table,
    /// The stored lines, untouched, so they can be verified again (the
    /// default when piped).
    Jsonl,
    /// One JSON object per match: `valid_signature`, `file`, `line` and the
    /// parsed `record`.
    Json,
    /// Comma-separated values with a header row.
    Csv,
}

impl Format {
    /// `given`, or the default for where stdout goes.
    pub(crate) fn or_default(given: Option<Format>) -> Format {
        given.unwrap_or(if io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Jsonl
        })
    }
}

/// The table's columns when `--fields` is not given, with their widest
/// width (the message takes what is left).
const DEFAULT_COLUMNS: &[(&str, usize)] = &[
    ("time", 23),
    ("level", 5),
    ("stream", 10),
    ("class", 10),
    ("event", 22),
    ("code", 6),
    ("user", 12),
    ("tenant", 10),
    ("op", 14),
    ("msg", 0),
];

/// The width of a column `--fields` names: the default column's, or one
/// that fits most values.
fn width_of(column: &str) -> usize {
    match column {
        "sig" | "valid_signature" => 11,
        "line" => 6,
        _ => DEFAULT_COLUMNS
            .iter()
            .find(|(name, _)| *name == column)
            .map_or(16, |(_, w)| *w),
    }
}

/// The narrowest a `msg` column is squeezed to.
const MIN_MSG: usize = 20;

/// Columns that are not record fields.
fn special(m: &Match, column: &str) -> Option<String> {
    Some(match column {
        "time" => {
            // `2026-11-22T10:00:00.123456Z` → `2026-11-22 10:00:00.123`.
            let ts = m.ts();
            match (ts.get(..10), ts.get(11..23)) {
                (Some(date), Some(clock)) => format!("{date} {clock}"),
                _ => ts.to_owned(),
            }
        }
        "sig" | "valid_signature" => m.signature().as_str().to_owned(),
        "file" => m.file().display().to_string(),
        "line" => m.line_number().to_string(),
        _ => return None,
    })
}

fn value(m: &Match, column: &str) -> String {
    special(m, column)
        .or_else(|| m.field(column))
        .unwrap_or_default()
}

/// Writes matches in one format.
pub(crate) struct Renderer {
    format: Format,
    columns: Vec<(String, usize)>,
    /// Buffered: a search can print hundreds of thousands of lines.
    out: io::BufWriter<anstream::AutoStream<io::StdoutLock<'static>>>,
    width: Option<usize>,
    /// Whether a person watches: each row is shown as soon as it is found.
    interactive: bool,
    wrote_header: bool,
}

impl Renderer {
    /// A renderer; `fields` picks the columns of the table and CSV, and
    /// `signatures` adds the verdict column when keys were given.
    pub(crate) fn new(format: Format, fields: Option<&[String]>, signatures: bool) -> Renderer {
        let columns: Vec<(String, usize)> = match fields {
            Some(f) => f.iter().map(|c| (c.clone(), width_of(c))).collect(),
            None => {
                let mut c: Vec<(String, usize)> = DEFAULT_COLUMNS
                    .iter()
                    .map(|(n, w)| ((*n).to_owned(), *w))
                    .collect();
                if signatures {
                    c.insert(1, ("sig".to_owned(), width_of("sig")));
                }
                c
            }
        };
        let stdout = io::stdout();
        let width = stdout
            .is_terminal()
            .then(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
            .flatten();
        Renderer {
            format,
            columns,
            out: io::BufWriter::with_capacity(64 * 1024, anstream::AutoStream::auto(stdout.lock())),
            width,
            interactive: stdout.is_terminal(),
            wrote_header: false,
        }
    }

    /// Writes one match.
    pub(crate) fn write(&mut self, m: &Match) -> io::Result<()> {
        self.write_row(m)?;
        if self.interactive {
            self.out.flush()?;
        }
        Ok(())
    }

    fn write_row(&mut self, m: &Match) -> io::Result<()> {
        match self.format {
            Format::Jsonl => writeln!(self.out, "{}", m.line()),
            Format::Json => writeln!(self.out, "{}", m.to_json()),
            Format::Csv => {
                if !self.wrote_header {
                    self.wrote_header = true;
                    let header: Vec<String> = self.columns.iter().map(|(c, _)| csv(c)).collect();
                    writeln!(self.out, "{}", header.join(","))?;
                }
                let row: Vec<String> = self
                    .columns
                    .iter()
                    .map(|(c, _)| csv(&value(m, c)))
                    .collect();
                writeln!(self.out, "{}", row.join(","))
            }
            Format::Table => {
                if !self.wrote_header {
                    self.wrote_header = true;
                    self.table_header()?;
                }
                self.table_row(m)
            }
        }
    }

    /// The widths of the table's columns: each its fixed width, the last
    /// the rest of the terminal (or unlimited when not on one).
    fn widths(&self) -> Vec<usize> {
        // A column that takes the rest (the message) when it is not last.
        let fixed = |w: usize| if w == 0 { 40 } else { w };
        let n = self.columns.len();
        let used: usize = self.columns[..n.saturating_sub(1)]
            .iter()
            .map(|(_, w)| fixed(*w) + 2)
            .sum();
        self.columns
            .iter()
            .enumerate()
            .map(|(i, (_, w))| {
                if i + 1 == n {
                    self.width
                        .map_or(usize::MAX, |total| total.saturating_sub(used).max(MIN_MSG))
                } else {
                    fixed(*w)
                }
            })
            .collect()
    }

    fn table_header(&mut self) -> io::Result<()> {
        let widths = self.widths();
        let bold = Style::new().bold();
        let mut line = String::new();
        for (i, ((name, _), w)) in self.columns.iter().zip(&widths).enumerate() {
            let last = i + 1 == widths.len();
            line.push_str(&cell(&name.to_uppercase(), *w, last));
        }
        writeln!(self.out, "{bold}{}{bold:#}", line.trim_end())
    }

    fn table_row(&mut self, m: &Match) -> io::Result<()> {
        let widths = self.widths();
        let mut line = String::new();
        for (i, ((name, _), w)) in self.columns.iter().zip(&widths).enumerate() {
            let last = i + 1 == widths.len();
            let text = cell(&value(m, name), *w, last);
            let style = match name.as_str() {
                "level" => level_style(&value(m, name)),
                "sig" | "valid_signature" => sig_style(m.signature()),
                _ => Style::new(),
            };
            line.push_str(&format!("{style}{text}{style:#}"));
        }
        writeln!(self.out, "{}", line.trim_end())
    }

    /// Writes what is buffered.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// `text` with its control characters shown escaped (`\u{1b}`), so that a
/// value read from a log cannot move the cursor or recolour the screen.
pub(crate) fn printable(text: &str) -> String {
    cell(text, usize::MAX, true)
}

/// `text` made safe for a terminal (control characters shown escaped, so a
/// hostile value cannot move the cursor or recolour the screen), cut to
/// `width` columns with `…`, padded unless it is the last column.
fn cell(text: &str, width: usize, last: bool) -> String {
    let mut out = String::with_capacity(text.len().min(width.saturating_mul(4)) + 4);
    let mut used = 0;
    // Where the text still leaves a column for `…`, should it not fit.
    let (mut fit_len, mut fit_used) = (0, 0);
    let mut cut = false;
    for c in text.chars() {
        let before = out.len();
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        let w = if c.is_control() {
            out.len() - before
        } else {
            c.width().unwrap_or(0)
        };
        if used + w > width {
            cut = true;
            break;
        }
        used += w;
        if used < width {
            (fit_len, fit_used) = (out.len(), used);
        }
    }
    if cut {
        out.truncate(fit_len);
        out.push('…');
        used = fit_used + 1;
    }
    if !last {
        out.push_str(&" ".repeat(width.saturating_sub(used) + 2));
    }
    out
}

fn level_style(level: &str) -> Style {
    let color = match level {
        "ERROR" => AnsiColor::Red,
        "WARN" => AnsiColor::Yellow,
        "INFO" => AnsiColor::Green,
        "DEBUG" => AnsiColor::Blue,
        _ => return Style::new().dimmed(),
    };
    Style::new().fg_color(Some(color.into()))
}

fn sig_style(sig: Signature) -> Style {
    match sig {
        Signature::Valid => Style::new().fg_color(Some(AnsiColor::Green.into())),
        Signature::Invalid => Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
        _ => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
    }
}

/// A CSV field, quoted when it must be (RFC 4180).
pub(crate) fn csv(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_padded_and_defanged() {
        assert_eq!(cell("abc", 5, false), "abc    ");
        assert_eq!(cell("abcdefgh", 5, false), "abcd…  ");
        assert_eq!(cell("abcdefgh", 5, true), "abcd…");
        assert_eq!(cell("abcde", 5, true), "abcde");
        assert_eq!(cell("a\u{1b}[31mb", 40, true), "a\\u{1b}[31mb");
        assert_eq!(cell("two\nlines", 40, true), "two\\nlines");
        assert_eq!(printable("a\u{1b}]0;x\u{7}b"), "a\\u{1b}]0;x\\u{7}b");
        // Wide characters take two columns.
        assert_eq!(cell("日本語", 5, true), "日本…");
        // Off a terminal the last column is not cut.
        assert_eq!(cell("long text", usize::MAX, true), "long text");
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(csv("plain"), "plain");
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv("two\nlines"), "\"two\nlines\"");
    }
}
