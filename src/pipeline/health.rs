//! Logging's own health: whether each sink is keeping up, since when it
//! is not and why, how full the queue is and how much was lost in the last
//! minute ([`Handle::health`]), and the same counters in the Prometheus
//! text format ([`Handle::metrics_text`], in `metrics.rs`).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::lifecycle::Handle;
use super::stats::{Counters, SinkCounters, Stats};

/// How long a sink may keep failing, without losing records, before it
/// counts as [`HealthStatus::Failing`] rather than degraded.
pub const FAILING_AFTER: Duration = Duration::from_secs(30);

/// The window [`Health::lost_last_minute`] counts over.
const MINUTE: Duration = Duration::from_secs(60);

/// The queue fill ratio from which the pipeline counts as degraded.
const QUEUE_FILL_DEGRADED: f64 = 0.9;

/// Ok, degraded or failing; ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HealthStatus {
    /// Everything is written as it comes.
    Ok,
    /// Nothing is lost yet, but something is behind: a sink is retrying,
    /// an HTTP sink has records in its spool, the queue is nearly full, or
    /// records were dropped at the hand-off in the last minute.
    Degraded,
    /// A sink is losing records, or has been failing for longer than
    /// [`FAILING_AFTER`].
    Failing,
}

impl HealthStatus {
    /// `ok`, `degraded` or `failing`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Ok => "ok",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Failing => "failing",
        }
    }
}

/// One sink's health.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SinkHealth {
    /// The sink's name.
    pub name: String,
    /// Its status.
    pub status: HealthStatus,
    /// Since when it has been failing, while it is.
    pub failing_since: Option<SystemTime>,
    /// Its last error and when it happened (kept after recovery).
    pub last_error: Option<(SystemTime, String)>,
}

/// A snapshot of the pipeline's health; see [`Handle::health`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Health {
    /// The worst of the sinks' statuses, and at least
    /// [`Degraded`](HealthStatus::Degraded) when the queue is nearly full
    /// or the hand-off dropped records in the last minute.
    pub status: HealthStatus,
    /// The hand-off queue's depth over its capacity, 0.0 to 1.0.
    pub queue_fill: f64,
    /// Records lost in about the last minute: dropped at the hand-off or
    /// by a sink.
    pub lost_last_minute: u64,
    /// Each sink, in the order they were added.
    pub sinks: Vec<SinkHealth>,
}

/// A sink's current failure episode and its last error, published by the
/// worker.
#[derive(Debug, Default)]
pub(crate) struct SinkTrouble {
    inner: Mutex<TroubleState>,
}

#[derive(Debug, Default)]
struct TroubleState {
    /// When the episode began and the sink's drops at that moment.
    episode: Option<(SystemTime, Instant, u64)>,
    last_error: Option<(SystemTime, String)>,
}

impl SinkTrouble {
    /// A failed write or flush: starts an episode if none is running.
    pub(crate) fn failed(&self, error: &str, dropped: u64) {
        let mut t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = SystemTime::now();
        if t.episode.is_none() {
            t.episode = Some((now, Instant::now(), dropped));
        }
        t.last_error = Some((now, error.to_owned()));
    }

    /// The sink took its backlog again.
    pub(crate) fn recovered(&self) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .episode = None;
    }
}

/// Samples of the loss counters, at most one a second, for "lost in the
/// last minute". Taken by the worker as it delivers and by every health
/// or metrics call.
#[derive(Debug, Default)]
pub(crate) struct RecentLosses {
    samples: Mutex<VecDeque<(Instant, u64, u64)>>,
}

impl RecentLosses {
    /// Records the totals now (hand-off drops, all losses), and returns
    /// what was lost since about a minute ago: (hand-off, all).
    pub(crate) fn sample(&self, handoff: u64, all: u64) -> (u64, u64) {
        let now = Instant::now();
        let mut s = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if s.back()
            .is_none_or(|b| now.duration_since(b.0) >= Duration::from_secs(1))
        {
            s.push_back((now, handoff, all));
        }
        // Keep one sample at or before the minute's start as the base.
        while s.len() > 1 && now.duration_since(s[1].0) >= MINUTE {
            s.pop_front();
        }
        let base = s
            .front()
            .filter(|f| now.duration_since(f.0) >= MINUTE)
            .map_or((0, 0), |f| (f.1, f.2));
        // Younger than a minute: everything since the start counts.
        (handoff.saturating_sub(base.0), all.saturating_sub(base.1))
    }
}

impl Counters {
    /// Feeds the loss samples: `handoff` records dropped at the hand-off,
    /// plus what every sink lost (as [`SinkStats::dropped`](super::SinkStats::dropped)
    /// counts it). Returns what was lost in about the last minute.
    pub(crate) fn sample_losses(&self, handoff: u64) -> (u64, u64) {
        let sinks: u64 = self.sinks.iter().map(|s| s.lost()).sum();
        self.recent.sample(handoff, handoff + sinks)
    }
}

fn sink_health(counters: &SinkCounters, stats: &super::stats::SinkStats) -> SinkHealth {
    let t = counters
        .trouble
        .inner
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let behind = stats
        .delivery
        .as_ref()
        .is_some_and(|d| d.spooled > 0 || d.pushes_failed > 0 && d.in_memory > 0);
    let status = match t.episode {
        Some((_, started, dropped_before)) => {
            if stats.dropped > dropped_before || started.elapsed() >= FAILING_AFTER {
                HealthStatus::Failing
            } else {
                HealthStatus::Degraded
            }
        }
        None if behind => HealthStatus::Degraded,
        None => HealthStatus::Ok,
    };
    SinkHealth {
        name: stats.name.clone(),
        status,
        failing_since: t.episode.map(|e| e.0),
        last_error: t.last_error.clone(),
    }
}

impl Handle {
    /// Whether logging itself is healthy: per sink ok, degraded or failing
    /// with its last error and since when; the queue's fill; what was lost
    /// in the last minute. Cheap: meant for a health endpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_layer, guard) = evtrail::builder()
    ///     .unsigned()
    ///     .add_sink(evtrail::MemorySink::new())
    ///     .build()?;
    /// let health = guard.health();
    /// assert_eq!(health.status, evtrail::HealthStatus::Ok);
    /// assert_eq!(health.sinks[0].name, "memory");
    /// # Ok::<(), evtrail::Error>(())
    /// ```
    pub fn health(&self) -> Health {
        let stats = self.stats();
        self.health_of(&stats)
    }

    pub(super) fn health_of(&self, stats: &Stats) -> Health {
        let counters = &self.shared.counters;
        let (handoff_lost, lost) = counters.sample_losses(stats.dropped);
        let sinks: Vec<SinkHealth> = counters
            .sinks
            .iter()
            .zip(&stats.sinks)
            .map(|(c, s)| sink_health(c, s))
            .collect();
        let queue_fill = if stats.capacity == 0 {
            0.0
        } else {
            (stats.queue_depth as f64 / stats.capacity as f64).min(1.0)
        };
        let mut status = sinks
            .iter()
            .map(|s| s.status)
            .max()
            .unwrap_or(HealthStatus::Ok);
        if handoff_lost > 0 || queue_fill >= QUEUE_FILL_DEGRADED {
            status = status.max(HealthStatus::Degraded);
        }
        Health {
            status,
            queue_fill,
            lost_last_minute: lost,
            sinks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_count_since_the_start_until_a_minute_has_passed() {
        let r = RecentLosses::default();
        assert_eq!(r.sample(0, 0), (0, 0));
        assert_eq!(r.sample(5, 7), (5, 7));
        // Within the same second no new sample, the answer still grows.
        assert_eq!(r.sample(6, 9), (6, 9));
    }

    #[test]
    fn an_old_sample_is_the_base() {
        let r = RecentLosses::default();
        let long_ago = Instant::now()
            .checked_sub(Duration::from_secs(90))
            .expect("the clock is older than 90 s");
        r.samples.lock().unwrap().push_back((long_ago, 10, 20));
        assert_eq!(r.sample(15, 30), (5, 10));
    }

    #[test]
    fn statuses_order_from_best_to_worst() {
        assert!(HealthStatus::Ok < HealthStatus::Degraded);
        assert!(HealthStatus::Degraded < HealthStatus::Failing);
        assert_eq!(HealthStatus::Failing.as_str(), "failing");
    }
}
