//! The verifier against a tamper matrix: every kind of edit to a signed log
//! is found, classified and located; the untouched log verifies clean.

mod common;

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
