//! Gzip compression of rolled files: what becomes `.log.gz` and when, that
//! it reads back (with flate2 and with `zcat`) to exactly what was written,
//! switching it off at build time and at runtime, and recovery from a crash
//! in the middle of compressing.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{WAIT, dispatch, names_in, wait_until_compressed};
use evtrail::verify::Verifier;
use evtrail::{FileOptions, Key, Keyring, MemorySink, Overflow, Rotation};

fn key() -> Key {
    Key::from_bytes(vec![0xc0; 32]).unwrap()
}

/// A rolled file of stream `app`, from its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rolled {
    counter: u64,
    gzip: bool,
    name: String,
}

fn parse_rolled(name: &str) -> Option<Rolled> {
    let rest = name.strip_prefix("app.")?;
    let (rest, gzip) = match rest.strip_suffix(".log.gz") {
        Some(r) => (r, true),
        None => (rest.strip_suffix(".log")?, false),
    };
    let (time, counter) = rest.split_once('.')?;
    if time.len() != 20 || !time.ends_with('Z') {
        return None;
    }
    Some(Rolled {
        counter: counter.parse().ok()?,
        gzip,
        name: name.to_owned(),
    })
}

/// The rolled files of `app`, by counter.
fn rolled(dir: &Path) -> Vec<Rolled> {
    let mut r: Vec<Rolled> = names_in(dir)
        .iter()
        .filter_map(|n| parse_rolled(n))
        .collect();
    r.sort();
    r
}

fn gunzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A log file's text, decompressed when it is a `.gz`.
fn read_log(path: &Path) -> Vec<u8> {
    let raw = fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        gunzip(&raw).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    } else {
        raw
    }
}

/// `zcat <path>`, or `None` (with a message) when there is no `zcat`.
fn zcat(path: &Path) -> Option<Vec<u8>> {
    match std::process::Command::new("zcat").arg(path).output() {
        Ok(out) => {
            assert!(out.status.success(), "zcat {}: {:?}", path.display(), out);
            Some(out.stdout)
        }
        Err(e) => {
            eprintln!("skipped: zcat check ({e}): no `zcat` on PATH");
            None
        }
    }
}

/// A signed writer with a rotation that only `Handle::rotate` triggers.
fn writer(
    dir: &Path,
    compression: Option<u32>,
    witness: Option<MemorySink>,
) -> (evtrail::Layer, evtrail::Guard) {
    let mut b = evtrail::builder()
        .service("compression")
        .key(key())
        .log_dir(dir)
        .overflow(Overflow::Block)
        .rotation(Rotation::never())
        .file_options(FileOptions::default().compression(compression));
    if let Some(w) = witness {
        b = b.add_sink(w);
    }
    b.build().unwrap()
}

/// Writes `segments` segments of `per` events each, rotating in between.
fn write_segments(d: &tracing::Dispatch, guard: &evtrail::Guard, segments: u64, per: u64) {
    for s in 0..segments {
        tracing::dispatcher::with_default(d, || {
            for i in 0..per {
                tracing::info!(s, i, "event {i} of segment {s}");
            }
        });
        guard.rotate().unwrap();
    }
}

#[test]
fn rolled_files_become_gzip_that_reads_back_to_exactly_the_lines_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let witness = MemorySink::new();
    let (layer, guard) = writer(dir, Some(6), Some(witness.clone()));
    let d = dispatch(layer);
    write_segments(&d, &guard, 4, 300);
    tracing::dispatcher::with_default(&d, || tracing::info!("in the active file"));
    guard.flush(WAIT).unwrap();
    wait_until_compressed(dir);

    let rolled = rolled(dir);
    assert_eq!(rolled.len(), 4, "{rolled:?}");
    assert!(rolled.iter().all(|r| r.gzip), "{rolled:?}");
    assert!(
        !names_in(dir)
            .iter()
            .any(|n| n.ends_with(".log") && parse_rolled(n).is_some())
    );

    // The active file stays plain text.
    let active = fs::read(dir.join("app.log")).unwrap();
    assert_ne!(&active[..2], b"\x1f\x8b", "the active file is gzipped");
    assert!(std::str::from_utf8(&active).unwrap().ends_with("\"}\n"));

    // Rolled files (in order) and then the active file hold exactly the
    // lines every sink was given, byte for byte.
    let mut on_disk = Vec::new();
    for r in &rolled {
        let path = dir.join(&r.name);
        let data = read_log(&path);
        if let Some(z) = zcat(&path) {
            assert_eq!(z, data, "zcat and flate2 disagree on {}", r.name);
        }
        on_disk.extend_from_slice(&data);
    }
    on_disk.extend_from_slice(&active);
    let mut expected = witness.lines().join("\n");
    expected.push('\n');
    assert_eq!(String::from_utf8(on_disk).unwrap(), expected);
    drop(guard);

    let report = Verifier::new(Keyring::new().with(key()))
        .verify_paths(&[dir])
        .unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.streams[0].verified, report.streams[0].records);
}

#[test]
fn dropping_the_guard_waits_for_queued_compressions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (layer, guard) = writer(dir, Some(9), None);
    write_segments(&dispatch(layer), &guard, 6, 500);
    drop(guard);
    let rolled = rolled(dir);
    assert_eq!(rolled.len(), 6);
    assert!(rolled.iter().all(|r| r.gzip), "{rolled:?}");
    assert!(!names_in(dir).iter().any(|n| n.ends_with(".tmp")));
}

/// With no wait for compression at close, the guard leaves whatever was
/// still queued as complete plain files (never a `.gz.tmp`), the log
/// verifies as it is, and the next start compresses what was left.
#[test]
fn a_zero_compression_wait_leaves_complete_files_that_the_next_start_compresses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let build = |wait: Duration| {
        evtrail::builder()
            .service("compression")
            .key(key())
            .log_dir(dir)
            .overflow(Overflow::Block)
            .rotation(Rotation::never())
            .file_options(
                FileOptions::default()
                    .compression(Some(9))
                    .compression_wait(wait),
            )
            .build()
            .unwrap()
    };
    let (layer, guard) = build(Duration::ZERO);
    write_segments(&dispatch(layer), &guard, 8, 2_000);
    drop(guard);
    assert!(
        !names_in(dir).iter().any(|n| n.ends_with(".tmp")),
        "{:?}",
        names_in(dir)
    );
    let rolled_now = rolled(dir);
    assert_eq!(rolled_now.len(), 8, "{rolled_now:?}");
    let plain = rolled_now.iter().filter(|r| !r.gzip).count();
    eprintln!("{plain} of 8 rolled files left plain at close");
    let verify = || {
        Verifier::new(Keyring::new().with(key()))
            .verify_paths(&[dir])
            .unwrap()
    };
    let report = verify();
    assert!(report.is_clean(), "{report}");
    let records = report.streams[0].records;

    // The next start (with the default wait) compresses what was left.
    let (_layer, guard) = build(evtrail::DEFAULT_COMPRESSION_WAIT);
    wait_until_compressed(dir);
    drop(guard);
    let rolled_later = rolled(dir);
    assert!(rolled_later.iter().all(|r| r.gzip), "{rolled_later:?}");
    let report = verify();
    assert!(report.is_clean(), "{report}");
    assert!(report.streams[0].records >= records);
}

#[test]
fn compression_none_leaves_rolled_files_plain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (layer, guard) = writer(dir, None, None);
    write_segments(&dispatch(layer), &guard, 3, 100);
    drop(guard);
    let rolled = rolled(dir);
    assert_eq!(rolled.len(), 3);
    for r in &rolled {
        assert!(!r.gzip, "{}", r.name);
        let text = String::from_utf8(fs::read(dir.join(&r.name)).unwrap()).unwrap();
        assert!(text.starts_with('{') && text.ends_with("}\n"), "{}", r.name);
    }
    assert!(
        !names_in(dir)
            .iter()
            .any(|n| n.ends_with(".gz") || n.ends_with(".tmp"))
    );
}

#[test]
fn set_compression_at_runtime_applies_from_the_next_roll() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (layer, guard) = writer(dir, Some(6), None);
    let d = dispatch(layer);
    write_segments(&d, &guard, 2, 100);
    guard.flush(WAIT).unwrap();
    wait_until_compressed(dir);

    guard.log_files().unwrap().set_compression(None);
    write_segments(&d, &guard, 2, 100);
    guard.flush(WAIT).unwrap();
    let gz: Vec<bool> = rolled(dir).iter().map(|r| r.gzip).collect();
    assert_eq!(gz, [true, true, false, false]);

    // Switched on again, the next roll also picks up what was left plain.
    guard.log_files().unwrap().set_compression(Some(1));
    write_segments(&d, &guard, 1, 100);
    guard.flush(WAIT).unwrap();
    wait_until_compressed(dir);
    drop(guard);
    let rolled = rolled(dir);
    assert_eq!(rolled.len(), 5);
    assert!(rolled.iter().all(|r| r.gzip), "{rolled:?}");
    let report = Verifier::new(Keyring::new().with(key()))
        .verify_paths(&[dir])
        .unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
fn compression_set_off_at_runtime_stays_off_through_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (layer, guard) = writer(dir, Some(6), None);
    guard.log_files().unwrap().set_compression(None);
    write_segments(&dispatch(layer), &guard, 3, 100);
    drop(guard);
    assert!(rolled(dir).iter().all(|r| !r.gzip), "{:?}", rolled(dir));
}

// ---------------------------------------------------------------------------
// A crash in the middle of compressing
// ---------------------------------------------------------------------------

/// What a crash while compressing rolled file `X.log` can leave beside it.
#[derive(Clone, Copy, Debug)]
enum CrashState {
    /// Killed while writing the compressed copy: `X.log.gz.tmp`, partial.
    TmpLeftOver,
    /// Killed after the rename, before deleting the original: a complete
    /// `X.log.gz` beside `X.log`.
    CompleteGzBesideOriginal,
    /// A `X.log.gz` that is cut short (its data never reached the disk)
    /// beside `X.log`.
    TruncatedGzBesideOriginal,
}

/// The `seq` of every line in the directory's `app` files, with the file
/// each came from.
fn seqs(dir: &Path) -> BTreeMap<u64, Vec<String>> {
    let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for name in names_in(dir) {
        if name != "app.log" && parse_rolled(&name).is_none() {
            continue;
        }
        let data = read_log(&dir.join(&name));
        for line in String::from_utf8(data).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            out.entry(v["seq"].as_u64().unwrap())
                .or_default()
                .push(name.clone());
        }
    }
    out
}

fn crash_during_compression(state: CrashState) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A previous run: three rolled segments, left plain.
    {
        let (layer, guard) = writer(dir, None, None);
        write_segments(&dispatch(layer), &guard, 3, 200);
    }
    let before = rolled(dir);
    assert_eq!(before.len(), 3);
    let lines_before: Vec<u64> = seqs(dir).keys().copied().collect();

    // The middle one was being compressed when the process died.
    let victim = dir.join(&before[1].name);
    let original = fs::read(&victim).unwrap();
    let full = gzip(&original);
    let gz_path = PathBuf::from(format!("{}.gz", victim.display()));
    match state {
        CrashState::TmpLeftOver => {
            fs::write(
                format!("{}.gz.tmp", victim.display()),
                &full[..full.len() / 2],
            )
            .unwrap();
        }
        CrashState::CompleteGzBesideOriginal => fs::write(&gz_path, &full).unwrap(),
        CrashState::TruncatedGzBesideOriginal => {
            fs::write(&gz_path, &full[..full.len() / 2]).unwrap();
        }
    }

    // The next run settles it.
    let (layer, guard) = writer(dir, Some(6), None);
    tracing::dispatcher::with_default(&dispatch(layer), || tracing::info!("after the crash"));
    guard.flush(WAIT).unwrap();
    wait_until_compressed(dir);
    drop(guard);

    let names = names_in(dir);
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    // Exactly one copy of each segment, all compressed.
    let after = rolled(dir);
    let counters: Vec<u64> = after.iter().map(|r| r.counter).collect();
    assert_eq!(counters, [1, 2, 3, 4], "{names:?}");
    assert!(after.iter().all(|r| r.gzip), "{names:?}");
    assert_eq!(read_log(&gz_path), original, "the victim's data changed");
    // No record lost, none twice.
    let seqs = seqs(dir);
    for (seq, files) in &seqs {
        assert_eq!(files.len(), 1, "seq {seq} is in {files:?}");
    }
    let all: Vec<u64> = seqs.keys().copied().collect();
    assert_eq!(all, (1..=all.len() as u64).collect::<Vec<_>>());
    assert!(lines_before.iter().all(|s| seqs.contains_key(s)));

    let report = Verifier::new(Keyring::new().with(key()))
        .verify_paths(&[dir])
        .unwrap();
    assert!(report.is_clean(), "{state:?}: {report}");
    assert_eq!(report.streams[0].verified, report.streams[0].records);
    assert_eq!(report.streams[0].starts_after, 0);
}

#[test]
fn a_crash_leaving_a_partial_gz_tmp_is_cleaned_up_and_the_segment_compressed_once() {
    crash_during_compression(CrashState::TmpLeftOver);
}

#[test]
fn a_crash_leaving_a_complete_gz_beside_the_original_keeps_one_copy() {
    crash_during_compression(CrashState::CompleteGzBesideOriginal);
}

#[test]
fn a_crash_leaving_a_truncated_gz_beside_the_original_keeps_the_original_data() {
    crash_during_compression(CrashState::TruncatedGzBesideOriginal);
}
