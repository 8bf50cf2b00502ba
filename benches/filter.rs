//! The level filter on the emitting thread: evtrail's own directives
//! (`Builder::filter`, changed at run time by `Handle::set_filter`) against
//! what `tracing-subscriber` offers for the same job, a per-layer filter
//! that can be reloaded: `reload::Layer<Targets>` and
//! `reload::Layer<EnvFilter>` around evtrail's layer left unfiltered.
//!
//! `cargo bench --bench filter`. Every configuration runs in a process of
//! its own (callsite interest is process-wide), three times in turn, and
//! the table shows each one's best run: the time of one `debug!` call that
//! the filter turns away (`info` by default), and of one it lets through
//! (`shop::db=debug`), which then pays for capture and the hand-off too.

use std::hint::black_box;
use std::process::Command;
use std::str::FromStr;
use std::time::Instant;

use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, reload};

#[path = "common/size.rs"]
mod size;

const CHILD_ENV: &str = "EVTRAIL_FILTER_BENCH_CHILD";
const DIRECTIVES: &str = "info,shop::db=debug";
const CONFIGS: [&str; 3] = ["evtrail", "targets", "envfilter"];

/// Nanoseconds per call: (turned away, let through).
fn child(config: &str, n: u64) -> (f64, f64) {
    let builder = evtrail::builder()
        .service("shop")
        .unsigned()
        .add_sink(evtrail::MemorySink::new());
    let run = |dispatch: tracing::Dispatch| {
        tracing::dispatcher::with_default(&dispatch, || {
            let time = |f: &dyn Fn(u64)| {
                let start = Instant::now();
                for i in 0..n {
                    f(black_box(i));
                }
                start.elapsed().as_nanos() as f64 / n as f64
            };
            let away = time(&|i| tracing::debug!(target: "shop::web", i, "turned away"));
            let through = time(&|i| tracing::debug!(target: "shop::db", i, "let through"));
            (away, through)
        })
    };
    match config {
        "evtrail" => {
            let (layer, guard) = builder.filter("warn").build().unwrap();
            // Changed at run time, as the others are reloaded.
            guard.handle().set_filter(DIRECTIVES).unwrap();
            let r = run(tracing::Dispatch::new(
                tracing_subscriber::registry().with(layer),
            ));
            drop(guard);
            r
        }
        "targets" => {
            let (layer, guard) = builder.build().unwrap();
            let (filter, handle) = reload::Layer::new(Targets::from_str("warn").unwrap());
            let subscriber = tracing_subscriber::registry().with(layer.with_filter(filter));
            handle
                .reload(Targets::from_str(DIRECTIVES).unwrap())
                .unwrap();
            let r = run(tracing::Dispatch::new(subscriber));
            drop(guard);
            r
        }
        "envfilter" => {
            let (layer, guard) = builder.build().unwrap();
            let (filter, handle) = reload::Layer::new(EnvFilter::new("warn"));
            let subscriber = tracing_subscriber::registry().with(layer.with_filter(filter));
            handle.reload(EnvFilter::new(DIRECTIVES)).unwrap();
            let r = run(tracing::Dispatch::new(subscriber));
            drop(guard);
            r
        }
        other => panic!("unknown configuration {other}"),
    }
}

fn main() {
    let n = size::events(2_000_000u64, 20_000);
    if let Ok(config) = std::env::var(CHILD_ENV) {
        let (away, through) = child(&config, n);
        println!("{away} {through}");
        return;
    }
    let rounds = if size::full_run() { 3 } else { 1 };
    let mut best = [(f64::MAX, f64::MAX); 3];
    for _ in 0..rounds {
        for (i, config) in CONFIGS.iter().enumerate() {
            let out = Command::new(std::env::current_exe().unwrap())
                .env(CHILD_ENV, config)
                .args(std::env::args().skip(1))
                .output()
                .unwrap();
            assert!(out.status.success(), "{config}: {out:?}");
            let text = String::from_utf8(out.stdout).unwrap();
            let mut v = text.split_whitespace().map(|x| x.parse::<f64>().unwrap());
            let (away, through) = (v.next().unwrap(), v.next().unwrap());
            best[i] = (best[i].0.min(away), best[i].1.min(through));
        }
    }
    println!(
        "{n} calls of each kind from one thread, filter `{DIRECTIVES}` set at run time; best of {rounds}"
    );
    println!();
    println!("| filter | turned away (debug, shop::web) | let through (debug, shop::db) |");
    println!("|---|---:|---:|");
    for (config, (away, through)) in CONFIGS.iter().zip(best) {
        let name = match *config {
            "evtrail" => "evtrail's directives (`Handle::set_filter`)",
            "targets" => "`reload::Layer<Targets>` around evtrail's layer",
            _ => "`reload::Layer<EnvFilter>` around evtrail's layer",
        };
        println!("| {name} | {away:.1} ns | {through:.1} ns |");
    }
}
