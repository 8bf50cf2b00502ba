//! `evtrail stats` and `evtrail::stats` on logs written by the real
//! pipeline: counts, cross tables and series against a model of what was
//! written, bucket edges, push statistics from a sink that met a scripted
//! server, chat-style push records, and bad input.
//! Needs the `cli` and `http` features: `cargo test --all-features`.

mod common;
#[path = "support/console.rs"]
mod console;
#[path = "support/http_server.rs"]
mod http_server;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::Path;

use common::{CliRun, ManualClock, WAIT, dispatch, evtrail, nanos, rfc3339};
use console::{FROM, T0, TO, in_hour, shop};
use evtrail::query::{Filter, Query, TimeRange};
use evtrail::stats::{Counts, Summary, Tally};
use serde_json::Value;

fn stats(dir: &Path, args: &[&str]) -> CliRun {
    let mut all = vec!["stats".to_owned(), dir.display().to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    evtrail(all, &[])
}

fn json(run: &CliRun) -> Value {
    assert_eq!(run.code, Some(0), "{run}");
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}){run}"))
}

/// `{"top": [{"key": [..], "count": n}], ...}` as a map from the joined key.
fn counts_of(v: &Value) -> BTreeMap<String, u64> {
    v["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let key: Vec<&str> = c["key"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap())
                .collect();
            (key.join("|"), c["count"].as_u64().unwrap())
        })
        .collect()
}

fn model_counts<'a>(keys: impl Iterator<Item = String> + 'a) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for k in keys {
        *m.entry(k).or_default() += 1;
    }
    m
}

#[test]
fn counts_cross_tables_and_series_equal_the_model() {
    let shop = shop();
    let run = stats(
        &shop.logs,
        &[
            "--from",
            FROM,
            "--to",
            TO,
            "--by",
            "class,tenant",
            "--format",
            "json",
        ],
    );
    let v = json(&run);
    let hour: Vec<_> = shop.events.iter().filter(|e| in_hour(e)).collect();
    assert!(
        hour.len() > 400 && hour.len() < shop.events.len(),
        "the fixture spans the hour's edges"
    );
    assert_eq!(v["total"], hour.len() as u64);
    assert_eq!(
        counts_of(&v["classes"]),
        model_counts(hour.iter().map(|e| e.class.to_owned()))
    );
    assert_eq!(
        counts_of(&v["events"]),
        model_counts(hour.iter().map(|e| e.event.to_owned()))
    );
    assert_eq!(
        counts_of(&v["levels"]),
        model_counts(hour.iter().map(|e| e.level.to_owned()))
    );
    assert_eq!(
        counts_of(&v["groups"]),
        model_counts(hour.iter().map(|e| format!("{}|{}", e.class, e.tenant)))
    );
    assert_eq!(v["groups"]["rest"], 0);
    assert_eq!(v["by"], serde_json::json!(["class", "tenant"]));
    // Largest first.
    let tops: Vec<u64> = v["groups"]["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .collect();
    assert!(tops.windows(2).all(|w| w[0] >= w[1]), "{tops:?}");

    // The series: split by the first --by dimension, one-minute buckets
    // across the hour (chosen automatically), every bucket present.
    let series = &v["series"];
    assert_eq!(series["dimension"], "class");
    assert_eq!(series["every_s"], 60);
    let starts = series["starts"].as_array().unwrap();
    assert_eq!(starts.len(), 60);
    assert_eq!(starts[0], "2026-11-20T12:00:00Z");
    assert_eq!(starts[59], "2026-11-20T12:59:00Z");
    let totals: Vec<u64> = series["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    let mut expected = vec![0u64; 60];
    for e in &hour {
        expected[((e.secs - T0) / 60) as usize] += 1;
    }
    assert_eq!(totals, expected);
    for line in series["lines"].as_array().unwrap() {
        let class = line["name"].as_str().unwrap();
        let mut expected = vec![0u64; 60];
        for e in hour.iter().filter(|e| e.class == class) {
            expected[((e.secs - T0) / 60) as usize] += 1;
        }
        let got: Vec<u64> = line["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        assert_eq!(got, expected, "line {class}");
    }
    assert_eq!(v["problems"], 0);
    assert_eq!(v["signatures"], Value::Null, "no key, no verdicts");

    // The same with the key: every record's signature is valid.
    let key = shop.key_file.display().to_string();
    let v = json(&stats(
        &shop.logs,
        &[
            "--from",
            FROM,
            "--to",
            TO,
            "--key-file",
            &key,
            "--format",
            "json",
        ],
    ));
    assert_eq!(v["signatures"]["valid"], hour.len() as u64);

    // The default range is the current hour of EVTRAIL_NOW.
    let now = rfc3339(T0 + 1800);
    let run = evtrail(
        [
            "stats",
            &shop.logs.display().to_string(),
            "--format",
            "json",
        ],
        &[("EVTRAIL_NOW", now.as_str())],
    );
    assert_eq!(json(&run)["total"], hour.len() as u64);

    // Filters are query's: one tenant's errors.
    let v = json(&stats(
        &shop.logs,
        &[
            "--from", FROM, "--to", TO, "--tenant", "acme", "--class", "error", "--format", "json",
        ],
    ));
    let n = hour
        .iter()
        .filter(|e| e.tenant == "acme" && e.class == "error")
        .count();
    assert_eq!(v["total"], n as u64);
}

#[test]
fn bucket_edges_put_a_record_on_an_edge_in_the_later_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(nanos(T0));
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .clock(clock.clone())
        .log_dir(dir.path())
        .build()
        .unwrap();
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || {
        // Microseconds are what `ts` keeps.
        for at_micros in [
            0u64,
            59_999_999,
            60_000_000,
            119_999_999,
            120_000_000,
            179_999_999,
            180_000_000,
        ] {
            clock.set(nanos(T0) + at_micros * 1000);
            tracing::info!(at_micros, "tick");
        }
    });
    guard.flush(WAIT).unwrap();
    drop(guard);
    let to = rfc3339(T0 + 180);
    let v = json(&stats(
        dir.path(),
        &[
            "--from", FROM, "--to", &to, "--every", "1m", "--format", "json",
        ],
    ));
    assert_eq!(v["series"]["every_s"], 60);
    assert_eq!(
        v["series"]["totals"],
        serde_json::json!([2, 2, 2]),
        "the record at the range's end is out"
    );
    assert_eq!(v["total"], 6);
    // A width that does not divide the range: the last bucket is cut by
    // the range, not moved.
    let v = json(&stats(
        dir.path(),
        &[
            "--from", FROM, "--to", &to, "--every", "2m", "--format", "json",
        ],
    ));
    assert_eq!(
        v["series"]["starts"],
        serde_json::json!(["2026-11-20T12:00:00Z", "2026-11-20T12:02:00Z"])
    );
    assert_eq!(v["series"]["totals"], serde_json::json!([4, 2]));
    // CSV of the series: a header and one row per bucket.
    let run = stats(
        dir.path(),
        &[
            "--from", FROM, "--to", &to, "--every", "1m", "--format", "csv",
        ],
    );
    assert_eq!(
        run.lines(),
        [
            "start,total,info",
            "2026-11-20T12:00:00Z,2,2",
            "2026-11-20T12:01:00Z,2,2",
            "2026-11-20T12:02:00Z,2,2"
        ],
        "{run}"
    );
}

#[test]
fn top_n_keeps_the_largest_and_sums_the_rest() {
    let shop = shop();
    let hour: Vec<_> = shop.events.iter().filter(|e| in_hour(e)).collect();
    let mut by_event: Vec<(String, u64)> = model_counts(hour.iter().map(|e| e.event.to_owned()))
        .into_iter()
        .collect();
    by_event.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let run = stats(
        &shop.logs,
        &[
            "--from", FROM, "--to", TO, "--by", "event", "--top", "2", "--format", "csv",
        ],
    );
    assert_eq!(run.code, Some(0), "{run}");
    let rest: u64 = by_event[2..].iter().map(|e| e.1).sum();
    assert_eq!(
        run.lines(),
        [
            "event,count".to_owned(),
            format!("{},{}", by_event[0].0, by_event[0].1),
            format!("{},{}", by_event[1].0, by_event[1].1),
            format!("(other),{rest}"),
        ]
    );
    // The table names the same numbers.
    let run = stats(
        &shop.logs,
        &[
            "--from", FROM, "--to", TO, "--by", "event", "--top", "2", "--format", "table",
        ],
    );
    assert!(
        run.stdout.contains(&format!("{} records in", hour.len())),
        "{run}"
    );
    assert!(run.stdout.contains(&by_event[0].0), "{run}");
    assert!(run.stdout.contains("(other 3 keys)"), "{run}");
}

#[test]
fn an_open_range_has_30_to_120_buckets_over_its_records() {
    let shop = shop();
    let v = json(&stats(&shop.logs, &["--all-time", "--format", "json"]));
    assert_eq!(v["total"], shop.events.len() as u64);
    let n = v["series"]["starts"].as_array().unwrap().len();
    assert!((30..=120).contains(&n), "{n} buckets");
    let sum: u64 = v["series"]["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(sum, shop.events.len() as u64);
    assert_eq!(v["from"], Value::Null);
}

#[test]
fn push_success_rates_come_from_a_sink_that_met_a_scripted_server() {
    let p = console::pushed();
    let requests = p.server.requests();
    // What the server saw, independently of the push records: a success
    // made only of push records is not itself reported.
    let reported: Vec<_> = requests
        .iter()
        .filter(|r| !(r.accepted() && console::only_pushes(&r.json_lines())))
        .collect();
    let ok = reported.iter().filter(|r| r.accepted()).count() as u64;
    let failed = reported.len() as u64 - ok;
    let rejected = reported
        .iter()
        .filter(|r| r.reply.status() == Some(400))
        .count() as u64;
    let delivered: u64 = reported
        .iter()
        .filter(|r| r.accepted())
        .map(|r| r.json_lines().len() as u64)
        .sum();
    assert!(
        ok >= 2 && failed >= 2 && rejected == 1,
        "the script made successes and failures: {ok} {failed}"
    );

    let v = json(&stats(
        &p.logs,
        &["--all-time", "--stream", "app", "--format", "json"],
    ));
    let sinks = v["push"]["sinks"].as_array().unwrap();
    assert_eq!(sinks.len(), 1, "{sinks:?}");
    let s = &sinks[0];
    assert_eq!(s["sink"], "hook");
    assert_eq!(s["channel"], Value::Null);
    assert_eq!(s["attempts"], reported.len() as u64);
    assert_eq!(s["ok"], ok);
    assert_eq!(s["failed"], failed);
    assert_eq!(s["rejected"], rejected);
    assert_eq!(s["records_delivered"], delivered);
    let rate = s["success_rate"].as_f64().unwrap();
    assert!(
        (rate - ok as f64 / reported.len() as f64).abs() < 1e-9,
        "{rate}"
    );
    // Latencies: small, so the histogram is exact; nearest rank.
    let pushes: Vec<Value> = common::read_stream(&p.logs, "delivery")
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r["event"] == "evtrail.push")
        .collect();
    let mut lat: Vec<u64> = pushes
        .iter()
        .map(|r| r["fields"]["latency_ms"].as_u64().unwrap())
        .collect();
    lat.sort_unstable();
    if lat.iter().all(|&l| l < 64) {
        let rank = |q: f64| lat[((q * lat.len() as f64).ceil() as usize).max(1) - 1];
        assert_eq!(s["latency_ms_p50"], rank(0.5));
        assert_eq!(s["latency_ms_p99"], rank(0.99));
    }

    // Per record: the user records the server accepted are pushed; those
    // it only refused failed; none was left out.
    let key = |r: &Value| {
        (
            r["stream"].as_str().unwrap().to_owned(),
            r["seq"].as_u64().unwrap(),
        )
    };
    let accepted: HashSet<_> = requests
        .iter()
        .filter(|r| r.accepted())
        .flat_map(|r| r.json_lines())
        .map(|l| key(&l))
        .collect();
    let refused: HashSet<_> = requests
        .iter()
        .filter(|r| !r.accepted())
        .flat_map(|r| r.json_lines())
        .map(|l| key(&l))
        .collect();
    let app: Vec<Value> = common::read_stream(&p.logs, "app")
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r["target"] != "evtrail")
        .collect();
    assert_eq!(app.len(), 30);
    let mut want = (0u64, 0u64, 0u64);
    let mut per_event: HashMap<String, (u64, u64, u64)> = HashMap::new();
    for r in &app {
        let k = key(r);
        let e = per_event
            .entry(r["event"].as_str().unwrap().to_owned())
            .or_default();
        if accepted.contains(&k) {
            want.0 += 1;
            e.0 += 1;
        } else if refused.contains(&k) {
            want.1 += 1;
            e.1 += 1;
        } else {
            want.2 += 1;
            e.2 += 1;
        }
    }
    let r = &v["push"]["records"];
    assert_eq!(
        (
            r["ok"].as_u64().unwrap(),
            r["failed"].as_u64().unwrap(),
            r["none"].as_u64().unwrap()
        ),
        want
    );
    assert_eq!(want.0 + want.1 + want.2, 30);
    for e in v["push"]["events"].as_array().unwrap() {
        let w = per_event[e["event"].as_str().unwrap()];
        let r = &e["records"];
        assert_eq!(
            (
                r["ok"].as_u64().unwrap(),
                r["failed"].as_u64().unwrap(),
                r["none"].as_u64().unwrap()
            ),
            w,
            "{e}"
        );
    }

    // The table shows the rate.
    let run = stats(&p.logs, &["--all-time", "--format", "table"]);
    let pct = format!("{:.1}%", ok as f64 * 100.0 / reported.len() as f64);
    assert!(
        run.stdout.contains(&pct) && run.stdout.contains("hook"),
        "{pct}{run}"
    );
}

#[test]
fn chat_pushes_are_counted_per_channel_and_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let (disk, db) = console::chat_fixture(dir.path());
    let query = Query::new(
        Filter::new()
            .add_any_of("event", ["disk_full", "db_down"])
            .unwrap(),
        TimeRange::all(),
    );
    let s: Summary = Tally::new().run(&query, &[dir.path()]).unwrap();
    assert_eq!(s.total, 10);
    let by: BTreeMap<String, _> = s
        .push
        .sinks
        .iter()
        .map(|k| (k.channel.clone().unwrap(), k))
        .collect();
    assert_eq!(by.len(), 3);
    let w = by["wecom"];
    assert_eq!(
        (w.attempts, w.ok, w.failed, w.rejected, w.records_delivered),
        (3, 1, 2, 0, db.len() as u64)
    );
    assert!((w.success_rate - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!((w.latency_ms_p50, w.latency_ms_p99), (Some(40), Some(50)));
    let f = by["feishu"];
    assert_eq!((f.attempts, f.ok, f.failed, f.rejected), (1, 0, 1, 1));
    assert_eq!(by["dingtalk"].records_delivered, 3);
    // Records: disk 1–3 and every db alert delivered; disk 5, 6 failed;
    // disk 4 not pushed.
    assert_eq!(
        (
            s.push.records.ok,
            s.push.records.failed,
            s.push.records.none
        ),
        (7, 2, 1)
    );
    let disk_ev = s
        .push
        .events
        .iter()
        .find(|e| e.event == "disk_full")
        .unwrap();
    assert_eq!(
        (
            disk_ev.records.ok,
            disk_ev.records.failed,
            disk_ev.records.none
        ),
        (3, 2, 1)
    );
    assert_eq!((disk_ev.messages_ok, disk_ev.messages_failed), (1, 1));
    let db_ev = s.push.events.iter().find(|e| e.event == "db_down").unwrap();
    assert_eq!(
        (db_ev.records.ok, db_ev.messages_ok, db_ev.messages_failed),
        (4, 1, 2)
    );
    assert_eq!((disk.len(), db.len()), (6, 4));
}

#[test]
fn no_records_a_single_record_and_ten_thousand_event_names() {
    // No records: exit 1, every bucket of the range there as zero.
    let empty = tempfile::tempdir().unwrap();
    let run = stats(
        empty.path(),
        &["--from", FROM, "--to", TO, "--format", "json"],
    );
    assert_eq!(run.code, Some(1), "{run}");
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["total"], 0);
    assert_eq!(v["series"]["starts"].as_array().unwrap().len(), 60);
    assert!(
        v["series"]["totals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c == 0)
    );
    assert_eq!(v["series"]["lines"], serde_json::json!([]));
    let run = stats(
        empty.path(),
        &["--from", FROM, "--to", TO, "--format", "table"],
    );
    assert!(run.stdout.starts_with("0 records in"), "{run}");

    // One record, all time: one bucket.
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .log_dir(dir.path())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || tracing::warn!(event = "only", "one"));
    guard.flush(WAIT).unwrap();
    drop(guard);
    let v = json(&stats(dir.path(), &["--all-time", "--format", "json"]));
    assert_eq!(v["total"], 1);
    assert_eq!(v["series"]["totals"], serde_json::json!([1]));
    assert_eq!(v["events"]["top"][0]["key"], serde_json::json!(["only"]));

    // Ten thousand distinct event names: all counted, none lost.
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .log_dir(dir.path())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for i in 0..10_000 {
            tracing::info!(event = format!("event_{i:05}"), "e");
        }
        tracing::info!(event = "event_00042", "again");
    });
    guard.flush(WAIT).unwrap();
    drop(guard);
    let s = Tally::new()
        .top(5)
        .by(["event"])
        .run(&Query::new(Filter::new(), TimeRange::all()), &[dir.path()])
        .unwrap();
    assert_eq!(s.total, 10_001);
    assert_eq!(s.events.distinct, 10_000);
    assert_eq!(s.events.total(), 10_001);
    assert_eq!(s.groups.top.len(), 5);
    assert_eq!(s.groups.top[0].key, ["event_00042"]);
    assert_eq!(s.groups.rest, 10_001 - 2 - 4);
    // With fewer keys told apart the rest is still counted, and flagged.
    let s = Tally::new()
        .max_keys(100)
        .run(&Query::new(Filter::new(), TimeRange::all()), &[dir.path()])
        .unwrap();
    let e: &Counts = &s.events;
    assert!(e.cut);
    assert_eq!(e.total(), 10_001);
    assert!(s.series.lines.len() <= evtrail::stats::SHOWN_LINES);
}

#[test]
fn damaged_lines_are_counted_as_problems_and_the_rest_is_counted() {
    let shop = shop();
    let active = shop.logs.join("app.log");
    let mut f = fs::OpenOptions::new().append(true).open(&active).unwrap();
    f.write_all(b"{\"v\":1,\"stream\":\"app\",\"ts\":\"2026-11-20T12:30:00.000000Z\",\"msg\":\"\xff\xfe bad\"}\n").unwrap();
    f.write_all(b"not json at all \xc3\x28\n").unwrap();
    drop(f);
    let run = stats(
        &shop.logs,
        &["--from", FROM, "--to", TO, "--format", "json"],
    );
    let v = json(&run);
    let hour = shop.events.iter().filter(|e| in_hour(e)).count() as u64;
    assert_eq!(v["total"], hour, "the damaged lines are not records");
    assert!(v["problems"].as_u64().unwrap() >= 1, "{run}");
    assert!(run.stderr.contains("could not be read"), "{run}");
}

#[test]
fn bad_arguments_are_errors_that_name_them() {
    let shop = shop();
    for (args, says) in [
        (vec!["--every", "0m"], "0m"),
        (vec!["--every", "fast"], "fast"),
        (vec!["--every", "1s", "--since", "30d"], "buckets"),
        (vec!["--by", "class,,event"], "empty"),
        (vec!["--from", "yesterday"], "yesterday"),
    ] {
        let run = stats(&shop.logs, &args);
        assert_eq!(run.code, Some(2), "{run}");
        assert!(run.stderr.contains(says), "{says}{run}");
    }
    let run = stats(&shop.logs.join("missing"), &["--all-time"]);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("missing"), "{run}");
}

#[test]
fn chain_records_are_counted_only_with_markers() {
    let shop = shop();
    let all = |markers: bool| {
        Query::new(Filter::new(), TimeRange::all())
            .markers(markers)
            .count(&[&shop.logs])
            .unwrap()
            .0
    };
    let (events, lines) = (all(false), all(true));
    assert_eq!(events, shop.events.len() as u64);
    assert!(
        lines > events,
        "segment records were written: {lines} lines"
    );

    let without = json(&stats(&shop.logs, &["--all-time", "--format", "json"]));
    assert_eq!(without["total"], events);
    assert!(
        !counts_of(&without["events"]).contains_key("evtrail.segment_start"),
        "{without}"
    );
    let with = json(&stats(
        &shop.logs,
        &["--all-time", "--markers", "--format", "json"],
    ));
    assert_eq!(with["total"], lines);
    assert!(
        counts_of(&with["events"]).contains_key("evtrail.segment_start"),
        "{with}"
    );
}
