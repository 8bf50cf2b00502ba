//! `evtrail check-config` and `evtrail init`: a configuration file checked
//! before a deploy, and a commented one to start from.

use std::fs;
use std::io;
use std::path::PathBuf;

use clap::Args;
use evtrail::config::{Config, EXAMPLE};

use anyhow::Context as _;

use crate::common::{CLEAN, Result, print};

/// Check a configuration file and print the configuration that would be
/// applied, after the environment's EVTRAIL_* overrides, with secrets
/// masked.
///
/// Everything the application's start would check is checked: unknown
/// keys, types, sizes and durations, the filter, redaction patterns,
/// stream names, that the key file holds a key, that secrets' variables
/// are set and their files readable. Errors name the file, line and
/// column. Exit 0 when the file is good, 2 when it is not.
///
/// Examples:
///
///   evtrail check-config /etc/my-app/evtrail.toml
///   EVTRAIL_LOG_DIR=/tmp/logs evtrail check-config evtrail.toml
///   evtrail check-config --no-env evtrail.toml --quiet && deploy
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct CheckConfigArgs {
    /// The configuration file.
    file: PathBuf,

    /// Ignore the environment's EVTRAIL_* variables.
    #[arg(long)]
    no_env: bool,

    /// Print nothing when the file is good.
    #[arg(long, short)]
    quiet: bool,
}

pub(crate) fn check(args: CheckConfigArgs) -> Result<u8> {
    let mut config = Config::from_file(&args.file)?;
    if !args.no_env {
        config = config.with_env()?;
    }
    config.check()?;
    if !args.quiet {
        print(config.effective().trim_end())?;
    }
    Ok(CLEAN)
}

/// Write a commented example configuration file to start from.
///
/// Every setting is shown with its default or a typical value; the file
/// loads as it is (after `[key] file` points at a key: `evtrail keygen`).
///
/// Examples:
///
///   evtrail init --out evtrail.toml
///   evtrail init > evtrail.toml
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct InitArgs {
    /// The file to create; without it, the example goes to stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

pub(crate) fn init(args: InitArgs) -> Result<u8> {
    let Some(out) = args.out else {
        print(EXAMPLE.trim_end())?;
        return Ok(CLEAN);
    };
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(&out).map_err(|e| {
        let msg = match e.kind() {
            io::ErrorKind::AlreadyExists => {
                format!("`{}` exists (use --force to replace it)", out.display())
            }
            _ => format!("cannot create `{}`", out.display()),
        };
        anyhow::Error::new(e).context(msg)
    })?;
    io::Write::write_all(&mut file, EXAMPLE.as_bytes())
        .with_context(|| format!("cannot write `{}`", out.display()))?;
    print(&format!(
        "wrote {}; check it with: evtrail check-config {}",
        out.display(),
        out.display()
    ))?;
    Ok(CLEAN)
}
