//! The verifier against damage it was not written for: single-byte flips
//! anywhere in a signed log, garbage files of every shape, missing keys and
//! multi-member gzip. Every flip must be found at its line, nothing may
//! panic, and whatever the verifier says must be precise.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{SIG_SUFFIX_LEN, assert_one_tamper_at, dispatch, tamper_findings};
use evtrail::verify::{Finding, FindingKind, Report, Verifier};
use evtrail::{Key, Keyring};
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------
// Fixture

/// A small signed log of stream `app`: about 300 records over three plain
/// segments (seals every 40 records), kept in memory so that each case
/// writes a fresh copy.
struct Fixture {
    /// File name and contents, in chain order (rolled files by name, then
    /// the active `app.log`).
    files: Vec<(String, Vec<u8>)>,
}

fn key() -> Key {
    Key::from_bytes((100u8..132).collect::<Vec<_>>()).unwrap()
}

fn keys() -> Keyring {
    Keyring::new().with(key())
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

fn build_fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    let (layer, guard) = evtrail::builder()
        .service("robust")
        .key(key())
        .log_dir(&dir)
        // Rolled files stay plain: the tests read and edit them directly.
        .file_options(evtrail::FileOptions::default().compression(None))
        .overflow(evtrail::Overflow::Block)
        .seal_every(40, std::time::Duration::from_secs(3600))
        .build()
        .unwrap();
    let d = dispatch(layer);
    for part in 0..3 {
        tracing::dispatcher::with_default(&d, || {
            for i in 0..95 {
                tracing::info!(part, i, user = "u1", note = "caf\u{e9} \"q\"", "event {i}");
            }
        });
        if part < 2 {
            guard.rotate().unwrap();
        }
    }
    guard.flush(common::WAIT).unwrap();
    drop(guard);
    // Should a rolled file be gzipped all the same, keep its text under its
    // plain name: flips are made in the text.
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log") || n.ends_with(".log.gz"))
        .map(|n| {
            let data = fs::read(dir.join(&n)).unwrap();
            match n.strip_suffix(".gz") {
                Some(plain) => (plain.to_owned(), gunzip(&data)),
                None => (n, data),
            }
        })
        .collect();
    // Rolled files by name, then the active one.
    files.sort_by(|a, b| (a.0 == "app.log", &a.0).cmp(&(b.0 == "app.log", &b.0)));
    let f = Fixture { files };
    assert_eq!(f.files.len(), 3, "{:?}", f.names());
    // The untouched copy must verify clean, or nothing below means anything.
    let (_tmp, dir) = f.write();
    let report = verify_dir(&dir);
    assert!(report.is_clean() && report.findings.is_empty(), "{report}");
    assert_eq!(report.streams.len(), 1, "{report}");
    assert_eq!(report.streams[0].records, f.records() as u64, "{report}");
    assert_eq!(report.streams[0].verified, f.records() as u64, "{report}");
    assert!(f.records() > 250, "{report}");
    f
}

impl Fixture {
    fn names(&self) -> Vec<&str> {
        self.files.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Writes a fresh copy into a new temporary directory.
    fn write(&self) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("logs");
        fs::create_dir(&dir).unwrap();
        for (name, data) in &self.files {
            fs::write(dir.join(name), data).unwrap();
        }
        (tmp, dir)
    }

    fn records(&self) -> usize {
        self.files.iter().map(|(_, d)| line_spans(d).len()).sum()
    }

    /// The lines of file `i`, without their newlines.
    fn lines(&self, i: usize) -> Vec<&[u8]> {
        let d = &self.files[i].1;
        line_spans(d).into_iter().map(|(s, e)| &d[s..e]).collect()
    }
}

/// Byte ranges of the lines of `data` (without their newline).
fn line_spans(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' {
            out.push((start, i));
            start = i + 1;
        }
    }
    assert_eq!(start, data.len(), "the fixture's files end with a newline");
    out
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn join_lines(lines: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

fn verify_dir(dir: &Path) -> Report {
    Verifier::new(keys()).verify_paths(&[dir]).unwrap()
}

fn verify_file(path: &Path) -> Report {
    Verifier::new(keys()).verify_paths(&[path]).unwrap()
}

fn at(f: &Finding) -> (&Path, u64) {
    (f.location.file.as_path(), f.location.line)
}

// ---------------------------------------------------------------------------
// 1. Single-byte flips

/// One byte of the fixture flipped: file index, line index (from 0), byte
/// position in the line (its length is the newline), xor value.
#[derive(Clone, Copy, Debug)]
struct Flip {
    file: usize,
    line: usize,
    pos: usize,
    xor: u8,
}

/// Flips one byte, verifies, and checks that the damage is reported at the
/// flipped line: the report is not clean, its first tamper finding is at
/// the flipped line, and every tamper finding is at that line or the next
/// position of the stream (the next line, or the first line of the next
/// segment when the flipped line ends its file). Returns a description of
/// the case and the report when it is not so.
fn check_flip(f: &Fixture, flip: Flip) -> Result<(), String> {
    let (tmp, dir) = f.write();
    let r = check_flip_in(f, flip, &dir);
    drop(tmp);
    r
}

fn check_flip_in(f: &Fixture, flip: Flip, dir: &Path) -> Result<(), String> {
    let Flip {
        file,
        line,
        pos,
        xor,
    } = flip;
    let (name, original) = &f.files[file];
    let spans = line_spans(original);
    let (start, end) = spans[line];
    assert!(pos <= end - start && xor != 0);
    let mut data = original.clone();
    data[start + pos] ^= xor;
    let path = dir.join(name);
    fs::write(&path, &data).unwrap();
    let report = Verifier::new(keys()).verify_paths(&[dir]);
    fs::write(&path, original).unwrap();
    let report = report.unwrap();

    let l = line as u64 + 1;
    // The flipped line ends its file when it is the last one, or when its
    // newline was flipped and it took in the last one.
    let ends_file = line + 1 == spans.len() || (pos == end - start && line + 2 == spans.len());
    let next_segment =
        (ends_file && file + 1 < f.files.len()).then(|| dir.join(&f.files[file + 1].0));
    let allowed = |x: &Finding| {
        (x.location.file == path && (x.location.line == l || x.location.line == l + 1))
            || next_segment
                .as_ref()
                .is_some_and(|n| x.location.file == *n && x.location.line == 1)
    };
    let t = tamper_findings(&report);
    let ok = !report.is_clean()
        && t.first().is_some_and(|x| at(x) == (path.as_path(), l))
        && t.iter().all(|x| allowed(x));
    if ok {
        return Ok(());
    }
    let after_end = data[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(data.len(), |i| start + i);
    let byte = original[start + pos];
    Err(format!(
        "{flip:?}: file {name}, line {l}, byte {pos}: {:?} ^ {xor:#04x} = {:?}\n\
         before: {}\nafter:  {}\nreport:\n{report}",
        byte as char,
        (byte ^ xor) as char,
        String::from_utf8_lossy(&original[start..end]),
        String::from_utf8_lossy(&data[start..after_end]),
    ))
}

/// A strategy for a flip anywhere in the fixture: any file, any line (a
/// quarter of the cases on a segment's edges: its header, first event,
/// last event, end), any byte of it including its newline (except the very
/// last newline of the log, whose loss is a torn last line: see
/// `the_last_newline_of_the_log_flipped_is_an_incomplete_line`), any
/// non-zero xor (a quarter of the cases the one that turns the byte into a
/// digit or a byte of JSON's syntax).
fn any_flip() -> impl Strategy<Value = Flip> {
    let line = prop_oneof![
        3 => any::<Index>().prop_map(|i| (false, i)),
        1 => any::<Index>().prop_map(|i| (true, i)),
    ];
    let into = prop::sample::select(b"\n\"\\{}[]:, 0123456789".to_vec());
    let xor = prop_oneof![
        3 => (1..=255u8).prop_map(|x| (x, None)),
        1 => into.prop_map(|t| (0, Some(t))),
    ];
    (0..3usize, line, any::<Index>(), xor).prop_map(|(file, (edge, line), pos, (xor, into))| {
        let f = fixture();
        let lines = f.lines(file);
        let n = lines.len();
        let line = if edge {
            [0, 1, n - 2, n - 1][line.index(4)]
        } else {
            line.index(n)
        };
        let last = file + 1 == f.files.len() && line + 1 == n;
        let pos = pos.index(lines[line].len() + usize::from(!last));
        let byte = lines[line].get(pos).copied().unwrap_or(b'\n');
        let xor = match into {
            Some(t) if t != byte => byte ^ t,
            Some(_) => 0x01,
            None => xor,
        };
        Flip {
            file,
            line,
            pos,
            xor,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every single-byte flip of any line is found at that line.
    #[test]
    fn every_flipped_byte_is_found_at_its_line(flip in any_flip()) {
        check_flip(fixture(), flip).map_err(TestCaseError::fail)?;
    }
}

/// A newline flipped (two lines become one) or made (one line becomes two)
/// on every edge of every segment, with the neighbours on both sides.
#[test]
fn newlines_flipped_on_segment_edges_are_found_at_their_line() {
    let f = fixture();
    let (_tmp, dir) = f.write();
    let mut failures = Vec::new();
    for file in 0..f.files.len() {
        let lines = f.lines(file);
        let n = lines.len();
        for line in [0, 1, n - 2, n - 1] {
            let len = lines[line].len();
            let mut flips = vec![
                // The line split right after its `{`, inside its signature,
                // and just before its closing brace.
                (1, b'"' ^ b'\n'),
                (len - 10, lines[line][len - 10] ^ b'\n'),
                (len - 1, b'}' ^ b'\n'),
            ];
            if file + 1 < f.files.len() || line + 1 < n {
                // Joined with the next line.
                flips.extend([(len, b'\n' ^ b' '), (len, b'\n' ^ b','), (len, 0x80)]);
            }
            for (pos, xor) in flips {
                let flip = Flip {
                    file,
                    line,
                    pos,
                    xor,
                };
                if let Err(e) = check_flip_in(f, flip, &dir) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} flips not found at their line; the first:\n{}",
        failures.len(),
        failures[0]
    );
}

/// The log's very last newline flipped: the last line is now unfinished,
/// which is what a writer in the middle of a line leaves, so it is an
/// `incomplete_line` (a fact, not tamper evidence: the tail of a log can
/// only be proved against an anchor).
#[test]
fn the_last_newline_of_the_log_flipped_is_an_incomplete_line() {
    let f = fixture();
    let (_tmp, dir) = f.write();
    let last = f.files.len() - 1;
    let (name, data) = &f.files[last];
    let n = line_spans(data).len() as u64;
    let mut data = data.clone();
    *data.last_mut().unwrap() ^= 0x01;
    let path = dir.join(name);
    fs::write(&path, &data).unwrap();
    let report = verify_dir(&dir);
    assert!(report.is_clean(), "{report}");
    let inc: Vec<_> = report.of_kind(FindingKind::IncompleteLine).collect();
    assert_eq!(inc.len(), 1, "{report}");
    assert_eq!(at(inc[0]), (path.as_path(), n), "{report}");
    assert_eq!(report.findings.len(), 1, "{report}");
}

// Known gaps, each pinned by its smallest case with what the verifier
// should say.

/// Gap A: one flipped byte in the key id of a record in the middle of a
/// segment. The record is reported `unknown_key` (unverifiable, not
/// tampered) and the chain goes on from its stored signature, so the
/// report is clean. Nothing announced a new key (`evtrail.key_rotated`),
/// and the records on both sides are signed with the known key, so this is
/// evidence of an edit: `modified` at the line.
#[test]
fn flipped_kid_is_tamper_evidence() {
    let f = fixture();
    let line = 10;
    let text = f.lines(1)[line];
    let pos = find(text, b"\"kid\":\"") + 7;
    let flip = Flip {
        file: 1,
        line,
        pos,
        xor: 0x01,
    };
    expect_found(f, flip);
}

/// Gap A, the consequence: any record can be rewritten at will, and its
/// stored signature kept, once its `kid` names a key the verifier lacks.
#[test]
fn rewritten_record_with_made_up_kid_is_found() {
    let f = fixture();
    let (_tmp, dir) = f.write();
    let name = &f.files[1].0;
    let mut lines: Vec<Vec<u8>> = f.lines(1).iter().map(|l| l.to_vec()).collect();
    let edited = String::from_utf8(lines[10].clone()).unwrap();
    let kid = key().id().to_owned();
    let edited = edited
        .replace("\"user\":\"u1\"", "\"user\":\"root\"")
        .replace(&kid, "k0000000000000000");
    lines[10] = edited.into_bytes();
    let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    fs::write(dir.join(name), join_lines(&refs)).unwrap();
    let report = verify_dir(&dir);
    assert!(!report.is_clean(), "{report}");
    assert_one_tamper_at(&report, FindingKind::Modified, &dir.join(name), 11);
}

/// Gap B: the first record of the earliest segment, its `event` name
/// flipped (`"event"` becomes `"dvent"`). It is no longer a segment
/// header, and a first record that is not a header is taken in unverified
/// ("nothing to link it to"): the report is clean. Every segment starts
/// with a header, and this one's stored signature is what the next record
/// links to, so the record is `modified`.
#[test]
fn edited_first_record_is_tamper_evidence() {
    let f = fixture();
    let text = f.lines(0)[0];
    let pos = find(text, b"\"event\":") + 1;
    let flip = Flip {
        file: 0,
        line: 0,
        pos,
        xor: 0x01,
    };
    expect_found(f, flip);
}

/// Gap B, the consequence: the whole first record can be replaced (here:
/// the header's event renamed, its message rewritten), its signature kept.
#[test]
fn rewritten_first_record_is_found() {
    let f = fixture();
    let (_tmp, dir) = f.write();
    let name = &f.files[0].0;
    let mut lines: Vec<Vec<u8>> = f.lines(0).iter().map(|l| l.to_vec()).collect();
    let edited = String::from_utf8(lines[0].clone())
        .unwrap()
        .replace("\"evtrail.segment_start\"", "\"login\"")
        .replace("segment started", "admin logged in");
    lines[0] = edited.into_bytes();
    let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    fs::write(dir.join(name), join_lines(&refs)).unwrap();
    let report = verify_dir(&dir);
    assert_one_tamper_at(&report, FindingKind::Modified, &dir.join(name), 1);
}

/// Gap C: the `stream` of a file's first record flipped (`app` becomes
/// `` `pp ``). The file is filed under the stream its first record claims,
/// unverified, so every other record of the file is reported `inserted`
/// ("a record of stream `app` inside stream `` `pp ``": 98 findings), and
/// stream `app` loses the segment. The one damaged record should be one
/// finding at line 1 (and, at most, a gap noticed at line 2); the file's
/// other records belong to `app` and verify.
#[test]
fn flipped_stream_of_first_record_is_one_finding() {
    let f = fixture();
    let text = f.lines(1)[0];
    let pos = find(text, b"\"stream\":\"") + 10;
    let flip = Flip {
        file: 1,
        line: 0,
        pos,
        xor: 0x01,
    };
    expect_found(f, flip);
}

/// Gap D: the last record of a segment (its `segment_end`, seq 198), its
/// `seq` flipped to a later one (`198` to `199`, the next segment's first
/// seq). The verifier settles the damaged record without looking at the
/// next segment's first record: it takes it at the seq it claims, and then
/// the genuine records that follow are blamed — the next segment's header
/// is `inserted` and its first event `modified` (with `298` instead, 100
/// records are `deleted` and every record of the next file is
/// `inserted`). In the middle of a file the same flip is one `modified`
/// finding, because there the next record tells that the damaged one sits
/// in the place of seq 198. It should be so at a segment's end too.
#[test]
fn last_record_of_segment_claiming_later_seq_is_one_finding() {
    let f = fixture();
    let lines = f.lines(1);
    let line = lines.len() - 1;
    let pos = find(lines[line], b"\"seq\":") + 6;
    let last = lines[line][pos + 2];
    for (pos, xor) in [(pos + 2, last ^ (last + 1)), (pos, b'1' ^ b'2')] {
        let flip = Flip {
            file: 1,
            line,
            pos,
            xor,
        };
        expect_found(f, flip);
    }
}

/// Gap E: the first record of the middle segment (its header, seq 100),
/// its `seq` flipped to `300`. Files are put in chain order by the `seq`
/// of their first record, read before anything is verified, so this file
/// now sorts after `app.log`: the verifier reports the segment `missing`
/// at `app.log` and every other record of the file `inserted` (98
/// findings). The damage is one record: one finding at its line.
#[test]
fn flipped_seq_of_first_record_is_one_finding() {
    let f = fixture();
    let pos = find(f.lines(1)[0], b"\"seq\":") + 6;
    let flip = Flip {
        file: 1,
        line: 0,
        pos,
        xor: b'1' ^ b'3',
    };
    expect_found(f, flip);
}

fn expect_found(f: &Fixture, flip: Flip) {
    if let Err(e) = check_flip(f, flip) {
        panic!("{e}");
    }
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

// ---------------------------------------------------------------------------
// 2. Garbage never panics

/// Writes `data` as `x.log` in a new directory and verifies that file.
fn verify_bytes(data: &[u8]) -> (tempfile::TempDir, PathBuf, Report) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.log");
    fs::write(&path, data).unwrap();
    let report = verify_file(&path);
    (tmp, path, report)
}

/// Asserts that the report holds nothing but one finding of `kind` about
/// the whole file (line 0): the file as a whole is not a log.
fn assert_not_a_log(report: &Report, kind: FindingKind, path: &Path) {
    assert!(!report.is_clean(), "{report}");
    assert!(report.streams.is_empty(), "{report}");
    assert_eq!(report.findings.len(), 1, "{report}");
    assert_eq!(report.findings[0].kind, kind, "{report}");
    assert_eq!(at(&report.findings[0]), (path, 0), "{report}");
}

/// Random bytes, some with newlines sprinkled in, some behind a gzip magic
/// number.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    let bytes = prop::collection::vec(any::<u8>(), 0..4096);
    let lines = prop::collection::vec(
        prop_oneof![4 => any::<u8>(), 1 => Just(b'\n'), 1 => Just(b'"')],
        0..4096,
    );
    let gz = prop::collection::vec(any::<u8>(), 0..2048).prop_map(|mut v| {
        v.splice(0..0, [0x1f, 0x8b, 0x08]);
        v
    });
    prop_oneof![bytes, lines, gz]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random bytes hold no signed record: the file is reported as not a
    /// log (`malformed`, or `unreadable` for broken gzip), and nothing else.
    #[test]
    fn random_bytes_are_reported_not_a_log(data in garbage()) {
        prop_assume!(!data.is_empty());
        let (_tmp, path, report) = verify_bytes(&data);
        let kind = if data.starts_with(&[0x1f, 0x8b]) {
            FindingKind::Unreadable
        } else {
            FindingKind::Malformed
        };
        assert_not_a_log(&report, kind, &path);
    }

    /// Pieces of genuine records — whole lines, cut lines, lines glued
    /// together — in any order: whatever comes out, the verifier answers,
    /// and places every finding inside the file.
    #[test]
    fn spliced_records_never_panic(
        pieces in prop::collection::vec(
            (0..3usize, any::<Index>(), any::<Index>(), any::<Index>(), any::<bool>()),
            0..40,
        )
    ) {
        let f = fixture();
        let mut data = Vec::new();
        for (file, line, a, b, newline) in pieces {
            let lines = f.lines(file);
            let text = lines[line.index(lines.len())];
            let (a, b) = (a.index(text.len() + 1), b.index(text.len() + 1));
            data.extend_from_slice(&text[a.min(b)..a.max(b)]);
            if newline {
                data.push(b'\n');
            }
        }
        let (_tmp, path, report) = verify_bytes(&data);
        let lines = data.split(|&b| b == b'\n').count() as u64;
        for x in &report.findings {
            prop_assert!(
                x.location.file == path || x.location.file.as_os_str().is_empty(),
                "{}", report
            );
            prop_assert!(x.location.line <= lines, "{}", report);
        }
        let records: u64 = report.streams.iter().map(|s| s.records).sum();
        prop_assert!(records <= lines, "{}", report);
    }
}

#[test]
fn an_empty_file_is_a_fact_not_tampering() {
    let (_tmp, path, report) = verify_bytes(b"");
    assert!(report.is_clean(), "{report}");
    assert!(report.streams.is_empty(), "{report}");
    assert_eq!(report.findings.len(), 1, "{report}");
    assert_eq!(report.findings[0].kind, FindingKind::EmptyFile, "{report}");
    assert_eq!(at(&report.findings[0]), (path.as_path(), 0), "{report}");
}

#[test]
fn a_nonexistent_path_is_the_only_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Verifier::new(keys())
        .verify_paths(&[tmp.path().join("nope.log")])
        .unwrap_err();
    assert_eq!(err.kind(), evtrail::ErrorKind::Io, "{err}");
}

#[test]
fn a_file_of_nul_bytes_is_not_a_log() {
    let (_tmp, path, report) = verify_bytes(&[0u8; 8192]);
    assert_not_a_log(&report, FindingKind::Malformed, &path);
    let mut with_newlines = [0u8; 8192];
    with_newlines
        .iter_mut()
        .step_by(100)
        .for_each(|b| *b = b'\n');
    let (_tmp, path, report) = verify_bytes(&with_newlines);
    assert_not_a_log(&report, FindingKind::Malformed, &path);
}

/// Rewrites file `i` of a fresh copy of the fixture with `edit` applied to
/// its lines; returns the copy (its guard and directory) and the file's
/// path.
fn edited(i: usize, edit: impl FnOnce(&mut Vec<Vec<u8>>)) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let f = fixture();
    let (tmp, dir) = f.write();
    let mut lines: Vec<Vec<u8>> = f.lines(i).iter().map(|l| l.to_vec()).collect();
    edit(&mut lines);
    let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    let path = dir.join(&f.files[i].0);
    fs::write(&path, join_lines(&refs)).unwrap();
    (tmp, dir, path)
}

/// A record overwritten with NUL bytes (what a crash can leave on some
/// file systems): `malformed` at its line; the record after it, whose link
/// is lost with it, is unverifiable, and everything else verifies.
#[test]
fn a_record_overwritten_with_nul_bytes_is_malformed_at_its_line() {
    let (_tmp, dir, path) = edited(1, |l| l[20] = vec![0u8; l[20].len()]);
    let report = verify_dir(&dir);
    assert_one_tamper_at(&report, FindingKind::Malformed, &path, 21);
    let s = &report.streams[0];
    assert_eq!(s.records, fixture().records() as u64 - 1, "{report}");
    assert_eq!((s.verified, s.unverifiable), (s.records - 1, 1), "{report}");
}

/// NUL bytes inside a record, its signature intact: `malformed` at its
/// line, and the chain goes on from its stored signature.
#[test]
fn nul_bytes_inside_a_record_are_malformed_at_its_line() {
    let (_tmp, dir, path) = edited(1, |l| l[30][40..48].fill(0));
    let report = verify_dir(&dir);
    assert_one_tamper_at(&report, FindingKind::Malformed, &path, 31);
    let s = &report.streams[0];
    assert_eq!(s.verified, s.records, "{report}");
}

/// NUL bytes after the last newline of the log, as a crash can leave
/// them: an unfinished line, not tamper evidence, at the line after the
/// last record.
#[test]
fn nul_bytes_after_the_last_record_are_an_incomplete_line() {
    let f = fixture();
    let (_tmp, dir) = f.write();
    let path = dir.join("app.log");
    let mut data = f.files[2].1.clone();
    data.extend_from_slice(&[0u8; 4096]);
    fs::write(&path, &data).unwrap();
    let report = verify_dir(&dir);
    assert!(report.is_clean(), "{report}");
    let inc: Vec<_> = report.of_kind(FindingKind::IncompleteLine).collect();
    assert_eq!(inc.len(), 1, "{report}");
    assert_eq!(
        at(inc[0]),
        (path.as_path(), f.lines(2).len() as u64 + 1),
        "{report}"
    );
}

/// Invalid UTF-8 in place of a record's text, its signature suffix kept:
/// `malformed` at its line, the chain going on from the stored signature;
/// a whole line of it: `malformed`, the next record unverifiable.
#[test]
fn invalid_utf8_is_malformed_at_its_line() {
    let (_tmp, dir, path) = edited(0, |l| {
        let len = l[40].len();
        l[40][1..len - SIG_SUFFIX_LEN].fill(0xff);
    });
    let report = verify_dir(&dir);
    assert_one_tamper_at(&report, FindingKind::Malformed, &path, 41);
    assert_eq!(report.streams[0].unverifiable, 0, "{report}");

    let (_tmp, dir, path) = edited(0, |l| l[40] = b"\xff\xfe\xc3\x28 \xe2\x82".to_vec());
    let report = verify_dir(&dir);
    assert_one_tamper_at(&report, FindingKind::Malformed, &path, 41);
    assert_eq!(report.streams[0].unverifiable, 1, "{report}");
}

/// A file whose name is not UTF-8 is read like any other.
#[test]
fn a_file_name_that_is_not_utf8_is_read() {
    use std::os::unix::ffi::OsStrExt;
    let f = fixture();
    let (_tmp, dir) = f.write();
    let odd = dir.join(std::ffi::OsStr::from_bytes(b"app.\xff\xfe.log"));
    fs::rename(dir.join(&f.files[0].0), &odd).unwrap();
    let report = verify_dir(&dir);
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.streams[0].verified, f.records() as u64, "{report}");
}

/// A 100 MB line with no newline, written in chunks: read with the
/// default line limit, it is reported without being held (the process's
/// peak memory grows by far less than the line).
#[test]
fn a_100_mb_line_is_malformed_and_not_held_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.log");
    {
        let mut out = std::io::BufWriter::new(fs::File::create(&path).unwrap());
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            out.write_all(&chunk).unwrap();
        }
        out.flush().unwrap();
    }
    let before = peak_rss_kib();
    let report = verify_file(&path);
    let after = peak_rss_kib();
    assert_not_a_log(&report, FindingKind::Malformed, &path);
    if let (Some(before), Some(after)) = (before, after) {
        let grown_mib = (after - before) / 1024;
        assert!(
            grown_mib < 64,
            "peak memory grew by {grown_mib} MiB reading a 100 MiB line"
        );
    }
}

/// The process's peak resident memory, where the system tells it.
fn peak_rss_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// An over-long line among genuine records: `malformed` at its line, and
/// nothing else; the records after it verify.
#[test]
fn an_over_long_line_among_records_is_malformed_at_its_line() {
    let (_tmp, dir, path) = edited(1, |l| l.insert(10, vec![b'{'; 3 << 20]));
    let report = Verifier::new(keys())
        .max_line_len(1 << 20)
        .verify_paths(&[&dir])
        .unwrap();
    assert_one_tamper_at(&report, FindingKind::Malformed, &path, 11);
    let s = &report.streams[0];
    assert_eq!(s.verified, fixture().records() as u64, "{report}");
}

/// Gzip a segment, cut the file in the middle: `unreadable` in that file,
/// after the records that could be read, which verify.
#[test]
fn a_truncated_gzip_file_is_unreadable() {
    let f = fixture();
    let (_tmp, dir) = f.write();
    let plain = dir.join(&f.files[0].0);
    let gz = with_gz(&plain);
    let data = gzip(&f.files[0].1);
    fs::write(&gz, &data[..data.len() / 2]).unwrap();
    fs::remove_file(&plain).unwrap();
    let report = verify_dir(&dir);
    assert!(!report.is_clean(), "{report}");
    let u: Vec<_> = report.of_kind(FindingKind::Unreadable).collect();
    assert_eq!(u.len(), 1, "{report}");
    assert_eq!(u[0].location.file, gz, "{report}");
    let n = f.lines(0).len() as u64;
    assert!(
        u[0].location.line > 1 && u[0].location.line <= n,
        "{report}"
    );
    // The lines before the cut were read and verified.
    assert!(
        report.streams[0].verified >= u[0].location.line - 1,
        "{report}"
    );
}

/// A valid gzip member followed by bytes that are not gzip: every record
/// of the member verifies, and the rest is `unreadable` after its last
/// line.
#[test]
fn garbage_after_a_gzip_member_is_unreadable() {
    let f = fixture();
    let (_tmp, dir) = f.write();
    let plain = dir.join(&f.files[0].0);
    let gz = with_gz(&plain);
    let mut data = gzip(&f.files[0].1);
    data.extend_from_slice(b"this is not gzip\n");
    fs::write(&gz, &data).unwrap();
    fs::remove_file(&plain).unwrap();
    let report = verify_dir(&dir);
    let u: Vec<_> = report.of_kind(FindingKind::Unreadable).collect();
    assert_eq!(u.len(), 1, "{report}");
    assert_eq!(
        at(u[0]),
        (gz.as_path(), f.lines(0).len() as u64 + 1),
        "{report}"
    );
    assert_eq!(tamper_findings(&report).len(), 1, "{report}");
    assert_eq!(report.streams[0].verified, f.records() as u64, "{report}");
}

fn with_gz(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.gz", path.display()))
}

/// Garbage lines after the last record of a segment, and after the last
/// record of the log: `malformed` at each of them, nothing else.
#[test]
fn garbage_lines_after_records_are_malformed_at_their_lines() {
    let garbage: [&[u8]; 3] = [b"garbage", br#"{"v":1,"stream":"app","seq":5}"#, b""];
    for file in [0, 2] {
        let (_tmp, dir, path) = edited(file, |l| l.extend(garbage.iter().map(|g| g.to_vec())));
        let report = verify_dir(&dir);
        let n = fixture().lines(file).len() as u64;
        let t = tamper_findings(&report);
        assert_eq!(t.len(), 3, "{report}");
        for (x, line) in t.iter().zip(n + 1..) {
            assert_eq!(x.kind, FindingKind::Malformed, "{report}");
            assert_eq!(at(x), (path.as_path(), line), "{report}");
        }
        assert_eq!(
            report.streams[0].verified,
            fixture().records() as u64,
            "{report}"
        );
    }
}

/// Records as JSON without their signatures: a file of them is not a log;
/// one among signed records is `malformed` at its line.
#[test]
fn records_without_signatures_are_malformed() {
    let f = fixture();
    let unsigned: Vec<Vec<u8>> = f.lines(1)[..5]
        .iter()
        .map(|l| [&l[..l.len() - SIG_SUFFIX_LEN], b"}"].concat())
        .collect();
    for l in &unsigned {
        serde_json::from_slice::<serde_json::Value>(l).unwrap();
    }
    let refs: Vec<&[u8]> = unsigned.iter().map(Vec::as_slice).collect();
    let (_tmp, path, report) = verify_bytes(&join_lines(&refs));
    assert_not_a_log(&report, FindingKind::Malformed, &path);

    let (_tmp, dir, path) = edited(1, |l| l[3] = unsigned[3].clone());
    let report = verify_dir(&dir);
    assert_one_tamper_at(&report, FindingKind::Malformed, &path, 4);
}

/// A line of exactly the signature suffix's bytes (`,"sig":"…"}`), and
/// one a byte longer (`{` before it), among records: `malformed` at their
/// lines, lines that do not belong.
#[test]
fn a_line_of_the_signature_suffix_length_is_malformed() {
    let f = fixture();
    let line = f.lines(1)[5];
    let suffix = &line[line.len() - SIG_SUFFIX_LEN..];
    assert!(suffix.starts_with(b",\"sig\":\"") && suffix.ends_with(b"\"}"));
    let (_tmp, path, report) = verify_bytes(&join_lines(&[suffix]));
    assert_not_a_log(&report, FindingKind::Malformed, &path);

    let longer = [b"{", suffix].concat();
    for extra in [suffix.to_vec(), longer] {
        let (_tmp, dir, path) = edited(1, |l| l.insert(6, extra.clone()));
        let report = verify_dir(&dir);
        assert_one_tamper_at(&report, FindingKind::Malformed, &path, 7);
        assert_eq!(report.streams[0].verified, f.records() as u64, "{report}");
    }
}

/// Records claiming extreme `seq`s, or headers linking to them, where
/// arithmetic on `seq` can overflow: each must be answered (not a panic)
/// with tamper evidence. Every case is run, and all that panic are listed.
#[test]
fn extreme_seqs_do_not_panic() {
    let failures = extreme_seq_cases(&[0, 1 << 63, u64::MAX - 1, u64::MAX]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The cases of `extreme_seqs_do_not_panic` that do not reach the
/// overflow: they must hold today.
#[test]
fn large_seqs_do_not_panic() {
    let failures = extreme_seq_cases(&[0, 1 << 63, u64::MAX / 2]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Sets `seq` (or a header's `prev_seq`) of chosen records to each value
/// and verifies; returns what went wrong.
fn extreme_seq_cases(values: &[u64]) -> Vec<String> {
    let f = fixture();
    let n = |i: usize| f.lines(i).len() - 1;
    let places = [
        (0, 0, "\"seq\":"),
        (0, 0, "\"prev_seq\":"),
        (1, 0, "\"seq\":"),
        (1, 0, "\"prev_seq\":"),
        (1, 20, "\"seq\":"),
        (1, n(1), "\"seq\":"),
        (2, n(2), "\"seq\":"),
    ];
    let mut failures = Vec::new();
    for &value in values {
        for (file, line, field) in places {
            let case = format!("{field}{value} in {} line {}", f.files[file].0, line + 1);
            let mut unchanged = false;
            let (_tmp, dir, _path) = edited(file, |l| {
                let text = String::from_utf8(l[line].clone()).unwrap();
                let at = text.find(field).unwrap() + field.len();
                let end = at + text[at..].find(',').unwrap();
                unchanged = text[at..end] == value.to_string();
                l[line] = format!("{}{value}{}", &text[..at], &text[end..]).into_bytes();
            });
            let result = std::panic::catch_unwind(|| verify_dir(&dir));
            match result {
                Err(panic) => {
                    let msg = panic_message(&*panic);
                    failures.push(format!("{case}: the verifier panicked: {msg}"));
                }
                Ok(report) if !unchanged && report.is_clean() => {
                    failures.push(format!("{case}: reported clean:\n{report}"));
                }
                Ok(_) => {}
            }
        }
        // A file that starts in the middle of a segment, with the
        // extreme value in its first record: only a panic is wrong here.
        let mut lines: Vec<Vec<u8>> = f.lines(1)[5..10].iter().map(|l| l.to_vec()).collect();
        let text = String::from_utf8(lines[0].clone()).unwrap();
        let at = text.find("\"seq\":").unwrap() + 6;
        let end = at + text[at..].find(',').unwrap();
        lines[0] = format!("{}{value}{}", &text[..at], &text[end..]).into_bytes();
        let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let data = join_lines(&refs);
        if let Err(panic) = std::panic::catch_unwind(|| verify_bytes(&data)) {
            failures.push(format!(
                "\"seq\":{value} in the first line of a file starting mid-segment: the verifier panicked: {}",
                panic_message(&*panic)
            ));
        }
    }
    failures
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("?")
}

// ---------------------------------------------------------------------------
// 3. Unknown keys

/// Without the key (no key at all, or another one), every record is
/// unverifiable: reported as `unknown_key`, which is not tamper evidence.
#[test]
fn without_the_key_every_record_is_unverifiable_not_tampered() {
    let f = fixture();
    let (_tmp, dir) = f.write();
    let other = Key::from_bytes(vec![7u8; 32]).unwrap();
    for keys in [Keyring::new(), Keyring::new().with(other)] {
        let report = Verifier::new(keys).verify_paths(&[&dir]).unwrap();
        assert!(report.is_clean(), "{report}");
        let unknown: Vec<_> = report.of_kind(FindingKind::UnknownKey).collect();
        assert!(!unknown.is_empty(), "{report}");
        assert!(
            report
                .findings
                .iter()
                .all(|x| x.kind == FindingKind::UnknownKey),
            "{report}"
        );
        assert!(
            unknown.iter().all(|x| x.detail.contains(key().id())),
            "{report}"
        );
        assert_eq!(report.streams.len(), 1, "{report}");
        for s in &report.streams {
            assert_eq!(s.records, f.records() as u64, "{report}");
            assert_eq!(s.unverifiable, s.records, "{report}");
            assert_eq!(s.verified, 0, "{report}");
        }
    }
}

// ---------------------------------------------------------------------------
// 4. Multi-member gzip

/// A segment gzipped as several concatenated members — cut in the middle
/// of a line, with an empty member between — verifies clean.
#[test]
fn a_multi_member_gzip_segment_verifies_clean() {
    let f = fixture();
    for i in [0, 2] {
        let (_tmp, dir) = f.write();
        let data = &f.files[i].1;
        let cut = line_spans(data)[10].0 + 17;
        let gz = [gzip(&data[..cut]), gzip(b""), gzip(&data[cut..])].concat();
        let plain = dir.join(&f.files[i].0);
        fs::write(with_gz(&plain), gz).unwrap();
        fs::remove_file(&plain).unwrap();
        let report = verify_dir(&dir);
        assert!(report.is_clean() && report.findings.is_empty(), "{report}");
        assert_eq!(report.streams[0].verified, f.records() as u64, "{report}");
    }
}
