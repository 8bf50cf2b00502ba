//! The page's layout: header and verdict, the chart cards, the incidents
//! and latest events tables, and the inline style — all text from the
//! logs through [`esc`].

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::html::{count, esc, percent};
use super::rows::Row;
use super::svg::{self, GREY, Line, PALETTE, Slice};
use crate::incidents::{Incident, short_duration};
use crate::query::TimeRange;
use crate::stats::{Counts, OTHER, Summary};
use crate::verify::Report as Proof;

/// Slices a donut shows apart; the rest is `other`.
const DONUT_SLICES: usize = 8;
/// Findings listed in the header; the rest are counted.
const FINDINGS_SHOWN: usize = 10;

/// Everything the page shows.
pub(crate) struct Page<'a> {
    pub(crate) title: &'a str,
    pub(crate) range: TimeRange,
    pub(crate) summary: &'a Summary,
    pub(crate) rows: Vec<Row>,
    pub(crate) row_cap: usize,
    pub(crate) incidents: Vec<&'a Incident>,
    pub(crate) proof: Option<&'a Proof>,
    pub(crate) now: SystemTime,
}

/// Colours that mean something wherever a class shows.
fn class_color(class: &str, i: usize) -> &'static str {
    match class {
        "error" => "#e15759",
        "security" => "#b07aa1",
        "audit" => "#4e79a7",
        "info" => "#59a14f",
        "correction" => "#f28e2b",
        OTHER => GREY,
        _ => PALETTE[(i + 4) % PALETTE.len()],
    }
}

/// The eight largest keys as slices, and the rest as `other`.
fn slices(counts: &Counts, color: impl Fn(&str, usize) -> &'static str) -> Vec<Slice> {
    let mut out: Vec<Slice> = counts
        .top
        .iter()
        .take(DONUT_SLICES)
        .enumerate()
        .map(|(i, c)| {
            let label = c.key.first().cloned().unwrap_or_default();
            Slice {
                color: color(&label, i),
                label: if label.is_empty() {
                    "(none)".to_owned()
                } else {
                    label
                },
                count: c.count,
            }
        })
        .collect();
    let shown: u64 = out.iter().map(|s| s.count).sum();
    let rest = counts.total() - shown;
    if rest > 0 {
        out.push(Slice {
            label: OTHER.to_owned(),
            count: rest,
            color: GREY,
        });
    }
    out
}

/// `2026-11-20 12:00:05Z`.
fn time_text(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let head = crate::time::ts_second(secs);
    format!(
        "{}Z",
        String::from_utf8_lossy(&head[..19]).replace('T', " ")
    )
}

/// A list of the largest keys, for the header: `shop, billing +2`.
fn names(counts: &Counts) -> String {
    let mut shown: Vec<String> = counts
        .top
        .iter()
        .filter(|c| c.key.first().is_some_and(|k| !k.is_empty()))
        .take(3)
        .map(|c| esc(&c.key[0]))
        .collect();
    let more = counts.distinct as usize - shown.len().min(counts.distinct as usize);
    if shown.is_empty() {
        shown.push("—".to_owned());
    }
    let mut s = shown.join(", ");
    if more > 0 && counts.top.iter().any(|c| !c.key[0].is_empty()) {
        let _ = write!(s, " +{more}");
    }
    s
}

impl Page<'_> {
    /// The range, or for all time the span of the records.
    fn range_text(&self) -> String {
        if self.range.from().is_some() || self.range.to().is_some() {
            return self.range.to_string();
        }
        let short = |ts: &str| ts.get(..19).unwrap_or(ts).replace('T', " ");
        match (&self.summary.first, &self.summary.last) {
            (Some(a), Some(b)) => format!("all time: {}Z .. {}Z", short(a), short(b)),
            _ => "all time".to_owned(),
        }
    }

    pub(crate) fn render(&self) -> String {
        let s = self.summary;
        let mut out = String::with_capacity(64 * 1024 + self.rows.len() * 1024);
        let _ = write!(
            out,
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="generator" content="evtrail {}"><title>{}</title><style>{CSS}</style></head><body><main>"#,
            env!("CARGO_PKG_VERSION"),
            esc(self.title)
        );
        self.header(&mut out);
        self.verdict(&mut out);
        if s.total == 0 {
            let _ = write!(
                out,
                r#"<section class="card"><p class="empty" id="no-records">No records in {}. Widen the range (--since, --from/--to, --all-time) or loosen the filters.</p></section>"#,
                esc(&self.range.to_string())
            );
        } else {
            self.trend(&mut out);
            self.donuts(&mut out);
            self.sinks(&mut out);
        }
        self.incidents(&mut out);
        if s.total > 0 {
            self.events(&mut out);
        }
        let _ = write!(
            out,
            r#"<footer>Made by evtrail {} at {} · one self-contained file: it fetches nothing and runs no script.</footer></main></body></html>"#,
            env!("CARGO_PKG_VERSION"),
            time_text(self.now)
        );
        out.push('\n');
        out
    }

    fn header(&self, out: &mut String) {
        let s = self.summary;
        let push = s.push.records;
        let tried = push.ok + push.failed;
        let push_kpi = if tried == 0 {
            "—".to_owned()
        } else {
            percent(push.ok, tried)
        };
        let _ = write!(
            out,
            r#"<header class="top"><div><h1>{}</h1><dl class="meta"><div><dt>Service</dt><dd id="services">{}</dd></div><div><dt>Host</dt><dd id="hosts">{}</dd></div><div><dt>Range</dt><dd id="range">{}</dd></div></dl></div><div class="kpis"><div class="kpi"><b id="total" data-count="{}">{}</b><span>records</span></div><div class="kpi"><b data-count="{}">{}</b><span>event types</span></div><div class="kpi"><b id="open-incidents" data-count="{}">{}</b><span>open incidents</span></div><div class="kpi"><b>{}</b><span>pushed records delivered</span></div></div></header>"#,
            esc(self.title),
            names(&s.services),
            names(&s.hosts),
            esc(&self.range_text()),
            s.total,
            count(s.total),
            s.events.distinct,
            count(s.events.distinct),
            self.incidents.len(),
            count(self.incidents.len() as u64),
            push_kpi,
        );
    }

    fn verdict(&self, out: &mut String) {
        let s = self.summary;
        let Some(proof) = self.proof else {
            out.push_str(r#"<div class="verdict none" id="verdict">Not verified: no key was given, so nothing here proves these records genuine (give --key-file to check every signature and the chain).</div>"#);
            return;
        };
        let records: u64 = proof.streams.iter().map(|r| r.records).sum();
        let verified: u64 = proof.streams.iter().map(|r| r.verified).sum();
        let valid = s
            .signatures
            .as_ref()
            .and_then(|v| v.get("valid").copied())
            .unwrap_or(0);
        let tamper: Vec<_> = proof
            .findings
            .iter()
            .filter(|f| f.kind.is_tamper_evidence())
            .collect();
        let clean = proof.is_clean() && valid == s.total && verified == records;
        let _ = write!(
            out,
            r#"<div class="verdict {}" id="verdict"><b>{}</b> {} of {} records in the logs verified, {}; {} of {} records in this report have a valid signature."#,
            if clean { "ok" } else { "bad" },
            if clean {
                "Verified."
            } else if tamper.is_empty() {
                "Not fully verified."
            } else {
                "Evidence of tampering."
            },
            count(verified),
            count(records),
            if tamper.is_empty() {
                "chain intact".to_owned()
            } else {
                format!(
                    "{} finding{}",
                    tamper.len(),
                    if tamper.len() == 1 { "" } else { "s" }
                )
            },
            count(valid),
            count(s.total),
        );
        if !proof.findings.is_empty() {
            out.push_str("<ul class=\"findings\">");
            for f in proof.findings.iter().take(FINDINGS_SHOWN) {
                let _ = write!(
                    out,
                    "<li><b>{}</b> {}:{} {}</li>",
                    esc(f.kind.as_str()),
                    esc(&f.location.file.display().to_string()),
                    f.location.line,
                    esc(&f.detail)
                );
            }
            if proof.findings.len() > FINDINGS_SHOWN {
                let _ = write!(
                    out,
                    "<li>… and {} more (evtrail verify lists them all)</li>",
                    proof.findings.len() - FINDINGS_SHOWN
                );
            }
            out.push_str("</ul>");
        }
        out.push_str("</div>");
    }

    fn trend(&self, out: &mut String) {
        let series = &self.summary.series;
        let lines: Vec<Line<'_>> = series
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| Line {
                name: &l.name,
                counts: &l.counts,
                color: if series.dimension == "class" {
                    class_color(&l.name, i)
                } else if l.name == OTHER {
                    GREY
                } else {
                    PALETTE[i % PALETTE.len()]
                },
            })
            .collect();
        let _ = write!(
            out,
            r#"<section class="card" id="trend"><h2>New events over time <small>per {} by {}, {} bucket{}</small></h2>{}</section>"#,
            short_duration(Duration::from_secs(series.every_s)),
            esc(&series.dimension),
            series.starts.len(),
            if series.starts.len() == 1 { "" } else { "s" },
            svg::line_chart(&series.starts, series.every_s, &lines)
        );
    }

    fn donuts(&self, out: &mut String) {
        let s = self.summary;
        let events = slices(&s.events, |_, i| PALETTE[i % PALETTE.len()]);
        let classes = slices(&s.classes, class_color);
        let p = s.push.records;
        let push = vec![
            Slice {
                label: "success".to_owned(),
                count: p.ok,
                color: "#59a14f",
            },
            Slice {
                label: "failure".to_owned(),
                count: p.failed,
                color: "#e15759",
            },
            Slice {
                label: "no push".to_owned(),
                count: p.none,
                color: GREY,
            },
        ];
        let _ = write!(
            out,
            r#"<div class="grid"><section class="card"><h2>Event types <small>top {DONUT_SLICES}</small></h2>{}</section><section class="card"><h2>Classes</h2>{}</section><section class="card"><h2>Push status <small>per record</small></h2>{}</section></div>"#,
            svg::donut("donut-events", "event types", &events),
            svg::donut("donut-classes", "classes", &classes),
            svg::donut("donut-push", "push status", &push),
        );
    }

    fn sinks(&self, out: &mut String) {
        let p = &self.summary.push;
        if p.sinks.is_empty() {
            return;
        }
        out.push_str(r#"<section class="card" id="sinks"><h2>Deliveries <small>per sink and channel</small></h2><table><thead><tr><th>Sink</th><th>Channel</th><th class="n">Attempts</th><th class="n">OK</th><th class="n">Failed</th><th class="n">Rejected</th><th class="n">Success</th><th class="n">Records delivered</th><th class="n">p50</th><th class="n">p99</th></tr></thead><tbody>"#);
        let ms = |v: Option<u64>| v.map_or("—".to_owned(), |v| format!("{} ms", count(v)));
        for k in &p.sinks {
            let _ = write!(
                out,
                r#"<tr data-sink="{}"><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n"><span class="bar"><i style="width:{:.0}%"></i></span>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
                esc(&k.sink),
                esc(&k.sink),
                esc(k.channel.as_deref().unwrap_or("—")),
                count(k.attempts),
                count(k.ok),
                count(k.failed),
                count(k.rejected),
                k.success_rate * 100.0,
                percent(k.ok, k.attempts),
                count(k.records_delivered),
                ms(k.latency_ms_p50),
                ms(k.latency_ms_p99),
            );
        }
        out.push_str("</tbody></table></section>");
    }

    fn incidents(&self, out: &mut String) {
        let _ = write!(
            out,
            r#"<section class="card" id="incidents"><h2>Open incidents <small>{}</small></h2>"#,
            count(self.incidents.len() as u64)
        );
        if self.incidents.is_empty() {
            out.push_str(r#"<p class="empty">No open incidents.</p></section>"#);
            return;
        }
        out.push_str(r#"<table><thead><tr><th>Issue</th><th>Status</th><th>Worst</th><th>Started</th><th class="n">Open for</th><th class="n">Records</th><th>Last message</th></tr></thead><tbody>"#);
        for i in &self.incidents {
            let short = |ts: &str| esc(&ts.get(..19).unwrap_or(ts).replace('T', " "));
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td><span class="st {}">{}</span></td><td><span class="st {}">{}</span></td><td class="t">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                esc(i.key()),
                status_class(i.status()),
                esc(i.status()),
                status_class(i.worst()),
                esc(i.worst()),
                short(i.first_seen()),
                short_duration(i.duration()),
                count(i.events()),
                esc(i.last_message()),
            );
        }
        out.push_str("</tbody></table></section>");
    }

    fn events(&self, out: &mut String) {
        let _ = write!(
            out,
            r#"<section class="card" id="events"><h2>Latest events <small>{} newest of {}</small></h2><table class="events"><thead><tr><th>Time (UTC)</th><th>Code · event</th><th>Recipient · push</th><th>Content</th><th>Context</th></tr></thead><tbody>"#,
            count(self.rows.len() as u64),
            count(self.summary.total),
        );
        for r in &self.rows {
            let mut push = String::new();
            if r.pushes.is_empty() {
                push.push_str(r#"<span class="pill none">no push</span>"#);
            }
            for o in &r.pushes {
                let t = &o.target;
                let _ = write!(
                    push,
                    r#"<div><span class="pill {}">{}</span> {}{}{}</div>"#,
                    if o.ok { "ok" } else { "bad" },
                    if o.ok { "ok" } else { "failed" },
                    esc(&t.sink),
                    t.channel
                        .as_deref()
                        .map(|c| format!("/{}", esc(c)))
                        .unwrap_or_default(),
                    t.recipients
                        .as_deref()
                        .map(|r| format!(r#" <span class="rcpt">→ {}</span>"#, esc(r)))
                        .unwrap_or_default(),
                );
            }
            let mut ctx = String::new();
            for (k, v) in &r.context {
                let _ = write!(ctx, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
            }
            let _ = write!(
                out,
                r#"<tr class="lv-{}"><td class="t">{}</td><td><b>{}</b><div class="ev">{}</div></td><td>{}</td><td class="msg">{}</td><td><details><summary>{} fields · {}</summary><dl class="ctx">{}</dl></details></td></tr>"#,
                esc(&r.level.to_ascii_lowercase()),
                esc(&r.time),
                if r.code.is_empty() {
                    "—".to_owned()
                } else {
                    esc(&r.code)
                },
                esc(&r.event),
                push,
                esc(&r.msg),
                r.context.len(),
                esc(&r.class),
                ctx,
            );
        }
        out.push_str("</tbody></table>");
        if self.summary.total as usize > self.rows.len() {
            let _ = write!(
                out,
                r#"<p class="note">Older records are not listed (the table keeps the newest {}); <code>evtrail query</code> finds any of them.</p>"#,
                self.row_cap
            );
        }
        out.push_str("</section>");
    }
}

fn status_class(status: &str) -> &'static str {
    match status {
        "critical" | "error" => "bad",
        "warning" => "warn",
        "ok" => "ok",
        _ => "none",
    }
}

/// The whole style: a few KiB, system fonts only.
const CSS: &str = "\
:root{--bg:#f4f6f9;--card:#fff;--ink:#1d2433;--mute:#667085;--line:#e4e7ec;--ok:#2f855a;--bad:#c53030;--warn:#b7791f}\
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}\
main{max-width:1360px;margin:0 auto;padding:20px 24px 32px}\
h1{font-size:22px;margin:0 0 6px}h2{font-size:15px;margin:0 0 12px}h2 small{color:var(--mute);font-weight:400;margin-left:6px}\
.top{display:flex;justify-content:space-between;align-items:flex-end;gap:24px;flex-wrap:wrap;margin-bottom:14px}\
.meta{display:flex;gap:22px;margin:0;color:var(--mute)}.meta dt{font-size:11px;text-transform:uppercase;letter-spacing:.04em}.meta dd{margin:0;color:var(--ink);font-weight:500}\
.kpis{display:flex;gap:12px}.kpi{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 16px;min-width:120px}.kpi b{display:block;font-size:22px}.kpi span{color:var(--mute);font-size:12px}\
.verdict{border-radius:10px;padding:12px 16px;margin-bottom:14px;border:1px solid}.verdict.ok{background:#e9f7ef;border-color:#9fd3b4;color:#1e5f3c}.verdict.bad{background:#fdecec;border-color:#f1a7a7;color:#8a1f1f}.verdict.none{background:#fff8e6;border-color:#f0d9a0;color:#7a5a12}\
.findings{margin:8px 0 0;padding-left:18px}\
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin-bottom:14px}\
.grid{display:grid;grid-template-columns:repeat(3,1fr);gap:14px}.grid .card{margin-bottom:0}.grid+.card,.grid+section{margin-top:14px}\
.donut-box{display:flex;align-items:center;gap:14px}.donut{flex:none;width:170px;height:170px}\
.donut-total{font-size:26px;font-weight:600;fill:var(--ink)}.donut-unit{font-size:12px;fill:var(--mute)}\
.legend{list-style:none;margin:0;padding:0;flex:1;min-width:0;font-size:13px}.legend li{display:flex;align-items:center;gap:6px;padding:2px 0}\
.legend .name{flex:1;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.legend .num{font-variant-numeric:tabular-nums;font-weight:600}.legend .pct{color:var(--mute);width:48px;text-align:right;font-variant-numeric:tabular-nums}\
.legend.inline{display:flex;flex-wrap:wrap;gap:4px 20px;margin-top:8px}.legend.inline .name{flex:none}\
.swatch{width:10px;height:10px;border-radius:3px;flex:none}\
.trend{display:block}.grid line,.trend .grid{stroke:var(--line)}.trend .axis{stroke:#98a2b3}.trend .xtick{stroke:#98a2b3}.trend text{font-size:11px;fill:var(--mute)}\
table{width:100%;border-collapse:collapse;font-size:13px}th{text-align:left;color:var(--mute);font-weight:500;font-size:12px;border-bottom:1px solid var(--line);padding:6px 8px}\
td{border-bottom:1px solid var(--line);padding:7px 8px;vertical-align:top;overflow-wrap:anywhere}.n{text-align:right;font-variant-numeric:tabular-nums}.t{white-space:nowrap;font-variant-numeric:tabular-nums}\
.ev{color:var(--mute);font-size:12px}.msg{max-width:420px}.rcpt{color:var(--mute)}\
.events tr.lv-error td:first-child{box-shadow:inset 3px 0 var(--bad)}.events tr.lv-warn td:first-child{box-shadow:inset 3px 0 var(--warn)}\
.pill,.st{display:inline-block;border-radius:999px;padding:0 8px;font-size:12px;font-weight:500}.ok{background:#e3f4ea;color:var(--ok)}.bad{background:#fde8e8;color:var(--bad)}.warn{background:#fdf3dc;color:var(--warn)}.none{background:#eef0f3;color:var(--mute)}\
.bar{display:inline-block;width:60px;height:6px;background:#fde8e8;border-radius:3px;margin-right:8px;vertical-align:middle;overflow:hidden}.bar i{display:block;height:100%;background:#59a14f}\
details summary{cursor:pointer;color:var(--mute);white-space:nowrap}.ctx{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:6px 0 0;font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}.ctx dt{color:var(--mute)}.ctx dd{margin:0}\
.empty{color:var(--mute);margin:0}.note{color:var(--mute);font-size:12px;margin:10px 0 0}\
footer{color:var(--mute);font-size:12px;text-align:center;margin-top:18px}\
@media (max-width:1000px){.grid{grid-template-columns:1fr}}";
