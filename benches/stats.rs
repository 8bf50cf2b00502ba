//! `evtrail stats` against what people would otherwise run to count events
//! — `jq -r .event | sort | uniq -c` over the plain files, the same behind
//! `zcat` over the gzip files, and `zcat` alone (the decompression floor) —
//! on one log of about 1 GiB; then `evtrail report`'s time, peak memory and
//! page size for 1 M and 10 M records. Every contender's counts must equal
//! what the generator knows it wrote.
//!
//! Logs are written once with the real pipeline (signed, rolled by size,
//! rolled files gzipped by evtrail, the active file gzipped by the bench
//! for the gzip copy; a plain copy made by decompressing) and kept under
//! `target/stats-bench-data/`, keyed by size, so repeated runs skip them.
//! Contenders run in turn, round after round; the table shows each one's
//! median. Wall time and peak RSS come from `/usr/bin/time`.
//!
//! The `evtrail` binary is `EVTRAIL_BIN` when set, otherwise built by the
//! `cargo` that runs the bench (release in a full run, dev in a smoke run).
//!
//! `cargo bench --bench stats`; `EVTRAIL_BENCH_N` sets the records of the
//! stats log, `EVTRAIL_BENCH_REPORT_N` (comma-separated) those of the
//! report runs. `cargo test --benches` runs it small with every check, and
//! skips the tools that are not installed. Linux only.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use evtrail::{FileOptions, Key, Overflow, Rotation};
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

/// About 1 GiB of plain log (records of about 600 bytes).
const FULL_N: u64 = 1_750_000;
const SMOKE_N: u64 = 4_000;
const FULL_REPORT_NS: [u64; 2] = [1_000_000, 10_000_000];
const SMOKE_REPORT_NS: [u64; 2] = [1_000, 10_000];
const FULL_ROUNDS: usize = 3;
const MAX_FILE_BYTES: u64 = 64 << 20;
const MIN_FILE_BYTES: u64 = 64 << 10;
/// Bumped whenever the generated log changes, so a cached one is rebuilt.
const DATA_VERSION: u32 = 1;
const TIME_BIN: &str = "/usr/bin/time";

const EVENTS: &[(&str, u64)] = &[
    ("page_view", 40),
    ("order_placed", 15),
    ("payment_ok", 12),
    ("user_login", 10),
    ("cart_updated", 8),
    ("payment_failed", 5),
    ("stock_low", 4),
    ("user_logout", 3),
    ("refund_issued", 2),
    ("db_slow", 1),
];
const TENANTS: &[&str] = &["acme", "globex", "initech", "umbrella", "hooli", "soylent"];

/// Records per event name, as the generator wrote them.
type Truth = BTreeMap<String, u64>;

fn event(rng: &mut Rng) -> &'static str {
    let total: u64 = EVENTS.iter().map(|e| e.1).sum();
    let mut pick = rng.below(total);
    for (name, weight) in EVENTS {
        if pick < *weight {
            return name;
        }
        pick -= weight;
    }
    EVENTS[0].0
}

/// Writes `n` records into `dir` with the real pipeline.
fn generate(dir: &Path, n: u64) -> Truth {
    let roll = (n * 600 / 20).clamp(MIN_FILE_BYTES, MAX_FILE_BYTES);
    let (layer, guard) = evtrail::builder()
        .service("shop")
        .host("web-1")
        .key(Key::generate().expect("key"))
        .log_dir(dir)
        .rotation(Rotation::default().max_bytes(roll))
        .file_options(FileOptions::default().compression_wait(Duration::from_secs(600)))
        .flush_timeout(Duration::from_secs(600))
        .overflow(Overflow::Block)
        .build()
        .expect("evtrail build");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let mut rng = Rng(0x57A7_5BE7);
    let mut truth = Truth::new();
    tracing::dispatcher::with_default(&dispatch, || {
        let mut written = 0;
        while written < n {
            let span = tracing::info_span!(
                "request",
                request_id = %format!("req-{:016x}", rng.next()),
                path = "/api/v1/orders",
            );
            let _in = span.enter();
            for _ in 0..(1 + rng.below(6)).min(n - written) {
                let name = event(&mut rng);
                let tenant = TENANTS[rng.below(TENANTS.len() as u64) as usize];
                let user = format!("u-{}", rng.below(50_000));
                let amount = rng.below(100_000);
                if name == "db_slow" {
                    let status = if rng.below(2) == 0 { "warning" } else { "ok" };
                    tracing::warn!(
                        event = name,
                        status,
                        tenant,
                        user,
                        amount,
                        "database answered in {} ms",
                        200 + amount % 800
                    );
                } else if name == "payment_failed" {
                    tracing::error!(
                        event = name,
                        code = 4021,
                        tenant,
                        user,
                        amount,
                        reason = "issuer_unavailable",
                        "payment of {amount} cents failed for {user}"
                    );
                } else {
                    tracing::info!(
                        event = name,
                        tenant,
                        user,
                        amount,
                        "{name} for {user} at {tenant}, order total {amount} cents"
                    );
                }
                *truth.entry(name.to_owned()).or_default() += 1;
                written += 1;
            }
        }
    });
    assert_eq!(guard.stats().dropped, 0, "Block must not drop");
    drop(guard);
    truth
}

/// A generated log in both forms.
struct Data {
    gz: PathBuf,
    plain: PathBuf,
    truth: Truth,
    plain_bytes: u64,
    gz_bytes: u64,
    _temp: Option<tempfile::TempDir>,
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".log") || n.ends_with(".log.gz")
        })
        .collect();
    out.sort();
    out
}

fn bytes_of(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .map(|f| fs::metadata(f).map_or(0, |m| m.len()))
        .sum()
}

/// The log of `n` records: cached under `target/` in a full run, in a
/// temporary directory in a smoke run.
fn prepare(n: u64, full: bool, plain: bool) -> Data {
    let (root, temp) = if full {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/stats-bench-data")
            .join(format!("v{DATA_VERSION}-{n}"));
        (root, None)
    } else {
        let t = tempfile::tempdir().expect("tempdir");
        (t.path().to_path_buf(), Some(t))
    };
    let gz = root.join("gz");
    let plain_dir = root.join("plain");
    let truth_file = root.join("truth.json");
    let truth: Truth = match fs::read_to_string(&truth_file) {
        Ok(t) if !plain || plain_dir.join("done").exists() => {
            serde_json::from_str(&t).expect("truth")
        }
        _ => {
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(&gz).expect("mkdir");
            eprintln!("stats bench: writing {} records", grouped(n as f64));
            let started = Instant::now();
            let truth = generate(&gz, n);
            // The active files too, so the gzip copy is all gzip.
            for f in log_files(&gz) {
                if f.extension().is_some_and(|e| e == "log") {
                    let mut enc = GzEncoder::new(
                        File::create(format!("{}.gz", f.display())).expect("create"),
                        Compression::new(2),
                    );
                    io::copy(&mut File::open(&f).expect("open"), &mut enc).expect("gzip");
                    enc.finish().expect("gzip");
                    fs::remove_file(&f).expect("remove");
                }
            }
            if plain {
                fs::create_dir_all(&plain_dir).expect("mkdir");
                for f in log_files(&gz) {
                    let name = f
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .trim_end_matches(".gz")
                        .to_owned();
                    let mut out =
                        BufWriter::new(File::create(plain_dir.join(name)).expect("create"));
                    io::copy(
                        &mut MultiGzDecoder::new(File::open(&f).expect("open")),
                        &mut out,
                    )
                    .expect("gunzip");
                    out.flush().expect("flush");
                }
                File::create(plain_dir.join("done")).expect("mark");
            }
            fs::write(&truth_file, serde_json::to_string(&truth).expect("json")).expect("truth");
            eprintln!(
                "stats bench: written in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            truth
        }
    };
    Data {
        plain_bytes: if plain {
            bytes_of(&log_files(&plain_dir))
        } else {
            0
        },
        gz_bytes: bytes_of(&log_files(&gz)),
        gz,
        plain: plain_dir,
        truth,
        _temp: temp,
    }
}

fn installed(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One timed run: wall seconds, peak RSS in MiB (when `/usr/bin/time` is
/// there), stdout.
struct Run {
    secs: f64,
    rss_mib: Option<f64>,
    stdout: String,
}

/// Runs a shell pipeline under `/usr/bin/time`.
fn timed(script: &str) -> Run {
    let have_time = Path::new(TIME_BIN).exists();
    let err = tempfile::NamedTempFile::new().expect("tempfile");
    let mut cmd = if have_time {
        let mut c = Command::new(TIME_BIN);
        c.args(["-f", "%M", "-o"])
            .arg(err.path())
            .args(["sh", "-c", script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    };
    let started = Instant::now();
    let out = cmd.stderr(Stdio::inherit()).output().expect("run");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "`{script}` failed"
    );
    let mut rss = String::new();
    let _ = File::open(err.path()).and_then(|mut f| f.read_to_string(&mut rss));
    Run {
        secs,
        rss_mib: rss
            .trim()
            .lines()
            .last()
            .and_then(|l| l.trim().parse::<f64>().ok())
            .map(|kib| kib / 1024.0),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// `evtrail stats --by event --format csv` output as counts.
fn csv_counts(out: &str) -> Truth {
    out.lines()
        .skip(1)
        .filter_map(|l| l.rsplit_once(','))
        .map(|(k, v)| (k.to_owned(), v.parse().expect("count")))
        .collect()
}

/// `uniq -c` output as counts.
fn uniq_counts(out: &str) -> Truth {
    out.lines()
        .filter_map(|l| l.trim().split_once(' '))
        .map(|(n, k)| (k.to_owned(), n.parse().expect("count")))
        .collect()
}

/// Whether a tool's counts hold the generator's (tools that read raw
/// lines also count the chain's own records, which are not events).
fn check(label: &str, got: &Truth, truth: &Truth) {
    for (event, n) in truth {
        assert_eq!(got.get(event), Some(n), "{label}: `{event}`");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

fn main() {
    let full = size::full_run();
    let n = size::events(FULL_N, SMOKE_N);
    let rounds = if full { FULL_ROUNDS } else { 1 };
    let bin = evtrail_bin(full, "cli", "stats");
    let bin_q = sh_quote(&bin);
    let data = prepare(n, full, true);
    let have_jq = installed("jq");
    if !have_jq {
        println!("note: `jq` is not installed; its rows are skipped.");
    }
    let (plain, gz) = (sh_quote(&data.plain), sh_quote(&data.gz));

    // label, pipeline, how its output is read (None: not a count).
    type Reader = fn(&str) -> Truth;
    let mut contenders: Vec<(String, String, Option<Reader>)> = vec![
        (
            "evtrail stats --by event (plain)".into(),
            format!("{bin_q} stats {plain} --all-time --by event --format csv"),
            Some(csv_counts as Reader),
        ),
        (
            "evtrail stats --by event (gzip)".into(),
            format!("{bin_q} stats {gz} --all-time --by event --format csv"),
            Some(csv_counts as Reader),
        ),
        (
            "zcat > /dev/null (gzip)".into(),
            format!("zcat {gz}/*.gz > /dev/null"),
            None,
        ),
    ];
    if have_jq {
        contenders.push((
            "jq -r .event | sort | uniq -c (plain)".into(),
            format!("jq -r .event {plain}/*.log | LC_ALL=C sort | uniq -c"),
            Some(uniq_counts as Reader),
        ));
        contenders.push((
            "zcat | jq -r .event | sort | uniq -c (gzip)".into(),
            format!("zcat {gz}/*.gz | jq -r .event | LC_ALL=C sort | uniq -c"),
            Some(uniq_counts as Reader),
        ));
    }
    // Warm the page cache, so every contender reads from memory.
    timed(&format!("cat {plain}/*.log {gz}/*.gz > /dev/null"));
    let mut runs: Vec<Vec<Run>> = contenders.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for ((label, script, reader), runs) in contenders.iter().zip(&mut runs) {
            let r = timed(script);
            if let Some(read) = reader {
                check(label, &read(&r.stdout), &data.truth);
            }
            eprintln!(
                "stats bench: round {}/{rounds}: {:.2} s  {label}",
                round + 1,
                r.secs
            );
            runs.push(r);
        }
    }
    let mb = data.plain_bytes as f64 / 1e6;
    let ours_plain = median(runs[0].iter().map(|r| r.secs).collect());
    let ours_gz = median(runs[1].iter().map(|r| r.secs).collect());
    println!(
        "\nLog: {} records, {:.0} MB plain ({:.0} bytes a record), {:.0} MB gzip; {} rounds, median.\n",
        grouped(n as f64),
        mb,
        data.plain_bytes as f64 / n as f64,
        data.gz_bytes as f64 / 1e6,
        rounds
    );
    println!(
        "| counting records by event | median | MB/s (of plain log) | evtrail is faster by | peak RSS |"
    );
    println!("|---|---:|---:|---:|---:|");
    for ((label, _, _), runs) in contenders.iter().zip(&runs) {
        let secs = median(runs.iter().map(|r| r.secs).collect());
        let ours = if label.contains("(gzip)") {
            ours_gz
        } else {
            ours_plain
        };
        let rss = runs
            .iter()
            .filter_map(|r| r.rss_mib)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        println!(
            "| `{}` | {secs:.2} s | {} | {} | {} |",
            label.replace('|', "\\|"),
            grouped(mb / secs),
            if label.starts_with("evtrail") {
                String::new()
            } else {
                format!("{:.2}×", secs / ours)
            },
            rss.map_or("-".to_owned(), |r| format!("{r:.1} MiB")),
        );
    }

    // The report over growing logs: time, peak memory, page size.
    let report_ns: Vec<u64> = if full {
        std::env::var("EVTRAIL_BENCH_REPORT_N")
            .ok()
            .map(|v| {
                v.split(',')
                    .map(|n| n.trim().parse().expect("a number"))
                    .collect()
            })
            .unwrap_or(FULL_REPORT_NS.to_vec())
    } else {
        SMOKE_REPORT_NS.to_vec()
    };
    println!(
        "\n| evtrail report --all-time | records | gzip log | time | records/s | peak RSS | page |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut pages = Vec::new();
    for rn in report_ns {
        let d = prepare(rn, full, false);
        let out = tempfile::tempdir().expect("tempdir");
        let page = out.path().join("report.html");
        let r = timed(&format!(
            "{bin_q} report {} --all-time --out {}",
            sh_quote(&d.gz),
            sh_quote(&page)
        ));
        let html = fs::read_to_string(&page).expect("the report was written");
        let total: u64 = d.truth.values().sum();
        assert!(
            html.contains(&format!(r#"id="total" data-count="{total}""#)),
            "the page counts every record"
        );
        println!(
            "| | {} | {:.0} MB | {:.1} s | {} | {} | {:.0} KiB |",
            grouped(rn as f64),
            d.gz_bytes as f64 / 1e6,
            r.secs,
            grouped(rn as f64 / r.secs),
            r.rss_mib.map_or("-".to_owned(), |m| format!("{m:.1} MiB")),
            html.len() as f64 / 1024.0
        );
        pages.push(html.len());
    }
    if let [small, large] = pages[..] {
        // Bounded: the page holds the newest rows and fixed-size charts.
        assert!(
            large < small * 3,
            "the page grew with the log: {small} → {large} bytes"
        );
    }
}
