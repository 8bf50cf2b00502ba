//! Logs for the console's tests (`stats`, `report`), written by the real
//! pipeline, with the model of what was written: a shop log on a manual
//! clock, a log whose HTTP sink met a scripted server, and chat-style
//! push records.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use evtrail::http::HttpSink;
use evtrail::{Key, Overflow, Route};
use serde_json::Value;

use crate::common::{ManualClock, WAIT, dispatch, nanos};
use crate::http_server::{Reply, TestServer};

/// 2026-11-20T12:00:00Z.
pub const T0: u64 = 1_795_176_000;
/// The hour the shop's tests look at: `[T0, T0 + 3600)`.
pub const FROM: &str = "2026-11-20T12:00:00Z";
pub const TO: &str = "2026-11-20T13:00:00Z";

pub const CLASSES: [&str; 4] = ["info", "audit", "security", "error"];
pub const EVENTS: [&str; 5] = [
    "payment_failed",
    "payment_ok",
    "login",
    "logout",
    "order_placed",
];
pub const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

/// One event the shop wrote.
#[derive(Clone, Debug)]
pub struct Ev {
    /// Seconds after the epoch.
    pub secs: u64,
    pub class: &'static str,
    pub event: &'static str,
    pub tenant: &'static str,
    pub level: &'static str,
}

/// The shop's events: from five minutes before the hour to five after,
/// every 7 seconds, with classes, events and tenants mixed unevenly.
pub fn model() -> Vec<Ev> {
    (0..600u64)
        .map(|i| {
            let mix = i * i % 17;
            Ev {
                secs: T0 - 300 + i * 7,
                class: CLASSES[(mix % 4) as usize],
                event: EVENTS[(i * 3 / 7 % 5) as usize],
                tenant: TENANTS[(mix % 3) as usize],
                level: match i % 10 {
                    0 => "ERROR",
                    1 | 2 => "WARN",
                    _ => "INFO",
                },
            }
        })
        .collect()
}

/// Whether an event is in the shop's hour.
pub fn in_hour(e: &Ev) -> bool {
    (T0..T0 + 3600).contains(&e.secs)
}

/// A shop log, signed, in two streams (audit records apart).
pub struct Shop {
    pub root: tempfile::TempDir,
    pub logs: PathBuf,
    pub key_file: PathBuf,
    pub events: Vec<Ev>,
}

macro_rules! emit_ev {
    ($lvl:expr, $e:expr) => {
        tracing::event!(
            $lvl,
            class = $e.class,
            event = $e.event,
            tenant = $e.tenant,
            status_code = 200u64,
            "{} for {}",
            $e.event,
            $e.tenant
        )
    };
}

pub fn shop() -> Shop {
    let root = tempfile::tempdir().unwrap();
    let key = Key::generate().unwrap();
    let key_file = root.path().join("signing.key");
    key.write_new_file(&key_file).unwrap();
    let logs = root.path().join("logs");
    let clock = ManualClock::at(nanos(T0 - 300));
    let (layer, guard) = evtrail::builder()
        .service("shop")
        .host("web-1")
        .key(key)
        .clock(clock.clone())
        .log_dir(&logs)
        .add_route(Route::to("audit").class("audit"))
        .overflow(Overflow::Block)
        .build()
        .unwrap();
    let events = model();
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || {
        for e in &events {
            clock.set(nanos(e.secs));
            match e.level {
                "ERROR" => emit_ev!(tracing::Level::ERROR, e),
                "WARN" => emit_ev!(tracing::Level::WARN, e),
                _ => emit_ev!(tracing::Level::INFO, e),
            }
        }
    });
    guard.flush(WAIT).unwrap();
    drop(guard);
    Shop {
        root,
        logs,
        key_file,
        events,
    }
}

/// A log whose HTTP sink `hook` met a server that answered some requests
/// 200, one 500 (retried) and one 400 (given up); and what the server saw.
pub struct Pushed {
    pub root: tempfile::TempDir,
    pub logs: PathBuf,
    pub server: TestServer,
}

/// Writes three waves of ten user events (`order_placed`, `order_paid`,
/// `order_shipped`), each flushed to the sink before the next.
pub fn pushed() -> Pushed {
    let server = TestServer::start();
    server.script([
        Reply::ok(),
        Reply::Status(500),
        Reply::ok(),
        Reply::with_body(400, "bad batch"),
    ]);
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    let sink = HttpSink::builder(server.url("/ingest"))
        .name("hook")
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .timeout(Duration::from_secs(5))
        .batch_records(100)
        .batch_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let (layer, guard) = evtrail::builder()
        .service("shop")
        .host("web-1")
        .unsigned()
        .log_dir(&logs)
        .overflow(Overflow::Block)
        .add_route(Route::to("delivery").event("evtrail.push"))
        .add_sink(sink)
        .build()
        .unwrap();
    let d = dispatch(layer);
    // Each wave waits for the push records of the one before, so that
    // they usually go out with the next wave: wave 1 → 200; its report and
    // wave 2 → 500, then 200 on the retry; their reports and wave 3 → 400,
    // given up. Tests compare with what the server saw, so they hold
    // whichever request took which reply.
    for (wave, (event, reports)) in [("order_placed", 1), ("order_paid", 3), ("order_shipped", 4)]
        .into_iter()
        .enumerate()
    {
        tracing::dispatcher::with_default(&d, || {
            for i in 0..10 {
                tracing::info!(event, order = wave * 10 + i, "order {}", wave * 10 + i);
            }
        });
        guard.flush(WAIT).unwrap();
        let deadline = std::time::Instant::now() + WAIT;
        while guard.stats().internal < reports {
            assert!(
                std::time::Instant::now() < deadline,
                "the sink never reported wave {wave}"
            );
            std::thread::yield_now();
        }
    }
    guard.shutdown(WAIT).unwrap();
    drop(guard);
    Pushed { root, logs, server }
}

/// Whether every line of a request body is itself a push record.
pub fn only_pushes(lines: &[Value]) -> bool {
    lines.iter().all(|l| l["event"] == "evtrail.push")
}

/// Chat-style push records (as chat notifications write them) for a log
/// of six `disk_full` and four `db_down` user events: dingtalk delivered
/// the first three disk alerts, wecom failed twice then delivered the db
/// alerts, feishu gave up on the last two disk alerts; the fourth disk
/// alert was not pushed. Returns the seqs of the disk and db events.
pub fn chat_fixture(dir: &Path) -> (Vec<u64>, Vec<u64>) {
    let (layer, guard) = evtrail::builder()
        .service("ops")
        .host("mon-1")
        .unsigned()
        .log_dir(dir)
        .build()
        .unwrap();
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || {
        for i in 1..=6 {
            tracing::error!(
                event = "disk_full",
                status = "critical",
                disk = i,
                "disk {i} full"
            );
        }
        for i in 1..=4 {
            tracing::error!(event = "db_down", status = "error", "db down ({i})");
        }
    });
    guard.flush(WAIT).unwrap();
    // The seqs as written (the chain's own records take some too).
    let seqs = |event: &str| -> Vec<u64> {
        crate::common::read_stream(dir, "app")
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r["event"] == event)
            .map(|r| r["seq"].as_u64().unwrap())
            .collect()
    };
    let (disk, db) = (seqs("disk_full"), seqs("db_down"));
    let run = |s: &[u64]| format!("app:{}-{}", s[0], s[s.len() - 1]);
    let ranges = [
        run(&disk[..3]),
        run(&db),
        format!("app:{0}-{0} app:{1}-{1}", disk[4], disk[5]),
    ];
    tracing::dispatcher::with_default(&d, || {
        let push = |channel: &str,
                    recipients: &str,
                    events: &str,
                    ranges: &str,
                    result: &str,
                    latency: u64| {
            let records: u64 = ranges
                .split_whitespace()
                .map(|t| {
                    let (a, b) = t.rsplit_once(':').unwrap().1.split_once('-').unwrap();
                    b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1
                })
                .sum();
            tracing::info!(
                event = "evtrail.push",
                sink = "ops-chat",
                channel,
                rule = "oncall",
                recipients,
                events,
                ranges,
                result,
                records,
                latency_ms = latency,
                api_code = if result == "ok" { 0u64 } else { 310_000 },
                "chat push"
            );
        };
        push(
            "dingtalk",
            "13800000000,@all",
            "disk_full",
            &ranges[0],
            "ok",
            120,
        );
        push("wecom", "@oncall", "db_down", &ranges[1], "retry", 30);
        push("wecom", "@oncall", "db_down", &ranges[1], "retry", 40);
        push("wecom", "@oncall", "db_down", &ranges[1], "ok", 50);
        push(
            "feishu",
            "ops-group",
            "disk_full",
            &ranges[2],
            "rejected",
            900,
        );
    });
    guard.flush(WAIT).unwrap();
    drop(guard);
    (disk, db)
}
