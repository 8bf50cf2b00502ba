//! Level filter directives (`info,my_app::db=debug`): which events the
//! layer keeps, changeable at runtime through the handle. Selecting stored
//! records is `query::Filter`'s job, not this one's.
//!
//! Kept rather than `tracing_subscriber`'s `Targets` or `EnvFilter` behind
//! `reload`: not for speed — `cargo bench --bench filter` shows those turn
//! an event away in 2.5 ns against this filter's 70 ns, since they cache
//! each callsite's interest, and cost the same for an event let through
//! (860-1,100 ns either way) — but because they filter per layer only as a
//! `Filtered<_, _, S>` that names the subscriber type, and `Layer` is not
//! generic; a `Layer::register_callsite` that said "never" would silence
//! the application's other layers too. The filter stays layer-local, and
//! matches `a::b` under `a` but not `ab` (`Targets` matches by string
//! prefix). An application that wants the cached path wraps an unfiltered
//! layer in `reload::Layer<Targets>` itself (README, "Performance").

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use tracing::Level;
use tracing::level_filters::LevelFilter;

use crate::error::Error;

/// `OFF` = 0, `ERROR` = 1 … `TRACE` = 5: an event passes when its rank is at
/// most the filter's.
fn filter_rank(f: LevelFilter) -> u8 {
    match f.into_level() {
        None => 0,
        Some(l) => level_rank(l),
    }
}

fn level_rank(l: Level) -> u8 {
    match l {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        _ => 5,
    }
}

/// Parsed filter directives: `info`, `warn,my_app::db=debug`, `my_app=off`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Directives {
    default: LevelFilter,
    /// Longest prefix first, so the first match is the most specific.
    targets: Vec<(String, LevelFilter)>,
}

impl Directives {
    pub(crate) fn level(level: LevelFilter) -> Directives {
        Directives {
            default: level,
            targets: Vec::new(),
        }
    }

    pub(crate) fn parse(spec: &str) -> Result<Directives, Error> {
        let mut d = Directives::level(LevelFilter::TRACE);
        let mut saw_default = false;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad =
                |why: &str| Error::config(format!("invalid filter directive `{part}`: {why}"));
            match part.split_once('=') {
                None => {
                    d.default = parse_level(part).ok_or_else(|| bad("expected a level (off, error, warn, info, debug, trace) or target=level"))?;
                    saw_default = true;
                }
                Some((target, level)) => {
                    let target = target.trim();
                    if target.is_empty() {
                        return Err(bad("the target is empty"));
                    }
                    let level = parse_level(level.trim())
                        .ok_or_else(|| bad("expected a level after `=`"))?;
                    d.targets.retain(|(t, _)| t != target);
                    d.targets.push((target.to_owned(), level));
                }
            }
        }
        if spec.trim().is_empty() {
            return Err(Error::config("invalid filter: it is empty"));
        }
        if !saw_default && !d.targets.is_empty() {
            // As with `RUST_LOG`: naming only targets means everything else is off.
            d.default = LevelFilter::OFF;
        }
        d.targets.sort_by_key(|t| std::cmp::Reverse(t.0.len()));
        Ok(d)
    }

    fn max_rank(&self) -> u8 {
        self.targets
            .iter()
            .map(|(_, l)| filter_rank(*l))
            .chain([filter_rank(self.default)])
            .max()
            .unwrap_or(0)
    }

    fn enabled(&self, target: &str, level: Level) -> bool {
        let f = self
            .targets
            .iter()
            .find(|(t, _)| target_matches(target, t))
            .map_or(self.default, |(_, l)| *l);
        level_rank(level) <= filter_rank(f)
    }
}

impl std::fmt::Display for Directives {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.default.to_string().to_lowercase())?;
        let mut targets: Vec<_> = self.targets.iter().collect();
        targets.sort();
        for (t, l) in targets {
            write!(f, ",{t}={}", l.to_string().to_lowercase())?;
        }
        Ok(())
    }
}

fn parse_level(s: &str) -> Option<LevelFilter> {
    Some(match s.to_ascii_lowercase().as_str() {
        "off" => LevelFilter::OFF,
        "error" => LevelFilter::ERROR,
        "warn" | "warning" => LevelFilter::WARN,
        "info" => LevelFilter::INFO,
        "debug" => LevelFilter::DEBUG,
        "trace" => LevelFilter::TRACE,
        _ => return None,
    })
}

/// Whether `target` is `prefix` or lies below it (`a::b` is below `a`, `ab` is not).
pub(crate) fn target_matches(target: &str, prefix: &str) -> bool {
    target
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || prefix.ends_with("::"))
}

/// The live filter: one atomic load decides most events; the directive
/// table is consulted only when per-target rules exist.
#[derive(Debug)]
pub(crate) struct RuntimeFilter {
    max: AtomicU8,
    has_targets: AtomicBool,
    directives: RwLock<Arc<Directives>>,
}

impl RuntimeFilter {
    pub(crate) fn new(d: Directives) -> RuntimeFilter {
        let f = RuntimeFilter {
            max: AtomicU8::new(0),
            has_targets: AtomicBool::new(false),
            directives: RwLock::new(Arc::new(Directives::level(LevelFilter::OFF))),
        };
        f.set(d);
        f
    }

    pub(crate) fn set(&self, d: Directives) {
        let max = d.max_rank();
        let has_targets = !d.targets.is_empty();
        *self
            .directives
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(d);
        self.has_targets.store(has_targets, Ordering::Release);
        self.max.store(max, Ordering::Release);
    }

    pub(crate) fn current(&self) -> Arc<Directives> {
        self.directives
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    #[inline]
    pub(crate) fn enabled(&self, target: &str, level: Level) -> bool {
        if level_rank(level) > self.max.load(Ordering::Relaxed) {
            return false;
        }
        if !self.has_targets.load(Ordering::Relaxed) {
            return true;
        }
        self.directives
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .enabled(target, level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_target_wins() {
        let d = Directives::parse("warn,app=info,app::db=debug").unwrap();
        assert!(d.enabled("app::db::pool", Level::DEBUG));
        assert!(!d.enabled("app::http", Level::DEBUG));
        assert!(d.enabled("app::http", Level::INFO));
        assert!(!d.enabled("other", Level::INFO));
        assert!(d.enabled("other", Level::WARN));
        assert!(
            !d.enabled("application", Level::INFO),
            "prefix must end at a path boundary"
        );
    }

    #[test]
    fn naming_only_targets_turns_the_rest_off() {
        let d = Directives::parse("payments=debug").unwrap();
        assert!(d.enabled("payments", Level::DEBUG));
        assert!(!d.enabled("other", Level::ERROR));
    }

    #[test]
    fn bad_directives_are_readable_errors() {
        let e = Directives::parse("info,db=loud").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid filter directive `db=loud`: expected a level after `=`"
        );
        assert!(Directives::parse("").is_err());
        assert!(Directives::parse("verbose").is_err());
        assert!(Directives::parse("=info").is_err());
    }

    #[test]
    fn runtime_filter_follows_changes() {
        let f = RuntimeFilter::new(Directives::level(LevelFilter::INFO));
        assert!(!f.enabled("x", Level::DEBUG));
        f.set(Directives::parse("warn,x=trace").unwrap());
        assert!(f.enabled("x", Level::TRACE));
        assert!(!f.enabled("y", Level::INFO));
        assert_eq!(f.current().to_string(), "warn,x=trace");
        f.set(Directives::level(LevelFilter::OFF));
        assert!(!f.enabled("x", Level::ERROR));
    }
}
