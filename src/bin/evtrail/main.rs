//! `evtrail`: look at signed evtrail logs, prove them genuine, and generate
//! signing keys.
//!
//! Built with the `cli` feature (`cargo install evtrail --features cli`).
//! Each subcommand is a file here that only parses its arguments, calls the
//! library and renders its answer: what a log proves is decided by
//! [`evtrail::verify`], what a search finds by [`evtrail::query`].
//!
//! Exit codes, as grep's and ripgrep's: 0 for yes (found something; no
//! evidence of tampering), 1 for no (found nothing; evidence of
//! tampering), 2 for a usage or I/O error (reported on stderr as
//! `evtrail: <message>: <cause>…`).

/// Verification parses on every core and hands each record to the chain
/// check's thread, which frees it: a pattern the system allocator serves
/// with a lock per arena.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;
mod config;
mod filters;
mod incidents;
mod keygen;
mod output;
mod query;
mod report;
mod stats;
mod store;
mod tail;
mod verify;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use common::ERROR;

/// Look at signed evtrail logs, prove them genuine, and generate signing
/// keys.
#[derive(Debug, Parser)]
#[command(name = "evtrail", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Query(query::QueryArgs),
    Tail(tail::TailArgs),
    Incidents(incidents::IncidentsArgs),
    Stats(stats::StatsArgs),
    Report(report::ReportArgs),
    Verify(verify::VerifyArgs),
    Keygen(keygen::KeygenArgs),
    CheckConfig(config::CheckConfigArgs),
    Init(config::InitArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Query(args) => query::run(args),
        Command::Tail(args) => tail::run(args),
        Command::Incidents(args) => incidents::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Report(args) => report::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::CheckConfig(args) => config::check(args),
        Command::Init(args) => config::init(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Nothing more can be done if stderr is gone as well.
            let _ = writeln!(io::stderr().lock(), "evtrail: {e:#}");
            ExitCode::from(ERROR)
        }
    }
}
