//! Configuration files (feature `config`): everything the [`Builder`](crate::Builder)
//! can say, in TOML, with environment overrides and errors that point at
//! the line.
//!
//! ```toml
//! service = "checkout"
//! environment = "prod"
//! filter = "info,checkout::db=debug"
//!
//! [key]
//! file = "/etc/evtrail/checkout.key"
//!
//! [files]
//! dir = "/var/log/checkout"
//! max_file_bytes = "100MiB"
//! rotate = "daily"
//!
//! [files.retention]
//! max_age = "30d"
//!
//! [[routes]]
//! stream = "audit"
//! class = "audit"
//! ```
//!
//! # Precedence
//!
//! Code defaults < the file < the environment < builder calls made after
//! [`Builder::config_file`](crate::Builder::config_file). A builder call made *before* it is
//! overridden by whatever the file or the environment says, so set up
//! the builder from the file first:
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("evtrail.toml");
//! # std::fs::write(&path, format!("service = \"demo\"\n[key]\nunsigned = true\n[files]\ndir = {:?}\n", dir.path().join("logs")))?;
//! let (layer, guard) = evtrail::builder()
//!     .config_file(&path)?          // the file, then EVTRAIL_* variables
//!     .environment("staging")       // and this wins over both
//!     .build()?;
//! # drop((layer, guard));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Environment variables
//!
//! | variable | overrides |
//! |---|---|
//! | `EVTRAIL_SERVICE` | `service` |
//! | `EVTRAIL_ENVIRONMENT` | `environment` |
//! | `EVTRAIL_HOST` | `host` (empty: leave it out) |
//! | `EVTRAIL_LEVEL` | `filter`: a level (`warn`) or directives (`info,app::db=debug`) |
//! | `RUST_LOG` | `filter`, only when the file says `use_rust_log = true` and `EVTRAIL_LEVEL` is not set |
//! | `EVTRAIL_LOG_DIR` | `[files] dir` (and so turns the file sink on) |
//! | `EVTRAIL_KEY_FILE` | `[key] file` (replacing `env` or `unsigned`) |
//! | `EVTRAIL_CAPACITY` | `[queue] capacity` |
//! | `EVTRAIL_OVERFLOW` | `[queue] overflow` (`block` or `drop_newest`) |
//!
//! # Errors
//!
//! Each error is an [`ErrorKind::Config`](crate::ErrorKind::Config) whose
//! message starts with `FILE:LINE:COLUMN:` and quotes the line: an
//! unknown key (with the key probably meant), a value of the wrong type,
//! a bad size (`100MB`, `1 GiB` and plain bytes are sizes), a bad duration
//! (`250ms`, `90s`, `5m`, `1h`, `1d`), a bad filter or redaction pattern,
//! a route to a stream when no sink is configured, an unreadable key
//! file, a secret variable that is not set. An error from an environment
//! variable names the variable. Nothing panics: the application decides
//! whether to start without evtrail.
//!
//! # Notifications
//!
//! With the `notify` feature, a `[notify]` table adds a notification sink:
//! `[[notify.channels]]` (`kind` = `dingtalk`, `wecom`, `feishu`, `slack`
//! or `webhook`; the URL, which carries the robot's token, and the signing
//! secret from `url_env`/`url_file` and `secret_env`/`secret_file`) and
//! `[[notify.rules]]` (`event`, `min_level`, `class`, `status`, `stream`,
//! `target`, `when`, `to`, mentions, `title`/`body` templates, grouping).
//!
//! # Secrets
//!
//! An HTTP sink's credentials are read from an environment variable
//! (`bearer_token_env`, `password_env`) or a file (`bearer_token_file`,
//! `password_file`). Writing them into the configuration file itself is
//! refused unless its `[http.auth]` table says `allow_inline_secrets =
//! true`. [`Config::effective`] shows the configuration with every secret
//! masked.

mod apply;
mod env;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "notify")]
mod notify;
mod reload;
mod schema;
#[cfg(feature = "http")]
mod secret;
mod show;
mod source;
mod units;

use std::path::Path;

use crate::error::Error;
pub(crate) use reload::Origin;
pub use reload::Reload;
use schema::Schema;
use source::Source;

/// A commented example configuration that loads as it is (what
/// `evtrail init` writes).
pub const EXAMPLE: &str = include_str!("example.toml");

/// A configuration read from a TOML file, with the environment's
/// overrides when asked for; applied to a [`Builder`](crate::Builder) with
/// [`Builder::config`](crate::Builder::config).
#[derive(Clone, Debug)]
pub struct Config {
    schema: Schema,
    source: Source,
    /// The environment variables that overrode the file, for
    /// [`effective`](Self::effective).
    overridden: Vec<&'static str>,
}

impl Config {
    /// Reads `path`. The environment is not consulted: see
    /// [`with_env`](Self::with_env).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the file cannot be
    /// read or holds an unknown key, a value of the wrong type or a bad
    /// size, duration or mode, with the file, line and column.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, Error> {
        Config::from_source(Source::from_path(path.as_ref())?)
    }

    /// Reads a configuration from text; errors call it `name`.
    ///
    /// # Errors
    ///
    /// As [`from_file`](Self::from_file).
    pub fn parse(name: &str, text: &str) -> Result<Config, Error> {
        Config::from_source(Source::new(name, text.to_owned()))
    }

    fn from_source(source: Source) -> Result<Config, Error> {
        let schema: Schema = toml::from_str(source.text()).map_err(|e| source.toml_error(&e))?;
        Ok(Config {
            schema,
            source,
            overridden: Vec::new(),
        })
    }

    /// Applies the `EVTRAIL_*` variables of this process's environment (and
    /// `RUST_LOG` when the file asks for it); see the [module
    /// docs](self#environment-variables).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the variable
    /// whose value is invalid.
    pub fn with_env(self) -> Result<Config, Error> {
        self.with_env_from(|name| std::env::var(name).ok())
    }

    /// [`with_env`](Self::with_env) with the variables looked up by
    /// `lookup` instead of in the process's environment.
    ///
    /// # Errors
    ///
    /// As [`with_env`](Self::with_env).
    pub fn with_env_from(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, Error> {
        self.overridden = env::apply(&mut self.schema, &lookup)?;
        Ok(self)
    }

    /// Checks everything [`Builder::build`](crate::Builder::build) would
    /// check, without opening any file or starting anything: the filter,
    /// the redaction patterns, stream names, the key file's key, the
    /// secrets' variables and files, each HTTP sink's settings.
    ///
    /// # Errors
    ///
    /// The first problem found, located in the file.
    pub fn check(&self) -> Result<(), Error> {
        apply::check(self)
    }

    /// The configuration as it will be applied, after the environment's
    /// overrides, as TOML with every secret masked, headed by a comment
    /// naming the variables that overrode the file.
    pub fn effective(&self) -> String {
        show::effective(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_loads_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("my-app.key");
        crate::Key::generate()
            .unwrap()
            .write_new_file(&key_file)
            .unwrap();
        let key_file = key_file.display().to_string();
        let config = Config::parse("example.toml", EXAMPLE)
            .unwrap()
            .with_env_from(|name| (name == "EVTRAIL_KEY_FILE").then(|| key_file.clone()))
            .unwrap();
        config.check().unwrap();
        // Without the key file it names the line that points at it.
        let e = Config::parse("example.toml", EXAMPLE)
            .unwrap()
            .check()
            .unwrap_err();
        let line = 1 + EXAMPLE
            .lines()
            .position(|l| l.starts_with("file = "))
            .unwrap();
        assert!(
            e.to_string()
                .starts_with(&format!("example.toml:{line}:8: cannot read key file")),
            "{e}"
        );
    }
}
