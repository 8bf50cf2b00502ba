//! Chat notifications against scripted chat APIs on loopback: grouping,
//! storms, resolved messages, rate limits, the APIs' error answers, push
//! records, dead letters and secrets.

mod common;
#[path = "support/http_server.rs"]
mod http_server;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{WAIT, dispatch, events, parse};
use evtrail::notify::{
    Channel, DingTalk, Feishu, NotifySink, NotifySinkBuilder, Rule, Slack, Template, WeCom, Webhook,
};
use evtrail::{ErrorKind, Guard, Overflow, Route};
use hmac::{Hmac, KeyInit, Mac};
use http_server::{Received, Reply, TestServer};
use serde_json::{Value, json};
use sha2::Sha256;

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
    // The dead channel's thread may reach its server after the good one:
    // wait for its request rather than race it.
    assert!(
        dead.wait_for(WAIT, |r| !r.is_empty()),
        "the dead channel sent"
    );
    assert_eq!(dead.requests().len(), 1, "the first request still hangs");
    drop(guard);
}

// Each channel's request as the API documents it, checked whole: method,
// path, query, headers and the JSON body, with signatures recomputed here
// from the documented algorithms (see each channel's module docs for the
// pages), never with the crate's own signing code.

/// The one record the request tests emit, and its text in each markup.
fn emit_payment_failed(d: &tracing::Dispatch) {
    tracing::dispatcher::with_default(d, || {
        tracing::error!(
            event = "payment_failed",
            code = "E42",
            order = 7,
            "card <4242> declined & retried"
        )
    });
}

/// The emitted record's time as messages show it: to the second, in UTC.
fn shown_time(dir: &Path) -> String {
    let records = parse(&common::read_stream(dir, "app"));
    let found = events(&records, "payment_failed");
    assert_eq!(found.len(), 1, "{records:?}");
    let ts = found[0]["ts"].as_str().unwrap();
    format!("{} {} UTC", &ts[..10], &ts[11..19])
}

/// The only request the server got, checked to be a JSON POST.
fn only_request(server: &TestServer) -> Received {
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let r = reqs.into_iter().next().unwrap();
    assert_json_post(&r);
    r
}

fn assert_json_post(r: &Received) {
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.header("content-encoding"),
        None,
        "chat APIs take plain JSON"
    );
}

/// A request's path and its query parameters in the order sent.
fn path_and_query(r: &Received) -> (&str, Vec<(&str, &str)>) {
    let (path, query) = r.target.split_once('?').unwrap_or((&r.target, ""));
    let params = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    (path, params)
}

fn json_of(r: &Received) -> Value {
    serde_json::from_slice(&r.body).expect("a JSON body")
}

/// Standard base64 of HMAC-SHA256(key, msg), computed here.
fn hmac_base64(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Asserts `ts`, in `unit`s since the epoch, is within a minute of now.
fn assert_recent(ts: u128, unit: Duration) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let now = now.as_nanos() / unit.as_nanos();
    let minute = Duration::from_secs(60).as_nanos() / unit.as_nanos();
    assert!(now.abs_diff(ts) <= minute, "timestamp {ts} vs now {now}");
}

/// `result:attempt:api_code` of each push record, `-` for no code.
fn outcomes(dir: &Path) -> Vec<String> {
    pushes(dir)
        .iter()
        .map(|r| {
            format!(
                "{}:{}:{}",
                field(r, "result").as_str().unwrap(),
                field(r, "attempt"),
                field(r, "api_code").as_str().unwrap_or("-")
            )
        })
        .collect()
}

/// The dead letters written, none when there is no dead-letter file.
fn dead_letters(dir: &Path) -> Vec<Value> {
    let path = dir.join("notify/notify/dead-letter.ndjson");
    if !path.exists() {
        return Vec::new();
    }
    common::file_lines(&path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn dingtalk_gets_a_signed_markdown_request_as_documented() {
    let server = TestServer::start();
    server.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let notify = sink(robot(&server).secret(SECRET))
        .add_rule(
            Rule::new("errors")
                .min_level(tracing::Level::ERROR)
                .mention_mobiles(["13800000000"])
                .mention_users(["manager01"]),
        )
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    emit_payment_failed(&d);
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let r = only_request(&server);

    let (path, query) = path_and_query(&r);
    assert_eq!(path, "/robot/send");
    let keys: Vec<&str> = query.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["access_token", "timestamp", "sign"]);
    assert_eq!(query[0].1, TOKEN);
    // The documented signature: urlEncode(base64(HmacSHA256(key = secret,
    // msg = timestamp + "\n" + secret))), the timestamp in milliseconds.
    let ts = query[1].1;
    assert_recent(ts.parse().unwrap(), Duration::from_millis(1));
    let expected = hmac_base64(SECRET.as_bytes(), format!("{ts}\n{SECRET}").as_bytes())
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    assert_eq!(query[2].1, expected);

    // The default markdown template, values escaped for DingTalk's
    // markdown, each line break a hard one, mentions also in the text.
    let t = shown_time(dir.path());
    let title = "payment\\_failed on web-1";
    // The preview in the chat list is plain text.
    let preview = "payment_failed on web-1";
    let text = format!(
        "#### {title}\n\n\
         - **Code:** E42  \n\
         - **Time:** {t}  \n\
         - **Content:** card &lt;4242&gt; declined &amp; retried  \n\
         - **Count:** 1 record  \n\
         - **To:** 13800000000,manager01  \n\
         - **Context:** target=notify, order=7\n\n\
         @13800000000 @manager01"
    );
    assert_eq!(
        json_of(&r),
        json!({
            "msgtype": "markdown",
            "markdown": { "title": preview, "text": text },
            "at": { "atMobiles": ["13800000000"], "atUserIds": ["manager01"], "isAtAll": false },
        })
    );
    assert_eq!(outcomes(dir.path()), ["ok:1:-"]);
}

#[test]
fn wecom_gets_markdown_and_text_requests_as_documented() {
    let server = TestServer::start();
    server.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let hook = |key: &str| WeCom::webhook(server.url(&format!("/cgi-bin/webhook/send?key={key}")));
    let notify = sink(hook("KEY-MARKDOWN"))
        .add_channel("team", hook("KEY-TEXT").text())
        .add_rule(
            Rule::new("errors")
                .min_level(tracing::Level::ERROR)
                .mention_mobiles(["13800000000"])
                .mention_users(["manager01"])
                .mention_all(),
        )
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    emit_payment_failed(&d);
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let by_key = |key: &str| {
        let r = reqs
            .iter()
            .find(|r| path_and_query(r).1 == [("key", key)])
            .unwrap_or_else(|| panic!("no request with key {key}: {reqs:?}"));
        assert_json_post(r);
        assert_eq!(path_and_query(r).0, "/cgi-bin/webhook/send");
        json_of(r)
    };
    let t = shown_time(dir.path());

    // Markdown mentions user ids only, as `<@userid>` in the content; the
    // recipients line shows `@all` disarmed by a zero-width space.
    let content = format!(
        "### payment\\_failed on web-1\n\n\
         - **Code:** E42\n\
         - **Time:** {t}\n\
         - **Content:** card &lt;4242&gt; declined &amp; retried\n\
         - **Count:** 1 record\n\
         - **To:** 13800000000,manager01,@\u{200B}all\n\
         - **Context:** target=notify, order=7\n\n\
         <@manager01>"
    );
    assert_eq!(
        by_key("KEY-MARKDOWN"),
        json!({ "msgtype": "markdown", "markdown": { "content": content } })
    );

    // Text mentions through the two lists, everyone as `@all`.
    let content = format!(
        "payment_failed on web-1\n\
         Code: E42\n\
         Time: {t}\n\
         Content: card <4242> declined & retried\n\
         Count: 1 record\n\
         To: 13800000000,manager01,@all\n\
         Context: target=notify, order=7"
    );
    assert_eq!(
        by_key("KEY-TEXT"),
        json!({
            "msgtype": "text",
            "text": {
                "content": content,
                "mentioned_list": ["manager01", "@all"],
                "mentioned_mobile_list": ["13800000000"],
            },
        })
    );
    let mut results = outcomes(dir.path());
    results.sort();
    assert_eq!(results, ["ok:1:-", "ok:1:-"]);
}

#[test]
fn feishu_gets_a_signed_card_request_as_documented() {
    let server = TestServer::start();
    server.set_default(Reply::with_body(
        200,
        r#"{"code":0,"data":{},"msg":"success"}"#,
    ));
    let dir = tempfile::tempdir().unwrap();
    let bot =
        Feishu::webhook(server.url(&format!("/open-apis/bot/v2/hook/{TOKEN}"))).secret(SECRET);
    let notify = sink(bot)
        .add_rule(
            Rule::new("errors")
                .min_level(tracing::Level::ERROR)
                .mention_users(["ou_abc123"]),
        )
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    emit_payment_failed(&d);
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let r = only_request(&server);
    assert_eq!(r.target, format!("/open-apis/bot/v2/hook/{TOKEN}"));
    let body = json_of(&r);

    // The documented signature: base64(HmacSHA256(key = timestamp + "\n"
    // + secret, msg = "")), the timestamp in seconds, both in the body.
    let ts = body["timestamp"].as_str().expect("a string timestamp");
    assert_recent(ts.parse().unwrap(), Duration::from_secs(1));
    let sign = hmac_base64(format!("{ts}\n{SECRET}").as_bytes(), b"");

    // `lark_md` has no backslash escape: values use HTML entities.
    let t = shown_time(dir.path()).replace('-', "&#45;");
    let content = format!(
        "**Code:** E42\n\
         **Time:** {t}\n\
         **Content:** card &lt;4242&gt; declined &amp; retried\n\
         **Count:** 1 record\n\
         **To:** ou&#95;abc123\n\
         **Context:** target=notify, order=7\n\
         <at id=ou_abc123></at>"
    );
    assert_eq!(
        body,
        json!({
            "msg_type": "interactive",
            "card": {
                "header": { "title": { "tag": "plain_text", "content": "payment_failed on web-1" } },
                "elements": [ { "tag": "div", "text": { "tag": "lark_md", "content": content } } ],
            },
            "timestamp": ts,
            "sign": sign,
        })
    );
    assert_eq!(outcomes(dir.path()), ["ok:1:-"]);
}

#[test]
fn slack_gets_text_and_blocks_as_documented() {
    let server = TestServer::start();
    server.set_default(Reply::with_body(200, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let hook = Slack::webhook(server.url("/services/T000/B000/XXXXXXXXSECRET"));
    let notify = sink(hook)
        .add_rule(
            Rule::new("errors")
                .min_level(tracing::Level::ERROR)
                .mention_users(["U024BE7LH"])
                .mention_all(),
        )
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    emit_payment_failed(&d);
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let r = only_request(&server);
    assert_eq!(r.target, "/services/T000/B000/XXXXXXXXSECRET");
    let t = shown_time(dir.path());
    // mrkdwn escapes `&`, `<` and `>` and nothing else; the mentions get a
    // section of their own and are in the notification's fallback text.
    let text = format!(
        "*Code:* E42\n\
         *Time:* {t}\n\
         *Content:* card &lt;4242&gt; declined &amp; retried\n\
         *Count:* 1 record\n\
         *To:* U024BE7LH,@all\n\
         *Context:* target=notify, order=7"
    );
    assert_eq!(
        json_of(&r),
        json!({
            "text": "payment_failed on web-1 <@U024BE7LH> <!here>",
            "blocks": [
                { "type": "header", "text": { "type": "plain_text", "text": "payment_failed on web-1" } },
                { "type": "section", "text": { "type": "mrkdwn", "text": text } },
                { "type": "section", "text": { "type": "mrkdwn", "text": "<@U024BE7LH> <!here>" } },
            ],
        })
    );
    assert_eq!(outcomes(dir.path()), ["ok:1:-"]);
}

/// The Standard Webhooks specification's own example secret.
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `webhook-signature` as the Standard Webhooks specification defines it,
/// computed here: `v1,` + base64(HMAC-SHA256(key = the base64-decoded
/// secret after `whsec_`, msg = id + "." + timestamp + "." + body)).
fn standard_webhooks_signature(secret: &str, id: &str, ts: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(body);
    format!("v1,{}", hmac_base64(&key, &signed))
}

#[test]
fn a_generic_webhook_gets_the_template_and_standard_webhooks_headers() {
    // The helper above reproduces the specification's published example.
    assert_eq!(
        standard_webhooks_signature(
            WHSEC,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
    let server = TestServer::start();
    server.set_default(Reply::Status(204));
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::new(server.url("/hooks/alerts"))
        .sign(WHSEC)
        .unwrap()
        .header("Authorization", "Bearer t0ps3cret-bearer")
        .header("X-Team", "payments");
    let notify = sink(hook)
        .add_rule(Rule::new("errors").min_level(tracing::Level::ERROR))
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    emit_payment_failed(&d);
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let r = only_request(&server);
    assert_eq!(r.target, "/hooks/alerts");
    assert_eq!(r.header("authorization"), Some("Bearer t0ps3cret-bearer"));
    assert_eq!(r.header("x-team"), Some("payments"));

    let p = pushes(dir.path());
    assert_eq!(p.len(), 1);
    let id = r.header("webhook-id").expect("webhook-id");
    assert_eq!(id, field(&p[0], "message_id"), "the message's own id");
    assert!(!id.is_empty() && !id.contains('.'), "{id}");
    let ts = r.header("webhook-timestamp").expect("webhook-timestamp");
    assert_recent(ts.parse().unwrap(), Duration::from_secs(1));
    assert_eq!(
        r.header("webhook-signature"),
        Some(standard_webhooks_signature(WHSEC, id, ts, &r.body).as_str())
    );

    // The default JSON template, values as JSON strings.
    let t = shown_time(dir.path());
    assert_eq!(
        json_of(&r),
        json!({
            "title": "payment_failed on web-1",
            "state": "firing",
            "rule": "errors",
            "group": "payment_failed host=web-1",
            "event": "payment_failed",
            "code": "E42",
            "msg": "card <4242> declined & retried",
            "host": "web-1",
            "ts": t,
            "since": t,
            "count": 1,
            "total": 1,
            "summary": "1 record",
            "recipients": "-",
            "context": "target=notify, order=7",
        })
    );
    assert_eq!(outcomes(dir.path()), ["ok:1:-"]);
}

// Each API's failure answers through the sink: what is retried, what is
// given up (with the API's code, in the push record and the dead letter).

/// Runs one error record through `channel` against `server`; returns the
/// log directory.
fn send_one(channel: impl Channel + 'static) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let notify = sink(channel)
        .add_rule(Rule::new("errors").min_level(tracing::Level::ERROR))
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    emit_payment_failed(&d);
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    dir
}

#[test]
fn dingtalk_busy_is_retried_and_too_long_is_given_up() {
    let server = TestServer::start();
    server.script([errcode(-1, "system busy")]);
    server.set_default(errcode(460101, "message too long"));
    let dir = send_one(robot(&server));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(outcomes(dir.path()), ["retry:1:-1", "rejected:2:460101"]);
    let letters = dead_letters(dir.path());
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["api_code"], 460101);
    assert!(
        letters[0]["reason"]
            .as_str()
            .unwrap()
            .contains("message too long"),
        "{}",
        letters[0]
    );
}

#[test]
fn wecom_frequency_limit_is_retried_and_an_invalid_webhook_given_up() {
    let hook = |server: &TestServer| {
        WeCom::webhook(server.url(&format!("/cgi-bin/webhook/send?key={TOKEN}")))
    };
    // 45009 asks for a minute's wait: `sink()` caps it at 50 ms.
    let server = TestServer::start();
    server.script([errcode(45009, "api freq out of limit")]);
    server.set_default(errcode(0, "ok"));
    let dir = send_one(hook(&server));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(outcomes(dir.path()), ["retry:1:45009", "ok:2:-"]);
    let p = pushes(dir.path());
    assert_eq!(field(&p[0], "http_status"), 200, "a failure despite 200");
    assert_eq!(field(&p[0], "retry_in_ms"), 50);
    assert!(dead_letters(dir.path()).is_empty());

    let server = TestServer::start();
    server.set_default(errcode(93000, "invalid webhook url"));
    let dir = send_one(hook(&server));
    assert_eq!(server.requests().len(), 1, "a refusal is not retried");
    assert_eq!(outcomes(dir.path()), ["rejected:1:93000"]);
    let letters = dead_letters(dir.path());
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["api_code"], 93000);
}

#[test]
fn feishu_rate_limit_is_retried_and_a_bad_signature_given_up() {
    let bot = |server: &TestServer| {
        Feishu::webhook(server.url(&format!("/open-apis/bot/v2/hook/{TOKEN}"))).secret(SECRET)
    };
    // Feishu answers its rate limit with HTTP 400 and code 11232.
    let server = TestServer::start();
    server.script([Reply::with_body(
        400,
        r#"{"code":11232,"data":{},"msg":"frequency limited psm[lark.oapi.app_platform_runtime]appID[1]"}"#,
    )]);
    server.set_default(Reply::with_body(200, r#"{"code":0,"msg":"success"}"#));
    let dir = send_one(bot(&server));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(outcomes(dir.path()), ["retry:1:11232", "ok:2:-"]);
    assert_eq!(field(&pushes(dir.path())[0], "http_status"), 400);

    let server = TestServer::start();
    server.set_default(Reply::with_body(
        400,
        r#"{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
    ));
    let dir = send_one(bot(&server));
    assert_eq!(server.requests().len(), 1, "a bad signature is not retried");
    assert_eq!(outcomes(dir.path()), ["rejected:1:19021"]);
    let p = pushes(dir.path());
    assert_eq!(field(&p[0], "http_status"), 400);
    assert!(
        field(&p[0], "error")
            .as_str()
            .unwrap()
            .contains("sign match fail"),
        "{}",
        p[0]
    );
    let letters = dead_letters(dir.path());
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["api_code"], 19021);
    let everything = format!("{p:?}{letters:?}");
    assert!(!everything.contains(TOKEN) && !everything.contains(SECRET));
}

#[test]
fn slack_429_is_retried_after_its_wait_and_channel_not_found_given_up() {
    let hook =
        |server: &TestServer| Slack::webhook(server.url("/services/T000/B000/XXXXXXXXSECRET"));
    let server = TestServer::start();
    server.script([Reply::Full {
        status: 429,
        headers: vec![("Retry-After".into(), "30".into())],
        body: "rate_limited".into(),
    }]);
    server.set_default(Reply::with_body(200, "ok"));
    let dir = send_one(hook(&server));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(outcomes(dir.path()), ["retry:1:-", "ok:2:-"]);
    let p = pushes(dir.path());
    assert_eq!(field(&p[0], "http_status"), 429);
    assert_eq!(
        field(&p[0], "retry_in_ms"),
        50,
        "Retry-After, capped by max_retry_after"
    );

    let server = TestServer::start();
    server.set_default(Reply::with_body(404, "channel_not_found"));
    let dir = send_one(hook(&server));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(outcomes(dir.path()), ["rejected:1:-"]);
    let p = pushes(dir.path());
    assert_eq!(field(&p[0], "http_status"), 404);
    assert!(
        field(&p[0], "error")
            .as_str()
            .unwrap()
            .contains("channel_not_found"),
        "{}",
        p[0]
    );
    let letters = dead_letters(dir.path());
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0]["reason"]
            .as_str()
            .unwrap()
            .contains("channel_not_found")
    );
}

#[test]
fn a_webhook_5xx_is_retried_and_a_4xx_given_up() {
    let server = TestServer::start();
    server.script([Reply::retry_after(503, "2")]);
    server.set_default(Reply::with_body(422, r#"{"error":"unknown field"}"#));
    let dir = send_one(Webhook::new(server.url("/hooks/alerts")));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(outcomes(dir.path()), ["retry:1:-", "rejected:2:-"]);
    let p = pushes(dir.path());
    assert_eq!(field(&p[0], "http_status"), 503);
    assert_eq!(field(&p[1], "http_status"), 422);
    let letters = dead_letters(dir.path());
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown field"),
        "{}",
        letters[0]
    );
}

// A message longer than the API allows arrives cut to the limit, with the
// marker saying how much was left out.

/// About 50 KB of text that markdown escaping makes longer still.
fn huge_msg() -> String {
    "日志<b>_".repeat(5_000)
}

/// What a template of `copies` `{msg}`s renders for [`huge_msg`] in
/// DingTalk's and WeCom's markdown: each value is cut at 1,000 characters
/// (with `…`) before it is escaped, so the repetition is what makes the
/// message too long.
fn huge_markdown_body(copies: usize) -> String {
    let value: String = huge_msg().chars().take(1_000).collect::<String>() + "…";
    let escaped = value
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('_', "\\_");
    vec![escaped; copies].join(" ")
}

fn huge_template(copies: usize) -> Template {
    Template::new("{event}", vec!["{msg}"; copies].join(" "))
}

/// Splits `text` at the cut marker `\n… (N bytes cut)`: the kept text
/// (minus `before`, what precedes the marker's newline) and N.
fn split_at_marker<'a>(text: &'a str, before: &str) -> (&'a str, usize) {
    let at = text.rfind("\n… (").expect("a cut marker");
    let count = text[at + "\n… (".len()..]
        .strip_suffix(" bytes cut)")
        .expect("the marker ends the text");
    let kept = text[..at]
        .strip_suffix(before)
        .expect("the marker's line break");
    (kept, count.replace(',', "").parse().unwrap())
}

/// Asserts `kept` is a start of `full` cut at a boundary that splits no
/// entity or escape, and `cut` counts the rest exactly.
fn assert_cut(full: &str, kept: &str, cut: usize) {
    assert!(
        full.starts_with(kept),
        "the kept text is the message's start"
    );
    assert_eq!(
        kept.len() + cut,
        full.len(),
        "the marker counts what is cut"
    );
    let tail = &kept[kept.rfind('&').unwrap_or(0)..];
    assert!(!tail.starts_with('&') || tail.contains(';'), "{tail}");
    assert!(!kept.ends_with('\\'), "an escape is kept whole");
}

#[test]
fn a_wecom_markdown_message_is_cut_to_4096_bytes_with_a_marker() {
    let server = TestServer::start();
    server.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let hook = WeCom::webhook(server.url(&format!("/cgi-bin/webhook/send?key={TOKEN}")));
    let notify = sink(hook)
        .add_rule(
            Rule::new("errors")
                .min_level(tracing::Level::ERROR)
                .mention_users(["manager01"])
                .template(huge_template(10)),
        )
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    let msg = huge_msg();
    assert!(msg.len() >= 50_000);
    tracing::dispatcher::with_default(&d, || tracing::error!(event = "payment_failed", "{msg}"));
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let r = only_request(&server);
    let body = json_of(&r);
    assert_eq!(body["msgtype"], "markdown");
    let content = body["markdown"]["content"].as_str().unwrap();
    assert!(
        content.len() <= WeCom::MAX_MARKDOWN_BYTES,
        "{}",
        content.len()
    );
    assert!(
        content.len() > WeCom::MAX_MARKDOWN_BYTES - 32,
        "the room is used"
    );
    // The mention survives the cut.
    let content = content
        .strip_suffix("\n\n<@manager01>")
        .expect("the mention ends the content");
    let full = format!("### payment\\_failed\n\n{}", huge_markdown_body(10));
    assert!(full.len() > 2 * WeCom::MAX_MARKDOWN_BYTES);
    let (kept, cut) = split_at_marker(content, "");
    assert_cut(&full, kept, cut);
    assert_eq!(outcomes(dir.path()), ["ok:1:-"]);
}

#[test]
fn a_dingtalk_message_is_cut_to_a_20000_byte_body_with_a_marker() {
    let server = TestServer::start();
    server.set_default(errcode(0, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let notify = sink(robot(&server))
        .add_rule(
            Rule::new("errors")
                .min_level(tracing::Level::ERROR)
                .mention_mobiles(["13800000000"])
                .template(huge_template(30)),
        )
        .build()
        .unwrap();
    let (d, guard) = pipeline(dir.path(), notify);
    let msg = huge_msg();
    tracing::dispatcher::with_default(&d, || tracing::error!(event = "payment_failed", "{msg}"));
    guard.handle().flush(WAIT).unwrap();
    drop(guard);
    let r = only_request(&server);
    assert!(r.body.len() <= DingTalk::MAX_BODY_BYTES, "{}", r.body.len());
    assert!(
        r.body.len() > DingTalk::MAX_BODY_BYTES - 64,
        "the room is used"
    );
    let body = json_of(&r);
    assert_eq!(body["markdown"]["title"], "payment_failed");
    assert_eq!(body["at"]["atMobiles"], json!(["13800000000"]));
    let text = body["markdown"]["text"].as_str().unwrap();
    let text = text
        .strip_prefix("#### payment\\_failed\n\n")
        .expect("the title heads the text");
    let text = text
        .strip_suffix("\n\n@13800000000")
        .expect("the mention survives the cut");
    let full = huge_markdown_body(30);
    assert!(full.len() > 3 * DingTalk::MAX_BODY_BYTES);
    // The marker's line break is a hard one, like every other.
    let (kept, cut) = split_at_marker(text, "  ");
    assert_cut(&full, kept, cut);
    assert_eq!(outcomes(dir.path()), ["ok:1:-"]);
}
