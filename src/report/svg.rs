//! The charts, drawn by hand as inline SVG: a donut of shares with its
//! legend, and a line chart of counts over time with axes and a legend.
//!
//! Hand-written rather than a charting crate: two chart kinds need a few
//! hundred lines, the output stays small and fully under control (every
//! label escaped, no script, no external reference), and the page needs
//! no JavaScript to show them.

use std::f64::consts::PI;
use std::fmt::Write;

use super::html::{count, esc, percent};

/// One slice of a donut.
pub(crate) struct Slice {
    pub(crate) label: String,
    pub(crate) count: u64,
    pub(crate) color: &'static str,
}

/// The palette for categories, distinct in hue and lightness; [`GREY`]
/// is kept for `other` and for "no push".
pub(crate) const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948", "#ff9da7",
];
/// Colour of what is summed or absent.
pub(crate) const GREY: &str = "#b4b0ab";

/// A donut of `slices` (drawn clockwise from the top, in order) with its
/// total in the middle, and an HTML legend with counts and percentages.
/// Slices of zero are left out of the ring but stay in the legend.
pub(crate) fn donut(id: &str, title: &str, slices: &[Slice]) -> String {
    let total: u64 = slices.iter().map(|s| s.count).sum();
    let r = 70.0;
    let circumference = 2.0 * PI * r;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="donut" id="{id}" viewBox="0 0 200 200" width="200" height="200" role="img" aria-label="{}">"#,
        esc(title)
    );
    let _ = write!(
        svg,
        r##"<circle cx="100" cy="100" r="{r}" fill="none" stroke="#eef0f3" stroke-width="34"/>"##
    );
    let mut at = 0.0;
    for s in slices.iter().filter(|s| s.count > 0) {
        let len = s.count as f64 / total as f64 * circumference;
        let _ = write!(
            svg,
            r#"<circle class="slice" data-label="{}" data-count="{}" cx="100" cy="100" r="{r}" fill="none" stroke="{}" stroke-width="34" stroke-dasharray="{len:.3} {:.3}" stroke-dashoffset="{:.3}" transform="rotate(-90 100 100)"><title>{}: {} ({})</title></circle>"#,
            esc(&s.label),
            s.count,
            s.color,
            circumference - len,
            -at,
            esc(&s.label),
            count(s.count),
            percent(s.count, total),
        );
        at += len;
    }
    let _ = write!(
        svg,
        r#"<text x="100" y="98" text-anchor="middle" class="donut-total">{}</text><text x="100" y="120" text-anchor="middle" class="donut-unit">records</text></svg>"#,
        count(total)
    );
    let mut legend = format!(r#"<ul class="legend" data-for="{id}">"#);
    for s in slices {
        let _ = write!(
            legend,
            r#"<li data-label="{}" data-count="{}"><span class="swatch" style="background:{}"></span><span class="name">{}</span><span class="num">{}</span><span class="pct">{}</span></li>"#,
            esc(&s.label),
            s.count,
            s.color,
            esc(&s.label),
            count(s.count),
            percent(s.count, total),
        );
    }
    legend.push_str("</ul>");
    format!(r#"<div class="donut-box">{svg}{legend}</div>"#)
}

/// One line of a line chart.
pub(crate) struct Line<'a> {
    pub(crate) name: &'a str,
    pub(crate) counts: &'a [u64],
    pub(crate) color: &'static str,
}

const W: f64 = 1000.0;
const H: f64 = 280.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 34.0;

/// The step of a y axis with at most five intervals: 1, 2 or 5 times a
/// power of ten.
fn nice_step(max: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            let s = step.saturating_mul(m);
            if max.div_ceil(s) <= 5 {
                return s;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// A line chart of counts per bucket: `starts` are the buckets' start
/// times (`2026-11-20T12:00:00Z`), one point per bucket on each line.
pub(crate) fn line_chart(starts: &[String], every_s: u64, lines: &[Line<'_>]) -> String {
    let n = starts.len();
    let max = lines
        .iter()
        .flat_map(|l| l.counts.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let step = nice_step(max);
    let top = max.div_ceil(step) * step;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |i: usize| {
        if n <= 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: u64| TOP + plot_h - plot_h * v as f64 / top as f64;
    let mut svg = format!(
        r#"<svg class="trend" viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="new events over time">"#
    );
    // The y axis: grid lines and counts.
    let mut v = 0;
    while v <= top {
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="ytick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 8.0,
            y(v) + 4.0,
            count(v),
            y = y(v),
        );
        v += step;
    }
    // The x axis: about eight labels, the date shown where it changes.
    let every = n.div_ceil(8).max(1);
    let mut last_date = "";
    for (i, start) in starts.iter().enumerate() {
        if !i.is_multiple_of(every) {
            continue;
        }
        let date = start.get(..10).unwrap_or("");
        let clock = start.get(11..16).unwrap_or("");
        let label = if every_s >= 86_400 {
            start.get(5..10).unwrap_or("").to_owned()
        } else if date != last_date {
            format!("{} {clock}", start.get(5..10).unwrap_or(""))
        } else {
            clock.to_owned()
        };
        last_date = date;
        let _ = write!(
            svg,
            r#"<line class="xtick" x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}"/><text class="xlabel" x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
            H - BOTTOM,
            H - BOTTOM + 5.0,
            H - BOTTOM + 20.0,
            esc(&label),
            x = x(i),
        );
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" x2="{}" y1="{}" y2="{}"/>"#,
        W - RIGHT,
        H - BOTTOM,
        H - BOTTOM
    );
    for l in lines {
        let points: Vec<String> = l
            .counts
            .iter()
            .enumerate()
            .map(|(i, &c)| format!("{:.1},{:.1}", x(i), y(c)))
            .collect();
        let total: u64 = l.counts.iter().sum();
        let _ = write!(
            svg,
            r#"<polyline class="line" data-name="{}" data-total="{total}" fill="none" stroke="{}" stroke-width="2" stroke-linejoin="round" vector-effect="non-scaling-stroke" points="{}"/>"#,
            esc(l.name),
            l.color,
            points.join(" ")
        );
        // Points are marked where there are few, so one bucket still shows.
        if n <= 40 {
            for (i, &c) in l.counts.iter().enumerate() {
                let _ = write!(
                    svg,
                    r#"<circle class="point" cx="{:.1}" cy="{:.1}" r="3" fill="{}"><title>{} {}: {}</title></circle>"#,
                    x(i),
                    y(c),
                    l.color,
                    esc(&starts[i]),
                    esc(l.name),
                    count(c)
                );
            }
        }
    }
    svg.push_str("</svg>");
    let all: u64 = lines.iter().flat_map(|l| l.counts.iter()).sum();
    let mut legend = String::from(r#"<ul class="legend inline" data-for="trend">"#);
    for l in lines {
        let total: u64 = l.counts.iter().sum();
        let _ = write!(
            legend,
            r#"<li data-label="{}" data-count="{total}"><span class="swatch" style="background:{}"></span><span class="name">{}</span><span class="num">{}</span><span class="pct">{}</span></li>"#,
            esc(l.name),
            l.color,
            esc(l.name),
            count(total),
            percent(total, all)
        );
    }
    legend.push_str("</ul>");
    format!("{svg}{legend}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(nice_step(1), 1);
        assert_eq!(nice_step(7), 2);
        assert_eq!(nice_step(23), 5);
        assert_eq!(nice_step(480), 100);
        assert_eq!(nice_step(1001), 500);
    }

    #[test]
    fn a_donut_has_a_slice_per_nonzero_share_and_a_legend_row_each() {
        let s = |label: &str, count| Slice {
            label: label.to_owned(),
            count,
            color: GREY,
        };
        let html = donut("d", "t", &[s("a", 3), s("<b>", 1), s("c", 0)]);
        assert_eq!(html.matches(r#"class="slice""#).count(), 2);
        assert_eq!(html.matches("<li ").count(), 3);
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"));
        assert!(html.contains("75.0%"));
    }

    #[test]
    fn a_single_bucket_still_shows_a_point() {
        let starts = ["2026-11-20T12:00:00Z".to_owned()];
        let html = line_chart(
            &starts,
            60,
            &[Line {
                name: "info",
                counts: &[4],
                color: GREY,
            }],
        );
        assert_eq!(html.matches(r#"class="point""#).count(), 1);
        assert!(html.contains(r#"points="520.0,14.0""#), "{html}");
    }
}
