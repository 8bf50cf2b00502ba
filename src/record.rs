//! Captured events and their JSON encoding; the format is specified in
//! `format.md` (rendered as the public `evtrail::format` module).

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::Level;
use tracing::field::{Field as TField, Visit};
use tracing_core::Metadata;

use crate::redact::{MASK, Prescan, Redactor};

/// The marker appended to a value that was cut at the size limit.
const TRUNCATION_MARKER: &str = "…[truncated, ";

/// A set of captured fields, with all string data in one buffer so a
/// record costs two allocations however many fields it has.
#[derive(Clone, Debug, Default)]
pub(crate) struct FieldSet {
    text: String,
    items: Vec<Field>,
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

/// A bounded `fmt::Write` into a `String`: keeps at most `limit` bytes (cut
/// at a char boundary), counts the rest, and appends the truncation marker.
struct Bounded<'a> {
    out: &'a mut String,
    start: usize,
    limit: usize,
    total: usize,
}

/// How far back from a cut a partial word is dropped.
const CUT_BACK: usize = 64;

impl Bounded<'_> {
    fn finish(self) {
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
fn split_marker(s: &str) -> (&str, &str) {
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

/// Fills a [`FieldSet`] from tracing's visitor calls.
pub(crate) struct Capture<'a> {
    pub(crate) set: &'a mut FieldSet,
    /// Where the `message` field goes; `None` keeps it as an ordinary field.
    pub(crate) message: Option<&'a mut Option<(u32, u32)>>,
    pub(crate) limit: usize,
    pub(crate) replace: bool,
    /// Skip the `log.*` fields the `log` bridge adds (the normalised
    /// metadata carries them).
    pub(crate) skip_log_fields: bool,
}

impl Capture<'_> {
    fn skip(&self, field: &TField) -> bool {
        self.skip_log_fields && field.name().starts_with("log.")
    }

    fn put(&mut self, field: &TField, value: Val) {
        if !self.skip(field) {
            self.set.push(field.name(), value, self.replace);
        }
    }
}

impl Visit for Capture<'_> {
    fn record_f64(&mut self, field: &TField, value: f64) {
        self.put(field, Val::F64(value));
    }
    fn record_i64(&mut self, field: &TField, value: i64) {
        self.put(field, Val::I64(value));
    }
    fn record_u64(&mut self, field: &TField, value: u64) {
        self.put(field, Val::U64(value));
    }
    fn record_i128(&mut self, field: &TField, value: i128) {
        self.put(field, Val::I128(Box::new(value)));
    }
    fn record_u128(&mut self, field: &TField, value: u128) {
        self.put(field, Val::U128(Box::new(value)));
    }
    fn record_bool(&mut self, field: &TField, value: bool) {
        self.put(field, Val::Bool(value));
    }
    fn record_str(&mut self, field: &TField, value: &str) {
        if self.skip(field) {
            return;
        }
        let (s, e) = self.set.push_text(value, self.limit);
        if field.name() == "message"
            && let Some(m) = self.message.as_deref_mut()
        {
            *m = Some((s, e));
            return;
        }
        self.set.push(field.name(), Val::Str(s, e), self.replace);
    }
    fn record_error(&mut self, field: &TField, value: &(dyn std::error::Error + 'static)) {
        let limit = self.limit;
        let bounded = |e: &dyn std::error::Error| {
            let mut set = FieldSet::default();
            set.push_fmt(format_args!("{e}"), limit);
            set.text
        };
        let mut chain = ErrorChain {
            message: bounded(value),
            sources: Vec::new(),
        };
        let mut next = value.source();
        // Bounded: a cyclic or absurdly deep chain must not hang the caller.
        while let Some(cause) = next {
            if chain.sources.len() == 32 {
                break;
            }
            chain.sources.push(bounded(cause));
            next = cause.source();
        }
        self.put(field, Val::Error(Box::new(chain)));
    }
    fn record_debug(&mut self, field: &TField, value: &dyn fmt::Debug) {
        if self.skip(field) {
            return;
        }
        let (s, e) = self.set.push_fmt(format_args!("{value:?}"), self.limit);
        if field.name() == "message"
            && let Some(m) = self.message.as_deref_mut()
        {
            *m = Some((s, e));
            return;
        }
        self.set.push(field.name(), Val::Str(s, e), self.replace);
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
            ts: now_nanos(),
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

/// The current time in nanoseconds since the Unix epoch (0 before it).
pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Names lifted to the top level, in output order, and the field names that
/// feed each.
const PROMOTED: [&str; 12] = [
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
const P_CLASS: usize = 0;
const P_EVENT: usize = 1;
/// Slots up to and including this one are written before `msg`.
const P_LAST_HEAD: usize = 3;

fn promoted_slot(name: &str) -> Option<usize> {
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

/// Where a promoted value was found: 0 is the event, `k + 1` is span `k`
/// (innermost first), with the field's index.
type Origin = (usize, usize);

/// Sources (the event, then its spans innermost first) whose fields
/// [`Resolved`] keeps flags for.
const FLAGGED_SOURCES: usize = 8;
/// Fields of each source that [`Resolved`] keeps flags for.
const FLAGGED_FIELDS: usize = 64;

/// A record's promoted fields, resolved once and used for routing and for
/// encoding into every stream it goes to.
pub(crate) struct Resolved {
    slots: [Option<Origin>; PROMOTED.len()],
    /// Per source, bit `i` set when field `i` was promoted; only for the
    /// first [`FLAGGED_FIELDS`] fields of the first [`FLAGGED_SOURCES`]
    /// sources, the rest are looked for in `slots`.
    promoted: [u64; FLAGGED_SOURCES],
    /// Per source, bit `i` set when field `i` is sensitive; for the same
    /// fields as `promoted`, the rest are looked up by name.
    sensitive: [u64; FLAGGED_SOURCES],
    /// Where [`Encoder::resolve`] found the call site in the [`SiteCache`]
    /// ([`NO_HINT`] when it did not look), so encoding need not look again.
    /// A hint is checked before use: a later lookup may have evicted it.
    site_hint: u16,
    /// Likewise for the flagged spans in the [`SpanCache`], by source.
    span_hints: [u16; FLAGGED_SOURCES],
}

/// A cache hint that matches no entry.
const NO_HINT: u16 = u16::MAX;
const _: () = assert!(2 * SITE_CACHE_SETS < NO_HINT as usize);
const _: () = assert!(2 * SPAN_CACHE_SETS < NO_HINT as usize);

/// The bit of `origin` in [`Resolved`]'s flags, when it has one.
fn flag(origin: Origin) -> Option<(usize, u64)> {
    let (src, i) = origin;
    (src < FLAGGED_SOURCES && i < FLAGGED_FIELDS).then(|| (src, 1 << i))
}

impl Resolved {
    /// Nothing resolved yet.
    pub(crate) fn empty() -> Resolved {
        Resolved {
            slots: [None; PROMOTED.len()],
            promoted: [0; FLAGGED_SOURCES],
            sensitive: [0; FLAGGED_SOURCES],
            site_hint: NO_HINT,
            span_hints: [NO_HINT; FLAGGED_SOURCES],
        }
    }

    /// Adds the fields of source `src` (sources come in order), with what
    /// `info_of` says about each field name.
    fn add_set(&mut self, src: usize, set: &FieldSet, info_of: impl Fn(&'static str) -> NameInfo) {
        for (i, f) in set.items.iter().enumerate() {
            let info = info_of(f.name);
            let flag = flag((src, i));
            if info.sensitive
                && let Some((src, bit)) = flag
            {
                self.sensitive[src] |= bit;
            }
            if let Some(p) = info.promoted {
                self.promote(p, (src, i));
            }
        }
    }

    /// Adds source `src` (sources come in order) from the layout of its
    /// fields; it must be a flagged source and have only flagged fields.
    fn add_layout(&mut self, src: usize, layout: &Layout) {
        self.sensitive[src] = layout.sensitive;
        for &(p, i) in &layout.feeds {
            self.promote(usize::from(p), (src, usize::from(i)));
        }
    }

    /// Fills `slot` with the field at `origin` unless an earlier one did.
    fn promote(&mut self, slot: usize, origin: Origin) {
        if self.slots[slot].is_none() {
            self.slots[slot] = Some(origin);
            if let Some((src, bit)) = flag(origin) {
                self.promoted[src] |= bit;
            }
        }
    }

    /// Where source `src`, a span, was found in the [`SpanCache`].
    fn span_hint(&self, src: usize) -> u16 {
        self.span_hints.get(src).copied().unwrap_or(NO_HINT)
    }

    fn is_promoted(&self, origin: Origin) -> bool {
        match flag(origin) {
            Some((src, bit)) => self.promoted[src] & bit != 0,
            None => self.in_slots(origin),
        }
    }

    /// Whether a field without a flag was promoted. Kept out of line: where
    /// it was inlined into the loop over a record's fields, the compiler
    /// compared every slot with the source before the loop, on every call,
    /// though flagged fields never need it.
    #[inline(never)]
    fn in_slots(&self, origin: Origin) -> bool {
        self.slots.contains(&Some(origin))
    }

    /// The promoted bits of source `src`, when it has `len` fields and
    /// all of them are flagged.
    fn promoted_bits(&self, src: usize, len: usize) -> Option<u64> {
        (src < FLAGGED_SOURCES && len <= FLAGGED_FIELDS).then(|| self.promoted[src])
    }

    /// Whether the field at `origin` is sensitive; `None` when not known
    /// here.
    fn is_sensitive(&self, origin: Origin) -> Option<bool> {
        flag(origin).map(|(src, bit)| self.sensitive[src] & bit != 0)
    }

    fn value<'r>(&self, rec: &'r Record, slot: usize) -> Option<(&'r FieldSet, &'r Field)> {
        self.value_at(rec, slot).map(|(set, f, _)| (set, f))
    }

    /// The field in `slot`, with its set and origin.
    fn value_at<'r>(
        &self,
        rec: &'r Record,
        slot: usize,
    ) -> Option<(&'r FieldSet, &'r Field, Origin)> {
        let (src, i) = self.slots[slot]?;
        let set = if src == 0 {
            &rec.fields
        } else {
            &rec.spans[src - 1].fields
        };
        Some((set, &set.items[i], (src, i)))
    }

    fn str_value<'r>(&self, rec: &'r Record, slot: usize) -> Option<&'r str> {
        match self.value(rec, slot)? {
            (
                set,
                Field {
                    value: Val::Str(s, e),
                    ..
                },
            ) => Some(set.str_at(*s, *e)),
            _ => None,
        }
    }

    /// The record's class: its `class` field, else derived from the level.
    pub(crate) fn class<'r>(&self, rec: &'r Record) -> &'r str {
        self.str_value(rec, P_CLASS)
            .unwrap_or_else(|| default_class(rec.level))
    }

    /// The record's `event` name, when it is a string.
    pub(crate) fn event<'r>(&self, rec: &'r Record) -> Option<&'r str> {
        self.str_value(rec, P_EVENT)
    }
}

/// The class of an event that sets none.
pub(crate) fn default_class(level: Level) -> &'static str {
    if level == Level::ERROR {
        "error"
    } else {
        "info"
    }
}

/// Encodes records as JSON lines. Built once; used by the worker.
#[derive(Debug)]
pub(crate) struct Encoder {
    /// The static context, pre-encoded as `,"service":"…",…`.
    static_ctx: Vec<u8>,
    redactor: Redactor,
    source_location: bool,
    /// What the worker needs to know about a field name, remembered.
    names: NameCache,
    /// Call sites' source keys, encoded once.
    sites: SiteCache,
    /// Emitting threads' `thread` keys, encoded once.
    threads: ThreadCache,
    /// Spans' parts of the `spans` list and promoted values, encoded once.
    spans: SpanCache,
    /// The last second a timestamp was written for, and its text: records
    /// come in time order, so most share the previous one's second.
    ts_second: (u64, [u8; 20]),
}

/// Slots in the [`ThreadCache`].
const THREAD_CACHE_SLOTS: usize = 8;

/// The encoded `,"thread":"…"` of the threads events come from, remembered
/// by the address of the thread's shared name. Each entry holds a reference
/// to its name, so that address cannot be reused for another name while the
/// entry lives. Direct-mapped; a miss only means encoding the key again.
#[derive(Debug)]
struct ThreadCache {
    names: [Option<Arc<str>>; THREAD_CACHE_SLOTS],
    encoded: [Vec<u8>; THREAD_CACHE_SLOTS],
}

impl ThreadCache {
    fn new() -> ThreadCache {
        ThreadCache {
            names: Default::default(),
            encoded: Default::default(),
        }
    }

    /// The encoded `thread` key of `name`.
    fn get(&mut self, name: &Arc<str>) -> &[u8] {
        let i = cache_set(Arc::as_ptr(name).cast::<u8>() as usize, THREAD_CACHE_SLOTS);
        if !self.names[i].as_ref().is_some_and(|n| Arc::ptr_eq(n, name)) {
            self.names[i] = Some(Arc::clone(name));
            let buf = &mut self.encoded[i];
            buf.clear();
            write_thread(buf, name);
        }
        &self.encoded[i]
    }
}

/// Writes `,"thread":"…"`.
fn write_thread(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"thread\":");
    write_str(out, name);
}

/// Pairs of slots in the [`SiteCache`]; a program logs from a few hundred
/// call sites at most, and the hot ones are fewer still.
const SITE_CACHE_SETS: usize = 128;

/// The set a key lands in, of `sets` (a power of two): Fibonacci hashing,
/// whose product's top bits mix every bit of the key.
fn cache_set(key: usize, sets: usize) -> usize {
    let hash = (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // A single set takes no bits (and a shift by 64 would overflow).
    hash.checked_shr(64 - sets.trailing_zeros()).unwrap_or(0) as usize
}

/// The encoded `,"target":…,"module":…,"file":…,"line":N` of call sites,
/// remembered by the address of their `'static` metadata: that text only
/// depends on the metadata, which never changes or moves, so a hit is one
/// copy instead of escaping three strings and formatting a number.
///
/// Two-way set associative like [`NameCache`]; a miss only means encoding
/// the keys again.
#[derive(Debug)]
struct SiteCache {
    /// `2 * sets` entries, the most recently filled of a set first.
    slots: Box<[SiteEntry]>,
}

/// What the encoder wrote for one call site.
#[derive(Debug, Default)]
struct SiteEntry {
    /// The metadata's address; 0 when empty.
    addr: usize,
    /// The encoded source keys.
    keys: Vec<u8>,
    /// The layout of the last event's fields from this call site.
    layout: Layout,
}

impl SiteCache {
    fn new(sets: usize) -> SiteCache {
        debug_assert!(sets.is_power_of_two());
        SiteCache {
            slots: (0..2 * sets).map(|_| SiteEntry::default()).collect(),
        }
    }

    /// The index of `meta`'s entry, filled on a miss; `hint` is tried
    /// first.
    fn index_hinted(
        &mut self,
        meta: &'static Metadata<'static>,
        source_location: bool,
        hint: u16,
    ) -> usize {
        let hint = usize::from(hint);
        match self.slots.get(hint) {
            Some(e) if e.addr == std::ptr::from_ref(meta) as usize => hint,
            _ => self.index(meta, source_location),
        }
    }

    /// The index of `meta`'s entry, filled on a miss.
    fn index(&mut self, meta: &'static Metadata<'static>, source_location: bool) -> usize {
        let addr = std::ptr::from_ref(meta) as usize;
        let set = 2 * cache_set(addr, self.slots.len() / 2);
        if self.slots[set].addr == addr {
            return set;
        }
        if self.slots[set + 1].addr == addr {
            return set + 1;
        }
        // The older entry makes way; its buffers are reused.
        self.slots.swap(set, set + 1);
        let e = &mut self.slots[set];
        e.addr = addr;
        e.keys.clear();
        e.layout.clear();
        write_site(
            &mut e.keys,
            source_location,
            meta.target(),
            meta.module_path(),
            meta.file(),
            meta.line(),
        );
        set
    }
}

/// What the encoder knows about the names of a set of fields, in their
/// order: an event's field names and their order are fixed by its call
/// site (though a field left empty is not captured), and a span's are
/// fixed by its data. Names are compared by address and length, like in
/// the [`NameCache`].
#[derive(Debug, Default)]
struct Layout {
    /// Each field's name, by address and length.
    names: Vec<(usize, usize)>,
    /// Bit `i` set when field `i` is sensitive.
    sensitive: u64,
    /// (promoted slot, field index) of the fields that feed a promoted
    /// slot, in field order.
    feeds: Vec<(u8, u8)>,
    /// Each field's `"name":`, one after the other.
    keys: Vec<u8>,
    /// Where each field's key ends in `keys`.
    key_ends: Vec<u32>,
}

impl Layout {
    fn clear(&mut self) {
        self.names.clear();
        self.sensitive = 0;
        self.feeds.clear();
        self.keys.clear();
        self.key_ends.clear();
    }

    /// Whether this is the layout of `set`.
    fn matches(&self, set: &FieldSet) -> bool {
        self.names.len() == set.items.len()
            && self
                .names
                .iter()
                .zip(&set.items)
                .all(|(&(addr, len), f)| addr == f.name.as_ptr() as usize && len == f.name.len())
    }

    /// Makes this the layout of `set`, which has at most
    /// [`FLAGGED_FIELDS`] fields, with what `info_of` says about each name.
    fn fill(&mut self, set: &FieldSet, info_of: impl Fn(&'static str) -> NameInfo) {
        debug_assert!(set.items.len() <= FLAGGED_FIELDS);
        self.clear();
        for (i, f) in set.items.iter().enumerate() {
            let info = info_of(f.name);
            self.names.push((f.name.as_ptr() as usize, f.name.len()));
            if info.sensitive {
                self.sensitive |= 1 << i;
            }
            if let Some(p) = info.promoted {
                self.feeds.push((p as u8, i as u8));
            }
            write_str(&mut self.keys, f.name);
            self.keys.push(b':');
            self.key_ends.push(self.keys.len() as u32);
        }
    }

    /// Field `i`'s encoded `"name":`.
    fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.key_ends[i - 1] };
        &self.keys[start as usize..self.key_ends[i] as usize]
    }
}

/// Writes `,"target":…` and, when `source_location` is on, the known ones
/// of `,"module":…,"file":…,"line":N`.
fn write_site(
    out: &mut Vec<u8>,
    source_location: bool,
    target: &str,
    module: Option<&str>,
    file: Option<&str>,
    line: Option<u32>,
) {
    out.extend_from_slice(b",\"target\":");
    write_str(out, target);
    if source_location {
        if let Some(m) = module {
            out.extend_from_slice(b",\"module\":");
            write_str(out, m);
        }
        if let Some(f) = file {
            out.extend_from_slice(b",\"file\":");
            write_str(out, f);
        }
        if let Some(l) = line {
            out.extend_from_slice(b",\"line\":");
            out.extend_from_slice(itoa::Buffer::new().format(l).as_bytes());
        }
    }
}

/// Pairs of entries in the [`SpanCache`]; events are logged in a few
/// spans at a time.
const SPAN_CACHE_SETS: usize = 32;

/// What the encoder wrote for one span.
#[derive(Debug, Default)]
struct SpanEntry {
    /// The span. Holding it keeps its address from being reused for
    /// another span and its data from changing: `record`ing into a span
    /// whose data is shared copies the data (`Arc::make_mut`).
    span: Option<Arc<SpanData>>,
    /// The promoted-field bits `part` was encoded for; `None` before it
    /// was encoded.
    mask: Option<u64>,
    /// `{"name":…,"fields":{…}}` with the fields in `mask` left out.
    part: Vec<u8>,
    /// The encoded `,"key":value` of the span's fields that were promoted,
    /// one after the other.
    values: Vec<u8>,
    /// Per field, its range in `values`; empty when not encoded yet.
    at: Vec<(u32, u32)>,
    /// The layout of the span's fields.
    layout: Layout,
}

/// Spans' encoded parts, remembered by the address of their shared data.
/// A span's part depends only on its data and on which of its fields the
/// record promotes (an event field or an inner span's field of the same
/// name wins over it), so an entry is keyed by both; the encoded values of
/// its promoted fields depend on its data alone.
///
/// Two-way set associative like [`SiteCache`]; a miss only means encoding
/// the span again. With no sets, nothing is cached.
#[derive(Debug)]
struct SpanCache {
    /// `2 * sets` entries, the most recently filled of a set first.
    entries: Box<[SpanEntry]>,
}

impl SpanCache {
    fn new(sets: usize) -> SpanCache {
        debug_assert!(sets == 0 || sets.is_power_of_two());
        SpanCache {
            entries: (0..2 * sets).map(|_| SpanEntry::default()).collect(),
        }
    }

    /// The index of `span`'s entry, like [`SpanCache::index`]; `hint` is
    /// tried first.
    fn index_hinted(&mut self, span: &Arc<SpanData>, hint: u16) -> Option<usize> {
        let hint = usize::from(hint);
        match self.entries.get(hint) {
            Some(e) if e.span.as_ref().is_some_and(|s| Arc::ptr_eq(s, span)) => Some(hint),
            _ => self.index(span),
        }
    }

    /// The index of `span`'s entry, emptied and taken over on a miss;
    /// `None` when the cache has no entries.
    fn index(&mut self, span: &Arc<SpanData>) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let addr = Arc::as_ptr(span) as usize;
        let set = 2 * cache_set(addr, self.entries.len() / 2);
        for i in [set, set + 1] {
            if self.entries[i]
                .span
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, span))
            {
                return Some(i);
            }
        }
        // The older entry makes way; its buffers are reused.
        self.entries.swap(set, set + 1);
        let e = &mut self.entries[set];
        e.span = Some(Arc::clone(span));
        e.mask = None;
        e.values.clear();
        e.at.clear();
        e.at.resize(span.fields.items.len(), (0, 0));
        e.layout.clear();
        Some(set)
    }
}

/// Pairs of slots in the [`NameCache`]; a program has few distinct field
/// names, and two-way sets keep a handful of them from evicting each other.
const NAME_CACHE_SETS: usize = 512;

/// What the encoder learns about a field name from its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NameInfo {
    /// The redactor masks this field's value.
    sensitive: bool,
    /// The promoted slot the field feeds, if any.
    promoted: Option<usize>,
}

/// Facts about field names, remembered by the name's address: field names
/// are `&'static str`, so one address always holds the same text, and a hit
/// skips comparing the name with every sensitive key and promoted name for
/// every record.
///
/// Two-way set associative with a multiplicative hash: names of one call
/// site sit next to each other in memory, and in a direct-mapped table two
/// hot names could share a slot and evict each other on every record. A
/// miss only means working the answer out again.
#[derive(Debug)]
struct NameCache {
    /// `2 * NAME_CACHE_SETS` entries of (address, length, info), the most
    /// recently filled of a set first; empty entries hold address 0, which
    /// no name has.
    slots: Box<[Cell<(usize, usize, NameInfo)>]>,
}

impl NameCache {
    fn new() -> NameCache {
        let empty = NameInfo {
            sensitive: false,
            promoted: None,
        };
        NameCache {
            slots: (0..2 * NAME_CACHE_SETS)
                .map(|_| Cell::new((0, 0, empty)))
                .collect(),
        }
    }

    fn info(&self, redactor: &Redactor, name: &'static str) -> NameInfo {
        let (addr, len) = (name.as_ptr() as usize, name.len());
        // Fibonacci hashing: the product's top bits mix every bit of the
        // address and length.
        let hash = ((addr ^ len.rotate_left(48)) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let set = 2 * (hash >> (64 - NAME_CACHE_SETS.trailing_zeros())) as usize;
        let (first, second) = (&self.slots[set], &self.slots[set + 1]);
        for slot in [first, second] {
            let (a, l, info) = slot.get();
            if a == addr && l == len {
                return info;
            }
        }
        let info = NameInfo {
            sensitive: redactor.is_sensitive_key(name),
            promoted: promoted_slot(name),
        };
        second.set(first.get());
        first.set((addr, len, info));
        info
    }
}

/// Static context written into every record.
#[derive(Debug, Clone, Default)]
pub(crate) struct StaticContext {
    pub(crate) service: String,
    pub(crate) env: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) node: Option<String>,
    pub(crate) pid: Option<u32>,
    pub(crate) version: Option<String>,
}

impl Encoder {
    pub(crate) fn new(ctx: &StaticContext, redactor: Redactor, source_location: bool) -> Encoder {
        // Written once here, copied into every record.
        fn put(b: &mut Vec<u8>, k: &str, v: Option<&str>) {
            if let Some(v) = v {
                b.extend_from_slice(b",\"");
                b.extend_from_slice(k.as_bytes());
                b.extend_from_slice(b"\":");
                write_str(b, v);
            }
        }
        let mut b = Vec::new();
        put(&mut b, "service", Some(&ctx.service));
        put(&mut b, "env", ctx.env.as_deref());
        put(&mut b, "region", ctx.region.as_deref());
        put(&mut b, "host", ctx.host.as_deref());
        put(&mut b, "node", ctx.node.as_deref());
        if let Some(pid) = ctx.pid {
            b.extend_from_slice(b",\"pid\":");
            b.extend_from_slice(itoa::Buffer::new().format(pid).as_bytes());
        }
        put(&mut b, "version", ctx.version.as_deref());
        Encoder {
            static_ctx: b,
            redactor,
            source_location,
            names: NameCache::new(),
            sites: SiteCache::new(SITE_CACHE_SETS),
            threads: ThreadCache::new(),
            spans: SpanCache::new(SPAN_CACHE_SETS),
            // No timestamp falls in this second.
            ts_second: (u64::MAX, [0; 20]),
        }
    }

    /// The record's promoted fields, resolved once for routing and for
    /// every stream it is encoded into.
    ///
    /// The names of an event's fields are looked up once per call site
    /// and those of a span's once per span, while they stay in the caches.
    pub(crate) fn resolve(&mut self, rec: &Record) -> Resolved {
        let mut res = Resolved::empty();
        self.resolve_into(rec, &mut res);
        res
    }

    /// [`Encoder::resolve`] into a `res` that the caller made
    /// [`Resolved::empty`]: returning the large struct by value cost a
    /// copy of it per record.
    pub(crate) fn resolve_into(&mut self, rec: &Record, res: &mut Resolved) {
        let (names, redactor) = (&self.names, &self.redactor);
        let info_of = |name| names.info(redactor, name);
        match &rec.meta {
            Meta::Static(m) if rec.fields.items.len() <= FLAGGED_FIELDS => {
                let idx = self.sites.index(m, self.source_location);
                res.site_hint = idx as u16;
                let layout = &mut self.sites.slots[idx].layout;
                if !layout.matches(&rec.fields) {
                    layout.fill(&rec.fields, info_of);
                }
                res.add_layout(0, layout);
            }
            _ => res.add_set(0, &rec.fields, info_of),
        }
        for (k, span) in rec.spans.iter().enumerate() {
            let src = k + 1;
            let cached = (src < FLAGGED_SOURCES && span.fields.items.len() <= FLAGGED_FIELDS)
                .then(|| self.spans.index(span))
                .flatten();
            match cached {
                Some(idx) => {
                    res.span_hints[src] = idx as u16;
                    let layout = &mut self.spans.entries[idx].layout;
                    if !layout.matches(&span.fields) {
                        layout.fill(&span.fields, info_of);
                    }
                    res.add_layout(src, layout);
                }
                None => res.add_set(src, &span.fields, info_of),
            }
        }
    }

    /// Appends the record as one JSON object (without the closing `}` and
    /// newline, so a signature can follow) to `out`.
    pub(crate) fn encode_open(
        &mut self,
        rec: &Record,
        res: &Resolved,
        stream: &str,
        seq: u64,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(b"{\"v\":1,\"stream\":");
        write_str(out, stream);
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
        out.extend_from_slice(b",\"ts\":\"");
        let second = rec.ts / 1_000_000_000;
        if self.ts_second.0 != second {
            self.ts_second = (second, ts_second(second));
        }
        out.extend_from_slice(&self.ts_second.1);
        out.extend_from_slice(&ts_micros(rec.ts));
        out.extend_from_slice(level_key(rec.level));
        match res.value_at(rec, P_CLASS) {
            Some((set, f, origin)) => self.write_val(out, set, f, res, origin),
            // A default class is a plain word: nothing to escape.
            None => {
                out.push(b'"');
                out.extend_from_slice(default_class(rec.level).as_bytes());
                out.push(b'"');
            }
        }
        for slot in P_EVENT..=P_LAST_HEAD {
            self.write_promoted(out, rec, res, slot);
        }
        if let Some(msg) = rec.message() {
            out.extend_from_slice(b",\"msg\":");
            self.write_redacted(out, msg);
        }
        match &rec.meta {
            Meta::Static(m) => {
                let idx = self
                    .sites
                    .index_hinted(m, self.source_location, res.site_hint);
                out.extend_from_slice(&self.sites.slots[idx].keys);
            }
            Meta::Owned(m) => write_site(
                out,
                self.source_location,
                &m.target,
                m.module.as_deref(),
                m.file.as_deref(),
                m.line,
            ),
        }
        if let Some(t) = &rec.thread {
            out.extend_from_slice(self.threads.get(t));
        }
        out.extend_from_slice(&self.static_ctx);
        for slot in P_LAST_HEAD + 1..PROMOTED.len() {
            self.write_promoted(out, rec, res, slot);
        }

        if !rec.spans.is_empty() {
            out.extend_from_slice(b",\"spans\":[");
            for (k, span) in rec.spans.iter().enumerate().rev() {
                self.write_span_cached(out, span, k + 1, res);
                if k != 0 {
                    out.push(b',');
                }
            }
            out.push(b']');
        }
        let layout = match &rec.meta {
            Meta::Static(m) => {
                let idx = self
                    .sites
                    .index_hinted(m, self.source_location, res.site_hint);
                Some(&self.sites.slots[idx].layout).filter(|l| l.matches(&rec.fields))
            }
            Meta::Owned(_) => None,
        };
        self.write_fields(out, &rec.fields, 0, res, b",\"fields\":{", layout);
    }

    /// Writes span `src`'s `{"name":…,"fields":{…}}`, from the cache when
    /// the span was written with the same fields promoted before.
    fn write_span_cached(
        &mut self,
        out: &mut Vec<u8>,
        span: &Arc<SpanData>,
        src: usize,
        res: &Resolved,
    ) {
        let cached = res
            .promoted_bits(src, span.fields.items.len())
            .and_then(|mask| Some((mask, self.spans.index_hinted(span, res.span_hint(src))?)));
        let Some((mask, idx)) = cached else {
            self.write_span(out, span, src, res);
            return;
        };
        if self.spans.entries[idx].mask != Some(mask) {
            let mut part = std::mem::take(&mut self.spans.entries[idx].part);
            part.clear();
            self.write_span(&mut part, span, src, res);
            let e = &mut self.spans.entries[idx];
            e.part = part;
            e.mask = Some(mask);
        }
        out.extend_from_slice(&self.spans.entries[idx].part);
    }

    /// Writes span `src`'s `{"name":…,"fields":{…}}`.
    fn write_span(&self, out: &mut Vec<u8>, span: &SpanData, src: usize, res: &Resolved) {
        out.extend_from_slice(b"{\"name\":");
        write_str(out, span.name);
        self.write_fields(out, &span.fields, src, res, b",\"fields\":{", None);
        out.push(b'}');
    }

    /// Writes the promoted `slot`, when it was found; the test is inlined
    /// so that the empty slots cost no call.
    #[inline]
    fn write_promoted(&mut self, out: &mut Vec<u8>, rec: &Record, res: &Resolved, slot: usize) {
        if let Some(found) = res.value_at(rec, slot) {
            if found.2.0 == 0 {
                self.write_promoted_found(out, res, slot, found);
            } else {
                self.write_promoted_span(out, rec, res, slot, found);
            }
        }
    }

    /// Writes a promoted value found in a span, from the cache when it was
    /// written before.
    fn write_promoted_span(
        &mut self,
        out: &mut Vec<u8>,
        rec: &Record,
        res: &Resolved,
        slot: usize,
        found: (&FieldSet, &Field, Origin),
    ) {
        let (src, i) = found.2;
        let Some(idx) = self
            .spans
            .index_hinted(&rec.spans[src - 1], res.span_hint(src))
        else {
            self.write_promoted_found(out, res, slot, found);
            return;
        };
        let (mut start, mut end) = self.spans.entries[idx].at[i];
        if start == end {
            let mut values = std::mem::take(&mut self.spans.entries[idx].values);
            start = values.len() as u32;
            self.write_promoted_found(&mut values, res, slot, found);
            end = values.len() as u32;
            let e = &mut self.spans.entries[idx];
            e.values = values;
            e.at[i] = (start, end);
        }
        out.extend_from_slice(&self.spans.entries[idx].values[start as usize..end as usize]);
    }

    fn write_promoted_found(
        &self,
        out: &mut Vec<u8>,
        res: &Resolved,
        slot: usize,
        (set, f, origin): (&FieldSet, &Field, Origin),
    ) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(PROMOTED[slot].as_bytes());
        out.extend_from_slice(b"\":");
        self.write_val(out, set, f, res, origin);
    }

    /// Writes `open` + the non-promoted fields + `}`; nothing when there
    /// are none. The keys come from `layout` when given (it must be the
    /// layout of `set`).
    fn write_fields(
        &self,
        out: &mut Vec<u8>,
        set: &FieldSet,
        src: usize,
        res: &Resolved,
        open: &[u8],
        layout: Option<&Layout>,
    ) {
        let mut first = true;
        for (i, f) in set.items.iter().enumerate() {
            if res.is_promoted((src, i)) {
                continue;
            }
            if first {
                out.extend_from_slice(open);
                first = false;
            } else {
                out.push(b',');
            }
            match layout {
                Some(layout) => out.extend_from_slice(layout.key(i)),
                None => {
                    write_str(out, f.name);
                    out.push(b':');
                }
            }
            self.write_val(out, set, f, res, (src, i));
        }
        if !first {
            out.push(b'}');
        }
    }

    /// Writes the value of `f`, found at `origin`.
    fn write_val(
        &self,
        out: &mut Vec<u8>,
        set: &FieldSet,
        f: &Field,
        res: &Resolved,
        origin: Origin,
    ) {
        let sensitive = res
            .is_sensitive(origin)
            .unwrap_or_else(|| self.names.info(&self.redactor, f.name).sensitive);
        if sensitive {
            write_str(out, MASK);
            return;
        }
        match &f.value {
            Val::Str(s, e) => self.write_redacted(out, set.str_at(*s, *e)),
            Val::I64(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
            Val::U64(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
            Val::I128(v) => out.extend_from_slice(itoa::Buffer::new().format(**v).as_bytes()),
            Val::U128(v) => out.extend_from_slice(itoa::Buffer::new().format(**v).as_bytes()),
            Val::F64(v) => write_f64(out, *v),
            Val::Bool(v) => out.extend_from_slice(if *v { b"true" } else { b"false" }),
            Val::Error(chain) => {
                out.extend_from_slice(b"{\"message\":");
                self.write_redacted(out, &chain.message);
                if !chain.sources.is_empty() {
                    out.extend_from_slice(b",\"sources\":[");
                    for (i, s) in chain.sources.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        self.write_redacted(out, s);
                    }
                    out.push(b']');
                }
                out.push(b'}');
            }
        }
    }
}

impl Encoder {
    /// Writes a string value with secrets masked; a truncation marker is
    /// kept out of redaction, so masking a cut value cannot swallow it.
    ///
    /// The bytes of the text are read once for both the escaping and the
    /// redactor's pre-check; a string that needs neither (the common case)
    /// is copied whole without calling the redactor.
    fn write_redacted(&self, out: &mut Vec<u8>, s: &str) {
        let (text, marker) = split_marker(s);
        out.push(b'"');
        let bytes = text.as_bytes();
        let prescan = Prescan::of(bytes);
        if !self.redactor.leaves_alone(&prescan) {
            write_escaped(out, &self.redactor.redact(text));
        } else if prescan.needs_escape() {
            write_escaped_from(out, bytes, 0);
        } else {
            out.extend_from_slice(bytes);
        }
        if !marker.is_empty() {
            write_escaped(out, marker);
        }
        out.push(b'"');
    }
}

fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        out.extend_from_slice(b"\"inf\"");
    } else {
        out.extend_from_slice(b"\"-inf\"");
    }
}

/// Writes `s` as a JSON string literal.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_escaped(out, s);
    out.push(b'"');
}

/// Writes `s` escaped for the inside of a JSON string literal.
///
/// Most values need no escaping at all, so eight bytes at a time are checked
/// with word arithmetic and a clean string is copied whole; only a word
/// that may hold a quote, a backslash or a control byte is looked at byte
/// by byte.
fn write_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    match first_suspect_word(bytes) {
        None => out.extend_from_slice(bytes),
        Some(at) => write_escaped_from(out, bytes, at),
    }
}

/// The word `bytes[i..i + 8]`, or the last 1 to 7 bytes padded with a byte
/// that never needs escaping, so short strings get the word test too.
fn word_at(bytes: &[u8], i: usize) -> u64 {
    match bytes.get(i..i + 8) {
        Some(word) => u64::from_le_bytes(word.try_into().expect("eight bytes")),
        None => {
            let n = bytes.len() - i;
            let pad = u64::from_le_bytes([b'a'; 8]) & !(u64::MAX >> (8 * (8 - n)));
            load_word(&bytes[i..]) | pad
        }
    }
}

/// Where the first word of `bytes` that [`may_need_escape`] starts.
fn first_suspect_word(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        if may_need_escape(word_at(bytes, i)) {
            return Some(i);
        }
        i += 8;
    }
    None
}

/// Writes `bytes` escaped, knowing that the words before `start` need no
/// escaping.
fn write_escaped_from(out: &mut Vec<u8>, bytes: &[u8], start: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut run = 0;
    let mut i = start;
    while i < bytes.len() {
        if !may_need_escape(word_at(bytes, i)) {
            i += 8;
            continue;
        }
        let end = (i + 8).min(bytes.len());
        for (at, &b) in bytes.iter().enumerate().take(end).skip(i) {
            let esc: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f => b"",
                _ => continue,
            };
            out.extend_from_slice(&bytes[run..at]);
            if esc.is_empty() {
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xf) as usize],
                ]);
            } else {
                out.extend_from_slice(esc);
            }
            run = at + 1;
        }
        i = end;
    }
    out.extend_from_slice(&bytes[run..]);
}

/// Whether any of the eight bytes of `word` may be a quote, a backslash or
/// below 0x20. Never wrong when it says no; may say yes for a clean word
/// (a borrow can carry past a true match), which only costs a byte-wise look.
fn may_need_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The classic "has a zero byte" / "has a byte below n" tests.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (zero(quote) | zero(backslash) | control) & HIGH != 0
}

/// Up to eight bytes as a little-endian word, zero-padded, read without
/// a byte loop or a call to copy them: two overlapping loads (of four
/// bytes, or of single bytes) cover every length.
fn load_word(b: &[u8]) -> u64 {
    let n = b.len();
    debug_assert!(n <= 8);
    if n >= 4 {
        let lo = u32::from_le_bytes(b[..4].try_into().expect("four bytes"));
        let hi = u32::from_le_bytes(b[n - 4..].try_into().expect("four bytes"));
        u64::from(lo) | u64::from(hi) << (8 * (n - 4))
    } else if n > 0 {
        u64::from(b[0])
            | u64::from(b[n / 2]) << (8 * (n / 2))
            | u64::from(b[n - 1]) << (8 * (n - 1))
    } else {
        0
    }
}

/// Writes `nanos` since the epoch as `YYYY-MM-DDThh:mm:ss.uuuuuuZ`.
pub(crate) fn write_ts(out: &mut Vec<u8>, nanos: u64) {
    out.extend_from_slice(&ts_second(nanos / 1_000_000_000));
    out.extend_from_slice(&ts_micros(nanos));
}

/// `YYYY-MM-DDThh:mm:ss.` of the second `secs` after the epoch.
fn ts_second(secs: u64) -> [u8; 20] {
    let dt = time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (y, mo, d) = (dt.year(), u8::from(dt.month()), dt.day());
    let (h, mi, s) = (dt.hour(), dt.minute(), dt.second());
    let mut buf = *b"0000-00-00T00:00:00.";
    let two = |buf: &mut [u8], at: usize, v: u8| {
        buf[at] = b'0' + v / 10;
        buf[at + 1] = b'0' + v % 10;
    };
    let y = y.clamp(0, 9999) as u32;
    buf[0] = b'0' + (y / 1000) as u8;
    buf[1] = b'0' + (y / 100 % 10) as u8;
    buf[2] = b'0' + (y / 10 % 10) as u8;
    buf[3] = b'0' + (y % 10) as u8;
    two(&mut buf, 5, mo);
    two(&mut buf, 8, d);
    two(&mut buf, 11, h);
    two(&mut buf, 14, mi);
    two(&mut buf, 17, s);
    buf
}

/// `uuuuuuZ`: the microseconds within the second of `nanos` after the
/// epoch.
fn ts_micros(nanos: u64) -> [u8; 7] {
    let mut buf = *b"000000Z";
    let mut m = (nanos % 1_000_000_000) / 1_000;
    for i in (0..6).rev() {
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
    }
    buf
}

/// `","level":"…","class":`, closing the timestamp before it.
fn level_key(level: Level) -> &'static [u8] {
    match level {
        Level::TRACE => b"\",\"level\":\"TRACE\",\"class\":",
        Level::DEBUG => b"\",\"level\":\"DEBUG\",\"class\":",
        Level::INFO => b"\",\"level\":\"INFO\",\"class\":",
        Level::WARN => b"\",\"level\":\"WARN\",\"class\":",
        Level::ERROR => b"\",\"level\":\"ERROR\",\"class\":",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_str(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_quotes_controls_and_keep_non_ascii() {
        for s in [
            "plain",
            "a\"b",
            "back\\slash",
            "nl\nr\rt\t",
            "\u{0}\u{1f}\u{7f}",
            "héllo 世界 🦀",
            "\u{2028}",
        ] {
            let enc = json_str(s);
            let back: String = serde_json::from_str(&enc).unwrap();
            assert_eq!(back, s, "round trip of {enc}");
        }
        assert_eq!(json_str("\u{1}"), "\"\\u0001\"");
    }

    /// serde_json's escaping, but for the two short forms (`\b`, `\f`)
    /// evtrail writes as `\u00XX`; both are valid JSON.
    fn serde_escaped(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            let one = match c {
                '\u{8}' => "\\u0008".to_owned(),
                '\u{c}' => "\\u000c".to_owned(),
                c => {
                    let quoted = serde_json::to_string(&c.to_string()).unwrap();
                    quoted[1..quoted.len() - 1].to_owned()
                }
            };
            out.push_str(&one);
        }
        out.push('"');
        out
    }

    /// The word-at-a-time skip must never step over a byte that needs
    /// escaping, wherever it sits in the word: the output equals
    /// serde_json's for every string, and runs of clean bytes around the
    /// special ones cover each position of an 8-byte word.
    #[test]
    fn escaping_matches_serde_json_at_every_word_offset() {
        let specials = [
            '"', '\\', '\n', '\u{0}', '\u{1f}', '\u{7f}', 'é', '\u{2028}', ' ', '!', 'A',
        ];
        for pad in 0..17 {
            for &c in &specials {
                for tail in 0..9 {
                    let s = format!("{}{c}{}", "x".repeat(pad), "y".repeat(tail));
                    assert_eq!(json_str(&s), serde_escaped(&s), "{s:?}");
                }
            }
        }
    }

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

    /// The cache answers as the redactor and the promotion table do, on
    /// first sight and on hits, also for names that overlap in memory
    /// (slices of one string: same address, other length, and neighbours)
    /// and so evict each other.
    #[test]
    fn name_cache_agrees_with_the_redactor_and_the_promotion_table() {
        let redactor = Redactor::default();
        let cache = NameCache::new();
        let fresh = |name: &str| NameInfo {
            sensitive: redactor.is_sensitive_key(name),
            promoted: promoted_slot(name),
        };
        const NAMES: [&str; 8] = [
            "password",
            "user_id",
            "api_key",
            "apikey",
            "tokenizer",
            "x_token",
            "attempt",
            "op",
        ];
        for _ in 0..3 {
            for name in NAMES {
                assert_eq!(cache.info(&redactor, name), fresh(name), "{name}");
            }
        }
        // Slices of one static string: different addresses and lengths,
        // many landing in the same slots.
        static LONG: &str = "password_user_token_attempt_secret_ip_cookie_op_reason_result";
        for start in 0..LONG.len() {
            for end in start..=LONG.len() {
                let name: &'static str = &LONG[start..end];
                assert_eq!(cache.info(&redactor, name), fresh(name), "{name:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn escaping_matches_serde_json(s in "\\PC*|[\\x00-\\x7f]{0,40}") {
            let ours = json_str(&s);
            proptest::prop_assert_eq!(&ours, &serde_escaped(&s));
            proptest::prop_assert_eq!(serde_json::from_str::<String>(&ours).unwrap(), s);
        }
    }

    #[test]
    fn load_word_reads_every_length_zero_padded() {
        let bytes: Vec<u8> = (1..=8).collect();
        for n in 0..=8 {
            let mut padded = [0u8; 8];
            padded[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(load_word(&bytes[..n]), u64::from_le_bytes(padded), "{n}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let mut out = Vec::new();
        write_ts(&mut out, 1_795_176_000_123_456_789);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-20T12:00:00.123456Z"
        );
        let mut out = Vec::new();
        write_ts(&mut out, 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    /// Records encode their timestamps and the default class as
    /// `write_ts` and `default_class` give them, whether their second is
    /// the previous record's or not.
    #[test]
    fn timestamps_and_levels_match_the_uncached_encoding() {
        let mut enc = Encoder::new(&StaticContext::default(), Redactor::default(), true);
        let stamps = [
            1_795_176_000_123_456_789,
            1_795_176_000_999_999_999,
            1_795_176_001_000_000_000,
            1_795_175_999_000_000_001,
            1_795_175_999_000_000_001,
            0,
            999,
            u64::MAX,
            18_000_000_000_000_000_000,
        ];
        let levels = [
            Level::TRACE,
            Level::DEBUG,
            Level::INFO,
            Level::WARN,
            Level::ERROR,
        ];
        for (k, &ts) in stamps.iter().enumerate() {
            let level = levels[k % levels.len()];
            let mut rec = Record::internal(level, "x", "m");
            rec.ts = ts;
            let mut out = Vec::new();
            let res = enc.resolve(&rec);
            enc.encode_open(&rec, &res, "app", 1, &mut out);
            let mut want = b"{\"v\":1,\"stream\":\"app\",\"seq\":1,\"ts\":\"".to_vec();
            write_ts(&mut want, ts);
            want.extend_from_slice(b"\",\"level\":");
            write_str(&mut want, level.as_str());
            want.extend_from_slice(b",\"class\":");
            write_str(&mut want, default_class(level));
            want.push(b',');
            assert!(
                out.starts_with(&want),
                "{} does not start with {}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&want)
            );
        }
    }

    #[test]
    fn floats_that_json_cannot_express_become_strings() {
        for (v, want) in [
            (1.5, "1.5"),
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"inf\""),
            (f64::NEG_INFINITY, "\"-inf\""),
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

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

    fn encode(rec: &Record) -> serde_json::Value {
        let ctx = StaticContext {
            service: "svc".into(),
            host: Some("h1".into()),
            pid: Some(42),
            ..StaticContext::default()
        };
        let mut enc = Encoder::new(&ctx, Redactor::default(), true);
        let res = enc.resolve(rec);
        let mut out = Vec::new();
        enc.encode_open(rec, &res, "app", 7, &mut out);
        out.push(b'}');
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn promoted_fields_move_to_the_top_and_innermost_wins() {
        let mut outer = FieldSet::default();
        outer.add_str("op", "outer-op");
        outer.add_str("tenant", "t1");
        let mut inner = FieldSet::default();
        inner.add_str("op", "inner-op");
        let mut rec = Record::internal(Level::INFO, "order_placed", "placed");
        rec.internal = false;
        rec.fields.add_str("ts", "not-a-time");
        rec.fields.add_u64("user_id", 9);
        rec.spans = vec![
            Arc::new(SpanData {
                name: "inner",
                fields: inner,
            }),
            Arc::new(SpanData {
                name: "outer",
                fields: outer,
            }),
        ];
        let v = encode(&rec);
        assert_eq!(v["op"], "inner-op");
        assert_eq!(v["tenant"], "t1");
        assert_eq!(v["user"], 9);
        assert_eq!(v["event"], "order_placed");
        assert_eq!(v["class"], "info");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["fields"]["ts"], "not-a-time");
        assert_ne!(v["ts"], "not-a-time");
        // Spans outermost first; the losing outer `op` stays in its span.
        assert_eq!(v["spans"][0]["name"], "outer");
        assert_eq!(v["spans"][0]["fields"]["op"], "outer-op");
        assert!(v["spans"][0]["fields"].get("tenant").is_none());
        assert_eq!(v["spans"][1]["name"], "inner");
        assert!(v["spans"][1].get("fields").is_none());
        assert_eq!(v["service"], "svc");
        assert_eq!(v["pid"], 42);
    }

    struct TestSite;

    impl tracing_core::callsite::Callsite for TestSite {
        fn set_interest(&self, _: tracing_core::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!("only its address is used")
        }
    }

    static TEST_SITE: TestSite = TestSite;

    /// Call-site metadata with the given source keys.
    fn site(
        target: &'static str,
        module: Option<&'static str>,
        file: Option<&'static str>,
        line: Option<u32>,
    ) -> &'static Metadata<'static> {
        Box::leak(Box::new(Metadata::new(
            "event",
            target,
            Level::INFO,
            file,
            line,
            module,
            tracing_core::field::FieldSet::new(&[], tracing_core::identify_callsite!(&TEST_SITE)),
            tracing_core::metadata::Kind::EVENT,
        )))
    }

    /// A record from `meta`'s call site, once as captured from a `tracing`
    /// event and once with the same keys owned, which is never cached.
    fn site_records(meta: &'static Metadata<'static>) -> (Record, Record) {
        let make = |meta: Meta| {
            let mut rec = Record::internal(Level::INFO, "x", "m");
            rec.meta = meta;
            rec.ts = 1_795_176_000_123_456_789;
            rec.thread = Some(Arc::from("main"));
            rec
        };
        let owned = OwnedMeta {
            target: meta.target().to_owned(),
            module: meta.module_path().map(str::to_owned),
            file: meta.file().map(str::to_owned),
            line: meta.line(),
        };
        (make(Meta::Static(meta)), make(Meta::Owned(Box::new(owned))))
    }

    fn encode_bytes(enc: &mut Encoder, rec: &Record) -> Vec<u8> {
        let mut out = Vec::new();
        let res = enc.resolve(rec);
        enc.encode_open(rec, &res, "app", 1, &mut out);
        out
    }

    /// Cached source keys are the bytes the uncached encoding gives, on
    /// first sight and on hits, with and without the source location, also
    /// when every call site lands in the same set and they keep evicting
    /// each other.
    #[test]
    fn site_cache_gives_the_uncached_bytes() {
        let sites = [
            site("app::a", Some("app::a"), Some("src/a.rs"), Some(10)),
            site("app::b", Some("app::b"), Some("src/b.rs"), Some(20)),
            site("we\"ird\n", None, Some("src/\\c.rs"), None),
            site("app::d", Some("app::d"), None, Some(4_000_000_000)),
        ];
        for source_location in [true, false] {
            for sets in [SITE_CACHE_SETS, 1] {
                let mut enc = Encoder::new(&StaticContext::default(), Redactor::default(), true);
                enc.source_location = source_location;
                enc.sites = SiteCache::new(sets);
                for order in [[0, 0, 1, 0, 2, 3, 1, 1], [3, 2, 1, 0, 3, 3, 2, 0]] {
                    for i in order {
                        let (cached, owned) = site_records(sites[i]);
                        let (got, want) = (
                            encode_bytes(&mut enc, &cached),
                            encode_bytes(&mut enc, &owned),
                        );
                        assert_eq!(
                            String::from_utf8(got).unwrap(),
                            String::from_utf8(want).unwrap(),
                            "site {i}, source_location {source_location}, {sets} sets"
                        );
                    }
                }
            }
        }
        let mut enc = Encoder::new(&StaticContext::default(), Redactor::default(), true);
        let line = String::from_utf8(encode_bytes(&mut enc, &site_records(sites[0]).0)).unwrap();
        assert!(
            line.contains(
                r#","msg":"m","target":"app::a","module":"app::a","file":"src/a.rs","line":10,"thread":"main","#
            ),
            "{line}"
        );
        let mut enc = Encoder::new(&StaticContext::default(), Redactor::default(), false);
        let line = String::from_utf8(encode_bytes(&mut enc, &site_records(sites[0]).0)).unwrap();
        assert!(
            line.contains(r#","msg":"m","target":"app::a","thread":"main","#),
            "{line}"
        );
    }

    /// Cached thread keys are the bytes of encoding the name afresh, for
    /// more threads than the cache has slots, for equal names in distinct
    /// allocations, and after a name's last other owner dropped it (its
    /// address must not be taken for a new name's).
    #[test]
    fn thread_cache_gives_the_uncached_bytes() {
        let mut cache = ThreadCache::new();
        let fresh = |name: &str| {
            let mut out = Vec::new();
            write_thread(&mut out, name);
            out
        };
        let names: Vec<Arc<str>> = (0..3 * THREAD_CACHE_SLOTS)
            .map(|i| Arc::from(format!("worker-{i}\"\t")))
            .chain([Arc::from("main"), Arc::from("main"), Arc::from("")])
            .collect();
        for _ in 0..3 {
            for name in &names {
                assert_eq!(cache.get(name), fresh(name), "{name:?}");
            }
        }
        for i in 0..100 {
            let name: Arc<str> = Arc::from(format!("short-lived-{i}"));
            assert_eq!(cache.get(&name), fresh(&name));
            drop(name);
        }
    }

    /// A span with the given fields, as the layer captures it.
    fn span_of(name: &'static str, fields: &[(&'static str, &str)]) -> Arc<SpanData> {
        let mut set = FieldSet::default();
        for &(k, v) in fields {
            set.add_str(k, v);
        }
        Arc::new(SpanData { name, fields: set })
    }

    #[test]
    fn a_span_hint_is_used_only_while_its_entry_holds_the_span() {
        let (a, b, c) = (span_of("a", &[]), span_of("b", &[]), span_of("c", &[]));
        // One set of two entries: the third span evicts the oldest.
        let mut cache = SpanCache::new(1);
        let hint_a = cache.index(&a).unwrap() as u16;
        let hint_b = cache.index(&b).unwrap() as u16;
        assert_eq!(cache.index_hinted(&a, hint_a), cache.index(&a));
        assert_eq!(cache.index_hinted(&b, NO_HINT), cache.index(&b));
        cache.index(&c).unwrap();
        // `a`'s hint is stale now (its entry went to `c`): a fresh lookup.
        let idx = cache.index_hinted(&a, hint_a).unwrap();
        assert!(Arc::ptr_eq(cache.entries[idx].span.as_ref().unwrap(), &a));
        // A hint naming another span's entry is not taken either.
        let idx = cache.index_hinted(&c, hint_b).unwrap();
        assert!(Arc::ptr_eq(cache.entries[idx].span.as_ref().unwrap(), &c));
        assert_eq!(SpanCache::new(0).index_hinted(&a, 0), None);
    }

    /// A record with the given event fields in `spans` (innermost first).
    fn record_in(spans: &[&Arc<SpanData>], fields: &[(&'static str, &str)]) -> Record {
        let mut rec = Record::internal(Level::INFO, "x", "m");
        rec.internal = false;
        rec.thread = Some(Arc::from("main"));
        for &(k, v) in fields {
            rec.fields.add_str(k, v);
        }
        rec.spans = spans.iter().map(|&s| Arc::clone(s)).collect();
        rec
    }

    /// An encoder with `session_id` sensitive, so that a promoted value is
    /// masked too.
    fn masking_encoder() -> Encoder {
        let redactor = Redactor::new(true, &["session_id".to_owned()], &[]).unwrap();
        Encoder::new(&StaticContext::default(), redactor, true)
    }

    /// Cached spans and promoted span values are the bytes the uncached
    /// encoding gives: on first sight and on hits, when spans keep evicting
    /// each other, when an event field or an inner span's field shadows a
    /// span's field in one record and not in the next, after a span was
    /// recorded into, and for sensitive names and redacted values.
    #[test]
    fn span_cache_gives_the_uncached_bytes() {
        let outer = span_of(
            "request",
            &[
                ("request_id", "req_xyz789"),
                ("op", "checkout"),
                ("password", "hunter2"),
                ("session_id", "s-1"),
                ("note", "token=abc123 card 4111 1111 1111 1111"),
            ],
        );
        let mut inner = span_of(
            "step\"1\n",
            &[("user_id", "u-span"), ("op", "inner-op"), ("q\"", "v\t")],
        );
        let empty = span_of("empty", &[]);
        let events: [&[(&'static str, &str)]; 4] = [
            &[("attempt", "1")],
            &[("user_id", "u-event"), ("request_id", "req-event")],
            &[("op", "event-op"), ("session_id", "s-event")],
            &[],
        ];
        for sets in [SPAN_CACHE_SETS, 1] {
            let mut enc = masking_encoder();
            enc.spans = SpanCache::new(sets);
            let mut plain = masking_encoder();
            plain.spans = SpanCache::new(0);
            for round in 0..3 {
                if round == 2 {
                    // The layer records into a span this way; the cache holds
                    // the old data, so this copies it.
                    Arc::make_mut(&mut inner)
                        .fields
                        .push("late", Val::U64(5), true);
                }
                let nestings: [&[&Arc<SpanData>]; 6] = [
                    &[&outer],
                    &[&inner, &outer],
                    &[&empty, &inner, &outer],
                    &[&outer, &inner],
                    &[&inner],
                    &[],
                ];
                for spans in nestings {
                    for fields in events {
                        let rec = record_in(spans, fields);
                        let got = String::from_utf8(encode_bytes(&mut enc, &rec)).unwrap();
                        let want = String::from_utf8(encode_bytes(&mut plain, &rec)).unwrap();
                        assert_eq!(got, want, "{sets} sets, round {round}");
                        if round == 2 && spans.iter().any(|s| Arc::ptr_eq(s, &inner)) {
                            assert!(got.contains(r#""late":5"#), "{got}");
                        }
                    }
                }
            }
        }
        let mut enc = masking_encoder();
        let rec = record_in(&[&outer], &[]);
        for _ in 0..2 {
            let line = String::from_utf8(encode_bytes(&mut enc, &rec)).unwrap();
            assert!(
                line.contains(r#","op":"checkout","request_id":"req_xyz789","session_id":"[REDACTED]","spans":[{"name":"request","fields":{"password":"[REDACTED]","note":"token=[REDACTED] card **** **** **** 1111"}}]"#),
                "{line}"
            );
        }
    }

    /// Layouts of fields remembered per call site and per span give the
    /// bytes of looking every name up afresh: on first sight and on hits,
    /// when call sites and spans keep evicting each other, when events of
    /// one call site capture different fields (an empty one is left out),
    /// and for sensitive, promoted and escaped names.
    #[test]
    fn field_layouts_give_the_uncached_bytes() {
        let metas = [
            site("app::a", Some("app::a"), Some("src/a.rs"), Some(1)),
            site("app::b", Some("app::b"), Some("src/b.rs"), Some(2)),
            site("app::c", None, None, None),
        ];
        let field_sets: [&[(&'static str, &str)]; 6] = [
            &[("user_id", "u"), ("password", "p"), ("attempt", "1")],
            &[("user_id", "u"), ("attempt", "1")],
            &[("user", "u2"), ("user_id", "u"), ("class", "audit")],
            &[],
            &[("q\"uote", "v"), ("session_id", "s"), ("token", "t")],
            &[("attempt", "1"), ("user_id", "u"), ("password", "p")],
        ];
        let span = span_of("s", &[("user_id", "u-span"), ("token", "t"), ("k", "v")]);
        let other = span_of("o", &[("tenant", "t1"), ("op", "o")]);
        for sets in [SITE_CACHE_SETS, 1] {
            let mut enc = masking_encoder();
            enc.sites = SiteCache::new(sets);
            enc.spans = SpanCache::new(sets.min(SPAN_CACHE_SETS));
            let mut plain = masking_encoder();
            plain.spans = SpanCache::new(0);
            for round in 0..2 {
                for (m, meta) in metas.iter().enumerate() {
                    for (f, fields) in field_sets.iter().enumerate() {
                        for spans in [&[][..], &[&span][..], &[&other, &span][..]] {
                            let (mut cached, mut owned) = site_records(meta);
                            for rec in [&mut cached, &mut owned] {
                                for &(k, v) in *fields {
                                    rec.fields.add_str(k, v);
                                }
                                rec.spans = spans.iter().map(|&s| Arc::clone(s)).collect();
                            }
                            let (res, want_res) = (enc.resolve(&cached), plain.resolve(&owned));
                            assert_eq!(res.class(&cached), want_res.class(&owned));
                            assert_eq!(res.event(&cached), want_res.event(&owned));
                            let got = String::from_utf8(encode_bytes(&mut enc, &cached)).unwrap();
                            let want = String::from_utf8(encode_bytes(&mut plain, &owned)).unwrap();
                            assert_eq!(
                                got, want,
                                "{sets} sets, round {round}, site {m}, fields {f}"
                            );
                        }
                    }
                }
            }
        }
        let mut enc = masking_encoder();
        for _ in 0..2 {
            let (mut rec, _) = site_records(metas[0]);
            for &(k, v) in field_sets[4] {
                rec.fields.add_str(k, v);
            }
            let line = String::from_utf8(encode_bytes(&mut enc, &rec)).unwrap();
            assert!(
                line.contains(
                    r#","session_id":"[REDACTED]","fields":{"q\"uote":"v","token":"[REDACTED]"}"#
                ),
                "{line}"
            );
        }
    }

    /// Field names for the cache property below: promoted, sensitive,
    /// plain and one that needs escaping.
    const PROP_NAMES: [&str; 10] = [
        "user_id",
        "request_id",
        "op",
        "tenant",
        "class",
        "password",
        "session_id",
        "attempt",
        "note",
        "q\"k",
    ];

    proptest::proptest! {
        /// Any sequence of records, from a few call sites with any of a
        /// few field names and values, in any nesting of a few spans that
        /// may be recorded into on the way, encodes to the same bytes with
        /// every cache at its smallest (so entries keep evicting each other)
        /// as with owned metadata and no span cache.
        #[test]
        fn cached_encoding_equals_uncached_for_any_sequence(
            steps in proptest::collection::vec(
                (
                    0usize..3,
                    proptest::collection::vec((0usize..PROP_NAMES.len(), "[a-z0-9 =\"]{0,12}"), 0..5),
                    proptest::collection::vec(0usize..3, 0..4),
                    proptest::option::of((0usize..3, 0usize..PROP_NAMES.len(), "[a-z0-9]{0,6}")),
                ),
                1..40,
            ),
        ) {
            let metas = [
                site("app::a", Some("app::a"), Some("src/a.rs"), Some(1)),
                site("app::b", None, Some("src/b.rs"), None),
                site("app::c", Some("app::c"), None, Some(3)),
            ];
            let mut spans = [
                span_of("outer", &[("request_id", "r-1"), ("op", "checkout")]),
                span_of("mid", &[("tenant", "acme"), ("password", "pw"), ("op", "mid")]),
                span_of("inner", &[("user_id", "u-span"), ("note", "card 4111 1111 1111 1111")]),
            ];
            let mut enc = masking_encoder();
            enc.sites = SiteCache::new(1);
            enc.spans = SpanCache::new(1);
            let mut plain = masking_encoder();
            plain.spans = SpanCache::new(0);
            for (site_at, fields, nesting, record) in &steps {
                if let Some((span, name, value)) = record {
                    // As the layer records into a span: copied when shared.
                    Arc::make_mut(&mut spans[*span]).fields.add_str(PROP_NAMES[*name], value);
                }
                let (mut cached, mut owned) = site_records(metas[*site_at]);
                for rec in [&mut cached, &mut owned] {
                    for (name, value) in fields {
                        rec.fields.add_str(PROP_NAMES[*name], value);
                    }
                    rec.spans = nesting.iter().map(|&k| Arc::clone(&spans[k])).collect();
                }
                let got = encode_bytes(&mut enc, &cached);
                let want = encode_bytes(&mut plain, &owned);
                proptest::prop_assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(want).unwrap()
                );
            }
        }
    }

    /// Fields past the ones [`Resolved`] keeps flags for are promoted and
    /// masked all the same.
    #[test]
    fn fields_past_the_flagged_ones_are_promoted_and_masked() {
        let mut rec = Record::internal(Level::INFO, "x", "m");
        rec.internal = false;
        for i in 0..FLAGGED_FIELDS + 2 {
            rec.fields.add_u64(["a", "b", "c"][i % 3], i as u64);
        }
        rec.fields.add_str("password", "hunter2");
        rec.fields.add_str("user_id", "u1");
        rec.fields.add_str("user", "u2");
        rec.spans = (0..FLAGGED_SOURCES + 2)
            .map(|k| {
                let mut fields = FieldSet::default();
                fields.add_str("token", "t0k3n");
                fields.add_str("kept", "k");
                if k == FLAGGED_SOURCES {
                    fields.add_str("tenant", "inner");
                }
                if k == FLAGGED_SOURCES + 1 {
                    fields.add_str("tenant", "outer");
                }
                Arc::new(SpanData { name: "s", fields })
            })
            .collect();
        let v = encode(&rec);
        assert_eq!(v["fields"]["password"], "[REDACTED]");
        assert_eq!(v["fields"]["user"], "u2");
        assert_eq!(v["user"], "u1");
        assert_eq!(v["fields"]["a"], (FLAGGED_FIELDS as u64 / 3) * 3);
        assert_eq!(v["tenant"], "inner");
        let spans = v["spans"].as_array().unwrap();
        assert_eq!(spans[0]["fields"]["tenant"], "outer");
        assert!(spans[1]["fields"].get("tenant").is_none());
        for span in spans {
            assert_eq!(span["fields"]["token"], "[REDACTED]");
            assert_eq!(span["fields"]["kept"], "k");
        }
    }

    #[test]
    fn keys_come_in_the_documented_order() {
        let mut rec = Record::internal(Level::ERROR, "x", "m");
        rec.fields.add_str("request_id", "r");
        rec.fields.add_str("extra", "e");
        rec.thread = Some(Arc::from("main"));
        let ctx = StaticContext {
            service: "svc".into(),
            env: Some("prod".into()),
            ..StaticContext::default()
        };
        let mut enc = Encoder::new(&ctx, Redactor::default(), true);
        let mut out = Vec::new();
        let res = enc.resolve(&rec);
        enc.encode_open(&rec, &res, "app", 1, &mut out);
        out.push(b'}');
        let line = String::from_utf8(out).unwrap();
        let order = [
            "\"v\"",
            "\"stream\"",
            "\"seq\"",
            "\"ts\"",
            "\"level\"",
            "\"class\"",
            "\"event\"",
            "\"msg\"",
            "\"target\"",
            "\"thread\"",
            "\"service\"",
            "\"env\"",
            "\"request_id\"",
            "\"fields\"",
        ];
        let pos: Vec<usize> = order.iter().map(|k| line.find(k).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{line}");
        assert!(line.contains("\"class\":\"error\""));
    }
}
