//! A small shop that logs what a real service would: logins, an order
//! flow under one operation key, a background job, an audited change, an
//! error with its cause and a record from the `log` crate.
//!
//! Run with `cargo run --example quickstart`; the logs go to `$EVTRAIL_DIR`
//! when it is set, else to `./evtrail-demo`. Records are signed with the key
//! in the file `$EVTRAIL_KEY_FILE` (make one with `evtrail keygen --out K`);
//! without it, with a demo key kept in the system's temporary directory.
//!
//! A log directory holds one key's chain: logs found there that were signed
//! with another key are moved into `<dir>/set-aside/` first (and the run
//! says so), so that `evtrail verify <dir> --key-file <key>` proves all of
//! what it reads. At the end the run shows what it wrote, as a table, and
//! the command that verifies it.

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use evtrail::query::{Filter, Query, TimeRange};
use evtrail::{Key, Route};
use tracing::{error, info, info_span, warn};
use tracing_subscriber::prelude::*;

/// Where logs signed with another key are moved, inside the log directory
/// (the reading side only reads the files directly in a directory).
const SET_ASIDE: &str = "set-aside";

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::var_os("EVTRAIL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("evtrail-demo"));

    let (key, key_path) = match std::env::var_os("EVTRAIL_KEY_FILE") {
        Some(path) => (Key::from_file(&path)?, PathBuf::from(path)),
        None => demo_key()?,
    };
    set_aside_other_keys(&dir, key.id())?;
    let started = SystemTime::now();
    let (layer, guard) = evtrail::builder()
        .service("shop")
        .key(key)
        .environment("demo")
        .version(env!("CARGO_PKG_VERSION"))
        .log_dir(&dir)
        .add_route(Route::to("audit").class("audit"))
        .add_route(Route::to("security").class("security"))
        .add_route(Route::to("jobs").target("quickstart::jobs"))
        .capture_panics(true)
        .build()?;
    tracing_subscriber::registry().with(layer).init();

    logins();
    checkout("order-1042", "acme");
    let job = std::thread::Builder::new()
        .name("nightly-report".into())
        .spawn(jobs::nightly_report)?;
    job.join().expect("the job thread panicked");
    info!(
        class = "audit",
        event = "user_role_changed",
        code = 3001,
        user = "admin-1",
        ip = "10.0.0.5",
        tenant = "acme",
        subject = "u-7",
        from = "viewer",
        to = "editor",
        "role changed"
    );
    log::warn!(target: "shop::legacy", "legacy inventory sync took {} ms", 1840);

    guard.flush(Duration::from_secs(5))?;
    let written = guard.stats().written;
    drop(guard); // closes each stream's segment
    show(&dir, started, written)?;
    println!(
        "\nVerify them (signatures, chain, nothing cut or inserted):\n  {} verify {} --key-file {}",
        evtrail_command(),
        shell_word(&dir),
        shell_word(&key_path)
    );
    Ok(())
}

/// The demo key: kept in the system's temporary directory, never next to
/// the logs it signs (whoever can change a log must not hold its key).
fn demo_key() -> Result<(Key, PathBuf), Box<dyn Error>> {
    let path = std::env::temp_dir().join("evtrail-demo.key");
    let key = if path.exists() {
        Key::from_file(&path)?
    } else {
        let key = Key::generate()?;
        key.write_new_file(&path)?;
        key
    };
    println!(
        "EVTRAIL_KEY_FILE is not set: signing with the demo key in {}",
        path.display()
    );
    Ok((key, path))
}

/// Moves the logs in `dir` aside when any of them was signed with a key
/// other than `kid`: one directory, one key's chain, which its key proves
/// whole. Nothing is deleted.
fn set_aside_other_keys(dir: &Path, kid: &str) -> Result<(), Box<dyn Error>> {
    if !dir.is_dir() {
        return Ok(());
    }
    let mut others = std::collections::BTreeSet::new();
    let mut records = 0_u64;
    let all = Query::new(Filter::new(), TimeRange::all()).markers(true);
    // A damaged line is passed over here: `verify` will name it.
    for found in all.run(&[dir])?.flatten() {
        match found.field("kid") {
            Some(k) if k == kid => {}
            other => {
                records += 1;
                others.insert(other.unwrap_or_else(|| "unsigned".to_owned()));
            }
        }
    }
    if others.is_empty() {
        return Ok(());
    }
    let others: Vec<_> = others.into_iter().collect();
    // Named after the key that signed them, numbered when that key's logs
    // were set aside before.
    let mut to = dir.join(SET_ASIDE).join(&others[0]);
    let mut n = 1;
    while to.exists() {
        n += 1;
        to = dir.join(SET_ASIDE).join(format!("{}-{n}", others[0]));
    }
    std::fs::create_dir_all(&to)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() != SET_ASIDE {
            std::fs::rename(entry.path(), to.join(entry.file_name()))?;
        }
    }
    println!(
        "{} held {records} records signed with another key or none ({}), which \
         `verify --key-file` with this run's key could not prove: moved its logs to {}",
        dir.display(),
        others.join(", "),
        to.display()
    );
    Ok(())
}

/// Prints what this run wrote, one line per record, and what the counts
/// mean.
fn show(dir: &Path, since: SystemTime, written: u64) -> Result<(), Box<dyn Error>> {
    let range = TimeRange::between(Some(since), None);
    let (lines, _) = Query::new(Filter::new(), range)
        .markers(true)
        .count(&[dir])?;
    let mut rows = Vec::new();
    for found in Query::new(Filter::new(), range).run(&[dir])? {
        let found = found?;
        let record: serde_json::Value = serde_json::from_str(found.line())?;
        let text = |k: &str| record[k].as_str().unwrap_or_default().to_owned();
        let mut context: Vec<String> = ["user", "ip", "op", "status"]
            .iter()
            .filter(|k| record[**k].is_string())
            .map(|k| format!("{k}={}", text(k)))
            .collect();
        if let Some(p) = record["fields"]["password"].as_str() {
            context.push(format!("password={p}"));
        }
        if record.get("event").is_none() {
            context.push(format!("(a `log` crate record, target {})", text("target")));
        }
        let ts = text("ts");
        rows.push([
            ts.get(11..23).unwrap_or(&ts).to_owned(),
            text("stream"),
            text("level"),
            record["event"].as_str().unwrap_or("-").to_owned(),
            text("msg"),
            context.join(" "),
        ]);
        // An error field keeps its source chain: the message, then each cause.
        let error = &record["fields"]["error"];
        if let Some(message) = error["message"].as_str() {
            let mut chain = format!("error: {message}");
            for cause in error["sources"].as_array().into_iter().flatten() {
                chain.push_str(&format!(": {}", cause.as_str().unwrap_or_default()));
            }
            rows.push(["", "", "", "", "", ""].map(String::from));
            rows.last_mut().expect("just pushed")[4] = chain;
        }
    }
    let streams: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r[1].as_str())
        .filter(|s| !s.is_empty())
        .collect();
    let files: Vec<String> = streams.iter().map(|s| format!("{s}.log")).collect();
    println!(
        "\nevtrail wrote {written} events to {}: {}",
        dir.display(),
        files.join(", ")
    );
    println!(
        "Each file also opens and closes with a record of the chain itself ({} records; \
         {lines} lines in all):\n`evtrail.segment_start` is seq 1 and `evtrail.segment_end` the last. Signed like \
         the rest,\nthey let `verify` tell a file cut short or swapped; `query` and `stats` leave \
         them out\nunless given --markers.\n",
        lines.saturating_sub(written)
    );
    let header = ["TIME", "STREAM", "LEVEL", "EVENT", "MESSAGE", "CONTEXT"].map(String::from);
    let mut widths = [0; 6];
    for row in std::iter::once(&header)
        .chain(&rows)
        .filter(|r| !r[0].is_empty())
    {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        if row[0].is_empty() {
            // The error's chain, under the message it belongs to.
            let indent: usize = widths[..4].iter().map(|w| w + 2).sum();
            println!("{:indent$}{}", "", row[4]);
            continue;
        }
        let mut line = String::new();
        for (i, (w, cell)) in widths.iter().zip(row).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", line.trim_end());
    }
    Ok(())
}

/// How to run the `evtrail` tool here: its name when it is installed,
/// else through cargo from this repository.
fn evtrail_command() -> &'static str {
    let installed = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join("evtrail").is_file()));
    if installed {
        "evtrail"
    } else {
        "cargo run --features cli --"
    }
}

/// A path as one shell word, quoted when it needs to be.
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(&b));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn logins() {
    for (user, ip, ok) in [
        ("u-7", "203.0.113.9", false),
        ("u-7", "203.0.113.9", true),
        ("u-9", "198.51.100.4", false),
    ] {
        let _request =
            info_span!("request", request_id = %format!("req-{user}-{ok}"), ip).entered();
        if ok {
            info!(
                class = "security",
                event = "user_login_attempt",
                code = 2001,
                user,
                result = "success",
                "user logged in"
            );
        } else {
            warn!(
                class = "security",
                event = "user_login_attempt",
                code = 2001,
                user,
                result = "failure",
                reason = "invalid_password",
                password = "hunter2", // never written: masked before anything is stored
                "user login attempt failed"
            );
        }
    }
}

fn checkout(op: &str, tenant: &str) {
    // Every event inside carries `op`, so filtering by it shows the whole
    // lifecycle of the order.
    let _order = info_span!("order", op, tenant, user = "u-7").entered();
    info!(
        event = "order_created",
        items = 3,
        amount_cents = 4_999_u64,
        "order created"
    );
    // A problem (`status` other than `ok`) and, below, its recovery: the
    // same `issue` with `status = "ok"` (see `evtrail incidents`).
    let issue = format!("payment/{op}");
    warn!(
        event = "payment_failed",
        code = 4021,
        status = "error",
        issue,
        provider = "acme-pay",
        reason = "card_declined",
        "payment failed for card 4111 1111 1111 1111"
    );
    info!(event = "payment_retried", attempt = 2, "payment retried");
    info!(
        event = "order_completed",
        status = "ok",
        issue,
        duration_ms = 812.5,
        "order completed"
    );
}

mod jobs {
    use super::*;

    #[derive(Debug)]
    struct ReportError {
        source: std::io::Error,
    }

    impl fmt::Display for ReportError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot write the nightly report")
        }
    }

    impl Error for ReportError {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.source)
        }
    }

    pub(super) fn nightly_report() {
        let _job = info_span!("job", name = "nightly_report", op = "job-2026-11-22").entered();
        info!(event = "job_started", "job started");
        for shard in 0..3_u32 {
            info!(
                event = "job_progress",
                shard,
                rows = 1_000 * (shard + 1),
                "shard done"
            );
        }
        let err = ReportError {
            source: std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device"),
        };
        error!(
            event = "job_failed",
            status = "critical",
            error = &err as &dyn Error,
            "nightly report failed"
        );
    }
}
