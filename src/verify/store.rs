//! Verifying the chains a store holds (ClickHouse, where many hosts ship
//! their records): each writer's stream, as lines in `seq` order, taken
//! into the same chain check as a file's lines.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;

use super::chain::StreamCheck;
use super::chain::files::FileInfo;
use super::explained;
use super::{Report, Verifier};
use crate::error::Error;
use crate::logdir::Lines;

/// One stream of one writer as a store holds it: its stored lines in
/// `seq` order, one a line.
pub struct StoredChain {
    writer: String,
    stream: String,
    lines: Box<dyn BufRead>,
}

impl std::fmt::Debug for StoredChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredChain")
            .field("writer", &self.writer)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl StoredChain {
    /// The chain of `stream` written by `writer` (where the store keeps
    /// it and whose it is: `server/table/service/host`), read from
    /// `lines`. Findings are located at `writer/stream`, line N being the
    /// chain's Nth line.
    pub fn new(
        writer: impl Into<String>,
        stream: impl Into<String>,
        lines: impl BufRead + 'static,
    ) -> StoredChain {
        StoredChain {
            writer: writer.into(),
            stream: stream.into(),
            lines: Box::new(lines),
        }
    }
}

impl Verifier {
    /// Verifies chains a store holds, one after the other: the same
    /// checks as [`verify_paths`](Self::verify_paths), each chain as one
    /// file named `writer/stream`. A gap is explained only by the drop
    /// records of the same writer. Each stream report is named
    /// `writer/stream`, since many writers share stream names.
    ///
    /// # Errors
    ///
    /// The first `Err` `chains` yields. A line that cannot be read ends
    /// its chain with an `unreadable` finding, as a file's would.
    pub fn verify_chains<I>(&mut self, chains: I) -> Result<Report, Error>
    where
        I: IntoIterator<Item = Result<StoredChain, Error>>,
    {
        let mut report = Report::default();
        let mut gaps = Vec::new();
        let mut claims: HashMap<String, Vec<explained::Claim>> = HashMap::new();
        for chain in chains {
            let chain = chain?;
            let anchors = self
                .anchors
                .iter()
                .filter(|a| a.stream == chain.stream)
                .cloned()
                .collect();
            let mut check = StreamCheck::new(&chain.stream, &self.keys, anchors);
            let name = format!("{}/{}", chain.writer, chain.stream);
            let info = FileInfo {
                path: PathBuf::from(&name),
                stream: chain.stream.clone(),
                first_seq: 0,
                first_sig: None,
                twin: None,
            };
            check.report.files = 1;
            check.read_lines(&info, Lines::new(chain.lines, self.max_line), &mut |_| {});
            check.finish();
            check.report.stream = name;
            let base = report.findings.len();
            report.findings.extend(check.findings);
            gaps.push((
                chain.writer.clone(),
                chain.stream,
                base,
                report.findings.len(),
                check.gaps,
            ));
            claims
                .entry(chain.writer)
                .or_default()
                .append(&mut check.claims);
            report.streams.push(check.report);
        }
        for (writer, stream, base, end, gaps) in gaps {
            let theirs = claims.get(&writer).map_or(&[][..], Vec::as_slice);
            explained::explain(&mut report.findings[base..end], &stream, &gaps, theirs);
        }
        Ok(report)
    }
}
