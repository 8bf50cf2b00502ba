//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use evtrail::sink::{Batch, Sink, SinkError};
use evtrail::verify::{Finding, FindingKind, Report};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

pub const WAIT: Duration = Duration::from_secs(30);

/// Length of a signed line's fixed suffix (`signing.md`): `,"sig":"`, the
/// 43 base64url characters of the signature, `"}`.
pub const SIG_SUFFIX_LEN: usize = 8 + 43 + 2;

/// An unsigned pipeline (service `test`) whose only sink is the returned
/// `MemorySink`, for tests that read back what was written.
pub fn memory_pipeline() -> (evtrail::MemorySink, evtrail::Layer, evtrail::Guard) {
    let sink = evtrail::MemorySink::new();
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .add_sink(sink.clone())
        .build()
        .expect("build");
    (sink, layer, guard)
}

/// Runs `f` under a subscriber made of `builder`'s layer (plus a memory
/// sink), flushes, and returns the raw lines written.
pub fn lines_with(builder: evtrail::Builder, f: impl FnOnce()) -> Vec<String> {
    let sink = evtrail::MemorySink::new();
    let (layer, guard) = builder.add_sink(sink.clone()).build().expect("build");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    guard.flush(WAIT).expect("flush");
    sink.lines()
}

/// The single line `f` writes through `builder`'s pipeline, raw and parsed.
pub fn one_with(builder: evtrail::Builder, f: impl FnOnce()) -> (String, Value) {
    let lines = lines_with(builder, f);
    assert_eq!(lines.len(), 1, "expected exactly one line: {lines:#?}");
    let v =
        serde_json::from_str(&lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lines[0]));
    (lines.into_iter().next().unwrap(), v)
}

/// The single line `f` writes through an unsigned pipeline (service
/// `test`), raw and parsed.
pub fn one(f: impl FnOnce()) -> (String, Value) {
    one_with(evtrail::builder().unsigned().service("test"), f)
}

/// Threads that emit `info` events through a dispatcher until stopped,
/// counting each event once its call has returned.
pub struct Emitters {
    stop: Arc<AtomicBool>,
    emitted: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Emitters {
    pub fn start(d: &tracing::Dispatch, threads: usize) -> Emitters {
        let stop = Arc::new(AtomicBool::new(false));
        let emitted = Arc::new(AtomicU64::new(0));
        let threads = (0..threads)
            .map(|_| {
                let (d, stop, emitted) = (d.clone(), stop.clone(), emitted.clone());
                std::thread::spawn(move || {
                    tracing::dispatcher::with_default(&d, || {
                        while !stop.load(Ordering::Relaxed) {
                            tracing::info!("event");
                            emitted.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                })
            })
            .collect();
        Emitters {
            stop,
            emitted,
            threads,
        }
    }

    /// Events emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` events have been emitted.
    pub fn wait_for(&self, n: u64) {
        while self.emitted() < n {
            std::thread::yield_now();
        }
    }

    /// Stops and joins the threads; returns how many events they emitted.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        self.emitted.load(Ordering::SeqCst)
    }
}

/// Runs `emit(thread, i)` for `i` in `0..per_thread` on each of `threads`
/// scoped threads at once, all under dispatcher `d`, and returns when every
/// thread has finished.
pub fn emit_from_threads(
    d: &tracing::Dispatch,
    threads: u64,
    per_thread: u64,
    emit: impl Fn(u64, u64) + Sync,
) {
    let emit = &emit;
    std::thread::scope(|s| {
        for t in 0..threads {
            let d = d.clone();
            s.spawn(move || {
                tracing::dispatcher::with_default(&d, || {
                    for i in 0..per_thread {
                        emit(t, i);
                    }
                });
            });
        }
    });
}

/// A dispatcher with only the evtrail layer.
pub fn dispatch(layer: evtrail::Layer) -> tracing::Dispatch {
    tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
}

pub fn parse(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Records whose `event` is `name`.
pub fn events<'a>(records: &'a [Value], name: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["event"] == name).collect()
}

/// Records written by the application (not evtrail's own notices).
pub fn user_records(records: &[Value]) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["target"] != "evtrail")
        .collect()
}

/// The lines of the text file at `path`, without their line ends.
pub fn file_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The files in `dir` whose name starts with `prefix`, sorted by name.
pub fn files_starting_with(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .collect();
    files.sort();
    files
}

/// Replaces the file at `path` by its gzip, `<path>.gz`, as a rolled file
/// compressed by hand.
pub fn gzip_file(path: &Path) {
    let data = fs::read(path).unwrap();
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let mut enc =
        flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&data).unwrap();
    enc.finish().unwrap();
    fs::remove_file(path).unwrap();
}

/// Every line of `stream` under `dir`, read back in stream order.
pub fn read_stream(dir: &Path, stream: &str) -> Vec<String> {
    evtrail::read::LogReader::open(dir, stream)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The findings of `report` that are evidence of tampering.
pub fn tamper_findings(report: &Report) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.kind.is_tamper_evidence())
        .collect()
}

/// Asserts exactly one tamper finding, of `kind`, wherever it is.
pub fn assert_one_tamper(report: &Report, kind: FindingKind) {
    let tamper = tamper_findings(report);
    assert_eq!(tamper.len(), 1, "{report}");
    assert_eq!(tamper[0].kind, kind, "{report}");
}

/// Asserts exactly one tamper finding, of `kind`, at `file`:`line`.
pub fn assert_one_tamper_at(report: &Report, kind: FindingKind, file: &Path, line: u64) {
    let tamper = tamper_findings(report);
    assert_eq!(
        tamper.len(),
        1,
        "want one {kind} at {}:{line}, got:\n{report}",
        file.display()
    );
    let f = tamper[0];
    assert_eq!(f.kind, kind, "{report}");
    assert_eq!(
        (f.location.file.as_path(), f.location.line),
        (file, line),
        "{report}"
    );
}

/// Calls `flush` until it reports every sink caught up (a failing sink
/// makes it return an error until a retry succeeds).
pub fn flush_until_clean(handle: &evtrail::Handle) {
    let deadline = Instant::now() + WAIT;
    loop {
        match handle.flush(WAIT) {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.kind(), evtrail::ErrorKind::Sink, "{e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("sinks did not recover: {e}"),
        }
    }
}

/// A sink that fails with a retryable error while `down` is set, and
/// otherwise keeps lines in memory.
#[derive(Clone, Default)]
pub struct FlakySink {
    pub down: Arc<AtomicBool>,
    pub inner: evtrail::MemorySink,
}

impl Sink for FlakySink {
    fn name(&self) -> &str {
        "flaky"
    }
    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(SinkError::retryable("endpoint is down"));
        }
        self.inner.write(batch)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// An error with a fixed message and an optional cause, to build a
/// `source()` chain of any length for a field to capture.
#[derive(Debug)]
pub struct ChainedError {
    message: String,
    source: Option<Box<ChainedError>>,
}

impl ChainedError {
    /// An error with `message` and no source.
    pub fn new(message: impl Into<String>) -> ChainedError {
        ChainedError {
            message: message.into(),
            source: None,
        }
    }

    /// An error with `message` whose source is `self`.
    pub fn wrapped_in(self, message: impl Into<String>) -> ChainedError {
        ChainedError {
            message: message.into(),
            source: Some(Box::new(self)),
        }
    }
}

impl std::fmt::Display for ChainedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ChainedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A clock the test moves by hand, in nanoseconds since the epoch.
#[derive(Clone)]
pub struct ManualClock(Arc<std::sync::atomic::AtomicU64>);

impl ManualClock {
    pub fn at(nanos: u64) -> ManualClock {
        ManualClock(Arc::new(std::sync::atomic::AtomicU64::new(nanos)))
    }
    pub fn set(&self, nanos: u64) {
        self.0.store(nanos, Ordering::SeqCst);
    }
}

impl evtrail::Clock for ManualClock {
    fn now(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

/// What one run of the `evtrail` binary did.
pub struct CliRun {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for CliRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\n$ evtrail {}\nexit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}

impl CliRun {
    /// Stdout's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// The `evtrail` binary, with no `EVTRAIL_NOW` inherited. Only test
/// targets that require the `cli` feature have it.
pub fn evtrail_command() -> std::process::Command {
    // `option_env!`: the other test targets, built without the feature,
    // include this file too.
    let Some(path) = option_env!("CARGO_BIN_EXE_evtrail") else {
        panic!("the evtrail binary is built only with the `cli` feature")
    };
    let mut cmd = std::process::Command::new(path);
    cmd.env_remove("EVTRAIL_NOW");
    cmd
}

/// Runs `evtrail ARGS` with `env` set, to completion.
pub fn evtrail<I, S>(args: I, env: &[(&str, &str)]) -> CliRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    evtrail_with(args, |cmd| {
        for (k, v) in env {
            cmd.env(k, v);
        }
    })
}

/// Runs `evtrail ARGS`, after `setup` has had the command, to completion.
pub fn evtrail_with<I, S>(args: I, setup: impl FnOnce(&mut std::process::Command)) -> CliRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let mut cmd = evtrail_command();
    cmd.args(&args);
    setup(&mut cmd);
    let out = cmd.output().expect("run the evtrail binary");
    CliRun {
        args: args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Nanoseconds since the epoch of `secs` seconds, for a [`ManualClock`].
pub fn nanos(secs: u64) -> u64 {
    secs * 1_000_000_000
}

/// A `ts` as records spell it, `secs` seconds after the epoch.
pub fn ts_text(secs: u64) -> String {
    let dt = time::OffsetDateTime::from_unix_timestamp(secs as i64).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000000Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// `secs` seconds after the epoch in RFC 3339, as `EVTRAIL_NOW` takes it.
pub fn rfc3339(secs: u64) -> String {
    ts_text(secs).replace(".000000Z", "Z")
}

/// The names of the files in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Whether `name` is a rolled file left plain (`app.<time>.<n>.log`).
pub fn is_plain_rolled(name: &str) -> bool {
    name.ends_with(".log") && name.matches('.').count() >= 3
}

/// Polls until no rolled file is left plain and no compression is
/// half-done.
pub fn wait_until_compressed(dir: &Path) {
    let deadline = Instant::now() + WAIT;
    loop {
        let names = names_in(dir);
        let plain: Vec<&String> = names
            .iter()
            .filter(|n| n.ends_with(".tmp") || is_plain_rolled(n))
            .collect();
        if plain.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still not compressed after {WAIT:?}: {plain:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
