//! Configuration and installation: [`Builder`] → ([`Layer`], [`Guard`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::level_filters::LevelFilter;

use crate::directives::Directives;
use crate::encode::{Encoder, StaticContext};
use crate::error::Error;
use crate::key::Key;
use crate::layer::Layer;
use crate::marker::Resume;
use crate::pipeline::{self, Guard, Handle, Overflow, Settings, Signing, panic_record};
use crate::redact::Redactor;
use crate::rotation::{Clock, Rotation};
use crate::route::{DEFAULT_STREAM, Route, Router};
use crate::sign::{self, DEFAULT_SEAL_INTERVAL, DEFAULT_SEAL_RECORDS, State};
use crate::sink::{FileOptions, FileSink, Sink};
use crate::thread::on_evtrail_thread;

/// Default capacity of the hand-off channel, in records.
pub const DEFAULT_CAPACITY: usize = 16_384;
/// Default number of records the worker takes per batch.
pub const DEFAULT_BATCH_SIZE: usize = 1_024;
/// Default longest time between two flushes of the sinks while busy.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Default time dropping the guard may take to drain and flush.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default size limit of one captured value, in bytes.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 8 * 1024;
/// Default size of the backlog kept per failing sink, in bytes.
pub const DEFAULT_RETRY_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// Starts configuring an evtrail pipeline; the same as [`Builder::new`].
pub fn builder() -> Builder {
    Builder::new()
}

#[derive(Debug)]
enum Host {
    Detect,
    Fixed(String),
    Omit,
}

#[derive(Debug)]
enum FilterSetting {
    Level(LevelFilter),
    Directives(String),
}

/// Configures and starts an evtrail pipeline.
///
/// | setting | default |
/// |---|---|
/// | [`service`](Self::service) | the executable's file name |
/// | [`environment`](Self::environment), [`region`](Self::region), [`node`](Self::node), [`version`](Self::version) | not written |
/// | [`host`](Self::host) | detected from the operating system |
/// | [`pid`](Self::pid) | written |
/// | [`capacity`](Self::capacity) | [`DEFAULT_CAPACITY`] records |
/// | [`overflow`](Self::overflow) | [`Overflow::DropNewest`]; `security` and `audit` classes [`Overflow::Block`] |
/// | [`level`](Self::level) / [`filter`](Self::filter) | `trace`: everything the subscriber passes on |
/// | [`batch_size`](Self::batch_size) | [`DEFAULT_BATCH_SIZE`] |
/// | [`flush_interval`](Self::flush_interval) | [`DEFAULT_FLUSH_INTERVAL`] |
/// | [`flush_timeout`](Self::flush_timeout) | [`DEFAULT_FLUSH_TIMEOUT`] |
/// | [`max_value_bytes`](Self::max_value_bytes) | [`DEFAULT_MAX_VALUE_BYTES`] |
/// | [`retry_buffer_bytes`](Self::retry_buffer_bytes) | [`DEFAULT_RETRY_BUFFER_BYTES`] |
/// | [`default_stream`](Self::default_stream) | [`DEFAULT_STREAM`] (`app`) |
/// | [`default_redaction`](Self::default_redaction) | on |
/// | [`source_location`](Self::source_location) | on |
/// | [`capture_panics`](Self::capture_panics) | off |
/// | sinks | none: add at least one with [`log_dir`](Self::log_dir) or [`add_sink`](Self::add_sink) |
/// | [`key`](Self::key) | none: set one, or ask for [`unsigned`](Self::unsigned) output |
/// | [`seal_every`](Self::seal_every) | [`DEFAULT_SEAL_RECORDS`] records or [`DEFAULT_SEAL_INTERVAL`] |
/// | [`rotation`](Self::rotation) | at [`DEFAULT_MAX_FILE_BYTES`](crate::rotation::DEFAULT_MAX_FILE_BYTES), never by time |
/// | [`clock`](Self::clock) | the system clock |
///
/// # Examples
///
/// ```
/// use evtrail::{Overflow, Route};
/// use tracing_subscriber::prelude::*;
///
/// let dir = tempfile::tempdir().unwrap();
/// let (layer, guard) = evtrail::builder()
///     .service("checkout")
///     .key(evtrail::Key::generate()?) // in production: Key::from_file or Key::from_env
///     .environment("prod")
///     .log_dir(dir.path())
///     .add_route(Route::to("audit").class("audit"))
///     .overflow_for("payments", Overflow::Block)
///     .build()?;
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(class = "audit", event = "user_deleted", user = "u1", "user deleted");
/// });
/// drop(guard); // drains and flushes
/// assert!(std::fs::read_to_string(dir.path().join("audit.log"))?.contains("user_deleted"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    ctx: StaticContext,
    service_set: Option<String>,
    host: Host,
    pid: bool,
    capacity: usize,
    batch_size: usize,
    flush_interval: Duration,
    flush_timeout: Duration,
    max_value: usize,
    retry_buffer: usize,
    default_overflow: Overflow,
    overflow: Vec<(String, Overflow)>,
    filter: FilterSetting,
    routes: Vec<Route>,
    default_stream: String,
    default_redaction: bool,
    redact_keys: Vec<String>,
    redact_patterns: Vec<String>,
    source_location: bool,
    log_dir: Option<PathBuf>,
    sinks: Vec<Box<dyn Sink>>,
    capture_panics: bool,
    key: Option<Key>,
    unsigned: bool,
    seal_records: u64,
    seal_interval: Duration,
    rotation: Rotation,
    clock: Option<Arc<dyn Clock>>,
    file_options: FileOptions,
    /// The configuration the settings came from, for reloading.
    #[cfg(feature = "config")]
    pub(crate) origin: Option<crate::config::Origin>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// A builder with every setting at its default (see the table above).
    pub fn new() -> Builder {
        Builder {
            ctx: StaticContext::default(),
            service_set: None,
            host: Host::Detect,
            pid: true,
            capacity: DEFAULT_CAPACITY,
            batch_size: DEFAULT_BATCH_SIZE,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            max_value: DEFAULT_MAX_VALUE_BYTES,
            retry_buffer: DEFAULT_RETRY_BUFFER_BYTES,
            default_overflow: Overflow::DropNewest,
            overflow: vec![
                ("security".to_owned(), Overflow::Block),
                ("audit".to_owned(), Overflow::Block),
            ],
            filter: FilterSetting::Level(LevelFilter::TRACE),
            routes: Vec::new(),
            default_stream: DEFAULT_STREAM.to_owned(),
            default_redaction: true,
            redact_keys: Vec::new(),
            redact_patterns: Vec::new(),
            source_location: true,
            log_dir: None,
            sinks: Vec::new(),
            capture_panics: false,
            key: None,
            unsigned: false,
            seal_records: DEFAULT_SEAL_RECORDS,
            seal_interval: DEFAULT_SEAL_INTERVAL,
            rotation: Rotation::default(),
            clock: None,
            file_options: FileOptions::default(),
            #[cfg(feature = "config")]
            origin: None,
        }
    }

    /// How the [`log_dir`](Self::log_dir) files are compressed, cleaned up,
    /// synced and permissioned. Default: [`FileOptions::default`] (gzip
    /// level 2 with up to 2 s at close for queued compression, keep
    /// everything, no `fsync`, modes 0640 and 0750).
    pub fn file_options(mut self, options: FileOptions) -> Builder {
        self.file_options = options;
        self
    }

    /// When each stream's segment (its file) ends and a new one begins.
    /// Default: at [`DEFAULT_MAX_FILE_BYTES`](crate::rotation::DEFAULT_MAX_FILE_BYTES),
    /// never by time.
    pub fn rotation(mut self, rotation: Rotation) -> Builder {
        self.rotation = rotation;
        self
    }

    /// The clock for timestamps and time-based rotation. Default: the
    /// system clock. Meant for tests of time-dependent behaviour.
    pub fn clock(mut self, clock: impl Clock) -> Builder {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Signs every record with this key (see [`signing`](crate::signing)).
    /// Either a key or [`unsigned`](Self::unsigned) is required.
    pub fn key(mut self, key: Key) -> Builder {
        self.key = Some(key);
        self
    }

    /// Writes records without signatures, chains, segments or seals. Only
    /// for output nobody needs to prove genuine; either this or a
    /// [`key`](Self::key) is required.
    pub fn unsigned(mut self) -> Builder {
        self.unsigned = true;
        self
    }

    /// Writes an `evtrail.seal` record into every stream after `records`
    /// records or `interval`, whichever comes first, also when the stream
    /// is idle. Default [`DEFAULT_SEAL_RECORDS`] and [`DEFAULT_SEAL_INTERVAL`];
    /// both must be more than zero.
    pub fn seal_every(mut self, records: u64, interval: Duration) -> Builder {
        self.seal_records = records;
        self.seal_interval = interval;
        self
    }

    /// The service name written into every record. Default: the
    /// executable's file name. Must not be empty.
    pub fn service(mut self, name: impl Into<String>) -> Builder {
        self.service_set = Some(name.into());
        self
    }

    /// The deployment environment (`prod`, `staging`), written as `env`.
    /// Default: not written.
    pub fn environment(mut self, env: impl Into<String>) -> Builder {
        self.ctx.env = Some(env.into());
        self
    }

    /// The region or data centre. Default: not written.
    pub fn region(mut self, region: impl Into<String>) -> Builder {
        self.ctx.region = Some(region.into());
        self
    }

    /// The host name. Default: detected from the operating system.
    /// An empty string leaves `host` out.
    pub fn host(mut self, host: impl Into<String>) -> Builder {
        let host = host.into();
        self.host = if host.is_empty() {
            Host::Omit
        } else {
            Host::Fixed(host)
        };
        self
    }

    /// The node or instance id. Default: not written.
    pub fn node(mut self, node: impl Into<String>) -> Builder {
        self.ctx.node = Some(node.into());
        self
    }

    /// The application's version. Default: not written.
    pub fn version(mut self, version: impl Into<String>) -> Builder {
        self.ctx.version = Some(version.into());
        self
    }

    /// Whether to write the process id. Default: on.
    pub fn pid(mut self, on: bool) -> Builder {
        self.pid = on;
        self
    }

    /// The hand-off channel's capacity in records; it bounds the memory
    /// held for records not yet written. Default [`DEFAULT_CAPACITY`];
    /// must be at least 1.
    pub fn capacity(mut self, records: usize) -> Builder {
        self.capacity = records;
        self
    }

    /// The overflow policy for every class without its own. Default
    /// [`Overflow::DropNewest`].
    pub fn overflow(mut self, policy: Overflow) -> Builder {
        self.default_overflow = policy;
        self
    }

    /// The overflow policy for one class. Default: [`Overflow::Block`] for
    /// `security` and `audit`.
    pub fn overflow_for(mut self, class: impl Into<String>, policy: Overflow) -> Builder {
        let class = class.into();
        self.overflow.retain(|(c, _)| *c != class);
        self.overflow.push((class, policy));
        self
    }

    /// Keeps events at or above `level`. Default: `TRACE` (everything the
    /// subscriber's own filters let through). Can be changed at runtime with
    /// [`Handle::set_level`].
    pub fn level(mut self, level: LevelFilter) -> Builder {
        self.filter = FilterSetting::Level(level);
        self
    }

    /// Filter directives such as `info,my_app::db=debug`; see
    /// [`Handle::set_filter`]. Checked by [`build`](Self::build).
    pub fn filter(mut self, directives: impl Into<String>) -> Builder {
        self.filter = FilterSetting::Directives(directives.into());
        self
    }

    /// Adds a routing rule; rules are tried in the order they were added.
    /// Default: no rules, everything goes to the default stream.
    pub fn add_route(mut self, route: Route) -> Builder {
        self.routes.push(route);
        self
    }

    /// Adds a routing rule: the former name of [`add_route`](Self::add_route).
    #[deprecated(since = "0.2.0", note = "renamed to `add_route`")]
    pub fn route(self, route: Route) -> Builder {
        self.add_route(route)
    }

    /// The stream for records no route matches. Default [`DEFAULT_STREAM`].
    pub fn default_stream(mut self, stream: impl Into<String>) -> Builder {
        self.default_stream = stream.into();
        self
    }

    /// Records per worker batch. Default [`DEFAULT_BATCH_SIZE`]; at least 1.
    pub fn batch_size(mut self, records: usize) -> Builder {
        self.batch_size = records;
        self
    }

    /// The longest time sinks go unflushed while records keep coming.
    /// Default [`DEFAULT_FLUSH_INTERVAL`]. The worker also flushes whenever
    /// it has caught up.
    pub fn flush_interval(mut self, interval: Duration) -> Builder {
        self.flush_interval = interval;
        self
    }

    /// How long dropping the [`Guard`] may take to drain and flush (and to
    /// give failing sinks a last chance). Default [`DEFAULT_FLUSH_TIMEOUT`].
    pub fn flush_timeout(mut self, timeout: Duration) -> Builder {
        self.flush_timeout = timeout;
        self
    }

    /// The size limit of one captured value or message, in bytes; longer
    /// ones are cut with a marker. Default [`DEFAULT_MAX_VALUE_BYTES`];
    /// at least 64.
    pub fn max_value_bytes(mut self, bytes: usize) -> Builder {
        self.max_value = bytes;
        self
    }

    /// The former name of [`max_value_bytes`](Self::max_value_bytes).
    #[deprecated(since = "0.2.0", note = "renamed to `max_value_bytes`")]
    pub fn max_value_len(self, bytes: usize) -> Builder {
        self.max_value_bytes(bytes)
    }

    /// How many bytes of records to keep for a failing sink before the
    /// oldest are dropped (and counted). Default [`DEFAULT_RETRY_BUFFER_BYTES`].
    pub fn retry_buffer_bytes(mut self, bytes: usize) -> Builder {
        self.retry_buffer = bytes;
        self
    }

    /// The former name of [`retry_buffer_bytes`](Self::retry_buffer_bytes).
    #[deprecated(since = "0.2.0", note = "renamed to `retry_buffer_bytes`")]
    pub fn retry_buffer(self, bytes: usize) -> Builder {
        self.retry_buffer_bytes(bytes)
    }

    /// Masks the whole value of fields with this name, matched like the
    /// built-in ones: case-insensitively, `-` and `.` read as `_`, and also
    /// as a `_`-separated prefix or suffix (`ssn` masks `customer_ssn`).
    ///
    /// Built in: `password`, `passwd`, `secret`, `token`, `api_key`,
    /// `authorization`, `cookie`, `set_cookie`; inside any string, bearer
    /// and basic credentials, `password=…`-style pairs and card numbers
    /// that pass the Luhn check (all but the last four digits masked).
    pub fn add_redact_key(mut self, key: impl Into<String>) -> Builder {
        self.redact_keys.push(key.into());
        self
    }

    /// The former name of [`add_redact_key`](Self::add_redact_key).
    #[deprecated(since = "0.2.0", note = "renamed to `add_redact_key`")]
    pub fn redact_key(self, key: impl Into<String>) -> Builder {
        self.add_redact_key(key)
    }

    /// Masks every match of this regular expression inside string values
    /// and messages. Checked by [`build`](Self::build).
    pub fn add_redact_pattern(mut self, regex: impl Into<String>) -> Builder {
        self.redact_patterns.push(regex.into());
        self
    }

    /// The former name of [`add_redact_pattern`](Self::add_redact_pattern).
    #[deprecated(since = "0.2.0", note = "renamed to `add_redact_pattern`")]
    pub fn redact_pattern(self, regex: impl Into<String>) -> Builder {
        self.add_redact_pattern(regex)
    }

    /// Whether the built-in redaction rules apply. Default: on.
    pub fn default_redaction(mut self, on: bool) -> Builder {
        self.default_redaction = on;
        self
    }

    /// Whether to write `module`, `file` and `line`. Default: on.
    pub fn source_location(mut self, on: bool) -> Builder {
        self.source_location = on;
        self
    }

    /// Writes each stream to `DIR/<stream>.log` (see [`FileSink`]). The
    /// directory is created if needed; [`build`](Self::build) fails when
    /// it cannot be, or is not writable.
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.log_dir = Some(dir.into());
        self
    }

    /// Adds a sink. Every sink receives every record.
    pub fn add_sink(mut self, sink: impl Sink) -> Builder {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Installs a panic hook that writes each panic (message, location,
    /// thread, and the backtrace when `RUST_BACKTRACE` enables one) as an
    /// `ERROR` record of class `error` with event `panic`, flushes, and then
    /// calls the hook that was installed before. Default: off.
    ///
    /// The hook stays installed after shutdown but then only calls the
    /// previous hook.
    pub fn capture_panics(mut self, on: bool) -> Builder {
        self.capture_panics = on;
        self
    }

    /// Checks the settings, opens the sinks and starts the worker thread.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::error::ErrorKind::Config) for an invalid
    /// setting (zero capacity, an empty service name, a bad filter, stream
    /// name or redaction pattern, no sink), and
    /// [`ErrorKind::Io`](crate::error::ErrorKind::Io) when the log directory
    /// cannot be created or written or the worker cannot start.
    pub fn build(self) -> Result<(Layer, Guard), Error> {
        let mut ctx = self.ctx;
        ctx.service = match self.service_set {
            Some(s) => s,
            None => default_service(),
        };
        if ctx.service.trim().is_empty() {
            return Err(Error::config("the service name is empty"));
        }
        ctx.host = match self.host {
            Host::Detect => detect_host(),
            Host::Fixed(h) => Some(h),
            Host::Omit => None,
        };
        ctx.pid = self.pid.then(std::process::id);
        if self.capacity == 0 {
            return Err(Error::config("capacity must be at least 1 record"));
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch size must be at least 1 record"));
        }
        if self.max_value < 64 {
            return Err(Error::config(format!(
                "max_value_bytes must be at least 64 bytes, not {}",
                self.max_value
            )));
        }
        if self.flush_interval.is_zero() {
            return Err(Error::config("flush interval must be longer than zero"));
        }
        let filter = match self.filter {
            FilterSetting::Level(l) => Directives::level(l),
            FilterSetting::Directives(d) => Directives::parse(&d)?,
        };
        let redactor = Redactor::from_settings(
            self.default_redaction,
            &self.redact_keys,
            &self.redact_patterns,
        )?;
        let router = Router::new(self.routes, &self.default_stream)?;
        if self.seal_records == 0 || self.seal_interval.is_zero() {
            return Err(Error::config(
                "seals must come after at least 1 record and an interval longer than zero",
            ));
        }
        let mut sinks = self.sinks;
        let mut file_live = None;
        if let Some(dir) = &self.log_dir {
            let sink = FileSink::with_options(dir, self.file_options)?;
            file_live = Some(sink.live_options());
            sinks.insert(0, Box::new(sink));
        }
        let signing = match (self.key, self.unsigned) {
            (Some(_), true) => {
                return Err(Error::config(
                    "both a signing key and `unsigned` were set; choose one",
                ));
            }
            (None, false) => {
                return Err(Error::config(
                    "no signing key: set one with `key` (see `Key::from_file` and `Key::from_env`), \
                     or call `unsigned` to write records nobody can verify",
                ));
            }
            (None, true) => None,
            (Some(key), false) => {
                let streams = router.streams();
                let (state, resume) = match &self.log_dir {
                    Some(dir) => {
                        let state = State::load(dir)?;
                        let resume = streams
                            .iter()
                            .map(|s| sign::resume(dir, s, &state))
                            .collect::<Result<Vec<_>, _>>()?;
                        (state, resume)
                    }
                    None => (State::default(), vec![Resume::fresh(); streams.len()]),
                };
                Some(Signing {
                    key,
                    resume,
                    seal_records: self.seal_records,
                    seal_interval: self.seal_interval,
                    state_dir: self.log_dir.clone(),
                    state,
                })
            }
        };
        if sinks.is_empty() {
            return Err(Error::config(
                "no sink configured: call `log_dir` or `add_sink` (for example `StdoutSink::stdout()`)",
            ));
        }
        let shared = pipeline::start(Settings {
            capacity: self.capacity,
            batch_size: self.batch_size,
            flush_interval: self.flush_interval,
            flush_timeout: self.flush_timeout,
            retry_buffer_bytes: self.retry_buffer,
            max_value: self.max_value,
            default_overflow: self.default_overflow,
            overflow: self.overflow,
            filter,
            encoder: Encoder::new(&ctx, redactor, self.source_location),
            router,
            sinks,
            signing,
            rotation: self.rotation,
            clock: self.clock,
            file_live,
            log_dir: self.log_dir.clone(),
            #[cfg(feature = "config")]
            origin: self
                .origin
                .map(|o| Arc::new(o) as Arc<dyn std::any::Any + Send + Sync>),
        })?;
        if self.capture_panics {
            install_panic_hook(&shared);
        }
        Ok((
            Layer::new(shared.clone()),
            Guard {
                handle: Handle { shared },
            },
        ))
    }
}

fn install_panic_hook(shared: &Arc<pipeline::Shared>) {
    let weak = Arc::downgrade(shared);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(shared) = weak.upgrade() {
            let timeout = shared.flush_timeout;
            shared.submit_timeout(panic_record(info, shared.max_value), timeout);
            // The worker cannot wait for itself.
            if !on_evtrail_thread() {
                let _ = Handle { shared }.flush(timeout);
            }
        }
        previous(info);
    }));
}

fn default_service() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "app".to_owned())
}

fn detect_host() -> Option<String> {
    gethostname::gethostname()
        .into_string()
        .ok()
        .filter(|h| !h.is_empty())
}
