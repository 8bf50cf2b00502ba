//! `evtrail check-config` and `evtrail init`, run as real processes.
//! Needs the `cli` feature.

mod common;

use common::{CliRun, evtrail_with};

fn run(args: &[&str], env: &[(&str, &str)]) -> CliRun {
    evtrail_with(args, |cmd| {
        for var in [
            "EVTRAIL_SERVICE",
            "EVTRAIL_LOG_DIR",
            "EVTRAIL_KEY_FILE",
            "EVTRAIL_LEVEL",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
    })
}

#[test]
fn init_writes_an_example_that_check_config_accepts_once_it_has_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evtrail.toml");
    let f = file.to_str().unwrap();
    let r = run(&["init", "--out", f], &[]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        r.stdout.contains("check it with: evtrail check-config"),
        "{r}"
    );
    // Not overwritten without --force.
    let again = run(&["init", "--out", f], &[]);
    assert_eq!(again.code, Some(2), "{again}");
    assert!(
        again.stderr.contains("exists (use --force to replace it)"),
        "{again}"
    );

    // As written, it points at a key that is not there: located error.
    let r = run(&["check-config", f], &[]);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stderr.contains("evtrail.toml:"), "{r}");
    assert!(r.stderr.contains("cannot read key file"), "{r}");
    assert!(r.stdout.is_empty(), "{r}");

    let key = dir.path().join("k.key");
    let k = key.to_str().unwrap();
    assert_eq!(run(&["keygen", "--out", k], &[]).code, Some(0));
    let logs = dir.path().join("logs");
    let r = run(
        &["check-config", f],
        &[
            ("EVTRAIL_KEY_FILE", k),
            ("EVTRAIL_LOG_DIR", logs.to_str().unwrap()),
            ("EVTRAIL_SERVICE", "from-env"),
        ],
    );
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        r.stdout.contains(
            "overridden by the environment: EVTRAIL_SERVICE, EVTRAIL_LOG_DIR, EVTRAIL_KEY_FILE"
        ),
        "{r}"
    );
    assert!(r.stdout.contains("service = \"from-env\""), "{r}");
    assert!(!logs.exists(), "checking starts nothing");
    // --no-env ignores the variables, --quiet prints nothing.
    let r = run(&["check-config", "--no-env", f], &[("EVTRAIL_KEY_FILE", k)]);
    assert_eq!(r.code, Some(2), "{r}");
    let r = run(&["check-config", "--quiet", f], &[("EVTRAIL_KEY_FILE", k)]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.is_empty(), "{r}");
}

#[test]
fn a_bad_file_is_exit_2_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "service = \"a\"\n[queue]\ncapcity = 10\n").unwrap();
    let r = run(&["check-config", file.to_str().unwrap()], &[]);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(
        r.stderr.contains("bad.toml:3:1: unknown field `capcity`"),
        "{r}"
    );
    assert!(r.stderr.contains("did you mean `capacity`?"), "{r}");
    let r = run(&["check-config", "/nonexistent/x.toml"], &[]);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(
        r.stderr.contains("cannot read the configuration file"),
        "{r}"
    );
}

#[test]
fn init_to_stdout_prints_the_example() {
    let r = run(&["init"], &[]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(r.stdout.trim_end(), evtrail::config::EXAMPLE.trim_end());
}

/// README's configuration example is a file that loads and checks.
#[cfg(feature = "http")]
#[test]
fn the_readme_example_checks() {
    let readme = include_str!("../README.md");
    let start = readme
        .find("### Configuration file")
        .expect("README has a Configuration file section");
    let section = &readme[start..];
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section has a toml block");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evtrail.toml");
    std::fs::write(&file, block).unwrap();
    let key = dir.path().join("k.key");
    let k = key.to_str().unwrap();
    assert_eq!(run(&["keygen", "--out", k], &[]).code, Some(0));
    let r = run(
        &["check-config", file.to_str().unwrap()],
        &[
            ("EVTRAIL_KEY_FILE", k),
            ("CLICKHOUSE_PASSWORD", "pw"),
            ("EVTRAIL_LOG_DIR", dir.path().join("logs").to_str().unwrap()),
        ],
    );
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("encoder = \"clickhouse\""), "{r}");
    // Without the password's variable, the line that names it is shown.
    let r = run(
        &["check-config", file.to_str().unwrap()],
        &[("EVTRAIL_KEY_FILE", k)],
    );
    assert_eq!(r.code, Some(2), "{r}");
    assert!(
        r.stderr
            .contains("environment variable CLICKHOUSE_PASSWORD"),
        "{r}"
    );
}
