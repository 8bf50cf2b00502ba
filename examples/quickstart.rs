//! A small shop that logs what a real service would: logins, an order
//! flow under one operation key, a background job, an audited change and an
//! error with its cause.
//!
//! Run with `cargo run --example quickstart`; the logs go to `$EVTRAIL_DIR`
//! when it is set, else to `./evtrail-demo`. Records are signed with the key
//! in the file `$EVTRAIL_KEY_FILE` (make one with `evtrail keygen --out K`);
//! without it, a demo key is created outside the log directory.

use std::error::Error;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use evtrail::{Key, Route};
use tracing::{error, info, info_span, warn};
use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::var_os("EVTRAIL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("evtrail-demo"));

    let key = match std::env::var_os("EVTRAIL_KEY_FILE") {
        Some(path) => Key::from_file(path)?,
        None => demo_key()?,
    };
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
    let stats = guard.stats();
    drop(guard); // closes each stream's segment
    println!(
        "evtrail wrote {} records to {}",
        stats.written,
        dir.display()
    );
    // The active file of each stream: this run's segment.
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "log") && !p.to_string_lossy().contains(".20")
        })
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path)?;
        println!(
            "\n{} ({} records), the first events:",
            path.display(),
            text.lines().count()
        );
        let events = text
            .lines()
            .filter(|l| !l.contains(r#""target":"evtrail""#));
        for line in events.take(2) {
            println!("  {line}");
        }
    }
    println!(
        "\nCheck them with: evtrail verify {} --key-file <key file>",
        dir.display()
    );
    Ok(())
}

/// The demo key: kept in the system's temporary directory, never next to
/// the logs it signs (whoever can change a log must not hold its key).
fn demo_key() -> Result<Key, Box<dyn Error>> {
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
    Ok(key)
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
