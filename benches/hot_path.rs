//! The emitting thread's cost and the pipeline's throughput, evtrail against
//! `tracing-subscriber`'s JSON formatter behind `tracing-appender`'s
//! non-blocking writer, on one workload and in one run.
//!
//! `cargo bench --bench hot_path`; `EVTRAIL_BENCH_N` overrides the number of
//! events of the throughput run.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::Dispatch;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::layer::SubscriberExt;

#[path = "common/login.rs"]
mod login;
#[path = "common/numbers.rs"]
mod numbers;
#[path = "common/size.rs"]
mod size;

use login::emit_login;
use numbers::grouped;

const DEFAULT_N: usize = 200_000;
const LATENCY_N: usize = 100_000;
const WARMUP: usize = 10_000;
const MESSAGE: &str = "user login attempt";
/// Generous: only a stuck worker would take this long.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    EvtrailDefault,
    EvtrailBlock,
    Reference,
}

const KINDS: [Kind; 3] = [Kind::EvtrailDefault, Kind::EvtrailBlock, Kind::Reference];

enum Guard {
    Evtrail(evtrail::Guard),
    Reference(WorkerGuard, ErrorCounter),
}

impl Guard {
    fn dropped(&self) -> u64 {
        match self {
            Guard::Evtrail(g) => g.stats().dropped,
            Guard::Reference(_, errors) => errors.dropped_lines() as u64,
        }
    }
}

struct Setup {
    dispatch: Dispatch,
    guard: Guard,
    log: PathBuf,
    // Kept so the directory outlives the reads of the log after shutdown.
    _dir: tempfile::TempDir,
}

fn setup(kind: Kind) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    match kind {
        Kind::EvtrailDefault | Kind::EvtrailBlock => {
            let mut b = evtrail::builder()
                .service("bench")
                .key(evtrail::Key::generate().expect("OS random generator"))
                .log_dir(dir.path())
                // One file, so the whole run can be read back from `app.log`
                // (the default would roll at 100 MiB, before a full run ends).
                .rotation(evtrail::Rotation::never());
            if kind == Kind::EvtrailBlock {
                b = b.overflow(evtrail::Overflow::Block);
            }
            let (layer, guard) = b.build().expect("evtrail build");
            Setup {
                dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
                guard: Guard::Evtrail(guard),
                log: dir.path().join("app.log"),
                _dir: dir,
            }
        }
        Kind::Reference => {
            let (writer, guard) = NonBlockingBuilder::default()
                .lossy(false)
                .finish(tracing_appender::rolling::never(dir.path(), "ref.log"));
            let errors = writer.error_counter();
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_writer(writer)
                .finish();
            Setup {
                dispatch: Dispatch::new(subscriber),
                guard: Guard::Reference(guard, errors),
                log: dir.path().join("ref.log"),
                _dir: dir,
            }
        }
    }
}

fn count_lines(path: &Path) -> usize {
    fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// Waits until the warm-up is on disk, so that the measured loop starts with
/// an empty queue in every configuration instead of inheriting a backlog.
fn settle(setup: &Setup, warm_lines: usize) {
    match &setup.guard {
        Guard::Evtrail(g) => {
            if let Err(e) = g.flush(SETTLE_TIMEOUT) {
                eprintln!("warning: evtrail flush after warm-up failed: {e}");
            }
        }
        // The appender has no flush; its file is written line by line, so
        // the line count is the progress.
        Guard::Reference(..) => {
            if !wait_for_lines(&setup.log, warm_lines, SETTLE_TIMEOUT) {
                eprintln!("warning: reference warm-up not on disk after {SETTLE_TIMEOUT:?}");
            }
        }
    }
}

fn wait_for_lines(path: &Path, lines: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while count_lines(path) < lines {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Shuts the pipeline down; returns when everything was on disk, and whether
/// that was already so when the guard's drop returned.
fn shut_down(guard: Guard, log: &Path, expected_lines: usize) -> (Instant, bool) {
    match guard {
        Guard::Evtrail(g) => {
            drop(g);
            (Instant::now(), true)
        }
        Guard::Reference(g, _) => {
            drop(g);
            // Taken before the check, so reading the file is not billed to
            // the reference.
            let done = Instant::now();
            // The WorkerGuard gives up waiting for its worker after about a
            // second, so its return does not prove the file is complete.
            if count_lines(log) >= expected_lines {
                return (done, true);
            }
            wait_for_lines(log, expected_lines, SETTLE_TIMEOUT);
            (Instant::now(), false)
        }
    }
}

struct LogFile {
    event_lines: usize,
    event_bytes: usize,
}

fn read_log(path: &Path) -> LogFile {
    let data = fs::read_to_string(path).expect("read log");
    let mut out = LogFile {
        event_lines: 0,
        event_bytes: 0,
    };
    for line in data.lines() {
        // evtrail may add `evtrail.dropped` notices; they are not events.
        if line.contains(MESSAGE) {
            out.event_lines += 1;
            out.event_bytes += line.len() + 1;
        }
    }
    out
}

struct Throughput {
    producer: Duration,
    end_to_end: Duration,
    complete_at_guard_drop: bool,
    dropped: u64,
    on_disk: usize,
    bytes_per_event: f64,
}

fn throughput(kind: Kind, n: usize, warmup: usize) -> Throughput {
    let s = setup(kind);
    let mut producer = Duration::ZERO;
    let mut warm_dropped = 0;
    let mut start = Instant::now();
    tracing::dispatcher::with_default(&s.dispatch, || {
        let span = login::request_span();
        let _entered = span.enter();
        for i in 0..warmup as u64 {
            emit_login(i);
        }
        settle(&s, warmup);
        warm_dropped = s.guard.dropped();
        start = Instant::now();
        for i in 0..n as u64 {
            emit_login(i);
        }
        producer = start.elapsed();
    });
    let dropped = s.guard.dropped() - warm_dropped;
    let (done, complete_at_guard_drop) = shut_down(s.guard, &s.log, warmup + n);
    let end_to_end = done - start;
    let log = read_log(&s.log);
    if kind == Kind::EvtrailBlock {
        assert_eq!(dropped + warm_dropped, 0, "Block must not drop");
        // The warm-up shares the file (and the stream's seq), so the
        // measured events are what follows it. The file also holds
        // evtrail's own records (segment start and end, seals), which are
        // not events.
        assert_eq!(
            log.event_lines,
            warmup + n,
            "Block: every event on disk, once"
        );
    }
    Throughput {
        producer,
        end_to_end,
        complete_at_guard_drop,
        dropped,
        on_disk: log.event_lines - (warmup - warm_dropped as usize),
        bytes_per_event: log.event_bytes as f64 / log.event_lines.max(1) as f64,
    }
}

struct Latency {
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
    dropped: u64,
}

fn latency(kind: Kind, n: usize, warmup: usize) -> Latency {
    let s = setup(kind);
    let mut ns: Vec<u64> = Vec::with_capacity(n);
    let mut warm_dropped = 0;
    tracing::dispatcher::with_default(&s.dispatch, || {
        let span = login::request_span();
        let _entered = span.enter();
        for i in 0..warmup as u64 {
            emit_login(i);
        }
        settle(&s, warmup);
        warm_dropped = s.guard.dropped();
        for i in 0..n as u64 {
            let t = Instant::now();
            emit_login(i);
            ns.push(t.elapsed().as_nanos() as u64);
        }
    });
    let dropped = s.guard.dropped() - warm_dropped;
    shut_down(s.guard, &s.log, warmup + n);
    if kind == Kind::EvtrailBlock {
        assert_eq!(
            read_log(&s.log).event_lines,
            warmup + n,
            "Block: latency run"
        );
    }
    ns.sort_unstable();
    Latency {
        p50: percentile(&ns, 0.50),
        p99: percentile(&ns, 0.99),
        p999: percentile(&ns, 0.999),
        max: *ns.last().unwrap_or(&0),
        dropped,
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() as f64 * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "–".to_owned()
    } else {
        format!("{:.2}", a / b)
    }
}

fn main() {
    let n = size::events(DEFAULT_N, 2_000);
    let (lat_n, warmup) = if size::full_run() {
        (LATENCY_N, WARMUP)
    } else {
        (2_000, 200)
    };

    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    println!("cores (available_parallelism): {cores}");
    println!();

    let tp: Vec<Throughput> = KINDS.iter().map(|&k| throughput(k, n, warmup)).collect();
    let lat: Vec<Latency> = KINDS.iter().map(|&k| latency(k, lat_n, warmup)).collect();

    println!(
        "N = {n} events from 1 thread (after {warmup} warm-up), latency over {lat_n} events; \
         ratios are evtrail / reference"
    );
    println!();
    println!(
        "| figure | evtrail (default) | evtrail (Block) | reference | ratio default/ref | ratio block/ref |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let row = |name: &str, v: [f64; 3], fmt: &dyn Fn(f64) -> String| {
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            fmt(v[0]),
            fmt(v[1]),
            fmt(v[2]),
            ratio(v[0], v[2]),
            ratio(v[1], v[2]),
        );
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let per_s = |d: Duration| n as f64 / d.as_secs_f64();
    let f_ms = |v: f64| format!("{v:.1}");
    let f_int = |v: f64| grouped(v);
    let f_1 = |v: f64| format!("{v:.1}");

    row("producer time (ms)", tp.each(|t| ms(t.producer)), &f_ms);
    row(
        "producer throughput (events/s)",
        tp.each(|t| per_s(t.producer)),
        &f_int,
    );
    row("end-to-end time (ms)", tp.each(|t| ms(t.end_to_end)), &f_ms);
    row(
        "end-to-end throughput (events/s)",
        tp.each(|t| per_s(t.end_to_end)),
        &f_int,
    );
    row("latency p50 (ns)", lat.each(|l| l.p50 as f64), &f_int);
    row("latency p99 (ns)", lat.each(|l| l.p99 as f64), &f_int);
    row("latency p99.9 (ns)", lat.each(|l| l.p999 as f64), &f_int);
    row("latency max (ns)", lat.each(|l| l.max as f64), &f_int);
    row("bytes/event", tp.each(|t| t.bytes_per_event), &f_1);
    row(
        "dropped, throughput run",
        tp.each(|t| t.dropped as f64),
        &f_int,
    );
    row(
        "dropped, latency run",
        lat.each(|l| l.dropped as f64),
        &f_int,
    );
    row(
        "measured events on disk",
        tp.each(|t| t.on_disk as f64),
        &f_int,
    );

    for (kind, t) in KINDS.iter().zip(&tp) {
        if *kind == Kind::Reference && !t.complete_at_guard_drop {
            println!();
            println!(
                "note: the reference's WorkerGuard returned before its file was complete; \
                 its end-to-end time was taken when the file was (by polling, an upper bound)"
            );
        }
    }
}

trait Each<T> {
    fn each(&self, f: impl Fn(&T) -> f64) -> [f64; 3];
}

impl<T> Each<T> for Vec<T> {
    fn each(&self, f: impl Fn(&T) -> f64) -> [f64; 3] {
        [f(&self[0]), f(&self[1]), f(&self[2])]
    }
}
