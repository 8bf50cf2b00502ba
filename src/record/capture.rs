//! Capture of an event's or span's fields from tracing's visitor calls,
//! on the emitting thread: values are copied into a [`FieldSet`], never
//! encoded here.

use std::fmt;

use tracing::field::{Field as TField, Visit};

use super::{ErrorChain, FieldSet, Val};

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
