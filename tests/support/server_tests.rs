//! The runner of a test file whose tests need a real server
//! (`harness = false` in `Cargo.toml`).
//!
//! libtest decides that a test is `ignored` when it is compiled, but
//! whether the server is there is known only when the tests run, and a
//! test that returns early is reported `ok`: a skipped test would pass
//! unseen. This runner reports each test as libtest does, in the same
//! words, so `cargo test` shows a skip where it shows everything else,
//! with its reason:
//!
//! ```text
//! test tens_of_thousands_of_records_arrive ... ignored, no ClickHouse server: set EVTRAIL_CLICKHOUSE_URL
//! test result: ok. 0 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.00s
//! ```
//!
//! It takes libtest's usual arguments: name filters, `--exact`, `--skip`,
//! `--list`; the others (`--nocapture`, `--test-threads`, …) are accepted
//! and have no effect (tests run one after the other, their output not
//! captured).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;
use std::time::Instant;

/// Whether the tests can run.
pub enum Server {
    /// They run against this address.
    Ready(String),
    /// They are reported `ignored`, with this reason.
    Missing(String),
    /// They fail, with this reason: the server was required, or its
    /// address is not one a test may use.
    Refused(String),
}

/// One test: its name and its body, given the server's address.
pub type Test = (&'static str, fn(&str));

/// Runs the tests the command line selects and reports them as libtest
/// does; the process's exit code (101 when one failed, as libtest's).
pub fn run(tests: &[Test], server: Server) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let (mut exact, mut list) = (false, false);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--exact" => exact = true,
            "--list" => list = true,
            "--skip" => skips.extend(it.next().cloned()),
            // Flags that take a value, in their two-word form.
            "--test-threads" | "--color" | "--format" | "-Z" | "--logfile" => {
                it.next();
            }
            a if a.starts_with('-') => {}
            a => filters.push(a.to_owned()),
        }
    }
    let matches = |name: &str, pattern: &str| {
        if exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    let selected: Vec<&Test> = tests
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| matches(name, f)))
        .filter(|(name, _)| !skips.iter().any(|s| matches(name, s)))
        .collect();
    if list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }

    let started = Instant::now();
    println!("\nrunning {} tests", selected.len());
    let (mut passed, mut ignored, mut failed) = (0, 0, Vec::new());
    for (name, body) in &selected {
        match &server {
            Server::Ready(url) => {
                if catch_unwind(AssertUnwindSafe(|| body(url))).is_ok() {
                    println!("test {name} ... ok");
                    passed += 1;
                } else {
                    println!("test {name} ... FAILED");
                    failed.push(*name);
                }
            }
            Server::Missing(reason) => {
                println!("test {name} ... ignored, {reason}");
                ignored += 1;
            }
            Server::Refused(reason) => {
                eprintln!("{name}: {reason}");
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    if !failed.is_empty() {
        println!("\nfailures:");
        for name in &failed {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed; {ignored} ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        tests.len() - selected.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}
