//! `evtrail tail` run as a real process on logs the real pipeline writes
//! while it runs: the last records, following across rolls and into
//! streams that appear later, and the alarm for a forged record. Output is
//! read by threads and waited for with a deadline, never slept on.
//! Needs the `cli` feature: `cargo test --all-features`.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ManualClock, WAIT, dispatch, evtrail, evtrail_command, nanos};
use evtrail::query::{Filter, Followed, Query, TimeRange};
use evtrail::{Key, Overflow, Route};
use serde_json::Value;

/// How long a test waits for `tail -f` to print what it expects.
const DEADLINE: Duration = Duration::from_secs(20);
/// 2026-11-20T12:00:00Z.
const T0: u64 = 1_795_176_000;

/// A running `evtrail tail -f`, its stdout lines and stderr gathered by
/// threads.
struct Tailing {
    child: Child,
    lines: Receiver<String>,
    got: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Tailing {
    fn spawn(dir: &Path, args: &[&str]) -> Tailing {
        let mut child = evtrail_command()
            .args(["tail".as_ref(), dir.as_os_str()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    return;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Tailing {
            child,
            lines,
            got: Vec::new(),
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn report(&self) -> String {
        format!(
            "\n--- stdout ({} lines) ---\n{}\n--- stderr ---\n{}",
            self.got.len(),
            self.got.join("\n"),
            self.stderr()
        )
    }

    /// Gathers stdout lines until `done` holds for them, or panics at the
    /// deadline.
    fn wait_for(&mut self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !done(&self.got) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.got.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} after {DEADLINE:?}{}", self.report())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("tail ended before {what}{}", self.report())
                }
            }
        }
    }

    /// Waits until stderr holds `text`, or panics at the deadline.
    fn wait_for_stderr(&self, text: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no `{text}` on stderr after {DEADLINE:?}{}",
                self.report()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tailing {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(stream, fields.i)` of a printed line.
fn stream_and_i(line: &str) -> (String, u64) {
    let r: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    (
        r["stream"].as_str().unwrap().to_owned(),
        r["fields"]["i"]
            .as_u64()
            .unwrap_or_else(|| panic!("no fields.i: {line}")),
    )
}

fn is_of(got: &[String], stream: &str) -> Vec<u64> {
    got.iter()
        .map(|l| stream_and_i(l))
        .filter(|(s, _)| s == stream)
        .map(|(_, i)| i)
        .collect()
}

fn key_file(root: &Path) -> (Key, PathBuf) {
    let key = Key::generate().unwrap();
    let path = root.join("signing.key");
    key.write_new_file(&path).unwrap();
    (key, path)
}

#[test]
fn tail_shows_the_last_records_oldest_first() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    let clock = ManualClock::at(nanos(T0));
    let (layer, guard) = evtrail::builder()
        .key(Key::generate().unwrap())
        .clock(clock.clone())
        .log_dir(&logs)
        .add_route(Route::to("audit").class("audit"))
        .build()
        .unwrap();
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || {
        for i in 0..30u64 {
            clock.set(nanos(T0 + i));
            if i % 3 == 0 {
                tracing::info!(class = "audit", i, "audited");
            } else {
                tracing::info!(i, "plain");
            }
        }
    });
    drop(guard);

    let dir = logs.to_str().unwrap();
    let run = evtrail(["tail", dir, "-n", "5"], &[]);
    assert_eq!(run.code, Some(0), "{run}");
    let got: Vec<(String, u64)> = run.lines().iter().map(|l| stream_and_i(l)).collect();
    let want: Vec<(String, u64)> = (25..30)
        .map(|i| (if i % 3 == 0 { "audit" } else { "app" }.to_owned(), i))
        .collect();
    assert_eq!(got, want, "{run}");

    let run = evtrail(["tail", dir, "-n", "4", "--class", "audit"], &[]);
    let got: Vec<u64> = run.lines().iter().map(|l| stream_and_i(l).1).collect();
    assert_eq!(got, [18, 21, 24, 27], "{run}");

    let run = evtrail(["tail", dir, "-n", "100"], &[]);
    assert_eq!(run.lines().len(), 30, "no markers, every record{run}");

    let empty = tempfile::tempdir().unwrap();
    let run = evtrail(["tail".as_ref(), empty.path().as_os_str()], &[]);
    assert_eq!((run.code, run.stdout.as_str()), (Some(1), ""), "{run}");
}

#[test]
fn tail_follows_new_records_across_two_rolls_and_into_a_new_stream() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    let (key, key_path) = key_file(root.path());
    let (layer, guard) = evtrail::builder()
        .key(key)
        .log_dir(&logs)
        .overflow(Overflow::Block)
        .build()
        .unwrap();
    let d = dispatch(layer);
    let write = |range: std::ops::Range<u64>| {
        tracing::dispatcher::with_default(&d, || {
            for i in range {
                tracing::info!(i, "order placed");
            }
        });
        guard.flush(WAIT).unwrap();
    };
    write(0..5);
    let key_arg = key_path.to_str().unwrap();
    let mut tail = Tailing::spawn(&logs, &["-f", "-n", "2", "--key-file", key_arg]);
    tail.wait_for("the last 2 records", |got| got.len() >= 2);

    write(5..10);
    tail.wait_for("record 9", |got| is_of(got, "app").contains(&9));
    guard.rotate().unwrap();
    write(10..15);
    tail.wait_for("record 14 after the first roll", |got| {
        is_of(got, "app").contains(&14)
    });
    guard.rotate().unwrap();
    write(15..20);
    tail.wait_for("record 19 after the second roll", |got| {
        is_of(got, "app").contains(&19)
    });

    // Another program starts writing stream `late` into the directory.
    assert!(!logs.join("late.log").exists());
    let (late_layer, late_guard) = evtrail::builder()
        .unsigned()
        .default_stream("late")
        .log_dir(&logs)
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(late_layer), || {
        for i in 100..104u64 {
            tracing::info!(i, "late");
        }
    });
    late_guard.flush(WAIT).unwrap();
    tail.wait_for("the new stream's records", |got| {
        is_of(got, "late").contains(&103)
    });
    drop((guard, late_guard));

    assert_eq!(
        is_of(&tail.got, "app"),
        (3..20).collect::<Vec<_>>(),
        "{}",
        tail.report()
    );
    assert_eq!(
        is_of(&tail.got, "late"),
        (100..104).collect::<Vec<_>>(),
        "{}",
        tail.report()
    );
    assert_eq!(tail.got.len(), 17 + 4, "{}", tail.report());
    assert!(
        !tail.stderr().contains("SIGNATURE INVALID"),
        "genuine records across rolls verify{}",
        tail.report()
    );
}

#[test]
fn a_forged_line_raises_the_alarm_whether_selected_or_not() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    let (key, key_path) = key_file(root.path());
    let (layer, guard) = evtrail::builder().key(key).log_dir(&logs).build().unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for i in 0..5u64 {
            tracing::info!(event = "order_placed", i, "order placed");
        }
        tracing::info!(event = "heartbeat", i = 99u64, "alive");
    });
    drop(guard);
    let key_arg = key_path.to_str().unwrap();
    let mut all = Tailing::spawn(&logs, &["-f", "-n", "1", "--key-file", key_arg]);
    let mut beats = Tailing::spawn(
        &logs,
        &[
            "-f",
            "-n",
            "1",
            "--event",
            "heartbeat",
            "--key-file",
            key_arg,
        ],
    );
    all.wait_for("the last record", |got| !got.is_empty());
    beats.wait_for("the last heartbeat", |got| !got.is_empty());
    assert_eq!(stream_and_i(&beats.got[0]).1, 99, "{}", beats.report());

    // A copy of a genuine record, altered, keeping its signature.
    let active = logs.join("app.log");
    let text = fs::read_to_string(&active).unwrap();
    let genuine = text
        .lines()
        .find(|l| l.contains(r#""fields":{"i":2}"#))
        .unwrap();
    let forged = genuine.replace(r#""fields":{"i":2}"#, r#""fields":{"i":7}"#);
    assert_ne!(forged, genuine);
    fs::write(&active, format!("{text}{forged}\n")).unwrap();

    all.wait_for("the forged record", |got| {
        got.iter().any(|l| stream_and_i(l).1 == 7)
    });
    all.wait_for_stderr("SIGNATURE INVALID");
    beats.wait_for_stderr("SIGNATURE INVALID");
    assert!(
        beats.stderr().contains("app.log"),
        "the alarm names the file{}",
        beats.report()
    );
    assert_eq!(
        beats.got.len(),
        1,
        "an unselected record is not printed{}",
        beats.report()
    );
    assert_eq!(
        all.stderr().matches("SIGNATURE INVALID").count(),
        1,
        "only the forged record{}",
        all.report()
    );
}

#[test]
fn following_loses_nothing_when_two_rolls_come_between_polls() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    let (layer, guard) = evtrail::builder()
        .key(Key::generate().unwrap())
        .log_dir(&logs)
        .build()
        .unwrap();
    let d = dispatch(layer);
    let write = |range: std::ops::Range<u64>| {
        tracing::dispatcher::with_default(&d, || {
            for i in range {
                tracing::info!(i, "order placed");
            }
        });
        guard.flush(WAIT).unwrap();
    };
    write(0..3);
    let mut follow = Query::new(Filter::new(), TimeRange::all())
        .follow(&[&logs])
        .unwrap();
    write(3..6);
    guard.rotate().unwrap();
    write(6..9);
    guard.rotate().unwrap();
    write(9..12);
    let got: Vec<u64> = follow
        .poll()
        .into_iter()
        .map(|item| match item.unwrap() {
            Followed::Match(m) => m.field("fields.i").unwrap().parse().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    drop(guard);
    assert_eq!(got, (3..12).collect::<Vec<_>>());
}

/// Hand-written records of stream `app`, numbered `seqs`.
fn app_lines(seqs: std::ops::Range<u64>) -> String {
    seqs.map(|s| {
        format!(
            "{{\"v\":1,\"stream\":\"app\",\"seq\":{s},\"ts\":\"2026-12-03T10:00:0{s}.000000Z\",\"level\":\"INFO\",\"msg\":\"m{s}\"}}\n"
        )
    })
    .collect()
}

fn followed_seqs(items: Vec<Result<Followed, evtrail::Error>>) -> Vec<u64> {
    items
        .into_iter()
        .map(|i| match i.unwrap() {
            Followed::Match(m) => m.seq().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_stream_with_only_rolled_files_at_the_start_is_followed_from_its_new_file() {
    let root = tempfile::tempdir().unwrap();
    let rolled = root.path().join("app.2026-12-03T10-00-05Z.0001.log");
    fs::write(&rolled, app_lines(1..4)).unwrap();
    let mut follow = Query::new(Filter::new(), TimeRange::all())
        .follow(&[root.path()])
        .unwrap();
    assert!(followed_seqs(follow.poll()).is_empty());
    fs::write(root.path().join("app.log"), app_lines(4..5)).unwrap();
    assert_eq!(followed_seqs(follow.poll()), [4]);
}

#[test]
fn records_shown_in_one_directory_do_not_hide_another_directorys() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    for d in [&a, &b] {
        fs::create_dir(d).unwrap();
        fs::write(d.join("app.log"), app_lines(1..2)).unwrap();
    }
    let query = Query::new(Filter::new(), TimeRange::all());
    let mut follow = query.follow(&[&a, &b]).unwrap();
    // What a search showed before following: seq 1 of `a` only.
    let shown: Vec<_> = query.run(&[&a]).unwrap().map(Result::unwrap).collect();
    for m in &shown {
        follow.shown(m);
    }
    // `b` starts again from seq 1 (an unsigned writer restarted).
    fs::write(b.join("app.log"), app_lines(1..2) + &app_lines(1..2)).unwrap();
    assert_eq!(followed_seqs(follow.poll()), [1]);
}
