//! The HTTP sink's own thread: forms requests, sends them, retries, and
//! reports every attempt.

use std::borrow::Cow;
use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use flate2::Compression;
use flate2::write::GzEncoder;
use tracing::Level;

use super::catchup;
use super::request::Request;
use super::retry_after::parse_retry_after;
use super::{CatchUp, Chunk, Control, Encode, HttpSinkBuilder, State, Verdict};
use crate::record::Record;
use crate::redact::{MASK, Redactor};
use crate::sink::LostRanges;
use crate::thread::mark_evtrail_thread;
use crate::time::{now_nanos, write_ts};

/// How much of an error answer is kept for the dead-letter file and the
/// `evtrail.push` event.
const EXCERPT_BYTES: usize = 512;
/// How much of a successful answer an encoder may inspect.
const MAX_ANSWER_BYTES: u64 = 16 << 20;

/// How one attempt ended.
enum Outcome {
    Delivered(u16),
    Retry {
        status: Option<u16>,
        retry_after: Option<Duration>,
        error: String,
    },
    Rejected {
        status: Option<u16>,
        reason: String,
        excerpt: String,
    },
}

pub(super) struct Sender {
    name: String,
    url: String,
    agent: ureq::Agent,
    encoder: Arc<dyn Encode>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    gzip: bool,
    batch_records: usize,
    batch_bytes: usize,
    batch_wait: Duration,
    backoff: (Duration, Duration),
    max_retry_after: Duration,
    max_attempts: u32,
    state: Arc<State>,
    queue: Receiver<Chunk>,
    control: Receiver<Control>,
    dead_letter: PathBuf,
    /// The dead-letter file's caps and what it holds.
    dead_letter_max: (u64, u64),
    dead_letter_held: (u64, u64),
    /// Configured credentials, masked in every answer kept or reported.
    secrets: Vec<String>,
    redactor: Redactor,
    /// What to send again from the log files before anything else.
    catch_up: Option<CatchUp>,
    stopping: bool,
    /// The retries' jitter.
    rng: fastrand::Rng,
}

impl Sender {
    pub(super) fn new(
        s: &HttpSinkBuilder,
        state: Arc<State>,
        queue: Receiver<Chunk>,
        control: Receiver<Control>,
        dead_letter: PathBuf,
        catch_up: Option<CatchUp>,
    ) -> Sender {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(s.connect_timeout))
            .timeout_global(Some(s.timeout))
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(format!("evtrail/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let dead_letter_held = held_by(&dead_letter);
        Sender {
            name: s.name.clone(),
            url: s.url.clone(),
            agent,
            query: s.encoder.query(),
            encoder: s.encoder.clone(),
            headers: s.headers.clone(),
            gzip: s.gzip,
            batch_records: s.batch_records,
            batch_bytes: s.batch_bytes,
            batch_wait: s.batch_wait,
            backoff: s.backoff,
            max_retry_after: s.max_retry_after,
            max_attempts: s.max_attempts,
            state,
            queue,
            control,
            dead_letter,
            dead_letter_max: (s.dead_letter_max_bytes, s.dead_letter_max_records),
            dead_letter_held,
            secrets: s.secrets.clone(),
            redactor: Redactor::default(),
            catch_up,
            stopping: false,
            rng: fastrand::Rng::new(),
        }
    }

    pub(super) fn run(mut self) {
        mark_evtrail_thread();
        let name = self.name.clone();
        let run = std::panic::AssertUnwindSafe(|| self.serve());
        if std::panic::catch_unwind(run).is_err() {
            // The records in memory are saved to the spool at close.
            eprintln!("evtrail: HTTP sink `{name}` stopped after a panic");
        }
    }

    fn serve(&mut self) {
        if !self.catch_up() {
            return;
        }
        while let Some(req) = self.next_request() {
            let req = Arc::new(req);
            {
                let mut sp = self.state.lock_spool();
                if self.state.closed.load(Ordering::Acquire) {
                    return;
                }
                sp.in_flight = Some(req.clone());
            }
            if self.stopping || !self.deliver(&req) {
                // Left in flight: closing saves it.
                return;
            }
            let mut sp = self.state.lock_spool();
            if !sp.in_flight.as_ref().is_some_and(|r| Arc::ptr_eq(r, &req)) {
                // Closing took the records over while the request ran.
                return;
            }
            sp.in_flight = None;
            match req.spool_id {
                Some(id) => {
                    if let Err(e) = sp.spool.settle_front(id) {
                        eprintln!(
                            "evtrail: HTTP sink `{}` cannot remove a delivered spool file: {e}",
                            self.name
                        );
                    }
                    self.state.publish(&sp);
                }
                None => {
                    self.state
                        .counters
                        .in_memory
                        .fetch_sub(req.len(), Ordering::Relaxed);
                }
            }
            drop(sp);
            self.state.advance(&req);
            self.state.progress.add_settled(req.len());
        }
    }

    /// Sends again what the log files hold beyond the cursor (records a
    /// crash took from memory), in order, before anything else. `false`
    /// when the sink closed first: the cursor has not passed what was not
    /// delivered, so the next start sends it again.
    fn catch_up(&mut self) -> bool {
        let Some(plan) = self.catch_up.take() else {
            return true;
        };
        let skip = Arc::new(catchup::spooled(&plan.restored));
        for mut backlog in plan.streams {
            backlog.skip(skip.clone());
            let mut backlog = backlog.read();
            loop {
                let mut req = Request::new();
                while !self.full(&req) {
                    match backlog.next_record() {
                        Some((line, seq)) => {
                            let stream = backlog.stream().clone();
                            req.push_line(&stream, seq, &line);
                        }
                        None => break,
                    }
                }
                if req.entries.is_empty() {
                    break;
                }
                while let Ok(msg) = self.control.try_recv() {
                    self.on_control(Ok(msg));
                }
                // Not in flight for closing to save: the files hold it.
                if self.stopping || !self.deliver(&req) {
                    return false;
                }
                self.state.advance(&req);
            }
        }
        true
    }

    fn urgent(&self) -> bool {
        self.stopping || self.state.progress.is_urgent()
    }

    fn full(&self, req: &Request) -> bool {
        req.sealed || req.entries.len() >= self.batch_records || req.lines.len() >= self.batch_bytes
    }

    /// The oldest records in memory: the rest of a chunk a full request
    /// left over, else the queue's next chunk.
    fn next_chunk(&self) -> Option<Chunk> {
        if let Some(c) = self.state.lock_spool().carry.take() {
            return Some(c);
        }
        self.queue.try_recv().ok()
    }

    /// Adds `chunk` to `req`, keeping what does not fit for the next one.
    fn fill(&self, req: &mut Request, chunk: Chunk) {
        if let Some(rest) = req.fill(chunk, self.batch_records, self.batch_bytes) {
            self.state.lock_spool().carry = Some(rest);
        }
    }

    fn on_control(&mut self, msg: Result<Control, crossbeam_channel::RecvError>) {
        // A closed control channel means the sink is gone.
        if matches!(msg, Ok(Control::Stop) | Err(_)) {
            self.stopping = true;
        }
    }

    /// The next request: records in memory first (they are older than
    /// anything spooled), then the spool's front file. `None` when stopping
    /// with nothing formed.
    fn next_request(&mut self) -> Option<Request> {
        let mut req = Request::new();
        loop {
            while !self.full(&req) {
                match self.next_chunk() {
                    Some(chunk) => self.fill(&mut req, chunk),
                    None => break,
                }
            }
            if self.full(&req) {
                return Some(req);
            }
            if !req.entries.is_empty() {
                let due = req.started + self.batch_wait;
                if self.urgent() || Instant::now() >= due {
                    return Some(req);
                }
                crossbeam_channel::select! {
                    recv(self.queue) -> chunk => if let Ok(c) = chunk { self.fill(&mut req, c) },
                    recv(self.control) -> msg => self.on_control(msg),
                    default(due.saturating_duration_since(Instant::now())) => {}
                }
                continue;
            }
            {
                let mut sp = self.state.lock_spool();
                if self.state.closed.load(Ordering::Acquire) {
                    return None;
                }
                if let Some((id, path)) = sp.spool.take_front() {
                    drop(sp);
                    match self.read_spooled(id, &path) {
                        Ok(req) => return Some(req),
                        Err(e) => {
                            eprintln!(
                                "evtrail: HTTP sink `{}` cannot read its spool file {}: {e}",
                                self.name,
                                path.display()
                            );
                            self.state.lock_spool().spool.untake_front();
                            let wait = self.backoff.1;
                            if !self.pause(wait) {
                                return None;
                            }
                            continue;
                        }
                    }
                }
                if sp.spool.is_empty() {
                    // Caught up: new records may use memory again.
                    sp.active = false;
                }
            }
            if self.stopping {
                return None;
            }
            crossbeam_channel::select! {
                recv(self.queue) -> chunk => match chunk {
                    Ok(c) => self.fill(&mut req, c),
                    Err(_) => return None,
                },
                recv(self.control) -> msg => self.on_control(msg),
            }
        }
    }

    /// Reads a spool file back into a request. Lines that are not records
    /// (a write torn by a crash) are dead-lettered.
    fn read_spooled(&mut self, id: u64, path: &std::path::Path) -> std::io::Result<Request> {
        #[derive(serde::Deserialize)]
        struct Key<'a> {
            #[serde(borrow)]
            stream: Cow<'a, str>,
            seq: u64,
        }
        let data = fs::read(path)?;
        let mut req = Request::new();
        req.spool_id = Some(id);
        let mut stream: Arc<str> = Arc::from("");
        for line in data.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Key<'_>>(line) {
                Ok(key) => {
                    if *stream != *key.stream {
                        stream = Arc::from(&*key.stream);
                    }
                    req.lines.extend_from_slice(line);
                    req.lines.push(b'\n');
                    req.entries.push((stream.clone(), key.seq, req.lines.len()));
                }
                Err(e) => {
                    req.damaged += 1;
                    self.dead_letter_damaged(path, line, &e.to_string());
                }
            }
        }
        Ok(req)
    }

    /// Sends `req` until it is delivered or dead-lettered (`true`), or the
    /// sink is closing (`false`).
    fn deliver(&mut self, req: &Request) -> bool {
        if req.entries.is_empty() {
            return true;
        }
        let outgoing = req.outgoing();
        let mut body = Vec::with_capacity(req.lines.len() + 256);
        if let Err(e) = self.encoder.encode(&outgoing, &mut body) {
            let reason = format!("cannot encode the batch: {e}");
            self.reject(req, None, &reason, "", 1, Duration::ZERO);
            return true;
        }
        if self.gzip {
            let mut gz = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
            if gz.write_all(&body).is_ok()
                && let Ok(zipped) = gz.finish()
            {
                body = zipped;
            }
        }
        let mut attempt = 0;
        let mut answered = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let outcome = self.send(&body);
            let latency = started.elapsed();
            match outcome {
                Outcome::Delivered(status) => {
                    let c = &self.state.counters;
                    c.pushes_ok.fetch_add(1, Ordering::Relaxed);
                    c.delivered.fetch_add(req.len(), Ordering::Relaxed);
                    if !req.only_push_reports() {
                        self.report(req, body.len(), "ok", Some(status), attempt, latency, None);
                    }
                    return true;
                }
                Outcome::Rejected {
                    status,
                    reason,
                    excerpt,
                } => {
                    self.reject(req, status, &reason, &excerpt, attempt, latency);
                    return true;
                }
                Outcome::Retry {
                    status,
                    retry_after,
                    error,
                } => {
                    if status.is_some() {
                        answered += 1;
                        if answered >= self.max_attempts {
                            let reason = format!("gave up after {answered} error answers: {error}");
                            self.reject(req, status, &reason, "", attempt, latency);
                            return true;
                        }
                    }
                    self.state
                        .counters
                        .pushes_failed
                        .fetch_add(1, Ordering::Relaxed);
                    let wait = match retry_after {
                        Some(d) => d.min(self.max_retry_after),
                        None => self.backoff_for(attempt),
                    };
                    let fail = Failure {
                        status,
                        error: &error,
                        retry_in: Some(wait),
                    };
                    self.report_failure(req, body.len(), "retry", attempt, latency, &fail);
                    if !self.pause(wait) {
                        return false;
                    }
                }
            }
        }
    }

    fn send(&self, body: &[u8]) -> Outcome {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", self.encoder.content_type());
        if self.gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        for (k, v) in &self.headers {
            request = request.header(k.as_str(), v.as_str());
        }
        for (k, v) in &self.query {
            request = request.query(k, v);
        }
        let mut response = match request.send(body) {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    status: None,
                    retry_after: None,
                    error: self.scrub(&e.to_string()),
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        let limit = if (200..300).contains(&status) {
            MAX_ANSWER_BYTES
        } else {
            EXCERPT_BYTES as u64
        };
        let mut answer = Vec::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(limit)
            .read_to_end(&mut answer);
        let excerpt = self.scrub(&excerpt(&answer));
        match status {
            200..=299 => match self.encoder.check_response(&answer) {
                Verdict::Delivered => Outcome::Delivered(status),
                Verdict::Retry(why) => Outcome::Retry {
                    status: Some(status),
                    retry_after,
                    error: self.scrub(&why),
                },
                Verdict::Reject(reason) => Outcome::Rejected {
                    status: Some(status),
                    reason: self.scrub(&reason),
                    excerpt,
                },
            },
            408 | 429 | 500..=599 => Outcome::Retry {
                status: Some(status),
                retry_after,
                error: if excerpt.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {excerpt}")
                },
            },
            _ => Outcome::Rejected {
                status: Some(status),
                reason: format!("HTTP {status}"),
                excerpt,
            },
        }
    }

    /// `text` with the sink's configured credentials and anything the
    /// built-in redaction recognises masked: an endpoint may echo the
    /// request's headers back.
    fn scrub(&self, text: &str) -> String {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        self.redactor.redact(&out).into_owned()
    }

    /// The wait before retry `attempt + 1`: doubling from the first
    /// backoff up to the cap, less a random part of up to half.
    fn backoff_for(&mut self, attempt: u32) -> Duration {
        let (first, max) = self.backoff;
        let full = first
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(max);
        full / 2 + (full / 2).mul_f64(self.rng.f64())
    }

    /// Waits `wait`, or until the sink closes (`false`).
    fn pause(&mut self, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        loop {
            if self.stopping {
                return false;
            }
            match self.control.recv_deadline(until) {
                Ok(Control::Urge) => {}
                Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => self.stopping = true,
                Err(RecvTimeoutError::Timeout) => return true,
            }
        }
    }

    /// Counts the failed attempt, moves `req` to the dead-letter file and
    /// reports it.
    fn reject(
        &mut self,
        req: &Request,
        status: Option<u16>,
        reason: &str,
        excerpt: &str,
        attempt: u32,
        latency: Duration,
    ) {
        self.state
            .counters
            .pushes_failed
            .fetch_add(1, Ordering::Relaxed);
        let n = req.entries.len() as u64;
        match self.write_dead_letters(req, status, reason, excerpt) {
            Ok(kept) => {
                self.state
                    .counters
                    .dead_lettered
                    .fetch_add(kept, Ordering::Relaxed);
            }
            Err(e) => {
                eprintln!(
                    "evtrail: HTTP sink `{}` cannot write the dead-letter file {}: {e}; \
                     {n} refused records lost",
                    self.name,
                    self.dead_letter.display()
                );
                self.state.counters.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
        let error = if excerpt.is_empty() {
            reason.to_owned()
        } else {
            format!("{reason}: {excerpt}")
        };
        let fail = Failure {
            status,
            error: &error,
            retry_in: None,
        };
        self.report_failure(req, 0, "rejected", attempt, latency, &fail);
    }

    /// Writes `req`'s records to the dead-letter file, as many as its caps
    /// allow; says how many.
    fn write_dead_letters(
        &mut self,
        req: &Request,
        status: Option<u16>,
        reason: &str,
        excerpt: &str,
    ) -> std::io::Result<u64> {
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(b"{\"time\":\"");
        write_ts(&mut head, now_nanos());
        head.extend_from_slice(b"\",\"sink\":");
        push_json_str(&mut head, &self.name);
        head.extend_from_slice(b",\"status\":");
        match status {
            Some(s) => head.extend_from_slice(s.to_string().as_bytes()),
            None => head.extend_from_slice(b"null"),
        }
        head.extend_from_slice(b",\"reason\":");
        push_json_str(&mut head, reason);
        head.extend_from_slice(b",\"response\":");
        push_json_str(&mut head, excerpt);
        let mut out = Vec::with_capacity(req.lines.len() + req.entries.len() * (head.len() + 48));
        let mut refused = LostRanges::default();
        let (max_bytes, max_records) = self.dead_letter_max;
        let (held_bytes, held_records) = self.dead_letter_held;
        let mut kept = 0;
        for o in req.outgoing() {
            let mark = out.len();
            out.extend_from_slice(&head);
            out.extend_from_slice(b",\"stream\":");
            push_json_str(&mut out, o.stream());
            out.extend_from_slice(format!(",\"seq\":{},\"record\":", o.seq()).as_bytes());
            out.extend_from_slice(o.line());
            out.extend_from_slice(b"}\n");
            if !refused.is_empty()
                || held_bytes + out.len() as u64 > max_bytes
                || held_records + kept >= max_records
            {
                out.truncate(mark);
                refused.add(o.stream(), o.seq());
            } else {
                kept += 1;
            }
        }
        self.note_refused(refused);
        if kept == 0 {
            return Ok(0);
        }
        self.append_dead_letters(&out, kept)?;
        Ok(kept)
    }

    /// Counts records the full dead-letter file could not take, for the
    /// next `evtrail.dropped` notice.
    fn note_refused(&self, refused: LostRanges) {
        if refused.is_empty() {
            return;
        }
        self.state
            .counters
            .dropped
            .fetch_add(refused.count(), Ordering::Relaxed);
        let mut sp = self.state.lock_spool();
        sp.refused.merge(refused);
        self.state.note_drops(&mut sp, false);
    }

    fn dead_letter_damaged(&mut self, file: &std::path::Path, line: &[u8], why: &str) {
        let mut out = Vec::with_capacity(line.len() + 256);
        out.extend_from_slice(b"{\"time\":\"");
        write_ts(&mut out, now_nanos());
        out.extend_from_slice(b"\",\"sink\":");
        push_json_str(&mut out, &self.name);
        out.extend_from_slice(b",\"status\":null,\"reason\":");
        push_json_str(&mut out, &format!("damaged spool line: {why}"));
        out.extend_from_slice(b",\"file\":");
        push_json_str(&mut out, &file.display().to_string());
        out.extend_from_slice(b",\"line\":");
        push_json_str(&mut out, &String::from_utf8_lossy(line));
        out.extend_from_slice(b"}\n");
        let (max_bytes, max_records) = self.dead_letter_max;
        let (held_bytes, held_records) = self.dead_letter_held;
        if held_bytes + out.len() as u64 > max_bytes || held_records >= max_records {
            let mut refused = LostRanges::default();
            refused.add_unnamed();
            self.note_refused(refused);
            return;
        }
        match self.append_dead_letters(&out, 1) {
            Ok(()) => self
                .state
                .counters
                .dead_lettered
                .fetch_add(1, Ordering::Relaxed),
            Err(_) => self.state.counters.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }

    fn append_dead_letters(&mut self, data: &[u8], records: u64) -> std::io::Result<()> {
        if let Some(dir) = self.dead_letter.parent() {
            crate::private::create_dir_all(dir)?;
        }
        let mut f = crate::private::append(&self.dead_letter)?;
        f.write_all(data)?;
        self.dead_letter_held.0 += data.len() as u64;
        self.dead_letter_held.1 += records;
        f.sync_data()
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        req: &Request,
        bytes: usize,
        result: &str,
        status: Option<u16>,
        attempt: u32,
        latency: Duration,
        failure: Option<&Failure<'_>>,
    ) {
        let n = req.entries.len();
        let (level, class, msg) = match (result, failure) {
            ("ok", _) | (_, None) => (
                Level::INFO,
                "info",
                format!("pushed {n} records to sink `{}`", self.name),
            ),
            ("retry", Some(f)) => (
                Level::WARN,
                "error",
                format!(
                    "push of {n} records to sink `{}` failed (attempt {attempt}): {}",
                    self.name, f.error
                ),
            ),
            (_, Some(f)) => (
                Level::ERROR,
                "error",
                format!(
                    "sink `{}` refused {n} records; they are in the dead-letter file: {}",
                    self.name, f.error
                ),
            ),
        };
        let mut rec = Record::internal(level, "evtrail.push", &msg);
        let f = &mut rec.fields;
        f.add_str("class", class);
        f.add_str("sink", &self.name);
        f.add_str("result", result);
        f.add_u64("records", n as u64);
        if bytes > 0 {
            f.add_u64("bytes", bytes as u64);
        }
        if let (Some(first), Some(last)) = (req.entries.first(), req.entries.last()) {
            f.add_u64("first_seq", first.1);
            f.add_u64("last_seq", last.1);
        }
        f.add_str("ranges", &req.ranges());
        if let Some(s) = status.or(failure.and_then(|f| f.status)) {
            f.add_u64("http_status", u64::from(s));
        }
        f.add_u64("attempt", u64::from(attempt));
        f.add_u64("latency_ms", latency.as_millis() as u64);
        if let Some(fail) = failure {
            f.add_str("error", fail.error);
            if let Some(wait) = fail.retry_in {
                f.add_u64("retry_in_ms", wait.as_millis() as u64);
            }
        }
        if result == "rejected" {
            f.add_str("dead_letter", &self.dead_letter.display().to_string());
        }
        self.state.inbox.post(rec);
    }

    fn report_failure(
        &self,
        req: &Request,
        bytes: usize,
        result: &str,
        attempt: u32,
        latency: Duration,
        failure: &Failure<'_>,
    ) {
        self.report(req, bytes, result, None, attempt, latency, Some(failure));
    }
}

/// What went wrong with an attempt, for its report.
struct Failure<'a> {
    status: Option<u16>,
    error: &'a str,
    retry_in: Option<Duration>,
}

/// The bytes and records a dead-letter file left by an earlier run holds.
fn held_by(path: &std::path::Path) -> (u64, u64) {
    let Ok(file) = fs::File::open(path) else {
        return (0, 0);
    };
    let mut reader = std::io::BufReader::new(file);
    let (mut bytes, mut records) = (0u64, 0u64);
    loop {
        let buf = match std::io::BufRead::fill_buf(&mut reader) {
            Ok([]) | Err(_) => break,
            Ok(buf) => buf,
        };
        records += memchr::memchr_iter(b'\n', buf).count() as u64;
        let n = buf.len();
        bytes += n as u64;
        std::io::BufRead::consume(&mut reader, n);
    }
    (bytes, records)
}

fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a `str` to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn excerpt(answer: &[u8]) -> String {
    let cut = answer.len().min(EXCERPT_BYTES);
    String::from_utf8_lossy(&answer[..cut]).trim().to_owned()
}
