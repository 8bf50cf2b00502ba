//! Secrets a configuration names: read from an environment variable or a
//! file, or written inline only when the table allows it.

use std::path::PathBuf;

use toml::Spanned;

use super::Config;
use crate::error::Error;

/// One secret, from exactly one of a variable, a file or (when allowed)
/// the configuration itself.
pub(super) fn secret(
    config: &Config,
    inline_ok: bool,
    env: &Option<Spanned<String>>,
    file: &Option<Spanned<PathBuf>>,
    inline: &Option<Spanned<String>>,
    what: &str,
) -> Result<Option<String>, Error> {
    let at = |span, message: &str| config.source.error_at(span, message);
    let given = [env.is_some(), file.is_some(), inline.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        let span = env
            .as_ref()
            .map(Spanned::span)
            .or(file.as_ref().map(Spanned::span))
            .unwrap_or(0..0);
        return Err(at(
            span,
            &format!("give `{what}` once: from a variable, a file or inline"),
        ));
    }
    if let Some(var) = env {
        return match std::env::var(var.get_ref()) {
            Ok(v) if !v.is_empty() => Ok(Some(v)),
            _ => Err(at(
                var.span(),
                &format!(
                    "environment variable {} (for `{what}`) is not set",
                    var.get_ref()
                ),
            )),
        };
    }
    if let Some(path) = file {
        return match std::fs::read_to_string(path.get_ref()) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
            Ok(_) => Err(at(
                path.span(),
                &format!("{} (for `{what}`) is empty", path.get_ref().display()),
            )),
            Err(e) => Err(at(
                path.span(),
                &format!(
                    "cannot read {} (for `{what}`): {e}",
                    path.get_ref().display()
                ),
            )),
        };
    }
    if let Some(v) = inline {
        if !inline_ok {
            return Err(at(
                v.span(),
                &format!(
                    "`{what}` is written into the configuration: read it from `{what}_env` or \
                     `{what}_file`, or set `allow_inline_secrets = true`"
                ),
            ));
        }
        return Ok(Some(v.get_ref().clone()));
    }
    Ok(None)
}
