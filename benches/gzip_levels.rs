//! gzip level against speed and ratio on real evtrail records: what the
//! default level ([`evtrail::DEFAULT_COMPRESSION_LEVEL`]) trades.
//!
//! A signed pipeline writes two workloads to plain files (compression off):
//! one login event repeated with a counter, and a mix of login, payment,
//! upstream-timeout and query events whose values come from a fixed
//! pseudo-random sequence. The files are read back and gzipped in memory at
//! each level, with the `flate2` build and the read size of the crate's own
//! compressor; disk I/O is left out.
//!
//! `cargo bench --bench gzip_levels`; `EVTRAIL_BENCH_N` overrides the
//! number of events per workload.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use evtrail::{FileOptions, Key, Overflow};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

#[path = "common/login.rs"]
mod login;
#[path = "common/numbers.rs"]
mod numbers;
#[path = "common/size.rs"]
mod size;

use login::emit_login;
use numbers::grouped;

const FULL_N: u64 = 200_000;
const SMOKE_N: u64 = 2_000;
const LEVELS: [u32; 5] = [1, 2, 3, 6, 9];
/// The mixed workload's first LCG state.
const SEED: u64 = 42;
/// Timed runs per level; the fastest is kept.
const RUNS: usize = 2;
/// How much the crate's compressor reads from a file per encoder write.
const CHUNK: usize = 256 * 1024;
/// The messages of the workloads' events; every other line is one of
/// evtrail's own records.
const MESSAGES: [&str; 4] = [
    "user login attempt",
    "payment failed",
    "upstream request timed out",
    "query executed",
];

/// Which events a pipeline is fed.
#[derive(Clone, Copy)]
enum Workload {
    /// The login event of the other benches, inside one request span.
    Login,
    /// Login, payment, upstream and query events at four levels, in
    /// request spans of one to six events, with varying values.
    Mixed,
}

impl Workload {
    fn title(self) -> &'static str {
        match self {
            Workload::Login => "Login workload",
            Workload::Mixed => "Mixed workload",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Workload::Login => {
                "inside span `request{request_id = \"req_xyz789\", op = \"checkout\"}`, \
                 `info!(user_id = \"user_12345\", ip = \"192.168.1.100\", attempt = i, \
                 result = \"failure\", reason = \"invalid_password\", \"user login attempt\")`"
            }
            Workload::Mixed => {
                "request spans (`request_id`, `op` of 4) of 1 to 6 events each; 60 % \
                 `info!` login attempts (one of 50,000 users, a 10.x.x.x address, 3 in 4 \
                 successful, else one of 3 reasons), 15 % `warn!` payment failures (order id, \
                 amount, one of 3 currencies, one of 4 decline codes), 10 % `error!` upstream \
                 timeouts (one of 4 upstreams, one of 4 timeouts, retries), 15 % `debug!` \
                 queries (one of 5 tables, rows, a duration in ms); values from a 64-bit LCG \
                 with a fixed seed"
            }
        }
    }
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants): the
/// mixed workload's values, the same in every run.
struct Lcg(u64);

impl Lcg {
    /// The next value, from the state's high bits (the low ones cycle
    /// quickly).
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A value below `n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One of `items`.
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One event of the mixed workload.
fn emit_mixed(rng: &mut Lcg, i: u64) {
    let user = format!("user_{:05}", rng.below(50_000));
    match rng.below(100) {
        0..60 => {
            let ip = format!(
                "10.{}.{}.{}",
                rng.below(256),
                rng.below(256),
                rng.below(256)
            );
            let ok = rng.below(4) != 0;
            let reason = if ok {
                "none"
            } else {
                rng.pick(&["invalid_password", "unknown_user", "locked_out"])
            };
            tracing::info!(
                user_id = user.as_str(),
                ip = ip.as_str(),
                attempt = i,
                result = if ok { "success" } else { "failure" },
                reason,
                "user login attempt"
            );
        }
        60..75 => {
            let order = format!("ord_{:08x}", rng.next());
            tracing::warn!(
                user_id = user.as_str(),
                order_id = order.as_str(),
                amount_cents = rng.below(50_000),
                currency = rng.pick(&["EUR", "USD", "GBP"]),
                decline_code = rng.pick(&[
                    "insufficient_funds",
                    "card_declined",
                    "expired_card",
                    "do_not_honor"
                ]),
                "payment failed"
            );
        }
        75..85 => {
            tracing::error!(
                upstream = rng.pick(&["inventory", "pricing", "shipping", "search"]),
                timeout_ms = [500u64, 1_000, 2_000, 5_000][rng.below(4) as usize],
                retries = rng.below(4),
                attempt = i,
                "upstream request timed out"
            );
        }
        _ => {
            tracing::debug!(
                table = rng.pick(&["orders", "users", "sessions", "payments", "items"]),
                rows = rng.below(1_000),
                duration_ms = rng.below(20_000) as f64 / 100.0,
                "query executed"
            );
        }
    }
}

/// Feeds `n` events of `workload` through `dispatch`.
fn emit(dispatch: &Dispatch, workload: Workload, n: u64) {
    tracing::dispatcher::with_default(dispatch, || match workload {
        Workload::Login => {
            let span = login::request_span();
            let _entered = span.enter();
            for i in 0..n {
                emit_login(i);
            }
        }
        Workload::Mixed => {
            let mut rng = Lcg(SEED);
            let mut i = 0;
            while i < n {
                let id = format!("req_{:08x}", rng.next());
                let op = rng.pick(&["checkout", "login", "search", "cart"]);
                let span = tracing::info_span!("request", request_id = id.as_str(), op);
                let _entered = span.enter();
                for _ in 0..(1 + rng.below(6)).min(n - i) {
                    emit_mixed(&mut rng, i);
                    i += 1;
                }
            }
        }
    });
}

/// Runs a signed pipeline on `dir` for `n` events of `workload`, then
/// returns what its plain files hold, in the order they were written.
fn write_records(dir: &Path, workload: Workload, n: u64) -> Vec<u8> {
    let (layer, guard) = evtrail::builder()
        .service("bench")
        .key(Key::generate().expect("OS random generator"))
        .log_dir(dir)
        .file_options(FileOptions::default().compression(None))
        .overflow(Overflow::Block)
        .build()
        .expect("evtrail build");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    emit(&dispatch, workload, n);
    assert_eq!(guard.stats().dropped, 0, "Block must not drop");
    drop(guard);
    drop(dispatch);

    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list log dir")
        .flatten()
        .map(|e| e.file_name().into_string().expect("utf-8 name"))
        .filter(|name| !name.starts_with('.'))
        .collect();
    // Rolled files (`app.<time>.<counter>.log`) sort in roll order; the
    // active `app.log` was written last.
    names.sort_by_key(|name| (name == "app.log", name.clone()));
    let mut data = Vec::new();
    for name in &names {
        assert!(name.ends_with(".log"), "unexpected file `{name}`");
        fs::File::open(dir.join(name))
            .and_then(|mut f| f.read_to_end(&mut data))
            .expect("read log");
        assert!(data.ends_with(b"\n"), "`{name}`: torn");
    }
    let events: usize = MESSAGES
        .iter()
        .map(|m| memchr::memmem::find_iter(&data, m.as_bytes()).count())
        .sum();
    assert_eq!(events as u64, n, "every event on disk, once");
    data
}

/// Gzips `data` into `out` (emptied first) at `level`, written in
/// [`CHUNK`]s; returns how long it took.
fn gzip(data: &[u8], level: u32, out: &mut Vec<u8>) -> Duration {
    out.clear();
    let start = Instant::now();
    let mut enc = GzEncoder::new(std::mem::take(out), Compression::new(level));
    for chunk in data.chunks(CHUNK) {
        enc.write_all(chunk).expect("gzip into memory");
    }
    *out = enc.finish().expect("gzip into memory");
    start.elapsed()
}

/// One level's best run.
struct Row {
    level: u32,
    time: Duration,
    bytes_out: usize,
}

/// Gzips `data` at every level, [`RUNS`] times, interleaved so that load
/// from elsewhere hits every level alike; keeps each level's fastest run.
/// Each level's output is decompressed once and checked.
fn measure(data: &[u8]) -> Vec<Row> {
    let mut out = Vec::with_capacity(data.len() / 2);
    let mut back = Vec::with_capacity(data.len());
    let mut rows: Vec<Row> = LEVELS
        .iter()
        .map(|&level| Row {
            level,
            time: Duration::MAX,
            bytes_out: 0,
        })
        .collect();
    for run in 0..RUNS {
        for row in &mut rows {
            let time = gzip(data, row.level, &mut out);
            row.time = row.time.min(time);
            row.bytes_out = out.len();
            if run == 0 {
                back.clear();
                GzDecoder::new(out.as_slice())
                    .read_to_end(&mut back)
                    .expect("gunzip");
                assert!(back == data, "level {}: round trip differs", row.level);
            }
        }
    }
    rows
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

fn print_table(workload: Workload, n: u64, data: &[u8], rows: &[Row]) {
    let records = memchr::memchr_iter(b'\n', data).count();
    let default = evtrail::DEFAULT_COMPRESSION_LEVEL;
    let base = rows
        .iter()
        .find(|r| r.level == default)
        .expect("the default level is measured");
    println!("### {}", workload.title());
    println!();
    println!(
        "{} events: {}. {} records ({} of them evtrail's own), {:.1} MB, {:.0} bytes/record.",
        grouped(n as f64),
        workload.describe(),
        grouped(records as f64),
        grouped((records as u64 - n) as f64),
        mb(data.len()),
        data.len() as f64 / records as f64,
    );
    println!();
    println!(
        "| level | time (s) | MB/s in | ratio | µs/record | out (MB) | time vs default | size vs \
         default |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let secs = r.time.as_secs_f64();
        let level = if r.level == default {
            format!("**{} (default)**", r.level)
        } else {
            r.level.to_string()
        };
        println!(
            "| {level} | {secs:.3} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} |",
            mb(data.len()) / secs,
            data.len() as f64 / r.bytes_out as f64,
            secs * 1e6 / records as f64,
            mb(r.bytes_out),
            secs / base.time.as_secs_f64(),
            r.bytes_out as f64 / base.bytes_out as f64,
        );
    }
    println!();
}

fn main() {
    let n = size::events(FULL_N, SMOKE_N);
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    println!(
        "{cores} cores.{}",
        if size::full_run() {
            ""
        } else {
            " Smoke run (no `--bench`): tiny N."
        }
    );
    println!();
    println!(
        "Records written by a signed pipeline (generated key, `log_dir` in a tempdir, \
         `Overflow::Block`, gzip off), read back from its plain files in order and gzipped in \
         memory with `flate2::write::GzEncoder` ({} KiB writes, as the crate's compressor \
         reads), on one thread. Best of {RUNS} interleaved runs per level; every output is \
         checked to decompress to the input. MB = 10^6 bytes, uncompressed; ratio = in / out; \
         \"vs default\" compares with level {}, the crate's default.",
        CHUNK >> 10,
        evtrail::DEFAULT_COMPRESSION_LEVEL,
    );
    println!();
    for workload in [Workload::Login, Workload::Mixed] {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = write_records(dir.path(), workload, n);
        drop(dir);
        let rows = measure(&data);
        print_table(workload, n, &data, &rows);
    }
}
