//! The child program the fault suite kills, and what the suite needs
//! around it: seeded randomness, running the child, reading back every
//! `(stream, seq)` the log files hold.
//!
//! The child is the test binary itself, run with
//! [`CHILD_ENV`] set: its test [`child_main`] then uses evtrail the way an
//! application does (a signed log directory, optionally an HTTP sink) and
//! logs until it is killed, or until it has logged what it was told and
//! shuts down.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Set in the child's environment: what it is to do, as
/// `mode;dir;url;rotate` (see [`ChildSpec`]).
pub const CHILD_ENV: &str = "EVTRAIL_FAULTS_CHILD";

/// The key every child signs with.
pub fn key() -> evtrail::Key {
    evtrail::Key::from_bytes(vec![0x5a; 32]).unwrap()
}

/// What one run of the child does.
#[derive(Clone, Debug)]
pub struct ChildSpec {
    /// `run`: log many records (until killed); `drain`: log a few, wait
    /// until everything is delivered, shut down cleanly.
    pub mode: &'static str,
    pub dir: PathBuf,
    /// The HTTP sink's endpoint, when it has one.
    pub url: Option<String>,
    /// Roll files every this many bytes (and compress them), else never.
    pub rotate: Option<u64>,
}

impl ChildSpec {
    fn encode(&self) -> String {
        format!(
            "{};{};{};{}",
            self.mode,
            self.dir.display(),
            self.url.as_deref().unwrap_or(""),
            self.rotate.map_or(String::new(), |r| r.to_string())
        )
    }

    fn decode(s: &str) -> ChildSpec {
        let parts: Vec<&str> = s.split(';').collect();
        ChildSpec {
            mode: if parts[0] == "run" { "run" } else { "drain" },
            dir: PathBuf::from(parts[1]),
            url: Some(parts[2]).filter(|u| !u.is_empty()).map(str::to_owned),
            rotate: parts[3].parse().ok(),
        }
    }

    /// Starts the child (the current test binary, running only
    /// `child_test`).
    pub fn spawn(&self, child_test: &str) -> Child {
        Command::new(std::env::current_exe().unwrap())
            .args([child_test, "--exact", "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, self.encode())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the child")
    }
}

/// The child's body; returns at once unless [`CHILD_ENV`] is set.
pub fn child_main() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let spec = ChildSpec::decode(&spec);
    let mut b = evtrail::builder()
        .service("faults-child")
        .key(key())
        .log_dir(&spec.dir)
        .overflow(evtrail::Overflow::Block)
        .add_route(evtrail::Route::to("delivery").event("evtrail.push"));
    b = match spec.rotate {
        Some(bytes) => b.rotation(evtrail::Rotation::never().max_bytes(bytes)),
        None => b.rotation(evtrail::Rotation::never()),
    };
    if let Some(url) = &spec.url {
        let sink = evtrail::http::HttpSink::builder(url)
            .backoff(Duration::from_millis(10), Duration::from_millis(100))
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(5))
            .batch_records(200)
            .batch_wait(Duration::from_millis(20))
            .build()
            .unwrap();
        b = b.add_sink(sink);
    }
    let (layer, guard) = b.build().expect("the child's pipeline");
    let d = tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        layer,
    ));
    // In bursts, as a busy service logs: about 20,000 records a second.
    let n = if spec.mode == "run" { 2_000_000 } else { 20 };
    tracing::dispatcher::with_default(&d, || {
        for i in 0..n {
            tracing::info!(
                i,
                user_id = "u1",
                "record {i} with some padding to fill files"
            );
            if i % 100 == 99 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    if spec.mode == "drain" {
        guard
            .flush(Duration::from_secs(60))
            .expect("everything delivered");
    }
    let _ = guard.shutdown(Duration::from_secs(10));
}

/// A small seeded generator (SplitMix64): the suite's random points are
/// repeatable from the seed it prints.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// The seed: `EVTRAIL_FAULTS_SEED`, else a fixed one, printed either way.
pub fn seed(name: &str) -> u64 {
    let seed = std::env::var("EVTRAIL_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0e57_4a11);
    eprintln!("{name}: seed {seed} (set EVTRAIL_FAULTS_SEED to repeat another)");
    seed
}

/// Trials per configuration: `EVTRAIL_FAULTS_TRIALS`, else `default`.
pub fn trials(default: u64) -> u64 {
    std::env::var("EVTRAIL_FAULTS_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Every `(stream, seq)` the log files in `dir` hold (whole lines only).
pub fn file_keys(dir: &Path) -> BTreeSet<(String, u64)> {
    let mut out = BTreeSet::new();
    for stream in evtrail::read::LogReader::streams(dir).unwrap() {
        for line in evtrail::read::LogReader::open(dir, &stream).unwrap() {
            let Ok(line) = line else { continue };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let (Some(s), Some(q)) = (v["stream"].as_str(), v["seq"].as_u64()) {
                out.insert((s.to_owned(), q));
            }
        }
    }
    out
}
