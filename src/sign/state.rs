//! The writer's state file: for each stream, the last segment, seq and
//! signature it knows it wrote, saved atomically so that a restart can
//! tell a vanished log file from a fresh start.
//!
//! It depends on nothing of the chain but the signature's text form
//! (`crate::mac`) and never reads log files: what the state means for a
//! restart is `resume`'s to decide.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, ErrorKind};
use crate::mac::{SIG_LEN, Sig, is_sig_char};

/// The name of the writer's state file inside the log directory.
pub(crate) const STATE_FILE: &str = ".evtrail-state";

/// The state file: for each stream, the last segment, seq and signature the
/// writer knows it wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct State {
    pub(crate) streams: Vec<(String, StreamState)>,
}

/// One stream's entry in the state file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StreamState {
    pub(crate) segment: u64,
    pub(crate) seq: u64,
    pub(crate) sig: Sig,
}

impl State {
    pub(crate) fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Reads the state file; a missing file is an empty state, an unreadable
    /// one an error (so a damaged state is never silently taken for none).
    pub(crate) fn load(dir: &Path) -> Result<State, Error> {
        let path = State::path(dir);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => {
                return Err(Error::with_source(
                    ErrorKind::Io,
                    format!("cannot read `{}`", path.display()),
                    e,
                ));
            }
        };
        let bad = || {
            Error::new(
                ErrorKind::Io,
                format!(
                    "state file `{}` is damaged; move it away to start over",
                    path.display()
                ),
            )
        };
        let v: Value = serde_json::from_str(&text).map_err(|_| bad())?;
        let mut state = State::default();
        for (name, s) in v
            .get("streams")
            .and_then(Value::as_object)
            .ok_or_else(bad)?
        {
            let sig = s.get("sig").and_then(Value::as_str).ok_or_else(bad)?;
            if sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "the logs in `{}` were written by an earlier evtrail, whose \
                         signatures were hex; their chain cannot be continued: move the \
                         directory's files away (they verify with that version) to start anew",
                        dir.display()
                    ),
                ));
            }
            if sig.len() != SIG_LEN || !sig.bytes().all(is_sig_char) {
                return Err(bad());
            }
            let mut arr = [0u8; SIG_LEN];
            arr.copy_from_slice(sig.as_bytes());
            state.streams.push((
                name.clone(),
                StreamState {
                    segment: s.get("segment").and_then(Value::as_u64).ok_or_else(bad)?,
                    seq: s.get("seq").and_then(Value::as_u64).ok_or_else(bad)?,
                    sig: arr,
                },
            ));
        }
        Ok(state)
    }

    pub(crate) fn get(&self, stream: &str) -> Option<&StreamState> {
        self.streams
            .iter()
            .find(|(s, _)| s == stream)
            .map(|(_, st)| st)
    }

    pub(crate) fn set(&mut self, stream: &str, st: StreamState) {
        match self.streams.iter_mut().find(|(s, _)| s == stream) {
            Some((_, old)) => *old = st,
            None => self.streams.push((stream.to_owned(), st)),
        }
    }

    /// Writes the state atomically: to a temporary file, synced, renamed.
    pub(crate) fn save(&self, dir: &Path) -> std::io::Result<()> {
        let mut streams = serde_json::Map::new();
        for (name, st) in &self.streams {
            streams.insert(
                name.clone(),
                serde_json::json!({
                    "segment": st.segment,
                    "seq": st.seq,
                    "sig": String::from_utf8_lossy(&st.sig),
                }),
            );
        }
        let text = serde_json::json!({ "v": 1, "streams": streams }).to_string();
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        {
            let mut f = crate::private::create(&tmp)?;
            std::io::Write::write_all(&mut f, text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, State::path(dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        let mut st = State::default();
        st.set(
            "app",
            StreamState {
                segment: 3,
                seq: 90,
                sig: [b'a'; SIG_LEN],
            },
        );
        st.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), st);
        fs::write(State::path(dir.path()), "{").unwrap();
        assert!(State::load(dir.path()).is_err());
        // The state file as written, with `sig` in place of the signature.
        let load_with = |sig: &str| {
            let text = r#"{"v":1,"streams":{"app":{"segment":3,"seq":90,"sig":"SIG"}}}"#;
            fs::write(State::path(dir.path()), text.replace("SIG", sig)).unwrap();
            State::load(dir.path())
        };
        let old_format = load_with(&"0f".repeat(32)).unwrap_err().to_string();
        assert!(old_format.contains("earlier evtrail"), "{old_format}");
        let damaged = load_with(&"0f".repeat(30)).unwrap_err().to_string();
        assert!(damaged.contains("damaged"), "{damaged}");
        assert_eq!(load_with(&"a".repeat(43)).unwrap(), st);
    }
}
