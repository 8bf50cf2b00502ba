//! `[[http]]` tables into [`HttpSink`]s, with credentials read from the
//! environment or files (feature `http`).

use std::path::PathBuf;

use toml::Spanned;

use super::Config;
use super::schema::{EncoderName, HttpSection};
use super::secret::secret;
use crate::error::Error;
use crate::http::{ClickHouse, ElasticBulk, HttpSink, JsonArray, Loki, Ndjson, Otlp};

pub(super) fn build(config: &Config, h: &HttpSection) -> Result<HttpSink, Error> {
    let at = |span, message: &str| config.source.error_at(span, message);
    let mut b = HttpSink::builder(h.url.get_ref());
    if let Some(n) = &h.name {
        b = b.name(n);
    }
    b = match h.encoder.unwrap_or(EncoderName::Ndjson) {
        EncoderName::Ndjson => b.encoder(Ndjson),
        EncoderName::JsonArray => b.encoder(JsonArray),
        EncoderName::Loki => b.encoder(Loki),
        EncoderName::Otlp => b.encoder(Otlp::default()),
        EncoderName::Clickhouse => match &h.table {
            Some(t) => b.encoder(ClickHouse::new(t)),
            None => return Err(at(h.url.span(), "encoder `clickhouse` needs `table`")),
        },
        EncoderName::Elastic => match &h.index {
            Some(i) => b.encoder(ElasticBulk::new(i)),
            None => return Err(at(h.url.span(), "encoder `elastic` needs `index`")),
        },
    };
    if let Some(v) = h.gzip {
        b = b.gzip(v);
    }
    if let Some(v) = h.batch_records {
        b = b.batch_records(v);
    }
    if let Some(v) = h.batch_bytes {
        b = b.batch_bytes(usize::try_from(v.0).unwrap_or(usize::MAX));
    }
    if let Some(v) = h.batch_wait {
        b = b.batch_wait(v.0);
    }
    if let Some(v) = h.connect_timeout {
        b = b.connect_timeout(v.0);
    }
    if let Some(v) = h.timeout {
        b = b.timeout(v.0);
    }
    if h.backoff_first.is_some() || h.backoff_max.is_some() {
        let first = h
            .backoff_first
            .map_or(std::time::Duration::from_millis(200), |d| d.0);
        let max = h
            .backoff_max
            .map_or(std::time::Duration::from_secs(30), |d| d.0);
        b = b.backoff(first, max);
    }
    if let Some(v) = h.max_retry_after {
        b = b.max_retry_after(v.0);
    }
    if let Some(v) = h.max_attempts {
        b = b.max_attempts(v);
    }
    if let Some(v) = h.queue {
        b = b.queue(v);
    }
    if let Some(v) = &h.spool_dir {
        b = b.spool_dir(v);
    }
    if let Some(v) = h.spool_max_bytes {
        b = b.spool_max_bytes(v.0);
    }
    if let Some(v) = &h.dead_letter_file {
        b = b.dead_letter_file(v);
    }
    if let Some(v) = h.dead_letter_max_bytes {
        b = b.dead_letter_max_bytes(v.0);
    }
    if let Some(v) = h.dead_letter_max_records {
        b = b.dead_letter_max_records(v);
    }
    for (name, value) in &h.headers {
        b = b.header(name, value);
    }
    if let Some(auth) = &h.auth {
        let inline_ok = auth.allow_inline_secrets == Some(true);
        let secret = |env: &Option<Spanned<String>>,
                      file: &Option<Spanned<PathBuf>>,
                      inline: &Option<Spanned<String>>,
                      what: &str|
         -> Result<Option<String>, Error> {
            secret(config, inline_ok, env, file, inline, what)
        };
        let token = secret(
            &auth.bearer_token_env,
            &auth.bearer_token_file,
            &auth.bearer_token,
            "bearer_token",
        )?;
        let password = secret(
            &auth.password_env,
            &auth.password_file,
            &auth.password,
            "password",
        )?;
        match (token, &auth.user, password) {
            (Some(t), None, None) => b = b.bearer_auth(t),
            (None, Some(u), Some(p)) => b = b.basic_auth(u, p),
            (None, None, None) => {}
            _ => {
                return Err(at(
                    h.url.span(),
                    "[http.auth] takes either a bearer token, or a `user` and a password",
                ));
            }
        }
    }
    b.build().map_err(|e| at(h.url.span(), &e.to_string()))
}
