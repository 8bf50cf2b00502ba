//! The `tracing` layer: captures spans and events into owned records.
//!
//! Everything here runs on the thread that emitted the event, so it only
//! copies: no serialisation, signing or I/O.

use std::sync::Arc;

use tracing::span::{Attributes, Id, Record as SpanValues};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::pipeline::Shared;
use crate::record::{Buffers, Capture, FieldSet, Meta, OwnedMeta, Record, SpanData};
use crate::thread::on_evtrail_thread;

mod stack;

use stack::SpanStacks;

/// The `tracing-subscriber` layer that feeds evtrail.
///
/// Obtained from [`Builder::build`](crate::Builder::build) together with the
/// [`Guard`](crate::Guard); compose it with other layers and filters as
/// usual. It never installs itself as the global subscriber.
///
/// # Examples
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let (layer, guard) = evtrail::builder().unsigned()
///     .service("demo")
///     .add_sink(evtrail::MemorySink::new())
///     .build()?;
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || tracing::info!("ready"));
/// # drop(guard);
/// # Ok::<(), evtrail::Error>(())
/// ```
#[derive(Debug)]
pub struct Layer {
    shared: Arc<Shared>,
    /// The spans entered on each thread, with their captured data.
    stacks: SpanStacks,
}

impl Layer {
    pub(crate) fn new(shared: Arc<Shared>) -> Layer {
        Layer {
            shared,
            stacks: SpanStacks::new(),
        }
    }
}

/// Bytes reserved up front for an event's string values and message: most
/// events fit, so capturing one allocates its text buffer once.
const EVENT_TEXT_CAPACITY: usize = 128;

/// A span's captured data in the registry's extensions. A private type, so
/// it cannot collide with another layer's extension.
struct SpanSlot(Arc<SpanData>);

/// The captured data of span `id` and its parents, innermost first, as
/// this layer sees them (a per-layer filter leaves some out).
fn scope_of<S>(ctx: &Context<'_, S>, id: &Id) -> Option<Vec<Arc<SpanData>>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let scope = ctx.span_scope(id)?;
    Some(
        scope
            .filter_map(|span| span.extensions().get::<SpanSlot>().map(|s| s.0.clone()))
            .collect(),
    )
}

thread_local! {
    /// The thread's name, copied once per thread rather than per event.
    static THREAD_NAME: Arc<str> = {
        let t = std::thread::current();
        match t.name() {
            Some(n) => Arc::from(n),
            None => Arc::from(format!("{:?}", t.id()).as_str()),
        }
    };
}

impl<S> tracing_subscriber::Layer<S> for Layer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = FieldSet::default();
        attrs.record(&mut Capture {
            set: &mut fields,
            message: None,
            limit: self.shared.max_value,
            replace: true,
            skip_log_fields: false,
        });
        let data = SpanData {
            name: attrs.metadata().name(),
            fields,
        };
        span.extensions_mut().replace(SpanSlot(Arc::new(data)));
    }

    fn on_record(&self, id: &Id, values: &SpanValues<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(slot) = ext.get_mut::<SpanSlot>() {
            // Events already captured keep the values they saw.
            let data = Arc::make_mut(&mut slot.0);
            values.record(&mut Capture {
                set: &mut data.fields,
                message: None,
                limit: self.shared.max_value,
                replace: true,
                skip_log_fields: false,
            });
            self.stacks.changed();
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.stacks
            .enter(id, || scope_of(&ctx, id).unwrap_or_default());
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        self.stacks.exit(id);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if on_evtrail_thread() {
            self.shared.note_reentrant();
            return;
        }
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let level = *meta.level();
        if !self.shared.filter.enabled(meta.target(), level) {
            return;
        }
        let ts = self.shared.now();
        let Buffers {
            mut fields,
            mut spans,
        } = self.shared.reuse().unwrap_or_else(|| Buffers {
            fields: FieldSet::with_capacity(meta.fields().len(), EVENT_TEXT_CAPACITY),
            spans: Vec::new(),
        });
        let mut message = None;
        event.record(&mut Capture {
            set: &mut fields,
            message: Some(&mut message),
            limit: self.shared.max_value,
            replace: false,
            skip_log_fields: normalized.is_some(),
        });
        // An event in the current span (most are) takes its spans from the
        // thread's stack; one with an explicit parent, from the registry.
        let from_stack =
            event.is_contextual() && self.stacks.current(&mut spans, |id| scope_of(&ctx, id));
        if !from_stack && let Some(scope) = ctx.event_scope(event) {
            spans.clear();
            spans.extend(
                scope.filter_map(|span| span.extensions().get::<SpanSlot>().map(|s| s.0.clone())),
            );
        }
        let meta = match &normalized {
            None => Meta::Static(event.metadata()),
            Some(m) => Meta::Owned(Box::new(OwnedMeta {
                target: m.target().to_owned(),
                module: m.module_path().map(str::to_owned),
                file: m.file().map(str::to_owned),
                line: m.line(),
            })),
        };
        let rec = Record {
            ts,
            level,
            meta,
            thread: THREAD_NAME.with(Arc::clone).into(),
            message,
            fields,
            spans,
            internal: false,
        };
        self.shared.submit(rec);
    }
}
