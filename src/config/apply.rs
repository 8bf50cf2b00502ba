//! Turning a [`Config`] into builder calls, checking each value where it
//! was written.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use tracing::Level;

use super::Config;
use super::schema::{
    Compression, FilesSection, LevelName, OverflowName, RetentionSection, RotateName, RouteSection,
    Schema,
};
use crate::builder::Builder;
use crate::directives::Directives;
use crate::error::Error;
use crate::key::Key;
use crate::pipeline::Overflow;
use crate::rotation::{Period, Rotation};
use crate::route::{Route, check_stream_name};
use crate::sign::{DEFAULT_SEAL_INTERVAL, DEFAULT_SEAL_RECORDS};
use crate::sink::{Durability, FileOptions, Retention};

impl Builder {
    /// Reads a configuration file, applies the environment's `EVTRAIL_*`
    /// overrides, and sets everything they say; builder calls made after
    /// this one override them (see [`config`](crate::config)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) with the file, line
    /// and column (or the environment variable) of the first bad value.
    pub fn config_file(self, path: impl AsRef<Path>) -> Result<Builder, Error> {
        let config = Config::from_file(path)?.with_env()?;
        self.config(&config)
    }

    /// Sets everything `config` says (feature `config`).
    ///
    /// # Errors
    ///
    /// As [`config_file`](Self::config_file), for the values checked only
    /// now: the filter, patterns, stream names, the key, secrets.
    pub fn config(self, config: &Config) -> Result<Builder, Error> {
        let apply = Apply {
            config,
            checking: false,
            #[cfg(feature = "notify")]
            rules: Default::default(),
        };
        let mut b = apply.builder(self)?;
        b.origin = Some(super::reload::Origin {
            config: std::sync::Arc::new(config.clone()),
            #[cfg(feature = "notify")]
            rules: apply.rules.take(),
        });
        Ok(b)
    }
}

/// What [`Config::check`] does: every check, nothing started.
pub(super) fn check(config: &Config) -> Result<(), Error> {
    Apply {
        config,
        checking: true,
        #[cfg(feature = "notify")]
        rules: Default::default(),
    }
    .builder(Builder::new())
    .map(drop)
}

struct Apply<'a> {
    config: &'a Config,
    /// Only checking: open no file.
    checking: bool,
    /// The notification sink's rule handle, for reloading.
    #[cfg(feature = "notify")]
    rules: std::cell::Cell<Option<crate::notify::RuleHandle>>,
}

impl Apply<'_> {
    fn schema(&self) -> &Schema {
        &self.config.schema
    }

    fn at(&self, span: Range<usize>, message: &str) -> Error {
        self.config.source.error_at(span, message)
    }

    fn builder(&self, mut b: Builder) -> Result<Builder, Error> {
        let s = self.schema();
        if let Some(v) = &s.service {
            b = b.service(v);
        }
        if let Some(v) = &s.environment {
            b = b.environment(v);
        }
        if let Some(v) = &s.region {
            b = b.region(v);
        }
        if let Some(v) = &s.node {
            b = b.node(v);
        }
        if let Some(v) = &s.version {
            b = b.version(v);
        }
        if let Some(v) = &s.host {
            b = b.host(v);
        }
        if let Some(v) = s.pid {
            b = b.pid(v);
        }
        if let Some(f) = &s.filter {
            Directives::parse(f.get_ref()).map_err(|e| self.at(f.span(), &e.to_string()))?;
            b = b.filter(f.get_ref());
        }
        if let Some(v) = &s.default_stream {
            check_stream_name(v.get_ref()).map_err(|e| self.at(v.span(), &e.to_string()))?;
            b = b.default_stream(v.get_ref());
        }
        if let Some(v) = s.source_location {
            b = b.source_location(v);
        }
        if let Some(v) = s.capture_panics {
            b = b.capture_panics(v);
        }
        if let Some(v) = &s.max_value_bytes {
            let n = usize::try_from(v.get_ref().0).unwrap_or(usize::MAX);
            if n < 64 {
                return Err(self.at(v.span(), "max_value_bytes must be at least 64 bytes"));
            }
            b = b.max_value_bytes(n);
        }
        b = self.key(b)?;
        b = self.queue(b)?;
        b = self.redaction(b)?;
        b = self.seal(b)?;
        for route in &s.routes {
            b = b.add_route(self.route(route)?);
        }
        if let Some(files) = &s.files {
            b = self.files(b, files)?;
        }
        b = self.http(b)?;
        b = self.notify(b)?;
        Ok(b)
    }

    fn key(&self, mut b: Builder) -> Result<Builder, Error> {
        let Some(k) = &self.schema().key else {
            return Ok(b);
        };
        let chosen = [k.file.is_some(), k.env.is_some(), k.unsigned == Some(true)];
        if chosen.iter().filter(|c| **c).count() > 1 {
            let span = k
                .file
                .as_ref()
                .map(Spanned::span)
                .or(k.env.as_ref().map(Spanned::span))
                .unwrap_or(0..0);
            return Err(self.at(
                span,
                "[key] says more than one of `file`, `env` and `unsigned = true`; choose one",
            ));
        }
        if let Some(file) = &k.file {
            let key = Key::from_file(file.get_ref())
                .map_err(|e| self.at(file.span(), &crate::sink::error_chain(&e)))?;
            b = b.key(key);
        } else if let Some(var) = &k.env {
            let key =
                Key::from_env(var.get_ref()).map_err(|e| self.at(var.span(), &e.to_string()))?;
            b = b.key(key);
        } else if k.unsigned == Some(true) {
            b = b.unsigned();
        }
        Ok(b)
    }

    fn queue(&self, mut b: Builder) -> Result<Builder, Error> {
        let Some(q) = &self.schema().queue else {
            return Ok(b);
        };
        if let Some(n) = &q.capacity {
            if *n.get_ref() == 0 {
                return Err(self.at(n.span(), "capacity must be at least 1 record"));
            }
            b = b.capacity(*n.get_ref());
        }
        if let Some(n) = &q.batch_size {
            if *n.get_ref() == 0 {
                return Err(self.at(n.span(), "batch_size must be at least 1 record"));
            }
            b = b.batch_size(*n.get_ref());
        }
        if let Some(p) = q.overflow {
            b = b.overflow(overflow(p));
        }
        for (class, p) in &q.overflow_for {
            b = b.overflow_for(class, overflow(*p));
        }
        if let Some(d) = q.flush_interval {
            b = b.flush_interval(d.0);
        }
        if let Some(d) = q.flush_timeout {
            b = b.flush_timeout(d.0);
        }
        if let Some(n) = q.retry_buffer_bytes {
            b = b.retry_buffer_bytes(usize::try_from(n.0).unwrap_or(usize::MAX));
        }
        Ok(b)
    }

    fn redaction(&self, mut b: Builder) -> Result<Builder, Error> {
        let Some(r) = &self.schema().redaction else {
            return Ok(b);
        };
        if let Some(on) = r.defaults {
            b = b.default_redaction(on);
        }
        for key in &r.keys {
            b = b.add_redact_key(key);
        }
        for p in &r.patterns {
            regex::Regex::new(p.get_ref()).map_err(|e| {
                self.at(
                    p.span(),
                    &format!("invalid redaction pattern: {}", first_line(&e.to_string())),
                )
            })?;
            b = b.add_redact_pattern(p.get_ref());
        }
        Ok(b)
    }

    fn seal(&self, mut b: Builder) -> Result<Builder, Error> {
        let Some(seal) = &self.schema().seal else {
            return Ok(b);
        };
        if let Some(path) = &seal.anchors_file {
            if path.get_ref().as_os_str().is_empty() {
                return Err(self.at(path.span(), "the anchors file's path is empty"));
            }
            if !self.checking {
                let sink = crate::sink::AnchorSink::new(path.get_ref())
                    .map_err(|e| self.at(path.span(), &crate::sink::error_chain(&e)))?;
                b = b.add_sink(sink);
            }
        }
        let records = match &seal.records {
            Some(n) if *n.get_ref() == 0 => {
                return Err(self.at(n.span(), "seals need at least 1 record between them"));
            }
            Some(n) => *n.get_ref(),
            None => DEFAULT_SEAL_RECORDS,
        };
        let every = match &seal.every {
            Some(d) if d.get_ref().0.is_zero() => {
                return Err(self.at(d.span(), "the seal interval must be longer than zero"));
            }
            Some(d) => d.get_ref().0,
            None => DEFAULT_SEAL_INTERVAL,
        };
        Ok(b.seal_every(records, every))
    }

    fn route(&self, r: &RouteSection) -> Result<Route, Error> {
        let s = self.schema();
        check_stream_name(r.stream.get_ref())
            .map_err(|e| self.at(r.stream.span(), &e.to_string()))?;
        if s.files.is_none() && s.http.is_empty() {
            return Err(self.at(
                r.stream.span(),
                &format!(
                    "a route to stream `{}`, but no sink is configured: add [files] or [[http]]",
                    r.stream.get_ref()
                ),
            ));
        }
        Ok(route_of(r))
    }

    fn files(&self, b: Builder, f: &FilesSection) -> Result<Builder, Error> {
        let mut options = FileOptions::default();
        if let Some(c) = &f.compression {
            let level = compression_level(Some(c)).map_err(|why| self.at(c.span(), &why))?;
            options = options.compression(level);
        }
        if let Some(w) = f.compression_wait {
            options = options.compression_wait(w.0);
        }
        if let Some(d) = &f.durability {
            options =
                options.durability(durability(d.get_ref()).map_err(|why| self.at(d.span(), &why))?);
        }
        if f.file_mode.is_some() || f.dir_mode.is_some() {
            options = options.permissions(
                f.file_mode.map_or(crate::sink::DEFAULT_FILE_MODE, |m| m.0),
                f.dir_mode.map_or(crate::sink::DEFAULT_DIR_MODE, |m| m.0),
            );
        }
        if f.retention.is_some() {
            options = options.retention(retention(f.retention.as_ref()));
        }
        let mut rotation = Rotation::default();
        if let Some(n) = f.max_file_bytes {
            rotation = rotation.max_bytes(n.0);
        }
        match f.rotate {
            None | Some(RotateName::Never) => {}
            Some(RotateName::Minutely) => rotation = rotation.period(Period::Minutely),
            Some(RotateName::Hourly) => rotation = rotation.period(Period::Hourly),
            Some(RotateName::Daily) => rotation = rotation.period(Period::Daily),
        }
        Ok(b.log_dir(&f.dir).file_options(options).rotation(rotation))
    }

    #[cfg(feature = "http")]
    fn http(&self, mut b: Builder) -> Result<Builder, Error> {
        for h in &self.schema().http {
            let sink = super::http::build(self.config, h)?;
            b = b.add_sink(sink);
        }
        Ok(b)
    }

    #[cfg(not(feature = "http"))]
    fn http(&self, b: Builder) -> Result<Builder, Error> {
        match self.schema().http.first() {
            None => Ok(b),
            Some(h) => Err(self.at(
                h.url.span(),
                "[[http]] sinks need evtrail's `http` feature, which this program was built without",
            )),
        }
    }
}

/// A `[[routes]]` entry as a [`Route`] (its stream name checked apart).
pub(super) fn route_of(r: &RouteSection) -> Route {
    let mut route = Route::to(r.stream.get_ref());
    if let Some(t) = &r.target {
        route = route.target(t);
    }
    if let Some(l) = r.level {
        route = route.level(level(l));
    }
    if let Some(c) = &r.class {
        route = route.class(c);
    }
    if let Some(e) = &r.event {
        route = route.event(e);
    }
    route
}

/// `[files.retention]`, or keep everything when the table is absent.
pub(super) fn retention(r: Option<&RetentionSection>) -> Retention {
    let mut retention = Retention::keep_all();
    let Some(r) = r else {
        return retention;
    };
    if let Some(n) = r.max_files {
        retention = retention.max_files(n);
    }
    if let Some(d) = r.max_age {
        retention = retention.max_age(d.0);
    }
    if let Some(n) = r.max_stream_bytes {
        retention = retention.max_stream_bytes(n.0);
    }
    if let Some(n) = r.max_total_bytes {
        retention = retention.max_total_bytes(n.0);
    }
    retention
}

/// `compression = N | false | true`, or the default level when absent.
pub(super) fn compression_level(c: Option<&Spanned<Compression>>) -> Result<Option<u32>, String> {
    match c.map(|c| *c.get_ref()) {
        None | Some(Compression::Off(true)) => Ok(Some(crate::sink::DEFAULT_COMPRESSION_LEVEL)),
        Some(Compression::Off(false)) => Ok(None),
        Some(Compression::Level(n)) if n <= 9 => Ok(Some(n)),
        Some(Compression::Level(n)) => {
            Err(format!("compression level {n}: expected 0 to 9, or false"))
        }
    }
}

impl Apply<'_> {
    #[cfg(feature = "notify")]
    fn notify(&self, b: Builder) -> Result<Builder, Error> {
        match &self.schema().notify {
            None => Ok(b),
            Some(n) => {
                let sink = super::notify::build(self.config, n)?;
                self.rules.set(Some(sink.rule_handle()));
                Ok(b.add_sink(sink))
            }
        }
    }

    #[cfg(not(feature = "notify"))]
    fn notify(&self, b: Builder) -> Result<Builder, Error> {
        match self
            .schema()
            .notify
            .as_ref()
            .and_then(|n| n.channels.first())
        {
            None => Ok(b),
            Some(c) => Err(self.at(
                c.name.span(),
                "[notify] needs evtrail's `notify` feature, which this program was built without",
            )),
        }
    }
}

fn overflow(p: OverflowName) -> Overflow {
    match p {
        OverflowName::Block => Overflow::Block,
        OverflowName::DropNewest => Overflow::DropNewest,
    }
}

pub(super) fn level(l: LevelName) -> Level {
    match l {
        LevelName::Trace => Level::TRACE,
        LevelName::Debug => Level::DEBUG,
        LevelName::Info => Level::INFO,
        LevelName::Warn => Level::WARN,
        LevelName::Error => Level::ERROR,
    }
}

/// `flush`, `each_batch`, or how often to sync (`1s`).
fn durability(text: &str) -> Result<Durability, String> {
    match text.trim() {
        "flush" => Ok(Durability::Flush),
        "each_batch" => Ok(Durability::SyncEachBatch),
        other => match super::units::parse_interval(other) {
            Ok(d) if d > Duration::ZERO => Ok(Durability::SyncEvery(d)),
            _ => Err(format!(
                "invalid durability `{text}`: expected `flush`, `each_batch` or how often to sync (`1s`)"
            )),
        },
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .rfind(|l| l.starts_with("error:"))
        .unwrap_or_else(|| text.lines().next().unwrap_or(text))
}
