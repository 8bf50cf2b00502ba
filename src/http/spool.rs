//! The on-disk spool of an HTTP sink: records that wait for the endpoint.
//!
//! A spool is a directory of files `<20-digit number>.spool`, delivered in
//! number order, each holding whole records as JSON lines, about one
//! request's worth. New records go to the back (the highest number); at
//! shutdown, what was still in memory is older than everything spooled, so
//! it goes to the front (numbers below the lowest). A file leaves the spool
//! only once its records are delivered or dead-lettered, so a crash at any
//! point means at worst a second delivery, never a loss.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The first number of a fresh spool, leaving room below it for the
/// records that shutdowns put in front.
const FIRST_ID: u64 = 1 << 40;

#[derive(Debug)]
struct SpoolFile {
    id: u64,
    bytes: u64,
    records: u64,
}

/// The files of one spool directory. Not synchronised: its owner locks it.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    files: VecDeque<SpoolFile>,
    /// The back file, while records are still appended to it.
    tail: Option<File>,
    /// The front file is being sent: it is sealed and must not be touched.
    front_taken: bool,
    bytes: u64,
    records: u64,
}

impl Spool {
    /// Opens (creating) `dir` and takes stock of the files a previous run
    /// left. Stray temporary files from a crash are removed.
    pub(crate) fn open(dir: &Path) -> io::Result<Spool> {
        crate::private::create_dir_all(dir)?;
        let mut files = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".spool.tmp") {
                let _ = fs::remove_file(entry.path());
                continue;
            }
            let Some(id) = name
                .strip_suffix(".spool")
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let data = fs::read(entry.path())?;
            if data.is_empty() {
                let _ = fs::remove_file(entry.path());
                continue;
            }
            // A torn last line still counts: it is dead-lettered, not lost.
            let records = memchr::memchr_iter(b'\n', &data).count() as u64
                + u64::from(!data.ends_with(b"\n"));
            files.push(SpoolFile {
                id,
                bytes: data.len() as u64,
                records,
            });
        }
        files.sort_by_key(|f| f.id);
        let bytes = files.iter().map(|f| f.bytes).sum();
        let records = files.iter().map(|f| f.records).sum();
        Ok(Spool {
            dir: dir.to_owned(),
            files: files.into(),
            tail: None,
            front_taken: false,
            bytes,
            records,
        })
    }

    /// The paths of the spool's files, front first.
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| self.path(f.id)).collect()
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Bytes on disk.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Records waiting.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:020}.spool"))
    }

    /// Appends `lines` (whole records, each ending in a newline) at the
    /// back. A back file that already holds `roll_bytes` is closed first.
    pub(crate) fn append(&mut self, lines: &[u8], records: u64, roll_bytes: u64) -> io::Result<()> {
        // `take_front` closes the back file when it is also the front.
        let reuse = self.tail.is_some() && self.files.back().is_some_and(|f| f.bytes < roll_bytes);
        if !reuse {
            let id = self.files.back().map_or(FIRST_ID, |f| f.id + 1);
            let file = crate::private::options()
                .create_new(true)
                .append(true)
                .open(self.path(id))?;
            self.tail = Some(file);
            self.files.push_back(SpoolFile {
                id,
                bytes: 0,
                records: 0,
            });
        }
        let file = self.tail.as_mut().expect("a back file is open");
        if let Err(e) = file.write_all(lines) {
            // What did get written is whole lines or a torn tail; either
            // way the file no longer takes appends. A torn line is
            // dead-lettered when the file is read back.
            self.tail = None;
            let id = self.files.back().map_or(0, |f| f.id);
            let back = self.files.back_mut().expect("a back file exists");
            let written = fs::metadata(self.dir.join(format!("{id:020}.spool")))
                .map_or(back.bytes, |m| m.len());
            let partial = written.saturating_sub(back.bytes);
            if partial > 0 {
                back.records += 1 + memchr::memchr_iter(b'\n', &lines[..partial as usize])
                    .count()
                    .saturating_sub(1) as u64;
            }
            back.bytes = written.max(back.bytes);
            self.bytes += partial;
            return Err(e);
        }
        let back = self.files.back_mut().expect("a back file exists");
        back.bytes += lines.len() as u64;
        back.records += records;
        self.bytes += lines.len() as u64;
        self.records += records;
        Ok(())
    }

    /// Puts `lines` in front of everything spooled (they are older).
    pub(crate) fn push_front(&mut self, lines: &[u8], records: u64) -> io::Result<()> {
        let id = self
            .files
            .front()
            .map_or(FIRST_ID, |f| f.id)
            .checked_sub(1)
            .ok_or_else(|| io::Error::other("the spool has no room in front"))?;
        let path = self.path(id);
        let tmp = path.with_extension("spool.tmp");
        let mut file = crate::private::create(&tmp)?;
        file.write_all(lines)?;
        file.sync_data()?;
        fs::rename(&tmp, &path)?;
        if self.files.is_empty() {
            self.tail = None;
        }
        self.files.push_front(SpoolFile {
            id,
            bytes: lines.len() as u64,
            records,
        });
        self.bytes += lines.len() as u64;
        self.records += records;
        Ok(())
    }

    /// The front file, for sending: sealed against appends. `None` when
    /// the spool is empty or its front is already out.
    pub(crate) fn take_front(&mut self) -> Option<(u64, PathBuf)> {
        if self.front_taken {
            return None;
        }
        let front = self.files.front()?;
        if self.files.len() == 1 {
            self.tail = None;
        }
        self.front_taken = true;
        Some((front.id, self.path(front.id)))
    }

    /// The front file was not sent after all (shutdown): it stays.
    pub(crate) fn untake_front(&mut self) {
        self.front_taken = false;
    }

    /// The front file's records are delivered or dead-lettered: remove it.
    pub(crate) fn settle_front(&mut self, id: u64) -> io::Result<()> {
        if self.files.front().is_some_and(|f| f.id == id) {
            let f = self.files.pop_front().expect("checked");
            self.bytes -= f.bytes;
            self.records -= f.records;
            self.front_taken = false;
            fs::remove_file(self.path(id))?;
        }
        Ok(())
    }

    /// Makes the back file durable.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if let Some(f) = &self.tail {
            f.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(from: u64, n: u64) -> Vec<u8> {
        let mut v = Vec::new();
        for i in from..from + n {
            v.extend_from_slice(format!("{{\"seq\":{i}}}\n").as_bytes());
        }
        v
    }

    fn drain(spool: &mut Spool) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some((id, path)) = spool.take_front() {
            all.extend(fs::read(path).unwrap());
            spool.settle_front(id).unwrap();
        }
        all
    }

    #[test]
    fn appends_roll_into_files_and_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        for k in 0..5 {
            spool.append(&lines(k * 10, 10), 10, 200).unwrap();
        }
        assert!(spool.files.len() > 1, "files roll at the byte limit");
        assert_eq!(spool.records(), 50);
        assert_eq!(drain(&mut spool), lines(0, 50));
        assert!(spool.is_empty());
        assert_eq!((spool.bytes(), spool.records()), (0, 0));
    }

    #[test]
    fn push_front_goes_before_everything_spooled() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        spool.append(&lines(20, 5), 5, 1 << 20).unwrap();
        spool.push_front(&lines(10, 10), 10).unwrap();
        spool.push_front(&lines(0, 10), 10).unwrap();
        assert_eq!(drain(&mut spool), lines(0, 25));
    }

    #[test]
    fn a_reopened_spool_keeps_its_order_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path()).unwrap();
            spool.append(&lines(5, 5), 5, 1 << 20).unwrap();
            spool.push_front(&lines(0, 5), 5).unwrap();
            spool.sync().unwrap();
        }
        fs::write(dir.path().join("00000000000000000001.spool.tmp"), b"junk").unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.records(), 10);
        assert_eq!(drain(&mut spool), lines(0, 10));
        assert!(!dir.path().join("00000000000000000001.spool.tmp").exists());
    }

    #[test]
    fn the_file_being_sent_takes_no_appends() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        spool.append(&lines(0, 2), 2, 1 << 20).unwrap();
        let (id, path) = spool.take_front().unwrap();
        spool.append(&lines(2, 2), 2, 1 << 20).unwrap();
        assert_eq!(fs::read(&path).unwrap(), lines(0, 2));
        assert!(spool.take_front().is_none(), "one file out at a time");
        spool.settle_front(id).unwrap();
        assert_eq!(drain(&mut spool), lines(2, 2));
    }

    #[test]
    fn a_torn_last_line_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = lines(0, 3);
        data.extend_from_slice(b"{\"seq\":3");
        fs::write(dir.path().join(format!("{FIRST_ID:020}.spool")), data).unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.records(), 4);
    }
}
