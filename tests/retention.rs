//! Retention of rolled files in a running writer: `max_files`,
//! `max_total_bytes`, `max_age`, at startup and changed at runtime; what it
//! never deletes; and what the verifier says about a log whose oldest
//! segments retention removed.

mod common;

use common::ManualClock;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{WAIT, dispatch};
use evtrail::read::rolled_file_name;
use evtrail::verify::{Report, Verifier};
use evtrail::{FileOptions, Key, Keyring, Overflow, Period, Retention, Rotation, Route};
use serde_json::Value;

/// Small files, so that a short run rolls many times.
const MAX: u64 = 4 * 1024;
const SEC: u64 = 1_000_000_000;

fn key() -> Key {
    Key::from_bytes(vec![0x7e; 32]).unwrap()
}

/// A rolled file of `stream`, from its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rolled {
    /// The time part, `YYYY-MM-DDThh-mm-ssZ`.
    time: String,
    counter: u64,
    name: String,
}

fn parse_rolled(stream: &str, name: &str) -> Option<Rolled> {
    let rest = name.strip_prefix(stream)?.strip_prefix('.')?;
    let rest = rest
        .strip_suffix(".log.gz")
        .or_else(|| rest.strip_suffix(".log"))?;
    let (time, counter) = rest.split_once('.')?;
    // A rolled name holds a real UTC time: `2026-02-30T…` is not one.
    let t = time.as_bytes();
    if t.len() != 20 || t[10] != b'T' || t[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| time.get(r)?.parse::<u8>().ok();
    let year: i32 = time.get(0..4)?.parse().ok()?;
    let month = time::Month::try_from(num(5..7)?).ok()?;
    time::Date::from_calendar_date(year, month, num(8..10)?).ok()?;
    time::Time::from_hms(num(11..13)?, num(14..16)?, num(17..19)?).ok()?;
    Some(Rolled {
        time: time.to_owned(),
        counter: counter.parse().ok()?,
        name: name.to_owned(),
    })
}

fn names_in(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// The rolled files of `stream`, oldest first by name (time, then counter).
fn rolled(dir: &Path, stream: &str) -> Vec<Rolled> {
    let mut r: Vec<Rolled> = names_in(dir)
        .iter()
        .filter_map(|n| parse_rolled(stream, n))
        .collect();
    r.sort();
    r
}

fn counters(r: &[Rolled]) -> Vec<u64> {
    r.iter().map(|f| f.counter).collect()
}

/// The records of one plain log file.
fn records(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `segment` number a file's opening record declares.
fn segment_of(path: &Path) -> u64 {
    let recs = records(path);
    assert_eq!(
        recs[0]["event"],
        "evtrail.segment_start",
        "{}",
        path.display()
    );
    recs[0]["fields"]["segment"].as_u64().unwrap()
}

fn size(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

fn verify(paths: &[PathBuf]) -> Report {
    Verifier::new(Keyring::new().with(key()))
        .verify_paths(paths)
        .unwrap()
}

/// Every file of the given streams in `dir` (active and rolled).
fn stream_paths(dir: &Path, streams: &[&str]) -> Vec<PathBuf> {
    names_in(dir)
        .into_iter()
        .filter(|n| {
            streams
                .iter()
                .any(|s| *n == format!("{s}.log") || parse_rolled(s, n).is_some())
        })
        .map(|n| dir.join(n))
        .collect()
}

/// A signed writer into `dir` that blocks rather than drops and rolls each
/// file at `MAX` bytes: what every writer of these tests shares.
fn base_writer(dir: &Path) -> evtrail::Builder {
    evtrail::builder()
        .service("retention")
        .key(key())
        .log_dir(dir)
        .overflow(Overflow::Block)
        .rotation(Rotation::default().max_bytes(MAX))
}

/// Like [`base_writer`], with an `audit` stream beside `app`, rolled files
/// left plain, and `retention`.
fn writer(dir: &Path, retention: Retention) -> (evtrail::Layer, evtrail::Guard) {
    base_writer(dir)
        .add_route(Route::to("audit").class("audit"))
        .file_options(
            FileOptions::default()
                .compression(None)
                .retention(retention),
        )
        .build()
        .unwrap()
}

/// Emits `n` events to stream `app` (about 300 bytes each: ~14 per file).
fn emit_app(d: &tracing::Dispatch, from: u64, n: u64) {
    tracing::dispatcher::with_default(d, || {
        for i in from..from + n {
            tracing::info!(i, "application event");
        }
    });
}

fn emit_audit(d: &tracing::Dispatch, n: u64) {
    tracing::dispatcher::with_default(d, || {
        for i in 0..n {
            tracing::info!(class = "audit", i, "audited");
        }
    });
}

#[test]
fn max_files_keeps_exactly_the_n_newest_rolled_files_per_stream_and_nothing_else_is_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Files retention must leave alone, whatever it deletes.
    let unrelated = [
        ("notes.txt", "not a log"),
        ("app.log.bak", "a copy someone made"),
        (
            "app.2026-11-20T12-00-00Z.log",
            "no counter: not a rolled name",
        ),
        ("app.2026-02-30T12-00-00Z.0001.log", "no such day"),
    ];
    for (name, body) in unrelated {
        fs::write(dir.join(name), body).unwrap();
    }
    let (layer, guard) = writer(dir, Retention::keep_all().max_files(3));
    let d = dispatch(layer);
    // `audit` rolls twice, before any `app` file rolls: its files are the
    // oldest in the directory, and still none of them may go.
    for _ in 0..200 {
        if rolled(dir, "audit").len() == 2 {
            break;
        }
        emit_audit(&d, 1);
        guard.flush(WAIT).unwrap();
    }
    assert_eq!(rolled(dir, "audit").len(), 2);
    emit_app(&d, 0, 3_000);
    guard.flush(WAIT).unwrap();

    let app = rolled(dir, "app");
    assert_eq!(app.len(), 3, "{app:?}");
    assert!(
        dir.join("app.log").exists(),
        "the active file is never deleted"
    );
    // Many more were rolled: the counters went far beyond 3.
    let last = app.last().unwrap().counter;
    assert!(last > 100, "only {last} rolls");
    // The oldest went first: what is left are the three newest, by name
    // and by content (their segments directly precede the active one).
    assert_eq!(counters(&app), [last - 2, last - 1, last]);
    let active_segment = segment_of(&dir.join("app.log"));
    let segments: Vec<u64> = app.iter().map(|r| segment_of(&dir.join(&r.name))).collect();
    assert_eq!(
        segments,
        [active_segment - 3, active_segment - 2, active_segment - 1]
    );
    // Another stream's files are counted (and kept) on their own.
    assert_eq!(rolled(dir, "audit").len(), 2);
    assert!(dir.join("audit.log").exists());
    for (name, body) in unrelated {
        assert_eq!(fs::read_to_string(dir.join(name)).unwrap(), body, "{name}");
    }
    drop(guard);

    // The verifier sees a stream that starts after the deleted segments,
    // and nothing wrong with it.
    let report = verify(&stream_paths(dir, &["app", "audit"]));
    assert!(report.is_clean(), "{report}");
    let app = report.streams.iter().find(|s| s.stream == "app").unwrap();
    assert!(app.starts_after > 0, "{report}");
    assert_eq!(app.first_seq, Some(app.starts_after + 1), "{report}");
    assert_eq!(app.verified, app.records, "{report}");
    let audit = report.streams.iter().find(|s| s.stream == "audit").unwrap();
    assert_eq!(audit.starts_after, 0, "{report}");
}

#[test]
fn max_age_while_running_follows_the_injected_clock() {
    // `Builder::clock` stamps records and names rolled files; retention's
    // "now" is `SystemTime::now()` (FileSink::enforce_retention), so with a
    // clock that is not the system's, ages are wrong: here every file is
    // "in the future" and nothing is ever deleted.
    const HOUR: u64 = 3_600;
    let start = 2_208_988_800; // 2040-01-01T00:00:00Z
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let clock = ManualClock::at(start * SEC);
    let (layer, guard) = evtrail::builder()
        .service("retention")
        .key(key())
        .log_dir(dir)
        .rotation(Rotation::never().period(Period::Hourly))
        .clock(clock.clone())
        .file_options(
            FileOptions::default()
                .compression(None)
                .retention(Retention::keep_all().max_age(Duration::from_secs(2 * HOUR))),
        )
        .build()
        .unwrap();
    let d = dispatch(layer);
    for h in 0..6 {
        clock.set((start + h * HOUR + 60) * SEC);
        emit_app(&d, h, 1);
        guard.flush(WAIT).unwrap();
    }
    // Each hour's first event (at hh:01) rolls the previous file: rolled
    // at 01:01, 02:01, … 05:01. At 05:01 those rolled more than two hours
    // ago (01:01, 02:01) are gone; 03:01, exactly two hours ago, stays.
    let names: Vec<String> = rolled(dir, "app").into_iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        [
            rolled_file_name("app", start + 3 * HOUR + 60, 3),
            rolled_file_name("app", start + 4 * HOUR + 60, 4),
            rolled_file_name("app", start + 5 * HOUR + 60, 5),
        ]
    );
    drop(guard);
}

#[test]
fn startup_enforces_limits_left_from_a_previous_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (layer, guard) = writer(dir, Retention::keep_all());
    emit_app(&dispatch(layer), 0, 1_000);
    drop(guard);
    let before = rolled(dir, "app");
    assert!(before.len() > 20, "{}", before.len());

    let (_layer, guard) = writer(dir, Retention::keep_all().max_files(2));
    // Checked at once: `build` applied the limit before returning. (The
    // new run may already have rolled the previous active file too; then
    // it counts among the two newest, and may be caught between its roll
    // and that roll's retention: one more file, newer than any before.)
    let mut after = rolled(dir, "app");
    if after.len() == 3 && !before.contains(&after[2]) {
        after.remove(0);
    }
    assert_eq!(after.len(), 2, "{after:?}");
    let mut all: Vec<Rolled> = before.iter().chain(&after).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!(after, all[all.len() - 2..], "not the two newest");
    drop(guard);

    let report = verify(&[dir.to_path_buf()]);
    assert!(report.is_clean(), "{report}");
    assert!(report.streams[0].starts_after > 0, "{report}");
}

#[test]
fn set_retention_takes_effect_at_the_next_roll() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (layer, guard) = evtrail::builder()
        .service("retention")
        .key(key())
        .log_dir(dir)
        .rotation(Rotation::never())
        .file_options(FileOptions::default().compression(None))
        .build()
        .unwrap();
    let d = dispatch(layer);
    for k in 0..6 {
        emit_app(&d, k, 1);
        guard.rotate().unwrap();
    }
    guard.flush(WAIT).unwrap();
    assert_eq!(rolled(dir, "app").len(), 6);

    guard
        .log_files()
        .unwrap()
        .set_retention(Retention::keep_all().max_files(2));
    emit_app(&d, 6, 1);
    guard.flush(WAIT).unwrap();
    assert_eq!(rolled(dir, "app").len(), 6, "applied before a roll");

    guard.rotate().unwrap();
    guard.flush(WAIT).unwrap();
    let app = rolled(dir, "app");
    assert_eq!(counters(&app), [6, 7], "{app:?}");

    // And back to keeping everything.
    guard
        .log_files()
        .unwrap()
        .set_retention(Retention::keep_all());
    for k in 7..10 {
        emit_app(&d, k, 1);
        guard.rotate().unwrap();
    }
    guard.flush(WAIT).unwrap();
    assert_eq!(counters(&rolled(dir, "app")), [6, 7, 8, 9, 10]);
    drop(guard);
    let report = verify(&[dir.to_path_buf()]);
    assert!(report.is_clean(), "{report}");
    assert!(report.streams[0].starts_after > 0, "{report}");
}

/// Like [`base_writer`], with rolled files gzipped (the default) and `retention`.
fn gzip_writer(dir: &Path, retention: Retention) -> (evtrail::Layer, evtrail::Guard) {
    base_writer(dir)
        .file_options(FileOptions::default().retention(retention))
        .build()
        .unwrap()
}

/// Whether any rolled file of `stream` is still uncompressed.
fn any_plain(dir: &Path, stream: &str) -> bool {
    rolled(dir, stream).iter().any(|r| !r.name.ends_with(".gz"))
}

#[test]
fn max_files_counts_gzipped_rolled_files_like_plain_ones() {
    // Retention used to delete a rolled file while the compressor was
    // still reading it; its `.gz` then brought the segment back behind
    // newer ones (a hole), and a file and its `.gz` counted twice (too few
    // left). That failed about half the runs, so the scenario runs several
    // times.
    for run in 0..5 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let policy = Retention::keep_all().max_files(3);
        let (layer, guard) = gzip_writer(dir, policy.clone());
        emit_app(&dispatch(layer), 0, 2_000);
        // Closing waits up to 2 s for queued compressions.
        drop(guard);
        // Retention deletes the oldest first: what it left is a run of
        // consecutive rolls up to the last one. A file deleted while it was
        // being compressed would be back as its `.gz`, behind a hole.
        let left: BTreeSet<u64> = counters(&rolled(dir, "app")).into_iter().collect();
        let (first, last) = (*left.first().unwrap(), *left.last().unwrap());
        assert_eq!(
            left,
            (first..=last).collect(),
            "run {run}: a hole in the rolled files"
        );

        // Retention skips a pass while a file of the directory is being
        // compressed, so more than three may be left now. Opening it again
        // compresses what is left plain and applies the limit; once an
        // opening found nothing left to compress, the limit was applied to
        // the files as they stay. The opener signs, as a writer that
        // deletes files must: it records what it deletes
        // (`evtrail.files_removed`), and its own short segment rolls once.
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let plain = any_plain(dir, "app");
            let (_layer, guard) = gzip_writer(dir, policy.clone());
            drop(guard);
            if !plain {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run {run}: rolled files stay uncompressed: {:?}",
                rolled(dir, "app")
            );
        }

        let app = rolled(dir, "app");
        assert_eq!(app.len(), 3, "run {run}: {app:?}");
        assert!(
            app.iter().all(|r| r.name.ends_with(".log.gz")),
            "run {run}: {app:?}"
        );
        // No `X.log` beside its `X.log.gz`: three distinct rolls.
        let rolls: BTreeSet<(&str, u64)> =
            app.iter().map(|r| (r.time.as_str(), r.counter)).collect();
        assert_eq!(rolls.len(), 3, "run {run}: {app:?}");
        // The newest three: 2,000 events roll well over 100 times.
        assert!(last > 100, "run {run}: only {last} rolls");
        let newest = *counters(&app).last().unwrap();
        assert!(newest > last, "run {run}: the openers rolled too");
        assert_eq!(
            counters(&app),
            [newest - 2, newest - 1, newest],
            "run {run}"
        );
        assert!(dir.join("app.log").exists());

        let report = verify(&[dir.to_path_buf()]);
        assert!(report.is_clean(), "run {run}: {report}");
        let stream = report.streams.iter().find(|s| s.stream == "app").unwrap();
        assert_eq!(stream.files, 4, "run {run}: {report}");
        assert!(stream.starts_after > 0, "run {run}: {report}");
        assert_eq!(stream.verified, stream.records, "run {run}: {report}");
    }
}

#[test]
fn max_files_holds_while_rolled_files_are_being_gzipped() {
    // "Limits are enforced after every roll": a file still being
    // compressed may be left for the next pass, but not every other file
    // with it.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (layer, guard) = gzip_writer(dir, Retention::keep_all().max_files(3));
    emit_app(&dispatch(layer), 0, 2_000);
    // Closing waits for the queued compressions; by then the last roll's
    // retention pass has left the three newest.
    drop(guard);
    let app = rolled(dir, "app");
    assert_eq!(
        app.len(),
        3,
        "{} rolled files: {:?}",
        app.len(),
        counters(&app)
    );
}

/// The sizes of the active and rolled files of `streams` in `dir`, by name.
fn sizes(dir: &Path, streams: &[&str]) -> std::collections::BTreeMap<String, u64> {
    stream_paths(dir, streams)
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_str().unwrap().to_owned(),
                size(&p),
            )
        })
        .collect()
}

/// Rolled names order rolls across streams: several streams rolling within
/// one second (the names' resolution) are told apart by the counter, which
/// counts rolls in the whole directory, not per stream. Otherwise "the
/// oldest of any stream" would pick the stream that rolls least often.
#[test]
fn time_and_counter_give_the_order_of_rolls_across_streams() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (layer, guard) = writer(dir, Retention::keep_all());
    let d = dispatch(layer);
    let all_rolled = || -> Vec<(Rolled, &str)> {
        let mut r: Vec<(Rolled, &str)> = ["app", "audit"]
            .into_iter()
            .flat_map(|s| rolled(dir, s).into_iter().map(move |f| (f, s)))
            .collect();
        r.sort_by(|a, b| (&a.0.time, a.0.counter).cmp(&(&b.0.time, b.0.counter)));
        r
    };
    let mut order = Vec::new();
    for stream in ["app", "app", "audit", "app", "audit", "audit", "app"] {
        let before = all_rolled().len();
        let mut i = 0;
        while all_rolled().len() == before {
            assert!(i < 1000, "{stream} never rolled");
            if stream == "app" {
                emit_app(&d, i, 1);
            } else {
                emit_audit(&d, 1);
            }
            guard.flush(WAIT).unwrap();
            i += 1;
        }
        order.push(stream);
    }
    let by_name: Vec<&str> = all_rolled().into_iter().map(|(_, s)| s).collect();
    assert_eq!(by_name, order);
    drop(guard);
}

#[test]
fn max_total_bytes_holds_for_the_whole_directory() {
    // Retention runs after every roll, counting every stream's active and
    // rolled files, and deletes the oldest rolled files (of any stream)
    // until the total is within the cap; the active files are never
    // deleted. So at each roll the directory is brought within the cap,
    // and between rolls only the active files grow beyond it.
    const CAP: u64 = 10 * MAX;
    const STREAMS: [&str; 2] = ["app", "audit"];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (layer, guard) = writer(dir, Retention::keep_all().max_total_bytes(CAP));
    let d = dispatch(layer);
    let is_active = |name: &str| STREAMS.iter().any(|s| name == format!("{s}.log"));
    let rolled_of = |name: &str| STREAMS.iter().find_map(|s| parse_rolled(s, name));

    let mut before = sizes(dir, &STREAMS);
    let mut deleted: Vec<Rolled> = Vec::new();
    for k in 0..600 {
        // Two app events for each audit event, one at a time, so that each
        // step rolls at most one file.
        if k % 3 == 2 {
            emit_audit(&d, 1);
        } else {
            emit_app(&d, k, 1);
        }
        guard.flush(WAIT).unwrap();
        let now = sizes(dir, &STREAMS);
        let rolled_total: u64 = now
            .iter()
            .filter(|(n, _)| !is_active(n))
            .map(|(_, b)| b)
            .sum();
        let active_total: u64 = now
            .iter()
            .filter(|(n, _)| is_active(n))
            .map(|(_, b)| b)
            .sum();
        // The directory is over the cap by no more than its active files:
        // the rolled files alone are within it.
        assert!(rolled_total <= CAP, "step {k}: {rolled_total} > {CAP}");

        let new: Vec<&String> = now
            .keys()
            .filter(|n| !is_active(n) && !before.contains_key(*n))
            .collect();
        let gone: Vec<Rolled> = before
            .keys()
            .filter(|n| !now.contains_key(*n))
            .map(|n| rolled_of(n).unwrap_or_else(|| panic!("step {k}: {n} deleted")))
            .collect();
        assert!(new.len() <= 1, "step {k}: {new:?}");
        if let Some(new) = new.first() {
            // When retention ran, the stream that rolled had no active file
            // yet, and the others were at least as big as before the step.
            let stream = STREAMS
                .iter()
                .find(|s| parse_rolled(s, new).is_some())
                .unwrap();
            let others: u64 = before
                .iter()
                .filter(|(n, _)| is_active(n) && **n != format!("{stream}.log"))
                .map(|(_, b)| b)
                .sum();
            assert!(
                rolled_total + others <= CAP,
                "step {k}: {rolled_total} rolled + {others} active > {CAP}"
            );
        } else {
            assert!(
                gone.is_empty(),
                "step {k}: deleted without a roll: {gone:?}"
            );
        }
        if let Some(newest_gone) = gone.iter().max() {
            // The oldest went, across streams.
            let oldest_left = now.keys().filter_map(|n| rolled_of(n)).min().unwrap();
            assert!(
                *newest_gone < oldest_left,
                "step {k}: {newest_gone:?} deleted before {oldest_left:?}"
            );
            // No more than needed: without the last file it deleted, the
            // directory would have been over the cap. (The active files
            // have only grown since.)
            let room = CAP.saturating_sub(rolled_total + active_total);
            assert!(
                room < before[&newest_gone.name],
                "step {k}: {room} bytes free under the cap after deleting {newest_gone:?}"
            );
            deleted.extend(gone);
        }
        before = now;
    }
    assert!(deleted.len() > 20, "only {} deleted", deleted.len());
    for s in STREAMS {
        assert!(
            deleted.iter().any(|r| r.name.starts_with(&format!("{s}."))),
            "none of {s} deleted"
        );
        assert!(
            !rolled(dir, s).is_empty(),
            "every {s} file deleted: {:?}",
            sizes(dir, &STREAMS)
        );
    }
    drop(guard);

    let report = verify(&stream_paths(dir, &STREAMS));
    assert!(report.is_clean(), "{report}");
    for s in &report.streams {
        assert!(s.starts_after > 0, "{report}");
    }
}

#[test]
fn a_cap_smaller_than_one_file_deletes_every_rolled_file_but_never_the_active_one() {
    for policy in [
        Retention::keep_all().max_files(0),
        Retention::keep_all().max_total_bytes(1),
        Retention::keep_all().max_stream_bytes(1),
        Retention::keep_all()
            .max_files(0)
            .max_total_bytes(1)
            .max_stream_bytes(1),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (layer, guard) = writer(dir, policy.clone());
        // About seven files' worth.
        emit_app(&dispatch(layer), 0, 100);
        guard.flush(WAIT).unwrap();

        assert_eq!(rolled(dir, "app"), [], "{policy:?}");
        let active = dir.join("app.log");
        assert!(active.exists(), "{policy:?}: the active file was deleted");
        // It rolled (the active file holds a later segment), and what is
        // left are the newest events, up to the last one.
        assert!(segment_of(&active) > 1, "{policy:?}: never rolled");
        let is: Vec<u64> = records(&active)
            .iter()
            .filter(|r| r["target"] != "evtrail")
            .map(|r| r["fields"]["i"].as_u64().unwrap())
            .collect();
        assert!(!is.is_empty(), "{policy:?}");
        let first = is[0];
        assert_eq!(is, (first..100).collect::<Vec<_>>(), "{policy:?}");
        drop(guard);

        assert_eq!(rolled(dir, "app"), [], "{policy:?}");
        let report = verify(&[dir.to_path_buf()]);
        assert!(report.is_clean(), "{policy:?}: {report}");
        let app = report.streams.iter().find(|s| s.stream == "app").unwrap();
        assert!(app.starts_after > 0, "{policy:?}: {report}");
    }
}
