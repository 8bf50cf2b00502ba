//! Verifying signed logs: every record's signature, the chain between
//! them, and the segments they are stored in.
//!
//! A [`Verifier`] reads files (plain or gzip, multi-member included) or
//! whole directories, groups the records by stream, orders each stream's
//! files by the `seq` of their records, and checks the chain as
//! [`signing`](crate::signing) specifies. It streams: memory stays
//! constant per stream, whatever the size of the log. It uses every core
//! it is given (`std::thread::available_parallelism`): one thread reads and
//! decompresses the files, others parse blocks of lines and check each
//! record's signature against the line before, and the chain takes the
//! blocks in order; the findings are the same whatever the number of
//! cores.
//!
//! Problems are **findings** in the [`Report`], never errors: every one is
//! reported (not just the first) with its file, line, byte offset and
//! `seq`. The verifier re-synchronises on the stored signatures, so one
//! edited record yields one finding and the records after it still verify.
//!
//! | finding | meaning | tamper evidence |
//! |---|---|---|
//! | `modified` | the record's bytes or signature are not what was signed | yes |
//! | `deleted` | records are missing from the chain (a range of `seq`) | yes |
//! | `explained_loss` | records are missing, and a genuine `evtrail.dropped` record declares exactly them lost (a sink failed longer than its retry buffer held, a spool was full); see below | no |
//! | `inserted` | a line that does not belong: forged, signed with another key, or from another stream | yes |
//! | `reordered` | a genuine record out of its place | yes |
//! | `duplicated` | a genuine record that appears again | yes |
//! | `truncated_tail` | records cut off the end of a segment, or of the stream (proved against an anchor) | yes |
//! | `missing_segment` | a whole segment (file) is gone, the oldest ones included when the writer records its removals | yes |
//! | `duplicate_segment` | the same segment is present twice | yes |
//! | `swapped_segment` | files were renamed: ordered by their records' `seq`, their names sort otherwise | yes |
//! | `anchor_mismatch` | the record at an anchor's `seq` is not the anchored one | yes |
//! | `malformed` | a line that is not a signed record (garbage, cut, not JSON) | yes |
//! | `unreadable` | a file that cannot be read to the end (for example a truncated gzip file) | yes |
//! | `unknown_key` | records signed with a key id the verifier does not have: unverifiable, not tampered (a changed `kid` is `modified`) | no |
//! | `crash_recovered` | the writer stopped without closing a segment, and the next segment declares it | no |
//! | `incomplete_line` | the last file ends in the middle of a line (the writer is still writing, or stopped) | no |
//! | `time_backwards` | `ts` goes back by more than a second | no |
//! | `twin_mismatch` | a rolled file and its gzip copy (`X.log`, `X.log.gz`, left by an interrupted compression) differ | yes |
//! | `missing_seal` | more records or time between seals than the segment's declared policy | no |
//! | `empty_file` | a file with nothing in it: a writer that stopped before its first record | no |

//!
//! An `explained_loss` is a loss, not tampering: the writer could not
//! store those records and signed a record saying which (its `ranges`).
//! `evtrail verify` exits 0 when it is the only kind of finding, and prints
//! it; a gap that no verified drop record covers entirely stays `deleted`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::key::Keyring;
pub use crate::logdir::DEFAULT_MAX_LINE_BYTES;
use crate::logdir::collect_files;
use crate::mac::Sig;
use crate::sign::Seal;

mod anchors;
mod chain;
mod explained;
mod feed;
mod head;
mod parse;
mod report;
mod store;
mod twins;

pub use anchors::{anchors_from_text, state_anchors};
use chain::files::FileInfo;
use chain::{StreamCheck, stream_macs};
use feed::{Job, feed};
pub use report::{Finding, FindingKind, Location, Report, StreamReport};
pub use store::StoredChain;

/// Checks signed logs; see the [module docs](self).
///
/// # Examples
///
/// ```
/// use evtrail::verify::Verifier;
/// use tracing_subscriber::prelude::*;
///
/// let dir = tempfile::tempdir().unwrap();
/// let key = evtrail::Key::generate()?;
/// let (layer, guard) = evtrail::builder().service("demo").key(key.clone()).log_dir(dir.path()).build()?;
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     tracing::info!(user = "u1", "signed in");
/// });
/// let anchor = { guard.flush(std::time::Duration::from_secs(5))?; guard.seals() };
/// drop(guard);
///
/// let mut verifier = Verifier::new(evtrail::Keyring::new().with(key));
/// for seal in anchor {
///     verifier = verifier.anchor(seal);
/// }
/// let report = verifier.verify_paths(&[dir.path()])?;
/// assert!(report.is_clean(), "{report}");
/// assert_eq!(report.streams[0].records, 3); // segment start, the event, segment end
/// # Ok::<(), evtrail::Error>(())
/// ```
pub struct Verifier {
    keys: Keyring,
    anchors: Vec<Seal>,
    max_line: usize,
    progress: Option<Box<dyn FnMut(u64, u64)>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys)
            .field("anchors", &self.anchors)
            .field("max_line", &self.max_line)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier with these keys.
    pub fn new(keys: Keyring) -> Verifier {
        Verifier {
            keys,
            anchors: Vec::new(),
            max_line: DEFAULT_MAX_LINE_BYTES,
            progress: None,
        }
    }

    /// Adds an anchor: a seal exported earlier (see
    /// [`Handle::seals`](crate::Handle::seals)). The stream must reach the
    /// anchor's `seq` with the anchor's signature, which is what proves
    /// that its end was not cut off.
    pub fn anchor(mut self, seal: Seal) -> Verifier {
        self.anchors.push(seal);
        self
    }

    /// Longest line read. Default [`DEFAULT_MAX_LINE_BYTES`].
    pub fn max_line_len(mut self, bytes: usize) -> Verifier {
        self.max_line = bytes.max(128);
        self
    }

    /// Calls `progress(bytes_done, bytes_total)` as files are read (sizes
    /// on disk).
    pub fn on_progress(mut self, progress: impl FnMut(u64, u64) + 'static) -> Verifier {
        self.progress = Some(Box::new(progress));
        self
    }

    /// Verifies files and directories (every `*.log` and `*.log.gz` file
    /// directly in a directory).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when a path does not exist or a directory cannot
    /// be listed. Everything found inside files is a finding, not an error.
    pub fn verify_paths<P: AsRef<Path>>(&mut self, paths: &[P]) -> Result<Report, Error> {
        let mut files = collect_files(paths)?;
        let total: u64 = files
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        let dirs: Vec<&Path> = paths
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| p.is_dir())
            .collect();
        let in_dir = |f: &Path| f.parent().is_some_and(|p| dirs.contains(&p));
        let twins = twins::pair(&mut files);
        let mut report = Report::default();
        let mut by_stream: BTreeMap<String, Vec<FileInfo>> = BTreeMap::new();
        for path in files {
            match FileInfo::probe(&path, self.max_line) {
                Ok(Some(mut info)) => {
                    info.twin = twins
                        .iter()
                        .find(|(plain, _)| *plain == info.path)
                        .map(|(_, gz)| gz.clone());
                    by_stream.entry(info.stream.clone()).or_default().push(info)
                }
                // A writer that stopped before its first record leaves an
                // empty file: it holds no segment, and records cut from it
                // are the chain's to show (or the anchors').
                Ok(None) if twins::is_empty(&path) => report.findings.push(file_finding(
                    FindingKind::EmptyFile,
                    path,
                    "the file is empty: a writer that stopped before its first record leaves one; \
                     not evidence of tampering"
                        .into(),
                )),
                Ok(None) => report.findings.push(file_finding(
                    FindingKind::Malformed,
                    path,
                    "the file holds no signed record".into(),
                )),
                Err(e) => report.findings.push(file_finding(
                    FindingKind::Unreadable,
                    path,
                    format!("cannot read the file: {e}"),
                )),
            }
        }
        // Per stream: its files in chain order, without a file that
        // repeats the segment of the one before it (reported, not read).
        let mut streams = Vec::new();
        for (stream, mut files) in by_stream {
            files.sort_by(|a, b| (a.first_seq, &a.path).cmp(&(b.first_seq, &b.path)));
            let mut prev_first: Option<(u64, Sig)> = None;
            let read: Vec<bool> = files
                .iter()
                .map(|info| {
                    if let (Some((seq, sig)), Some(first_sig)) = (prev_first, info.first_sig)
                        && seq == info.first_seq
                        && sig == first_sig
                    {
                        return false;
                    }
                    prev_first = info.first_sig.map(|s| (info.first_seq, s));
                    true
                })
                .collect();
            let macs = stream_macs(&self.keys, &stream);
            streams.push((stream, files, read, macs));
        }
        // Every file read, in chain order, with its stream's MACs.
        let jobs: Vec<Job<'_>> = streams
            .iter()
            .flat_map(|(_, files, read, macs)| {
                files
                    .iter()
                    .zip(read)
                    .filter(|(_, read)| **read)
                    .map(|(info, _)| (info.path.as_path(), macs.as_slice()))
            })
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let max_line = self.max_line;
        let mut done = 0u64;
        // Per stream: its name, where its findings start, and its gaps.
        let mut gaps = Vec::new();
        let mut claims = Vec::new();
        feed(&jobs, max_line, threads, |next| {
            for (stream, files, read, _) in &streams {
                let anchors: Vec<Seal> = self
                    .anchors
                    .iter()
                    .filter(|a| a.stream == *stream)
                    .cloned()
                    .collect();
                let mut check = StreamCheck::new(stream, &self.keys, anchors);
                check.report.files =
                    files.len() + files.iter().filter(|f| f.twin.is_some()).count();
                check.whole_directory = files.iter().all(|f| in_dir(&f.path));
                check.check_names(files);
                for (info, read) in files.iter().zip(read) {
                    if !read {
                        check.finding(
                            FindingKind::DuplicateSegment,
                            Location {
                                file: info.path.clone(),
                                line: 1,
                                offset: 0,
                            },
                            Some(info.first_seq),
                            "this file repeats the segment of the file before it".into(),
                        );
                        continue;
                    }
                    let size = std::fs::metadata(&info.path).map_or(0, |m| m.len());
                    let progress = &mut self.progress;
                    // For gzip the offset is in decompressed bytes: cap it at
                    // the file's size so the total is never overshot.
                    let mut progress = |offset: u64| {
                        if let Some(p) = progress {
                            p(done + offset.min(size), total);
                        }
                    };
                    let mut first = true;
                    while let Some((_, items, last)) = next() {
                        check.take(info, items, &mut first, &mut progress);
                        if last {
                            break;
                        }
                    }
                    done += size;
                    if let Some(gz) = &info.twin
                        && let Some((kind, loc, seq, detail)) =
                            twins::compare(&info.path, gz, max_line)
                    {
                        check.finding(kind, loc, seq, detail);
                    }
                    if let Some(p) = &mut self.progress {
                        p(done, total);
                    }
                }
                check.finish();
                report.streams.push(check.report);
                gaps.push((stream.clone(), report.findings.len(), check.gaps));
                claims.append(&mut check.claims);
                report.findings.extend(check.findings);
            }
        });
        // A drop record may sit in another stream than the gap it explains.
        for (stream, base, gaps) in gaps {
            let at = &mut report.findings[base..];
            explained::explain(at, &stream, &gaps, &claims);
        }
        Ok(report)
    }
}

/// A finding about a whole file, before any of its records was read.
fn file_finding(kind: FindingKind, file: PathBuf, detail: String) -> Finding {
    Finding {
        kind,
        stream: None,
        location: Location {
            file,
            line: 0,
            offset: 0,
        },
        seq: None,
        detail,
    }
}
