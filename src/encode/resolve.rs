//! Promotion of well-known fields (`class`, `event`, `user`, `tenant`,
//! ...) to the top level: where each promoted value of a record comes from,
//! resolved once per record for routing and for every stream it is encoded
//! into.

use tracing::Level;

use super::cache::{FLAGGED_FIELDS, Layout, NameInfo, SITE_CACHE_SETS, SPAN_CACHE_SETS};
use crate::record::{Field, FieldSet, PROMOTED, Record, Val};

pub(super) const P_CLASS: usize = 0;
pub(super) const P_EVENT: usize = 1;
/// Slots up to and including this one are written before `msg`.
pub(super) const P_LAST_HEAD: usize = 3;

/// Where a promoted value was found: 0 is the event, `k + 1` is span `k`
/// (innermost first), with the field's index.
pub(super) type Origin = (usize, usize);

/// Sources (the event, then its spans innermost first) whose fields
/// [`Resolved`] keeps flags for.
pub(super) const FLAGGED_SOURCES: usize = 8;

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
    ///
    /// [`Encoder::resolve`]: super::Encoder::resolve
    /// [`SiteCache`]: super::cache::SiteCache
    pub(super) site_hint: u16,
    /// Likewise for the flagged spans in the [`SpanCache`], by source.
    ///
    /// [`SpanCache`]: super::cache::SpanCache
    pub(super) span_hints: [u16; FLAGGED_SOURCES],
}

/// A cache hint that matches no entry.
pub(super) const NO_HINT: u16 = u16::MAX;
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
    pub(super) fn add_set(
        &mut self,
        src: usize,
        set: &FieldSet,
        info_of: impl Fn(&'static str) -> NameInfo,
    ) {
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
    pub(super) fn add_layout(&mut self, src: usize, layout: &Layout) {
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

    /// Where source `src`, a span, was found in the
    /// [`SpanCache`](super::cache::SpanCache).
    pub(super) fn span_hint(&self, src: usize) -> u16 {
        self.span_hints.get(src).copied().unwrap_or(NO_HINT)
    }

    pub(super) fn is_promoted(&self, origin: Origin) -> bool {
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
    pub(super) fn promoted_bits(&self, src: usize, len: usize) -> Option<u64> {
        (src < FLAGGED_SOURCES && len <= FLAGGED_FIELDS).then(|| self.promoted[src])
    }

    /// Whether the field at `origin` is sensitive; `None` when not known
    /// here.
    pub(super) fn is_sensitive(&self, origin: Origin) -> Option<bool> {
        flag(origin).map(|(src, bit)| self.sensitive[src] & bit != 0)
    }

    fn value<'r>(&self, rec: &'r Record, slot: usize) -> Option<(&'r FieldSet, &'r Field)> {
        self.value_at(rec, slot).map(|(set, f, _)| (set, f))
    }

    /// The field in `slot`, with its set and origin.
    pub(super) fn value_at<'r>(
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::encode::{Encoder, StaticContext};
    use crate::record::SpanData;
    use crate::redact::Redactor;

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
}
