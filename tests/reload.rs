//! Reloading a running pipeline's configuration: the level changes under
//! load without losing a record, redaction and routes change for the
//! records after the reload, restart-only changes are named, and a bad
//! file changes nothing and is recorded.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use evtrail::ErrorKind;
use serde_json::Value;
use tracing_subscriber::prelude::*;

fn records(dir: &Path, stream: &str) -> Vec<Value> {
    match std::fs::read_to_string(dir.join(format!("{stream}.log"))) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn user(records: Vec<Value>) -> Vec<Value> {
    records
        .into_iter()
        .filter(|r| r["target"] != "evtrail")
        .collect()
}

fn config(logs: &Path, extra: &str) -> String {
    format!(
        "service = \"reload\"\n{extra}\n[key]\nunsigned = true\n[queue]\noverflow = \"block\"\n\
         [files]\ndir = {logs:?}\ncompression = false\n"
    )
}

#[test]
fn the_level_changes_under_load_and_no_record_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let file = dir.path().join("evtrail.toml");
    std::fs::write(&file, config(&logs, "filter = \"info\"")).unwrap();
    let (layer, guard) = evtrail::builder()
        .config_file(&file)
        .unwrap()
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    // 0 before the reload, 1 while it runs, 2 after it returned.
    let phase = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (d, phase, stop) = (dispatch.clone(), phase.clone(), stop.clone());
            std::thread::spawn(move || {
                // Debug events surely emitted before the reload began, and
                // surely after it returned.
                let (mut before, mut after) = (Vec::new(), Vec::new());
                let n = tracing::dispatcher::with_default(&d, || {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) || i < 2_000 {
                        tracing::info!(t, i, "info");
                        let pre = phase.load(Ordering::SeqCst);
                        tracing::debug!(t, i, "debug");
                        let post = phase.load(Ordering::SeqCst);
                        if post == 0 {
                            before.push(i);
                        }
                        if pre == 2 {
                            after.push(i);
                        }
                        i += 1;
                    }
                    i
                });
                (n, before, after)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(&file, config(&logs, "filter = \"debug\"")).unwrap();
    phase.store(1, Ordering::SeqCst);
    let report = guard.reload_config_file(&file).unwrap();
    assert_eq!(report.applied, ["filter"]);
    assert!(report.needs_restart.is_empty(), "{report:?}");
    phase.store(2, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let emitted: Vec<_> = threads.into_iter().map(|h| h.join().unwrap()).collect();
    guard.shutdown(Duration::from_secs(10)).unwrap();

    let recs = user(records(&logs, "app"));
    for (t, (n, before, after)) in emitted.iter().enumerate() {
        let indices = |msg: &str| -> Vec<u64> {
            recs.iter()
                .filter(|r| r["msg"] == msg && r["fields"]["t"] == t as u64)
                .map(|r| r["fields"]["i"].as_u64().unwrap())
                .collect()
        };
        // Every info record, in order, none lost.
        assert_eq!(indices("info"), (0..*n).collect::<Vec<_>>(), "thread {t}");
        let debug: std::collections::BTreeSet<u64> = indices("debug").into_iter().collect();
        assert!(
            !before.is_empty() && !after.is_empty(),
            "thread {t} logged on both sides"
        );
        assert!(
            before.iter().all(|i| !debug.contains(i)),
            "thread {t}: a debug event from before the reload was kept"
        );
        assert!(
            after.iter().all(|i| debug.contains(i)),
            "thread {t}: a debug event from after the reload was lost"
        );
    }
}

#[test]
fn a_bad_file_changes_nothing_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let file = dir.path().join("evtrail.toml");
    std::fs::write(&file, config(&logs, "filter = \"warn\"")).unwrap();
    let (layer, guard) = evtrail::builder()
        .config_file(&file)
        .unwrap()
        .build()
        .unwrap();
    let d = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    std::fs::write(&file, config(&logs, "filter = \"debug\"\nlevle = 1")).unwrap();
    let e = guard.reload_config_file(&file).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.to_string()
            .contains("evtrail.toml:3:1: unknown field `levle`"),
        "{e}"
    );
    std::fs::write(&file, config(&logs, "filter = \"info,x=loud\"")).unwrap();
    let e = guard.reload_config_file(&file).unwrap_err();
    assert!(e.to_string().contains("evtrail.toml:2:10: "), "{e}");
    tracing::dispatcher::with_default(&d, || {
        tracing::info!("still filtered out");
        tracing::warn!("kept");
    });
    drop(guard);
    let all = records(&logs, "app");
    let rejected: Vec<&Value> = all
        .iter()
        .filter(|r| r["event"] == "evtrail.config_rejected")
        .collect();
    assert_eq!(rejected.len(), 2, "{all:?}");
    assert!(
        rejected[0]["fields"]["reason"]
            .as_str()
            .unwrap()
            .contains("levle")
    );
    assert_eq!(rejected[0]["fields"]["file"], file.display().to_string());
    let msgs: Vec<Value> = user(all).iter().map(|r| r["msg"].clone()).collect();
    assert!(msgs.iter().all(|m| m != "still filtered out"), "{msgs:?}");
    assert!(msgs.iter().any(|m| m == "kept"), "{msgs:?}");
}

#[test]
fn redaction_and_routes_change_for_later_records_and_restart_only_changes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let start = "[[routes]]\nstream = \"audit\"\nclass = \"audit\"\n";
    let (layer, guard) = evtrail::builder()
        .config(&evtrail::config::Config::parse("a.toml", &config(&logs, start)).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let d = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let emit = |tag: &str| {
        tracing::dispatcher::with_default(&d, || {
            tracing::info!(class = "audit", iban = "DE001", tag, "audited");
            tracing::info!(class = "billing", tag, "billed");
        });
    };
    emit("before");
    // Same streams, another class to `audit`, a new redaction key.
    let next =
        "[redaction]\nkeys = [\"iban\"]\n[[routes]]\nstream = \"audit\"\nclass = \"billing\"\n";
    let next = evtrail::config::Config::parse("b.toml", &config(&logs, next)).unwrap();
    let report = guard.reload_config(&next).unwrap();
    assert_eq!(report.applied, ["redaction", "routes"]);
    assert!(report.needs_restart.is_empty(), "{report:?}");
    emit("after");
    // A new stream, a new service name and queue: named, not applied.
    let later = "service = \"renamed\"\n[[routes]]\nstream = \"payments\"\nclass = \"billing\"\n";
    let later = config(&logs, later).replace("service = \"reload\"\n", "");
    let later = evtrail::config::Config::parse("c.toml", &later).unwrap();
    let report = guard.reload_config(&later).unwrap();
    assert_eq!(report.applied, ["redaction"]);
    assert_eq!(
        report.needs_restart,
        ["routes (to a different set of streams)", "service"]
    );
    drop(guard);

    let audit = user(records(&logs, "audit"));
    let app = user(records(&logs, "app"));
    let tagged = |recs: &[Value], tag: &str, msg: &str| {
        recs.iter()
            .filter(|r| r["fields"]["tag"] == tag && r["msg"] == msg)
            .cloned()
            .collect::<Vec<_>>()
    };
    let before = tagged(&audit, "before", "audited");
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["fields"]["iban"], "DE001", "no redaction before");
    assert_eq!(tagged(&app, "before", "billed").len(), 1);
    // After: billing goes to audit, audit class to app, iban masked.
    assert_eq!(tagged(&audit, "after", "billed").len(), 1);
    let after = tagged(&app, "after", "audited");
    assert_eq!(after.len(), 1, "{app:?}");
    assert_ne!(after[0]["fields"]["iban"], "DE001");
    assert!(!records(&logs, "payments").iter().any(|_| true));
    assert!(audit.iter().chain(&app).all(|r| r["service"] == "reload"));
}

#[cfg(feature = "notify")]
#[path = "support/http_server.rs"]
mod http_server;

/// A pipeline configured from a file whose one rule sends payments to
/// the `oncall` channel of a scripted server.
#[cfg(feature = "notify")]
struct NotifyRun {
    server: http_server::TestServer,
    _dir: tempfile::TempDir,
    logs: std::path::PathBuf,
    file: std::path::PathBuf,
    guard: evtrail::Guard,
    d: tracing::Dispatch,
}

#[cfg(feature = "notify")]
impl NotifyRun {
    fn start() -> NotifyRun {
        let server = http_server::TestServer::start();
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let file = dir.path().join("evtrail.toml");
        let payments =
            "[[notify.rules]]\nname = \"payments\"\nevent = [\"payment_*\"]\nto = [\"oncall\"]\n";
        std::fs::write(&file, notify_config(&logs, &server, payments)).unwrap();
        let (layer, guard) = evtrail::builder()
            .config_file(&file)
            .unwrap()
            .build()
            .unwrap();
        let d = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        NotifyRun {
            server,
            _dir: dir,
            logs,
            file,
            guard,
            d,
        }
    }
}

/// A configuration with two webhook channels on `server` (`/oncall` and
/// `/team`) and these rules.
#[cfg(feature = "notify")]
fn notify_config(logs: &Path, server: &http_server::TestServer, rules: &str) -> String {
    let channel = |name: &str| {
        format!(
            "[[notify.channels]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{}\"\n\
             allow_inline_secrets = true\n",
            server.url(&format!("/{name}"))
        )
    };
    format!(
        "{}[notify]\ngroup_wait = \"0s\"\n{}{}{rules}",
        config(logs, ""),
        channel("oncall"),
        channel("team")
    )
}

/// The events each channel was sent, in order.
#[cfg(feature = "notify")]
fn sent(server: &http_server::TestServer, channel: &str) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.target == format!("/{channel}"))
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["event"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[cfg(feature = "notify")]
#[test]
fn notification_rules_change_for_later_records_and_a_rule_can_move_to_another_channel() {
    let NotifyRun {
        server,
        _dir,
        logs,
        file,
        guard,
        d,
    } = NotifyRun::start();
    let emit = || {
        tracing::dispatcher::with_default(&d, || {
            tracing::error!(event = "payment_failed", "card declined");
            tracing::warn!(event = "login_failed", "bad password");
            tracing::info!(event = "refund_issued", "refund");
        })
    };
    emit();
    guard.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(sent(&server, "oncall"), ["payment_failed"]);
    assert!(sent(&server, "team").is_empty());

    // The payments rule now selects refunds instead; a new rule sends
    // logins to the team channel, which no rule used at the start.
    let rules = "[[notify.rules]]\nname = \"payments\"\nevent = [\"refund_*\"]\nto = [\"oncall\"]\n\
                 [[notify.rules]]\nname = \"logins\"\nevent = [\"login_*\"]\nto = [\"team\"]\n";
    std::fs::write(&file, notify_config(&logs, &server, rules)).unwrap();
    let reload = guard.reload_config_file(&file).unwrap();
    assert_eq!(reload.applied, ["notify.rules"]);
    assert!(
        reload.needs_restart.is_empty(),
        "{:?}",
        reload.needs_restart
    );
    emit();
    guard.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(sent(&server, "oncall"), ["payment_failed", "refund_issued"]);
    assert_eq!(sent(&server, "team"), ["login_failed"]);

    // The rules are part of the running configuration now: reloading the
    // same file changes nothing.
    assert!(guard.reload_config_file(&file).unwrap().applied.is_empty());
    drop(guard);
    let pushes: Vec<Value> = records(&logs, "app")
        .into_iter()
        .filter(|r| r["event"] == "evtrail.push")
        .collect();
    let by_rule: Vec<(&str, &str)> = pushes
        .iter()
        .map(|p| {
            (
                p["fields"]["rule"].as_str().unwrap(),
                p["fields"]["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_rule.len(),
        3,
        "each message's push is recorded under its rule: {pushes:?}"
    );
    assert!(by_rule.contains(&("logins", "ok")), "{by_rule:?}");
}

#[cfg(feature = "notify")]
#[test]
fn a_channel_change_takes_a_restart_and_a_bad_rule_changes_nothing() {
    let NotifyRun {
        server,
        _dir,
        logs,
        file,
        guard,
        d,
    } = NotifyRun::start();

    // A rule to a channel that does not exist: refused, located, recorded.
    let bad = "[[notify.rules]]\nname = \"logins\"\nevent = [\"login_*\"]\nto = [\"nowhere\"]\n";
    std::fs::write(&file, notify_config(&logs, &server, bad)).unwrap();
    let e = guard.reload_config_file(&file).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.to_string()
            .contains("rule `logins` sends to `nowhere`, which is not a [[notify.channels]] name"),
        "{e}"
    );

    // New rules with a new group timing for the whole section: the
    // section needs a restart, so the rules stay as they were too.
    let moved = notify_config(
        &logs,
        &server,
        "[[notify.rules]]\nname = \"logins\"\nevent = [\"login_*\"]\nto = [\"team\"]\n",
    )
    .replace("group_wait = \"0s\"", "group_wait = \"1s\"");
    std::fs::write(&file, moved).unwrap();
    let reload = guard.reload_config_file(&file).unwrap();
    assert!(reload.applied.is_empty(), "{:?}", reload.applied);
    assert_eq!(reload.needs_restart, ["notify"]);

    tracing::dispatcher::with_default(&d, || {
        tracing::error!(event = "payment_failed", "card declined");
        tracing::warn!(event = "login_failed", "bad password");
    });
    guard.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(
        sent(&server, "oncall"),
        ["payment_failed"],
        "the first rules still run"
    );
    assert!(sent(&server, "team").is_empty());
    drop(guard);
    let rejected = records(&logs, "app")
        .into_iter()
        .filter(|r| r["event"] == "evtrail.config_rejected")
        .count();
    assert_eq!(rejected, 1);
}
