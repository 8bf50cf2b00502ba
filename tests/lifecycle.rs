//! Flush, shutdown and the guard.

mod common;

use std::time::Duration;

use common::{Emitters, WAIT, dispatch, parse};
use evtrail::sink::{Batch, Sink, SinkError};
use evtrail::{ErrorKind, MemorySink, Overflow};

/// Slows every write down, so a flush that returned early would be caught.
#[derive(Clone)]
struct Slow(MemorySink);

impl Sink for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        std::thread::sleep(Duration::from_millis(3));
        self.0.write(batch)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn dropping_the_guard_writes_everything_sent_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .overflow(Overflow::Block)
        .log_dir(dir.path())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for i in 0..10_000 {
            tracing::info!(i, "event");
        }
    });
    drop(guard);
    let log = std::fs::read_to_string(dir.path().join("app.log")).unwrap();
    assert_eq!(log.lines().count(), 10_000);
    assert!(log.lines().last().unwrap().contains(r#""i":9999"#));
}

#[test]
fn flush_returns_only_when_sent_events_are_on_the_sink() {
    let sink = MemorySink::new();
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .overflow(Overflow::Block)
        .batch_size(16)
        .add_sink(Slow(sink.clone()))
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for i in 0..500 {
            tracing::info!(i, "event");
        }
    });
    guard.flush(WAIT).unwrap();
    assert_eq!(sink.len(), 500);
}

#[test]
fn flush_works_while_other_threads_keep_the_queue_busy() {
    let sink = MemorySink::new();
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .capacity(8)
        .overflow(Overflow::Block)
        .add_sink(sink.clone())
        .build()
        .unwrap();
    let producer = Emitters::start(&dispatch(layer), 1);
    for _ in 0..5 {
        let before = producer.emitted();
        guard.flush(WAIT).unwrap();
        assert!(
            sink.len() as u64 >= before,
            "flush returned before earlier events were written"
        );
    }
    producer.stop();
}

#[test]
fn shutdown_is_idempotent_and_later_events_are_counted_as_dropped() {
    let (sink, layer, guard) = common::memory_pipeline();
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || tracing::info!("before"));
    guard.shutdown(WAIT).unwrap();
    guard.shutdown(WAIT).unwrap();
    assert_eq!(sink.len(), 1);
    tracing::dispatcher::with_default(&d, || tracing::warn!(class = "audit", "after"));
    let stats = guard.stats();
    assert_eq!(stats.dropped, 1);
    assert_eq!(stats.dropped_by_class, [("audit".to_owned(), 1)]);
    assert_eq!(guard.flush(WAIT).unwrap_err().kind(), ErrorKind::Closed);
    drop(guard);
    assert_eq!(sink.len(), 1);
}

#[test]
fn a_handle_outlives_the_guard_and_stats_count_per_sink() {
    let a = MemorySink::new();
    let b = MemorySink::new();
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .add_sink(a.clone())
        .add_sink(b.clone())
        .build()
        .unwrap();
    let handle = guard.handle();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for _ in 0..10 {
            tracing::info!("x");
        }
    });
    handle.flush(WAIT).unwrap();
    let stats = handle.stats();
    assert_eq!((stats.accepted, stats.written, stats.dropped), (10, 10, 0));
    assert_eq!(stats.capacity, evtrail::DEFAULT_CAPACITY);
    assert_eq!(stats.sinks.len(), 2);
    assert!(
        stats
            .sinks
            .iter()
            .all(|s| s.written == 10 && s.healthy && s.failures == 0)
    );
    drop(guard);
    assert_eq!(handle.flush(WAIT).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(parse(&b.lines()).len(), 10);
}

#[test]
fn the_worker_flushes_on_its_own_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .log_dir(dir.path())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || tracing::info!("lonely"));
    // No flush call: the worker writes as soon as it has caught up.
    let deadline = std::time::Instant::now() + WAIT;
    let path = dir.path().join("app.log");
    while std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .count()
        < 1
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the record never reached the file"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(guard);
}
