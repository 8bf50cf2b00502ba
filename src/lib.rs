//! Signed, structured event logs for [`tracing`].
//!
//! evtrail is a [`tracing-subscriber`](tracing_subscriber) layer. Every
//! event, with the spans around it, becomes a structured JSON record that
//! is handed over a bounded channel to a background thread, which enriches,
//! redacts, routes and encodes it and writes it to its sinks: files, stdout,
//! memory, or your own [`Sink`] (the [`sink`] module says how to write one).
//! The thread that emits the event only copies its fields; it never
//! formats, signs or writes.
//!
//! # Quick start
//!
//! ```
//! use tracing_subscriber::prelude::*;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let key = evtrail::Key::generate()?; // in production: Key::from_file or Key::from_env
//! let (layer, guard) = evtrail::builder()
//!     .service("shop")
//!     .environment("dev")
//!     .key(key.clone())    // every record signed and chained
//!     .log_dir(dir.path()) // writes DIR/<stream>.log
//!     .build()?;
//!
//! // Compose with other layers and filters as usual; evtrail never installs
//! // a global subscriber itself (use `.init()` in an application).
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("checkout", op = "order-1042", tenant = "acme");
//!     let _enter = span.enter();
//!     tracing::info!(event = "order_placed", user_id = "u-7", amount_cents = 4999, "order placed");
//!     tracing::warn!(event = "payment_failed", code = 4021, reason = "card_declined", "payment failed");
//! });
//!
//! guard.flush(std::time::Duration::from_secs(5))?; // everything so far is written
//! let log = std::fs::read_to_string(dir.path().join("app.log"))?;
//! // The segment's opening record, then the two events.
//! assert_eq!(log.lines().count(), 3);
//! assert!(log.contains(r#""op":"order-1042""#));
//! drop(guard); // closes the segment
//!
//! // Anyone holding the key can check that nothing was altered, removed,
//! // inserted or reordered.
//! let report = evtrail::verify::Verifier::new(evtrail::Keyring::new().with(key)).verify_paths(&[dir.path()])?;
//! assert!(report.is_clean(), "{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A line of `app.log` (wrapped here):
//!
//! ```text
//! {"v":1,"stream":"app","seq":2,"ts":"2026-11-22T10:00:00.123456Z","level":"WARN","class":"info",
//!  "event":"payment_failed","code":4021,"msg":"payment failed","target":"shop","thread":"main",
//!  "service":"shop","env":"dev","host":"web-1","pid":4242,"tenant":"acme","op":"order-1042",
//!  "spans":[{"name":"checkout"}],"fields":{"reason":"card_declined"},"kid":"k3f1c0e5a7b2d9e44",
//!  "sig":"nB8k…43 base64url characters…"}
//! ```
//!
//! The format (key order, types, promotion of well-known fields such as
//! `user`, `tenant`, `op`, `request_id`, truncation, escaping) is specified
//! in [`format`](mod@format); signatures, chains, segments and seals in [`signing`].
//!
//! # Delivery and flush guarantees
//!
//! * **Hand-off.** A bounded channel of [`capacity`](Builder::capacity)
//!   records. When it is full, the class's [`Overflow`] policy decides:
//!   `Block` waits (lossless; the default for `security` and `audit`)
//!   for room for its own record, which the worker makes within a few
//!   records' work or one batch's delivery ([`Overflow::Block`] states the
//!   bound), `DropNewest` drops the record and counts it (the default
//!   otherwise).
//!   Drops are never silent: the worker writes an `evtrail.dropped` record
//!   with the count, class and time range, and [`Stats::dropped`] counts
//!   every one.
//! * **Order.** Records of one emitting thread are written in the order
//!   they were emitted; each stream numbers its records with a gap-free
//!   `seq`.
//! * **Flush.** [`Handle::flush`] returns once every record emitted before
//!   the call is with the sinks and the sinks are flushed. The worker also
//!   flushes whenever it catches up, and at least every
//!   [`flush_interval`](Builder::flush_interval) while busy. After handling
//!   records it looks for more every 200 µs for 20 ms before it sleeps
//!   until woken: a steady stream of events never makes the emitting thread
//!   wake it, at the price of records reaching the sinks up to 200 µs later.
//! * **Shutdown.** Dropping the [`Guard`] (or [`Handle::shutdown`]) drains
//!   the queue, flushes and closes the sinks within the
//!   [`flush_timeout`](Builder::flush_timeout), and joins the worker.
//!   A record emitted while it runs is written if it reaches the queue
//!   before the worker's last look at it, and counted as dropped
//!   otherwise, as is every record emitted after it: every event that
//!   passed the filter (re-entrant ones aside, below) ends up in
//!   [`Stats::written`] or [`Stats::dropped`].
//! * **Failing sinks.** A sink error is counted, reported once per episode
//!   as an `evtrail.sink_failed` record and on stderr, and retried with
//!   backoff; records the sink did not take are kept (up to
//!   [`retry_buffer`](Builder::retry_buffer) bytes) and delivered when it
//!   recovers. What cannot be kept is counted and recorded as dropped.
//!   The application never sees a panic or an error from a logging call.
//! * **Sinks that deliver on their own thread** (HTTP) take records from the
//!   worker without ever making it wait; [`Handle::flush`] waits for their
//!   delivery too, and shutdown gives them until its timeout, then saves
//!   what is undelivered for the next start (see `evtrail::http`, feature `http`).
//! * **Re-entrancy.** Events emitted on evtrail's own threads (by a sink, or
//!   by a crate a sink calls) are not fed back into the pipeline; they are
//!   counted in [`Stats::reentrant`].
//!
//! # `log` records
//!
//! Records of the [`log`](https://docs.rs/log) crate are captured when the
//! `log` → `tracing` bridge is installed (`tracing_subscriber`'s `init()`
//! does it, or call `tracing_log::LogTracer::init()`); their target, module,
//! file and line are those of the `log` record.
//!
//! # Cargo features
//!
//! | feature | what it adds |
//! |---|---|
//! | `cli` | the `evtrail` command-line tool (`verify`, `keygen`); library users never compile its argument parser |
//! | `config` | `evtrail::config`: TOML configuration files with environment overrides, `Builder::config_file` |
//! | `http` | `evtrail::http::HttpSink`: delivery to webhooks and log stores (ClickHouse, Loki, Elasticsearch/OpenSearch, OTLP) with retries, a disk spool and dead letters; pulls in an HTTP client with rustls |
//! | `notify` | `evtrail::notify::NotifySink`: chat notifications to DingTalk, WeCom, Feishu/Lark, Slack and JSON webhooks, with rules, templates, grouping, rate limits and push records (implies `http`) |

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub)]

mod builder;
#[cfg(feature = "http")]
pub mod clickhouse;
#[cfg(feature = "config")]
pub mod config;
mod directives;
mod encode;
mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod incidents;
mod key;
mod layer;
mod logdir;
mod mac;
mod marker;
#[cfg(feature = "notify")]
pub mod notify;
mod pipeline;
mod private;
pub mod query;
pub mod read;
mod record;
mod redact;
pub mod report;
mod rotation;
mod route;
mod sign;
pub mod sink;
pub mod stats;
mod thread;
mod time;
pub mod verify;

pub use builder::{
    Builder, DEFAULT_BATCH_SIZE, DEFAULT_CAPACITY, DEFAULT_FLUSH_INTERVAL, DEFAULT_FLUSH_TIMEOUT,
    DEFAULT_MAX_VALUE_BYTES, DEFAULT_RETRY_BUFFER_BYTES, builder,
};
pub use error::{Error, ErrorKind};
pub use key::{Key, Keyring, MIN_KEY_BYTES};
pub use layer::Layer;
pub use pipeline::{
    FAILING_AFTER, Guard, Handle, Health, HealthStatus, Overflow, SinkHealth, SinkStats, Stats,
};
pub use rotation::{Clock, DEFAULT_MAX_FILE_BYTES, Period, Rotation};
pub use route::{DEFAULT_STREAM, Route};
pub use sign::{DEFAULT_SEAL_INTERVAL, DEFAULT_SEAL_RECORDS, Seal};
pub use sink::{
    AnchorSink, DEFAULT_COMPRESSION_LEVEL, DEFAULT_COMPRESSION_WAIT, DEFAULT_DIR_MODE,
    DEFAULT_FILE_MODE, Durability, FileOptions, FileSink, LogFiles, MemorySink, Retention, Sink,
    StdoutFormat, StdoutSink,
};
// What only a custom sink's author needs lives in `evtrail::sink`; these
// root paths are kept, hidden, for one release.
#[doc(hidden)]
pub use sink::{Batch, DeliveryStats, Entry, SinkContext, SinkError};

/// The record format, specified.
#[doc = include_str!("format.md")]
pub mod format {}

/// Signatures, chains, segments and seals, specified.
#[doc = include_str!("signing.md")]
pub mod signing {}
