//! Logging's own health and metrics: a sink made to fail turns the health
//! degraded, then failing, and ok again after it recovers; the metrics
//! text parses and carries the same counts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::dispatch;
use evtrail::sink::{Batch, Sink, SinkError};
use evtrail::{Guard, HealthStatus, MemorySink, Overflow};

/// A sink that fails while its switch is on.
struct Flaky {
    down: Arc<AtomicBool>,
}

impl Sink for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }

    fn write(&mut self, _batch: &Batch) -> Result<(), SinkError> {
        if self.down.load(Ordering::SeqCst) {
            Err(SinkError::retryable("disk on fire"))
        } else {
            Ok(())
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

fn emit(d: &tracing::Dispatch, n: usize) {
    tracing::dispatcher::with_default(d, || {
        for i in 0..n {
            tracing::info!(i, payload = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "event {i}");
        }
    });
}

fn wait_for(guard: &Guard, what: &str, ok: impl Fn(&evtrail::Health) -> bool) -> evtrail::Health {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let h = guard.health();
        if ok(&h) {
            return h;
        }
        assert!(Instant::now() < give_up, "never {what}: {h:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Samples of `name` with label `sink` = `sink` (and the other labels
/// given), parsed with a Prometheus text-format parser.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the metrics text parses");
    let hits: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("unexpected value {other:?}"),
        })
        .collect();
    assert_eq!(hits.len(), 1, "one sample of {name}{labels:?} in:\n{text}");
    hits[0]
}

#[test]
fn a_failing_sink_is_degraded_then_failing_then_ok_again() {
    let down = Arc::new(AtomicBool::new(false));
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("health")
        .overflow(Overflow::Block)
        .retry_buffer_bytes(4 * 1024)
        .add_sink(MemorySink::new())
        .add_sink(Flaky { down: down.clone() })
        .build()
        .unwrap();
    let d = dispatch(layer);
    emit(&d, 10);
    guard.flush(Duration::from_secs(5)).unwrap();
    let h = guard.health();
    assert_eq!(h.status, HealthStatus::Ok, "{h:?}");
    assert!(
        h.sinks
            .iter()
            .all(|s| s.status == HealthStatus::Ok && s.last_error.is_none())
    );

    // Down, but nothing lost yet: degraded, with the error and since when.
    down.store(true, Ordering::SeqCst);
    emit(&d, 1);
    let _ = guard.flush(Duration::from_secs(5));
    let h = wait_for(&guard, "degraded", |h| h.status == HealthStatus::Degraded);
    let flaky = &h.sinks[1];
    assert_eq!(flaky.name, "flaky");
    assert_eq!(flaky.status, HealthStatus::Degraded);
    assert!(flaky.failing_since.is_some());
    assert!(
        flaky
            .last_error
            .as_ref()
            .unwrap()
            .1
            .contains("disk on fire"),
        "{flaky:?}"
    );
    assert_eq!(h.sinks[0].status, HealthStatus::Ok);

    // Past its retry buffer it loses records: failing.
    emit(&d, 500);
    let _ = guard.flush(Duration::from_secs(5));
    let h = wait_for(&guard, "failing", |h| h.status == HealthStatus::Failing);
    assert_eq!(h.sinks[1].status, HealthStatus::Failing);
    assert!(h.lost_last_minute > 0, "{h:?}");
    let stats = guard.stats();
    assert!(stats.sinks[1].dropped > 0);

    let text = guard.metrics_text();
    assert_eq!(
        value(&text, "evtrail_sink_dropped_total", &[("sink", "flaky")]),
        stats.sinks[1].dropped as f64
    );
    assert_eq!(
        value(
            &text,
            "evtrail_sink_health",
            &[("sink", "flaky"), ("status", "failing")]
        ),
        1.0
    );
    assert_eq!(
        value(&text, "evtrail_health", &[("status", "failing")]),
        1.0
    );
    assert_eq!(value(&text, "evtrail_health", &[("status", "ok")]), 0.0);
    assert!(value(&text, "evtrail_records_lost_last_minute", &[]) > 0.0);
    assert_eq!(
        value(&text, "evtrail_sink_written_total", &[("sink", "memory")]),
        stats.sinks[0].written as f64
    );

    // Back up: the next retry delivers the backlog and health is ok; the
    // last error stays for whoever looks.
    down.store(false, Ordering::SeqCst);
    let h = wait_for(&guard, "ok again", |h| {
        emit(&d, 1);
        h.status == HealthStatus::Ok
    });
    assert!(h.sinks[1].failing_since.is_none());
    assert!(h.sinks[1].last_error.is_some());
    let text = guard.metrics_text();
    assert_eq!(value(&text, "evtrail_health", &[("status", "ok")]), 1.0);
    guard.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_full_queue_is_degraded_and_its_drops_are_counted_in_the_last_minute() {
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .capacity(1)
        .overflow(Overflow::DropNewest)
        .add_sink(Slow)
        .build()
        .unwrap();
    let d = dispatch(layer);
    emit(&d, 200);
    let h = guard.health();
    let stats = guard.stats();
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(h.status, HealthStatus::Degraded, "{h:?}");
    assert!(h.lost_last_minute >= stats.dropped, "{h:?} {stats:?}");
    let text = guard.metrics_text();
    let by_class = value(&text, "evtrail_records_dropped_total", &[("class", "info")]);
    assert!(by_class > 0.0, "{text}");
    assert_eq!(value(&text, "evtrail_queue_capacity", &[]), 1.0);
}

/// A sink slow enough that a one-record queue overflows.
struct Slow;

impl Sink for Slow {
    fn name(&self) -> &str {
        "slow"
    }

    fn write(&mut self, _batch: &Batch) -> Result<(), SinkError> {
        std::thread::sleep(Duration::from_millis(5));
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn label_values_with_quotes_and_backslashes_still_parse() {
    struct Named;
    impl Sink for Named {
        fn name(&self) -> &str {
            "we\"ird\\name"
        }
        fn write(&mut self, _batch: &Batch) -> Result<(), SinkError> {
            Ok(())
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
    }
    let (_layer, guard) = evtrail::builder()
        .unsigned()
        .add_sink(Named)
        .build()
        .unwrap();
    let text = guard.metrics_text();
    assert!(
        text.contains(r#"evtrail_sink_written_total{sink="we\"ird\\name"} 0"#),
        "{text}"
    );
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("parses");
}
