//! Which records were lost: runs of `seq` per stream, as an
//! `evtrail.dropped` record names them in its `ranges` field
//! (`app:2472-2500 audit:7-7`, see `src/format.md`), so that a verifier
//! can tell a gap this record explains from a deletion.

use std::fmt::Write;

/// Runs of lost records, in the order they were lost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LostRanges {
    runs: Vec<(String, u64, u64)>,
    count: u64,
}

impl LostRanges {
    /// Notes that record `seq` of `stream` was lost.
    pub(crate) fn add(&mut self, stream: &str, seq: u64) {
        self.count += 1;
        if let Some(run) = self.runs.iter_mut().rev().find(|r| r.0 == stream)
            && run.2.checked_add(1) == Some(seq)
        {
            run.2 = seq;
            return;
        }
        self.runs.push((stream.to_owned(), seq, seq));
    }

    /// Notes a lost record whose stream and seq are unknown (a line torn
    /// by a crash): counted, not named.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn add_unnamed(&mut self) {
        self.count += 1;
    }

    /// Whether record `seq` of `stream` was noted.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn contains(&self, stream: &str, seq: u64) -> bool {
        self.runs
            .iter()
            .any(|(s, a, b)| s == stream && (*a..=*b).contains(&seq))
    }

    /// How many records were noted.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `ranges` text: `stream:first-last` runs separated by spaces.
    pub(crate) fn to_field(&self) -> String {
        let mut out = String::new();
        for (i, (stream, a, b)) in self.runs.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{stream}:{a}-{b}");
        }
        out
    }

    /// Adds what `other` noted.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn merge(&mut self, other: LostRanges) {
        self.count += other.count;
        for (stream, a, b) in other.runs {
            match self.runs.iter_mut().rev().find(|r| r.0 == stream) {
                Some(run) if run.2.checked_add(1) == Some(a) => run.2 = b,
                _ => self.runs.push((stream, a, b)),
            }
        }
    }

    /// Empties the runs, giving them back.
    pub(crate) fn take(&mut self) -> LostRanges {
        std::mem::take(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_seqs_merge_into_runs_per_stream() {
        let mut lost = LostRanges::default();
        for s in [3, 4, 5, 9] {
            lost.add("app", s);
        }
        lost.add("audit", 7);
        lost.add("app", 10);
        assert_eq!(lost.to_field(), "app:3-5 app:9-10 audit:7-7");
        assert_eq!(lost.count(), 6);
        assert_eq!(lost.take().count(), 6);
        assert!(lost.is_empty());
    }
}
