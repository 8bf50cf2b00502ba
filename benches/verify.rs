//! Signing and verification, in one run: what signing and chaining add to
//! the worker, and how fast [`Verifier`] checks a rolled log, plain and
//! gzipped, next to what bounds it on the same bytes: `zcat` over the same
//! gzip files, a bare SHA-256 and a bare chained HMAC-SHA256 through the
//! same crate (`sha2`), reading and splitting the lines, and the verifier
//! itself held to one core.
//!
//! `cargo bench --bench verify`; `EVTRAIL_BENCH_N` overrides the number of
//! records.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use evtrail::verify::{Report, Verifier};
use evtrail::{FileOptions, Key, Keyring, Overflow, Rotation};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

#[path = "common/login.rs"]
mod login;
#[path = "common/numbers.rs"]
mod numbers;
#[path = "common/sig.rs"]
mod sig;
#[path = "common/size.rs"]
mod size;

use login::emit_login;
use numbers::grouped;
use sig::{GENESIS, SIG_LEN, sig_encode};

type HmacSha256 = Hmac<Sha256>;

const DEFAULT_N: usize = 200_000;
/// Records of the log that is verified (a full run).
const DEFAULT_VERIFY_N: u64 = 1_000_000;
const MESSAGE: &str = "user login attempt";
/// Timed passes; the best one is reported.
const RUNS: usize = 3;
/// The signature suffix: `,"sig":"`, the signature, `"}` (see `signing.md`).
const SIG_SUFFIX_LEN: usize = SIG_OPEN.len() + SIG_LEN + 2;
const SIG_OPEN: &[u8] = b",\"sig\":\"";
const STREAM: &str = "app";
const STREAM_KEY_DOMAIN: &[u8] = b"evtrail/v1 stream-key\x00";
const RECORD_DOMAIN: &[u8] = b"evtrail/v1 record\x00";

/// One pipeline run of `n` events.
struct Build {
    /// From the first event to the guard's drop returning (everything on
    /// disk, segment closed).
    end_to_end: Duration,
    /// The emitting thread's loop alone.
    producer: Duration,
    log_bytes: u64,
}

/// Emits `n` login events through `dispatch` from this thread; the time
/// the loop took.
fn emit(dispatch: &Dispatch, n: u64) -> Duration {
    let start = Instant::now();
    tracing::dispatcher::with_default(dispatch, || {
        let span = login::request_span();
        let _entered = span.enter();
        for i in 0..n {
            emit_login(i);
        }
    });
    start.elapsed()
}

/// Writes `n` events through a pipeline (signed with `key`, or unsigned)
/// into `dir`, one file, with `Overflow::Block` so that every event is
/// written.
fn build(dir: &Path, key: Option<&Key>, n: usize) -> Build {
    let b = evtrail::builder()
        .service("bench")
        .log_dir(dir)
        .rotation(Rotation::never())
        .overflow(Overflow::Block);
    let b = match key {
        Some(k) => b.key(k.clone()),
        None => b.unsigned(),
    };
    let (layer, guard) = b.build().expect("evtrail build");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let start = Instant::now();
    let producer = emit(&dispatch, n as u64);
    assert_eq!(guard.stats().dropped, 0, "Block must not drop");
    drop(guard);
    let end_to_end = start.elapsed();
    drop(dispatch);

    let mut log_bytes = 0;
    let mut events = 0;
    for path in log_files(dir) {
        let data = read_log(&path);
        log_bytes += data.len() as u64;
        events += lines(&data)
            .filter(|l| contains(l, MESSAGE.as_bytes()))
            .count();
    }
    assert_eq!(events, n, "every event on disk, once");
    Build {
        end_to_end,
        producer,
        log_bytes,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&c| c == b'\n').filter(|l| !l.is_empty())
}

/// The log files directly in `dir` (`*.log`, `*.log.gz`), as the verifier
/// picks them.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list log dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                !n.starts_with('.') && (n.ends_with(".log") || n.ends_with(".log.gz"))
            })
        })
        .collect();
    out.sort();
    out
}

/// A log file's text, decompressed when it is gzip.
fn read_log(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let file = File::open(path).expect("open log");
    if path.extension() == Some("gz".as_ref()) {
        io::copy(&mut MultiGzDecoder::new(BufReader::new(file)), &mut out).expect("gunzip");
    } else {
        io::copy(&mut BufReader::new(file), &mut out).expect("read log");
    }
    out
}

/// Best (shortest) of `RUNS` timed calls; the last call's result.
fn best_of<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        out = Some(r);
    }
    (best, out.expect("RUNS > 0"))
}

/// The signed log the verifier checks, twice: rolled, gzipped files as
/// the writer leaves them (`gz`), and a plain copy of each (`plain`).
struct Log {
    gz: PathBuf,
    plain: PathBuf,
    records: u64,
    /// Bytes of log text (the plain copy's size).
    bytes: u64,
    gz_bytes: u64,
    files: usize,
    _dir: tempfile::TempDir,
}

/// Writes `n` events, signed with `key`, rolled at `roll` bytes and
/// gzipped; gzips the active file too, and decompresses every file into a
/// plain copy.
fn rolled_log(key: &Key, n: u64, roll: u64) -> Log {
    let dir = tempfile::tempdir().expect("tempdir");
    let gz = dir.path().join("gz");
    let plain = dir.path().join("plain");
    fs::create_dir_all(&plain).expect("create the plain copy's dir");
    let (layer, guard) = evtrail::builder()
        .service("bench")
        .key(key.clone())
        .log_dir(&gz)
        .rotation(Rotation::default().max_bytes(roll))
        .file_options(FileOptions::default().compression_wait(Duration::from_secs(600)))
        .flush_timeout(Duration::from_secs(600))
        .overflow(Overflow::Block)
        .build()
        .expect("evtrail build");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    emit(&dispatch, n);
    assert_eq!(guard.stats().dropped, 0, "Block must not drop");
    drop(guard);
    drop(dispatch);
    for f in log_files(&gz) {
        let name = f.file_name().and_then(|s| s.to_str()).expect("UTF-8 name");
        if let Some(plain_name) = name.strip_suffix(".gz") {
            fs::write(plain.join(plain_name), read_log(&f)).expect("write plain copy");
            continue;
        }
        // The active file, still plain: gzipped, so that the gzip copy is
        // gzip throughout.
        let mut enc = GzEncoder::new(
            BufWriter::new(File::create(gz.join(format!("{name}.gz"))).expect("create .gz")),
            Compression::new(evtrail::DEFAULT_COMPRESSION_LEVEL),
        );
        io::copy(&mut File::open(&f).expect("open active file"), &mut enc).expect("gzip");
        enc.finish().expect("gzip").flush().expect("write .gz");
        fs::rename(&f, plain.join(name)).expect("move the active file");
    }
    let (mut records, mut bytes, mut gz_bytes) = (0, 0, 0);
    for f in log_files(&plain) {
        let data = fs::read(&f).expect("read plain copy");
        bytes += data.len() as u64;
        records += lines(&data).count() as u64;
    }
    let gz_files = log_files(&gz);
    for f in &gz_files {
        gz_bytes += fs::metadata(f).expect("stat").len();
    }
    assert_eq!(gz_files.len(), log_files(&plain).len());
    Log {
        gz,
        plain,
        records,
        bytes,
        gz_bytes,
        files: gz_files.len(),
        _dir: dir,
    }
}

/// Verifies `dir` with `key`, and checks that every record verified.
fn verify(dir: &Path, key: &Key, records: u64) -> Report {
    let report = Verifier::new(Keyring::new().with(key.clone()))
        .verify_paths(&[dir])
        .expect("verify");
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.streams.len(), 1, "{report}");
    let s = &report.streams[0];
    assert_eq!((s.records, s.verified), (records, records), "{report}");
    report
}

/// Runs `f` on this thread held to one CPU (and the threads it starts,
/// which inherit that; `available_parallelism` then says 1).
#[cfg(target_os = "linux")]
fn on_one_core<T>(f: impl FnOnce() -> T) -> T {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
    let all = sched_getaffinity(None).expect("sched_getaffinity");
    let cpu = (0..CpuSet::MAX_CPU)
        .find(|&c| all.is_set(c))
        .expect("some CPU");
    let mut one = CpuSet::new();
    one.set(cpu);
    sched_setaffinity(None, &one).expect("sched_setaffinity");
    assert_eq!(
        std::thread::available_parallelism().map_or(0, |c| c.get()),
        1
    );
    let out = f();
    sched_setaffinity(None, &all).expect("sched_setaffinity");
    out
}

#[cfg(not(target_os = "linux"))]
fn on_one_core<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// `K_s`, as `signing.md` specifies it.
fn stream_key(secret: &[u8], stream: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(STREAM_KEY_DOMAIN);
    mac.update(stream.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The HMAC ceiling: the chain of one stream recomputed over lines
/// already in memory, with the keyed state (record domain absorbed) built
/// once and cloned per line. Returns how many stored signatures differ
/// from the computed ones; each file's first record links to the file
/// before, as the chain runs on across files.
fn bare_hmac_chain(keyed: &HmacSha256, files: &[Vec<u8>]) -> usize {
    let mut prev = GENESIS;
    let mut out = [0u8; SIG_LEN];
    let mut mismatches = 0;
    for line in files.iter().flat_map(|f| lines(f)) {
        let cut = line.len() - SIG_SUFFIX_LEN;
        let (body, suffix) = line.split_at(cut);
        let tag = keyed
            .clone()
            .chain_update(prev)
            .chain_update(body)
            .finalize()
            .into_bytes();
        sig_encode(&tag, &mut out);
        let stored = &suffix[SIG_OPEN.len()..SIG_OPEN.len() + SIG_LEN];
        mismatches += usize::from(stored != out);
        prev.copy_from_slice(stored);
    }
    mismatches
}

/// The hash ceiling: SHA-256 over each file's bytes, in memory.
fn bare_sha256(files: &[Vec<u8>]) -> u8 {
    files.iter().fold(0, |acc, f| acc ^ Sha256::digest(f)[0])
}

/// The I/O floor: read the files (from the page cache, as the verifier
/// does after the first pass) through a buffer of the verifier's size and
/// split them into lines, into one reused line buffer.
fn read_and_split(files: &[PathBuf]) -> u64 {
    let mut line = Vec::with_capacity(4096);
    let mut lines = 0;
    for path in files {
        let file = File::open(path).expect("open log");
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).expect("read log") {
                0 => break,
                _ if line.len() > 1 => lines += 1,
                _ => {}
            }
        }
    }
    lines
}

/// `zcat` over the files, its output thrown away; `None` when there is no
/// `zcat` to run.
fn zcat(files: &[PathBuf]) -> Option<()> {
    let status = Command::new("zcat")
        .args(files)
        .stdout(Stdio::null())
        .status()
        .ok()?;
    assert!(status.success(), "zcat failed: {status}");
    Some(())
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

fn main() {
    let n = size::events(DEFAULT_N, 2_000);
    let verify_n = size::events(DEFAULT_VERIFY_N, 6_000);
    // About 20 files in a full run; several in a smoke run.
    let roll = if size::full_run() {
        (verify_n * 400 / 20).max(1 << 20)
    } else {
        256 * 1024
    };

    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    println!("cores (available_parallelism): {cores}");
    println!("load average at the start: {}", load_average());
    println!();

    let key = Key::generate().expect("OS random generator");
    let secret = hex::decode(key.to_hex()).expect("key hex");

    // 1. What signing costs the worker. An unmeasured run first, so
    // neither measured one pays for cold code and allocator; then unsigned
    // and signed runs in turn, the best of each kept (one run of each
    // varied by up to a factor of two on a busy 2-core VM).
    {
        let warm = tempfile::tempdir().expect("tempdir");
        build(warm.path(), Some(&key), n.min(20_000));
    }
    let mut unsigned: Option<Build> = None;
    let mut signed: Option<Build> = None;
    for _ in 0..RUNS {
        for (k, best) in [(None, &mut unsigned), (Some(&key), &mut signed)] {
            let scratch = tempfile::tempdir().expect("tempdir");
            let b = build(scratch.path(), k, n);
            if best.as_ref().is_none_or(|x| b.end_to_end < x.end_to_end) {
                *best = Some(b);
            }
        }
    }
    let unsigned = unsigned.expect("RUNS > 0");
    let signed = signed.expect("RUNS > 0");

    // 2. The verified log, and the verifier on it: all cores and one,
    // plain and gzip.
    let log = rolled_log(&key, verify_n, roll);
    let (plain_time, _) = best_of(|| verify(&log.plain, &key, log.records));
    let (gz_time, _) = best_of(|| verify(&log.gz, &key, log.records));
    let (plain_one, gz_one) = on_one_core(|| {
        let (p, _) = best_of(|| verify(&log.plain, &key, log.records));
        let (g, _) = best_of(|| verify(&log.gz, &key, log.records));
        (p, g)
    });

    // 3. What bounds it, on the same bytes.
    let gz_files = log_files(&log.gz);
    let plain_files = log_files(&log.plain);
    let zcat_time = zcat(&gz_files).map(|()| best_of(|| zcat(&gz_files)).0);
    let texts: Vec<Vec<u8>> = plain_files.iter().map(|f| read_log(f)).collect();
    assert!(texts.iter().flat_map(|t| lines(t)).all(|l| {
        l.len() > SIG_SUFFIX_LEN
            && l[l.len() - SIG_SUFFIX_LEN..].starts_with(SIG_OPEN)
            && l.ends_with(b"\"}")
    }));
    let (sha_time, _) = best_of(|| bare_sha256(&texts));
    let keyed = HmacSha256::new_from_slice(&stream_key(&secret, STREAM))
        .expect("HMAC takes any key length")
        .chain_update(RECORD_DOMAIN);
    let (hmac_time, mismatches) = best_of(|| bare_hmac_chain(&keyed, &texts));
    assert_eq!(mismatches, 0, "the bare chain agrees with every signature");
    let (io_time, io_lines) = best_of(|| read_and_split(&plain_files));
    assert_eq!(io_lines, log.records);

    // 4. The tables.
    let ns_per = |d: Duration| d.as_nanos() as f64 / n as f64;
    let sign_e2e = ns_per(signed.end_to_end);
    let unsigned_e2e = ns_per(unsigned.end_to_end);
    println!(
        "Signing: N = {n} events from 1 thread, Overflow::Block, one file in a tempdir (best of \
         {RUNS} runs each, signed and unsigned in turn)."
    );
    println!();
    println!("| figure | value |");
    println!("|---|---:|");
    println!("| build, signed: end-to-end (ns/record) | {sign_e2e:.0} |");
    println!("| build, unsigned: end-to-end (ns/record) | {unsigned_e2e:.0} |");
    println!(
        "| **signing + chaining, added on the worker (ns/record, signed − unsigned end to end)** | {:.0} |",
        sign_e2e - unsigned_e2e
    );
    println!(
        "| build, signed / unsigned: producer loop (ns/record) | {:.0} / {:.0} |",
        ns_per(signed.producer),
        ns_per(unsigned.producer)
    );
    println!(
        "| build, signed / unsigned: bytes on disk per record | {:.1} / {:.1} |",
        signed.log_bytes as f64 / n as f64,
        unsigned.log_bytes as f64 / n as f64
    );
    println!();

    let bytes = log.bytes as f64;
    let mb_s = |d: Duration| bytes / 1e6 / d.as_secs_f64();
    println!(
        "Verification: {} records in {} files ({} bytes of log text, {:.1} bytes/record; {} bytes \
         gzipped), one stream, rolled at {} bytes. Best of {RUNS} passes each, page cache warm; \
         MB = 10^6 bytes of log text (decompressed), so every ratio is one of times. Load \
         average now: {}.",
        grouped(log.records as f64),
        log.files,
        grouped(bytes),
        bytes / log.records as f64,
        grouped(log.gz_bytes as f64),
        grouped(roll as f64),
        load_average(),
    );
    println!();
    println!("| pass | MB/s | records/s |");
    println!("|---|---:|---:|");
    let row = |name: &str, d: Duration| {
        println!(
            "| {name} | {:.0} | {} |",
            mb_s(d),
            grouped(log.records as f64 / d.as_secs_f64())
        );
    };
    row(&format!("verifier, plain files, {cores} cores"), plain_time);
    row("verifier, plain files, 1 core", plain_one);
    row(&format!("verifier, gzip files, {cores} cores"), gz_time);
    row("verifier, gzip files, 1 core", gz_one);
    match zcat_time {
        Some(t) => row("`zcat` over the gzip files", t),
        None => println!("| `zcat` over the gzip files | no zcat | |"),
    }
    row("bare SHA-256 (`sha2`, in memory, 1 core)", sha_time);
    row(
        "bare chained HMAC-SHA256 (`hmac` + `sha2`, in memory, 1 core)",
        hmac_time,
    );
    row("read + split lines (I/O floor, 1 core)", io_time);
    println!();
    let ratio = |a: Duration, b: Duration| mb_s(a) / mb_s(b);
    println!("| ratio (MB/s over MB/s) | value |");
    println!("|---|---:|");
    println!(
        "| **verifier on gzip files / `zcat`** | {} |",
        zcat_time.map_or("n/a".into(), |z| format!("**{:.2}**", ratio(gz_time, z)))
    );
    println!(
        "| verifier on gzip files, 1 core / `zcat` | {} |",
        zcat_time.map_or("n/a".into(), |z| format!("{:.2}", ratio(gz_one, z)))
    );
    println!(
        "| verifier, plain: {cores} cores / 1 core | {:.2} |",
        ratio(plain_time, plain_one)
    );
    println!(
        "| verifier, gzip: {cores} cores / 1 core | {:.2} |",
        ratio(gz_time, gz_one)
    );
    println!(
        "| verifier, plain, {cores} cores / bare SHA-256 | {:.2} |",
        ratio(plain_time, sha_time)
    );
    println!(
        "| verifier, plain, 1 core / bare SHA-256 | {:.2} |",
        ratio(plain_one, sha_time)
    );
    println!(
        "| verifier, plain, 1 core / bare chained HMAC | {:.2} |",
        ratio(plain_one, hmac_time)
    );
    println!(
        "| bare chained HMAC / bare SHA-256 | {:.2} |",
        ratio(hmac_time, sha_time)
    );
    println!();
    println!(
        "The signing row is the worker's added cost of signing and chaining, measured end to \
         end (first event to the guard's drop returning) as the difference between a signed and \
         an unsigned run of the same workload; it includes writing the longer signed lines and \
         the segment and seal records. The verifier's rows include listing, probing and opening \
         every file; the bare rows work on bytes already in memory."
    );
}
