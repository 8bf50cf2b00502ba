//! Routing records into named streams.

use std::sync::Arc;

use tracing::Level;

use crate::directives::target_matches;
use crate::error::Error;

/// The stream records go to when no route matches.
pub const DEFAULT_STREAM: &str = "app";

/// A rule that sends matching records to a stream.
///
/// Every condition set on one route must hold (they are ANDed); a record
/// goes to the stream of **every** route it matches, each copy with that
/// stream's own sequence number, and to the default stream when it matches
/// none.
///
/// # Examples
///
/// ```
/// use evtrail::Route;
/// use tracing::Level;
///
/// let audit = Route::to("audit").class("audit");
/// let db_errors = Route::to("database").target("my_app::db").level(Level::WARN);
/// # let _ = (audit, db_errors);
/// ```
#[derive(Clone, Debug)]
pub struct Route {
    stream: String,
    target: Option<String>,
    level: Option<Level>,
    class: Option<String>,
    event: Option<String>,
}

impl Route {
    /// A route to `stream`; with no conditions it matches every record.
    pub fn to(stream: impl Into<String>) -> Route {
        Route {
            stream: stream.into(),
            target: None,
            level: None,
            class: None,
            event: None,
        }
    }

    /// Matches targets equal to `prefix` or below it (`my_app::db` matches
    /// `my_app::db::pool`, not `my_app::dbx`).
    pub fn target(mut self, prefix: impl Into<String>) -> Route {
        self.target = Some(prefix.into());
        self
    }

    /// Matches records at least as severe as `level`.
    pub fn level(mut self, level: Level) -> Route {
        self.level = Some(level);
        self
    }

    /// Matches records of this class (`audit`, `security`, …).
    pub fn class(mut self, class: impl Into<String>) -> Route {
        self.class = Some(class.into());
        self
    }

    /// Matches records with this `event` name.
    pub fn event(mut self, event: impl Into<String>) -> Route {
        self.event = Some(event.into());
        self
    }

    /// The stream this route sends to.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    fn matches(&self, r: &RouteInput<'_>) -> bool {
        self.target
            .as_deref()
            .is_none_or(|p| target_matches(r.target, p))
            && self.level.is_none_or(|l| r.level <= l)
            && self.class.as_deref().is_none_or(|c| c == r.class)
            && self.event.as_deref().is_none_or(|e| Some(e) == r.event)
    }
}

/// What routing looks at.
pub(crate) struct RouteInput<'a> {
    pub(crate) target: &'a str,
    pub(crate) level: Level,
    pub(crate) class: &'a str,
    pub(crate) event: Option<&'a str>,
}

/// Checks a stream name: it becomes a file name, so keep it plain.
pub(crate) fn check_stream_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "invalid stream name `{name}`: use 1 to 64 ASCII letters, digits, `_`, `-` or `.`, not starting with `.`"
        )))
    }
}

/// The routing table, compiled at build time.
#[derive(Debug)]
pub(crate) struct Router {
    routes: Vec<(Route, usize)>,
    default: usize,
    streams: Vec<Arc<str>>,
}

impl Router {
    pub(crate) fn new(routes: Vec<Route>, default: &str) -> Result<Router, Error> {
        check_stream_name(default)?;
        let mut streams: Vec<Arc<str>> = vec![Arc::from(default)];
        let mut compiled = Vec::with_capacity(routes.len());
        for r in routes {
            check_stream_name(&r.stream)?;
            let idx = match streams.iter().position(|s| **s == *r.stream) {
                Some(i) => i,
                None => {
                    streams.push(Arc::from(r.stream.as_str()));
                    streams.len() - 1
                }
            };
            compiled.push((r, idx));
        }
        Ok(Router {
            routes: compiled,
            default: 0,
            streams,
        })
    }

    /// Every stream name, the default first.
    pub(crate) fn streams(&self) -> &[Arc<str>] {
        &self.streams
    }

    /// Fills `out` with the indexes of the streams `r` goes to, each once.
    pub(crate) fn route(&self, r: &RouteInput<'_>, out: &mut Vec<usize>) {
        out.clear();
        for (route, idx) in &self.routes {
            if !out.contains(idx) && route.matches(r) {
                out.push(*idx);
            }
        }
        if out.is_empty() {
            out.push(self.default);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        target: &'a str,
        level: Level,
        class: &'a str,
        event: Option<&'a str>,
    ) -> RouteInput<'a> {
        RouteInput {
            target,
            level,
            class,
            event,
        }
    }

    fn names(router: &Router, r: &RouteInput<'_>) -> Vec<String> {
        let mut out = Vec::new();
        router.route(r, &mut out);
        out.iter()
            .map(|&i| router.streams()[i].to_string())
            .collect()
    }

    #[test]
    fn records_go_to_every_matching_stream_or_the_default() {
        let router = Router::new(
            vec![
                Route::to("audit").class("audit"),
                Route::to("database").target("app::db").level(Level::WARN),
                Route::to("email").event("email_sent"),
                Route::to("audit").event("user_deleted"),
            ],
            "app",
        )
        .unwrap();
        assert_eq!(
            names(&router, &input("app::http", Level::INFO, "info", None)),
            ["app"]
        );
        assert_eq!(
            names(
                &router,
                &input("x", Level::INFO, "audit", Some("user_deleted"))
            ),
            ["audit"]
        );
        assert_eq!(
            names(
                &router,
                &input("app::db::pool", Level::ERROR, "audit", None)
            ),
            ["audit", "database"]
        );
        assert_eq!(
            names(&router, &input("app::db", Level::INFO, "info", None)),
            ["app"]
        );
        assert_eq!(
            names(
                &router,
                &input("m", Level::INFO, "info", Some("email_sent"))
            ),
            ["email"]
        );
    }

    #[test]
    fn stream_names_must_be_safe_file_names() {
        for bad in ["", "../etc", ".hidden", "a/b", "sp ace"] {
            assert!(check_stream_name(bad).is_err(), "{bad}");
        }
        for good in ["app", "audit-2", "jobs.v1", "db_slow"] {
            assert!(check_stream_name(good).is_ok(), "{good}");
        }
        assert!(Router::new(vec![Route::to("a/b")], "app").is_err());
    }
}
