//! One sink as the worker holds it: its counters, the backlog it has not
//! accepted, where its failure episode is, how long to wait before the next
//! attempt, and calling it without letting a panic out.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::stats::SinkCounters;
use crate::sink::{Batch, LostRanges, Sink, SinkError};

/// The first wait after a failure; doubled per attempt.
const RETRY_BASE: Duration = Duration::from_millis(50);
/// The longest wait between two attempts.
pub(super) const RETRY_MAX: Duration = Duration::from_secs(5);
/// One sink on the worker, with what its delivery is up to.
pub(super) struct SinkSlot {
    pub(super) sink: Box<dyn Sink>,
    pub(super) counters: Arc<SinkCounters>,
    /// Records the sink has not accepted yet, oldest first.
    pub(super) pending: Batch,
    pub(super) failing_since: Option<Instant>,
    pub(super) attempts: u32,
    pub(super) next_retry: Instant,
    /// Records this sink lost, not yet written as a notice.
    pub(super) unreported_drops: LostRanges,
    /// The episode began with a failed flush, which a retry must repeat.
    pub(super) flush_failed: bool,
    /// When drops by this sink were last written as a notice.
    pub(super) drops_noted_at: Instant,
}

impl SinkSlot {
    pub(super) fn name(&self) -> &str {
        &self.counters.name
    }

    /// Whether a retry has something to prove recovery with: records to
    /// deliver or a flush to repeat. A sink that failed permanently waits
    /// for new records instead of "recovering" on an empty retry.
    pub(super) fn has_retry_work(&self) -> bool {
        self.failing_since.is_some() && (!self.pending.is_empty() || self.flush_failed)
    }

    pub(super) fn publish(&self) {
        self.counters
            .pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
        self.counters
            .healthy
            .store(self.failing_since.is_none(), Ordering::Relaxed);
    }
}

/// Runs a sink call, turning a panic into a permanent failure: a buggy
/// sink must not take the worker (and every other sink) down with it.
pub(super) fn guarded(call: impl FnOnce() -> Result<(), SinkError>) -> Result<(), SinkError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(result) => result,
        Err(payload) => Err(SinkError::permanent(format!(
            "the sink panicked: {}",
            panic_message(payload.as_ref())
        ))),
    }
}

pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_owned())
}

pub(super) fn backoff(attempts: u32) -> Duration {
    RETRY_BASE
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
        .min(RETRY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_millis(50));
        assert_eq!(backoff(2), Duration::from_millis(100));
        assert_eq!(backoff(4), Duration::from_millis(400));
        assert_eq!(backoff(40), RETRY_MAX);
    }
}
