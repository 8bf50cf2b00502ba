//! The encoder's caches: what it wrote or learnt for a thread, a call
//! site, a span or a field name, remembered so that the next record from
//! the same place costs a copy instead of encoding it again. A miss only
//! ever costs the work the cache saves.

use std::cell::Cell;
use std::sync::Arc;

use tracing_core::Metadata;

use super::json::write_str;
use crate::record::{FieldSet, SpanData, promoted_slot};
use crate::redact::Redactor;

/// Fields of each source (the event, or a span) that a [`Layout`] and
/// [`Resolved`](super::Resolved) keep flags for.
pub(super) const FLAGGED_FIELDS: usize = 64;
/// Slots in the [`ThreadCache`].
pub(super) const THREAD_CACHE_SLOTS: usize = 8;

/// The encoded `,"thread":"…"` of the threads events come from, remembered
/// by the address of the thread's shared name. Each entry holds a reference
/// to its name, so that address cannot be reused for another name while the
/// entry lives. Direct-mapped; a miss only means encoding the key again.
#[derive(Debug)]
pub(super) struct ThreadCache {
    names: [Option<Arc<str>>; THREAD_CACHE_SLOTS],
    encoded: [Vec<u8>; THREAD_CACHE_SLOTS],
}

impl ThreadCache {
    pub(super) fn new() -> ThreadCache {
        ThreadCache {
            names: Default::default(),
            encoded: Default::default(),
        }
    }

    /// The encoded `thread` key of `name`. Inlined into the encoder, which
    /// asks for nearly every record.
    #[inline]
    pub(super) fn get(&mut self, name: &Arc<str>) -> &[u8] {
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
pub(super) const SITE_CACHE_SETS: usize = 128;

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
pub(super) struct SiteCache {
    /// `2 * sets` entries, the most recently filled of a set first.
    pub(super) slots: Box<[SiteEntry]>,
}

/// What the encoder wrote for one call site.
#[derive(Debug, Default)]
pub(super) struct SiteEntry {
    /// The metadata's address; 0 when empty.
    addr: usize,
    /// The encoded source keys.
    pub(super) keys: Vec<u8>,
    /// The layout of the last event's fields from this call site.
    pub(super) layout: Layout,
}

impl SiteCache {
    pub(super) fn new(sets: usize) -> SiteCache {
        debug_assert!(sets.is_power_of_two());
        SiteCache {
            slots: (0..2 * sets).map(|_| SiteEntry::default()).collect(),
        }
    }

    /// The index of `meta`'s entry, filled on a miss; `hint` is tried
    /// first.
    pub(super) fn index_hinted(
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
    pub(super) fn index(
        &mut self,
        meta: &'static Metadata<'static>,
        source_location: bool,
    ) -> usize {
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
pub(super) struct Layout {
    /// Each field's name, by address and length.
    names: Vec<(usize, usize)>,
    /// Bit `i` set when field `i` is sensitive.
    pub(super) sensitive: u64,
    /// (promoted slot, field index) of the fields that feed a promoted
    /// slot, in field order.
    pub(super) feeds: Vec<(u8, u8)>,
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
    pub(super) fn matches(&self, set: &FieldSet) -> bool {
        self.names.len() == set.items.len()
            && self
                .names
                .iter()
                .zip(&set.items)
                .all(|(&(addr, len), f)| addr == f.name.as_ptr() as usize && len == f.name.len())
    }

    /// Makes this the layout of `set`, which has at most
    /// [`FLAGGED_FIELDS`] fields, with what `info_of` says about each name.
    pub(super) fn fill(&mut self, set: &FieldSet, info_of: impl Fn(&'static str) -> NameInfo) {
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
    pub(super) fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.key_ends[i - 1] };
        &self.keys[start as usize..self.key_ends[i] as usize]
    }
}

/// Writes `,"target":…` and, when `source_location` is on, the known ones
/// of `,"module":…,"file":…,"line":N`.
pub(super) fn write_site(
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
pub(super) const SPAN_CACHE_SETS: usize = 32;

/// What the encoder wrote for one span.
#[derive(Debug, Default)]
pub(super) struct SpanEntry {
    /// The span. Holding it keeps its address from being reused for
    /// another span and its data from changing: `record`ing into a span
    /// whose data is shared copies the data (`Arc::make_mut`).
    pub(super) span: Option<Arc<SpanData>>,
    /// The promoted-field bits `part` was encoded for; `None` before it
    /// was encoded.
    pub(super) mask: Option<u64>,
    /// `{"name":…,"fields":{…}}` with the fields in `mask` left out.
    pub(super) part: Vec<u8>,
    /// The encoded `,"key":value` of the span's fields that were promoted,
    /// one after the other.
    pub(super) values: Vec<u8>,
    /// Per field, its range in `values`; empty when not encoded yet.
    pub(super) at: Vec<(u32, u32)>,
    /// The layout of the span's fields.
    pub(super) layout: Layout,
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
pub(super) struct SpanCache {
    /// `2 * sets` entries, the most recently filled of a set first.
    pub(super) entries: Box<[SpanEntry]>,
}

impl SpanCache {
    pub(super) fn new(sets: usize) -> SpanCache {
        debug_assert!(sets == 0 || sets.is_power_of_two());
        SpanCache {
            entries: (0..2 * sets).map(|_| SpanEntry::default()).collect(),
        }
    }

    /// The index of `span`'s entry, like [`SpanCache::index`]; `hint` is
    /// tried first.
    pub(super) fn index_hinted(&mut self, span: &Arc<SpanData>, hint: u16) -> Option<usize> {
        let hint = usize::from(hint);
        match self.entries.get(hint) {
            Some(e) if e.span.as_ref().is_some_and(|s| Arc::ptr_eq(s, span)) => Some(hint),
            _ => self.index(span),
        }
    }

    /// The index of `span`'s entry, emptied and taken over on a miss;
    /// `None` when the cache has no entries.
    pub(super) fn index(&mut self, span: &Arc<SpanData>) -> Option<usize> {
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
pub(super) struct NameInfo {
    /// The redactor masks this field's value.
    pub(super) sensitive: bool,
    /// The promoted slot the field feeds, if any.
    pub(super) promoted: Option<usize>,
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
pub(super) struct NameCache {
    /// `2 * NAME_CACHE_SETS` entries of (address, length, info), the most
    /// recently filled of a set first; empty entries hold address 0, which
    /// no name has.
    slots: Box<[Cell<(usize, usize, NameInfo)>]>,
}

impl NameCache {
    pub(super) fn new() -> NameCache {
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

    pub(super) fn info(&self, redactor: &Redactor, name: &'static str) -> NameInfo {
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

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;
    use crate::encode::resolve::NO_HINT;
    use crate::encode::{Encoder, StaticContext};
    use crate::record::{Meta, OwnedMeta, Record, Val};

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
}
