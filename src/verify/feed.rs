//! Files' lines made ready for the chain check: read (and decompressed)
//! on a thread of their own, cut into blocks, and each block parsed with
//! its records' signatures checked against the line before them on as
//! many threads as there are cores, so that the chain's thread, which must
//! take the records in order, is left with comparisons.
//!
//! What comes out, block by block in order, is what the chain check would
//! have read itself: each file's lines with their places, then how the
//! file ended (at its end, with an unfinished line, or with a read error).
//! A signature checked here is only a cached answer: the chain asks it with
//! the `prev` it holds, and checks again itself when that is another one.
//! Memory stays bounded by the blocks in flight, whatever the files' sizes;
//! block buffers go back to the reader to be filled again.

use std::collections::BTreeMap;
use std::path::Path;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};

use super::parse::{Parsed, parse_line};
use super::report::Location;
use crate::logdir::{Lines, RawLine, open};
use crate::mac::{Sig, StreamMac};
use crate::sign::split_signed;

/// A block is handed on once it holds this many lines, or bytes.
const BLOCK_LINES: usize = 1024;
const BLOCK_BYTES: usize = 512 * 1024;
/// How often, in bytes read, a file's progress is reported.
const PROGRESS_EVERY: u64 = 8 * 1024 * 1024;

/// A file to read, with its stream's MACs by key id.
pub(super) type Job<'a> = (&'a Path, &'a [(String, StreamMac)]);

/// One step of reading a file.
pub(super) enum Item {
    /// The file cannot be opened.
    CannotOpen(String),
    /// Bytes read so far (decompressed, for gzip).
    Progress(u64),
    /// A complete line.
    Line(Parsed),
    /// The file ends with an unfinished line of this many bytes.
    Torn(Location, u64),
    /// Reading failed before the end: the line it was in, the bytes read.
    Unreadable {
        line: u64,
        offset: u64,
        error: String,
    },
}

/// Where a line of a block's text is, and its place in its file.
struct At {
    start: usize,
    end: usize,
    line: u64,
    offset: u64,
    too_long: bool,
}

/// Complete lines of one file as read, and what came before or after
/// them.
#[derive(Default)]
struct Block {
    /// Which job's file.
    job: usize,
    text: Vec<u8>,
    lines: Vec<At>,
    /// The signature of the line before the first one.
    prev: Option<Sig>,
    /// Items before the lines (progress, or the file not opening).
    before: Vec<Item>,
    /// How the file ended, when this is its last block.
    end: Option<Item>,
    last: bool,
}

/// A block turned into items: `(job, items, whether it is the job's
/// last)`.
pub(super) type Done = (usize, Vec<Item>, bool);

/// Reads the jobs' files in order, a block at a time.
struct Reader<'j, 'a> {
    jobs: &'j [Job<'a>],
    max: usize,
    /// The job being read, and its lines once opened.
    job: usize,
    lines: Option<Lines>,
    /// Where progress was last reported, and the last line's signature.
    reported: u64,
    prev: Option<Sig>,
}

impl<'j, 'a> Reader<'j, 'a> {
    fn new(jobs: &'j [Job<'a>], max: usize) -> Self {
        Reader {
            jobs,
            max,
            job: 0,
            lines: None,
            reported: 0,
            prev: None,
        }
    }

    /// The next block, filled into `reuse` when given; `None` after the
    /// last file's last block.
    fn next_block(&mut self, reuse: Option<Block>) -> Option<Block> {
        let (path, _) = *self.jobs.get(self.job)?;
        let mut block = reuse.unwrap_or_default();
        block.job = self.job;
        block.text.clear();
        block.lines.clear();
        block.before.clear();
        block.prev = self.prev;
        block.end = None;
        block.last = false;
        let lines = match &mut self.lines {
            Some(lines) => lines,
            None => match open(path) {
                Ok(src) => self.lines.insert(Lines::new(src, self.max)),
                Err(e) => {
                    block.before.push(Item::CannotOpen(e.to_string()));
                    return Some(self.next_file(block));
                }
            },
        };
        if lines.offset() >= self.reported + PROGRESS_EVERY {
            self.reported = lines.offset();
            block.before.push(Item::Progress(self.reported));
        }
        while block.lines.len() < BLOCK_LINES && block.text.len() < BLOCK_BYTES {
            match lines.next_line() {
                Ok(Some(raw)) if raw.complete => {
                    let start = block.text.len();
                    block.text.extend_from_slice(raw.bytes);
                    block.lines.push(At {
                        start,
                        end: block.text.len(),
                        line: raw.line,
                        offset: raw.offset,
                        too_long: raw.too_long,
                    });
                }
                Ok(Some(raw)) => {
                    let loc = Location {
                        file: path.to_path_buf(),
                        line: raw.line,
                        offset: raw.offset,
                    };
                    block.end = Some(Item::Torn(loc, raw.bytes.len() as u64));
                    return Some(self.next_file(block));
                }
                Ok(None) => return Some(self.next_file(block)),
                Err(e) => {
                    block.end = Some(Item::Unreadable {
                        line: lines.line() + 1,
                        offset: lines.offset(),
                        error: e.to_string(),
                    });
                    return Some(self.next_file(block));
                }
            }
        }
        self.prev = block
            .lines
            .last()
            .and_then(|a| split_signed(&block.text[a.start..a.end]))
            .map(|(_, sig)| to_sig(sig));
        Some(block)
    }

    /// Ends the current file with `block`.
    fn next_file(&mut self, mut block: Block) -> Block {
        block.last = true;
        self.job += 1;
        self.lines = None;
        self.reported = 0;
        self.prev = None;
        block
    }
}

fn to_sig(s: &[u8]) -> Sig {
    let mut a = [0u8; crate::mac::SIG_LEN];
    a.copy_from_slice(s);
    a
}

/// Parses a block's lines, checking each record's signature after the
/// line before with its stream's MACs; the block's buffers stay in it.
fn parse(block: &mut Block, jobs: &[Job<'_>]) -> Done {
    let (path, macs) = jobs[block.job];
    let mut items = std::mem::take(&mut block.before);
    items.reserve(block.lines.len() + 1);
    let mut prev = block.prev;
    for at in &block.lines {
        let raw = RawLine {
            bytes: &block.text[at.start..at.end],
            line: at.line,
            offset: at.offset,
            complete: true,
            too_long: at.too_long,
        };
        let mut parsed = parse_line(&raw, path);
        let sig = match &mut parsed {
            Parsed::Rec(r) => {
                let mac = macs.iter().find(|(id, _)| *id == r.kid).map(|(_, m)| m);
                if let (Some(mac), Some(p)) = (mac, prev) {
                    r.pre = Some((p, mac.verify(&p, &r.body, &r.sig)));
                }
                Some(r.sig)
            }
            Parsed::Bad { sig, .. } => *sig,
        };
        prev = sig;
        items.push(Item::Line(parsed));
    }
    items.extend(block.end.take());
    (block.job, items, block.last)
}

/// Reads `jobs` and hands `take` a source of their blocks' items, in
/// order, on this thread; reading and parsing run on `threads` threads
/// besides it (none when `threads` is below 2: then all of it runs here,
/// as `take` asks).
pub(super) fn feed<T>(
    jobs: &[Job<'_>],
    max: usize,
    threads: usize,
    take: impl FnOnce(&mut dyn FnMut() -> Option<Done>) -> T,
) -> T {
    if threads < 2 {
        let mut reader = Reader::new(jobs, max);
        let mut spare = None;
        return take(&mut || {
            let mut block = reader.next_block(spare.take())?;
            let done = parse(&mut block, jobs);
            spare = Some(block);
            Some(done)
        });
    }
    std::thread::scope(|scope| {
        let (to_parse, blocks) = bounded::<(u64, Block)>(4 * threads);
        let (to_take, done) = bounded::<(u64, Done)>(4 * threads);
        let (to_reuse, reused): (Sender<Block>, Receiver<Block>) = unbounded();
        scope.spawn(move || {
            let mut reader = Reader::new(jobs, max);
            let mut n = 0;
            while let Some(block) = reader.next_block(reused.try_recv().ok()) {
                if to_parse.send((n, block)).is_err() {
                    return;
                }
                n += 1;
            }
        });
        for _ in 0..threads {
            let (blocks, to_take, to_reuse) = (blocks.clone(), to_take.clone(), to_reuse.clone());
            scope.spawn(move || {
                for (n, mut block) in blocks {
                    let done = parse(&mut block, jobs);
                    // The reader may have finished: then the buffer is
                    // simply dropped.
                    let _ = to_reuse.send(block);
                    if to_take.send((n, done)).is_err() {
                        return;
                    }
                }
            });
        }
        drop((blocks, to_take, to_reuse));
        // Blocks finish out of order; they are taken in order.
        let mut waiting = BTreeMap::new();
        let mut next = 0u64;
        take(&mut || {
            loop {
                if let Some(d) = waiting.remove(&next) {
                    next += 1;
                    return Some(d);
                }
                let (n, d) = done.recv().ok()?;
                waiting.insert(n, d);
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::mac::GENESIS;

    /// `n` chained records of stream `app` from `seq`, after `prev`; the
    /// text and the last signature.
    fn records(mac: &StreamMac, seq: u64, n: u64, mut prev: Sig) -> (String, Sig) {
        let mut text = String::new();
        for s in seq..seq + n {
            let body = format!(
                r#"{{"v":1,"stream":"app","seq":{s},"ts":"2026-11-20T12:00:00.000001Z","event":"e{}","kid":"k1""#,
                "x".repeat((s % 7) as usize)
            );
            let mut sig = [0; crate::mac::SIG_LEN];
            mac.sign(&prev, body.as_bytes(), &mut sig);
            text.push_str(&body);
            text.push_str(r#","sig":""#);
            text.push_str(std::str::from_utf8(&sig).unwrap());
            text.push_str("\"}\n");
            prev = sig;
        }
        (text, prev)
    }

    /// Every item, in a form to compare.
    fn summary(jobs: &[Job<'_>], threads: usize) -> Vec<String> {
        feed(jobs, 2048, threads, |next| {
            let mut out = Vec::new();
            while let Some((job, items, last)) = next() {
                for item in items {
                    out.push(match item {
                        Item::CannotOpen(_) => format!("{job} cannot open"),
                        Item::Progress(o) => format!("{job} progress {o}"),
                        Item::Line(Parsed::Rec(r)) => format!(
                            "{job} rec {} {} seq {} pre {:?}",
                            r.loc.line,
                            r.loc.offset,
                            r.seq,
                            r.pre.map(|(_, ok)| ok)
                        ),
                        Item::Line(Parsed::Bad { why, loc, .. }) => {
                            format!("{job} bad {} {} {why}", loc.line, loc.offset)
                        }
                        Item::Torn(loc, n) => format!("{job} torn {} {n}", loc.line),
                        Item::Unreadable { line, .. } => format!("{job} unreadable {line}"),
                    });
                }
                if last {
                    out.push(format!("{job} end"));
                }
            }
            out
        })
    }

    #[test]
    fn blocks_come_out_alike_in_order_whatever_the_threads() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::Key::from_bytes(vec![7u8; 32]).unwrap();
        let mac = StreamMac::new(&key, "app");
        let macs = vec![("k1".to_owned(), mac.clone())];
        // Several blocks, a damaged line, an over-long one, a torn end.
        let (a, prev) = records(&mac, 1, 1500, GENESIS);
        let (b, prev) = records(&mac, 1501, 1500, prev);
        let long = format!("{{\"x\":\"{}\"}}\n", "y".repeat(3000));
        let plain = dir.path().join("a.log");
        std::fs::write(&plain, format!("{a}garbage\n{long}{b}{{\"torn")).unwrap();
        // A gzip file that goes on with the chain.
        let (c, _) = records(&mac, 3001, 2500, prev);
        let gz = dir.path().join("b.log.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(c.as_bytes()).unwrap();
        enc.finish().unwrap();
        let gone = dir.path().join("gone.log");
        let jobs: Vec<Job<'_>> = vec![(&plain, &macs), (&gone, &macs), (&gz, &macs)];

        let one = summary(&jobs, 1);
        for threads in [2, 3] {
            assert_eq!(summary(&jobs, threads), one, "{threads} threads");
        }
        let count = |what: &str| one.iter().filter(|l| l.contains(what)).count();
        // Checked after the line before, across blocks: all but each
        // file's first record and the one after the damaged lines.
        assert_eq!(count("pre Some(true)"), 1499 + 1499 + 2499);
        assert_eq!(count("pre Some(false)"), 0);
        assert_eq!(count("bad"), 2);
        assert_eq!(
            one.iter()
                .filter(|l| l.contains("torn") || l.ends_with("end") || l.contains("cannot"))
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["0 torn 3003 6", "0 end", "1 cannot open", "1 end", "2 end"]
        );
        let bad: Vec<&str> = one
            .iter()
            .filter(|l| l.contains("bad"))
            .map(String::as_str)
            .collect();
        assert!(
            bad[0].starts_with("0 bad 1501 ") && bad[0].ends_with("signature"),
            "{bad:?}"
        );
        assert!(
            bad[1].starts_with("0 bad 1502 ") && bad[1].ends_with("limit"),
            "{bad:?}"
        );
    }
}
