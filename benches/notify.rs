//! Chat notifications, measured against a mock DingTalk robot on loopback:
//! how long from the `tracing` call to the chat receiving the message, what
//! a storm turns into, and what notifications cost the application's
//! callers, side by side with notifications off in the same run.
//!
//! `cargo bench --bench notify`; `cargo test --benches` runs it small,
//! with every check.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use evtrail::notify::{DingTalk, NotifySink, NotifySinkBuilder, Rule};
use evtrail::{Overflow, Route};
use hdrhistogram::Histogram;
use serde_json::Value;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

#[path = "../tests/support/http_server.rs"]
mod http_server;
#[path = "common/numbers.rs"]
mod numbers;
#[path = "common/size.rs"]
mod size;

use http_server::{Reply, TestServer};
use numbers::grouped;

fn robot(server: &TestServer) -> DingTalk {
    DingTalk::webhook(server.url("/robot/send?access_token=bench"))
}

fn ok_reply() -> Reply {
    Reply::with_body(200, r#"{"errcode":0,"errmsg":"ok"}"#)
}

fn pipeline(dir: &Path, notify: Option<NotifySinkBuilder>) -> (Dispatch, evtrail::Guard) {
    let mut b = evtrail::builder()
        .service("bench")
        .host("web-1")
        .key(evtrail::Key::generate().expect("OS random generator"))
        .log_dir(dir)
        .overflow(Overflow::Block)
        .add_route(Route::to("delivery").event("evtrail.push"));
    if let Some(n) = notify {
        b = b.add_sink(n.build().expect("notify settings"));
    }
    let (layer, guard) = b.build().expect("evtrail build");
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}

/// The event name a message carries (its headline starts with it).
fn event_of(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let title = v["markdown"]["title"].as_str()?.replace('\\', "");
    Some(title.split(' ').next()?.to_owned())
}

/// Time from the `tracing` call to the robot receiving the message, one
/// group per event, at a group wait of `wait`.
fn latency(groups: usize, wait: Duration) -> Histogram<u64> {
    let server = TestServer::start();
    server.set_default(ok_reply());
    let dir = tempfile::tempdir().expect("tempdir");
    let notify = NotifySink::builder()
        .add_channel("oncall", robot(&server))
        // One message per group: a digest would hide the latency.
        .rate_limit("oncall", 1_000_000, Duration::from_secs(1))
        .group_wait(wait)
        .add_rule(Rule::new("errors").min_level(tracing::Level::ERROR));
    let (d, guard) = pipeline(dir.path(), Some(notify));
    let mut sent = HashMap::new();
    tracing::dispatcher::with_default(&d, || {
        for i in 0..groups {
            let name = format!("latency_{i:04}");
            sent.insert(name.clone(), Instant::now());
            tracing::error!(event = name.as_str(), "probe");
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    assert!(
        server.wait_for(wait + Duration::from_secs(30), |r| r.len() >= groups),
        "every group's message arrives"
    );
    drop(guard);
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for r in server.requests() {
        let name = event_of(&r.body).expect("a DingTalk markdown message");
        let at = sent
            .get(&name)
            .unwrap_or_else(|| panic!("unknown group {name}"));
        h.record(r.at.duration_since(*at).as_micros() as u64)
            .expect("record");
    }
    assert_eq!(h.len() as usize, groups);
    h
}

/// Events per second per thread in the storm.
struct Storm {
    threads: usize,
    per_thread: u64,
    seconds: f64,
}

/// Emits the storm, paced, timing every call; returns the callers'
/// latencies, the messages the robot got and the records their push
/// records count.
fn storm(s: &Storm, notify_on: bool) -> (Histogram<u64>, usize, u64) {
    let server = TestServer::start();
    server.set_default(ok_reply());
    let dir = tempfile::tempdir().expect("tempdir");
    // The defaults: 1 s group wait, 1 min interval, DingTalk's 20 a minute.
    let notify = notify_on.then(|| {
        NotifySink::builder()
            .add_channel("oncall", robot(&server))
            .add_rule(Rule::new("payments").event("payment_failed"))
    });
    let (d, guard) = pipeline(dir.path(), notify);
    let total = Arc::new(AtomicU64::new(0));
    let gap = Duration::from_secs_f64(s.seconds / s.per_thread as f64);
    let handles: Vec<_> = (0..s.threads)
        .map(|t| {
            let d = d.clone();
            let per_thread = s.per_thread;
            let total = total.clone();
            std::thread::spawn(move || {
                let mut h = Histogram::<u64>::new(3).expect("histogram");
                let start = Instant::now();
                tracing::dispatcher::with_default(&d, || {
                    for i in 0..per_thread {
                        let due = start + gap * i as u32;
                        while Instant::now() < due {
                            std::hint::spin_loop();
                        }
                        let t0 = Instant::now();
                        tracing::error!(
                            event = "payment_failed",
                            thread = t,
                            i,
                            amount = 42.5,
                            "card declined"
                        );
                        h.record(t0.elapsed().as_nanos() as u64).expect("record");
                    }
                });
                total.fetch_add(per_thread, Ordering::Relaxed);
                h
            })
        })
        .collect();
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for t in handles {
        h.add(t.join().expect("emitter")).expect("merge");
    }
    drop(guard);
    let messages = server.requests().len();
    let counted: u64 = evtrail::read::LogReader::open(dir.path(), "delivery")
        .map(|r| {
            r.filter_map(Result::ok)
                .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
                .filter(|v| v["event"] == "evtrail.push" && v["fields"]["result"] == "ok")
                .map(|v| v["fields"]["records"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(
        total.load(Ordering::Relaxed),
        s.threads as u64 * s.per_thread
    );
    (h, messages, counted)
}

fn ms(micros: u64) -> String {
    format!("{:.0} ms", micros as f64 / 1000.0)
}

fn main() {
    let full = size::full_run();
    let groups = size::events(300usize, 10usize);
    println!("## Notification latency: `tracing` call to the mock robot receiving the message");
    println!();
    println!("| group wait | groups | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    for wait in [Duration::from_secs(1), Duration::ZERO] {
        let h = latency(groups, wait);
        println!(
            "| {} | {groups} | {} | {} | {} |",
            if wait.is_zero() {
                "0".to_owned()
            } else {
                "1 s (default)".to_owned()
            },
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        );
        if wait == Duration::from_secs(1) {
            assert!(
                h.value_at_quantile(0.5) <= 1_500_000 || !full,
                "the goal: p50 ≤ 1.5 s at the defaults"
            );
        }
    }
    let s = if full {
        Storm {
            threads: 4,
            per_thread: 25_000,
            seconds: 10.0,
        }
    } else {
        Storm {
            threads: 4,
            per_thread: 500,
            seconds: 0.5,
        }
    };
    println!();
    println!(
        "## A storm: {} `payment_failed` from {} threads in {} s, default settings",
        grouped((s.threads as u64 * s.per_thread) as f64),
        s.threads,
        s.seconds
    );
    println!();
    println!("| notifications | messages | records counted in them | caller p50 | p99 | p99.9 |");
    println!("|---|---|---|---|---|---|");
    let rounds = if full { 3 } else { 1 };
    let mut p99 = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (i, on) in [false, true].into_iter().enumerate() {
            let (h, messages, counted) = storm(&s, on);
            if on {
                assert!(messages <= 20, "DingTalk allows 20 a minute: {messages}");
                assert_eq!(
                    counted,
                    s.threads as u64 * s.per_thread,
                    "every record counted"
                );
            }
            p99[i].push(h.value_at_quantile(0.99));
            println!(
                "| {} (round {}) | {} | {} | {} ns | {} ns | {} ns |",
                if on { "on" } else { "off" },
                round + 1,
                if on { messages.to_string() } else { "-".into() },
                if on {
                    grouped(counted as f64)
                } else {
                    "-".into()
                },
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
            );
        }
    }
    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (off, on) = (median(&mut p99[0]), median(&mut p99[1]));
    println!();
    println!(
        "Caller p99 with notifications on / off: {:.2}× (median of {rounds}; goal ≤ 1.10×).",
        on as f64 / off.max(1) as f64
    );
}
