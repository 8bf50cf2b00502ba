//! The environment's overrides: one `EVTRAIL_*` variable per setting an
//! operator changes at deploy time, checked as they are read.

use std::path::PathBuf;

use toml::Spanned;

use super::schema::{FilesSection, KeySection, OverflowName, QueueSection, Schema};
use crate::directives::Directives;
use crate::error::Error;

/// Applies the variables `lookup` finds to `schema`; returns their names.
pub(crate) fn apply(
    schema: &mut Schema,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<&'static str>, Error> {
    let mut used = Vec::new();
    let mut get = |name: &'static str| {
        let v = lookup(name);
        if v.is_some() {
            used.push(name);
        }
        v
    };
    if let Some(v) = get("EVTRAIL_SERVICE") {
        schema.service = Some(v);
    }
    if let Some(v) = get("EVTRAIL_ENVIRONMENT") {
        schema.environment = Some(v);
    }
    if let Some(v) = get("EVTRAIL_HOST") {
        schema.host = Some(v);
    }
    let level = match get("EVTRAIL_LEVEL") {
        Some(v) => Some(("EVTRAIL_LEVEL", v)),
        None if schema.use_rust_log == Some(true) => get("RUST_LOG").map(|v| ("RUST_LOG", v)),
        None => None,
    };
    if let Some((name, v)) = level {
        Directives::parse(&v).map_err(|e| invalid(name, &v, &e.to_string()))?;
        schema.filter = Some(unspanned(v));
    }
    if let Some(v) = get("EVTRAIL_LOG_DIR") {
        if v.trim().is_empty() {
            return Err(invalid("EVTRAIL_LOG_DIR", &v, "the directory is empty"));
        }
        match &mut schema.files {
            Some(files) => files.dir = PathBuf::from(v),
            None => {
                schema.files = Some(FilesSection {
                    dir: PathBuf::from(v),
                    max_file_bytes: None,
                    rotate: None,
                    compression: None,
                    compression_wait: None,
                    durability: None,
                    file_mode: None,
                    dir_mode: None,
                    retention: None,
                });
            }
        }
    }
    if let Some(v) = get("EVTRAIL_KEY_FILE") {
        schema.key = Some(KeySection {
            file: Some(unspanned(PathBuf::from(v))),
            env: None,
            unsigned: None,
        });
    }
    if let Some(v) = get("EVTRAIL_CAPACITY") {
        let n: usize = v
            .trim()
            .parse()
            .map_err(|_| invalid("EVTRAIL_CAPACITY", &v, "expected a whole number of records"))?;
        schema
            .queue
            .get_or_insert_with(QueueSection::default)
            .capacity = Some(unspanned(n));
    }
    if let Some(v) = get("EVTRAIL_OVERFLOW") {
        let policy = match v.trim() {
            "block" => OverflowName::Block,
            "drop_newest" => OverflowName::DropNewest,
            _ => {
                return Err(invalid(
                    "EVTRAIL_OVERFLOW",
                    &v,
                    "expected `block` or `drop_newest`",
                ));
            }
        };
        schema
            .queue
            .get_or_insert_with(QueueSection::default)
            .overflow = Some(policy);
    }
    Ok(used)
}

/// A value that came from the environment: it has no place in the file.
fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

fn invalid(name: &str, value: &str, why: &str) -> Error {
    Error::config(format!("environment variable {name}=`{value}`: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn variables_override_the_file_and_are_named() {
        let mut s: Schema = toml::from_str("service = \"a\"\n[files]\ndir = \"/x\"\n").unwrap();
        let used = apply(
            &mut s,
            &env(&[
                ("EVTRAIL_SERVICE", "b"),
                ("EVTRAIL_LOG_DIR", "/y"),
                ("EVTRAIL_CAPACITY", "64"),
                ("EVTRAIL_LEVEL", "warn,app::db=debug"),
            ]),
        )
        .unwrap();
        assert_eq!(s.service.as_deref(), Some("b"));
        assert_eq!(s.files.unwrap().dir, PathBuf::from("/y"));
        assert_eq!(*s.queue.unwrap().capacity.unwrap().get_ref(), 64);
        assert_eq!(s.filter.unwrap().get_ref(), "warn,app::db=debug");
        assert_eq!(
            used,
            [
                "EVTRAIL_SERVICE",
                "EVTRAIL_LEVEL",
                "EVTRAIL_LOG_DIR",
                "EVTRAIL_CAPACITY"
            ]
        );
    }

    #[test]
    fn rust_log_counts_only_when_the_file_asks_and_evtrail_level_is_unset() {
        let mut s: Schema = toml::from_str("filter = \"info\"").unwrap();
        apply(&mut s, &env(&[("RUST_LOG", "debug")])).unwrap();
        assert_eq!(s.filter.unwrap().get_ref(), "info");

        let mut s: Schema = toml::from_str("use_rust_log = true").unwrap();
        apply(&mut s, &env(&[("RUST_LOG", "debug")])).unwrap();
        assert_eq!(s.filter.unwrap().get_ref(), "debug");

        let mut s: Schema = toml::from_str("use_rust_log = true").unwrap();
        apply(
            &mut s,
            &env(&[("RUST_LOG", "debug"), ("EVTRAIL_LEVEL", "error")]),
        )
        .unwrap();
        assert_eq!(s.filter.unwrap().get_ref(), "error");
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let mut s = Schema::default();
        let e = apply(&mut s, &env(&[("EVTRAIL_CAPACITY", "lots")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable EVTRAIL_CAPACITY=`lots`: expected a whole number of records"
        );
        let e = apply(&mut s, &env(&[("EVTRAIL_LEVEL", "loud")])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("environment variable EVTRAIL_LEVEL=`loud`: "),
            "{e}"
        );
        let e = apply(&mut s, &env(&[("EVTRAIL_OVERFLOW", "wait")])).unwrap_err();
        assert!(e.to_string().contains("`block` or `drop_newest`"), "{e}");
    }
}
