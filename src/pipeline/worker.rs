//! The worker thread: takes records off the queue in batches, routes,
//! numbers, encodes and signs them into its streams, writes the chain
//! markers (segments, seals, key rotations), rolls segments, and shuts
//! down in order. Handing the batches to the sinks is in `delivery`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use tracing::Level;

#[cfg(feature = "config")]
use super::handoff::Reconfigure;
use super::handoff::{Msg, Room, sweep};
use super::sink_slot::{RETRY_MAX, SinkSlot, guarded};
use super::stats::Counters;
use super::stats::Drops;
use crate::encode::{Encoder, Resolved};
use crate::error::{Error, ErrorKind};
use crate::key::Key;
use crate::marker::{self, Marker};
use crate::marker::{PrevEnd, Resume};
use crate::record::{Buffers, Record};
use crate::rotation::{Clock, Rotation, nanos};
use crate::route::{RouteInput, Router};
use crate::sign::{Chain, Seal, State, StateSaver, StreamState as StateEntry};
use crate::sink::{Batch, Drain, Inbox, error_chain};
use crate::thread::mark_evtrail_thread;
use crate::time::{now_nanos, ts_string};

/// How often a recently busy worker looks at an empty queue.
///
/// A worker parked on the channel must be woken by the producer's send: a
/// system call, and on a virtual machine often an interrupt to another CPU,
/// paid by the application's thread for every record when records come one
/// at a time. So after handling records the worker sleeps in short ticks
/// instead, for [`LINGER_FOR`], and a send to it costs the producer nothing
/// more than the enqueue. Records then reach the sinks up to a tick later.
const LINGER_TICK: Duration = Duration::from_micros(200);
/// How long after its last record the worker keeps polling every
/// [`LINGER_TICK`] before it parks (and producers wake it again).
const LINGER_FOR: Duration = Duration::from_millis(20);

/// The least time between two notices about hand-off drops while they
/// keep happening.
const DROP_NOTICE_EVERY: Duration = Duration::from_millis(100);

/// At most how much of the shutdown's timeout is kept, after waiting for
/// the sinks that deliver on their own threads, for closing them and
/// writing the last records.
const CLOSE_RESERVE: Duration = Duration::from_millis(500);

/// What the worker thread owns: its end of the queue, the streams and
/// sinks, the batch being built and the signing state.
pub(super) struct Worker {
    pub(super) rx: Receiver<Msg>,
    /// Where emptied record buffers go back to the emitting threads.
    pub(super) pool: Sender<Buffers>,
    /// Where producers wait for the queue to drain.
    pub(super) room: Arc<Room>,
    /// Woken when another evtrail thread posts to the inbox.
    pub(super) wake_rx: Receiver<()>,
    pub(super) inbox: Arc<Inbox>,
    pub(super) drains: Vec<Arc<dyn Drain>>,
    pub(super) drops: Arc<Drops>,
    pub(super) counters: Arc<Counters>,
    pub(super) encoder: Encoder,
    pub(super) router: Router,
    pub(super) streams: Vec<StreamSlot>,
    pub(super) sinks: Vec<SinkSlot>,
    pub(super) batch: Batch,
    /// Records evtrail writes about itself, encoded with the next batch.
    pub(super) internal: Vec<Record>,
    pub(super) route_buf: Vec<usize>,
    pub(super) batch_size: usize,
    pub(super) flush_interval: Duration,
    pub(super) retry_buffer_bytes: usize,
    pub(super) last_flush: Instant,
    pub(super) unflushed: bool,
    /// Until when the worker polls instead of parking; see [`LINGER_TICK`].
    pub(super) linger_until: Instant,
    pub(super) drops_noted_at: Instant,
    pub(super) seals: Arc<Mutex<Vec<Option<Seal>>>>,
    pub(super) signing: Option<SignPolicy>,
    pub(super) rotation: Rotation,
    pub(super) clock: Option<Arc<dyn Clock>>,
}

impl Drop for Worker {
    /// However the worker ends (a panic included), producers stop waiting
    /// for it, what is left in the queue is counted as dropped, and so is
    /// what they send from now on (see
    /// [`Shared::after_send`](super::Shared::after_send)).
    fn drop(&mut self) {
        self.room.retire();
        sweep(&self.rx, &self.drops);
    }
}

/// One stream on the worker.
pub(super) struct StreamSlot {
    pub(super) name: Arc<str>,
    /// The last sequence number used.
    pub(super) seq: u64,
    /// `None` when the pipeline is unsigned.
    pub(super) chain: Option<Chain>,
    /// How the previous run ended, until the first segment has started.
    pub(super) resume: Option<Resume>,
    pub(super) last_seal: Instant,
    /// Bytes in the current segment (its file), newlines included.
    pub(super) bytes: u64,
    /// When the current segment ends by time.
    pub(super) boundary: Option<u64>,
    /// Unsigned streams have no start marker: the next record itself
    /// starts the new segment.
    pub(super) pending_start: bool,
}

impl StreamSlot {
    /// Numbers `rec` as the stream's next record, encodes it into `batch`,
    /// signs it when the stream is chained (else closes it unsigned), and
    /// closes its entry; the line counts towards the segment's size. Every
    /// line of a stream, an event's or a marker's, is written this way.
    fn append(
        &mut self,
        encoder: &mut Encoder,
        batch: &mut Batch,
        rec: &Record,
        res: &Resolved,
        segment_start: bool,
    ) {
        self.seq += 1;
        let buf = batch.line_buf();
        let start = buf.len();
        encoder.encode_open(rec, res, &self.name, self.seq, buf);
        match &mut self.chain {
            Some(chain) => chain.seal_line(buf, start),
            None => buf.push(b'}'),
        }
        self.bytes += (buf.len() - start) as u64 + 1;
        batch.finish_entry(
            self.name.clone(),
            self.seq,
            rec.level,
            rec.ts,
            start,
            segment_start,
        );
        // evtrail's own records explain the log (chain markers, failures,
        // drops): a failing sink's backlog keeps them. Push reports are
        // many and explain only deliveries: they may go.
        if rec.internal && res.event(rec) != Some("evtrail.push") {
            batch.keep_last();
        }
    }
}

/// What the worker needs to keep signing.
pub(super) struct SignPolicy {
    pub(super) key: Key,
    pub(super) seal_records: u64,
    pub(super) seal_interval: Duration,
    /// Writes the state file, when there is a log directory.
    pub(super) saver: Option<StateSaver>,
    pub(super) state: State,
    pub(super) state_dirty: bool,
    /// The key being replaced, while its rotation is announced.
    pub(super) old_kid: Option<String>,
}

impl Worker {
    pub(super) fn run(mut self) {
        mark_evtrail_thread();
        let now = self.now();
        for idx in 0..self.streams.len() {
            self.streams[idx].boundary = self.rotation.next_boundary(now);
            self.mark(idx, Marker::SegmentStart);
        }
        let mut acks = Vec::new();
        // Rotation requests, answered once their records are with the sinks.
        let mut done: Vec<Sender<()>> = Vec::new();
        loop {
            let deadline = self.next_deadline();
            let first = match self.rx.try_recv() {
                Ok(m) => Ok(Some(m)),
                Err(TryRecvError::Disconnected) => Err(()),
                Err(TryRecvError::Empty) if Instant::now() < self.linger_until => {
                    std::thread::sleep(
                        LINGER_TICK.min(deadline.saturating_duration_since(Instant::now())),
                    );
                    let _ = self.wake_rx.try_recv();
                    match self.rx.try_recv() {
                        Ok(m) => Ok(Some(m)),
                        Err(TryRecvError::Empty) => Ok(None),
                        Err(TryRecvError::Disconnected) => Err(()),
                    }
                }
                Err(TryRecvError::Empty) => crossbeam_channel::select! {
                    recv(self.rx) -> m => m.map(Some).map_err(|_| ()),
                    recv(self.wake_rx) -> _ => Ok(None),
                    default(deadline.saturating_duration_since(Instant::now())) => Ok(None),
                },
            };
            let Ok(first) = first else {
                let _ = self.finish(Instant::now() + RETRY_MAX);
                return;
            };
            let mut shutdown = None;
            let mut next = first;
            let mut taken = 0;
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Record(rec) => {
                        self.room.took();
                        self.counters.received.fetch_add(1, Ordering::Relaxed);
                        self.process(&rec);
                        self.recycle(rec);
                        taken += 1;
                    }
                    Msg::Flush(ack) => acks.push(ack),
                    Msg::Shutdown(deadline, ack) => {
                        shutdown = Some((deadline, ack));
                        break;
                    }
                    Msg::Rotate(ack) => {
                        let now = self.now();
                        if self.signing.is_some() {
                            for idx in 0..self.streams.len() {
                                self.roll(idx, now);
                            }
                        } else {
                            // No record marks the start: roll the sinks
                            // directly, after what came before.
                            self.deliver(true);
                            self.roll_sinks(now);
                        }
                        done.push(ack);
                    }
                    #[cfg(feature = "config")]
                    Msg::Reconfigure(change, ack) => {
                        // Records before this message were encoded under
                        // the old rules; those after it, under the new.
                        let Reconfigure { redactor, router } = *change;
                        if let Some(r) = redactor {
                            self.encoder.set_redactor(r);
                        }
                        if let Some(r) = router {
                            debug_assert_eq!(r.streams(), self.router.streams());
                            self.router = r;
                        }
                        done.push(ack);
                    }
                    Msg::RotateKey(key, ack) => {
                        // The announcement is signed with the old key and
                        // names the new one.
                        if let Some(policy) = &mut self.signing {
                            policy.old_kid = Some(policy.key.id().to_owned());
                            policy.key = *key;
                        }
                        for idx in 0..self.streams.len() {
                            self.mark(idx, Marker::KeyRotated);
                            let key = self.signing.as_ref().map(|p| p.key.clone());
                            let slot = &mut self.streams[idx];
                            if let (Some(chain), Some(key)) = (&mut slot.chain, key) {
                                chain.rekey(&key, &slot.name);
                            }
                        }
                        done.push(ack);
                    }
                }
                if taken < self.batch_size {
                    next = self.rx.try_recv().ok();
                }
            }
            // Delivering takes a while: producers waiting for room go now.
            self.room.pause();
            if taken > 0 {
                self.linger_until = Instant::now() + LINGER_FOR;
            }
            self.seal_due();
            self.deliver(!acks.is_empty() || shutdown.is_some());
            self.save_state();
            let caught_up = self.rx.is_empty();
            if !acks.is_empty()
                || !done.is_empty()
                || (self.unflushed
                    && (caught_up || self.last_flush.elapsed() >= self.flush_interval))
            {
                self.flush_sinks();
            }
            if !acks.is_empty() {
                let clean = self.sinks.iter().all(|s| s.failing_since.is_none());
                for ack in acks.drain(..) {
                    let _ = ack.send(clean);
                }
            }
            for ack in done.drain(..) {
                let _ = ack.send(());
            }
            if let Some((deadline, ack)) = shutdown {
                let _ = ack.send(self.finish(deadline));
                return;
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        if !self.internal.is_empty() {
            return now;
        }
        let mut deadline = now + Duration::from_secs(3600);
        if self.drops.dirty.load(Ordering::Acquire) {
            deadline = deadline.min(self.drops_noted_at + DROP_NOTICE_EVERY);
        }
        if self.unflushed {
            deadline = deadline.min(self.last_flush + self.flush_interval);
        }
        for s in &self.sinks {
            if s.has_retry_work() {
                deadline = deadline.min(s.next_retry);
            }
        }
        if let Some(policy) = &self.signing {
            for s in &self.streams {
                deadline = deadline.min(s.last_seal + policy.seal_interval);
            }
        }
        deadline
    }

    /// The time for evtrail's own records: the injected clock, or the system's.
    pub(super) fn now(&self) -> u64 {
        self.clock.as_deref().map_or_else(now_nanos, nanos)
    }

    /// Ends stream `idx`'s segment and starts the next (a file sink starts
    /// a new file).
    /// `at` is the time of the record that made the segment end (or of the
    /// explicit request): the markers carry it, the rolled file is named
    /// after it and the next period boundary counts from it, however late
    /// the worker gets to it.
    fn roll(&mut self, idx: usize, at: u64) {
        if self.streams[idx].chain.is_some() {
            self.mark_at(idx, Marker::SegmentEnd("rotate"), at);
            self.mark_at(idx, Marker::SegmentStart, at);
        } else {
            let slot = &mut self.streams[idx];
            slot.pending_start = true;
            slot.bytes = 0;
            slot.boundary = self.rotation.next_boundary(at);
        }
    }

    /// Asks every sink to start a new file for every stream now (unsigned
    /// pipelines, whose records carry no segment markers).
    fn roll_sinks(&mut self, at: u64) {
        let when = std::time::UNIX_EPOCH + Duration::from_nanos(at);
        let now = Instant::now();
        for idx in 0..self.streams.len() {
            let slot = &mut self.streams[idx];
            slot.pending_start = false;
            slot.bytes = 0;
            slot.boundary = self.rotation.next_boundary(at);
            let name = slot.name.clone();
            for i in 0..self.sinks.len() {
                if self.sinks[i].failing_since.is_some() {
                    continue;
                }
                let sink = &mut self.sinks[i].sink;
                if let Err(e) = guarded(|| sink.roll(&name, when)) {
                    self.fail(i, e, Batch::new(), now);
                }
            }
        }
    }

    /// Whether stream `idx` must start a new segment before a record
    /// stamped `ts`.
    fn due_to_roll(&self, idx: usize, ts: u64) -> bool {
        let slot = &self.streams[idx];
        self.rotation.max_bytes.is_some_and(|max| slot.bytes >= max)
            || slot.boundary.is_some_and(|b| ts >= b)
    }

    /// Seals every stream whose seal interval has passed, idle or not.
    fn seal_due(&mut self) {
        let Some(policy) = &self.signing else { return };
        let interval = policy.seal_interval;
        for idx in 0..self.streams.len() {
            if self.streams[idx].last_seal.elapsed() >= interval {
                self.mark(idx, Marker::Seal);
            }
        }
    }

    /// Writes one of evtrail's chain records into stream `idx` (not routed:
    /// it belongs to that stream's chain). Nothing when unsigned.
    fn mark(&mut self, idx: usize, marker: Marker) {
        self.mark_at(idx, marker, self.now());
    }

    /// [`mark`](Self::mark), stamped `now`.
    fn mark_at(&mut self, idx: usize, marker: Marker, now: u64) {
        let Some(policy) = &mut self.signing else {
            return;
        };
        let slot = &mut self.streams[idx];
        let Some(chain) = &mut slot.chain else { return };
        let rec = match marker {
            Marker::SegmentStart => {
                slot.bytes = 0;
                slot.boundary = self.rotation.next_boundary(now);
                let prev_sig = chain.prev;
                let r = slot.resume.take().unwrap_or(Resume {
                    prev_segment: chain.segment,
                    prev_seq: slot.seq,
                    prev_sig,
                    prev_end: PrevEnd::Clean,
                    torn_bytes: 0,
                    segment: chain.segment + 1,
                });
                chain.segment = r.segment;
                chain.in_segment = 0;
                marker::segment_start(
                    now,
                    &r,
                    &prev_sig,
                    policy.seal_records,
                    policy.seal_interval,
                )
            }
            Marker::SegmentEnd(reason) => {
                marker::segment_end(now, chain.segment, chain.in_segment + 1, reason)
            }
            Marker::Seal => marker::seal(now, chain.segment, chain.in_segment + 1),
            Marker::KeyRotated => {
                marker::key_rotated(now, policy.key.id(), policy.old_kid.as_deref())
            }
        };
        // Every marker starts the count towards the next seal afresh.
        chain.since_seal = 0;
        let res = self.encoder.resolve(&rec);
        slot.append(
            &mut self.encoder,
            &mut self.batch,
            &rec,
            &res,
            marker == Marker::SegmentStart,
        );
        slot.last_seal = Instant::now();
        if matches!(
            marker,
            Marker::Seal | Marker::SegmentEnd(_) | Marker::SegmentStart
        ) && let Some(chain) = &slot.chain
        {
            let seal = Seal {
                stream: slot.name.to_string(),
                seq: slot.seq,
                sig: String::from_utf8_lossy(&chain.prev).into_owned(),
                ts: Some(ts_string(rec.ts)),
            };
            // Kept current in memory; written at the next segment boundary.
            policy.state.set(
                &slot.name,
                StateEntry {
                    segment: chain.segment,
                    seq: slot.seq,
                    sig: chain.prev,
                },
            );
            // The state file tells vanished files from a fresh start; segment
            // boundaries are enough for that, and each save is an fsync.
            if marker != Marker::Seal {
                policy.state_dirty = true;
            }
            if let Some(s) = self
                .seals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_mut(idx)
            {
                *s = Some(seal);
            }
        }
        self.counters.internal.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes the state file after chain records reached the sinks.
    fn save_state(&mut self) {
        let Some(policy) = &mut self.signing else {
            return;
        };
        if !policy.state_dirty {
            return;
        }
        policy.state_dirty = false;
        if let Some(saver) = &policy.saver {
            saver.save(&policy.state);
        }
    }

    /// The stream an `evtrail.files_removed` record belongs to, whatever
    /// the routes say: the one whose file was deleted.
    fn pinned_stream(&self, rec: &Record) -> Option<usize> {
        if !rec.internal || rec.fields.find_str("event") != Some(marker::FILES_REMOVED) {
            return None;
        }
        let stream = rec.fields.find_str("stream")?;
        self.streams.iter().position(|s| &*s.name == stream)
    }

    /// Routes, numbers and encodes one record into the batch.
    pub(super) fn process(&mut self, rec: &Record) {
        let mut res = Resolved::empty();
        self.encoder.resolve_into(rec, &mut res);
        let input = RouteInput {
            target: rec.meta.target(),
            level: rec.level,
            class: res.class(rec),
            event: res.event(rec),
        };
        self.router.route(&input, &mut self.route_buf);
        let pinned = self.pinned_stream(rec);
        if let Some(idx) = pinned {
            self.route_buf.clear();
            self.route_buf.push(idx);
        }
        let seal_records = self.signing.as_ref().map_or(u64::MAX, |p| p.seal_records);
        for i in 0..self.route_buf.len() {
            let idx = self.route_buf[i];
            // A removal record never rolls the file itself: the roll would
            // delete more (a retention of few files), and record that.
            if pinned.is_none() && self.due_to_roll(idx, rec.ts) {
                self.roll(idx, rec.ts);
            }
            let slot = &mut self.streams[idx];
            let starts = std::mem::take(&mut slot.pending_start);
            slot.append(&mut self.encoder, &mut self.batch, rec, &res, starts);
            let due = match &mut slot.chain {
                Some(chain) => {
                    chain.since_seal += 1;
                    chain.since_seal >= seal_records
                }
                None => false,
            };
            if due {
                self.mark(idx, Marker::Seal);
            }
        }
        if rec.internal {
            self.counters.internal.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.written.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Hands a processed record's buffers back for reuse; when the pool is
    /// full they are simply freed.
    fn recycle(&self, rec: Record) {
        if let Some(buffers) = Buffers::reclaim(rec) {
            let _ = self.pool.try_send(buffers);
        }
    }

    /// Turns unreported hand-off drops into `evtrail.dropped` records: at
    /// most every [`DROP_NOTICE_EVERY`] under sustained overload, and
    /// always when `force`d (a flush or shutdown must find them written).
    pub(super) fn note_drops(&mut self, force: bool) {
        if !force && self.drops_noted_at.elapsed() < DROP_NOTICE_EVERY {
            return;
        }
        self.drops_noted_at = Instant::now();
        // Cheap (one sample a second at most): feeds "lost in the last minute".
        self.counters
            .sample_losses(self.drops.total.load(Ordering::Relaxed));
        for (class, win) in self.drops.take() {
            let mut rec = Record::internal(
                Level::WARN,
                "evtrail.dropped",
                &format!(
                    "{} {class} records dropped: the queue was full",
                    win.pending
                ),
            );
            rec.fields.add_str("class", &class);
            rec.fields.add_u64("count", win.pending);
            rec.fields.add_str("reason", "queue_full");
            rec.fields.add_str("since", &ts_string(win.first));
            rec.fields.add_str("until", &ts_string(win.last));
            self.internal.push(rec);
        }
    }

    /// Drains what is left, gives failing sinks until `deadline`, closes
    /// every sink and says what could not be delivered.
    fn finish(&mut self, deadline: Instant) -> Result<(), Error> {
        let result = self.finish_inner(deadline);
        self.save_state();
        // The last state is on disk before the guard returns.
        if let Some(policy) = &mut self.signing {
            drop(policy.saver.take());
        }
        result
    }

    fn finish_inner(&mut self, deadline: Instant) -> Result<(), Error> {
        let close_segments = |w: &mut Worker| {
            for idx in 0..w.streams.len() {
                w.mark(idx, Marker::SegmentEnd("shutdown"));
            }
        };
        // Records sent concurrently with the shutdown request still get in;
        // those sent after this drain's start may not, and their producers
        // count them as dropped (see `Shared::after_send`).
        self.room.retire();
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Record(rec) => {
                    self.counters.received.fetch_add(1, Ordering::Relaxed);
                    self.process(&rec);
                    if self.batch.len() >= self.batch_size {
                        self.deliver(true);
                    }
                }
                Msg::Flush(ack) => {
                    let _ = ack.send(false);
                }
                Msg::Shutdown(_, ack) => {
                    let _ = ack.send(Ok(()));
                }
                Msg::Rotate(ack) | Msg::RotateKey(_, ack) => {
                    let _ = ack.send(());
                }
                #[cfg(feature = "config")]
                Msg::Reconfigure(_, ack) => {
                    let _ = ack.send(());
                }
            }
        }
        self.deliver(true);
        self.flush_sinks();
        loop {
            let failing: Vec<usize> = (0..self.sinks.len())
                .filter(|&i| self.sinks[i].has_retry_work())
                .collect();
            if failing.is_empty() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let wake = failing
                .iter()
                .map(|&i| self.sinks[i].next_retry)
                .min()
                .unwrap_or(now)
                .min(deadline);
            std::thread::sleep(wake.saturating_duration_since(now));
            let now = Instant::now();
            for i in failing {
                if now >= self.sinks[i].next_retry {
                    self.retry(i, now);
                }
            }
            // Recovery notices go out to the sinks that are up.
            self.deliver(true);
        }
        for i in 0..self.sinks.len() {
            let slot = &mut self.sinks[i];
            let n = slot.pending.len() as u64;
            slot.counters.dropped.fetch_add(n, Ordering::Relaxed);
            for e in slot.pending.iter() {
                slot.unreported_drops.add(e.stream(), e.seq());
            }
            slot.pending.clear();
            self.note_sink_drops(i, true);
        }
        // Sinks that deliver on their own threads (HTTP) get until the
        // deadline, then close first, so that what they report (delivery
        // outcomes, records left in a spool) reaches the others.
        // They stop waiting a little before the deadline: closing them and
        // writing the last records must fit in the shutdown's timeout too.
        let reserve = (deadline.saturating_duration_since(Instant::now()) / 4).min(CLOSE_RESERVE);
        for drain in &self.drains {
            let _ = drain.wait(deadline - reserve);
        }
        // What they still hold in memory goes to their spools now, so that
        // what does not fit is noted before the segments end.
        for drain in &self.drains {
            drain.spill();
        }
        // The last notices go to every sink that is up, then each segment's
        // end: nothing follows a segment's end record in its file, or the
        // next start would take the shutdown for a crash.
        self.note_drops(true);
        self.internal.append(&mut self.inbox.take());
        for mut rec in std::mem::take(&mut self.internal) {
            rec.ts = self.now();
            self.process(&rec);
        }
        close_segments(self);
        let now = Instant::now();
        for i in 0..self.sinks.len() {
            if self.sinks[i].failing_since.is_none() {
                self.deliver_to(i, now);
            }
        }
        self.batch.clear();
        // The sinks with threads of their own send those last records in
        // what is left of the time; what they report about them comes after
        // the segments' end and is not written (see the `http` module's
        // docs): only counted, and a loss is told in shutdown's error.
        for drain in &self.drains {
            let _ = drain.wait(deadline - reserve * 2 / 3);
        }
        let mut lost = Vec::new();
        for slot in &mut self.sinks {
            if slot.counters.delivery.is_some() {
                if let Err(e) = guarded(|| slot.sink.close()) {
                    lost.push(format!("sink `{}`: {}", slot.name(), error_chain(&e)));
                }
                slot.publish();
            }
        }
        let unwritten = self.inbox.take();
        let drops = unwritten
            .iter()
            .filter(|r| self.encoder.resolve(r).event(r) == Some("evtrail.dropped"))
            .count();
        if drops > 0 {
            lost.push(format!(
                "{drops} notices of dropped records came after the segments ended and \
                 are not in the log (see the sinks' `dropped` counts)"
            ));
        }
        for slot in &mut self.sinks {
            if slot.counters.delivery.is_some() {
                continue;
            }
            if slot.failing_since.is_some() {
                lost.push(format!(
                    "sink `{}` is failing and lost {} records in all",
                    slot.name(),
                    slot.counters.dropped.load(Ordering::Relaxed)
                ));
                slot.pending.clear();
            }
            if let Err(e) = guarded(|| slot.sink.close()) {
                lost.push(format!(
                    "sink `{}` failed to close: {}",
                    slot.name(),
                    error_chain(&e)
                ));
            }
            slot.publish();
        }
        if lost.is_empty() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Sink,
                format!("shutdown could not deliver everything: {}", lost.join("; ")),
            ))
        }
    }
}
