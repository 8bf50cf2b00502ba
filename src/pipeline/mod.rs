//! The pipeline: how a record gets from the thread that emitted it to the
//! sinks, and the handle that controls it on the way.
//!
//! The path of one record:
//!
//! 1. **Emitting thread** ([`handoff`]). The layer has copied the event
//!    into a [`Record`](crate::record::Record); [`Shared::submit`] sends it
//!    over a bounded queue under its class's [`Overflow`] policy, or counts
//!    it as dropped. Nothing is formatted, signed or written here.
//! 2. **Worker** ([`worker`], thread `evtrail-worker`). Takes records in
//!    batches, routes them to streams, numbers, encodes and signs them, and
//!    writes the chain markers (see [`crate::marker`]) at segment
//!    boundaries, seals and key rotations.
//! 3. **Sinks** ([`delivery`]). Each batch goes to every sink; a failing
//!    sink keeps a bounded backlog, is retried with backoff, and what it
//!    loses is counted and recorded.
//!
//! Around it: the [`Handle`] and [`Guard`] that flush, rotate and shut the
//! pipeline down ([`lifecycle`]), and the counters they read ([`stats`]).
//! [`start`] wires the parts together.

mod delivery;
mod handoff;
mod health;
mod lifecycle;
mod metrics;
mod sink_slot;
mod stats;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::directives::{Directives, RuntimeFilter};
use crate::encode::Encoder;
use crate::error::{Error, ErrorKind};
use crate::key::Key;
use crate::marker::Resume;
use crate::rotation::{Clock, Rotation};
use crate::route::Router;
use crate::sign::{Chain, State};
use crate::sink::{Batch, Inbox, LostRanges, SharedOptions, Sink, SinkContext, error_chain};
pub use handoff::Overflow;
#[cfg(feature = "config")]
pub(crate) use handoff::Reconfigure;
use handoff::Room;
pub(crate) use handoff::Shared;
pub use health::{FAILING_AFTER, Health, HealthStatus, SinkHealth};
pub(crate) use lifecycle::panic_record;
pub use lifecycle::{Guard, Handle};
use sink_slot::SinkSlot;
use stats::Drops;
use stats::{Counters, SinkCounters};
pub use stats::{SinkStats, Stats};
use worker::{SignPolicy, StreamSlot, Worker};

/// Pipeline settings the builder hands over.
pub(crate) struct Settings {
    pub(crate) capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) flush_timeout: Duration,
    pub(crate) retry_buffer_bytes: usize,
    pub(crate) max_value: usize,
    pub(crate) default_overflow: Overflow,
    pub(crate) overflow: Vec<(String, Overflow)>,
    pub(crate) filter: Directives,
    pub(crate) encoder: Encoder,
    pub(crate) router: Router,
    pub(crate) sinks: Vec<Box<dyn Sink>>,
    pub(crate) signing: Option<Signing>,
    pub(crate) rotation: Rotation,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    /// The log directory sink's runtime-changeable options.
    pub(crate) file_live: Option<SharedOptions>,
    /// Offered to sinks in [`Sink::attach`].
    pub(crate) log_dir: Option<PathBuf>,
    /// The configuration the pipeline was started from, if any: opaque
    /// here, read back by `config` when reloading.
    #[cfg(feature = "config")]
    pub(crate) origin: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

/// How the worker signs, when it does.
pub(crate) struct Signing {
    pub(crate) key: Key,
    /// Where each stream's chain goes on, in the router's stream order.
    pub(crate) resume: Vec<Resume>,
    pub(crate) seal_records: u64,
    pub(crate) seal_interval: Duration,
    /// The log directory, where the state file lives.
    pub(crate) state_dir: Option<PathBuf>,
    pub(crate) state: State,
}

/// Starts the worker thread and returns what the layer and handle share.
pub(crate) fn start(mut s: Settings) -> Result<Arc<Shared>, Error> {
    let (tx, rx) = crossbeam_channel::bounded(s.capacity);
    let strays = rx.clone();
    let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
    let inbox = Arc::new(Inbox::new(wake_tx));
    let drops = Arc::new(Drops::default());
    let mut drains = Vec::new();
    let mut delivery = Vec::new();
    for sink in &mut s.sinks {
        let mut ctx = SinkContext::new(s.log_dir.clone(), inbox.clone());
        ctx.signed = s.signing.is_some();
        if let (Some(signing), Some(_)) = (&s.signing, &s.log_dir) {
            ctx.resumed = Some(
                s.router
                    .streams()
                    .iter()
                    .zip(&signing.resume)
                    .map(|(name, r)| (name.to_string(), r.prev_seq))
                    .collect(),
            );
        }
        sink.attach(&mut ctx).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("sink `{}` cannot start: {}", sink.name(), error_chain(&e)),
            )
        })?;
        drains.append(&mut ctx.drains);
        delivery.push(ctx.delivery);
    }
    let sinks: Vec<SinkSlot> = s
        .sinks
        .into_iter()
        .zip(delivery)
        .map(|(sink, delivery)| SinkSlot {
            counters: Arc::new(SinkCounters {
                name: sink.name().to_owned(),
                healthy: AtomicBool::new(true),
                delivery,
                ..SinkCounters::default()
            }),
            sink,
            pending: Batch::new(),
            failing_since: None,
            attempts: 0,
            next_retry: Instant::now(),
            unreported_drops: LostRanges::default(),
            flush_failed: false,
            drops_noted_at: Instant::now(),
        })
        .collect();
    let counters = Arc::new(Counters {
        sinks: sinks.iter().map(|s| s.counters.clone()).collect(),
        ..Counters::default()
    });
    let streams: Vec<StreamSlot> = s
        .router
        .streams()
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let resume = s.signing.as_ref().and_then(|g| g.resume.get(i));
            StreamSlot {
                name: name.clone(),
                seq: resume.map_or(0, |r| r.prev_seq),
                chain: s
                    .signing
                    .as_ref()
                    .map(|g| Chain::new(&g.key, name, resume.unwrap_or(&Resume::fresh()))),
                resume: resume.cloned(),
                last_seal: Instant::now(),
                bytes: 0,
                boundary: None,
                pending_start: false,
            }
        })
        .collect();
    let seals = Arc::new(Mutex::new(vec![None; streams.len()]));
    let signed = s.signing.is_some();
    let room = Arc::new(Room::new(s.capacity));
    // Room for every record the queue can hold: a queue that fills and
    // drains moves that many buffers back, and a smaller pool would free
    // most of them on the worker only for the producers to allocate them
    // again. Buffers are only allocated while the pool is
    // empty, so the pool adds no buffers beyond those of records in flight
    // (at most the capacity, plus one per emitting thread), and grown ones
    // are not kept.
    let (pool_tx, pool) = crossbeam_channel::bounded(s.capacity);
    let worker = Worker {
        rx,
        pool: pool_tx,
        room: room.clone(),
        wake_rx,
        inbox,
        drains: drains.clone(),
        drops: drops.clone(),
        counters: counters.clone(),
        encoder: s.encoder,
        router: s.router,
        streams,
        sinks,
        batch: Batch::new(),
        internal: Vec::new(),
        route_buf: Vec::new(),
        batch_size: s.batch_size,
        flush_interval: s.flush_interval,
        retry_buffer_bytes: s.retry_buffer_bytes,
        last_flush: Instant::now(),
        unflushed: false,
        linger_until: Instant::now(),
        drops_noted_at: Instant::now(),
        seals: seals.clone(),
        signing: s.signing.map(|g| SignPolicy {
            key: g.key,
            seal_records: g.seal_records.max(1),
            seal_interval: g.seal_interval,
            saver: g.state_dir.map(crate::sign::StateSaver::new),
            state: g.state,
            state_dirty: false,
            old_kid: None,
        }),
        rotation: s.rotation,
        clock: s.clock.clone(),
    };
    let handle = std::thread::Builder::new()
        .name("evtrail-worker".into())
        .spawn(move || worker.run())
        .map_err(|e| {
            Error::with_source(ErrorKind::Io, "cannot start the evtrail-worker thread", e)
        })?;
    Ok(Arc::new(Shared {
        tx,
        capacity: s.capacity,
        default_overflow: s.default_overflow,
        // Only the classes whose policy differs: with none, the emitting
        // thread never looks for a record's class.
        overflow: s
            .overflow
            .into_iter()
            .filter(|(_, o)| *o != s.default_overflow)
            .collect(),
        filter: RuntimeFilter::new(s.filter),
        max_value: s.max_value,
        flush_timeout: s.flush_timeout,
        drops,
        counters,
        worker: Mutex::new(Some(handle)),
        seals,
        signed,
        clock: s.clock,
        file_live: s.file_live,
        drains,
        room,
        pool,
        strays,
        #[cfg(feature = "config")]
        origin: Mutex::new(s.origin),
    }))
}
