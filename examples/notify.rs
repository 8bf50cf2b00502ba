//! Anomalies pushed to a chat group: a mock DingTalk robot on loopback
//! receives what evtrail sends for a burst of payment errors and their
//! recovery, and the push records say whether each message arrived.
//!
//! Run with `cargo run --example notify --features notify`. Nothing leaves
//! this machine: the "robot" is a thread of this program on 127.0.0.1. The
//! logs go to `$EVTRAIL_DIR` when it is set (then try
//! `evtrail stats $EVTRAIL_DIR --all-time` for the push statistics), else to
//! a temporary directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evtrail::Route;
use evtrail::notify::{DingTalk, NotifySink, Rule};
use evtrail::query::{Filter, Query, TimeRange};
use tracing::{error, info};
use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let dir = std::env::var_os("EVTRAIL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| scratch.path().to_owned());
    let (url, chat) = mock_dingtalk()?;

    let notify = NotifySink::builder()
        .add_channel(
            "oncall",
            DingTalk::webhook(format!("{url}/robot/send?access_token=demo-token"))
                .secret("SECdemo-signing-secret"),
        )
        .add_rule(
            Rule::new("payments")
                .event("payment_*")
                .mention_mobiles(["13800000000"]),
        )
        .time_zone("+08:00")
        .build()?;
    let (layer, guard) = evtrail::builder()
        .service("shop")
        .host("web-1")
        .unsigned()
        .log_dir(dir.as_path())
        .add_route(Route::to("delivery").event("evtrail.push"))
        .add_sink(notify)
        .build()?;
    tracing_subscriber::registry().with(layer).init();

    // A burst: 200 failures in a fraction of a second become one message
    // after the group wait (1 s).
    for i in 0..200 {
        error!(
            event = "payment_failed",
            issue = "payments/card",
            status = "error",
            code = "PAY-502",
            order = format!("order-{i}"),
            amount = 42.5,
            "card processor timed out"
        );
    }
    std::thread::sleep(Duration::from_millis(1500));
    // The recovery resolves the group: one "Resolved" message.
    info!(
        event = "payment_succeeded",
        issue = "payments/card",
        status = "ok",
        "card processor answers again"
    );
    guard.handle().flush(Duration::from_secs(10))?;
    drop(guard);

    println!("== what the chat group received");
    for (i, text) in chat.lock().unwrap().iter().enumerate() {
        println!("-- message {}\n{text}\n", i + 1);
    }
    println!(
        "== the push records (evtrail query {} --stream delivery)",
        dir.as_path().display()
    );
    let query = Query::new(
        Filter::new().add_any_of("stream", ["delivery"])?,
        TimeRange::all(),
    );
    for m in query.run(&[dir.as_path()])? {
        let m = m?;
        let f = |k: &str| m.field(k).unwrap_or_default();
        println!(
            "{} {} rule={} kind={} result={} records={} recipients={} latency={}ms",
            m.ts(),
            f("channel"),
            f("rule"),
            f("kind"),
            f("result"),
            f("records"),
            f("recipients"),
            f("latency_ms")
        );
    }
    Ok(())
}

/// A loopback stand-in for DingTalk's robot API: keeps each message's
/// text and answers `{"errcode":0}` as the real one does.
fn mock_dingtalk() -> std::io::Result<(String, Arc<Mutex<Vec<String>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let chat = Arc::new(Mutex::new(Vec::new()));
    let received = chat.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let text = json["markdown"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            received.lock().unwrap().push(text);
            let answer = r#"{"errcode":0,"errmsg":"ok"}"#;
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    Ok((url, chat))
}
