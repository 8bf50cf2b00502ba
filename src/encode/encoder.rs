//! The encoder: turns a [`Record`] into its JSON line on the worker,
//! with the static context, promoted fields, spans and redaction, in the
//! documented key order.

use std::sync::Arc;

use tracing::Level;

use super::cache::{
    FLAGGED_FIELDS, Layout, NameCache, SITE_CACHE_SETS, SPAN_CACHE_SETS, SiteCache, SpanCache,
    ThreadCache, write_site,
};
use super::json::{write_escaped, write_escaped_from, write_f64, write_str};
use super::resolve::{
    FLAGGED_SOURCES, Origin, P_CLASS, P_EVENT, P_LAST_HEAD, Resolved, default_class,
};
use crate::record::{Field, FieldSet, Meta, PROMOTED, Record, SpanData, Val, split_marker};
use crate::redact::{MASK, Prescan, Redactor};
use crate::time::{ts_micros, ts_second};

/// Encodes records as JSON lines. Built once; used by the worker.
#[derive(Debug)]
pub(crate) struct Encoder {
    /// The static context, pre-encoded as `,"service":"…",…`.
    static_ctx: Vec<u8>,
    redactor: Redactor,
    pub(super) source_location: bool,
    /// What the worker needs to know about a field name, remembered.
    names: NameCache,
    /// Call sites' source keys, encoded once.
    pub(super) sites: SiteCache,
    /// Emitting threads' `thread` keys, encoded once.
    threads: ThreadCache,
    /// Spans' parts of the `spans` list and promoted values, encoded once.
    pub(super) spans: SpanCache,
    /// The last second a timestamp was written for, and its text: records
    /// come in time order, so most share the previous one's second.
    ts_second: (u64, [u8; 20]),
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

    /// Replaces the redaction rules, forgetting what the caches learnt
    /// under the old ones (which names are secret, encoded span values).
    #[cfg(feature = "config")]
    pub(crate) fn set_redactor(&mut self, redactor: Redactor) {
        self.redactor = redactor;
        self.names = NameCache::new();
        self.sites = SiteCache::new(SITE_CACHE_SETS);
        self.spans = SpanCache::new(SPAN_CACHE_SETS);
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
    use crate::time::write_ts;

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
