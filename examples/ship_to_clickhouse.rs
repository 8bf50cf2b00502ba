//! Ships signed events to a ClickHouse server on this machine.
//!
//! ```sh
//! # a local server, e.g. from Debian's `clickhouse-server` package:
//! EVTRAIL_CLICKHOUSE_URL=http://127.0.0.1:8123/ cargo run --example ship_to_clickhouse --features http
//! ```
//!
//! It creates the table evtrail's ClickHouse encoder writes to, logs a few
//! events (also kept in a local, signed log), waits until ClickHouse has
//! them and asks it how many `payment_failed` there were, by kind.

use std::time::Duration;

use evtrail::http::{ClickHouse, HttpSink};
use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("EVTRAIL_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123/".to_owned());
    let host = url
        .trim_start_matches("http://")
        .split([':', '/'])
        .next()
        .unwrap_or_default();
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return Err(format!("this example only talks to a local server, not {url}").into());
    }

    // 1. The table, as the encoder documents it (`ReplacingMergeTree` by
    //    stream and seq, so at-least-once duplicates collapse).
    let encoder = ClickHouse::new("evtrail_example");
    sql(&url, &encoder.create_table())?;

    // 2. The pipeline: a signed local log plus the ClickHouse sink. The
    //    sink's spool lives in the log directory.
    // A new key every run, so a fresh directory: an earlier run's chain
    // could not be continued with it.
    let dir = std::env::temp_dir().join("evtrail-clickhouse-example");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let clickhouse = HttpSink::builder(&url)
        .name("clickhouse")
        .encoder(encoder)
        .batch_wait(Duration::from_millis(200))
        .build()?;
    let (layer, guard) = evtrail::builder()
        .service("shop")
        .environment("example")
        .key(evtrail::Key::generate()?)
        .log_dir(&dir)
        .add_sink(clickhouse)
        .build()?;
    tracing_subscriber::registry().with(layer).init();

    for i in 0..100u32 {
        let span =
            tracing::info_span!("request", request_id = %format!("req_{i}"), op = "checkout");
        let _e = span.enter();
        if i % 7 == 0 {
            let kind = if i % 2 == 0 {
                "card_declined"
            } else {
                "timeout"
            };
            tracing::warn!(
                event = "payment_failed",
                kind,
                tenant = "acme",
                "payment failed"
            );
        } else {
            tracing::info!(event = "payment_ok", tenant = "acme", "payment accepted");
        }
    }

    // 3. Wait until ClickHouse has everything, then ask it.
    guard.flush(Duration::from_secs(30))?;
    let stats = guard.stats();
    let delivery = stats.sinks[1].delivery.clone().unwrap_or_default();
    println!(
        "delivered {} records in {} requests ({} failed attempts)",
        delivery.delivered, delivery.pushes_ok, delivery.pushes_failed
    );
    let answer = sql(
        &url,
        "SELECT JSONExtractString(fields, 'kind') AS kind, count() AS n \
         FROM evtrail_example FINAL WHERE event = 'payment_failed' \
         AND ts > now() - 600 GROUP BY kind ORDER BY kind FORMAT TSV",
    )
    .or_else(|_| {
        // Servers older than JSONExtract (18.x): visitParam does the same here.
        sql(
            &url,
            "SELECT visitParamExtractString(fields, 'kind') AS kind, count() AS n \
             FROM evtrail_example FINAL WHERE event = 'payment_failed' \
             AND ts > now() - 600 GROUP BY kind ORDER BY kind FORMAT TSV",
        )
    })?;
    println!("payment_failed in the last 10 minutes, by kind:\n{answer}");
    println!("local signed log: {}", dir.display());
    Ok(())
}

/// Runs one statement over ClickHouse's HTTP interface.
fn sql(url: &str, statement: &str) -> Result<String, Box<dyn std::error::Error>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut resp = agent.post(url).send(statement)?;
    let text = resp.body_mut().read_to_string()?;
    if resp.status().as_u16() != 200 {
        return Err(format!("ClickHouse: {text}").into());
    }
    Ok(text)
}
