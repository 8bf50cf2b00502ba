//! The conformance corpus (`tests/conformance/`): small log directories,
//! each with the findings every verifier must report on it
//! (`expected.json`). This test runs evtrail's verifier over every case and
//! compares, finding by finding.
//!
//! `EVTRAIL_WRITE_CONFORMANCE=1 cargo test --test conformance` writes the
//! corpus anew: each case is written by the real pipeline with fixed keys, a
//! fixed clock and no host or pid, then tampered with as its description
//! says. The expected findings are stated by each case, from the tampering
//! it did, never taken from a verifier's output; writing fails unless the
//! verifier agrees.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use evtrail::verify::{Report, Verifier};
use evtrail::{Key, Keyring, Seal};
use serde_json::{Value, json};

/// Where the corpus lives.
fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

fn key_one() -> Key {
    Key::from_bytes((0u8..32).collect::<Vec<_>>())
        .unwrap()
        .with_id("key-one")
        .unwrap()
}

fn key_two() -> Key {
    Key::from_bytes((32u8..64).collect::<Vec<_>>())
        .unwrap()
        .with_id("key-two")
        .unwrap()
}

/// Not in the corpus's keys: what a forger holds.
fn key_forger() -> Key {
    Key::from_bytes(vec![7u8; 32])
        .unwrap()
        .with_id("key-forger")
        .unwrap()
}

// ---------------------------------------------------------------------------
// Running the corpus

#[test]
fn evtrail_verify_agrees_with_every_case_of_the_conformance_corpus() {
    if std::env::var_os("EVTRAIL_WRITE_CONFORMANCE").is_some() {
        write_corpus();
    }
    let mut cases: Vec<PathBuf> = fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "the corpus is missing: {cases:?}");
    let mut failed = Vec::new();
    for case in &cases {
        let expected: Value =
            serde_json::from_str(&fs::read_to_string(case.join("expected.json")).unwrap()).unwrap();
        let got = outcome(&run_case(case, &expected), &case.join("logs"));
        let want = json!({
            "clean": expected["clean"],
            "streams": expected["streams"],
            "findings": expected["findings"],
        });
        if got != want {
            failed.push(format!(
                "{}:\n  want {}\n  got  {}",
                case.display(),
                want,
                got
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// Verifies a case's `logs/` with the keys and anchors its `expected.json`
/// names.
fn run_case(case: &Path, expected: &Value) -> Report {
    let mut keys = Keyring::new();
    for id in expected["keys"].as_array().unwrap() {
        let hex = fs::read_to_string(
            corpus()
                .join("keys")
                .join(format!("{}.hex", id.as_str().unwrap())),
        )
        .unwrap();
        keys = keys.with(
            Key::parse(hex.trim())
                .unwrap()
                .with_id(id.as_str().unwrap())
                .unwrap(),
        );
    }
    let mut v = Verifier::new(keys);
    for a in expected["anchors"].as_array().unwrap() {
        v = v.anchor(a.as_str().unwrap().parse::<Seal>().unwrap());
    }
    v.verify_paths(&[case.join("logs")]).unwrap()
}

/// What the corpus compares: whether the log is clean, per stream where it
/// starts and ends and how much could not be verified, and every finding
/// with its kind, stream, file (name inside `logs/`), line and `seq`,
/// sorted.
fn outcome(report: &Report, logs: &Path) -> Value {
    let streams: Vec<Value> = report
        .streams
        .iter()
        .map(|s| {
            json!({
                "stream": s.stream,
                "last_seq": s.last_seq,
                "starts_after": s.starts_after,
                "unverifiable": s.unverifiable,
            })
        })
        .collect();
    let mut findings: Vec<(String, u64, String, u64, String)> = report
        .findings
        .iter()
        .map(|f| {
            let file = f
                .location
                .file
                .strip_prefix(logs)
                .unwrap_or(&f.location.file)
                .display()
                .to_string();
            (
                f.stream.clone().unwrap_or_default(),
                f.seq.unwrap_or(0),
                file,
                f.location.line,
                f.kind.as_str().to_owned(),
            )
        })
        .collect();
    findings.sort();
    let findings: Vec<Value> = findings
        .into_iter()
        .map(|(stream, seq, file, line, kind)| finding(&kind, &stream, &file, line, seq))
        .collect();
    json!({ "clean": report.is_clean(), "streams": streams, "findings": findings })
}

/// One finding as the corpus states it (`seq` 0: none).
fn finding(kind: &str, stream: &str, file: &str, line: u64, seq: u64) -> Value {
    json!({ "kind": kind, "stream": stream, "file": file, "line": line, "seq": seq })
}

// ---------------------------------------------------------------------------
// Writing the corpus

/// 2026-11-20T12:00:00Z, always.
struct FixedClock;

impl evtrail::Clock for FixedClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_176_000)
    }
}

/// How a writer run goes: `segments` segments of stream `app`, `events`
/// events each; optionally a retention of that many rolled files, or a key
/// rotation to `key_two` after the first segment.
#[derive(Clone, Copy)]
struct Run<'k> {
    key: &'k Key,
    segments: usize,
    events: usize,
    keep_files: Option<usize>,
    rotate_to_key_two: bool,
}

impl<'k> Run<'k> {
    fn new(key: &'k Key) -> Run<'k> {
        Run {
            key,
            segments: 3,
            events: 3,
            keep_files: None,
            rotate_to_key_two: false,
        }
    }

    /// Writes into `dir`; rolled files stay plain.
    fn write(self, dir: &Path) {
        let mut files = evtrail::FileOptions::default().compression(None);
        if let Some(n) = self.keep_files {
            files = files.retention(evtrail::Retention::keep_all().max_files(n));
        }
        let (layer, guard) = evtrail::builder()
            .service("conformance")
            .host("")
            .pid(false)
            .source_location(false)
            .clock(FixedClock)
            .key(self.key.clone())
            .log_dir(dir)
            .file_options(files)
            .overflow(evtrail::Overflow::Block)
            .seal_every(1_000, Duration::from_secs(3600))
            .build()
            .unwrap();
        let d = common::dispatch(layer);
        for part in 0..self.segments {
            // A named thread: the records name it.
            let d2 = d.clone();
            let events = self.events;
            std::thread::Builder::new()
                .name("conformance".into())
                .spawn(move || {
                    tracing::dispatcher::with_default(&d2, || {
                        for i in 0..events {
                            tracing::info!(part, i, user = "u1", "event {i}");
                        }
                    })
                })
                .unwrap()
                .join()
                .unwrap();
            if part + 1 < self.segments {
                guard.flush(common::WAIT).unwrap();
                if part == 0 && self.rotate_to_key_two {
                    guard.rotate_key(key_two()).unwrap();
                } else {
                    guard.rotate().unwrap();
                }
            }
        }
        guard.flush(common::WAIT).unwrap();
        guard.flush(common::WAIT).unwrap();
        drop(guard);
    }
}

/// A case being written: its directory and what it expects.
struct Case {
    name: &'static str,
    description: &'static str,
    dir: PathBuf,
    keys: Vec<&'static str>,
    anchors: Vec<String>,
    findings: Vec<Value>,
    starts_after: u64,
    /// The key id not given, whose records are unverifiable.
    missing_key: Option<&'static str>,
    /// Records unverifiable for another reason: the record after a gap
    /// links to one that is not there.
    after_gaps: u64,
}

impl Case {
    fn new(name: &'static str, description: &'static str) -> Case {
        let dir = corpus().join(name).join("logs");
        let _ = fs::remove_dir_all(corpus().join(name));
        fs::create_dir_all(&dir).unwrap();
        Case {
            name,
            description,
            dir,
            keys: vec!["key-one"],
            anchors: Vec::new(),
            findings: Vec::new(),
            starts_after: 0,
            missing_key: None,
            after_gaps: 0,
        }
    }

    fn logs(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The stream `app`'s rolled files, oldest first (plain and gzip).
    fn rolled(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("app.2"))
            .collect();
        names.sort();
        names
    }

    fn lines(&self, name: &str) -> Vec<String> {
        common::file_lines(&self.path(name))
    }

    fn write_lines(&self, name: &str, lines: &[String]) {
        fs::write(self.path(name), format!("{}\n", lines.join("\n"))).unwrap();
    }

    fn expect(&mut self, kind: &str, file: &str, line: u64, seq: u64) {
        self.findings.push(finding(kind, "app", file, line, seq));
    }

    /// Writes `expected.json` and checks that the verifier agrees.
    fn finish(mut self) {
        let _ = fs::remove_file(self.dir.join(".evtrail-state"));
        // Every stream's records, read from the files as they are now.
        let mut last_seq = 0;
        let mut unverifiable = self.after_gaps;
        for entry in fs::read_dir(&self.dir).unwrap() {
            let path = entry.unwrap().path();
            let text = read_text(&path);
            for line in text.lines() {
                if let Ok(v) = serde_json::from_str::<Value>(line) {
                    last_seq = last_seq.max(v["seq"].as_u64().unwrap_or(0));
                    if self.missing_key.is_some() && v["kid"].as_str() == self.missing_key {
                        unverifiable += 1;
                    }
                }
            }
        }
        let clean = !self.findings.iter().any(|f| {
            !matches!(
                f["kind"].as_str().unwrap(),
                "unknown_key"
                    | "crash_recovered"
                    | "incomplete_line"
                    | "time_backwards"
                    | "missing_seal"
                    | "empty_file"
            )
        });
        let mut findings: Vec<(String, u64, String, u64, String)> = self
            .findings
            .drain(..)
            .map(|f| {
                (
                    f["stream"].as_str().unwrap().to_owned(),
                    f["seq"].as_u64().unwrap(),
                    f["file"].as_str().unwrap().to_owned(),
                    f["line"].as_u64().unwrap(),
                    f["kind"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        findings.sort();
        let expected = json!({
            "description": self.description,
            "keys": self.keys,
            "anchors": self.anchors,
            "clean": clean,
            "streams": [{
                "stream": "app",
                "last_seq": last_seq,
                "starts_after": self.starts_after,
                "unverifiable": unverifiable,
            }],
            "findings": findings
                .into_iter()
                .map(|(stream, seq, file, line, kind)| finding(&kind, &stream, &file, line, seq))
                .collect::<Vec<_>>(),
        });
        let case = corpus().join(self.name);
        fs::write(
            case.join("expected.json"),
            format!("{}\n", serde_json::to_string_pretty(&expected).unwrap()),
        )
        .unwrap();
        let got = outcome(&run_case(&case, &expected), self.logs());
        let want = json!({
            "clean": expected["clean"],
            "streams": expected["streams"],
            "findings": expected["findings"],
        });
        if got != want {
            eprintln!(
                "case {}: the verifier disagrees:\n  want {want}\n  got  {got}",
                self.name
            );
            DISAGREED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// A file's text, decompressed when it is gzip.
fn read_text(path: &Path) -> String {
    let data = fs::read(path).unwrap();
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&data[..]), &mut out)
            .unwrap();
        out
    } else {
        String::from_utf8(data).unwrap()
    }
}

/// Writes `text` gzipped to `path` (no name, no time in the header: the
/// same bytes every time).
fn write_gzip(path: &Path, text: &str) {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(fs::File::create(path).unwrap(), flate2::Compression::new(6));
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap();
}

fn seq_of(line: &str) -> u64 {
    serde_json::from_str::<Value>(line).unwrap()["seq"]
        .as_u64()
        .unwrap()
}

fn sig_of(line: &str) -> &str {
    &line[line.len() - 45..line.len() - 2]
}

/// The spec's signature, computed independently of the library: `body`
/// (a line without its 53-byte suffix) signed for `stream` with `key`
/// after `prev`.
fn sign_line(body: &str, stream: &str, key: &Key, prev: &str) -> String {
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

fn body_of(line: &str) -> &str {
    &line[..line.len() - common::SIG_SUFFIX_LEN]
}

/// Re-signs every plain file of stream `app` in chain order with `key`,
/// after `edit` changed each record's body: signatures named inside records
/// (`prev_sig`, `last_sig`) follow their records.
fn resign(case: &Case, key: &Key, edit: impl Fn(&str) -> String) {
    let mut names = case.rolled();
    names.push("app.log".into());
    let mut renamed: Vec<(String, String)> = Vec::new();
    let mut prev = String::new();
    for name in names {
        let mut out = Vec::new();
        for line in case.lines(&name) {
            let mut body = edit(body_of(&line));
            for (old, new) in &renamed {
                body = body.replace(old.as_str(), new);
            }
            let v: Value = serde_json::from_str(&format!("{body}}}")).unwrap();
            if v["event"] == "evtrail.segment_start" {
                prev = v["fields"]["prev_sig"].as_str().unwrap().to_owned();
            }
            let signed = sign_line(&body, "app", key, &prev);
            renamed.push((sig_of(&line).to_owned(), sig_of(&signed).to_owned()));
            prev = sig_of(&signed).to_owned();
            out.push(signed);
        }
        case.write_lines(&name, &out);
    }
}

/// Whether the verifier disagreed with a case written.
static DISAGREED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes every case of the corpus.
fn write_corpus() {
    let keys = corpus().join("keys");
    fs::create_dir_all(&keys).unwrap();
    for k in [key_one(), key_two()] {
        fs::write(
            keys.join(format!("{}.hex", k.id())),
            format!("{}\n", k.to_hex()),
        )
        .unwrap();
    }

    // clean: three segments, the oldest gzipped.
    let mut c = Case::new(
        "clean",
        "Three segments of stream `app`, the oldest gzipped: nothing to report.",
    );
    Run::new(&key_one()).write(c.logs());
    let first = c.rolled()[0].clone();
    write_gzip(&c.path(&format!("{first}.gz")), &read_text(&c.path(&first)));
    fs::remove_file(c.path(&first)).unwrap();
    c.findings.clear();
    c.finish();

    let base = |name, description| {
        let c = Case::new(name, description);
        Run::new(&key_one()).write(c.logs());
        c
    };

    let mut c = base(
        "modified",
        "A user field of line 3 of the active file edited: `modified` there.",
    );
    let mut l = c.lines("app.log");
    let seq = seq_of(&l[2]);
    l[2] = l[2].replace("\"user\":\"u1\"", "\"user\":\"u2\"");
    c.write_lines("app.log", &l);
    c.expect("modified", "app.log", 3, seq);
    c.finish();

    let mut c = base(
        "deleted",
        "Line 3 of the active file removed: `deleted` at the line where the gap shows (the record after it), with the missing seq; that record links to one that is not there, so it is unverifiable.",
    );
    c.after_gaps = 1;
    let mut l = c.lines("app.log");
    let seq = seq_of(&l[2]);
    l.remove(2);
    c.write_lines("app.log", &l);
    c.expect("deleted", "app.log", 3, seq);
    c.finish();

    let mut c = base(
        "inserted",
        "A forged copy of line 3 (signed with another key under the same key id, chained to sig_0) put before it: `inserted` at the forged line.",
    );
    let mut l = c.lines("app.log");
    let seq = seq_of(&l[2]);
    let forger = key_forger().with_id("key-one").unwrap();
    let forged = sign_line(body_of(&l[2]), "app", &forger, &"A".repeat(43));
    l.insert(2, forged);
    c.write_lines("app.log", &l);
    c.expect("inserted", "app.log", 3, seq);
    c.finish();

    let mut c = base(
        "reordered",
        "Lines 3 and 4 of the active file swapped: `reordered` at line 3, with the seq of the record found there.",
    );
    let mut l = c.lines("app.log");
    l.swap(2, 3);
    let seq = seq_of(&l[2]);
    c.write_lines("app.log", &l);
    c.expect("reordered", "app.log", 3, seq);
    c.finish();

    let mut c = base(
        "duplicated",
        "Line 3 of the active file repeated after itself: `duplicated` at the copy.",
    );
    let mut l = c.lines("app.log");
    let seq = seq_of(&l[2]);
    l.insert(3, l[2].clone());
    c.write_lines("app.log", &l);
    c.expect("duplicated", "app.log", 4, seq);
    c.finish();

    let mut c = base(
        "missing_segment",
        "The middle segment's file deleted: `missing_segment` at the next segment's start, from the first missing seq.",
    );
    let gone = c.rolled()[1].clone();
    let first_gone = seq_of(&c.lines(&gone)[0]);
    fs::remove_file(c.path(&gone)).unwrap();
    c.expect("missing_segment", "app.log", 1, first_gone);
    c.finish();

    let mut c = base(
        "swapped_segment",
        "The two rolled files' names swapped: `swapped_segment` at the file holding later records under the earlier name (line 0), with its first seq.",
    );
    let r = c.rolled();
    let (a, b) = (c.path(&r[0]), c.path(&r[1]));
    let tmp = c.path("swap.tmp");
    fs::rename(&a, &tmp).unwrap();
    fs::rename(&b, &a).unwrap();
    fs::rename(&tmp, &b).unwrap();
    let seq = seq_of(&c.lines(&r[0])[0]);
    c.expect("swapped_segment", &r[0], 0, seq);
    c.finish();

    let mut c = base(
        "truncated_tail_anchored",
        "The last two lines cut from the active file, the last record anchored: `truncated_tail` (no file, line 0) at the first seq cut. Without the anchor the cut would not be seen.",
    );
    let mut l = c.lines("app.log");
    let last = l.last().unwrap().clone();
    c.anchors
        .push(format!("app:{}:{}", seq_of(&last), sig_of(&last)));
    l.truncate(l.len() - 2);
    let cut_from = seq_of(l.last().unwrap()) + 1;
    c.write_lines("app.log", &l);
    c.expect("truncated_tail", "", 0, cut_from);
    c.finish();

    // Keys.
    let rotated = |name, description, keys: Vec<&'static str>| {
        let mut c = Case::new(name, description);
        Run {
            rotate_to_key_two: true,
            ..Run::new(&key_one())
        }
        .write(c.logs());
        c.keys = keys;
        c
    };
    rotated(
        "key_rotation",
        "A key rotation (`evtrail.key_rotated`, signed with key-one, announcing key-two) after the first segment; both keys given: nothing to report.",
        vec!["key-one", "key-two"],
    )
    .finish();
    let mut c = rotated(
        "key_rotation_old_key_only",
        "The key rotation case with only key-one given: the records signed with key-two are `unknown_key` (one finding at the first), not tampered.",
        vec!["key-one"],
    );
    c.missing_key = Some("key-two");
    let first_new = first_with_kid(&c, "key-two");
    c.expect("unknown_key", &first_new.0, first_new.1, first_new.2);
    c.finish();

    let restarted = |name, description, keys: Vec<&'static str>| {
        let mut c = Case::new(name, description);
        Run {
            segments: 1,
            ..Run::new(&key_one())
        }
        .write(c.logs());
        Run {
            segments: 1,
            ..Run::new(&key_two())
        }
        .write(c.logs());
        c.keys = keys;
        c
    };
    restarted(
        "restart_new_key",
        "Two runs: the first signed with key-one, the second restarted with key-two (no rotation record: its segment start carries the new key). Both keys given: nothing to report.",
        vec!["key-one", "key-two"],
    )
    .finish();
    let mut c = restarted(
        "restart_new_key_old_key_only",
        "The restart case with only key-one: the second run's records are `unknown_key`, never `modified`; the segment start's link to the first run (prev_seq, prev_sig, prev_end) is checked and holds.",
        vec!["key-one"],
    );
    c.missing_key = Some("key-two");
    let first_new = first_with_kid(&c, "key-two");
    c.expect("unknown_key", &first_new.0, first_new.1, first_new.2);
    c.finish();
    let mut c = restarted(
        "restart_new_key_new_key_only",
        "The restart case with only key-two: the first run's records are `unknown_key`; the second run's verify against their stored signatures.",
        vec!["key-two"],
    );
    c.missing_key = Some("key-one");
    let first_old = first_with_kid(&c, "key-one");
    c.expect("unknown_key", &first_old.0, first_old.1, first_old.2);
    c.finish();

    let mut c = restarted(
        "kid_changed",
        "The restart case, both keys given, with line 3 of the first run's file given a key id nobody has: `modified` there, not `unknown_key` (with key-one's id put back it verifies).",
        vec!["key-one", "key-two"],
    );
    let file = c.rolled()[0].clone();
    let mut l = c.lines(&file);
    let seq = seq_of(&l[2]);
    l[2] = l[2].replace("\"kid\":\"key-one\"", "\"kid\":\"key-three\"");
    c.write_lines(&file, &l);
    c.expect("modified", &file, 3, seq);
    c.finish();

    let mut c = restarted(
        "resigned_start_wrong_link",
        "The restart case with only key-one, the second run's segment start re-signed with a forger's key and linking to the first run's second-to-last record: `modified` at it, not merely unverifiable.",
        vec!["key-one"],
    );
    let first_run = c.lines(&c.rolled()[0]);
    let wrong_prev = sig_of(&first_run[first_run.len() - 2]).to_owned();
    let mut l = c.lines("app.log");
    let v: Value = serde_json::from_str(&l[0]).unwrap();
    let body = body_of(&l[0])
        .replace(v["fields"]["prev_sig"].as_str().unwrap(), &wrong_prev)
        .replace("\"kid\":\"key-two\"", "\"kid\":\"key-forger\"");
    l[0] = sign_line(&body, "app", &key_forger(), &wrong_prev);
    let seq = seq_of(&l[0]);
    c.write_lines("app.log", &l);
    c.missing_key = Some("key-two");
    c.expect("modified", "app.log", 1, seq);
    c.expect("unknown_key", "app.log", 2, seq + 1);
    c.finish();

    // A crash: the first run's file loses its segment end and ends in half
    // a line; the second run declares it.
    let mut c = Case::new(
        "crash",
        "The first run stopped without closing its segment, in the middle of a line; the second run's segment start declares the crash with the torn bytes: `crash_recovered` (a fact) at the unfinished line, with the last seq before it.",
    );
    Run {
        segments: 1,
        ..Run::new(&key_one())
    }
    .write(c.logs());
    let mut l = c.lines("app.log");
    l.pop();
    let last = seq_of(l.last().unwrap());
    let torn = "{\"v\":1,\"stream\":\"app\",\"seq\":";
    fs::write(c.path("app.log"), format!("{}\n{torn}", l.join("\n"))).unwrap();
    let torn_line = l.len() as u64 + 1;
    let _ = fs::remove_file(c.path(".evtrail-state"));
    Run {
        segments: 1,
        ..Run::new(&key_one())
    }
    .write(c.logs());
    let file = c.rolled()[0].clone();
    c.expect("crash_recovered", &file, torn_line, last);
    c.finish();

    let mut c = Case::new(
        "empty_active",
        "The writer rolled and stopped before the new active file's first record: the empty `app.log` is `empty_file` (a fact), not `malformed`.",
    );
    Run {
        segments: 1,
        ..Run::new(&key_one())
    }
    .write(c.logs());
    fs::rename(
        c.path("app.log"),
        c.path("app.2026-11-20T12-00-00Z.9999.log"),
    )
    .unwrap();
    fs::write(c.path("app.log"), "").unwrap();
    c.findings.push(finding("empty_file", "", "app.log", 0, 0));
    c.finish();

    // Retention.
    let kept = |name, description| {
        let mut c = Case::new(name, description);
        Run {
            segments: 4,
            keep_files: Some(1),
            ..Run::new(&key_one())
        }
        .write(c.logs());
        let first = &c.lines(&c.rolled()[0])[0];
        let v: Value = serde_json::from_str(first).unwrap();
        c.starts_after = v["fields"]["prev_seq"].as_u64().unwrap();
        c
    };
    kept(
        "retention",
        "Retention kept one rolled file of four segments: two `evtrail.files_removed` records name what went, the last ending where the oldest kept segment starts: nothing to report.",
    )
    .finish();
    let mut c = kept(
        "retention_hand_deleted",
        "The retention case with the oldest kept rolled file deleted by hand: no `evtrail.files_removed` names it, so `missing_segment` at the earliest file left (line 1), from one after the last removed seq.",
    );
    let gone = c.rolled()[0].clone();
    fs::remove_file(c.path(&gone)).unwrap();
    let (removed_upto, _) = last_removal(&c);
    c.starts_after = seq_of(&c.lines("app.log")[0]) - 1;
    c.expect("missing_segment", "app.log", 1, removed_upto + 1);
    c.finish();
    let mut c = kept(
        "retention_old_writer",
        "The hand-deleted retention case as a writer from before removals were recorded wrote it (no `removals` in its segment starts, re-signed): only `starts_after` says where the stream starts; nothing to report.",
    );
    let gone = c.rolled()[0].clone();
    fs::remove_file(c.path(&gone)).unwrap();
    resign(&c, &key_one(), |body| {
        body.replace(",\"removals\":\"recorded\"", "")
    });
    c.starts_after = seq_of(&c.lines("app.log")[0]) - 1;
    c.finish();

    // Twins.
    let c = base(
        "twins",
        "A rolled file beside its identical gzip copy (an interrupted compression): both read, nothing to report.",
    );
    let r = c.rolled()[1].clone();
    write_gzip(&c.path(&format!("{r}.gz")), &read_text(&c.path(&r)));
    c.finish();
    let mut c = base(
        "twin_tampered",
        "A rolled file beside a gzip copy whose line 3 was edited: `twin_mismatch` at line 3 of the copy, with the seq of the original's line 3.",
    );
    let r = c.rolled()[1].clone();
    let mut l = c.lines(&r);
    let seq = seq_of(&l[2]);
    l[2] = l[2].replace("\"user\":\"u1\"", "\"user\":\"u2\"");
    write_gzip(&c.path(&format!("{r}.gz")), &format!("{}\n", l.join("\n")));
    c.expect("twin_mismatch", &format!("{r}.gz"), 3, seq);
    c.finish();
    assert!(
        !DISAGREED.load(std::sync::atomic::Ordering::SeqCst),
        "the verifier disagrees with cases written (above)"
    );
}

/// The file, line and seq of the first record signed with `kid`.
fn first_with_kid(c: &Case, kid: &str) -> (String, u64, u64) {
    let mut names = c.rolled();
    names.push("app.log".into());
    for name in names {
        for (i, line) in c.lines(&name).iter().enumerate() {
            if line.contains(&format!("\"kid\":\"{kid}\"")) {
                return (name, i as u64 + 1, seq_of(line));
            }
        }
    }
    panic!("no record signed with `{kid}`")
}

/// The largest `last_seq` an `evtrail.files_removed` record names, and its
/// `last_sig`.
fn last_removal(c: &Case) -> (u64, String) {
    let mut best = (0, String::new());
    for entry in fs::read_dir(c.logs()).unwrap() {
        for line in read_text(&entry.unwrap().path()).lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if v["event"] == "evtrail.files_removed" {
                let last = v["fields"]["last_seq"].as_u64().unwrap();
                if last > best.0 {
                    best = (last, v["fields"]["last_sig"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    best
}
