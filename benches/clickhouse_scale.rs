//! A fleet shipping to one ClickHouse: 8 simulated hosts log a day of
//! logins and payments (10 million records by default) through the real
//! pipeline, each into its own signed log directory (rolled, gzipped) and
//! through the real `HttpSink` with the `ClickHouse` encoder into the
//! server `EVTRAIL_CLICKHOUSE_URL` names. Then:
//!
//! * the ingest rate: records in the table over the time from the first
//!   event to the last host's pipeline closed, every record delivered;
//! * bytes stored per record: the table's compressed columns
//!   (`system.columns`) against the gzip files;
//! * the same questions asked of the store and of the files, with the
//!   `evtrail` command users run, side by side: count by host over one
//!   hour, the top 10 events, one operation key's records, and a full
//!   verify. The commands differ only in `--clickhouse URL --table T`
//!   against the host directories (verify: one run per directory, as a
//!   chain is per host). A build of `evtrail` without `--clickhouse`
//!   refuses the flag (exit 2); its rows then say so.
//!
//! Every answer is checked against what the generator knows it wrote. The
//! hosts' clocks are simulated (a day, yesterday UTC, spread evenly over
//! each host's records), so "one hour" selects a twenty-fourth of the
//! records.
//!
//! `cargo bench --bench clickhouse_scale --features http`;
//! `EVTRAIL_BENCH_N` sets the number of records. Without
//! `EVTRAIL_CLICKHOUSE_URL` it prints why and does nothing else;
//! `cargo test --benches` runs it small with every check. The table
//! (`chscale_<pid>`) is dropped and the local files deleted at the end.
//! The `evtrail` binary is `EVTRAIL_BIN` when set, otherwise built by the
//! `cargo` that runs the bench (release in a full run, dev in a smoke
//! run). Linux only.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use evtrail::http::{ClickHouse, ClickHouseFormat, HttpSink};
use evtrail::{Clock, FileOptions, Key, Overflow};
use flate2::Compression;
use flate2::write::GzEncoder;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

#[path = "common/cli.rs"]
mod cli;
#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/numbers.rs"]
mod numbers;
#[path = "common/rng.rs"]
mod rng;
#[path = "common/size.rs"]
mod size;

use cli::evtrail_bin;
use numbers::grouped;
use rng::Rng;

const FULL_N: u64 = 10_000_000;
const SMOKE_N: u64 = 16_000;
const HOSTS: u64 = 8;
const FULL_ROUNDS: usize = 3;
const URL_ENV: &str = "EVTRAIL_CLICKHOUSE_URL";
const DAY_SECS: u64 = 86_400;
/// The hour the "count by host" question asks about.
const HOUR: u64 = 12;
const TENANTS: &[&str] = &["acme", "globex", "initech", "umbrella", "hooli", "soylent"];
const REASONS: &[&str] = &["card_declined", "issuer_unavailable", "insufficient_funds"];

/// A host's clock, moved on by the generator: every record gets a time of
/// the simulated day.
#[derive(Clone)]
struct SimClock(Arc<AtomicU64>);

impl Clock for SimClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

/// What one host wrote: events per name, records in the hour, and the
/// records of the operation key the bench asks about.
#[derive(Default)]
struct Truth {
    events: BTreeMap<String, u64>,
    in_hour: u64,
    op_records: u64,
}

/// The operation key the "one operation" question follows: an order of
/// host `web-3`.
const PROBE_OP: &str = "order-web-3-000100";

/// Moves a host's clock on record by record and counts what is written.
struct Gen<'a> {
    clock: &'a SimClock,
    truth: Truth,
    written: u64,
    /// Nanoseconds: the day's start, between two records, the hour asked.
    day: u64,
    step: u64,
    hour: std::ops::Range<u64>,
}

impl Gen<'_> {
    /// Sets the clock for the next record, an `event` of operation `op`.
    fn at(&mut self, op: &str, event: &str) {
        let t = self.day + self.written * self.step;
        self.clock.0.store(t, Ordering::Relaxed);
        *self.truth.events.entry(event.to_owned()).or_default() += 1;
        self.truth.in_hour += u64::from(self.hour.contains(&t));
        self.truth.op_records += u64::from(op == PROBE_OP);
        self.written += 1;
    }
}

/// Logs `n` records of host `web-<h>` over the day starting at `day`
/// (Unix seconds): logins, and orders whose events share an `op` key.
fn host_events(h: u64, n: u64, day: u64, clock: &SimClock) -> Truth {
    const NS: u64 = 1_000_000_000;
    let mut rng = Rng(0xC11C_0000 + h);
    let mut g = Gen {
        clock,
        truth: Truth::default(),
        written: 0,
        day: day * NS,
        step: DAY_SECS * NS / n,
        hour: (day + HOUR * 3600) * NS..(day + (HOUR + 1) * 3600) * NS,
    };
    let mut order = 0;
    while g.written < n {
        let tenant = rng.pick(TENANTS);
        let user = format!("u-{}", rng.below(100_000));
        if rng.below(4) == 0 {
            let ip = format!("10.{h}.{}.{}", rng.below(256), rng.below(256));
            g.at("", "user_login");
            if rng.below(10) != 0 {
                tracing::info!(
                    event = "user_login",
                    class = "security",
                    user,
                    ip,
                    tenant,
                    "user logged in"
                );
            } else {
                tracing::warn!(
                    event = "user_login",
                    class = "security",
                    status = "denied",
                    user,
                    ip,
                    tenant,
                    "user login attempt failed"
                );
            }
            continue;
        }
        let op = format!("order-web-{h}-{order:06}");
        order += 1;
        let request_id = format!("req-{:016x}", rng.next());
        let span = tracing::info_span!("order", op = %op, tenant, request_id = %request_id);
        let _in = span.enter();
        let amount = 100 + rng.below(50_000);
        g.at(&op, "order_created");
        tracing::info!(
            event = "order_created",
            user,
            amount,
            items = 1 + amount % 7,
            "order created"
        );
        let mut failures = 0;
        while g.written < n && failures < 3 && rng.below(5) == 0 {
            let reason = rng.pick(REASONS);
            g.at(&op, "payment_failed");
            tracing::warn!(
                event = "payment_failed",
                code = 4021,
                status = "error",
                user,
                amount,
                reason,
                "payment of {amount} cents failed for {user}: {reason}"
            );
            failures += 1;
        }
        if g.written < n {
            g.at(&op, "payment_ok");
            tracing::info!(
                event = "payment_ok",
                user,
                amount,
                "payment of {amount} cents accepted"
            );
        }
        if g.written < n {
            g.at(&op, "order_completed");
            tracing::info!(
                event = "order_completed",
                status = "ok",
                user,
                "order completed"
            );
        }
    }
    g.truth
}

/// Runs one statement over ClickHouse's HTTP interface; the answer's text.
fn sql(url: &str, statement: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(3600)))
        .build()
        .into();
    let mut resp = agent
        .post(url)
        .send(statement)
        .map_err(|e| format!("ClickHouse at {url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .map_err(|e| format!("ClickHouse at {url}: {e}"))?;
    if status != 200 {
        return Err(format!("ClickHouse at {url}: HTTP {status}: {text}"));
    }
    Ok(text)
}

/// The one number a statement answers.
fn sql_number(url: &str, statement: &str) -> u64 {
    let text = sql(url, statement).unwrap_or_else(|e| panic!("{e}"));
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("`{statement}` answered `{text}`, not a number"))
}

/// The bench's table; dropped when the bench ends, panics included.
struct Table {
    url: String,
    name: String,
}

impl Drop for Table {
    fn drop(&mut self) {
        if let Err(e) = sql(&self.url, &format!("DROP TABLE IF EXISTS {}", self.name)) {
            eprintln!("clickhouse_scale: cannot drop the table {}: {e}", self.name);
        }
    }
}

/// The server to load, from [`URL_ENV`]: `None` (with the reason printed)
/// when unset; a panic when it is not on loopback.
fn server_url() -> Option<String> {
    let url = match std::env::var(URL_ENV) {
        Ok(u) if !u.is_empty() => u,
        _ => {
            println!(
                "clickhouse_scale: skipped: {URL_ENV} is not set (e.g. {URL_ENV}=http://127.0.0.1:18123/)"
            );
            return None;
        }
    };
    let host = url
        .trim_start_matches("http://")
        .split([':', '/'])
        .next()
        .unwrap_or("");
    assert!(
        matches!(host, "127.0.0.1" | "localhost" | "[::1]"),
        "{URL_ENV} must name a server on loopback, not {url}"
    );
    Some(url)
}

/// The HTTP sinks' request size: `EVTRAIL_BENCH_BATCH` records (default
/// 100,000: ClickHouse wants few large inserts), and 64 MiB.
fn batch() -> (usize, usize) {
    let records = std::env::var("EVTRAIL_BENCH_BATCH")
        .ok()
        .map(|v| v.parse().expect("EVTRAIL_BENCH_BATCH must be a number"))
        .unwrap_or(100_000);
    (records, 64 << 20)
}

/// The rows' format: `EVTRAIL_BENCH_FORMAT=json` for `JSONEachRow`,
/// otherwise `RowBinary`.
fn format() -> ClickHouseFormat {
    match std::env::var("EVTRAIL_BENCH_FORMAT").as_deref() {
        Ok("json") => ClickHouseFormat::JsonEachRow,
        _ => ClickHouseFormat::RowBinary,
    }
}

/// A thread's part in the run, from its name.
fn thread_kind(comm: &str) -> String {
    match comm {
        c if c.starts_with("evtrail-http") => "the HTTP sinks' threads (encode, gzip, send)",
        c if c.starts_with("evtrail-worker") => "the pipelines' workers (sign, write files)",
        c if c.starts_with("evtrail-compr") => "gzip of rolled files",
        c if c.starts_with("evtrail") => "evtrail's other threads",
        _ => "the hosts' threads (logging calls)",
    }
    .to_owned()
}

/// What one host's run left: its truth, and the sink's delivery counts.
struct HostRun {
    truth: Truth,
    delivered: u64,
    failed_pushes: u64,
    requests: u64,
}

/// Host `web-<h>`: `n` records through the real pipeline into `dir` and
/// the table; returns once everything is delivered and the pipeline closed.
fn run_host(h: u64, n: u64, day: u64, dir: &Path, key: Key, url: &str, table: &str) -> HostRun {
    let clock = SimClock(Arc::new(AtomicU64::new(day * 1_000_000_000)));
    let (records, bytes) = batch();
    let sink = HttpSink::builder(url)
        .name("clickhouse")
        .encoder(ClickHouse::new(table).format(format()))
        .batch_records(records)
        .batch_bytes(bytes)
        // On loopback, compressing the body only costs both sides CPU.
        .gzip(std::env::var("EVTRAIL_BENCH_GZIP").as_deref() == Ok("1"))
        // Eight hosts log faster than one server on the same two cores
        // takes their rows: what waits goes to the spool, which must hold
        // it all for every record to arrive in this run (beyond the
        // default cap, records would come from the files at the next start).
        .spool_max_bytes(64 << 30)
        .build()
        .expect("sink settings");
    let (layer, guard) = evtrail::builder()
        .service("shop")
        .environment("prod")
        .host(format!("web-{h}"))
        .key(key)
        .log_dir(dir)
        .clock(clock.clone())
        .overflow(Overflow::Block)
        // Delivery reports in a stream of their own: the questions ask
        // about the application's records, in `app`.
        .add_route(evtrail::Route::to("delivery").event("evtrail.push"))
        .file_options(FileOptions::default().compression_wait(Duration::from_secs(600)))
        .flush_timeout(Duration::from_secs(600))
        .add_sink(sink)
        .build()
        .expect("evtrail build");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let truth = tracing::dispatcher::with_default(&dispatch, || host_events(h, n, day, &clock));
    guard
        .flush(Duration::from_secs(3600))
        .expect("every record delivered");
    let stats = guard.stats();
    assert_eq!(stats.dropped, 0, "web-{h}: Block must not drop");
    let delivery = stats
        .sinks
        .iter()
        .find_map(|s| s.delivery.clone())
        .expect("the HTTP sink's counts");
    assert_eq!(
        delivery.dead_lettered, 0,
        "web-{h}: ClickHouse refused records"
    );
    drop(guard);
    drop(dispatch);
    HostRun {
        truth,
        delivered: delivery.delivered,
        failed_pushes: delivery.pushes_failed,
        requests: delivery.pushes_ok,
    }
}

/// One run of the CLI: wall seconds, exit code, stdout, stderr.
struct Run {
    secs: f64,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_cli(bin: &Path, args: &[String]) -> Run {
    let started = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run evtrail");
    Run {
        secs: started.elapsed().as_secs_f64(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Whether this build of `evtrail` refused `--clickhouse` as a flag it
/// does not know.
fn lacks_clickhouse(r: &Run) -> bool {
    r.code == Some(2)
        && r.stderr.contains("--clickhouse")
        && (r.stderr.contains("unexpected argument") || r.stderr.contains("unrecognized"))
}

/// `key,records` CSV rows (the header skipped) as counts.
fn csv_counts(out: &str) -> BTreeMap<String, u64> {
    out.lines()
        .skip(1)
        .filter_map(|l| l.rsplit_once(','))
        .map(|(k, v)| (k.to_owned(), v.parse().expect("a count")))
        .collect()
}

/// The records a `verify` run read: the sum of its `<stream>: N records`.
fn verified_records(out: &str) -> u64 {
    out.lines()
        .filter_map(|l| {
            l.split_once(": ")?
                .1
                .split_once(" records,")?
                .0
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One question, asked of the files and of the store.
struct Question {
    label: &'static str,
    /// The command over the host directories (several for verify, one per
    /// directory), and over ClickHouse.
    files: Vec<Vec<String>>,
    store: Vec<String>,
    /// Checks an answer (the runs' stdout joined); panics when wrong.
    check: Box<dyn Fn(&str)>,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

fn main() {
    let Some(url) = server_url() else { return };
    let full = size::full_run();
    let n = size::events(FULL_N, SMOKE_N).max(HOSTS * 1_000);
    let rounds = if full { FULL_ROUNDS } else { 1 };
    let per_host = n / HOSTS;
    let n = per_host * HOSTS;
    let version = sql(&url, "SELECT version()").unwrap_or_else(|e| panic!("{e}"));
    let table = Table {
        url: url.clone(),
        name: format!("chscale_{}", std::process::id()),
    };
    sql(&url, &format!("DROP TABLE IF EXISTS {}", table.name)).unwrap_or_else(|e| panic!("{e}"));
    sql(&url, &ClickHouse::new(&table.name).create_table()).unwrap_or_else(|e| panic!("{e}"));

    let bin = evtrail_bin(full, "cli,http", "clickhouse_scale");
    let data = tempfile::Builder::new()
        .prefix("chscale-")
        .tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/target"))
        .expect("tempdir");
    let key = Key::generate().expect("key");
    let key_file = data.path().join("fleet.key");
    key.write_new_file(&key_file).expect("key file");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    // Yesterday, UTC: a whole day in the past.
    let day = (now / DAY_SECS - 1) * DAY_SECS;
    let date = time::OffsetDateTime::from_unix_timestamp(day as i64)
        .expect("a date")
        .date()
        .to_string();
    let dirs: Vec<PathBuf> = (1..=HOSTS)
        .map(|h| data.path().join(format!("web-{h}")))
        .collect();

    eprintln!(
        "clickhouse_scale: {} records from {HOSTS} hosts into ClickHouse {} ({}), table {}",
        grouped(n as f64),
        version.trim(),
        url,
        table.name
    );
    let monitor = cpu::Monitor::start(Duration::from_millis(100));
    let cpu_before = cpu::process_cpu();
    let started = Instant::now();
    let runs: Vec<HostRun> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| {
                let (key, url, table) = (key.clone(), &url, &table.name);
                s.spawn(move || run_host(i as u64 + 1, per_host, day, dir, key, url, table))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("host"))
            .collect()
    });
    let ingest_secs = started.elapsed().as_secs_f64();
    let process_secs = cpu::process_cpu() - cpu_before;
    let mut cpu_by_thread: BTreeMap<String, f64> = BTreeMap::new();
    for (_, comm, secs) in monitor.finish() {
        *cpu_by_thread.entry(thread_kind(&comm)).or_default() += secs;
    }

    // Everything arrived: each record once after de-duplication.
    let t = &table.name;
    let rows = sql_number(&url, &format!("SELECT count() FROM {t} FINAL FORMAT TSV"));
    let raw_rows = sql_number(&url, &format!("SELECT count() FROM {t} FORMAT TSV"));
    let app_rows = sql_number(
        &url,
        &format!("SELECT count() FROM {t} FINAL WHERE event NOT LIKE 'evtrail.%' FORMAT TSV"),
    );
    assert_eq!(
        app_rows,
        n,
        "every application record is in the table ({raw_rows} rows before de-duplication; \
         the sinks counted {} delivered)",
        runs.iter().map(|r| r.delivered).sum::<u64>()
    );
    let delivered: u64 = runs.iter().map(|r| r.delivered).sum();
    let requests: u64 = runs.iter().map(|r| r.requests).sum();
    let failed: u64 = runs.iter().map(|r| r.failed_pushes).sum();

    // The files as they would be kept: every file gzipped, the active ones
    // too.
    let mut gz_bytes = 0;
    for dir in &dirs {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".log") {
                let gz = path.with_file_name(format!("{name}.gz"));
                let mut enc =
                    GzEncoder::new(File::create(&gz).expect("create"), Compression::new(2));
                io::copy(&mut File::open(&path).expect("open"), &mut enc).expect("gzip");
                enc.finish().expect("gzip");
                fs::remove_file(&path).expect("remove");
                gz_bytes += fs::metadata(&gz).expect("gz").len();
            } else if name.ends_with(".log.gz") {
                gz_bytes += entry_len(&path);
            }
        }
    }
    let columns = sql(
        &url,
        &format!(
            "SELECT sum(data_compressed_bytes), sum(data_uncompressed_bytes) FROM system.columns \
             WHERE database = currentDatabase() AND table = '{t}' FORMAT TSV"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (ch_bytes, ch_raw): (u64, u64) = match columns.trim().split_once('\t') {
        Some((a, b)) => (a.parse().expect("bytes"), b.parse().expect("bytes")),
        None => panic!("system.columns answered `{columns}`"),
    };
    let parts = sql_number(
        &url,
        &format!("SELECT count() FROM system.parts WHERE active AND table = '{t}' FORMAT TSV"),
    );

    println!(
        "\n{} records ({} with evtrail's own) from {HOSTS} hosts, ClickHouse {} on {url}; {} rounds, median.\n",
        grouped(n as f64),
        grouped(rows as f64),
        version.trim(),
        rounds
    );
    println!("| ingest, one process, 8 pipelines | |\n|---|---:|");
    println!(
        "| records/s into ClickHouse (first event to every record delivered and every pipeline closed) | {} |",
        grouped(rows as f64 / ingest_secs)
    );
    println!("| wall time | {ingest_secs:.1} s |");
    println!(
        "| requests / failed attempts / rows before de-duplication | {} / {} / {} |",
        grouped(requests as f64),
        grouped(failed as f64),
        grouped(raw_rows as f64)
    );
    println!(
        "| records the sinks counted delivered | {} |",
        grouped(delivered as f64)
    );
    let (records, bytes) = batch();
    println!(
        "| requests of at most | {} records, {} MiB, {:?}, gzip {} |",
        grouped(records as f64),
        bytes >> 20,
        format(),
        if std::env::var("EVTRAIL_BENCH_GZIP").as_deref() == Ok("1") {
            "on"
        } else {
            "off"
        }
    );
    println!(
        "| CPU of this process (the server's is not counted) | {process_secs:.1} s, {:.2} µs a record |",
        process_secs * 1e6 / rows as f64
    );
    for (kind, secs) in &cpu_by_thread {
        println!(
            "| CPU: {kind} | {secs:.1} s, {:.2} µs a record |",
            secs * 1e6 / rows as f64
        );
    }
    println!(
        "| bytes a record: ClickHouse, compressed columns ({} active parts) | {:.1} |",
        parts,
        ch_bytes as f64 / rows as f64
    );
    println!(
        "| bytes a record: ClickHouse, uncompressed | {:.1} |",
        ch_raw as f64 / rows as f64
    );
    println!(
        "| bytes a record: gzip log files | {:.1} |",
        gz_bytes as f64 / rows as f64
    );
    println!(
        "| ClickHouse / gzip files | {:.2} |",
        ch_bytes as f64 / gz_bytes as f64
    );

    // The questions.
    let mut truth = Truth::default();
    let mut hour_by_host = BTreeMap::new();
    for (h, r) in runs.iter().enumerate() {
        for (k, v) in &r.truth.events {
            *truth.events.entry(k.clone()).or_default() += v;
        }
        truth.op_records += r.truth.op_records;
        hour_by_host.insert(format!("web-{}", h + 1), r.truth.in_hour);
    }
    let dir_args: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let store_args = strings(&["--clickhouse", &url, "--table", t]);
    let key_arg = key_file.display().to_string();
    let from = format!("{date} {HOUR:02}:00");
    let to = format!("{date} {:02}:00", HOUR + 1);
    let ask = |sub: &str, rest: &[&str]| -> (Vec<Vec<String>>, Vec<String>) {
        let mut files = strings(&[sub]);
        files.extend(dir_args.iter().cloned());
        files.extend(strings(rest));
        let mut store = strings(&[sub]);
        store.extend(store_args.iter().cloned());
        store.extend(strings(rest));
        (vec![files], store)
    };
    let mut questions = Vec::new();
    let (files, store) = ask(
        "stats",
        &[
            "--stream", "app", "--from", &from, "--to", &to, "--by", "host", "--format", "csv",
        ],
    );
    questions.push(Question {
        label: "count by host over an hour",
        files,
        store,
        check: Box::new(move |out| assert_eq!(csv_counts(out), hour_by_host, "count by host")),
    });
    let (files, store) = ask(
        "stats",
        &[
            "--stream",
            "app",
            "--all-time",
            "--by",
            "event",
            "--top",
            "10",
            "--format",
            "csv",
        ],
    );
    let events = truth.events.clone();
    questions.push(Question {
        label: "top 10 events",
        files,
        store,
        check: Box::new(move |out| assert_eq!(csv_counts(out), events, "top 10 events")),
    });
    let (files, store) = ask(
        "query",
        &["--all-time", "--op", PROBE_OP, "--format", "jsonl"],
    );
    let op_records = truth.op_records;
    assert!(op_records > 0, "the probed operation was written");
    questions.push(Question {
        label: "one operation key's records",
        files,
        store,
        check: Box::new(move |out| {
            assert_eq!(
                out.lines().count() as u64,
                op_records,
                "records of {PROBE_OP}"
            )
        }),
    });
    let mut store = strings(&["verify"]);
    store.extend(store_args.iter().cloned());
    store.extend(strings(&["--key-file", &key_arg]));
    questions.push(Question {
        label: "full verify",
        files: dir_args
            .iter()
            .map(|d| strings(&["verify", d, "--key-file", &key_arg]))
            .collect(),
        store,
        check: Box::new(move |out| assert_eq!(verified_records(out), rows, "records verified")),
    });

    // Warm the page cache, so the files are read from memory like the
    // store's.
    for dir in &dirs {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                io::copy(&mut File::open(&path).expect("open"), &mut io::sink()).expect("read");
            }
        }
    }
    println!(
        "\n| question | files | ClickHouse | files' time / ClickHouse's |\n|---|---:|---:|---:|"
    );
    for q in &questions {
        let mut file_secs = Vec::new();
        let mut store_secs = Vec::new();
        let mut store_missing = false;
        for _ in 0..rounds {
            let mut secs = 0.0;
            let mut out = String::new();
            for args in &q.files {
                let r = run_cli(&bin, args);
                assert_eq!(
                    r.code,
                    Some(0),
                    "`evtrail {}`: {}",
                    args.join(" "),
                    r.stderr
                );
                secs += r.secs;
                out.push_str(&r.stdout);
            }
            (q.check)(&out);
            file_secs.push(secs);
            if store_missing {
                continue;
            }
            let r = run_cli(&bin, &q.store);
            if lacks_clickhouse(&r) {
                store_missing = true;
                continue;
            }
            assert_eq!(
                r.code,
                Some(0),
                "`evtrail {}`: {}",
                q.store.join(" "),
                r.stderr
            );
            (q.check)(&r.stdout);
            store_secs.push(r.secs);
        }
        let f = median(file_secs);
        if store_missing {
            println!(
                "| {} | {f:.2} s | over ClickHouse: not available in this build | |",
                q.label
            );
        } else {
            let c = median(store_secs);
            println!("| {} | {f:.2} s | {c:.2} s | {:.2} |", q.label, f / c);
        }
    }
    drop(table);
    drop(data);
}

fn entry_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}
