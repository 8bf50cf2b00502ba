//! Changing a running pipeline's configuration: what can change safely
//! is applied (the filter, redaction, routes over the same streams,
//! retention, compression), what cannot is named, and a bad file changes
//! nothing.

use std::path::Path;
use std::sync::{Arc, PoisonError};

use serde::Serialize;
use tracing::Level;

use super::Config;
use super::schema::{RouteSection, Schema};
use crate::error::Error;
use crate::pipeline::{Handle, Reconfigure};
use crate::record::Record;
use crate::redact::Redactor;
use crate::route::{DEFAULT_STREAM, Route, Router};

/// What [`Handle::reload_config`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reload {
    /// The settings that changed and are now in force: `filter`,
    /// `redaction`, `routes`, `files.retention`, `files.compression`.
    pub applied: Vec<&'static str>,
    /// The settings that changed but take a restart (the service and its
    /// context, the key, the queue, seals, the file sink's directory,
    /// rotation, durability and modes, HTTP sinks, notification channels
    /// and rules; routes to a different set of streams). They keep their
    /// running values.
    pub needs_restart: Vec<String>,
}

impl Handle {
    /// Reads `path` (and the environment's `EVTRAIL_*` overrides, as at
    /// start) and applies it with [`reload_config`](Self::reload_config).
    /// Wire it to `SIGHUP` to change the level or the routes of a running
    /// service.
    ///
    /// # Errors
    ///
    /// As [`reload_config`](Self::reload_config); a file that cannot be
    /// read or parsed changes nothing and is recorded the same way.
    pub fn reload_config_file(&self, path: impl AsRef<Path>) -> Result<Reload, Error> {
        match Config::from_file(path.as_ref()).and_then(Config::with_env) {
            Ok(config) => self.reload_config(&config),
            Err(e) => {
                self.reject(&path.as_ref().display().to_string(), &e);
                Err(e)
            }
        }
    }

    /// Applies what can change while running and says what needs a
    /// restart. The records emitted after this returns are filtered,
    /// redacted and routed by the new settings.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the configuration does not
    /// [`check`](Config::check): nothing changes, and an
    /// `evtrail.config_rejected` record with the reason is written.
    /// [`ErrorKind::Closed`](crate::ErrorKind::Closed) after shutdown.
    pub fn reload_config(&self, config: &Config) -> Result<Reload, Error> {
        if let Err(e) = config.check() {
            self.reject(config.source.name(), &e);
            return Err(e);
        }
        let running = self.running_config();
        let old = running.as_ref().map(|c| &c.schema);
        let new = &config.schema;
        let mut report = Reload::default();
        let mut change = Reconfigure::default();
        let differs = |f: &dyn Fn(&Schema) -> serde_json::Value| old.is_none_or(|o| f(o) != f(new));

        if differs(&|s| json(&s.filter)) {
            let directives = new
                .filter
                .as_ref()
                .map_or("trace", |f| f.get_ref().as_str());
            self.set_filter(directives)?;
            report.applied.push("filter");
        }
        if differs(&|s| json(&s.redaction)) {
            let r = new.redaction.clone().unwrap_or_default();
            let patterns: Vec<String> = r.patterns.iter().map(|p| p.get_ref().clone()).collect();
            let defaults = r.defaults.unwrap_or(true);
            change.redactor = Some(Redactor::from_settings(defaults, &r.keys, &patterns)?);
            report.applied.push("redaction");
        }
        if differs(&|s| json(&(&s.routes, &s.default_stream))) {
            let router = router(
                &new.routes,
                new.default_stream.as_ref().map(|d| d.get_ref()),
            )?;
            let same_streams = match old {
                Some(o) => {
                    let was = router_of(o)?;
                    was.streams() == router.streams()
                }
                None => false,
            };
            if same_streams {
                change.router = Some(router);
                report.applied.push("routes");
            } else {
                report
                    .needs_restart
                    .push("routes (to a different set of streams)".to_owned());
            }
        }
        let files = |s: &Schema| s.files.clone();
        let (old_files, new_files) = (old.and_then(files), files(new));
        if let (Some(of), Some(nf), Some(live)) = (&old_files, &new_files, self.log_files()) {
            if json(&of.retention) != json(&nf.retention) {
                live.set_retention(super::apply::retention(nf.retention.as_ref()));
                report.applied.push("files.retention");
            }
            if json(&of.compression) != json(&nf.compression) {
                // Checked above, with its place in the file.
                if let Ok(level) = super::apply::compression_level(nf.compression.as_ref()) {
                    live.set_compression(level);
                }
                report.applied.push("files.compression");
            }
            let mut of = of.clone();
            let mut nf = nf.clone();
            (of.retention, nf.retention, of.compression, nf.compression) = (None, None, None, None);
            if json(&of) != json(&nf) {
                report.needs_restart.push("files".to_owned());
            }
        } else if json(&old_files) != json(&new_files) {
            report.needs_restart.push("files".to_owned());
        }
        if let Some(o) = old {
            for (name, differ) in restart_only(o, new) {
                if differ {
                    report.needs_restart.push(name.to_owned());
                }
            }
        }
        if change.redactor.is_some() || change.router.is_some() {
            self.reconfigure(change)?;
        }
        // What is in force now: the new runtime settings, the old rest.
        let mut now = running
            .as_deref()
            .cloned()
            .unwrap_or_else(|| config.clone());
        now.schema.filter = new.filter.clone();
        now.schema.redaction = new.redaction.clone();
        if report.applied.contains(&"routes") {
            now.schema.routes = new.routes.clone();
            now.schema.default_stream = new.default_stream.clone();
        }
        if let (Some(nf), Some(f)) = (&new_files, &mut now.schema.files) {
            f.retention = nf.retention.clone();
            f.compression = nf.compression.clone();
        }
        *self
            .shared
            .origin
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            Some(Arc::new(now) as Arc<dyn std::any::Any + Send + Sync>);
        Ok(report)
    }

    fn running_config(&self) -> Option<Arc<Config>> {
        let origin = self
            .shared
            .origin
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        origin.clone().and_then(|a| a.downcast::<Config>().ok())
    }

    /// Writes an `evtrail.config_rejected` record saying why.
    fn reject(&self, file: &str, e: &Error) {
        let mut rec = Record::internal(
            Level::ERROR,
            "evtrail.config_rejected",
            &format!("configuration {file} rejected; the running one stays: {e}"),
        );
        rec.fields.add_str("class", "error");
        rec.fields.add_str("file", file);
        rec.fields.add_str("reason", &e.to_string());
        self.shared.submit_timeout(rec, self.shared.flush_timeout);
    }
}

fn json(v: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// The settings only a restart changes, and whether they differ.
fn restart_only(o: &Schema, n: &Schema) -> Vec<(&'static str, bool)> {
    vec![
        ("service", json(&o.service) != json(&n.service)),
        ("environment", json(&o.environment) != json(&n.environment)),
        ("region", json(&o.region) != json(&n.region)),
        ("node", json(&o.node) != json(&n.node)),
        ("version", json(&o.version) != json(&n.version)),
        ("host", json(&o.host) != json(&n.host)),
        ("pid", o.pid != n.pid),
        ("source_location", o.source_location != n.source_location),
        ("capture_panics", o.capture_panics != n.capture_panics),
        (
            "max_value_bytes",
            json(&o.max_value_bytes) != json(&n.max_value_bytes),
        ),
        ("key", json(&o.key) != json(&n.key)),
        ("queue", json(&o.queue) != json(&n.queue)),
        ("seal", json(&o.seal) != json(&n.seal)),
        ("http", json(&o.http) != json(&n.http)),
        ("notify", json(&o.notify) != json(&n.notify)),
    ]
}

fn router(routes: &[RouteSection], default: Option<&String>) -> Result<Router, Error> {
    let routes: Vec<Route> = routes.iter().map(super::apply::route_of).collect();
    Router::new(routes, default.map_or(DEFAULT_STREAM, String::as_str))
}

fn router_of(s: &Schema) -> Result<Router, Error> {
    router(&s.routes, s.default_stream.as_ref().map(|d| d.get_ref()))
}
