//! evtrail against `tracing-subscriber`'s JSON formatter behind
//! `tracing-appender`'s non-blocking, rolling writer (the usual choice),
//! against `slog` with `slog-json` behind `slog-async` (a second reference,
//! lossless as its docs say: `OverflowStrategy::Block`), and against two raw
//! ceilings, on one workload and in one run: throughput from 1 and 4
//! threads, the emitting thread's latency (unpaced and paced, with evtrail
//! rolling and gzipping small files during the measurement), peak memory,
//! CPU time, bytes on disk; every evtrail log verified afterwards and every
//! contender's file read back line by line. The
//! throughput runs also take evtrail with `Block` and signing off, so the
//! price of signing (hashing and the signature's bytes to gzip) shows in the
//! same run.
//!
//! Each configuration runs in its own child process (this executable again,
//! with [`CHILD_ENV`] naming the scenario), so that its peak RSS (`VmHWM`)
//! and CPU time are its own. The child prints one result line the parent
//! parses; a failed check makes the child, and so the run, fail.
//!
//! `cargo bench --bench compare`; `EVTRAIL_BENCH_N` overrides the number of
//! events of the throughput runs (the latency runs take a fifth of it).
//! Linux only: memory and CPU time are read from `/proc`.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use evtrail::verify::Verifier;
use evtrail::{Key, Keyring, Overflow, Rotation};
use flate2::read::MultiGzDecoder;
use hdrhistogram::Histogram;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tracing::Dispatch;
use tracing::dispatcher::DefaultGuard;
use tracing::span::EnteredSpan;
use tracing_appender::non_blocking::NonBlockingBuilder;
use tracing_subscriber::layer::SubscriberExt;

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/login.rs"]
mod login;
#[path = "common/numbers.rs"]
mod numbers;
#[path = "common/sig.rs"]
mod sig;
#[path = "common/size.rs"]
mod size;

use cpu::{Monitor, process_cpu};
use login::emit_login;
use numbers::grouped;
use sig::{GENESIS, sig_encode};

type HmacSha256 = Hmac<Sha256>;

/// Set in a child's environment to the scenario it runs.
const CHILD_ENV: &str = "EVTRAIL_COMPARE_CHILD";
/// Starts the one line of a child's stdout that carries its result.
const RESULT_TAG: &str = "evtrail-compare-result";
const MESSAGE: &str = "user login attempt";
const FULL_N: u64 = 1_000_000;
const SMOKE_N: u64 = 2_000;
const THREADS: u64 = 4;
/// Events before the latency runs' measured loop, waited out on disk.
const FULL_WARMUP: u64 = 10_000;
const SMOKE_WARMUP: u64 = 200;
/// Runs of each throughput configuration in a full run (the table shows
/// the median): on a shared machine single runs swing too much to compare.
const FULL_ROUNDS: usize = 3;
const PACED_RATE: u64 = 100_000;
/// evtrail's roll size is 64 bytes per event of the run, so that every run
/// rolls about 8 times, within these bounds: a 1M-event run (about 550 MB)
/// rolls at 64 MB (61 MiB), the smoke run at 128 KiB.
const ROLL_BYTES_PER_EVENT: u64 = 64;
/// The latency runs roll at 20 bytes per measured event: about every 7,000
/// events, some 28 times in a 200,000-event run (the smoke run, 8), so that
/// rolling and gzipping happen during the measurement, not after it.
const LATENCY_ROLL_BYTES_PER_EVENT: u64 = 20;
const MAX_FILE_BYTES: u64 = 64 << 20;
const MIN_FILE_BYTES: u64 = 128 << 10;
/// The raw writer's channel: as many lines as evtrail's default queue.
const RAW_CAPACITY: usize = evtrail::DEFAULT_CAPACITY;
const RAW_BUFFER: usize = 64 << 10;
/// Thread names as `/proc/self/task/*/comm` shows them (15 bytes at most).
const REF_WORKER: &str = "ref-appender";
const SLOG_WORKER: &str = "slog-async";
const RAW_WORKER: &str = "raw-writer";
const COMPRESS_COMM: &str = "evtrail-compres";
const EVTRAIL_WORKER: &str = "evtrail-worker";
/// How often the per-thread CPU times are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// Generous: only a stuck worker or compressor would take this long.
const WAIT_LIMIT: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(1);
/// The digits of the raw lines' counter, patched per line.
const COUNTER_DIGITS: usize = 10;

// ---------------------------------------------------------------------------
// Scenarios

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Config {
    EvtrailDefault,
    EvtrailBlock,
    /// `Block` without signing: what signing costs, in the same run.
    EvtrailUnsigned,
    Reference,
    /// `slog` + `slog-json` behind `slog-async` with `Block`.
    SlogAsync,
    RawChannel,
    RawHmac,
}

impl Config {
    const ALL: [Config; 7] = [
        Config::EvtrailDefault,
        Config::EvtrailBlock,
        Config::EvtrailUnsigned,
        Config::Reference,
        Config::SlogAsync,
        Config::RawChannel,
        Config::RawHmac,
    ];

    fn id(self) -> &'static str {
        match self {
            Config::EvtrailDefault => "evtrail-default",
            Config::EvtrailBlock => "evtrail-block",
            Config::EvtrailUnsigned => "evtrail-unsigned",
            Config::Reference => "reference",
            Config::SlogAsync => "slog-async",
            Config::RawChannel => "raw-channel",
            Config::RawHmac => "raw-hmac",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Config::EvtrailDefault => "evtrail, default (DropNewest)",
            Config::EvtrailBlock => "evtrail, Overflow::Block",
            Config::EvtrailUnsigned => "evtrail, Block, unsigned",
            Config::Reference => "reference: fmt().json() + non_blocking",
            Config::SlogAsync => "slog + slog-json + slog-async (Block)",
            Config::RawChannel => "raw: lines → channel → BufWriter",
            Config::RawHmac => "raw: chained HMAC-SHA256 loop",
        }
    }

    fn from_id(id: &str) -> Config {
        Config::ALL
            .into_iter()
            .find(|c| c.id() == id)
            .unwrap_or_else(|| panic!("unknown configuration `{id}`"))
    }

    fn is_evtrail(self) -> bool {
        matches!(
            self,
            Config::EvtrailDefault | Config::EvtrailBlock | Config::EvtrailUnsigned
        )
    }

    /// Whether nothing may be dropped: every event must be on disk.
    fn is_lossless(self) -> bool {
        matches!(self, Config::EvtrailBlock | Config::EvtrailUnsigned)
    }

    /// Whether an evtrail configuration signs its records.
    fn is_signed(self) -> bool {
        self != Config::EvtrailUnsigned
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Throughput {
        threads: u64,
    },
    /// One thread, each call timed; `rate` events per second, or unpaced.
    Latency {
        rate: Option<u64>,
    },
}

/// What a child runs.
#[derive(Clone, Debug)]
struct Spec {
    config: Config,
    mode: Mode,
    /// Measured events, over all threads.
    n: u64,
    /// Unmeasured events first (latency runs only).
    warmup: u64,
    max_file_bytes: u64,
    /// Length of the raw configurations' lines, newline included.
    line_bytes: usize,
}

impl Spec {
    fn encode(&self) -> String {
        let (mode, threads, rate) = match self.mode {
            Mode::Throughput { threads } => ("throughput", threads, 0),
            Mode::Latency { rate } => ("latency", 1, rate.unwrap_or(0)),
        };
        format!(
            "config={} mode={mode} threads={threads} rate={rate} n={} warmup={} max_file={} line={}",
            self.config.id(),
            self.n,
            self.warmup,
            self.max_file_bytes,
            self.line_bytes
        )
    }

    fn decode(s: &str) -> Spec {
        let kv: HashMap<&str, &str> = s.split(' ').filter_map(|p| p.split_once('=')).collect();
        let get = |k: &str| {
            *kv.get(k)
                .unwrap_or_else(|| panic!("scenario lacks `{k}`: {s}"))
        };
        let num = |k: &str| -> u64 { get(k).parse().expect("a number") };
        let mode = match get("mode") {
            "throughput" => Mode::Throughput {
                threads: num("threads"),
            },
            "latency" => Mode::Latency {
                rate: Some(num("rate")).filter(|&r| r > 0),
            },
            other => panic!("unknown mode `{other}`"),
        };
        Spec {
            config: Config::from_id(get("config")),
            mode,
            n: num("n"),
            warmup: num("warmup"),
            max_file_bytes: num("max_file"),
            line_bytes: num("line") as usize,
        }
    }

    fn sent(&self) -> u64 {
        self.warmup + self.n
    }
}

// ---------------------------------------------------------------------------
// Results, child → parent

/// A child's figures, by name; printed as `name=value` pairs.
#[derive(Default, Debug)]
struct Outcome(Vec<(&'static str, f64)>);

impl Outcome {
    fn set(&mut self, k: &'static str, v: f64) {
        self.0.push((k, v));
    }

    fn print(&self) {
        let mut line = String::from(RESULT_TAG);
        for (k, v) in &self.0 {
            line.push_str(&format!(" {k}={v}"));
        }
        println!("{line}");
    }
}

/// An [`Outcome`] read back by the parent.
#[derive(Default, Debug)]
struct Figures(HashMap<String, f64>);

impl Figures {
    fn parse(stdout: &str) -> Option<Figures> {
        let line = stdout.lines().find_map(|l| l.strip_prefix(RESULT_TAG))?;
        let map = line
            .split_whitespace()
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.parse().expect("a number")))
            .collect();
        Some(Figures(map))
    }

    fn get(&self, k: &str) -> Option<f64> {
        self.0.get(k).copied()
    }

    fn v(&self, k: &str) -> f64 {
        self.get(k)
            .unwrap_or_else(|| panic!("the child reported no `{k}`"))
    }
}

// ---------------------------------------------------------------------------
// The workload

/// One way of emitting the workload's events.
trait Workload: Sync {
    /// What a thread holds while it emits (a dispatcher, an entered span).
    type Local;
    fn local(&self) -> Self::Local;
    fn emit(&self, local: &mut Self::Local, i: u64);
}

/// Emits through a `tracing` dispatcher, inside the workload's span.
struct Traced(Dispatch);

/// Declared in drop order: the span is exited through its own dispatcher.
struct TracedLocal {
    _span: EnteredSpan,
    _default: DefaultGuard,
}

impl Workload for Traced {
    type Local = TracedLocal;

    fn local(&self) -> TracedLocal {
        let default = tracing::dispatcher::set_default(&self.0);
        let span = login::request_span();
        TracedLocal {
            _span: span.entered(),
            _default: default,
        }
    }

    #[inline(always)]
    fn emit(&self, _: &mut TracedLocal, i: u64) {
        emit_login(i);
    }
}

/// Emits through a `slog` logger; each thread's logger carries the span's
/// fields, as a child logger is slog's way of giving records context.
struct Slogged(slog::Logger);

impl Workload for Slogged {
    type Local = slog::Logger;

    fn local(&self) -> slog::Logger {
        self.0
            .new(slog::o!("request_id" => "req_xyz789", "op" => "checkout"))
    }

    #[inline(always)]
    fn emit(&self, log: &mut slog::Logger, i: u64) {
        slog::info!(
            log,
            "user login attempt";
            "user_id" => "user_12345",
            "ip" => "192.168.1.100",
            "attempt" => i,
            "result" => "failure",
            "reason" => "invalid_password"
        );
    }
}

/// slog-json's output: a buffered file that counts the lines handed to it,
/// so that a latency run can wait until its warm-up has left the queue (a
/// `BufWriter` owned by slog-async's thread cannot be flushed from outside).
struct CountingFile {
    file: BufWriter<fs::File>,
    lines: Arc<AtomicU64>,
}

impl Write for CountingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        let lines = memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        if lines > 0 {
            self.lines.fetch_add(lines, Ordering::Release);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Sends pre-formatted lines of evtrail's record size: a copy of the
/// template per event, its counter patched, as an owned buffer.
struct RawLines {
    tx: Sender<Vec<u8>>,
    template: Vec<u8>,
    counter_at: usize,
}

impl Workload for RawLines {
    type Local = ();

    fn local(&self) {}

    #[inline(always)]
    fn emit(&self, _: &mut (), i: u64) {
        let mut line = self.template.clone();
        patch_counter(
            &mut line[self.counter_at..self.counter_at + COUNTER_DIGITS],
            i,
        );
        // The writer lives until every sender is gone.
        self.tx.send(line).expect("raw writer alive");
    }
}

/// A JSON-looking line of exactly `len` bytes (newline included) with a
/// [`COUNTER_DIGITS`]-digit counter; returns it and where the counter is.
fn template_line(len: usize) -> (Vec<u8>, usize) {
    let head = format!("{{\"msg\":\"{MESSAGE}\",\"attempt\":");
    let counter_at = head.len();
    let mut line = head.into_bytes();
    line.extend_from_slice(&[b'0'; COUNTER_DIGITS]);
    line.extend_from_slice(b",\"pad\":\"");
    let tail = b"\"}\n";
    let pad = len.saturating_sub(line.len() + tail.len());
    line.extend(std::iter::repeat_n(b'x', pad));
    line.extend_from_slice(tail);
    (line, counter_at)
}

fn patch_counter(digits: &mut [u8], mut i: u64) {
    for d in digits.iter_mut().rev() {
        *d = b'0' + (i % 10) as u8;
        i /= 10;
    }
}

/// How the emitting went.
struct Drive {
    /// When the measured events began.
    start: Instant,
    /// Until every emitting thread had returned.
    producer: Duration,
    /// Each measured call, in ns (latency runs).
    hist: Option<Histogram<u64>>,
    /// Paced runs: the furthest a call started behind its schedule.
    max_behind: Duration,
}

/// Emits the scenario's events; `settle` is called after the warm-up and
/// must return once it is on disk (or at least out of the queue).
fn drive<W: Workload>(spec: &Spec, w: &W, settle: impl FnOnce()) -> Drive {
    match spec.mode {
        Mode::Throughput { threads } => {
            assert_eq!(spec.n % threads, 0, "N must divide among the threads");
            let per = spec.n / threads;
            let (start, producer) = if threads == 1 {
                let mut local = w.local();
                let start = Instant::now();
                for i in 0..per {
                    w.emit(&mut local, i);
                }
                (start, start.elapsed())
            } else {
                let ready = Barrier::new(threads as usize + 1);
                let mut start = Instant::now();
                std::thread::scope(|s| {
                    for t in 0..threads {
                        let ready = &ready;
                        std::thread::Builder::new()
                            .name(format!("producer-{t}"))
                            .spawn_scoped(s, move || {
                                let mut local = w.local();
                                ready.wait();
                                for i in t * per..(t + 1) * per {
                                    w.emit(&mut local, i);
                                }
                            })
                            .expect("spawn producer");
                    }
                    ready.wait();
                    start = Instant::now();
                });
                (start, start.elapsed())
            };
            Drive {
                start,
                producer,
                hist: None,
                max_behind: Duration::ZERO,
            }
        }
        Mode::Latency { rate } => {
            let mut local = w.local();
            for i in 0..spec.warmup {
                w.emit(&mut local, i);
            }
            settle();
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
            let mut max_behind = Duration::ZERO;
            let start = Instant::now();
            for k in 0..spec.n {
                if let Some(rate) = rate {
                    // A 10 µs interval is far below what a sleep can hit:
                    // spin. A call that runs late makes the next ones start
                    // at once, to catch up.
                    let due = start + Duration::from_nanos(k * 1_000_000_000 / rate);
                    let mut now = Instant::now();
                    while now < due {
                        std::hint::spin_loop();
                        now = Instant::now();
                    }
                    max_behind = max_behind.max(now - due);
                }
                let t = Instant::now();
                w.emit(&mut local, spec.warmup + k);
                hist.saturating_record(t.elapsed().as_nanos() as u64);
            }
            let producer = start.elapsed();
            Drive {
                start,
                producer,
                hist: Some(hist),
                max_behind,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// /proc

/// CPU seconds per role of thread.
#[derive(Default)]
struct ThreadCpu {
    /// The main thread and the producers.
    emitting: f64,
    /// The configuration's background writer.
    worker: f64,
    /// evtrail's compressor.
    gzip: f64,
}

impl ThreadCpu {
    /// Sums what a [`Monitor`] sampled by the threads' names.
    fn of(monitor: Monitor) -> ThreadCpu {
        let mut out = ThreadCpu::default();
        for (_, comm, secs) in monitor.finish() {
            match comm.as_str() {
                COMPRESS_COMM => out.gzip += secs,
                EVTRAIL_WORKER | REF_WORKER | SLOG_WORKER | RAW_WORKER => out.worker += secs,
                _ => out.emitting += secs,
            }
        }
        out
    }
}

/// Peak resident set size so far, in KiB.
fn peak_rss_kib() -> f64 {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/self/status")
}

fn thread_alive(comm: &str) -> bool {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return false;
    };
    tasks
        .flatten()
        .any(|t| fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == comm))
}

fn wait_thread_gone(comm: &str) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while thread_alive(comm) {
        assert!(Instant::now() < deadline, "thread `{comm}` did not end");
        std::thread::sleep(POLL);
    }
}

/// How long a cache line takes to go from one thread to another and back,
/// two threads handing a counter to each other: every record crosses from
/// the emitting thread to evtrail's worker, so this machine's figure shifts
/// every handing-over configuration's numbers. Measured at the start and
/// end of a run; on this shared machine it has been seen to move between
/// runs. `None` with fewer than two cores.
fn core_round_trip() -> Option<Duration> {
    const TRIPS: u64 = 100_000;
    if std::thread::available_parallelism().map_or(1, usize::from) < 2 {
        return None;
    }
    let turn = Arc::new(AtomicU64::new(0));
    let other = Arc::clone(&turn);
    let echo = std::thread::spawn(move || {
        for i in 0..TRIPS {
            while other.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            other.store(2 * i + 2, Ordering::Release);
        }
    });
    let start = Instant::now();
    for i in 0..TRIPS {
        turn.store(2 * i + 1, Ordering::Release);
        while turn.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
    }
    let took = start.elapsed();
    echo.join().expect("the echo thread");
    Some(took / TRIPS as u32)
}

/// [`core_round_trip`] for the report.
fn round_trip_text() -> String {
    core_round_trip().map_or_else(
        || "not measured (one core)".to_owned(),
        |t| format!("{} ns", t.as_nanos()),
    )
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

// ---------------------------------------------------------------------------
// Reading logs back

/// What a directory holds, read back (gzip files decompressed).
#[derive(Default, Debug)]
struct OnDisk {
    lines: u64,
    /// Lines of the workload's event (not evtrail's own records).
    events: u64,
    event_bytes: u64,
    /// Bytes of all lines, uncompressed.
    content: u64,
    /// Bytes the files take.
    disk: u64,
    gz_files: u64,
    gz_bytes: u64,
    /// What the `.gz` files hold, uncompressed.
    gz_content: u64,
    /// Sum of the `count` of `evtrail.dropped` notices for a full queue.
    noted_drops: u64,
}

fn read_back(dir: &Path) -> OnDisk {
    let message = memchr::memmem::Finder::new(MESSAGE.as_bytes());
    let mut out = OnDisk::default();
    let mut line = Vec::with_capacity(4096);
    for entry in fs::read_dir(dir).expect("list log dir").flatten() {
        let name = entry.file_name().into_string().expect("utf-8 name");
        if name.starts_with('.') {
            continue;
        }
        let len = entry.metadata().expect("stat").len();
        out.disk += len;
        let file = fs::File::open(entry.path()).expect("open log");
        let gz = name.ends_with(".gz");
        let reader: Box<dyn Read> = if gz {
            out.gz_files += 1;
            out.gz_bytes += len;
            Box::new(MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut reader = BufReader::with_capacity(256 << 10, reader);
        let mut content = 0;
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).expect("read log");
            if read == 0 {
                break;
            }
            assert!(line.ends_with(b"\n"), "`{name}`: a torn line");
            content += read as u64;
            out.lines += 1;
            if message.find(&line).is_some() {
                out.events += 1;
                out.event_bytes += read as u64;
            } else if let Some(n) = drop_notice_count(&line) {
                out.noted_drops += n;
            }
        }
        out.content += content;
        if gz {
            out.gz_content += content;
        }
    }
    out
}

/// The `count` of an `evtrail.dropped` notice about a full queue.
fn drop_notice_count(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    if !text.contains("\"evtrail.dropped\"") || !text.contains("queue_full") {
        return None;
    }
    let rest = &text[text.find("\"count\":")? + "\"count\":".len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Rolled files of evtrail's `app` stream: `(gzipped, still plain)`.
fn rolled_files(dir: &Path) -> (u64, u64) {
    let mut gz = 0;
    let mut plain = 0;
    for e in fs::read_dir(dir).expect("list log dir").flatten() {
        let name = e.file_name().into_string().expect("utf-8 name");
        // `app.<time>.<counter>.log[.gz]`; the active file is `app.log`.
        if !name.starts_with("app.") || name == "app.log" {
            continue;
        }
        if name.ends_with(".log.gz") {
            gz += 1;
        } else if name.ends_with(".log") {
            plain += 1;
        }
    }
    (gz, plain)
}

/// Waits until the reference's file holds `lines` lines.
fn wait_for_lines(dir: &Path, lines: u64) {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let have: u64 = fs::read_dir(dir)
            .expect("list dir")
            .flatten()
            .filter_map(|e| fs::read(e.path()).ok())
            .map(|d| memchr::memchr_iter(b'\n', &d).count() as u64)
            .sum();
        if have >= lines {
            return;
        }
        assert!(Instant::now() < deadline, "warm-up not on disk");
        std::thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------------------
// Children

fn child(spec: &Spec) {
    let mut out = Outcome::default();
    match spec.config {
        Config::EvtrailDefault | Config::EvtrailBlock | Config::EvtrailUnsigned => {
            child_evtrail(spec, &mut out);
        }
        Config::Reference => child_reference(spec, &mut out),
        Config::SlogAsync => child_slog_async(spec, &mut out),
        Config::RawChannel => child_raw_channel(spec, &mut out),
        Config::RawHmac => child_raw_hmac(spec, &mut out),
    }
    out.print();
}

/// The figures every configuration shares; `done` is when everything was
/// on disk.
fn common(out: &mut Outcome, d: &Drive, done: Instant, cpu: f64, threads: ThreadCpu) {
    out.set("producer_s", d.producer.as_secs_f64());
    out.set("e2e_s", (done - d.start).as_secs_f64());
    out.set("cpu_s", cpu);
    out.set("cpu_emitting_s", threads.emitting);
    out.set("cpu_worker_s", threads.worker);
    out.set("cpu_gzip_s", threads.gzip);
    out.set("rss_kib", peak_rss_kib());
    if let Some(h) = &d.hist {
        out.set("p50", h.value_at_quantile(0.50) as f64);
        out.set("p99", h.value_at_quantile(0.99) as f64);
        out.set("p999", h.value_at_quantile(0.999) as f64);
        out.set("p9999", h.value_at_quantile(0.9999) as f64);
        out.set("max", h.max() as f64);
        out.set("behind_us", d.max_behind.as_secs_f64() * 1e6);
    }
}

fn child_evtrail(spec: &Spec, out: &mut Outcome) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("logs");
    let key = Key::generate().expect("OS random generator");
    let signed = spec.config.is_signed();
    let mut b = evtrail::builder()
        .service("bench")
        .log_dir(&dir)
        .rotation(Rotation::default().max_bytes(spec.max_file_bytes));
    b = if signed {
        b.key(key.clone())
    } else {
        b.unsigned()
    };
    if spec.config.is_lossless() {
        b = b.overflow(Overflow::Block);
    }
    let (layer, guard) = b.build().expect("evtrail build");
    let handle = guard.handle();
    let w = Traced(Dispatch::new(tracing_subscriber::registry().with(layer)));
    let monitor = Monitor::start(SAMPLE_EVERY);
    let cpu0 = process_cpu();
    let d = drive(spec, &w, || {
        guard.flush(WAIT_LIMIT).expect("flush after the warm-up");
    });
    // Splits the end-to-end time: every record written (and the files
    // flushed), then the guard's drop (sync, close, wait for compression).
    guard.flush(WAIT_LIMIT).expect("flush after the run");
    let written = Instant::now();
    drop(guard);
    let done = Instant::now();
    let cpu = process_cpu() - cpu0;
    common(out, &d, done, cpu, ThreadCpu::of(monitor));
    out.set("written_s", (written - d.start).as_secs_f64());
    out.set("guard_drop_s", (done - written).as_secs_f64());
    drop(w);

    // Whether the guard's drop waited for the compression of rolled files:
    // the file sink's close waits about 2 s, then leaves the compressor to
    // finish the file in hand and stop.
    let (gz_at_drop, plain_at_drop) = rolled_files(&dir);
    out.set(
        "compressing_at_drop",
        f64::from(u8::from(thread_alive(COMPRESS_COMM))),
    );
    out.set("gz_at_drop", gz_at_drop as f64);
    out.set("plain_at_drop", plain_at_drop as f64);
    wait_thread_gone(COMPRESS_COMM);
    let (gz_end, plain_end) = rolled_files(&dir);
    out.set("gz_end", gz_end as f64);
    out.set("plain_end", plain_end as f64);

    let stats = handle.stats();
    let disk = read_back(&dir);
    let (records, verified, findings) = if signed {
        let report = Verifier::new(Keyring::new().with(key))
            .verify_paths(&[&dir])
            .expect("verify");
        let records: u64 = report.streams.iter().map(|s| s.records).sum();
        let verified: u64 = report.streams.iter().map(|s| s.verified).sum();
        assert!(
            report.is_clean(),
            "{}: not clean:\n{report}",
            spec.config.id()
        );
        assert_eq!(report.unverified(), 0, "{report}");
        assert_eq!(records, disk.lines, "the verifier read every line");
        assert_eq!(verified, records, "every record verified: {report}");
        // Every record verified, so every event line on disk is a verified
        // record of the workload's.
        (records, verified, report.findings.len())
    } else {
        // Nothing to verify: the count of whole event lines read back is
        // the check.
        (disk.lines, 0, 0)
    };
    let sent = spec.sent();
    if spec.config.is_lossless() {
        assert_eq!(stats.dropped, 0, "Overflow::Block dropped records");
        assert_eq!(
            disk.events, sent,
            "Overflow::Block: {sent} events sent, {} on disk",
            disk.events
        );
    } else {
        assert_eq!(
            disk.events + stats.dropped,
            sent,
            "default policy: every event either on disk or counted as dropped"
        );
    }
    out.set("sent", sent as f64);
    out.set("dropped", stats.dropped as f64);
    out.set("noted_drops", disk.noted_drops as f64);
    out.set("records", records as f64);
    out.set("verified", verified as f64);
    out.set("findings", findings as f64);
    on_disk(out, &disk);
}

fn on_disk(out: &mut Outcome, disk: &OnDisk) {
    out.set("events", disk.events as f64);
    out.set("event_bytes", disk.event_bytes as f64);
    out.set("lines", disk.lines as f64);
    out.set("content", disk.content as f64);
    out.set("disk", disk.disk as f64);
    out.set("gz_files", disk.gz_files as f64);
    out.set("gz_bytes", disk.gz_bytes as f64);
    out.set("gz_content", disk.gz_content as f64);
}

fn child_reference(spec: &Spec, out: &mut Outcome) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name(REF_WORKER)
        .finish(tracing_appender::rolling::hourly(&dir, "ref.log"));
    let errors = writer.error_counter();
    // The same information as an evtrail record: the span's fields, thread,
    // file and line (evtrail also adds service, host and pid).
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_thread_names(true)
        .with_file(true)
        .with_line_number(true)
        .with_writer(writer)
        .finish();
    let w = Traced(Dispatch::new(subscriber));
    let monitor = Monitor::start(SAMPLE_EVERY);
    let cpu0 = process_cpu();
    let d = drive(spec, &w, || wait_for_lines(&dir, spec.warmup));
    let t = Instant::now();
    drop(guard);
    let guard_returned = Instant::now();
    // The WorkerGuard waits at most about 1 s for the worker; dropping the
    // writer (with the dispatcher) disconnects the channel, after which the
    // worker writes what is queued and ends.
    drop(w);
    wait_thread_gone(REF_WORKER);
    let done = Instant::now();
    let cpu = process_cpu() - cpu0;
    common(out, &d, done, cpu, ThreadCpu::of(monitor));
    out.set("guard_drop_s", (guard_returned - t).as_secs_f64());
    out.set("after_guard_s", (done - guard_returned).as_secs_f64());
    let disk = read_back(&dir);
    let sent = spec.sent();
    assert_eq!(errors.dropped_lines(), 0, "lossy(false) dropped lines");
    assert_eq!(disk.events, sent, "reference: every event on disk");
    out.set("sent", sent as f64);
    out.set("dropped", 0.0);
    on_disk(out, &disk);
}

fn child_slog_async(spec: &Spec, out: &mut Outcome) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = fs::File::create(tmp.path().join("slog.log")).expect("create");
    let lines = Arc::new(AtomicU64::new(0));
    let io = CountingFile {
        file: BufWriter::new(file),
        lines: Arc::clone(&lines),
    };
    // The keys slog-json adds by default (ts, level, msg), the span's, the
    // event's.
    let json = slog_json::Json::new(io).add_default_keys().build();
    let drain = slog_async::Async::new(slog::Drain::fuse(json))
        .overflow_strategy(slog_async::OverflowStrategy::Block)
        .thread_name(SLOG_WORKER.to_owned())
        .build();
    let w = Slogged(slog::Logger::root(slog::Drain::fuse(drain), slog::o!()));
    let monitor = Monitor::start(SAMPLE_EVERY);
    let cpu0 = process_cpu();
    let d = drive(spec, &w, || {
        let deadline = Instant::now() + WAIT_LIMIT;
        while lines.load(Ordering::Acquire) < spec.warmup {
            assert!(Instant::now() < deadline, "slog-async: warm-up not written");
            std::thread::sleep(POLL);
        }
    });
    // The last logger's drop sends slog-async's thread its end and joins
    // it; the thread's drop of the drain flushes the file.
    drop(w);
    let done = Instant::now();
    let cpu = process_cpu() - cpu0;
    assert!(!thread_alive(SLOG_WORKER), "slog-async's thread ended");
    common(out, &d, done, cpu, ThreadCpu::of(monitor));
    let disk = read_back(tmp.path());
    assert_eq!(disk.events, spec.sent(), "slog-async: every event on disk");
    assert_eq!(
        disk.lines,
        spec.sent(),
        "slog-async: nothing but the events"
    );
    out.set("sent", spec.sent() as f64);
    out.set("dropped", 0.0);
    on_disk(out, &disk);
}

fn child_raw_channel(spec: &Spec, out: &mut Outcome) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("raw.log");
    let file = fs::File::create(&path).expect("create");
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(RAW_CAPACITY);
    let writer = std::thread::Builder::new()
        .name(RAW_WORKER.to_owned())
        .spawn(move || {
            let mut w = BufWriter::with_capacity(RAW_BUFFER, file);
            for line in rx {
                w.write_all(&line).expect("write");
            }
            w.flush().expect("flush");
        })
        .expect("spawn writer");
    let (template, counter_at) = template_line(spec.line_bytes);
    let w = RawLines {
        tx,
        template,
        counter_at,
    };
    let monitor = Monitor::start(SAMPLE_EVERY);
    let cpu0 = process_cpu();
    let d = drive(spec, &w, || {
        let deadline = Instant::now() + WAIT_LIMIT;
        while !w.tx.is_empty() {
            assert!(Instant::now() < deadline, "raw writer stuck");
            std::thread::sleep(POLL);
        }
    });
    drop(w);
    writer.join().expect("raw writer");
    let done = Instant::now();
    let cpu = process_cpu() - cpu0;
    common(out, &d, done, cpu, ThreadCpu::of(monitor));
    let disk = read_back(tmp.path());
    assert_eq!(disk.events, spec.sent(), "raw: every line on disk");
    out.set("sent", spec.sent() as f64);
    out.set("dropped", 0.0);
    on_disk(out, &disk);
}

fn child_raw_hmac(spec: &Spec, out: &mut Outcome) {
    let secret = [0x5au8; 32];
    let keyed = HmacSha256::new_from_slice(&secret).expect("HMAC takes any key length");
    let (mut line, counter_at) = template_line(spec.line_bytes);
    let mut prev = GENESIS;
    let cpu0 = process_cpu();
    let start = Instant::now();
    for i in 0..spec.n {
        patch_counter(&mut line[counter_at..counter_at + COUNTER_DIGITS], i);
        let tag = keyed
            .clone()
            .chain_update(prev)
            .chain_update(&line)
            .finalize()
            .into_bytes();
        sig_encode(&tag, &mut prev);
    }
    let done = Instant::now();
    let cpu = process_cpu() - cpu0;
    // Keeps the chain from being optimised away.
    std::hint::black_box(prev);
    // No producer: the loop is the whole run.
    out.set("e2e_s", (done - start).as_secs_f64());
    out.set("cpu_s", cpu);
    out.set("rss_kib", peak_rss_kib());
    out.set("sent", spec.n as f64);
    out.set("dropped", 0.0);
    out.set("events", spec.n as f64);
    out.set("event_bytes", (spec.n * line.len() as u64) as f64);
}

// ---------------------------------------------------------------------------
// The parent

fn run_child(spec: &Spec) -> Figures {
    let exe = std::env::current_exe().expect("current_exe");
    let t = Instant::now();
    let output = Command::new(exe)
        .env(CHILD_ENV, spec.encode())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        panic!(
            "scenario `{}` failed ({}); its stdout:\n{stdout}",
            spec.encode(),
            output.status
        );
    }
    let figures = Figures::parse(&stdout)
        .unwrap_or_else(|| panic!("scenario `{}` reported nothing:\n{stdout}", spec.encode()));
    eprintln!(
        "  {} ({:?}): {:.1} s",
        spec.config.id(),
        spec.mode,
        t.elapsed().as_secs_f64()
    );
    figures
}

/// How a column's ratio rows are formed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ratio {
    /// No ratio (counts).
    None,
    /// evtrail / reference.
    Reference,
    /// evtrail / reference and evtrail / each raw ceiling (throughput).
    Ceilings,
}

struct Column {
    name: &'static str,
    fmt: fn(f64) -> String,
    ratio: Ratio,
    value: fn(&Figures) -> Option<f64>,
}

fn f3(v: f64) -> String {
    format!("{v:.3}")
}

fn f2(v: f64) -> String {
    format!("{v:.2}")
}

fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// Events written (for evtrail's default policy, those not dropped).
fn delivered(f: &Figures) -> f64 {
    f.v("events")
}

fn throughput_columns() -> Vec<Column> {
    [
        Column {
            name: "producer (s)",
            fmt: f3,
            ratio: Ratio::Reference,
            value: |f| f.get("producer_s"),
        },
        Column {
            name: "end-to-end (s)",
            fmt: f3,
            ratio: Ratio::Reference,
            value: |f| Some(f.v("e2e_s")),
        },
        Column {
            name: "events/s e2e ↑",
            fmt: grouped,
            ratio: Ratio::Ceilings,
            value: |f| Some(delivered(f) / f.v("e2e_s")),
        },
        Column {
            name: "bytes/event",
            fmt: f1,
            ratio: Ratio::Reference,
            value: |f| Some(f.get("content").or(f.get("event_bytes"))? / delivered(f)),
        },
        Column {
            name: "on disk/event",
            fmt: f1,
            ratio: Ratio::Reference,
            value: |f| Some(f.get("disk")? / delivered(f)),
        },
    ]
    .into_iter()
    .chain(resource_columns())
    .collect()
}

/// The last columns of every table: memory, CPU and drops.
fn resource_columns() -> [Column; 3] {
    [
        Column {
            name: "peak RSS (MiB)",
            fmt: f1,
            ratio: Ratio::Reference,
            value: |f| Some(f.v("rss_kib") / 1024.0),
        },
        Column {
            name: "CPU (s)",
            fmt: f2,
            ratio: Ratio::Reference,
            value: |f| Some(f.v("cpu_s")),
        },
        Column {
            name: "dropped",
            fmt: grouped,
            ratio: Ratio::None,
            value: |f| Some(f.v("dropped")),
        },
    ]
}

fn latency_columns(paced: bool) -> Vec<Column> {
    let mut cols = vec![
        Column {
            name: "p50 (ns)",
            fmt: grouped,
            ratio: Ratio::Reference,
            value: |f| f.get("p50"),
        },
        Column {
            name: "p99 (ns)",
            fmt: grouped,
            ratio: Ratio::Reference,
            value: |f| f.get("p99"),
        },
        Column {
            name: "p99.9 (ns)",
            fmt: grouped,
            ratio: Ratio::Reference,
            value: |f| f.get("p999"),
        },
        Column {
            name: "p99.99 (ns)",
            fmt: grouped,
            ratio: Ratio::Reference,
            value: |f| f.get("p9999"),
        },
        Column {
            name: "max (ns)",
            fmt: grouped,
            ratio: Ratio::Reference,
            value: |f| f.get("max"),
        },
        Column {
            name: "producer (s)",
            fmt: f3,
            ratio: Ratio::Reference,
            value: |f| Some(f.v("producer_s")),
        },
        Column {
            name: "end-to-end (s)",
            fmt: f3,
            ratio: Ratio::Reference,
            value: |f| Some(f.v("e2e_s")),
        },
    ];
    cols.extend(resource_columns());
    if paced {
        cols.insert(
            4,
            Column {
                name: "max behind schedule (µs)",
                fmt: grouped,
                ratio: Ratio::None,
                value: |f| f.get("behind_us"),
            },
        );
    }
    cols
}

fn print_table(results: &[(Config, Figures)], cols: &[Column]) {
    let cell = |f: &Figures, c: &Column| (c.value)(f).map_or("–".to_owned(), c.fmt);
    print!("| configuration |");
    for c in cols {
        print!(" {} |", c.name);
    }
    println!();
    print!("|---|");
    for _ in cols {
        print!("---:|");
    }
    println!();
    for (config, f) in results {
        print!("| {} |", config.label());
        for c in cols {
            print!(" {} |", cell(f, c));
        }
        println!();
    }
    let find = |k: Config| results.iter().find(|(c, _)| *c == k).map(|(_, f)| f);
    let mut pairs = Vec::new();
    for ev in [
        Config::EvtrailDefault,
        Config::EvtrailBlock,
        Config::EvtrailUnsigned,
    ] {
        for (base, kind) in [
            (Config::Reference, Ratio::Reference),
            (Config::SlogAsync, Ratio::Reference),
            (Config::RawChannel, Ratio::Ceilings),
            (Config::RawHmac, Ratio::Ceilings),
        ] {
            // Unsigned records are set beside the references only: the
            // ceilings' HMAC loop is work they skip.
            if ev == Config::EvtrailUnsigned
                && !matches!(base, Config::Reference | Config::SlogAsync)
            {
                continue;
            }
            if let (Some(a), Some(b)) = (find(ev), find(base)) {
                pairs.push((ev, base, kind, a, b));
            }
        }
    }
    for (ev, base, kind, a, b) in pairs {
        let any = cols.iter().any(|c| match kind {
            Ratio::Reference => c.ratio != Ratio::None,
            _ => c.ratio == Ratio::Ceilings,
        });
        if !any {
            continue;
        }
        let short = |c: Config| match c {
            Config::EvtrailDefault => "evtrail default",
            Config::EvtrailBlock => "evtrail Block",
            Config::EvtrailUnsigned => "evtrail unsigned",
            Config::Reference => "reference",
            Config::SlogAsync => "slog-async",
            Config::RawChannel => "raw channel",
            Config::RawHmac => "raw HMAC",
        };
        print!("| **{} / {}** |", short(ev), short(base));
        for c in cols {
            let wanted = match kind {
                Ratio::Reference => c.ratio != Ratio::None,
                _ => c.ratio == Ratio::Ceilings,
            };
            let r = match ((c.value)(a), (c.value)(b)) {
                (Some(x), Some(y)) if wanted && y > 0.0 => format!("{:.2}", x / y),
                _ => String::new(),
            };
            print!(" {r} |");
        }
        println!();
    }
}

/// Lines under a table: verification, drops, compression, the reference's
/// shutdown.
fn print_notes(results: &[(Config, Figures)]) {
    for (config, f) in results {
        if config.is_evtrail() {
            let gzip = if f.v("gz_files") == 0.0 {
                "no file was gzipped".to_owned()
            } else {
                format!(
                    "gzip {:.1}× ({:.1} → {:.1} MB)",
                    f.v("gz_content") / f.v("gz_bytes"),
                    f.v("gz_content") / 1e6,
                    f.v("gz_bytes") / 1e6
                )
            };
            let checked = if config.is_signed() {
                format!(
                    "{} of {} records verified, clean",
                    grouped(f.v("verified")),
                    grouped(f.v("records"))
                )
            } else {
                format!(
                    "{} records read back, unsigned (nothing to verify)",
                    grouped(f.v("records"))
                )
            };
            let waited = if f.v("plain_at_drop") == 0.0 && f.v("compressing_at_drop") == 0.0 {
                "it had waited for compression".to_owned()
            } else {
                format!(
                    "it had not waited for compression ({} still plain once the compressor \
                     stopped)",
                    f.v("plain_end")
                )
            };
            println!(
                "- {}: {} sent, {} dropped ({:.1} %, `Stats::dropped`; the `evtrail.dropped` \
                 notices say {}), {} on disk; {checked}. All written \
                 (`flush`) after {:.2} s, then the guard drop took {:.2} s; rolled files at its \
                 return: {} .log.gz, {} plain .log: {waited}; \
                 {gzip}. CPU emitting / worker / gzip: {:.2} / {:.2} / {:.2} s.{}",
                config.label(),
                grouped(f.v("sent")),
                grouped(f.v("dropped")),
                100.0 * f.v("dropped") / f.v("sent"),
                grouped(f.v("noted_drops")),
                grouped(f.v("events")),
                f.v("written_s"),
                f.v("guard_drop_s"),
                f.v("gz_at_drop"),
                f.v("plain_at_drop"),
                f.v("cpu_emitting_s"),
                f.v("cpu_worker_s"),
                f.v("cpu_gzip_s"),
                spread(f),
            );
        } else if *config == Config::Reference {
            let after = f.v("after_guard_s");
            let verdict = if after > 0.005 {
                format!(
                    "returned {after:.2} s before its worker had written everything; \
                     end-to-end is when the worker thread ended"
                )
            } else {
                "returned when everything was written".to_owned()
            };
            println!(
                "- reference: WorkerGuard drop {:.2} s, {verdict}. CPU emitting / worker: {:.2} / \
                 {:.2} s.{}",
                f.v("guard_drop_s"),
                f.v("cpu_emitting_s"),
                f.v("cpu_worker_s"),
                spread(f),
            );
        } else {
            let spread = spread(f);
            if !spread.is_empty() {
                println!("- {}:{spread}", config.label());
            }
        }
    }
}

struct Plan {
    n: u64,
    lat_n: u64,
    warmup: u64,
    /// How many times each throughput configuration runs, in turn with the
    /// others; the table shows each one's median run.
    rounds: usize,
}

impl Plan {
    /// The same roll size in every throughput run, so that they roll
    /// about 8 times; a small one in the latency runs.
    fn max_file_bytes(&self, mode: Mode) -> u64 {
        let bytes = match mode {
            Mode::Throughput { .. } => self.n * ROLL_BYTES_PER_EVENT,
            Mode::Latency { .. } => self.lat_n * LATENCY_ROLL_BYTES_PER_EVENT,
        };
        bytes.clamp(MIN_FILE_BYTES, MAX_FILE_BYTES)
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.0} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    }
}

fn run_table(
    title: &str,
    plan: &Plan,
    mode: Mode,
    configs: &[Config],
    line_bytes: &mut usize,
) -> Vec<(Config, Figures)> {
    eprintln!("{title}");
    let (n, warmup) = match mode {
        Mode::Throughput { .. } => (plan.n, 0),
        Mode::Latency { .. } => (plan.lat_n, plan.warmup),
    };
    let rounds = match mode {
        Mode::Throughput { .. } => plan.rounds.max(1),
        // Each is a histogram of many calls already.
        Mode::Latency { .. } => 1,
    };
    // Round by round, every configuration in turn, so that a machine whose
    // speed drifts during the run shifts them all alike.
    let mut runs: Vec<Vec<Figures>> = configs.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (i, &config) in configs.iter().enumerate() {
            let spec = Spec {
                config,
                mode,
                n,
                warmup,
                max_file_bytes: plan.max_file_bytes(mode),
                line_bytes: *line_bytes,
            };
            let f = run_child(&spec);
            if config.is_evtrail() && *line_bytes == 0 {
                // The raw ceilings use lines of evtrail's mean record size.
                *line_bytes = (f.v("event_bytes") / f.v("events")).round() as usize;
            }
            runs[i].push(f);
        }
    }
    configs
        .iter()
        .zip(runs)
        .map(|(&config, runs)| (config, median_run(runs)))
        .collect()
}

/// The run with the median end-to-end time, whole (its figures belong
/// together), with the fastest and slowest end-to-end times of all the
/// runs added as `e2e_min_s`, `e2e_max_s` and their count as `rounds`.
fn median_run(mut runs: Vec<Figures>) -> Figures {
    runs.sort_by(|a, b| a.v("e2e_s").total_cmp(&b.v("e2e_s")));
    let (min, max, count) = (
        runs[0].v("e2e_s"),
        runs[runs.len() - 1].v("e2e_s"),
        runs.len(),
    );
    let mut median = runs.swap_remove(count / 2);
    median.0.insert("e2e_min_s".to_owned(), min);
    median.0.insert("e2e_max_s".to_owned(), max);
    median.0.insert("rounds".to_owned(), count as f64);
    median
}

/// How the runs of a configuration spread, for its note.
fn spread(f: &Figures) -> String {
    let rounds = f.get("rounds").unwrap_or(1.0);
    if rounds < 2.0 {
        return String::new();
    }
    format!(
        " Median of {rounds} runs; end-to-end ranged {:.3}–{:.3} s.",
        f.v("e2e_min_s"),
        f.v("e2e_max_s")
    )
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&Spec::decode(&spec));
        return;
    }
    // `cargo test --benches` and CI run this binary without `--bench`: a
    // smoke run with tiny N exercises every scenario and check.
    let full = size::full_run();
    let n = size::events(FULL_N, SMOKE_N);
    let plan = if full {
        Plan {
            n,
            lat_n: n / 5,
            warmup: FULL_WARMUP,
            rounds: FULL_ROUNDS,
        }
    } else {
        Plan {
            n,
            lat_n: n,
            warmup: SMOKE_WARMUP,
            rounds: 1,
        }
    };
    let wall = Instant::now();
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    let load = loadavg();
    let load1: f64 = load
        .split(' ')
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0.0);
    let busy = if load1 > 0.5 * cores as f64 {
        "looked busy"
    } else {
        "looked quiet"
    };

    println!(
        "{cores} cores; load average (1/5/15 min) at start {load}: {busy}. A cache line's \
         round trip between two threads: {}.{}",
        round_trip_text(),
        if full {
            ""
        } else {
            " Smoke run (no `--bench`): tiny N."
        }
    );
    println!();
    println!(
        "Workload: inside span `request{{request_id, op}}`, `info!(user_id, ip, attempt = i, \
         result, reason, \"user login attempt\")`. Each configuration runs alone in a child \
         process. evtrail: signed (generated key), `log_dir` in a tempdir, rolling at {} ({} in \
         the latency runs, so that files roll and are gzipped while the calls are timed), gzip \
         level {}. Reference: `fmt().json()` with current span, thread name, file and line, \
         through `NonBlockingBuilder::default().lossy(false)` over `rolling::hourly`. slog-async: \
         `slog_json::Json::new(BufWriter<File>).add_default_keys()` behind \
         `slog_async::Async` with `OverflowStrategy::Block` (lossless; the default channel of \
         128), the span's fields in a child logger. Raw: lines \
         of evtrail's mean record size, copied per event and sent over a crossbeam channel of \
         {RAW_CAPACITY} to one thread writing a {} KiB `BufWriter<File>`; and a chained \
         HMAC-SHA256 (sig_n = HMAC(key, base64url(sig_n-1) ‖ line_n)) over such lines in memory.",
        size(plan.max_file_bytes(Mode::Throughput { threads: 1 })),
        size(plan.max_file_bytes(Mode::Latency { rate: None })),
        evtrail::DEFAULT_COMPRESSION_LEVEL,
        RAW_BUFFER >> 10,
    );
    println!();
    println!(
        "End-to-end: first event until everything is on disk (evtrail: the guard's drop \
         returned; reference and slog-async: their worker thread ended; raw: the writer \
         joined). events/s counts \
         events written (↑ and ratios > 1: evtrail faster); for every other ratio < 1 means \
         evtrail takes less. bytes/event: uncompressed bytes written per event (evtrail \
         includes its segment, seal and drop records); on disk: as the files were left. CPU: \
         user + system of the child from the first event to end-to-end (10 ms ticks). Peak RSS: \
         the child's VmHWM."
    );

    let all = Config::ALL;
    let no_hmac = [
        Config::EvtrailDefault,
        Config::EvtrailBlock,
        Config::Reference,
        Config::SlogAsync,
        Config::RawChannel,
    ];
    let mut line_bytes = 0;
    let tables: [(String, Mode, &[Config]); 4] = [
        (
            format!("{} events from 1 thread", grouped(plan.n as f64)),
            Mode::Throughput { threads: 1 },
            &all,
        ),
        (
            format!(
                "{} events from {THREADS} threads ({} each)",
                grouped(plan.n as f64),
                grouped((plan.n / THREADS) as f64)
            ),
            Mode::Throughput { threads: THREADS },
            &all,
        ),
        (
            format!(
                "Latency, unpaced: {} events from 1 thread, each call timed (after {} warm-up \
                 events, waited out on disk); evtrail rolls every {} and gzips meanwhile",
                grouped(plan.lat_n as f64),
                grouped(plan.warmup as f64),
                size(plan.max_file_bytes(Mode::Latency { rate: None }))
            ),
            Mode::Latency { rate: None },
            &no_hmac,
        ),
        (
            format!(
                "Latency, paced at {}/s: {} events from 1 thread, spinning to the schedule (a late \
                 call makes the next start at once), each call timed (after {} warm-up events); \
                 evtrail rolls every {} and gzips meanwhile",
                grouped(PACED_RATE as f64),
                grouped(plan.lat_n as f64),
                grouped(plan.warmup as f64),
                size(plan.max_file_bytes(Mode::Latency { rate: None }))
            ),
            Mode::Latency {
                rate: Some(PACED_RATE),
            },
            &no_hmac,
        ),
    ];
    for (title, mode, configs) in tables {
        let t = Instant::now();
        let results = run_table(&title, &plan, mode, configs, &mut line_bytes);
        println!();
        println!("### {title}");
        println!();
        let cols = match mode {
            Mode::Throughput { .. } => throughput_columns(),
            Mode::Latency { rate } => latency_columns(rate.is_some()),
        };
        print_table(&results, &cols);
        println!();
        print_notes(&results);
        if let Mode::Throughput { threads } = mode
            && threads > 1
        {
            println!("- The raw HMAC row is one chain on one thread, as each evtrail stream is.");
        }
        println!(
            "- Raw lines: {line_bytes} bytes. This table took {:.0} s.",
            t.elapsed().as_secs_f64()
        );
    }
    println!();
    println!(
        "Load average at the end {}; cache line round trip {}; the whole run took {:.0} s.",
        loadavg(),
        round_trip_text(),
        wall.elapsed().as_secs_f64()
    );
}
