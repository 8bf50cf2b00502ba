//! Handing the worker's batches to the sinks: each sink's failure episode,
//! its backlog kept for retry (within the retry buffer), backoff between
//! attempts, and the notices about failures, recoveries and lost records.
//! A sink that panics is treated as failed for good, never as the worker's
//! end.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::Level;

use super::sink_slot::{backoff, guarded};
use super::worker::Worker;
use crate::record::Record;
use crate::sink::{Batch, Sink, SinkError, error_chain};

/// How often a sink that keeps losing records gets a notice about it.
const SINK_DROP_NOTICE_EVERY: Duration = Duration::from_secs(60);

impl Worker {
    /// Writes the batch (and any due retries) to every sink.
    pub(super) fn deliver(&mut self, force_notices: bool) {
        self.note_drops(force_notices);
        self.internal.append(&mut self.inbox.take());
        // Notices raised while delivering go out in the same round, so a
        // failure report is not left waiting for the next event.
        for _ in 0..2 {
            for mut rec in std::mem::take(&mut self.internal) {
                rec.ts = self.now();
                self.process(&rec);
            }
            let now = Instant::now();
            for i in 0..self.sinks.len() {
                self.deliver_to(i, now);
            }
            if !self.batch.is_empty() {
                self.unflushed = true;
            }
            self.batch.clear();
            // What a sink posted while writing (a retention removal) goes
            // out in this round too.
            self.internal.append(&mut self.inbox.take());
            if self.internal.is_empty() {
                break;
            }
        }
    }

    pub(super) fn deliver_to(&mut self, i: usize, now: Instant) {
        let slot = &mut self.sinks[i];
        if slot.failing_since.is_none() {
            if self.batch.is_empty() {
                return;
            }
            match guarded(|| slot.sink.write(&self.batch)) {
                Ok(()) => {
                    slot.counters
                        .written
                        .fetch_add(self.batch.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    let kept = e.accepted().min(self.batch.len());
                    slot.counters
                        .written
                        .fetch_add(kept as u64, Ordering::Relaxed);
                    let mut rest = Batch::new();
                    rest.extend_from(&self.batch, kept);
                    self.fail(i, e, rest, now);
                }
            }
        } else {
            slot.pending.extend_from(&self.batch, 0);
            self.trim_pending(i);
            if now >= self.sinks[i].next_retry {
                self.retry(i, now);
            }
        }
        self.sinks[i].publish();
    }

    /// Starts or continues a failure episode for sink `i`.
    pub(super) fn fail(&mut self, i: usize, e: SinkError, rest: Batch, now: Instant) {
        let slot = &mut self.sinks[i];
        slot.counters.failures.fetch_add(1, Ordering::Relaxed);
        slot.counters.trouble.failed(
            &error_chain(&e),
            slot.counters.dropped.load(Ordering::Relaxed),
        );
        if e.is_retryable() {
            slot.pending = rest;
        } else {
            slot.counters
                .dropped
                .fetch_add(rest.len() as u64, Ordering::Relaxed);
            for e in rest.iter() {
                slot.unreported_drops.add(e.stream(), e.seq());
            }
            slot.pending.clear();
        }
        slot.attempts += 1;
        slot.next_retry = now + backoff(slot.attempts);
        let first = slot.failing_since.is_none();
        if first {
            slot.failing_since = Some(now);
            let name = slot.name().to_owned();
            let why = error_chain(&e);
            eprintln!("evtrail: sink `{name}` failed: {why}; retrying in the background");
            let mut rec = Record::internal(
                Level::ERROR,
                "evtrail.sink_failed",
                &format!("sink `{name}` failed: {why}"),
            );
            rec.fields.add_str("class", "error");
            rec.fields.add_str("sink", &name);
            rec.fields.add_str("error", &why);
            rec.fields.push(
                "retryable",
                crate::record::Val::Bool(e.is_retryable()),
                false,
            );
            self.internal.push(rec);
        }
        self.trim_pending(i);
        self.note_sink_drops(i, false);
    }

    /// Keeps a failing sink's backlog within bounds, oldest out first;
    /// evtrail's own notices and chain records stay (they are few, and
    /// without them a gap could not be told from a deletion).
    fn trim_pending(&mut self, i: usize) {
        let slot = &mut self.sinks[i];
        if slot.pending.bytes() <= self.retry_buffer_bytes {
            return;
        }
        let lost = &mut slot.unreported_drops;
        let before = lost.count();
        slot.pending
            .evict_front(self.retry_buffer_bytes, |stream, seq| lost.add(stream, seq));
        let n = lost.count() - before;
        slot.counters.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Writes an `evtrail.dropped` notice for what sink `i` lost: when
    /// `now_anyway` (recovery, shutdown), else at most once a minute, so a
    /// sink that is down for good does not fill the log with notices.
    pub(super) fn note_sink_drops(&mut self, i: usize, now_anyway: bool) {
        let slot = &mut self.sinks[i];
        if slot.unreported_drops.is_empty()
            || !(now_anyway || slot.drops_noted_at.elapsed() >= SINK_DROP_NOTICE_EVERY)
        {
            return;
        }
        slot.drops_noted_at = Instant::now();
        let lost = slot.unreported_drops.take();
        let n = lost.count();
        let name = slot.name().to_owned();
        let mut rec = Record::internal(
            Level::WARN,
            "evtrail.dropped",
            &format!("{n} records dropped by sink `{name}` while it was failing"),
        );
        rec.fields.add_str("class", "error");
        rec.fields.add_u64("count", n);
        rec.fields.add_str("reason", "sink_failed");
        rec.fields.add_str("ranges", &lost.to_field());
        rec.fields.add_str("sink", &name);
        self.internal.push(rec);
    }

    /// Tries a failing sink's backlog again.
    pub(super) fn retry(&mut self, i: usize, now: Instant) {
        let slot = &mut self.sinks[i];
        if !slot.has_retry_work() {
            return;
        }
        let result = if slot.pending.is_empty() {
            Ok(())
        } else {
            guarded(|| slot.sink.write(&slot.pending))
        }
        .and_then(|()| guarded(|| slot.sink.flush()));
        match result {
            Ok(()) => {
                let n = slot.pending.len();
                slot.counters.written.fetch_add(n as u64, Ordering::Relaxed);
                slot.pending.clear();
                slot.flush_failed = false;
                let since = slot.failing_since.take().unwrap_or(now);
                slot.counters.trouble.recovered();
                let attempts = std::mem::take(&mut slot.attempts);
                let name = slot.name().to_owned();
                eprintln!("evtrail: sink `{name}` recovered after {attempts} failed attempts");
                let mut rec = Record::internal(
                    Level::INFO,
                    "evtrail.sink_recovered",
                    &format!("sink `{name}` recovered"),
                );
                rec.fields.add_str("sink", &name);
                rec.fields.add_u64("attempts", attempts as u64);
                rec.fields.add_u64("delivered", n as u64);
                rec.fields
                    .add_u64("outage_ms", now.duration_since(since).as_millis() as u64);
                self.internal.push(rec);
                self.note_sink_drops(i, true);
            }
            Err(e) => {
                let kept = e.accepted().min(slot.pending.len());
                slot.counters
                    .written
                    .fetch_add(kept as u64, Ordering::Relaxed);
                slot.pending.drain_front(kept);
                let rest = std::mem::take(&mut slot.pending);
                self.fail(i, e, rest, now);
            }
        }
        self.sinks[i].publish();
    }

    pub(super) fn flush_sinks(&mut self) {
        let now = Instant::now();
        for i in 0..self.sinks.len() {
            if self.sinks[i].failing_since.is_some() {
                continue;
            }
            let sink = &mut self.sinks[i].sink;
            if let Err(e) = guarded(|| sink.flush()) {
                self.sinks[i].flush_failed = true;
                self.fail(i, e, Batch::new(), now);
                self.sinks[i].publish();
            }
        }
        self.last_flush = now;
        self.unflushed = false;
    }
}
