//! Signing and verification, on one log and in one run: what signing and
//! chaining add to the worker, how fast [`Verifier`] checks the log, and
//! how that compares with a bare chained HMAC-SHA256 loop over the same
//! lines (the ceiling) and a bare read-and-split pass (the I/O floor).
//!
//! `cargo bench --bench verify`; `EVTRAIL_BENCH_N` overrides the number of
//! records.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use evtrail::verify::Verifier;
use evtrail::{Key, Keyring};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
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
const MESSAGE: &str = "user login attempt";
/// Timed verification passes; the best one is reported.
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
    lines: usize,
}

/// Writes `n` events through a pipeline (signed with `key`, or unsigned)
/// into `dir`, with `Overflow::Block` so that every event is written.
fn build(dir: &Path, key: Option<&Key>, n: usize) -> Build {
    let b = evtrail::builder()
        .service("bench")
        .log_dir(dir)
        .overflow(evtrail::Overflow::Block);
    let b = match key {
        Some(k) => b.key(k.clone()),
        None => b.unsigned(),
    };
    let (layer, guard) = b.build().expect("evtrail build");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let start = Instant::now();
    let mut producer = Duration::ZERO;
    tracing::dispatcher::with_default(&dispatch, || {
        let span = login::request_span();
        let _entered = span.enter();
        for i in 0..n as u64 {
            emit_login(i);
        }
        producer = start.elapsed();
    });
    assert_eq!(guard.stats().dropped, 0, "Block must not drop");
    drop(guard);
    let end_to_end = start.elapsed();
    drop(dispatch);

    let mut log_bytes = 0;
    let mut lines = 0;
    let mut events = 0;
    for path in log_files(dir) {
        let data = fs::read(&path).expect("read log");
        log_bytes += data.len() as u64;
        for line in data.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            lines += 1;
            if contains(line, MESSAGE.as_bytes()) {
                events += 1;
            }
        }
    }
    assert_eq!(events, n, "every event on disk, once");
    Build {
        end_to_end,
        producer,
        log_bytes,
        lines,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The `*.log` files directly in `dir`, as the verifier picks them.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list log dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && n.ends_with(".log"))
        })
        .collect();
    out.sort();
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

/// `K_s`, as `signing.md` specifies it.
fn stream_key(secret: &[u8], stream: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(STREAM_KEY_DOMAIN);
    mac.update(stream.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The ceiling: the chain of one stream recomputed over lines already in
/// memory, with the keyed state (record domain absorbed) built once and
/// cloned per line. Returns how many stored signatures differ from the
/// computed ones.
fn bare_hmac_chain(keyed: &HmacSha256, lines: &[&[u8]]) -> usize {
    let mut prev = GENESIS;
    let mut out = [0u8; SIG_LEN];
    let mut mismatches = 0;
    for line in lines {
        let cut = line.len() - SIG_SUFFIX_LEN;
        let (body, suffix) = line.split_at(cut);
        let tag = keyed
            .clone()
            .chain_update(prev)
            .chain_update(body)
            .finalize()
            .into_bytes();
        sig_encode(&tag, &mut out);
        mismatches += usize::from(suffix[SIG_OPEN.len()..SIG_OPEN.len() + SIG_LEN] != out);
        prev = out;
    }
    mismatches
}

/// The I/O floor: read the file (from the page cache, as the verifier does
/// after the first pass) through a buffer of the verifier's size and split
/// it into lines, into one reused line buffer.
fn read_and_split(path: &Path) -> usize {
    let file = fs::File::open(path).expect("open log");
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut line = Vec::with_capacity(4096);
    let mut lines = 0;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).expect("read log") {
            0 => break,
            _ if line.len() > 1 => lines += 1,
            _ => {}
        }
    }
    lines
}

fn main() {
    let n = size::events(DEFAULT_N, 2_000);

    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    println!("cores (available_parallelism): {cores}");
    println!();

    let key = Key::generate().expect("OS random generator");
    let secret = hex::decode(key.to_hex()).expect("key hex");

    // 1. The log, and what signing costs the worker. An unmeasured run
    // first, so neither measured one pays for cold code and allocator; then
    // unsigned and signed runs in turn, the best of each kept (one run of
    // each varied by up to a factor of two on a busy 2-core VM).
    {
        let warm = tempfile::tempdir().expect("tempdir");
        build(warm.path(), Some(&key), n.min(20_000));
    }
    let mut unsigned: Option<Build> = None;
    let mut signed: Option<(Build, tempfile::TempDir)> = None;
    for _ in 0..RUNS {
        let scratch = tempfile::tempdir().expect("tempdir");
        let u = build(scratch.path(), None, n);
        drop(scratch);
        if unsigned
            .as_ref()
            .is_none_or(|b| u.end_to_end < b.end_to_end)
        {
            unsigned = Some(u);
        }
        let d = tempfile::tempdir().expect("tempdir");
        let s = build(d.path(), Some(&key), n);
        // The same workload every time: any of the logs serves below.
        if signed
            .as_ref()
            .is_none_or(|(b, _)| s.end_to_end < b.end_to_end)
        {
            signed = Some((s, d));
        }
    }
    let unsigned = unsigned.expect("RUNS > 0");
    let (signed, dir) = signed.expect("RUNS > 0");

    // 2. The library verifier.
    let files = log_files(dir.path());
    assert_eq!(
        files,
        [dir.path().join(format!("{STREAM}.log"))],
        "one stream in one file"
    );
    let path = &files[0];
    let (verify_time, report) = best_of(|| {
        Verifier::new(Keyring::new().with(key.clone()))
            .verify_paths(&[dir.path()])
            .expect("verify")
    });
    assert!(report.is_clean(), "{report}");
    assert!(report.findings.is_empty(), "{report}");
    assert_eq!(report.streams.len(), 1, "{report}");
    let s = &report.streams[0];
    assert_eq!(s.records, signed.lines as u64, "{report}");
    assert_eq!(s.verified, s.records, "{report}");

    // 3. The ceiling, on the same lines, and the I/O floor.
    let data = fs::read(path).expect("read log");
    let lines: Vec<&[u8]> = data
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), signed.lines);
    assert!(lines.iter().all(|l| l.len() > SIG_SUFFIX_LEN
        && l[l.len() - SIG_SUFFIX_LEN..].starts_with(SIG_OPEN)
        && l.ends_with(b"\"}")));
    let keyed = HmacSha256::new_from_slice(&stream_key(&secret, STREAM))
        .expect("HMAC takes any key length")
        .chain_update(RECORD_DOMAIN);
    let (hmac_time, mismatches) = best_of(|| bare_hmac_chain(&keyed, &lines));
    assert_eq!(
        mismatches, 0,
        "the bare loop must agree with every signature"
    );
    let (io_time, io_lines) = best_of(|| read_and_split(path));
    assert_eq!(io_lines, lines.len());

    // 4. The table.
    let bytes = signed.log_bytes as f64;
    let records = signed.lines as f64;
    let mb_s = |d: Duration| bytes / 1e6 / d.as_secs_f64();
    let rec_s = |d: Duration| records / d.as_secs_f64();
    let ns_per = |d: Duration| d.as_nanos() as f64 / n as f64;
    let sign_e2e = ns_per(signed.end_to_end);
    let unsigned_e2e = ns_per(unsigned.end_to_end);

    println!(
        "N = {n} events from 1 thread, Overflow::Block, written to a tempdir (build rows: best of \
         {RUNS} runs each, signed and unsigned in turn); the signed log is {} lines ({} bytes, {:.1} bytes/line). Throughputs are the best of {RUNS} passes over \
         the same file (page cache warm); MB = 10^6 bytes of file.",
        signed.lines,
        grouped(bytes),
        bytes / records,
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
    println!(
        "| verifier (`verify_paths`): MB/s | {:.1} |",
        mb_s(verify_time)
    );
    println!(
        "| verifier (`verify_paths`): records/s | {} |",
        grouped(rec_s(verify_time))
    );
    println!(
        "| bare chained HMAC-SHA256 (in memory): MB/s | {:.1} |",
        mb_s(hmac_time)
    );
    println!(
        "| bare chained HMAC-SHA256 (in memory): records/s | {} |",
        grouped(rec_s(hmac_time))
    );
    println!(
        "| read + split lines (I/O floor): MB/s | {:.1} |",
        mb_s(io_time)
    );
    println!(
        "| read + split lines (I/O floor): records/s | {} |",
        grouped(rec_s(io_time))
    );
    println!(
        "| verifier / bare HMAC, MB/s | {:.2} |",
        mb_s(verify_time) / mb_s(hmac_time)
    );
    println!(
        "| verifier / bare HMAC, records/s | {:.2} |",
        rec_s(verify_time) / rec_s(hmac_time)
    );
    println!();
    println!(
        "The signing row is the worker's added cost of signing and chaining, measured end to \
         end (first event to the guard's drop returning) as the difference between a signed and \
         an unsigned run of the same workload; it includes writing the longer signed lines and \
         the segment and seal records. It shows the worker's cost only while the worker, not the \
         emitting thread, is the bottleneck (compare the producer-loop row)."
    );
}
