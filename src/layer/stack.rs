//! The spans each thread has entered, kept by the layer's `on_enter` and
//! `on_exit`, so that an event finds its spans' captured data without
//! asking the registry: walking the event's scope and reading each span's
//! extensions was a sixth of the emitting thread's work per event, paid
//! again for every event in the same span. Entering a span pays it once.
//!
//! An entry holds the span's scope as the registry gave it when the span
//! was entered (innermost first, as filtered for this layer). Values
//! recorded on a span later make a new copy of its data; the layer's epoch
//! then moves on, and an entry older than that epoch is taken from the
//! registry again before use.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::span::Id;

use crate::record::SpanData;

/// One span entered on this thread, for one layer.
struct Entered {
    layer: u64,
    id: Id,
    /// Entered again while already entered: the registry does not make it
    /// current again, and neither does this stack.
    duplicate: bool,
    /// The layer's epoch when `scope` was taken.
    epoch: u64,
    scope: Vec<Arc<SpanData>>,
}

thread_local! {
    /// Every layer's entered spans on this thread, innermost last. Nothing
    /// outside this file's functions runs while it is borrowed.
    static STACK: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

/// Tells layers apart in the one thread-local stack (several pipelines
/// may run in one process, on one thread).
static NEXT_LAYER: AtomicU64 = AtomicU64::new(1);

/// A layer's view of the threads' span stacks.
#[derive(Debug)]
pub(super) struct SpanStacks {
    layer: u64,
    /// Moves on whenever values are recorded on one of this layer's spans.
    epoch: AtomicU64,
}

impl SpanStacks {
    pub(super) fn new() -> SpanStacks {
        SpanStacks {
            layer: NEXT_LAYER.fetch_add(1, Ordering::Relaxed),
            epoch: AtomicU64::new(0),
        }
    }

    /// Values were recorded on a span: scopes taken before are stale.
    pub(super) fn changed(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Span `id` was entered on this thread; `scope` gives its scope.
    pub(super) fn enter(&self, id: &Id, scope: impl FnOnce() -> Vec<Arc<SpanData>>) {
        let epoch = self.epoch.load(Ordering::Acquire);
        let duplicate = STACK
            .try_with(|s| {
                s.borrow()
                    .iter()
                    .any(|e| e.layer == self.layer && e.id == *id)
            })
            .unwrap_or(true);
        // A duplicate is never current: its scope is not needed.
        let scope = if duplicate { Vec::new() } else { scope() };
        let _ = STACK.try_with(|s| {
            s.borrow_mut().push(Entered {
                layer: self.layer,
                id: id.clone(),
                duplicate,
                epoch,
                scope,
            });
        });
    }

    /// Span `id` was exited on this thread: its latest entry goes.
    pub(super) fn exit(&self, id: &Id) {
        let _ = STACK.try_with(|s| {
            let mut s = s.borrow_mut();
            if let Some(at) = s.iter().rposition(|e| e.layer == self.layer && e.id == *id) {
                s.remove(at);
            }
        });
    }

    /// Appends the current span's scope, innermost first, to `out`.
    /// `rescope` takes a stale entry's scope from the registry again.
    /// `false` when this thread entered none of the layer's spans (which
    /// costs the registry little to confirm, and covers spans entered
    /// before this layer was in place), when the stack could not be read
    /// (the thread is ending) or `rescope` found no span: then ask the
    /// registry.
    pub(super) fn current(
        &self,
        out: &mut Vec<Arc<SpanData>>,
        rescope: impl FnOnce(&Id) -> Option<Vec<Arc<SpanData>>>,
    ) -> bool {
        let epoch = self.epoch.load(Ordering::Acquire);
        STACK
            .try_with(|s| {
                let mut s = s.borrow_mut();
                let Some(top) = s
                    .iter_mut()
                    .rev()
                    .find(|e| e.layer == self.layer && !e.duplicate)
                else {
                    return false;
                };
                if top.epoch != epoch {
                    let Some(scope) = rescope(&top.id) else {
                        return false;
                    };
                    top.scope = scope;
                    top.epoch = epoch;
                }
                out.extend(top.scope.iter().cloned());
                true
            })
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::FieldSet;

    fn span(name: &'static str) -> Arc<SpanData> {
        Arc::new(SpanData {
            name,
            fields: FieldSet::default(),
        })
    }

    fn names(spans: &[Arc<SpanData>]) -> Vec<&'static str> {
        spans.iter().map(|s| s.name).collect()
    }

    /// The current scope's names; empty when the stack has no span.
    fn current(stacks: &SpanStacks) -> Vec<&'static str> {
        let mut out = Vec::new();
        let found = stacks.current(&mut out, |_| panic!("nothing is stale"));
        assert_eq!(found, !out.is_empty());
        names(&out)
    }

    #[test]
    fn the_innermost_entered_span_is_current_until_it_is_exited() {
        let stacks = SpanStacks::new();
        let (a, b) = (Id::from_u64(1), Id::from_u64(2));
        assert!(current(&stacks).is_empty());
        stacks.enter(&a, || vec![span("a")]);
        stacks.enter(&b, || vec![span("b"), span("a")]);
        assert_eq!(current(&stacks), ["b", "a"]);
        stacks.exit(&b);
        assert_eq!(current(&stacks), ["a"]);
        stacks.exit(&a);
        assert!(current(&stacks).is_empty());
    }

    #[test]
    fn entering_an_entered_span_again_does_not_make_it_current() {
        let stacks = SpanStacks::new();
        let (a, b) = (Id::from_u64(1), Id::from_u64(2));
        stacks.enter(&a, || vec![span("a")]);
        stacks.enter(&b, || vec![span("b")]);
        stacks.enter(&a, || panic!("a duplicate's scope is not taken"));
        assert_eq!(current(&stacks), ["b"]);
        stacks.exit(&a);
        assert_eq!(current(&stacks), ["b"]);
        stacks.exit(&b);
        assert_eq!(current(&stacks), ["a"]);
        stacks.exit(&a);
    }

    #[test]
    fn layers_on_one_thread_keep_their_own_spans() {
        let (one, two) = (SpanStacks::new(), SpanStacks::new());
        let a = Id::from_u64(1);
        one.enter(&a, || vec![span("one")]);
        two.enter(&a, || vec![span("two")]);
        assert_eq!(current(&one), ["one"]);
        one.exit(&a);
        assert!(current(&one).is_empty());
        assert_eq!(current(&two), ["two"]);
        two.exit(&a);
    }

    #[test]
    fn a_scope_is_taken_again_after_values_were_recorded() {
        let stacks = SpanStacks::new();
        let a = Id::from_u64(1);
        stacks.enter(&a, || vec![span("before")]);
        stacks.changed();
        let mut out = Vec::new();
        assert!(stacks.current(&mut out, |id| {
            assert_eq!(*id, a);
            Some(vec![span("after")])
        }));
        assert_eq!(names(&out), ["after"]);
        // Taken once per change, not per event.
        assert_eq!(current(&stacks), ["after"]);
        stacks.changed();
        assert!(!stacks.current(&mut Vec::new(), |_| None), "span gone");
        stacks.exit(&a);
    }
}
