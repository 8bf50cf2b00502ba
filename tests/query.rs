//! `evtrail query` run as a real process on logs written by the real
//! pipeline (several streams, rolled and gzipped files, signed), its
//! answers checked against a model of what was written; and the library's
//! `Query` where the command line cannot reach.
//! Needs the `cli` feature: `cargo test --all-features`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{
    CliRun, ManualClock, WAIT, dispatch, evtrail, evtrail_command, is_plain_rolled, names_in,
    nanos, rfc3339, wait_until_compressed,
};
use evtrail::query::{Filter, Query, TimeRange};
use evtrail::{FileOptions, Key, Overflow, Rotation, Route};
use serde_json::Value;
use tracing::Level;

/// 2026-11-20T12:00:00Z.
const T0: u64 = 1_795_176_000;
/// Events in the shop fixture.
const N: u64 = 300;

const CLASSES: [&str; 4] = ["info", "audit", "security", "billing"];
const EVENTS: [&str; 5] = [
    "payment_failed",
    "payment_ok",
    "login",
    "logout",
    "order_placed",
];
const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
const PATHS: [&str; 3] = ["/pay", "/login", "/cart"];
const MESSAGES: [&str; 4] = [
    "card declined by issuer",
    "Card DECLINED, retry \"later\"",
    "all good",
    "signed in",
];

/// One event the fixture wrote, as the test chose it.
#[derive(Clone, Debug)]
struct Ev {
    i: u64,
    level: &'static str,
    class: &'static str,
    event: &'static str,
    user: String,
    tenant: &'static str,
    op: String,
    code: u64,
    amount: u64,
    path: &'static str,
    msg: &'static str,
}

impl Ev {
    fn stream(&self) -> &'static str {
        match self.class {
            "audit" => "audit",
            "security" => "security",
            _ => "app",
        }
    }
}

/// xorshift64: the same events on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn model() -> Vec<Ev> {
    let mut r = Rng(0x5eed_1234_abcd_0001);
    (0..N)
        .map(|i| Ev {
            i,
            level: match r.next(7) {
                0 => "WARN",
                1 => "ERROR",
                _ => "INFO",
            },
            class: CLASSES[r.next(4) as usize],
            event: EVENTS[r.next(5) as usize],
            user: format!("u-{}", r.next(6)),
            tenant: TENANTS[r.next(3) as usize],
            op: format!("order-{}", r.next(20)),
            code: [4021, 4022, 200][r.next(3) as usize],
            amount: r.next(250),
            path: PATHS[r.next(3) as usize],
            msg: MESSAGES[r.next(4) as usize],
        })
        .collect()
}

macro_rules! emit {
    ($level:expr, $e:expr) => {
        tracing::event!(
            $level,
            i = $e.i,
            class = $e.class,
            event = $e.event,
            user = $e.user.as_str(),
            tenant = $e.tenant,
            op = $e.op.as_str(),
            code = $e.code,
            amount = $e.amount,
            "{}",
            $e.msg
        )
    };
}

/// The shop's logs: streams `app`, `audit` and `security`, each in
/// several files (rolled by size and once by hand), rolled files gzipped.
struct Shop {
    _root: tempfile::TempDir,
    logs: PathBuf,
    key_file: PathBuf,
    other_key_file: PathBuf,
    events: Vec<Ev>,
}

impl Shop {
    fn new() -> Shop {
        let root = tempfile::tempdir().unwrap();
        let key_file = root.path().join("signing.key");
        let key = Key::generate().unwrap();
        key.write_new_file(&key_file).unwrap();
        let other_key_file = root.path().join("other.key");
        Key::generate()
            .unwrap()
            .write_new_file(&other_key_file)
            .unwrap();
        let logs = root.path().join("logs");
        let clock = ManualClock::at(nanos(T0));
        let (layer, guard) = evtrail::builder()
            .service("shop")
            .host("web-1")
            .key(key)
            .clock(clock.clone())
            .log_dir(&logs)
            .add_route(Route::to("audit").class("audit"))
            .add_route(Route::to("security").class("security"))
            .rotation(Rotation::default().max_bytes(24 * 1024))
            .overflow(Overflow::Block)
            .build()
            .unwrap();
        let events = model();
        let d = dispatch(layer);
        tracing::dispatcher::with_default(&d, || {
            for e in &events {
                clock.set(nanos(T0 + e.i * 7));
                let span = tracing::info_span!("request", path = e.path);
                let _in = span.enter();
                match e.level {
                    "WARN" => emit!(Level::WARN, e),
                    "ERROR" => emit!(Level::ERROR, e),
                    _ => emit!(Level::INFO, e),
                }
                if e.i == N / 2 {
                    guard.flush(WAIT).unwrap();
                    guard.rotate().unwrap();
                }
            }
        });
        guard.flush(WAIT).unwrap();
        wait_until_compressed(&logs);
        drop(guard);
        wait_until_compressed(&logs);
        let gz = names_in(&logs)
            .iter()
            .filter(|n| n.ends_with(".log.gz"))
            .count();
        assert!(gz >= 4, "the fixture must hold gzipped files: {gz}");
        Shop {
            _root: root,
            logs,
            key_file,
            other_key_file,
            events,
        }
    }

    /// `evtrail query <logs> ARGS`.
    fn query(&self, args: &[&str]) -> CliRun {
        query_in(&self.logs, args, &[])
    }

    /// The `i` of each model event `keep` selects.
    fn expected(&self, keep: impl Fn(&Ev) -> bool) -> Vec<u64> {
        self.events
            .iter()
            .filter(|e| keep(e))
            .map(|e| e.i)
            .collect()
    }
}

fn query_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> CliRun {
    let mut all = vec!["query".as_ref(), dir.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    evtrail(all, env)
}

/// Every line stored in `dir`, gzipped files decompressed.
fn stored_lines(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for name in names_in(dir) {
        if name.starts_with('.') || !(name.ends_with(".log") || name.ends_with(".log.gz")) {
            continue;
        }
        let raw = fs::read(dir.join(&name)).unwrap();
        let text = if name.ends_with(".gz") {
            let mut s = String::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_string(&mut s)
                .unwrap();
            s
        } else {
            String::from_utf8(raw).unwrap()
        };
        out.extend(text.lines().map(str::to_owned));
    }
    out
}

fn records(run: &CliRun) -> Vec<Value> {
    run.lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}{run}")))
        .collect()
}

/// The `fields.i` of each record printed, in order.
fn printed_is(run: &CliRun) -> Vec<u64> {
    records(run)
        .iter()
        .map(|r| {
            r["fields"]["i"]
                .as_u64()
                .unwrap_or_else(|| panic!("no fields.i in {r}{run}"))
        })
        .collect()
}

#[test]
fn counts_and_listings_per_filter_match_the_model() {
    let shop = Shop::new();
    type Keep = Box<dyn Fn(&Ev) -> bool>;
    let cases: Vec<(Vec<&str>, Keep)> = vec![
        (
            vec!["--event", "payment_failed"],
            Box::new(|e| e.event == "payment_failed"),
        ),
        (
            vec!["--event", "payment_*"],
            Box::new(|e| e.event.starts_with("payment_")),
        ),
        (
            vec!["--event", "log*"],
            Box::new(|e| e.event == "login" || e.event == "logout"),
        ),
        (
            vec!["--class", "audit", "--class", "billing"],
            Box::new(|e| e.class == "audit" || e.class == "billing"),
        ),
        (
            vec!["--user", "u-3", "--tenant", "acme"],
            Box::new(|e| e.user == "u-3" && e.tenant == "acme"),
        ),
        (
            vec!["--level", "warn"],
            Box::new(|e| e.level == "WARN" || e.level == "ERROR"),
        ),
        (
            vec!["--where", "fields.amount>100"],
            Box::new(|e| e.amount > 100),
        ),
        (
            vec!["--where", "spans.request.path=/pay"],
            Box::new(|e| e.path == "/pay"),
        ),
        (
            vec!["--grep", "declined"],
            Box::new(|e| e.msg.to_lowercase().contains("declined")),
        ),
        (vec!["--code", "4022"], Box::new(|e| e.code == 4022)),
        (
            vec!["--op", "order-7", "--op", "order-11"],
            Box::new(|e| e.op == "order-7" || e.op == "order-11"),
        ),
        (
            vec![
                "--event",
                "payment_*",
                "--where",
                "amount<=20",
                "--tenant",
                "globex",
            ],
            Box::new(|e| e.event.starts_with("payment_") && e.amount <= 20 && e.tenant == "globex"),
        ),
    ];
    for (args, keep) in cases {
        let want = shop.expected(keep);
        assert!(
            !want.is_empty() && want.len() < N as usize,
            "the model must select some but not all events for {args:?}"
        );
        let mut all = vec!["--all-time"];
        all.extend(&args);

        let listed = shop.query(&all);
        assert_eq!(listed.code, Some(0), "{listed}");
        assert_eq!(printed_is(&listed), want, "{args:?}{listed}");

        all.push("--count");
        let counted = shop.query(&all);
        assert_eq!(counted.code, Some(0), "{counted}");
        assert_eq!(counted.stdout, format!("{}\n", want.len()), "{counted}");
    }
}

#[test]
fn records_of_every_stream_come_merged_in_time_order() {
    let shop = Shop::new();
    let run = shop.query(&["--all-time"]);
    assert_eq!(run.code, Some(0), "{run}");
    let recs = records(&run);
    let streams: BTreeSet<&str> = recs.iter().map(|r| r["stream"].as_str().unwrap()).collect();
    assert_eq!(
        streams,
        BTreeSet::from(["app", "audit", "security"]),
        "{run}"
    );
    let ts: Vec<&str> = recs.iter().map(|r| r["ts"].as_str().unwrap()).collect();
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "timestamps go backwards{run}"
    );
    // Each event in its stream, and all of them in the order written.
    for (r, e) in recs.iter().zip(&shop.events) {
        assert_eq!(r["stream"], e.stream(), "{r}");
    }
    assert_eq!(printed_is(&run), (0..N).collect::<Vec<_>>());
}

#[test]
fn the_same_stream_in_two_directories_is_merged_in_time_order() {
    let root = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(nanos(T0));
    let dirs = [root.path().join("web-1"), root.path().join("web-2")];
    let pipelines: Vec<_> = dirs
        .iter()
        .map(|dir| {
            let (layer, guard) = evtrail::builder()
                .key(Key::generate().unwrap())
                .clock(clock.clone())
                .log_dir(dir)
                .build()
                .unwrap();
            (dispatch(layer), guard)
        })
        .collect();
    for i in 0..10u64 {
        clock.set(nanos(T0 + i));
        let (d, _) = &pipelines[(i % 2) as usize];
        tracing::dispatcher::with_default(d, || tracing::info!(i, "tick"));
    }
    drop(pipelines);
    let mut args = vec!["query".as_ref()];
    args.extend(dirs.iter().map(|d| d.as_os_str()));
    args.push("--all-time".as_ref());
    let run = evtrail(args, &[]);
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(printed_is(&run), (0..10).collect::<Vec<_>>(), "{run}");
}

#[test]
fn reverse_is_the_exact_reverse_and_limit_takes_the_first_or_the_newest() {
    let shop = Shop::new();
    let forward = shop.query(&["--all-time"]);
    let backward = shop.query(&["--all-time", "--reverse"]);
    assert_eq!(backward.code, Some(0), "{backward}");
    let mut want: Vec<&str> = forward.lines();
    assert_eq!(want.len(), N as usize, "{forward}");
    want.reverse();
    assert_eq!(backward.lines(), want, "--reverse{backward}");

    let first = shop.query(&["--all-time", "--limit", "7"]);
    assert_eq!(printed_is(&first), (0..7).collect::<Vec<_>>(), "{first}");
    let newest = shop.query(&["--all-time", "--limit", "7", "--reverse"]);
    assert_eq!(
        printed_is(&newest),
        (N - 7..N).rev().collect::<Vec<_>>(),
        "{newest}"
    );
    // With a filter, the limit counts matches, not lines read.
    let failed = shop.expected(|e| e.event == "payment_failed");
    let last3 = shop.query(&["--all-time", "--event", "payment_failed", "-n", "3", "-r"]);
    let want: Vec<u64> = failed.iter().rev().take(3).copied().collect();
    assert_eq!(printed_is(&last3), want, "{last3}");
}

#[test]
fn jsonl_prints_the_stored_lines_byte_for_byte() {
    let shop = Shop::new();
    let run = shop.query(&["--all-time", "--markers", "--format", "jsonl"]);
    assert_eq!(run.code, Some(0), "{run}");
    let mut printed: Vec<String> = run.lines().iter().map(|l| (*l).to_owned()).collect();
    let mut stored = stored_lines(&shop.logs);
    printed.sort();
    stored.sort();
    assert_eq!(printed.len(), stored.len(), "{run}");
    assert!(
        printed == stored,
        "printed lines differ from the stored ones"
    );
}

#[test]
fn chain_markers_are_left_out_unless_asked_for() {
    let shop = Shop::new();
    let stored = stored_lines(&shop.logs);
    let markers = stored
        .iter()
        .filter(|l| l.contains(r#""target":"evtrail""#) && l.contains(r#""event":"evtrail."#))
        .count();
    assert!(markers >= 6, "rotations must have left markers: {markers}");

    let plain = shop.query(&["--all-time", "--count"]);
    assert_eq!(plain.stdout, format!("{N}\n"), "{plain}");
    let with = shop.query(&["--all-time", "--count", "--markers"]);
    assert_eq!(with.stdout, format!("{}\n", stored.len()), "{with}");

    let listed = shop.query(&["--all-time", "--markers", "--event", "evtrail.*"]);
    let recs = records(&listed);
    assert_eq!(recs.len(), markers, "{listed}");
    assert!(
        recs.iter().any(|r| r["event"] == "evtrail.segment_start")
            && recs.iter().any(|r| r["event"] == "evtrail.segment_end"),
        "{listed}"
    );
    let hidden = shop.query(&["--all-time", "--event", "evtrail.*"]);
    assert_eq!(
        hidden.code,
        Some(1),
        "markers are not shown without --markers{hidden}"
    );
    assert_eq!(hidden.stdout, "", "{hidden}");
}

#[test]
fn csv_has_a_header_and_quotes_what_needs_it() {
    let shop = Shop::new();
    let run = shop.query(&[
        "--all-time",
        "--format",
        "csv",
        "--fields",
        "event,user,msg,fields.amount",
        "--limit",
        "40",
    ]);
    assert_eq!(run.code, Some(0), "{run}");
    let lines = run.lines();
    assert_eq!(lines[0], "event,user,msg,fields.amount", "{run}");
    assert_eq!(lines.len(), 41, "{run}");
    for (line, e) in lines[1..].iter().zip(&shop.events) {
        let msg = if e.msg.contains(',') {
            format!("\"{}\"", e.msg.replace('"', "\"\""))
        } else {
            e.msg.to_owned()
        };
        assert_eq!(
            *line,
            format!("{},{},{msg},{}", e.event, e.user, e.amount),
            "{run}"
        );
    }
    assert!(
        shop.events[..40].iter().any(|e| e.msg.contains(',')),
        "the model must hold a message that needs quoting"
    );
}

#[test]
fn exit_codes_say_found_nothing_or_error() {
    let shop = Shop::new();
    let found = shop.query(&["--all-time", "--event", "login"]);
    assert_eq!(found.code, Some(0), "{found}");
    let none = shop.query(&["--all-time", "--event", "no_such_event"]);
    assert_eq!((none.code, none.stdout.as_str()), (Some(1), ""), "{none}");
    let none = shop.query(&["--all-time", "--event", "no_such_event", "--count"]);
    assert_eq!(
        (none.code, none.stdout.as_str()),
        (Some(1), "0\n"),
        "{none}"
    );
    let bad = shop.query(&["--all-time", "--where", "fields.amount>"]);
    assert_eq!(bad.code, Some(2), "{bad}");
}

#[test]
fn a_field_no_record_has_is_named_when_nothing_is_found() {
    let shop = Shop::new();
    let run = shop.query(&["--all-time", "--where", "fields.amout>100"]);
    assert_eq!((run.code, run.stdout.as_str()), (Some(1), ""), "{run}");
    assert!(
        run.stderr
            .contains("no record in the range has a field `fields.amout`"),
        "{run}"
    );
    // A field records do have is not named, even when nothing matches.
    let run = shop.query(&["--all-time", "--where", "fields.amount>1000000000"]);
    assert_eq!(run.code, Some(1), "{run}");
    assert!(!run.stderr.contains("has a field"), "{run}");
}

#[test]
fn a_missing_directory_is_an_error_that_names_it() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("no-such-logs");
    let run = query_in(&missing, &["--all-time"], &[]);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("no-such-logs"), "{run}");
    assert_eq!(run.stdout, "", "{run}");
}

#[test]
fn an_empty_directory_finds_nothing() {
    let root = tempfile::tempdir().unwrap();
    let run = query_in(root.path(), &["--all-time"], &[]);
    assert_eq!((run.code, run.stdout.as_str()), (Some(1), ""), "{run}");
    let count = query_in(root.path(), &["--all-time", "--count"], &[]);
    assert_eq!(
        (count.code, count.stdout.as_str()),
        (Some(1), "0\n"),
        "{count}"
    );
}

#[test]
fn malformed_conditions_and_durations_are_errors_that_name_them() {
    let root = tempfile::tempdir().unwrap();
    let run = query_in(root.path(), &["--where", "amount"], &[]);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("`amount`"), "{run}");
    let run = query_in(root.path(), &["--where", "amount>"], &[]);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("`amount>`"), "{run}");
    let run = query_in(root.path(), &["--where", "msg~(unclosed"], &[]);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("`msg~(unclosed`"), "{run}");
    let run = query_in(root.path(), &["--since", "10x"], &[]);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("`10x`"), "{run}");
    let run = query_in(root.path(), &["--level", "loud"], &[]);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("`loud`"), "{run}");
}

/// A signed log of stream `app` written at known times: three records at
/// 11:59, five in the 12:00 hour (one at its first microsecond, one at its
/// last second) and two at 13:00.
fn two_hours() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    let clock = ManualClock::at(nanos(T0 - 30));
    let (layer, guard) = evtrail::builder()
        .service("shop")
        .key(Key::generate().unwrap())
        .clock(clock.clone())
        .log_dir(&logs)
        .build()
        .unwrap();
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || {
        let at = |secs: u64, name: &str| {
            clock.set(nanos(secs));
            tracing::info!(event = name, "at {secs}");
        };
        for s in [T0 - 30, T0 - 20, T0 - 1] {
            at(s, "hour_11");
        }
        for s in [T0, T0 + 60, T0 + 1800, T0 + 3000, T0 + 3599] {
            at(s, "hour_12");
        }
        for s in [T0 + 3600, T0 + 3700] {
            at(s, "hour_13");
        }
    });
    drop(guard);
    (root, logs)
}

#[test]
fn the_default_range_is_the_current_hour_of_evtrail_now() {
    let (_root, logs) = two_hours();
    let now12 = rfc3339(T0 + 1234);
    let run = query_in(&logs, &[], &[("EVTRAIL_NOW", &now12)]);
    assert_eq!(run.code, Some(0), "{run}");
    let events: Vec<String> = records(&run)
        .iter()
        .map(|r| r["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, vec!["hour_12"; 5], "{run}");

    let now13 = rfc3339(T0 + 3600 + 5);
    let run = query_in(&logs, &["--count"], &[("EVTRAIL_NOW", &now13)]);
    assert_eq!(run.stdout, "2\n", "{run}");

    let now10 = rfc3339(T0 - 7200);
    let run = query_in(&logs, &[], &[("EVTRAIL_NOW", &now10)]);
    assert_eq!(run.code, Some(1), "nothing was written at 10:00{run}");
}

#[test]
fn the_table_names_the_range_searched_and_the_count() {
    let (_root, logs) = two_hours();
    let now = rfc3339(T0 + 1234);
    let run = query_in(&logs, &["--format", "table"], &[("EVTRAIL_NOW", &now)]);
    assert_eq!(run.code, Some(0), "{run}");
    let lines = run.lines();
    assert!(lines[0].starts_with("TIME"), "a header row first{run}");
    assert_eq!(lines.len(), 1 + 5, "{run}");
    assert!(
        lines[1].starts_with("2026-11-20 12:00:00.000"),
        "rows in time order{run}"
    );
    assert!(
        run.stderr
            .contains("5 records in 2026-11-20 12:00:00Z .. 2026-11-20 13:00:00Z"),
        "{run}"
    );
    assert!(run.stderr.contains("signatures not checked"), "{run}");

    let since = query_in(
        &logs,
        &["--format", "table", "--since", "2h"],
        &[("EVTRAIL_NOW", &now)],
    );
    assert!(
        since
            .stderr
            .contains("5 records in 2026-11-20 10:20:34Z .. 2026-11-20 12:20:35Z"),
        "{since}"
    );
}

/// A signed log of `app` in two plain files (one roll), a record edited in
/// each: the rolled file's `i=3` and the active file's `i=9`.
struct Tampered {
    _root: tempfile::TempDir,
    logs: PathBuf,
    key_file: PathBuf,
    other_key_file: PathBuf,
}

fn tampered() -> Tampered {
    let root = tempfile::tempdir().unwrap();
    let key = Key::generate().unwrap();
    let key_file = root.path().join("signing.key");
    key.write_new_file(&key_file).unwrap();
    let other_key_file = root.path().join("other.key");
    Key::generate()
        .unwrap()
        .write_new_file(&other_key_file)
        .unwrap();
    let logs = root.path().join("logs");
    let (layer, guard) = evtrail::builder()
        .service("shop")
        .key(key)
        .log_dir(&logs)
        .file_options(FileOptions::default().compression(None))
        .build()
        .unwrap();
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || {
        for i in 0..12u64 {
            tracing::info!(i, "order placed");
            if i == 5 {
                guard.rotate().unwrap();
            }
        }
    });
    drop(guard);
    let names = names_in(&logs);
    let rolled = names
        .iter()
        .find(|n| is_plain_rolled(n))
        .expect("a rolled file");
    for (name, i) in [(rolled.as_str(), 3), ("app.log", 9)] {
        let path = logs.join(name);
        let text = fs::read_to_string(&path).unwrap();
        let needle = r#""msg":"order placed","#;
        let edited: Vec<String> = text
            .lines()
            .map(|l| {
                if l.contains(&format!(r#""fields":{{"i":{i}}}"#)) {
                    assert!(l.contains(needle), "{l}");
                    l.replace(needle, r#""msg":"order placed twice","#)
                } else {
                    l.to_owned()
                }
            })
            .collect();
        assert_ne!(
            edited.join("\n") + "\n",
            text,
            "record {i} not found in {name}"
        );
        fs::write(&path, edited.join("\n") + "\n").unwrap();
    }
    Tampered {
        _root: root,
        logs,
        key_file,
        other_key_file,
    }
}

/// `fields.i` → `valid_signature` of `--format json` output.
fn verdicts(run: &CliRun) -> Vec<(u64, String)> {
    records(run)
        .iter()
        .map(|m| {
            assert!(
                m["file"].as_str().is_some_and(|f| f.ends_with(".log")),
                "{m}"
            );
            assert!(m["line"].as_u64().is_some_and(|l| l >= 1), "{m}");
            (
                m["record"]["fields"]["i"].as_u64().unwrap(),
                m["valid_signature"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn json_gives_each_record_its_signature_verdict() {
    let t = tampered();
    let key = t.key_file.to_str().unwrap();
    let run = query_in(
        &t.logs,
        &["--all-time", "--format", "json", "--key-file", key],
        &[],
    );
    assert_eq!(run.code, Some(0), "{run}");
    let want: Vec<(u64, String)> = (0..12)
        .map(|i| {
            let v = if i == 3 || i == 9 { "invalid" } else { "valid" };
            (i, v.to_owned())
        })
        .collect();
    assert_eq!(verdicts(&run), want, "{run}");

    let other = t.other_key_file.to_str().unwrap();
    let run = query_in(
        &t.logs,
        &["--all-time", "--format", "json", "--key-file", other],
        &[],
    );
    assert!(
        verdicts(&run).iter().all(|(_, v)| v == "unknown_key"),
        "{run}"
    );
    let run = query_in(&t.logs, &["--all-time", "--format", "json"], &[]);
    let got = verdicts(&run);
    assert_eq!(got.len(), 12, "{run}");
    assert!(got.iter().all(|(_, v)| v == "not_checked"), "{run}");
}

#[test]
fn the_table_counts_invalid_signatures() {
    let t = tampered();
    let key = t.key_file.to_str().unwrap();
    let run = query_in(
        &t.logs,
        &["--all-time", "--format", "table", "--key-file", key],
        &[],
    );
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stderr.contains("12 records in") && run.stderr.contains("2 with an INVALID signature"),
        "{run}"
    );
    let invalid_rows = run.lines().iter().filter(|l| l.contains("invalid")).count();
    assert_eq!(invalid_rows, 2, "{run}");
}

/// Inserts `line` before line `at` (1-based) of `path`.
fn insert_line(path: &Path, at: usize, line: &[u8]) {
    let data = fs::read(path).unwrap();
    let mut out = Vec::new();
    for (n, l) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        if n + 1 == at {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out.extend_from_slice(l);
    }
    fs::write(path, out).unwrap();
}

const GARBAGE: &[u8] = b"\x00\x9f\xff binary \x1b[31m garbage \xfe\x00";

#[test]
fn garbage_and_a_truncated_gzip_are_reported_and_the_search_goes_on() {
    let shop = Shop::new();
    let active = shop.logs.join("app.log");
    insert_line(&active, 4, GARBAGE);
    // Cut the first gzipped file of `security` in half.
    let gz = names_in(&shop.logs)
        .into_iter()
        .find(|n| n.starts_with("security.") && n.ends_with(".gz"))
        .unwrap();
    let gz_path = shop.logs.join(&gz);
    let data = fs::read(&gz_path).unwrap();
    fs::write(&gz_path, &data[..data.len() / 2]).unwrap();

    let run = shop.query(&["--all-time"]);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("warning") && l.contains("app.log") && l.contains("line 4")),
        "the garbage line is named{run}"
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("warning") && l.contains(&gz)),
        "the cut gzip file is named{run}"
    );
    // Every other stream is whole; `security` lost some records at most.
    let printed = printed_is(&run);
    let want_others = shop.expected(|e| e.stream() != "security");
    let got_others: Vec<u64> = printed
        .iter()
        .copied()
        .filter(|i| shop.events[*i as usize].stream() != "security")
        .collect();
    assert_eq!(got_others, want_others, "{run}");
    let security = shop.expected(|e| e.stream() == "security").len();
    let got_security = printed.len() - got_others.len();
    assert!(
        got_security > 0 && got_security < security,
        "{got_security} of {security}{run}"
    );
}

#[test]
fn garbage_is_reported_within_a_time_range_too() {
    let (_root, logs) = two_hours();
    insert_line(&logs.join("app.log"), 3, GARBAGE);
    let now = rfc3339(T0 + 1234);
    let run = query_in(&logs, &[], &[("EVTRAIL_NOW", &now)]);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stderr.contains("app.log") && run.stderr.contains("line 3"),
        "{run}"
    );
}

#[test]
fn count_agrees_with_the_listing_when_a_line_is_garbage() {
    let (_root, logs) = two_hours();
    insert_line(&logs.join("app.log"), 3, GARBAGE);
    let listed = query_in(&logs, &["--all-time"], &[]);
    let counted = query_in(&logs, &["--all-time", "--count"], &[]);
    assert_eq!(listed.lines().len(), 10, "{listed}");
    assert_eq!(counted.stdout, "10\n", "{counted}");
    assert!(counted.stderr.contains("line 3"), "{counted}");
}

#[test]
fn a_line_over_the_default_limit_is_reported_and_skipped() {
    let (_root, logs) = two_hours();
    let active = logs.join("app.log");
    let mut huge = b"{\"v\":1,\"msg\":\"".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 17 * 1024 * 1024));
    huge.extend_from_slice(b"\"}");
    insert_line(&active, 4, &huge);
    // A garbage line after it: its number shows the count went on right.
    insert_line(&active, 7, GARBAGE);
    let run = query_in(&logs, &["--all-time"], &[]);
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.lines().len(), 10, "every record is still found{run}");
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("app.log") && l.contains("line 4") && l.contains("longer than")),
        "{run}"
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("app.log") && l.contains("line 7") && l.contains("not a record")),
        "{run}"
    );
}

#[test]
fn max_line_bytes_reports_a_longer_line_that_fits_in_a_block() {
    let (_root, logs) = two_hours();
    let active = logs.join("app.log");
    let long = format!(
        r#"{{"v":1,"stream":"app","ts":"{}","msg":"{}"}}"#,
        common::ts_text(T0 + 5),
        "y".repeat(10_000)
    );
    insert_line(&active, 4, long.as_bytes());
    let query = Query::new(Filter::new(), TimeRange::all()).max_line_bytes(4096);
    let items: Vec<_> = query.run(&[&logs]).unwrap().collect();
    let problems: Vec<String> = items
        .iter()
        .filter_map(|i| i.as_ref().err().map(|e| e.to_string()))
        .collect();
    let found = items.iter().filter(|i| i.is_ok()).count();
    assert_eq!(found, 10, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("app.log") && p.contains("line 4")),
        "{problems:?}"
    );
}

#[test]
fn a_closed_pipe_ends_the_query_quietly() {
    let shop = Shop::new();
    for format in ["jsonl", "json", "csv", "table"] {
        let mut child = evtrail_command()
            .args(["query".as_ref(), shop.logs.as_os_str()])
            .args(["--all-time", "--markers", "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert!(!first.is_empty(), "{format}: no first line");
        drop(out);
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(0), "{format}: {stderr}");
        assert!(!stderr.contains("panicked"), "{format}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{format}: {stderr}");
    }
}

#[test]
fn the_library_finds_what_the_command_line_finds() {
    let shop = Shop::new();
    let key = Key::from_file(&shop.key_file).unwrap();
    let query = Query::new(
        Filter::new()
            .add_any_of("class", ["security"])
            .unwrap()
            .add_where("fields.amount>=125")
            .unwrap(),
        TimeRange::all(),
    )
    .keys(evtrail::Keyring::new().with(key));
    let found: Vec<_> = query
        .run(&[&shop.logs])
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let got: Vec<u64> = found
        .iter()
        .map(|m| m.field("fields.i").unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        got,
        shop.expected(|e| e.class == "security" && e.amount >= 125)
    );
    assert!(
        found
            .iter()
            .all(|m| m.signature() == evtrail::query::Signature::Valid && m.stream() == "security")
    );
    let (n, problems) = query.count(&[&shop.logs]).unwrap();
    assert_eq!((n as usize, problems.len()), (got.len(), 0));
    // The other key knows none of them.
    let other = Key::from_file(&shop.other_key_file).unwrap();
    let m = query
        .keys(evtrail::Keyring::new().with(other))
        .limit(1)
        .run(&[&shop.logs])
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(m.signature(), evtrail::query::Signature::UnknownKey);
}

#[test]
fn a_timestamp_with_wide_characters_is_shown_as_it_is() {
    let root = tempfile::tempdir().unwrap();
    let line = r#"{"v":1,"stream":"app","seq":1,"ts":"2026-12-03T10:00:00.00é000Z","level":"INFO","event":"odd","msg":"m"}"#;
    fs::write(root.path().join("app.log"), format!("{line}\n")).unwrap();
    // The table cuts it to its column; the CSV keeps it whole.
    for (format, shown) in [
        ("csv", "2026-12-03T10:00:00.00é000Z"),
        ("table", "2026-12-03T10:00:00.00…"),
    ] {
        let run = query_in(
            root.path(),
            &["--all-time", "--format", format, "--fields", "time,event"],
            &[],
        );
        assert_eq!(run.code, Some(0), "{run}");
        assert!(run.stdout.contains(shown), "{run}");
    }
}

#[test]
fn impossible_dates_are_errors_not_other_dates() {
    let root = tempfile::tempdir().unwrap();
    for bad in ["2026-12-259", "2026-257-03", "2026-12-03 266:00"] {
        let run = query_in(root.path(), &["--from", bad], &[]);
        assert_eq!(run.code, Some(2), "{run}");
        assert!(run.stderr.contains(bad), "{run}");
    }
}
