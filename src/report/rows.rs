//! The latest events table's rows: only the newest N records are kept
//! (their stored lines and push outcomes), and each is taken apart into
//! the five details when the page is written.

use std::collections::VecDeque;

use serde_json::Value;

use crate::query::{Match, as_text};
use crate::stats::{Outcome, PushTally, Seen};

/// The top-level keys shown in their own columns, or not at all, rather
/// than among a row's context.
const OWN_COLUMNS: &[&str] = &["v", "ts", "msg", "event", "code", "sig", "fields", "spans"];

/// The newest records, as many as asked for.
pub(crate) struct Latest {
    cap: usize,
    kept: VecDeque<(String, Vec<Outcome>)>,
}

/// One row, taken apart.
pub(crate) struct Row {
    /// `2026-11-20 12:00:05`.
    pub(crate) time: String,
    pub(crate) level: String,
    pub(crate) class: String,
    pub(crate) event: String,
    pub(crate) code: String,
    pub(crate) msg: String,
    pub(crate) pushes: Vec<Outcome>,
    /// Every other key and field, as `name` and text.
    pub(crate) context: Vec<(String, String)>,
}

impl Latest {
    pub(crate) fn new(cap: usize) -> Latest {
        Latest {
            cap,
            kept: VecDeque::with_capacity(cap.min(4096)),
        }
    }

    /// Keeps `m` if it is among the newest; records come oldest first.
    pub(crate) fn offer(&mut self, m: &Match, seen: &Seen, pushes: &PushTally) {
        if self.cap == 0 {
            return;
        }
        if self.kept.len() == self.cap {
            self.kept.pop_front();
        }
        let outcomes = match seen.seq {
            Some(seq) => pushes.outcomes(&seen.host, &seen.stream, seq),
            None => Vec::new(),
        };
        self.kept.push_back((m.line().to_owned(), outcomes));
    }

    /// The rows, newest first.
    pub(crate) fn rows(self) -> Vec<Row> {
        self.kept
            .into_iter()
            .rev()
            .map(|(line, pushes)| row(&line, pushes))
            .collect()
    }
}

fn row(line: &str, pushes: Vec<Outcome>) -> Row {
    let record: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    let text = |k: &str| {
        record
            .get(k)
            .filter(|v| !v.is_null())
            .map(|v| as_text(v).into_owned())
            .unwrap_or_default()
    };
    let ts = text("ts");
    let time = match (ts.get(..10), ts.get(11..19)) {
        (Some(d), Some(t)) => format!("{d} {t}"),
        _ => ts.clone(),
    };
    let mut context = Vec::new();
    if let Some(obj) = record.as_object() {
        for (k, v) in obj {
            if !OWN_COLUMNS.contains(&k.as_str()) && !v.is_null() {
                context.push((k.clone(), as_text(v).into_owned()));
            }
        }
    }
    if let Some(fields) = record.get("fields").and_then(Value::as_object) {
        for (k, v) in fields {
            context.push((format!("fields.{k}"), as_text(v).into_owned()));
        }
    }
    if let Some(spans) = record.get("spans").and_then(Value::as_array) {
        for span in spans {
            let name = span.get("name").map(as_text).unwrap_or_default();
            if let Some(fields) = span.get("fields").and_then(Value::as_object) {
                for (k, v) in fields {
                    context.push((format!("spans.{name}.{k}"), as_text(v).into_owned()));
                }
            }
        }
    }
    Row {
        time,
        level: text("level"),
        class: text("class"),
        event: text("event"),
        code: text("code"),
        msg: text("msg"),
        pushes,
        context,
    }
}
