//! `evtrail report` and `evtrail::report` on logs written by the real
//! pipeline: the page's numbers equal `evtrail stats --format json`,
//! everything from the logs is escaped, bad input gives a page that says
//! so or a clear error — and the page in a real headless Chromium:
//! rendered (not blank), its charts in the DOM, no network request.
//! Needs the `cli` and `http` features: `cargo test --all-features`.
//!
//! The browser test runs when `chromium` is installed; it is skipped with
//! a line saying so otherwise, except when `EVTRAIL_BROWSER_TEST=required`
//! (as CI sets it), where a missing browser fails it.

mod common;
#[path = "support/console.rs"]
mod console;
#[path = "support/http_server.rs"]
mod http_server;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{CliRun, WAIT, dispatch, evtrail};
use console::{FROM, TO, shop};
use serde_json::Value;

fn run_report(dir: &Path, out: &Path, args: &[&str]) -> CliRun {
    let mut all = vec![
        "report".to_owned(),
        dir.display().to_string(),
        "--out".to_owned(),
        out.display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    evtrail(all, &[])
}

fn stats_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec![
        "stats".to_owned(),
        dir.display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let run = evtrail(all, &[]);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}){run}"))
}

/// The `(data-label, data-count)` pairs of the legend for `id`, in order.
fn legend(html: &str, id: &str) -> Vec<(String, u64)> {
    let start = html
        .find(&format!(r#"data-for="{id}""#))
        .unwrap_or_else(|| panic!("no legend for {id}"));
    let end = start + html[start..].find("</ul>").unwrap();
    attr_pairs(&html[start..end], "<li ")
}

/// `data-label` and `data-count` of each element starting with `open`.
fn attr_pairs(html: &str, open: &str) -> Vec<(String, u64)> {
    html.split(open)
        .skip(1)
        .map(|el| {
            (
                attr(el, "data-label"),
                attr(el, "data-count").parse().unwrap(),
            )
        })
        .collect()
}

fn attr(el: &str, name: &str) -> String {
    let at = el
        .find(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {el}"))
        + name.len()
        + 2;
    let len = el[at..].find('"').unwrap();
    unescape(&el[at..at + len])
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// What a donut must show for `counts` (a `Counts` in JSON): the eight
/// largest and `other`.
fn donut_of(counts: &Value) -> Vec<(String, u64)> {
    let top = counts["top"].as_array().unwrap();
    let mut out: Vec<(String, u64)> = top
        .iter()
        .take(8)
        .map(|c| {
            let k = c["key"][0].as_str().unwrap();
            (
                if k.is_empty() {
                    "(none)".into()
                } else {
                    k.to_owned()
                },
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let all: u64 = top
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum::<u64>()
        + counts["rest"].as_u64().unwrap();
    let shown: u64 = out.iter().map(|s| s.1).sum();
    if all > shown {
        out.push(("other".into(), all - shown));
    }
    out
}

/// Checks that every number of `html` (the page as written, or the DOM a
/// browser made of it) equals the summary `v`.
fn assert_page_equals_stats(html: &str, v: &Value) {
    let total = v["total"].as_u64().unwrap();
    assert!(
        html.contains(&format!(r#"id="total" data-count="{total}""#)),
        "total {total}"
    );
    assert_eq!(legend(html, "donut-events"), donut_of(&v["events"]));
    assert_eq!(legend(html, "donut-classes"), donut_of(&v["classes"]));
    let p = &v["push"]["records"];
    assert_eq!(
        legend(html, "donut-push"),
        [
            ("success".to_owned(), p["ok"].as_u64().unwrap()),
            ("failure".to_owned(), p["failed"].as_u64().unwrap()),
            ("no push".to_owned(), p["none"].as_u64().unwrap()),
        ]
    );
    // The trend: a legend row and a polyline per line, a point per bucket.
    let lines = v["series"]["lines"].as_array().unwrap();
    let want: Vec<(String, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_owned(),
                l["total"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(legend(html, "trend"), want);
    let buckets = v["series"]["starts"].as_array().unwrap().len();
    let polylines: Vec<&str> = html.split("<polyline ").skip(1).collect();
    assert_eq!(polylines.len(), lines.len());
    for (p, l) in polylines.iter().zip(lines) {
        assert_eq!(attr(p, "data-name"), l["name"].as_str().unwrap());
        assert_eq!(attr(p, "points").split_whitespace().count(), buckets);
    }
    // Each donut has a slice per share that is not zero.
    for id in ["donut-events", "donut-classes", "donut-push"] {
        let start = html.find(&format!(r#"id="{id}""#)).unwrap();
        let svg = &html[start..start + html[start..].find("</svg>").unwrap()];
        let slices = attr_pairs(svg, r#"<circle class="slice" "#);
        let nonzero: Vec<_> = legend(html, id).into_iter().filter(|s| s.1 > 0).collect();
        assert_eq!(slices, nonzero, "{id}");
    }
}

#[test]
fn the_numbers_in_the_page_equal_stats_json() {
    let shop = shop();
    let out = shop.root.path().join("report.html");
    let key = shop.key_file.display().to_string();
    let args = ["--from", FROM, "--to", TO, "--key-file", &key];
    let run = run_report(&shop.logs, &out, &args);
    assert_eq!(run.code, Some(0), "{run}");
    let html = fs::read_to_string(&out).unwrap();
    let v = stats_json(&shop.logs, &args);
    assert_page_equals_stats(&html, &v);
    // The header: who, when, and the verdict.
    assert!(html.contains(r#"<dd id="services">shop</dd>"#));
    assert!(html.contains(r#"<dd id="hosts">web-1</dd>"#));
    assert!(html.contains("2026-11-20 12:00:00Z .. 2026-11-20 13:00:00Z"));
    assert!(
        html.contains(r#"class="verdict ok""#),
        "a genuine log is verified"
    );
    let total = v["total"].as_u64().unwrap();
    assert!(html.contains(&format!(
        "{} of {} records in this report have a valid signature",
        thin(total),
        thin(total)
    )));
    // The latest events: 200 rows by default, newest first.
    assert_eq!(html.matches("<details>").count(), 200);
    // A --by dimension splits the trend instead of the class.
    let v = stats_json(&shop.logs, &["--from", FROM, "--to", TO, "--by", "tenant"]);
    run_report(
        &shop.logs,
        &out,
        &["--from", FROM, "--to", TO, "--by", "tenant", "--rows", "5"],
    );
    let html = fs::read_to_string(&out).unwrap();
    assert_page_equals_stats(&html, &v);
    assert_eq!(v["series"]["dimension"], "tenant");
    assert_eq!(html.matches("<details>").count(), 5);
    // Self-contained: no URL, no script, no external style or font.
    for bad in [
        "http://", "https://", "<script", "<link", "@import", "url(", "src=",
    ] {
        assert!(!html.contains(bad), "the page holds `{bad}`");
    }
}

/// `1234` as the page shows it, with thin spaces.
fn thin(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

const HOSTILE: &str = r#"<script>document.title='pwned'</script><img src=x onerror="document.title='pwned'">"quoted" & 'single'"#;

/// A log whose values, names and message carry markup.
fn hostile_log(dir: &Path) {
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("<b>svc</b>")
        .host("h\"ost")
        .log_dir(dir)
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        tracing::error!(
            event = HOSTILE,
            tenant = HOSTILE,
            status = "critical",
            note = HOSTILE,
            "{HOSTILE}"
        );
        tracing::info!(event = "plain", "</td></tr></table><h1>broken out</h1>");
    });
    guard.flush(WAIT).unwrap();
    drop(guard);
}

#[test]
fn values_with_markup_are_shown_as_text() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    hostile_log(&logs);
    let out = root.path().join("r.html");
    let run = run_report(
        &logs,
        &out,
        &["--all-time", "--title", "<i>t</i>", "--by", "tenant"],
    );
    assert_eq!(run.code, Some(0), "{run}");
    let html = fs::read_to_string(&out).unwrap();
    for raw in [
        "<script",
        "<img",
        "<h1>broken",
        "<b>svc",
        "<i>t</i>",
        "onerror=\"",
        "h\"ost",
    ] {
        assert!(!html.contains(raw), "`{raw}` reached the page unescaped");
    }
    assert!(html.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"));
    assert!(html.contains("&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;h1&gt;broken out&lt;/h1&gt;"));
    assert!(html.contains("&lt;b&gt;svc&lt;/b&gt;"));
    // The incident's key and last message come from the logs too.
    assert!(
        html.contains(
            r#"<section class="card" id="incidents"><h2>Open incidents <small>1</small>"#
        )
    );
    // In a browser with JavaScript on: nothing ran (a script would have
    // changed the title), and the text shows literally.
    let Some(browser) = browser() else { return };
    let dom = browser.dump_dom(&out, true);
    assert!(
        dom.contains("<title>&lt;i&gt;t&lt;/i&gt;</title>"),
        "the title was not changed by a script"
    );
    assert!(!dom.contains("pwned</title>"));
    assert!(
        !dom.contains("<img") && !dom.contains("<script"),
        "no element came from the logs"
    );
    assert!(
        dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
        "shown as text"
    );
}

#[test]
fn no_records_gives_a_page_that_says_so() {
    let root = tempfile::tempdir().unwrap();
    let shop = shop();
    let out = root.path().join("empty.html");
    let run = run_report(
        &shop.logs,
        &out,
        &["--from", "2020-01-01", "--to", "2020-01-02"],
    );
    assert_eq!(run.code, Some(1), "{run}");
    let html = fs::read_to_string(&out).unwrap();
    assert!(html.contains(r#"id="no-records""#));
    assert!(html.contains("No records in 2020-01-01 00:00:00Z .. 2020-01-02 00:00:00Z"));
    assert!(!html.contains("<svg"), "no empty charts");
    assert!(html.contains("No open incidents."));
}

#[test]
fn one_record_makes_one_point_and_ten_thousand_events_one_donut() {
    let root = tempfile::tempdir().unwrap();
    let one = root.path().join("one");
    let (layer, guard) = evtrail::builder().unsigned().log_dir(&one).build().unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || tracing::info!(event = "only", "alone"));
    guard.flush(WAIT).unwrap();
    drop(guard);
    let out = root.path().join("one.html");
    assert_eq!(run_report(&one, &out, &["--all-time"]).code, Some(0));
    let html = fs::read_to_string(&out).unwrap();
    assert_page_equals_stats(&html, &stats_json(&one, &["--all-time"]));
    assert_eq!(html.matches(r#"class="point""#).count(), 1);
    // `--out -` writes the same page to standard output.
    let run = evtrail(
        [
            "report",
            &one.display().to_string(),
            "--all-time",
            "--out",
            "-",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{run}");
    let strip = |p: &str| p[..p.find("<footer>").unwrap()].to_owned();
    assert_eq!(
        strip(&run.stdout),
        strip(&html),
        "the same page, up to the time it was made"
    );

    let many = root.path().join("many");
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .log_dir(&many)
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for i in 0..10_000 {
            tracing::info!(event = format!("event_{i:05}"), "e");
        }
    });
    guard.flush(WAIT).unwrap();
    drop(guard);
    let out = root.path().join("many.html");
    assert_eq!(
        run_report(&many, &out, &["--all-time", "--rows", "50"]).code,
        Some(0)
    );
    let html = fs::read_to_string(&out).unwrap();
    assert_page_equals_stats(&html, &stats_json(&many, &["--all-time"]));
    let events = legend(&html, "donut-events");
    assert_eq!(events.len(), 9);
    assert_eq!(events[8], ("other".to_owned(), 10_000 - 8));
    assert!(
        html.len() < 200_000,
        "the page does not grow with the records: {} bytes",
        html.len()
    );
}

#[test]
fn non_utf8_bytes_and_an_unwritable_out_are_handled() {
    let shop = shop();
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(shop.logs.join("app.log"))
        .unwrap();
    f.write_all(b"{\"v\":1,\"stream\":\"app\",\"ts\":\"2026-11-20T12:30:00.000000Z\",\"msg\":\"\xff\xfe\"}\n").unwrap();
    drop(f);
    let out = shop.root.path().join("r.html");
    let run = run_report(&shop.logs, &out, &["--from", FROM, "--to", TO]);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stderr.contains("could not be read"), "{run}");
    assert_page_equals_stats(
        &fs::read_to_string(&out).unwrap(),
        &stats_json(&shop.logs, &["--from", FROM, "--to", TO]),
    );

    for bad in [
        shop.root.path().join("no/such/dir/r.html"),
        shop.logs.clone(),
    ] {
        let run = run_report(&shop.logs, &bad, &["--from", FROM, "--to", TO]);
        assert_eq!(run.code, Some(2), "{run}");
        assert!(
            run.stderr
                .contains(&format!("cannot write `{}`", bad.display())),
            "{run}"
        );
    }
    let leftovers: Vec<_> = fs::read_dir(&shop.logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_library_writes_to_any_writer_and_returns_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (disk, _db) = console::chat_fixture(dir.path());
    let query = evtrail::query::Query::new(
        evtrail::query::Filter::new()
            .add_any_of("event", ["disk_full", "db_down"])
            .unwrap(),
        evtrail::query::TimeRange::all(),
    );
    let mut page = Vec::new();
    let summary = evtrail::report::Report::new()
        .rows(20)
        .write(&query, &[dir.path()], &mut page)
        .unwrap();
    let html = String::from_utf8(page).unwrap();
    assert_eq!(summary.total, 10);
    assert_eq!(
        legend(&html, "donut-push"),
        [
            ("success".into(), 7),
            ("failure".into(), 2),
            ("no push".into(), 1)
        ]
    );
    // The events list says where each record was pushed, and how.
    assert!(html.contains(r#"<span class="pill ok">ok</span> ops-chat/dingtalk <span class="rcpt">→ 13800000000,@all</span>"#));
    assert!(html.contains(r#"<span class="pill bad">failed</span> ops-chat/feishu <span class="rcpt">→ ops-group</span>"#));
    assert_eq!(
        html.matches(r#"<span class="pill none">no push</span>"#)
            .count(),
        1
    );
    assert!(html.contains(r#"<tr data-sink="ops-chat"><td>ops-chat</td><td>wecom</td>"#));
    assert_eq!(disk.len(), 6);
    // A writer that fails is an error, not a panic.
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let e = evtrail::report::Report::new()
        .write(&query, &[dir.path()], Broken)
        .unwrap_err();
    assert_eq!(e.kind(), evtrail::ErrorKind::Io);
}

// ---- the browser ----

/// A headless Chromium, each run with a fresh profile, background
/// networking turned off as far as flags go, and its proxy a loopback
/// port this test listens on: any request the page made would arrive
/// there.
struct Browser {
    exe: PathBuf,
}

fn browser() -> Option<Browser> {
    let exe = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if exe.is_none() {
        assert!(
            std::env::var("EVTRAIL_BROWSER_TEST").as_deref() != Ok("required"),
            "EVTRAIL_BROWSER_TEST=required but chromium is not installed"
        );
        eprintln!(
            "skipped: chromium is not installed (apt-get install chromium), the page was not checked in a browser"
        );
    }
    exe.map(|exe| Browser { exe })
}

impl Browser {
    /// Runs Chromium on `page` with `args`; returns its stdout and the
    /// requests that reached the proxy, other than the browser's own
    /// (see [`own_request`]).
    fn run(&self, page: &Path, args: &[&str]) -> (String, Vec<String>) {
        let profile = tempfile::tempdir().unwrap();
        let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
        proxy.set_nonblocking(true).unwrap();
        let mut child = Command::new(&self.exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!(
                "--proxy-server=http://{}",
                proxy.local_addr().unwrap()
            ))
            .arg("--proxy-bypass-list=<-loopback>")
            .args(args)
            .arg(format!("file://{}", page.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut requests = Vec::new();
        let mut take = |proxy: &TcpListener| {
            while let Ok((mut conn, _)) = proxy.accept() {
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut head = [0u8; 512];
                let n = conn.read(&mut head).unwrap_or(0);
                let text = String::from_utf8_lossy(&head[..n]);
                let line = text.lines().next().unwrap_or("").to_owned();
                if own_request(&line) {
                    eprintln!("(chromium's own request, not the page's: {line})");
                } else {
                    requests.push(line);
                }
            }
        };
        loop {
            take(&proxy);
            if child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "chromium did not finish");
            std::thread::sleep(Duration::from_millis(50));
        }
        take(&proxy);
        (reader.join().unwrap(), requests)
    }

    /// The DOM Chromium builds of `page`; with `javascript` off, what a
    /// reader who blocks scripts sees.
    fn dump_dom(&self, page: &Path, javascript: bool) -> String {
        let mut args = vec!["--dump-dom"];
        if !javascript {
            args.push("--disable-javascript");
        }
        let (dom, requests) = self.run(page, &args);
        assert!(
            requests.is_empty(),
            "the page made network requests: {requests:?}"
        );
        assert!(dom.contains("</html>"), "no DOM: {dom}");
        dom
    }
}

/// Whether a proxied request (its request line) is one Chromium makes for
/// itself whatever the page — its clock, component updates, account
/// checks — which no flag fully turns off. They go to Google's service
/// hosts; the report names no host at all (checked on the HTML), so a
/// request of the page's would go elsewhere.
fn own_request(line: &str) -> bool {
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let host = target
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    [
        "google.com",
        "googleapis.com",
        "gvt1.com",
        "gstatic.com",
        "googleusercontent.com",
    ]
    .iter()
    .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// The pixels of an 8-bit RGB or RGBA PNG, as `(width, height, rgb)`.
fn png_pixels(png: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (mut at, mut idat) = (8, Vec::new());
    let (mut w, mut h, mut channels) = (0, 0, 0);
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let data = &png[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                h = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "8-bit");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("colour type {t}"),
                };
                assert_eq!(data[12], 0, "not interlaced");
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = w * channels;
    let mut prev = vec![0u8; stride];
    let mut pixels = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        let mut cur = row[1..].to_vec();
        for i in 0..stride {
            let a = if i >= channels {
                cur[i - channels] as i16
            } else {
                0
            };
            let b = prev[i] as i16;
            let c = if i >= channels {
                prev[i - channels] as i16
            } else {
                0
            };
            let add = match row[0] {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("filter {f}"),
            };
            cur[i] = cur[i].wrapping_add(add as u8);
        }
        pixels.extend(cur.chunks(channels).map(|p| [p[0], p[1], p[2]]));
        prev = cur;
    }
    (w, h, pixels)
}

#[test]
fn the_page_in_headless_chromium_shows_its_charts_offline() {
    let Some(browser) = browser() else { return };
    let p = console::pushed();
    let out = p.root.path().join("report.html");
    let args = ["--all-time", "--title", "Shop deliveries"];
    let run = run_report(&p.logs, &out, &args);
    assert_eq!(run.code, Some(0), "{run}");
    let v = stats_json(&p.logs, &args[..1]);
    assert!(
        v["push"]["sinks"][0]["failed"].as_u64().unwrap() > 0,
        "the log holds failed pushes"
    );

    // The DOM the browser built, with JavaScript off: the charts are there
    // and their numbers are the stats.
    let dom = browser.dump_dom(&out, false);
    assert_page_equals_stats(&dom, &v);
    assert_eq!(dom.matches("<svg").count(), 4, "a trend and three donuts");
    assert!(dom.contains(r#"<tr data-sink="hook">"#));

    // The screenshot is not blank: many colours, and the charts' own
    // colours cover real areas.
    let shot = p.root.path().join("shot.png");
    let (_, requests) = browser.run(
        &out,
        &[
            "--disable-javascript",
            "--window-size=1400,1000",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(
        requests.is_empty(),
        "the page made network requests: {requests:?}"
    );
    let (w, h, pixels) = png_pixels(&fs::read(&shot).unwrap());
    assert_eq!((w, h), (1400, 1000));
    let mut colours: BTreeMap<[u8; 3], usize> = BTreeMap::new();
    for px in &pixels {
        *colours.entry(*px).or_default() += 1;
    }
    assert!(
        colours.len() > 200,
        "only {} colours: a blank page?",
        colours.len()
    );
    let area = |hex: &str| {
        let rgb = [0, 2, 4].map(|i| u8::from_str_radix(&hex[1 + i..3 + i], 16).unwrap());
        colours.get(&rgb).copied().unwrap_or(0)
    };
    // Success green (push donut, the info class), failure red, no-push grey.
    for (name, hex) in [
        ("success", "#59a14f"),
        ("failure", "#e15759"),
        ("other", "#b4b0ab"),
    ] {
        assert!(
            area(hex) > 300,
            "{name} ({hex}) covers {} pixels",
            area(hex)
        );
    }
}
