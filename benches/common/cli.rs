//! The `evtrail` command-line tool a bench runs: `EVTRAIL_BIN` when set,
//! otherwise built by the `cargo` that runs the bench.
//!
//! Included by the benches with `#[path = "common/cli.rs"] mod cli;`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Names a prebuilt `evtrail` to use instead of building one.
pub const BIN_ENV: &str = "EVTRAIL_BIN";

/// The `evtrail` binary: [`BIN_ENV`], or the one cargo builds with
/// `features` (comma-separated; `cli` at least), in release for a full
/// run, as the tool is installed; a smoke run takes the dev build that the
/// tests already made.
pub fn evtrail_bin(full: bool, features: &str, bench: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(BIN_ENV) {
        return bin.into();
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--manifest-path",
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        "--features",
        features,
        "--bin",
        "evtrail",
        "--message-format=json-render-diagnostics",
    ]);
    if full {
        cmd.arg("--release");
    }
    eprintln!("{bench} bench: building the evtrail CLI ({BIN_ENV} not set)");
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build of the evtrail CLI failed"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "evtrail")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported the evtrail executable")
}
