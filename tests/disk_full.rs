//! A full disk under the file sink: the application keeps running, the
//! failure is counted and reported, what does not fit in the retry buffer
//! is dropped and counted (evtrail's own notices never are), writing
//! resumes on its own once there is room, and the verifier shows exactly
//! the records that were lost, as a loss the log explains itself.
//!
//! Needs root (to mount a small tmpfs); otherwise the test says why it was
//! skipped and passes.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{WAIT, dispatch, events, flush_until_clean, parse};
use evtrail::verify::{FindingKind, Verifier};
use evtrail::{ErrorKind, Key, Keyring, MemorySink, Overflow, Rotation};

const RETRY_BUFFER: usize = 64 * 1024;

fn key() -> Key {
    Key::from_bytes(vec![0xd1; 32]).unwrap()
}

/// A mounted tmpfs, unmounted (lazily, so a file still open cannot stop
/// it) when dropped, also when an assertion fails.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> Result<(), String> {
    let status = fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .ok_or("no effective uid in /proc/self/status")?;
    if uid == "0" {
        Ok(())
    } else {
        Err(format!("running as uid {uid}"))
    }
}

fn mount_tmpfs(at: &Path, size: &str) -> Result<Tmpfs, String> {
    is_root()?;
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mount failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Tmpfs(at.to_path_buf()))
}

/// Writes `path` until the file system is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = fs::File::create(path).unwrap();
    let mut written = 0u64;
    for chunk in [64 * 1024, 4 * 1024, 1] {
        let buf = vec![b'x'; chunk];
        loop {
            match f.write(&buf) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) => {
                    assert_eq!(
                        e.raw_os_error(),
                        Some(28), // ENOSPC
                        "filling the tmpfs: {e}"
                    );
                    break;
                }
            }
        }
    }
    written
}

/// The number of records a `deleted` finding's detail says are missing:
/// "record 7 is missing" or "records 7..=9 (3) are missing".
fn missing_count(detail: &str) -> u64 {
    if let Some(rest) = detail.strip_prefix("records ") {
        let range = rest.split_whitespace().next().unwrap();
        let (a, b) = range.split_once("..=").unwrap();
        b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1
    } else {
        assert!(detail.starts_with("record "), "{detail}");
        1
    }
}

/// The `seq` of every line in the stream's files.
fn seqs_on_disk(dir: &Path) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        if !(name.starts_with("app.") && name.ends_with(".log")) {
            continue;
        }
        for line in fs::read_to_string(&path).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(out.insert(v["seq"].as_u64().unwrap()), "seq twice: {line}");
        }
    }
    out
}

#[test]
fn a_full_disk_drops_and_counts_what_does_not_fit_and_writing_resumes_when_space_is_freed() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let _mount = match mount_tmpfs(&mnt, "2m") {
        Ok(m) => m,
        Err(reason) => {
            println!("skipped: disk_full needs root to mount a tmpfs ({reason})");
            return;
        }
    };
    let logs = mnt.join("logs");
    let witness = MemorySink::new();
    let (layer, guard) = evtrail::builder()
        .service("disk-full")
        .key(key())
        .log_dir(&logs)
        .add_sink(witness.clone())
        .overflow(Overflow::Block)
        .rotation(Rotation::never())
        .retry_buffer_bytes(RETRY_BUFFER)
        .build()
        .unwrap();
    let d = dispatch(layer);
    let emit = |from: u64, n: u64| {
        tracing::dispatcher::with_default(&d, || {
            for i in from..from + n {
                tracing::info!(i, "event {i} with a little padding to take some room");
            }
        });
    };

    emit(0, 100);
    guard.flush(WAIT).unwrap();
    let filler = mnt.join("filler");
    assert!(fill(&filler) > 1024 * 1024);

    // Keep logging into the full disk. Every call returns; the file sink
    // fails and, once its backlog passes the retry buffer, drops the
    // oldest records and counts them.
    let mut next = 100;
    let deadline = Instant::now() + WAIT;
    loop {
        emit(next, 200);
        next += 200;
        match guard.flush(WAIT) {
            Ok(()) => {}
            Err(e) => assert_eq!(e.kind(), ErrorKind::Sink, "{e}"),
        }
        let s = &guard.stats().sinks[0];
        if !s.healthy && s.dropped > 0 && next >= 1_500 {
            break;
        }
        assert!(Instant::now() < deadline, "the disk never filled up: {s:?}");
    }
    let stats = guard.stats();
    let file = &stats.sinks[0];
    assert_eq!(file.name, "file");
    assert!(!file.healthy, "{file:?}");
    assert!(file.failures > 0, "{file:?}");
    assert!(file.dropped > 0, "{file:?}");
    assert!(file.pending > 0, "{file:?}");
    let memory = &stats.sinks[1];
    assert!(memory.healthy && memory.dropped == 0, "{memory:?}");
    assert_eq!(stats.dropped, 0, "nothing was lost at the hand-off");

    // Room again: the sink recovers on its own.
    fs::remove_file(&filler).unwrap();
    flush_until_clean(&guard);
    emit(next, 50);
    next += 50;
    guard.flush(WAIT).unwrap();
    let stats = guard.stats();
    let file = stats.sinks[0].clone();
    assert!(file.healthy, "{file:?}");
    assert_eq!(file.pending, 0, "{file:?}");
    let dropped = file.dropped;

    let seen = parse(&witness.lines());
    let failed = events(&seen, "evtrail.sink_failed");
    assert_eq!(failed.len(), 1, "one report per episode");
    assert_eq!(failed[0]["fields"]["sink"], "file");
    let recovered = events(&seen, "evtrail.sink_recovered");
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0]["fields"]["sink"], "file");
    let notices: u64 = events(&seen, "evtrail.dropped")
        .iter()
        .filter(|r| r["fields"]["sink"] == "file")
        .map(|r| r["fields"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(notices, dropped, "every drop is recorded");
    let user_events = seen.iter().filter(|r| r["fields"]["i"].is_u64()).count();
    assert_eq!(user_events as u64, next, "the memory sink got everything");
    drop(guard);

    // The file lacks exactly the dropped records; the verifier shows the gap.
    let on_disk = seqs_on_disk(&logs);
    let all: BTreeSet<u64> = seen.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    let missing: Vec<u64> = all.difference(&on_disk).copied().collect();
    assert_eq!(
        missing.len() as u64,
        dropped,
        "missing from the file: {missing:?}"
    );

    let report = Verifier::new(Keyring::new().with(key()))
        .verify_paths(&[&logs])
        .unwrap();
    // The signed drop notices name exactly what is missing: a loss the log
    // explains itself, not a deletion.
    let explained: Vec<_> = report.of_kind(FindingKind::ExplainedLoss).collect();
    assert!(!explained.is_empty(), "{report}");
    let reported: u64 = explained.iter().map(|f| missing_count(&f.detail)).sum();
    assert_eq!(reported, dropped, "{report}");
    assert_eq!(explained[0].seq, missing.first().copied(), "{report}");
    assert_eq!(report.of_kind(FindingKind::Deleted).count(), 0, "{report}");
    assert!(report.is_clean(), "{report}");
    // No notice of evtrail's was evicted with the records: each one the
    // memory sink got is in the file too.
    for r in seen.iter().filter(|r| {
        r["target"] == "evtrail" && r["event"] != "evtrail.push" && r["stream"] == "app"
    }) {
        let seq = r["seq"].as_u64().unwrap();
        assert!(on_disk.contains(&seq), "lost from the file: {r}");
    }
}
