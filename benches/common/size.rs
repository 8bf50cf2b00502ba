//! How big a bench run is.
//!
//! `cargo bench` passes `--bench` and gets the full size (or
//! `EVTRAIL_BENCH_N`); `cargo test --benches`, which CI runs, does not, and
//! gets a smoke run that exercises every check without the wait.
//!
//! Included by the benches with `#[path = "common/size.rs"] mod size;`.

use std::str::FromStr;

/// Whether this is a full run (`--bench` on the command line).
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The number of events: `EVTRAIL_BENCH_N`, else `full`, in a full run;
/// `smoke` otherwise.
pub fn events<T: FromStr>(full: T, smoke: T) -> T {
    if !full_run() {
        return smoke;
    }
    std::env::var("EVTRAIL_BENCH_N")
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("EVTRAIL_BENCH_N must be a number, not `{v}`"))
        })
        .unwrap_or(full)
}
