//! Rotation of a stream's file: by size under concurrent load, by time at
//! exact period boundaries (with a clock the test moves by hand), across a
//! daylight-saving change, and on demand with `Handle::rotate`.

mod common;

use common::ManualClock;

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::UNIX_EPOCH;

use common::{WAIT, dispatch, emit_from_threads};
use evtrail::read::rolled_file_name;
use evtrail::verify::Verifier;
use evtrail::{FileOptions, Key, Keyring, Overflow, Period, Rotation};
use serde::Deserialize;

const SEC: u64 = 1_000_000_000;
const MICRO: u64 = 1_000;
/// 2026-11-22T10:00:00Z.
const TEN_O_CLOCK: u64 = 1_795_341_600;

fn key() -> Key {
    Key::from_bytes(vec![0x5e; 32]).unwrap()
}

/// A record's `ts` for an instant: `YYYY-MM-DDThh:mm:ss.ffffffZ`.
fn ts(nanos: u64) -> String {
    let dt = time::OffsetDateTime::from_unix_timestamp((nanos / SEC) as i64).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        nanos % SEC / MICRO
    )
}

/// Whether `name` is the active or a rolled (plain or gzipped) file of `stream`.
fn is_stream_file(stream: &str, name: &str) -> bool {
    if name == format!("{stream}.log") {
        return true;
    }
    let Some(rest) = name.strip_prefix(stream).and_then(|r| r.strip_prefix('.')) else {
        return false;
    };
    let Some(rest) = rest
        .strip_suffix(".log.gz")
        .or_else(|| rest.strip_suffix(".log"))
    else {
        return false;
    };
    let Some((time, counter)) = rest.split_once('.') else {
        return false;
    };
    time.len() == 20
        && time.ends_with('Z')
        && !counter.is_empty()
        && counter.bytes().all(|b| b.is_ascii_digit())
}

/// The decompressed bytes of a log file (`.gz` read as multi-member gzip).
fn read_bytes(path: &Path) -> Vec<u8> {
    let raw = fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out
    } else {
        raw
    }
}

/// The fields of a record these tests look at.
#[derive(Debug, Deserialize)]
struct Rec {
    seq: u64,
    ts: String,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    fields: Fields,
}

#[derive(Debug, Default, Deserialize)]
struct Fields {
    t: Option<u64>,
    i: Option<u64>,
    n: Option<u64>,
    reason: Option<String>,
}

impl Rec {
    fn is_user(&self) -> bool {
        self.target.as_deref() != Some("evtrail")
    }
    fn is(&self, event: &str) -> bool {
        self.event.as_deref() == Some(event)
    }
}

/// The `n` field of each application record in a file.
fn user_ns(f: &File) -> Vec<u64> {
    f.recs
        .iter()
        .filter(|r| r.is_user())
        .filter_map(|r| r.fields.n)
        .collect()
}

/// One file of a stream, read back.
struct File {
    name: String,
    /// Decompressed size.
    bytes: u64,
    lines: Vec<Vec<u8>>,
    recs: Vec<Rec>,
}

/// Every file of `stream` in `dir`, in stream order: by the `seq` of
/// their first record, not by name.
fn stream_files(dir: &Path, stream: &str) -> Vec<File> {
    let mut files: Vec<File> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| is_stream_file(stream, n))
        .map(|name| {
            let data = read_bytes(&dir.join(&name));
            assert!(
                data.is_empty() || data.ends_with(b"\n"),
                "{name} ends mid-line"
            );
            let lines: Vec<Vec<u8>> = data
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            let recs = lines
                .iter()
                .map(|l| {
                    serde_json::from_slice(l).unwrap_or_else(|e| {
                        panic!("{name}: not a record ({e}): {}", String::from_utf8_lossy(l))
                    })
                })
                .collect();
            File {
                name,
                bytes: data.len() as u64,
                lines,
                recs,
            }
        })
        .collect();
    files.retain(|f| !f.recs.is_empty());
    files.sort_by_key(|f| f.recs[0].seq);
    files
}

fn names(files: &[File]) -> Vec<&str> {
    files.iter().map(|f| f.name.as_str()).collect()
}

/// Asserts that the stream's `seq` runs from 1 without a gap or repeat
/// through the files in order.
fn assert_seq_gap_free(files: &[File]) {
    let mut expected = 1;
    for f in files {
        for r in &f.recs {
            assert_eq!(r.seq, expected, "{}: seq out of line", f.name);
            expected += 1;
        }
    }
}

fn assert_verifies(dir: &Path) -> evtrail::verify::Report {
    let report = Verifier::new(Keyring::new().with(key()))
        .verify_paths(&[dir])
        .unwrap();
    assert!(report.is_clean(), "{report}");
    for s in &report.streams {
        assert_eq!(s.verified, s.records, "{report}");
        assert_eq!(s.unverifiable, 0, "{report}");
    }
    report
}

// ---------------------------------------------------------------------------
// By size, under load
// ---------------------------------------------------------------------------

#[test]
fn size_rotation_under_four_writing_threads_keeps_every_event_once_in_order_and_verifies() {
    const MAX: u64 = 1 << 20;
    const THREADS: u64 = 4;
    // 4 x 250,000 events fill ~370 files of 1 MiB. A debug build (what CI
    // runs) signs, gzips and reads that back in 75-110 s on 2 cores
    // (measured), so debug builds write 4 x 50,000 (~74 files, ~22 s); a
    // release build (`cargo test --release`) writes the full million.
    let per_thread: u64 = if cfg!(debug_assertions) {
        50_000
    } else {
        250_000
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    let (layer, guard) = evtrail::builder()
        .service("rotation")
        .key(key())
        .log_dir(&dir)
        .overflow(Overflow::Block)
        .rotation(Rotation::default().max_bytes(MAX))
        .build()
        .unwrap();
    let d = dispatch(layer);
    emit_from_threads(&d, THREADS, per_thread, |t, i| tracing::info!(t, i, "load"));
    assert_eq!(guard.stats().dropped, 0);
    drop(guard); // drains, closes the segment, waits for queued compression

    let files = stream_files(&dir, "app");
    let expected_files = THREADS * per_thread * 300 / MAX; // events are > 300 bytes
    assert!(
        files.len() as u64 > expected_files,
        "only {} files: {:?}",
        files.len(),
        names(&files)
    );
    assert_eq!(files.last().unwrap().name, "app.log", "{:?}", names(&files));
    // Rolled files are gzipped in the background; shutdown waits 2 s for
    // the queue, and what is left stays plain until the next start (both
    // are read back above).
    let gz = files.iter().filter(|f| f.name.ends_with(".log.gz")).count();
    eprintln!("{} files, {gz} gzipped", files.len());

    // Every event once, each thread's in the order it emitted them.
    assert_seq_gap_free(&files);
    let mut next_i = vec![0u64; THREADS as usize];
    let mut seen = HashSet::new();
    for f in &files {
        for r in f.recs.iter().filter(|r| r.is_user()) {
            let (t, i) = (r.fields.t.unwrap(), r.fields.i.unwrap());
            assert!(seen.insert((t, i)), "({t}, {i}) twice");
            assert_eq!(
                i, next_i[t as usize],
                "thread {t} out of order in {}",
                f.name
            );
            next_i[t as usize] += 1;
        }
    }
    assert_eq!(next_i, vec![per_thread; THREADS as usize]);
    assert_eq!(seen.len() as u64, THREADS * per_thread);

    // A file rolls as soon as it holds MAX bytes: what it reached MAX with
    // is its last event, and only the closing chain records (a seal, the
    // segment end) may follow it.
    for f in &files {
        let last_user = f.recs.iter().rposition(Rec::is_user);
        let Some(last_user) = last_user else { continue };
        let before: u64 = f.lines[..last_user]
            .iter()
            .map(|l| l.len() as u64 + 1)
            .sum();
        assert!(
            before < MAX,
            "{} went on after reaching {MAX} bytes ({before})",
            f.name
        );
        for r in &f.recs[last_user + 1..] {
            assert!(
                r.is("evtrail.seal") || r.is("evtrail.segment_end"),
                "{}: {r:?} after the last event",
                f.name
            );
        }
        let longest = f.lines.iter().map(|l| l.len() as u64 + 1).max().unwrap();
        let tail: u64 = f.lines[last_user + 1..]
            .iter()
            .map(|l| l.len() as u64 + 1)
            .sum();
        assert!(
            f.bytes < MAX + longest + tail,
            "{} is {} bytes: more than {MAX} + one line + its closing records",
            f.name,
            f.bytes
        );
    }

    let report = assert_verifies(&dir);
    let app = report.streams.iter().find(|s| s.stream == "app").unwrap();
    assert_eq!(app.files, files.len());
    let total: usize = files.iter().map(|f| f.recs.len()).sum();
    assert_eq!(app.records, total as u64);
    assert_eq!(app.starts_after, 0);
}

// ---------------------------------------------------------------------------
// By time, at exact boundaries
// ---------------------------------------------------------------------------

/// Emits events numbered `n` at the given instants, moving the clock to
/// each first and waiting until the worker has written it, and returns the
/// stream's files after shutdown.
fn write_at(
    dir: &Path,
    rotation: Rotation,
    signed: bool,
    start: u64,
    instants: &[u64],
) -> Vec<File> {
    let clock = ManualClock::at(start);
    let b = evtrail::builder()
        .service("rotation")
        .log_dir(dir)
        .overflow(Overflow::Block)
        .rotation(rotation)
        .clock(clock.clone())
        // Plain rolled files, so the names checked are the rolled names.
        .file_options(FileOptions::default().compression(None));
    let b = if signed { b.key(key()) } else { b.unsigned() };
    let (layer, guard) = b.build().unwrap();
    let d = dispatch(layer);
    for (n, &at) in instants.iter().enumerate() {
        clock.set(at);
        tracing::dispatcher::with_default(&d, || tracing::info!(n, "tick"));
        guard.flush(WAIT).unwrap();
    }
    drop(guard);
    stream_files(dir, "app")
}

/// The period boundaries `start`, `start + len`, … as instants in nanoseconds.
fn boundaries(start_secs: u64, len_secs: u64, n: u64) -> Vec<u64> {
    (0..n).map(|k| (start_secs + k * len_secs) * SEC).collect()
}

fn check_exact_boundaries(period: Period, len: u64, signed: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let b = boundaries(TEN_O_CLOCK, len, 4);
    let instants = [
        b[0] + len / 2 * SEC,
        b[1] - MICRO, // 10:00:59.999999 (or 10:59:59.999999)
        b[1],         // 10:01:00.000000 (or 11:00:00.000000)
        b[1] + MICRO,
        b[2] - MICRO,
        b[2],
        b[2] + len / 2 * SEC,
    ];
    let files = write_at(
        tmp.path(),
        Rotation::never().period(period),
        signed,
        b[0] + SEC,
        &instants,
    );
    // One file per period, each rolled file named after its roll: the
    // first instant of the next period.
    assert_eq!(
        names(&files),
        [
            rolled_file_name("app", b[1] / SEC, 1).as_str(),
            &rolled_file_name("app", b[2] / SEC, 2),
            "app.log"
        ]
    );
    let expect_n: [&[u64]; 3] = [&[0, 1], &[2, 3, 4], &[5, 6]];
    for (k, f) in files.iter().enumerate() {
        let (from, to) = (ts(b[k]), ts(b[k + 1]));
        let n: Vec<u64> = f
            .recs
            .iter()
            .filter(|r| r.is_user())
            .map(|r| r.fields.n.unwrap())
            .collect();
        assert_eq!(n, expect_n[k], "{}", f.name);
        for r in &f.recs {
            if r.is("evtrail.segment_end") && r.fields.reason.as_deref() == Some("rotate") {
                // The closing record is written at the roll: stamped with
                // the instant the file is named after.
                assert_eq!(r.ts, to, "{}: {r:?}", f.name);
            } else {
                assert!(
                    from <= r.ts && r.ts < to,
                    "{} holds a record of another period: {r:?}",
                    f.name
                );
            }
        }
        if signed {
            assert!(f.recs[0].is("evtrail.segment_start"), "{}", f.name);
        }
    }
    // (The instants are the ones meant: the last microsecond of the
    // period, as written in `ts`.)
    assert_eq!(
        ts(instants[1]),
        format!("{}59.999999Z", &ts(b[1] - SEC)[..17])
    );
    assert_seq_gap_free(&files);
    if signed {
        assert_verifies(tmp.path());
    }
}

#[test]
fn minutely_rotation_splits_exactly_at_the_minute_unsigned() {
    check_exact_boundaries(Period::Minutely, 60, false);
}

#[test]
fn minutely_rotation_splits_exactly_at_the_minute_signed() {
    check_exact_boundaries(Period::Minutely, 60, true);
}

#[test]
fn hourly_rotation_splits_exactly_at_the_hour_unsigned() {
    check_exact_boundaries(Period::Hourly, 3_600, false);
}

#[test]
fn hourly_rotation_splits_exactly_at_the_hour_signed() {
    check_exact_boundaries(Period::Hourly, 3_600, true);
}

#[test]
fn an_idle_period_leaves_no_empty_file_and_the_next_event_rolls_once() {
    // Nothing is written during 10:01 and 10:02: the 10:00 file rolls when
    // the 10:03 event comes, once, and no empty file appears for the gap.
    let tmp = tempfile::tempdir().unwrap();
    let b = boundaries(TEN_O_CLOCK, 60, 5);
    let files = write_at(
        tmp.path(),
        Rotation::never().period(Period::Minutely),
        false,
        b[0],
        &[b[0] + 5 * SEC, b[3] + 7 * SEC, b[3] + 8 * SEC],
    );
    assert_eq!(
        names(&files),
        [
            rolled_file_name("app", b[3] / SEC + 7, 1).as_str(),
            "app.log"
        ]
    );
    assert_eq!(files[0].recs.len(), 1);
    assert_eq!(files[1].recs.len(), 2);
}

/// A sink that, once armed, blocks its next write until released: holds
/// the worker still while the test queues records and moves the clock.
struct Gate {
    armed: Arc<std::sync::atomic::AtomicBool>,
    entered: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
}

impl evtrail::Sink for Gate {
    fn name(&self) -> &str {
        "gate"
    }
    fn write(&mut self, _: &evtrail::sink::Batch) -> Result<(), evtrail::sink::SinkError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            let _ = self.entered.send(());
            let _ = self.release.recv_timeout(WAIT);
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), evtrail::sink::SinkError> {
        Ok(())
    }
}

/// Records stamped in three consecutive minutes reach a worker that is
/// behind: it writes the second and third while the clock already shows
/// the third minute. Each must still land in the file of its own minute.
fn lagging_writer(signed: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let b = boundaries(TEN_O_CLOCK, 60, 4);
    let clock = ManualClock::at(b[0] + 30 * SEC);
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let builder = evtrail::builder()
        .service("rotation")
        .log_dir(tmp.path())
        .overflow(Overflow::Block)
        .rotation(Rotation::never().period(Period::Minutely))
        .clock(clock.clone())
        .file_options(FileOptions::default().compression(None))
        .add_sink(Gate {
            armed: armed.clone(),
            entered: entered_tx,
            release: release_rx,
        });
    let builder = if signed {
        builder.key(key())
    } else {
        builder.unsigned()
    };
    let (layer, guard) = builder.build().unwrap();
    let d = dispatch(layer);
    guard.flush(WAIT).unwrap();

    armed.store(true, Ordering::SeqCst);
    clock.set(b[1] - 100 * MICRO);
    tracing::dispatcher::with_default(&d, || tracing::info!(n = 0, "minute 0"));
    entered.recv_timeout(WAIT).unwrap(); // the worker is held
    clock.set(b[1] + 100 * MICRO);
    tracing::dispatcher::with_default(&d, || tracing::info!(n = 1, "minute 1"));
    clock.set(b[2] + 100 * MICRO);
    tracing::dispatcher::with_default(&d, || tracing::info!(n = 2, "minute 2"));
    clock.set(b[2] + 30 * SEC);
    release.send(()).unwrap();
    guard.flush(WAIT).unwrap();
    drop(guard);

    let files = stream_files(tmp.path(), "app");
    let per_file: Vec<Vec<u64>> = files.iter().map(user_ns).collect();
    assert_eq!(per_file, [vec![0], vec![1], vec![2]], "{:?}", names(&files));
    for (k, f) in files.iter().enumerate() {
        for r in f.recs.iter().filter(|r| r.is_user()) {
            assert!(ts(b[k]) <= r.ts && r.ts < ts(b[k + 1]), "{}: {r:?}", f.name);
        }
    }
    assert_seq_gap_free(&files);
    if signed {
        assert_verifies(tmp.path());
    }
}

#[test]
fn time_rotation_follows_record_timestamps_when_the_writer_lags_unsigned() {
    lagging_writer(false);
}

#[test]
fn time_rotation_follows_record_timestamps_when_the_writer_lags_signed() {
    lagging_writer(true);
}

// ---------------------------------------------------------------------------
// Across a daylight-saving change
// ---------------------------------------------------------------------------

/// 2026-10-25T01:00:00Z: local clocks go from 03:00 (UTC+2) back to 02:00
/// (UTC+1), so the local hour 02:00-03:00 happens twice.
const AUTUMN_SWITCH: u64 = 1_792_890_000;

/// Hourly rotation in local time, over the autumn change: one event at
/// five minutes past and one at fifty past every real hour, from three
/// hours before the switch to three hours after it.
fn daylight_saving_end(signed: bool) {
    const HOUR: u64 = 3_600;
    const HOURS: u64 = 7;
    let tmp = tempfile::tempdir().unwrap();
    let rotation = Rotation::never().period(Period::Hourly).local_offset(|t| {
        let s = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        if s < AUTUMN_SWITCH { 7_200 } else { 3_600 }
    });
    // The start of each real hour, in seconds: 22:00Z (local 00:00) on
    // the 24th to 04:00Z (local 05:00) on the 25th.
    let hours: Vec<u64> = (0..HOURS)
        .map(|k| AUTUMN_SWITCH - 3 * HOUR + k * HOUR)
        .collect();
    let instants: Vec<u64> = hours
        .iter()
        .flat_map(|&h| [(h + 5 * 60) * SEC, (h + 50 * 60) * SEC])
        .collect();
    let files = write_at(tmp.path(), rotation, signed, hours[0] * SEC, &instants);

    // One file per real hour: the local hour 02:00 that happens twice gives
    // two files, and no hour is merged with another or split.
    assert_eq!(files.len() as u64, HOURS, "{:?}", names(&files));
    let unique: BTreeSet<&str> = names(&files).into_iter().collect();
    assert_eq!(unique.len(), files.len(), "{:?}", names(&files));
    // Each file was rolled by the first event of the next hour, and is
    // named after it, in UTC.
    let expected: Vec<String> = (1..HOURS as usize)
        .map(|k| rolled_file_name("app", hours[k] + 5 * 60, k as u64))
        .chain(["app.log".to_owned()])
        .collect();
    assert_eq!(names(&files), expected);
    let mut firsts = Vec::new();
    for (k, f) in files.iter().enumerate() {
        let (from, to) = (ts(hours[k] * SEC), ts((hours[k] + HOUR) * SEC));
        let users: Vec<&Rec> = f.recs.iter().filter(|r| r.is_user()).collect();
        assert_eq!(users.len(), 2, "{}: {users:?}", f.name);
        for r in &users {
            assert!(
                from <= r.ts && r.ts < to,
                "{} holds a record of another hour: {r:?}",
                f.name
            );
        }
        firsts.push(users[0].ts.clone());
        if signed {
            assert!(f.recs[0].is("evtrail.segment_start"), "{}", f.name);
        }
    }
    // Consecutive files begin exactly one real hour apart.
    let expected_firsts: Vec<String> = hours.iter().map(|&h| ts((h + 5 * 60) * SEC)).collect();
    assert_eq!(firsts, expected_firsts);

    // Nothing lost or repeated.
    let all: Vec<u64> = files.iter().flat_map(user_ns).collect();
    assert_eq!(all, (0..instants.len() as u64).collect::<Vec<_>>());
    assert_seq_gap_free(&files);
    if signed {
        assert_verifies(tmp.path());
    }
}

#[test]
fn daylight_saving_end_gives_one_file_per_real_hour_unsigned() {
    daylight_saving_end(false);
}

#[test]
fn daylight_saving_end_gives_one_file_per_real_hour_signed() {
    daylight_saving_end(true);
}

// ---------------------------------------------------------------------------
// On demand
// ---------------------------------------------------------------------------

#[test]
fn handle_rotate_rolls_the_file_even_when_nothing_follows_unsigned() {
    // `Handle::rotate` says it "closes every stream's current segment and
    // starts a new one (a file sink starts a new file). Returns once the
    // worker has done it." Unsigned, the roll is only noted and carried
    // out by the next record: after rotate() and a flush, the events are
    // still in `app.log` and nothing was rolled.
    let tmp = tempfile::tempdir().unwrap();
    let (layer, guard) = evtrail::builder()
        .service("rotation")
        .unsigned()
        .log_dir(tmp.path())
        .rotation(Rotation::never())
        .file_options(FileOptions::default().compression(None))
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || tracing::info!(n = 0, "only"));
    guard.flush(WAIT).unwrap();
    guard.rotate().unwrap();
    guard.flush(WAIT).unwrap();
    let rolled: Vec<PathBuf> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            is_stream_file("app", n) && n != "app.log"
        })
        .collect();
    assert_eq!(rolled.len(), 1, "nothing was rolled");
}

#[test]
fn handle_rotate_rolls_the_file_even_when_nothing_follows_signed() {
    // Signed, the rotate writes the old segment's end and the new one's
    // start at once: the event and the segment end go with the rolled
    // file, and the active file holds only the new segment's start.
    let tmp = tempfile::tempdir().unwrap();
    let (layer, guard) = evtrail::builder()
        .service("rotation")
        .key(key())
        .log_dir(tmp.path())
        .rotation(Rotation::never())
        .file_options(FileOptions::default().compression(None))
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || tracing::info!(n = 0, "only"));
    guard.flush(WAIT).unwrap();
    guard.rotate().unwrap();
    guard.flush(WAIT).unwrap();

    let files = stream_files(tmp.path(), "app");
    assert_eq!(files.len(), 2, "{:?}", names(&files));
    let (rolled, active) = (&files[0], &files[1]);
    assert_ne!(rolled.name, "app.log", "nothing was rolled");
    assert!(is_stream_file("app", &rolled.name), "{}", rolled.name);
    assert_eq!(user_ns(rolled), [0], "{}", rolled.name);
    assert!(
        rolled.recs[0].is("evtrail.segment_start"),
        "{}",
        rolled.name
    );
    let last = rolled.recs.last().unwrap();
    assert!(
        last.is("evtrail.segment_end") && last.fields.reason.as_deref() == Some("rotate"),
        "{}: {last:?}",
        rolled.name
    );
    assert_eq!(active.name, "app.log");
    assert_eq!(active.recs.len(), 1, "{:?}", active.recs);
    assert!(
        active.recs[0].is("evtrail.segment_start"),
        "{:?}",
        active.recs
    );
    assert_seq_gap_free(&files);
    drop(guard);
    assert_verifies(tmp.path());
}
