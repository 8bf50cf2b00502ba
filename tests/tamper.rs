//! The verifier against a tamper matrix: every kind of edit to a signed log
//! is found, classified and located; the untouched log verifies clean.

mod common;
#[cfg(feature = "http")]
#[path = "support/http_server.rs"]
mod http_server;

use std::fs;
use std::path::{Path, PathBuf};

use common::{assert_one_tamper, assert_one_tamper_at, dispatch, file_lines, gzip_file};
use evtrail::verify::{FindingKind, Report, Verifier};
use evtrail::{Key, Keyring, Seal};

/// A signed log of several thousand records over four segments of stream
/// `app` (the two oldest gzipped) and one of stream `audit`.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    key: Key,
    /// The last seal of each stream, taken before shutdown.
    seals: Vec<Seal>,
}

fn key() -> Key {
    Key::from_bytes((0u8..32).collect::<Vec<_>>()).unwrap()
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    let key = key();
    let (layer, guard) = evtrail::builder()
        .service("tamper")
        .key(key.clone())
        .log_dir(&dir)
        // The fixture gzips the two oldest segments itself, deterministically.
        .file_options(evtrail::FileOptions::default().compression(None))
        .overflow(evtrail::Overflow::Block)
        .seal_every(500, std::time::Duration::from_secs(3600))
        .add_route(evtrail::Route::to("audit").class("audit"))
        .build()
        .unwrap();
    let d = dispatch(layer);
    for part in 0..4 {
        tracing::dispatcher::with_default(&d, || {
            for i in 0..1_000 {
                tracing::info!(part, i, user = "u1", "event {i}");
                if i % 100 == 0 {
                    tracing::info!(class = "audit", part, i, "audited");
                }
            }
        });
        if part < 3 {
            guard.rotate().unwrap();
        }
    }
    guard.flush(common::WAIT).unwrap();
    let seals = guard.seals();
    drop(guard);
    let mut rolled = app_files(&dir);
    rolled.pop(); // the active file stays plain
    for path in rolled.iter().take(2) {
        gzip_file(path);
    }
    Fixture {
        _tmp: tmp,
        dir,
        key,
        seals,
    }
}

/// The files of stream `app`, oldest first (by name; the active file last).
fn app_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.starts_with("app.") && n != "app.log"
        })
        .collect();
    files.sort();
    files.push(dir.join("app.log"));
    files
}

fn verify(f: &Fixture) -> Report {
    verify_with(f, Keyring::new().with(f.key.clone()), true)
}

fn verify_with(f: &Fixture, keys: Keyring, anchors: bool) -> Report {
    let mut v = Verifier::new(keys);
    if anchors {
        for s in &f.seals {
            v = v.anchor(s.clone());
        }
    }
    v.verify_paths(&[&f.dir]).unwrap()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    fs::write(path, s).unwrap();
}

#[test]
fn the_untouched_log_verifies_clean_across_segments_and_gzip() {
    let f = fixture();
    let report = verify(&f);
    assert!(report.is_clean(), "{report}");
    assert!(report.findings.is_empty(), "{report}");
    let app = report.streams.iter().find(|s| s.stream == "app").unwrap();
    assert_eq!(app.files, 4);
    assert_eq!(app.verified, app.records);
    assert_eq!(app.first_seq, Some(1));
    assert!(app.records > 4_000, "{report}");
    let audit = report.streams.iter().find(|s| s.stream == "audit").unwrap();
    assert_eq!(audit.verified, audit.records);
}

#[test]
fn an_edited_record_is_one_modified_finding_at_its_line() {
    let f = fixture();
    let path = f.dir.join("app.log");
    let mut l = file_lines(&path);
    l[10] = l[10].replace("\"user\":\"u1\"", "\"user\":\"u2\"");
    write_lines(&path, &l);
    let report = verify(&f);
    assert_one_tamper_at(&report, FindingKind::Modified, &path, 11);
}

#[test]
fn a_deleted_record_is_one_deleted_finding() {
    let f = fixture();
    let path = f.dir.join("app.log");
    let mut l = file_lines(&path);
    let gone: serde_json::Value = serde_json::from_str(&l[20]).unwrap();
    l.remove(20);
    write_lines(&path, &l);
    let report = verify(&f);
    assert_one_tamper_at(&report, FindingKind::Deleted, &path, 21);
    let d = report.of_kind(FindingKind::Deleted).next().unwrap();
    assert_eq!(d.seq, gone["seq"].as_u64());
}

#[test]
fn a_duplicated_record_is_one_duplicated_finding() {
    let f = fixture();
    let path = f.dir.join("app.log");
    let mut l = file_lines(&path);
    let copy = l[30].clone();
    l.insert(31, copy);
    write_lines(&path, &l);
    assert_one_tamper_at(&verify(&f), FindingKind::Duplicated, &path, 32);
    // Replayed much later, too.
    let mut l = file_lines(&path);
    l.remove(31);
    let copy = l[30].clone();
    l.insert(200, copy);
    write_lines(&path, &l);
    assert_one_tamper_at(&verify(&f), FindingKind::Duplicated, &path, 201);
}

#[test]
fn two_swapped_records_are_one_reordered_finding() {
    let f = fixture();
    let path = f.dir.join("app.log");
    let mut l = file_lines(&path);
    l.swap(40, 41);
    write_lines(&path, &l);
    assert_one_tamper_at(&verify(&f), FindingKind::Reordered, &path, 41);
}

#[test]
fn a_record_from_another_stream_or_key_is_an_inserted_finding() {
    let f = fixture();
    let path = f.dir.join("app.log");
    let audit_line = file_lines(&f.dir.join("audit.log"))[3].clone();
    let mut l = file_lines(&path);
    l.insert(50, audit_line);
    write_lines(&path, &l);
    assert_one_tamper_at(&verify(&f), FindingKind::Inserted, &path, 51);

    // A record of this stream, re-signed with the audit stream's key: it
    // must fail even though it claims the right stream and seq.
    let mut l = file_lines(&path);
    l.remove(50);
    let genuine = l[50].clone();
    let forged = forge(&genuine, "audit", &f.key);
    l.insert(50, forged);
    write_lines(&path, &l);
    assert_one_tamper_at(&verify(&f), FindingKind::Inserted, &path, 51);

    // Signed with another key altogether.
    let mut l = file_lines(&path);
    l[50] = forge(
        &genuine,
        "app",
        &Key::from_bytes(vec![9u8; 32])
            .unwrap()
            .with_id(f.key.id())
            .unwrap(),
    );
    write_lines(&path, &l);
    assert_one_tamper_at(&verify(&f), FindingKind::Inserted, &path, 51);
}

/// Re-signs `line`'s body with the stream key of `stream` under `key`,
/// chained to the first record's `prev` (the text of a zero tag): what a forger without the right
/// key could produce.
fn forge(line: &str, stream: &str, key: &Key) -> String {
    let body = &line[..line.len() - common::SIG_SUFFIX_LEN];
    evtrail_test_sign(body, stream, key)
}

fn evtrail_test_sign(body: &str, stream: &str, key: &Key) -> String {
    // The public scheme, computed independently of the library.
    use hmac::{KeyInit, Mac};
    type H = hmac::Hmac<sha2::Sha256>;
    let secret = hex::decode(key.to_hex()).unwrap();
    let mut k = <H as KeyInit>::new_from_slice(&secret).unwrap();
    k.update(b"evtrail/v1 stream-key\0");
    k.update(stream.as_bytes());
    let sk = k.finalize().into_bytes();
    let mut m = <H as KeyInit>::new_from_slice(&sk).unwrap();
    m.update(b"evtrail/v1 record\0");
    m.update(&[b'A'; 43]);
    m.update(body.as_bytes());
    format!(
        "{body},\"sig\":\"{}\"}}",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            m.finalize().into_bytes()
        )
    )
}

#[test]
fn a_cut_tail_is_found_against_the_exported_anchor() {
    let f = fixture();
    let path = f.dir.join("app.log");
    let mut l = file_lines(&path);
    let n = l.len();
    l.truncate(n - 5);
    write_lines(&path, &l);
    let report = verify(&f);
    assert_one_tamper(&report, FindingKind::TruncatedTail);
    // Without the anchor, a clean cut at a line boundary cannot be proved.
    assert!(verify_with(&f, Keyring::new().with(f.key.clone()), false).is_clean());
}

#[test]
fn a_deleted_middle_segment_is_one_missing_segment_finding() {
    let f = fixture();
    let files = app_files(&f.dir);
    let gone = files
        .iter()
        .find(|p| p.extension().unwrap() == "log" && p.file_name().unwrap() != "app.log")
        .unwrap()
        .clone();
    fs::remove_file(&gone).unwrap();
    let report = verify(&f);
    assert_one_tamper(&report, FindingKind::MissingSegment);
}

#[test]
fn swapped_segment_files_are_found() {
    let f = fixture();
    let files = app_files(&f.dir);
    let (a, b) = (&files[0], &files[1]);
    let tmp = f.dir.join("swap.tmp");
    fs::rename(a, &tmp).unwrap();
    fs::rename(b, a).unwrap();
    fs::rename(&tmp, b).unwrap();
    let report = verify(&f);
    assert_one_tamper(&report, FindingKind::SwappedSegment);
}

#[test]
fn an_edited_segment_header_is_one_modified_finding() {
    let f = fixture();
    let path = f.dir.join("app.log");
    let mut l = file_lines(&path);
    assert!(l[0].contains("evtrail.segment_start"));
    l[0] = l[0].replace("\"prev_end\":\"clean\"", "\"prev_end\":\"crash\"");
    write_lines(&path, &l);
    assert_one_tamper_at(&verify(&f), FindingKind::Modified, &path, 1);
}

// ---------------------------------------------------------------------------
// Blind spots: twins, key changes, removed files, the unanchored tail, empty
// files.

fn other_key() -> Key {
    Key::from_bytes((50u8..82).collect::<Vec<_>>()).unwrap()
}

/// One run of a writer over `dir`: `segments` segments of stream `app`
/// with `per_segment` events each, rolled files left plain.
fn small_run(dir: &Path, key: &Key, segments: usize, per_segment: usize, retention: Option<usize>) {
    let mut files = evtrail::FileOptions::default().compression(None);
    if let Some(n) = retention {
        files = files.retention(evtrail::Retention::keep_all().max_files(n));
    }
    let (layer, guard) = evtrail::builder()
        .service("tamper")
        .key(key.clone())
        .log_dir(dir)
        .file_options(files)
        .overflow(evtrail::Overflow::Block)
        .seal_every(1_000, std::time::Duration::from_secs(3600))
        .build()
        .unwrap();
    let d = dispatch(layer);
    for part in 0..segments {
        tracing::dispatcher::with_default(&d, || {
            for i in 0..per_segment {
                tracing::info!(part, i, "event {i}");
            }
        });
        if part + 1 < segments {
            guard.rotate().unwrap();
        }
    }
    guard.flush(common::WAIT).unwrap();
    // The last roll's removal records reach the file with this flush.
    guard.flush(common::WAIT).unwrap();
    drop(guard);
}

fn verify_dir(dir: &Path, keys: &[&Key]) -> Report {
    let mut ring = Keyring::new();
    for k in keys {
        ring = ring.with((*k).clone());
    }
    Verifier::new(ring).verify_paths(&[dir]).unwrap()
}

fn kinds(report: &Report) -> Vec<FindingKind> {
    report.findings.iter().map(|f| f.kind).collect()
}

#[test]
fn a_tampered_gzip_twin_beside_its_untouched_original_is_found_naming_both() {
    let f = fixture();
    let plain = app_files(&f.dir)
        .into_iter()
        .find(|p| p.extension().unwrap() == "log" && p.file_name().unwrap() != "app.log")
        .unwrap();
    // An identical copy, as an interrupted compression leaves it: clean.
    let data = fs::read(&plain).unwrap();
    let gz = PathBuf::from(format!("{}.gz", plain.display()));
    let write_gz = |bytes: &[u8]| {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(
            fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
    };
    write_gz(&data);
    let report = verify(&f);
    assert!(report.findings.is_empty(), "{report}");
    let app = report.streams.iter().find(|s| s.stream == "app").unwrap();
    assert_eq!(app.files, 5, "both copies are read: {report}");

    // The copy edited at line 7: found there, and the finding names both.
    let text = String::from_utf8(data.clone()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let edited = lines[6].replace("\"user\":\"u1\"", "\"user\":\"u9\"");
    lines[6] = &edited;
    write_gz(format!("{}\n", lines.join("\n")).as_bytes());
    let report = verify(&f);
    assert_one_tamper_at(&report, FindingKind::TwinMismatch, &gz, 7);
    let finding = &report
        .of_kind(FindingKind::TwinMismatch)
        .next()
        .unwrap()
        .detail;
    assert!(finding.contains(&*plain.to_string_lossy()), "{finding}");

    // The original edited, the copy genuine: the chain says which.
    write_gz(&data);
    fs::write(&plain, format!("{}\n", lines.join("\n"))).unwrap();
    let report = verify(&f);
    let tamper = common::tamper_findings(&report);
    assert_eq!(tamper.len(), 2, "{report}");
    assert_eq!(tamper[0].kind, FindingKind::Modified, "{report}");
    assert_eq!(
        (tamper[0].location.file.as_path(), tamper[0].location.line),
        (plain.as_path(), 7)
    );
    assert_eq!(tamper[1].kind, FindingKind::TwinMismatch, "{report}");
    assert_eq!(
        (tamper[1].location.file.as_path(), tamper[1].location.line),
        (gz.as_path(), 7)
    );
}

/// Two runs over one directory: the first signed with `key()`, the second
/// (a restart with a new key, no rotation record) with `other_key()`.
fn restarted_with_new_key() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    small_run(&dir, &key(), 1, 10, None);
    small_run(&dir, &other_key(), 1, 10, None);
    (tmp, dir)
}

#[test]
fn a_restart_with_a_new_key_is_unverifiable_not_modified_whichever_key_is_missing() {
    let (_tmp, dir) = restarted_with_new_key();
    let both = verify_dir(&dir, &[&key(), &other_key()]);
    assert!(both.findings.is_empty(), "{both}");
    for (given, missing) in [(key(), other_key()), (other_key(), key())] {
        let report = verify_dir(&dir, &[&given]);
        assert!(report.is_clean(), "{report}");
        assert_eq!(kinds(&report), [FindingKind::UnknownKey], "{report}");
        let unknown = report.of_kind(FindingKind::UnknownKey).next().unwrap();
        assert!(unknown.detail.contains(missing.id()), "{report}");
        // Each run is one segment of 12 records (start, 10 events, end).
        assert_eq!(report.unverified(), 12, "{report}");
        let first_of_missing = if missing.id() == key().id() { 1 } else { 13 };
        assert_eq!(unknown.seq, Some(first_of_missing), "{report}");
    }
}

#[test]
fn a_changed_kid_is_modified_not_unverifiable() {
    let (_tmp, dir) = restarted_with_new_key();
    let rolled = common::files_starting_with(&dir, "app.2")[0].clone();
    let mut l = file_lines(&rolled);
    l[4] = l[4].replace(key().id(), "kmadeup0000000000");
    write_lines(&rolled, &l);
    let report = verify_dir(&dir, &[&key(), &other_key()]);
    assert_one_tamper_at(&report, FindingKind::Modified, &rolled, 5);
    // Even when the id is changed to the other real key's.
    let mut l = file_lines(&rolled);
    l[4] = l[4].replace("kmadeup0000000000", other_key().id());
    write_lines(&rolled, &l);
    let report = verify_dir(&dir, &[&key(), &other_key()]);
    assert_one_tamper_at(&report, FindingKind::Modified, &rolled, 5);
}

#[test]
fn a_segment_start_with_an_unknown_key_must_still_link_to_the_previous_segment() {
    let (_tmp, dir) = restarted_with_new_key();
    let active = dir.join("app.log");
    let first = file_lines(&common::files_starting_with(&dir, "app.2")[0]);
    let mut l = file_lines(&active);
    // Re-signed by someone holding another key, linking to a record that is
    // not the previous one (here: the one before it).
    let before_last = &first[first.len() - 2];
    let wrong_prev = &before_last[before_last.len() - 45..][..43];
    let v: serde_json::Value = serde_json::from_str(&l[0]).unwrap();
    let prev_sig = v["fields"]["prev_sig"].as_str().unwrap().to_owned();
    let attacker = Key::from_bytes(vec![7u8; 32])
        .unwrap()
        .with_id("kattacker")
        .unwrap();
    let body = l[0][..l[0].len() - common::SIG_SUFFIX_LEN]
        .replace(&prev_sig, wrong_prev)
        .replace(other_key().id(), attacker.id());
    l[0] = sign_after(&body, "app", &attacker, wrong_prev);
    write_lines(&active, &l);
    let report = verify_dir(&dir, &[&key()]);
    assert_one_tamper_at(&report, FindingKind::Modified, &active, 1);
    assert!(report.findings[0].detail.contains("not given"), "{report}");
}

/// Signs `body` for `stream` with `key`, chained to `prev` (the spec's
/// scheme, computed independently of the library).
fn sign_after(body: &str, stream: &str, key: &Key, prev: &str) -> String {
    use hmac::{KeyInit, Mac};
    type H = hmac::Hmac<sha2::Sha256>;
    let secret = hex::decode(key.to_hex()).unwrap();
    let mut k = <H as KeyInit>::new_from_slice(&secret).unwrap();
    k.update(b"evtrail/v1 stream-key\0");
    k.update(stream.as_bytes());
    let sk = k.finalize().into_bytes();
    let mut m = <H as KeyInit>::new_from_slice(&sk).unwrap();
    m.update(b"evtrail/v1 record\0");
    m.update(prev.as_bytes());
    m.update(body.as_bytes());
    format!(
        "{body},\"sig\":\"{}\"}}",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            m.finalize().into_bytes()
        )
    )
}

#[test]
fn retention_records_what_it_deletes_and_a_hand_deleted_oldest_segment_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    small_run(&dir, &key(), 5, 5, Some(2));
    let rolled = common::files_starting_with(&dir, "app.2");
    assert_eq!(rolled.len(), 2, "{rolled:?}");
    let records = common::parse(&read_dir_lines(&dir));
    let removed = common::events(&records, "evtrail.files_removed");
    assert_eq!(removed.len(), 2, "{removed:#?}");
    assert_eq!(removed[0]["fields"]["first_seq"], 1);
    assert_eq!(removed[1]["fields"]["segment"], 2);
    let report = verify_dir(&dir, &[&key()]);
    assert!(report.findings.is_empty(), "{report}");
    assert!(report.streams[0].starts_after > 0, "{report}");

    // The oldest kept segment deleted by hand: nothing names it.
    fs::remove_file(&rolled[0]).unwrap();
    let report = verify_dir(&dir, &[&key()]);
    assert_one_tamper_at(&report, FindingKind::MissingSegment, &rolled[1], 1);
    let f = report.of_kind(FindingKind::MissingSegment).next().unwrap();
    let last_removed = removed[1]["fields"]["last_seq"].as_u64().unwrap();
    assert_eq!(f.seq, Some(last_removed + 1), "{report}");
}

/// Every line of every log file in `dir` (plain files only).
fn read_dir_lines(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for p in common::files_starting_with(dir, "app.") {
        out.extend(file_lines(&p));
    }
    out
}

#[test]
fn the_unanchored_tail_is_stated_in_the_report() {
    let f = fixture();
    let report = verify_with(&f, Keyring::new().with(f.key.clone()), false);
    let app = report.streams.iter().find(|s| s.stream == "app").unwrap();
    assert_eq!(app.unanchored, app.last_seq.unwrap(), "{report}");
    let text = report.to_string();
    let line = format!(
        "app: the last {} records (seq 1..={}) are not anchored: a cut there would not be seen; anchor with",
        app.unanchored,
        app.last_seq.unwrap()
    );
    assert!(text.contains(&line), "{text}");
    // Anchored at the last seal, only what follows it is unanchored.
    let report = verify(&f);
    let app = report.streams.iter().find(|s| s.stream == "app").unwrap();
    let sealed = f.seals.iter().find(|s| s.stream() == "app").unwrap().seq();
    assert_eq!(app.unanchored, app.last_seq.unwrap() - sealed, "{report}");
}

#[test]
fn an_empty_active_file_is_a_stopped_writer_not_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    small_run(&dir, &key(), 1, 5, None);
    // The writer rolled and stopped before writing the new file's first
    // record.
    fs::rename(
        dir.join("app.log"),
        dir.join("app.2099-01-01T00-00-00Z.0001.log"),
    )
    .unwrap();
    fs::write(dir.join("app.log"), "").unwrap();
    let report = verify_dir(&dir, &[&key()]);
    assert!(report.is_clean(), "{report}");
    assert_eq!(kinds(&report), [FindingKind::EmptyFile], "{report}");
    assert_eq!(report.findings[0].location.file, dir.join("app.log"));
    assert_eq!(report.findings[0].location.line, 0);
}

/// Seals reach any HTTP sink with the other records, as they are made: the
/// store's copy anchors the log on disk.
#[cfg(feature = "http")]
#[test]
fn seals_an_http_store_received_prove_a_cut_tail() {
    let server = http_server::TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    let sink = evtrail::http::HttpSink::builder(server.url("/ingest"))
        .batch_wait(std::time::Duration::from_millis(10))
        .build()
        .unwrap();
    let (layer, guard) = evtrail::builder()
        .service("tamper")
        .key(key())
        .log_dir(&dir)
        .add_sink(sink)
        .overflow(evtrail::Overflow::Block)
        .seal_every(5, std::time::Duration::from_secs(3600))
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for i in 0..12 {
            tracing::info!(i, "event {i}");
        }
    });
    drop(guard);
    let received: Vec<u8> = server.requests().into_iter().flat_map(|r| r.body).collect();
    let anchors =
        evtrail::verify::anchors_from_text(std::str::from_utf8(&received).unwrap()).unwrap();
    assert!(anchors.len() > 10, "{anchors:?}");
    let check = || {
        let mut v = Verifier::new(Keyring::new().with(key()));
        for a in &anchors {
            v = v.anchor(a.clone());
        }
        v.verify_paths(&[&dir]).unwrap()
    };
    let report = check();
    assert!(report.findings.is_empty(), "{report}");
    // The segment end written at shutdown may wait in the sink's spool for
    // the next start; every record before it is anchored.
    assert!(report.streams[0].unanchored <= 1, "{report}");

    let path = dir.join("app.log");
    let mut l = file_lines(&path);
    l.truncate(l.len() - 4);
    let cut_from: serde_json::Value = serde_json::from_str(l.last().unwrap()).unwrap();
    write_lines(&path, &l);
    let report = check();
    assert_one_tamper(&report, FindingKind::TruncatedTail);
    let f = report.of_kind(FindingKind::TruncatedTail).next().unwrap();
    assert_eq!(
        f.seq,
        Some(cut_from["seq"].as_u64().unwrap() + 1),
        "{report}"
    );
}
