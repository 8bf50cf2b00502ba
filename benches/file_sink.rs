//! The file sink's throughput, alone and behind the whole pipeline, against
//! a plain `BufWriter<File>` writing the same lines, in one run; with and
//! without rolling and gzip, and what the compression of rolled files costs.
//!
//! The lines are real evtrail records: a signed pipeline rolling every
//! 8 MiB hands its batches to a recording sink first, and those batches,
//! segment starts included (`Batch::push` cannot mark one, so only the
//! pipeline can), are what the sink is then fed through the `Sink` trait.
//!
//! `cargo bench --bench file_sink`; `EVTRAIL_BENCH_N` overrides the number of
//! lines (and of events in the pipeline runs). Linux only: CPU time is read
//! from `/proc`.

use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use evtrail::sink::{Batch, Sink, SinkError};
use evtrail::{FileOptions, FileSink, Key, Overflow, Rotation};
use flate2::read::MultiGzDecoder;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/numbers.rs"]
mod numbers;
#[path = "common/size.rs"]
mod size;

use cpu::{Monitor, process_cpu};
use numbers::grouped;

const DEFAULT_N: usize = 1_000_000;
/// Where the pipeline starts a new segment, and so a new file.
const MAX_FILE_BYTES: u64 = 8 << 20;
/// Records per worker batch, and so per `Sink::write`.
const BATCH_SIZE: usize = 1024;
/// The raw writer's buffer.
const RAW_BUFFER: usize = 64 << 10;
const MESSAGE: &str = "order placed";
/// How often the per-thread CPU times are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);
const POLL: Duration = Duration::from_millis(2);
/// Generous: only a stuck compressor would take this long.
const COMPRESS_TIMEOUT: Duration = Duration::from_secs(600);
/// The compression thread's name as `/proc` shows it (15 bytes at most).
const COMPRESS_COMM: &str = "evtrail-compres";
const WORKER_COMM: &str = "evtrail-worker";
/// Timed runs of each raw and sink configuration; the fastest is kept.
const SINK_RUNS: usize = 3;
/// Timed runs of each pipeline configuration; the fastest is kept.
const PIPELINE_RUNS: usize = 2;

/// A realistic request-log event: about 450 bytes once encoded and signed.
#[inline(always)]
fn emit(i: u64) {
    tracing::info!(
        user_id = "user_12345",
        ip = "192.168.1.100",
        status = 201u64,
        duration_ms = 42.7,
        attempt = i,
        "order placed"
    );
}

fn dispatch_events(dispatch: &Dispatch, n: usize) -> Duration {
    let start = Instant::now();
    tracing::dispatcher::with_default(dispatch, || {
        for i in 0..n as u64 {
            emit(i);
        }
    });
    start.elapsed()
}

/// Keeps a copy of every batch the worker hands it.
struct Recorder(Arc<Mutex<Vec<Batch>>>);

impl Sink for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(batch.clone());
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The pre-built lines: the first `n` lines a signed pipeline, rolling at
/// [`MAX_FILE_BYTES`], handed its sinks for `n` events (the rest are its
/// own segment and seal records), in the batches it handed them in.
fn prebuilt_lines(n: usize) -> Vec<Batch> {
    let store = Arc::new(Mutex::new(Vec::new()));
    let (layer, guard) = evtrail::builder()
        .service("bench")
        .key(Key::generate().expect("OS random generator"))
        .add_sink(Recorder(Arc::clone(&store)))
        .overflow(Overflow::Block)
        .batch_size(BATCH_SIZE)
        .rotation(Rotation::default().max_bytes(MAX_FILE_BYTES))
        .build()
        .expect("evtrail build");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    dispatch_events(&dispatch, n);
    assert_eq!(guard.stats().dropped, 0, "Block must not drop");
    drop(guard);
    let captured = std::mem::take(&mut *store.lock().unwrap_or_else(PoisonError::into_inner));
    let mut out = Vec::with_capacity(captured.len());
    let mut lines = 0;
    for b in captured {
        if lines + b.len() <= n {
            lines += b.len();
            out.push(b);
            continue;
        }
        // The last batch, cut: rebuilt without segment marks (`push` has
        // none), which costs at most one roll.
        let mut cut = Batch::new();
        for e in b.iter().take(n - lines) {
            cut.push(e.stream(), e.seq(), e.level(), e.timestamp(), e.line());
        }
        lines += cut.len();
        if !cut.is_empty() {
            out.push(cut);
        }
        break;
    }
    assert_eq!(lines, n, "the pipeline wrote at least one line per event");
    out
}

/// The same batches, line for line, without segment starts: a sink fed
/// these never rolls.
fn without_segments(batches: &[Batch]) -> Vec<Batch> {
    batches
        .iter()
        .map(|b| {
            let mut c = Batch::new();
            for e in b.iter() {
                c.push(e.stream(), e.seq(), e.level(), e.timestamp(), e.line());
            }
            c
        })
        .collect()
}

fn compressor_running() -> bool {
    cpu::threads()
        .iter()
        .any(|(_, comm, _)| comm == COMPRESS_COMM)
}

/// CPU seconds per role of thread over a run.
#[derive(Default, Clone, Copy)]
struct ThreadCpu {
    main: f64,
    worker: f64,
    compress: f64,
}

impl ThreadCpu {
    /// Sums what a [`Monitor`] sampled: the main thread by its id, the
    /// others by their names.
    fn of(monitor: Monitor) -> ThreadCpu {
        let pid = std::process::id();
        let mut out = ThreadCpu::default();
        for (tid, comm, secs) in monitor.finish() {
            if tid == pid {
                out.main += secs;
            } else if comm == WORKER_COMM {
                out.worker += secs;
            } else if comm == COMPRESS_COMM {
                out.compress += secs;
            }
        }
        out
    }
}

/// Whether `name` is a rolled file still uncompressed
/// (`<stream>.<time>.<counter>.log`, not the active `<stream>.log`).
fn is_rolled_plain(name: &str) -> bool {
    !name.starts_with('.') && name.ends_with(".log") && name.matches('.').count() >= 3
}

fn rolled_plain(dir: &Path) -> usize {
    fs::read_dir(dir)
        .expect("list log dir")
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(is_rolled_plain))
        .count()
}

/// How the compression of rolled files went, from the run's start.
struct Settled {
    /// Rolled files still plain when `close` (or the guard's drop) returned.
    left_at_close: usize,
    /// When no rolled file was plain any more.
    done_at: Duration,
    /// Restarts of a file sink it took to compress what `close` left.
    restarts: usize,
}

/// Waits until every rolled file is compressed. `close` waits only 2 s for
/// the compressor and leaves the rest to the next start, so this starts a
/// file sink on the directory (which queues rolled files still plain) and
/// closes it, until none is left.
fn settle_compression(dir: &Path, start: Instant) -> Settled {
    let left_at_close = rolled_plain(dir);
    let deadline = Instant::now() + COMPRESS_TIMEOUT;
    let mut restarts = 0;
    loop {
        // A compressor that `close` gave up on still finishes its file.
        while compressor_running() {
            assert!(Instant::now() < deadline, "compression stuck");
            std::thread::sleep(POLL);
        }
        if rolled_plain(dir) == 0 {
            break;
        }
        restarts += 1;
        let mut sink = FileSink::with_options(dir, FileOptions::default()).expect("reopen");
        sink.close().expect("close");
    }
    Settled {
        left_at_close,
        done_at: start.elapsed(),
        restarts,
    }
}

/// What a directory holds, read back.
#[derive(Default)]
struct OnDisk {
    lines: usize,
    /// Lines holding [`MESSAGE`]: the events, without evtrail's own records.
    events: usize,
    /// Bytes of lines, compressed ones counted uncompressed.
    content: u64,
    plain_files: usize,
    plain_bytes: u64,
    gz_files: usize,
    gz_bytes: u64,
    /// What the `.gz` files hold, uncompressed.
    gz_content: u64,
}

impl OnDisk {
    fn disk_bytes(&self) -> u64 {
        self.plain_bytes + self.gz_bytes
    }
}

fn read_dir_back(dir: &Path) -> OnDisk {
    let finder = memchr::memmem::Finder::new(MESSAGE.as_bytes());
    let mut out = OnDisk::default();
    let mut data = Vec::new();
    for entry in fs::read_dir(dir).expect("list log dir").flatten() {
        let name = entry.file_name().into_string().expect("utf-8 name");
        if name.starts_with('.') {
            continue;
        }
        let len = entry.metadata().expect("stat").len();
        data.clear();
        let mut file = fs::File::open(entry.path()).expect("open");
        if name.ends_with(".log.gz") {
            MultiGzDecoder::new(file)
                .read_to_end(&mut data)
                .expect("gunzip");
            out.gz_files += 1;
            out.gz_bytes += len;
            out.gz_content += data.len() as u64;
        } else if name.ends_with(".log") {
            file.read_to_end(&mut data).expect("read");
            out.plain_files += 1;
            out.plain_bytes += len;
        } else {
            panic!("unexpected file `{name}` in the log directory");
        }
        assert!(data.is_empty() || data.ends_with(b"\n"), "`{name}`: torn");
        out.lines += memchr::memchr_iter(b'\n', &data).count();
        out.events += finder.find_iter(&data).count();
        out.content += data.len() as u64;
    }
    out
}

/// One configuration's figures.
struct Run {
    /// Until the last write (and flush) returned; for the pipeline, the
    /// emitting loop.
    writes: Duration,
    /// Until `close` (or the guard's drop) returned.
    closed: Duration,
    /// The `close` call (the guard's drop) alone.
    close_call: Duration,
    /// The raw writer's `sync_data` after its flush, timed apart.
    sync: Option<Duration>,
    /// Process CPU seconds until then.
    cpu: f64,
    threads: ThreadCpu,
    settled: Option<Settled>,
    disk: OnDisk,
}

fn raw_writer(dir: &Path, batches: &[Batch]) -> Run {
    let path = dir.join("raw.log");
    let monitor = Monitor::start(SAMPLE_EVERY);
    let cpu0 = process_cpu();
    let start = Instant::now();
    let mut w = BufWriter::with_capacity(RAW_BUFFER, fs::File::create(&path).expect("create"));
    for b in batches {
        for e in b.iter() {
            w.write_all(e.line()).expect("write");
            w.write_all(b"\n").expect("write");
        }
    }
    let file = w.into_inner().expect("flush");
    let writes = start.elapsed();
    let cpu = process_cpu() - cpu0;
    let threads = ThreadCpu::of(monitor);
    // Not part of the raw figures; the sink syncs at every roll and on close.
    let t = Instant::now();
    file.sync_data().expect("sync");
    let sync = t.elapsed();
    drop(file);
    Run {
        writes,
        closed: writes,
        close_call: Duration::ZERO,
        sync: Some(sync),
        cpu,
        threads,
        settled: None,
        disk: read_dir_back(dir),
    }
}

fn file_sink(dir: &Path, batches: &[Batch], options: FileOptions, gzip: bool) -> Run {
    let mut sink = FileSink::with_options(dir, options).expect("file sink");
    let monitor = Monitor::start(SAMPLE_EVERY);
    let cpu0 = process_cpu();
    let start = Instant::now();
    for b in batches {
        sink.write(b).expect("write");
        sink.flush().expect("flush");
    }
    let writes = start.elapsed();
    sink.close().expect("close");
    let closed = start.elapsed();
    let close_call = closed - writes;
    let cpu = process_cpu() - cpu0;
    let settled = gzip.then(|| settle_compression(dir, start));
    let threads = ThreadCpu::of(monitor);
    Run {
        writes,
        closed,
        close_call,
        sync: None,
        cpu,
        threads,
        settled,
        disk: read_dir_back(dir),
    }
}

fn pipeline(dir: &Path, n: usize, gzip: bool) -> Run {
    let mut b = evtrail::builder()
        .service("bench")
        .key(Key::generate().expect("OS random generator"))
        .log_dir(dir)
        .overflow(Overflow::Block)
        .rotation(Rotation::default().max_bytes(MAX_FILE_BYTES));
    if !gzip {
        b = b.file_options(FileOptions::default().compression(None));
    }
    let (layer, guard) = b.build().expect("evtrail build");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let monitor = Monitor::start(SAMPLE_EVERY);
    let cpu0 = process_cpu();
    let start = Instant::now();
    let writes = dispatch_events(&dispatch, n);
    assert_eq!(guard.stats().dropped, 0, "Block must not drop");
    let t = Instant::now();
    drop(guard);
    let close_call = t.elapsed();
    let closed = start.elapsed();
    let cpu = process_cpu() - cpu0;
    drop(dispatch);
    let settled = gzip.then(|| settle_compression(dir, start));
    let threads = ThreadCpu::of(monitor);
    Run {
        writes,
        closed,
        close_call,
        sync: None,
        cpu,
        threads,
        settled,
        disk: read_dir_back(dir),
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Keeps the run that was done soonest (to close, or to the guard's drop).
fn keep_best(best: &mut Option<Run>, run: Run) {
    if best.as_ref().is_none_or(|b| run.closed < b.closed) {
        *best = Some(run);
    }
}

fn main() {
    let n = size::events(DEFAULT_N, 30_000);

    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    println!("cores (available_parallelism): {cores}");
    println!();

    // The lines; the capture run also warms up code and allocator.
    let rolling = prebuilt_lines(n);
    let flat = without_segments(&rolling);
    let bytes: u64 = flat.iter().map(|b| b.bytes() as u64 + b.len() as u64).sum();
    let segment_starts = rolling
        .iter()
        .flat_map(|b| b.iter())
        .filter(|e| e.starts_segment())
        .count();

    // 1. and 3.: the same lines through the raw writer and the sink. Runs
    // interleaved, so that load from elsewhere hits every configuration
    // alike; the fastest of each is kept.
    let sink_configs: [(&str, &[Batch], Option<FileOptions>, bool); 4] = [
        (
            "raw `BufWriter<File>` (64 KiB), 1 thread",
            &rolling,
            None,
            false,
        ),
        (
            "sink, no rotation",
            &flat,
            Some(FileOptions::default()),
            false,
        ),
        (
            "sink, rotation, gzip off",
            &rolling,
            Some(FileOptions::default().compression(None)),
            false,
        ),
        (
            "sink, rotation, gzip on",
            &rolling,
            Some(FileOptions::default()),
            true,
        ),
    ];
    let mut sink_best: Vec<Option<Run>> = sink_configs.iter().map(|_| None).collect();
    for _ in 0..SINK_RUNS {
        for ((name, batches, options, gzip), best) in sink_configs.iter().zip(&mut sink_best) {
            let d = tempfile::tempdir().expect("tempdir");
            let run = match options {
                None => raw_writer(d.path(), batches),
                Some(o) => file_sink(d.path(), batches, o.clone(), *gzip),
            };
            assert_eq!(run.disk.lines, n, "{name}: every line on disk, once");
            assert_eq!(run.disk.content, bytes, "{name}: every byte on disk");
            keep_best(best, run);
        }
    }
    let sink_rows: Vec<(&str, Run)> = sink_configs
        .iter()
        .zip(sink_best)
        .map(|(c, r)| (c.0, r.expect("SINK_RUNS > 0")))
        .collect();

    // 2. The whole pipeline, which makes its own lines.
    let pipe_configs = [
        ("pipeline, rotation, gzip off", false),
        ("pipeline, rotation, gzip on", true),
    ];
    let mut pipe_best: Vec<Option<Run>> = pipe_configs.iter().map(|_| None).collect();
    for _ in 0..PIPELINE_RUNS {
        for ((name, gzip), best) in pipe_configs.iter().zip(&mut pipe_best) {
            let d = tempfile::tempdir().expect("tempdir");
            let run = pipeline(d.path(), n, *gzip);
            assert_eq!(run.disk.events, n, "{name}: every event on disk, once");
            keep_best(best, run);
        }
    }
    let pipe_rows: Vec<(&str, Run)> = pipe_configs
        .iter()
        .zip(pipe_best)
        .map(|(c, r)| (c.0, r.expect("PIPELINE_RUNS > 0")))
        .collect();

    // The tables.
    let raw = &sink_rows[0].1;
    let raw_mb_s = mb(bytes) / raw.writes.as_secs_f64();
    let batch_mean = n as f64 / rolling.len() as f64;

    println!(
        "N = {n} lines, {:.1} MB ({:.0} bytes/line): real signed evtrail records, in the \
         {} batches (mean {batch_mean:.0} lines) a pipeline rolling at {} MiB handed its sinks, \
         with its {segment_starts} segment starts. The sink gets them through `Sink::write` + \
         `flush` per batch, `close` at the end. Best of {SINK_RUNS} interleaved runs each (by \
         time to close). MB = 10^6 bytes; CPU is the process's (all threads).",
        mb(bytes),
        bytes as f64 / n as f64,
        rolling.len(),
        MAX_FILE_BYTES >> 20,
    );
    println!();
    println!(
        "| configuration | writes (s) | close (s) | to close (s) | MB/s, writes | MB/s, to close | \
         lines/s, to close | vs raw, writes | vs raw, to close | CPU (s) | files | on disk (MB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, r) in &sink_rows {
        let w = r.writes.as_secs_f64();
        let c = r.closed.as_secs_f64();
        println!(
            "| {name} | {w:.3} | {:.3} | {c:.3} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {} | {:.1} |",
            r.close_call.as_secs_f64(),
            mb(bytes) / w,
            mb(bytes) / c,
            grouped(n as f64 / c),
            mb(bytes) / w / raw_mb_s,
            mb(bytes) / c / raw_mb_s,
            r.cpu,
            r.disk.plain_files + r.disk.gz_files,
            mb(r.disk.disk_bytes()),
        );
    }
    let sync = raw.sync.expect("the raw run syncs");
    let synced = (raw.writes + sync).as_secs_f64();
    println!(
        "| raw, then `sync_data` | {:.3} | {:.3} | {synced:.3} | – | {:.0} | {} | – | {:.2} | – | 1 | {:.1} |",
        raw.writes.as_secs_f64(),
        sync.as_secs_f64(),
        mb(bytes) / synced,
        grouped(n as f64 / synced),
        mb(bytes) / synced / raw_mb_s,
        mb(raw.disk.disk_bytes()),
    );
    println!();

    println!(
        "Full pipeline: `evtrail::builder()` with a key, `log_dir`, `Overflow::Block`, rolling \
         at {} MiB; {n} events from 1 thread; best of {PIPELINE_RUNS} interleaved runs each. \
         \"to guard dropped\" is from the first event until the guard's drop returned; \"drop\" \
         is that drop alone. The lines are its own (same event, other timestamps and \
         signatures), plus its segment and seal records; MB/s counts all of them, uncompressed.",
        MAX_FILE_BYTES >> 20
    );
    println!();
    println!(
        "| configuration | emitting loop (s) | drop (s) | to guard dropped (s) | MB/s | events/s | \
         vs raw (MB/s) | CPU (s) | CPU main / worker / compress (s) | lines | files | on disk (MB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, r) in &pipe_rows {
        let c = r.closed.as_secs_f64();
        let content = mb(r.disk.content);
        println!(
            "| {name} | {:.3} | {:.3} | {c:.3} | {:.0} | {} | {:.2} | {:.2} | {:.2} / {:.2} / {:.2} | {} | {} | {:.1} |",
            r.writes.as_secs_f64(),
            r.close_call.as_secs_f64(),
            content / c,
            grouped(n as f64 / c),
            content / c / raw_mb_s,
            r.cpu,
            r.threads.main,
            r.threads.worker,
            r.threads.compress,
            grouped(r.disk.lines as f64),
            r.disk.plain_files + r.disk.gz_files,
            mb(r.disk.disk_bytes()),
        );
    }
    println!();

    println!(
        "Compression of rolled files (gzip level {}, on `evtrail-compress`). `FileSink::close` \
         waits at most {} s for it and leaves the rest for the next start; the bench then starts \
         and closes a sink on the directory until every rolled file is compressed \
         (\"restarts\"). Times are from the run's start; compressor CPU is sampled per thread \
         every {} ms.",
        evtrail::DEFAULT_COMPRESSION_LEVEL,
        evtrail::DEFAULT_COMPRESSION_WAIT.as_secs(),
        SAMPLE_EVERY.as_millis()
    );
    println!();
    println!(
        "| configuration | rolled files | plain at close | close waited (s) | all compressed at (s) | \
         restarts | MB in | MB out | ratio | compressor CPU (s) | MB in / compressor CPU s | \
         CPU to close / to all compressed (s) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, r) in sink_rows.iter().chain(&pipe_rows) {
        let Some(s) = &r.settled else { continue };
        let d = &r.disk;
        println!(
            "| {name} | {} | {} | {:.2} | {:.2} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.0} | {:.2} / {:.2} |",
            d.gz_files,
            s.left_at_close,
            r.close_call.as_secs_f64(),
            s.done_at.as_secs_f64(),
            s.restarts,
            mb(d.gz_content),
            mb(d.gz_bytes),
            d.gz_content as f64 / d.gz_bytes.max(1) as f64,
            r.threads.compress,
            mb(d.gz_content) / r.threads.compress.max(0.01),
            r.cpu,
            r.threads.main + r.threads.worker + r.threads.compress,
        );
    }
    let closes = sink_rows
        .iter()
        .map(|(name, r)| (name, r, "`close`"))
        .chain(
            pipe_rows
                .iter()
                .map(|(name, r)| (name, r, "the guard's drop")),
        );
    for (name, r, what) in closes {
        let Some(s) = &r.settled else { continue };
        let verdict = if s.left_at_close == 0 {
            "every rolled file was compressed when it returned".to_owned()
        } else {
            format!(
                "it did not wait for compression to finish: {} of {} rolled files were still \
                 plain",
                s.left_at_close, r.disk.gz_files
            )
        };
        println!();
        println!(
            "{name}: {what} took {:.2} s; {verdict}; all were compressed {:.2} s after the \
             start.",
            r.close_call.as_secs_f64(),
            s.done_at.as_secs_f64(),
        );
    }
}
