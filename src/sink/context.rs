//! What the pipeline offers a sink when it starts: [`SinkContext`].
//!
//! Sinks that deliver on a thread of their own (the HTTP sink) use it to
//! record events about their work (`evtrail.push`, `evtrail.dropped`), to
//! publish delivery counters, and to be waited for by
//! [`Handle::flush`](crate::Handle::flush) and shutdown.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::record::Record;

/// What the pipeline offers a sink when it starts; see
/// [`Sink::attach`](crate::Sink::attach).
///
/// Reporting events and delivery counters through the context is reserved
/// for evtrail's own sinks for now.
#[derive(Debug)]
pub struct SinkContext {
    pub(crate) log_dir: Option<PathBuf>,
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) inbox: Arc<Inbox>,
    pub(crate) drains: Vec<Arc<dyn Drain>>,
    pub(crate) delivery: Option<Arc<DeliveryCounters>>,
    /// Whether the pipeline signs: only then do records about the log's
    /// own files (`evtrail.files_removed`) belong in its chain.
    pub(crate) signed: bool,
    /// With a signed log directory: each stream and the last `seq` its
    /// files held when the pipeline started. A signed stream's `seq`s go on
    /// across runs, so the files can be read again from any `seq` on.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) resumed: Option<Vec<(String, u64)>>,
}

impl SinkContext {
    pub(crate) fn new(log_dir: Option<PathBuf>, inbox: Arc<Inbox>) -> SinkContext {
        SinkContext {
            log_dir,
            inbox,
            drains: Vec::new(),
            delivery: None,
            signed: false,
            resumed: None,
        }
    }

    /// The pipeline's log directory, when it has one
    /// ([`Builder::log_dir`](crate::Builder::log_dir)).
    pub fn log_dir(&self) -> Option<&Path> {
        self.log_dir.as_deref()
    }
}

/// Records evtrail's own threads write about their work, picked up by the
/// worker with its next batch. Posting wakes an idle worker.
#[derive(Debug)]
pub(crate) struct Inbox {
    records: Mutex<Vec<Record>>,
    wake: Sender<()>,
}

impl Inbox {
    pub(crate) fn new(wake: Sender<()>) -> Inbox {
        Inbox {
            records: Mutex::new(Vec::new()),
            wake,
        }
    }

    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn post(&self, rec: Record) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(rec);
        // A full wake channel already holds a wake-up.
        let _ = self.wake.try_send(());
    }

    pub(crate) fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A sink whose records travel on after [`Sink::write`](crate::Sink::write)
/// returns: flush and shutdown wait for it.
pub(crate) trait Drain: Send + Sync + std::fmt::Debug {
    /// Waits until every record handed over so far is delivered (or
    /// definitely not deliverable), or `deadline` passes. The error says
    /// what is still waiting.
    fn wait(&self, deadline: Instant) -> Result<(), String>;

    /// At shutdown, before the segments end: moves what waits in memory to
    /// durable storage, so that what does not fit is reported while it
    /// still can be. The sink goes on sending until it is closed.
    fn spill(&self) {}
}

/// Records handed to a sink's own thread and records settled there
/// (delivered, given up or dropped), for [`Drain::wait`] to wait on.
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) struct Progress {
    counts: Mutex<(u64, u64)>,
    settled: Condvar,
    /// Waiters wanting what is held back sent now.
    urgent: AtomicU32,
}

#[cfg_attr(not(feature = "http"), allow(dead_code))]
impl Progress {
    /// Progress that starts with `handed` records to settle (restored
    /// from a spool).
    pub(crate) fn new(handed: u64) -> Progress {
        Progress {
            counts: Mutex::new((handed, 0)),
            ..Progress::default()
        }
    }

    pub(crate) fn add_handed(&self, n: u64) {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).0 += n;
    }

    pub(crate) fn add_settled(&self, n: u64) {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).1 += n;
        self.settled.notify_all();
    }

    /// Whether someone waits for everything to be settled.
    pub(crate) fn is_urgent(&self) -> bool {
        self.urgent.load(Ordering::Acquire) > 0
    }

    /// Waits until every record handed over so far is settled, or
    /// `deadline`; `urge` is called once if that means waiting. The error
    /// is how many are not settled.
    pub(crate) fn wait(&self, deadline: Instant, urge: impl FnOnce()) -> Result<(), u64> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let target = counts.0;
        if counts.1 >= target {
            return Ok(());
        }
        self.urgent.fetch_add(1, Ordering::AcqRel);
        urge();
        while counts.1 < target {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            counts = self
                .settled
                .wait_timeout(counts, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        self.urgent.fetch_sub(1, Ordering::AcqRel);
        if counts.1 >= target {
            Ok(())
        } else {
            Err(target - counts.1)
        }
    }
}

/// Delivery counters of a sink that delivers on its own thread.
#[derive(Debug, Default)]
pub(crate) struct DeliveryCounters {
    pub(crate) pushes_ok: AtomicU64,
    pub(crate) pushes_failed: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) spooled: AtomicU64,
    pub(crate) spool_bytes: AtomicU64,
    pub(crate) in_memory: AtomicU64,
    /// Records lost after the hand-over (a full spool); part of
    /// [`SinkStats::dropped`](crate::SinkStats::dropped).
    pub(crate) dropped: AtomicU64,
}

impl DeliveryCounters {
    pub(crate) fn snapshot(&self) -> DeliveryStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DeliveryStats {
            pushes_ok: get(&self.pushes_ok),
            pushes_failed: get(&self.pushes_failed),
            delivered: get(&self.delivered),
            dead_lettered: get(&self.dead_lettered),
            spooled: get(&self.spooled),
            spool_bytes: get(&self.spool_bytes),
            in_memory: get(&self.in_memory),
        }
    }
}

/// Delivery counters of a sink that sends records on from a thread of its
/// own (the `HttpSink` of the `http` feature); see
/// [`SinkStats::delivery`](crate::SinkStats::delivery).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryStats {
    /// Delivery attempts that succeeded (one per request).
    pub pushes_ok: u64,
    /// Delivery attempts that failed: connection errors, timeouts, error
    /// statuses, rejections.
    pub pushes_failed: u64,
    /// Records the receiver accepted.
    pub delivered: u64,
    /// Records the receiver refused for good, now in the dead-letter file.
    pub dead_lettered: u64,
    /// Records waiting in the on-disk spool.
    pub spooled: u64,
    /// The spool's size on disk, in bytes.
    pub spool_bytes: u64,
    /// Records waiting in memory (queued or being sent).
    pub in_memory: u64,
}
