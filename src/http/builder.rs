//! The settings of an HTTP sink, their defaults, and their checks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{Encode, HttpSink, Ndjson};
use crate::error::Error;

/// Default [`batch_records`](HttpSinkBuilder::batch_records).
pub const DEFAULT_BATCH_RECORDS: usize = 1_000;
/// Default [`batch_bytes`](HttpSinkBuilder::batch_bytes): 1 MiB.
pub const DEFAULT_BATCH_BYTES: usize = 1 << 20;
/// Default [`batch_wait`](HttpSinkBuilder::batch_wait).
pub const DEFAULT_BATCH_WAIT: Duration = Duration::from_secs(1);
/// Default [`spool_max_bytes`](HttpSinkBuilder::spool_max_bytes): 256 MiB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 << 20;
/// Default [`dead_letter_max_bytes`](HttpSinkBuilder::dead_letter_max_bytes): 64 MiB.
pub const DEFAULT_DEAD_LETTER_MAX_BYTES: u64 = 64 << 20;
/// Default [`dead_letter_max_records`](HttpSinkBuilder::dead_letter_max_records).
pub const DEFAULT_DEAD_LETTER_MAX_RECORDS: u64 = 100_000;

/// Configured values shorter than this are not masked in stored answers.
const MIN_SECRET_LEN: usize = 6;

/// Settings of an [`HttpSink`]; start with [`HttpSink::builder`].
#[derive(Clone)]
#[must_use]
pub struct HttpSinkBuilder {
    pub(super) url: String,
    pub(super) name: String,
    pub(super) encoder: Arc<dyn Encode>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) gzip: bool,
    pub(super) batch_records: usize,
    pub(super) batch_bytes: usize,
    pub(super) batch_wait: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) timeout: Duration,
    pub(super) backoff: (Duration, Duration),
    pub(super) max_retry_after: Duration,
    pub(super) max_attempts: u32,
    pub(super) queue: usize,
    pub(super) spool_dir: Option<PathBuf>,
    pub(super) spool_max_bytes: u64,
    pub(super) dead_letter: Option<PathBuf>,
    pub(super) dead_letter_max_bytes: u64,
    pub(super) dead_letter_max_records: u64,
    /// What the sink was configured with that must never be stored: header
    /// values, tokens, passwords.
    pub(super) secrets: Vec<String>,
}

impl std::fmt::Debug for HttpSinkBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may hold credentials: names only.
        f.debug_struct("HttpSinkBuilder")
            .field("url", &self.url)
            .field("name", &self.name)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("gzip", &self.gzip)
            .field("batch_records", &self.batch_records)
            .field("batch_bytes", &self.batch_bytes)
            .field("batch_wait", &self.batch_wait)
            .field("spool_dir", &self.spool_dir)
            .finish_non_exhaustive()
    }
}

impl HttpSinkBuilder {
    /// Every setting at its default, posting to `url`.
    pub(super) fn new(url: String) -> HttpSinkBuilder {
        HttpSinkBuilder {
            url,
            name: "http".to_owned(),
            encoder: Arc::new(Ndjson),
            headers: Vec::new(),
            gzip: true,
            batch_records: DEFAULT_BATCH_RECORDS,
            batch_bytes: DEFAULT_BATCH_BYTES,
            batch_wait: DEFAULT_BATCH_WAIT,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            backoff: (Duration::from_millis(200), Duration::from_secs(30)),
            max_retry_after: Duration::from_secs(300),
            max_attempts: 20,
            queue: 64,
            spool_dir: None,
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            dead_letter: None,
            dead_letter_max_bytes: DEFAULT_DEAD_LETTER_MAX_BYTES,
            dead_letter_max_records: DEFAULT_DEAD_LETTER_MAX_RECORDS,
            secrets: Vec::new(),
        }
    }

    /// The sink's name in stats, `evtrail.push` events and the default
    /// spool directory. Default `http`; give each HTTP sink its own.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How request bodies are shaped. Default [`Ndjson`].
    pub fn encoder(mut self, encoder: impl Encode) -> Self {
        self.encoder = Arc::new(encoder);
        self
    }

    /// Adds a header to every request. Its value is treated as a secret:
    /// it is masked wherever the sink stores or reports an answer that
    /// echoes it (the dead-letter file, `evtrail.push` errors).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let value = value.into();
        self.secret(&value);
        // The credential of `Bearer x` / `Basic x` on its own too.
        if let Some((_, credential)) = value.split_once(' ') {
            self.secret(credential);
        }
        self.headers.push((name.into(), value));
        self
    }

    fn secret(&mut self, s: &str) {
        let s = s.trim();
        // Shorter values are too likely to be ordinary words.
        if s.len() >= MIN_SECRET_LEN && !self.secrets.iter().any(|k| k == s) {
            self.secrets.push(s.to_owned());
        }
    }

    /// Sends `Authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: impl AsRef<str>) -> Self {
        let value = format!("Bearer {}", token.as_ref());
        self.header("Authorization", value)
    }

    /// Sends `Authorization: Basic …` for `user` and `password`.
    pub fn basic_auth(mut self, user: impl AsRef<str>, password: impl AsRef<str>) -> Self {
        use base64::Engine as _;
        self.secret(password.as_ref());
        let pair = format!("{}:{}", user.as_ref(), password.as_ref());
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        );
        self.header("Authorization", value)
    }

    /// Compresses request bodies with gzip (`Content-Encoding: gzip`).
    /// Default on.
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }

    /// The most records in one request. Default [`DEFAULT_BATCH_RECORDS`].
    pub fn batch_records(mut self, n: usize) -> Self {
        self.batch_records = n;
        self
    }

    /// The size at which a request is sent without waiting for more
    /// records (before compression; the worker hands records over in
    /// groups, so a request can exceed it by one group). Default
    /// [`DEFAULT_BATCH_BYTES`].
    pub fn batch_bytes(mut self, n: usize) -> Self {
        self.batch_bytes = n;
        self
    }

    /// The longest a record waits for its request to fill. Default
    /// [`DEFAULT_BATCH_WAIT`].
    pub fn batch_wait(mut self, wait: Duration) -> Self {
        self.batch_wait = wait;
        self
    }

    /// The longest a connection may take to open. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest one request may take, from connecting to the end of the
    /// answer. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The wait before the first retry, doubled per attempt up to `max`
    /// (each wait is jittered down by up to half). Default 200 ms to 30 s.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = (first, max);
        self
    }

    /// The longest `Retry-After` that is honoured. Default 5 minutes.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// How many error answers (408, 429, 5xx) one batch may get before it
    /// goes to the dead-letter file, so a batch the receiver can never
    /// take does not block the rest. Connection errors and timeouts do not
    /// count: an unreachable endpoint is what the spool is for. Default 20.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// How many of the worker's record groups wait in memory before new
    /// ones go to the spool. Default 64.
    pub fn queue(mut self, groups: usize) -> Self {
        self.queue = groups;
        self
    }

    /// Where undelivered records wait. Default `<log_dir>/spool/<name>`;
    /// required when the pipeline has no log directory.
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self
    }

    /// The most the spool may hold on disk, at shutdown too. Records beyond
    /// it are counted as dropped and reported (`evtrail.dropped`, reason
    /// `spool_full`, naming their `seq` ranges); with a signed log
    /// directory they are sent from the log files at the next start (see
    /// the [module docs](super#crashes-what-can-be-lost)). Default
    /// [`DEFAULT_SPOOL_MAX_BYTES`].
    pub fn spool_max_bytes(mut self, bytes: u64) -> Self {
        self.spool_max_bytes = bytes;
        self
    }

    /// Where refused batches go, one JSON line per record. Default
    /// `dead-letter.ndjson` in the spool directory.
    pub fn dead_letter_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.dead_letter = Some(path.into());
        self
    }

    /// The most the dead-letter file may hold, in bytes. Refused records
    /// beyond it are counted as dropped and reported (`evtrail.dropped`,
    /// reason `dead_letter_full`, naming their `seq` ranges). Default
    /// [`DEFAULT_DEAD_LETTER_MAX_BYTES`].
    pub fn dead_letter_max_bytes(mut self, bytes: u64) -> Self {
        self.dead_letter_max_bytes = bytes;
        self
    }

    /// The most records the dead-letter file may hold; beyond it, as for
    /// [`dead_letter_max_bytes`](Self::dead_letter_max_bytes). Default
    /// [`DEFAULT_DEAD_LETTER_MAX_RECORDS`].
    pub fn dead_letter_max_records(mut self, records: u64) -> Self {
        self.dead_letter_max_records = records;
        self
    }

    /// Checks the settings and makes the sink. It starts sending once the
    /// pipeline is built.
    ///
    /// # Errors
    ///
    /// A [`Config`](crate::ErrorKind::Config) error for a URL that is not
    /// `http://` or `https://` with a host, an invalid header, or a zero
    /// batch size, queue, timeout or attempt count.
    pub fn build(self) -> Result<HttpSink, Error> {
        let uri: ureq::http::Uri = self
            .url
            .parse()
            .map_err(|e| Error::config(format!("invalid URL `{}`: {e}", self.url)))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::config(format!(
                "invalid URL `{}`: expected http:// or https:// and a host",
                self.url
            )));
        }
        let mut this = self;
        if let Some(password) = uri
            .authority()
            .and_then(|a| a.as_str().rsplit_once('@'))
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .map(|(_, password)| password.to_owned())
        {
            this.secret(&password);
        }
        let this = this;
        for (name, value) in &this.headers {
            ureq::http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::config(format!("invalid header name `{name}`")))?;
            ureq::http::HeaderValue::from_str(value)
                .map_err(|_| Error::config(format!("invalid value for header `{name}`")))?;
        }
        let zero = [
            (this.batch_records == 0, "batch_records"),
            (this.batch_bytes == 0, "batch_bytes"),
            (this.queue == 0, "queue"),
            (this.max_attempts == 0, "max_attempts"),
            (this.timeout.is_zero(), "timeout"),
            (this.connect_timeout.is_zero(), "connect_timeout"),
            (this.spool_max_bytes == 0, "spool_max_bytes"),
        ];
        if let Some((_, what)) = zero.iter().find(|(z, _)| *z) {
            return Err(Error::config(format!(
                "HTTP sink `{what}` must be above zero"
            )));
        }
        if this.name.trim().is_empty() || this.name.contains(['/', '\\']) {
            return Err(Error::config(format!(
                "invalid HTTP sink name `{}`: it names the spool directory",
                this.name
            )));
        }
        Ok(HttpSink {
            name: this.name.clone(),
            settings: Some(this),
            running: None,
        })
    }
}
