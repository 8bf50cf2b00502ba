//! Faults from outside, the way an operator's bad day brings them: the
//! process killed (`SIGKILL`, `SIGTERM`) at seeded random moments while it
//! logs, rolls and compresses, endpoints that are down, refuse everything,
//! echo headers or hang, a small filesystem that fills up, and odd paths
//! handed to the verifier. After each: what the files hold reaches the
//! endpoint, the verifier's verdict names what happened and never calls it
//! tampering, secrets are not stored, and every file evtrail made is
//! private.

mod common;
#[path = "support/faults.rs"]
mod faults;
#[path = "support/http_server.rs"]
mod http_server;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

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

/// Every file and directory under `root` (itself excluded).
fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// Every file and directory evtrail made under `root` is private: files at
/// most 0640, directories at most 0750.
fn assert_private(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for p in walk(root) {
        let meta = std::fs::metadata(&p).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let allowed = if meta.is_dir() { 0o750 } else { 0o640 };
        assert_eq!(
            mode & !allowed,
            0,
            "{} has mode {mode:04o}, more open than {allowed:04o}",
            p.display()
        );
    }
}

/// No file under `root` holds any of `secrets`, plain or gzip.
fn assert_nowhere(root: &Path, secrets: &[&str]) {
    for p in walk(root).into_iter().filter(|p| p.is_file()) {
        let raw = std::fs::read(&p).unwrap();
        let mut text = raw.clone();
        if raw.starts_with(&[0x1f, 0x8b]) {
            text.clear();
            let _ = std::io::Read::read_to_end(
                &mut flate2::read::MultiGzDecoder::new(&raw[..]),
                &mut text,
            );
        }
        let text = String::from_utf8_lossy(&text);
        for s in secrets {
            assert!(!text.contains(s), "{} holds the secret {s:?}", p.display());
        }
    }
}

const TOKEN: &str = "SUPERSECRETTOKEN-4f9a2c";
const API_KEY: &str = "k3y-VALUE-987xyz";

fn signed_pipeline(
    dir: &Path,
    sink: evtrail::http::HttpSink,
) -> (tracing::Dispatch, evtrail::Guard) {
    let (layer, guard) = evtrail::builder()
        .service("faults")
        .key(evtrail::Key::from_bytes(vec![7; 32]).unwrap())
        .log_dir(dir)
        .overflow(evtrail::Overflow::Block)
        .add_route(evtrail::Route::to("delivery").event("evtrail.push"))
        .add_sink(sink)
        .build()
        .unwrap();
    (common::dispatch(layer), guard)
}

fn emit(d: &tracing::Dispatch, from: u64, n: u64) {
    tracing::dispatcher::with_default(d, || {
        for i in from..from + n {
            tracing::info!(i, user_id = "u1", "event {i}");
        }
    });
}

#[test]
fn an_endpoint_that_refuses_all_and_echoes_headers_meets_a_capped_private_dead_letter_file() {
    let server = http_server::TestServer::start();
    server.set_default(http_server::Reply::EchoHeaders(400));
    let dir = tempfile::tempdir().unwrap();
    let sink = evtrail::http::HttpSink::builder(server.url("/"))
        .bearer_auth(TOKEN)
        .header("X-Api-Key", API_KEY)
        .batch_records(10)
        .batch_wait(Duration::from_millis(20))
        .dead_letter_max_records(50)
        .build()
        .unwrap();
    let (d, guard) = signed_pipeline(dir.path(), sink);
    emit(&d, 0, 300);
    guard.flush(common::WAIT).unwrap();
    let refused_requests = server.requests().len();
    assert!(refused_requests >= 30, "{refused_requests} requests");
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let stats = guard.stats();
    drop(guard);

    let letters =
        std::fs::read_to_string(dir.path().join("spool/http/dead-letter.ndjson")).unwrap();
    assert_eq!(letters.lines().count(), 50, "the record cap holds");
    let http = &stats.sinks[1];
    let delivery = http.delivery.as_ref().unwrap();
    assert_eq!(delivery.dead_lettered, 50);
    let app = read_records(dir.path(), "app");
    let delivery_log = read_records(dir.path(), "delivery");
    let noted: u64 = app
        .iter()
        .chain(&delivery_log)
        .filter(|r| r["event"] == "evtrail.dropped" && r["fields"]["reason"] == "dead_letter_full")
        .map(|r| r["fields"]["count"].as_u64().unwrap())
        .sum();
    assert!(noted > 0);
    // Refusals of the shutdown's last records (after the segments' end)
    // are kept for the next start's log.
    let kept: u64 = std::fs::read_to_string(dir.path().join("spool/http/unnoted-drops.ndjson"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["count"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(
        noted + kept,
        http.dropped,
        "every record beyond the cap is noted"
    );
    if kept > 0 {
        // The next start writes them.
        let sink = evtrail::http::HttpSink::builder(server.url("/"))
            .build()
            .unwrap();
        let (_d, guard) = signed_pipeline(dir.path(), sink);
        guard.flush(common::WAIT).unwrap();
        drop(guard);
        let later: u64 = read_records(dir.path(), "app")
            .iter()
            .filter(|r| r["fields"]["at_last_shutdown"] == true)
            .map(|r| r["fields"]["count"].as_u64().unwrap())
            .sum();
        assert_eq!(later, kept);
    }
    // Each request carried the headers, and the server echoed them back.
    assert!(
        server.requests()[0]
            .header("authorization")
            .unwrap()
            .contains(TOKEN)
    );
    assert_nowhere(dir.path(), &[TOKEN, API_KEY]);
    assert_private(dir.path());
}

#[test]
fn the_dead_letter_byte_cap_holds_across_restarts() {
    let server = http_server::TestServer::start();
    server.set_default(http_server::Reply::Status(400));
    let dir = tempfile::tempdir().unwrap();
    let cap = 8 * 1024;
    for run in 0..2 {
        let sink = evtrail::http::HttpSink::builder(server.url("/"))
            .batch_records(10)
            .batch_wait(Duration::from_millis(20))
            .dead_letter_max_bytes(cap)
            .build()
            .unwrap();
        let (d, guard) = signed_pipeline(dir.path(), sink);
        emit(&d, run * 100, 100);
        guard.flush(common::WAIT).unwrap();
        drop(guard);
        let size = std::fs::metadata(dir.path().join("spool/http/dead-letter.ndjson"))
            .unwrap()
            .len();
        assert!(size <= cap, "run {run}: {size} bytes");
        assert!(
            size > cap / 2,
            "run {run}: {size} bytes: the file is used up to its cap"
        );
    }
}

/// The records of `stream` in the log directory, parsed.
fn read_records(dir: &Path, stream: &str) -> Vec<serde_json::Value> {
    evtrail::read::LogReader::open(dir, stream)
        .map(|r| {
            r.map(|l| serde_json::from_str(&l.unwrap()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_hanging_endpoint_does_not_hold_shutdown_past_its_timeout() {
    let server = http_server::TestServer::start();
    server.set_default(http_server::Reply::Hang);
    let dir = tempfile::tempdir().unwrap();
    let sink = evtrail::http::HttpSink::builder(server.url("/"))
        .timeout(Duration::from_secs(60))
        .batch_wait(Duration::from_millis(10))
        .build()
        .unwrap();
    let (d, guard) = signed_pipeline(dir.path(), sink);
    emit(&d, 0, 20);
    assert!(server.wait_for(common::WAIT, |r| !r.is_empty()));
    let timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let err = guard.shutdown(timeout).unwrap_err();
    let took = started.elapsed();
    assert!(
        took < timeout + Duration::from_millis(300),
        "shutdown took {took:?}"
    );
    // The worker finished (not a timeout): the request in flight is saved.
    assert_eq!(err.kind(), evtrail::ErrorKind::Sink, "{err}");
    drop(guard);
    let spooled: usize = walk(&dir.path().join("spool/http"))
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "spool"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert!(spooled >= 20, "{spooled} records kept for the next start");
    assert_private(dir.path());
}

/// The child program: does nothing unless the suite started this binary
/// as its child (see `support/faults.rs`).
#[test]
fn child() {
    faults::child_main();
}

/// Sends `signal` (`KILL`, `TERM`) to the child and reaps it.
fn signal(child: &mut std::process::Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    child.wait().unwrap();
}

/// Waits for the child to end by itself, at most `limit`.
fn finish(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the child did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `(stream, seq)` of every record the server accepted.
fn accepted(server: &http_server::TestServer) -> BTreeSet<(String, u64)> {
    server
        .requests()
        .iter()
        .filter(|r| r.accepted())
        .flat_map(|r| r.json_lines())
        .map(|r| {
            (
                r["stream"].as_str().unwrap().to_owned(),
                r["seq"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Kills the child at seeded random moments, alternately with `SIGKILL`
/// and `SIGTERM` (which it does not catch), while its endpoint is down;
/// then starts it again with the endpoint up and lets it deliver. After
/// each trial every record the files held reaches the endpoint, and the
/// verifier finds no tampering. Trials accumulate in one directory, so
/// each restart also meets the previous crashes' leftovers.
fn crash_trials(name: &str, with_http: bool, rotate: Option<u64>) {
    let mut rng = faults::Rng::new(faults::seed(name) ^ name.len() as u64);
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let addr = http_server::TestServer::free_addr();
    let url = with_http.then(|| format!("http://{addr}/"));
    let spec = |mode| faults::ChildSpec {
        mode,
        dir: logs.clone(),
        url: url.clone(),
        rotate,
    };
    let mut received = BTreeSet::new();
    let mut crashes = 0;
    for trial in 0..faults::trials(10) {
        let sig = if trial % 2 == 0 { "KILL" } else { "TERM" };
        let after = Duration::from_millis(rng.range(80, 700));
        let mut child = spec("run").spawn("child");
        std::thread::sleep(after);
        signal(&mut child, sig);
        let in_files = faults::file_keys(&logs);
        crashes += 1;

        let server = with_http.then(|| http_server::TestServer::start_on(addr));
        let mut child = spec("drain").spawn("child");
        let status = finish(&mut child, Duration::from_secs(120));
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr);
        assert!(
            status.success(),
            "trial {trial} ({sig} after {after:?}): the restart failed: {stderr}"
        );
        if let Some(server) = server {
            received.extend(accepted(&server));
            let missing: Vec<_> = in_files.difference(&received).collect();
            assert!(
                missing.is_empty(),
                "{name} trial {trial} ({sig} after {after:?}): {} of {} records in the \
                 files never reached the endpoint, first {:?}",
                missing.len(),
                in_files.len(),
                &missing[..missing.len().min(5)]
            );
        }
        let report = evtrail::verify::Verifier::new(evtrail::Keyring::new().with(faults::key()))
            .verify_paths(&[&logs])
            .unwrap();
        assert!(
            report.is_clean(),
            "{name} trial {trial} ({sig} after {after:?}): {report}"
        );
        let declared = report
            .of_kind(evtrail::verify::FindingKind::CrashRecovered)
            .count();
        // The verdict names the crashes: each stream declares each one at
        // most once.
        assert!(declared <= crashes * report.streams.len(), "{report}");
    }
}

#[test]
fn killed_at_random_with_the_file_log_alone_every_restart_verifies() {
    crash_trials("file_alone", false, None);
}

#[test]
fn killed_at_random_while_the_endpoint_is_down_every_record_in_the_files_arrives() {
    crash_trials("file_and_http", true, None);
}

#[test]
fn killed_at_random_while_rolling_and_compressing_every_record_in_the_files_arrives() {
    crash_trials("rolling", true, Some(256 * 1024));
}

/// Mounts a tmpfs of `size` at `at` (root only); unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
            })
            .unwrap_or_default();
        if uid != "0" {
            return Err(format!("running as uid {uid}, not root"));
        }
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs(at.to_owned()))
    }

    fn resize(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_small_filesystem_filling_up_is_an_explained_loss_with_no_notice_lost_needs_root_for_tmpfs() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let fs = match Tmpfs::mount(&mnt, "2m") {
        Ok(fs) => fs,
        Err(why) => {
            // Visible in the test's name and in the output, not a silent pass.
            eprintln!("SKIPPED: the small-filesystem fault needs root to mount a tmpfs ({why})");
            return;
        }
    };
    let server = http_server::TestServer::start();
    let logs = mnt.join("logs");
    let sink = evtrail::http::HttpSink::builder(server.url("/"))
        .batch_wait(Duration::from_millis(10))
        .spool_dir(tmp.path().join("spool"))
        .build()
        .unwrap();
    let (layer, guard) = evtrail::builder()
        .service("faults")
        .key(faults::key())
        .log_dir(&logs)
        .overflow(evtrail::Overflow::Block)
        .rotation(evtrail::Rotation::never())
        .retry_buffer_bytes(64 * 1024)
        .add_sink(sink)
        .build()
        .unwrap();
    let d = common::dispatch(layer);
    let mut next = 0;
    let deadline = Instant::now() + common::WAIT;
    // Log until the file system is full and the file sink has dropped
    // records out of its retry buffer.
    loop {
        emit(&d, next, 500);
        next += 500;
        let _ = guard.flush(common::WAIT);
        let file = &guard.stats().sinks[0];
        if !file.healthy && file.dropped > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the file system never filled: {file:?}"
        );
    }
    // The file system is enlarged: the sink recovers on its own.
    fs.resize("32m");
    common::flush_until_clean(&guard);
    emit(&d, next, 100);
    guard.flush(common::WAIT).unwrap();
    let dropped = guard.stats().sinks[0].dropped;
    guard.shutdown(Duration::from_secs(10)).unwrap();
    drop(guard);

    // The endpoint saw everything: every notice of evtrail's it got for
    // the stream is in the file too.
    let sent: Vec<serde_json::Value> = server
        .requests()
        .iter()
        .filter(|r| r.accepted())
        .flat_map(|r| r.json_lines())
        .collect();
    let in_files = faults::file_keys(&logs);
    let mut notices = 0;
    for r in sent
        .iter()
        .filter(|r| r["target"] == "evtrail" && r["event"] != "evtrail.push")
    {
        let key = (
            r["stream"].as_str().unwrap().to_owned(),
            r["seq"].as_u64().unwrap(),
        );
        assert!(
            in_files.contains(&key),
            "a notice is missing from the files: {r}"
        );
        notices += 1;
    }
    assert!(notices > 0);
    assert!(
        sent.iter().any(|r| r["event"] == "evtrail.sink_failed"),
        "the failure was reported"
    );
    let report = evtrail::verify::Verifier::new(evtrail::Keyring::new().with(faults::key()))
        .verify_paths(&[&logs])
        .unwrap();
    let explained: u64 = report
        .of_kind(evtrail::verify::FindingKind::ExplainedLoss)
        .map(|f| {
            f.detail
                .split(&['(', ')'][..])
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1)
        })
        .sum();
    assert_eq!(explained, dropped, "{report}");
    assert_eq!(
        report
            .of_kind(evtrail::verify::FindingKind::Deleted)
            .count(),
        0,
        "{report}"
    );
    assert!(report.is_clean(), "{report}");
    assert_private(&logs);
    assert_private(&tmp.path().join("spool"));
}
