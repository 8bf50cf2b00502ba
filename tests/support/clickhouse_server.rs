//! The ClickHouse server the tests that need one run against, and running
//! a statement on it (shared by `tests/clickhouse.rs` and
//! `tests/clickhouse_query.rs`).

use std::time::Duration;

use crate::server_tests::Server;

/// Whether a ClickHouse server is there to test against: named by
/// `EVTRAIL_CLICKHOUSE_URL`, on loopback. Without one the tests are
/// reported ignored, or fail when `EVTRAIL_CLICKHOUSE_TEST=required` (CI).
pub fn server() -> Server {
    let required = std::env::var("EVTRAIL_CLICKHOUSE_TEST").as_deref() == Ok("required");
    match std::env::var("EVTRAIL_CLICKHOUSE_URL") {
        Ok(url) if !url.is_empty() => {
            let host = url
                .trim_start_matches("http://")
                .split([':', '/'])
                .next()
                .unwrap_or("");
            if host == "127.0.0.1" || host == "localhost" || host == "[::1]" {
                Server::Ready(url)
            } else {
                Server::Refused(format!(
                    "EVTRAIL_CLICKHOUSE_URL must be a loopback address, got {url}"
                ))
            }
        }
        _ => {
            let reason =
                "no ClickHouse server: set EVTRAIL_CLICKHOUSE_URL (e.g. http://127.0.0.1:18123/)";
            if required {
                Server::Refused(format!("EVTRAIL_CLICKHOUSE_TEST=required, but {reason}"))
            } else {
                Server::Missing(reason.to_owned())
            }
        }
    }
}

/// Runs one statement; the answer's text.
pub fn query(url: &str, sql: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut resp = agent.post(url).send(sql).expect("ClickHouse answers");
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap();
    assert_eq!(status, 200, "{sql}\n{text}");
    text
}
