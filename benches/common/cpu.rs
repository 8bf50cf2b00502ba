//! CPU time from `/proc`, for the whole process and per thread. Linux only.
//!
//! Included by the benches with `#[path = "common/cpu.rs"] mod cpu;`.

use std::collections::HashMap;
use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// `/proc` reports CPU time in clock ticks; 100 per second on Linux.
const TICKS_PER_SEC: f64 = 100.0;

/// The sampling thread's name as `/proc/self/task/*/comm` shows it (15
/// bytes at most); its own CPU time is left out of [`Monitor::finish`].
const MONITOR_COMM: &str = "bench-cpu-mon";

/// `(comm, utime + stime in ticks)` from a `/proc/.../stat` line.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    // After the comm, the first field is field 3 (state); utime and stime
    // are fields 14 and 15.
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((stat[open + 1..close].to_owned(), utime + stime))
}

/// CPU seconds (user + system) of the whole process so far, exited threads
/// included.
pub fn process_cpu() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    parse_stat(&stat).expect("parse /proc/self/stat").1 as f64 / TICKS_PER_SEC
}

/// `(tid, comm, ticks)` of every live thread.
pub fn threads() -> Vec<(u32, String, u64)> {
    let Ok(list) = fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    list.flatten()
        .filter_map(|e| {
            let tid = e.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            let (comm, ticks) = parse_stat(&stat)?;
            Some((tid, comm, ticks))
        })
        .collect()
}

/// Samples every thread's CPU time on a thread of its own, so that threads
/// which end during the run (a detached compressor, a joined worker) still
/// count, to within one sampling interval.
pub struct Monitor {
    /// Set to make the sampling thread take its last sample and return.
    stop: Arc<AtomicBool>,
    /// The sampling thread; returns the latest `(comm, ticks)` per tid.
    handle: JoinHandle<HashMap<u32, (String, u64)>>,
    /// Ticks of the threads alive at the start.
    base: HashMap<u32, u64>,
}

impl Monitor {
    /// Starts sampling, every `every`.
    pub fn start(every: Duration) -> Monitor {
        let base = threads().into_iter().map(|(t, _, c)| (t, c)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name(MONITOR_COMM.to_owned())
            .spawn(move || {
                let mut last = HashMap::new();
                loop {
                    let done = flag.load(Ordering::Acquire);
                    for (tid, comm, ticks) in threads() {
                        last.insert(tid, (comm, ticks));
                    }
                    if done {
                        return last;
                    }
                    std::thread::sleep(every);
                }
            })
            .expect("spawn monitor");
        Monitor { stop, handle, base }
    }

    /// Takes a last sample and stops. Returns `(tid, comm, seconds)` for
    /// every thread seen since [`Monitor::start`] but the monitor itself:
    /// the CPU seconds it used since then (a thread started later, all of
    /// them). The main thread's tid is the process id.
    pub fn finish(self) -> Vec<(u32, String, f64)> {
        self.stop.store(true, Ordering::Release);
        let last = self.handle.join().expect("monitor");
        last.into_iter()
            .filter(|(_, (comm, _))| comm != MONITOR_COMM)
            .map(|(tid, (comm, ticks))| {
                let base = self.base.get(&tid).copied().unwrap_or(0);
                let secs = ticks.saturating_sub(base) as f64 / TICKS_PER_SEC;
                (tid, comm, secs)
            })
            .collect()
    }
}
