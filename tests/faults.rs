//! Faults from outside, the way an operator's bad day brings them: the
//! process killed (`SIGKILL`, `SIGTERM`) at seeded random moments while it
//! logs, rolls and compresses, endpoints that are down, refuse everything,
//! echo headers or hang, a small filesystem that fills up, and odd paths
//! handed to the verifier. After each: what the files hold reaches the
//! endpoint, the verifier's verdict names what happened and never calls it
//! tampering, secrets are not stored, and every file evtrail made is
//! private.

mod common;
#[path = "support/http_server.rs"]
mod http_server;

use std::path::Path;
use std::time::Duration;

use common::evtrail_command;

/// Runs `f` on a thread of its own and fails if it takes longer than
/// `limit`: a hang is a failure, not a stuck test run.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success());
}

#[test]
fn verify_given_a_fifo_says_so_and_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("app.log");
    mkfifo(&fifo);
    let path = fifo.clone();
    let err = within(Duration::from_secs(10), move || {
        let keys = evtrail::Keyring::new().with(evtrail::Key::from_bytes(vec![7; 32]).unwrap());
        evtrail::verify::Verifier::new(keys)
            .verify_paths(&[path])
            .unwrap_err()
    });
    assert_eq!(err.kind(), evtrail::ErrorKind::Io);
    assert!(
        err.to_string()
            .contains("is neither a regular file nor a directory"),
        "{err}"
    );
    let out = within(Duration::from_secs(10), move || {
        evtrail_command()
            .arg("verify")
            .arg(&fifo)
            .env(
                "EVTRAIL_KEY",
                "0707070707070707070707070707070707070707070707070707070707070707",
            )
            .args(["--key-env", "EVTRAIL_KEY"])
            .output()
            .unwrap()
    });
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("neither a regular file nor a directory"),
        "{stderr}"
    );
}
