//! Changing a running pipeline's configuration: what can change safely
//! is applied (the filter, redaction, routes over the same streams,
//! retention, compression, notification rules), what cannot is named, and
//! a bad file changes nothing.

use std::path::Path;
use std::sync::{Arc, PoisonError};

use serde::Serialize;
use tracing::Level;

use super::Config;
use super::schema::{NotifySection, RouteSection, Schema};
use crate::error::Error;
use crate::pipeline::{Handle, Reconfigure};
use crate::record::Record;
use crate::redact::Redactor;
use crate::route::{DEFAULT_STREAM, Route, Router};

/// What a pipeline started from a configuration keeps for reloading it.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    /// The configuration in force.
    pub(crate) config: Arc<Config>,
    /// The `[notify]` sink's rules, changed in place.
    #[cfg(feature = "notify")]
    pub(crate) rules: Option<crate::notify::RuleHandle>,
}

/// What [`Handle::reload_config`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reload {
    /// The settings that changed and are now in force: `filter`,
    /// `redaction`, `routes`, `files.retention`, `files.compression`,
    /// `notify.rules` (the rules and `logging_failures`).
    pub applied: Vec<&'static str>,
    /// The settings that changed but take a restart (the service and its
    /// context, the key, the queue, seals, the file sink's directory,
    /// rotation, durability and modes, HTTP sinks, the rest of `[notify]`:
    /// its channels, timings and limits, or adding or removing the
    /// section; routes to a different set of streams). They keep their
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
        let origin = self.origin();
        let running = origin.as_ref().map(|o| o.config.clone());
        let old = running.as_ref().map(|c| &c.schema);
        let new = &config.schema;
        let mut report = Reload::default();
        let mut change = Reconfigure::default();
        let differs = |f: &dyn Fn(&Schema) -> serde_json::Value| old.is_none_or(|o| f(o) != f(new));
        // First, as it is the one change here that can still be refused.
        #[cfg(feature = "notify")]
        let new_rules = match (old, origin.as_ref().and_then(|o| o.rules.as_ref())) {
            (Some(o), Some(handle)) => notify_rules(config, o, new, handle, &mut report)
                .inspect_err(|e| self.reject(config.source.name(), e))?,
            _ => None,
        };

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
        #[cfg(feature = "notify")]
        if let (Some(rules), Some(n), Some(handle)) = (
            new_rules,
            &mut now.schema.notify,
            origin.as_ref().and_then(|o| o.rules.as_ref()),
        ) {
            // Checked against the running channels when it was built.
            handle.replace(rules)?;
            let section = new.notify.as_ref().expect("rules come from a section");
            n.rules = section.rules.clone();
            n.logging_failures = section.logging_failures;
        }
        let kept = Origin {
            config: Arc::new(now),
            #[cfg(feature = "notify")]
            rules: origin.and_then(|o| o.rules.clone()),
        };
        *self
            .shared
            .origin
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            Some(Arc::new(kept) as Arc<dyn std::any::Any + Send + Sync>);
        Ok(report)
    }

    fn origin(&self) -> Option<Arc<Origin>> {
        let origin = self
            .shared
            .origin
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        origin.clone().and_then(|a| a.downcast::<Origin>().ok())
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
        ("notify", json(&without_rules(o)) != json(&without_rules(n))),
    ]
}

/// `[notify]` but its rules, which a reload can change.
fn without_rules(s: &Schema) -> Option<NotifySection> {
    s.notify.clone().map(|mut n| {
        n.rules.clear();
        n.logging_failures = None;
        n
    })
}

/// The new rules, when only they (and not the rest of `[notify]`)
/// changed: built, and checked against the running channels.
#[cfg(feature = "notify")]
fn notify_rules(
    config: &Config,
    old: &Schema,
    new: &Schema,
    handle: &crate::notify::RuleHandle,
    report: &mut Reload,
) -> Result<Option<Vec<crate::notify::Rule>>, Error> {
    let (Some(o), Some(n)) = (&old.notify, &new.notify) else {
        return Ok(None);
    };
    let rules_of = |s: &NotifySection| json(&(&s.rules, s.logging_failures));
    if rules_of(o) == rules_of(n) || json(&without_rules(old)) != json(&without_rules(new)) {
        // Unchanged, or part of a change that takes a restart anyway.
        return Ok(None);
    }
    let rules = super::notify::rules(config, n)?;
    // The checks `replace` makes, made now so that nothing changes when
    // they fail.
    handle.check(&rules)?;
    report.applied.push("notify.rules");
    Ok(Some(rules))
}

fn router(routes: &[RouteSection], default: Option<&String>) -> Result<Router, Error> {
    let routes: Vec<Route> = routes.iter().map(super::apply::route_of).collect();
    Router::new(routes, default.map_or(DEFAULT_STREAM, String::as_str))
}

fn router_of(s: &Schema) -> Result<Router, Error> {
    router(&s.routes, s.default_stream.as_ref().map(|d| d.get_ref()))
}
