//! Which threads are evtrail's own: the worker, compression and HTTP
//! delivery threads mark themselves, so events emitted there (by a sink, or
//! a crate it calls) are not fed back into the pipeline. Depends on nothing
//! else in the crate, so any module may ask.

use std::cell::Cell;

thread_local! {
    /// Set on evtrail's own threads, so events emitted there (by a sink, or a
    /// crate it calls) do not loop back into the pipeline.
    static ON_EVTRAIL_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current thread is one of evtrail's own.
pub(crate) fn on_evtrail_thread() -> bool {
    ON_EVTRAIL_THREAD.with(Cell::get)
}

/// Marks the current thread as one of evtrail's own.
pub(crate) fn mark_evtrail_thread() {
    ON_EVTRAIL_THREAD.with(|c| c.set(true));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_marked_thread_is_evtrails_own() {
        std::thread::spawn(|| {
            assert!(!on_evtrail_thread());
            mark_evtrail_thread();
            assert!(on_evtrail_thread());
        })
        .join()
        .unwrap();
    }
}
