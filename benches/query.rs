//! `evtrail query` against the tools people reach for instead: `jq` and
//! `grep -F` over the plain files, the same behind `zcat` over the gzip
//! files, and `zcat` alone (the decompression floor), on one log and in one
//! run. Every contender's matches are counted and must equal what the
//! generator knows it wrote.
//!
//! The log is built once with the real pipeline (signed, three streams by
//! route, rolled by size and gzipped) and kept under
//! `target/query-bench-data/`, keyed by the number of records, so repeated
//! runs skip it; a plain copy is made by decompressing every file. The
//! contenders run in turn, round after round (the table shows each one's
//! median run), every one against a warm page cache.
//!
//! The `evtrail` binary is taken from `EVTRAIL_BIN` when set; otherwise the
//! bench builds it with the `cargo` that runs it (`cargo build --release
//! --features cli --bin evtrail`; the dev profile in a smoke run) and takes
//! the executable cargo reports. Peak memory is the CLI's max RSS from
//! `/usr/bin/time` when that is installed, and the library's `VmHWM` in a
//! child process (this executable again, with [`CHILD_ENV`] set) always.
//!
//! `cargo bench --bench query`; `EVTRAIL_BENCH_N` overrides the number of
//! records. `cargo test --benches` runs it small, with every check, and
//! skips the tools that are not installed. Linux only.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evtrail::query::{Filter, Query, Signature, TimeRange};
use evtrail::{FileOptions, Key, Keyring, Overflow, Rotation, Route};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

#[path = "common/cli.rs"]
mod cli;
#[path = "common/numbers.rs"]
mod numbers;
#[path = "common/rng.rs"]
mod rng;
#[path = "common/size.rs"]
mod size;

use cli::evtrail_bin;
use numbers::grouped;
use rng::Rng;

/// About 1 GiB of records of the mix below (about 620 bytes each).
const FULL_N: u64 = 1_750_000;
/// The mix's mean record size, for the roll size of small runs.
const RECORD_BYTES: u64 = 620;
const SMOKE_N: u64 = 5_000;
/// Timed runs of each contender in a full run; the table shows the median.
const FULL_ROUNDS: usize = 3;
/// The roll size: 64 MiB, or for small runs about a twentieth of the log,
/// so that every stream still rolls.
const MAX_FILE_BYTES: u64 = 64 << 20;
const MIN_FILE_BYTES: u64 = 64 << 10;
/// Bumped whenever the generated log changes, so a cached one is rebuilt.
const DATA_VERSION: u32 = 1;
/// Set in a child's environment to what the child searches.
const CHILD_ENV: &str = "EVTRAIL_QUERY_BENCH_CHILD";
/// Starts the line of a child's stdout that carries its result.
const RESULT_TAG: &str = "evtrail-query-result";
/// The evtrail binary to time, instead of building one.
const TIME_BIN: &str = "/usr/bin/time";
/// The selective filter (about 1 % of the records) and the broad one
/// (about 20 %), as the tools spell them.
const SELECTIVE_EVENT: &str = "payment_failed";
const BROAD_CLASS: &str = "security";
const SELECTIVE_JQ: &str = r#"select(.event=="payment_failed")"#;
const SELECTIVE_GREP: &str = r#""event":"payment_failed""#;
const BROAD_GREP: &str = r#""class":"security""#;
/// The goals of the issue, reported (never asserted).
const GOAL_VS_JQ: f64 = 10.0;
const GOAL_VS_GREP_TIME: f64 = 2.0;
const GOAL_VS_ZCAT_SPEED: f64 = 0.8;
const GOAL_KEY_TIME: f64 = 1.5;
const GOAL_RSS_MIB: f64 = 64.0;

// ---------------------------------------------------------------------------
// The log

/// What the generator wrote, by its own count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Truth {
    records: u64,
    /// Records with `event` `payment_failed`.
    selective: u64,
    /// Records with `class` `security`.
    broad: u64,
}

const TENANTS: &[&str] = &["acme", "globex", "initech", "umbrella", "hooli", "soylent"];
const DECLINES: &[&str] = &[
    "insufficient_funds",
    "card_expired",
    "issuer_unavailable",
    "suspected_fraud",
];
const SECURITY_EVENTS: &[&str] = &[
    "login_failed",
    "login_succeeded",
    "password_changed",
    "mfa_challenge",
    "session_revoked",
];
const PATHS: &[&str] = &[
    "/api/cart",
    "/api/checkout",
    "/api/orders",
    "/api/products/search",
    "/api/account",
];
const APP_EVENTS: &[&str] = &[
    "order_placed",
    "cart_updated",
    "inventory_checked",
    "shipment_scheduled",
];

/// Emits record `i` of the mix, inside the current request span: per
/// 10,000 records, 100 `payment_failed` (warn, stream `payments`), 2,000 of
/// class `security` (stream `security`), 1,400 other payments, 50 database
/// errors, and the rest HTTP and shop events (stream `app`).
fn emit(rng: &mut Rng, truth: &mut Truth) {
    let user = format!("u-{}", rng.below(50_000));
    let tenant = rng.pick(TENANTS);
    let roll = rng.below(10_000);
    truth.records += 1;
    match roll {
        0..100 => {
            truth.selective += 1;
            let cents = 100 + rng.below(200_000);
            tracing::warn!(
                target: "shop::payments",
                event = SELECTIVE_EVENT,
                code = 4021u64,
                user = %user,
                tenant,
                amount = cents as f64 / 100.0,
                currency = "EUR",
                reason = rng.pick(DECLINES),
                attempt = 1 + rng.below(3),
                "payment declined by the issuer"
            );
        }
        100..2100 => {
            truth.broad += 1;
            let ip = format!(
                "10.{}.{}.{}",
                rng.below(256),
                rng.below(256),
                rng.below(256)
            );
            let event = rng.pick(SECURITY_EVENTS);
            if event == "login_failed" {
                tracing::warn!(
                    target: "shop::auth",
                    class = "security",
                    event,
                    user = %user,
                    tenant,
                    ip = %ip,
                    reason = "invalid_password",
                    attempts = 1 + rng.below(5),
                    "sign-in rejected"
                );
            } else {
                tracing::info!(
                    target: "shop::auth",
                    class = "security",
                    event,
                    user = %user,
                    tenant,
                    ip = %ip,
                    method = "password+totp",
                    "account security event"
                );
            }
        }
        2100..3500 => {
            let cents = 100 + rng.below(200_000);
            tracing::info!(
                target: "shop::payments",
                event = "payment_succeeded",
                user = %user,
                tenant,
                amount = cents as f64 / 100.0,
                currency = "EUR",
                provider = "stripe",
                latency_ms = 20 + rng.below(400),
                "payment captured"
            );
        }
        3500..3550 => {
            tracing::error!(
                target: "shop::db",
                event = "db_timeout",
                tenant,
                query = "select_order_by_id",
                waited_ms = 5_000u64,
                "database query timed out"
            );
        }
        3550..7000 => {
            tracing::info!(
                target: "shop::http",
                event = "http_request",
                user = %user,
                tenant,
                method = "GET",
                path = rng.pick(PATHS),
                http_status = 200u64,
                latency_ms = 1 + rng.below(250),
                bytes = rng.below(40_000),
                "request served"
            );
        }
        _ => {
            tracing::info!(
                target: "shop::orders",
                event = rng.pick(APP_EVENTS),
                user = %user,
                tenant,
                items = 1 + rng.below(9),
                total = (100 + rng.below(50_000)) as f64 / 100.0,
                "order updated"
            );
        }
    }
}

/// Writes `n` records through a signed pipeline into `dir`: streams
/// `security` (class `security`), `payments` (target `shop::payments`) and
/// `app` (the rest), rolled at `roll` bytes and gzipped; every record
/// written (`Overflow::Block`), every rolled file compressed before the
/// guard's drop returns.
fn generate(dir: &Path, key: &Key, n: u64, roll: u64) -> Truth {
    let (layer, guard) = evtrail::builder()
        .service("shop")
        .host("web-1")
        .node("web-1a")
        .environment("prod")
        .key(key.clone())
        .log_dir(dir)
        .add_route(Route::to("security").class(BROAD_CLASS))
        .add_route(Route::to("payments").target("shop::payments"))
        .rotation(Rotation::default().max_bytes(roll))
        .file_options(FileOptions::default().compression_wait(Duration::from_secs(600)))
        .flush_timeout(Duration::from_secs(600))
        .overflow(Overflow::Block)
        .build()
        .expect("evtrail build");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let mut rng = Rng(0x5EED_0FE7_7A11);
    let mut truth = Truth::default();
    tracing::dispatcher::with_default(&dispatch, || {
        while truth.records < n {
            // A request of a few records, as a service logs them.
            let span = tracing::info_span!(
                "request",
                request_id = %format!("req-{:016x}", rng.next()),
                op = %format!("order-{}", rng.below(1_000_000)),
                route = rng.pick(PATHS),
            );
            let _entered = span.enter();
            for _ in 0..(1 + rng.below(8)).min(n - truth.records) {
                emit(&mut rng, &mut truth);
            }
        }
    });
    let stats = guard.stats();
    assert_eq!(stats.dropped, 0, "Block must not drop");
    drop(guard);
    drop(dispatch);
    truth
}

/// The generated log, in both forms, with what it holds.
struct Data {
    gz: PathBuf,
    plain: PathBuf,
    key_file: PathBuf,
    truth: Truth,
    plain_bytes: u64,
    gz_bytes: u64,
    gz_files: Vec<PathBuf>,
    plain_files: Vec<PathBuf>,
    /// Seconds the build took; `None` when the log came from the cache.
    built_in: Option<f64>,
    /// Keeps a smoke run's log until the end.
    _temp: Option<tempfile::TempDir>,
}

/// The log files of a directory (`*.log`, `*.log.gz`, as a query picks
/// them; not the writer's hidden state file), sorted.
fn files_in(dir: &Path) -> Vec<PathBuf> {
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

fn total_bytes(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .map(|f| fs::metadata(f).expect("stat log file").len())
        .sum()
}

/// Where a full run keeps its log: `target/query-bench-data/`, beside the
/// profile directory this executable runs from.
fn cache_root() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/query-<hash>
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the bench runs from target/<profile>/deps");
    target.join("query-bench-data")
}

/// The log of `n` records: from the cache when a complete one is there
/// (full runs), else built.
fn prepare(n: u64, full: bool) -> Data {
    let (root, temp) = if full {
        let root = cache_root().join(format!("v{DATA_VERSION}-n{n}"));
        (root, None)
    } else {
        let t = tempfile::tempdir().expect("tempdir");
        (t.path().to_path_buf(), Some(t))
    };
    let manifest = root.join("manifest");
    let gz = root.join("gz");
    let plain = root.join("plain");
    let key_file = root.join("evtrail.key");
    let mut built_in = None;
    let truth = match read_manifest(&manifest) {
        Some(t) => {
            eprintln!("query bench: reusing the log in {}", root.display());
            t
        }
        None => {
            eprintln!(
                "query bench: building {} records into {}",
                grouped(n as f64),
                root.display()
            );
            let start = Instant::now();
            if root.exists() {
                fs::remove_dir_all(&root).expect("clear an incomplete cached log");
            }
            fs::create_dir_all(&plain).expect("create the plain copy's dir");
            let key = Key::generate().expect("OS random generator");
            key.write_new_file(&key_file).expect("write the key file");
            let roll = (n * RECORD_BYTES / 20).clamp(MIN_FILE_BYTES, MAX_FILE_BYTES);
            let truth = generate(&gz, &key, n, roll);
            gzip_active_files(&gz);
            for f in files_in(&gz) {
                let name = f.file_name().and_then(|s| s.to_str()).expect("UTF-8 name");
                let name = name
                    .strip_suffix(".gz")
                    .unwrap_or_else(|| panic!("`{name}` is not gzipped"));
                gunzip(&f, &plain.join(name));
            }
            write_manifest(&manifest, &truth);
            built_in = Some(start.elapsed().as_secs_f64());
            truth
        }
    };
    let gz_files = files_in(&gz);
    let plain_files = files_in(&plain);
    assert!(
        !gz_files.is_empty() && gz_files.len() == plain_files.len(),
        "the same files in both copies"
    );
    Data {
        gz_bytes: total_bytes(&gz_files),
        plain_bytes: total_bytes(&plain_files),
        gz,
        plain,
        key_file,
        truth,
        gz_files,
        plain_files,
        built_in,
        _temp: temp,
    }
}

/// Compresses the files still being written when the pipeline stopped
/// (`app.log` → `app.log.gz`), so that the gzip copy is gzip throughout
/// and the contenders there read nothing plain.
fn gzip_active_files(dir: &Path) {
    for f in files_in(dir) {
        let name = f.file_name().and_then(|s| s.to_str()).expect("UTF-8 name");
        if !name.ends_with(".log") {
            continue;
        }
        let out = dir.join(format!("{name}.gz"));
        let mut enc = GzEncoder::new(
            BufWriter::new(File::create(&out).expect("create .gz")),
            Compression::new(evtrail::DEFAULT_COMPRESSION_LEVEL),
        );
        io::copy(&mut File::open(&f).expect("open active file"), &mut enc).expect("gzip");
        enc.finish()
            .expect("gzip")
            .flush()
            .expect("write the .gz file");
        fs::remove_file(&f).expect("remove the plain active file");
    }
}

fn gunzip(from: &Path, to: &Path) {
    let mut dec = MultiGzDecoder::new(BufReader::new(File::open(from).expect("open .gz")));
    let mut out = BufWriter::new(File::create(to).expect("create plain copy"));
    io::copy(&mut dec, &mut out).expect("gunzip");
    out.flush().expect("write plain copy");
}

fn write_manifest(path: &Path, t: &Truth) {
    let text = format!(
        "records={}\nselective={}\nbroad={}\n",
        t.records, t.selective, t.broad
    );
    fs::write(path, text).expect("write manifest");
}

fn read_manifest(path: &Path) -> Option<Truth> {
    let text = fs::read_to_string(path).ok()?;
    let kv: HashMap<&str, u64> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
        .collect();
    Some(Truth {
        records: *kv.get("records")?,
        selective: *kv.get("selective")?,
        broad: *kv.get("broad")?,
    })
}

/// Reads every file once, so that no contender pays for the disk.
fn warm(files: &[PathBuf]) {
    let mut buf = vec![0u8; 1 << 20];
    for f in files {
        let mut r = File::open(f).expect("open log file");
        while r.read(&mut buf).expect("read log file") > 0 {}
    }
}

// ---------------------------------------------------------------------------
// The library in a child process: its own peak memory

/// What a library child searches: `plain` or `gz`, with or without keys.
fn child(spec: &str) {
    let get = |k: &str| std::env::var(format!("{CHILD_ENV}_{k}")).expect("child setting");
    let dir = PathBuf::from(get("DIR"));
    let mut query = Query::new(
        Filter::new()
            .add_any_of("event", [SELECTIVE_EVENT])
            .expect("filter"),
        TimeRange::all(),
    );
    let keyed = spec == "keys";
    if keyed {
        let key = Key::from_file(get("KEY")).expect("read key");
        query = query.keys(Keyring::new().with(key));
    }
    let start = Instant::now();
    let mut matches = 0u64;
    let mut bytes = 0u64;
    for m in query.run(&[&dir]).expect("query") {
        let m = m.expect("every line readable");
        if keyed {
            assert_eq!(m.signature(), Signature::Valid, "{}", m.line());
        }
        bytes += m.line().len() as u64;
        matches += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{RESULT_TAG} matches={matches} bytes={bytes} secs={secs} hwm_kib={}",
        peak_rss_kib()
    );
}

/// This process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .expect("read /proc/self/status")
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

// ---------------------------------------------------------------------------
// Contenders

/// Which copy of the log a contender reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Form {
    Plain,
    Gz,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Form::Plain => "plain",
            Form::Gz => "gz",
        }
    }
}

/// What a contender's output says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Output {
    /// One line per match.
    Lines,
    /// A number: the count of matches.
    Number,
    /// A library child's result line.
    Child,
    /// Nothing (`zcat > /dev/null`).
    Discard,
}

/// What a contender is, for the ratios.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Evtrail,
    Jq,
    Grep,
    Zcat,
    Other,
}

/// One command line (or pipeline) the table times.
struct Contender {
    label: String,
    copy: Form,
    role: Role,
    /// Whether it runs the broad filter (else the selective one, or none).
    broad: bool,
    /// The commands of a pipeline, first to last; each an argv.
    stages: Vec<Vec<OsString>>,
    env: Vec<(String, String)>,
    output: Output,
    /// The matches it must report; `None` for the floor.
    expect: Option<u64>,
    /// Whether the last stage runs under `/usr/bin/time` for its max RSS.
    rss: bool,
}

/// One timed run.
#[derive(Clone, Debug)]
struct Run {
    secs: f64,
    matches: Option<u64>,
    rss_kib: Option<u64>,
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn with_files(mut argv: Vec<OsString>, files: &[PathBuf]) -> Vec<OsString> {
    argv.extend(files.iter().map(|f| f.as_os_str().to_owned()));
    argv
}

/// Whether `tool` runs (`tool --version`).
fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn contenders(data: &Data, bin: &Path, have_jq: bool, have_grep: bool) -> Vec<Contender> {
    let t = data.truth;
    let exe = std::env::current_exe().expect("current_exe");
    let mut out = Vec::new();
    let evtrail = |copy: Form, flags: &[&str], label: &str, expect: u64, output: Output| {
        let dir = match copy {
            Form::Plain => &data.plain,
            Form::Gz => &data.gz,
        };
        let mut argv = vec![bin.as_os_str().to_owned(), "query".into(), dir.into()];
        argv.extend(os(&["--all-time"]));
        argv.extend(os(flags));
        Contender {
            label: format!("evtrail {label} ({})", copy.name()),
            copy,
            role: Role::Evtrail,
            broad: flags.contains(&BROAD_CLASS),
            stages: vec![argv],
            env: Vec::new(),
            output,
            expect: Some(expect),
            rss: Path::new(TIME_BIN).exists(),
        }
    };
    let library = |copy: Form, spec: &str, label: &str| {
        let dir = match copy {
            Form::Plain => &data.plain,
            Form::Gz => &data.gz,
        };
        Contender {
            label: format!("evtrail::query::Query {label} ({})", copy.name()),
            copy,
            role: Role::Other,
            broad: false,
            stages: vec![vec![exe.as_os_str().to_owned()]],
            env: vec![
                (CHILD_ENV.to_owned(), spec.to_owned()),
                (format!("{CHILD_ENV}_DIR"), dir.display().to_string()),
                (
                    format!("{CHILD_ENV}_KEY"),
                    data.key_file.display().to_string(),
                ),
            ],
            output: Output::Child,
            expect: Some(t.selective),
            rss: false,
        }
    };
    let key = data.key_file.to_str().expect("UTF-8 path");
    let sel = ["--event", SELECTIVE_EVENT];
    let broad = ["--class", BROAD_CLASS];
    let sel_count = ["--event", SELECTIVE_EVENT, "--count"];
    let sel_key = ["--event", SELECTIVE_EVENT, "--key-file", key];
    let sel_label = "--event payment_failed";
    for copy in [Form::Plain, Form::Gz] {
        out.push(evtrail(copy, &sel, sel_label, t.selective, Output::Lines));
        out.push(evtrail(
            copy,
            &sel_count,
            "--event payment_failed --count",
            t.selective,
            Output::Number,
        ));
        out.push(evtrail(
            copy,
            &sel_key,
            "--event payment_failed --key-file",
            t.selective,
            Output::Lines,
        ));
        out.push(evtrail(
            copy,
            &broad,
            "--class security",
            t.broad,
            Output::Lines,
        ));
        out.push(library(copy, "nokeys", "event=payment_failed"));
    }
    out.push(library(Form::Plain, "keys", "event=payment_failed, keys"));

    let plain = &data.plain_files;
    let gz = &data.gz_files;
    let zcat = || with_files(os(&["zcat"]), gz);
    let mut tool = |label: &str, copy, role, stages, expect| {
        out.push(Contender {
            label: label.to_owned(),
            copy,
            role,
            broad: expect == Some(t.broad),
            stages,
            env: Vec::new(),
            output: Output::Lines,
            expect,
            rss: false,
        });
    };
    if have_jq {
        tool(
            "jq -c 'select(.event==\"payment_failed\")' FILES",
            Form::Plain,
            Role::Jq,
            vec![with_files(os(&["jq", "-c", SELECTIVE_JQ]), plain)],
            Some(t.selective),
        );
        tool(
            "zcat FILES | jq -c 'select(.event==\"payment_failed\")'",
            Form::Gz,
            Role::Jq,
            vec![zcat(), os(&["jq", "-c", SELECTIVE_JQ])],
            Some(t.selective),
        );
    }
    if have_grep {
        tool(
            "grep -F '\"event\":\"payment_failed\"' FILES",
            Form::Plain,
            Role::Grep,
            vec![with_files(os(&["grep", "-h", "-F", SELECTIVE_GREP]), plain)],
            Some(t.selective),
        );
        tool(
            "grep -F '\"class\":\"security\"' FILES",
            Form::Plain,
            Role::Grep,
            vec![with_files(os(&["grep", "-h", "-F", BROAD_GREP]), plain)],
            Some(t.broad),
        );
        tool(
            "zcat FILES | grep -F '\"event\":\"payment_failed\"'",
            Form::Gz,
            Role::Grep,
            vec![zcat(), os(&["grep", "-F", SELECTIVE_GREP])],
            Some(t.selective),
        );
        tool(
            "zcat FILES | grep -F '\"class\":\"security\"'",
            Form::Gz,
            Role::Grep,
            vec![zcat(), os(&["grep", "-F", BROAD_GREP])],
            Some(t.broad),
        );
    }
    out.push(Contender {
        label: "zcat FILES > /dev/null".to_owned(),
        copy: Form::Gz,
        role: Role::Zcat,
        broad: false,
        stages: vec![zcat()],
        env: Vec::new(),
        output: Output::Discard,
        expect: None,
        rss: false,
    });
    out
}

/// Runs a contender once: its stages piped one into the next, the last
/// one's output read here (newlines counted, or kept when short).
fn run_once(c: &Contender, scratch: &Path) -> Run {
    let err_path = scratch.join("stderr");
    let rss_path = scratch.join("rss");
    let _ = fs::remove_file(&rss_path);
    let err = File::create(&err_path).expect("create stderr file");
    let last = c.stages.len() - 1;
    let start = Instant::now();
    let mut children: Vec<Child> = Vec::new();
    for (i, argv) in c.stages.iter().enumerate() {
        let mut cmd = if i == last && c.rss {
            let mut cmd = Command::new(TIME_BIN);
            cmd.arg("-f").arg("%M").arg("-o").arg(&rss_path).args(argv);
            cmd
        } else {
            let mut cmd = Command::new(&argv[0]);
            cmd.args(&argv[1..]);
            cmd
        };
        cmd.envs(c.env.iter().map(|(k, v)| (k, v)))
            .stderr(err.try_clone().expect("clone stderr file"));
        match children.last_mut() {
            Some(prev) => cmd.stdin(prev.stdout.take().expect("piped stdout")),
            None => cmd.stdin(Stdio::null()),
        };
        cmd.stdout(if i == last && c.output == Output::Discard {
            Stdio::null()
        } else {
            Stdio::piped()
        });
        children.push(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", argv[0])),
        );
    }
    let mut lines = 0u64;
    let mut text = Vec::new();
    if let Some(mut stdout) = children[last].stdout.take() {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = stdout.read(&mut buf).expect("read contender output");
            if n == 0 {
                break;
            }
            lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            if c.output != Output::Lines {
                text.extend_from_slice(&buf[..n]);
            }
        }
    }
    for (child, argv) in children.iter_mut().zip(&c.stages) {
        let status = child.wait().expect("wait for contender");
        assert!(
            status.success(),
            "{:?} failed ({status}): {}",
            argv[0],
            fs::read_to_string(&err_path).unwrap_or_default()
        );
    }
    let secs = start.elapsed().as_secs_f64();
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        stderr.trim().is_empty(),
        "{}: unexpected stderr:\n{stderr}",
        c.label
    );
    let text = String::from_utf8(text).expect("UTF-8 output");
    let mut rss_kib = fs::read_to_string(&rss_path)
        .ok()
        .and_then(|s| s.lines().last()?.trim().parse().ok());
    let matches = match c.output {
        Output::Lines => Some(lines),
        Output::Number => Some(text.trim().parse().expect("a count")),
        Output::Discard => None,
        Output::Child => {
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix(RESULT_TAG))
                .expect("the child's result line");
            let kv: HashMap<&str, &str> = line
                .split_whitespace()
                .filter_map(|p| p.split_once('='))
                .collect();
            rss_kib = kv.get("hwm_kib").and_then(|v| v.parse().ok());
            kv.get("matches").and_then(|v| v.parse().ok())
        }
    };
    assert_eq!(
        matches, c.expect,
        "{}: matches found against the generator's count",
        c.label
    );
    Run {
        secs,
        matches,
        rss_kib,
    }
}

// ---------------------------------------------------------------------------
// The table

/// A contender's runs, summarised.
struct Row {
    label: String,
    copy: Form,
    role: Role,
    broad: bool,
    median: f64,
    min: f64,
    max: f64,
    matches: Option<u64>,
    rss_kib: Option<u64>,
}

fn summarise(c: &Contender, runs: &[Run]) -> Row {
    let mut secs: Vec<f64> = runs.iter().map(|r| r.secs).collect();
    secs.sort_by(f64::total_cmp);
    Row {
        label: c.label.clone(),
        copy: c.copy,
        role: c.role,
        broad: c.broad,
        median: secs[secs.len() / 2],
        min: secs[0],
        max: secs[secs.len() - 1],
        matches: runs[0].matches,
        rss_kib: runs.iter().filter_map(|r| r.rss_kib).max(),
    }
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 30)
}

/// The reference row of `role` on `copy` for the same filter (`broad`);
/// the decompression floor serves every filter.
fn find(rows: &[Row], copy: Form, role: Role, broad: bool) -> Option<&Row> {
    rows.iter()
        .find(|r| r.copy == copy && r.role == role && (role == Role::Zcat || r.broad == broad))
}

fn find_label<'a>(rows: &'a [Row], label: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.label == label)
}

fn print_table(data: &Data, rows: &[Row]) {
    let bytes = data.plain_bytes as f64;
    println!(
        "| query ({:.2} GiB plain / {:.2} GiB gz, {} records) | median (min–max) | MB/s | vs jq | \
         vs grep | vs zcat | peak RSS | matches |",
        gib(data.plain_bytes),
        gib(data.gz_bytes),
        grouped(data.truth.records as f64)
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        // Times as a ratio: how many times longer the reference took. The
        // floor finds nothing, so it is set beside zcat alone.
        let vs = |role: Role| {
            find(rows, r.copy, role, r.broad)
                .filter(|b| b.role != r.role && (r.role != Role::Zcat || role == Role::Zcat))
                .map_or(String::new(), |b| format!("{:.2}×", b.median / r.median))
        };
        println!(
            "| {} | {:.2} s ({:.2}–{:.2}) | {:.0} | {} | {} | {} | {} | {} |",
            r.label,
            r.median,
            r.min,
            r.max,
            bytes / 1e6 / r.median,
            vs(Role::Jq),
            vs(Role::Grep),
            if r.copy == Form::Gz {
                vs(Role::Zcat)
            } else {
                String::new()
            },
            r.rss_kib.map_or("–".to_owned(), |k| format!(
                "{:.1} MiB",
                k as f64 / 1024.0
            )),
            r.matches.map_or("–".to_owned(), |m| grouped(m as f64)),
        );
    }
}

fn verdict(holds: bool) -> &'static str {
    if holds { "holds" } else { "does NOT hold" }
}

fn print_goals(rows: &[Row]) {
    let sel = |copy: Form| {
        find_label(
            rows,
            &format!("evtrail --event payment_failed ({})", copy.name()),
        )
    };
    println!("Goals of the issue (reported, not asserted):");
    if let (Some(ev), Some(jq)) = (sel(Form::Plain), find(rows, Form::Plain, Role::Jq, false)) {
        let x = jq.median / ev.median;
        println!(
            "- selective query on plain files ≥ {GOAL_VS_JQ}× jq: {x:.1}× — {}",
            verdict(x >= GOAL_VS_JQ)
        );
    } else {
        println!("- selective query ≥ {GOAL_VS_JQ}× jq: not measured (jq not installed)");
    }
    if let (Some(ev), Some(g)) = (sel(Form::Plain), find(rows, Form::Plain, Role::Grep, false)) {
        let x = ev.median / g.median;
        println!(
            "- selective query on plain files ≤ {GOAL_VS_GREP_TIME}× grep's time: {x:.2}× — {}",
            verdict(x <= GOAL_VS_GREP_TIME)
        );
    } else {
        println!("- selective query ≤ {GOAL_VS_GREP_TIME}× grep's time: not measured (no grep)");
    }
    if let (Some(ev), Some(z)) = (sel(Form::Gz), find(rows, Form::Gz, Role::Zcat, false)) {
        let x = z.median / ev.median;
        println!(
            "- selective query on gzip files ≥ {:.0} % of zcat's speed: {:.0} % — {}",
            GOAL_VS_ZCAT_SPEED * 100.0,
            x * 100.0,
            verdict(x >= GOAL_VS_ZCAT_SPEED)
        );
    }
    let keyed = find_label(rows, "evtrail --event payment_failed --key-file (plain)");
    if let (Some(k), Some(ev)) = (keyed, sel(Form::Plain)) {
        let x = k.median / ev.median;
        println!(
            "- --key-file ≤ {GOAL_KEY_TIME}× the unsigned selective query (plain): {x:.2}× — {}",
            verdict(x <= GOAL_KEY_TIME)
        );
    }
    let peak = rows
        .iter()
        .filter(|r| r.label.starts_with("evtrail"))
        .filter_map(|r| r.rss_kib.map(|k| (k, &r.label)))
        .max();
    if let Some((k, label)) = peak {
        let mib = k as f64 / 1024.0;
        println!(
            "- memory ≤ {GOAL_RSS_MIB} MiB: peak {mib:.1} MiB ({label}) — {}",
            verdict(mib <= GOAL_RSS_MIB)
        );
    }
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let full = size::full_run();
    let n = size::events(FULL_N, SMOKE_N);
    let rounds = if full { FULL_ROUNDS } else { 1 };
    let wall = Instant::now();

    let bin = evtrail_bin(full, "cli", "query");
    let data = prepare(n, full);
    let have_jq = installed("jq");
    let have_grep = installed("grep");
    for (have, tool) in [(have_jq, "jq"), (have_grep, "grep")] {
        if !have {
            println!("note: `{tool}` is not installed; its rows are skipped.");
        }
    }
    assert!(installed("zcat"), "zcat (gzip) is needed for the gzip rows");
    let list = contenders(&data, &bin, have_jq, have_grep);
    warm(&data.plain_files);
    warm(&data.gz_files);

    // Round by round, every contender in turn, so that a machine whose
    // speed drifts shifts them all alike.
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut runs: Vec<Vec<Run>> = list.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (c, runs) in list.iter().zip(&mut runs) {
            let r = run_once(c, scratch.path());
            eprintln!(
                "query bench: round {}/{rounds}: {:.2} s  {}",
                round + 1,
                r.secs,
                c.label
            );
            runs.push(r);
        }
    }
    let rows: Vec<Row> = list
        .iter()
        .zip(&runs)
        .map(|(c, r)| summarise(c, r))
        .collect();

    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{cores} cores; load average at the end {}. {}",
        load.split(' ').take(3).collect::<Vec<_>>().join(" "),
        if full {
            format!("Median of {rounds} runs each, interleaved.")
        } else {
            "Smoke run (no `--bench`): tiny N, one run each.".to_owned()
        }
    );
    println!(
        "Log: {} records in {} files per copy (streams app, payments, security; signed; rolled \
         at 64 MiB or a twentieth of the log; the still-active files gzipped too): {} MB plain \
         ({:.0} bytes a record), {} MB gzip ({:.1}×); {} `payment_failed` ({:.2} %), {} of \
         class `security` ({:.1} %); {}. evtrail: `{}`.",
        grouped(data.truth.records as f64),
        data.plain_files.len(),
        grouped(data.plain_bytes as f64 / 1e6),
        data.plain_bytes as f64 / data.truth.records as f64,
        grouped(data.gz_bytes as f64 / 1e6),
        data.plain_bytes as f64 / data.gz_bytes as f64,
        grouped(data.truth.selective as f64),
        100.0 * data.truth.selective as f64 / data.truth.records as f64,
        grouped(data.truth.broad as f64),
        100.0 * data.truth.broad as f64 / data.truth.records as f64,
        match data.built_in {
            Some(s) => format!("built in {s:.0} s"),
            None => "from the cache".to_owned(),
        },
        bin.display()
    );
    println!(
        "MB/s: MB (10^6 bytes) of uncompressed log per second, for the gzip rows too. vs X: X's \
         median time over this row's (> 1: this row is faster), against X on the same copy \
         (gz rows: `zcat | X`). Every row's output goes through a pipe to the bench, which \
         counts the matches. Peak RSS: the CLI's max RSS (`/usr/bin/time -f %M`), the library \
         child's VmHWM."
    );
    println!();
    print_table(&data, &rows);
    println!();
    print_goals(&rows);
    println!();
    println!("The whole run took {:.0} s.", wall.elapsed().as_secs_f64());
}
