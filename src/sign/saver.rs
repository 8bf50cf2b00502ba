//! Saving the state file off the worker's thread. Each save ends in an
//! `fsync`, which on a busy disk takes milliseconds; made on the worker it
//! held up every record behind it, and under `Overflow::Block` the
//! application's thread with them. The saver's thread writes the newest
//! state it was given and skips the ones overtaken while it wrote: the
//! file only ever moves forward, as before, and may lag the log by one
//! save, which a restart already allows for (the state is saved at
//! segment boundaries, never per record).

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::State;
use crate::thread::mark_evtrail_thread;

/// The name of the saver's thread.
const THREAD_NAME: &str = "evtrail-state";

/// Writes a log directory's state file on a thread of its own; see the
/// module's docs. Dropping it writes what is pending and ends the thread.
#[derive(Debug)]
pub(crate) struct StateSaver {
    dir: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Pending>,
    cond: Condvar,
}

#[derive(Debug, Default)]
struct Pending {
    /// The newest state not yet written.
    state: Option<State>,
    /// Set when the saver is dropped: the thread writes what is pending
    /// and ends.
    closed: bool,
}

impl StateSaver {
    /// A saver for the state file in `dir`. Without a thread of its own
    /// (the system refused one) it saves on the caller's thread.
    pub(crate) fn new(dir: PathBuf) -> StateSaver {
        let shared = Arc::new(Shared::default());
        let thread = {
            let (dir, shared) = (dir.clone(), shared.clone());
            std::thread::Builder::new()
                .name(THREAD_NAME.to_owned())
                .spawn(move || run(&dir, &shared))
                .ok()
        };
        StateSaver {
            dir,
            shared,
            thread,
        }
    }

    /// Has `state` written, replacing a state given before that is not
    /// written yet.
    pub(crate) fn save(&self, state: &State) {
        if self.thread.is_none() {
            write(&self.dir, state);
            return;
        }
        let mut pending = lock(&self.shared);
        pending.state = Some(state.clone());
        self.shared.cond.notify_one();
    }
}

impl Drop for StateSaver {
    fn drop(&mut self) {
        lock(&self.shared).closed = true;
        self.shared.cond.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Pending> {
    shared
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn run(dir: &std::path::Path, shared: &Shared) {
    mark_evtrail_thread();
    loop {
        let state = {
            let mut pending = lock(shared);
            loop {
                if let Some(state) = pending.state.take() {
                    break state;
                }
                if pending.closed {
                    return;
                }
                pending = shared
                    .cond
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        write(dir, &state);
    }
}

fn write(dir: &std::path::Path, state: &State) {
    if let Err(e) = state.save(dir) {
        eprintln!(
            "evtrail: cannot write the state file in `{}`: {e}",
            dir.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::StreamState;

    fn state(seq: u64) -> State {
        let mut st = State::default();
        st.set(
            "app",
            StreamState {
                segment: 1,
                seq,
                sig: [b'A'; crate::mac::SIG_LEN],
            },
        );
        st
    }

    #[test]
    fn the_newest_state_is_on_disk_once_the_saver_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let saver = StateSaver::new(dir.path().to_owned());
        for seq in 1..=500 {
            saver.save(&state(seq));
        }
        drop(saver);
        let read = State::load(dir.path()).unwrap();
        assert_eq!(read, state(500));
    }

    #[test]
    fn a_saver_with_nothing_to_save_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        drop(StateSaver::new(dir.path().to_owned()));
        assert!(!State::path(dir.path()).exists());
    }
}
