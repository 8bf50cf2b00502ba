//! The filter language: which records a query, a count, a report or a
//! notification rule selects. One parser and one matcher, run on the
//! finished record (the signed line, as stored), so that every reader of
//! records selects them the same way.
//!
//! A [`Filter`] is a list of conditions that must all hold (AND); each
//! condition names a field and one or more tests of which one must hold
//! (OR), as a repeated command-line flag does.

use std::fmt;

use regex::Regex;
use serde_json::Value;
use tracing::Level;

use super::pattern::Glob;
use super::raw::TopLevel;
use crate::error::Error;
use crate::record::PROMOTED;

/// The record's own top-level keys besides the promoted ones (see
/// [`format`](crate::format)); any other name in a path is looked up under
/// `fields` too.
const OWN_KEYS: &[&str] = &[
    "v", "stream", "seq", "ts", "level", "msg", "target", "module", "file", "line", "thread",
    "service", "env", "region", "host", "node", "pid", "version", "spans", "fields", "kid", "sig",
];

/// Whether `name` is one of a record's top-level keys.
fn is_top_level(name: &str) -> bool {
    OWN_KEYS.contains(&name) || PROMOTED.contains(&name)
}

/// Selects records: every condition must hold.
///
/// Field paths are dotted: `event`, `fields.amount`, `fields.card.country`,
/// and `spans.NAME.FIELD` for a field of the enclosing span named `NAME`.
/// A name that is not one of the record's top-level keys is also looked up
/// under `fields` (`amount` finds `fields.amount`). Promoted fields (`op`,
/// `user`, `tenant`, …) live at the top level, not in their span (see
/// [`format`](crate::format)).
///
/// Values compare as numbers when both sides are numbers, and as text
/// otherwise; a missing field equals nothing, so `status!=ok` also selects
/// records without a `status`.
///
/// # Examples
///
/// ```
/// use evtrail::query::Filter;
///
/// let filter = Filter::new()
///     .add_any_of("event", ["payment_*"])?     // a wildcard
///     .add_where("fields.amount>=100")?
///     .min_level(tracing::Level::WARN);
/// let line = r#"{"v":1,"stream":"app","seq":2,"ts":"2026-11-22T10:00:00.000001Z","level":"WARN","event":"payment_failed","fields":{"amount":250}}"#;
/// assert!(filter.matches(line));
/// assert!(!filter.matches(&line.replace("250", "99")));
/// # Ok::<(), evtrail::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Filter {
    conds: Vec<Cond>,
    pre: Prefilter,
}

/// The literals a selected line must hold, worked out once per filter.
#[derive(Clone, Debug, Default)]
pub(crate) struct Prefilter {
    /// The one literal to search whole blocks for: the longest among
    /// conditions that have exactly one.
    scan: Option<Vec<u8>>,
    /// For each condition that has them, literals one of which must be in
    /// the line.
    each: Vec<Vec<memchr::memmem::Finder<'static>>>,
}

impl Prefilter {
    fn new(conds: &[Cond]) -> Prefilter {
        let groups = needle_groups(conds);
        Prefilter {
            scan: groups
                .iter()
                .filter(|g| g.len() == 1)
                .map(|g| g[0].as_bytes().to_vec())
                .max_by_key(Vec::len),
            each: groups
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|n| memchr::memmem::Finder::new(n.as_bytes()).into_owned())
                        .collect()
                })
                .collect(),
        }
    }

    /// The literal to search blocks for, if any.
    pub(crate) fn scan_needle(&self) -> Option<&[u8]> {
        self.scan.as_deref()
    }

    /// False only when `line` cannot be selected.
    pub(crate) fn could_match(&self, line: &[u8]) -> bool {
        self.each
            .iter()
            .all(|any| any.iter().any(|f| f.find(line).is_some()))
    }
}

/// One condition: a field and tests of which one must hold.
#[derive(Clone, Debug)]
struct Cond {
    path: FieldPath,
    any: Vec<Test>,
}

#[derive(Clone, Debug)]
enum Test {
    Cmp(Op, Operand),
    Regex(Regex),
    Exists(bool),
    Glob(Glob),
    LevelAtLeast(u8),
    /// Case-insensitive substring; the needle is lower-cased.
    Contains(String),
}

/// A comparison operator of `--where`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Debug)]
struct Operand {
    text: String,
    number: Option<f64>,
    /// Microseconds since the epoch, when the text is a time
    /// (`2026-11-22`, `2026-11-22 10:00`, RFC 3339).
    micros: Option<i64>,
}

impl Operand {
    fn new(text: &str) -> Operand {
        let t = text.trim();
        let looks_like_date = t.len() >= 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-';
        Operand {
            text: text.to_owned(),
            number: t.parse::<f64>().ok().filter(|n| n.is_finite()),
            micros: looks_like_date
                .then(|| super::range::parse_instant(t).ok())
                .flatten()
                .map(|at| match at.duration_since(std::time::UNIX_EPOCH) {
                    Ok(d) => d.as_micros() as i64,
                    Err(e) => -(e.duration().as_micros() as i64),
                }),
        }
    }
}

/// A dotted path into a record.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldPath(Vec<String>);

impl FieldPath {
    fn parse(text: &str) -> Result<FieldPath, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("no field name".into());
        }
        let segs: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segs.iter().any(String::is_empty) {
            return Err(format!("`{text}` has an empty part"));
        }
        Ok(FieldPath(segs))
    }

    fn first(&self) -> &str {
        &self.0[0]
    }

    /// The last key this path names, as the writer spells it, when looking
    /// for `"KEY":` in a line's raw bytes is sound: array indexes and the
    /// span name in `spans.NAME.…` are values, not keys.
    fn last_key(&self) -> Option<&str> {
        let keys: Vec<&str> = if self.first() == "spans" && self.0.len() >= 2 {
            std::iter::once("spans")
                .chain(self.0[2..].iter().map(String::as_str))
                .collect()
        } else {
            self.0.iter().map(String::as_str).collect()
        };
        keys.into_iter()
            .rev()
            .find(|k| k.parse::<usize>().is_err())
            .filter(|k| plain(k) == *k)
    }

    /// Calls `f` on every value the path reaches in `record` until it
    /// returns true; whether one did.
    fn any(&self, record: &dyn TopLevel, f: &mut dyn FnMut(&Value) -> bool) -> bool {
        let top = self.first();
        if top == "spans" && self.0.len() >= 2 {
            let Some(spans) = record.top("spans") else {
                return false;
            };
            let Some(spans) = spans.as_array() else {
                return false;
            };
            return spans
                .iter()
                .filter(|s| s.get("name").and_then(Value::as_str) == Some(&self.0[1]))
                .any(|s| {
                    if self.0.len() == 2 {
                        return f(s);
                    }
                    s.get("fields")
                        .is_some_and(|fields| walk(fields, &self.0[2..], f))
                });
        }
        if let Some(value) = record.top(top) {
            return walk(&value, &self.0[1..], f);
        }
        if is_top_level(top) {
            return false;
        }
        record
            .top("fields")
            .is_some_and(|fields| walk(&fields, &self.0, f))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// Follows `segs` from `v`; an array on the way is searched element by
/// element (or indexed, when the segment is a number).
fn walk(v: &Value, segs: &[String], f: &mut dyn FnMut(&Value) -> bool) -> bool {
    let Some((seg, rest)) = segs.split_first() else {
        // At the end of the path an array stands for its elements.
        return match v {
            Value::Array(items) => items.iter().any(&mut *f),
            _ => f(v),
        };
    };
    match v {
        Value::Object(map) => map.get(seg).is_some_and(|next| walk(next, rest, f)),
        Value::Array(items) => match seg.parse::<usize>() {
            Ok(i) => items.get(i).is_some_and(|next| walk(next, rest, f)),
            Err(_) => items.iter().any(|item| walk(item, segs, f)),
        },
        _ => false,
    }
}

/// `text` when it needs no JSON escaping, so that it appears in a line
/// exactly as given; empty otherwise.
fn plain(text: &str) -> &str {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        text
    } else {
        ""
    }
}

/// The rank of a level name, `TRACE` = 0 … `ERROR` = 4.
pub(crate) fn level_rank(name: &str) -> Option<u8> {
    Some(match name.to_ascii_uppercase().as_str() {
        "TRACE" => 0,
        "DEBUG" => 1,
        "INFO" => 2,
        "WARN" | "WARNING" => 3,
        "ERROR" => 4,
        _ => return None,
    })
}

/// The level names by rank, as records spell them.
pub(crate) const LEVEL_NAMES: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// A value as text: strings bare, everything else as JSON.
pub(crate) fn as_text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

fn compare(op: Op, v: &Value, operand: &Operand) -> bool {
    let number = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if op != Op::Eq && op != Op::Ne => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    // Times compare as times (`ts>=2026-11-22`), numbers as numbers,
    // anything else as text.
    let micros = match (v, operand.micros) {
        (Value::String(s), Some(_)) => crate::time::parse_ts(s),
        _ => None,
    };
    let ordering = match (micros, operand.micros, number, operand.number) {
        (Some(a), Some(b), _, _) => Some(a.cmp(&b)),
        (_, _, Some(a), Some(b)) => a.partial_cmp(&b),
        _ => Some(as_text(v).as_ref().cmp(operand.text.as_str())),
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        Op::Eq | Op::Ne => ordering.is_eq(),
        Op::Gt => ordering.is_gt(),
        Op::Ge => ordering.is_ge(),
        Op::Lt => ordering.is_lt(),
        Op::Le => ordering.is_le(),
    }
}

impl Test {
    /// Whether the test holds for the field at `path` in `record`.
    fn holds(&self, path: &FieldPath, record: &dyn TopLevel) -> bool {
        match self {
            // "Not equal" and "does not exist" hold when no value reached
            // is equal or exists: a missing field is unequal to anything.
            Test::Cmp(Op::Ne, operand) => !path.any(record, &mut |v| compare(Op::Eq, v, operand)),
            Test::Exists(false) => !path.any(record, &mut |v| !v.is_null()),
            Test::Exists(true) => path.any(record, &mut |v| !v.is_null()),
            Test::Cmp(op, operand) => path.any(record, &mut |v| compare(*op, v, operand)),
            Test::Regex(re) => path.any(record, &mut |v| re.is_match(&as_text(v))),
            Test::Glob(g) => path.any(record, &mut |v| g.matches(&as_text(v))),
            Test::LevelAtLeast(min) => path.any(record, &mut |v| {
                v.as_str().and_then(level_rank).is_some_and(|r| r >= *min)
            }),
            Test::Contains(needle) => path.any(record, &mut |v| {
                as_text(v).to_lowercase().contains(needle.as_str())
            }),
        }
    }

    /// Literal byte strings one of which every line that passes the test
    /// holds, or `None` when the test has no such literals.
    fn needles(&self, path: &FieldPath) -> Option<Vec<String>> {
        let direct = path.0.len() == 1 && is_top_level(path.first());
        match self {
            Test::Cmp(Op::Eq, operand) if direct => {
                let text = &operand.text;
                let bare = is_integer(text) || matches!(text.as_str(), "true" | "false" | "null");
                // A number written otherwise (`1e3`, `4021.0`), or a time
                // (`ts=2026-12-03T10:00:00Z`), can equal a value spelt
                // differently in the line.
                if plain(text) != text
                    || (operand.number.is_some() && !bare)
                    || operand.micros.is_some()
                {
                    return path.last_key().map(|k| vec![format!("\"{k}\":")]);
                }
                let key = path.first();
                let mut out = vec![format!("\"{key}\":\"{text}\"")];
                if bare {
                    out.push(format!("\"{key}\":{text}"));
                }
                Some(out)
            }
            Test::Glob(g) if direct => {
                let prefix = g.prefix();
                let key = path.first();
                if prefix.is_empty() || plain(&prefix) != prefix {
                    return path.last_key().map(|k| vec![format!("\"{k}\":")]);
                }
                // A number's text matches too (`--code '402*'`).
                let mut out = vec![format!("\"{key}\":\"{prefix}")];
                if prefix.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                    out.push(format!("\"{key}\":{prefix}"));
                }
                Some(out)
            }
            Test::LevelAtLeast(min) if direct && path.first() == "level" => Some(
                LEVEL_NAMES[usize::from(*min)..]
                    .iter()
                    .map(|l| format!("\"level\":\"{l}\""))
                    .collect(),
            ),
            Test::Cmp(Op::Ne, _) | Test::Exists(false) => None,
            _ => path.last_key().map(|k| vec![format!("\"{k}\":")]),
        }
    }
}

/// An integer as the writer prints one: an optional `-`, digits, no
/// leading zero.
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

fn invalid(expr: &str, why: impl fmt::Display) -> Error {
    Error::config(format!("invalid filter `{expr}`: {why}"))
}

impl Filter {
    /// A filter that selects every record.
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Whether the filter selects every record.
    pub fn is_empty(&self) -> bool {
        self.conds.is_empty()
    }

    /// The field paths the filter's conditions name, each once.
    pub fn fields(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.conds {
            let path = c.path.to_string();
            if !out.contains(&path) {
                out.push(path);
            }
        }
        out
    }

    /// Adds a condition written as `--where` takes it: `PATH OP VALUE`
    /// with `OP` one of `=`, `!=`, `>`, `>=`, `<`, `<=` and `~` (a regular
    /// expression the value's text must match somewhere), or `PATH exists`
    /// / `PATH !exists`. Spaces around the operator are allowed; the value
    /// is taken as written (no quotes needed).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a condition
    /// that cannot be read, naming it and what is wrong.
    pub fn add_where(self, expr: &str) -> Result<Filter, Error> {
        Ok(self.push(parse_where(expr)?))
    }

    /// Adds a condition that `field` equals one of `values` (a repeated
    /// flag): a value holding `*` or `?` is a wildcard pattern.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for an empty field
    /// name or no values.
    pub fn add_any_of<I, S>(self, field: &str, values: I) -> Result<Filter, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let path = FieldPath::parse(field).map_err(|e| invalid(field, e))?;
        let any: Vec<Test> = values
            .into_iter()
            .map(|v| {
                let v = v.as_ref();
                if Glob::is_pattern(v) {
                    Test::Glob(Glob::new(v))
                } else {
                    Test::Cmp(Op::Eq, Operand::new(v))
                }
            })
            .collect();
        if any.is_empty() {
            return Err(invalid(field, "no value to compare with"));
        }
        Ok(self.push(Cond { path, any }))
    }

    /// Keeps records at `level` or more severe (`WARN` keeps `WARN` and
    /// `ERROR`).
    pub fn min_level(self, level: Level) -> Filter {
        let rank = level_rank(level.as_str()).unwrap_or(0);
        self.push(Cond {
            path: FieldPath(vec!["level".into()]),
            any: vec![Test::LevelAtLeast(rank)],
        })
    }

    /// Keeps records whose message (`msg`) holds `text`, ignoring case.
    /// Repeated calls must all hold.
    pub fn add_text(self, text: &str) -> Filter {
        self.push(Cond {
            path: FieldPath(vec!["msg".into()]),
            any: vec![Test::Contains(text.to_lowercase())],
        })
    }

    /// Whether `line` (one record as stored) is selected. A line that is
    /// not a JSON object is not.
    pub fn matches(&self, line: &str) -> bool {
        if !self.could_match(line.as_bytes()) {
            return false;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => self.matches_value(&v),
            Err(_) => false,
        }
    }

    /// Whether a parsed record is selected.
    pub(crate) fn matches_value(&self, record: &Value) -> bool {
        record.is_object() && self.matches_top(record)
    }

    /// Whether a record, parsed as far as its top level, is selected.
    pub(crate) fn matches_top(&self, record: &dyn TopLevel) -> bool {
        self.conds
            .iter()
            .all(|c| c.any.iter().any(|t| t.holds(&c.path, record)))
    }

    /// The raw-byte test that runs before a line is parsed.
    pub(crate) fn prefilter(&self) -> &Prefilter {
        &self.pre
    }

    /// A cheap test on the raw bytes: false only when the line cannot be
    /// selected.
    fn could_match(&self, line: &[u8]) -> bool {
        self.pre.could_match(line)
    }

    fn push(mut self, cond: Cond) -> Filter {
        self.conds.push(cond);
        self.pre = Prefilter::new(&self.conds);
        self
    }
}

/// One test of a condition, as a store that keeps some keys in columns
/// can run it (see [`Filter::plain_conditions`]).
#[cfg(feature = "http")]
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PlainTest<'a> {
    /// Equal to this text, or, when it is a number, to this number.
    Eq(&'a str, Option<f64>),
    /// Unequal to every value (a missing one included).
    Ne(&'a str, Option<f64>),
    /// A wildcard pattern (`*`, `?`) the whole value matches.
    Glob(String),
    /// A level at least this rank (`TRACE` = 0 … `ERROR` = 4).
    LevelAtLeast(u8),
    /// Holds this lower-cased text, ignoring case.
    Contains(&'a str),
    /// Anything else: an order, a regex, a time, `exists`.
    Other,
}

#[cfg(feature = "http")]
impl Filter {
    /// Each condition as the field path it names (a single top-level key,
    /// or `None` for a nested path or a field under `fields`) and the tests
    /// of which one must hold.
    pub(crate) fn plain_conditions(&self) -> Vec<(Option<&str>, Vec<PlainTest<'_>>)> {
        self.conds
            .iter()
            .map(|c| {
                let key =
                    (c.path.0.len() == 1 && is_top_level(c.path.first())).then(|| c.path.first());
                let tests = c
                    .any
                    .iter()
                    .map(|t| match t {
                        Test::Cmp(Op::Eq, o) if o.micros.is_none() => {
                            PlainTest::Eq(&o.text, o.number)
                        }
                        Test::Cmp(Op::Ne, o) if o.micros.is_none() => {
                            PlainTest::Ne(&o.text, o.number)
                        }
                        Test::Glob(g) => PlainTest::Glob(g.text()),
                        Test::LevelAtLeast(r) => PlainTest::LevelAtLeast(*r),
                        Test::Contains(n) => PlainTest::Contains(n),
                        _ => PlainTest::Other,
                    })
                    .collect();
                (key, tests)
            })
            .collect()
    }
}

/// For each condition that has them, the literals one of which a selected
/// line must contain.
fn needle_groups(conds: &[Cond]) -> Vec<Vec<String>> {
    conds
        .iter()
        .filter_map(|c| {
            let mut all = Vec::new();
            for t in &c.any {
                all.extend(t.needles(&c.path)?);
            }
            Some(all)
        })
        .collect()
}

/// The value at `path` in `record`, as text (the first, where the path
/// reaches several).
pub(crate) fn lookup(record: &Value, path: &str) -> Option<String> {
    let path = FieldPath::parse(path).ok()?;
    let mut found = None;
    path.any(record, &mut |v| {
        if v.is_null() {
            return false;
        }
        found = Some(as_text(v).into_owned());
        true
    });
    found
}

fn parse_where(expr: &str) -> Result<Cond, Error> {
    let text = expr.trim();
    for (suffix, exists) in [(" !exists", false), (" exists", true)] {
        // `msg=file exists` compares with a value that ends so.
        if let Some(path) = text
            .strip_suffix(suffix)
            .filter(|p| !p.contains(['=', '!', '>', '<', '~']))
        {
            let path = FieldPath::parse(path).map_err(|e| invalid(expr, e))?;
            return Ok(Cond {
                path,
                any: vec![Test::Exists(exists)],
            });
        }
    }
    // The operator is the first of these characters; two-character ones
    // are tried first where they start.
    let Some(at) = text.find(['=', '!', '>', '<', '~']) else {
        return Err(invalid(
            expr,
            "expected PATH OP VALUE (OP: = != > >= < <= ~) or PATH exists",
        ));
    };
    let (path, rest) = text.split_at(at);
    let (op, value) = if let Some(v) = rest.strip_prefix("!=") {
        (Some(Op::Ne), v)
    } else if let Some(v) = rest.strip_prefix(">=") {
        (Some(Op::Ge), v)
    } else if let Some(v) = rest.strip_prefix("<=") {
        (Some(Op::Le), v)
    } else if let Some(v) = rest.strip_prefix('=') {
        (Some(Op::Eq), v.strip_prefix('=').unwrap_or(v))
    } else if let Some(v) = rest.strip_prefix('>') {
        (Some(Op::Gt), v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Some(Op::Lt), v)
    } else if let Some(v) = rest.strip_prefix('~') {
        (None, v)
    } else {
        return Err(invalid(
            expr,
            format!("`{}` is not an operator", &rest[..1]),
        ));
    };
    let path = FieldPath::parse(path).map_err(|e| invalid(expr, e))?;
    let value = value.trim();
    let test = match op {
        Some(op) => {
            if value.is_empty() && op != Op::Eq && op != Op::Ne {
                return Err(invalid(expr, "no value after the operator"));
            }
            Test::Cmp(op, Operand::new(value))
        }
        None => Test::Regex(Regex::new(value).map_err(|e| invalid(expr, e))?),
    };
    Ok(Cond {
        path,
        any: vec![test],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Filter {
        fn needles(&self) -> Vec<Vec<String>> {
            needle_groups(&self.conds)
        }
    }

    const LINE: &str = r#"{"v":1,"stream":"app","seq":7,"ts":"2026-11-22T10:00:00.000001Z","level":"WARN","class":"security","event":"payment_failed","code":4021,"status":"error","msg":"Card Declined for order","user":"u-17","tenant":"acme","op":"order-1042","spans":[{"name":"request","fields":{"path":"/pay","attempt":2}},{"name":"checkout"}],"fields":{"amount":250.5,"card":{"country":"DE"},"tags":["a","b"],"note":null}}"#;

    fn w(expr: &str) -> bool {
        Filter::new().add_where(expr).unwrap().matches(LINE)
    }

    #[test]
    fn comparisons_on_top_level_and_nested_fields() {
        assert!(w("event=payment_failed"));
        assert!(w("event == payment_failed"));
        assert!(!w("event=payment"));
        assert!(w("code=4021"));
        assert!(w("code>4000"));
        assert!(!w("code<4000"));
        assert!(w("fields.amount>250"));
        assert!(w("fields.amount>=250.5"));
        assert!(!w("fields.amount>250.5"));
        assert!(w("fields.amount<=250.5"));
        assert!(
            w("amount>100"),
            "names that are not top-level keys fall back to fields"
        );
        assert!(w("fields.card.country=DE"));
        assert!(w("fields.tags=b"), "arrays are searched element by element");
        assert!(w("fields.tags.0=a"), "or indexed");
        assert!(!w("fields.tags.0=b"));
        assert!(w("spans.request.path=/pay"));
        assert!(w("spans.request.attempt>1"));
        assert!(!w("spans.checkout.path=/pay"));
        assert!(w("ts>=2026-11-22T10:00:00Z"), "times compare as times");
        assert!(!w("ts<=2026-11-22 10:00"));
        assert!(w("ts<2026-11-23"));
        assert!(w("user>u-1"), "text compares as text");
        assert!(!w("user<u-1"));
    }

    #[test]
    fn not_equal_and_not_exists_hold_for_missing_fields() {
        assert!(w("status!=ok"));
        assert!(!w("status!=error"));
        assert!(w("ip!=10.0.0.1"), "a missing field is unequal to anything");
        assert!(!w("ip=10.0.0.1"));
        assert!(w("user exists"));
        assert!(w("spans.checkout exists"));
        assert!(!w("ip exists"));
        assert!(w("ip !exists"));
        assert!(!w("fields.note exists"), "null counts as absent");
        assert!(!w("user !exists"));
    }

    #[test]
    fn a_value_ending_in_exists_is_a_value() {
        let line = r#"{"msg":"file exists"}"#;
        assert!(
            Filter::new()
                .add_where("msg=file exists")
                .unwrap()
                .matches(line)
        );
        assert!(
            Filter::new()
                .add_where("msg~file exists")
                .unwrap()
                .matches(line)
        );
        assert!(Filter::new().add_where("msg exists").unwrap().matches(line));
    }

    #[test]
    fn times_and_wildcards_on_numbers_pass_the_raw_test() {
        let line = r#"{"ts":"2026-12-03T10:00:00.000000Z","code":4021}"#;
        for f in [
            Filter::new().add_where("ts=2026-12-03T10:00:00Z").unwrap(),
            Filter::new().add_any_of("code", ["402?"]).unwrap(),
            Filter::new().add_any_of("code", ["402*"]).unwrap(),
        ] {
            assert!(f.matches(line), "{f:?}");
            assert!(f.could_match(line.as_bytes()), "{:?}", f.needles());
        }
    }

    #[test]
    fn regular_expressions_match_the_value_text() {
        assert!(w("msg~(?i)declined"));
        assert!(!w("msg~^declined"));
        assert!(w("code~^40"));
        assert!(w("user ~ ^u-\\d+$"));
    }

    #[test]
    fn repeated_values_are_alternatives_and_conditions_all_hold() {
        let f = Filter::new()
            .add_any_of("event", ["login", "payment_failed"])
            .unwrap();
        assert!(f.matches(LINE));
        let f = f.add_any_of("tenant", ["other"]).unwrap();
        assert!(!f.matches(LINE));
        let f = Filter::new().add_any_of("event", ["pay*"]).unwrap();
        assert!(f.matches(LINE));
        let f = Filter::new()
            .add_any_of("event", ["*_failed", "x"])
            .unwrap();
        assert!(f.matches(LINE));
        assert!(
            !Filter::new()
                .add_any_of("event", ["pay"])
                .unwrap()
                .matches(LINE)
        );
    }

    #[test]
    fn level_at_least_and_message_text() {
        assert!(Filter::new().min_level(Level::WARN).matches(LINE));
        assert!(Filter::new().min_level(Level::INFO).matches(LINE));
        assert!(!Filter::new().min_level(Level::ERROR).matches(LINE));
        assert!(Filter::new().add_text("card declined").matches(LINE));
        assert!(!Filter::new().add_text("accepted").matches(LINE));
    }

    #[test]
    fn malformed_conditions_are_errors_that_name_them() {
        for (bad, why) in [
            ("", "expected PATH OP VALUE"),
            ("event", "expected PATH OP VALUE"),
            ("=x", "no field name"),
            ("fields..x=1", "empty part"),
            ("code>", "no value"),
            ("msg~(unclosed", "regex"),
            ("a!b", "not an operator"),
        ] {
            let err = Filter::new().add_where(bad).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&format!("`{bad}`")), "{text}");
            assert!(
                text.to_lowercase().contains(&why.to_lowercase()),
                "{bad}: {text}"
            );
        }
        assert!(
            Filter::new()
                .add_any_of("event", Vec::<String>::new())
                .is_err()
        );
    }

    #[test]
    fn a_filter_names_the_fields_it_tests() {
        let f = Filter::new()
            .add_any_of("event", ["x"])
            .unwrap()
            .add_where("fields.amount>1")
            .unwrap()
            .add_where("event!=y")
            .unwrap()
            .min_level(Level::WARN);
        assert_eq!(f.fields(), ["event", "fields.amount", "level"]);
        assert!(Filter::new().fields().is_empty());
    }

    #[test]
    fn an_empty_filter_selects_every_record_but_not_garbage() {
        assert!(Filter::new().is_empty());
        assert!(Filter::new().matches(LINE));
        assert!(!Filter::new().matches("not json"));
        assert!(!Filter::new().matches("[1,2]"));
    }

    #[test]
    fn needles_never_exclude_a_matching_line() {
        // Every filter in this list selects LINE, so its needles must be in it.
        let filters = [
            Filter::new()
                .add_any_of("event", ["payment_failed"])
                .unwrap(),
            Filter::new().add_any_of("event", ["payment_*"]).unwrap(),
            Filter::new().add_any_of("code", ["4021"]).unwrap(),
            Filter::new()
                .add_any_of("class", ["audit", "security"])
                .unwrap(),
            Filter::new().min_level(Level::INFO),
            Filter::new().add_where("fields.amount>1").unwrap(),
            Filter::new().add_where("spans.request.path=/pay").unwrap(),
            Filter::new()
                .add_where("fields.card.country exists")
                .unwrap(),
            Filter::new().add_where("ip!=x").unwrap(),
            Filter::new().add_text("CARD"),
        ];
        for f in filters {
            assert!(f.matches(LINE), "{f:?}");
            assert!(f.could_match(LINE.as_bytes()), "{:?}", f.needles());
        }
        // And they rule lines out.
        let f = Filter::new().add_any_of("event", ["login"]).unwrap();
        assert_eq!(f.needles(), vec![vec![r#""event":"login""#.to_owned()]]);
        assert!(!f.could_match(LINE.as_bytes()));
        // Array indexes and span names are not keys.
        let f = Filter::new().add_where("fields.tags.0=a").unwrap();
        assert_eq!(f.needles(), vec![vec![r#""tags":"#.to_owned()]]);
        let f = Filter::new().add_where("spans.checkout exists").unwrap();
        assert_eq!(f.needles(), vec![vec![r#""spans":"#.to_owned()]]);
        // Booleans and numbers written another way are still found.
        let f = Filter::new().add_any_of("code", ["true"]).unwrap();
        assert!(f.matches(r#"{"code":true}"#) && f.could_match(br#"{"code":true}"#));
        let f = Filter::new().add_any_of("code", ["4021.0"]).unwrap();
        assert!(f.matches(r#"{"code":4021}"#) && f.could_match(br#"{"code":4021}"#));
        // A string code is found as well as a numeric one.
        let f = Filter::new().add_any_of("code", ["4021"]).unwrap();
        assert!(f.could_match(br#"{"code":"4021"}"#));
        // A value that needs escaping is looked for by its key alone.
        let f = Filter::new().add_any_of("msg", ["say \"hi\""]).unwrap();
        assert_eq!(f.needles(), vec![vec![r#""msg":"#.to_owned()]]);
        assert!(f.matches(r#"{"msg":"say \"hi\""}"#));
    }
}
