//! The pipeline's counters in the Prometheus text exposition format
//! (version 0.0.4), for any HTTP server the application already runs.

use std::fmt::Write as _;

use super::health::{Health, HealthStatus};
use super::lifecycle::Handle;
use super::stats::Stats;

impl Handle {
    /// The counters of [`stats`](Self::stats) and the status of
    /// [`health`](Self::health) in the Prometheus text format, with
    /// `# HELP` and `# TYPE` lines; serve it as `text/plain;
    /// version=0.0.4` on a `/metrics` endpoint.
    ///
    /// | metric | type | labels |
    /// |---|---|---|
    /// | `evtrail_records_accepted_total` | counter | |
    /// | `evtrail_records_written_total` | counter | |
    /// | `evtrail_records_dropped_total` | counter | `class` |
    /// | `evtrail_records_internal_total` | counter | |
    /// | `evtrail_events_reentrant_total` | counter | |
    /// | `evtrail_queue_depth`, `evtrail_queue_capacity` | gauge | |
    /// | `evtrail_records_lost_last_minute` | gauge | |
    /// | `evtrail_health` | gauge (1 for the current status) | `status` |
    /// | `evtrail_sink_written_total`, `…_failures_total`, `…_dropped_total` | counter | `sink` |
    /// | `evtrail_sink_pending_records` | gauge | `sink` |
    /// | `evtrail_sink_health` | gauge (1 for the current status) | `sink`, `status` |
    /// | `evtrail_sink_pushes_total` | counter | `sink`, `result` (`ok`, `failed`) |
    /// | `evtrail_sink_delivered_total`, `…_dead_lettered_total` | counter | `sink` |
    /// | `evtrail_sink_spooled_records`, `…_spool_bytes`, `…_in_memory_records` | gauge | `sink` |
    ///
    /// # Examples
    ///
    /// ```
    /// let (_layer, guard) = evtrail::builder()
    ///     .unsigned()
    ///     .add_sink(evtrail::MemorySink::new())
    ///     .build()?;
    /// let text = guard.metrics_text();
    /// assert!(text.contains("# TYPE evtrail_records_written_total counter"));
    /// assert!(text.contains("evtrail_sink_written_total{sink=\"memory\"} 0"));
    /// # Ok::<(), evtrail::Error>(())
    /// ```
    pub fn metrics_text(&self) -> String {
        let stats = self.stats();
        let health = self.health_of(&stats);
        render(&stats, &health)
    }
}

/// One metric family: its help and type lines, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head<'o>(out: &'o mut String, name: &str, kind: &str, help: &str) -> Family<'o> {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// A label value as the format wants it: `\`, `"` and newlines escaped.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

const STATUSES: [HealthStatus; 3] = [
    HealthStatus::Ok,
    HealthStatus::Degraded,
    HealthStatus::Failing,
];

pub(super) fn render(stats: &Stats, health: &Health) -> String {
    let mut out = String::with_capacity(4096);
    let simple: [(&str, &str, &str, u64); 4] = [
        (
            "evtrail_records_accepted_total",
            "counter",
            "Records handed to the worker.",
            stats.accepted,
        ),
        (
            "evtrail_records_written_total",
            "counter",
            "Records encoded and handed to the sinks.",
            stats.written,
        ),
        (
            "evtrail_records_internal_total",
            "counter",
            "Records evtrail wrote about itself.",
            stats.internal,
        ),
        (
            "evtrail_events_reentrant_total",
            "counter",
            "Events ignored because evtrail's own threads emitted them.",
            stats.reentrant,
        ),
    ];
    for (name, kind, help, v) in simple {
        Family::head(&mut out, name, kind, help).sample(name, &[], v);
    }
    let name = "evtrail_records_dropped_total";
    let mut f = Family::head(
        &mut out,
        name,
        "counter",
        "Records dropped at the hand-off (queue full or after shutdown), by class.",
    );
    for (class, n) in &stats.dropped_by_class {
        f.sample(name, &[("class", class.as_str())], n);
    }
    let gauges: [(&str, &str, u64); 3] = [
        (
            "evtrail_queue_depth",
            "Messages waiting in the hand-off queue.",
            stats.queue_depth as u64,
        ),
        (
            "evtrail_queue_capacity",
            "The hand-off queue's capacity.",
            stats.capacity as u64,
        ),
        (
            "evtrail_records_lost_last_minute",
            "Records lost in about the last minute, at the hand-off or by a sink.",
            health.lost_last_minute,
        ),
    ];
    for (name, help, v) in gauges {
        Family::head(&mut out, name, "gauge", help).sample(name, &[], v);
    }
    let name = "evtrail_health";
    let mut f = Family::head(
        &mut out,
        name,
        "gauge",
        "1 for the pipeline's current health status.",
    );
    for s in STATUSES {
        f.sample(
            name,
            &[("status", s.as_str())],
            u8::from(health.status == s),
        );
    }
    sinks(&mut out, stats, health);
    out
}

fn sinks(out: &mut String, stats: &Stats, health: &Health) {
    type Get = fn(&super::stats::SinkStats) -> u64;
    let per_sink: [(&str, &str, &str, Get); 4] = [
        (
            "evtrail_sink_written_total",
            "counter",
            "Records the sink accepted.",
            |s| s.written,
        ),
        (
            "evtrail_sink_failures_total",
            "counter",
            "Failed writes and flushes.",
            |s| s.failures,
        ),
        (
            "evtrail_sink_dropped_total",
            "counter",
            "Records the sink lost.",
            |s| s.dropped,
        ),
        (
            "evtrail_sink_pending_records",
            "gauge",
            "Records waiting to be retried.",
            |s| s.pending,
        ),
    ];
    for (name, kind, help, get) in per_sink {
        let mut f = Family::head(out, name, kind, help);
        for s in &stats.sinks {
            f.sample(name, &[("sink", s.name.as_str())], get(s));
        }
    }
    let name = "evtrail_sink_health";
    let mut f = Family::head(
        out,
        name,
        "gauge",
        "1 for each sink's current health status.",
    );
    for s in &health.sinks {
        for st in STATUSES {
            f.sample(
                name,
                &[("sink", s.name.as_str()), ("status", st.as_str())],
                u8::from(s.status == st),
            );
        }
    }
    let delivering: Vec<_> = stats
        .sinks
        .iter()
        .filter_map(|s| s.delivery.as_ref().map(|d| (s.name.as_str(), d)))
        .collect();
    if delivering.is_empty() {
        return;
    }
    let name = "evtrail_sink_pushes_total";
    let mut f = Family::head(out, name, "counter", "Delivery attempts by outcome.");
    for (sink, d) in &delivering {
        f.sample(name, &[("sink", *sink), ("result", "ok")], d.pushes_ok);
        f.sample(
            name,
            &[("sink", *sink), ("result", "failed")],
            d.pushes_failed,
        );
    }
    type GetD = fn(&crate::sink::DeliveryStats) -> u64;
    let per_delivery: [(&str, &str, &str, GetD); 5] = [
        (
            "evtrail_sink_delivered_total",
            "counter",
            "Records the endpoint accepted.",
            |d| d.delivered,
        ),
        (
            "evtrail_sink_dead_lettered_total",
            "counter",
            "Records the endpoint refused for good.",
            |d| d.dead_lettered,
        ),
        (
            "evtrail_sink_spooled_records",
            "gauge",
            "Records waiting in the sink's disk spool.",
            |d| d.spooled,
        ),
        (
            "evtrail_sink_spool_bytes",
            "gauge",
            "Bytes in the sink's disk spool.",
            |d| d.spool_bytes,
        ),
        (
            "evtrail_sink_in_memory_records",
            "gauge",
            "Records waiting in the sink's memory queue.",
            |d| d.in_memory,
        ),
    ];
    for (name, kind, help, get) in per_delivery {
        let mut f = Family::head(out, name, kind, help);
        for (sink, d) in &delivering {
            f.sample(name, &[("sink", *sink)], get(d));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
