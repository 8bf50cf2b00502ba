//! Chat notifications against scripted chat APIs on loopback: grouping,
//! storms, resolved messages, rate limits, the APIs' error answers, push
//! records, dead letters and secrets.

mod common;
#[path = "support/http_server.rs"]
mod http_server;

use std::path::Path;
use std::time::Duration;

use common::{WAIT, dispatch, events, parse};
use evtrail::notify::{Channel, DingTalk, NotifySink, NotifySinkBuilder, Rule, Template};
use evtrail::{ErrorKind, Guard, Overflow, Route};
use http_server::{Received, Reply, TestServer};
use serde_json::Value;

const TOKEN: &str = "SUPERSECRETTOKEN0123";
const SECRET: &str = "SECsigningsecret456789";

/// A DingTalk robot on the test server.
fn robot(server: &TestServer) -> DingTalk {
    DingTalk::webhook(server.url(&format!("/robot/send?access_token={TOKEN}")))
}

fn errcode(code: i64, msg: &str) -> Reply {
    Reply::with_body(200, &format!(r#"{{"errcode":{code},"errmsg":"{msg}"}}"#))
}

/// A sink with quick retries and no group wait unless a test sets one.
fn sink(channel: impl Channel + 'static) -> NotifySinkBuilder {
    NotifySink::builder()
        .add_channel("oncall", channel)
        .group_wait(Duration::ZERO)
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .max_retry_after(Duration::from_millis(50))
        .timeout(Duration::from_secs(2))
}

/// A pipeline writing files to `dir` (push records in the `delivery`
/// stream) with `notify` as a sink.
fn pipeline(dir: &Path, notify: NotifySink) -> (tracing::Dispatch, Guard) {
    let (layer, guard) = evtrail::builder()
        .service("notify-test")
        .host("web-1")
        .unsigned()
        .log_dir(dir)
        .overflow(Overflow::Block)
        .add_route(Route::to("delivery").event("evtrail.push"))
        .add_sink(notify)
        .build()
        .unwrap();
    (dispatch(layer), guard)
}

fn pushes(dir: &Path) -> Vec<Value> {
    let lines = common::read_stream(dir, "delivery");
    parse(&lines)
        .into_iter()
        .filter(|r| r["event"] == "evtrail.push")
        .collect()
}

fn field<'a>(r: &'a Value, name: &str) -> &'a Value {
    &r["fields"][name]
}

fn texts(reqs: &[Received]) -> Vec<String> {
    reqs.iter()
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).expect("a JSON body");
            v["markdown"]["text"]
                .as_str()
                .or(v["text"]["content"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn a_burst_of_errors_becomes_one_message_with_its_count_and_a_push_record() {
    let server = TestServer::start();
    server.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let notify = sink(robot(&server))
        .group_wait(Duration::from_millis(300))
        .add_rule(
            Rule::new("errors")
                .min_level(tracing::Level::ERROR)
                .to("oncall")
                .mention_mobiles(["13800000000"]),
        )
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    tracing::dispatcher::with_default(&d, || {
        for i in 0..50 {
            tracing::error!(
                event = "payment_failed",
                code = "E42",
                order = i,
                "card declined"
            );
            tracing::warn!(event = "slow", "not an error: no message");
        }
    });
    guard.handle().flush(WAIT).unwrap();
    let reqs = server.requests();
    assert_eq!(
        reqs.len(),
        1,
        "one message for the burst: {:?}",
        texts(&reqs)
    );
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(body["msgtype"], "markdown");
    let text = body["markdown"]["text"].as_str().unwrap();
    assert!(text.contains("×50"), "{text}");
    assert!(
        text.contains("E42") && text.contains("card declined"),
        "{text}"
    );
    assert!(text.contains("@13800000000"), "{text}");
    assert_eq!(body["at"]["atMobiles"][0], "13800000000");
    drop(guard);

    let p = pushes(dir.path());
    assert_eq!(p.len(), 1, "{p:?}");
    let f = |n| field(&p[0], n).clone();
    assert_eq!(f("result"), "ok");
    assert_eq!(f("channel"), "dingtalk");
    assert_eq!(f("rule"), "errors");
    assert_eq!(f("recipients"), "13800000000");
    assert_eq!(f("records"), 50);
    assert_eq!(f("events"), "payment_failed");
    assert_eq!(f("kind"), "firing");
    // The exact records carried: every other seq (a WARN between each).
    let errors: Vec<u64> = parse(&common::read_stream(dir.path(), "app"))
        .iter()
        .filter(|r| r["event"] == "payment_failed")
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    let ranges: Vec<String> = errors.iter().map(|s| format!("app:{s}-{s}")).collect();
    assert_eq!(f("ranges"), ranges.join(" "));
}

#[test]
fn a_storm_of_100000_events_stays_within_the_rate_limit_and_every_record_is_counted() {
    let server = TestServer::start();
    server.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let notify = sink(robot(&server))
        .group_wait(Duration::from_millis(200))
        .group_interval(Duration::from_secs(1))
        .add_rule(Rule::new("errors").event("payment_failed"))
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    let per_thread = if cfg!(debug_assertions) {
        10_000
    } else {
        25_000
    };
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let d = d.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&d, || {
                    for i in 0..per_thread {
                        tracing::error!(event = "payment_failed", i, "declined");
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let reqs = server.requests();
    assert!(
        (1..=20).contains(&reqs.len()),
        "DingTalk allows 20 a minute: {} messages",
        reqs.len()
    );
    let p = pushes(dir.path());
    let ok: Vec<&Value> = p.iter().filter(|r| field(r, "result") == "ok").collect();
    assert_eq!(ok.len(), reqs.len());
    let counted: u64 = ok
        .iter()
        .map(|r| field(r, "records").as_u64().unwrap())
        .sum();
    assert_eq!(
        counted,
        4 * per_thread,
        "the messages' counts add up exactly"
    );
}

#[test]
fn an_ok_record_resolves_the_problem_once_with_how_long_it_lasted() {
    let server = TestServer::start();
    server.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let notify = sink(robot(&server))
        .add_rule(Rule::new("disk").status("critical"))
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    let emit = |f: &dyn Fn()| tracing::dispatcher::with_default(&d, f);
    emit(&|| {
        tracing::error!(
            event = "disk_full",
            issue = "disk/data",
            status = "critical",
            "disk almost full"
        )
    });
    guard.handle().flush(WAIT).unwrap();
    emit(&|| {
        tracing::info!(
            event = "disk_full",
            issue = "disk/data",
            status = "ok",
            "disk back to normal"
        )
    });
    guard.handle().flush(WAIT).unwrap();
    emit(&|| {
        tracing::info!(
            event = "disk_full",
            issue = "disk/data",
            status = "ok",
            "still fine"
        )
    });
    emit(&|| {
        tracing::info!(
            event = "other",
            issue = "never/fired",
            status = "ok",
            "nothing to resolve"
        )
    });
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let t = texts(&server.requests());
    assert_eq!(t.len(), 2, "a firing and one resolved message: {t:?}");
    assert!(t[0].contains("disk almost full"), "{}", t[0]);
    assert!(
        t[1].contains("Resolved") && t[1].contains("resolved after"),
        "{}",
        t[1]
    );
    let kinds: Vec<Value> = pushes(dir.path())
        .iter()
        .map(|r| field(r, "kind").clone())
        .collect();
    assert_eq!(kinds, ["firing", "resolved"]);
}

#[test]
fn what_the_rate_limit_holds_back_is_merged_into_one_digest_never_dropped() {
    let server = TestServer::start();
    server.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let notify = sink(robot(&server))
        .rate_limit("oncall", 3, Duration::from_secs(3600))
        .add_rule(Rule::new("errors").min_level(tracing::Level::ERROR))
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    tracing::dispatcher::with_default(&d, || {
        for i in 0..30 {
            tracing::error!(event = format!("failure_{i:02}").as_str(), "failed");
        }
    });
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let reqs = server.requests();
    assert!(reqs.len() <= 3, "{} messages over a limit of 3", reqs.len());
    let p = pushes(dir.path());
    let counted: u64 = p
        .iter()
        .map(|r| field(r, "records").as_u64().unwrap())
        .sum();
    assert_eq!(counted, 30);
    let digest = p
        .iter()
        .find(|r| field(r, "kind") == "digest")
        .expect("a digest");
    let t = texts(&reqs);
    assert!(t.iter().any(|t| t.contains("more groups")), "{t:?}");
    assert!(field(digest, "records").as_u64().unwrap() > 1);
}

#[test]
fn an_errcode_in_a_200_answer_is_a_failure_given_up_with_the_apis_reason() {
    let server = TestServer::start();
    server.set_default(errcode(310000, "keywords not in content"));
    let dir = tempfile::tempdir().unwrap();
    let notify = sink(robot(&server))
        .add_rule(Rule::new("errors").min_level(tracing::Level::ERROR))
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    tracing::dispatcher::with_default(&d, || tracing::error!(event = "boom", "it broke"));
    guard.handle().flush(WAIT).unwrap();
    let stats = guard.stats();
    drop(guard);
    assert_eq!(server.requests().len(), 1, "a refusal is not retried");
    let p = pushes(dir.path());
    assert_eq!(p.len(), 1);
    assert_eq!(field(&p[0], "result"), "rejected");
    assert_eq!(field(&p[0], "api_code"), "310000");
    assert!(
        field(&p[0], "error")
            .as_str()
            .unwrap()
            .contains("keywords not in content")
    );
    let dl = dir.path().join("notify/notify/dead-letter.ndjson");
    let letters = common::file_lines(&dl);
    assert_eq!(letters.len(), 1);
    let letter: Value = serde_json::from_str(&letters[0]).unwrap();
    assert_eq!(letter["api_code"], 310000);
    assert!(letter["body"].as_str().unwrap().contains("it broke"));
    let delivery = stats.sinks.iter().find(|s| s.name == "notify").unwrap();
    let delivery = delivery.delivery.as_ref().unwrap();
    assert_eq!((delivery.dead_lettered, delivery.delivered), (1, 0));
}

#[test]
fn sending_too_fast_and_html_pages_are_retried_until_delivered() {
    let server = TestServer::start();
    server.script([
        errcode(130101, "send too fast"),
        Reply::with_body(200, "<html><body>502 Bad Gateway</body></html>"),
        Reply::Status(503),
    ]);
    server.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let notify = sink(robot(&server))
        .add_rule(Rule::new("errors").min_level(tracing::Level::ERROR))
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    tracing::dispatcher::with_default(&d, || tracing::error!(event = "boom", "it broke"));
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4);
    let ids: Vec<&[u8]> = reqs.iter().map(|r| &r.body[..]).collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "the same message each time"
    );
    let results: Vec<String> = pushes(dir.path())
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                field(r, "result").as_str().unwrap(),
                field(r, "attempt")
            )
        })
        .collect();
    assert_eq!(results, ["retry:1", "retry:2", "retry:3", "ok:4"]);
    let p = pushes(dir.path());
    assert_eq!(field(&p[0], "api_code"), "130101");
}

#[test]
fn a_dead_or_slow_endpoint_is_given_up_after_the_attempts_with_a_dead_letter() {
    for slow in [false, true] {
        let server = TestServer::start();
        server.set_default(if slow {
            Reply::Slow(Duration::from_secs(3), 200)
        } else {
            Reply::Close
        });
        let dir = tempfile::tempdir().unwrap();
        let notify = sink(robot(&server))
            .timeout(Duration::from_millis(300))
            .max_attempts(3)
            .add_rule(Rule::new("errors").min_level(tracing::Level::ERROR))
            .build()
            .unwrap();
        let (d, guard) = pipeline(dir.path(), notify);
        tracing::dispatcher::with_default(&d, || tracing::error!(event = "boom", "it broke"));
        guard.handle().flush(WAIT).unwrap();
        drop(guard);
        let results: Vec<Value> = pushes(dir.path())
            .iter()
            .map(|r| field(r, "result").clone())
            .collect();
        assert_eq!(results, ["retry", "retry", "rejected"], "slow: {slow}");
        let letters = common::file_lines(&dir.path().join("notify/notify/dead-letter.ndjson"));
        assert_eq!(letters.len(), 1);
        assert!(
            letters[0].contains("gave up after 3 attempts"),
            "{}",
            letters[0]
        );
    }
}

#[test]
fn templates_render_fields_and_mark_what_is_missing() {
    let server = TestServer::start();
    server.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let notify = sink(robot(&server).text())
        .time_zone("+08:00")
        .add_rule(
            Rule::new("overdue")
                .event("TaskOverdue")
                .template(Template::new(
                    "{event}",
                    "task {fields.task} for {tenant}, owner {fields.owner}, at {ts}",
                )),
        )
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    tracing::dispatcher::with_default(&d, || {
        tracing::warn!(
            event = "TaskOverdue",
            task = "nightly-export",
            tenant = "acme",
            "late"
        )
    });
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let t = texts(&server.requests());
    assert_eq!(t.len(), 1);
    assert!(
        t[0].contains("task nightly-export for acme, owner (no fields.owner), at 20"),
        "{}",
        t[0]
    );
    assert!(t[0].contains("+08:00"), "{}", t[0]);
}

#[test]
fn hostile_values_show_literally_in_the_message() {
    let server = TestServer::start();
    server.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let notify = sink(robot(&server))
        .add_rule(Rule::new("errors").min_level(tracing::Level::ERROR))
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    tracing::dispatcher::with_default(&d, || {
        tracing::error!(
            event = "x",
            "<script>alert(1)</script> [click](http://evil) @all **bold**"
        )
    });
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let reqs = server.requests();
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(
        body["at"]["isAtAll"], false,
        "a record cannot mention everyone"
    );
    let text = body["markdown"]["text"].as_str().unwrap();
    assert!(!text.contains("[click](http://evil)"), "{text}");
    assert!(!text.contains("<script>"), "{text}");
}

#[test]
fn secrets_never_appear_in_records_dead_letters_errors_or_debug() {
    let server = TestServer::start();
    server.set_default(Reply::with_body(
        404,
        &format!("no robot for access_token={TOKEN}"),
    ));
    let dir = tempfile::tempdir().unwrap();
    let channel = robot(&server).secret(SECRET);
    assert!(!format!("{channel:?}").contains(TOKEN));
    assert!(!format!("{channel:?}").contains(SECRET));
    let notify = sink(channel)
        .add_rule(Rule::new("errors").min_level(tracing::Level::ERROR))
        .build()
        .unwrap();
    let debug = format!("{notify:?}");
    assert!(!debug.contains(TOKEN) && !debug.contains(SECRET), "{debug}");
    let (d, guard) = pipeline(dir.path(), notify);
    tracing::dispatcher::with_default(&d, || tracing::error!(event = "boom", "it broke"));
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    assert_eq!(server.requests().len(), 1);
    let mut everything = String::new();
    for entry in walk(dir.path()) {
        everything.push_str(&String::from_utf8_lossy(&std::fs::read(entry).unwrap()));
    }
    assert!(everything.contains("rejected"), "the failure is recorded");
    assert!(
        !everything.contains(TOKEN),
        "the token leaked: {everything}"
    );
    assert!(!everything.contains(SECRET));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn logging_failures_reach_the_chat_when_asked() {
    let server = TestServer::start();
    server.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let notify = sink(robot(&server))
        .add_rule(Rule::new("errors").min_level(tracing::Level::ERROR))
        .add_rule(Rule::logging_failures())
        .build()
        .unwrap();
    let flaky = common::FlakySink::default();
    flaky.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .log_dir(dir.path())
        .add_route(Route::to("delivery").event("evtrail.push"))
        .add_sink(notify)
        .add_sink(flaky.clone())
        .build()
        .unwrap();
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || tracing::info!(event = "fine", "nothing wrong here"));
    assert!(
        server.wait_for(WAIT, |r| !r.is_empty()),
        "the failing sink was announced"
    );
    flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let _ = guard.handle().flush(WAIT);
    drop(guard);
    let t = texts(&server.requests());
    assert!(
        t.iter()
            .any(|t| t.contains("evtrail.sink\\_failed") || t.contains("sink_failed")),
        "{t:?}"
    );
    let sent = events(
        &parse(&common::read_stream(dir.path(), "delivery")),
        "evtrail.push",
    )
    .len();
    assert!(sent >= 1);
}

#[test]
fn bad_settings_are_clear_errors() {
    let server = TestServer::start();
    let cases: Vec<(NotifySinkBuilder, &str)> = vec![
        (NotifySink::builder().add_rule(Rule::new("r")), "no channel"),
        (
            NotifySink::builder().add_channel("a", robot(&server)),
            "no rule",
        ),
        (
            sink(robot(&server)).add_rule(Rule::new("r").to("elsewhere")),
            "sends to `elsewhere`",
        ),
        (
            sink(robot(&server)).add_rule(Rule::new("r").when("= 1")),
            "rule `r`",
        ),
        (
            sink(robot(&server))
                .add_rule(Rule::new("r"))
                .time_zone("Mars/Olympus"),
            "unknown time zone",
        ),
        (
            sink(robot(&server)).add_rule(Rule::new("r")).rate_limit(
                "nope",
                1,
                Duration::from_secs(1),
            ),
            "`nope`",
        ),
        (
            sink(robot(&server))
                .add_channel("oncall", robot(&server))
                .add_rule(Rule::new("r")),
            "two channels",
        ),
    ];
    for (builder, expected) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string().contains(expected),
            "{err} lacks {expected:?}"
        );
    }
}

#[test]
fn a_hanging_channel_slows_neither_the_application_nor_the_other_channel() {
    let dead = TestServer::start();
    dead.set_default(Reply::Hang);
    let good = TestServer::start();
    good.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let notify = NotifySink::builder()
        .add_channel("dead", robot(&dead))
        .add_channel("good", robot(&good))
        .group_wait(Duration::ZERO)
        .timeout(Duration::from_secs(20))
        .add_rule(Rule::new("errors").min_level(tracing::Level::ERROR))
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    let started = std::time::Instant::now();
    tracing::dispatcher::with_default(&d, || {
        for _ in 0..1000 {
            tracing::error!(event = "boom", "it broke");
        }
    });
    assert!(
        good.wait_for(Duration::from_secs(10), |r| !r.is_empty()),
        "the good channel got its message while the other hangs"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(dead.requests().len(), 1, "the first request still hangs");
    drop(guard);
}
