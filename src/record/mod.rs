//! A captured event, as the emitting thread builds it: its fields, spans
//! and source, owned and not yet encoded. Encoding is `crate::encode`'s
//! concern; the format is specified in `format.md` (rendered as the public
//! `evtrail::format` module).

use std::fmt::{self, Write as _};
use std::sync::Arc;

use tracing::Level;
use tracing_core::Metadata;

mod bounded;
mod capture;

use bounded::Bounded;
pub(crate) use bounded::split_marker;
pub(crate) use capture::Capture;

/// The well-known field names lifted to a record's top level, in the order
/// they are written (`format.md`'s promotion).
pub(crate) const PROMOTED: [&str; 12] = [
    "class",
    "event",
    "code",
    "status",
    "tenant",
    "user",
    "ip",
    "op",
    "trace_id",
    "span_id",
    "request_id",
    "session_id",
];

/// The [`PROMOTED`] slot a field of this name is promoted to (`user_id`
/// feeds `user`), if any.
pub(crate) fn promoted_slot(name: &str) -> Option<usize> {
    Some(match name {
        "class" => 0,
        "event" => 1,
        "code" => 2,
        "status" => 3,
        "tenant" | "tenant_id" => 4,
        "user" | "user_id" => 5,
        "ip" => 6,
        "op" | "operation_key" => 7,
        "trace_id" => 8,
        "span_id" => 9,
        "request_id" => 10,
        "session_id" => 11,
        _ => return None,
    })
}

/// A set of captured fields, with all string data in one buffer so a
/// record costs two allocations however many fields it has.
#[derive(Clone, Debug, Default)]
pub(crate) struct FieldSet {
    text: String,
    pub(crate) items: Vec<Field>,
}

/// One captured field.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) value: Val,
}

/// A captured value. Strings live in the owning [`FieldSet`]'s buffer.
///
/// Kept to 16 bytes, so a [`Field`] is 32: records cross from the emitting
/// thread's core to the worker's, and every cache line of their fields is a
/// transfer. The rare 128-bit integers are boxed for that.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    Str(u32, u32),
    I64(i64),
    U64(u64),
    I128(Box<i128>),
    U128(Box<u128>),
    F64(f64),
    Bool(bool),
    Error(Box<ErrorChain>),
}

const _: () = assert!(
    size_of::<Field>() <= 32,
    "a captured field takes at most half a cache line"
);

/// A `dyn Error` with its `source()` chain, flattened to text.
#[derive(Clone, Debug)]
pub(crate) struct ErrorChain {
    pub(crate) message: String,
    pub(crate) sources: Vec<String>,
}

/// A record's heap buffers, emptied by the worker and handed back to the
/// emitting threads, so that capturing an event reuses memory instead of
/// allocating it on one thread and freeing it on another (which costs
/// both threads a lock in the allocator under load).
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    pub(crate) fields: FieldSet,
    pub(crate) spans: Vec<Arc<SpanData>>,
}

/// Buffers grown past these sizes are freed instead of reused, so one huge
/// event does not pin its memory in the pool.
const REUSE_MAX_TEXT: usize = 1024;
const REUSE_MAX_FIELDS: usize = 32;
const REUSE_MAX_SPANS: usize = 32;

impl Buffers {
    /// Empties a finished record's buffers for reuse; `None` when they grew
    /// too big to keep.
    pub(crate) fn reclaim(rec: Record) -> Option<Buffers> {
        let Record {
            mut fields,
            mut spans,
            ..
        } = rec;
        if fields.text.capacity() > REUSE_MAX_TEXT
            || fields.items.capacity() > REUSE_MAX_FIELDS
            || spans.capacity() > REUSE_MAX_SPANS
        {
            return None;
        }
        fields.text.clear();
        fields.items.clear();
        spans.clear();
        Some(Buffers { fields, spans })
    }
}

impl FieldSet {
    /// The string a `Val::Str` points at.
    pub(crate) fn str_at(&self, start: u32, end: u32) -> &str {
        &self.text[start as usize..end as usize]
    }

    /// The value of the first field called `name`, when it is a string.
    pub(crate) fn find_str(&self, name: &str) -> Option<&str> {
        self.items.iter().find_map(|f| match f.value {
            Val::Str(s, e) if f.name == name => Some(self.str_at(s, e)),
            _ => None,
        })
    }

    /// Appends text to the buffer, bounded, and returns where it landed.
    pub(crate) fn push_text(&mut self, s: &str, limit: usize) -> (u32, u32) {
        if s.len() > limit {
            return self.push_fmt(format_args!("{s}"), limit);
        }
        // The common case needs no formatting machinery.
        let start = self.text.len();
        self.text.push_str(s);
        (start as u32, self.text.len() as u32)
    }

    /// An empty set with room for `fields` fields and `text` bytes of
    /// string data, so that capturing an event allocates once per buffer
    /// instead of growing it step by step.
    pub(crate) fn with_capacity(fields: usize, text: usize) -> FieldSet {
        FieldSet {
            text: String::with_capacity(text),
            items: Vec::with_capacity(fields),
        }
    }

    /// Formats a value into the buffer, bounded, and returns where it landed.
    pub(crate) fn push_fmt(&mut self, args: fmt::Arguments<'_>, limit: usize) -> (u32, u32) {
        let start = self.text.len();
        let mut w = Bounded {
            out: &mut self.text,
            start,
            limit,
            total: 0,
        };
        let _ = w.write_fmt(args);
        w.finish();
        (start as u32, self.text.len() as u32)
    }

    /// Adds a field; when `replace` is set, a field of the same name is
    /// overwritten in place (a span's `record` filling a declared field).
    pub(crate) fn push(&mut self, name: &'static str, value: Val, replace: bool) {
        if replace && let Some(f) = self.items.iter_mut().find(|f| f.name == name) {
            f.value = value;
            return;
        }
        self.items.push(Field { name, value });
    }

    /// Adds a string field (used for records evtrail writes itself).
    pub(crate) fn add_str(&mut self, name: &'static str, value: &str) {
        let (s, e) = self.push_text(value, usize::MAX);
        self.push(name, Val::Str(s, e), false);
    }

    /// Adds an unsigned integer field.
    pub(crate) fn add_u64(&mut self, name: &'static str, value: u64) {
        self.push(name, Val::U64(value), false);
    }
}

/// A span's name and fields, captured once and shared by every event in it.
#[derive(Clone, Debug)]
pub(crate) struct SpanData {
    pub(crate) name: &'static str,
    pub(crate) fields: FieldSet,
}

/// Where an event came from.
#[derive(Debug)]
pub(crate) enum Meta {
    Static(&'static Metadata<'static>),
    Owned(Box<OwnedMeta>),
}

/// Source information that is not `'static` (`log` records, evtrail's own).
#[derive(Debug, Default)]
pub(crate) struct OwnedMeta {
    pub(crate) target: String,
    pub(crate) module: Option<String>,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u32>,
}

impl Meta {
    pub(crate) fn target(&self) -> &str {
        match self {
            Meta::Static(m) => m.target(),
            Meta::Owned(m) => &m.target,
        }
    }
}

/// An event as captured on the emitting thread: owned, not yet encoded.
#[derive(Debug)]
pub(crate) struct Record {
    /// Nanoseconds since the Unix epoch.
    pub(crate) ts: u64,
    pub(crate) level: Level,
    pub(crate) meta: Meta,
    pub(crate) thread: Option<Arc<str>>,
    pub(crate) message: Option<(u32, u32)>,
    pub(crate) fields: FieldSet,
    /// Enclosing spans, innermost first.
    pub(crate) spans: Vec<Arc<SpanData>>,
    /// Written by evtrail itself (drop notices, sink failures).
    pub(crate) internal: bool,
}

impl Record {
    /// A record evtrail writes about itself.
    pub(crate) fn internal(level: Level, event: &str, message: &str) -> Record {
        let mut fields = FieldSet::default();
        let msg = fields.push_text(message, usize::MAX);
        fields.add_str("event", event);
        Record {
            ts: crate::time::now_nanos(),
            level,
            meta: Meta::Owned(Box::new(OwnedMeta {
                target: "evtrail".to_owned(),
                ..OwnedMeta::default()
            })),
            thread: None,
            message: Some(msg),
            fields,
            spans: Vec::new(),
            internal: true,
        }
    }

    pub(crate) fn message(&self) -> Option<&str> {
        self.message.map(|(s, e)| self.fields.str_at(s, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reclaimed buffers come back empty with their capacity; buffers grown
    /// past the limits are not kept.
    #[test]
    fn reclaim_empties_small_buffers_and_refuses_big_ones() {
        let record = |text: usize| {
            let mut fields = FieldSet::with_capacity(4, 16);
            let (s, e) = fields.push_text(&"x".repeat(text), usize::MAX);
            fields.push("note", Val::Str(s, e), false);
            let mut rec = Record::internal(Level::INFO, "test", "message");
            rec.fields = fields;
            rec.spans.push(Arc::new(SpanData {
                name: "span",
                fields: FieldSet::default(),
            }));
            rec
        };
        let b = Buffers::reclaim(record(100)).expect("small buffers are kept");
        assert!(b.fields.text.is_empty() && b.fields.items.is_empty() && b.spans.is_empty());
        assert!(b.fields.text.capacity() >= 100);
        assert!(Buffers::reclaim(record(REUSE_MAX_TEXT + 1)).is_none());
    }

    #[test]
    fn replace_overwrites_a_declared_field() {
        let mut set = FieldSet::default();
        set.push("a", Val::I64(1), true);
        set.push("a", Val::I64(2), true);
        set.push("a", Val::I64(3), false);
        let vals: Vec<i64> = set
            .items
            .iter()
            .map(|f| match f.value {
                Val::I64(v) => v,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(vals, [2, 3]);
    }
}
