//! The pipeline's counters: the atomics the worker and the hand-off bump
//! as they go ([`Counters`], [`SinkCounters`]), and the public snapshot a
//! [`Handle`](super::Handle) reads from them ([`Stats`], [`SinkStats`]), and
//! the drops the hand-off counts per class ([`Drops`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::health::{RecentLosses, SinkTrouble};
use crate::sink::{DeliveryCounters, DeliveryStats};

/// Counters the worker publishes for one sink.
#[derive(Debug, Default)]
pub(crate) struct SinkCounters {
    pub(super) name: String,
    pub(super) written: AtomicU64,
    pub(super) failures: AtomicU64,
    pub(super) pending: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(super) healthy: AtomicBool,
    /// Set by sinks that deliver on a thread of their own.
    pub(super) delivery: Option<Arc<DeliveryCounters>>,
    /// Its failure episode and last error, for health.
    pub(super) trouble: SinkTrouble,
}

impl SinkCounters {
    /// Records the sink lost: on the worker, and on its own thread if it
    /// delivers from one.
    pub(crate) fn lost(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
            + self
                .delivery
                .as_ref()
                .map_or(0, |d| d.dropped.load(Ordering::Relaxed))
    }
}

/// Counters the worker publishes.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(super) received: AtomicU64,
    pub(super) written: AtomicU64,
    pub(super) internal: AtomicU64,
    pub(super) reentrant: AtomicU64,
    pub(super) sinks: Vec<Arc<SinkCounters>>,
    /// Loss samples for "lost in the last minute".
    pub(super) recent: RecentLosses,
}

/// Counters for one sink, as returned by [`Handle::stats`](super::Handle::stats).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkStats {
    /// The sink's [`name`](crate::Sink::name).
    pub name: String,
    /// Records the sink accepted.
    pub written: u64,
    /// Failed writes and flushes (each retry that fails counts).
    pub failures: u64,
    /// Records waiting to be retried.
    pub pending: u64,
    /// Records this sink lost: its backlog overflowed, it failed
    /// permanently, or shutdown came before it recovered.
    pub dropped: u64,
    /// Whether the sink's last write succeeded.
    pub healthy: bool,
    /// For sinks that deliver from a thread of their own (HTTP): what
    /// happened to the records after [`written`](Self::written).
    pub delivery: Option<DeliveryStats>,
}

/// A snapshot of the pipeline's counters; see [`Handle::stats`](super::Handle::stats).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records handed to the worker: those it took plus those still queued.
    pub accepted: u64,
    /// Records lost at the hand-off (queue full under
    /// [`Overflow::DropNewest`](super::Overflow::DropNewest), or emitted
    /// after shutdown).
    pub dropped: u64,
    /// `dropped`, per class.
    pub dropped_by_class: Vec<(String, u64)>,
    /// Records the worker encoded and handed to the sinks.
    pub written: u64,
    /// Records evtrail wrote about itself (drop notices, sink failures).
    pub internal: u64,
    /// Events ignored because they were emitted on evtrail's own threads.
    pub reentrant: u64,
    /// Messages waiting in the hand-off channel.
    pub queue_depth: usize,
    /// The channel's capacity.
    pub capacity: usize,
    /// Per-sink counters, in the order the sinks were added.
    pub sinks: Vec<SinkStats>,
}

impl Counters {
    /// A snapshot of the counters, with the hand-off's share: the
    /// `queue_depth` read just before, the queue's `capacity`, and its
    /// `drops`.
    pub(super) fn snapshot(&self, queue_depth: usize, capacity: usize, drops: &Drops) -> Stats {
        let received = self.received.load(Ordering::Relaxed);
        Stats {
            accepted: received + queue_depth as u64,
            dropped: drops.total.load(Ordering::Relaxed),
            dropped_by_class: drops.by_class(),
            written: self.written.load(Ordering::Relaxed),
            internal: self.internal.load(Ordering::Relaxed),
            reentrant: self.reentrant.load(Ordering::Relaxed),
            queue_depth,
            capacity,
            sinks: self
                .sinks
                .iter()
                .map(|s| SinkStats {
                    name: s.name.clone(),
                    written: s.written.load(Ordering::Relaxed),
                    failures: s.failures.load(Ordering::Relaxed),
                    pending: s.pending.load(Ordering::Relaxed),
                    dropped: s.lost(),
                    healthy: s.healthy.load(Ordering::Relaxed),
                    delivery: s.delivery.as_ref().map(|d| d.snapshot()),
                })
                .collect(),
        }
    }
}

/// Records lost at the hand-off, per class, since the worker last wrote a
/// notice about them.
#[derive(Debug, Default)]
pub(crate) struct Drops {
    pub(super) dirty: AtomicBool,
    pub(super) total: AtomicU64,
    windows: Mutex<BTreeMap<String, DropWindow>>,
}

#[derive(Debug, Default, Clone)]
pub(super) struct DropWindow {
    pub(super) pending: u64,
    pub(super) first: u64,
    pub(super) last: u64,
    total: u64,
}

impl Drops {
    pub(super) fn record(&self, class: &str, ts: u64) {
        let mut w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let win = match w.get_mut(class) {
            Some(win) => win,
            None => w.entry(class.to_owned()).or_default(),
        };
        if win.pending == 0 {
            win.first = ts;
        }
        win.pending += 1;
        win.total += 1;
        win.last = win.last.max(ts);
        self.total.fetch_add(1, Ordering::Relaxed);
        self.dirty.store(true, Ordering::Release);
    }

    /// Takes the windows with unreported drops.
    pub(super) fn take(&self) -> Vec<(String, DropWindow)> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        let mut w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        for (class, win) in w.iter_mut() {
            if win.pending > 0 {
                out.push((class.clone(), win.clone()));
                win.pending = 0;
                win.last = 0;
            }
        }
        out
    }

    pub(super) fn by_class(&self) -> Vec<(String, u64)> {
        let w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        w.iter().map(|(c, win)| (c.clone(), win.total)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_windows_count_exactly_and_reset_when_taken() {
        let d = Drops::default();
        d.record("info", 10);
        d.record("info", 30);
        d.record("error", 20);
        let taken = d.take();
        assert_eq!(taken.len(), 2);
        let info = &taken.iter().find(|(c, _)| c == "info").unwrap().1;
        assert_eq!((info.pending, info.first, info.last), (2, 10, 30));
        assert!(d.take().is_empty());
        d.record("info", 40);
        assert_eq!(d.take()[0].1.pending, 1);
        assert_eq!(
            d.by_class(),
            [("error".to_owned(), 1), ("info".to_owned(), 3)]
        );
        assert_eq!(d.total.load(Ordering::Relaxed), 4);
    }
}
