//! `evtrail incidents` run as a real process on logs of two hosts written
//! at known times: issues raised and recovered, one left open, one keyed
//! by an explicit `issue` field, grouped by host or by host and tenant.
//! Needs the `cli` feature: `cargo test --all-features`.

mod common;

use std::path::PathBuf;

use common::{CliRun, ManualClock, dispatch, evtrail, nanos, rfc3339, ts_text};
use serde_json::{Value, json};

/// 2026-11-20T10:00:00Z.
const T0: u64 = 1_795_168_800;
/// "Now" for every run: an hour after the first record.
const NOW: u64 = T0 + 3600;

/// One record: seconds after `T0`, host (1 or 2), tenant, event, explicit
/// issue, status, message.
type Line = (
    u64,
    u8,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);

const LINES: &[Line] = &[
    (
        0,
        1,
        "acme",
        "queue_slow",
        None,
        Some("warning"),
        "queue is slow",
    ),
    (
        30,
        2,
        "acme",
        "queue_slow",
        None,
        Some("warning"),
        "queue slow on web-2",
    ),
    (
        60,
        1,
        "acme",
        "queue_slow",
        None,
        Some("error"),
        "queue is stuck",
    ),
    (
        90,
        1,
        "globex",
        "queue_slow",
        None,
        Some("error"),
        "globex queue stuck",
    ),
    (
        120,
        1,
        "acme",
        "db_down",
        None,
        Some("critical"),
        "database unreachable",
    ),
    (150, 1, "acme", "heartbeat", None, None, "alive"),
    (
        180,
        1,
        "acme",
        "db_down",
        None,
        Some("warning"),
        "database slow to answer",
    ),
    (
        200,
        1,
        "acme",
        "disk_full",
        Some("disk_full/data"),
        Some("critical"),
        "disk almost full",
    ),
    (
        240,
        2,
        "acme",
        "disk_full",
        Some("disk_full/data"),
        Some("warning"),
        "disk filling",
    ),
    (
        300,
        1,
        "acme",
        "queue_slow",
        None,
        Some("ok"),
        "queue is back",
    ),
    (330, 2, "acme", "cache_cold", None, Some("ok"), "cache warm"),
    (
        400,
        2,
        "acme",
        "disk_full",
        Some("disk_full/data"),
        Some("ok"),
        "disk usage back to normal",
    ),
    (
        500,
        1,
        "acme",
        "disk_full",
        Some("disk_full/data"),
        Some("critical"),
        "disk full again",
    ),
];

/// The records of `LINES`, from two pipelines (hosts `web-1` and `web-2`,
/// streams `web1` and `web2`) sharing one clock, each with its own log
/// directory.
fn logs() -> (tempfile::TempDir, Vec<PathBuf>) {
    logs_in_streams("web1", "web2")
}

/// As [`logs`], the two hosts' records in streams named `s1` and `s2`.
fn logs_in_streams(s1: &str, s2: &str) -> (tempfile::TempDir, Vec<PathBuf>) {
    let root = tempfile::tempdir().unwrap();
    let dirs = vec![root.path().join("web-1"), root.path().join("web-2")];
    let clock = ManualClock::at(nanos(T0));
    let pipeline = |host: &str, dir: &PathBuf, stream: &str| {
        evtrail::builder()
            .service("shop")
            .host(host)
            .default_stream(stream)
            .key(evtrail::Key::generate().unwrap())
            .clock(clock.clone())
            .log_dir(dir)
            .build()
            .unwrap()
    };
    let (l1, g1) = pipeline("web-1", &dirs[0], s1);
    let (l2, g2) = pipeline("web-2", &dirs[1], s2);
    let (d1, d2) = (dispatch(l1), dispatch(l2));
    for &(at, host, tenant, event, issue, status, msg) in LINES {
        clock.set(nanos(T0 + at));
        let d = if host == 1 { &d1 } else { &d2 };
        tracing::dispatcher::with_default(d, || match (issue, status) {
            (Some(issue), Some(status)) => {
                tracing::warn!(event, tenant, issue, status, "{msg}")
            }
            (None, Some(status)) => tracing::warn!(event, tenant, status, "{msg}"),
            _ => tracing::info!(event, tenant, "{msg}"),
        });
    }
    drop((g1, g2));
    (root, dirs)
}

/// `evtrail incidents <both dirs> ARGS` at `NOW`.
fn incidents(logs: &[PathBuf], args: &[&str]) -> CliRun {
    let mut all = vec!["incidents".as_ref()];
    all.extend(logs.iter().map(|d| d.as_os_str()));
    all.extend(args.iter().map(std::ffi::OsStr::new));
    evtrail(all, &[("EVTRAIL_NOW", &rfc3339(NOW))])
}

fn objects(run: &CliRun) -> Vec<Value> {
    run.lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}{run}")))
        .collect()
}

/// The JSON object `evtrail incidents` prints for an incident.
#[allow(clippy::too_many_arguments)]
fn incident(
    issue: &str,
    status: &str,
    worst: &str,
    first: u64,
    last: u64,
    recovered: Option<u64>,
    events: u64,
    last_msg: &str,
) -> Value {
    json!({
        "issue": issue,
        "state": if recovered.is_some() { "recovered" } else { "open" },
        "status": status,
        "worst": worst,
        "first_seen": ts_text(T0 + first),
        "last_seen": ts_text(T0 + last),
        "recovered": recovered.map(|r| ts_text(T0 + r)),
        "duration_s": recovered.unwrap_or(NOW - T0) - first,
        "events": events,
        "last_msg": last_msg,
    })
}

fn assert_incidents(run: &CliRun, want: &[Value]) {
    assert_eq!(run.code, Some(0), "{run}");
    let got = objects(run);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "incident {i}{run}");
    }
    assert_eq!(got.len(), want.len(), "{run}");
}

#[test]
fn incidents_by_host_and_tenant_with_recovered_ones() {
    let (_root, logs) = logs();
    let run = incidents(&logs, &["--by", "host,tenant", "--all", "--format", "json"]);
    assert_incidents(
        &run,
        &[
            incident(
                "queue_slow host=web-2 tenant=acme",
                "warning",
                "warning",
                30,
                30,
                None,
                1,
                "queue slow on web-2",
            ),
            incident(
                "queue_slow host=web-1 tenant=globex",
                "error",
                "error",
                90,
                90,
                None,
                1,
                "globex queue stuck",
            ),
            incident(
                "db_down host=web-1 tenant=acme",
                "warning",
                "critical",
                120,
                180,
                None,
                2,
                "database slow to answer",
            ),
            incident(
                "disk_full/data",
                "critical",
                "critical",
                500,
                500,
                None,
                1,
                "disk full again",
            ),
            incident(
                "queue_slow host=web-1 tenant=acme",
                "error",
                "error",
                0,
                60,
                Some(300),
                2,
                "queue is stuck",
            ),
            incident(
                "disk_full/data",
                "warning",
                "critical",
                200,
                240,
                Some(400),
                2,
                "disk filling",
            ),
        ],
    );
}

#[test]
fn incidents_group_by_host_by_default_and_list_only_open_ones() {
    let (_root, logs) = logs();
    // When piped, json is the default format.
    let open = incidents(&logs, &[]);
    assert_incidents(
        &open,
        &[
            incident(
                "queue_slow host=web-2",
                "warning",
                "warning",
                30,
                30,
                None,
                1,
                "queue slow on web-2",
            ),
            incident(
                "db_down host=web-1",
                "warning",
                "critical",
                120,
                180,
                None,
                2,
                "database slow to answer",
            ),
            incident(
                "disk_full/data",
                "critical",
                "critical",
                500,
                500,
                None,
                1,
                "disk full again",
            ),
        ],
    );
    // The globex record joins web-1's queue_slow issue, which the ok ends.
    let all = incidents(&logs, &["--all"]);
    let objs = objects(&all);
    let queue = objs
        .iter()
        .find(|o| o["issue"] == "queue_slow host=web-1")
        .unwrap_or_else(|| panic!("{all}"));
    assert_eq!(
        queue,
        &incident(
            "queue_slow host=web-1",
            "error",
            "error",
            0,
            90,
            Some(300),
            3,
            "globex queue stuck",
        ),
        "{all}"
    );
    assert_eq!(objs.len(), 5, "{all}");
    assert!(
        objs.iter().all(|o| o["issue"] != "cache_cold host=web-2"),
        "an ok alone raises nothing{all}"
    );
}

#[test]
fn the_range_and_filters_limit_what_incidents_see() {
    let (_root, logs) = logs();
    // Records from 10:02:30 on: db_down's episode starts with its warning,
    // the queue's issue has only its ok left.
    let run = incidents(
        &logs,
        &["--from", &rfc3339(T0 + 150), "--all", "--by", "host"],
    );
    let issues: Vec<(String, String)> = objects(&run)
        .iter()
        .map(|o| {
            (
                o["issue"].as_str().unwrap().to_owned(),
                o["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        issues,
        [
            ("db_down host=web-1".to_owned(), "open".to_owned()),
            ("disk_full/data".to_owned(), "open".to_owned()),
            ("disk_full/data".to_owned(), "recovered".to_owned()),
        ],
        "{run}"
    );
    let db = &objects(&run)[0];
    assert_eq!(
        (&db["first_seen"], &db["events"], &db["worst"]),
        (&json!(ts_text(T0 + 180)), &json!(1), &json!("warning")),
        "{run}"
    );
    let run = incidents(&logs, &["--host", "web-2", "--all"]);
    let objs = objects(&run);
    let issues: Vec<&str> = objs.iter().map(|o| o["issue"].as_str().unwrap()).collect();
    assert_eq!(issues, ["queue_slow host=web-2", "disk_full/data"], "{run}");
}

#[test]
fn no_open_incident_exits_1_and_the_table_says_how_many_are_open() {
    let (_root, logs) = logs();
    // Before the first record was written nothing is open.
    let run = incidents(&logs, &["--to", &rfc3339(T0)]);
    assert_eq!((run.code, run.stdout.as_str()), (Some(1), ""), "{run}");

    let run = incidents(&logs, &["--format", "table"]);
    assert_eq!(run.code, Some(0), "{run}");
    let lines = run.lines();
    assert!(lines[0].starts_with("ISSUE"), "{run}");
    assert_eq!(lines.len(), 1 + 3, "{run}");
    assert!(lines[1].starts_with("queue_slow host=web-2"), "{run}");
    assert!(lines.iter().all(|l| !l.contains("recovered")), "{run}");
    assert!(
        run.stderr.contains("3 open incidents in"),
        "the summary{run}"
    );
    let db = lines
        .iter()
        .find(|l| l.starts_with("db_down"))
        .unwrap_or_else(|| panic!("{run}"));
    assert!(db.contains("58m 0s"), "duration until EVTRAIL_NOW{run}");
}

#[test]
fn hosts_logging_to_the_same_stream_name_give_the_same_incidents() {
    let (_root, logs) = logs_in_streams("app", "app");
    let run = incidents(&logs, &[]);
    let objs = objects(&run);
    let disk = objs
        .iter()
        .find(|o| o["issue"] == "disk_full/data")
        .unwrap_or_else(|| panic!("the disk_full episode after the recovery is open{run}"));
    assert_eq!(
        disk,
        &incident(
            "disk_full/data",
            "critical",
            "critical",
            500,
            500,
            None,
            1,
            "disk full again",
        ),
        "{run}"
    );
}

#[test]
fn a_hostile_status_cannot_drive_the_terminal() {
    let root = tempfile::tempdir().unwrap();
    let line = r#"{"v":1,"stream":"app","seq":1,"ts":"2026-12-03T10:00:00.000000Z","level":"ERROR","event":"x","status":"\u001b]0;pwned\u0007\u001b[2Jcritical","host":"h","msg":"m"}"#;
    std::fs::write(root.path().join("app.log"), format!("{line}\n")).unwrap();
    let dir = root.path().to_str().unwrap();
    let run = common::evtrail(["incidents", dir, "--all-time", "--format", "table"], &[]);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stdout.contains("pwned"), "{run}");
    assert!(!run.stdout.contains('\u{1b}'), "{run}");
    assert!(!run.stdout.contains('\u{7}'), "{run}");
}
