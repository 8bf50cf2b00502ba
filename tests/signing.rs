//! The writer's side of signing: segments across restarts and crashes, seals,
//! key rotation, and a chain written from the specification alone.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{WAIT, assert_one_tamper, dispatch, files_starting_with};
use evtrail::verify::{FindingKind, Report, Verifier};
use evtrail::{Key, Keyring, Overflow};

fn key_a() -> Key {
    Key::from_bytes(vec![0xa1; 32]).unwrap()
}

fn key_b() -> Key {
    Key::from_bytes(vec![0xb2; 32]).unwrap()
}

/// A writer whose rolled files stay plain text, so these tests can read
/// them directly (compression is tested on its own).
fn writer(dir: &Path, key: Key) -> (evtrail::Layer, evtrail::Guard) {
    evtrail::builder()
        .service("signing")
        .key(key)
        .log_dir(dir)
        .file_options(evtrail::FileOptions::default().compression(None))
        .overflow(Overflow::Block)
        .build()
        .unwrap()
}

fn emit(layer: evtrail::Layer, guard: &evtrail::Guard, n: u64) {
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for i in 0..n {
            tracing::info!(i, "event");
        }
    });
    guard.flush(WAIT).unwrap();
}

fn verify(dir: &Path, keys: Keyring) -> Report {
    Verifier::new(keys).verify_paths(&[dir]).unwrap()
}

fn app_records(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for f in files_starting_with(dir, "app.") {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                out.push(v);
            }
        }
    }
    out.sort_by_key(|v| v["seq"].as_u64());
    out
}

/// The newest `evtrail.segment_start` record of stream `app` in `dir`.
fn last_segment_start(dir: &Path) -> serde_json::Value {
    app_records(dir)
        .into_iter()
        .rev()
        .find(|r| r["event"] == "evtrail.segment_start")
        .unwrap()
}

#[test]
fn a_restart_continues_the_chain_in_a_new_segment() {
    let tmp = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let (layer, guard) = writer(tmp.path(), key_a());
        emit(layer, &guard, 50);
    }
    let report = verify(tmp.path(), Keyring::new().with(key_a()));
    assert!(report.findings.is_empty(), "{report}");
    let app = &report.streams[0];
    assert_eq!(
        (app.files, app.first_seq, app.verified),
        (3, Some(1), app.records)
    );
    let recs = app_records(tmp.path());
    let starts: Vec<_> = recs
        .iter()
        .filter(|r| r["event"] == "evtrail.segment_start")
        .collect();
    assert_eq!(starts.len(), 3);
    assert_eq!(starts[0]["fields"]["prev_end"], "none");
    assert_eq!(starts[1]["fields"]["prev_end"], "clean");
    assert_eq!(starts[2]["fields"]["segment"], 3);
    let ends: Vec<_> = recs
        .iter()
        .filter(|r| r["event"] == "evtrail.segment_end")
        .collect();
    assert_eq!(ends.len(), 3);
    assert_eq!(ends[0]["fields"]["reason"], "shutdown");
    assert_eq!(ends[0]["fields"]["count"], 52, "start + 50 events + end");
}

/// Run as a child process by the crash test: writes until it is killed.
#[test]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os("EVTRAIL_CRASH_CHILD_DIR") else {
        return; // only meaningful as the crash test's child
    };
    let (layer, guard) = writer(Path::new(&dir), key_a());
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for i in 0u64.. {
            tracing::info!(i, "written until killed");
            if i % 64 == 0 {
                let _ = guard.flush(WAIT);
            }
        }
    });
}

#[cfg(unix)]
#[test]
fn a_writer_killed_mid_write_resumes_and_the_crash_is_declared_not_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("EVTRAIL_CRASH_CHILD_DIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while std::fs::read(&log).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) < 2_000 {
        assert!(Instant::now() < deadline, "the child wrote too little");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no segment end
    child.wait().unwrap();
    // A write torn in the middle, as a kill during write(2) leaves it.
    let torn = br#"{"v":1,"stream":"app","seq":99999,"ts":"2026-11"#;
    let mut data = std::fs::read(&log).unwrap();
    let natural_torn = data.len() - data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    data.extend_from_slice(torn);
    std::fs::write(&log, &data).unwrap();
    let size_before = data.len() as u64;

    let (layer, guard) = writer(tmp.path(), key_a());
    emit(layer, &guard, 10);
    drop(guard);

    // The crashed file was kept as it was, only renamed.
    let rolled = files_starting_with(tmp.path(), "app.2");
    assert_eq!(rolled.len(), 1);
    assert_eq!(std::fs::metadata(&rolled[0]).unwrap().len(), size_before);

    let report = verify(tmp.path(), Keyring::new().with(key_a()));
    assert!(report.is_clean(), "{report}");
    let crashes: Vec<_> = report.of_kind(FindingKind::CrashRecovered).collect();
    assert_eq!(crashes.len(), 1, "{report}");
    assert!(
        crashes[0]
            .detail
            .contains(&format!("{} bytes", natural_torn + torn.len())),
        "{report}"
    );
    let app = report.streams.iter().find(|s| s.stream == "app").unwrap();
    assert_eq!(
        app.verified, app.records,
        "everything before and after the crash verifies"
    );
    let header = last_segment_start(tmp.path());
    assert_eq!(header["fields"]["prev_end"], "crash");
    assert_eq!(
        header["fields"]["torn_bytes"],
        (natural_torn + torn.len()) as u64
    );
}

#[test]
fn files_that_vanished_are_declared_missing_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, guard) = writer(tmp.path(), key_a());
    emit(layer, &guard, 20);
    guard.rotate().unwrap();
    drop(guard);
    // The newest segment disappears while the writer is down.
    std::fs::remove_file(tmp.path().join("app.log")).unwrap();
    let (layer, guard) = writer(tmp.path(), key_a());
    emit(layer, &guard, 5);
    drop(guard);
    let header = last_segment_start(tmp.path());
    assert_eq!(header["fields"]["prev_end"], "missing");
    let report = verify(tmp.path(), Keyring::new().with(key_a()));
    assert_one_tamper(&report, FindingKind::MissingSegment);
}

#[test]
fn key_rotation_keeps_the_chain_and_a_missing_key_is_unverifiable_not_tampered() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, guard) = writer(tmp.path(), key_a());
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || (0..40).for_each(|i| tracing::info!(i, "old key")));
    guard.rotate_key(key_b()).unwrap();
    tracing::dispatcher::with_default(&d, || (0..60).for_each(|i| tracing::info!(i, "new key")));
    drop(guard);

    let recs = app_records(tmp.path());
    let rotated: Vec<_> = recs
        .iter()
        .filter(|r| r["event"] == "evtrail.key_rotated")
        .collect();
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0]["fields"]["new_kid"], key_b().id());
    assert_eq!(
        rotated[0]["kid"],
        key_a().id(),
        "announced under the old key"
    );
    assert!(
        recs.iter()
            .filter(|r| r["msg"] == "new key")
            .all(|r| r["kid"] == key_b().id())
    );

    let both = verify(tmp.path(), Keyring::new().with(key_a()).with(key_b()));
    assert!(both.findings.is_empty(), "{both}");
    assert_eq!(both.streams[0].verified, both.streams[0].records);

    let only_new = verify(tmp.path(), Keyring::new().with(key_b()));
    assert!(only_new.is_clean(), "{only_new}");
    let app = &only_new.streams[0];
    // The segment start, 40 events and the announcement used the old key.
    assert_eq!(app.unverifiable, 42, "{only_new}");
    assert_eq!(
        app.verified,
        app.records - 42,
        "the links after the unknown key are still checked"
    );
    assert_eq!(only_new.of_kind(FindingKind::UnknownKey).count(), 1);

    // Tampering after the unverifiable part is still found.
    let path = tmp.path().join("app.log");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "\"msg\":\"new key\",",
        "\"msg\":\"new kay\",",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let report = verify(tmp.path(), Keyring::new().with(key_b()));
    assert_eq!(report.of_kind(FindingKind::Modified).count(), 1, "{report}");
}

#[test]
fn seals_are_written_while_idle_and_exported_from_the_handle() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, guard) = evtrail::builder()
        .service("signing")
        .key(key_a())
        .log_dir(tmp.path())
        .seal_every(1_000_000, Duration::from_millis(40))
        .build()
        .unwrap();
    emit(layer, &guard, 1);
    let first = guard
        .seals()
        .into_iter()
        .find(|s| s.stream() == "app")
        .unwrap();
    // Nothing is emitted any more; seals keep coming.
    let deadline = Instant::now() + WAIT;
    loop {
        let now = guard
            .seals()
            .into_iter()
            .find(|s| s.stream() == "app")
            .unwrap();
        // The event, then two seals.
        if now.seq() >= first.seq() + 3 {
            break;
        }
        assert!(Instant::now() < deadline, "no seal while idle");
        std::thread::sleep(Duration::from_millis(10));
    }
    let anchor = guard.seals();
    drop(guard);
    let recs = app_records(tmp.path());
    assert!(recs.iter().filter(|r| r["event"] == "evtrail.seal").count() >= 2);
    let mut v = Verifier::new(Keyring::new().with(key_a()));
    for a in anchor {
        v = v.anchor(a);
    }
    let report = v.verify_paths(&[tmp.path()]).unwrap();
    assert!(report.findings.is_empty(), "{report}");
}

#[test]
fn a_seal_every_n_records_and_a_missing_one_is_noticed() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, guard) = evtrail::builder()
        .service("signing")
        .key(key_a())
        .log_dir(tmp.path())
        .overflow(Overflow::Block)
        .seal_every(25, Duration::from_secs(3600))
        .build()
        .unwrap();
    emit(layer, &guard, 100);
    drop(guard);
    let path = tmp.path().join("app.log");
    let lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let seals: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("\"evtrail.seal\""))
        .collect();
    assert_eq!(seals.len(), 4, "one seal per 25 records");
    let mut cut = lines.clone();
    cut.remove(seals[1]);
    std::fs::write(&path, cut.join("\n") + "\n").unwrap();
    let report = verify(tmp.path(), Keyring::new().with(key_a()));
    assert_eq!(report.of_kind(FindingKind::Deleted).count(), 1, "{report}");
    assert_eq!(
        report.of_kind(FindingKind::MissingSeal).count(),
        1,
        "{report}"
    );
}

/// Builds a chain with nothing but the published scheme (HMAC-SHA256,
/// the domain tags, the fixed suffix) and checks the verifier accepts it:
/// the specification is enough to write a compatible implementation.
fn spec_chain(secret: &[u8], kid: &str, bodies: &[String]) -> String {
    use hmac::{KeyInit, Mac};
    type H = hmac::Hmac<sha2::Sha256>;
    let mut k = <H as KeyInit>::new_from_slice(secret).unwrap();
    k.update(b"evtrail/v1 stream-key\0app");
    let stream_key = k.finalize().into_bytes();
    use base64::Engine as _;
    let mut prev = "A".repeat(43);
    let mut out = String::new();
    for body in bodies {
        let body = format!("{body},\"kid\":\"{kid}\"");
        let mut m = <H as KeyInit>::new_from_slice(&stream_key).unwrap();
        m.update(b"evtrail/v1 record\0");
        m.update(prev.as_bytes());
        m.update(body.as_bytes());
        prev = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
        out.push_str(&format!("{body},\"sig\":\"{prev}\"}}\n"));
    }
    out
}

fn spec_bodies(times: &[&str]) -> Vec<String> {
    let mut bodies = vec![format!(
        r#"{{"v":1,"stream":"app","seq":1,"ts":"{}","level":"INFO","class":"audit","event":"evtrail.segment_start","target":"evtrail","fields":{{"segment":1,"prev_segment":0,"prev_seq":0,"prev_sig":"{}","prev_end":"none","seal_records":1000,"seal_ms":60000}}"#,
        times[0],
        "A".repeat(43)
    )];
    for (i, ts) in times.iter().enumerate().skip(1) {
        bodies.push(format!(r#"{{"v":1,"stream":"app","seq":{},"ts":"{ts}","level":"INFO","class":"info","msg":"m{i}","target":"x""#, i + 1));
    }
    bodies
}

/// Writes `app.log` in `dir` as a chain built from the specification alone,
/// one record per entry of `times` (the first the segment start), and
/// verifies `dir` with the key it was signed with.
fn verify_spec_log(dir: &Path, times: &[&str]) -> Report {
    let secret = [0x42u8; 32];
    std::fs::write(
        dir.join("app.log"),
        spec_chain(&secret, "spec-1", &spec_bodies(times)),
    )
    .unwrap();
    let key = Key::from_bytes(secret.to_vec())
        .unwrap()
        .with_id("spec-1")
        .unwrap();
    verify(dir, Keyring::new().with(key))
}

#[test]
fn a_chain_written_from_the_specification_alone_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let report = verify_spec_log(
        tmp.path(),
        &[
            "2026-11-22T10:00:00.000000Z",
            "2026-11-22T10:00:01.000000Z",
            "2026-11-22T10:00:02.000000Z",
        ],
    );
    assert!(report.findings.is_empty(), "{report}");
    assert_eq!(report.streams[0].verified, 3);

    // Time going back by more than a second is reported (not as tampering).
    let report = verify_spec_log(
        tmp.path(),
        &[
            "2026-11-22T10:00:00.000000Z",
            "2026-11-22T10:00:05.000000Z",
            "2026-11-22T10:00:01.000000Z",
        ],
    );
    assert!(report.is_clean(), "{report}");
    let back: Vec<_> = report.of_kind(FindingKind::TimeBackwards).collect();
    assert_eq!(back.len(), 1, "{report}");
    assert_eq!((back[0].seq, back[0].location.line), (Some(3), 3));
}
